"""NIR export and import: the graph's nodes and parameters, exact round trips of every
layer type (random and trained), hand-built graphs, and one clear error per refusal."""
import dataclasses
import re

import nir
import numpy as np
import pytest
from factories import NETWORKS, even_weights, hdf5_contents, make_spec, toy_datasets

from lava_convdelay.cli import main
from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.errors import DelayRangeError, UserError
from lava_convdelay.limits import VTH_NON_SPIKING
from lava_convdelay.training import normalise_config, train
from netx_export.errors import QuantizationError, UnsupportedLayerError
from netx_export.nir_export import spec_to_nir, write_nir
from netx_export.nir_import import graph_to_spec, read_nir
from netx_export.reader import read_network
from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from netx_export.writer import write_network

DT = 1e-3


def with_readout(spec, seed=0):
    """``spec`` plus a non-spiking output layer (the voltage readout)."""
    rng = np.random.default_rng(seed)
    readout = LayerSpec("dense", even_weights(rng, (3, spec.output_size)), CubaParams(1000, 700, VTH_NON_SPIKING))
    return NetworkSpec(spec.input_size, spec.layers + [readout], spec.source,
                       InputEncoding(0.004, 70, 1.4, min_spikes=2, audio='{"chain": "ünïcode"}'),
                       ["null", "eins", "fünf"])


def assert_same_file(a, b):
    (fa, attrs_a), (fb, attrs_b) = hdf5_contents(a), hdf5_contents(b)
    assert attrs_a == attrs_b and fa.keys() == fb.keys()
    for key in fa:
        assert fa[key][1] == fb[key][1] and np.array_equal(fa[key][0], fb[key][0]), key


# --------------------------------------------------------------------------- export

def test_graph_states_the_file_values_in_nir_terms(tmp_path):
    """Hand-computed NIR parameters of one delayed recurrent layer and a readout at dt = 2 ms."""
    w, r = np.array([[64, -32], [2, 254]]), np.array([[0, -256], [128, 0]])
    spec = NetworkSpec(2, [
        LayerSpec("delay_rec", w, CubaParams(1024, 512, 96), weight_rec=r, delay_rec=np.array([3, 0]), max_delay=7),
        LayerSpec("dense", np.array([[2, 4]]), CubaParams(4096, 2048, VTH_NON_SPIKING), delay=np.array([5]))])
    write_nir(spec, tmp_path / "x.nir", 0.002)
    graph = nir.read(tmp_path / "x.nir")  # NIR's reader validates every edge's types
    assert set(graph.edges) == {
        ("input", "layer1.weight"), ("layer1.weight", "layer1.neuron"), ("layer1.neuron", "layer1.rec_delay"),
        ("layer1.rec_delay", "layer1.rec_weight"), ("layer1.rec_weight", "layer1.neuron"),
        ("layer1.neuron", "layer2.weight"), ("layer2.weight", "layer2.delay"), ("layer2.delay", "layer2.neuron"),
        ("layer2.neuron", "output")}
    lif, readout = graph.nodes["layer1.neuron"], graph.nodes["layer2.neuron"]
    assert isinstance(lif, nir.CubaLIF) and isinstance(readout, nir.CubaLI)
    np.testing.assert_allclose(lif.tau_syn, [0.008, 0.008])  # dt * 4096 / 1024
    np.testing.assert_allclose(lif.w_in, [4, 4])
    np.testing.assert_allclose(lif.tau_mem, [0.016, 0.016])  # dt * 4096 / 512
    np.testing.assert_allclose(lif.r, [8, 8])
    np.testing.assert_array_equal(lif.v_threshold, [1.5, 1.5])  # 96 / 64
    np.testing.assert_array_equal(lif.v_reset, [0, 0])
    np.testing.assert_array_equal(lif.v_leak, [0, 0])
    np.testing.assert_array_equal(graph.nodes["layer1.weight"].weight, [[1, -0.5], [1 / 32, 3.96875]])
    np.testing.assert_array_equal(graph.nodes["layer1.rec_weight"].weight, [[0, -4], [2, 0]])
    np.testing.assert_allclose(graph.nodes["layer1.rec_delay"].delay, [0.006, 0])
    np.testing.assert_allclose(graph.nodes["layer2.delay"].delay, [0.010])
    np.testing.assert_allclose(readout.tau_syn, [0.002])
    np.testing.assert_allclose(readout.tau_mem, [0.004])
    assert graph.metadata["dt"] == 0.002


