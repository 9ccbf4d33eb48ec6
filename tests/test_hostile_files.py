"""Hostile HDF5 files (issue 27): every reader (network files, SHD-format data, NIR
graphs) refuses, with one error naming the file, the object and the reason and
before reading any data, files that reach outside themselves (external raw
storage, external links, virtual datasets), soft links (dangling or looping),
types other than numbers and strings, and declared shapes beyond what the file's
other fields allow; writers re-read what they wrote before giving it its name.

Each case here was accepted (or ended in a traceback) before
``lava_convdelay.hdf5_safety``; the expected messages are written out by hand.
"""
import re
import shutil

import h5py
import nir
import numpy as np
import pytest
from factories import make_spec, toy_shd

from lava_convdelay.cli import main
from lava_convdelay.data import read_shd
from lava_convdelay.errors import UserError
from lava_convdelay.nn.checkpoint import save_checkpoint
from lava_convdelay.nn.model import SpikingNetwork
from netx_export.errors import InvalidSpecError, NetworkFormatError
from netx_export.nir_import import read_nir
from netx_export.reader import read_network
from netx_export.writer import write_network

WEIGHT = "layer/1/weight"  # a dense_rec network of 10 inputs and 14 neurons (make_spec("dense_rec", 0))


@pytest.fixture
def secret(tmp_path):
    """A file outside the network file whose bytes (ASCII text, 0..127) would pass as
    integer weights in [-256, 254], as /etc/passwd's do."""
    path = tmp_path / "secret.txt"
    path.write_bytes(bytes(range(32, 32 + 140)))
    return path


def network_file(tmp_path, edit=None, name="net.h5"):
    path = tmp_path / name
    write_network(make_spec("dense_rec", 0), path)
    if edit is not None:
        with h5py.File(path, "a") as f:
            edit(f)
    return path


def external_storage(target, dtype="i1"):
    def edit(f):
        shape = f[WEIGHT].shape
        del f[WEIGHT]
        f.create_dataset(WEIGHT, shape=shape, dtype=dtype, external=[(str(target), 0, h5py.h5f.UNLIMITED)])
    return edit


def external_link(target):
    def edit(f):
        del f[WEIGHT]
        f[WEIGHT] = h5py.ExternalLink(str(target), WEIGHT)
    return edit


def virtual(target):
    def edit(f):
        shape = f[WEIGHT].shape
        del f[WEIGHT]
        layout = h5py.VirtualLayout(shape=shape, dtype="f4")
        layout[...] = h5py.VirtualSource(str(target), WEIGHT, shape=shape)
        f.create_virtual_dataset(WEIGHT, layout)
    return edit


def soft_loop(f):
    del f[WEIGHT]
    f[WEIGHT] = h5py.SoftLink("/layer/1/other")
    f["layer/1/other"] = h5py.SoftLink("/" + WEIGHT)


def soft_dangling(f):
    del f[WEIGHT]
    f[WEIGHT] = h5py.SoftLink("/nowhere")


def soft_to_real_data(f):  # a soft link to good data: refused all the same (stock files have none)
    f.move(WEIGHT, "layer/1/moved")
    f[WEIGHT] = h5py.SoftLink("/layer/1/moved")


def huge(f):  # 2^40 elements declared; compressed chunks of fill values cost no bytes
    del f[WEIGHT]
    f.create_dataset(WEIGHT, shape=(1 << 20, 1 << 20), dtype="f4", chunks=(64, 64), compression="gzip")


def complex_decay(f):  # complex scalars passed the old scalar check, their imaginary part dropped
    del f["layer/1/neuron/iDecay"]
    f["layer/1/neuron/iDecay"] = np.complex128(1000 + 5j)


def object_reference(f):
    del f["layer/1/neuron/vDecay"]
    f.create_dataset("layer/1/neuron/vDecay", data=f["layer"].ref, dtype=h5py.ref_dtype)


