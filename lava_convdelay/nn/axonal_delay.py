"""Learnable per-neuron axonal delays on a recurrent path.

:class:`RecurrentDelay` owns the delay parameters (one per presynaptic neuron)
and gives, per forward pass, the lag kernel ``K`` with which the recurrent
signal arriving at step ``t`` is read from past spikes::

    read_j(t) = sum_k K[j, k - 1] * s_j(t - k),   k = 1..L

(:func:`lava_convdelay.nn.delays.delay_kernel`; one-hot at lag ``1 + d_j`` for
integer delays).
"""
from __future__ import annotations

import torch

from lava_convdelay.nn.delays import check_max_delay, delay_kernel, num_lags, round_delays


class RecurrentDelay(torch.nn.Module):
    """Per-presynaptic-neuron recurrent axonal delays (steps).

    Args:
        num_neurons: ``N``.
        max_delay: largest delay in steps (at most 62, the Loihi 2 limit).
        init_range: ``(low, high)``, delays start uniform in this range (steps);
            default ``(max_delay / 3, max_delay)``, DelRec's [10, 30] at 30.
        learn: whether the delays receive gradients.
        sigma: initial kernel spread (steps); set later with :meth:`set_sigma`.
    """

    def __init__(self, num_neurons: int, max_delay: int = 30,
                 init_range: tuple[float, float] | None = None,
                 learn: bool = True, sigma: float = 0.0):
        super().__init__()
        self.max_delay = check_max_delay(max_delay)
        if init_range is None:
            init_range = (self.max_delay / 3, self.max_delay)
        low, high = (float(v) for v in init_range)
        if not 0 <= low <= high <= self.max_delay:
            raise ValueError(
                f"delay init range {init_range} must satisfy 0 <= low <= high <= "
                f"max_delay={self.max_delay}"
            )
        self.delay = torch.nn.Parameter(
            torch.empty(num_neurons).uniform_(low, high), requires_grad=learn
        )
        self.register_buffer("sigma", torch.tensor(0.0))
        self.set_sigma(sigma)

    def set_sigma(self, sigma: float) -> None:
        """Set the triangular kernel spread (steps); ``0`` means integer delays."""
        if not sigma >= 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.sigma.fill_(float(sigma))

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep delays in ``[0, max_delay]`` (DelRec clamps after each update)."""
        self.delay.clamp_(0, self.max_delay)

    def used_delays(self) -> torch.Tensor:
        """The real delays the forward pass uses: the parameter clamped to ``[0, max_delay]``."""
        return self.delay.clamp(0, self.max_delay)

    def integer_delays(self, where: str = "") -> torch.Tensor:
        """``[neurons]`` int64 deployed delays: :func:`round_delays` of :meth:`used_delays`,
        exactly what the integer forward pass computes with (an error only for non-finite delays)."""
        return round_delays(self.used_delays(), self.max_delay, where)

    def kernel(self) -> tuple[torch.Tensor, bool]:
        """``([N, L] lag kernel, one_hot)`` for the current sigma.

        Column ``c`` weighs the spike of step ``t - 1 - c``
        (:func:`lava_convdelay.nn.delays.delay_kernel`); at ``sigma = 0`` the
        kernel is one-hot at column ``round_delays(d)`` (``one_hot`` True) and
        its gradient the straight-through triangle's.
        """
        sigma = float(self.sigma)
        delays = self.used_delays()
        return delay_kernel(delays, sigma, num_lags(self.max_delay, sigma), self.max_delay), sigma == 0

    def extra_repr(self) -> str:
        return f"neurons={self.delay.numel()}, max_delay={self.max_delay}, sigma={float(self.sigma):g}"

