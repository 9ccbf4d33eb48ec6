"""Export to NetX HDF5: stock compatibility, round trip, quantization errors."""
import h5py
import numpy as np
import pytest
import torch
from factories import hdf5_contents
from lava.lib.dl import slayer
from naive_reference import naive_banded

from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.errors import UserError
from lava_convdelay.nn.blocks import ConvDelayRecurrent, DelayRecurrent
from netx_export.errors import InvalidSpecError, NetworkFormatError, QuantizationError, UnsupportedLayerError
from netx_export.exporter import blocks_to_spec, export_blocks
from netx_export.reader import read_network
from netx_export.writer import write_network

NEURON = dict(threshold=1.0, current_decay=0.25, voltage_decay=0.03)


def mixed_blocks(seed=0):
    torch.manual_seed(seed)
    blocks = [
        slayer.block.cuba.Dense(dict(NEURON), 10, 16, weight_scale=2, delay=True),
        ConvDelayRecurrent(NEURON, 16, 24, kernel_size=5, channels=2, weight_scale=2, max_delay=62),
        DelayRecurrent(NEURON, 24, 12, weight_scale=2, max_delay=20),
        slayer.block.cuba.Recurrent(dict(NEURON), 12, 8, weight_scale=2),
        slayer.block.cuba.Dense(dict(NEURON), 8, 4, weight_scale=2),
    ]
    x = torch.zeros(1, 10, 5)
    for block in blocks:  # SLAYER initialises feed-forward delays lazily
        x = block(x)
    return blocks


def test_stock_layers_are_written_exactly_as_lava_dl_writes_them(tmp_path):
    blocks = mixed_blocks()
    dense, rec = blocks[0], blocks[3]
    with h5py.File(tmp_path / "slayer.h5", "w") as f:
        dense.export_hdf5(f.create_group("layer/0"))
        rec.export_hdf5(f.create_group("layer/1"))
    export_blocks([dense], tmp_path / "dense.h5")
    export_blocks([rec], tmp_path / "rec.h5")
    theirs, _ = hdf5_contents(tmp_path / "slayer.h5")
    for ours_file, their_layer in (("dense.h5", "layer/0"), ("rec.h5", "layer/1")):
        ours, attrs = hdf5_contents(tmp_path / ours_file)
        assert attrs["format"] == "lava-convdelay-netx"
        mine = {k[len("layer/1/"):]: v for k, v in ours.items() if k.startswith("layer/1/")}
        ref = {k[len(their_layer) + 1:]: v for k, v in theirs.items() if k.startswith(their_layer + "/")}
        assert mine.keys() == ref.keys()
        for key in ref:
            assert mine[key][1] == ref[key][1], key
            assert mine[key][2] == ref[key][2], key
            assert np.array_equal(mine[key][0], ref[key][0]), key
        assert ours["layer/0/type"][0][0] == b"input"


def test_extension_file_layout_and_values(tmp_path):
    blocks = mixed_blocks()
    path = tmp_path / "net.h5"
    export_blocks(blocks, path)
    content, _ = hdf5_contents(path)
    assert not any(k.startswith("layer/") for k in content)
    conv = blocks[1]
    assert content["lava_convdelay_layer/2/type"][0][0] == b"conv_rec"
    kernel = content["lava_convdelay_layer/2/weight_rec_conv"][0]
    expected = conv.recurrent_synapse.quantized().detach().numpy() * 64
    np.testing.assert_array_equal(kernel, expected)
    delays = content["lava_convdelay_layer/2/delay_rec"][0]
    raw = conv.axonal_delay.delay.detach().numpy().astype(np.float64)
    np.testing.assert_array_equal(delays, np.floor(raw + 0.5))
    assert content["lava_convdelay_layer/3/type"][0][0] == b"delay_rec"
    assert content["lava_convdelay_layer/3/maxDelay"][0] == 20
    spec = read_network(path)
    assert [layer.type for layer in spec.layers] == ["dense", "conv_rec", "delay_rec", "dense_rec", "dense"]
    np.testing.assert_array_equal(spec.layers[1].weight_rec, naive_banded(kernel.astype(np.int64), 12))
    assert spec.layers[1].recurrent_params == 5 * 2 * 2 + 24
    assert spec.layers[1].recurrent_synapses <= 24 * 5 * 2


