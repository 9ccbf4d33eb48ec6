"""A second non-spiking reference: multinomial logistic regression on
segment-averaged features.

Where the GRU (bench/gru_baseline.py) needs more recordings than a small
keyword set has (on 12 recordings per class it does not learn from log-mel
features), a linear classifier on a fixed-length summary does: each of the
``channels`` feature rows is averaged over ``segments`` equal spans of the
window, features are standardised on the training set, and an L2-regularised
softmax regression is fitted full-batch with L-BFGS. Deterministic (no seed):
two encodings compared with it differ by their features alone.
"""
from __future__ import annotations

import torch

RECIPE = {"segments": 10, "l2": 1.0, "iterations": 500}


def segment_means(x: torch.Tensor, segments: int) -> torch.Tensor:
    """``[N, channels, T]`` -> ``[N, channels * segments]`` means over ``T / segments`` steps."""
    n, channels, steps = x.shape
    if steps % segments:
        raise ValueError(f"{steps} steps do not split into {segments} equal segments")
    return x.reshape(n, channels, segments, steps // segments).mean(-1).reshape(n, -1)


def train_linear(x_train, y_train, x_test, y_test, segments: int = RECIPE["segments"],
                 l2: float = RECIPE["l2"]) -> dict:
    """Fit on ``x_train`` ``[N, channels, T]`` (labels ``[N]``); ``{"acc_float": test accuracy}``.

    ``l2`` is the inverse of scikit-learn's ``C``: the penalty ``l2 / 2 * |W|^2``
    is added to the summed (not averaged) cross-entropy.
    """
    x_train, x_test = (segment_means(torch.as_tensor(x, dtype=torch.float64), segments) for x in (x_train, x_test))
    y_train, y_test = torch.as_tensor(y_train, dtype=torch.long), torch.as_tensor(y_test, dtype=torch.long)
    mean, std = x_train.mean(0), x_train.std(0, unbiased=False)
    std[std == 0] = 1.0  # a feature constant on the training set carries nothing; keep it at 0
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    classes = int(max(y_train.max(), y_test.max())) + 1
    weight = torch.zeros(x_train.shape[1], classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=RECIPE["iterations"], tolerance_grad=1e-6,
                                  line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        value = torch.nn.functional.cross_entropy(x_train @ weight + bias, y_train, reduction="sum") \
            + 0.5 * l2 * (weight**2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    with torch.no_grad():
        predicted = (x_test @ weight + bias).argmax(1)
    return {"acc_float": float((predicted == y_test).double().mean()), "segments": segments, "l2": l2}
