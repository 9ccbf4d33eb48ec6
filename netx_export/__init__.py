"""The network file: a backend-independent description of an exported network
(:mod:`.spec`, which validates itself), quantizing export from trained blocks,
NetX HDF5 writer and validating reader (docs/hdf5-format.md), the training
model of a file, and NIR export / import (docs/nir.md). Builds on
:mod:`lava_convdelay`; never imports :mod:`sim`."""
import lava_convdelay  # noqa: F401  (quiet lava-dl import)
from netx_export.errors import NetworkFormatError, QuantizationError, UnsupportedLayerError
from netx_export.exporter import block_to_layer, blocks_to_spec, export_blocks, quantize_weights
from netx_export.reader import read_network
from netx_export.spec import ConvFeedForward, ConvRecurrence, CubaParams, LayerSpec, NetworkSpec, conv_layer
from netx_export.summary import layer_table
from netx_export.to_model import spec_to_model
from netx_export.writer import write_network

__all__ = [
    "ConvFeedForward", "ConvRecurrence", "CubaParams", "LayerSpec", "NetworkFormatError", "NetworkSpec",
    "QuantizationError", "UnsupportedLayerError", "block_to_layer", "blocks_to_spec", "conv_layer", "export_blocks",
    "layer_table", "quantize_weights", "read_network", "spec_to_model", "write_network",
]
