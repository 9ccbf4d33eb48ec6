"""The convolutional front end: a feed-forward spiking 1-D convolution over
input channels, SLAYER's ``cuba.Conv`` on a flat, channel-major population.

The layer's input ``[batch, C_in * F, time]`` is seen as ``C_in`` channels of
``F`` positions (neuron ``n = c * F + f``, the order ``ConvDelayRecurrent``
uses); the network's own input is one channel of its positions. The output
is ``C_out`` channels of the same ``F`` positions, channel-major::

    z[o, f](t) = sum_i sum_m K[o, i, m] * x[i, f + m - k // 2](t)   ("same" zero padding, stride 1)
    s(t)       = CUBA-LIF(z)(t)

SLAYER computes it as a 2-D convolution of ``[batch, C, 1, F, time]`` with a
``(1, k)`` kernel -- height 1, the positions along the width -- which is how
it exports to NetX (``conv``: shape ``[C, 1, F]``, Lava's ``(X, Y, C) =
(F, 1, C)``). The weights go through the neuron's 8-bit quantizer and the
spikes through SLAYER's CUBA neuron, so the block is trained, quantized and
exported like ``cuba.Dense``; with ``delay_shift`` (SLAYER's default) the
output is one step late, as every block's.
"""
from __future__ import annotations

import copy

import torch
from lava.lib.dl.slayer.block import cuba as slayer_block

from lava_convdelay.nn.cuba_recurrence import check_supported


class ConvBlock(slayer_block.Conv):
    """``in_channels x positions`` -> ``channels x positions`` spiking convolution.

    Args:
        neuron_params: SLAYER CUBA neuron parameters (copied, never mutated).
        in_channels: ``C_in``; the input has ``C_in * positions`` neurons.
        channels: ``C_out``, the output channels.
        positions: ``F``, positions per channel (unchanged by the layer).
        kernel_size: odd ``k``; "same" zero padding, ``k // 2`` on each side.
        weight_scale: weight initialisation scale (SLAYER's meaning).
    Weights: ``k * C_in * C_out``, held by SLAYER's ``synapse.Conv`` as
    ``[C_out, C_in, 1, k, 1]``.
    """

    def __init__(self, neuron_params: dict, in_channels: int, channels: int, positions: int,
                 kernel_size: int = 3, weight_scale: float = 1):
        for name, value in (("in_channels", in_channels), ("channels", channels), ("positions", positions)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer (\"same\" padding), got {kernel_size}")
        if kernel_size > 2 * positions - 1:
            raise ValueError(f"kernel_size={kernel_size} is wider than the {positions} positions allow")
        super().__init__(copy.deepcopy(neuron_params), in_channels, channels, kernel_size=(1, kernel_size),
                         padding=(0, kernel_size // 2), weight_scale=weight_scale)
        check_supported(self.neuron)
        self.in_channels = in_channels
        self.channels = channels
        self.positions = positions
        self.kernel_size = kernel_size

    @property
    def in_neurons(self) -> int:
        return self.in_channels * self.positions

    @property
    def num_neurons(self) -> int:
        return self.channels * self.positions

    def kernel(self) -> torch.Tensor:
        """``[C_out, C_in, k]`` weights after the quantizer (what the forward computes with)."""
        weight = self.synapse.weight.reshape(self.channels, self.in_channels, self.kernel_size)
        return self.synapse.pre_hook_fx(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, C_in * F, T]`` spikes -> ``[B, C_out * F, T]`` spikes (channel-major)."""
        if x.dim() != 3 or x.shape[1] != self.in_neurons:
            raise ValueError(f"expected input [batch, {self.in_neurons}, time], got {tuple(x.shape)}")
        batch, _, steps = x.shape
        out = super().forward(x.reshape(batch, self.in_channels, 1, self.positions, steps))
        return out.reshape(batch, self.num_neurons, steps)
