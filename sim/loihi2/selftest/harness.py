"""Run one micro-test graph in its own runtime on a backend, the way the
hardware graph runs (:mod:`sim.loihi2.graph`): host source -> ``InputAdapter``
-> the micro-test's chip processes -> ``OutputAdapter`` -> host sink per
recorded neuron group, their voltages through the backend's probe, compiled
through the preflight (the model table is kept). Every failure is caught and
recorded; nothing here raises for a chip that behaves differently."""
from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.lava_runtime import stop_quietly
from sim.loihi2.adapters.process import InputAdapter, OutputAdapter
from sim.loihi2.backend import HardwareBackend
from sim.loihi2.execution import Offsets
from sim.loihi2.preflight import model_table, preflight

__all__ = ["MicroGraph", "MicroTest", "MicroResult", "SLACK", "run_micro", "error_text"]

#: extra steps each micro-test runs, so that adapter offsets up to this many steps still show all of it
SLACK = 16


@dataclass
class MicroGraph:
    """A micro-test's processes: input spikes ``data`` ``[C, T]`` go into
    each InPort of ``entry``; ``neurons``: the LIF processes whose spikes and
    voltages are recorded, rows stacked in this order."""

    data: np.ndarray
    entry: list
    neurons: list


@dataclass(frozen=True)
class MicroTest:
    """``name``: its key in the archive; ``checks``: what it asks of the chip;
    ``fallback``: what to switch if the chip differs; ``make``: builds fresh
    processes."""

    name: str
    checks: str
    fallback: str
    make: Callable[[], MicroGraph]


@dataclass
class MicroResult:
    """``status``: ``ok``, ``compile error`` or ``run error`` (``message``
    says why); ``spikes`` uint8 / ``voltage`` int64 ``[N, T]`` aligned by the
    offsets (column ``t``: step ``t``), ``raw_*`` the rings as read;
    ``raw_unsigned``: a voltage came back as a raw 24-bit value."""

    status: str
    message: str = ""
    models: str = ""
    spikes: np.ndarray | None = None
    voltage: np.ndarray | None = None
    raw_spikes: np.ndarray | None = None
    raw_voltage: np.ndarray | None = None
    raw_unsigned: bool = False


def error_text(err: BaseException) -> str:
    lines = traceback.format_exception_only(type(err), err)
    return " ".join(line.strip() for line in lines)[:2000]


def run_micro(test: MicroTest, backend: HardwareBackend, offsets: Offsets) -> MicroResult:
    """Build, preflight, run ``T + SLACK`` steps and read back ``test`` on
    ``backend``; the rings are cut at ``offsets``."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    try:
        micro = test.make()
        channels, steps = micro.data.shape
        span = steps + SLACK
        data = np.zeros((channels, span), np.int32)
        data[:, :steps] = micro.data
        source = Source(data=data)
        source.name = f"{test.name}.source"
        adapter = InputAdapter(shape=(channels,), name=f"{test.name}.input_adapter")
        source.s_out.connect(adapter.inp)
        adapter.out.connect(micro.entry)
        sinks, probes = [], []
        for k, neuron in enumerate(micro.neurons):
            out = OutputAdapter(shape=neuron.s_out.shape, name=f"{test.name}.output_adapter{k}")
            sink = Sink(shape=neuron.s_out.shape, buffer=span)
            sink.name = f"{test.name}.sink{k}"
            neuron.s_out.connect(out.inp)
            out.out.connect(sink.a_in)
            sinks.append(sink)
            probes.append(backend.voltage_probe(neuron.v, span))
        callbacks = [p.callback for p in probes if p.callback is not None]
        executable, choices = preflight(source, backend.run_config(callbacks), backend.is_chip_model, backend.name)
    except Exception as err:  # noqa: BLE001 -- a compile failure is a result of the test
        table = getattr(err, "table", "")
        return MicroResult("compile error", error_text(err), table)
    models = model_table(choices)
    try:
        source.create_runtime(executable=executable)
        try:
            source.run(condition=RunSteps(num_steps=span))
            raw_spikes = np.concatenate([np.asarray(s.data.get()).astype(np.uint8) for s in sinks])
            raw_voltage = np.concatenate([p.read() for p in probes])
        finally:
            stop_quietly(source)
    except Exception as err:  # noqa: BLE001 -- a run failure is a result of the test
        return MicroResult("run error", error_text(err), models)
    return MicroResult("ok", "", models, raw_spikes[:, offsets.spikes:offsets.spikes + steps],
                       raw_voltage[:, offsets.voltage:offsets.voltage + steps], raw_spikes, raw_voltage,
                       any(p.raw_unsigned for p in probes))
