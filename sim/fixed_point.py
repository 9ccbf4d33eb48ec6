"""A batched, compiled integer simulator of docs/hdf5-format.md.

It computes exactly what Lava's fixed-point CUBA-LIF and synapse models compute
(including Lava's 24-bit wrap of ``u`` and saturation of ``v``, and the
voltage readout's threshold, :mod:`sim.readout_band`), for many
samples at once, so the deployed accuracy on a whole test set costs seconds
instead of hours. Each layer is one compiled (numba) loop over samples,
steps and neurons in integer arithmetic, and the samples are shared out over
threads. Synaptic input is event-driven: each presynaptic spike adds one
weight row to the input of the step it arrives at; a convolutional
recurrence is applied as its ``k * C * C`` shifted taps, a 'dchan_rec' layer's
delay channels as ``k * C`` depthwise taps each, on the spikes of the step
that channel's delay reaches.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from lava_convdelay.limits import STATE_UNIT, THRESHOLD_SHIFT, V_MAX
from netx_export.spec import LayerSpec, NetworkSpec
from sim.errors import InputSpikesError, InvalidSpecError
from sim.readout_band import built_vth

_UV_HALF = V_MAX + 1  # Lava's 24-bit u/v registers: v saturates at +-V_MAX, u wraps


@dataclass
class FixedPointResult:
    """Spikes are 0/1 ``uint8`` ``[batch, neurons, time]``; ``voltage`` is the output
    layer's ``v`` after each step's reset, int64 in units of 1/4096."""

    output: np.ndarray
    layers: list[np.ndarray] | None = None
    voltage: np.ndarray | None = None


@numba.njit(cache=True, nogil=True, inline="always")
def _decay(x, keep):
    """``trunc0(x * keep / 4096)`` of an int32 ``x`` and ``keep``: the shift
    rounds down, so a negative product gets 4095 added first."""
    p = np.int64(x) * np.int64(keep)
    return (p + ((p >> 63) & 4095)) >> 12


@numba.njit(cache=True, nogil=True, inline="always")
def _add_rows(drive, t, weight_t, fired, events):
    """``drive[t] += sum_j fired[j] * weight_t[j]``: one contiguous row per spike."""
    count = 0
    for j in range(fired.size):  # the indexes of the spikes, without branches
        events[count] = j
        count += fired[j]
    for e in range(count):
        j = events[e]
        for i in range(drive.shape[1]):
            drive[t, i] += weight_t[j, i]


@numba.njit(cache=True, nogil=True, inline="always")
def _add_conv(drive, t, kernel, fired):
    """``drive[t] += conv(fired)``, "same" zero padding, neuron ``n = c * F + f``."""
    channels, _, size = kernel.shape
    width = fired.size // channels
    for o in range(channels):
        for c in range(channels):
            for m in range(size):
                shift = m - size // 2
                lo, hi = max(0, -shift), min(width, width - shift)
                w = kernel[o, c, m]
                # views indexed from 0: the compiler vectorizes this loop
                target = drive[t, o * width + lo:o * width + hi]
                source = fired[c * width + lo + shift:c * width + hi + shift]
                for f in range(target.size):
                    target[f] += w * source[f]


@numba.njit(cache=True, nogil=True, inline="always")
def _add_depthwise(drive, t, kernel, fired):
    """``drive[t] += conv(fired)`` of one delay channel: channel ``c`` (kernel
    row ``[k]``) convolves its own positions, "same" zero padding."""
    channels, size = kernel.shape
    width = fired.size // channels
    for c in range(channels):
        for m in range(size):
            shift = m - size // 2
            lo, hi = max(0, -shift), min(width, width - shift)
            w = kernel[c, m]
            target = drive[t, c * width + lo:c * width + hi]
            source = fired[c * width + lo + shift:c * width + hi + shift]
            for f in range(target.size):
                target[f] += w * source[f]


@numba.njit(cache=True, nogil=True)
def _run_layer(pre, weight_t, ff_delay, rec_t, kernel, rec_delay, channel_kernel, channel_delay, i_keep, v_keep,
               threshold, spikes, voltage):
    """One layer over a batch, every sample from rest; arrays are time-major.

    ``pre``: uint8 ``[B, T, in]`` presynaptic spikes as emitted (they arrive
    one step later); ``weight_t``: ``W.T``; ``ff_delay``: ``[N]`` or empty;
    the recurrence is ``rec_t`` (``R.T``) or ``kernel`` (``[C, C, k]``; the
    other one empty, both for a feed-forward layer) with ``rec_delay`` ``[N]``,
    or the delay channels' ``channel_kernel`` ``[D, C, k]`` (else empty) with
    ``channel_delay`` ``[D]``.
    Writes ``spikes`` uint8 ``[B, T, N]`` and, unless it is empty,
    ``voltage`` int32 ``[B, T, N]``.
    """
    batch, steps, n_in = pre.shape
    n = weight_t.shape[1]
    conv = kernel.size > 0
    recurrent = conv or rec_t.size > 0
    delayed = ff_delay.size > 0
    drive = np.zeros((steps, n), weight_t.dtype)  # synaptic input a(t), weight units
    shifted = np.zeros((steps, n), weight_t.dtype) if delayed else drive
    events = np.empty(max(n_in, n), np.int64)
    arrived = np.zeros(n, np.uint8)
    u = np.zeros(n, np.int32)  # Lava keeps u and v in int32 registers
    v = np.zeros(n, np.int32)
    for b in range(batch):
        drive[:] = 0
        for t in range(1, steps):  # x(t) = pre(t - 1): one step of synaptic latency
            _add_rows(drive, t, weight_t, pre[b, t - 1], events)
        if delayed:  # a_i(t) = sum_j W_ij x_j(t - D_i)
            for t in range(steps):
                for i in range(n):
                    src = t - ff_delay[i]
                    shifted[t, i] = drive[src, i] if src >= 0 else 0
        u[:] = 0
        v[:] = 0
        for t in range(steps):
            for d in range(channel_kernel.shape[0]):  # + sum_d conv_d(s(t - 1 - d_d))
                src = t - 1 - channel_delay[d]
                if src >= 0:
                    _add_depthwise(shifted, t, channel_kernel[d], spikes[b, src])
            if recurrent:  # + sum_j R_ij s_j(t - 1 - d_j)
                for j in range(n):
                    src = t - 1 - rec_delay[j]
                    arrived[j] = spikes[b, src, j] if src >= 0 else 0
                if conv:
                    _add_conv(shifted, t, kernel, arrived)
                else:
                    _add_rows(shifted, t, rec_t, arrived, events)
            for i in range(n):
                uu = _decay(u[i], i_keep) + (np.int64(shifted[t, i]) << 6)
                uu = uu - 2 * _UV_HALF if uu > _UV_HALF else uu  # Lava's (single) wrap
                uu = uu + 2 * _UV_HALF if uu <= -_UV_HALF else uu
                u[i] = uu
                vv = _decay(v[i], v_keep) + u[i]
                vv = min(max(vv, 1 - _UV_HALF), _UV_HALF - 1)  # saturation
                fired = vv > threshold
                v[i] = 0 if fired else vv
                spikes[b, t, i] = fired
            if voltage.size:
                for i in range(n):
                    voltage[b, t, i] = v[i]


@numba.njit(cache=True, nogil=True)
def _time_major(x, out):
    """``out[b, t, c] = x[b, c, t]``; False (and ``out`` unfinished) if ``x``
    holds anything but 0 and 1."""
    batch, channels, steps = x.shape
    for b in range(batch):
        for c in range(channels):
            for t in range(steps):
                value = x[b, c, t]
                if value != 0 and value != 1:
                    return False
                out[b, t, c] = value
    return True


def _kernel_args(layer: LayerSpec, source: str, index: int) -> tuple:
    """:func:`_run_layer`'s arguments for one layer, before the outputs.

    Synaptic sums are int16 where that holds any of them, else int32:
    ``|a_i(t)| <= sum_j |W_ij| + sum_j |R_ij|`` (each synapse at most once per step);
    for a convolution ``sum_j |R_ij|`` is at most the sum over its output
    channel's taps, taken from the ``[C, C, k]`` kernel (not the ``N x N``
    banded matrix: ``O(k C^2)``, not ``O(N^2)``).
    """
    n = layer.num_neurons
    bound = np.abs(layer.weight).sum(axis=1)
    if layer.conv is not None:
        taps = np.abs(np.asarray(layer.conv.kernel, np.int64)).sum(axis=(1, 2))  # [C]
        bound = bound + np.repeat(taps, n // layer.conv.channels)
    elif layer.delay_channels is not None:  # every channel's taps of the neuron's own channel
        taps = np.abs(np.asarray(layer.delay_channels.kernel, np.int64)).sum(axis=(0, 2))  # [C]
        bound = bound + np.repeat(taps, n // layer.delay_channels.channels)
    elif layer.weight_rec is not None:
        bound = bound + np.abs(layer.weight_rec).sum(axis=1)
    bound = int(bound.max(initial=0))
    if bound >= 1 << 31:  # 8-bit weights: millions of synapses per neuron
        raise InvalidSpecError(f"{source}: layer {index} ({layer.type}): synaptic sums up to {bound} do not fit in "
                               f"32 bits")
    dtype = np.int16 if bound < (1 << 15) else np.int32
    weight_t = np.ascontiguousarray(layer.weight.T, dtype=dtype)
    ff_delay = np.zeros(0, np.int64)
    if layer.delay is not None and layer.delay.any():
        ff_delay = np.asarray(layer.delay, np.int64)
    rec_t = np.zeros((0, 0), dtype)
    kernel = np.zeros((0, 0, 0), dtype)
    if layer.conv is not None:
        kernel = np.ascontiguousarray(layer.conv.kernel, dtype)
    elif layer.weight_rec is not None:
        rec_t = np.ascontiguousarray(layer.weight_rec.T, dtype)
    rec_delay = np.zeros(n, np.int64) if layer.delay_rec is None else np.asarray(layer.delay_rec, np.int64)
    channel_kernel, channel_delay = np.zeros((0, 0, 0), dtype), np.zeros(0, np.int64)
    if layer.delay_channels is not None:
        channel_kernel = np.ascontiguousarray(layer.delay_channels.kernel, dtype)
        channel_delay = np.asarray(layer.delay_channels.delays, np.int64)
    return (weight_t, ff_delay, rec_t, kernel, rec_delay, channel_kernel, channel_delay,
            np.int32(STATE_UNIT - layer.neuron.i_decay), np.int32(STATE_UNIT - layer.neuron.v_decay),
            np.int64(built_vth(layer.neuron)) << THRESHOLD_SHIFT)


_NO_VOLTAGE = np.zeros((0, 0, 0), np.int32)


def _run_chunk(args: list[tuple], x: np.ndarray, pre: np.ndarray, spikes: list[np.ndarray],
               voltage: np.ndarray) -> bool:
    """Every layer on one share of the samples (``x`` ``[b, C, T]``, the
    other arrays time-major); False if ``x`` is not 0/1."""
    if not _time_major(x.view(np.uint8) if x.dtype == np.bool_ else x, pre):
        return False
    for i, (layer_args, out) in enumerate(zip(args, spikes)):
        _run_layer(pre, *layer_args, out, voltage if i == len(spikes) - 1 else _NO_VOLTAGE)
        pre = out
    return True


def simulate(spec: NetworkSpec, spikes, record_layers: bool = False,
             record_voltage: bool = False, device: str = "cpu") -> FixedPointResult:
    """Run ``spec`` on input spikes ``[batch, channels, time]`` (or ``[channels, time]``).

    Output index ``t`` of layer ``l`` equals the training-side block ``l``'s output
    at ``t`` and Lava's layer-``l`` sink at ``t`` (one step of latency per layer).
    Spikes are 0/1 of any numeric dtype (or a CPU tensor). The simulator runs
    on the CPU (``device`` must be ``"cpu"``), the samples split over
    ``numba.get_num_threads()`` threads (``NUMBA_NUM_THREADS``).
    """
    if str(device) != "cpu":
        raise ValueError(f"the fixed-point simulator runs on the CPU only, not on {device!r}")
    spec = spec.validate()
    x = np.asarray(spikes)
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.ndim != 3 or x.shape[1] != spec.input_size:
        raise InputSpikesError(f"{spec.source}: expected input [batch, {spec.input_size}, time], "
                         f"got {tuple(np.shape(spikes))}")
    batch, channels, steps = x.shape
    args = [_kernel_args(layer, spec.source, i) for i, layer in enumerate(spec.layers)]
    pre = np.empty((batch, steps, channels), np.uint8)
    layers = [np.empty((batch, steps, layer.num_neurons), np.uint8) for layer in spec.layers]
    voltage = np.empty((batch, steps, spec.output_size), np.int32) if record_voltage else _NO_VOLTAGE

    def run(part: slice) -> bool:
        return _run_chunk(args, x[part], pre[part], [s[part] for s in layers],
                          voltage[part] if record_voltage else voltage)
    threads = max(1, min(numba.get_num_threads(), batch))
    cuts = np.linspace(0, batch, threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:  # the kernels release the GIL
        binary = all(pool.map(run, [slice(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:])]))
    if not binary:
        raise InputSpikesError(f"{spec.source}: input spikes must be 0 or 1")

    def neuron_major(a, dtype=np.uint8):
        a = np.ascontiguousarray(a.transpose(0, 2, 1), dtype=dtype)
        return a[0] if single else a
    return FixedPointResult(
        output=neuron_major(layers[-1]),
        layers=[neuron_major(s) for s in layers] if record_layers else None,
        voltage=neuron_major(voltage, np.int64) if record_voltage else None,
    )
