"""Export to NetX HDF5: stock compatibility, round trip, quantization errors."""
import h5py
import numpy as np
import pytest
import torch
from lava.lib.dl import slayer

from lava_convdelay.block.cuba import ConvDelayRecurrent, DelayRecurrent
from naive_reference import naive_banded
from netx_export.errors import NetworkFormatError, QuantizationError, UnsupportedLayerError
from netx_export.exporter import blocks_to_spec, export_blocks
from netx_export.reader import read_network
from netx_export.writer import write_network

NEURON = dict(threshold=1.0, current_decay=0.25, voltage_decay=0.03)


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, (obj[()], obj.dtype, obj.shape))
                     if isinstance(obj, h5py.Dataset) else None)
        attrs = dict(f.attrs)
    return out, attrs


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
    theirs, _ = datasets(tmp_path / "slayer.h5")
    for ours_file, their_layer in (("dense.h5", "layer/0"), ("rec.h5", "layer/1")):
        ours, attrs = datasets(tmp_path / ours_file)
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
    content, _ = datasets(path)
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
    export_blocks(mixed_blocks(1), tmp_path / "a.h5")
    write_network(read_network(tmp_path / "a.h5"), tmp_path / "b.h5")
    a, attrs_a = datasets(tmp_path / "a.h5")
    b, attrs_b = datasets(tmp_path / "b.h5")
    assert attrs_a == attrs_b and a.keys() == b.keys()
    for key in a:
        assert a[key][1] == b[key][1] and np.array_equal(a[key][0], b[key][0]), key


def test_stock_netx_refuses_extension_files(tmp_path):
    from lava.lib.dl import netx
    export_blocks(mixed_blocks(), tmp_path / "net.h5")
    with pytest.raises(KeyError):
        netx.hdf5.Network(str(tmp_path / "net.h5"))


def test_weight_out_of_range_stops_export_unless_clamped(tmp_path):
    block = DelayRecurrent(NEURON, 4, 6, max_delay=10)
    with torch.no_grad():
        block.recurrent_synapse.synapse.weight.view(6, 6)[2, 3] = 4.5
    with pytest.raises(QuantizationError, match=r"layer 1 \(DelayRecurrent\) recurrent weight: 1 weight"
                                                r".*\(2, 3\): 4.5000"):
        export_blocks([block], tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
    report = export_blocks([block], tmp_path / "x.h5", clamp=True)
    assert len(report.clamped) == 1 and "(2, 3): 4.5000" in report.clamped[0]
    assert read_network(tmp_path / "x.h5").layers[0].weight_rec[2, 3] == 254


def test_delay_out_of_range_stops_export_unless_clamped(tmp_path):
    block = ConvDelayRecurrent(NEURON, 4, 6, max_delay=10)
    with torch.no_grad():
        block.axonal_delay.delay[4] = 12.0
    with pytest.raises(QuantizationError, match=r"layer 1 \(ConvDelayRecurrent\).*neuron 4: 12"):
        export_blocks([block], tmp_path / "x.h5")
    report = export_blocks([block], tmp_path / "x.h5", clamp=True)
    assert "neuron 4: 12" in report.clamped[0]
    assert read_network(tmp_path / "x.h5").layers[0].delay_rec[4] == 10


def test_unsupported_blocks_are_named():
    with pytest.raises(UnsupportedLayerError, match=r"layer 1 \(Conv\).*not supported"):
        blocks_to_spec([slayer.block.cuba.Conv(dict(NEURON), 2, 4, 3)])
    rec_delay = slayer.block.cuba.Recurrent(dict(NEURON), 4, 4, delay=True)
    with pytest.raises(UnsupportedLayerError, match="feed-forward delay"):
        blocks_to_spec([rec_delay])
    with pytest.raises(UnsupportedLayerError, match="layer 2 expects 5 inputs but layer 1 has 4"):
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
    from lava_convdelay.block.cuba import Affine

    torch.manual_seed(2)
    readout = Affine(dict(NEURON), 8, 3, weight_scale=3)
    with h5py.File(tmp_path / "slayer.h5", "w") as f:
        f.create_group("layer/0").create_dataset("type", (1,), "S10", [b"input"])
        f["layer/0"].create_dataset("shape", data=np.array([8]))
        slayer.block.cuba.Affine.export_hdf5(readout, f.create_group("layer/1"))
    export_blocks([readout], tmp_path / "ours.h5")
    theirs, _ = datasets(tmp_path / "slayer.h5")
    ours, _ = datasets(tmp_path / "ours.h5")
    for key in ("weight", "neuron/vThMant", "neuron/iDecay", "neuron/vDecay", "type", "shape"):
        np.testing.assert_array_equal(ours["layer/1/" + key][0], theirs["layer/1/" + key][0], err_msg=key)
    assert ours["layer/1/neuron/vThMant"][0] == (1 << 18) - 1
    for path in (tmp_path / "slayer.h5", tmp_path / "ours.h5"):
        spec = read_network(path)
        assert spec.readout == "voltage_sum" and not spec.layers[0].neuron.spiking


def test_a_non_spiking_layer_must_be_the_output(tmp_path):
    from lava_convdelay.block.cuba import Affine
    from lava_convdelay.model import ConfigError, SpikingNetwork

    hidden = [Affine(dict(NEURON), 4, 6), slayer.block.cuba.Dense(dict(NEURON), 6, 2)]
    with pytest.raises(UnsupportedLayerError, match="layer 1 is non-spiking .* not the output"):
        blocks_to_spec(hidden)
    with pytest.raises(ConfigError, match=r"layer 1 \(affine\): a non-spiking layer can only be the output"):
        SpikingNetwork({"input_size": 4, "layers": [{"type": "affine", "neurons": 6},
                                                     {"type": "dense", "neurons": 2}]})
    path = tmp_path / "net.h5"
    export_blocks(mixed_blocks(), path)
    with h5py.File(path, "a") as f:
        f["lava_convdelay_layer/2/neuron/vThMant"][()] = (1 << 18) - 1
    with pytest.raises(UnsupportedLayerError, match=r"layer 2: vThMant=262143 .* never spikes"):
        read_network(path)
