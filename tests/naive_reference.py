"""Naive per-step reference of a delay-recurrent CUBA layer, written from the
formula and Loihi's fixed-point equations (shared/lava-notes.md), independent
of the code under test: explicit loops, integer numpy arithmetic."""
import numpy as np

from lava_convdelay.limits import READOUT_VTH


def trunc_shift12(x: np.ndarray) -> np.ndarray:
    """x >> 12 rounding toward zero."""
    return np.sign(x) * (np.abs(x) >> 12)


def naive_delay_recurrent(x, w_int, r_int, delays, i_decay, v_decay, vth_mant):
    """Spikes of one layer, ``[N, T]``, un-shifted (s(t) at index t).

    x: ``[in, T]`` 0/1 input spikes; w_int: ``[N, in]`` and r_int ``[N, N]``
    integer weight mantissas (SLAYER weight * 64); delays: ``[N]`` integer
    per-presynaptic delay. ``I_rec_i(t) = sum_j R_ij s_j(t - 1 - d_j)``.
    """
    n, steps = w_int.shape[0], x.shape[1]
    u = np.zeros(n, dtype=np.int64)
    v = np.zeros(n, dtype=np.int64)
    s = np.zeros((n, steps), dtype=np.int64)
    for t in range(steps):
        a = np.zeros(n, dtype=np.int64)
        for i in range(n):
            total = int(np.dot(w_int[i], x[:, t]))
            for j in range(n):
                src = t - 1 - int(delays[j])
                if src >= 0 and s[j, src]:
                    total += int(r_int[i, j])
            a[i] = total
        u = trunc_shift12(u * (4096 - i_decay)) + (a << 6)
        v = trunc_shift12(v * (4096 - v_decay)) + u
        fired = v > (vth_mant << 6)
        s[:, t] = fired
        v[fired] = 0
    return s


def naive_banded(conv_weight: np.ndarray, positions: int) -> np.ndarray:
    """Dense ``[C*F, C*F]`` matrix of a "same" 1-D convolution, by loops."""
    c_out, c_in, k = conv_weight.shape
    dense = np.zeros((c_out * positions, c_in * positions), dtype=conv_weight.dtype)
    for o in range(c_out):
        for f in range(positions):
            for i in range(c_in):
                for m in range(k):
                    g = f + m - k // 2
                    if 0 <= g < positions:
                        dense[o * positions + f, i * positions + g] = conv_weight[o, i, m]
    return dense


UV_LIMIT = 1 << 23


def naive_channel_matrices(channels, n):
    """``[(R_d [N, N], delay_d)]`` of a 'dchan_rec' layer's delay channels: each
    depthwise kernel ``[C, k]`` as a ``[C, C, k]`` kernel that is 0 across channels."""
    out = []
    for kernel, delay in zip(channels.kernel, channels.delays):
        full = np.zeros((channels.channels, channels.channels, channels.kernel_size), np.int64)
        for c in range(channels.channels):
            full[c, c] = kernel[c]
        out.append((naive_banded(full, n // channels.channels), int(delay)))
    return out


def reference_layer(x, weight, neuron, delay=None, weight_rec=None, delay_rec=None, channel_recs=()):
    """One layer from rest: ``x`` ``[in, S]`` presynaptic spikes at the layer
    (already one step late) -> (spikes ``[N, S]``, v after each step ``[N, S]``);
    ``channel_recs``: ``[(R_d, delay_d)]``, recurrent synapses with one delay each."""
    n, steps = weight.shape[0], x.shape[1]
    ff_delay = np.zeros(n, np.int64) if delay is None else delay
    rec_delay = np.zeros(n, np.int64) if delay_rec is None else delay_rec
    u = np.zeros(n, np.int64)
    v = np.zeros(n, np.int64)
    s = np.zeros((n, steps), np.int64)
    volts = np.zeros((n, steps), np.int64)
    for t in range(steps):
        a = np.zeros(n, np.int64)
        for i in range(n):
            total = 0
            src = t - int(ff_delay[i])
            if src >= 0:
                total += int(np.dot(weight[i], x[:, src]))
            if weight_rec is not None:
                for j in range(n):
                    back = t - 1 - int(rec_delay[j])
                    if back >= 0 and s[j, back]:
                        total += int(weight_rec[i, j])
            for matrix, lag in channel_recs:
                back = t - 1 - lag
                if back >= 0:
                    total += int(np.dot(matrix[i], s[:, back]))
            a[i] = total
        u = trunc_shift12(u * (4096 - neuron.i_decay)) + 64 * a
        v = trunc_shift12(v * (4096 - neuron.v_decay)) + u
        # the reference leaves out Lava's 24-bit wrap / saturation: stay clear of it
        assert np.abs(u).max() < UV_LIMIT and np.abs(v).max() < UV_LIMIT, "test network saturates"
        # docs/hdf5-format.md: a non-spiking layer (vThMant >= 2^17) is run with READOUT_VTH
        fired = v > 64 * (neuron.vth_mant if neuron.vth_mant < 1 << 17 else READOUT_VTH)
        s[:, t] = fired
        v[fired] = 0
        volts[:, t] = v
    return s, volts


def reference_network(spec, spikes):
    """Every layer's spikes and the last layer's v for input ``[C, S]``:
    ``x^(1)(t) = in(t - 1)``, ``x^(l)(t) = s^(l-1)(t - 1)``."""
    pre = spikes.astype(np.int64)
    layers, volts = [], None
    for layer in spec.layers:
        late = np.zeros_like(pre)
        late[:, 1:] = pre[:, :-1]
        channels = () if layer.delay_channels is None else \
            naive_channel_matrices(layer.delay_channels, layer.num_neurons)
        pre, volts = reference_layer(late, layer.weight, layer.neuron, layer.delay,
                                     layer.weight_rec, layer.delay_rec, channels)
        layers.append(pre)
    return layers, volts
