"""Recurrent connectivity ``R``: dense ``N x N`` or a 1-D convolution over neurons.

Both map the delayed presynaptic signal of one step, ``[batch, N]``, to the
recurrent current ``[batch, N]``, with weights passed through ``pre_hook_fx``
(SLAYER's 8-bit quantizer in the blocks) once per forward pass via
:meth:`quantized`. Both can express themselves as a dense matrix
(:meth:`dense_matrix`), which is what export and the simulators use.

The blocks' fused time loop (:mod:`lava_convdelay.nn.cuba_recurrence`) applies
the recurrence through a *product* (:meth:`recurrent_product`): an object
that maps one step's reads to currents (:meth:`DenseProduct.propagate`), the
gradient back (``propagate_transposed``) and gives the weight gradient over
the whole sequence (``weight_gradient``), so the loop does not care which
synapse it runs. A convolution is applied as its ``k * C`` shifted taps
(:class:`ConvProduct`, ``O(N k C)`` per step), or as its banded matrix where
that is faster (small ``N``, :func:`conv_prefers_dense`).

Neuron order for the convolution: ``N = channels * positions`` and neuron
``n = c * positions + f`` (channel-major, as ``x.view(B, C, F)``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from lava.lib.dl.slayer.synapse import layer as slayer_synapse


class DenseRecurrentSynapse(torch.nn.Module):
    """Dense recurrence ``I = R x`` with ``R`` of shape ``[N, N]`` (post, pre).

    The weight is held by a SLAYER ``synapse.Dense`` so initialisation and
    state-dict layout match ``slayer.block.cuba.Recurrent``'s recurrent synapse.
    """

    def __init__(self, num_neurons: int, weight_scale: float = 1, pre_hook_fx=None):
        super().__init__()
        self.synapse = slayer_synapse.Dense(num_neurons, num_neurons, weight_scale=weight_scale)
        self.pre_hook_fx = pre_hook_fx
        self.num_neurons = num_neurons

    @property
    def weight(self) -> torch.nn.Parameter:
        """The raw ``[N, N, 1, 1, 1]`` weight that ``pre_hook_fx`` applies to."""
        return self.synapse.weight

    @property
    def weight_count(self) -> int:
        return self.num_neurons**2

    def quantized(self) -> torch.Tensor:
        """``[N, N]`` weights after ``pre_hook_fx`` (differentiable)."""
        weight = self.synapse.weight.reshape(self.num_neurons, self.num_neurons)
        return weight if self.pre_hook_fx is None else self.pre_hook_fx(weight)

    @staticmethod
    def propagate(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, N]`` -> ``[B, N]`` with the quantized ``weight``."""
        return x @ weight.T

    def dense_matrix(self) -> torch.Tensor:
        return self.quantized()

    def recurrent_product(self) -> DenseProduct:
        """The fused time loop's product, from the quantized weights (differentiable)."""
        return DenseProduct(self.quantized())


class ConvRecurrentSynapse(torch.nn.Module):
    """Convolutional recurrence over neuron positions (CRSNN).

    Args:
        channels: ``C``; neurons are ``C x F`` with ``F = num_neurons / C``.
        num_neurons: ``N``.
        kernel_size: odd ``k``; zero padding "same" (``k // 2`` each side).
    The weight has shape ``[C_out, C_in, k]``; ``C = 1, k = 3`` is the paper's
    CRSNN, in which neuron ``i`` hears neurons ``i - 1, i, i + 1``.
    """

    def __init__(self, num_neurons: int, channels: int = 1, kernel_size: int = 3,
                 weight_scale: float = 1, pre_hook_fx=None):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
        if channels < 1 or num_neurons % channels:
            raise ValueError(
                f"num_neurons={num_neurons} must be a multiple of channels={channels}"
            )
        self.channels = channels
        self.positions = num_neurons // channels
        if kernel_size > 2 * self.positions - 1:
            raise ValueError(
                f"kernel_size={kernel_size} is wider than the {self.positions} positions allow"
            )
        self.kernel_size = kernel_size
        self.num_neurons = num_neurons
        self.pre_hook_fx = pre_hook_fx
        #: How the fused time loop applies the convolution: "auto"
        #: (:func:`conv_prefers_dense`), "taps" or "dense"; all give the same
        #: spikes and gradients, only the time differs.
        self.product = "auto"
        bound = weight_scale / math.sqrt(channels * kernel_size)  # PyTorch's conv default init
        self.weight = torch.nn.Parameter(
            torch.empty(channels, channels, kernel_size).uniform_(-bound, bound)
        )

    @property
    def weight_count(self) -> int:
        return self.kernel_size * self.channels**2

    def quantized(self) -> torch.Tensor:
        """``[C, C, k]`` weights after ``pre_hook_fx`` (differentiable)."""
        return self.weight if self.pre_hook_fx is None else self.pre_hook_fx(self.weight)

    def propagate(self, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, N]`` -> ``[B, N]`` with the quantized ``weight``."""
        batch = x.shape[0]
        out = F.conv1d(x.view(batch, self.channels, self.positions), weight,
                       padding=self.kernel_size // 2)
        return out.reshape(batch, self.num_neurons)

    def dense_matrix(self) -> torch.Tensor:
        """The equivalent banded ``[N, N]`` (post, pre) matrix."""
        return conv_to_dense(self.quantized(), self.positions)

    def recurrent_product(self) -> DenseProduct | ConvProduct:
        """The fused time loop's product, from the quantized weights
        (differentiable): the convolution's taps, or its banded matrix."""
        if self.product not in ("auto", "taps", "dense"):
            raise ValueError(f"product must be 'auto', 'taps' or 'dense', got {self.product!r}")
        dense = (self.product == "dense" or self.product == "auto"
                 and conv_prefers_dense(self.num_neurons, self.channels, self.kernel_size))
        if dense:
            return DenseProduct(self.dense_matrix())
        return ConvProduct(self.quantized(), self.positions)


