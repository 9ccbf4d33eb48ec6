"""The convolutional front end (layer type ``conv``) end to end: its semantics
against a loop-built banded matrix, the config's refusals, the NetX file as
SLAYER writes it and stock NetX runs it, the reader's and validator's rules,
and the Loihi 2 graph's CPU rehearsal and chip-fit count. Lava against the
quantized model and the loop reference: tests/test_lava_equivalence.py,
tests/test_sim_lava.py and tests/test_fixed_point.py (the "conv front end"
networks); NIR: tests/test_nir.py."""
import h5py
import numpy as np
import pytest
import torch
from factories import hdf5_contents, make_spec, random_spikes
from lava.lib.dl import slayer
from naive_reference import naive_banded

from lava_convdelay.nn import ConfigError, SpikingNetwork
from lava_convdelay.nn.conv_block import ConvBlock
from netx_export.errors import InvalidSpecError, NetworkFormatError, UnsupportedLayerError
from netx_export.exporter import blocks_to_spec, export_blocks
from netx_export.reader import read_network
from netx_export.spec import ConvFeedForward, CubaParams, LayerSpec, NetworkSpec
from netx_export.to_model import spec_to_model
from netx_export.writer import write_network
from sim.fixed_point import simulate

NEURON = {"threshold": 1.0, "current_decay": 0.2, "voltage_decay": 0.1}
CUBA = CubaParams(1024, 512, 100)
FRONT_END = [{"type": "conv", "channels": 3, "kernel_size": 5, "weight_scale": 3},
             {"type": "conv", "channels": 2, "kernel_size": 3, "weight_scale": 6}]


def front_end_model(seed=0, tail=None, input_size=10):
    torch.manual_seed(seed)
    tail = tail or [{"type": "dense", "neurons": 8, "weight_scale": 3}, {"type": "dense", "neurons": 4,
                                                                         "weight_scale": 3}]
    return SpikingNetwork({"input_size": input_size, "neuron": NEURON, "layers": FRONT_END + tail}).eval()


def spikes(seed, samples, steps, channels=10, rate=0.3):
    return (torch.rand(samples, channels, steps, generator=torch.Generator().manual_seed(seed)) < rate).float()


# --------------------------------------------------------------------------- the block


def test_block_is_a_dense_layer_of_the_loop_built_banded_matrix():
    """Output channel-major over the same positions; the spikes equal SLAYER's cuba.Dense
    with the "same"-padded convolution written out by loops (naive_banded)."""
    torch.manual_seed(1)
    block = ConvBlock(NEURON, in_channels=2, channels=3, positions=9, kernel_size=5, weight_scale=4).eval()
    kernel = block.kernel().detach().numpy()
    dense = slayer.block.cuba.Dense(dict(NEURON), 18, 27)
    with torch.no_grad():
        dense.synapse.weight.copy_(torch.from_numpy(naive_banded(kernel, 9)).reshape(dense.synapse.weight.shape))
    x = spikes(1, 3, 40, channels=18)
    with torch.no_grad():
        got, want = block(x), dense(x)
    assert got.shape == (3, 27, 40) and 0.05 < float(want.mean()) < 0.5
    assert torch.equal(got, want)
    with pytest.raises(ValueError, match=r"expected input \[batch, 18, time\]"):
        block(x[:, :10])


