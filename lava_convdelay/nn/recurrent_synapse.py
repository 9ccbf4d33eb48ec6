"""Recurrent connectivity ``R``: dense ``N x N`` or a 1-D convolution over neurons.

Both map the delayed presynaptic signal of one step, ``[batch, N]``, to the
recurrent current ``[batch, N]``, with weights passed through ``pre_hook_fx``
(SLAYER's 8-bit quantizer in the blocks) once per forward pass via
:meth:`quantized`. Both can express themselves as a dense matrix
(:meth:`dense_matrix`), which is what export, the simulators and the blocks'
time loop (:mod:`lava_convdelay.nn.cuba_recurrence`) use.

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
