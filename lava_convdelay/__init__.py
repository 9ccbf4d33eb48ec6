"""lava-convdelay: recurrent SNNs with learnable axonal delays and convolutional
recurrence, from lava-dl training to Lava / Loihi 2."""
__version__ = "0.1.0"

from lava_convdelay import lava_imports as _lava_imports  # noqa: E402,F401  (silences lava-dl's import noise)
