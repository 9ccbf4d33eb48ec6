import sys

from lava_convdelay.cli import main

sys.exit(main())
