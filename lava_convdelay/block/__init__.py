"""SLAYER-style blocks with recurrent axonal delays."""
from lava_convdelay.block import cuba

__all__ = ["cuba"]
