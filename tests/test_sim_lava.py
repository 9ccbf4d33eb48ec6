"""Lava networks built by sim/ against an independent integer reference of
docs/hdf5-format.md, spike for spike in every layer at every step, plus the
output voltage; sample independence; files (stock NetX and extension).

The reference below is written from the document's equations with explicit
loops; it shares no code with sim/ (conv_rec matrices come from
tests/naive_reference.py's loop version)."""
import dataclasses

import h5py
import numpy as np
import pytest
from factories import NETWORKS, SWEEP_SEEDS, make_layer, make_spec, random_spikes
from naive_reference import reference_network

from netx_export.spec import CubaParams, LayerSpec, NetworkSpec

# --------------------------------------------------------------------------- reference


# --------------------------------------------------------------------------- random specs


def max_delay_of(spec):
    return max(max(layer.max_delay for layer in spec.layers),
               max(int(layer.delay.max()) if layer.delay is not None else 0 for layer in spec.layers))


# --------------------------------------------------------------------------- tests

@pytest.mark.parametrize("seed", SWEEP_SEEDS)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_layer_every_step_matches_reference(name, seed):
    from sim.cpu.runner import LavaRunner
    spec = make_spec(name, seed)
    steps = 50
    tail = len(spec.layers) + max_delay_of(spec)
    x = random_spikes(seed, spec.input_size, 2, steps)
    results = LavaRunner(spec).run_many(x, record_layers=True, record_voltage=True, tail=tail, progress=False)
    assert len(results) == 2
    for b, result in enumerate(results):
        padded = np.concatenate([x[b], np.zeros((spec.input_size, tail), np.int8)], axis=1)
        want_layers, want_v = reference_network(spec, padded)
        assert len(result.layers) == len(spec.layers)
        for i, (got, want) in enumerate(zip(result.layers, want_layers), start=1):
            assert got.shape == (spec.layers[i - 1].num_neurons, steps + tail)
            assert 0 < want[:, :steps].mean() < 0.6, f"layer {i}: degenerate test activity"
            np.testing.assert_array_equal(got, want, err_msg=f"{name} seed {seed} sample {b} layer {i}")
        np.testing.assert_array_equal(result.output, want_layers[-1])
        spiked = want_layers[-1].astype(bool)
        assert (want_v[~spiked] != 0).any()  # the voltage check below is not vacuous
        np.testing.assert_array_equal(result.voltage[~spiked], want_v[~spiked], err_msg="v on non-spike steps")
        np.testing.assert_array_equal(result.voltage, want_v)  # and 0 (after reset) on spike steps
    if max_delay_of(spec):  # the delays in this test change the spikes
        no_delays = NetworkSpec(spec.input_size, [dataclasses.replace(
            layer, delay=None if layer.delay is None else 0 * layer.delay,
            delay_rec=None if layer.delay_rec is None else 0 * layer.delay_rec,
            delay_channels=None if layer.delay_channels is None else dataclasses.replace(
                layer.delay_channels, delays=0 * layer.delay_channels.delays)) for layer in spec.layers])
        undelayed, _ = reference_network(no_delays, padded)
        assert not np.array_equal(undelayed[-1], want_layers[-1])


def test_tail_only_adds_steps():
    from sim.cpu.runner import LavaRunner
    spec = make_spec("delay_rec", 5)
    x = random_spikes(5, spec.input_size, 1, 40)[0]
    runner = LavaRunner(spec)
    plain = runner.run(x, record_layers=True)
    longer = runner.run(x, record_layers=True, tail=12)
    assert plain.output.shape == (spec.output_size, 40) and longer.output.shape == (spec.output_size, 52)
    np.testing.assert_array_equal(longer.output[:, :40], plain.output)
    assert plain.voltage is None and longer.voltage is None


