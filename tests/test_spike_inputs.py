"""Spike arrays handed to simulate / deploy / verify (issue 27): every file that is
not one plain .npy array of 0/1 numbers is refused with one line naming it, from
its header before any data is read; and `simulate` of a network with a voltage
readout writes and decides from what the decision rule reads.

Each refusal here ended in a traceback (or, for the readout, an all-zero output)
before; the expected messages are written out by hand."""
import io
import os
import zipfile

import numpy as np
import pytest
import torch
from numpy.lib import format as npy_format

from lava_convdelay.app.spike_files import load_spikes
from lava_convdelay.cli import main
from lava_convdelay.errors import UserError
from lava_convdelay.nn.model import SpikingNetwork
from netx_export.exporter import export_blocks
from netx_export.reader import read_network
from sim.fixed_point import simulate

NEURON = {"threshold": 1.0, "current_decay": 0.2, "voltage_decay": 0.1}


def npy_with_header(path, shape, dtype="|i1", data=b""):
    """A .npy file whose header declares ``shape`` and ``dtype`` over ``data``."""
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    path.write_bytes(buffer.getvalue() + data)
    return path


def npz(path):
    buffer = io.BytesIO()
    np.savez(buffer, a=np.zeros((4, 5), np.int8))
    path.write_bytes(buffer.getvalue())
    return path


def raw(blob):
    def make(path):
        path.write_bytes(blob)
        return path
    return make


