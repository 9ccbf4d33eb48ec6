"""Datasets named by a training config's ``data`` section.

    {"source": "generated", "per_class": 40, "seed": 0,        # embedded spoken digits
     "dt": 0.01, "pool": 5, "duration": 1.0}
    {"source": "shd", "train": "shd_train.h5", "test": "shd_test.h5", ...}  # user files

Both are SHD-format files read by :class:`lava_convdelay.data.SHDDataset`.
"""
from __future__ import annotations

from lava_convdelay.errors import UserError

BINNING_KEYS = ("dt", "pool", "duration")
GENERATOR_KEYS = ("per_class", "seed")


class DataConfigError(UserError):
    """A data section that cannot be used."""


def build_datasets(data: dict, progress: bool = True):
    """``(train, test)`` datasets yielding ``(spikes [channels, time], label)``."""
    from lava_convdelay.data import SHDDataset, default_dataset

    source = data.get("source", "generated")
    known = {"source", "train", "test", *BINNING_KEYS, *GENERATOR_KEYS}
    unknown = set(data) - known
    if unknown:
        raise DataConfigError(f"data: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    binning = {k: data[k] for k in BINNING_KEYS if k in data}
    if source == "generated":
        generator = {k: data[k] for k in GENERATOR_KEYS if k in data}
        train_path, test_path = default_dataset(progress=progress, **generator)
    elif source in ("shd", "ssc", "files"):
        if "train" not in data or "test" not in data:
            raise DataConfigError(f"data: source '{source}' needs 'train' and 'test' file paths")
        train_path, test_path = data["train"], data["test"]
    else:
        raise DataConfigError(f"data: unknown source '{source}' (generated, shd, ssc)")
    return SHDDataset(train_path, **binning), SHDDataset(test_path, **binning)
