"""The delay channels' time loop over lag-combined kernels (``O(N k L)`` per step).

A delay channel's lag kernel ``w_d`` ``[L]`` is shared by every neuron, so the
``D`` delayed, convolved copies of the layer's spikes
(:mod:`lava_convdelay.nn.delay_channels`) collapse into one depthwise
convolution per lag::

    I(t) = z(t) + sum_d conv_{K_d}(sum_l w_d[l] h(t - 1 - l))
         = z(t) + sum_l conv_{G_l}(h(t - 1 - l)),     G_l = sum_d w_d[l] K_d   [C, k]

summed over the lags ``l`` some channel weighs (``D`` of them at ``sigma =
0``, the triangles' union while training), straight from the spike history:
no ``[D * N, B]`` reads per step, no ``[T, D * N, B]`` reads kept for the
backward. The backward runs the transposed convolutions the same way
(``dL/dh(t) = sum_l conv^T_{G_l}(dL/dI(t + 1 + l))``), and both parameter
gradients come from one table ``P[l, c, m] = sum_t <dL/dI(t)[c, f],
h(t - 1 - l)[c, f + m - k // 2]>`` (one matrix product per tap and block of
steps)::

    dL/dK_d[c, m] = sum_l w_d[l] P[l, c, m],     dL/dw_d[l] = sum_{c, m} K_d[c, m] P[l, c, m]

The neurons, the spike history ``[L + T, N, B]`` and the chain through ``u``
and ``v`` are :mod:`lava_convdelay.nn.cuba_recurrence`'s (the same fixed-point
arithmetic and surrogate); on the CPU each step's convolutions are one
compiled (numba) call, on other devices ``k`` tensor contractions. In integer
mode (one-hot lag kernels, 8-bit weights) every product and partial sum is
exact, so the spikes equal the per-channel products' bit for bit; with
real-valued kernels they differ only in summation order.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

from lava_convdelay.nn.cuba_recurrence import (
    CubaConstants,
    _axpy,
    _compiled,
    _compiled_back_chain,
    _compiled_fire,
    _CompiledBackward,
    _CompiledNeurons,
    _TensorBackward,
    _TensorNeurons,
    spike_buffers,
)
from lava_convdelay.nn.recurrent_synapse import _overlap
from lava_convdelay.nn.time_major import earlier_steps, later_steps, time_major


@numba.njit(cache=True, nogil=True)
def _axpy4(w0, x0, w1, x1, w2, x2, w3, x3, y):
    """``y += w0 x0 + w1 x1 + w2 x2 + w3 x3`` over five slices of one length: one
    store per element for four products (the lag convolution is bound by stores)."""
    for i in range(y.size):
        y[i] += w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i]


@numba.njit(cache=True, nogil=True)
def _compiled_lag_conv(sources, rows, offset, kernels, positions, transposed, out):
    """``out`` ``[C * F * B]`` = ``sum_a conv_{kernels[a]}(sources[rows[a] + offset])``
    (``sources`` ``[R, C * F * B]``, rows past ``R`` skipped; ``kernels``
    ``[A, C, k]``), or with ``transposed`` the transposed convolutions. Channel
    by channel, so the channel's ``F * B`` sums stay in cache; tap by tap, each
    tap one contiguous run (a shift of ``s`` positions is ``s * B``) that is the
    same for every lag, so four lags share one pass (:func:`_axpy4`)."""
    channels, size = kernels.shape[1], kernels.shape[2]
    width = out.size // channels
    batch = width // positions
    picked = np.empty(rows.shape[0], np.int64)
    out[:] = 0
    for c in range(channels):
        first = c * width
        for m in range(size):
            count = 0
            for a in range(rows.shape[0]):
                if rows[a] + offset < sources.shape[0] and kernels[a, c, m] != 0:
                    picked[count] = a
                    count += 1
            shift = m - size // 2
            lo, hi = max(0, -shift), min(positions, positions - shift)
            start, stop, step = first + lo * batch, first + hi * batch, shift * batch
            # conv^T: the tap reads the source at f and writes f + shift
            read, write = (start, start + step) if transposed else (start + step, start)
            length = stop - start
            target = out[write:write + length]
            j = 0
            while j + 4 <= count:
                a0, a1, a2, a3 = picked[j], picked[j + 1], picked[j + 2], picked[j + 3]
                _axpy4(kernels[a0, c, m], sources[rows[a0] + offset, read:read + length],
                       kernels[a1, c, m], sources[rows[a1] + offset, read:read + length],
                       kernels[a2, c, m], sources[rows[a2] + offset, read:read + length],
                       kernels[a3, c, m], sources[rows[a3] + offset, read:read + length], target)
                j += 4
            for a in picked[j:count]:
                _axpy(kernels[a, c, m], sources[rows[a] + offset, read:read + length], target)


@numba.njit(cache=True, nogil=True)
def _compiled_forward(z, first_rows, kernels, positions, current, u, v, i_keep, v_keep, threshold, scale, mask,
                      spikes, voltage, history):
    """The forward on the CPU, every step in one call: ``current`` ``[N, B]`` =
    the lag convolutions of the history (:func:`_compiled_lag_conv`, rows
    ``first_rows + t``) + ``z[t]``, then the neurons
    (:func:`~lava_convdelay.nn.cuba_recurrence._compiled_fire`, the rest of the
    arguments), ``z`` ``[T, N, B]``."""
    sources = history.reshape(history.shape[0], -1)
    flat = current.ravel()
    for t in range(z.shape[0]):
        _compiled_lag_conv(sources, first_rows, t, kernels, positions, False, flat)
        flat += z[t].ravel()  # after the convolutions: the order of the per-channel products
        _compiled_fire(t, current, u, v, i_keep, v_keep, threshold, scale, mask, spikes, voltage, history)


@numba.njit(cache=True, nogil=True)
def _compiled_backward(active, kernels, positions, i_keep, v_keep, mask, grad_spikes, surrogate, grad_h, grad_v,
                       grad_current):
    """The backward's steps on the CPU in one call, latest first: ``dL/dh(t)``
    (``grad_h``) = the transposed lag convolutions of ``grad_current`` of steps
    ``t + 1 + active``, then the neurons' chain
    (:func:`~lava_convdelay.nn.cuba_recurrence._compiled_back_chain`) to ``grad_current[t]``."""
    steps = grad_spikes.shape[0]
    sources = grad_current.reshape(steps, -1)
    flat = grad_h.ravel()
    for t in range(steps - 1, -1, -1):
        _compiled_lag_conv(sources, active, t + 1, kernels, positions, True, flat)
        _compiled_back_chain(t, i_keep, v_keep, mask, grad_spikes, surrogate, grad_h, grad_v, grad_current)


def _tensor_lag_conv(sources: torch.Tensor, rows: torch.Tensor, kernels: torch.Tensor, transposed: bool,
                     out: torch.Tensor) -> None:
    """:func:`_compiled_lag_conv` as tensor operations: ``out`` ``[C, F, B]`` =
    ``sum_a conv_{kernels[a]}(sources[rows[a]])``, ``sources`` ``[R, C, F, B]``,
    ``rows`` all valid: one contraction over the lags per tap."""
    window = sources.index_select(0, rows)  # [A, C, F, B]
    size = kernels.shape[2]
    out.zero_()
    for m in range(size):
        target, source = _overlap(m - size // 2, out.shape[1])
        if transposed:
            target, source = source, target
        out[:, target] += torch.einsum("ac,acfb->cfb", kernels[:, :, m], window[:, :, source])


def _lag_kernels(weight: torch.Tensor, lag_kernel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(active [A] lags, G [A, C, k])``: the lags some delay channel weighs
    and their combined kernels ``G_l = sum_d w_d[l] K_d``."""
    active = lag_kernel.detach().ne(0).any(0).nonzero().flatten()
    kernels = torch.einsum("dl,dcm->lcm", lag_kernel.detach()[:, active], weight.detach()).contiguous()
    return active, kernels


