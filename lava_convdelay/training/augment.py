"""Training-time augmentation of input spikes ``[batch, channels, time]``.

DelRec's SHD recipe shifts inputs in time and thins their spikes
(../shared/method.md); a shift along the channel axis is the usual SHD
augmentation for unseen speakers (a different vocal tract moves energy across
cochlea channels). Each sample draws its own offsets and thinning rate. Draws
come from torch's default generator, whose state the checkpoint holds, so a
resumed run sees the same augmented batches as an uninterrupted one.
"""
from __future__ import annotations

import torch

# train config key -> default (off)
AUGMENT_DEFAULTS = {"time_shift": 0, "channel_shift": 0, "thinning": 0.0}


def shift_samples(x: torch.Tensor, offsets: torch.Tensor, dim: int) -> torch.Tensor:
    """Shift each sample of ``x`` by ``offsets[b]`` positions along ``dim``
    (positive: later steps / higher channels); what moves out is dropped and the
    vacated positions are empty (0)."""
    length = x.shape[dim]
    source = torch.arange(length, device=x.device) - offsets.to(x.device)[:, None]  # [batch, length]
    valid = (source >= 0) & (source < length)
    shape = [x.shape[0], 1, 1]
    shape[dim] = length
    index = source.clamp(0, length - 1).view(shape).expand_as(x)
    return x.gather(dim, index) * valid.view(shape).to(x.dtype)


def augment_spikes(x: torch.Tensor, time_shift: int = 0, channel_shift: int = 0,
                   thinning: float = 0.0) -> torch.Tensor:
    """Augmented copy of the 0/1 spike batch ``x`` ``[batch, channels, time]``.

    ``time_shift``: each sample moves by a uniform integer in [-time_shift,
    time_shift] steps. ``channel_shift``: likewise across input channels.
    ``thinning``: each sample drops each of its spikes with a probability drawn
    uniformly from [0, thinning].
    """
    # every draw is on the CPU generator, even for CUDA batches: it is the one
    # the checkpoint saves (torch.get_rng_state), so resume stays exact on GPUs
    batch = x.shape[0]
    if time_shift:
        x = shift_samples(x, torch.randint(-time_shift, time_shift + 1, (batch,)), dim=2)
    if channel_shift:
        x = shift_samples(x, torch.randint(-channel_shift, channel_shift + 1, (batch,)), dim=1)
    if thinning:
        drop = torch.rand(batch) * thinning
        keep = torch.rand(x.shape) >= drop[:, None, None]
        x = x * keep.to(device=x.device, dtype=x.dtype)
    return x
