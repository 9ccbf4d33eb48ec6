"""Accuracy of a trained network as trained, as quantized, and as deployed.

- **float**: the training-side model as it was trained (its last sigma);
- **quantized**: the training-side model with integer delays (sigma = 0),
  8-bit weights and fixed-point neurons, i.e. exactly what is exported;
- **fixed**: the exported network on the batched fixed-point simulator
  (bit-exact with Lava; the whole test set in seconds);
- **lava**: the exported network on the Lava CPU simulator (slow: use
  ``--samples``).

All use the same decision rule (:mod:`lava_convdelay.readout`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from lava_convdelay.readout import decide
from netx_export.description import NetworkSpec


@dataclass
class Evaluation:
    samples: int
    accuracy: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    labels: np.ndarray | None = None


def _batches(dataset, batch_size):
    return DataLoader(dataset, batch_size=batch_size, shuffle=False)


def model_predictions(model, dataset, batch_size: int = 64, sigma: float | None = None) -> np.ndarray:
    """Training-side predictions; ``sigma=0`` gives the quantized (deployed) model."""
    model = copy.deepcopy(model).eval() if sigma is not None else model.eval()
    if sigma is not None:
        model.set_sigma(sigma)
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for x, _ in _batches(dataset, batch_size):
            out.append(decide(model(x.to(device))))
    return np.concatenate(out)


def fixed_predictions(spec: NetworkSpec, dataset, batch_size: int = 256) -> np.ndarray:
    """Predictions of the exported network on the fixed-point simulator."""
    from sim.fixed_point import simulate
    out = []
    for x, _ in _batches(dataset, batch_size):
        out.append(decide(simulate(spec, x.numpy()).output.astype(np.float32)))
    return np.concatenate(out)


def lava_predictions(spec: NetworkSpec, dataset, progress: bool = True) -> np.ndarray:
    """Predictions of the exported network on the Lava CPU simulator."""
    from sim.lava_runner import LavaRunner
    x = torch.stack([dataset[i][0] for i in range(len(dataset))]).numpy()
    results = LavaRunner(spec).run_many(x, progress=progress)
    return decide(np.stack([r.output for r in results]).astype(np.float32))


def evaluate(dataset, model=None, spec: NetworkSpec | None = None,
             backends=("float", "quantized", "fixed"), samples: int | None = None,
             progress: bool = True) -> Evaluation:
    """Accuracy per backend on the first ``samples`` of ``dataset``."""
    if samples is not None:
        dataset = Subset(dataset, range(min(samples, len(dataset))))
    labels = np.array([int(dataset[i][1]) for i in range(len(dataset))])
    result = Evaluation(samples=len(dataset), labels=labels)
    for backend in backends:
        if backend == "float":
            pred = model_predictions(model, dataset)
        elif backend == "quantized":
            pred = model_predictions(model, dataset, sigma=0.0)
        elif backend == "fixed":
            pred = fixed_predictions(spec, dataset)
        elif backend == "lava":
            pred = lava_predictions(spec, dataset, progress)
        else:
            raise ValueError(f"unknown backend {backend!r}")
        result.predictions[backend] = pred
        result.accuracy[backend] = float((pred == labels).mean())
    return result
