"""Losses that train a readout (:mod:`lava_convdelay.nn.readout`): each is a
differentiable stand-in for the decision rule it trains."""
from __future__ import annotations

import torch


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

    The same quantity ``"spike_count"`` takes the argmax of, so training pushes
    the labelled neuron's count above the others' rather than towards a fixed rate.
    """
    return torch.nn.functional.cross_entropy(spikes.sum(-1) * scale, labels)


def voltage_ce_loss(voltage: torch.Tensor, labels: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Cross-entropy on ``scale`` x the output voltage's mean over time (SLAYER
    units): the quantity ``"voltage_sum"`` takes the argmax of, up to a factor."""
    return torch.nn.functional.cross_entropy(voltage.mean(-1) * scale, labels)


# train.loss -> loss(model output, labels, train config)
LOSSES = {
    "rate": lambda spikes, labels, cfg: rate_loss(spikes, labels, cfg["true_rate"], cfg["false_rate"]),
    "count_ce": lambda spikes, labels, cfg: count_ce_loss(spikes, labels, cfg["ce_scale"]),
    "voltage_ce": lambda voltage, labels, cfg: voltage_ce_loss(voltage, labels, cfg["ce_scale"]),
}
# the readout (lava_convdelay.nn.readout) each loss trains
LOSS_READOUT = {"rate": "spike_count", "count_ce": "spike_count", "voltage_ce": "voltage_sum"}
