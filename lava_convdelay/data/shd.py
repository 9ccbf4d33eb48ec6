"""Read Spiking Heidelberg Digits / Spiking Speech Commands HDF5 files.

Format (Cramer et al. 2020): ``spikes/times`` (ragged, seconds) and
``spikes/units`` (ragged, channel 0..699) per sample, ``labels``,
``extra/keys`` (class names), ``extra/speaker``. Samples are binned into a
dense ``[channels, time]`` 0/1 tensor: time step ``dt`` seconds, ``pool``
neighbouring channels merged (700 -> 140 by default), ``duration`` seconds.
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


#: root attribute of a file from ``data import``: how its recordings became spikes (JSON)
AUDIO_ENCODING_ATTR = "lava_convdelay_audio_encoding"


class DatasetFormatError(UserError):
    """A spike dataset file that is not in the SHD format; names file and problem."""


def _ragged(f: h5py.File, key: str, path: Path) -> h5py.Dataset:
    if key not in f:
        raise DatasetFormatError(f"{path}: missing dataset '{key}' (not an SHD/SSC file?)")
    item = f[key]
    if not isinstance(item, h5py.Dataset) or item.ndim != 1:
        raise DatasetFormatError(f"{path}: '{key}' must be a 1-D (ragged) dataset")
    return item


def read_shd(path: str | os.PathLike, channels: int = SHD_CHANNELS) -> dict:
    """Load and validate a whole SHD-format file into memory.

    Returns ``{"times": [array seconds], "units": [array int], "labels": int
    array [samples], "keys": list[str] | None, "speaker": int array | None,
    "audio_encoding": str | None}`` (the last: JSON, files from ``data import``).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: no such dataset file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DatasetFormatError(f"{path}: not a readable HDF5 file ({err})") from None
    with f:
        try:
            times = list(_ragged(f, "spikes/times", path)[()])
            units = list(_ragged(f, "spikes/units", path)[()])
            if "labels" not in f or not isinstance(f["labels"], h5py.Dataset):
                raise DatasetFormatError(f"{path}: missing dataset 'labels'")
            labels = np.asarray(f["labels"][()])
            keys = [k.decode() if isinstance(k, bytes) else str(k) for k in f["extra/keys"][()]] \
                if "extra/keys" in f else None
            speaker = np.asarray(f["extra/speaker"][()]) if "extra/speaker" in f else None
            audio = f.attrs.get(AUDIO_ENCODING_ATTR)
        except (OSError, ValueError, TypeError) as err:
            raise DatasetFormatError(f"{path}: cannot read ({err})") from None
    n = len(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetFormatError(f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if len(times) != n or len(units) != n:
        raise DatasetFormatError(f"{path}: {len(times)} spike-time rows, {len(units)} unit rows and "
                                 f"{n} labels: the ragged arrays must have one row per label")
    if speaker is not None and len(speaker) != n:
        raise DatasetFormatError(f"{path}: 'extra/speaker' has {len(speaker)} rows for {n} labels")
    if (labels < 0).any() or (keys is not None and (labels >= len(keys)).any()):
        raise DatasetFormatError(f"{path}: labels must lie in [0, number of classes)")
    for i, (t, u) in enumerate(zip(times, units)):
        t, u = np.asarray(t), np.asarray(u)
        if t.shape != u.shape:
            raise DatasetFormatError(f"{path}: sample {i} has {t.size} spike times but {u.size} units")
        if t.size and (not np.isfinite(t).all() or t.min() < 0):
            raise DatasetFormatError(f"{path}: sample {i} has negative or non-finite spike times")
        if u.size and (u.min() < 0 or u.max() >= channels or not np.issubdtype(u.dtype, np.integer)):
            raise DatasetFormatError(f"{path}: sample {i} has units outside [0, {channels}) "
                                     f"(found {u.min()}..{u.max()})")
    if audio is not None and not isinstance(audio, str):
        raise DatasetFormatError(f"{path}: attribute {AUDIO_ENCODING_ATTR} must be a string")
    return {"times": times, "units": units, "labels": labels.astype(np.int64), "keys": keys, "speaker": speaker,
            "audio_encoding": audio}


def bin_spikes(times: np.ndarray, units: np.ndarray, dt: float = 10e-3, pool: int = 5,
               duration: float = 1.0, channels: int = SHD_CHANNELS, min_spikes: int = 1) -> torch.Tensor:
    """Events -> 0/1 tensor ``[channels / pool, round(duration / dt)]``.

    A bin holds 1 if its pooled channels spiked at least ``min_spikes`` times in
    it (1: any spike); spikes at or after ``duration`` are dropped.
    """
    steps = int(round(duration / dt))
    out = torch.zeros(channels // pool, steps)
    # Files keep times as float32, which moves a spike lying exactly on a bin edge
    # (every 80th cochlea sample at 10 ms) to either side of it; a relative
    # tolerance well above float32's 6e-8 puts it right of the edge, as in float64.
    t = np.floor(np.asarray(times, dtype=np.float64) / dt * (1 + 1e-6)).astype(np.int64)
    keep = t < steps
    rows = np.asarray(units).astype(np.int64)[keep] // pool
    if min_spikes == 1:
        out[torch.as_tensor(rows), torch.as_tensor(t[keep])] = 1.0
        return out
    counts = np.zeros(tuple(out.shape), np.int64)
    np.add.at(counts, (rows, t[keep]), 1)
    return torch.as_tensor(counts >= min_spikes, dtype=out.dtype)


class SHDDataset(Dataset):
    """An SHD-format file as ``(spikes [channels / pool, steps] float32 0/1, label int)``.

    Binned samples are cached in memory on first access, so later epochs cost
    no re-binning. The cache holds uint8 (a quarter of float32: the SHD
    training set takes ~115 MB at the defaults) and every access returns a new
    float tensor, so in-place augmentation cannot corrupt the cache.
    ``duration=None`` bins the file's longest sample whole.
    """

    def __init__(self, path: str | os.PathLike, dt: float = InputEncoding.dt, pool: int = InputEncoding.pool,
                 duration: float | None = InputEncoding.duration, min_spikes: int = InputEncoding.min_spikes):
        InputEncoding(dt, pool, 1.0 if duration is None else duration, min_spikes=min_spikes).check(str(path))
        self.path = Path(path)
        self.data = read_shd(path)
        if duration is None:
            last = max((float(np.max(t)) for t in self.data["times"] if len(t)), default=0.0)
            duration = last + dt  # a bin for the last spike
        self.encoding = InputEncoding(dt, pool, float(duration), min_spikes=min_spikes,
                                      audio=self.data["audio_encoding"])
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
                                            self.dt, self.pool, self.duration,
                                            min_spikes=self.encoding.min_spikes).to(torch.uint8)
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
