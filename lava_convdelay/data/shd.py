"""Read Spiking Heidelberg Digits / Spiking Speech Commands HDF5 files.

Format (Cramer et al. 2020): ``spikes/times`` (ragged, seconds) and
``spikes/units`` (ragged, channel 0..699) per sample, ``labels``,
``extra/keys`` (class names), ``extra/speaker``. Samples are binned into a
dense ``[channels, time]`` 0/1 tensor: time step ``dt`` seconds, ``pool``
neighbouring channels merged (700 -> 140 by default), ``duration`` seconds.
Files from ``data import`` record their audio encoding, which also gives their
number of channels (the delta encoder's differs from SHD's 700).
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from lava_convdelay.atomic import atomic_output
from lava_convdelay.data.encoding import SHD_CHANNELS, InputEncoding
from lava_convdelay.errors import UserError
from lava_convdelay.hdf5_safety import open_hdf5, read_attribute, read_dataset

#: root attribute of a file from ``data import``: how its recordings became spikes (JSON)
AUDIO_ENCODING_ATTR = "lava_convdelay_audio_encoding"


class DatasetFormatError(UserError):
    """A spike dataset file that is not in the SHD format; names file and problem."""


#: Most samples and classes a dataset file may declare (SSC, the largest SHD-format set: 75,466 and 35).
MAX_SAMPLES = 1 << 24
MAX_CLASSES = 1 << 16


def _dataset(f: h5py.File, key: str, path: Path, kind: str, limit: int, missing: str = "") -> np.ndarray:
    if key not in f:
        raise DatasetFormatError(f"{path}: missing dataset '{key}'{missing}")
    return read_dataset(f[key], f"{path}: '{key}'", DatasetFormatError, kind, limit)


def _ragged(f: h5py.File, key: str, path: Path, integers: bool) -> h5py.Dataset:
    """Ragged dataset ``key`` (rows of integers, or of numbers), its type checked."""
    if key not in f:
        raise DatasetFormatError(f"{path}: missing dataset '{key}' (not an SHD/SSC file?)")
    item = f[key]
    if not isinstance(item, h5py.Dataset) or item.ndim != 1 or h5py.check_vlen_dtype(item.dtype) is None:
        raise DatasetFormatError(f"{path}: '{key}' must be a 1-D ragged dataset (rows of numbers)")
    base = h5py.check_vlen_dtype(item.dtype)
    if base.kind not in ("iu" if integers else "iuf"):
        raise DatasetFormatError(f"{path}: '{key}' rows must hold {'integers' if integers else 'numbers'}, "
                                 f"got {base}")
    return item


def _class_names(f: h5py.File, path: Path) -> list[str] | None:
    """``extra/keys``: distinct UTF-8 class names, or ``None`` where absent."""
    if "extra/keys" not in f:
        return None
    raw = _dataset(f, "extra/keys", path, "string", MAX_CLASSES)
    if raw.ndim != 1:
        raise DatasetFormatError(f"{path}: 'extra/keys' must be a list of class names, got shape {raw.shape}")
    try:
        keys = [k.decode("utf-8") if isinstance(k, bytes) else str(k) for k in raw]
    except UnicodeDecodeError:
        raise DatasetFormatError(f"{path}: 'extra/keys' holds a name that is not UTF-8 text") from None
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key in seen:
            raise DatasetFormatError(f"{path}: 'extra/keys' names class {seen[key]} and class {i} both "
                                     f"{key!r}; class names must be distinct (a network's output k is class k)")
        seen[key] = i
    return keys


def _layout(f: h5py.File, path: Path) -> tuple[np.ndarray, dict[str, h5py.Dataset], list[str] | None]:
    """``(labels [samples], {"spikes/times", "spikes/units"}: their ragged datasets, class
    names or None)`` of an open SHD-format file: labels read and checked against the
    class names, the ragged datasets' types and row counts checked without reading them."""
    labels = _dataset(f, "labels", path, "number", MAX_SAMPLES)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetFormatError(f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} "
                                 f"{labels.shape}")
    n = len(labels)
    ragged = {key: _ragged(f, key, path, integers=key == "spikes/units") for key in ("spikes/times", "spikes/units")}
    rows = [len(item) for item in ragged.values()]
    if rows != [n, n]:  # checked before reading them
        raise DatasetFormatError(f"{path}: {rows[0]} spike-time rows, {rows[1]} unit rows and {n} labels: "
                                 f"the ragged arrays must have one row per label")
    keys = _class_names(f, path)
    if (labels < 0).any() or (keys is not None and (labels >= len(keys)).any()):
        raise DatasetFormatError(f"{path}: labels must lie in [0, number of classes)")
    return labels, ragged, keys