def test_round_trip_gives_same_file_content(tmp_path):
    export_blocks(mixed_blocks(1), tmp_path / "a.h5", encoding=InputEncoding(0.004, 70, 1.4),
                  class_names=["null", "eins", "fünf"])
    write_network(read_network(tmp_path / "a.h5"), tmp_path / "b.h5")
    a, attrs_a = hdf5_contents(tmp_path / "a.h5")
    b, attrs_b = hdf5_contents(tmp_path / "b.h5")
    assert attrs_a == attrs_b and a.keys() == b.keys()
    for key in a:
        assert a[key][1] == b[key][1] and np.array_equal(a[key][0], b[key][0]), key


def test_input_encoding_and_class_names_are_recorded_where_stock_netx_ignores_them(tmp_path):
    from lava.lib.dl import netx
    torch.manual_seed(0)
    blocks = [slayer.block.cuba.Dense(dict(NEURON), 14, 6), slayer.block.cuba.Dense(dict(NEURON), 6, 3)]
    path = tmp_path / "stock.h5"
    export_blocks(blocks, path, encoding=InputEncoding(0.004, 50, 1.4), class_names=["null", "eins", "fünf"])
    content, _ = hdf5_contents(path)
    assert content["lava_convdelay_meta/input/dt"][0] == 0.004 and content["lava_convdelay_meta/input/pool"][0] == 50
    assert content["lava_convdelay_meta/input/duration"][0] == 1.4
    assert content["lava_convdelay_meta/input/sourceChannels"][0] == 700
    assert [n.decode() for n in content["lava_convdelay_meta/classNames"][0]] == ["null", "eins", "fünf"]
    spec = read_network(path)
    assert spec.encoding == InputEncoding(0.004, 50, 1.4) and spec.class_names == ["null", "eins", "fünf"]
    stock = netx.hdf5.Network(str(path))  # stock NetX still reads the file, and its layers
    assert len(stock.layers) == 2 and stock.inp.shape == (14,) and stock.out.shape == (3,)
    export_blocks(blocks, tmp_path / "plain.h5")
    assert read_network(tmp_path / "plain.h5").encoding is None  # files without the record still load
    with pytest.raises(InvalidSpecError, match=r"the input encoding \(dt 0.01 s, pool 5 \(700 -> 140 channels\)"):
        export_blocks(blocks, tmp_path / "x.h5", encoding=InputEncoding())
    with pytest.raises(InvalidSpecError, match="4 classes for 3 output neurons"):
        export_blocks(blocks, tmp_path / "x.h5", class_names=list("abcd"))


@pytest.mark.parametrize("edit,message", [
    (lambda m: m["input/pool"].__setitem__((), 3), r"/lava_convdelay_meta/input: pool=3 does not divide the 700"),
    (lambda m: m["input/dt"].__setitem__((), -1.0), r"/lava_convdelay_meta/input: dt must be a number > 0"),
    (lambda m: m["input"].__delitem__("duration"), r"/lava_convdelay_meta/input: missing dataset 'duration'"),
    (lambda m: m["input/sourceChannels"].__setitem__((), 350),
     r"net.h5: the input encoding \(dt 0.004 s, pool 50 \(350 -> 7 channels\).*does not give the network's 14 "
     r"input channels"),
    (lambda m: (m.__delitem__("classNames"), m.create_dataset("classNames", data=np.zeros(3))),
     r"/lava_convdelay_meta: 'classNames': must hold strings, got dtype float64"),
    (lambda m: (m.__delitem__("classNames"), m.create_dataset("classNames", data=[b"a", b"a"])),
     r"net.h5: class names must be distinct strings, got \['a', 'a'\]"),
])
def test_malformed_records_give_clear_errors(tmp_path, edit, message):
    path = tmp_path / "net.h5"
    blocks = [slayer.block.cuba.Dense(dict(NEURON), 14, 6), slayer.block.cuba.Dense(dict(NEURON), 6, 3)]
    export_blocks(blocks, path, encoding=InputEncoding(0.004, 50, 1.4), class_names=["a", "b", "c"])
    with h5py.File(path, "a") as f:
        edit(f["lava_convdelay_meta"])
    with pytest.raises(UserError, match=message) as err:
        read_network(path)
    assert str(path) in str(err.value)


