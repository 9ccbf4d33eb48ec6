"""The time loop of a recurrent CUBA-LIF layer as one autograd function.

A recurrent layer must step time; stepping it with autograd records some
forty small operations per step and replays them backwards, which dominates
training time on a CPU. :func:`recurrent_cuba` runs the loop once without
autograd, in the exact fixed-point arithmetic of SLAYER's CUBA neuron (so the
spikes are bit-identical to SLAYER's and Lava's)::

    I(t)   = z(t) + R read(t),   read_r(t) = sum_c K[r, c] h_{r mod N}(t - 1 - c)
    u      = trunc0(u * (4096 - iDecay) / 4096) + trunc0(4096 * I)
    v      = trunc0(v * (4096 - vDecay) / 4096) + u
    s      = v >= 4096 * threshold;   v = 0 where s
    h(t)   = s(t) * mask

(states in units of 1/4096; ``K`` the ``[R, L]`` lag kernel of
:func:`lava_convdelay.nn.delays.delay_kernel`, column ``c`` = lag ``c + 1``;
``mask`` the recurrent dropout), and back-propagates through time by hand,
with the gradients SLAYER's backward uses: straight through the rounding and
the reset, ``u`` and ``v`` decaying by ``(4096 - decay) / 4096``, and SLAYER's
surrogate ``scale_rho / (2 tau_rho) exp(-|v - threshold| / tau_rho)`` for
the spike. What does not depend on time order is done once per sequence
(surrogate, weight and kernel gradients).

A layer reads ``R = copies * N`` rows of its own spike history per step: one
per neuron (``R = N``, a delay per presynaptic neuron: DelRec, CRSNN), or
``D`` delayed copies of every neuron (``R = D * N``, row ``d * N + j``: the
delay channels of :mod:`lava_convdelay.nn.delay_channels`, one lag kernel
per channel); the product maps the ``[R, B]`` reads to ``[N, B]`` currents.

``R`` is the recurrent synapse's *product*
(:mod:`lava_convdelay.nn.recurrent_synapse`): a dense matrix, or a convolution
applied as its taps (``O(N k C)`` per step); the loop calls it once per step
forward and once backward and asks it for the weight gradient at the end.
Inside the loop a step's signal is ``[N, B]`` (neuron-major: a neuron's batch
is contiguous). On the CPU the rest of a step -- the neurons' integer
arithmetic and the next read forward, the chain through ``u`` and ``v``
backward -- is one compiled (numba) call working in place, so a step costs
its arithmetic rather than a dozen tensor operations and their allocations;
on other devices the same steps run as tensor operations (the same
arithmetic, up to fused multiply-adds in float reads: the tests run both).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from lava.lib.dl.slayer.neuron import cuba
from lava.lib.dl.slayer.utils import quantize

from lava_convdelay.limits import STATE_UNIT
from lava_convdelay.nn.time_major import earlier_steps, later_steps, time_major


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

    scale: int  # state units per SLAYER unit (STATE_UNIT)
    i_keep: int  # STATE_UNIT - iDecay
    v_keep: int  # STATE_UNIT - vDecay
    threshold: float  # SLAYER units; a spike where v >= threshold
    tau_rho: float
    scale_rho: float

    @classmethod
    def of(cls, neuron: cuba.Neuron) -> CubaConstants:
        return cls(scale=int(neuron.s_scale),
                   i_keep=STATE_UNIT - int(quantize(neuron.current_decay).item()),
                   v_keep=STATE_UNIT - int(quantize(neuron.voltage_decay).item()),
                   threshold=float(neuron.threshold + neuron.threshold_eps),
                   tau_rho=float(neuron.tau_rho * cuba.TAU_RHO_MULT),
                   scale_rho=float(neuron.scale_rho * cuba.SCALE_RHO_MULT))

    def surrogate(self, v: torch.Tensor) -> torch.Tensor:
        """SLAYER's spike derivative at voltage ``v`` (SLAYER units), in one new tensor."""
        out = torch.sub(v, self.threshold).abs_().div_(-self.tau_rho).exp_()
        return out.mul_(self.scale_rho / 2 / self.tau_rho)


