"""Offline estimate of whether a network fits one Loihi 2 chip.

An *estimate* from public per-core limits (docs/loihi2.md lists each with its
source), not the output of Intel's compiler: it tells a user before spending
INRC time which resource is likely to limit a layer, and by how much.

Per layer it counts neurons, synapses as the Loihi 2 graph builds them
(``Dense`` / ``DelayDense``: every entry of the matrix, zeros included;
``Sparse`` / ``DelaySparse``: the non-zeros; :func:`sim.graph_options.built_fan_out`),
the weight bits
Lava's ``optimize_weight_bits`` would choose, the delay depth, and the memory
those need; cores are allotted per layer (Lava maps each layer's processes to
their own cores) as the maximum over the resources of ``ceil(need / limit)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lava_convdelay.limits import MAX_DELAY
from netx_export.spec import LayerSpec, NetworkSpec
from sim.graph_options import built_channel_fan_out, built_fan_out

#: Neuro cores per Loihi 2 chip.
CORES_PER_CHIP = 128
#: Neurons per core (1M neurons per chip / 128 cores).
NEURONS_PER_CORE = 8192
#: Flexible SRAM per neuro core, bytes (synapses, neuron state, delay buffers).
MEMORY_PER_CORE = 192 * 1024
#: Neuron state of a CUBA-LIF: u and v, 24 bits each, bits.
NEURON_STATE_BITS = 48
#: Width of one dendritic accumulator (delay) slot of a delayed synapse, bits:
#: lava-nc 0.10 declares the activation buffer ``a_buff`` of its bit-accurate
#: synapse models 16 bits wide (``LavaPyType(np.ndarray, np.int32,
#: precision=16)`` in ``proc/dense/models.py`` and ``proc/sparse/models.py``).
ACCUMULATOR_BITS = 16


@dataclass
class LayerResources:
    index: int
    type: str
    neurons: int
    synapses: int
    recurrent_synapses: int
    nonzero_synapses: int
    weight_bits: int
    delay_depth: int
    memory_bytes: int
    cores: int
    limiting: str


def weight_bits(weights: np.ndarray) -> int:
    """Bits per weight after Lava's optimisation (sign included)."""
    nonzero = weights[weights != 0]
    if nonzero.size == 0:
        return 1
    shift = 0  # common trailing zero bits become the weight exponent
    while shift < 8 and np.all(nonzero % (1 << (shift + 1)) == 0):
        shift += 1
    magnitude = int(np.abs(nonzero).max()) >> shift
    signed = bool((nonzero < 0).any() and (nonzero > 0).any())
    return max(1, magnitude.bit_length()) + int(signed)


