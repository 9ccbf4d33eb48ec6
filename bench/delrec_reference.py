"""A faithful re-implementation of DelRec's reference recurrence, for benchmarks.

DelRec (Quéant et al., arXiv 2509.24852) keeps a buffer of past spikes
``[B, N_pre, L]`` and, every step, multiplies it by the recurrent weights
expanded over lags, ``R[:, :, None] * K[None]``, materialising the
``[B, N_post, N_pre, L]`` product before summing it. Everything else (input
synapse, neuron, kernel, quantization) is the block's own, so the only
difference measured is the recurrence algorithm.
"""
import torch

from lava_convdelay.nn.cuba_step import CubaStepper
from lava_convdelay.nn.delays import delay_kernel, num_lags


def reference_forward(block, x: torch.Tensor) -> torch.Tensor:
    """Forward of a DelayRecurrent/ConvDelayRecurrent ``block`` the DelRec way.

    ``x`` ``[B, in, T]`` -> ``[B, N, T]`` spikes (delay-shifted like the block).
    """
    z = block.input_synapse(x)
    batch, n, steps = z.shape
    delay = block.axonal_delay
    sigma = float(delay.sigma)
    lags = num_lags(delay.max_delay, sigma)
    kernel = delay_kernel(delay.delay.clamp(0, delay.max_delay), sigma, lags, delay.max_delay)
    weight = block.recurrent_synapse.dense_matrix()  # [N_post, N_pre]
    masked = weight[:, :, None] * kernel[None]  # [N_post, N_pre, L]
    history = [z.new_zeros(batch, n)] * lags
    stepper = CubaStepper(block.neuron, batch, n, z.device, z.dtype)
    spikes = []
    for t in range(steps):
        past = torch.stack(history[-1:-lags - 1:-1], dim=-1)  # [B, N_pre, L]
        product = past[:, None, :, :] * masked[None]  # [B, N_post, N_pre, L]
        s = stepper.step(z[..., t] + product.sum(dim=(2, 3)))
        history.append(s)
        del history[0]
        spikes.append(s)
    out = torch.stack(spikes, dim=-1)
    return torch.nn.functional.pad(out[..., :-1], (1, 0))
