"""Time-major storage for the recurrent blocks' ``[B, N, T]`` tensors.

The fused time loops (:mod:`lava_convdelay.nn.cuba_recurrence`,
:mod:`lava_convdelay.nn.delay_channel_recurrence`) step through ``[T, N, B]``
memory: a step is one contiguous ``[N, B]`` slice. A block's public tensors
stay ``[batch, neurons, time]``, but where they are *views* of ``[T, N, B]``
memory (``t.permute(2, 1, 0)``), handing one from block to block costs no
transposing copy. Each such copy of a ``[16, 1024, 100]`` tensor costs about
5 ms on one core, as much as the delay-channel loop's whole forward
(``bench/bench_scaling.py``), so the blocks keep their outputs time-major.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

#: Below this fraction of nonzero inputs the event-driven product
#: (:func:`_event_synapse`) beats the dense one on the CPU (measured at N =
#: 1024, 140 inputs, batch 16, T = 100, one thread: 3.8 against 8.2 ms at 5 %
#: density, about equal at 23 %).
EVENT_DENSITY = 0.2


def time_major(x: torch.Tensor) -> torch.Tensor:
    """``[T, N, B]`` contiguous from ``x`` ``[B, N, T]``: a view where ``x`` is a
    view of time-major memory, else one transposing copy."""
    return x.permute(2, 1, 0).contiguous()


def shift_one_step(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``[B, N, T]`` one step later (zeros at ``t = 0``, the last step
    dropped), as a ``[B, N, T]`` view of new ``[T, N, B]`` memory: SLAYER's
    ``delay_shift`` (one step of synaptic latency per layer, as in Lava)."""
    return later_steps(time_major(x)).permute(2, 1, 0)


def later_steps(steps: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
    """``steps`` ``[T, N, B]`` one step later (zeros at ``t = 0``, the last
    step dropped). Where ``steps`` are the last ``T`` rows of ``history``
    ``[L + T, N, B]`` (the time loops' buffer in inference, whose rows
    before the first step are zero), it is the view ``history[L - 1:L - 1 +
    T]``, no copy; else a new tensor."""
    count = steps.shape[0]
    if history is not None and count and history.shape[0] > count:
        lags = history.shape[0] - count
        if steps.data_ptr() == history[lags].data_ptr() and steps.stride() == history.stride():
            return history[lags - 1:lags - 1 + count]
    return torch.cat((torch.zeros_like(steps[:1]), steps[:-1]))


def earlier_steps(grad: torch.Tensor) -> torch.Tensor:
    """The gradient of :func:`later_steps`: ``grad`` ``[T, N, B]`` one step
    earlier (row ``t`` is ``grad[t + 1]``, the last row zero)."""
    return torch.cat((grad[1:], torch.zeros_like(grad[:1])))


def dense_synapse_time_major(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``W x(t)`` for every step, ``weight`` ``[N, M]``, ``x`` ``[B, M, T]`` ->
    ``[B, N, T]`` (a view of ``[T, N, B]`` memory): SLAYER's ``synapse.Dense``
    (a 1 x 1 x 1 ``conv3d``) as one batched matrix product in the loops' layout.

    Summation order differs from the ``conv3d``'s; on spikes and 8-bit
    weights every product and partial sum is exact (a multiple of the weight
    step, far inside float32's 24-bit mantissa for fan-ins below ~65,000), so
    the currents are the same bit for bit, which is where the blocks use it
    (integer inference).
    Sparse input on the CPU (under :data:`EVENT_DENSITY`) is applied event by
    event: each nonzero input adds its weight column, the cost of a spike
    rather than of every input."""
    if x.device.type == "cpu" and x.dtype == weight.dtype and int(x.count_nonzero()) < EVENT_DENSITY * x.numel():
        batch, _, steps = x.shape
        out = x.new_empty(steps, weight.shape[0], batch)
        _event_synapse(x.detach().numpy(), weight.detach().T.contiguous().numpy(), out.numpy())
        return out.permute(2, 1, 0)
    return torch.matmul(weight, time_major(x)).permute(2, 1, 0)


@numba.njit(cache=True, nogil=True)
def _event_synapse(x, weight_t, out):
    """``out`` ``[T, N, B]`` = ``W x(t)`` from ``x`` ``[B, M, T]`` (any strides)
    and ``weight_t`` = ``W^T`` ``[M, N]``: per step and sample, the columns of
    the nonzero inputs summed into one contiguous row, then written out."""
    batch, inputs, steps = x.shape
    row = np.empty(weight_t.shape[1], out.dtype)
    for t in range(steps):
        target = out[t]
        for b in range(batch):
            row[:] = 0
            for i in range(inputs):
                value = x[b, i, t]
                if value != 0:
                    column = weight_t[i]
                    for j in range(row.size):
                        row[j] += value * column[j]
            for j in range(row.size):
                target[j, b] = row[j]
