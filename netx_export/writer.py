"""Write a :class:`NetworkSpec` to an HDF5 file (docs/hdf5-format.md).

Stock layer types are written with the same datasets, dtypes and shapes as
lava-dl's ``export_hdf5`` -- a ``conv`` front end as ``slayer.block.cuba.Conv``
of a ``[C, 1, F]`` population writes it, followed by the ``flatten`` layer
(``slayer.block.cuba.Flatten``) stock NetX needs before a fully connected layer.
The spec is validated first; the file is written to a temporary name in the
same directory, read back with the validating reader and compared with the
spec, and only then renamed: an interrupted export never leaves a partial
file, and a failed one never leaves a file that does not read back as the
network it was meant to hold.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from lava_convdelay.atomic import atomic_output
from netx_export.errors import NetworkFormatError
from netx_export.reader import EXTENSION_ROOT, FORMAT_NAME, FORMAT_VERSION, META_ROOT, STOCK_ROOT, read_network
from netx_export.spec import DelayChannels, LayerSpec, NetworkSpec


def _write_type(group: h5py.Group, kind: str) -> None:
    group.create_dataset("type", (1,), "S10", [kind.encode("ascii")])


def _write_conv(group: h5py.Group, layer: LayerSpec) -> None:
    """The datasets of ``cuba.Conv.export_hdf5``: SLAYER's ``[C, H, W]`` with ``H = 1``
    and the positions along ``W``, a ``(1, k)`` kernel."""
    conv = layer.ff_conv
    k = conv.kernel_size
    group.create_dataset("shape", data=np.array([conv.channels, 1, layer.num_neurons // conv.channels], np.int64))
    group.create_dataset("inChannels", data=np.int64(conv.in_channels))
    group.create_dataset("outChannels", data=np.int64(conv.channels))
    group.create_dataset("kernelSize", data=np.array([1, k], np.int64))
    group.create_dataset("stride", data=np.array([1, 1], np.int64))
    group.create_dataset("padding", data=np.array([0, k // 2], np.int64))
    group.create_dataset("dilation", data=np.array([1, 1], np.int64))
    group.create_dataset("groups", data=np.int64(1))
    group.create_dataset("weight", data=conv.kernel[:, :, None, :].astype(np.float32))


def _write_layer(group: h5py.Group, layer: LayerSpec) -> None:
    _write_type(group, layer.type)
    if layer.ff_conv is not None:
        _write_conv(group, layer)
        _write_neuron(group, layer)
        return
    group.create_dataset("shape", data=np.array([layer.num_neurons], dtype=np.int64))
    group.create_dataset("inFeatures", data=np.int64(layer.in_features))
    group.create_dataset("outFeatures", data=np.int64(layer.num_neurons))
    group.create_dataset("weight", data=layer.weight.astype(np.float32))
    if layer.delay is not None:
        group.create_dataset("delay", data=layer.delay.astype(np.float32))
    if layer.type == "conv_rec":
        group.create_dataset("weight_rec_conv", data=layer.conv.kernel.astype(np.float32))
        group.create_dataset("channels", data=np.int64(layer.conv.channels))
        group.create_dataset("kernelSize", data=np.int64(layer.conv.kernel_size))
    elif layer.type == "dchan_rec":
        channels = layer.delay_channels
        group.create_dataset("weight_rec_conv", data=channels.kernel.astype(np.float32))
        group.create_dataset("channels", data=np.int64(channels.channels))
        group.create_dataset("kernelSize", data=np.int64(channels.kernel_size))
        group.create_dataset("delayChannels", data=np.int64(channels.count))
        group.create_dataset("delay_rec", data=channels.delays.astype(np.int64))
        group.create_dataset("maxDelay", data=np.int64(layer.max_delay))
    elif layer.weight_rec is not None:
        group.create_dataset("weight_rec", data=layer.weight_rec.astype(np.float32))
    if layer.type in ("delay_rec", "conv_rec"):
        group.create_dataset("delay_rec", data=layer.delay_rec.astype(np.int64))
        group.create_dataset("maxDelay", data=np.int64(layer.max_delay))
    _write_neuron(group, layer)


def _write_neuron(group: h5py.Group, layer: LayerSpec) -> None:
    # the same keys, order and dtypes as slayer's neuron.device_params
    group.create_dataset("neuron/type", data="CUBA")
    group.create_dataset("neuron/iDecay", data=np.int64(layer.neuron.i_decay))
    group.create_dataset("neuron/vDecay", data=np.int64(layer.neuron.v_decay))
    group.create_dataset("neuron/vThMant", data=np.int64(layer.neuron.vth_mant))
    group.create_dataset("neuron/refDelay", data=np.int64(1))
    group.create_dataset("neuron/gradedSpike", data=False)


def _channels_shape(channels: DelayChannels | None) -> tuple[int, int, int] | None:
    """A 'dchan_rec' layer's ``(D, C, k)``."""
    return None if channels is None else (channels.count, channels.channels, channels.kernel_size)


