"""Delay channels: the method's second form of convolutional recurrence.

``D`` delay channels, each with one learnable delay ``d_d`` shared by every
neuron and its own depthwise convolution kernel ``K_d`` ``[C, k]`` over the
``F`` positions of each of the ``C`` channels (``N = C * F`` neurons,
channel-major: neuron ``n = c * F + f``)::

    I_rec(t) = sum_d conv_d(s(t - 1 - d_d)),   conv_d(x)[c, f] = sum_m K_d[c, m] x[c, f + m - k // 2]

("same" zero padding, cross-correlation as torch's ``conv1d``): ``D * C * k``
weights and ``D`` delays (``C = 4, k = 5, D = 8``: 160 + 8). The delays follow
:mod:`lava_convdelay.nn.delays` (a spike at ``t`` arrives at ``t + 1 + d``).

The block runs its time loop over lag-combined kernels by default
(:mod:`lava_convdelay.nn.delay_channel_recurrence`: the lag kernels are shared
by all neurons, so the channels collapse into one depthwise convolution per
lag, ``O(N k L)`` per step over the lags in use, no per-channel reads). The
per-channel form stays selectable (``product`` "taps" or "dense"): the fused
time loop (:func:`lava_convdelay.nn.cuba_recurrence.recurrent_cuba`) reads
``D`` delayed copies of the layer's spikes per step (``[D * N, B]``, row ``d
* N + j``: neuron ``j`` through channel ``d``'s lag kernel) and this module's
product maps them to ``[N, B]`` currents: as the ``D * k`` depthwise taps
(:class:`DelayChannelProduct`, ``O(D N k)`` per step) or as the ``[N, D *
N]`` row of ``D`` banded matrices (small ``N``). All give the same spikes
and gradients.

On Loihi 2 and in Lava each delay channel is one synapse group with banded
weights and a single scalar delay.
"""
from __future__ import annotations

import math

import torch

from lava_convdelay.nn.axonal_delay import RecurrentDelay
from lava_convdelay.nn.delays import interpolation_kernel, num_lags
from lava_convdelay.nn.recurrent_synapse import DenseProduct, _overlap, conv_prefers_dense, conv_to_dense

#: The delay channels' delay operators: the toolkit's triangle with sigma
#: annealing (:func:`lava_convdelay.nn.delays.delay_kernel`), or the design
#: notes' linear interpolation (:func:`lava_convdelay.nn.delays.interpolation_kernel`).
DELAY_RULES = ("triangle", "linear")

#: :attr:`DelayChannelSynapse.product`'s choices.
PRODUCTS = ("auto", "lags", "taps", "dense")


def evenly_spaced_delays(delay_channels: int, max_delay: int) -> torch.Tensor:
    """``[D]`` the design notes' initial delays: lags ``linspace(1, 2D, D)``,
    i.e. delays ``linspace(0, 2D - 1, D)`` steps, clamped to ``max_delay``."""
    return torch.linspace(0, 2 * delay_channels - 1, delay_channels).clamp(max=max_delay)


class ChannelDelays(RecurrentDelay):
    """One learnable delay per delay channel (steps), shared by all neurons.

    Args:
        delay_channels: ``D``.
        max_delay: largest delay in steps (at most 62, the Loihi 2 limit).
        init: ``"linspace"`` (:func:`evenly_spaced_delays`) or ``(low, high)``,
            uniform random in that range (steps).
        learn: whether the delays receive gradients.
        sigma: initial kernel spread (steps); set later with :meth:`set_sigma`.
        rule: ``"triangle"`` (the toolkit's rule: a triangle of half-width
            ``1 + sigma``, integer at ``sigma = 0``) or ``"linear"`` (linear
            interpolation between ``floor(d)`` and ``ceil(d)`` while ``sigma >
            0``; at ``sigma = 0`` -- the schedule's last epochs and deployment
            -- the same integer rule). Both deploy ``round_delays(d)``.
    """

    def __init__(self, delay_channels: int, max_delay: int = 30,
                 init: str | tuple[float, float] = "linspace", learn: bool = True,
                 sigma: float = 0.0, rule: str = "triangle"):
        if rule not in DELAY_RULES:
            raise ValueError(f"delay_rule must be one of {DELAY_RULES}, got {rule!r}")
        if isinstance(init, str) and init != "linspace":
            raise ValueError(f"delay_init must be 'linspace' or [low, high], got {init!r}")
        super().__init__(delay_channels, max_delay, None if isinstance(init, str) else init, learn, sigma)
        self.rule = rule
        if isinstance(init, str):
            with torch.no_grad():
                self.delay.copy_(evenly_spaced_delays(delay_channels, self.max_delay))

    def kernel(self) -> tuple[torch.Tensor, bool]:
        """``([D, L] lag kernel, one_hot)``: column ``c`` weighs the spike of step ``t - 1 - c``."""
        if self.rule == "triangle":
            return super().kernel()
        integer = float(self.sigma) == 0
        lags = num_lags(self.max_delay, 0.0)
        return interpolation_kernel(self.used_delays(), integer, lags, self.max_delay), integer

    def extra_repr(self) -> str:
        return (f"delay_channels={self.delay.numel()}, max_delay={self.max_delay}, rule={self.rule}, "
                f"sigma={float(self.sigma):g}")