@numba.njit(cache=True, nogil=True, inline="always")
def _neuron(u, v, x, i_keep, v_keep, threshold, scale):
    """One CUBA neuron's step in the fixed-point arithmetic: ``(u, v before
    the reset, fired)`` from its ``u``, ``v`` and input current ``x``."""
    p = u * i_keep
    uu = ((p + ((p >> 63) & 4095)) >> 12) + np.int64(x * scale)
    q = v * v_keep
    vv = ((q + ((q >> 63) & 4095)) >> 12) + uu
    return uu, vv, np.float32(vv) >= threshold  # torch compares int64 with a float in float32


@numba.njit(cache=True, nogil=True)
def _compiled_fire(t, current, u, v, i_keep, v_keep, threshold, scale, mask, spikes, voltage, history):
    """The neurons of step ``t`` on the CPU, in place: ``current`` ``[N, B]``
    -> ``u``, ``v`` (int64 ``[N * B]``), ``spikes[t]``,
    ``voltage[t % len(voltage)]`` and ``h(t)`` = ``history[L + t]``.

    What :class:`_TensorNeurons` computes: the float32 comparison torch
    makes. Flat, branch-free loops, so that they compile to vector
    instructions; where ``spikes`` are the history's own rows
    (:func:`spike_buffers`) one loop writes them once, as a loop writing
    the same memory through two arrays runs unvectorized (2-5x slower)."""
    steps = spikes.shape[0]
    lags = history.shape[0] - steps
    x, m = current.ravel(), mask.ravel()
    fired_t, h = spikes[t].ravel(), history[lags + t].ravel()
    before_reset = voltage[t % voltage.shape[0]].ravel()
    if fired_t.ctypes.data == h.ctypes.data:
        for k in range(x.size):
            uu, vv, fired = _neuron(u[k], v[k], x[k], i_keep, v_keep, threshold, scale)
            u[k] = uu
            before_reset[k] = vv
            h[k] = np.float32(fired) * m[k]
            v[k] = 0 if fired else vv
        return
    for k in range(x.size):
        uu, vv, fired = _neuron(u[k], v[k], x[k], i_keep, v_keep, threshold, scale)
        u[k] = uu
        before_reset[k] = vv
        s = np.float32(fired)
        fired_t[k] = s
        h[k] = s * m[k]
        v[k] = 0 if fired else vv


@numba.njit(cache=True, nogil=True)
def _compiled_step(t, current, u, v, i_keep, v_keep, threshold, scale, mask, spikes, voltage, history,
                   kernel_rows, lag_rows, reads):
    """Step ``t`` on the CPU, in place: the neurons (:func:`_compiled_fire`),
    then read ``t + 1`` into ``reads[(t + 1) % len(reads)]`` (``[R, B]``, row
    ``r`` from neuron ``r % N``): one history row per read row for a one-hot
    kernel (``lag_rows`` ``[R]``, else empty), else pulled lag by lag
    (``kernel_rows`` ``[L, R]``), streaming through whole history rows.

    Each read is summed oldest spike first, as :class:`_TensorNeurons`'
    scatter adds them (the last bit of a read can differ where one of them
    fuses a multiply-add; in integer mode every term is exact)."""
    _compiled_fire(t, current, u, v, i_keep, v_keep, threshold, scale, mask, spikes, voltage, history)
    steps, n, batch = spikes.shape
    lags = history.shape[0] - steps
    if t + 1 == steps:
        return
    target = reads[(t + 1) % reads.shape[0]]
    rows = target.shape[0]
    # rows taken as views and indexed from 0, no test for zero weights: these
    # forms vectorize (3-D or flat indexes at two offsets run 3-5x slower)
    if lag_rows.shape[0] > 0:  # read_r(t + 1) = h_j(t - d_r), j = r % N (no division per row)
        for first in range(0, rows, n):
            for j in range(n):
                row, source = target[first + j], history[t + 1 + lag_rows[first + j], j]
                for b in range(batch):
                    row[b] = source[b]
        return
    target[:] = 0  # read_r(t + 1) = sum_c K[r, c] h_j(t - c)
    for c in range(lags - 1, -1, -1):
        past, weights = history[lags + t - c], kernel_rows[c]
        for r in range(rows):
            weight, row, source = weights[r], target[r], past[r % n]
            for b in range(batch):
                row[b] += weight * source[b]


