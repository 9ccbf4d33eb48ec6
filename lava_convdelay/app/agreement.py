"""Spike-for-spike agreement of Lava with the training-side quantized model."""
from __future__ import annotations

import numpy as np
import torch

from lava_convdelay.nn.readout import to_voltage_units


def spike_agreement(model, spec, spikes: np.ndarray):
    """Run ``model`` (training side, quantized) and Lava on ``spikes`` ``[B, C, T]``.

    Returns per layer ``(agreement fraction, activity training, activity Lava,
    exact)`` and the Lava results. Activity is the spike count, or for a
    non-spiking output layer the number of (sample, neuron, step) voltages
    that are not 0; such a layer agrees where the integer voltages are equal.
    """
    from sim.cpu.runner import LavaRunner
    model.eval()
    voltage = spec.readout == "voltage_sum"
    with torch.no_grad():
        outputs = model(torch.as_tensor(spikes, dtype=torch.float32), all_layers=True)
    expected = [s.cpu().numpy().astype(np.uint8) for s in outputs]
    if voltage:
        expected[-1] = to_voltage_units(outputs[-1]).cpu().numpy()
    results = LavaRunner(spec).run_many(spikes, record_layers=True, record_voltage=voltage, progress=True)
    rows = []
    for i in range(len(spec.layers)):
        if voltage and i == len(spec.layers) - 1:
            got = np.stack([r.voltage for r in results])
            activity = (int(np.count_nonzero(expected[i])), int(np.count_nonzero(got)))
        else:
            got = np.stack([r.layers[i] for r in results])
            activity = (int(expected[i].sum()), int(got.sum()))
        rows.append((float((expected[i] == got).mean()), *activity, bool(np.array_equal(expected[i], got))))
    return rows, results