class DelayChannelSynapse(torch.nn.Module):
    """The ``D`` depthwise convolution kernels of the delay channels.

    Args:
        num_neurons: ``N = C * F``.
        channels: ``C``.
        kernel_size: odd ``k``; zero padding "same".
        delay_channels: ``D``.
        weight_scale: initialisation scale: uniform in ``+-weight_scale /
            sqrt(k * D)`` (PyTorch's convolution default over a neuron's
            ``k * D`` recurrent inputs).
    The weight has shape ``[D, C, k]``.
    """

    def __init__(self, num_neurons: int, channels: int = 4, kernel_size: int = 5, delay_channels: int = 8,
                 weight_scale: float = 1, pre_hook_fx=None):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
        if channels < 1 or num_neurons % channels:
            raise ValueError(f"num_neurons={num_neurons} must be a multiple of channels={channels}")
        if delay_channels < 1:
            raise ValueError(f"delay_channels must be >= 1, got {delay_channels}")
        self.channels = channels
        self.positions = num_neurons // channels
        if kernel_size > 2 * self.positions - 1:
            raise ValueError(f"kernel_size={kernel_size} is wider than the {self.positions} positions allow")
        self.kernel_size = kernel_size
        self.delay_channels = delay_channels
        self.num_neurons = num_neurons
        self.pre_hook_fx = pre_hook_fx
        #: How the block's time loop applies the kernels: "lags" (one
        #: combined depthwise convolution per lag,
        #: :mod:`lava_convdelay.nn.delay_channel_recurrence`), or per delay
        #: channel on its delayed reads as "taps" or "dense"
        #: (:meth:`recurrent_product`); "auto" is "lags". All give the same
        #: spikes and gradients, only the time differs.
        self.product = "auto"
        bound = weight_scale / math.sqrt(kernel_size * delay_channels)
        self.weight = torch.nn.Parameter(
            torch.empty(delay_channels, channels, kernel_size).uniform_(-bound, bound))

    @property
    def weight_count(self) -> int:
        return self.delay_channels * self.channels * self.kernel_size

    def quantized(self) -> torch.Tensor:
        """``[D, C, k]`` weights after ``pre_hook_fx`` (differentiable)."""
        return self.weight if self.pre_hook_fx is None else self.pre_hook_fx(self.weight)

    def channel_matrices(self) -> torch.Tensor:
        """``[D, N, N]`` (channel, post, pre): each delay channel's banded matrix."""
        return depthwise_to_dense(self.quantized(), self.positions)

    def dense_matrix(self) -> torch.Tensor:
        """``[N, D * N]``: the channels' matrices side by side (column ``d * N + j``
        is neuron ``j`` through delay channel ``d``), the fused loop's read order."""
        matrices = self.channel_matrices()
        return matrices.transpose(0, 1).reshape(self.num_neurons, -1)

    def lag_loop(self) -> bool:
        """Whether the block runs the loop over lag-combined kernels (``product`` "lags" or "auto")."""
        if self.product not in PRODUCTS:
            raise ValueError(f"product must be one of {PRODUCTS}, got {self.product!r}")
        return self.product in ("auto", "lags")

    def recurrent_product(self) -> DenseProduct | DelayChannelProduct:
        """The per-channel fused time loop's product
        (:func:`~lava_convdelay.nn.cuba_recurrence.recurrent_cuba` on ``D * N``
        reads), from the quantized weights (differentiable): "taps", "dense",
        or for "auto" whichever of the two is faster at this size."""
        if self.product not in ("auto", "taps", "dense"):
            raise ValueError(f"product must be 'auto', 'taps' or 'dense', got {self.product!r}")
        # per delay channel: an N x N banded block against k depthwise taps (C = 1's crossover)
        dense = (self.product == "dense" or self.product == "auto"
                 and conv_prefers_dense(self.num_neurons, 1, self.kernel_size))
        if dense:
            return DenseProduct(self.dense_matrix())
        return DelayChannelProduct(self.quantized(), self.positions)


