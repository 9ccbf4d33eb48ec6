"""An energy estimate per inference from the operation counts
(:mod:`sim.operations`) and published per-operation energies.

No per-operation energy of **Loihi 2** is published (Intel's Loihi 2 brief,
Orchard et al. 2021 and Shrestha et al. 2024 give per-workload energies
measured with lava-loihi's profiler); the constants below are **Loihi 1**
figures, so the estimate is a Loihi-1-class range, not a Loihi 2 prediction.
The range is the spread between the sources, applied at both ends: the low
end charges only synapses with a non-zero weight at the lower constants, the
high end every synapse as built at the higher ones. The board's static power
is a separate line: it dominates small networks, and is one measurement.
INRC members measure the real figure with ``lava.utils.profiler.Profiler``
(docs/loihi2.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.operations import Operations

__all__ = ["EnergyConstant", "SYNOP", "NEURON_UPDATE", "STATIC_POWER", "STEP_TIME", "EnergyEstimate",
           "estimate_energy"]


@dataclass(frozen=True)
class EnergyConstant:
    """``low`` .. ``high`` in ``unit``; ``chip`` they were measured on; ``source``."""

    name: str
    low: float
    high: float
    unit: str
    chip: str
    source: str


#: energy of one synaptic operation (a spike looked up in one synapse)
SYNOP = EnergyConstant(
    "synaptic operation", 23.6e-12, 35.5e-12, "J", "Loihi 1 (14 nm)",
    "low: Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', IEEE Micro 38(1), "
    "2018, characterization table, minimum per synaptic spike op (pre-silicon figures per SANA-FE), as used "
    "by nengo/keras-spiking model_energy.py; high: SANA-FE arch/loihi.yaml (SLAM-Lab/SANA-FE 0d49da8), "
    "35.5 pJ per synaptic spike fitted to Loihi 1 measurements")
#: energy of one neuron (compartment) update
NEURON_UPDATE = EnergyConstant(
    "neuron update", 51.2e-12, 81e-12, "J", "Loihi 1 (14 nm)",
    "low: SANA-FE arch/loihi.yaml, 51.2 pJ per inactive soma update (72.8 active, 69.3 spiking); high: "
    "Davies et al. 2018 via keras-spiking, 81 pJ per active neuron update")
#: board-level static power, one measurement
STATIC_POWER = EnergyConstant(
    "static power", 0.212, 0.215, "W", "Loihi 2 (N3B3 board ncl-ext-og-05)",
    "NECOTIS/TemporalLearningInRSNNs loihi_experiment/res.json: 100 runs of 10^7 steps of a 2-neuron "
    "DelayDense network, static power 0.212-0.215 W (std 0.002-0.003), board level")
#: time per step of that tiny network: the shortest a step takes; larger networks take longer
STEP_TIME = EnergyConstant(
    "time per step", 1.164e-6, 1.164e-6, "s", "Loihi 2 (N3B3)",
    "NECOTIS/TemporalLearningInRSNNs loihi_experiment/res.json, total time / 10^7 steps (a 2-neuron network: "
    "a lower bound for larger ones)")


@dataclass(frozen=True)
class EnergyEstimate:
    """Per inference (mean over the samples), joules: ``dynamic_low`` ..
    ``dynamic_high`` from the operations, ``static``: the board's static power
    over the inference's steps at the tiny network's step time (at least)."""

    dynamic_low: float
    dynamic_high: float
    static_low: float
    static_high: float

    def describe(self) -> str:
        lines = [f"energy per inference, dynamic: {_joules(self.dynamic_low)} .. {_joules(self.dynamic_high)} "
                 f"(Loihi 1 per-operation energies; Loihi 2's are unpublished)",
                 f"  low = non-zero synops x {SYNOP.low * 1e12:g} pJ + neuron updates x "
                 f"{NEURON_UPDATE.low * 1e12:g} pJ; high = built synops x {SYNOP.high * 1e12:g} pJ + neuron updates x "
                 f"{NEURON_UPDATE.high * 1e12:g} pJ",
                 f"  static (board, Loihi 2): at least {_joules(self.static_low)} .. {_joules(self.static_high)} "
                 f"({STATIC_POWER.low:g}-{STATIC_POWER.high:g} W x steps x {STEP_TIME.low * 1e6:g} us, the step "
                 f"time of a 2-neuron network)"]
        lines += [f"  {c.name}: {c.source}" for c in (SYNOP, NEURON_UPDATE, STATIC_POWER)]
        return "\n".join(lines)


def _joules(value: float) -> str:
    for unit, scale in (("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-12:.3g} pJ"


def estimate_energy(ops: Operations) -> EnergyEstimate:
    """The :class:`EnergyEstimate` of ``ops`` (mean per inference)."""
    updates = float(np.mean(ops.total("neuron_updates")))
    low = float(np.mean(ops.synops("nonzero"))) * SYNOP.low + updates * NEURON_UPDATE.low
    high = float(np.mean(ops.synops("built"))) * SYNOP.high + updates * NEURON_UPDATE.high
    seconds = ops.steps * STEP_TIME.low
    return EnergyEstimate(low, high, seconds * STATIC_POWER.low, seconds * STATIC_POWER.high)