def conv_to_dense(weight: torch.Tensor, positions: int) -> torch.Tensor:
    """Banded ``[C*F, C*F]`` matrix of a "same"-padded 1-D convolution.

    ``weight`` is ``[C_out, C_in, k]`` (PyTorch cross-correlation): output
    ``(o, f)`` takes ``weight[o, i, m] * x[i, f + m - k // 2]``.
    """
    c_out, c_in, k = weight.shape
    dense = weight.new_zeros(c_out, positions, c_in, positions)
    f = torch.arange(positions, device=weight.device)
    for m in range(k):
        src = f + m - k // 2
        ok = (src >= 0) & (src < positions)
        dense[:, f[ok], :, src[ok]] = weight[:, :, m][None].expand(int(ok.sum()), -1, -1)
    return dense.reshape(c_out * positions, c_in * positions)


class DenseProduct:
    """A recurrence ``R`` applied as a dense ``[N, R]`` (post, pre) matrix:
    ``B N R`` multiply-adds per step (``R = N``, or ``D * N`` reads of ``D``
    delay channels).

    A step's signal is ``[N, B]`` (reads ``[R, B]``) (neuron-major, as the fused time loop keeps
    it); ``weight`` is the tensor the loop differentiates
    (:meth:`weight_gradient` has its shape).
    """

    def __init__(self, weight: torch.Tensor):
        self.weight = weight

    def propagate(self, x: torch.Tensor, base: torch.Tensor, out: torch.Tensor) -> None:
        """``out = base + R x`` for ``x`` ``[R, B]``, ``base``, ``out`` ``[N, B]``."""
        torch.addmm(base, self.weight, x, out=out)

    def propagate_transposed(self, grad: torch.Tensor, out: torch.Tensor) -> None:
        """``out = R^T grad`` (``[R, B]``): the gradient of :meth:`propagate` wrt ``x``."""
        torch.mm(self.weight.T, grad, out=out)

    def weight_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``[N, R]`` gradient of ``sum_t grad(t) . R x(t)``; ``grad`` ``[T, N, B]``, ``x`` ``[T, R, B]``."""
        return grad.transpose(0, 1).reshape(grad.shape[1], -1) @ x.transpose(0, 1).reshape(x.shape[1], -1).T


class ConvProduct:
    """A "same"-padded 1-D convolution over positions (:class:`ConvRecurrentSynapse`)
    applied as its ``k * C`` shifted taps: ``B N k C`` multiply-adds and
    ``k * C + 1`` tensor operations per step, no ``N x N`` matrix.

    A step's signal is ``[N, B]`` (neuron-major, ``N = C * F``), so a tap is a
    shifted block of rows. ``weight`` ``[C, C, k]`` is the tensor the fused
    time loop differentiates. In integer mode (0/1 reads, quantized weights)
    every product and partial sum is exact, so the currents equal
    :class:`DenseProduct`'s of the banded matrix bit for bit; with real-valued
    reads they differ only in summation order.
    """

    def __init__(self, weight: torch.Tensor, positions: int):
        self.weight = weight
        self.channels = weight.shape[0]
        self.positions = positions
        values = weight.detach()
        #: ``[C, C, k]`` for a compiled loop that applies the taps itself
        #: (:func:`~lava_convdelay.nn.cuba_recurrence._compiled_conv`, the same order)
        self.conv_kernel = values.contiguous()
        self._taps = _taps(values, positions)
        # the transposed convolution ("same", odd k) is the convolution with
        # the kernel's channels swapped and its taps reversed
        self._transposed_taps = _taps(values.transpose(0, 1).flip(2), positions)

    def propagate(self, x: torch.Tensor, base: torch.Tensor, out: torch.Tensor) -> None:
        """``out = base + conv(x)`` for ``x``, ``base``, ``out`` ``[N, B]``."""
        self._apply(self._taps, x, out)
        out.add_(base)  # after the taps: the same sum as the dense product's

    def propagate_transposed(self, grad: torch.Tensor, out: torch.Tensor) -> None:
        """``out = conv^T(grad)`` (``[N, B]``): the gradient of :meth:`propagate` wrt ``x``."""
        self._apply(self._transposed_taps, grad, out)

    def weight_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``[C, C, k]`` gradient of ``sum_t grad(t) . conv(x(t))``;
        ``grad`` and ``x`` ``[T, N, B]``: per tap, one batched product over
        the steps of the overlapping positions (a shift of ``s`` positions is
        a shift of ``s * B`` in the flattened ``[F * B]`` rows, so no copies)."""
        steps, _, batch = x.shape
        size = self.weight.shape[2]
        grad = grad.reshape(steps, self.channels, -1)
        x = x.reshape(grad.shape)
        result = self.weight.new_empty(self.weight.shape)
        for m in range(size):
            target, source = _overlap(m - size // 2, self.positions)
            rows = grad[..., target.start * batch:target.stop * batch]
            columns = x[..., source.start * batch:source.stop * batch].transpose(1, 2)
            result[:, :, m] = torch.bmm(rows, columns).sum(0)
        return result

    def _apply(self, taps: list, x: torch.Tensor, out: torch.Tensor) -> None:
        """``out = sum`` over ``taps`` of weight times shifted ``x`` (``[N, B]`` each)."""
        (weight, channel, _, _), *rest = taps  # a centre tap: it covers every position
        if self.channels == 1:  # scalar weights: one axpy per tap
            torch.mul(x, weight, out=out)
            for weight, _, target, source in rest:
                out[target].add_(x[source], alpha=weight)
            return
        x = x.view(self.channels, self.positions, -1)
        out = out.view(x.shape)
        torch.mul(x[channel:channel + 1], weight, out=out)
        for weight, channel, target, source in rest:
            out[:, target].addcmul_(x[channel:channel + 1, source], weight)


def _overlap(shift: int, positions: int) -> tuple[slice, slice]:
    """Positions ``f`` that read ``f + shift`` inside ``[0, positions)``, and those read."""
    lo, hi = max(0, -shift), min(positions, positions - shift)
    return slice(lo, hi), slice(lo + shift, hi + shift)


def _taps(kernel: torch.Tensor, positions: int) -> list:
    """:class:`ConvProduct`'s taps of a ``[C_out, C_in, k]`` kernel, centre taps
    first: ``(weight, input channel, target slice, source slice)``, the weight a
    float for one channel, else the ``[C_out, 1, 1]`` column."""
    channels_out, channels_in, size = kernel.shape
    taps = []
    for m in [size // 2] + [m for m in range(size) if m != size // 2]:
        target, source = _overlap(m - size // 2, positions)
        for c in range(channels_in):
            weight = (float(kernel[0, 0, m]) if channels_out == 1
                      else kernel[:, c, m].reshape(channels_out, 1, 1).clone())
            taps.append((weight, c, target, source))
    return taps


#: The banded product costs ``~N^2`` per step, the taps ``k * C`` tensor
#: operations (dispatch-bound at small ``N``); measured at batch 16 by
#: ``bench/bench_scaling.py --crossover`` (BENCHMARKS.md), they cross near
#: ``N^2 = TAP_COST * k * C``: ``N = 128 - 192`` for ``C = 1, k = 3``, about
#: 450 - 600 for ``C = 4, k = 5``.
TAP_COST = 10_000


def conv_prefers_dense(num_neurons: int, channels: int, kernel_size: int) -> bool:
    """Whether the banded ``N x N`` product is faster than the ``k * C`` taps:
    ``N^2 < TAP_COST * k * C`` (``N`` below 173 for ``C = 1, k = 3``, 447 for
    ``C = 4, k = 5``). Both give the same spikes and gradients."""
    return num_neurons * num_neurons < TAP_COST * kernel_size * channels
