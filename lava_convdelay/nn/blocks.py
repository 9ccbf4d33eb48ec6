"""CUBA-LIF recurrent blocks with learnable recurrent axonal delays.

A block composes, SLAYER style: an input synapse (``slayer`` ``synapse.Dense``),
a recurrent synapse (:mod:`lava_convdelay.nn.recurrent_synapse`, dense or conv),
recurrent axonal delays (:class:`lava_convdelay.nn.axonal_delay.RecurrentDelay`)
and SLAYER's CUBA neuron, stepped through time by
:func:`lava_convdelay.nn.cuba_recurrence.recurrent_cuba`::

    z(t)   = W x(t)                                     (feed-forward, undelayed)
    I_i(t) = z_i(t) + sum_j R_ij * s_j(t - 1 - d_j)     (recurrent, delayed)
    s(t)   = CUBA-LIF(I)(t)

Input ``[batch, in_neurons, time]``, output ``[batch, out_neurons, time]``
spikes (a view of time-major memory, :mod:`lava_convdelay.nn.time_major`);
with ``delay_shift`` (default, as SLAYER) the output is shifted one step
later, matching Lava's one-step synaptic latency per layer. Each forward
call starts from rest: samples and calls are independent.
"""
from __future__ import annotations

import copy
from typing import cast

import torch
from lava.lib.dl.slayer.block import cuba as slayer_block
from lava.lib.dl.slayer.neuron import cuba as slayer_cuba
from lava.lib.dl.slayer.synapse import layer as slayer_synapse

from lava_convdelay.nn.axonal_delay import RecurrentDelay
from lava_convdelay.nn.cuba_recurrence import CubaConstants, check_supported, recurrent_cuba
from lava_convdelay.nn.delay_channel_recurrence import delay_channel_cuba
from lava_convdelay.nn.delay_channels import ChannelDelays, DelayChannelSynapse
from lava_convdelay.nn.recurrent_synapse import ConvRecurrentSynapse, DenseRecurrentSynapse
from lava_convdelay.nn.time_major import dense_synapse_time_major, shift_one_step


