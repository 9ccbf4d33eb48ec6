"""Preflight (sim/loihi2/preflight.py): every process's model is listed, and a
chip-side process that got a CPU model stops the run -- shown under
Loihi2SimCfg, where Lava's bit-accurate models stand for the chip's."""
import numpy as np
import pytest
from factories import hardware_input, hardware_model
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.run_configs import AbstractNcProcessModel, Loihi2SimCfg
from lava.proc.lif.models import PyLifResetModelBitAcc, PyLifResetModelFloat
from lava.proc.lif.process import LIFReset
from lava.proc.sparse.models import PyDelaySparseModelFloat
from lava.proc.sparse.process import DelaySparse

from netx_export.exporter import blocks_to_spec
from sim.errors import ChipCompileError, ChipFallbackError
from sim.loihi2 import execution
from sim.loihi2.backend import CpuRehearsal, Loihi2Hardware
from sim.loihi2.preflight import ModelChoice, check_on_chip, model_table
from sim.loihi2.runner import HardwareRunner

SPEC = blocks_to_spec(list(hardware_model().blocks))
X = hardware_input(samples=1)


class ForcedOntoCpu(CpuRehearsal):
    """The rehearsal with some chip-side processes forced onto float (CPU-only) models."""

    def __init__(self, forced):
        self.forced = forced

    def run_config(self, callbacks):
        return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=self.forced)


def test_every_process_is_listed_with_its_model():
    runner = HardwareRunner(SPEC, "cpu")
    compiled = runner.compile(runner.plan(X), X, record_voltage=True)
    names = {c.process for c in compiled.choices}
    assert {"input_source", "input_adapter", "layer4.output_adapter", "layer4.sink", "layer4.lif.v.reader"} <= names
    layer_parts = {f"layer{i}.{part}" for i in range(1, 5) for part in ("lif", "dense")}
    assert layer_parts | {"layer2.rec", "layer3.rec"} <= names
    assert len(names) == 5 + 4 * 2 + 2
    chip = [c for c in compiled.choices if c.chip_side]
    assert len(chip) == 10 and all(c.on_chip for c in chip)
    table = [line.split() for line in model_table(compiled.choices).splitlines()]
    assert table[0] == ["process", "type", "model", "runs", "on"] and len(table) == 1 + len(names)
    assert ["layer2.rec", "DelayDense", "PyDelayDenseModelBitAcc", "chip"] in table
    assert ["layer1.lif", "LIFReset", "PyLifResetModelBitAcc", "chip"] in table
    assert ["input_adapter", "InputAdapter", "PyInputAdapterModel", "host"] in table


def test_a_process_forced_onto_a_cpu_model_is_reported():
    lines = []
    runner = HardwareRunner(SPEC, ForcedOntoCpu({DelaySparse: PyDelaySparseModelFloat}), delayed_synapse="sparse",
                            log=lines.append)
    with pytest.raises(ChipFallbackError) as err:
        runner.compile(runner.plan(X), X)
    assert lines[-1].startswith("process models (preflight, chip-side processes on the CPU):")
    assert ["layer2.rec", "DelaySparse", "PyDelaySparseModelFloat", "CPU", "FALLBACK"] in \
        [line.split() for line in lines[-1].splitlines()]
    message = str(err.value)
    assert "\n" not in message and message.startswith("2 chip-side process(es) did not get a model for cpu")
    assert "layer2.rec (DelaySparse) -> PyDelaySparseModelFloat; layer3.rec (DelaySparse) -> " \
           "PyDelaySparseModelFloat" in message
    assert "lif" not in message and "dense" not in message


def test_forced_neurons_are_reported_too():
    runner = HardwareRunner(SPEC, ForcedOntoCpu({LIFReset: PyLifResetModelFloat}))
    with pytest.raises(ChipFallbackError, match=r"^4 chip-side .*layer1\.lif \(LIFReset\) -> PyLifResetModelFloat"):
        runner.compile(runner.plan(X), X)


def test_loihi2_counts_only_neuro_core_models():
    class NcLifReset(AbstractNcProcessModel):  # what lava-loihi would provide
        pass
    rule = Loihi2Hardware().is_chip_model
    assert rule(NcLifReset) and not rule(PyLifResetModelBitAcc)
    choices = [ModelChoice("layer1.lif", "LIFReset", NcLifReset, True, rule(NcLifReset)),
               ModelChoice("layer1.rec", "DelaySparse", PyDelaySparseModelFloat, True,
                           rule(PyDelaySparseModelFloat)),
               ModelChoice("input_source", "RingBuffer", object, False, False)]
    with pytest.raises(ChipFallbackError, match=r"^1 chip-side .*loihi2.*: layer1\.rec \(DelaySparse\) -> "
                                                r"PyDelaySparseModelFloat$"):
        check_on_chip(choices, "loihi2")
    assert "CPU FALLBACK" in model_table(choices) and np.sum(["host" in line for line in
                                                               model_table(choices).splitlines()]) == 1


class Orphan(AbstractProcess):
    """A process no model exists for."""

    def __init__(self):
        super().__init__(name="orphan")
        self.inp = InPort(shape=(3,))


def test_a_graph_that_does_not_compile_still_reports_its_model_table(monkeypatch):
    """Where compilation itself fails (here: a process without any model joins
    the graph), the table of what Lava had chosen is logged before the
    one-line error."""
    build = execution.build_graph

    def with_orphan(*args, **kwargs):
        graph, probes = build(*args, **kwargs)
        graph.net.layers[-1].neuron.s_out.connect(Orphan().inp)
        return graph, probes
    monkeypatch.setattr(execution, "build_graph", with_orphan)
    lines = []
    runner = HardwareRunner(SPEC, "cpu", log=lines.append)
    with pytest.raises(ChipCompileError) as err:
        runner.compile(runner.plan(X), X)
    message = str(err.value)
    assert "\n" not in message and message.startswith("cpu: the graph did not compile: ") and "Orphan" in message
    assert lines[-1].startswith("process models (preflight, compilation failed):")
    table = [line.split() for line in lines[-1].splitlines()[1:]]
    assert table[0] == ["process", "type", "model", "runs", "on"]
    assert ["orphan", "Orphan", "no", "model", "chosen", "host"] in table
    assert {row[0] for row in table[1:]} >= {"layer1.lif", "layer4.sink", "input_adapter"}
