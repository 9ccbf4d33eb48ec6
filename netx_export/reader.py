"""Read and validate a network HDF5 file into a :class:`NetworkSpec`.

Reads stock lava-dl NetX files (``dense``, ``dense_rec`` and a ``conv`` front
end with its ``flatten`` under ``/layer``) and this project's extension
(docs/hdf5-format.md). Every structural problem is a
:class:`NetworkFormatError` naming the file, the layer and the field; unknown
layer types are :class:`UnsupportedLayerError` (stock NetX skips them).
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from lava_convdelay.data.encoding import EncodingError, InputEncoding
from lava_convdelay.hdf5_safety import open_hdf5, read_dataset
from netx_export.errors import NetworkFormatError, UnsupportedLayerError
from netx_export.spec import (
    EXTENSION_TYPES,
    MAX_DELAY_CHANNELS,
    MAX_NEURONS,
    STOCK_TYPES,
    ConvRecurrence,
    CubaParams,
    DelayChannels,
    LayerSpec,
    NetworkSpec,
    conv_layer,
    int_array,
)

FORMAT_NAME = "lava-convdelay-netx"
FORMAT_VERSION = 1
STOCK_ROOT = "layer"
EXTENSION_ROOT = "lava_convdelay_layer"
META_ROOT = "lava_convdelay_meta"  # what the file records of its training data; stock NetX ignores it
#: most entries of a layer's 'shape' (stock NetX writes [N], convolution layers [C, H, W])
MAX_SHAPE_ENTRIES = 8


class _Fields:
    """Field access for one group (a layer, the metadata), with errors that say where."""

    def __init__(self, group: h5py.Group, where: str):
        self.group, self.where = group, where

    def fail(self, message: str) -> NetworkFormatError:
        return NetworkFormatError(f"{self.where}: {message}")

    def has(self, key: str) -> bool:
        return key in self.group

    def raw(self, key: str, limit: int = 1, kind: str = "number") -> np.ndarray:
        """Dataset ``key``, checked to hold ``kind`` (:func:`lava_convdelay.hdf5_safety.read_dataset`)
        and to declare at most ``limit`` elements (what the file's other fields allow) before it is read."""
        if key not in self.group:
            raise self.fail(f"missing dataset '{key}'")
        return read_dataset(self.group[key], f"{self.where}: '{key}'", NetworkFormatError, kind, limit)

    def text(self, key: str, codec: str = "ascii") -> str:
        value = self.raw(key, kind="string")
        if value.shape == (1,):
            value = value[0]
        if isinstance(value, np.ndarray) and value.shape != ():
            raise self.fail(f"'{key}' must be a single string, got shape {value.shape}")
        value = value.item() if isinstance(value, np.ndarray) else value
        if isinstance(value, bytes):
            try:
                return value.decode(codec)
            except UnicodeDecodeError:
                raise self.fail(f"'{key}' is not {codec}: {value[:40]!r}") from None
        if isinstance(value, str):
            return value
        raise self.fail(f"'{key}' must be a string, got {type(value).__name__} {value!r}")

    def number(self, key: str) -> float:
        value = self.raw(key)
        if value.shape == (1,):
            value = value[0]
        if value.shape != () or not np.issubdtype(value.dtype, np.number):
            raise self.fail(f"'{key}' must be a scalar number, got {value.dtype} {value.shape}")
        return float(value)

    def integer(self, key: str, low: int | None = None, high: int | None = None) -> int:
        value = self.raw(key)
        if value.shape == (1,):
            value = value[0]
        if value.shape != () or not np.issubdtype(value.dtype, np.number):
            raise self.fail(f"'{key}' must be a scalar number, got {value.dtype} {value.shape}")
        if not np.isfinite(value) or value != np.round(value):
            raise self.fail(f"'{key}' must be an integer, got {value}")
        value = int(value)
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(f"'{key}'={value} outside [{low}, {high}]")
        return value

    def numbers(self, key: str, shape: tuple, value: np.ndarray | None = None) -> np.ndarray:
        """Dataset ``key`` (or ``value``, read from it), numeric and of ``shape``; its values
        are checked with the whole network (:meth:`NetworkSpec.validate`)."""
        value = self.raw(key, int(np.prod(shape))) if value is None else value
        if value.dtype == bool or not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            raise self.fail(f"'{key}' must be numeric, got dtype {value.dtype}")
        if value.shape != shape:
            raise self.fail(f"'{key}' has shape {value.shape}, expected {shape}")
        return value

    def matrix(self, key: str, rows: int, columns: int | None) -> np.ndarray:
        """Weights ``[rows, columns]`` as stock NetX reads them: a 1-D dataset is
        reshaped to ``rows`` rows; ``columns=None`` takes the dataset's own."""
        value = self.raw(key, rows * (MAX_NEURONS if columns is None else columns))
        if value.ndim == 1 and value.size % rows == 0:
            value = value.reshape(rows, -1)
        if columns is None:
            if value.ndim != 2 or value.shape[0] != rows or not 1 <= value.shape[1] <= MAX_NEURONS:
                raise self.fail(f"'{key}' has shape {value.shape}, expected ({rows}, inputs)")
            columns = value.shape[1]
        return self.numbers(key, (rows, columns), value)


def _neuron(layer: _Fields) -> CubaParams:
    kind = layer.text("neuron/type")
    if kind not in ("CUBA", "LOIHI"):
        raise UnsupportedLayerError(f"{layer.where}: neuron type '{kind}' is not supported (CUBA only)")
    if layer.has("neuron/gradedSpike"):
        graded = layer.raw("neuron/gradedSpike")
        if graded.shape not in ((), (1,)) or bool(np.asarray(graded).reshape(-1)[0]):
            raise UnsupportedLayerError(f"{layer.where}: graded spikes are not supported")
    if layer.has("bias"):
        raise UnsupportedLayerError(f"{layer.where}: 'bias' (normalisation) is not supported")
    return CubaParams(i_decay=layer.integer("neuron/iDecay"), v_decay=layer.integer("neuron/vDecay"),
                      vth_mant=layer.integer("neuron/vThMant"))


def _size(layer: _Fields) -> int:
    """The number of neurons: the product of ``shape``, as stock NetX reads it."""
    shape = layer.raw("shape", MAX_SHAPE_ENTRIES)
    shape = shape.reshape(1) if shape.ndim == 0 else shape
    if shape.ndim != 1 or not shape.size:
        raise layer.fail(f"'shape' must be a list of sizes, got shape {shape.shape}")
    sizes = int_array(shape, "shape", layer.where, shape.shape, 1, MAX_NEURONS, "layer size")
    if int(np.prod(sizes)) > MAX_NEURONS:
        raise layer.fail(f"'shape' {sizes.tolist()} gives more than {MAX_NEURONS} neurons")
    return int(np.prod(sizes))


def _pair(layer: _Fields, key: str) -> list[int]:
    """A ``conv`` setting as SLAYER writes it, ``[height, width]`` integers (a scalar: both)."""
    value = layer.raw(key, 2)
    value = np.repeat(value.reshape(1), 2) if value.size == 1 else value
    return int_array(value, key, layer.where, (2,), 0, MAX_NEURONS, key).tolist()


def _read_conv(layer: _Fields, in_features: int | None) -> LayerSpec:
    """A ``conv`` layer as ``cuba.Conv.export_hdf5`` writes it, of the one form this
    project runs: shape ``[C, 1, F]``, kernel ``(1, k)``, stride and dilation 1,
    groups 1, "same" padding ``(0, k // 2)``."""
    shape = layer.raw("shape", MAX_SHAPE_ENTRIES)
    if shape.shape != (3,):
        raise layer.fail(f"'shape' must be [outChannels, 1, positions], got shape {shape.shape}")
    channels, height, positions = int_array(shape, "shape", layer.where, (3,), 1, MAX_NEURONS, "size").tolist()
    if height != 1:
        raise UnsupportedLayerError(f"{layer.where}: 'shape' {[channels, height, positions]}: only a 1-D "
                                    f"convolution along the width (height 1) is supported")
    c_in = layer.integer("inChannels", 1, MAX_NEURONS)
    if layer.integer("outChannels") != channels:
        raise layer.fail(f"'outChannels'={layer.integer('outChannels')} but 'shape' has {channels} channels")
    if in_features is not None and in_features != c_in * positions:
        raise layer.fail(f"{c_in} input channels of {positions} positions, but the layer before has {in_features} "
                         f"neurons")
    _, k = _pair(layer, "kernelSize")
    for key, supported in (("kernelSize", [1, k]), ("stride", [1, 1]), ("dilation", [1, 1]),
                           ("padding", [0, k // 2])):
        if _pair(layer, key) != supported:
            raise UnsupportedLayerError(f"{layer.where}: '{key}'={_pair(layer, key)} is not supported (need "
                                        f"{supported}: a 1-D, stride-1, \"same\"-padded convolution)")
    if layer.integer("groups") != 1:
        raise UnsupportedLayerError(f"{layer.where}: 'groups'={layer.integer('groups')} is not supported (need 1)")
    if layer.has("delay"):
        raise UnsupportedLayerError(f"{layer.where}: a 'delay' on a 'conv' layer is not supported")
    weight = layer.numbers("weight", (channels, c_in, 1, k))
    return conv_layer(np.asarray(weight[:, :, 0, :], np.float64), positions, _neuron(layer), layer.where)


def _check_front_end_input(shape: list[int], conv: LayerSpec, where: str) -> None:
    """The input layer of a conv front end is its ``[C_in, 1, F]`` (stock NetX feeds
    the conv layer its reverse, Lava's ``(X, Y, C)``)."""
    assert conv.ff_conv is not None
    c_in = conv.ff_conv.in_channels
    expected = [c_in, 1, conv.in_features // c_in]
    if shape != expected:
        raise NetworkFormatError(f"{where}: 'shape' {shape} of the input must be {expected} ([channels, 1, "
                                 f"positions]) for the conv layer it feeds")


def _read_layer(layer: _Fields, kind: str, in_features: int | None) -> LayerSpec:
    """One layer; ``in_features`` is the previous layer's size (``None`` for the first
    layer of a file without an input layer: ``inFeatures`` where present, else the weights')."""
    if kind not in STOCK_TYPES + EXTENSION_TYPES:
        known = ", ".join(("input", "flatten") + STOCK_TYPES + EXTENSION_TYPES)
        raise UnsupportedLayerError(f"{layer.where}: unknown layer type '{kind}' (known: {known})")
    if kind == "conv":
        return _read_conv(layer, in_features)
    n = _size(layer)
    if in_features is None and layer.has("inFeatures"):  # the first layer, without an input layer
        in_features = layer.integer("inFeatures", 1, MAX_NEURONS)
    weight = layer.matrix("weight", n, in_features)  # stock NetX takes the sizes from here
    for key, expected in (("inFeatures", weight.shape[1]), ("outFeatures", n)):
        if layer.has(key) and layer.integer(key) != expected:
            raise layer.fail(f"'{key}'={layer.integer(key)} but expected {expected}")
    neuron = _neuron(layer)
    fields = {}
    if layer.has("delay"):
        if kind != "dense":
            raise UnsupportedLayerError(
                f"{layer.where}: a feed-forward 'delay' on a '{kind}' layer is not supported "
                f"(on a recurrent layer an output delay is not an input delay)"
            )
        delay = layer.raw("delay", max(n, weight.shape[1]))
        if delay.size == 1:  # one delay for every neuron (stock NetX broadcasts it)
            delay = np.full(n, delay.reshape(-1)[0])
        elif delay.shape == (weight.shape[1],) and n != weight.shape[1]:
            raise UnsupportedLayerError(f"{layer.where}: a 'delay' per input ({delay.size} values) is not "
                                        f"supported; give one per neuron ({n})")
        fields["delay"] = layer.numbers("delay", (n,), delay)
    if kind == "dense_rec":
        fields["weight_rec"] = layer.matrix("weight_rec", n, n)
    if kind in EXTENSION_TYPES:
        fields["max_delay"] = layer.integer("maxDelay")
    if kind in ("delay_rec", "conv_rec"):
        fields["delay_rec"] = layer.numbers("delay_rec", (n,))
    if kind == "delay_rec":
        fields["weight_rec"] = layer.numbers("weight_rec", (n, n))
    if kind == "conv_rec":
        channels = layer.integer("channels", 1, n)
        k = layer.integer("kernelSize", 1, 2 * n - 1)
        fields["conv"] = ConvRecurrence(channels, k, layer.numbers("weight_rec_conv", (channels, channels, k)))
    if kind == "dchan_rec":
        channels = layer.integer("channels", 1, n)
        k = layer.integer("kernelSize", 1, 2 * n - 1)
        count = layer.integer("delayChannels", 1, MAX_DELAY_CHANNELS)
        fields["delay_channels"] = DelayChannels(channels, k, layer.numbers("weight_rec_conv", (count, channels, k)),
                                                 layer.numbers("delay_rec", (count,)))
    return LayerSpec(type=kind, weight=weight, neuron=neuron, **fields)


def read_network(path: str | os.PathLike) -> NetworkSpec:
    """Read and validate ``path``; see docs/hdf5-format.md."""
    path = Path(path)
    if not path.is_file():
        raise NetworkFormatError(f"{path}: no such file")
    with open_hdf5(path, NetworkFormatError) as f:
        roots = [name for name in (STOCK_ROOT, EXTENSION_ROOT) if name in f]
        if len(roots) != 1:
            raise NetworkFormatError(
                f"{path}: expected exactly one of the groups /{STOCK_ROOT} or /{EXTENSION_ROOT}, "
                f"found {['/' + r for r in roots] or 'neither'}"
            )
        root = f[roots[0]]
        if not isinstance(root, h5py.Group):
            raise NetworkFormatError(f"{path}: /{roots[0]} must be a group of layers")
        names = sorted(root.keys(), key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else s))
        if names != [str(i) for i in range(len(names))] or not names:
            raise NetworkFormatError(f"{path}: layers must be named 0..L-1, found {list(root.keys())}")
        spec = NetworkSpec(input_size=0, source=str(path))
        in_features, layer_names, flattened, input_shape = None, [], False, None
        for name in names:
            layer = _Fields(root[name], f"{path}: layer {name}")
            if not isinstance(root[name], h5py.Group):
                raise layer.fail("is not a group")
            kind = layer.text("type")
            if kind == "input":
                if name != "0":
                    raise layer.fail("an 'input' layer may only be layer 0")
                in_features = _size(layer)
                input_shape = layer.raw("shape", MAX_SHAPE_ENTRIES).reshape(-1).tolist()
                continue
            after_conv = bool(spec.layers) and spec.layers[-1].ff_conv is not None
            if kind == "flatten":  # stock NetX's connection from a conv layer to a fully connected one
                if not after_conv or flattened:
                    raise layer.fail("a 'flatten' layer may only follow a 'conv' layer")
                if layer.has("shape") and _size(layer) != in_features:
                    raise layer.fail(f"'shape' gives {_size(layer)} values, the conv layer before has {in_features}")
                flattened = True
                continue
            parsed = _read_layer(layer, kind, in_features)
            if after_conv and (parsed.ff_conv is None) != flattened:
                raise layer.fail(f"a '{kind}' layer after a 'conv' layer needs a 'flatten' layer between them "
                                 f"(stock NetX connects them through it)" if not flattened else
                                 "a 'conv' layer cannot follow a 'flatten' layer")
            flattened = False
            if not spec.layers and parsed.ff_conv is not None and input_shape is not None:
                _check_front_end_input(input_shape, parsed, f"{path}: layer 0")
            if not spec.layers:
                spec.input_size = parsed.in_features
            spec.layers.append(parsed)
            layer_names.append(f"layer {name}")
            in_features = parsed.num_neurons
        if not spec.layers:
            raise NetworkFormatError(f"{path}: the network has no layers besides the input")
        if roots[0] == STOCK_ROOT and spec.uses_extension:
            raise NetworkFormatError(
                f"{path}: extension layer types must be stored under /{EXTENSION_ROOT}, "
                f"so that stock NetX cannot mis-read them"
            )
        if META_ROOT in f:
            _read_meta(f[META_ROOT], f"{path}: /{META_ROOT}", spec)
    return spec.validate(layer_names)


def _read_meta(meta, where: str, spec: NetworkSpec) -> None:
    """The optional record of the training data (entries other than these are ignored)."""
    if not isinstance(meta, h5py.Group):
        raise NetworkFormatError(f"{where}: must be a group")
    fields = _Fields(meta, where)
    if fields.has("input"):
        if not isinstance(meta["input"], h5py.Group):
            raise fields.fail("'input' must be a group")
        encoding_fields = _Fields(meta["input"], f"{where}/input")
        encoding = InputEncoding(dt=encoding_fields.number("dt"), pool=encoding_fields.integer("pool"),
                                 duration=encoding_fields.number("duration"),
                                 source_channels=encoding_fields.integer("sourceChannels"),
                                 # files written before it existed binned with any spike
                                 min_spikes=encoding_fields.integer("minSpikes") if encoding_fields.has("minSpikes")
                                 else 1,
                                 audio=encoding_fields.text("audioEncoding", "utf-8")
                                 if encoding_fields.has("audioEncoding") else None)
        try:
            encoding.check(f"{where}/input")
        except EncodingError as err:
            raise NetworkFormatError(str(err)) from None
        spec.encoding = encoding
    if fields.has("classNames"):
        raw = fields.raw("classNames", spec.output_size, "string")
        if raw.ndim != 1 or not raw.size or not all(isinstance(n, (bytes, str)) for n in raw):
            raise fields.fail(f"'classNames' must be a non-empty list of strings, got {raw.dtype} {raw.shape}")
        try:
            names = [n.decode("utf-8") if isinstance(n, bytes) else n for n in raw]
        except UnicodeDecodeError:
            raise fields.fail("'classNames' is not UTF-8") from None
        spec.class_names = names
