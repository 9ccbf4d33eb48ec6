"""The self-test archive: one ``.npz`` per backend, written whole or not at
all, read back with every entry checked (it is a file a user hands us).

Entries (``numpy.savez_compressed``, no pickles):

- ``meta``: a 0-d string, JSON: ``format`` (:data:`FORMAT`), ``version``,
  ``backend`` and its description, ``environment`` (versions, ``LOIHI_GEN``,
  partition, board, the network's SHA-256), ``settings`` (``READOUT_VTH``,
  the delayed synapse, the reset), ``calibration`` (``status``,
  ``message``, ``offsets``, ``post_spike``), ``tests`` (per micro-test
  ``status``, ``message``, ``models``, ``raw_unsigned``), ``network``
  (``status``, ``message``, ``layers``, ``schedule``) or null;
- ``<test>/spikes`` uint8 and ``<test>/voltage`` int64 ``[N, T]`` (aligned at
  the calibrated offsets: column ``t`` is step ``t``), ``<test>/raw_spikes``,
  ``<test>/raw_voltage`` ``[N, T + 16]`` as read, for each micro-test that ran;
- ``network/input`` ``[S, C, T]`` and ``network/layer<l>/spikes``,
  ``network/layer<l>/voltage`` ``[S, N_l, T]`` (``l`` from 1) where the real
  network ran.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lava_convdelay.atomic import atomic_output
from sim.errors import ArchiveError

__all__ = ["FORMAT", "VERSION", "Archive", "write_archive", "read_archive"]

FORMAT = "lava-convdelay-loihi2-selftest"
VERSION = 1
#: largest array an archive may hold (elements): far above any self-test's
MAX_ELEMENTS = 1 << 28
STATUSES = ("ok", "compile error", "run error")


@dataclass
class Archive:
    """``meta`` (the JSON above) and ``arrays`` (name -> integer array)."""

    path: Path
    meta: dict
    arrays: dict[str, np.ndarray]


def write_archive(path: str | Path, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    path = Path(path)
    with atomic_output(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, meta=np.array(json.dumps({"format": FORMAT, "version": VERSION, **meta})),
                            **arrays)
    return path


def _headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array, from the ``.npy`` headers (nothing allocated)."""
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise ArchiveError(f"{path}: {info.filename!r} is not an array")
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                        else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(member)
                headers[info.filename[:-4]] = (shape, dtype)
    except (OSError, zipfile.BadZipFile, ValueError) as err:
        raise ArchiveError(f"{path}: not a loihi2-selftest archive ({err})") from None
    return headers


def _check(path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype, ndim: int) -> None:
    if dtype.kind not in "iu" or len(shape) != ndim or int(np.prod(shape, dtype=np.int64)) > MAX_ELEMENTS:
        raise ArchiveError(f"{path}: {name} must be a {ndim}-D integer array of at most {MAX_ELEMENTS} elements, "
                           f"got {dtype} {shape}")


def read_archive(path: str | Path) -> Archive:
    """The archive at ``path``, or :class:`ArchiveError` naming the file and entry."""
    path = Path(path)
    headers = _headers(path)
    if "meta" not in headers or headers["meta"][1].kind != "U" or headers["meta"][0] != ():
        raise ArchiveError(f"{path}: not a loihi2-selftest archive (no meta entry)")
    with np.load(path, allow_pickle=False) as data:
        try:
            meta = json.loads(str(data["meta"]))
        except ValueError as err:
            raise ArchiveError(f"{path}: meta is not JSON ({err})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ArchiveError(f"{path}: not a {FORMAT} archive of version {VERSION}")
        tests = meta.get("tests")
        if not isinstance(tests, dict) or not all(isinstance(t, dict) and t.get("status") in STATUSES
                                                  for t in tests.values()):
            raise ArchiveError(f"{path}: meta.tests must map each micro-test to its status ({', '.join(STATUSES)})")
        for name, (shape, dtype) in headers.items():
            if name != "meta":
                _check(path, name, shape, dtype, 2 if name.count("/") == 1 and not name.startswith("network/")
                       else 3)
        for name, test in tests.items():
            if test["status"] == "ok":
                for key in ("spikes", "voltage"):
                    if f"{name}/{key}" not in headers:
                        raise ArchiveError(f"{path}: micro-test {name} ran but {name}/{key} is missing")
                if headers[f"{name}/spikes"][0] != headers[f"{name}/voltage"][0]:
                    raise ArchiveError(f"{path}: {name}/spikes and {name}/voltage differ in shape")
        arrays = {name: np.asarray(data[name]) for name in headers if name != "meta"}
    return Archive(path, meta, arrays)