CASES = {
    "npz archive": (npz, r"is an .npz archive \(several arrays\); give one array saved with numpy.save"),
    "structured dtype": (lambda p: np.save(p, np.zeros((4, 5), [("a", "i1"), ("b", "f4")])) or p,
                         r"holds records of dtype \[\('a', 'i1'\), \('b', '<f4'\)\], not spikes"),
    "object array": (lambda p: np.save(p, np.array([[1, None]] * 4, dtype=object)) or p,
                     r"holds Python objects \(dtype object\); pickled arrays are refused"),
    "huge declared shape": (lambda p: npy_with_header(p, (1 << 20, 4, 1 << 20)),
                            r"its header declares shape \(1048576, 4, 1048576\) of int8 \(4398046511104 bytes\) "
                            r"but the file holds 0 bytes of data"),
    "truncated data": (lambda p: npy_with_header(p, (4, 5), data=bytes(19)),
                       r"its header declares shape \(4, 5\) of int8 \(20 bytes\) but the file holds 19 bytes"),
    "complex values": (lambda p: np.save(p, np.ones((4, 5), np.complex64)) or p,
                       r"holds dtype complex64; spikes must be 0/1 integers, booleans or floats"),
    "strings": (lambda p: np.save(p, np.full((4, 5), "1")) or p, r"holds dtype <U1"),
    "not finite": (lambda p: np.save(p, np.where(np.eye(4, 5) > 0, np.nan, 0.0)) or p,
                   r"spikes must be 0 or 1, found nan at index \(0, 0\) \(4 value\(s\) other than 0 and 1\)"),
    "counts": (lambda p: np.save(p, np.full((2, 4, 5), 2, np.int16)) or p,
               r"spikes must be 0 or 1, found 2 at index \(0, 0, 0\) \(40 value"),
    "version 3 header": (raw(b"\x93NUMPY\x03\x00" + bytes(12)),
                         r"not a readable .npy array \(.npy format version 3.0\)"),
    "empty file": (raw(b""), r"not a readable .npy array"),
    "a folder": (lambda p: p.mkdir() or p, r"is a folder, not a .npy file"),
    "a FIFO": (lambda p: os.mkfifo(p) or p, r"is not a regular file"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_spike_files_are_refused_with_one_line(tmp_path, case):
    make, message = CASES[case]
    path = make(tmp_path / "in.npy")
    with pytest.raises(UserError, match="^" + str(path) + ": " + message) as info:
        load_spikes(path, 4)
    assert "\n" not in str(info.value)


def test_spike_files_that_are_fine_load(tmp_path):
    for array in (np.eye(4, 5, dtype=bool), np.eye(4, 5), np.ones((2, 4, 5), np.uint8)):
        np.save(tmp_path / "in.npy", array)
        spikes = load_spikes(tmp_path / "in.npy", 4)
        assert spikes.dtype == np.int8 and spikes.shape == (len(array) if array.ndim == 3 else 1, 4, 5)
        np.testing.assert_array_equal(spikes.reshape(array.shape), array.astype(np.int8))


def test_the_header_is_read_before_any_data(tmp_path, monkeypatch):
    """The huge shape is refused without numpy.load being called."""
    path = npy_with_header(tmp_path / "in.npy", (1 << 40, 4, 5))
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("numpy.load called"))
    with pytest.raises(UserError, match="declares shape"):
        load_spikes(path, 4)


def test_npz_through_the_command_line(tmp_path, capsys):
    torch.manual_seed(0)
    model = SpikingNetwork({"input_size": 4, "neuron": NEURON, "layers": [{"type": "dense", "neurons": 3}]})
    export_blocks(list(model.blocks), tmp_path / "net.h5")
    path = npz(tmp_path / "in.npz")
    assert zipfile.is_zipfile(path)
    for command in (["simulate"], ["verify"], ["deploy", "--backend", "cpu"]):
        argv = [command[0], str(tmp_path / "net.h5"), *command[1:], "--input", str(path)]
        argv += ["-o", str(tmp_path / "o.npy")] if command[0] != "verify" else []
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is an .npz archive" in err, err
    assert not (tmp_path / "o.npy").exists()


def test_simulate_writes_and_decides_from_a_voltage_readout(tmp_path, capsys):
    """A non-spiking output layer never fires: simulate wrote all-zero spikes and printed
    zero spike counts. It writes the readout's integer voltages (as deploy does) and
    prints the decision with the class names."""
    torch.manual_seed(3)
    model = SpikingNetwork({"input_size": 8, "neuron": NEURON, "layers": [
        {"type": "dense", "neurons": 6, "weight_scale": 3}, {"type": "affine", "neurons": 3, "weight_scale": 3}]})
    export_blocks(list(model.blocks), tmp_path / "readout.h5", class_names=["yes", "no", "maybe"])
    x = (np.random.default_rng(2).random((2, 8, 40)) < 0.3).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    assert main(["simulate", str(tmp_path / "readout.h5"), "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "v.npy")]) == 0
    expected = simulate(read_network(tmp_path / "readout.h5"), x, record_voltage=True).voltage
    assert np.count_nonzero(expected) > expected.size // 2
    written = np.load(tmp_path / "v.npy")
    assert written.dtype == np.int64
    np.testing.assert_array_equal(written, expected)
    sums = expected.sum(-1)
    names = ["yes", "no", "maybe"]
    text = capsys.readouterr().out
    assert "output voltages (int64, 1/4096 units) [2, 3, 40]" in text
    for i in range(2):
        k = int(np.argmax(sums[i]))
        assert f"sample {i}: {names[k]} (output {k}); summed voltage per output neuron: {sums[i].tolist()}" in text


def test_simulate_decides_from_spike_counts_for_a_spiking_output(tmp_path, capsys):
    torch.manual_seed(2)
    model = SpikingNetwork({"input_size": 8, "neuron": NEURON, "layers": [
        {"type": "dense", "neurons": 3, "weight_scale": 3}]})
    export_blocks(list(model.blocks), tmp_path / "net.h5")
    x = (np.random.default_rng(1).random((8, 30)) < 0.4).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    assert main(["simulate", str(tmp_path / "net.h5"), "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "o.npy")]) == 0
    expected = simulate(read_network(tmp_path / "net.h5"), x).output
    assert expected.sum() > 0
    counts = expected.reshape(3, 30).sum(-1)
    text = capsys.readouterr().out
    assert f"sample 0: output {int(np.argmax(counts))}; spike count per output neuron: {counts.tolist()}" in text


def test_simulate_refuses_a_layer_without_current_decay(tmp_path, capsys):
    """iDecay = 0 is valid in the format but Lava's LIF cannot express it (docs/hdf5-format.md)."""
    from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
    from netx_export.writer import write_network
    write_network(NetworkSpec(4, [LayerSpec("dense", np.full((3, 4), 64), CubaParams(0, 100, 64))]),
                  tmp_path / "net.h5")
    np.save(tmp_path / "x.npy", np.ones((4, 5), np.int8))
    assert main(["simulate", str(tmp_path / "net.h5"), "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "o.npy")]) == 2
    err = capsys.readouterr().err
    assert err == (f"lava-convdelay simulate: error: {tmp_path / 'net.h5'}: layer 1 (dense): iDecay = 0 (no current "
                   f"decay) cannot be expressed by Lava's LIF (du = iDecay - 1 must be >= 0)\n")
    assert not (tmp_path / "o.npy").exists()
