"""Backend-independent description of an exported network (what it *is*),
and the one check of its rules (:meth:`NetworkSpec.validate`).

The reader fills it from an HDF5 file, the exporter from trained modules, and
each simulator builds its own processes from it; all of them call
:meth:`NetworkSpec.validate`, so a rule of docs/hdf5-format.md is checked in
one place. All values are the integers of docs/hdf5-format.md: weights in
units of 1/64 (SLAYER weight x 64), decays 12-bit, delays in steps.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch

from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.limits import (
    MAX_DELAY,
    MAX_DELAY_CHANNELS,
    STATE_UNIT,
    VTH_NON_SPIKING,
    VTH_SPIKING_MAX,
    WEIGHT_MAX,
    WEIGHT_MIN,
)
from lava_convdelay.nn.delay_channels import depthwise_to_dense
from lava_convdelay.nn.recurrent_synapse import conv_to_dense
from netx_export.errors import InvalidSpecError, UnsupportedLayerError

#: Layer types of stock lava-dl NetX that this project reads and writes.
STOCK_TYPES = ("dense", "dense_rec", "conv")
#: Layer types this project adds (stored under /lava_convdelay_layer).
EXTENSION_TYPES = ("delay_rec", "conv_rec", "dchan_rec")
KNOWN_TYPES = STOCK_TYPES + EXTENSION_TYPES
RECURRENT_TYPES = ("dense_rec", "delay_rec", "conv_rec", "dchan_rec")
#: Largest network the checks accept, neurons per layer (far above one Loihi 2 chip).
MAX_NEURONS = 1 << 24
#: Largest ``N x inFeatures`` connection matrix a ``conv`` layer may expand to (2 GiB of int64).
MAX_CONV_MATRIX = 1 << 28


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
class DelayChannels:
    """A 'dchan_rec' layer's recurrence: ``D`` delay channels, channel ``d`` a
    "same"-padded depthwise 1-D convolution over the positions of each of
    ``channels`` ``C`` (kernel ``kernel[d]`` ``[C, k]``) with one delay
    ``delays[d]`` for all of its synapses."""

    channels: int
    kernel_size: int
    kernel: np.ndarray  # int64 [D, C, k], units of 1/64
    delays: np.ndarray  # int64 [D], steps

    @property
    def count(self) -> int:
        """``D``."""
        return int(np.shape(self.kernel)[0])

    def matrices(self, num_neurons: int) -> np.ndarray:
        """int64 ``[D, N, N]`` (channel, post, pre): each channel's banded weights."""
        kernel = torch.tensor(np.asarray(self.kernel, np.int64))  # a copy: checked arrays are read-only
        return depthwise_to_dense(kernel, num_neurons // self.channels).numpy()

    def synapses(self, num_neurons: int) -> int:
        """Non-zero recurrent connections: tap ``m`` of a channel connects
        ``F - |m - k // 2|`` position pairs."""
        positions = num_neurons // self.channels
        reach = positions - np.abs(np.arange(self.kernel_size) - self.kernel_size // 2)
        return int(((np.asarray(self.kernel) != 0) * reach).sum())


@dataclass(frozen=True, eq=False)
class ConvFeedForward:
    """The synapse of a ``conv`` layer (the front end): a "same"-padded 1-D
    convolution, stride 1, from ``in_channels`` to ``channels`` channels of the
    same positions, neurons channel-major (``n = c * F + f``)."""

    in_channels: int
    channels: int
    kernel_size: int
    kernel: np.ndarray  # int64 [C_out, C_in, k], units of 1/64, PyTorch's cross-correlation


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
    delay_channels: DelayChannels | None = None  # 'dchan_rec' only (weight_rec and delay_rec are None)
    ff_conv: ConvFeedForward | None = None  # 'conv' only; 'weight' is then its banded matrix

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
            assert self.conv is not None
            return self.conv.kernel.size + self.num_neurons
        if self.delay_channels is not None:
            return self.delay_channels.kernel.size + self.delay_channels.count
        if self.weight_rec is None:
            return 0
        return self.weight_rec.size + (self.num_neurons if self.type == "delay_rec" else 0)

    @property
    def recurrent_synapses(self) -> int:
        """Non-zero recurrent connections (what occupies synaptic memory)."""
        if self.delay_channels is not None:
            return self.delay_channels.synapses(self.num_neurons)
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

    def validate(self, layer_names: list[str] | None = None) -> NetworkSpec:
        """A checked copy: integer arrays (int64, read-only), the banded matrix of a ``conv_rec``
        layer filled in; or :class:`InvalidSpecError` (values, shapes, fields) /
        :class:`UnsupportedLayerError` (unknown types) naming the source, the layer
        and the field. ``layer_names[i]`` names layer ``i`` in errors (a file's
        group, ``"layer 3"``); default ``"layer {i + 1} ({type})"``."""
        if not self.layers:
            raise InvalidSpecError(f"{self.source}: the network has no layers")
        in_features = _check_int(self.input_size, "input_size", self.source, 1, MAX_NEURONS)
        layers: list[LayerSpec] = []
        for i, layer in enumerate(self.layers):
            name = layer_names[i] if layer_names else f"layer {i + 1} ({layer.type})"
            where = f"{self.source}: {name}"
            if layers and in_features != np.shape(layer.weight)[-1]:
                raise InvalidSpecError(f"{where}: 'weight' has shape {np.shape(layer.weight)}, expected "
                                       f"({np.shape(layer.weight)[0]}, {in_features}): layer {i} has {in_features} "
                                       f"neurons")
            checked = layer if _already_checked(layer, in_features) \
                else _seal(_validate_layer(layer, where, in_features))
            if checked.ff_conv is not None:
                _check_front_end(checked.ff_conv, layers, i == len(self.layers) - 1, where)
            if i < len(self.layers) - 1 and not checked.neuron.spiking:
                raise UnsupportedLayerError(f"{where}: vThMant={checked.neuron.vth_mant} never spikes: a non-spiking "
                                            f"layer (cuba.Affine, a readout) may only be the output layer; it would "
                                            f"send no spikes on")
            layers.append(checked)
            in_features = checked.num_neurons
        if self.encoding is not None and self.encoding.channels != self.input_size:
            raise InvalidSpecError(f"{self.source}: the input encoding ({self.encoding.describe()}) does not give "
                                   f"the network's {self.input_size} input channels")
        names = self.class_names
        if names is not None:
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names) \
                    or len(set(names)) != len(names):
                raise InvalidSpecError(f"{self.source}: class names must be distinct strings, "
                                       f"got {names!r}"[:300])
            for i, name in enumerate(names):
                # a file stores them as NUL-terminated UTF-8 (HDF5 variable-length strings)
                if "\x00" in name or not _utf8(name):
                    raise InvalidSpecError(f"{self.source}: class name {i} {name!r} holds a NUL character or a "
                                           f"lone surrogate, which a file cannot store as UTF-8 text")
            if len(names) > layers[-1].num_neurons:
                raise InvalidSpecError(f"{self.source}: {len(names)} classes for {layers[-1].num_neurons} "
                                       f"output neurons")
        return replace(self, input_size=int(self.input_size), layers=layers)


#: Layers made by :meth:`NetworkSpec.validate`, by identity. Their arrays are read-only,
#: so validating one again can return it as it is: a ``conv_rec`` layer's check compares
#: its ``N x N`` banded matrix with the kernel's, O(N^2), and ``simulate`` validates each call.
_CHECKED: weakref.WeakSet[LayerSpec] = weakref.WeakSet()


def _seal(layer: LayerSpec) -> LayerSpec:
    """``layer`` (a fresh checked copy, owning its arrays) with every array read-only, remembered."""
    parts = [layer] + [getattr(layer, name) for name in ("conv", "delay_channels", "ff_conv")]
    for part in filter(None, parts):
        for item in fields(part):
            value = getattr(part, item.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
    _CHECKED.add(layer)
    return layer


def _already_checked(layer: LayerSpec, in_features: int) -> bool:
    return layer in _CHECKED and layer.in_features == in_features


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def conv_layer(kernel, positions: int, neuron: CubaParams, where: str = "<memory>") -> LayerSpec:
    """A ``conv`` layer of ``kernel`` ``[C_out, C_in, k]`` over ``positions`` positions,
    its ``weight`` the banded ``[C_out * F, C_in * F]`` matrix of the convolution
    (:func:`lava_convdelay.nn.recurrent_synapse.conv_to_dense`); checked by :meth:`NetworkSpec.validate`."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 3 or not kernel.size:
        raise InvalidSpecError(f"{where}: the convolution kernel must be [outChannels, inChannels, k], got shape "
                               f"{kernel.shape}")
    c_out, c_in, k = kernel.shape
    if not 1 <= positions <= MAX_NEURONS or c_out * positions * c_in * positions > MAX_CONV_MATRIX:
        raise InvalidSpecError(f"{where}: {c_out} x {c_in} channels of {positions} positions are beyond what the "
                               f"checks accept (at most {MAX_CONV_MATRIX} connections)")
    weight = conv_to_dense(torch.from_numpy(kernel), positions).numpy()
    return LayerSpec("conv", weight, neuron, ff_conv=ConvFeedForward(c_in, c_out, k, kernel))


def int_array(value, name: str, where: str, shape: tuple, low: int, high: int, what: str) -> np.ndarray:
    """``value`` as int64 of ``shape`` with integers in ``[low, high]``, or an error saying why."""
    arr = np.asarray(value)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InvalidSpecError(f"{where}: '{name}' must be numeric, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise InvalidSpecError(f"{where}: '{name}' has shape {arr.shape}, expected {shape}")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InvalidSpecError(f"{where}: '{name}' has a non-finite value {arr[idx]} at index {idx}")
        fractional = arr != np.round(arr)
        if fractional.any():
            idx = tuple(int(i) for i in np.argwhere(fractional)[0])
            raise InvalidSpecError(f"{where}: '{name}' must hold integers, got {arr[idx]} at index {idx}")
    out = (arr < low) | (arr > high)
    if out.any():
        idx = tuple(int(i) for i in np.argwhere(out)[0])
        raise InvalidSpecError(f"{where}: {what} {arr[idx]:g} at index {idx} of '{name}' is outside [{low}, {high}] "
                               f"({int(out.sum())} value(s) out of range)")
    return arr.astype(np.int64)


def _check_int(value, name: str, where: str, low: int, high: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidSpecError(f"{where}: '{name}' must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise InvalidSpecError(f"{where}: '{name}'={int(value)} is outside [{low}, {high}]")
    return int(value)


def _validate_neuron(neuron: CubaParams, where: str) -> CubaParams:
    return CubaParams(_check_int(neuron.i_decay, "iDecay", where, 0, STATE_UNIT),
                      _check_int(neuron.v_decay, "vDecay", where, 0, STATE_UNIT),
                      _check_int(neuron.vth_mant, "vThMant", where, 1, VTH_NON_SPIKING))


def _validate_layer(layer: LayerSpec, where: str, in_features: int) -> LayerSpec:
    """One layer fed by ``in_features`` channels, checked (see :meth:`NetworkSpec.validate`)."""
    if layer.type not in KNOWN_TYPES:
        raise UnsupportedLayerError(f"{where}: unknown layer type '{layer.type}' (known: {', '.join(KNOWN_TYPES)})")
    if layer.type == "conv" or layer.ff_conv is not None:
        return _validate_conv_layer(layer, where, in_features)
    shape = np.shape(layer.weight)
    if len(shape) != 2 or not 1 <= shape[0] <= MAX_NEURONS:
        raise InvalidSpecError(f"{where}: 'weight' must be [N, inFeatures] with 1 <= N <= {MAX_NEURONS}, "
                               f"got shape {shape}")
    n = shape[0]
    weight = int_array(layer.weight, "weight", where, (n, in_features), WEIGHT_MIN, WEIGHT_MAX, "weight")
    neuron = _validate_neuron(layer.neuron, where)
    delay = weight_rec = delay_rec = None
    conv, max_delay, channels = None, 0, None
    if layer.type != "dchan_rec" and layer.delay_channels is not None:
        raise InvalidSpecError(f"{where}: only 'dchan_rec' layers have delay channels")
    if layer.delay is not None:
        if layer.type != "dense":
            raise UnsupportedLayerError(f"{where}: a feed-forward 'delay' on a '{layer.type}' layer is not supported "
                                        f"(on a recurrent layer an output delay is not an input delay)")
        delay = int_array(layer.delay, "delay", where, (n,), 0, MAX_DELAY, "delay")
    if layer.type == "dense":
        for name in ("weight_rec", "delay_rec", "conv"):
            if getattr(layer, name) is not None:
                raise InvalidSpecError(f"{where}: a 'dense' layer has no '{name}'")
    elif layer.type == "conv_rec":
        weight_rec, conv = _validate_conv(layer, where, n)
    elif layer.type == "dchan_rec":
        max_delay = _check_int(layer.max_delay, "maxDelay", where, 0, MAX_DELAY)
        channels = _validate_delay_channels(layer, where, n, max_delay)
        return LayerSpec(layer.type, weight, neuron, max_delay=max_delay, delay_channels=channels)
    else:
        if layer.weight_rec is None:
            raise InvalidSpecError(f"{where}: a '{layer.type}' layer needs 'weight_rec'")
        if layer.conv is not None:
            raise InvalidSpecError(f"{where}: only 'conv_rec' layers have a convolution")
        weight_rec = int_array(layer.weight_rec, "weight_rec", where, (n, n), WEIGHT_MIN, WEIGHT_MAX, "weight")
    if layer.type == "dense_rec":
        if layer.delay_rec is not None and np.any(layer.delay_rec):
            raise UnsupportedLayerError(f"{where}: 'dense_rec' has no recurrent delays (use 'delay_rec'), "
                                        f"got non-zero 'delay_rec'")
    elif layer.type != "dense":
        max_delay = _check_int(layer.max_delay, "maxDelay", where, 0, MAX_DELAY)
        if layer.delay_rec is None:
            raise InvalidSpecError(f"{where}: a '{layer.type}' layer needs 'delay_rec'")
        delay_rec = int_array(layer.delay_rec, "delay_rec", where, (n,), 0, max_delay, "recurrent delay")
    return LayerSpec(layer.type, weight, neuron, delay, weight_rec, delay_rec, max_delay, conv)


def _conv_layout(channels, kernel_size, where: str, n: int) -> tuple[int, int]:
    """``(channels, k)`` of a recurrent convolution over ``N = channels x positions``
    neurons: ``channels`` divides ``N``, ``k`` odd and no wider than the positions allow."""
    channels = _check_int(channels, "channels", where, 1, n)
    k = _check_int(kernel_size, "kernelSize", where, 1, 2 * n - 1)
    if n % channels or k % 2 == 0 or k > 2 * (n // channels) - 1:
        raise InvalidSpecError(f"{where}: channels={channels}, kernelSize={k} do not fit N={n} "
                               f"(need N % channels == 0 and an odd kernel no wider than the positions)")
    return channels, k


def _validate_delay_channels(layer: LayerSpec, where: str, n: int, max_delay: int) -> DelayChannels:
    """A 'dchan_rec' layer's delay channels, checked: the kernels' shape and
    8-bit range, the layout against ``N``, one delay per channel in ``[0, maxDelay]``."""
    found = layer.delay_channels
    if found is None:
        raise InvalidSpecError(f"{where}: 'dchan_rec' needs its delay channels (channels, kernels, delays)")
    for name in ("weight_rec", "delay_rec", "conv"):
        if getattr(layer, name) is not None:
            raise InvalidSpecError(f"{where}: a 'dchan_rec' layer has no '{name}' (its recurrence is the kernels)")
    channels, k = _conv_layout(found.channels, found.kernel_size, where, n)
    shape = np.shape(found.kernel)
    if len(shape) != 3 or not 1 <= shape[0] <= MAX_DELAY_CHANNELS:
        raise InvalidSpecError(f"{where}: 'weight_rec_conv' must be [delay channels, {channels}, {k}] with 1 to "
                               f"{MAX_DELAY_CHANNELS} delay channels, got shape {shape}")
    kernel = int_array(found.kernel, "weight_rec_conv", where, (shape[0], channels, k), WEIGHT_MIN, WEIGHT_MAX,
                       "weight")
    delays = int_array(found.delays, "delay_rec", where, (shape[0],), 0, max_delay, "recurrent delay")
    return DelayChannels(channels, k, kernel, delays)


def _validate_conv(layer: LayerSpec, where: str, n: int) -> tuple[np.ndarray, ConvRecurrence]:
    """The banded ``weight_rec`` of a ``conv_rec`` layer (filled in where missing,
    else checked against the kernel) and its convolution."""
    conv = layer.conv
    if conv is None:
        raise InvalidSpecError(f"{where}: 'conv_rec' needs its convolution (channels, kernel)")
    channels, k = _conv_layout(conv.channels, conv.kernel_size, where, n)
    kernel = int_array(conv.kernel, "weight_rec_conv", where, (channels, channels, k), WEIGHT_MIN, WEIGHT_MAX,
                        "weight")
    banded = conv_to_dense(torch.from_numpy(kernel), n // channels).numpy()
    if layer.weight_rec is not None:
        given = int_array(layer.weight_rec, "weight_rec", where, (n, n), WEIGHT_MIN, WEIGHT_MAX, "weight")
        if not np.array_equal(given, banded):
            idx = tuple(int(i) for i in np.argwhere(given != banded)[0])
            raise InvalidSpecError(f"{where}: 'weight_rec' is not the banded matrix of the kernel "
                                   f"(first difference at {idx}: {given[idx]} vs {banded[idx]})")
    return banded, ConvRecurrence(channels, k, kernel)


def _validate_conv_layer(layer: LayerSpec, where: str, in_features: int) -> LayerSpec:
    """A ``conv`` layer: its convolution checked, ``weight`` the banded matrix of the kernel."""
    conv = layer.ff_conv
    if layer.type != "conv" or conv is None:
        raise InvalidSpecError(f"{where}: only 'conv' layers have a feed-forward convolution, and a 'conv' layer "
                               f"needs one (inChannels, outChannels, kernel)")
    for name in ("delay", "weight_rec", "delay_rec", "conv"):
        if getattr(layer, name) is not None:
            raise UnsupportedLayerError(f"{where}: a 'conv' layer has no '{name}' (feed-forward, no delays)")
    c_in = _check_int(conv.in_channels, "inChannels", where, 1, in_features)
    if in_features % c_in:
        raise InvalidSpecError(f"{where}: inChannels={c_in} does not divide the {in_features} input neurons into "
                               f"channels of equal positions")
    positions = in_features // c_in
    c_out = _check_int(conv.channels, "outChannels", where, 1, MAX_NEURONS // positions)
    k = _check_int(conv.kernel_size, "kernelSize", where, 1, 2 * positions - 1)
    if k % 2 == 0:
        raise InvalidSpecError(f"{where}: kernelSize={k} must be odd (\"same\" zero padding, k // 2 on each side)")
    kernel = int_array(conv.kernel, "weight", where, (c_out, c_in, k), WEIGHT_MIN, WEIGHT_MAX, "weight")
    expected = conv_layer(kernel, positions, layer.neuron, where)
    n = c_out * positions
    weight = int_array(layer.weight, "weight (banded)", where, (n, in_features), WEIGHT_MIN, WEIGHT_MAX, "weight")
    if not np.array_equal(weight, expected.weight):
        idx = tuple(int(i) for i in np.argwhere(weight != expected.weight)[0])
        raise InvalidSpecError(f"{where}: 'weight' is not the banded matrix of the kernel (first difference at "
                               f"{idx}: {weight[idx]} vs {expected.weight[idx]})")
    return replace(expected, weight=weight, neuron=_validate_neuron(layer.neuron, where))


def _check_front_end(conv: ConvFeedForward, before: list[LayerSpec], last: bool, where: str) -> None:
    """A ``conv`` layer is the front end: after the input (one channel) or another ``conv``
    layer (its channels), never the output layer."""
    previous = before[-1].ff_conv if before else None
    if before and previous is None:
        raise UnsupportedLayerError(f"{where}: a 'conv' layer belongs to the front end, right after the input or "
                                    f"another 'conv' layer; it follows a '{before[-1].type}' layer")
    if last:
        raise UnsupportedLayerError(f"{where}: a 'conv' layer cannot be the output layer (the front end)")
    channels = 1 if previous is None else previous.channels
    if conv.in_channels != channels:
        source = "the network input is one channel" if previous is None else f"the layer before has {channels} channels"
        raise InvalidSpecError(f"{where}: inChannels={conv.in_channels}, but {source}")
