"""Build, preflight and run a hardware graph (:mod:`sim.loihi2.graph`) on a
backend: what the runner (:mod:`sim.loihi2.runner`), the calibration
(:mod:`sim.loihi2.calibration`) and the self-test (:mod:`sim.loihi2.selftest`)
share."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from netx_export.spec import NetworkSpec
from sim.lava_network import LavaNetwork
from sim.lava_runtime import stop_quietly
from sim.loihi2.backend import HardwareBackend
from sim.loihi2.graph import HardwareGraph, build_hardware_graph
from sim.loihi2.preflight import ModelChoice, preflight
from sim.loihi2.schedule import Plan

__all__ = ["Offsets", "Compiled", "build_graph", "compile_graph", "execute", "zero_neurons"]


@dataclass(frozen=True)
class Offsets:
    """Ring slot of a sample's column 0: in the output sinks (``spikes``) and
    in the voltage probe's data (``voltage``)."""

    spikes: int
    voltage: int


@dataclass
class Compiled:
    """A built and compiled graph, ready to run; ``probes``: voltage probes,
    ``probed[i]`` the layer (from 0) of ``probes[i]``; ``host_reset``: zero
    every layer's ``u``, ``v`` from the host after each sample."""

    graph: HardwareGraph
    executable: object
    choices: list[ModelChoice]
    samples: int
    probes: list = field(default_factory=list)
    probed: list[int] = field(default_factory=list)
    host_reset: bool = False


def zero_neurons(net: LavaNetwork) -> None:
    """``u`` and ``v`` of every layer to 0 with ``Var.set`` (int32 zeros, as
    ml_genn_netx's Loihi 2 scripts do between samples); synapse buffers stay."""
    for layer in net.layers:
        for var in (layer.neuron.u, layer.neuron.v):
            var.set(np.zeros(var.shape, dtype=np.int32))


def execute(compiled: Compiled, period: int,
            on_sample: Callable[[int, list[np.ndarray], list[np.ndarray]], None]) -> None:
    """Run ``compiled`` one ``period`` after the other; after each sample call
    ``on_sample(k, rings, voltage_rings)`` with every sink's ``[N, period]``
    ring and every probe's, then, with ``host_reset``, zero the neurons before
    the next sample (not after the last: each host write costs a chip
    round trip). Always stops the runtime."""
    from lava.magma.core.run_conditions import RunSteps

    source = compiled.graph.source
    source.create_runtime(executable=compiled.executable)
    try:
        for k in range(compiled.samples):
            source.run(condition=RunSteps(num_steps=period))
            rings = [np.asarray(sink.data.get()).astype(np.uint8) for sink in compiled.graph.sinks]
            on_sample(k, rings, [probe.read() for probe in compiled.probes])
            if compiled.host_reset and k + 1 < compiled.samples:
                zero_neurons(compiled.graph.net)
    except BaseException:
        stop_quietly(source)
        raise
    source.stop()


def build_graph(spec: NetworkSpec, backend: HardwareBackend, plan_: Plan, spikes: np.ndarray,
                record_layers: bool = False, voltage_layers: tuple[int, ...] = (),
                delayed_synapse: str = "dense") -> tuple[HardwareGraph, list]:
    """The graph of the validated ``spec`` for ``spikes`` ``[B, C, T]`` on ``plan_``'s
    schedule and a voltage probe of each layer in ``voltage_layers`` (from 0),
    built but not compiled."""
    schedule = plan_.schedule
    samples, channels, steps = spikes.shape
    data = np.zeros((channels, samples, schedule.period), np.int32)
    data[:, :, :steps] = spikes.transpose(1, 0, 2)
    graph = build_hardware_graph(spec, data.reshape(channels, -1), schedule.reset, schedule.period,
                                 record_layers, delayed_synapse)
    probes = [backend.voltage_probe(graph.net.layers[i].neuron.v, schedule.period) for i in voltage_layers]
    return graph, probes


def compile_graph(spec: NetworkSpec, backend: HardwareBackend, plan_: Plan, spikes: np.ndarray,
                  record_layers: bool = False, voltage_layers: tuple[int, ...] = (),
                  delayed_synapse: str = "dense") -> Compiled:
    """:func:`build_graph`, compiled and preflighted (raises
    :class:`~sim.errors.ChipFallbackError` or :class:`~sim.errors.ChipCompileError`)."""
    graph, probes = build_graph(spec, backend, plan_, spikes, record_layers, voltage_layers, delayed_synapse)
    callbacks = [probe.callback for probe in probes if probe.callback is not None]
    executable, choices = preflight(graph.source, backend.run_config(callbacks), backend.is_chip_model, backend.name)
    return Compiled(graph, executable, choices, len(spikes), probes, list(voltage_layers),
                    plan_.schedule.host_reset)