@pytest.mark.parametrize("fast_models", [True, False], ids=["models rest", "Var.set"])
@pytest.mark.slow  # Lava's Var.set path: a message per element
def test_samples_are_independent(fast_models):
    """B after A (whose last steps leave spikes in the 62-step delay buffers and
    charged neurons) equals B alone; without the reset it would not."""
    from sim.cpu.runner import LavaRunner
    spec = make_spec("stack", 7)
    steps = 60
    x = random_spikes(7, spec.input_size, 3, steps)
    x[0, :, -10:] = 1  # A ends in a burst
    runner = LavaRunner(spec, fast_models=fast_models)
    both = runner.run_many(x, record_layers=True, record_voltage=True, progress=False)
    for b in (1, 2) if fast_models else (1,):  # the Var.set path is slow: one check
        alone = runner.run(x[b], record_layers=True, record_voltage=True)
        for i, (got, want) in enumerate(zip(both[b].layers, alone.layers), start=1):
            np.testing.assert_array_equal(got, want, err_msg=f"sample {b}, layer {i}")
        np.testing.assert_array_equal(both[b].voltage, alone.voltage)
    if fast_models:
        chunked = LavaRunner(spec)
        chunked.CHUNK = 2  # samples 0-1 in one compiled network, sample 2 in another
        for b, result in enumerate(chunked.run_many(x, record_layers=True, progress=False)):
            for i, (got, want) in enumerate(zip(result.layers, both[b].layers), start=1):
                np.testing.assert_array_equal(got, want, err_msg=f"chunked, sample {b}, layer {i}")
    # sensitivity: continuing from A's state (no reset) changes B's spikes
    cont_layers, _ = reference_network(spec, np.concatenate([x[0], x[1]], axis=1))
    alone_layers, _ = reference_network(spec, x[1])
    assert any(not np.array_equal(c[:, steps:], a) for c, a in zip(cont_layers, alone_layers))


def test_stock_and_fast_cpu_models_agree():
    """The fast CPU models (cached delays, rest by themselves, Extractor
    recording) give the stock Lava models' spikes."""
    from sim.cpu.runner import LavaRunner
    spec = make_spec("stack", 3)
    x = random_spikes(3, spec.input_size, 2, 50)
    fast = LavaRunner(spec).run_many(x, record_layers=True, record_voltage=True, progress=False)
    stock = LavaRunner(spec, fast_models=False).run_many(x, record_layers=True, record_voltage=True,
                                                         progress=False)
    for b in range(2):
        want, _ = reference_network(spec, x[b])
        for i, (f, s, w) in enumerate(zip(fast[b].layers, stock[b].layers, want), start=1):
            assert w.sum() > 0
            np.testing.assert_array_equal(s, w, err_msg=f"stock model, layer {i}")
            np.testing.assert_array_equal(f, s, err_msg=f"cached model, layer {i}")
        np.testing.assert_array_equal(fast[b].voltage, stock[b].voltage)