class AbstractDelayRecurrent(torch.nn.Module):
    """Shared machinery of the delay-recurrent blocks (not used directly).

    Args:
        neuron_params: SLAYER CUBA neuron parameters (copied, never mutated).
        in_neurons: input size.
        out_neurons: ``N``, the recurrent population size.
        weight_scale: weight initialisation scale (SLAYER's meaning).
        delays: ``False`` gives a plain recurrence ``R s(t - 1)``.
        max_delay: largest recurrent delay, steps (<= 62, Loihi 2).
        delay_init: ``(low, high)`` uniform initial delays, steps; default
            ``(max_delay / 3, max_delay)`` (DelRec's [10, 30] for 30).
        learn_delays: ``False`` keeps the initial delays fixed.
        sigma: initial triangular-kernel spread, steps (``0``: integer delays).
        rec_dropout: probability of dropping a neuron's recurrent output for a
            whole sample (training only; DelRec uses 0.2).
        dropout: probability of dropping each output spike on its way to the
            next layer, per neuron and step (training only, the recurrence
            still sees it; DelRec's feed-forward dropout, 0.4 on SHD).
        delay_shift: shift the output one step (SLAYER's default, Lava aligned).
    """

    def __init__(self, neuron_params: dict, in_neurons: int, out_neurons: int,
                 recurrent_synapse: torch.nn.Module, weight_scale: float = 1,
                 delays: bool = True, max_delay: int = 30,
                 delay_init: tuple[float, float] | None = None,
                 learn_delays: bool = True, sigma: float = 0.0,
                 rec_dropout: float = 0.0, dropout: float = 0.0, delay_shift: bool = True):
        super().__init__()
        self.neuron = slayer_cuba.Neuron(**copy.deepcopy(neuron_params))
        check_supported(self.neuron)
        self.input_synapse = slayer_synapse.Dense(in_neurons, out_neurons, weight_scale=weight_scale)
        self.input_synapse.pre_hook_fx = self.neuron.quantize_8bit
        recurrent_synapse.pre_hook_fx = self.neuron.quantize_8bit
        self.recurrent_synapse = recurrent_synapse
        self.axonal_delay = (
            RecurrentDelay(out_neurons, max_delay, delay_init, learn_delays, sigma)
            if delays else None
        )
        if not 0 <= rec_dropout < 1:
            raise ValueError(f"rec_dropout must be in [0, 1), got {rec_dropout}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.rec_dropout = rec_dropout
        self.dropout = dropout
        self.delay_shift = delay_shift
        self.in_neurons = in_neurons
        self.num_neurons = out_neurons

    @property
    def shape(self) -> torch.Size:
        return torch.Size([self.num_neurons])

    @property
    def recurrent_param_count(self) -> int:
        """Recurrent weights plus one delay per neuron (if delays are on)."""
        delays = self.num_neurons if self.axonal_delay is not None else 0
        return self.recurrent_synapse.weight_count + delays

    def set_sigma(self, sigma: float) -> None:
        """Set the delay kernel spread, steps (no-op without delays)."""
        if self.axonal_delay is not None:
            self.axonal_delay.set_sigma(sigma)

    def clamp_delays(self) -> None:
        """Clamp delays into ``[0, max_delay]``; call after each optimizer step."""
        if self.axonal_delay is not None:
            self.axonal_delay.clamp_()

    def integer_delays(self, where: str = "") -> torch.Tensor:
        """``[N]`` int64 deployed delays (all zero without delays)."""
        if self.axonal_delay is None:
            return torch.zeros(self.num_neurons, dtype=torch.int64)
        return self.axonal_delay.integer_delays(where).cpu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, in_neurons, T]`` spikes -> ``[B, N, T]`` spikes."""
        if x.dim() != 3 or x.shape[1] != self.in_neurons:
            raise ValueError(
                f"expected input [batch, {self.in_neurons}, time], got {tuple(x.shape)}"
            )
        return self.forward_current(self.input_current(x))

    def input_current(self, x: torch.Tensor) -> torch.Tensor:
        """The input synapse's current ``[B, N, T]`` for spikes ``x`` ``[B, in_neurons, T]``.
        Without autograd (inference) it is computed in the time loop's layout
        (:func:`~lava_convdelay.nn.time_major.dense_synapse_time_major`, the same
        values on spikes) instead of through SLAYER's ``conv3d``."""
        synapse = self.input_synapse
        if torch.is_grad_enabled() or synapse.weight_norm_enabled or synapse.bias is not None:
            return synapse(x)
        weight = synapse.weight if synapse.pre_hook_fx is None else synapse.pre_hook_fx(synapse.weight)
        return dense_synapse_time_major(weight.reshape(weight.shape[0], -1), x)

    def forward_current(self, z: torch.Tensor) -> torch.Tensor:
        """What :meth:`forward` does after the input synapse: input current
        ``z`` ``[B, N, T]`` (SLAYER units) -> ``[B, N, T]`` spikes."""
        batch, neurons, _ = z.shape
        mask = None
        if self.training and self.rec_dropout > 0:
            keep = 1.0 - self.rec_dropout
            mask = torch.bernoulli(torch.full((batch, neurons), keep, device=z.device)) / keep
        if self.training and self.dropout > 0:  # dropped before the shift, as SLAYER's blocks do
            out = torch.nn.functional.dropout(self.recurrence(z, mask, False), self.dropout)
            return shift_one_step(out) if self.delay_shift else out
        return self.recurrence(z, mask, self.delay_shift)

    def recurrence(self, z: torch.Tensor, mask: torch.Tensor | None, shifted: bool = False) -> torch.Tensor:
        """Spikes ``[B, N, T]`` of the recurrent layer driven by ``z`` ``[B, N,
        T]``, ``mask`` ``[B, N]`` its recurrent dropout, one step later if
        ``shifted``: the fused time loop."""
        kernel, one_hot = self.lag_kernel(z)
        return recurrent_cuba(z, self.recurrent_synapse.recurrent_product(), kernel.to(z.dtype),
                              CubaConstants.of(self.neuron), mask, one_hot, shifted)

    def lag_kernel(self, like: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """``([N, L] lag kernel, one_hot)``: what each neuron's recurrent read
        weighs its spikes of steps ``t - 1 - c`` by (``like``: the dtype and device)."""
        if self.axonal_delay is None:  # d = 0: lag 1 only
            return like.new_ones(self.num_neurons, 1), True
        return self.axonal_delay.kernel()


class DelayRecurrent(AbstractDelayRecurrent):
    """Dense recurrence with learnable per-neuron recurrent delays (DelRec).

    Constructed like ``slayer.block.cuba.Recurrent(neuron_params, in_neurons,
    out_neurons)`` plus the delay options of :class:`AbstractDelayRecurrent`.
    Recurrent parameters: ``N*N`` weights + ``N`` delays.
    """

    def __init__(self, neuron_params: dict, in_neurons: int, out_neurons: int,
                 weight_scale: float = 1, **kwargs):
        synapse = DenseRecurrentSynapse(out_neurons, weight_scale)
        super().__init__(neuron_params, in_neurons, out_neurons, synapse, weight_scale, **kwargs)


class ConvDelayRecurrent(AbstractDelayRecurrent):
    """Convolutional recurrence with learnable recurrent delays (CRSNN).

    Neurons are ``channels x (out_neurons / channels)`` positions (channel
    major); ``R`` is a "same"-padded 1-D convolution over positions,
    ``channels -> channels``, odd ``kernel_size``. Recurrent parameters:
    ``k*C*C`` weights + ``N`` delays.
    """

    def __init__(self, neuron_params: dict, in_neurons: int, out_neurons: int,
                 kernel_size: int = 3, channels: int = 1, weight_scale: float = 1, **kwargs):
        synapse = ConvRecurrentSynapse(out_neurons, channels, kernel_size, weight_scale)
        super().__init__(neuron_params, in_neurons, out_neurons, synapse, weight_scale, **kwargs)


class DelayChannelConvRecurrent(AbstractDelayRecurrent):
    """Delay-channel convolutional recurrence (the method's second form).

    Neurons are ``channels x (out_neurons / channels)`` positions (channel
    major, as :class:`ConvDelayRecurrent`); ``delay_channels`` ``D`` channels,
    each one learnable delay shared by every neuron and its own depthwise
    kernel ``[C, k]`` (:mod:`lava_convdelay.nn.delay_channels`)::

        I_rec(t) = sum_d conv_d(s(t - 1 - d_d))

    Args:
        kernel_size, channels, delay_channels: ``k`` (odd), ``C``, ``D``.
        max_delay: largest delay, steps (<= 62).
        delay_init: ``"linspace"`` (the design notes' even spacing, delays
            ``0 .. 2D - 1``) or ``(low, high)`` uniform.
        delay_rule: ``"triangle"`` or ``"linear"``
            (:class:`~lava_convdelay.nn.delay_channels.ChannelDelays`).
        learn_delays, sigma, rec_dropout, dropout, delay_shift: as
            :class:`AbstractDelayRecurrent`.
    Recurrent parameters: ``D*C*k`` weights + ``D`` delays.
    """

    def __init__(self, neuron_params: dict, in_neurons: int, out_neurons: int, kernel_size: int = 5,
                 channels: int = 4, delay_channels: int = 8, weight_scale: float = 1, max_delay: int = 30,
                 delay_init: str | tuple[float, float] = "linspace", delay_rule: str = "triangle",
                 learn_delays: bool = True, sigma: float = 0.0, **kwargs):
        synapse = DelayChannelSynapse(out_neurons, channels, kernel_size, delay_channels, weight_scale)
        super().__init__(neuron_params, in_neurons, out_neurons, synapse, weight_scale, delays=False, **kwargs)
        self.axonal_delay = ChannelDelays(delay_channels, max_delay, delay_init, learn_delays, sigma, delay_rule)

    @property
    def recurrent_param_count(self) -> int:
        """Recurrent weights plus one delay per delay channel."""
        return self.recurrent_synapse.weight_count + self.recurrent_synapse.delay_channels

    def recurrence(self, z: torch.Tensor, mask: torch.Tensor | None, shifted: bool = False) -> torch.Tensor:
        """The fused time loop over lag-combined kernels
        (:func:`~lava_convdelay.nn.delay_channel_recurrence.delay_channel_cuba`)
        where the synapse's product is ``"lags"`` (or ``"auto"``), else the
        per-channel reads (``"taps"``, ``"dense"``); the same spikes and gradients."""
        synapse = cast(DelayChannelSynapse, self.recurrent_synapse)
        if not synapse.lag_loop():
            return super().recurrence(z, mask, shifted)
        kernel, _ = cast(ChannelDelays, self.axonal_delay).kernel()
        return delay_channel_cuba(z, synapse.quantized(), kernel.to(z.dtype), CubaConstants.of(self.neuron), mask,
                                  shifted)

    def lag_kernel(self, like: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """``([D * N, L] lag kernel, one_hot)``: row ``d * N + j`` reads neuron
        ``j`` through delay channel ``d``'s kernel."""
        kernel, one_hot = cast(ChannelDelays, self.axonal_delay).kernel()
        return kernel.repeat_interleave(self.num_neurons, 0), one_hot


class Affine(slayer_block.Affine):
    """The non-spiking readout: SLAYER's ``cuba.Affine`` (a CUBA neuron that
    never fires), returning its voltage ``[B, N, T]`` in SLAYER units.

    Shifted one step later like every other block, so that index ``t`` is the
    voltage Lava's layer has after step ``t``; the decision rule reads it
    (:mod:`lava_convdelay.nn.readout`). Constructed like the stock block.
    """

    delay_shift = True

    def __init__(self, neuron_params: dict, in_neurons: int, out_neurons: int, weight_scale: float = 1):
        super().__init__(copy.deepcopy(neuron_params), in_neurons, out_neurons, weight_scale=weight_scale)
        check_supported(self.neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, in_neurons, T]`` spikes -> ``[B, N, T]`` voltage."""
        return torch.nn.functional.pad(super().forward(x)[..., :-1], (1, 0))
