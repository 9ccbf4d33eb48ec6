"""Write a :class:`NetworkSpec` to an HDF5 file (docs/hdf5-format.md).

Stock layer types are written with the same datasets, dtypes and shapes as
lava-dl's ``export_hdf5``. The file is written to a temporary name in the same
directory and renamed, so an interrupted export never leaves a partial file.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from lava_convdelay.atomic import atomic_output
from netx_export.spec import LayerSpec, NetworkSpec

FORMAT_NAME = "lava-convdelay-netx"
FORMAT_VERSION = 1
STOCK_ROOT = "layer"
EXTENSION_ROOT = "lava_convdelay_layer"
META_ROOT = "lava_convdelay_meta"  # what the file records of its training data; stock NetX ignores it


def _write_layer(group: h5py.Group, layer: LayerSpec) -> None:
    group.create_dataset("type", (1,), "S10", [layer.type.encode("ascii")])
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
    # the same keys, order and dtypes as slayer's neuron.device_params
    group.create_dataset("neuron/type", data="CUBA")
    group.create_dataset("neuron/iDecay", data=np.int64(layer.neuron.i_decay))
    group.create_dataset("neuron/vDecay", data=np.int64(layer.neuron.v_decay))
    group.create_dataset("neuron/vThMant", data=np.int64(layer.neuron.vth_mant))
    group.create_dataset("neuron/refDelay", data=np.int64(1))
    group.create_dataset("neuron/gradedSpike", data=False)


def write_network(spec: NetworkSpec, path: str | os.PathLike) -> Path:
    """Write ``spec`` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        root = f.create_group(EXTENSION_ROOT if spec.uses_extension else STOCK_ROOT)
        inp = root.create_group("0")
        inp.create_dataset("type", (1,), "S10", [b"input"])
        inp.create_dataset("shape", data=np.array([spec.input_size], dtype=np.int64))
        for i, layer in enumerate(spec.layers, start=1):
            _write_layer(root.create_group(str(i)), layer)
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
