"""Datasets named by a training config's ``data`` section.

    {"source": "generated", "per_class": 40, "seed": 0,        # embedded spoken digits
     "dt": 0.01, "pool": 5, "duration": 1.0}
    {"source": "generated", "vocabulary": "speech-commands"}    # or a word list / word-list file
    {"source": "shd", "train": "shd_train.h5", "test": "shd_test.h5", ...}  # user files
    {"source": "shd"}      # or "ssc": the files ``data fetch shd`` (``ssc``) downloaded
    {"source": "delay-task", "intervals": [6, 12, 18, 24], "channels": 16,  # the synthetic
     "dt": 0.01, "pool": 1, "duration": 0.6}                                # control task

The file sources are SHD-format files, the delay task SHD-format events made in memory
(:mod:`lava_convdelay.data.delay_task`); all are read by
:class:`lava_convdelay.data.SHDDataset`, binned with the section's
:class:`lava_convdelay.data.encoding.InputEncoding`.
"""
from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

from lava_convdelay.bounds import SEED_BOUNDS, Bounds, check_value
from lava_convdelay.data.delay_task import DelayTask, DelayTaskError
from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.data.fetch import fetch_dir
from lava_convdelay.data.generate import MAX_PER_CLASS
from lava_convdelay.data.vocabulary import VocabularyError, vocabulary_setting
from lava_convdelay.errors import UserError

BINNING_KEYS = ("dt", "pool", "duration", "min_spikes")
GENERATOR_BOUNDS = {"per_class": Bounds(True, 1, MAX_PER_CLASS), "seed": SEED_BOUNDS}
FILE_SOURCES = ("shd", "ssc", "files")
DELAY_TASK = "delay-task"
SOURCES = ("generated",) + FILE_SOURCES + (DELAY_TASK,)
#: sources whose files ``data fetch`` downloads: ``train`` and ``test`` default to them
FETCHED_SOURCES = ("shd", "ssc")
#: the delay task's settings a data section may give (its steps are data.duration / data.dt)
DELAY_TASK_KEYS = tuple(f.name for f in fields(DelayTask) if f.name != "steps")


class DataConfigError(UserError):
    """A data section that cannot be used."""


def check_data_section(data, where: str = "config") -> InputEncoding:
    """Check a ``data`` section (``where``: the config file, for messages); returns its binning."""
    if not isinstance(data, dict):
        raise DataConfigError(f"{where}: 'data' must be a mapping")
    source = data.get("source", "generated")
    if not isinstance(source, str) or source not in SOURCES:
        raise DataConfigError(f"{where}: data: unknown source {source!r} ({', '.join(SOURCES)})")
    if source == DELAY_TASK:
        known = {"source", *BINNING_KEYS, *DELAY_TASK_KEYS}
    else:
        known = {"source", "train", "test", "vocabulary", *BINNING_KEYS, *GENERATOR_BOUNDS}
    unknown = set(data) - known
    if unknown:
        raise DataConfigError(f"{where}: data: unknown key(s) {sorted(unknown)} for source {source!r}; known: "
                              f"{sorted(known)}")
    if source == DELAY_TASK:
        task = delay_task(data, where)
        encoding = replace(InputEncoding.from_settings(data), source_channels=task.channels)
        return encoding.check(where, prefix="data.")
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


def delay_task(data: dict, where: str = "config") -> DelayTask:
    """The :class:`DelayTask` of a ``"delay-task"`` data section: its keys, and as many
    steps as ``data.duration`` holds of ``data.dt``; or one line saying why not."""
    encoding = InputEncoding.from_settings(data).check(where, prefix="data.", pooled=False)
    try:
        return DelayTask(steps=encoding.steps, **{key: data[key] for key in DELAY_TASK_KEYS if key in data})
    except DelayTaskError as err:
        raise DataConfigError(f"{where}: data.{err}") from None


def build_datasets(data: dict, progress: bool = True, where: str = "config"):
    """``(train, test)`` datasets yielding ``(spikes [channels, time], label)``."""
    from lava_convdelay.data import SHDDataset, default_dataset

    encoding = check_data_section(data, where)
    binning = encoding.binning()
    if data.get("source") == DELAY_TASK:
        task = delay_task(data, where)
        train, test = (SHDDataset.from_events(task.split(split, encoding.dt), f"{DELAY_TASK} {split} split "
                                              f"(seed {task.seed})", **binning) for split in ("train", "test"))
        return train, test
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
