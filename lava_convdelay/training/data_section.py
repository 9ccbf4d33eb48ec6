"""Datasets named by a training config's ``data`` section.

    {"source": "generated", "per_class": 40, "seed": 0,        # embedded spoken digits
     "dt": 0.01, "pool": 5, "duration": 1.0}
    {"source": "generated", "vocabulary": "speech-commands"}    # or a word list / word-list file
    {"source": "shd", "train": "shd_train.h5", "test": "shd_test.h5", ...}  # user files
    {"source": "shd"}      # or "ssc": the files ``data fetch shd`` (``ssc``) downloaded

All are SHD-format files read by :class:`lava_convdelay.data.SHDDataset`,
binned with the section's :class:`lava_convdelay.data.encoding.InputEncoding`.
"""
from __future__ import annotations

from pathlib import Path

from lava_convdelay.bounds import SEED_BOUNDS, Bounds, check_value
from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.data.fetch import fetch_dir
from lava_convdelay.data.generate import MAX_PER_CLASS
from lava_convdelay.data.vocabulary import VocabularyError, vocabulary_setting
from lava_convdelay.errors import UserError

BINNING_KEYS = ("dt", "pool", "duration", "min_spikes")
GENERATOR_BOUNDS = {"per_class": Bounds(True, 1, MAX_PER_CLASS), "seed": SEED_BOUNDS}
FILE_SOURCES = ("shd", "ssc", "files")
SOURCES = ("generated",) + FILE_SOURCES
#: sources whose files ``data fetch`` downloads: ``train`` and ``test`` default to them
FETCHED_SOURCES = ("shd", "ssc")


class DataConfigError(UserError):
    """A data section that cannot be used."""


def check_data_section(data, where: str = "config") -> InputEncoding:
    """Check a ``data`` section (``where``: the config file, for messages); returns its binning."""
    if not isinstance(data, dict):
        raise DataConfigError(f"{where}: 'data' must be a mapping")
    known = {"source", "train", "test", "vocabulary", *BINNING_KEYS, *GENERATOR_BOUNDS}
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
        if "vocabulary" in data:
            _vocabulary(data["vocabulary"], where)
    else:
        if source not in FETCHED_SOURCES and ("train" not in data or "test" not in data):
            raise DataConfigError(f"{where}: data: source '{source}' needs 'train' and 'test' file paths")
        for key in sorted({"train", "test"} & set(data)):
            if not isinstance(data[key], str) or not data[key]:
                raise DataConfigError(f"{where}: data.{key} must be a file path, got {data[key]!r}")
        generator = sorted((set(GENERATOR_BOUNDS) | {"vocabulary"}) & set(data))
        if generator:
            raise DataConfigError(f"{where}: data: {generator} apply to source 'generated' only")
    # the files' channels (SHD's 700, or their audio encoding's) are known once they are read
    return InputEncoding.from_settings(data).check(where, prefix="data.", pooled=source == "generated")


def _vocabulary(value, where: str) -> str | tuple[str, ...]:
    """The generator's vocabulary setting of ``data.vocabulary`` (a name, a word-list
    file or a list of words), or one line saying why not."""
    try:
        return vocabulary_setting(value)
    except VocabularyError as err:
        raise DataConfigError(f"{where}: data.{err}") from None


def build_datasets(data: dict, progress: bool = True, where: str = "config"):
    """``(train, test)`` datasets yielding ``(spikes [channels, time], label)``."""
    from lava_convdelay.data import SHDDataset, default_dataset

    encoding = check_data_section(data, where)
    binning = encoding.binning()
    if data.get("source", "generated") == "generated":
        generator = {k: data[k] for k in GENERATOR_BOUNDS if k in data}
        if "vocabulary" in data:
            generator["vocabulary"] = _vocabulary(data["vocabulary"], where)
        train_path, test_path = default_dataset(progress=progress, **generator)
    else:
        train_path, test_path = (data[key] if key in data else fetched_file(data["source"], key, where)
                                 for key in ("train", "test"))
    return SHDDataset(train_path, **binning), SHDDataset(test_path, **binning)


def fetched_file(source: str, split: str, where: str = "config") -> Path:
    """The ``split`` (``"train"`` / ``"test"``) file that ``data fetch SOURCE`` wrote to
    its default folder, or an error naming it and the command that fetches it."""
    path = fetch_dir(source) / f"{source}_{split}.h5"
    if not path.is_file():
        raise DataConfigError(f"{where}: data: source '{source}' without '{split}' reads {path}, which is not "
                              f"there; download it with `lava-convdelay data fetch {source}` (or give "
                              f"data.{split} the path of your copy)")
    return path
