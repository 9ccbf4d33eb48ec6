"""Read and validate a network HDF5 file into a :class:`NetworkSpec`.

Reads stock lava-dl NetX files (``dense``, ``dense_rec`` under ``/layer``) and
this project's extension (docs/hdf5-format.md). Every structural problem is a
:class:`NetworkFormatError` naming the file, the layer and the field; unknown
layer types are :class:`UnsupportedLayerError` (stock NetX skips them).
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from lava_convdelay.data.encoding import EncodingError, InputEncoding
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
    int_array,
)
from netx_export.writer import EXTENSION_ROOT, META_ROOT, STOCK_ROOT


class _Fields:
    """Field access for one group (a layer, the metadata), with errors that say where."""

    def __init__(self, group: h5py.Group, where: str):
        self.group, self.where = group, where

    def fail(self, message: str) -> NetworkFormatError:
        return NetworkFormatError(f"{self.where}: {message}")

    def has(self, key: str) -> bool:
        return key in self.group

    def raw(self, key: str) -> np.ndarray:
        if key not in self.group:
            raise self.fail(f"missing dataset '{key}'")
        item = self.group[key]
        if not isinstance(item, h5py.Dataset):
            raise self.fail(f"'{key}' is a group, expected a dataset")
        try:
            return np.asarray(item[()])
        except (OSError, ValueError) as err:
            raise self.fail(f"cannot read '{key}': {err}") from None

    def text(self, key: str, codec: str = "ascii") -> str:
        value = self.raw(key)
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
        value = self.raw(key) if value is None else value
        if value.dtype == bool or not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            raise self.fail(f"'{key}' must be numeric, got dtype {value.dtype}")
        if value.shape != shape:
            raise self.fail(f"'{key}' has shape {value.shape}, expected {shape}")
        return value

    def matrix(self, key: str, rows: int, columns: int | None) -> np.ndarray:
        """Weights ``[rows, columns]`` as stock NetX reads them: a 1-D dataset is
        reshaped to ``rows`` rows; ``columns=None`` takes the dataset's own."""
        value = self.raw(key)
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
    shape = layer.raw("shape")
    shape = shape.reshape(1) if shape.ndim == 0 else shape
    if shape.ndim != 1 or not shape.size:
        raise layer.fail(f"'shape' must be a list of sizes, got shape {shape.shape}")
    sizes = int_array(shape, "shape", layer.where, shape.shape, 1, MAX_NEURONS, "layer size")
    if int(np.prod(sizes)) > MAX_NEURONS:
        raise layer.fail(f"'shape' {sizes.tolist()} gives more than {MAX_NEURONS} neurons")
    return int(np.prod(sizes))


def _read_layer(layer: _Fields, kind: str, in_features: int | None) -> LayerSpec:
    """One layer; ``in_features`` is the previous layer's size (``None`` for the first
    layer of a file without an input layer: ``inFeatures`` where present, else the weights')."""
    if kind not in STOCK_TYPES + EXTENSION_TYPES:
        known = ", ".join(("input",) + STOCK_TYPES + EXTENSION_TYPES)
        raise UnsupportedLayerError(f"{layer.where}: unknown layer type '{kind}' (known: {known})")
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
        delay = layer.raw("delay")
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
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise NetworkFormatError(f"{path}: not a readable HDF5 file ({err})") from None
    with f:
        roots = [name for name in (STOCK_ROOT, EXTENSION_ROOT) if name in f]
        if len(roots) != 1:
            raise NetworkFormatError(
                f"{path}: expected exactly one of the groups /{STOCK_ROOT} or /{EXTENSION_ROOT}, "
                f"found {['/' + r for r in roots] or 'neither'}"
            )
        root = f[roots[0]]
        names = sorted(root.keys(), key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else s))
        if names != [str(i) for i in range(len(names))] or not names:
            raise NetworkFormatError(f"{path}: layers must be named 0..L-1, found {list(root.keys())}")
        spec = NetworkSpec(input_size=0, source=str(path))
        in_features, layer_names = None, []
        for name in names:
            layer = _Fields(root[name], f"{path}: layer {name}")
            if not isinstance(root[name], h5py.Group):
                raise layer.fail("is not a group")
            kind = layer.text("type")
            if kind == "input":
                if name != "0":
                    raise layer.fail("an 'input' layer may only be layer 0")
                in_features = _size(layer)
                continue
            parsed = _read_layer(layer, kind, in_features)
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
        raw = fields.raw("classNames")
        if raw.ndim != 1 or not raw.size or not all(isinstance(n, (bytes, str)) for n in raw):
            raise fields.fail(f"'classNames' must be a non-empty list of strings, got {raw.dtype} {raw.shape}")
        try:
            names = [n.decode("utf-8") if isinstance(n, bytes) else n for n in raw]
        except UnicodeDecodeError:
            raise fields.fail("'classNames' is not UTF-8") from None
        spec.class_names = names