def layer_resources(index: int, layer: LayerSpec, delayed_synapse: str = "dense") -> LayerResources:
    """One layer's resources with the delayed recurrence built as ``delayed_synapse``."""
    n = layer.num_neurons
    mats = [layer.weight] + ([layer.weight_rec] if layer.weight_rec is not None else [])
    nonzero = sum(int(np.count_nonzero(m)) for m in mats)
    channels = layer.delay_channels
    recurrent = 0
    if channels is not None:
        nonzero += layer.recurrent_synapses
        recurrent = int(built_channel_fan_out(channels.matrices(n), delayed_synapse).sum())
    elif layer.weight_rec is not None:
        recurrent = int(built_fan_out(layer.weight_rec, layer.delay_rec, delayed_synapse).sum())
    # the feed-forward synapse is a Dense / DelayDense (every entry), or for a conv front end
    # Lava's Conv, counted as the expanded convolution's non-zero taps
    feed_forward = int(np.count_nonzero(layer.weight)) if layer.ff_conv is not None else layer.weight.size
    synapses = feed_forward + recurrent
    # a delay channel's banded synapses carry its kernel's values: the kernels give the bits
    values = [m.reshape(-1) for m in mats] + ([channels.kernel.reshape(-1)] if channels is not None else [])
    bits = weight_bits(np.concatenate(values))
    delays = [d for d in (layer.delay, layer.delay_rec) if d is not None]
    delays += [channels.delays] if channels is not None else []
    depth = int(max((int(d.max()) for d in delays), default=0))
    # sparse synapse: weight + presynaptic index; delayed: + delay field
    index_bits = max(1, math.ceil(math.log2(max([m.shape[1] for m in mats] + [n]))))
    delay_bits = math.ceil(math.log2(depth + 1)) if depth else 0
    synapse_bits = synapses * (bits + index_bits + delay_bits)
    state_bits = n * NEURON_STATE_BITS
    if channels is not None:  # each delay channel is a synapse group with its own delay buffer
        state_bits += sum(n * (int(d) + 1) * ACCUMULATOR_BITS for d in channels.delays if d)
    elif depth:
        state_bits += n * (depth + 1) * ACCUMULATOR_BITS
    memory = math.ceil((synapse_bits + state_bits) / 8)
    by_neurons = math.ceil(n / NEURONS_PER_CORE)
    by_memory = math.ceil(memory / MEMORY_PER_CORE)
    limiting = "memory" if by_memory > by_neurons else "neurons"
    return LayerResources(index, layer.type, n, synapses, recurrent, nonzero, bits, depth, memory,
                          max(by_neurons, by_memory, 1), limiting)


@dataclass
class ChipFit:
    layers: list[LayerResources]
    cores: int
    fits: bool
    verdict: str


def chip_fit(spec: NetworkSpec, delayed_synapse: str = "dense") -> ChipFit:
    """Per-layer resources and a fits / does-not-fit verdict for one chip, the
    delayed recurrence built as ``delayed_synapse`` (as ``deploy``)."""
    layers = [layer_resources(i, layer, delayed_synapse) for i, layer in enumerate(spec.layers, start=1)]
    cores = sum(r.cores for r in layers)
    over_delay = [r for r in layers if r.delay_depth > MAX_DELAY]
    if over_delay:
        r = over_delay[0]
        return ChipFit(layers, cores, False,
                       f"does not fit: layer {r.index} needs delay depth {r.delay_depth} > {MAX_DELAY}")
    if cores > CORES_PER_CHIP:
        worst = max(layers, key=lambda r: r.cores)
        return ChipFit(layers, cores, False,
                       f"does not fit: needs about {cores} cores > {CORES_PER_CHIP}; limiting resource "
                       f"is {worst.limiting} of layer {worst.index} ({worst.cores} cores)")
    worst = max(layers, key=lambda r: r.cores)
    return ChipFit(layers, cores, True,
                   f"fits: about {cores} of {CORES_PER_CHIP} cores; the largest layer is "
                   f"layer {worst.index} ({worst.cores} cores, limited by {worst.limiting})")


def fit_table(fit: ChipFit) -> str:
    header = ("layer", "type", "neurons", "synapses", "recurrent", "non-zero", "weight bits", "delay depth",
              "memory KiB", "cores", "limit")
    rows = [(str(r.index), r.type, str(r.neurons), str(r.synapses), str(r.recurrent_synapses), str(r.nonzero_synapses),
             str(r.weight_bits), str(r.delay_depth), f"{r.memory_bytes / 1024:.1f}", str(r.cores), r.limiting)
            for r in fit.layers]
    widths = [max(len(x[c]) for x in rows + [header]) for c in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    lines.append("synapses and recurrent: as the Loihi 2 graph builds them (Dense / DelayDense store every entry); "
                 "non-zero: the weights that are not 0")
    lines.append(f"Loihi 2 estimate (limits per core: {NEURONS_PER_CORE} neurons, "
                 f"{MEMORY_PER_CORE // 1024} KiB memory; {CORES_PER_CHIP} cores per chip; see docs/loihi2.md): "
                 f"{fit.verdict}")
    return "\n".join(lines)
