"""Spike arrays users hand to and get from the commands: ``.npy`` files of 0/1
spikes ``[channels, T]`` or ``[samples, channels, T]``, checked against the
network that is to run them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from lava_convdelay.atomic import atomic_output
from lava_convdelay.data.encoding import EncodingError
from lava_convdelay.errors import UserError


def _header(path: Path) -> tuple[tuple, np.dtype]:
    """Shape and dtype of the ``.npy`` file ``path`` from its header alone, checked to be
    a plain array of numbers whose data the file holds in full (nothing is allocated
    from what the header declares)."""
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a .npy file")
    if path.exists() and not path.is_file():  # a FIFO or device would block the read or never end
        raise UserError(f"{path}: is not a regular file")
    try:
        with open(path, "rb") as fh:
            if fh.read(4) == b"PK\x03\x04":
                raise UserError(f"{path}: is an .npz archive (several arrays); give one array saved with numpy.save")
            fh.seek(0)
            try:
                version = npy_format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = npy_format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = npy_format.read_array_header_2_0(fh)
                else:  # 3.0 exists for structured arrays with non-ASCII field names
                    raise ValueError(f".npy format version {version[0]}.{version[1]}")
            except (ValueError, OSError, EOFError) as err:  # EOFError: an empty file
                raise UserError(f"{path}: not a readable .npy array ({err or 'empty file'})") from None
            data_start = fh.tell()
    except FileNotFoundError:
        raise UserError(f"{path}: no such input file") from None
    except OSError as err:
        raise UserError(f"{path}: cannot be read ({err.strerror or err})") from None
    if dtype.hasobject:
        raise UserError(f"{path}: holds Python objects (dtype {dtype}); pickled arrays are refused")
    if dtype.names is not None or dtype.subdtype is not None:
        raise UserError(f"{path}: holds records of dtype {dtype}, not spikes; save a plain 0/1 array")
    if dtype.kind not in "biuf":
        raise UserError(f"{path}: holds dtype {dtype}; spikes must be 0/1 integers, booleans or floats")
    elements = int(np.prod(shape, dtype=object))
    held = path.stat().st_size - data_start
    if elements * dtype.itemsize != held:
        raise UserError(f"{path}: its header declares shape {shape} of {dtype} ({elements * dtype.itemsize} bytes) "
                        f"but the file holds {held} bytes of data (truncated, or not written by numpy.save)")
    return shape, dtype


def load_spikes(path: Path, channels: int) -> np.ndarray:
    """``.npy`` 0/1 spikes ``[channels, T]`` or ``[samples, channels, T]``, as int8
    ``[samples, channels, T]``: the header (shape, dtype, the data's length) is checked
    before any data is read; other files are refused with one line naming ``path``."""
    path = Path(path)
    shape, dtype = _header(path)
    if len(shape) not in (2, 3) or shape[-2] != channels or shape[-1] < 1 or (len(shape) == 3 and shape[0] < 1):
        raise UserError(f"{path}: expected spikes [{channels}, time >= 1] or [samples >= 1, {channels}, "
                        f"time >= 1], got shape {shape}")
    try:
        spikes = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:  # changed since the header was read
        raise UserError(f"{path}: not a readable .npy array ({err})") from None
    if spikes.shape != shape or spikes.dtype != dtype:
        raise UserError(f"{path}: changed while it was read")
    binary = (spikes == 0) | (spikes == 1)
    if not binary.all():
        index = tuple(int(i) for i in np.argwhere(~binary)[0])
        raise UserError(f"{path}: spikes must be 0 or 1, found {spikes[index]} at index {index} "
                        f"({int((~binary).sum())} value(s) other than 0 and 1)")
    spikes = spikes.reshape((-1,) + shape[-2:])
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