def network_cases(tmp_path, secret):
    other = network_file(tmp_path, name="other.h5")
    return {
        "external storage": (external_storage(secret), r"/layer/1/weight: its data is stored outside the file "
                                                       r"\(external storage in \['.*secret.txt'\]\); refused"),
        "external link": (external_link(other), r"/layer/1/weight: is an external link to .*other.h5:layer/1/weight; "
                                                r"links to other files are refused"),
        "virtual dataset": (virtual(other), r"/layer/1/weight: is a virtual dataset"),
        "soft-link loop": (soft_loop, r"/layer/1/(weight|other): is a soft link to"),
        "dangling soft link": (soft_dangling, r"/layer/1/weight: is a soft link to '/nowhere'"),
        "soft link to data": (soft_to_real_data, r"/layer/1/weight: is a soft link to '/layer/1/moved'"),
        "2^40 elements": (huge, r"/layer/1/weight: declares 1099511627776 elements \(shape \(1048576, 1048576\)\), "
                                r"more than the 268435456 allowed"),
        "complex scalar": (complex_decay, r"/layer/1/neuron/iDecay: holds complex numbers \(complex128\)"),
        "reference": (object_reference, r"/layer/1/neuron/vDecay: holds object references"),
    }


@pytest.mark.parametrize("case", ["external storage", "external link", "virtual dataset", "soft-link loop",
                                  "dangling soft link", "soft link to data", "2^40 elements", "complex scalar",
                                  "reference"])
def test_network_reader_refuses_before_reading(tmp_path, secret, case):
    edit, message = network_cases(tmp_path, secret)[case]
    path = network_file(tmp_path, edit)
    with pytest.raises(NetworkFormatError, match="^" + str(path) + ": " + message) as info:
        read_network(path)
    assert "\n" not in str(info.value)


def test_a_declared_shape_is_checked_against_the_other_fields_before_reading(tmp_path, monkeypatch):
    """A weight of (14, 11) elements where 'shape' and the input layer allow (14, 10) is refused
    from its declared shape: h5py never reads it."""
    def bigger(f):
        del f[WEIGHT]
        f[WEIGHT] = np.zeros((14, 11), np.float32)
    path = network_file(tmp_path, bigger)
    reads = []
    real = h5py.Dataset.__getitem__
    monkeypatch.setattr(h5py.Dataset, "__getitem__", lambda self, key: reads.append(self.name) or real(self, key))
    with pytest.raises(NetworkFormatError, match=r"layer 1: 'weight': declares shape \(14, 11\) \(154 elements\), "
                                                 r"more than the 140 the file's other fields allow"):
        read_network(path)
    assert "/layer/1/weight" not in reads and "/layer/1/shape" in reads