def depthwise_to_dense(weight: torch.Tensor, positions: int) -> torch.Tensor:
    """``[D, C*F, C*F]`` banded matrices of the "same"-padded depthwise
    convolutions ``weight`` ``[D, C, k]`` (channel ``c`` reads only itself)."""
    return torch.stack([conv_to_dense(torch.diag_embed(kernel.T).permute(1, 2, 0), positions)
                        for kernel in weight])


class DelayChannelProduct:
    """The delay channels' recurrence applied as ``D * k`` depthwise taps:
    ``B N k D`` multiply-adds and ``D * k + 1`` tensor operations per step.

    Reads ``[D * N, B]`` (row ``d * N + c * F + f``), currents ``[N, B]``.
    ``weight`` ``[D, C, k]`` is the tensor the fused time loop differentiates.
    In integer mode every product and partial sum is exact, so the currents
    equal :class:`DenseProduct`'s of :meth:`DelayChannelSynapse.dense_matrix`
    bit for bit.
    """

    def __init__(self, weight: torch.Tensor, positions: int):
        self.weight = weight
        self.delay_channels, self.channels, size = weight.shape
        self.positions = positions
        values = weight.detach()
        self._taps = _depthwise_taps(values, positions)
        # the transposed "same" convolution (odd k) is the convolution with its taps reversed
        self._transposed_taps = _depthwise_taps(values.flip(2), positions)

    def _views(self, reads: torch.Tensor, currents: torch.Tensor):
        """``reads`` as ``[D, C, F, B]`` and ``currents`` as ``[C, F, B]``."""
        shape = (self.channels, self.positions, -1)
        return reads.view(self.delay_channels, *shape), currents.view(shape)

    def propagate(self, x: torch.Tensor, base: torch.Tensor, out: torch.Tensor) -> None:
        """``out = base + sum_d conv_d(x_d)`` for ``x`` ``[D * N, B]``, ``base``, ``out`` ``[N, B]``."""
        reads, currents = self._views(x, out)
        (d, weight, _, _), *rest = self._taps  # the centre tap of channel 0 covers every position
        torch.mul(reads[d], weight, out=currents)
        for d, weight, target, source in rest:
            currents[:, target].addcmul_(reads[d][:, source], weight)
        out.add_(base)  # after the taps: the same sum as the dense product's

    def propagate_transposed(self, grad: torch.Tensor, out: torch.Tensor) -> None:
        """``out_d = conv_d^T(grad)`` (``out`` ``[D * N, B]``, ``grad`` ``[N, B]``):
        the gradient of :meth:`propagate` wrt ``x``."""
        reads, currents = self._views(out, grad)
        size = self.weight.shape[2]
        for index, (d, weight, target, source) in enumerate(self._transposed_taps):
            if index % size == 0:  # each channel's centre tap comes first and covers every position
                torch.mul(currents, weight, out=reads[d])
            else:
                reads[d][:, target].addcmul_(currents[:, source], weight)

    def weight_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``[D, C, k]`` gradient of ``sum_t grad(t) . sum_d conv_d(x_d(t))``;
        ``grad`` ``[T, N, B]``, ``x`` ``[T, D * N, B]``: per tap, one
        contraction over steps and overlapping positions (a shift of ``s``
        positions is a shift of ``s * B`` in the flattened ``[F * B]`` rows)."""
        steps, _, batch = grad.shape
        size = self.weight.shape[2]
        grad = grad.reshape(steps, self.channels, -1)
        x = x.reshape(steps, self.delay_channels, self.channels, -1)
        result = self.weight.new_empty(self.weight.shape)
        for m in range(size):
            target, source = _overlap(m - size // 2, self.positions)
            rows = grad[..., target.start * batch:target.stop * batch]
            columns = x[..., source.start * batch:source.stop * batch]
            result[:, :, m] = torch.einsum("tcm,tdcm->dc", rows, columns)
        return result


def _depthwise_taps(kernel: torch.Tensor, positions: int) -> list:
    """:class:`DelayChannelProduct`'s taps of a ``[D, C, k]`` kernel, channel by
    channel, each channel's centre tap first: ``(delay channel, [C, 1, 1]
    weight column, target slice, source slice)``."""
    channels, size = kernel.shape[1:]
    taps = []
    for d, weights in enumerate(kernel):
        for m in [size // 2] + [m for m in range(size) if m != size // 2]:
            target, source = _overlap(m - size // 2, positions)
            taps.append((d, weights[:, m].reshape(channels, 1, 1).clone(), target, source))
    return taps
