"""The Loihi 2 graph (sim/loihi2/graph.py) and its runner, without hardware:
its topology against lava-dl's NetX hardware test, and its CPU rehearsal
(Lava's own bit-accurate models, LIFReset between samples, no Var.set)
against each sample's exact result alone -- the training-side quantized
model and the fixed-point simulator, which share no code with the graph."""
import dataclasses
import sys
import types
from collections import deque

import numpy as np
import pytest
import torch
from factories import hardware_input, hardware_model
from lava.magma.compiler.compiler_graphs import find_processes
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.process import LIF, LIFReset
from lava.proc.monitor.process import Monitor
from lava.proc.sparse.process import DelaySparse, Sparse
from scipy.sparse import csr_matrix

from lava_convdelay.nn.readout import to_voltage_units
from netx_export.exporter import blocks_to_spec
from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from sim.fixed_point import simulate
from sim.lava_network import delay_pattern, delayed_recurrence
from sim.loihi2.adapters.models import NxInputAdapterModel, NxOutputAdapterModel
from sim.loihi2.adapters.process import InputAdapter, OutputAdapter
from sim.loihi2.backend import CpuRehearsal, Loihi2Hardware
from sim.loihi2.calibration import calibrate
from sim.loihi2.runner import HardwareRunner, Offsets, compare_with_exact
from sim.loihi2.schedule import LATENCY_ALLOWANCE

NEURON = {"threshold": 1.0, "current_decay": 0.5, "voltage_decay": 0.2}
CHIP = (LIF, Dense, Sparse, DelayDense, DelaySparse)
HOST = (Source, Sink)


@pytest.fixture(scope="module")
def quiet():
    """A network whose activity dies out within 128 steps of each sample's start."""
    model = hardware_model()
    return model, blocks_to_spec(list(model.blocks)), hardware_input()


def edges(processes):
    """(source process, destination process) of every port connection."""
    out = []
    for p in processes:
        for port in p.out_ports.members:
            out += [(p, dst.process) for dst in port.out_connections]
    return out


@pytest.fixture
def fake_state_probe(monkeypatch):
    """lava-loihi's StateProbe, at the import boundary: it only records its Var."""
    class StateProbe:
        def __init__(self, var):
            self.var = var
    module = types.ModuleType("lava.utils.loihi2_state_probes")
    module.StateProbe = StateProbe
    monkeypatch.setitem(sys.modules, "lava.utils.loihi2_state_probes", module)
    return StateProbe


def test_loihi2_graph_has_netx_hardware_topology(quiet, fake_state_probe):
    """lava-dl tests/lava/lib/dl/netx/test_hdf5_nx.py: io.source.RingBuffer ->
    spike adapter -> net.inp; net.out -> NxToPyAdapter -> io.sink.RingBuffer;
    LIFReset layers (reset_offset 1 for spike input, as its
    test_pilotnet_lif_spike_input); no Monitor; the voltage by a state probe."""
    model, spec, x = quiet
    runner = HardwareRunner(spec, Loihi2Hardware())
    plan = runner.plan(x, record_voltage=True)
    graph, probe = runner.build(plan, x, record_layers=True, record_voltage=True)
    processes = find_processes(graph.source)
    host = [p for p in processes if isinstance(p, HOST)]
    chip = [p for p in processes if isinstance(p, CHIP)]
    assert len(host) == 1 + 4 and len(chip) == 4 * 2 + 2 and len(processes) == len(host) + len(chip) + 1 + 4
    for a, b in edges(processes):
        assert not (isinstance(a, HOST) and isinstance(b, CHIP)), f"host {a.name} -> chip {b.name}"
        assert not (isinstance(a, CHIP) and isinstance(b, HOST)), f"chip {a.name} -> host {b.name}"
    links = {(a.name, b.name) for a, b in edges(processes)}
    assert ("input_source", "input_adapter") in links and ("input_adapter", "layer1.dense") in links
    for i in range(1, 5):
        assert (f"layer{i}.lif", f"layer{i}.output_adapter") in links
        assert (f"layer{i}.output_adapter", f"layer{i}.sink") in links
    assert not any(isinstance(p, Monitor) for p in processes)
    assert not any(port.get_dst_ports() or port.get_src_ports() for p in processes for port in p.ref_ports.members)
    period = plan.schedule.period
    assert period & (period - 1) == 0
    for i, layer in enumerate(graph.net.layers, start=1):
        assert type(layer.neuron) is LIFReset
        assert layer.neuron.proc_params["reset_interval"] == period
        assert layer.neuron.proc_params["reset_offset"] == 1 + i
    assert len(probe) == 1 and isinstance(probe[0].callback, fake_state_probe)
    assert probe[0].callback.var is graph.net.layers[-1].neuron.v
    probe = probe[0]
    config = runner.backend.run_config([probe.callback])
    assert isinstance(config, Loihi2HwCfg) and config.callback_fxs == [probe.callback]
    assert config.exception_proc_model_map == {InputAdapter: NxInputAdapterModel,
                                               OutputAdapter: NxOutputAdapterModel}