def _forward_loop(z, active, kernels, lags, positions, mask, c: CubaConstants, keep: bool):
    """Exact forward: ``z`` ``[T, N, B]`` -> spikes ``[T, N, B]``, the history ``[L + T, N, B]`` and, if
    ``keep``, the pre-reset voltages (SLAYER units)."""
    steps, n, batch = z.shape
    history, spikes = spike_buffers(z, lags, mask, keep)
    voltage = torch.empty_like(spikes) if keep else None
    current = z.new_empty(n, batch)
    first_rows = lags - 1 - active  # history row of h(t - 1 - l) at t = 0
    if _compiled(z):
        neurons = _CompiledNeurons(c, current, None, None, mask, spikes, voltage, history, keep)
        _compiled_forward(z.contiguous().numpy(), first_rows.numpy(), kernels.numpy(), positions,
                          *neurons.fire_args)
    else:
        tensor_neurons = _TensorNeurons(c, current, None, None, mask, spikes, voltage, history, keep)
        sources = history.view(lags + steps, -1, positions, batch)
        for t in range(steps):
            _tensor_lag_conv(sources, first_rows + t, kernels, False, current.view(sources.shape[1:]))
            current.add_(z[t])
            tensor_neurons.fire(t)
    if voltage is None:
        return spikes, None, history
    return spikes, voltage.div_(c.scale), history


