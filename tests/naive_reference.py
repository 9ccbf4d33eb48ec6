"""Naive per-step reference of a delay-recurrent CUBA layer, written from the
formula and Loihi's fixed-point equations (shared/lava-notes.md), independent
of the code under test: explicit loops, integer numpy arithmetic."""
import numpy as np


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