def test_a_decay_of_zero_has_no_nir_cubalif():
    spec = NetworkSpec(2, [LayerSpec("dense", np.zeros((1, 2), np.int64), CubaParams(0, 100, 64))], "n.h5")
    with pytest.raises(UnsupportedLayerError, match=r"^n.h5: layer 1 \(dense\): iDecay=0 \(no decay\)"):
        spec_to_nir(spec, DT)


# --------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_file_nir_file_is_identical_for_every_layer_type(tmp_path, name):
    spec = with_readout(make_spec(name, 2))
    write_network(spec, tmp_path / "a.h5")
    write_nir(read_network(tmp_path / "a.h5"), tmp_path / "a.nir", 0.004)
    result = read_nir(tmp_path / "a.nir")
    assert result.notes == [] and result.dt == 0.004
    write_network(result.spec, tmp_path / "b.h5")
    assert_same_file(tmp_path / "a.h5", tmp_path / "b.h5")


def test_trained_run_round_trips_through_the_command_line(tmp_path, capsys):
    """A run with every layer type: export-nir RUN_DIR, import-nir = export of the checkpoint."""
    config = normalise_config({"seed": 1, "model": {
        "neuron": {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03},
        "layers": [{"type": "dense", "neurons": 10, "delay": True},
                   {"type": "conv_delay_rec", "neurons": 12, "channels": 2, "kernel_size": 3, "max_delay": 6},
                   {"type": "delay_rec", "neurons": 8, "max_delay": 5},
                   {"type": "rec", "neurons": 6},
                   {"type": "affine", "neurons": 3}]},
        "train": {"epochs": 1, "batch_size": 16, "sigma_init": 0}})
    train(config, tmp_path / "run", progress=False, datasets=toy_datasets())
    assert main(["export", str(tmp_path / "run" / "checkpoint.pt"), "-o", str(tmp_path / "a.h5")]) == 0
    assert main(["export-nir", str(tmp_path / "run"), "-o", str(tmp_path / "a.nir"), "--dt", "0.01"]) == 0
    assert main(["import-nir", str(tmp_path / "a.nir"), "-o", str(tmp_path / "b.h5")]) == 0
    assert "exact: every value" in capsys.readouterr().out
    assert_same_file(tmp_path / "a.h5", tmp_path / "b.h5")
    assert [layer.type for layer in read_network(tmp_path / "b.h5").layers] == [
        "dense", "conv_rec", "delay_rec", "dense_rec", "dense"]


def test_metadata_that_does_not_fit_the_graph_is_reported_and_the_graph_wins():
    spec = make_spec("conv k5 C2", 0)
    graph = spec_to_nir(spec, DT)
    graph.nodes["layer1.rec_weight"].weight[0, 0] += 1 / 32  # the weights no longer follow the kernel
    graph.nodes["layer1.rec_delay"].metadata["maxDelay"] = 3  # below the delays
    result = graph_to_spec(graph, "g", DT)
    layer = result.spec.layers[0]
    assert layer.type == "delay_rec" and layer.max_delay == spec.layers[0].delay_rec.max() == 20
    assert layer.weight_rec[0, 0] == spec.layers[0].weight_rec[0, 0] + 2
    assert [n.split(":")[0] for n in result.notes] == ["node 'layer1.rec_delay'", "node 'layer1.rec_weight'"]


# --------------------------------------------------------------------------- hand-built graphs