@pytest.mark.parametrize("layers,message", [
    ([{"type": "conv", "channels": 2, "stride": 2}], r"layer 1 \(conv\): 'stride' is not supported"),
    ([{"type": "conv", "channels": 2, "dilation": 2}], r"layer 1 \(conv\): 'dilation' is not supported"),
    ([{"type": "conv", "channels": 2, "groups": 2}], r"layer 1 \(conv\): 'groups' is not supported"),
    ([{"type": "conv", "channels": 2, "padding": 0}], r"layer 1 \(conv\): 'padding' is not supported"),
    ([{"type": "conv", "channels": 2, "delay": True}], r"layer 1 \(conv\): 'delay' is not supported"),
    ([{"type": "conv", "kernel_size": 3}], r"layer 1 \(conv\): missing 'channels'"),
    ([{"type": "conv", "channels": 2, "kernel_size": 4}], r"layer 1 \(conv\): kernel_size must be .*odd.*got 4"),
    ([{"type": "conv", "channels": 2, "kernel_size": 21}], r"layer 1 \(conv\): kernel_size=21 is wider"),
    ([{"type": "conv", "channels": 2, "neurons": 30}], r"layer 1 \(conv\): neurons=30, but 2 channels of 10 "
                                                       r"positions are 20"),
    ([{"type": "dense", "neurons": 10}, {"type": "conv", "channels": 2}],
     r"layer 2 \(conv\): a conv layer belongs to the front end.*layer 1 is 'dense'"),
])
def test_config_refusals_name_layer_and_key(layers, message):
    layers = layers + [{"type": "dense", "neurons": 3}]
    with pytest.raises(ConfigError, match=message):
        SpikingNetwork({"input_size": 10, "neuron": NEURON, "layers": layers})
    with pytest.raises(ConfigError, match=r"layer 1 \(conv\): a conv layer cannot be the output layer"):
        SpikingNetwork({"input_size": 10, "neuron": NEURON, "layers": [{"type": "conv", "channels": 2}]})


# --------------------------------------------------------------------------- the file


def test_conv_layers_are_written_as_slayer_writes_them(tmp_path):
    """Every dataset of a conv layer (names, dtypes, shapes, values) as
    cuba.Conv.export_hdf5 writes it, the flatten as cuba.Flatten does, and the
    input as one channel of positions; the file is a stock NetX file."""
    model = front_end_model()
    x = spikes(0, 1, 5)
    flatten = slayer.block.cuba.Flatten()
    with torch.no_grad():  # SLAYER sets the neuron and flatten shapes on first use
        model(x)
        flatten(torch.zeros(1, 2, 1, 10, 5))
    with h5py.File(tmp_path / "slayer.h5", "w") as f:
        model.blocks[0].export_hdf5(f.create_group("layer/1"))
        model.blocks[1].export_hdf5(f.create_group("layer/2"))
        flatten.export_hdf5(f.create_group("layer/3"))
    export_blocks(list(model.blocks), tmp_path / "ours.h5")
    ours, attrs = hdf5_contents(tmp_path / "ours.h5")
    theirs, _ = hdf5_contents(tmp_path / "slayer.h5")
    assert {k for k in ours if k.startswith(("layer/1/", "layer/2/", "layer/3/"))} == set(theirs)
    for key, (value, dtype, shape) in theirs.items():
        assert ours[key][1:] == (dtype, shape), key
        assert np.array_equal(ours[key][0], value), key
    assert ours["layer/0/type"][0][0] == b"input" and ours["layer/0/shape"][0].tolist() == [1, 1, 10]
    assert ours["layer/4/type"][0][0] == b"dense" and ours["layer/4/weight"][2] == (8, 20)
    spec = read_network(tmp_path / "ours.h5")
    assert [layer.type for layer in spec.layers] == ["conv", "conv", "dense", "dense"]
    assert not spec.uses_extension and attrs["format"] == "lava-convdelay-netx"


def test_a_file_slayer_wrote_reads_as_our_export(tmp_path):
    """SLAYER's own export_hdf5 of each block (no input layer) is read to the same network."""
    model = front_end_model()
    flatten = slayer.block.cuba.Flatten()
    with torch.no_grad():
        model(spikes(0, 1, 5))
        flatten(torch.zeros(1, 2, 1, 10, 5))
    with h5py.File(tmp_path / "slayer.h5", "w") as f:
        for i, block in enumerate([model.blocks[0], model.blocks[1], flatten, *model.blocks[2:]]):
            block.export_hdf5(f.create_group(f"layer/{i}"))
    theirs = read_network(tmp_path / "slayer.h5")
    ours = blocks_to_spec(list(model.blocks))
    assert theirs.input_size == 10
    for a, b in zip(theirs.layers, ours.layers):
        assert a.type == b.type and np.array_equal(a.weight, b.weight)
    assert np.array_equal(theirs.layers[0].ff_conv.kernel, ours.layers[0].ff_conv.kernel)


