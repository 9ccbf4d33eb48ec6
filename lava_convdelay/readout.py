"""The readout: spike counts of the output layer, one rule everywhere.

The class is the output neuron with the most spikes, ties going to the lowest
index (``argmax``'s first maximum). Spike counts are what Lava and Loihi 2 give
back from the exported file, so float, quantized, fixed-point and Lava
accuracies all use :func:`decide` on ``[batch, classes, time]`` spikes.
"""
from __future__ import annotations

import numpy as np
import torch


def spike_counts(spikes):
    """``[batch, classes, time]`` spikes -> ``[batch, classes]`` counts."""
    return spikes.sum(-1)


def decide(spikes) -> np.ndarray:
    """Predicted class per sample, ``[batch]`` int64 (first maximum wins)."""
    counts = spike_counts(torch.as_tensor(np.asarray(spikes) if not torch.is_tensor(spikes) else spikes))
    return counts.argmax(-1).cpu().numpy().astype(np.int64)


def rate_loss(spikes: torch.Tensor, labels: torch.Tensor,
              true_rate: float = 0.2, false_rate: float = 0.03) -> torch.Tensor:
    """SLAYER's spike-rate loss: MSE of output rates to target rates.

    The labelled neuron should fire at ``true_rate`` (spikes per step), the others
    at ``false_rate``; a differentiable surrogate of "most spikes wins".
    """
    rates = spikes.mean(-1)
    target = torch.full_like(rates, false_rate)
    target.scatter_(1, labels[:, None], true_rate)
    return ((rates - target) ** 2).sum(-1).mean()


def count_ce_loss(spikes: torch.Tensor, labels: torch.Tensor, scale: float = 0.2) -> torch.Tensor:
    """Cross-entropy on ``scale`` x output spike counts (logits = scaled counts).

    The same quantity :func:`decide` takes the argmax of, so training pushes the
    labelled neuron's count above the others' rather than towards a fixed rate.
    """
    return torch.nn.functional.cross_entropy(spike_counts(spikes) * scale, labels)