def lif(n, tau_syn=0.004, tau_mem=0.008, threshold=1.5, **extra):
    """A CubaLIF whose forward-Euler gain at DT is 1 (w_in = tau_syn / DT, r = tau_mem / DT)."""
    full = lambda v: np.broadcast_to(np.asarray(v, float), (n,)).copy()  # noqa: E731
    tau_syn, tau_mem = np.asarray(tau_syn, float), np.asarray(tau_mem, float)
    fields = dict(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(tau_mem / DT), v_leak=full(0),
                  v_threshold=full(threshold), w_in=full(tau_syn / DT))
    fields.update({k: full(v) for k, v in extra.items()})
    return nir.CubaLIF(**fields)


def recurrent_graph(rec_delay=(0.002, 0.0, 0.005), w=None, rec=None, neuron=None, type_check=True):
    w = np.array([[1.0, -0.5], [0.25, 2.0], [0.0, 3.96875]]) if w is None else w
    rec = np.array([[0, 1, 0], [-1, 0, 0.5], [0, 0, -4]]) if rec is None else rec
    nodes = {"in": nir.Input(np.array([2])), "w": nir.Linear(w), "lif": neuron or lif(3),
             "d": nir.Delay(np.array(rec_delay)), "rec": nir.Linear(rec), "out": nir.Output(np.array([3]))}
    edges = [("in", "w"), ("w", "lif"), ("lif", "d"), ("d", "rec"), ("rec", "lif"), ("lif", "out")]
    return nir.NIRGraph(nodes, edges, type_check=type_check)


