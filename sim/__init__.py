"""Lava side: build Lava processes from network files and run them."""
import lava_convdelay  # noqa: F401  (quiet lava-dl import)
