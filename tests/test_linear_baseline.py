"""bench/linear_baseline.py: the encoding study's linear reference classifier."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

_spec = importlib.util.spec_from_file_location(
    "linear_baseline", Path(__file__).resolve().parent.parent / "bench" / "linear_baseline.py")
linear_baseline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(linear_baseline)


def test_segment_means_average_equal_spans_per_channel():
    x = torch.arange(2 * 2 * 6, dtype=torch.float64).reshape(2, 2, 6)  # [N, channels, T]
    out = linear_baseline.segment_means(x, 3)
    # sample 0, channel 0: steps 0..5 -> means of (0, 1), (2, 3), (4, 5); channel 1: 6..11
    assert out[0].tolist() == [0.5, 2.5, 4.5, 6.5, 8.5, 10.5]
    assert out.shape == (2, 6)


def test_segment_means_refuse_steps_that_do_not_split():
    with pytest.raises(ValueError, match="7 steps do not split into 3"):
        linear_baseline.segment_means(torch.zeros(1, 1, 7), 3)


def _classes_by_timing(n_per_class, rng):
    """3 classes told apart only by *when* channel 0 is active (first, middle or last third)."""
    x, y = [], []
    for label in range(3):
        for _ in range(n_per_class):
            sample = rng.random((4, 30)) < 0.1
            sample[0, label * 10:(label + 1) * 10] |= rng.random(10) < 0.8
            x.append(sample.astype(np.float32))
            y.append(label)
    return np.stack(x), np.array(y)


def test_linear_reference_learns_timing_and_fails_on_shuffled_labels():
    rng = np.random.default_rng(0)
    x_train, y_train = _classes_by_timing(20, rng)
    x_test, y_test = _classes_by_timing(10, rng)
    learned = linear_baseline.train_linear(x_train, y_train, x_test, y_test, segments=3)
    assert learned["acc_float"] >= 0.9
    shuffled = linear_baseline.train_linear(x_train, rng.permutation(y_train), x_test, y_test, segments=3)
    assert shuffled["acc_float"] < 0.7
