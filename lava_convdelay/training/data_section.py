"""Datasets named by a training config's ``data`` section.

    {"source": "generated", "per_class": 40, "seed": 0,        # embedded spoken digits
     "dt": 0.01, "pool": 5, "duration": 1.0}
    {"source": "shd", "train": "shd_train.h5", "test": "shd_test.h5", ...}  # user files

Both are SHD-format files read by :class:`lava_convdelay.data.SHDDataset`,
binned with the section's :class:`lava_convdelay.data.encoding.InputEncoding`.
"""
from __future__ import annotations

from lava_convdelay.bounds import SEED_BOUNDS, Bounds, check_value
from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.data.generate import MAX_PER_CLASS
from lava_convdelay.errors import UserError

BINNING_KEYS = ("dt", "pool", "duration", "min_spikes")
GENERATOR_BOUNDS = {"per_class": Bounds(True, 1, MAX_PER_CLASS), "seed": SEED_BOUNDS}
FILE_SOURCES = ("shd", "ssc", "files")
SOURCES = ("generated",) + FILE_SOURCES


class DataConfigError(UserError):
    """A data section that cannot be used."""


def check_data_section(data, where: str = "config") -> InputEncoding:
    """Check a ``data`` section (``where``: the config file, for messages); returns its binning."""
    if not isinstance(data, dict):
        raise DataConfigError(f"{where}: 'data' must be a mapping")
    known = {"source", "train", "test", *BINNING_KEYS, *GENERATOR_BOUNDS}
    unknown = set(data) - known
    if unknown:
        raise DataConfigError(f"{where}: data: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    source = data.get("source", "generated")
    if not isinstance(source, str) or source not in SOURCES:
        raise DataConfigError(f"{where}: data: unknown source {source!r} ({', '.join(SOURCES)})")
    if source == "generated":
        files = sorted({"train", "test"} & set(data))
        if files:
            raise DataConfigError(f"{where}: data: {files} name the files of source 'shd'; source "
                                  f"'generated' makes its own")
        for key, bounds in GENERATOR_BOUNDS.items():
            if key in data:
                check_value(data[key], f"{where}: data.{key}", bounds, DataConfigError)
    else:
        if "train" not in data or "test" not in data:
            raise DataConfigError(f"{where}: data: source '{source}' needs 'train' and 'test' file paths")
        for key in ("train", "test"):
            if not isinstance(data[key], str) or not data[key]:
                raise DataConfigError(f"{where}: data.{key} must be a file path, got {data[key]!r}")
        generator = sorted(set(GENERATOR_BOUNDS) & set(data))
        if generator:
            raise DataConfigError(f"{where}: data: {generator} apply to source 'generated' only")
    # the files' channels (SHD's 700, or their audio encoding's) are known once they are read
    return InputEncoding.from_settings(data).check(where, prefix="data.", pooled=source == "generated")


def build_datasets(data: dict, progress: bool = True, where: str = "config"):
    """``(train, test)`` datasets yielding ``(spikes [channels, time], label)``."""
    from lava_convdelay.data import SHDDataset, default_dataset

    encoding = check_data_section(data, where)
    binning = encoding.binning()
    if data.get("source", "generated") == "generated":
        generator = {k: data[k] for k in GENERATOR_BOUNDS if k in data}
        train_path, test_path = default_dataset(progress=progress, **generator)
    else:
        train_path, test_path = data["train"], data["test"]
    return SHDDataset(train_path, **binning), SHDDataset(test_path, **binning)
