"""How large each synapse's input to its neurons gets in one step, against
the 16-bit activation buffers Lava declares.

Lava's bit-accurate synapse models declare their activation buffer
``a_buff`` (and ``a_out``) 16 bits wide -- ``LavaPyType(np.ndarray, np.int32,
precision=16)`` in lava-nc 0.10 ``proc/dense/models.py`` and
``proc/sparse/models.py`` -- but compute in 32 bits, so the CPU never
saturates there. What one buffer slot holds is the sum of the weights
(file units, mantissa ``<< weight_exp``) of the spikes that reach a neuron
through that synapse in one step. Where that exceeds +-(2^15 - 1) on the
given inputs, the chip may clip or wrap what the CPU does not: a difference
to look for first if a Loihi 2 run disagrees.
"""
from __future__ import annotations

import numpy as np

from lava_convdelay.limits import ACTIVATION_LIMIT
from netx_export.spec import NetworkSpec
from sim.fixed_point import simulate

__all__ = ["largest_inputs", "describe_inputs"]


def _arrivals(spikes: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """``[B, J, T]`` spikes of presynaptic ``j`` moved ``delays[j]`` steps later."""
    out = np.zeros_like(spikes)
    for d in np.unique(delays):
        if d >= spikes.shape[2]:  # arrives after the last step
            continue
        rows = delays == d
        out[:, rows, d:] = spikes[:, rows, :spikes.shape[2] - d]
    return out


def largest_inputs(spec: NetworkSpec, spikes: np.ndarray, chunk: int = 64) -> dict[str, int]:
    """Per synapse (``layer{l}.dense`` / ``layer{l}.rec``, as the graph names
    them) the largest ``|sum of weights arriving at a neuron in one step|`` on
    ``spikes`` ``[B, C, T]`` (a validated ``spec``), ``chunk`` samples at a time."""
    spikes = np.asarray(spikes)
    largest: dict[str, int] = {}
    for start in range(0, len(spikes), chunk):
        part = spikes[start:start + chunk]
        run = simulate(spec, part, record_layers=True)
        pre = part.astype(np.int64)
        for l, layer in enumerate(spec.layers, start=1):  # noqa: E741 -- the layer index of the docs
            # a feed-forward delay is per postsynaptic neuron: it moves a neuron's sums, not their sizes
            sums = {f"layer{l}.dense": np.einsum("ij,bjt->bit", np.asarray(layer.weight, np.int64), pre)}
            own = run.layers[l - 1].astype(np.int64)
            if layer.weight_rec is not None and np.any(layer.weight_rec):
                delays = np.zeros(layer.num_neurons, np.int64) if layer.delay_rec is None \
                    else np.asarray(layer.delay_rec)
                sums[f"layer{l}.rec"] = np.einsum("ij,bjt->bit", np.asarray(layer.weight_rec, np.int64),
                                                  _arrivals(own, delays))
            if layer.delay_channels is not None:  # one synapse per delay channel (the graph's layer{l}.rec{d})
                n = layer.num_neurons
                for d, (matrix, delay) in enumerate(zip(layer.delay_channels.matrices(n),
                                                        layer.delay_channels.delays)):
                    if matrix.any():
                        sums[f"layer{l}.rec{d}"] = np.einsum("ij,bjt->bit", matrix,
                                                             _arrivals(own, np.full(n, int(delay), np.int64)))
            for name, values in sums.items():
                largest[name] = max(largest.get(name, 0), int(np.abs(values).max(initial=0)))
            pre = own
    return largest


def describe_inputs(largest: dict[str, int]) -> str:
    """One line: the largest inputs, and a warning naming the synapses beyond
    :data:`ACTIVATION_LIMIT`."""
    listed = ", ".join(f"{name} {value}" for name, value in largest.items())
    over = [name for name, value in largest.items() if value > ACTIVATION_LIMIT]
    if not over:
        return f"largest per-step synaptic input: {listed} (within the 16-bit activation buffers, +-{ACTIVATION_LIMIT})"
    return (f"WARNING: per-step synaptic input beyond the 16-bit activation buffers Lava declares "
            f"(+-{ACTIVATION_LIMIT}) in {', '.join(over)} ({listed}): the chip may clip or wrap where the CPU "
            f"does not")
