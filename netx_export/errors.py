"""Errors raised while exporting or reading network files."""
from lava_convdelay.errors import UserError


class NetworkFormatError(UserError):
    """A network file is malformed; the message names the file, layer and field."""


class UnsupportedLayerError(UserError):
    """A layer (type, block class or option) this toolkit cannot represent."""


class QuantizationError(UserError):
    """A weight or delay cannot be represented on Loihi 2 without clamping."""