def test_stock_netx_refuses_extension_files(tmp_path):
    from lava.lib.dl import netx
    export_blocks(mixed_blocks(), tmp_path / "net.h5")
    with pytest.raises(KeyError):
        netx.hdf5.Network(str(tmp_path / "net.h5"))


def test_weights_past_the_8bit_range_export_as_the_forward_clamps_them(tmp_path):
    """SLAYER's quantize_8bit clamps to [-4, 3.96875] in the forward pass: the file holds -256 / 254."""
    torch.manual_seed(0)
    dense = slayer.block.cuba.Dense(dict(NEURON), 4, 6)
    rec = DelayRecurrent(NEURON, 6, 6, max_delay=10)
    conv = ConvDelayRecurrent(NEURON, 6, 8, kernel_size=3, channels=2, max_delay=10)
    with torch.no_grad():
        dense.synapse.weight.view(6, 4)[1, 2] = -4.3
        dense.synapse.weight.view(6, 4)[5, 0] = 4.02
        rec.input_synapse.weight.view(6, 6)[0, 0] = 97.0
        rec.recurrent_synapse.weight.view(6, 6)[2, 3] = 4.5
        rec.recurrent_synapse.weight.view(6, 6)[3, 2] = -5.0
        conv.recurrent_synapse.weight[1, 0, 2] = -4.02
        conv.recurrent_synapse.weight[0, 1, 0] = 3.99  # rounds to 4.0, then clamps
    export_blocks([dense, rec, conv], tmp_path / "x.h5")
    spec = read_network(tmp_path / "x.h5")
    assert spec.layers[0].weight[1, 2] == -256 and spec.layers[0].weight[5, 0] == 254
    assert spec.layers[1].weight[0, 0] == 254
    assert spec.layers[1].weight_rec[2, 3] == 254 and spec.layers[1].weight_rec[3, 2] == -256
    assert spec.layers[2].conv.kernel[1, 0, 2] == -256 and spec.layers[2].conv.kernel[0, 1, 0] == 254
    # every weight is what the forward pass computes with (SLAYER's quantizer, as the block applies it)
    for layer, raw in ((spec.layers[0].weight, dense.synapse.weight),
                       (spec.layers[1].weight_rec, rec.recurrent_synapse.weight),
                       (spec.layers[2].conv.kernel, conv.recurrent_synapse.weight)):
        forward = dense.neuron.quantize_8bit(raw.detach(), descale=True).reshape(layer.shape).numpy()
        np.testing.assert_array_equal(layer, forward)


def test_synapse_without_quantizer_still_refuses_weights_out_of_range(tmp_path):
    """Its forward does not clamp, so nothing may be clamped on export; indices in the layout's terms."""
    rec = DelayRecurrent(NEURON, 4, 6, max_delay=10)
    conv = ConvDelayRecurrent(NEURON, 4, 6, kernel_size=3, max_delay=10)
    for block in (rec, conv):
        block.recurrent_synapse.pre_hook_fx = None
    with torch.no_grad():
        rec.recurrent_synapse.weight.view(6, 6)[2, 3] = 4.5
        conv.recurrent_synapse.weight[0, 0, 1] = -4.6
    with pytest.raises(QuantizationError, match=r"ck.pt: layer 1 \(DelayRecurrent\) recurrent weight: 1 weight"
                                                r".*does not clamp.*\(post, pre\): \(2, 3\): 4.5000$"):
        export_blocks([rec], tmp_path / "x.h5", source="ck.pt")
    with pytest.raises(QuantizationError, match=r"\(out channel, in channel, tap\): \(0, 0, 1\): -4.6000$"):
        export_blocks([conv], tmp_path / "x.h5", source="ck.pt")
    assert not (tmp_path / "x.h5").exists()


