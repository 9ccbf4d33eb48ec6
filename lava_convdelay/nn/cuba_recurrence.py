"""The time loop of a recurrent CUBA-LIF layer as one autograd function.

A recurrent layer must step time; stepping it with autograd records some
forty small operations per step and replays them backwards, which dominates
training time on a CPU. :func:`recurrent_cuba` runs the loop once without
autograd, in the exact fixed-point arithmetic of SLAYER's CUBA neuron (so the
spikes are bit-identical to SLAYER's and Lava's)::

    I(t)   = z(t) + R read(t),   read_j(t) = sum_c K[j, c] h_j(t - 1 - c)
    u      = trunc0(u * (4096 - iDecay) / 4096) + trunc0(4096 * I)
    v      = trunc0(v * (4096 - vDecay) / 4096) + u
    s      = v >= 4096 * threshold;   v = 0 where s
    h(t)   = s(t) * mask

(states in units of 1/4096; ``K`` the ``[N, L]`` lag kernel of
:func:`lava_convdelay.nn.delays.delay_kernel`, column ``c`` = lag ``c + 1``;
``mask`` the recurrent dropout), and back-propagates through time by hand,
with the gradients SLAYER's backward uses: straight through the rounding and
the reset, ``u`` and ``v`` decaying by ``(4096 - decay) / 4096``, and SLAYER's
surrogate ``scale_rho / (2 tau_rho) exp(-|v - threshold| / tau_rho)`` for
the spike. What does not depend on time order is done once per sequence
(surrogate, weight and kernel gradients), and the loops run time-major on
contiguous ``[B, N]`` slices, so a step costs a few tensor operations.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from lava.lib.dl.slayer.neuron import cuba
from lava.lib.dl.slayer.utils import quantize


def check_supported(neuron: cuba.Neuron) -> None:
    """Reject neuron options the loop does not implement (rather than ignore them)."""
    problems = []
    if not neuron.shared_param:
        problems.append("shared_param=False (per-neuron decays)")
    if neuron.requires_grad:
        problems.append("requires_grad=True (learnable decays)")
    if neuron.graded_spike:
        problems.append("graded_spike=True")
    if neuron.norm is not None:
        problems.append("norm (use an explicit normalisation layer)")
    if neuron.drop is not None:
        problems.append("dropout (use the block's 'dropout' / 'rec_dropout' options)")
    if problems:
        raise ValueError("unsupported CUBA neuron option(s) for delay blocks: " + ", ".join(problems))


@dataclass(frozen=True)
class CubaConstants:
    """A CUBA neuron's fixed-point constants and surrogate gradient."""

    scale: int  # state units per SLAYER unit (4096)
    i_keep: int  # 4096 - iDecay
    v_keep: int  # 4096 - vDecay
    threshold: float  # SLAYER units; a spike where v >= threshold
    tau_rho: float
    scale_rho: float

    @classmethod
    def of(cls, neuron: cuba.Neuron) -> CubaConstants:
        return cls(scale=int(neuron.s_scale),
                   i_keep=(1 << 12) - int(quantize(neuron.current_decay).item()),
                   v_keep=(1 << 12) - int(quantize(neuron.voltage_decay).item()),
                   threshold=float(neuron.threshold + neuron.threshold_eps),
                   tau_rho=float(neuron.tau_rho * cuba.TAU_RHO_MULT),
                   scale_rho=float(neuron.scale_rho * cuba.SCALE_RHO_MULT))

    def surrogate(self, v: torch.Tensor) -> torch.Tensor:
        """SLAYER's spike derivative at voltage ``v`` (SLAYER units)."""
        return self.scale_rho / 2 / self.tau_rho * torch.exp(-torch.abs(v - self.threshold) / self.tau_rho)


def _forward_loop(z, weight, kernel, lag_index, mask, c: CubaConstants):
    """Exact forward, time-major: ``z`` ``[T, B, N]`` -> spikes, pre-reset
    voltages (SLAYER units) and recurrent reads ``[T, B, N]``, and the history
    ``[L + T, B, N]`` (row ``L + t`` holds ``h(t)``)."""
    steps, batch, n = z.shape
    lags = kernel.shape[1]
    history = z.new_zeros(lags + steps, batch, n)
    # row t collects read(t): each h(t') is spread onto rows t' + 1 .. t' + L once known
    arrivals = z.new_zeros(steps + lags + 1, batch, n)
    kernel_rows = kernel.T[:, None, :].contiguous()  # [L, 1, N]: row c is lag c + 1
    spikes, voltage = torch.empty_like(z), torch.empty_like(z)
    u = torch.zeros(batch, n, dtype=torch.int64, device=z.device)
    v = torch.zeros_like(u)
    threshold = c.threshold * c.scale
    for t in range(steps):
        if lag_index is not None:  # one-hot kernel: pick one past row per neuron
            arrivals[t] = history[t:t + lags].gather(0, lag_index)[0]
        current = torch.addmm(z[t], arrivals[t], weight.T)
        u = torch.div(u * c.i_keep, 4096, rounding_mode="trunc") + (c.scale * current).to(torch.int64)
        v = torch.div(v * c.v_keep, 4096, rounding_mode="trunc") + u
        fired = v >= threshold
        voltage[t] = v
        s = fired.to(z.dtype)
        spikes[t] = s
        h = history[lags + t]
        h.copy_(s if mask is None else s * mask)
        if lag_index is None:
            arrivals[t + 1:t + 1 + lags].addcmul_(kernel_rows, h)
        v = v.masked_fill(fired, 0)
    return spikes, voltage.div_(c.scale), arrivals[:steps], history