def _difference(a: NetworkSpec, b: NetworkSpec) -> str | None:
    """The first field in which validated specs ``a`` and ``b`` differ, or ``None``."""
    if a.input_size != b.input_size or len(a.layers) != len(b.layers):
        return f"{a.input_size} inputs and {len(a.layers)} layers, read back {b.input_size} and {len(b.layers)}"
    for i, (x, y) in enumerate(zip(a.layers, b.layers), start=1):
        pairs = {"type": (x.type, y.type), "neuron": (vars(x.neuron), vars(y.neuron)),
                 "maxDelay": (x.max_delay, y.max_delay),
                 "conv": ((x.conv.channels, x.conv.kernel_size) if x.conv else None,
                          (y.conv.channels, y.conv.kernel_size) if y.conv else None),
                 "delay channels": (_channels_shape(x.delay_channels), _channels_shape(y.delay_channels))}
        for name, (left, right) in pairs.items():
            if left != right:
                return f"layer {i}: {name} {left}, read back {right}"
        arrays = {name: (getattr(x, name), getattr(y, name)) for name in ("weight", "delay", "weight_rec", "delay_rec")}
        arrays["weight_rec_conv"] = (x.conv.kernel if x.conv else None, y.conv.kernel if y.conv else None)
        if x.delay_channels is not None and y.delay_channels is not None:
            arrays["weight_rec_conv"] = (x.delay_channels.kernel, y.delay_channels.kernel)
            arrays["delay_rec"] = (x.delay_channels.delays, y.delay_channels.delays)
        for name, (left, right) in arrays.items():
            if (left is None) != (right is None) or (left is not None and not np.array_equal(left, right)):
                return f"layer {i}: '{name}' does not read back as written"
    if a.encoding != b.encoding:
        return f"input encoding {a.encoding}, read back {b.encoding}"
    if a.class_names != b.class_names:
        return f"class names {a.class_names!r}, read back {b.class_names!r}"
    return None


def _reads_back(spec: NetworkSpec, tmp: Path, path: Path) -> None:
    """Refuse to commit ``tmp`` (to become ``path``) unless it reads back as ``spec``."""
    try:
        written = read_network(tmp)
    except NetworkFormatError as err:
        raise NetworkFormatError(f"{path}: not written: the file would not read back "
                                 f"({str(err).replace(str(tmp), str(path))})") from None
    difference = _difference(spec, written)
    if difference is not None:
        raise NetworkFormatError(f"{path}: not written: the file would not read back as the network "
                                 f"({difference})")


def write_network(spec: NetworkSpec, path: str | os.PathLike) -> Path:
    """Write ``spec`` to ``path`` atomically, once it validates and the file written reads
    back as it (:mod:`netx_export.reader`); returns the path."""
    path = Path(path)
    spec = spec.validate()
    with atomic_output(path, check=lambda tmp: _reads_back(spec, tmp, path)) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        root = f.create_group(EXTENSION_ROOT if spec.uses_extension else STOCK_ROOT)
        inp = root.create_group("0")
        _write_type(inp, "input")
        # a conv front end's input is one channel of positions: [C, H, W] = [1, 1, F] (Lava's (F, 1, 1))
        front_end = spec.layers[0].ff_conv is not None
        inp.create_dataset("shape", data=np.array([1, 1, spec.input_size] if front_end else [spec.input_size],
                                                  dtype=np.int64))
        index = 1
        for previous, layer in zip([None] + spec.layers, spec.layers):
            if previous is not None and previous.ff_conv is not None and layer.ff_conv is None:
                flatten = root.create_group(str(index))  # slayer.block.cuba.Flatten after the front end
                _write_type(flatten, "flatten")
                flatten.create_dataset("shape", data=np.array([previous.num_neurons, 1, 1], np.int64))
                index += 1
            _write_layer(root.create_group(str(index)), layer)
            index += 1
        _write_meta(f, spec)
    return path


def _write_meta(f: h5py.File, spec: NetworkSpec) -> None:
    if spec.encoding is None and spec.class_names is None:
        return
    meta = f.create_group(META_ROOT)
    if spec.encoding is not None:
        encoding = meta.create_group("input")
        encoding.create_dataset("dt", data=np.float64(spec.encoding.dt))
        encoding.create_dataset("pool", data=np.int64(spec.encoding.pool))
        encoding.create_dataset("duration", data=np.float64(spec.encoding.duration))
        encoding.create_dataset("sourceChannels", data=np.int64(spec.encoding.source_channels))
        encoding.create_dataset("minSpikes", data=np.int64(spec.encoding.min_spikes))
        if spec.encoding.audio is not None:
            encoding.create_dataset("audioEncoding", data=spec.encoding.audio.encode("utf-8"),
                                    dtype=h5py.string_dtype("utf-8"))
    if spec.class_names is not None:
        meta.create_dataset("classNames", data=[name.encode("utf-8") for name in spec.class_names],
                            dtype=h5py.string_dtype("utf-8"))
