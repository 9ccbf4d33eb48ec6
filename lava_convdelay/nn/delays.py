"""The one recurrent-delay rule, shared by training, export and simulation.

Every recurrent layer gives each *presynaptic* neuron ``j`` one axonal delay
``d_j`` (in time steps) on its recurrent path. A spike emitted at step ``t``
reaches its targets at step ``t + 1 + d_j`` (the ``1`` is the synapse latency
every recurrent connection has), i.e. at *lag* ``k = 1 + d_j``::

    I_rec_i(t) = sum_j R_ij * s_j(t - 1 - d_j)

Training (DelRec): ``d_j`` is real valued and the spike is spread over
neighbouring lags with a triangular kernel of half-width ``w = 1 + sigma``
centred on ``1 + d_j``: weight ``max(0, w - |k - (1 + d_j)|) / w**2`` at lag
``k >= 1``. ``sigma`` is annealed to 0 (:class:`SigmaSchedule`).

Deployment: at ``sigma == 0`` the kernel is one-hot at ``1 + round_delays(d)``,
the same integers the exporter writes and the simulators use.

The delay channels (:mod:`lava_convdelay.nn.delay_channels`) may use instead
the design notes' linear interpolation between ``floor(d)`` and ``ceil(d)``
(:func:`interpolation_kernel`, the triangle of width 1), which ends in the
same one-hot rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lava_convdelay.errors import DelayRangeError
from lava_convdelay.limits import MAX_DELAY


def check_max_delay(max_delay: int) -> int:
    """Validate a layer's ``max_delay`` (integer in ``[0, MAX_DELAY]``)."""
    if isinstance(max_delay, bool) or int(max_delay) != max_delay:
        raise ValueError(f"max_delay must be an integer number of steps, got {max_delay!r}")
    max_delay = int(max_delay)
    if not 0 <= max_delay <= MAX_DELAY:
        raise ValueError(
            f"max_delay={max_delay} is outside [0, {MAX_DELAY}] "
            f"(the Loihi 2 synaptic delay limit)"
        )
    return max_delay


def round_delays(delays: torch.Tensor, max_delay: int, where: str = "") -> torch.Tensor:
    """Integer delays for deployment: nearest integer, ties rounded up.

    ``floor(d + 0.5)``, so 2.5 -> 3 (unlike ``torch.round``'s ties-to-even).
    Raises :class:`DelayRangeError` naming the neurons and values when a rounded
    delay falls outside ``[0, max_delay]``; nothing is clamped silently.

    Args:
        delays: ``[neurons]`` real delays in steps.
        max_delay: largest allowed integer delay.
        where: context for the error message (file / layer name).
    Returns:
        ``[neurons]`` int64 delays in steps.
    """
    rounded = torch.floor(delays.detach().to(torch.float64) + 0.5)
    bad = torch.nonzero((rounded < 0) | (rounded > max_delay) | ~torch.isfinite(rounded))
    if bad.numel():
        idx = bad.flatten().tolist()
        shown = ", ".join(f"neuron {i}: {delays.flatten()[i].item():g}" for i in idx[:10])
        more = f" (and {len(idx) - 10} more)" if len(idx) > 10 else ""
        prefix = f"{where}: " if where else ""
        raise DelayRangeError(
            f"{prefix}{len(idx)} delay(s) outside [0, {max_delay}] steps after "
            f"rounding: {shown}{more}"
        )
    return rounded.to(torch.int64)


def num_lags(max_delay: int, sigma: float) -> int:
    """Number of lags (1..L) a delay line must keep for ``sigma``.

    The triangular kernel around lag ``1 + d`` (``d <= max_delay``) is non-zero
    below ``1 + d + 1 + sigma``, so ``L = max_delay + 1 + ceil(sigma)``.
    """
    return max_delay + 1 + math.ceil(sigma)


def delay_kernel(delays: torch.Tensor, sigma: float, lags: int, max_delay: int) -> torch.Tensor:
    """Weights with which a spike is spread over lags ``1..lags``.

    Args:
        delays: ``[neurons]`` real delays in steps (differentiable).
        sigma: kernel spread (steps); ``0`` selects the integer deployment rule.
        lags: number of lags ``L`` (column ``l`` is lag ``l + 1``); mass that
            would fall on lags ``< 1`` or ``> L`` is dropped (causality).
        max_delay: the layer's maximum delay (for :func:`round_delays`).
    Returns:
        ``[neurons, L]`` kernel. At ``sigma == 0`` the forward value is one-hot at
        lag ``1 + round_delays(d)`` and the gradient is that of the ``sigma = 0``
        triangle (linear interpolation), a straight-through estimator.
    """
    triangle = _triangle(delays, sigma, lags)
    if sigma > 0:
        return triangle
    onehot = torch.zeros_like(triangle)
    onehot.scatter_(1, round_delays(delays, max_delay)[:, None], 1.0)
    return onehot + (triangle - triangle.detach())


def _triangle(delays: torch.Tensor, sigma: float, lags: int) -> torch.Tensor:
    """``[neurons, lags]`` triangular kernel of half-width ``1 + sigma`` around lag ``1 + d``."""
    lag = torch.arange(1, lags + 1, device=delays.device, dtype=delays.dtype)
    centre = 1.0 + delays[:, None]
    width = 1.0 + float(sigma)
    return torch.relu(width - torch.abs(lag - centre)) / width**2


def interpolation_kernel(delays: torch.Tensor, integer: bool, lags: int, max_delay: int) -> torch.Tensor:
    """The design notes' delay rule, linear interpolation between ``floor(d)``
    and ``ceil(d)``: weight ``1 - a`` at lag ``1 + floor(d)`` and ``a`` at lag
    ``1 + ceil(d)``, ``a = d - floor(d)`` -- which is the triangle of
    :func:`delay_kernel` at ``sigma = 0``, without the rounding.

    Args:
        delays: ``[neurons]`` real delays in steps (differentiable).
        integer: the deployment rule instead: :func:`delay_kernel` at
            ``sigma = 0`` (one-hot at ``1 + round_delays(d)``, the same
            interpolation as gradient).
        lags, max_delay: as :func:`delay_kernel`.
    Returns:
        ``[neurons, L]`` kernel.
    """
    if integer:
        return delay_kernel(delays, 0.0, lags, max_delay)
    return _triangle(delays, 0.0, lags)


@dataclass
class SigmaSchedule:
    """DelRec's per-epoch annealing of the kernel spread, ending at exactly 0.

    ``sigma(e) = sigma_init * decay ** (e * reference_epochs / epochs)`` for
    epoch ``e`` (0-based), so a run of any length decays as DelRec's
    ``reference_epochs``-epoch run does; the last ``integer_epochs`` epochs use
    ``sigma = 0`` (integer delays, what is deployed).
    """

    sigma_init: float = 10.0
    epochs: int = 150
    decay: float = 0.95
    reference_epochs: float = 100.0
    integer_epochs: int = 1

    def __post_init__(self):
        if self.sigma_init < 0 or not 0 < self.decay <= 1:
            raise ValueError(f"need sigma_init >= 0 and 0 < decay <= 1, got {self}")
        if self.epochs < 1 or not 0 <= self.integer_epochs <= self.epochs:
            raise ValueError(f"need epochs >= 1 and 0 <= integer_epochs <= epochs, got {self}")

    def __call__(self, epoch: int) -> float:
        if epoch >= self.epochs - self.integer_epochs:
            return 0.0
        return self.sigma_init * self.decay ** (epoch * self.reference_epochs / self.epochs)