class _RecurrentCuba(torch.autograd.Function):
    """Time-major ``[T, B, N]`` in and out; see :func:`recurrent_cuba`."""

    @staticmethod
    def forward(ctx, z, weight, kernel, lag_index, mask, constants):
        spikes, voltage, reads, history = _forward_loop(z, weight, kernel, lag_index, mask, constants)
        ctx.save_for_backward(weight, kernel, mask, voltage, reads, history)
        ctx.constants = constants
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        weight, kernel, mask, voltage, reads, history = ctx.saved_tensors
        c = ctx.constants
        steps, batch, n = grad_spikes.shape
        lags = kernel.shape[1]
        grad_spikes = grad_spikes.contiguous()
        surrogate = c.surrogate(voltage)
        flipped_rows = kernel.flip(1).T[:, None, :].contiguous()  # [L, 1, N]: row m is lag L - m
        grad_current = torch.empty_like(grad_spikes)
        grad_reads = torch.empty_like(grad_spikes)  # row t: dL/d read(t)
        # row L + t collects dL/dh(t): dL/d read(t) is spread back onto h(t - 1 - c), c < L
        grad_history = grad_spikes.new_zeros(lags + steps, batch, n)
        i_keep, v_keep = c.i_keep / 4096, c.v_keep / 4096
        grad_u = grad_v = grad_spikes.new_zeros(batch, n)
        for t in range(steps - 1, -1, -1):
            grad_h = grad_history[lags + t]
            grad_s = grad_spikes[t] + (grad_h if mask is None else grad_h * mask)
            grad_v = grad_s * surrogate[t] + v_keep * grad_v
            grad_u = grad_v + i_keep * grad_u
            grad_current[t] = grad_u
            grad_read = torch.mm(grad_u, weight, out=grad_reads[t])
            grad_history[t:t + lags].addcmul_(flipped_rows, grad_read)
        grad_weight = grad_kernel = None
        if ctx.needs_input_grad[1]:
            grad_weight = grad_current.reshape(-1, n).T @ reads.reshape(-1, n)
        if ctx.needs_input_grad[2]:
            # dL/dK[:, c] = sum over t, b of dL/d read(t) * h(t - 1 - c)
            grad_kernel = torch.stack([(grad_reads * history[lags - 1 - c:lags - 1 - c + steps]).sum((0, 1))
                                       for c in range(lags)], dim=1)
        return grad_current, grad_weight, grad_kernel, None, None, None


def recurrent_cuba(z: torch.Tensor, weight: torch.Tensor, kernel: torch.Tensor, constants: CubaConstants,
                   mask: torch.Tensor | None = None, one_hot: bool = False) -> torch.Tensor:
    """Spikes ``[B, N, T]`` of a recurrent CUBA layer driven by ``z`` ``[B, N, T]``.

    Args:
        z: feed-forward input current per step (SLAYER units).
        weight: ``[N, N]`` (post, pre) quantized recurrent weights (a
            convolution as its banded matrix: on a CPU a dense product beats
            a 1-D convolution per step at these sizes).
        kernel: ``[N, L]`` lag kernel; column ``c`` weighs the spike of step
            ``t - 1 - c`` (delay ``d``: one-hot at column ``d``).
        mask: ``[B, N]`` recurrent dropout (scales what the recurrence sees).
        one_hot: the kernel is one-hot (integer delays): the forward gathers
            one lag per neuron instead of weighing all of them (same values).
    Differentiable in ``z``, ``weight`` and ``kernel``.
    """
    lag_index = None
    if one_hot:
        index = kernel.detach().flip(1).argmax(1)
        lag_index = index[None, None, :].expand(1, z.shape[0], -1).contiguous()
    z = z.permute(2, 0, 1).contiguous()
    spikes = _RecurrentCuba.apply(z, weight, kernel, lag_index, mask, constants)
    return spikes.permute(1, 2, 0)