def check_layout(path: str | os.PathLike) -> tuple[int, int | None]:
    """``(samples, classes or None)`` of an SHD-format file, after the checks of
    :func:`read_shd` that need no spike data: the HDF5 safety checks, the datasets'
    presence, types and row counts, labels within the class names. Reads only the
    labels and class names (cheap on SSC's 75,466 samples); :func:`read_shd` checks
    the events when the file is used."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: no such dataset file")
    with open_hdf5(path, DatasetFormatError) as f:
        labels, _, keys = _layout(f, path)
    return len(labels), None if keys is None else len(keys)


def read_shd(path: str | os.PathLike, channels: int | None = None) -> dict:
    """Load and validate a whole SHD-format file into memory; units must lie below
    ``channels`` (``None``: the recorded audio encoding's channels, else SHD's 700).

    Returns ``{"times": [array seconds], "units": [array int], "labels": int
    array [samples], "keys": list[str] | None, "speaker": int array | None,
    "audio_encoding": str | None, "channels": int}`` (``audio_encoding``: JSON,
    files from ``data import``; ``channels``: the limit the units were checked against).
    The file is opened with :func:`lava_convdelay.hdf5_safety.open_hdf5` (no links
    or storage outside it) and each dataset's type and length checked before it
    is read.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: no such dataset file")
    with open_hdf5(path, DatasetFormatError) as f:
        labels, ragged, keys = _layout(f, path)
        n = len(labels)
        times, units = (list(read_dataset(item, f"{path}: '{key}'", DatasetFormatError, "ragged", n))
                        for key, item in ragged.items())
        speaker = None
        if "extra/speaker" in f:
            speaker = _dataset(f, "extra/speaker", path, "number", n)
            if speaker.shape != (n,) or not np.issubdtype(speaker.dtype, np.integer):
                raise DatasetFormatError(f"{path}: 'extra/speaker' must hold one integer per label ({n}), got "
                                         f"{speaker.dtype} {speaker.shape}")
        audio = read_attribute(f, AUDIO_ENCODING_ATTR, str(path), DatasetFormatError)
    if audio is not None and not isinstance(audio, str):
        raise DatasetFormatError(f"{path}: attribute {AUDIO_ENCODING_ATTR} must be a string")
    if channels is None:
        channels = recorded_channels(audio, path)
    for i, (t, u) in enumerate(zip(times, units)):
        t, u = np.asarray(t), np.asarray(u)
        if t.shape != u.shape:
            raise DatasetFormatError(f"{path}: sample {i} has {t.size} spike times but {u.size} units")
        if t.size and (not np.isfinite(t).all() or t.min() < 0):
            raise DatasetFormatError(f"{path}: sample {i} has negative or non-finite spike times")
        if u.size and (u.min() < 0 or u.max() >= channels):
            raise DatasetFormatError(f"{path}: sample {i} has units outside [0, {channels}) "
                                     f"(found {u.min()}..{u.max()})")
    return {"times": times, "units": units, "labels": labels.astype(np.int64), "keys": keys, "speaker": speaker,
            "audio_encoding": audio, "channels": channels}