@numba.njit(cache=True, nogil=True, inline="always")
def _axpy(weight, x, y):
    """``y += weight * x`` over two slices: a loop LLVM vectorizes (indexing one
    long array at two offsets instead runs ~15x slower)."""
    for i in range(x.size):
        y[i] += weight * x[i]


@numba.njit(cache=True, nogil=True)
def _compiled_conv(x, kernel, positions, out):
    """``out`` ``[C_out * F * B]`` = the "same" convolution of ``x`` ``[C_in * F
    * B]`` with ``kernel`` ``[C_out, C_in, k]``, tap by tap in
    :class:`~lava_convdelay.nn.recurrent_synapse.ConvProduct`'s order (centre
    tap first, then the others, each over the input channels), so every
    current is the same sum in the same order; a tap is one contiguous run
    per channel pair (a shift of ``s`` positions is ``s * B``)."""
    channels_out, channels_in, size = kernel.shape
    width = out.size // channels_out
    batch = width // positions
    out[:] = 0
    for index in range(size):
        m = size // 2 if index == 0 else index - 1 + (index - 1 >= size // 2)
        shift = m - size // 2
        lo, hi = max(0, -shift), min(positions, positions - shift)
        for i in range(channels_in):
            source = x[i * width + (lo + shift) * batch:i * width + (hi + shift) * batch]
            for o in range(channels_out):
                _axpy(kernel[o, i, m], source, out[o * width + lo * batch:o * width + hi * batch])


@numba.njit(cache=True, nogil=True)
def _compiled_conv_forward(z, kernel, positions, current, u, v, i_keep, v_keep, threshold, scale, mask, spikes,
                           voltage, history, kernel_rows, lag_rows, reads):
    """The forward of a convolutional recurrence on the CPU, every step in one
    call: ``current`` = the convolution of ``read(t)`` (:func:`_compiled_conv`)
    + ``z[t]`` (``[T, N, B]``), then the neurons and the next read
    (:func:`_compiled_step`, the rest of the arguments)."""
    flat = current.ravel()
    for t in range(z.shape[0]):
        _compiled_conv(reads[t % reads.shape[0]].ravel(), kernel, positions, flat)
        flat += z[t].ravel()  # after the taps: the order of the product's sum
        _compiled_step(t, current, u, v, i_keep, v_keep, threshold, scale, mask, spikes, voltage, history,
                       kernel_rows, lag_rows, reads)


@numba.njit(cache=True, nogil=True)
def _compiled_back_step(t, i_keep, v_keep, mask, grad_spikes, surrogate, kernel_rows, lag_rows, grad_reads,
                        grad_h, grad_v, grad_current):
    """Step ``t`` of the backward on the CPU, in place: ``dL/dh(t)`` (into
    ``grad_h`` ``[N, B]``) pulled from the later reads' gradients
    ``grad_reads`` ``[T, R, B]`` (latest read first, as
    :class:`_TensorBackward` scatters them; read row ``r`` is neuron
    ``r % N``'s), then the neurons' chain (:func:`_compiled_back_chain`)."""
    steps, n, batch = grad_spikes.shape
    lags, rows = kernel_rows.shape
    grad_h[:] = 0
    if lag_rows.shape[0] > 0:  # one-hot kernel: h_j(t) was read by row r at t + 1 + d_r only
        for r in range(rows):
            later = t + lags - lag_rows[r]
            if later < steps:
                row, source = grad_h[r % n], grad_reads[later, r]  # views: as in _compiled_step
                for b in range(batch):
                    row[b] += source[b]
    else:
        for c in range(min(lags, steps - 1 - t) - 1, -1, -1):
            later, weights = grad_reads[t + 1 + c], kernel_rows[c]
            for r in range(rows):
                weight, row, source = weights[r], grad_h[r % n], later[r]
                for b in range(batch):
                    row[b] += weight * source[b]
    _compiled_back_chain(t, i_keep, v_keep, mask, grad_spikes, surrogate, grad_h, grad_v, grad_current)


