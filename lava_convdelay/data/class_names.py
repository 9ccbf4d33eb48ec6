"""The classes of a dataset, and whether data can be scored against a network:
the same classes, in the same order (the readout's neuron ``i`` is class ``i``)."""
from __future__ import annotations

import numpy as np


def dataset_labels(dataset) -> np.ndarray:
    """``[samples]`` int64 labels (an SHD file's without binning any sample)."""
    if hasattr(dataset, "labels"):
        return np.asarray(dataset.labels, dtype=np.int64)
    return np.array([int(dataset[i][1]) for i in range(len(dataset))], dtype=np.int64)


def dataset_classes(dataset) -> tuple[list[str] | None, int]:
    """The data's class names (``None`` where it has none) and its number of classes
    (the names', else one more than the largest label)."""
    names = getattr(dataset, "keys", None)
    return names, len(names) if names else int(dataset_labels(dataset).max(initial=-1)) + 1


def class_mismatch(trained: list[str] | None, trained_count: int,
                   data: list[str] | None, data_count: int) -> str | None:
    """Why data with classes ``data`` (names, or only a count) cannot be scored
    against a network trained on ``trained``, or ``None`` if it can."""
    if trained and data and list(trained) != list(data):
        pairs = list(zip(trained, data))
        first = next((i for i, (a, b) in enumerate(pairs) if a != b), len(pairs))
        detail = (f"class {first} is {data[first]!r} here but {trained[first]!r} in training"
                  if first < len(pairs) else "the same names as far as both go")
        return f"{data_count} classes, {trained_count} in training; {detail}"
    if data_count > trained_count:
        return f"{data_count} classes, but {trained_count} in training"
    return None
