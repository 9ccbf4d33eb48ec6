"""The readout: how the output layer's activity decides the class, one rule everywhere.

The output layer is of one of two kinds, each with one decision rule:

- **spiking** (SLAYER ``cuba.Dense``): ``"spike_count"``, the neuron with the
  most spikes over the sample;
- **non-spiking** (:class:`lava_convdelay.nn.blocks.Affine`, a CUBA neuron
  whose threshold is out of reach): ``"voltage_sum"``, the neuron with the
  largest voltage summed over the sample's steps, in Loihi's integer units
  (1/4096 of a SLAYER unit), i.e. the largest mean membrane potential, as
  DelRec, DCLS and Cramer et al. read their networks.

Ties go to the lowest index (``argmax``'s first maximum). Spikes and integer
voltages are what Lava and Loihi 2 give back from the exported file, and the
training side's voltages are exact multiples of 1/4096, so float, quantized,
fixed-point and Lava accuracies all use :func:`decide` on the same integers.
"""
from __future__ import annotations

import numpy as np
import torch

from lava_convdelay.limits import STATE_UNIT

READOUTS = ("spike_count", "voltage_sum")
#: Each rule in one line, for what the tools print.
RULES = {"spike_count": "class: the output neuron with the most spikes",
         "voltage_sum": "a non-spiking output layer; class: the largest voltage summed over the sample"}


def to_voltage_units(voltage: torch.Tensor) -> torch.Tensor:
    """Training-side voltage (SLAYER units) -> int64 Loihi units (exact)."""
    return torch.round(voltage.detach() * STATE_UNIT).to(torch.int64)


def scores(output, readout: str) -> np.ndarray:
    """``[batch, classes, time]`` output -> ``[batch, classes]`` int64 scores:
    spike counts of 0/1 spikes, or sums of integer voltages (Loihi units)."""
    if readout not in READOUTS:
        raise ValueError(f"unknown readout {readout!r} (known: {', '.join(READOUTS)})")
    output = output.detach().cpu().numpy() if torch.is_tensor(output) else np.asarray(output)
    return output.astype(np.int64).sum(-1)


def decide(output, readout: str = "spike_count") -> np.ndarray:
    """Predicted class per sample, ``[batch]`` int64 (first maximum wins)."""
    return scores(output, readout).argmax(-1).astype(np.int64)