def test_stock_netx_runs_a_conv_front_end_file_as_we_do(tmp_path):
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    from sim.cpu.runner import LavaRunner

    model = front_end_model(seed=3)
    x = spikes(3, 1, 40)
    with torch.no_grad():
        trained = [s[0].numpy().astype(np.uint8) for s in model(x, all_layers=True)]
    path = tmp_path / "stock.h5"
    export_blocks(list(model.blocks), path)
    ours = LavaRunner(path).run(x[0].numpy(), record_layers=True)
    for i, (got, want) in enumerate(zip(ours.layers, trained), start=1):
        assert want.sum() > 0, f"layer {i} silent: weak test"
        np.testing.assert_array_equal(got, want, err_msg=f"layer {i}")

    stock = netx.hdf5.Network(str(path))
    assert stock.inp.shape == (10, 1, 1)  # stock NetX's (X, Y, C) of one input channel
    source = io.source.RingBuffer(data=x[0].numpy().reshape(10, 1, 1, 40))
    sink = io.sink.RingBuffer(shape=stock.out.shape, buffer=40)
    source.s_out.connect(stock.inp)
    stock.out.connect(sink.a_in)
    stock.run(condition=RunSteps(num_steps=40), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    theirs = sink.data.get().astype(np.uint8)
    stock.stop()
    np.testing.assert_array_equal(theirs, ours.output)


def _write_and_edit(tmp_path, edit):
    path = tmp_path / "net.h5"
    export_blocks(list(front_end_model().blocks), path)
    with h5py.File(path, "a") as f:
        edit(f["layer"])
    return path


def _set(key, value):
    def edit(group):
        if key in group:
            del group[key]
        group[key] = value
    return edit


def _without_flatten(group):
    del group["3"]
    group.move("4", "3")
    group.move("5", "4")


def _conv_after_flatten(group):
    group.move("2", "9")
    group.move("3", "2")
    group.move("9", "3")
    _set("2/shape", [30, 1, 1])(group)


@pytest.mark.parametrize("edit,error,message", [
    (_set("1/stride", [1, 2]), UnsupportedLayerError, r"layer 1: 'stride'=\[1, 2\] is not supported"),
    (_set("1/dilation", [1, 2]), UnsupportedLayerError, r"layer 1: 'dilation'=\[1, 2\] is not supported"),
    (_set("1/padding", [0, 0]), UnsupportedLayerError, r"layer 1: 'padding'=\[0, 0\] is not supported"),
    (_set("1/kernelSize", [5, 5]), UnsupportedLayerError, r"layer 1: 'kernelSize'=\[5, 5\] is not supported"),
    (_set("1/groups", 3), UnsupportedLayerError, r"layer 1: 'groups'=3 is not supported"),
    (_set("1/shape", [3, 2, 5]), UnsupportedLayerError, r"layer 1: 'shape' \[3, 2, 5\]: only a 1-D"),
    (_set("1/shape", [3, 10]), NetworkFormatError, r"layer 1: 'shape' must be \[outChannels, 1, positions\]"),
    (_set("1/outChannels", 4), NetworkFormatError, r"layer 1: 'outChannels'=4 but 'shape' has 3 channels"),
    (_set("2/inChannels", 2), NetworkFormatError, r"layer 2: 2 input channels of 10 positions, but the layer "
                                                  r"before has 30 neurons"),
    (_set("1/delay", np.zeros(30)), UnsupportedLayerError, r"layer 1: a 'delay' on a 'conv' layer"),
    (_set("1/weight", np.full((3, 1, 1, 5), 2.5)), InvalidSpecError, r"layer 1: 'weight' must hold integers"),
    (_set("1/weight", np.zeros((3, 1, 5))), NetworkFormatError, r"layer 1: 'weight' has shape \(3, 1, 5\)"),
    (_set("0/shape", [2, 1, 5]), NetworkFormatError, r"layer 0: 'shape' \[2, 1, 5\] of the input must be "
                                                     r"\[1, 1, 10\]"),
    (_set("0/shape", [10]), NetworkFormatError, r"layer 0: 'shape' \[10\] of the input must be \[1, 1, 10\]"),
    (_without_flatten, NetworkFormatError, r"layer 3: a 'dense' layer after a 'conv' layer needs a 'flatten'"),
    (_conv_after_flatten, NetworkFormatError, r"layer 3: a 'conv' layer cannot follow a 'flatten' layer"),
    (_set("4/type", np.array([b"flatten"], "S10")), NetworkFormatError,
     r"layer 4: a 'flatten' layer may only follow a 'conv' layer"),
    (_set("3/shape", [7, 1, 1]), NetworkFormatError, r"layer 3: 'shape' gives 7 values, the conv layer before "
                                                     r"has 20"),
])
def test_reader_refusals_name_file_layer_and_field(tmp_path, edit, error, message):
    path = _write_and_edit(tmp_path, edit)
    with pytest.raises(error, match=message) as err:
        read_network(path)
    assert str(path) in str(err.value)


def _conv(kernel, positions):
    kernel = np.asarray(kernel, np.int64)
    return LayerSpec("conv", naive_banded(kernel, positions), CUBA,
                     ff_conv=ConvFeedForward(kernel.shape[1], kernel.shape[0], kernel.shape[2], kernel))


def _dense(n, n_in):
    return LayerSpec("dense", np.full((n, n_in), 2, np.int64), CUBA)


@pytest.mark.parametrize("layers,error,message", [
    ([_dense(6, 6), _conv(np.ones((2, 1, 3)) * 2, 6), _dense(2, 12)], UnsupportedLayerError,
     r"layer 2 \(conv\): a 'conv' layer belongs to the front end.*follows a 'dense' layer"),
    ([_conv(np.ones((2, 1, 3)) * 2, 6)], UnsupportedLayerError, r"layer 1 \(conv\): .*cannot be the output layer"),
    ([_conv(np.ones((2, 2, 3)) * 2, 3), _dense(2, 6)], InvalidSpecError,
     r"layer 1 \(conv\): inChannels=2, but the network input is one channel"),
    ([_conv(np.ones((2, 1, 3)) * 2, 6), _conv(np.ones((2, 3, 3)) * 2, 4), _dense(2, 8)], InvalidSpecError,
     r"layer 2 \(conv\): inChannels=3, but the layer before has 2 channels"),
    ([_conv(np.ones((2, 1, 4)) * 2, 6), _dense(2, 12)], InvalidSpecError, r"kernelSize=4 must be odd"),
    ([LayerSpec("conv", np.zeros((12, 6), np.int64), CUBA,
                ff_conv=ConvFeedForward(1, 2, 3, np.full((2, 1, 3), 2))), _dense(2, 12)], InvalidSpecError,
     r"layer 1 \(conv\): 'weight' is not the banded matrix of the kernel \(first difference at \(0, 0\)"),
    ([LayerSpec("conv", np.zeros((12, 6), np.int64), CUBA), _dense(2, 12)], InvalidSpecError,
     r"a 'conv' layer needs one"),
    ([LayerSpec("dense", np.zeros((12, 6), np.int64), CUBA, ff_conv=ConvFeedForward(1, 2, 3, np.ones((2, 1, 3)))),
      _dense(2, 12)], InvalidSpecError, r"only 'conv' layers have a feed-forward convolution"),
])
def test_validator_rules(layers, error, message):
    with pytest.raises(error, match=message):
        NetworkSpec(6, layers, "<net>").validate()


def test_rebuilt_model_computes_what_the_file_says(tmp_path):
    """spec_to_model (verify's training side) of a conv front end file: the exported
    model's spikes in every layer, and the fixed-point simulator's."""
    model = front_end_model(seed=2, tail=[{"type": "conv_delay_rec", "neurons": 20, "channels": 2,
                                           "kernel_size": 3, "max_delay": 9, "weight_scale": 3},
                                          {"type": "affine", "neurons": 4, "weight_scale": 3}])
    export_blocks(list(model.blocks), tmp_path / "net.h5")
    spec = read_network(tmp_path / "net.h5")
    assert spec.uses_extension  # conv_rec: the extension root, flatten and all
    rebuilt = spec_to_model(spec)
    assert [b["type"] for b in rebuilt.config["layers"]] == ["conv", "conv", "conv_delay_rec", "affine"]
    x = spikes(2, 3, 50)
    with torch.no_grad():
        want = model(x, all_layers=True)
        got = rebuilt(x, all_layers=True)
    fixed = simulate(spec, x.numpy(), record_layers=True)
    for i, (a, b) in enumerate(zip(got[:-1], want[:-1])):
        assert b.sum() > 0, f"layer {i + 1} silent: weak test"
        assert torch.equal(a, b), f"layer {i + 1}"
        np.testing.assert_array_equal(fixed.layers[i], b.numpy(), err_msg=f"fixed point, layer {i + 1}")
    assert torch.equal(got[-1], want[-1])


# --------------------------------------------------------------------------- Loihi 2


def test_loihi2_rehearsal_and_chip_fit_of_a_conv_front_end():
    """The hardware graph (adapters, LIFReset, Lava's Conv on its chip-side list) on the
    CPU equals the fixed-point simulator in every layer; the chip-fit estimate counts a
    conv layer's neurons and its connections (the expanded convolution)."""
    from sim.loihi2.resources import chip_fit
    from sim.loihi2.runner import HardwareRunner

    model = front_end_model(seed=4)
    spec = blocks_to_spec(list(model.blocks))
    x = random_spikes(4, 10, 3, 30)
    runner = HardwareRunner(spec, "cpu")
    results = runner.run_many(x, record_layers=True, progress=False)
    assert not runner.last_plan.exposed.size
    convs = [c for c in runner.compile(runner.plan(x), x).choices if c.process_type == "Conv"]
    assert len(convs) == 2 and all(c.chip_side and c.on_chip for c in convs)
    fixed = simulate(spec, x, record_layers=True)
    for k, result in enumerate(results):
        for i, got in enumerate(result.layers):
            assert fixed.layers[i][k].any(), f"layer {i + 1} silent: weak test"
            np.testing.assert_array_equal(got, fixed.layers[i][k], err_msg=f"sample {k}, layer {i + 1}")
    fit = chip_fit(spec)
    first = fit.layers[0]
    kernel = spec.layers[0].ff_conv.kernel  # [3, 1, 5] over 10 positions: taps inside the padding only
    taps = sum(int(kernel[o, 0, m] != 0) for o in range(3) for f in range(10) for m in range(5) if 0 <= f + m - 2 < 10)
    assert (first.type, first.neurons, first.synapses, first.recurrent_synapses) == ("conv", 30, taps, 0)


def test_random_conv_front_end_files_round_trip(tmp_path):
    spec = make_spec("conv front end", 5)
    write_network(spec, tmp_path / "a.h5")
    back = read_network(tmp_path / "a.h5")
    for a, b in zip(spec.layers, back.layers):
        assert a.type == b.type and np.array_equal(a.weight, b.weight)
        if a.ff_conv is not None:
            assert np.array_equal(a.ff_conv.kernel, b.ff_conv.kernel)
