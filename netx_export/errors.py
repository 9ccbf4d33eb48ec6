"""Errors raised while exporting or reading network files."""
from lava_convdelay.errors import UserError


class NetworkFormatError(UserError):
    """A network file is malformed; the message names the file, layer and field."""


class InvalidSpecError(NetworkFormatError, ValueError):
    """A network description that breaks the rules of docs/hdf5-format.md, read from a
    file or built in Python: shapes that do not chain, values out of range, fields
    that do not belong to the layer's type. The message names the source, the
    layer and the field (:meth:`netx_export.spec.NetworkSpec.validate`)."""


class UnsupportedLayerError(UserError):
    """A layer (type, block class or option) this toolkit cannot represent."""


class QuantizationError(UserError):
    """A weight or delay cannot be represented on Loihi 2 without clamping."""
