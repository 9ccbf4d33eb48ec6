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
    """``sum_j R_ij s_j(t - 1 - d_j)`` for one layer, stepped in time."""

    def __init__(self, layer: LayerSpec, batch: int, device):
        n = layer.num_neurons
        self.dtype = _exact_dtype(layer.weight_rec)
        delays = layer.delay_rec if layer.delay_rec is not None else np.zeros(n, np.int64)
        self.size = int(delays.max()) + 1
        self.buffer = torch.zeros(batch, n, self.size, dtype=self.dtype, device=device)
        t = torch.arange(self.size, device=device)[:, None]
        slots = (t - 1 - torch.as_tensor(delays, device=device)[None]) % self.size
        self.slots = slots[:, None, :, None].expand(self.size, batch, n, 1).contiguous()
        if layer.conv is not None:
            self.kernel = torch.as_tensor(layer.conv.kernel, dtype=self.dtype, device=device)
            self.channels = layer.conv.channels
        else:
            self.kernel = None
            self.matrix_t = torch.as_tensor(layer.weight_rec.T, dtype=self.dtype, device=device)
        self.t = 0

    def read(self) -> torch.Tensor:
        delayed = self.buffer.gather(2, self.slots[self.t % self.size]).squeeze(2)
        if self.kernel is None:
            return delayed @ self.matrix_t
        batch = delayed.shape[0]
        out = F.conv1d(delayed.view(batch, self.channels, -1), self.kernel,
                       padding=self.kernel.shape[-1] // 2)
        return out.reshape(batch, -1)

    def push(self, spikes: torch.Tensor) -> None:
        self.buffer[:, :, self.t % self.size] = spikes
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


def simulate_layer(layer: LayerSpec, x: torch.Tensor, record_voltage: bool = False):
    """One layer: presynaptic spikes ``x`` ``[B, in, T]`` (already one step late)
    -> its spikes ``[B, N, T]`` (float 0/1) and optionally ``v`` ``[B, N, T]``."""
    batch, _, steps = x.shape
    n = layer.num_neurons
    drive = _feedforward(layer, x)
    recurrence = _Recurrence(layer, batch, x.device) if layer.is_recurrent else None
    i_keep = 4096 - layer.neuron.i_decay
    v_keep = 4096 - layer.neuron.v_decay
    threshold = layer.neuron.vth_mant << 6
    u = torch.zeros(batch, n, dtype=torch.int64, device=x.device)
    v = torch.zeros_like(u)
    spikes = torch.zeros(batch, n, steps, dtype=x.dtype, device=x.device)
    voltage = torch.zeros(batch, n, steps, dtype=torch.int64, device=x.device) if record_voltage else None
    for t in range(steps):
        a = drive[..., t]
        if recurrence is not None:
            a = a + recurrence.read().round().to(torch.int64)
        u = torch.div(u * i_keep, 4096, rounding_mode="trunc") + (a << 6)
        u = torch.where(u > _UV_HALF, u - 2 * _UV_HALF, u)
        u = torch.where(u <= -_UV_HALF, u + 2 * _UV_HALF, u)
        v = (torch.div(v * v_keep, 4096, rounding_mode="trunc") + u).clamp(-_UV_HALF + 1, _UV_HALF - 1)
        fired = v > threshold
        v = torch.where(fired, 0, v)
        s = fired.to(x.dtype)
        spikes[..., t] = s
        if recurrence is not None:
            recurrence.push(s.to(recurrence.dtype))
        if voltage is not None:
            voltage[..., t] = v
    return spikes, voltage


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