def recorded_channels(audio_encoding: str | None, path: str | os.PathLike = "") -> int:
    """The channels of a file whose audio encoding (JSON, ``None``: not recorded) is given."""
    if audio_encoding is None:
        return SHD_CHANNELS
    from lava_convdelay.data.audio_encoding import AudioEncoding  # the cochlea's numba: only where needed
    return AudioEncoding.from_json(audio_encoding, f"{path}: attribute {AUDIO_ENCODING_ATTR}").channels


#: The factor of the binning rule: float32 storage moves a time by up to 2^-24 (6e-8) of
#: its value, and this puts every time within 1e-6 of its value below a bin edge onto the
#: edge, so a spike emitted on an edge (every 80th cochlea sample at 10 ms) stays in the
#: later bin. It is binary64 0x1.000010c6f7a0bp+0 (docs/hdf5-format.md, "Input binning").
EDGE_FACTOR = 1 + 1e-6


def bin_index(times, dt: float) -> np.ndarray:
    """The step of each spike time (seconds), float64 and integer valued, by the one binning
    rule (docs/hdf5-format.md): the time rounded to float32 (the value an SHD file holds;
    a float32 stays as it is), then ``floor((t / dt) * EDGE_FACTOR)`` in binary64."""
    with np.errstate(over="ignore"):  # a time beyond float32's range is infinitely late
        return np.floor(np.asarray(times, dtype=np.float32).astype(np.float64) / dt * EDGE_FACTOR)


def bin_spikes(times: np.ndarray, units: np.ndarray, dt: float = 10e-3, pool: int = 5,
               duration: float = 1.0, channels: int = SHD_CHANNELS, min_spikes: int = 1) -> torch.Tensor:
    """Events -> 0/1 tensor ``[channels / pool, round(duration / dt)]`` by the binning rule
    of docs/hdf5-format.md, for every path (files, ``encode``, ``classify``): times
    are taken as the float32 values a file holds, so events straight from the
    cochlea (float64) bin as the imported file's do.

    A bin holds 1 if its pooled channels spiked at least ``min_spikes`` times in
    it (1: any spike); spikes whose step is ``round(duration / dt)`` or later are dropped.
    """
    steps = int(round(duration / dt))
    out = torch.zeros(channels // pool, steps)
    step = bin_index(times, dt)
    keep = step < steps  # compared in float64: a huge time never wraps into an int64 index
    t = step[keep].astype(np.int64)
    rows = np.asarray(units).astype(np.int64)[keep] // pool
    if min_spikes == 1:
        out[torch.as_tensor(rows), torch.as_tensor(t)] = 1.0
        return out
    counts = np.zeros(tuple(out.shape), np.int64)
    np.add.at(counts, (rows, t), 1)
    return torch.as_tensor(counts >= min_spikes, dtype=out.dtype)


class SHDDataset(Dataset):
    """An SHD-format file as ``(spikes [channels / pool, steps] float32 0/1, label int)``;
    ``channels``: the file's (its audio encoding's, else SHD's 700). Events already in
    memory (a generated task's) bin the same way through :meth:`from_events`.

    Binned samples are cached in memory on first access, so later epochs cost
    no re-binning. The cache holds uint8 (a quarter of float32: the SHD
    training set takes ~115 MB at the defaults) and every access returns a new
    float tensor, so in-place augmentation cannot corrupt the cache.
    ``duration=None`` bins the file's longest sample whole.
    """

    def __init__(self, path: str | os.PathLike, dt: float = InputEncoding.dt, pool: int = InputEncoding.pool,
                 duration: float | None = InputEncoding.duration, min_spikes: int = InputEncoding.min_spikes):
        InputEncoding(dt, pool, 1.0 if duration is None else duration, min_spikes=min_spikes).check(
            str(path), pooled=False)
        self._hold(read_shd(path), Path(path), dt, pool, duration, min_spikes)

    @classmethod
    def from_events(cls, data: dict, name: str, dt: float = InputEncoding.dt, pool: int = InputEncoding.pool,
                    duration: float | None = InputEncoding.duration,
                    min_spikes: int = InputEncoding.min_spikes) -> SHDDataset:
        """Samples already in memory, in the form :func:`read_shd` returns (a generated
        task's, :mod:`lava_convdelay.data.delay_task`), binned as a file's; ``name``
        stands for the file in messages (the ``path`` attribute)."""
        InputEncoding(dt, pool, 1.0 if duration is None else duration, min_spikes=min_spikes).check(
            name, pooled=False)
        dataset = cls.__new__(cls)
        dataset._hold(data, name, dt, pool, duration, min_spikes)
        return dataset

    def _hold(self, data: dict, path: Path | str, dt: float, pool: int, duration: float | None,
              min_spikes: int) -> None:
        self.path = path
        self.data = data
        if duration is None:
            last = max((float(np.max(t)) for t in self.data["times"] if len(t)), default=0.0)
            duration = last + dt  # a bin for the last spike
        self.encoding = InputEncoding(dt, pool, float(duration), self.data["channels"], min_spikes,
                                      self.data["audio_encoding"]).check(str(path))
        self.dt, self.pool, self.duration = dt, pool, self.encoding.duration
        self.keys = self.data["keys"]
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.data["labels"])

    @property
    def channels(self) -> int:
        return self.encoding.channels

    @property
    def labels(self) -> np.ndarray:
        """``[samples]`` int64 labels (without binning any sample)."""
        return self.data["labels"]

    def __getitem__(self, index: int):
        if index not in self._cache:
            self._cache[index] = bin_spikes(self.data["times"][index], self.data["units"][index],
                                            self.dt, self.pool, self.duration, self.encoding.source_channels,
                                            self.encoding.min_spikes).to(torch.uint8)
        return self._cache[index].float(), int(self.data["labels"][index])


