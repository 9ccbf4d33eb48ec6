"""Build, preflight and run a hardware graph (:mod:`sim.loihi2.graph`) on a
backend: what the runner (:mod:`sim.loihi2.runner`) and the calibration
(:mod:`sim.loihi2.calibration`) share."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from netx_export.spec import NetworkSpec
from sim.lava_runtime import stop_quietly
from sim.loihi2.backend import HardwareBackend
from sim.loihi2.graph import HardwareGraph, build_hardware_graph
from sim.loihi2.preflight import ModelChoice, preflight
from sim.loihi2.schedule import Plan

__all__ = ["Offsets", "Compiled", "build_graph", "compile_graph", "execute"]


@dataclass(frozen=True)
class Offsets:
    """Ring slot of a sample's column 0: in the output sinks (``spikes``) and
    in the voltage probe's data (``voltage``)."""

    spikes: int
    voltage: int


@dataclass
class Compiled:
    """A built and compiled graph, ready to run; ``probe``: the output layer's
    voltage probe (or None)."""

    graph: HardwareGraph
    executable: object
    choices: list[ModelChoice]
    probe: object | None
    samples: int


def execute(compiled: Compiled, period: int, on_sample: Callable[[int, list, np.ndarray | None], None]) -> None:
    """Run ``compiled`` one ``period`` after the other; after each sample call
    ``on_sample(k, rings, voltage_ring)`` with every sink's ``[N, period]`` ring
    and the probe's (or None). Always stops the runtime."""
    from lava.magma.core.run_conditions import RunSteps

    source = compiled.graph.source
    source.create_runtime(executable=compiled.executable)
    try:
        for k in range(compiled.samples):
            source.run(condition=RunSteps(num_steps=period))
            rings = [np.asarray(sink.data.get()).astype(np.uint8) for sink in compiled.graph.sinks]
            on_sample(k, rings, compiled.probe.read() if compiled.probe is not None else None)
    except BaseException:
        stop_quietly(source)
        raise
    source.stop()


def build_graph(spec: NetworkSpec, backend: HardwareBackend, plan_: Plan, spikes: np.ndarray,
                record_layers: bool = False, record_voltage: bool = False,
                delayed_synapse: str = "sparse") -> tuple[HardwareGraph, object | None]:
    """The graph of the validated ``spec`` for ``spikes`` ``[B, C, T]`` on ``plan_``'s
    schedule and the output layer's voltage probe (None unless ``record_voltage``),
    built but not compiled."""
    schedule = plan_.schedule
    samples, channels, steps = spikes.shape
    data = np.zeros((channels, samples, schedule.period), np.int32)
    data[:, :, :steps] = spikes.transpose(1, 0, 2)
    graph = build_hardware_graph(spec, data.reshape(channels, -1), schedule.reset, schedule.period,
                                 record_layers, delayed_synapse)
    probe = backend.voltage_probe(graph.net.layers[-1].neuron.v, schedule.period) if record_voltage else None
    return graph, probe


def compile_graph(spec: NetworkSpec, backend: HardwareBackend, plan_: Plan, spikes: np.ndarray,
                  record_layers: bool = False, record_voltage: bool = False,
                  delayed_synapse: str = "sparse") -> Compiled:
    """:func:`build_graph`, compiled and preflighted (raises
    :class:`~sim.errors.ChipFallbackError`)."""
    graph, probe = build_graph(spec, backend, plan_, spikes, record_layers, record_voltage, delayed_synapse)
    callbacks = [probe.callback] if probe is not None and probe.callback is not None else []
    executable, choices = preflight(graph.source, backend.run_config(callbacks), backend.is_chip_model, backend.name)
    return Compiled(graph, executable, choices, probe, len(spikes))
