"""Spike arrays users hand to and get from the commands: ``.npy`` files of 0/1
spikes ``[channels, T]`` or ``[samples, channels, T]``, checked against the
network that is to run them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lava_convdelay.atomic import atomic_output
from lava_convdelay.data.encoding import EncodingError
from lava_convdelay.errors import UserError


def load_spikes(path: Path, channels: int) -> np.ndarray:
    """``.npy`` 0/1 spikes ``[channels, T]`` or ``[samples, channels, T]``."""
    try:
        spikes = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such input file") from None
    except (ValueError, OSError, EOFError) as err:  # EOFError: an empty file
        raise UserError(f"{path}: not a readable .npy array ({err or 'empty file'})") from None
    shape = spikes.shape
    if spikes.ndim == 2:
        spikes = spikes[None]
    if spikes.ndim != 3 or spikes.shape[1] != channels or spikes.shape[0] < 1 or spikes.shape[2] < 1:
        raise UserError(f"{path}: expected spikes [{channels}, time >= 1] or [samples >= 1, {channels}, "
                        f"time >= 1], got shape {shape}")
    if not np.isin(spikes, (0, 1)).all():
        raise UserError(f"{path}: spikes must be 0 or 1")
    return spikes.astype(np.int8)


def save_npy(array: np.ndarray, path: Path) -> None:
    """Write ``array`` to ``path`` atomically."""
    with atomic_output(path, suffix=".npy") as tmp:
        np.save(tmp, array)


def check_binning(path: Path, spikes: np.ndarray, spec, allow_other: bool) -> None:
    """Refuse input whose length is not that of the network's training input (where the
    network file records it) unless ``allow_other`` (``--allow-other-binning``)."""
    encoding = spec.encoding
    if encoding is not None and spikes.shape[-1] != encoding.steps and not allow_other:
        # `encode` runs the SHD chain; data from `data import` (a recorded chain) needs `classify`
        remedy = f"make input with `lava-convdelay encode REC.wav {encoding.encode_options()}`" \
            if encoding.audio is None else f"for recordings use `lava-convdelay classify {spec.source} REC.wav` " \
            f"(it encodes them with the chain this network was trained on)"
        raise EncodingError(
            f"{path}: {spikes.shape[-1]} time steps, but {spec.source} was trained on {encoding.steps} "
            f"({encoding.describe()}); {remedy}, or add --allow-other-binning to run these spikes as they are")


def per_input(output: np.ndarray, input_path: Path) -> np.ndarray:
    """``[samples, N, T]`` outputs, or ``[N, T]`` if the input file held one
    sample as ``[channels, T]``."""
    return output[0] if output.shape[0] == 1 and np.load(input_path, mmap_mode="r").ndim == 2 else output