def test_cpu_rehearsal_equals_each_sample_alone(quiet, monkeypatch):
    """Every layer, every column, and the output voltage, per sample, equal the
    sample run alone from rest; nothing is set from the host between samples."""
    model, spec, x = quiet
    calls = []
    monkeypatch.setattr(Var, "set", lambda self, *a, **k: calls.append(self.name))
    x = x[:3]
    runner = HardwareRunner(spec, "cpu")
    results = runner.run_many(x, record_layers=True, record_voltage=True, progress=False)
    assert calls == []
    assert runner.last_plan.schedule.period == 128 and not runner.last_plan.exposed.size
    with torch.no_grad():
        trained = [s.numpy().astype(np.uint8) for s in model(torch.as_tensor(x, dtype=torch.float32),
                                                               all_layers=True)]
    fixed = simulate(spec, x, record_layers=True, record_voltage=True)
    for k, result in enumerate(results):
        assert result.output.shape == (3, 30)
        for i, got in enumerate(result.layers):
            assert trained[i][k].sum() > 0, f"layer {i + 1} silent: weak test"
            np.testing.assert_array_equal(got, trained[i][k], err_msg=f"sample {k}, layer {i + 1}")
        np.testing.assert_array_equal(result.voltage, fixed.voltage[k], err_msg=f"sample {k}")
    assert compare_with_exact(runner.spec, x, results).equal.all()


def test_voltage_readout_equals_each_sample_alone():
    """A non-spiking output layer (the voltage readout): its integer voltage
    per step equals the training side's, sample by sample, and so do the
    decisions."""
    model = hardware_model(output="affine")
    spec = blocks_to_spec(list(model.blocks))
    assert spec.readout == "voltage_sum"
    x = hardware_input(samples=3)
    runner = HardwareRunner(spec, "cpu")
    graph, _ = runner.build(runner.plan(x), x)
    # the file says 2^18 - 1; every simulator and graph uses READOUT_VTH = 2^16 - 1 (sim/readout_band.py)
    assert spec.layers[-1].neuron.vth_mant == 2 ** 18 - 1 and graph.net.layers[-1].neuron.vth.init == 2 ** 16 - 1
    assert graph.net.layers[0].neuron.vth.init == spec.layers[0].neuron.vth_mant
    results = runner.run_many(x, record_voltage=True, progress=False)
    with torch.no_grad():
        trained = to_voltage_units(model(torch.as_tensor(x, dtype=torch.float32))).numpy()
    assert np.count_nonzero(trained) > trained.size // 2
    for k, result in enumerate(results):
        np.testing.assert_array_equal(result.voltage, trained[k], err_msg=f"sample {k}")
        assert not result.output.any()
    agreement = compare_with_exact(runner.spec, x, results)
    assert agreement.equal.all() and agreement.entries == 1 and agreement.decisions == 1
    assert agreement.readout == "voltage_sum" and "output voltage entries" in agreement.describe()
    assert runner.last_plan.voltage  # the plan counted the readout's voltage (tests/test_schedule.py)
    with pytest.raises(ValueError, match="voltage readout: record its voltage"):
        compare_with_exact(runner.spec, x, [dataclasses.replace(r, voltage=None) for r in results])


def test_each_layer_resets_in_the_step_its_first_input_arrives():
    """A chain whose current outlasts many steps: the input of step 0 reaches
    layer l in step l, and a reset one step later would wipe it."""
    lasting = CubaParams(i_decay=400, v_decay=4095, vth_mant=100)
    spec = NetworkSpec(1, [LayerSpec("dense", np.array([[254]], np.int64), lasting),
                           LayerSpec("dense", np.array([[254]], np.int64), lasting)], source="<chain>")
    x = np.zeros((2, 1, 8), np.int8)
    x[:, 0, 0] = 1
    results = HardwareRunner(spec, "cpu").run_many(x, record_layers=True, progress=False)
    fixed = simulate(spec, x, record_layers=True)
    assert fixed.layers[0][0, 0, 1:3].all() and fixed.layers[1][0, 0, 2:4].all()  # the first steps matter
    for k, result in enumerate(results):
        for i, got in enumerate(result.layers):
            np.testing.assert_array_equal(got, fixed.layers[i][k], err_msg=f"sample {k}, layer {i + 1}")