@pytest.mark.parametrize("case", ["inhibitory -256 in a mixed layer", "all inhibitory", "all excitatory"])
def test_shared_weight_scaling_is_exact(case):
    """W and R share one exponent; sign sub-matrices (all <= 0, with -256) keep
    their values: lava-dl's optimize_weight_bits + Lava's clip alone would turn
    -256 into -255 or halve an all-inhibitory layer."""
    from sim.cpu.runner import LavaRunner
    neuron = CubaParams(i_decay=4096, v_decay=4096, vth_mant=1000)  # v(t) = 64 * a(t): reads the weights
    n, c = 3, 4
    if case == "inhibitory -256 in a mixed layer":
        w = np.array([[254, 2, 100, 0], [6, 8, 0, 250], [0, 0, 2, 4]])
        r = np.array([[0, -256, -2], [-100, 0, -256], [-4, -6, 0]])
    elif case == "all inhibitory":
        w = -np.array([[2, 0, 4, 6], [8, 2, 0, 0], [0, 0, 2, 4]])
        r = -np.array([[0, 2, 2], [4, 0, 2], [2, 2, 0]])
    else:
        w = np.array([[2, 0, 4, 6], [8, 2, 0, 0], [0, 0, 2, 4]])
        r = np.array([[0, 4, 2], [4, 0, 2], [2, 254, 0]])
    spec = NetworkSpec(c, [LayerSpec("dense_rec", w, neuron, weight_rec=r)])
    x = np.zeros((c, 6), np.int8)
    x[:, 1] = 1  # every input once: v(2) = 64 * row sums of W
    got = LavaRunner(spec).run(x, record_voltage=True)
    _, want_v = reference_network(spec, x)
    np.testing.assert_array_equal(got.voltage[:, 2], 64 * w.sum(axis=1))
    np.testing.assert_array_equal(got.voltage, want_v)
    # the recurrent weights one by one: input j makes neuron j spike at 2 + 4j (254 > 200),
    # its recurrent spike gives v_i(3 + 4j) = 64 * R_ij
    w_drive = np.eye(n, c, dtype=np.int64) * 254
    spec_rec = NetworkSpec(c, [LayerSpec("dense_rec", w_drive, CubaParams(4096, 4096, 200), weight_rec=r)])
    x = np.zeros((c, 4 * n + 2), np.int8)
    for j in range(n):
        x[j, 1 + 4 * j] = 1
    got = LavaRunner(spec_rec).run(x, record_voltage=True)
    for j in range(n):
        assert got.output[j, 2 + 4 * j] == 1
        for i in range(n):
            if i != j and r[i, j] <= 200:
                assert got.voltage[i, 3 + 4 * j] == 64 * r[i, j], (i, j)
    want_layers, want_v = reference_network(spec_rec, x)
    np.testing.assert_array_equal(got.output, want_layers[0])
    np.testing.assert_array_equal(got.voltage, want_v)


# --------------------------------------------------------------------------- files

def _write_layer(group, layer):
    group.create_dataset("type", data=np.array([layer.type.encode("ascii")], dtype="S10"))
    n, n_in = layer.weight.shape
    group.create_dataset("shape", data=np.array([n], np.int64))
    group.create_dataset("inFeatures", data=np.int64(n_in))
    group.create_dataset("outFeatures", data=np.int64(n))
    group.create_dataset("weight", data=layer.weight.astype(np.float32))
    group.create_dataset("neuron/type", data="CUBA")
    group.create_dataset("neuron/iDecay", data=np.int64(layer.neuron.i_decay))
    group.create_dataset("neuron/vDecay", data=np.int64(layer.neuron.v_decay))
    group.create_dataset("neuron/vThMant", data=np.int64(layer.neuron.vth_mant))
    group.create_dataset("neuron/refDelay", data=np.int64(1))
    group.create_dataset("neuron/gradedSpike", data=False)
    if layer.delay is not None:
        group.create_dataset("delay", data=layer.delay.astype(np.float32))
    if layer.type in ("dense_rec", "delay_rec"):
        group.create_dataset("weight_rec", data=layer.weight_rec.astype(np.float32))
    if layer.type in ("delay_rec", "conv_rec"):
        group.create_dataset("delay_rec", data=layer.delay_rec.astype(np.int64))
        group.create_dataset("maxDelay", data=np.int64(layer.max_delay))
    if layer.type == "conv_rec":
        group.create_dataset("weight_rec_conv", data=layer.conv.kernel.astype(np.float32))
        group.create_dataset("channels", data=np.int64(layer.conv.channels))
        group.create_dataset("kernelSize", data=np.int64(layer.conv.kernel_size))