@numba.njit(cache=True, nogil=True)
def _compiled_back_chain(t, i_keep, v_keep, mask, grad_spikes, surrogate, grad_h, grad_v, grad_current):
    """The neurons' chain of backward step ``t`` on the CPU, in place: from
    ``dL/dh(t)`` (``grad_h`` ``[N, B]``) to ``grad_v`` and ``grad_current[t]`` (``dL/du(t)``)."""
    steps, n, batch = grad_spikes.shape
    for j in range(n):
        for b in range(batch):
            grad_s = grad_spikes[t, j, b] + grad_h[j, b] * mask[j, b]
            gv = grad_v[j, b] * v_keep + grad_s * surrogate[t, j, b]
            grad_v[j, b] = gv
            later_u = grad_current[t + 1, j, b] if t + 1 < steps else 0
            grad_current[t, j, b] = gv + i_keep * later_u


class _CompiledNeurons:
    """The forward's neurons and reads on the CPU (:func:`_compiled_step`);
    ``keep``: keep every read (for the backward), else two rows. Without a
    ``kernel`` (``None``) it reads nothing: :attr:`fire_args` are
    :func:`_compiled_fire`'s, for a loop that computes the currents itself."""

    def __init__(self, c: CubaConstants, current, kernel, lag_rows, mask, spikes, voltage, history, keep):
        steps, n, batch = spikes.shape
        mask = torch.ones_like(current) if mask is None else mask
        if not keep:  # nothing to keep: one scratch row
            voltage = torch.empty_like(current)[None]
        self.fire_args = (current.numpy(), np.zeros(n * batch, np.int64), np.zeros(n * batch, np.int64),
                          c.i_keep, c.v_keep, np.float32(c.threshold * c.scale), c.scale, mask.numpy(),
                          spikes.numpy(), voltage.numpy(), history.numpy())
        if kernel is not None:
            self.reads = current.new_zeros(steps if keep else 2, kernel.shape[0], batch)
            lag_rows = torch.zeros(0, dtype=torch.int64) if lag_rows is None else lag_rows
            self.read_args = (kernel.detach().T.contiguous().numpy(), lag_rows.numpy(), self.reads.numpy())

    def read(self, t: int) -> torch.Tensor:
        """``[N, B]`` read(t), once steps ``< t`` are done."""
        return self.reads[t % self.reads.shape[0]]

    def step(self, t: int) -> None:
        _compiled_step(t, *self.fire_args, *self.read_args)