@pytest.mark.parametrize("option,kinds", [
    ("dense", [[DelayDense], [DelayDense]]),
    ("groups", None),  # one scalar-delay DelayDense (Dense for 0) per distinct delay
    ("sparse", [[DelaySparse], [DelaySparse]]),
])
def test_delayed_synapse_options_are_bit_identical(quiet, option, kinds):
    """Every layer of each sample, including a tail of silent steps after the input."""
    model, spec, x = quiet
    runner = HardwareRunner(spec, "cpu", delayed_synapse=option)
    plan = runner.plan(x[:2])
    graph, _ = runner.build(plan, x[:2])
    built = [[type(p) for p in layer.recurrent] for layer in graph.net.layers if layer.recurrent]
    if kinds is None:
        for layer, spec_layer in zip([n for n in graph.net.layers if n.recurrent], spec.layers[1:3]):
            used = np.flatnonzero(np.asarray(spec_layer.weight_rec).any(axis=0))
            delays = sorted(set(spec_layer.delay_rec[used].tolist()))
            assert [p.name.rsplit(".d", 1)[1] for p in layer.recurrent] == [str(d) for d in delays]
            assert all(type(p) is (Dense if d == 0 else DelayDense) for p, d in zip(layer.recurrent, delays))
            assert len(delays) > 3
    else:
        assert built == kinds
    results = runner.run_many(x[:2], record_layers=True, tail=12, progress=False)
    fixed = simulate(spec, np.concatenate([x[:2], np.zeros((2, 8, 12), np.int8)], axis=2), record_layers=True)
    for k, result in enumerate(results):
        assert result.output.shape == (3, 42)
        for i, got in enumerate(result.layers):
            np.testing.assert_array_equal(got, fixed.layers[i][k], err_msg=f"sample {k}, layer {i + 1}")


def test_leaks_are_predicted_and_measured():
    """At the shortest period the samples' activity is still going at the
    resets: the plan says which samples are exposed; every other sample is
    exact, and the exposed ones are reported as measured."""
    spec = blocks_to_spec(list(hardware_model().blocks))
    x = hardware_input()
    runner = HardwareRunner(spec, "cpu")
    planned = runner.plan(x)
    short = runner.plan(x, period=64)
    exposed = short.exposed
    assert planned.schedule.period == 128 and not planned.exposed.size and exposed.size
    results = runner.run_many(x, period=64, progress=False)
    agreement = compare_with_exact(runner.spec, x, results)
    assert agreement.equal[np.setdiff1d(np.arange(len(x)), exposed)].all()
    assert not agreement.equal[exposed].all() and 0.9 < agreement.entries < 1
    assert "equal to each sample's exact result alone in" in agreement.describe()


def late_model(process, lag):
    """A CPU model of ``process`` (an adapter) that takes ``lag`` steps, as a
    hardware adapter may."""
    @implements(proc=process, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class Late(PyLoihiProcessModel):
        inp: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
        out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)
        queue = None

        def run_spk(self) -> None:
            spikes = self.inp.recv()
            if self.queue is None:
                self.queue = deque([np.zeros_like(spikes)] * lag)
            self.queue.append(spikes)
            self.out.send(self.queue.popleft())
    return Late


class LateAdapters(CpuRehearsal):
    """The CPU rehearsal with adapters that take ``input_lag`` / ``output_lag`` steps."""

    def __init__(self, input_lag, output_lag):
        self.models = {InputAdapter: late_model(InputAdapter, input_lag),
                       OutputAdapter: late_model(OutputAdapter, output_lag)}

    def run_config(self, callbacks):
        return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=self.models)


def test_adapter_offsets_are_measured_and_applied(quiet):
    """The CPU's pass-through adapters add no step. Adapters that do are
    measured by the calibration, the results are read back that much later,
    and an input that arrives after the resets (up to the plan's allowance)
    leaves every sample exact."""
    assert calibrate("cpu").offsets == Offsets(spikes=0, voltage=0)
    assert calibrate(LateAdapters(0, 1)).offsets == Offsets(spikes=1, voltage=0)
    late = LateAdapters(2, 1)
    assert calibrate(late).offsets == Offsets(spikes=3, voltage=2)
    model, spec, x = quiet
    results = HardwareRunner(spec, late).run_many(x[:2], record_voltage=True, progress=False)
    fixed = simulate(spec, x[:2], record_voltage=True)
    for k, result in enumerate(results):
        np.testing.assert_array_equal(result.output, fixed.output[k], err_msg=f"sample {k}")
        np.testing.assert_array_equal(result.voltage, fixed.voltage[k], err_msg=f"sample {k}")


def test_an_input_later_than_the_allowance_is_rechecked(quiet):
    model, spec, x = quiet
    lines = []
    runner = HardwareRunner(spec, LateAdapters(LATENCY_ALLOWANCE + 2, 0), log=lines.append)
    runner.run_many(x[:1], progress=False)
    assert runner.last_plan.margin == LATENCY_ALLOWANCE + 2
    assert lines[-1].startswith(f"the input arrives up to {LATENCY_ALLOWANCE + 2} steps after the planned resets")