def test_export_nir_of_a_file_pointing_at_a_system_file_writes_nothing(tmp_path, secret, capsys):
    """The issue's exploit: weights declared as external storage of another file came out
    as the NIR graph's weights, exit 0."""
    path = network_file(tmp_path, external_storage(secret))
    out = tmp_path / "leak.nir"
    assert main(["export-nir", str(path), "-o", str(out), "--dt", "0.001"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "external storage" in err and "secret.txt" in err
    assert not out.exists()


# --------------------------------------------------------------------------- SHD-format datasets

def shd_file(tmp_path, edit=None, name="data.h5"):
    path = toy_shd(tmp_path / name, 6, 0)
    if edit is not None:
        with h5py.File(path, "a") as f:
            edit(f)
    return path


def replace(key, **create):
    def edit(f):
        del f[key]
        f.create_dataset(key, **create)
    return edit


def shd_cases(tmp_path, secret):
    other = shd_file(tmp_path, name="other.h5")

    def link(f):
        del f["spikes/units"]
        f["spikes/units"] = h5py.ExternalLink(str(other), "spikes/units")

    def unread_link(f):  # under extra/, which read_shd does not read: refused all the same
        f["extra/meta_info"] = h5py.ExternalLink(str(other), "/labels")

    def virtual_labels(f):
        del f["labels"]
        layout = h5py.VirtualLayout(shape=(6,), dtype="u1")
        layout[...] = h5py.VirtualSource(str(other), "labels", shape=(6,))
        f.create_virtual_dataset("labels", layout)

    def loop(f):
        del f["extra/keys"]
        f["extra/keys"] = h5py.SoftLink("/extra/keys")

    return {
        "external storage": (replace("extra/speaker", shape=(6,), dtype="u1",
                                     external=[(str(secret), 0, h5py.h5f.UNLIMITED)]),
                             r"/extra/speaker: its data is stored outside the file"),
        "external link": (link, r"/spikes/units: is an external link to .*other.h5:spikes/units"),
        "external link under extra": (unread_link, r"/extra/meta_info: is an external link"),
        "virtual dataset": (virtual_labels, r"/labels: is a virtual dataset"),
        "soft-link loop": (loop, r"/extra/keys: is a soft link to '/extra/keys'"),
        "2^40 labels": (replace("labels", shape=(1 << 40,), dtype="u1", chunks=(1 << 16,), compression="gzip"),
                        r"/labels: declares 1099511627776 elements"),
        "too many keys": (replace("extra/keys", shape=(1 << 20,), dtype="S4", chunks=(1 << 10,), compression="gzip"),
                          r"'extra/keys': declares shape \(1048576,\) \(1048576 elements\), more than the 65536"),
        "speakers beyond the labels": (replace("extra/speaker", shape=(1 << 27,), dtype="u1", chunks=(1 << 16,),
                                               compression="gzip"),
                                       r"'extra/speaker': declares shape \(134217728,\) \(134217728 elements\), more "
                                       r"than the 6 the file's other fields allow"),
        "complex labels": (replace("labels", data=np.zeros(6, np.complex64)), r"/labels: holds complex numbers"),
        "duplicate class names": (replace("extra/keys", data=np.array([b"low", b"mid", b"low"])),
                                  r"'extra/keys' names class 0 and class 2 both 'low'; class names must be distinct"),
        "class names not UTF-8": (replace("extra/keys", data=np.array([b"low", b"\xff", b"high"])),
                                  r"'extra/keys' holds a name that is not UTF-8 text"),
        "ragged rows of strings": (replace("spikes/units", shape=(6,), dtype=h5py.vlen_dtype(np.dtype("S1"))),
                                   r"/spikes/units: holds ragged elements of type \|S1 \(not numbers\)"),
        "float units": (replace("spikes/units", data=np.array([np.zeros(3, np.float32)] * 6 + [None],
                                                              dtype=h5py.vlen_dtype(np.float32))[:-1]),
                        r"'spikes/units' rows must hold integers, got float32"),
    }


SHD_CASES = ["external storage", "external link", "external link under extra", "virtual dataset", "soft-link loop",
             "2^40 labels", "too many keys", "speakers beyond the labels", "complex labels", "duplicate class names",
             "class names not UTF-8", "ragged rows of strings", "float units"]


@pytest.mark.parametrize("case", SHD_CASES)
def test_dataset_reader_refuses_before_reading(tmp_path, secret, case):
    edit, message = shd_cases(tmp_path, secret)[case]
    path = shd_file(tmp_path, edit)
    with pytest.raises(UserError, match="^" + str(path) + ": " + message) as info:
        read_shd(path)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- NIR graphs

def nir_file(tmp_path, edit=None, name="g.nir"):
    from test_nir import recurrent_graph
    path = tmp_path / name
    graph = recurrent_graph()
    graph.metadata = {"dt": 0.001}
    nir.write(path, graph)
    if edit is not None:
        with h5py.File(path, "a") as f:
            edit(f)
    return path


NIR_WEIGHT = "node/nodes/w/weight"  # Linear (3, 2)


def nir_cases(tmp_path, secret):
    other = nir_file(tmp_path, name="other.nir")

    def storage(f):
        del f[NIR_WEIGHT]
        f.create_dataset(NIR_WEIGHT, shape=(3, 2), dtype="i1", external=[(str(secret), 0, h5py.h5f.UNLIMITED)])

    def link(f):
        del f[NIR_WEIGHT]
        f[NIR_WEIGHT] = h5py.ExternalLink(str(other), NIR_WEIGHT)

    def complex_weights(f):
        weight = f[NIR_WEIGHT][()]
        del f[NIR_WEIGHT]
        f[NIR_WEIGHT] = weight.astype(np.complex128) + 3j

    return {
        "external storage": (storage, r"/node/nodes/w/weight: its data is stored outside the file"),
        "external link": (link, r"/node/nodes/w/weight: is an external link"),
        "complex weights": (complex_weights, r"/node/nodes/w/weight: holds complex numbers"),
        "2^40 elements": (replace(NIR_WEIGHT, shape=(1 << 20, 1 << 20), dtype="f4", chunks=(64, 64),
                                  compression="gzip"), r"/node/nodes/w/weight: declares 1099511627776 elements"),
        "too much in all": (replace("node/nodes/rec/weight", shape=(1 << 14, 1 << 14), dtype="f4",
                                    chunks=(64, 64), compression="gzip"),
                            r"its datasets declare more than 268435456 elements in all"),
    }


@pytest.mark.parametrize("case", ["external storage", "external link", "complex weights", "2^40 elements",
                                  "too much in all"])
def test_nir_reader_refuses_before_nir_reads(tmp_path, secret, case):
    edit, message = nir_cases(tmp_path, secret)[case]
    path = nir_file(tmp_path, edit)
    with pytest.raises(UserError, match="^" + str(path) + ": " + message) as info:
        read_nir(path)
    assert "\n" not in str(info.value)


def test_a_stock_nir_file_still_reads(tmp_path):
    assert read_nir(nir_file(tmp_path)).spec.layers[0].type == "delay_rec"


# --------------------------------------------------------------------------- writers

def test_write_network_validates_and_leaves_nothing(tmp_path):
    spec = make_spec("dense_rec", 0)
    spec.input_size = 0  # what import-nir made of a graph with a 0-wide input
    with pytest.raises(InvalidSpecError, match=r"'input_size'=0 is outside \[1, 16777216\]"):
        write_network(spec, tmp_path / "n.h5")
    spec = make_spec("dense_rec", 0)
    spec.class_names = ["a", "b\x00c"]  # HDF5 strings end at a NUL: "b\0c" would read back as "b"
    with pytest.raises(InvalidSpecError, match=r"class name 1 'b\\x00c' holds a NUL character"):
        write_network(spec, tmp_path / "n.h5")
    assert list(tmp_path.iterdir()) == []


def _written_off(real, key, index, change):
    def write_layer(group, layer):
        real(group, layer)
        value = group[key][()]
        value[index] += change(value[index])  # still a valid value: the reader alone would accept it
        group[key][...] = value
    return write_layer


#: fault -> (network, dataset, index, change of the value there)
CHANGES = {
    "a weight changed": ("dense_rec", "weight", (0, 0), lambda w: 2),
    "a delay channel's kernel changed": ("delay channels k3 C2 D4", "weight_rec_conv", (1, 0, 2),
                                         lambda w: -2 if w > 0 else 2),
    "a delay channel's delay changed": ("delay channels k3 C2 D4", "delay_rec", 0, lambda d: 1),  # 0 -> 1
}


@pytest.mark.parametrize("fault,message", [
    ("metadata lost", r"\((input encoding|class names) .*read back None\)"),
    ("a weight changed", r"\(layer 1: 'weight' does not read back as written\)"),
    ("a delay channel's kernel changed", r"\(layer 1: 'weight_rec_conv' does not read back as written\)"),
    ("a delay channel's delay changed", r"\(layer 1: 'delay_rec' does not read back as written\)"),
])
def test_write_network_commits_only_what_reads_back(tmp_path, monkeypatch, fault, message):
    """A writer that loses or changes something fails, naming the output, and leaves
    neither the file nor its temporary."""
    import netx_export.writer as writer
    network, key, index, change = CHANGES.get(fault, ("dense_rec", None, None, None))
    spec = make_spec(network, 0)
    spec.class_names = ["a", "b"]
    if fault == "metadata lost":
        monkeypatch.setattr(writer, "_write_meta", lambda f, spec: None)
    else:
        monkeypatch.setattr(writer, "_write_layer", _written_off(writer._write_layer, key, index, change))
    with pytest.raises(NetworkFormatError, match=str(tmp_path / "n.h5") + ": not written: the file would not read "
                                                 "back as the network " + message):
        write_network(spec, tmp_path / "n.h5")
    assert list(tmp_path.iterdir()) == []


def test_import_nir_of_a_zero_wide_input_writes_nothing(tmp_path, capsys):
    from test_nir import lif
    graph = nir.NIRGraph({"in": nir.Input(np.array([0])), "w": nir.Linear(np.ones((2, 0))), "lif": lif(2),
                          "out": nir.Output(np.array([2]))}, [("in", "w"), ("w", "lif"), ("lif", "out")],
                         metadata={"dt": 0.001}, type_check=False)
    nir.write(tmp_path / "g.nir", graph)
    assert main(["import-nir", str(tmp_path / "g.nir"), "-o", str(tmp_path / "g.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "node 'in' (Input): shape [0] is not a size of 1 .. 16777216 values" in err
    assert not (tmp_path / "g.h5").exists()


@pytest.mark.parametrize("names,message", [
    (["a", "b", "a"], r"class names must be distinct strings, got \['a', 'b', 'a'\]"),
    # was exported as ['a', 'b', 'c']; the checkpoint's own check refuses it first
    ("abc", r"'class_names' must be a non-empty list of strings, got 'abc'"),
    (["a", "b\ud800", "c"], r"class name 1 'b\\ud800' holds a NUL character or a lone surrogate"),
])
def test_export_of_a_checkpoint_with_unusable_class_names_writes_nothing(tmp_path, capsys, names, message):
    model = SpikingNetwork({"input_size": 4, "neuron": {"threshold": 1.0, "current_decay": 0.25,
                                                        "voltage_decay": 0.03},
                            "layers": [{"type": "dense", "neurons": 3}]})
    save_checkpoint(tmp_path / "ck.pt", model, epoch=1, class_names=names)
    assert main(["export", str(tmp_path / "ck.pt"), "-o", str(tmp_path / "n.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "ck.pt") in err
    assert re.search(message, err), err
    assert not (tmp_path / "n.h5").exists()


def test_the_files_the_toolkit_writes_pass_the_check(tmp_path):
    """Every writer's files read back through the checked readers (no links, no external storage)."""
    shutil.copy(network_file(tmp_path), tmp_path / "copy.h5")
    assert len(read_network(tmp_path / "copy.h5").layers) == 1
    assert len(read_shd(shd_file(tmp_path))["labels"]) == 6


# --------------------------------------------------------------------------- NIR metadata and sizes

def _graph(**metadata):
    from test_nir import recurrent_graph
    graph = recurrent_graph(type_check=False)
    graph.metadata = {"dt": 0.001, **metadata}
    return graph


def _node_metadata(node, key, value):
    graph = _graph()
    graph.nodes[node].metadata[key] = value
    return graph


def _readout(vth):
    return nir.NIRGraph({"in": nir.Input(np.array([2])), "w": nir.Linear(np.ones((2, 2))),
                         "li": nir.LI(tau=np.full(2, 0.002), r=np.full(2, 2.0), v_leak=np.zeros(2),
                                      metadata={"vThMant": vth}),
                         "out": nir.Output(np.array([2]))}, [("in", "w"), ("w", "li"), ("li", "out")],
                        metadata={"dt": 0.001})


def _sized(inputs, neurons):
    from test_nir import lif
    return nir.NIRGraph({"in": nir.Input(np.array([inputs])), "w": nir.Linear(np.ones((neurons, inputs))),
                         "lif": lif(neurons), "out": nir.Output(np.array([neurons]))},
                        [("in", "w"), ("w", "lif"), ("lif", "out")], metadata={"dt": 0.001}, type_check=False)


def _complex_weights():
    graph = _graph()
    graph.nodes["w"] = nir.Linear(graph.nodes["w"].weight + 0.5j)
    return graph


NIR_METADATA = {
    "dt a string": (lambda: _graph(dt="0.001s"), r"graph metadata 'dt' must be real numbers, got '0.001s'"),
    "dt an array": (lambda: _graph(dt=np.array([0.001, 0.002])), r"graph metadata 'dt' must be one number, got 2 "
                                                                 r"values"),
    "class_names a string": (lambda: _graph(class_names="abc"),
                             r"graph metadata 'class_names' must be a list of strings, got 'abc'"),
    "class_names numbers": (lambda: _graph(class_names=np.arange(3)),
                            r"graph metadata 'class_names' must be a list of strings, got array\(\[0, 1, 2\]\)"),
    "maxDelay a string": (lambda: _node_metadata("d", "maxDelay", "x"),
                          r"node 'd' \(Delay\): metadata 'maxDelay' must be real numbers, got 'x'"),
    "maxDelay fractional": (lambda: _node_metadata("d", "maxDelay", 4.5),
                            r"node 'd' \(Delay\): metadata 'maxDelay' must be one integer, got 4.5"),
    "convKernel a string": (lambda: _node_metadata("rec", "convKernel", "k"),
                            r"node 'rec' \(Linear\): metadata 'convKernel' must be real numbers, got 'k'"),
    "vThMant a string": (lambda: _readout("high"), r"node 'li' \(LI\): metadata 'vThMant' must be real numbers, "
                                                   r"got 'high'"),
    "a 0-neuron layer": (lambda: _sized(2, 0), r"node 'w' \(Linear\): weight has shape \(0, 2\), expected \(post, "
                                               r"pre\) with 1 .. 16777216 neurons"),
    "a 0-wide input": (lambda: _sized(0, 2), r"node 'in' \(Input\): shape \[0\] is not a size of 1 .. 16777216"),
    "complex weights": (_complex_weights, r"node 'w' \(Linear\): 'weight' must be real numbers"),
}


@pytest.mark.parametrize("case", sorted(NIR_METADATA))
def test_nir_values_of_the_wrong_type_are_one_error_naming_node_and_key(case):
    from netx_export.nir_import import graph_to_spec
    make, message = NIR_METADATA[case]
    with pytest.raises(UserError, match="^g.nir: " + message) as info:
        graph_to_spec(make(), "g.nir")
    assert "\n" not in str(info.value)


def test_a_readout_threshold_out_of_range_is_reported():
    from netx_export.nir_import import graph_to_spec
    result = graph_to_spec(_readout(5), "g.nir")
    assert result.spec.layers[0].neuron.vth_mant == 262143
    assert result.notes == ["node 'li': metadata vThMant 5 is not a non-spiking threshold (131072 .. 262143); "
                            "262143 used"]


@pytest.mark.parametrize("options", [dict(compression="gzip", shuffle=True, fletcher32=True),
                                     dict(compression="lzf")])
def test_compressed_files_read_as_before(tmp_path, options):
    """HDF5's own filters are not refused: a file whose arrays are all compressed reads as
    the same network."""
    path = network_file(tmp_path)
    with h5py.File(path, "a") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.ndim else None)
        for name in names:
            data = f[name][()]
            del f[name]
            f.create_dataset(name, data=data, chunks=True, **options)
    original, compressed = make_spec("dense_rec", 0).validate(), read_network(path)
    assert len(names) >= 5
    for a, b in zip(original.layers, compressed.layers):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.weight_rec, b.weight_rec)