def _lag_products(grad: torch.Tensor, history: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """``[L, C, k]`` ``P[l, c, m] = sum_t <grad(t)[c, f], h(t - 1 - l)[c, f + m - k // 2]>``
    (over positions ``f`` and the batch) from ``grad`` ``[T, N, B]`` and
    ``history`` ``[L + T, N, B]``: per tap and block of ``L`` steps one matrix
    product of the block's gradients with the history rows it reaches, whose
    diagonals are the lags."""
    steps, n, batch = grad.shape
    lags = history.shape[0] - steps
    positions = n // channels
    grad, history = grad.view(steps, channels, -1), history.view(lags + steps, channels, -1)
    result = grad.new_zeros(lags, channels, size)
    for c in range(channels):
        for m in range(size):
            target, source = _overlap(m - size // 2, positions)
            rows = grad[:, c, target.start * batch:target.stop * batch]
            columns = history[:, c, source.start * batch:source.stop * batch]
            for start in range(0, steps, lags):
                stop = min(steps, start + lags)
                # products[i, j] = <grad(start + i), h row start + j>; lag l is j - i = L - 1 - l
                products = rows[start:stop] @ columns[start:stop + lags - 1].T
                span = stop - start
                diagonals = products.as_strided((lags, span), (1, span + lags))
                result[:, c, m] += diagonals.sum(1).flip(0)
    return result


class _DelayChannelCuba(torch.autograd.Function):
    """``[T, N, B]`` in (a view) and out; see :func:`delay_channel_cuba`."""

    @staticmethod
    def forward(ctx, z, weight, lag_kernel, mask, positions, constants, shifted):
        keep = any(ctx.needs_input_grad)
        active, kernels = _lag_kernels(weight, lag_kernel)
        lags = lag_kernel.shape[1]
        spikes, voltage, history = _forward_loop(z, active, kernels, lags, positions, mask, constants, keep)
        if keep:
            ctx.save_for_backward(weight, lag_kernel, mask, voltage, history, active, kernels)
            ctx.constants, ctx.positions, ctx.shifted = constants, positions, shifted
        return later_steps(spikes, history) if shifted else spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        weight, lag_kernel, mask, voltage, history, active, kernels = ctx.saved_tensors
        grad_spikes = earlier_steps(grad_spikes) if ctx.shifted else grad_spikes.contiguous()
        steps = grad_spikes.shape[0]
        grad_current = torch.empty_like(grad_spikes)  # row t: dL/dI(t) = dL/du(t)
        surrogate = ctx.constants.surrogate(voltage)
        if _compiled(grad_spikes):
            compiled = _CompiledBackward(ctx.constants, None, None, mask, grad_spikes, surrogate, None, grad_current)
            _compiled_backward(active.numpy(), kernels.numpy(), ctx.positions, *compiled.chain_args)
        else:
            back = _TensorBackward(ctx.constants, None, None, mask, grad_spikes, surrogate, None, grad_current)
            sources = grad_current.view(steps, -1, ctx.positions, grad_spikes.shape[2])
            for t in range(steps - 1, -1, -1):  # dL/dh(t) from the currents of steps t + 1 + l
                rows = active + t + 1
                valid = rows < steps
                _tensor_lag_conv(sources, rows[valid], kernels[valid], True, back.grad_h.view(sources.shape[1:]))
                back.chain(t)
        grad_weight = grad_lag = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            products = _lag_products(grad_current, history, weight.shape[1], weight.shape[2])
            if ctx.needs_input_grad[1]:
                grad_weight = torch.einsum("dl,lcm->dcm", lag_kernel.detach(), products)
            if ctx.needs_input_grad[2]:
                grad_lag = torch.einsum("dcm,lcm->dl", weight.detach(), products)
        return grad_current, grad_weight, grad_lag, None, None, None, None


def delay_channel_cuba(z: torch.Tensor, weight: torch.Tensor, lag_kernel: torch.Tensor, constants: CubaConstants,
                       mask: torch.Tensor | None = None, shifted: bool = False) -> torch.Tensor:
    """Spikes ``[B, N, T]`` of a delay-channel recurrent CUBA layer driven by ``z`` ``[B, N, T]``.

    Args:
        z: feed-forward input current per step (SLAYER units).
        weight: ``[D, C, k]`` the delay channels' depthwise kernels (quantized,
            ``N = C * F`` neurons channel-major).
        lag_kernel: ``[D, L]`` each delay channel's lag kernel: column ``c``
            weighs the spike of step ``t - 1 - c``.
        mask: ``[B, N]`` recurrent dropout (scales what the recurrence sees).
        shifted: return the spikes one step later (SLAYER's ``delay_shift``;
            in inference a view of the loop's buffer, no copy).
    Differentiable in ``z``, ``weight`` and ``lag_kernel``; the same spikes and
    gradients as :func:`lava_convdelay.nn.cuba_recurrence.recurrent_cuba` with
    the per-channel product.
    """
    channels = weight.shape[1]
    if z.shape[1] % channels or weight.shape[0] != lag_kernel.shape[0]:
        raise ValueError(f"{z.shape[1]} neurons, kernels {tuple(weight.shape)} and lag kernel "
                         f"{tuple(lag_kernel.shape)} do not fit together")
    if mask is not None:
        mask = mask.T.to(z.dtype).contiguous()
    z = time_major(z)
    spikes = _DelayChannelCuba.apply(z, weight, lag_kernel, mask, z.shape[1] // channels, constants, shifted)
    return spikes.permute(2, 1, 0)