def _smallest_uint(values, what: str, path: Path) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    for dtype in (np.uint8, np.uint16, np.uint32):
        if values.size == 0 or (values.min() >= 0 and values.max() <= np.iinfo(dtype).max):
            return values.astype(dtype)
    raise DatasetFormatError(f"{path}: {what} outside [0, 2**32)")


def write_shd(path: str | os.PathLike, times: list, units: list, labels, keys: list[str],
              speaker=None, audio_encoding: str | None = None, extra: dict | None = None) -> Path:
    """Write samples in the SHD format (atomically: temporary file + rename).

    ``times[i]`` seconds (float) and ``units[i]`` channels (int) of sample ``i``;
    labels and speakers as SHD's uint8 where they fit, else wider unsigned
    integers. ``audio_encoding``: how the recordings became spikes (JSON of
    :class:`lava_convdelay.data.audio_encoding.AudioEncoding`), kept in the root
    attribute :data:`AUDIO_ENCODING_ATTR` (SHD readers ignore it). ``extra``: more
    per-sample arrays (name -> ``[samples]``), kept as ``extra/<name>``.
    """
    for name, values in (extra or {}).items():
        if name in ("keys", "speaker") or len(values) != len(labels):
            raise ValueError(f"extra/{name}: a per-sample array needs its own name and {len(labels)} rows, "
                             f"got {len(values)}")
    path = Path(path)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("spikes/times", data=np.array([np.asarray(t, np.float32) for t in times] + [None],
                                                       dtype=h5py.vlen_dtype(np.float32))[:-1])
        f.create_dataset("spikes/units", data=np.array([np.asarray(u, np.uint16) for u in units] + [None],
                                                       dtype=h5py.vlen_dtype(np.uint16))[:-1])
        f.create_dataset("labels", data=_smallest_uint(labels, "labels", path))
        f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
        if speaker is not None:
            f.create_dataset("extra/speaker", data=_smallest_uint(speaker, "speakers", path))
        if audio_encoding is not None:
            f.attrs[AUDIO_ENCODING_ATTR] = audio_encoding
        for name, values in (extra or {}).items():
            f.create_dataset(f"extra/{name}", data=np.asarray(values))
    return path