class _TensorNeurons:
    """The forward's neurons and reads as tensor operations (any device): what
    :class:`_CompiledNeurons` computes."""

    def __init__(self, c: CubaConstants, current, kernel, lag_rows, mask, spikes, voltage, history, keep):
        steps, n, batch = spikes.shape
        self.c, self.current, self.mask = c, current, mask
        self.spikes, self.voltage, self.history, self.keep = spikes, voltage, history, keep
        self.u = torch.zeros(n, batch, dtype=torch.int64, device=current.device)
        self.v, self.scaled = torch.zeros_like(self.u), torch.zeros_like(self.u)
        self.fired = torch.zeros_like(self.u, dtype=torch.bool)
        self.rows = self.kernel_rows = None
        if kernel is None:
            return
        rows, lags = kernel.shape
        if lag_rows is not None:  # read_r(t) is row lag_rows[r] * N + r % N of history[t:t + L] as [L * N, B]
            self.rows = lag_rows * n + torch.arange(rows, device=current.device) % n
            self.reads = current.new_zeros(steps if keep else 2, rows, batch)
        else:  # row t collects read(t): each h(t') is spread onto rows t' + 1 .. t' + L
            self.reads = current.new_zeros(steps + lags, rows, batch)
            # [L, copies, N, B]: row c is lag c + 1, expanded so the scatter runs over contiguous memory
            self.scatter_shape = (lags, rows // n, n, batch)
            self.kernel_rows = kernel.T[:, :, None].expand(lags, rows, batch).contiguous().view(self.scatter_shape)

    def read(self, t: int) -> torch.Tensor:
        """``[N, B]`` read(t), once steps ``< t`` are done."""
        return self.reads[t % self.reads.shape[0]]

    def fire(self, t: int) -> torch.Tensor:
        """The neurons of step ``t`` from ``current``: spikes, voltage and ``h(t)`` (returned, ``[N, B]``)."""
        c, u, v = self.c, self.u, self.v
        lags = self.history.shape[0] - self.spikes.shape[0]
        torch.div(u.mul_(c.i_keep), STATE_UNIT, rounding_mode="trunc", out=u)
        u.add_(self.scaled.copy_(self.current.mul_(c.scale)))  # the copy truncates toward zero
        torch.div(v.mul_(c.v_keep), STATE_UNIT, rounding_mode="trunc", out=v)
        v.add_(u)
        torch.ge(v, c.threshold * c.scale, out=self.fired)
        if self.keep:
            self.voltage[t].copy_(v)
        s = self.spikes[t].copy_(self.fired)
        h = self.history[lags + t]
        if self.mask is None:
            h.copy_(s)
        else:
            torch.mul(s, self.mask, out=h)
        v.masked_fill_(self.fired, 0)
        return h

    def step(self, t: int) -> None:
        h = self.fire(t)
        lags = self.history.shape[0] - self.spikes.shape[0]
        if self.rows is None:
            self.reads[t + 1:t + 1 + lags].view(self.scatter_shape).addcmul_(self.kernel_rows, h)
        elif t + 1 < self.spikes.shape[0]:
            n, batch = h.shape
            torch.index_select(self.history[t + 1:t + 1 + lags].view(lags * n, batch), 0, self.rows,
                               out=self.reads[(t + 1) % self.reads.shape[0]])


class _CompiledBackward:
    """The backward's steps on the CPU (:func:`_compiled_back_step`). Without
    a ``kernel`` (``None``) :attr:`chain_args` are :func:`_compiled_back_chain`'s,
    for a loop that writes ``dL/dh(t)`` into :attr:`grad_h` itself."""

    def __init__(self, c: CubaConstants, kernel, lag_rows, mask, grad_spikes, surrogate, grad_reads,
                 grad_current):
        mask = torch.ones_like(grad_spikes[0]) if mask is None else mask
        #: ``[N, B]`` dL/dh of the step being done
        self.grad_h = torch.zeros_like(grad_spikes[0])
        grad_v = np.zeros(mask.shape, grad_spikes.numpy().dtype)
        self.chain_args = (c.i_keep / STATE_UNIT, c.v_keep / STATE_UNIT, mask.numpy(), grad_spikes.numpy(),
                           surrogate.numpy(), self.grad_h.numpy(), grad_v, grad_current.numpy())
        if kernel is not None:
            lag_rows = torch.zeros(0, dtype=torch.int64) if lag_rows is None else lag_rows
            self.read_args = (kernel.detach().T.contiguous().numpy(), lag_rows.numpy(), grad_reads.numpy())

    def step(self, t: int) -> None:
        """``grad_current[t]``, once ``grad_reads`` of the later steps are known."""
        i_keep, v_keep, mask, grad_spikes, surrogate, grad_h, grad_v, grad_current = self.chain_args
        _compiled_back_step(t, i_keep, v_keep, mask, grad_spikes, surrogate, *self.read_args, grad_h, grad_v,
                            grad_current)


class _TensorBackward:
    """The backward's steps as tensor operations (any device): what
    :class:`_CompiledBackward` computes."""

    def __init__(self, c: CubaConstants, kernel, lag_rows, mask, grad_spikes, surrogate, grad_reads,
                 grad_current):
        steps, n, batch = grad_spikes.shape
        self.i_keep, self.v_keep = c.i_keep / STATE_UNIT, c.v_keep / STATE_UNIT
        self.mask, self.grad_spikes, self.surrogate = mask, grad_spikes, surrogate
        self.grad_reads, self.grad_current = grad_reads, grad_current
        self.rows, self.flipped_copies = None, []
        self.grad_s = torch.empty_like(grad_spikes[0])
        self.grad_v = torch.zeros_like(self.grad_s)
        self.grad_h = torch.zeros_like(self.grad_s)
        if kernel is None:
            return
        rows, lags = kernel.shape
        if lag_rows is not None:
            self.rows = lag_rows * n + torch.arange(rows, device=lag_rows.device) % n
        else:  # per copy [L, N, B]: row m is lag L - m
            flipped = kernel.flip(1).T[:, :, None].expand(lags, rows, batch).contiguous()
            self.flipped_copies = [flipped[:, d * n:(d + 1) * n] for d in range(rows // n)]
        # row L + t collects dL/dh(t): dL/d read(t) is spread back onto h(t - 1 - c), c < L
        self.grad_history = grad_spikes.new_zeros(lags + steps, n, batch)

    def step(self, t: int) -> None:
        """``grad_current[t]``, once ``grad_reads`` of the later steps are known."""
        lags = self.grad_history.shape[0] - self.grad_spikes.shape[0]
        if t + 1 < self.grad_spikes.shape[0]:  # spread dL/d read(t + 1) back
            later, grad_read = self.grad_history[t + 1:t + 1 + lags], self.grad_reads[t + 1]
            if self.rows is None:
                n = later.shape[1]
                for d, flipped in enumerate(self.flipped_copies):  # each copy of h(t) read through its own row
                    later.addcmul_(flipped, grad_read[d * n:(d + 1) * n])
            else:  # one-hot kernel: all of it goes back to the one row the forward read
                later.view(-1, grad_read.shape[1]).index_add_(0, self.rows, grad_read)
        self._chain(t, self.grad_history[lags + t])

    def chain(self, t: int) -> None:
        """``grad_current[t]`` from :attr:`grad_h`, once ``grad_current`` of the later steps is known."""
        self._chain(t, self.grad_h)

    def _chain(self, t: int, grad_h: torch.Tensor) -> None:
        grad_s, grad_v = self.grad_s, self.grad_v
        if self.mask is None:
            torch.add(self.grad_spikes[t], grad_h, out=grad_s)
        else:
            torch.addcmul(self.grad_spikes[t], grad_h, self.mask, out=grad_s)
        grad_v.mul_(self.v_keep).addcmul_(grad_s, self.surrogate[t])
        if t + 1 < self.grad_spikes.shape[0]:
            torch.add(grad_v, self.grad_current[t + 1] * self.i_keep, out=self.grad_current[t])
        else:
            self.grad_current[t].copy_(grad_v)


#: Run the loops' steps and the kernel gradient compiled on the CPU (tests switch
#: it off to check the tensor operations, which run on other devices).
COMPILED_ON_CPU = True


def _compiled(x: torch.Tensor) -> bool:
    return COMPILED_ON_CPU and x.device.type == "cpu"


def _forward_loop(z, product, kernel, lag_rows, mask, c: CubaConstants, keep: bool):
    """Exact forward: ``z`` ``[T, N, B]`` -> spikes ``[T, N, B]``, and if
    ``keep`` (for the backward) the pre-reset voltages (SLAYER units),
    recurrent reads ``[T, R, B]`` and history ``[L + T, N, B]`` (row ``L + t``
    holds ``h(t)``). ``lag_rows`` ``[R]`` (one-hot kernel, else None) is each
    read row's kernel column counted from the last, ``L - 1 - d``."""
    steps = z.shape[0]
    history, spikes = spike_buffers(z, kernel.shape[1], mask, keep)
    voltage = torch.empty_like(z) if keep else None
    current = torch.empty_like(z[0])
    neurons = (_CompiledNeurons if _compiled(z) else _TensorNeurons)(
        c, current, kernel, lag_rows, mask, spikes, voltage, history, keep)
    conv = getattr(product, "conv_kernel", None)
    if conv is not None and isinstance(neurons, _CompiledNeurons):  # a convolution's taps: one compiled call
        _compiled_conv_forward(z.numpy(), conv.numpy(), product.positions, *neurons.fire_args, *neurons.read_args)
    else:
        for t in range(steps):
            product.propagate(neurons.read(t), z[t], out=current)
            neurons.step(t)
    if voltage is None:  # nothing kept: no gradient is needed
        return spikes, None, None, history
    return spikes, voltage.div_(c.scale), neurons.reads[:steps], history


def spike_buffers(z: torch.Tensor, lags: int, mask: torch.Tensor | None,
                  keep: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(history [L + T, N, B] zeros, spikes [T, N, B])`` for a loop driven by
    ``z`` ``[T, N, B]``. Without a backward to keep for and without recurrent
    dropout the history holds the spikes themselves (``h = s``), so the
    spikes are its last ``T`` rows: one buffer, and the shifted output a
    view of it (:func:`~lava_convdelay.nn.time_major.later_steps`)."""
    history = z.new_zeros(lags + z.shape[0], *z.shape[1:])
    spikes = history[lags:] if not keep and mask is None else torch.empty_like(z)
    return history, spikes


class _RecurrentCuba(torch.autograd.Function):
    """``[T, N, B]`` in and out; see :func:`recurrent_cuba`."""

    @staticmethod
    def forward(ctx, z, weight, kernel, lag_rows, mask, constants, product, shifted):
        keep = any(ctx.needs_input_grad)
        spikes, voltage, reads, history = _forward_loop(z, product, kernel, lag_rows, mask, constants, keep)
        if keep:
            ctx.save_for_backward(kernel, lag_rows, mask, voltage, reads, history)
            ctx.constants = constants
            ctx.product = product
            ctx.shifted = shifted
        return later_steps(spikes, history) if shifted else spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        kernel, lag_rows, mask, voltage, reads, history = ctx.saved_tensors
        grad_spikes = earlier_steps(grad_spikes) if ctx.shifted else grad_spikes.contiguous()
        grad_current = torch.empty_like(grad_spikes)  # row t: dL/dI(t) = dL/du(t)
        grad_reads = torch.empty_like(reads)  # row t: dL/d read(t)
        steps = grad_spikes.shape[0]
        back = (_CompiledBackward if _compiled(grad_spikes) else _TensorBackward)(
            ctx.constants, kernel, lag_rows, mask, grad_spikes, ctx.constants.surrogate(voltage), grad_reads,
            grad_current)
        for t in range(steps - 1, -1, -1):
            back.step(t)
            ctx.product.propagate_transposed(grad_current[t], out=grad_reads[t])
        grad_weight = grad_kernel = None
        if ctx.needs_input_grad[1]:
            grad_weight = ctx.product.weight_gradient(grad_current, reads)
        if ctx.needs_input_grad[2]:
            grad_kernel = _kernel_gradient(grad_reads, history, kernel)
        return grad_current, grad_weight, grad_kernel, None, None, None, None, None


@numba.njit(cache=True, nogil=True)
def _compiled_kernel_gradient(grad_reads, history, kernel, out):
    """:func:`_kernel_gradient` on the CPU: read row by read row, so each
    row's history stays in cache for all its lags; partial sums per batch
    entry (contiguous, so vectorized). Only the lags from one before the row's
    first non-zero ``kernel`` weight to one after its last: elsewhere the delay
    rules' kernels have no derivative (:func:`_kernel_gradient`), so those are 0."""
    steps, rows, batch = grad_reads.shape
    n = history.shape[1]
    lags = history.shape[0] - steps
    partial = np.empty(batch, grad_reads.dtype)
    for r in range(rows):
        j = r % n
        first, last = lags, -1
        for c in range(lags):
            if kernel[r, c] != 0:
                first, last = min(first, c), c
        out[r, :] = 0
        for c in range(max(0, first - 1), min(lags, last + 2)):
            partial[:] = 0
            for t in range(steps):
                for b in range(batch):
                    partial[b] += grad_reads[t, r, b] * history[lags - 1 - c + t, j, b]
            out[r, c] = partial.sum()


def _kernel_gradient(grad_reads: torch.Tensor, history: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``[R, L]``: ``dL/dK[r, c] = sum over t, b of dL/d read_r(t) * h_{r mod N}(t - 1 - c)``,
    from ``grad_reads`` ``[T, R, B]`` and ``history`` ``[L + T, N, B]``.

    ``kernel`` ``[R, L]`` comes from a delay rule (:mod:`lava_convdelay.nn.delays`),
    whose derivative by the delay is zero outside its support widened by one lag
    (the triangle's support; at ``sigma = 0`` the one-hot lag and its neighbour, where
    the straight-through gradient lives): the compiled path leaves those entries 0.
    """
    steps, rows, batch = grad_reads.shape
    n = history.shape[1]
    lags = history.shape[0] - steps
    if _compiled(grad_reads):
        out = grad_reads.new_empty(rows, lags)
        _compiled_kernel_gradient(grad_reads.numpy(), history.numpy(), kernel.detach().numpy(), out.numpy())
        return out
    # row-major copies: each lag is a product and a sum over contiguous memory
    grads = grad_reads.transpose(0, 1).reshape(rows, steps * batch)
    past = history.transpose(0, 1).reshape(n, -1)  # [N, (L + T) * B]
    if rows > n:
        past = past.repeat(rows // n, 1)
    products = torch.empty_like(grads)
    result = grads.new_empty(lags, rows)
    for c in range(lags):
        start = (lags - 1 - c) * batch
        torch.sum(torch.mul(grads, past[:, start:start + steps * batch], out=products), 1, out=result[c])
    return result.T


def recurrent_cuba(z: torch.Tensor, product, kernel: torch.Tensor, constants: CubaConstants,
                   mask: torch.Tensor | None = None, one_hot: bool = False, shifted: bool = False) -> torch.Tensor:
    """Spikes ``[B, N, T]`` of a recurrent CUBA layer driven by ``z`` ``[B, N, T]``.

    Args:
        z: feed-forward input current per step (SLAYER units).
        product: the recurrent synapse's product
            (:meth:`~lava_convdelay.nn.recurrent_synapse.ConvRecurrentSynapse.recurrent_product`):
            applies ``R`` (one step's ``[R, B]`` reads -> ``[N, B]``) and its
            transpose, and gives the gradient of its quantized ``weight`` over
            the sequence.
        kernel: ``[R, L]`` lag kernel, ``R`` a multiple of ``N``: read row
            ``r`` reads neuron ``r % N``, column ``c`` weighing its spike of
            step ``t - 1 - c`` (delay ``d``: one-hot at column ``d``).
        mask: ``[B, N]`` recurrent dropout (scales what the recurrence sees).
        one_hot: the kernel is one-hot (integer delays): the forward gathers
            one lag per read row instead of weighing all of them (same values).
        shifted: return the spikes one step later (SLAYER's ``delay_shift``;
            in inference a view of the loop's buffer, no copy).
    Differentiable in ``z``, ``product.weight`` and ``kernel``. The result is
    a ``[B, N, T]`` view of ``[T, N, B]`` memory (:mod:`lava_convdelay.nn.time_major`).
    """
    lag_rows = None
    if kernel.shape[0] % z.shape[1]:
        raise ValueError(f"the lag kernel's {kernel.shape[0]} rows are not a multiple of the {z.shape[1]} neurons")
    if one_hot:  # the kernel column of each read row's lag, counted from the last
        lag_rows = kernel.detach().flip(1).argmax(1)
    if mask is not None:
        mask = mask.T.to(z.dtype).contiguous()
    z = time_major(z)
    spikes = _RecurrentCuba.apply(z, product.weight, kernel, lag_rows, mask, constants, product, shifted)
    return spikes.permute(2, 1, 0)
