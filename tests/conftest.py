import sys
from pathlib import Path

# naive reference implementations live beside the tests
sys.path.insert(0, str(Path(__file__).parent))

# Lava's runtime before any test can fix the multiprocessing start method (tests that
# import Lava directly, without sim/, rely on it)
import sim.lava_runtime  # noqa: E402,F401
