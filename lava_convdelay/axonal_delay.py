"""Learnable per-neuron axonal delays on a recurrent path, and their delay lines.

:class:`RecurrentDelay` owns the delay parameters (one per presynaptic neuron)
and hands out a *delay line* per forward pass. A delay line is stepped in time:
``push(s_t)`` stores the spikes of step ``t``; ``read()`` (called before the
push of step ``t``) returns the presynaptic signal that arrives at step ``t``::

    read()_j = sum_k K[j, k] * s_j(t - k),   k = 1..L

with ``K`` from :func:`lava_convdelay.delays.delay_kernel` (one-hot at
``1 + d_j`` for integer delays). Tensors are ``[batch, neurons]``.
"""
from __future__ import annotations

import torch

from lava_convdelay.delays import check_max_delay, delay_kernel, num_lags, round_delays


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

    def line(self, batch: int, dtype: torch.dtype = torch.float32) -> "KernelDelayLine | RingDelayLine":
        """A fresh (all-zero) delay line for one forward pass.

        Integer delays without autograd (inference) use a ring buffer; with
        autograd the differentiable kernel line is used (same values at
        ``sigma = 0``, where its kernel is one-hot).
        """
        sigma = float(self.sigma)
        delays = self.used_delays()
        if sigma == 0 and not torch.is_grad_enabled():
            return RingDelayLine(round_delays(delays, self.max_delay), self.max_delay, batch, dtype)
        lags = num_lags(self.max_delay, sigma)
        return KernelDelayLine(delay_kernel(delays, sigma, lags, self.max_delay).to(dtype), batch)

    def extra_repr(self) -> str:
        return f"neurons={self.delay.numel()}, max_delay={self.max_delay}, sigma={float(self.sigma):g}"


class KernelDelayLine:
    """Differentiable delay line: ``read()`` applies a ``[N, L]`` lag kernel."""

    def __init__(self, kernel: torch.Tensor, batch: int):
        self.kernel = kernel
        zeros = kernel.new_zeros(batch, kernel.shape[0])
        # history[-k] holds s(t - k); pre-filled with silence before t = 0
        self.history = [zeros] * kernel.shape[1]

    def read(self) -> torch.Tensor:
        lags = self.kernel.shape[1]
        past = torch.stack(self.history[-1:-lags - 1:-1], dim=-1)  # [B, N, L], lag 1 first
        return torch.einsum("bnl,nl->bn", past, self.kernel)

    def push(self, spikes: torch.Tensor) -> None:
        self.history.append(spikes)
        del self.history[0]


class RingDelayLine:
    """Integer delay line: a ``[B, N, max_delay + 1]`` ring buffer of past spikes."""

    def __init__(self, delays: torch.Tensor, max_delay: int, batch: int, dtype: torch.dtype):
        self.size = max_delay + 1
        self.buffer = torch.zeros(batch, delays.numel(), self.size, dtype=dtype, device=delays.device)
        # slot of s(t - 1 - d_j) at step t, precomputed for each t mod size
        t = torch.arange(self.size, device=delays.device)[:, None]
        self.slots = ((t - 1 - delays[None, :]) % self.size).expand(self.size, -1)
        self.slots = self.slots[:, None, :, None].expand(self.size, batch, -1, 1).contiguous()
        self.t = 0

    def read(self) -> torch.Tensor:
        return self.buffer.gather(2, self.slots[self.t % self.size]).squeeze(2)

    def push(self, spikes: torch.Tensor) -> None:
        self.buffer[:, :, self.t % self.size] = spikes
        self.t += 1


class PreviousStepLine:
    """Delay-free recurrence (every ``d_j = 0``): ``read()`` returns ``s(t - 1)``."""

    def __init__(self, num_neurons: int, batch: int, device, dtype: torch.dtype):
        self.last = torch.zeros(batch, num_neurons, device=device, dtype=dtype)

    def read(self) -> torch.Tensor:
        return self.last

    def push(self, spikes: torch.Tensor) -> None:
        self.last = spikes
