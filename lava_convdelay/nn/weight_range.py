"""The 8-bit weight rule, read off the blocks themselves.

SLAYER blocks (and this project's) pass each synapse's ``weight`` through the
synapse's ``pre_hook_fx`` in the forward pass: the neuron's ``quantize_8bit``,
steps of 2/64 clamped to [-256, 254]/64 = [-4, 3.96875]. A float weight past
that range computes as the bound and gets no gradient there. The exporter
writes what the hook returns, and training projects the float weights back into
the range the hook clamps to after each optimizer step
(:func:`project_weights_`), so no weight sits dead beyond the clamp. The range
is taken from the hook, so this module restates no part of the rule.
"""
from __future__ import annotations

import math

import torch


def hooked_synapses(module: torch.nn.Module) -> list[torch.nn.Module]:
    """Every submodule whose ``weight`` the forward passes through its ``pre_hook_fx``."""
    return [m for m in module.modules()
            if getattr(m, "pre_hook_fx", None) is not None and isinstance(getattr(m, "weight", None), torch.Tensor)]


def hook_range(hook) -> tuple[float, float]:
    """The smallest and largest weight ``hook`` lets through (infinite if it does not clamp)."""
    low, high = hook(torch.tensor([-math.inf, math.inf])).tolist()
    return low, high


@torch.no_grad()
def project_weights_(module: torch.nn.Module) -> None:
    """Clamp every hooked weight of ``module`` into its hook's range; call after each optimizer step."""
    for synapse in hooked_synapses(module):
        synapse.weight.clamp_(*hook_range(synapse.pre_hook_fx))