def test_recurrent_cycle_with_a_delay_gives_the_integers(tmp_path):
    nir.write(tmp_path / "g.nir", recurrent_graph())
    result = read_nir(tmp_path / "g.nir", dt=DT)
    assert result.notes == []
    [layer] = result.spec.layers
    assert layer.type == "delay_rec" and result.spec.input_size == 2
    assert (layer.neuron.i_decay, layer.neuron.v_decay, layer.neuron.vth_mant) == (1024, 512, 96)
    np.testing.assert_array_equal(layer.weight, [[64, -32], [16, 128], [0, 254]])
    np.testing.assert_array_equal(layer.weight_rec, [[0, 64, 0], [-64, 0, 32], [0, 0, -256]])
    np.testing.assert_array_equal(layer.delay_rec, [2, 0, 5])
    assert layer.max_delay == 5
    no_delay = nir.NIRGraph({"in": nir.Input(np.array([2])), "w": nir.Linear(np.ones((3, 2))), "lif": lif(3),
                             "rec": nir.Linear(np.eye(3)), "out": nir.Output(np.array([3]))},
                            [("in", "w"), ("w", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")])
    assert graph_to_spec(no_delay, "g", DT).spec.layers[0].type == "dense_rec"


def test_each_approximation_is_reported_and_rounded_by_the_project_rules():
    neuron = lif(3, tau_syn=0.0041, threshold=1.51, w_in=2 * 0.0041 / DT)  # gain 2, folded into the weights
    graph = recurrent_graph(rec_delay=(0.0025, 0.0, 0.0049), w=np.array([[0.5, 0.01], [0, 0], [0, 0]]),
                            rec=np.array([[0, 1, 0], [-1, 0, 0.5], [0, 0, -1]]), neuron=neuron)
    result = graph_to_spec(graph, "g.nir", DT)
    layer = result.spec.layers[0]
    assert layer.neuron.i_decay == 999  # 4096 * 1 / 4.1 = 999.02
    assert layer.neuron.vth_mant == 97  # 64 * 1.51 = 96.64
    np.testing.assert_array_equal(layer.weight[0], [64, 2])  # 2 * [0.5, 0.01] -> [1.0, 0.02 -> 1/32]
    np.testing.assert_array_equal(layer.weight_rec[1], [-128, 0, 64])
    np.testing.assert_array_equal(layer.delay_rec, [3, 0, 5])  # 2.5 -> 3 (ties up), 4.9 -> 5
    text = "\n".join(result.notes)
    assert len(result.notes) == 5, text
    for expected in (r"node 'lif': iDecay = 4096 \* dt / tau_syn 999.02\d* rounded to 999",
                     r"node 'lif': vThMant = 64 \* v_threshold 96.64 rounded to 97",
                     r"node 'lif': input gain .* = 2 \.\. 2 folded into its incoming weights",
                     r"node 'w': 1 of 6 weights moved to the 8-bit grid .*largest change 0.01125",
                     r"node 'd': 2 recurrent delay\(s\) of 0 \.\. 4.9 steps rounded"):
        assert re.search(expected, text), expected


def test_other_neuron_models_sub_graphs_flatten_and_conv1d():
    """LIF (no synaptic current: iDecay 4096), an snnTorch-style recurrent sub-graph behind a
    Flatten, a Conv1d recurrence and a CubaLI readout."""
    conv_lif = lif(6, tau_syn=0.002, tau_mem=0.004)
    sub = nir.NIRGraph({"i": nir.Input(np.array([6])), "lif": conv_lif, "d": nir.Delay(np.arange(6) * DT),
                        "conv": nir.Conv1d(None, np.arange(12.0).reshape(2, 2, 3) / 8, 1, 1, 1, 1, np.zeros(2)),
                        "o": nir.Output(np.array([6]))},
                       [("i", "lif"), ("lif", "d"), ("d", "conv"), ("conv", "lif"), ("lif", "o")], type_check=False)
    nodes = {"in": nir.Input(np.array([2, 2])), "flat": nir.Flatten(np.array([2, 2]), 0),
             "w1": nir.Linear(np.ones((5, 4)) / 4),
             "leaky": nir.LIF(tau=np.full(5, 0.008), r=np.full(5, 8.0), v_leak=np.zeros(5), v_threshold=np.ones(5)),
             "w2": nir.Affine(np.ones((6, 5)) / 2, np.zeros(6)), "layer": sub, "w3": nir.Linear(np.ones((2, 6))),
             "read": nir.CubaLI(tau_syn=np.full(2, DT), tau_mem=np.full(2, 0.002), r=np.full(2, 2.0),
                                v_leak=np.zeros(2), w_in=np.ones(2)),
             "out": nir.Output(np.array([2]))}
    edges = [("in", "flat"), ("flat", "w1"), ("w1", "leaky"), ("leaky", "w2"), ("w2", "layer"),
             ("layer", "w3"), ("w3", "read"), ("read", "out")]
    result = graph_to_spec(nir.NIRGraph(nodes, edges, type_check=False), "g", DT)
    assert result.notes == []
    dense, conv, readout = result.spec.layers
    assert result.spec.input_size == 4
    assert (dense.type, dense.neuron.i_decay, dense.neuron.v_decay) == ("dense", 4096, 512)
    np.testing.assert_array_equal(dense.weight, np.full((5, 4), 16))
    assert (conv.type, conv.conv.channels, conv.conv.kernel_size, conv.max_delay) == ("conv_rec", 2, 3, 5)
    np.testing.assert_array_equal(conv.conv.kernel, np.arange(12).reshape(2, 2, 3) * 8)
    np.testing.assert_array_equal(conv.delay_rec, np.arange(6))
    # (o0,f0)<-(i0,f1): tap 2; (o1,f0)<-(i0,f0): tap 1
    assert conv.weight_rec[0, 1] == 8 * 2 and conv.weight_rec[3, 0] == 8 * 7
    assert (readout.neuron.i_decay, readout.neuron.v_decay, readout.neuron.vth_mant) == (4096, 2048, VTH_NON_SPIKING)


def test_a_delay_after_a_feed_forward_layer_is_its_output_delay():
    """SLAYER's placement (after the neuron), equal to the file's input delay for a
    neuron without bias starting at rest; both placements add up."""
    nodes = {"in": nir.Input(np.array([2])), "w1": nir.Linear(np.ones((2, 2))), "d1": nir.Delay(np.array([0.001, 0])),
             "lif1": lif(2), "d2": nir.Delay(np.array([0.002, 0.004])), "w2": nir.Linear(np.ones((1, 2))),
             "lif2": lif(1), "out": nir.Output(np.array([1]))}
    edges = [("in", "w1"), ("w1", "d1"), ("d1", "lif1"), ("lif1", "d2"), ("d2", "w2"), ("w2", "lif2"), ("lif2", "out")]
    first, second = graph_to_spec(nir.NIRGraph(nodes, edges), "g", DT).spec.layers
    np.testing.assert_array_equal(first.delay, [3, 4])
    assert second.delay is None


# --------------------------------------------------------------------------- refusals

def _with_node(name, node, edges=None):
    graph = recurrent_graph(type_check=False)
    graph.nodes[name] = node
    if edges is not None:
        graph.edges = edges
        graph.nodes = {k: v for k, v in graph.nodes.items() if any(k in edge for edge in edges)}
    return graph


def _channel_graph(change):
    """The NIR graph of a 'dchan_rec' layer (4 delay channels, 16 neurons), ``change(nodes)`` applied."""
    graph = spec_to_nir(make_spec("delay channels k3 C2 D4", 0), DT)
    change(graph.nodes)
    return graph


def _shifted_weight(nodes):
    nodes["layer1.rec_weight2"].weight[3, 3] += 2 / 64  # still on the 8-bit grid, not the kernel's


REFUSALS = {
    "delay channel without its kernel": (lambda: _channel_graph(
        lambda nodes: nodes["layer1.rec_weight1"].metadata.clear()), UnsupportedLayerError,
        r"node 'layer1.rec_weight1' \(Linear\): a recurrent cycle beside others without 'depthwiseKernel' metadata"),
    "delay channel with per-neuron delays": (lambda: _channel_graph(
        lambda nodes: nodes["layer1.rec_delay1"].delay.__setitem__(0, 0.0)), UnsupportedLayerError,
        r"node 'layer1.rec_delay1' \(Delay\): delays 0 \.\. \d+ steps: a delay channel has one delay"),
    "delay channel weights not its kernel's": (lambda: _channel_graph(_shifted_weight), UnsupportedLayerError,
        r"node 'layer1.rec_weight2' \(Linear\): its weights are not the depthwise convolution of its metadata's"),
    "unsupported node": (lambda: _with_node("d", nir.Scale(np.ones(3))), UnsupportedLayerError,
                         r"node 'd' \(Scale\): node type not supported"),
    "branching": (lambda: _with_node("extra", nir.Linear(np.ones((3, 3))), recurrent_graph().edges + [
        ("lif", "extra"), ("extra", "out")]), UnsupportedLayerError, r"node 'lif' \(CubaLIF\): sends to"),
    "input from outside the chain": (lambda: _with_node("x", nir.Linear(np.ones((3, 3))), recurrent_graph().edges + [
        ("x", "lif")]), UnsupportedLayerError, r"node 'x' \(Linear\): is not on the path from the Input"),
    "feedback from the output": (lambda: _with_node("out", nir.Output(np.array([3])), recurrent_graph().edges + [
        ("out", "lif")]), UnsupportedLayerError, r"node 'lif' \(CubaLIF\): receives from \['out', 'rec', 'w'\]"),
    "node off the chain": (lambda: _with_node("z", nir.Delay(np.zeros(3))), UnsupportedLayerError,
                           r"node 'z' \(Delay\): is not on the path from the Input to the Output node"),
    "per-neuron tau": (lambda: _with_node("lif", lif(3, tau_syn=[0.004, 0.004, 0.002])), UnsupportedLayerError,
                       r"node 'lif' \(CubaLIF\): iDecay = 4096 \* dt / tau_syn differs between neurons "
                       r"\(1024 \.\. 2048"),
    "delay above 62": (lambda: _with_node("d", nir.Delay(np.array([0.0, 0.063, 0.001]))), DelayRangeError,
                       r"node 'd' \(recurrent\): 1 delay\(s\) outside \[0, 62\] steps after rounding: neuron 1: 63"),
    "v_leak": (lambda: _with_node("lif", lif(3, v_leak=0.5)), UnsupportedLayerError,
               r"node 'lif' \(CubaLIF\): v_leak 0.5 .*not representable"),
    "v_reset": (lambda: _with_node("lif", lif(3, v_reset=-1)), UnsupportedLayerError,
                r"node 'lif' \(CubaLIF\): v_reset -1 is not representable"),
    "bias": (lambda: _with_node("rec", nir.Affine(np.eye(3), np.array([0, 0.25, 0]))), UnsupportedLayerError,
             r"node 'rec' \(Affine\): bias 0.25 is not representable"),
    "weight range": (lambda: _with_node("w", nir.Linear(np.array([[1, 0], [0, 4.2], [0, 0]]))), QuantizationError,
                     r"node 'w': 1 weight\(s\) outside the 8-bit range .*\(1, 1\): 4.2000"),
    "tau below dt": (lambda: _with_node("lif", lif(3, tau_mem=0.0005)), UnsupportedLayerError,
                     r"node 'lif' \(CubaLIF\): dt / tau_mem = 2 is outside \[0, 1\]"),
    "delay after recurrent weights": (lambda: _with_node("x", nir.Delay(np.zeros(3)), [
        ("in", "w"), ("w", "lif"), ("lif", "rec"), ("rec", "x"), ("x", "lif"), ("lif", "out")]),
        UnsupportedLayerError, r"node 'x' \(Delay\): a recurrent cycle must be"),
    "delay on the input": (lambda: _with_node("x", nir.Delay(np.zeros(2)), [
        ("in", "x"), ("x", "w"), ("w", "lif"), ("lif", "d"), ("d", "rec"), ("rec", "lif"), ("lif", "out")]),
        UnsupportedLayerError, r"node 'x' \(Delay\): a Delay on the network input"),
    "feed-forward delay on a recurrent layer": (lambda: _with_node("x", nir.Delay(np.zeros(3)), [
        ("in", "w"), ("w", "x"), ("x", "lif"), ("lif", "d"), ("d", "rec"), ("rec", "lif"), ("lif", "out")]),
        UnsupportedLayerError, r"node 'x' \(Delay\): a feed-forward delay on a recurrent layer"),
    "non-spiking hidden layer": (lambda: nir.NIRGraph({
        "in": nir.Input(np.array([2])), "w": nir.Linear(np.ones((2, 2))),
        "li": nir.LI(tau=np.full(2, 0.002), r=np.full(2, 2.0), v_leak=np.zeros(2)), "w2": nir.Linear(np.ones((1, 2))),
        "lif": lif(1), "out": nir.Output(np.array([1]))},
        [("in", "w"), ("w", "li"), ("li", "w2"), ("w2", "lif"), ("lif", "out")]),
        UnsupportedLayerError, r"node 'li' \(LI\): a non-spiking neuron is only representable as the output layer"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_each_refusal_is_one_error_naming_the_node_and_value(case):
    make, error, message = REFUSALS[case]
    with pytest.raises(error, match="^g.nir: " + message) as info:
        graph_to_spec(make(), "g.nir", DT)
    assert "\n" not in str(info.value)


def test_command_line_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    nir.write(tmp_path / "g.nir", recurrent_graph())
    assert main(["import-nir", str(tmp_path / "g.nir"), "-o", str(tmp_path / "g.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not state its time step" in err and "--dt" in err
    (tmp_path / "junk.nir").write_bytes(b"not hdf5")
    assert main(["import-nir", str(tmp_path / "junk.nir"), "-o", str(tmp_path / "g.h5"), "--dt", "0.001"]) == 2
    assert "not a readable NIR graph" in capsys.readouterr().err
    assert not (tmp_path / "g.h5").exists()
    spec = with_readout(make_spec("dense_rec", 0))
    write_network(spec, tmp_path / "n.h5")
    assert main(["export-nir", str(tmp_path / "n.h5"), "-o", str(tmp_path / "n.nir"), "--dt", "0.001"]) == 2
    assert "trained with 0.004 s per step" in capsys.readouterr().err
    assert not (tmp_path / "n.nir").exists()
    write_network(dataclasses.replace(spec, encoding=None), tmp_path / "m.h5")
    assert main(["export-nir", str(tmp_path / "m.h5"), "-o", str(tmp_path / "m.nir")]) == 2
    assert "give --dt SECONDS" in capsys.readouterr().err
    with pytest.raises(UserError):
        graph_to_spec(recurrent_graph(), "g.nir", 0.0)