def test_other_quantizers_and_scales_are_refused(tmp_path):
    """The file's weights are SLAYER weights x 64: a hook or a neuron scale that does not give those."""
    rec = DelayRecurrent(NEURON, 4, 6, max_delay=10)
    rec.recurrent_synapse.pre_hook_fx = lambda w: w * 1.0  # no quantization at all
    with torch.no_grad():
        rec.recurrent_synapse.weight.view(6, 6)[0, 1] = 0.3
    with pytest.raises(UnsupportedLayerError, match=r"recurrent weight: \d+ weight\(s\) from the synapse's "
                                                    r"pre_hook_fx that are not 8-bit .*\(0, 1\): 0.3000"):
        blocks_to_spec([rec])
    with pytest.raises(UnsupportedLayerError, match="neuron scale 128 is not exportable"):
        blocks_to_spec([slayer.block.cuba.Dense({**NEURON, "scale": 128}, 4, 6)])


def test_non_finite_values_are_refused_naming_the_source(tmp_path):
    block = DelayRecurrent(NEURON, 4, 6, max_delay=10)
    with torch.no_grad():
        block.input_synapse.weight.view(6, 4)[1, 3] = float("nan")
    with pytest.raises(QuantizationError, match=r"^run/ck.pt: layer 1 \(DelayRecurrent\) weight: 1 non-finite "
                                                r"weight\(s\) \(post, pre\): \(1, 3\): nan$"):
        export_blocks([block], tmp_path / "x.h5", source="run/ck.pt")
    block = DelayRecurrent(NEURON, 4, 6, max_delay=10)
    with torch.no_grad():
        block.axonal_delay.delay[2] = float("nan")  # (an infinite one clamps to max_delay, as in the forward)
    with pytest.raises(QuantizationError, match=r"layer 1 \(DelayRecurrent\): 1 delay\(s\) .*neuron 2: nan"):
        export_blocks([block], tmp_path / "x.h5")


def test_delays_export_as_the_forward_clamps_them(tmp_path):
    block = ConvDelayRecurrent(NEURON, 4, 6, max_delay=10)
    with torch.no_grad():
        block.axonal_delay.delay[4] = 12.0  # the forward uses 10
        block.axonal_delay.delay[1] = -3.0  # the forward uses 0
    export_blocks([block], tmp_path / "x.h5")
    delays = read_network(tmp_path / "x.h5").layers[0].delay_rec
    assert delays[4] == 10 and delays[1] == 0
    # SLAYER's Delay clamps feed-forward delays to its max_delay (62) before each use; one
    # without a max_delay does not, so a delay above Loihi's 62 cannot be exported
    dense = slayer.block.cuba.Dense(dict(NEURON), 3, 4, delay=True)
    dense(torch.zeros(1, 3, 2))
    with torch.no_grad():
        dense.delay.delay[0] = 70.0
    export_blocks([dense], tmp_path / "d.h5")
    assert read_network(tmp_path / "d.h5").layers[0].delay[0] == 62
    dense.delay.max_delay = None
    with pytest.raises(QuantizationError, match=r"layer 1 \(Dense\) feed-forward: 1 delay\(s\) outside "
                                                r"\[0, 62\].*neuron 0: 70"):
        export_blocks([dense], tmp_path / "d2.h5")


