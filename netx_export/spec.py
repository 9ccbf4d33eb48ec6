"""Backend-independent description of an exported network (what it *is*).

The reader fills it from an HDF5 file, the exporter from trained modules, and
each simulator builds its own processes from it. All values are the integers
of docs/hdf5-format.md: weights in units of 1/64 (SLAYER weight x 64), decays
12-bit, delays in steps.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lava_convdelay.data.encoding import InputEncoding

#: Layer types of stock lava-dl NetX that this project reads and writes.
STOCK_TYPES = ("dense", "dense_rec")
#: Layer types this project adds (stored under /lava_convdelay_layer).
EXTENSION_TYPES = ("delay_rec", "conv_rec")
RECURRENT_TYPES = ("dense_rec", "delay_rec", "conv_rec")
#: Largest threshold mantissa of a neuron that can fire: Lava / Loihi fire where
#: v > vThMant << 6, and v saturates at 2**23 - 1, so from 2**17 on never.
VTH_SPIKING_MAX = (1 << 17) - 1
#: What a non-spiking layer stores (as lava-dl's ``cuba.Affine.export_hdf5``).
VTH_NON_SPIKING = (1 << 18) - 1


@dataclass(frozen=True, eq=False)
class CubaParams:
    """Loihi CUBA-LIF parameters: 12-bit decays and threshold mantissa."""

    i_decay: int
    v_decay: int
    vth_mant: int

    @property
    def spiking(self) -> bool:
        """False for a threshold out of the 24-bit voltage's reach (a readout)."""
        return self.vth_mant <= VTH_SPIKING_MAX


@dataclass(frozen=True, eq=False)
class ConvRecurrence:
    """A "same"-padded 1-D convolution over neuron positions."""

    channels: int
    kernel_size: int
    kernel: np.ndarray  # int64 [C, C, k], units of 1/64


@dataclass(frozen=True, eq=False)
class LayerSpec:
    """One CUBA layer; see docs/hdf5-format.md for the exact semantics."""

    type: str
    weight: np.ndarray  # int64 [N, in], units of 1/64
    neuron: CubaParams
    delay: np.ndarray | None = None  # int64 [N] feed-forward output delay ('dense' only)
    weight_rec: np.ndarray | None = None  # int64 [N, N] (post, pre); banded for 'conv_rec'
    delay_rec: np.ndarray | None = None  # int64 [N] per presynaptic neuron
    max_delay: int = 0
    conv: ConvRecurrence | None = None

    @property
    def num_neurons(self) -> int:
        return self.weight.shape[0]

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def is_recurrent(self) -> bool:
        return self.type in RECURRENT_TYPES

    @property
    def recurrent_params(self) -> int:
        """Recurrent weights (+ one delay per neuron for delayed recurrence)."""
        if self.type == "conv_rec":
            return self.conv.kernel.size + self.num_neurons
        if self.type == "delay_rec":
            return self.weight_rec.size + self.num_neurons
        if self.type == "dense_rec":
            return self.weight_rec.size
        return 0

    @property
    def recurrent_synapses(self) -> int:
        """Non-zero recurrent connections (what occupies synaptic memory)."""
        return 0 if self.weight_rec is None else int(np.count_nonzero(self.weight_rec))


@dataclass(eq=False)
class NetworkSpec:
    """A stack of layers fed by ``input_size`` external spike channels.

    ``encoding`` (how the training input was made) and ``class_names`` (one per
    output neuron, from the first) are what the file records of the training
    data, where known (docs/hdf5-format.md, ``/lava_convdelay_meta``).
    """

    input_size: int
    layers: list[LayerSpec] = field(default_factory=list)
    source: str = "<memory>"
    encoding: InputEncoding | None = None
    class_names: list[str] | None = None

    @property
    def uses_extension(self) -> bool:
        return any(layer.type in EXTENSION_TYPES for layer in self.layers)

    @property
    def output_size(self) -> int:
        return self.layers[-1].num_neurons

    @property
    def readout(self) -> str:
        """The decision rule (:mod:`lava_convdelay.nn.readout`): by the voltage of a
        non-spiking output layer, else by spike counts."""
        return "spike_count" if self.layers[-1].neuron.spiking else "voltage_sum"