def test_chip_adapter_models_insert_the_embedded_io_adapters(monkeypatch):
    """On Loihi 2 each adapter becomes lava-loihi's embedded_io.spike adapter,
    wired between the adapter's ports (a stand-in process at the import boundary)."""
    made = []

    def stand_in(name):
        def make(shape):
            made.append((name, shape))
            return InputAdapter(shape=shape)  # any process with inp / out ports
        return make
    spike = types.ModuleType("lava.proc.embedded_io.spike")
    spike.PyToNxAdapter, spike.NxToPyAdapter = stand_in("PyToNxAdapter"), stand_in("NxToPyAdapter")
    package = types.ModuleType("lava.proc.embedded_io")
    package.spike = spike
    monkeypatch.setitem(sys.modules, "lava.proc.embedded_io", package)
    monkeypatch.setitem(sys.modules, "lava.proc.embedded_io.spike", spike)
    for process, model, name in ((InputAdapter(shape=(5,)), NxInputAdapterModel, "PyToNxAdapter"),
                                 (OutputAdapter(shape=(5,)), NxOutputAdapterModel, "NxToPyAdapter")):
        inner = model(process).embedded
        assert made[-1] == (name, (5,))
        assert process.inp.get_dst_ports() == [inner.inp] and inner.out.get_dst_ports() == [process.out]


def test_host_reset_equals_the_lifreset_run_and_each_sample_alone(quiet, monkeypatch):
    """The host-reset schedule (plain LIF, u and v zeroed with Var.set between
    samples, silent steps for the spikes in flight): every layer, the output
    voltage and every layer's voltage equal today's LIFReset run and each
    sample alone."""
    model, spec, x = quiet
    x = x[:3]
    sets = []
    original = Var.set

    def recording(self, value, *args, **kwargs):
        sets.append((self.process.name, self.name, int(np.count_nonzero(value))))
        return original(self, value, *args, **kwargs)
    lifreset = HardwareRunner(spec, "cpu").run_many(x, record_layers=True, record_voltage=True, progress=False)
    monkeypatch.setattr(Var, "set", recording)
    runner = HardwareRunner(spec, "cpu", reset="host")
    host = runner.run_many(x, record_layers=True, record_voltage=True, progress=False, record_layer_voltages=True)
    assert runner.last_plan.schedule.host_reset and runner.last_plan.schedule.period == 128
    assert not runner.last_plan.exposed.size
    # between the 3 samples, not after the last
    assert sets == [(f"layer{i}.lif", var, 0) for _ in range(2) for i in range(1, 5) for var in ("u", "v")]
    fixed = simulate(spec, x, record_layers=True, record_voltage=True)
    for k, (a, b) in enumerate(zip(host, lifreset)):
        for i, (got, expected) in enumerate(zip(a.layers, b.layers)):
            np.testing.assert_array_equal(got, expected, err_msg=f"sample {k}, layer {i + 1}")
            np.testing.assert_array_equal(got, fixed.layers[i][k], err_msg=f"sample {k}, layer {i + 1}")
        np.testing.assert_array_equal(a.voltage, b.voltage, err_msg=f"sample {k}")
        np.testing.assert_array_equal(a.layer_voltages[-1], a.voltage)
        assert len(a.layer_voltages) == 4 and all(v.shape == (n, 30) for v, n in zip(a.layer_voltages,
                                                                                      (10, 12, 8, 3)))
    assert compare_with_exact(runner.spec, x, host).equal.all()


def test_sparse_delays_keep_the_weights_pattern():
    """The DelaySparse delay matrix is stored on the weight matrix's own pattern:
    a delay of 0 beside a non-zero weight stays an explicit entry, where
    csr_matrix(delays) drops it."""
    weights = np.array([[254, 0, 6], [0, 8, 10], [12, 0, 0]])
    delay_rec = np.array([0, 3, 5])
    sparse = csr_matrix(weights)
    delays = delay_pattern(sparse, delay_rec)
    assert delays.nnz == sparse.nnz == 5 and (delays.data == 0).sum() == 2  # columns 0: delay 0
    np.testing.assert_array_equal(delays.indices, sparse.indices)
    np.testing.assert_array_equal(delays.indptr, sparse.indptr)
    np.testing.assert_array_equal(delays.toarray(), np.where(weights != 0, delay_rec[None, :], 0))
    assert csr_matrix(delays.toarray()).nnz == 3  # what the old construction stored
    process, = delayed_recurrence(weights, delay_rec, "rec", {}, "sparse")
    assert type(process) is DelaySparse and process.a_buff.shape == (3, 6)  # max_delay 5
    assert (process.delays.init != csr_matrix(delays.toarray())).nnz == 0 and process.delays.init.nnz == 5