def test_unsupported_blocks_are_named():
    with pytest.raises(UnsupportedLayerError, match=r"layer 1 \(Conv\).*not supported"):
        blocks_to_spec([slayer.block.cuba.Conv(dict(NEURON), 2, 4, 3)])
    rec_delay = slayer.block.cuba.Recurrent(dict(NEURON), 4, 4, delay=True)
    with pytest.raises(UnsupportedLayerError, match="feed-forward delay"):
        blocks_to_spec([rec_delay])
    with pytest.raises(InvalidSpecError, match=r"layer 2 \(DelayRecurrent\): 'weight' has shape \(2, 5\), "
                                              r"expected \(2, 4\): layer 1 has 4 neurons"):
        blocks_to_spec([DelayRecurrent(NEURON, 3, 4), DelayRecurrent(NEURON, 5, 2)])


def _corrupt(tmp_path, edit):
    path = tmp_path / "net.h5"
    export_blocks(mixed_blocks(), path)
    with h5py.File(path, "a") as f:
        edit(f["lava_convdelay_layer"])
    return path


@pytest.mark.parametrize("edit,message", [
    (lambda g: g["2/type"].__setitem__(0, b"fancy"), r"layer 2: unknown layer type 'fancy'"),
    (lambda g: g["3"].__delitem__("delay_rec"), r"layer 3: missing dataset 'delay_rec'"),
    (lambda g: g["3/delay_rec"].__setitem__(5, 21), r"layer 3: recurrent delay 21 at index \(5,\) .*\[0, 20\]"),
    (lambda g: g["3/delay_rec"].__setitem__(0, -1), r"layer 3: recurrent delay -1 at index \(0,\)"),
    (lambda g: g["2/weight"].__setitem__((1, 1), np.nan), r"layer 2: 'weight' has a non-finite value"),
    (lambda g: g["4/weight_rec"].__setitem__((0, 0), 300), r"layer 4: weight 300 .*\[-256, 254\]"),
    (lambda g: g["2/weight"].__setitem__((0, 0), 2.5), r"layer 2: 'weight' must hold integers"),
    (lambda g: g["2/neuron"].__delitem__("iDecay"), r"layer 2: missing dataset 'neuron/iDecay'"),
    (lambda g: g["1"].create_dataset("bias", data=np.zeros(16)), r"layer 1: 'bias'"),
    (lambda g: g.move("5", "7"), r"layers must be named 0..L-1"),
])
def test_malformed_files_give_clear_errors(tmp_path, edit, message):
    path = _corrupt(tmp_path, edit)
    with pytest.raises((NetworkFormatError, UnsupportedLayerError), match=message) as err:
        read_network(path)
    assert str(path) in str(err.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(NetworkFormatError, match="no such file"):
        read_network(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(NetworkFormatError, match="not a readable HDF5 file"):
        read_network(tmp_path / "junk.h5")
    good = tmp_path / "good.h5"
    export_blocks(mixed_blocks(), good)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(NetworkFormatError):
        read_network(truncated)


def test_voltage_readout_is_written_as_lava_dl_writes_an_affine_block(tmp_path):
    """Our Affine readout and SLAYER's own cuba.Affine.export_hdf5 give the same
    datasets (a 'dense' layer with vThMant 2**18 - 1, out of the voltage's
    reach); our reader takes both as the voltage readout."""
    from lava_convdelay.nn.blocks import Affine

    torch.manual_seed(2)
    readout = Affine(dict(NEURON), 8, 3, weight_scale=3)
    with h5py.File(tmp_path / "slayer.h5", "w") as f:
        f.create_group("layer/0").create_dataset("type", (1,), "S10", [b"input"])
        f["layer/0"].create_dataset("shape", data=np.array([8]))
        slayer.block.cuba.Affine.export_hdf5(readout, f.create_group("layer/1"))
    export_blocks([readout], tmp_path / "ours.h5")
    theirs, _ = hdf5_contents(tmp_path / "slayer.h5")
    ours, _ = hdf5_contents(tmp_path / "ours.h5")
    for key in ("weight", "neuron/vThMant", "neuron/iDecay", "neuron/vDecay", "type", "shape"):
        np.testing.assert_array_equal(ours["layer/1/" + key][0], theirs["layer/1/" + key][0], err_msg=key)
    assert ours["layer/1/neuron/vThMant"][0] == (1 << 18) - 1
    for path in (tmp_path / "slayer.h5", tmp_path / "ours.h5"):
        spec = read_network(path)
        assert spec.readout == "voltage_sum" and not spec.layers[0].neuron.spiking


def test_a_non_spiking_layer_must_be_the_output(tmp_path):
    from lava_convdelay.nn.blocks import Affine
    from lava_convdelay.nn.model import ConfigError, SpikingNetwork

    hidden = [Affine(dict(NEURON), 4, 6), slayer.block.cuba.Dense(dict(NEURON), 6, 2)]
    with pytest.raises(UnsupportedLayerError, match=r"layer 1 \(Affine\): vThMant=262143 never "
                                                     r"spikes: .* may only be\s+the output layer"):
        blocks_to_spec(hidden)
    with pytest.raises(ConfigError, match=r"layer 1 \(affine\): a non-spiking layer can only be the output"):
        SpikingNetwork({"input_size": 4, "layers": [{"type": "affine", "neurons": 6},
                                                     {"type": "dense", "neurons": 2}]})
    path = tmp_path / "net.h5"
    export_blocks(mixed_blocks(), path)
    with h5py.File(path, "a") as f:
        f["lava_convdelay_layer/2/neuron/vThMant"][()] = (1 << 18) - 1
    with pytest.raises(UnsupportedLayerError, match=r"layer 2: vThMant=262143 never spikes"):
        read_network(path)


def test_stock_files_without_feature_counts_are_read_as_stock_netx_reads_them(tmp_path):
    """Stock NetX never reads inFeatures / outFeatures (it takes the sizes from the
    weights, reshaping a 1-D weight to `shape` rows, and broadcasts a scalar delay):
    such files read as the full ones; counts that are present are still checked."""
    from lava.lib.dl import netx
    torch.manual_seed(3)
    dense = slayer.block.cuba.Dense(dict(NEURON), 10, 16, weight_scale=2, delay=True)
    rec = slayer.block.cuba.Recurrent(dict(NEURON), 16, 8, weight_scale=2)
    last = slayer.block.cuba.Dense(dict(NEURON), 8, 4, weight_scale=2)
    last(rec(dense(torch.zeros(1, 10, 5))))  # SLAYER initialises feed-forward delays lazily
    full, bare = tmp_path / "full.h5", tmp_path / "bare.h5"
    export_blocks([dense, rec, last], full)
    with h5py.File(full, "r") as src, h5py.File(bare, "w") as dst:
        for i in (1, 2, 3):  # no input layer: the first layer's input size comes from its weights
            src.copy(src[f"layer/{i}"], dst, f"layer/{i - 1}")
            for key in ("inFeatures", "outFeatures"):
                del dst[f"layer/{i - 1}/{key}"]
        weight = dst["layer/1/weight"][()]
        del dst["layer/1/weight"]
        dst["layer/1/weight"] = weight.reshape(-1)  # flat, as stock NetX reshapes it
        dst["layer/2/delay"] = np.float32(3)  # one delay for all
    ours, theirs = read_network(full), read_network(bare)
    assert theirs.input_size == ours.input_size == 10
    for a, b in zip(ours.layers, theirs.layers):
        np.testing.assert_array_equal(a.weight, b.weight)
        assert (a.weight_rec is None) == (b.weight_rec is None)
        if a.weight_rec is not None:
            np.testing.assert_array_equal(a.weight_rec, b.weight_rec)
    np.testing.assert_array_equal(theirs.layers[0].delay, ours.layers[0].delay)
    np.testing.assert_array_equal(theirs.layers[2].delay, np.full(4, 3))
    counted = tmp_path / "counted.h5"
    counted.write_bytes(bare.read_bytes())
    assert len(netx.hdf5.Network(str(bare)).layers) == 3  # stock NetX builds it
    with h5py.File(counted, "a") as f:
        f["layer/1/inFeatures"] = np.int64(15)
    with pytest.raises(NetworkFormatError, match=r"layer 1: 'inFeatures'=15 but expected 16"):
        read_network(counted)
