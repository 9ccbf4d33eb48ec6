"""The per-step autograd formulation of a recurrent CUBA-LIF layer (reference).

The blocks run the fused loop of :mod:`lava_convdelay.nn.cuba_recurrence`; this
module keeps the straightforward formulation it replaced -- one autograd step
at a time, read from a delay line -- as the reference the fused loop is
tested against (same spikes, same gradients) and benchmarked against
(bench/). :class:`CubaStepper` reproduces SLAYER's fixed-point forward
exactly (the same integer arithmetic as
``slayer.neuron.dynamics.leaky_integrator._li_dynamics_fwd``, i.e. Loihi's)::

    u = trunc0(u * (4096 - iDecay) / 4096) + trunc0(4096 * x)
    v = trunc0(v * (4096 - vDecay) / 4096) + u
    s = v > vThMant << 6;  v = 0 where s

with states in units of 1/4096 of a SLAYER unit (int64). Gradients use the
float recursion SLAYER's backward uses (straight-through the rounding and
reset) and SLAYER's own surrogate spike function, with the neuron's
``tau_grad`` / ``scale_grad``. Unlike SLAYER's ``Recurrent`` block, gradients
flow through the neuron state across time steps (full BPTT).
"""
from __future__ import annotations

import torch
from lava.lib.dl.slayer.neuron import cuba
from lava.lib.dl.slayer.spike.spike import Spike
from lava.lib.dl.slayer.utils import quantize

from lava_convdelay.limits import STATE_UNIT


class CubaStepper:
    """Steps a ``[batch, N]`` population of ``neuron`` from rest, one step per call."""

    def __init__(self, neuron: cuba.Neuron, batch: int, num_neurons: int,
                 device, dtype: torch.dtype = torch.float32):
        self.scale = int(neuron.s_scale)
        self.i_keep = STATE_UNIT - int(quantize(neuron.current_decay).item())
        self.v_keep = STATE_UNIT - int(quantize(neuron.voltage_decay).item())
        self.threshold = neuron.threshold + neuron.threshold_eps
        self.threshold_int = self.threshold * self.scale
        self.tau_rho = neuron.tau_rho * cuba.TAU_RHO_MULT
        self.scale_rho = neuron.scale_rho * cuba.SCALE_RHO_MULT
        self.drop = neuron.drop
        shape = (batch, num_neurons)
        self.u_int = torch.zeros(shape, dtype=torch.int64, device=device)
        self.v_int = torch.zeros(shape, dtype=torch.int64, device=device)
        self.u = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """Input current ``x`` ``[B, N]`` (SLAYER units) -> spikes ``[B, N]``."""
        with torch.no_grad():
            self.u_int = (torch.div(self.u_int * self.i_keep, STATE_UNIT, rounding_mode="trunc")
                          + (self.scale * x).to(torch.int64))
            self.v_int = (torch.div(self.v_int * self.v_keep, STATE_UNIT, rounding_mode="trunc")
                          + self.u_int)
            fired = self.v_int >= self.threshold_int
            v_int, self.v_int = self.v_int, torch.where(fired, 0, self.v_int)
        if not torch.is_grad_enabled():
            spikes = fired.to(x.dtype)
        else:
            u_exact = self.u_int.to(x.dtype) / self.scale
            v_exact = v_int.to(x.dtype) / self.scale
            u = self.u * (self.i_keep / STATE_UNIT) + x
            u = u + (u_exact - u).detach()
            v = self.v * (self.v_keep / STATE_UNIT) + u
            v = v + (v_exact - v).detach()
            spikes = Spike.apply(v, self.threshold, self.tau_rho, self.scale_rho, False, 0, 1)
            # reset in value only: SLAYER's backward ignores the reset too
            self.u, self.v = u, v - (v * fired).detach()
        if self.drop is not None:
            spikes = self.drop(spikes)
        return spikes


class KernelDelayLine:
    """Differentiable delay line: ``read()`` applies a ``[N, L]`` lag kernel
    (column ``c`` = lag ``c + 1``) to the spikes pushed so far."""

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


def stepwise_recurrence(block, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """What a delay-recurrent ``block`` computes from its input current ``z``
    ``[B, N, T]``, one autograd step at a time: spikes ``[B, N, T]`` (unshifted,
    before feed-forward dropout), ``mask`` ``[B, N]`` its recurrent dropout."""
    batch, neurons, steps = z.shape
    weight = block.recurrent_synapse.quantized()
    if block.axonal_delay is None:
        kernel = z.new_ones(neurons, 1)
    else:
        kernel = block.axonal_delay.kernel()[0].to(z.dtype)
    line = KernelDelayLine(kernel, batch)
    stepper = CubaStepper(block.neuron, batch, neurons, z.device, z.dtype)
    spikes = []
    for t in range(steps):
        s = stepper.step(z[..., t] + block.recurrent_synapse.propagate(weight, line.read()))
        line.push(s if mask is None else s * mask)
        spikes.append(s)
    return torch.stack(spikes, dim=-1)
