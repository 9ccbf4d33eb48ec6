"""A batched, vectorized integer simulator of docs/hdf5-format.md.

It computes exactly what Lava's fixed-point CUBA-LIF and synapse models compute
(including Lava's 24-bit wrap of ``u`` and saturation of ``v``), for many
samples at once, so the deployed accuracy on a whole test set costs seconds
instead of hours. Synaptic sums are taken in floating point where that is
exact (|sum| < 2^24 in float32, else float64) and the neuron state in int64.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from netx_export.description import LayerSpec, NetworkSpec

_UV_HALF = 1 << 23  # Lava's 24-bit u/v registers


@dataclass
class FixedPointResult:
    """Spikes are 0/1 ``uint8`` ``[batch, neurons, time]``; ``voltage`` is the output
    layer's ``v`` after each step's reset, int64 in units of 1/4096."""

    output: np.ndarray
    layers: list[np.ndarray] | None = None
    voltage: np.ndarray | None = None


def _exact_dtype(weight: np.ndarray) -> torch.dtype:
    bound = np.abs(weight).sum(axis=1).max(initial=0)
    return torch.float32 if bound < (1 << 24) else torch.float64


class _Recurrence:
    """``sum_j R_ij s_j(t - 1 - d_j)`` for one layer, stepped in time.

    Past spikes live in a time-major ring ``[slots, B, N]`` so each push is
    one contiguous write and each read one ``take`` of precomputed indexes.
    """

    def __init__(self, layer: LayerSpec, batch: int, device):
        n = layer.num_neurons
        delays = layer.delay_rec if layer.delay_rec is not None else np.zeros(n, np.int64)
        self.size = int(delays.max()) + 1
        # 0/1 spikes: float32 is exact and halves the memory the reads walk through
        self.buffer = torch.zeros(self.size, batch, n, dtype=torch.float32, device=device)
        t = torch.arange(self.size, device=device)[:, None]
        slots = (t - 1 - torch.as_tensor(delays, device=device)[None]) % self.size  # [size, N]
        cell = torch.arange(batch * n, device=device).view(batch, n)
        self.index = slots[:, None, :] * (batch * n) + cell[None]  # [size, B, N] flat indexes
        dtype = _exact_dtype(layer.weight_rec)
        if layer.conv is not None:
            self.kernel = torch.as_tensor(layer.conv.kernel, dtype=dtype, device=device)
            self.channels = layer.conv.channels
        else:
            self.kernel = None
            self.matrix_t = torch.as_tensor(layer.weight_rec.T, dtype=dtype, device=device)
        self.dtype = dtype
        self.t = 0

    def read(self) -> torch.Tensor:
        delayed = torch.take(self.buffer, self.index[self.t % self.size]).to(self.dtype)
        if self.kernel is None:
            return delayed @ self.matrix_t
        batch = delayed.shape[0]
        out = F.conv1d(delayed.view(batch, self.channels, -1), self.kernel,
                       padding=self.kernel.shape[-1] // 2)
        return out.view(batch, -1)

    def push(self, spikes: torch.Tensor) -> None:
        self.buffer[self.t % self.size] = spikes
        self.t += 1


def _feedforward(layer: LayerSpec, x: torch.Tensor) -> torch.Tensor:
    """``[B, in, T]`` presynaptic spikes -> ``[B, N, T]`` int64 synaptic sums."""
    dtype = _exact_dtype(layer.weight)
    weight = torch.as_tensor(layer.weight, dtype=dtype, device=x.device)
    total = torch.einsum("ni,bit->bnt", weight, x.to(dtype)).round().to(torch.int64)
    if layer.delay is not None and layer.delay.any():
        steps = total.shape[-1]
        t = torch.arange(steps, device=x.device)[None, :] - torch.as_tensor(layer.delay, device=x.device)[:, None]
        shifted = total.gather(2, t.clamp(min=0)[None].expand(total.shape[0], -1, -1))
        total = torch.where(t[None] >= 0, shifted, torch.zeros_like(shifted))
    return total


def _may_overflow(layer: LayerSpec) -> bool:
    """Whether ``u``/``v`` can leave Lava's 24-bit range (else the wrap is skipped).

    ``|a| <= A`` (sum of absolute weights) bounds ``|u| <= 64 A / (iDecay / 4096)``
    and ``|v| <= max|u| / (vDecay / 4096)``; without decay no bound holds.
    """
    drive = np.abs(layer.weight).sum(1) + (np.abs(layer.weight_rec).sum(1) if layer.weight_rec is not None else 0)
    if layer.neuron.i_decay == 0 or layer.neuron.v_decay == 0:
        return True
    u_max = 64 * float(drive.max(initial=0)) * 4096 / layer.neuron.i_decay
    return u_max * 4096 / layer.neuron.v_decay >= _UV_HALF - 1


def simulate_layer(layer: LayerSpec, x: torch.Tensor, record_voltage: bool = False):
    """One layer: presynaptic spikes ``x`` ``[B, in, T]`` (already one step late)
    -> its spikes ``[B, N, T]`` (float 0/1) and optionally ``v`` ``[B, N, T]``.

    States are float64 holding integers: ``u * (4096 - d) / 4096`` stays below
    2^36, so products, the division by 4096 and ``trunc`` are all exact.
    """
    batch, _, steps = x.shape
    drive = (_feedforward(layer, x) << 6).to(torch.float64)
    recurrence = _Recurrence(layer, batch, x.device) if layer.is_recurrent else None
    i_keep = (4096 - layer.neuron.i_decay) / 4096
    v_keep = (4096 - layer.neuron.v_decay) / 4096
    threshold = float(layer.neuron.vth_mant << 6)
    wrap = _may_overflow(layer)
    u = torch.zeros(batch, layer.num_neurons, dtype=torch.float64, device=x.device)
    v = torch.zeros_like(u)
    spikes, voltage = [], []
    for t in range(steps):
        a = drive[..., t]
        if recurrence is not None:
            a = a + 64 * recurrence.read()
        u.mul_(i_keep).trunc_().add_(a)
        if wrap:
            u = torch.where(u > _UV_HALF, u - 2 * _UV_HALF, u)
            u = torch.where(u <= -_UV_HALF, u + 2 * _UV_HALF, u)
        v.mul_(v_keep).trunc_().add_(u)
        if wrap:
            v.clamp_(-_UV_HALF + 1, _UV_HALF - 1)
        fired = v > threshold
        v.masked_fill_(fired, 0.0)
        s = fired.to(torch.float32)
        spikes.append(s)
        if recurrence is not None:
            recurrence.push(s)
        if record_voltage:
            voltage.append(v.clone())
    out = torch.stack(spikes, dim=-1).to(x.dtype)
    return out, (torch.stack(voltage, dim=-1).to(torch.int64) if record_voltage else None)


def simulate(spec: NetworkSpec, spikes, record_layers: bool = False,
             record_voltage: bool = False, device: str | torch.device = "cpu") -> FixedPointResult:
    """Run ``spec`` on input spikes ``[batch, channels, time]`` (or ``[channels, time]``).

    Output index ``t`` of layer ``l`` equals the training-side block ``l``'s output
    at ``t`` and Lava's layer-``l`` sink at ``t`` (one step of latency per layer).
    """
    x = torch.as_tensor(np.asarray(spikes), device=device).to(torch.float32)
    single = x.dim() == 2
    if single:
        x = x[None]
    if x.dim() != 3 or x.shape[1] != spec.input_size:
        raise ValueError(f"{spec.source}: expected input [batch, {spec.input_size}, time], "
                         f"got {tuple(np.shape(spikes))}")
    layers, voltage = [], None
    with torch.no_grad():
        for i, layer in enumerate(spec.layers):
            last = i == len(spec.layers) - 1
            x = F.pad(x[..., :-1], (1, 0))  # one step of synaptic latency per layer
            x, v = simulate_layer(layer, x, record_voltage and last)
            if record_layers:
                layers.append(x)
            if v is not None:
                voltage = v
    pick = (lambda a: a[0]) if single else (lambda a: a)
    return FixedPointResult(
        output=pick(x.to(torch.uint8).cpu().numpy()),
        layers=[pick(s.to(torch.uint8).cpu().numpy()) for s in layers] if record_layers else None,
        voltage=pick(voltage.cpu().numpy()) if voltage is not None else None,
    )
