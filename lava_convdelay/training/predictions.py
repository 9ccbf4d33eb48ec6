"""Predictions of the training-side model, as trained or quantized, by the one
decision rule (:mod:`lava_convdelay.nn.readout`)."""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch.utils.data import DataLoader

from lava_convdelay.nn.readout import decide, to_voltage_units


def model_predictions(model, dataset, batch_size: int = 64, sigma: float | None = None) -> np.ndarray:
    """Training-side predictions; ``sigma=0`` gives the quantized (deployed) model."""
    model = copy.deepcopy(model).eval() if sigma is not None else model.eval()
    if sigma is not None:
        model.set_sigma(sigma)
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for x, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            output = model(x.to(device))
            if model.readout == "voltage_sum":
                output = to_voltage_units(output)
            out.append(decide(output, model.readout))
    return np.concatenate(out)