def write_network(path, spec, extension, extra_type=None):
    """A network file written from docs/hdf5-format.md with h5py alone."""
    with h5py.File(path, "w") as f:
        root = f.create_group("lava_convdelay_layer" if extension else "layer")
        if extension:
            f.attrs["format"] = "lava-convdelay-netx"
            f.attrs["format_version"] = 1
        root.create_group("0").create_dataset("type", data=np.array([b"input"], dtype="S10"))
        root["0"].create_dataset("shape", data=np.array([spec.input_size], np.int64))
        for i, layer in enumerate(spec.layers, start=1):
            _write_layer(root.create_group(str(i)), layer)
        if extra_type is not None:
            _write_layer(root.create_group(str(len(spec.layers) + 1)),
                         LayerSpec(extra_type, np.zeros((2, spec.output_size), np.int64), spec.layers[0].neuron))


def test_stock_file_runs_like_stock_netx_and_reference(tmp_path):
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    from sim.cpu.runner import LavaRunner

    rng = np.random.default_rng(11)
    layers = [make_layer(rng, "dense", 12, 8, ff_delay=5), make_layer(rng, "dense_rec", 10, 12),
              make_layer(rng, "dense", 4, 10)]
    spec = NetworkSpec(8, layers)
    path = tmp_path / "stock.h5"
    write_network(path, spec, extension=False)
    x = random_spikes(11, 8, 1, 60)[0]
    ours = LavaRunner(path).run(x, record_layers=True)
    want, _ = reference_network(spec, x)
    for i, (got, w) in enumerate(zip(ours.layers, want), start=1):
        assert w.sum() > 0
        np.testing.assert_array_equal(got, w, err_msg=f"layer {i}")

    stock = netx.hdf5.Network(str(path))
    source = io.source.RingBuffer(data=x)
    sink = io.sink.RingBuffer(shape=stock.out.shape, buffer=x.shape[1])
    source.s_out.connect(stock.inp)
    stock.out.connect(sink.a_in)
    try:
        stock.run(condition=RunSteps(num_steps=x.shape[1]), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        theirs = sink.data.get().astype(np.uint8)
    finally:
        stock.stop()
    np.testing.assert_array_equal(theirs, ours.output)


def test_extension_file_matches_reference(tmp_path):
    from sim.cpu.runner import LavaRunner
    spec = make_spec("stack", 4)
    path = tmp_path / "ext.h5"
    write_network(path, spec, extension=True)
    x = random_spikes(4, spec.input_size, 2, 45)
    results = LavaRunner(str(path)).run_many(x, record_layers=True, progress=False)
    for b in range(2):
        want, _ = reference_network(spec, x[b])
        for i, (got, w) in enumerate(zip(results[b].layers, want), start=1):
            np.testing.assert_array_equal(got, w, err_msg=f"sample {b}, layer {i}")


@pytest.mark.parametrize("extension", [False, True])
def test_unknown_layer_type_in_file_is_an_error(tmp_path, extension):
    from lava_convdelay.errors import UserError
    from sim.cpu.runner import LavaRunner
    spec = make_spec("dense_rec", 0)
    path = tmp_path / "odd.h5"
    write_network(path, spec, extension=extension, extra_type="pooling")
    with pytest.raises(UserError, match=r"odd\.h5.*layer 2.*unknown layer type 'pooling'"):
        LavaRunner(path)


def test_runtime_is_stopped_when_a_run_fails(monkeypatch):
    from lava.magma.core.process.process import AbstractProcess

    from sim.cpu.runner import CpuBackend, LavaRunner

    stopped = []
    original = AbstractProcess.stop

    def stop(self):
        stopped.append(self.runtime is not None)
        return original(self)
    monkeypatch.setattr(AbstractProcess, "stop", stop)

    class Failing(CpuBackend):
        def reset(self, net):
            raise RuntimeError("boom between samples")

    spec = make_spec("dense_rec", 1)
    with pytest.raises(RuntimeError, match="boom"):
        LavaRunner(spec, backend=Failing()).run_many(random_spikes(1, 10, 2, 10), progress=False)
    assert stopped == [True]
    stopped.clear()
    LavaRunner(spec).run(random_spikes(1, 10, 1, 10)[0])
    assert stopped == [True]
