"""simulate / verify / deploy commands, and the Loihi 2 path with the hardware
run configuration mocked at the boundary."""
import numpy as np
import pytest
import torch

import lava.magma.core.run_configs as run_configs
from lava_convdelay.cli import main
from lava_convdelay.encoding import InputEncoding
from lava_convdelay.model import SpikingNetwork
from netx_export.exporter import export_blocks
from netx_export.to_model import spec_to_model
from sim.fixed_point import simulate

NEURON = {"threshold": 1.0, "current_decay": 0.2, "voltage_decay": 0.1}


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    torch.manual_seed(2)
    model = SpikingNetwork({"input_size": 8, "neuron": NEURON, "layers": [
        {"type": "conv_delay_rec", "neurons": 12, "max_delay": 15, "weight_scale": 3},
        {"type": "dense", "neurons": 3, "weight_scale": 3}]})
    folder = tmp_path_factory.mktemp("net")
    export_blocks(list(model.blocks), folder / "net.h5")
    spikes = (np.random.default_rng(1).random((8, 50)) < 0.3).astype(np.int8)
    np.save(folder / "in.npy", spikes)
    return folder


def test_simulate_writes_output_spikes(network, capsys):
    assert main(["simulate", str(network / "net.h5"), "--input", str(network / "in.npy"),
                 "-o", str(network / "out.npy")]) == 0
    out = np.load(network / "out.npy")
    assert out.shape == (3, 50) and out.dtype == np.uint8
    from netx_export.reader import read_network
    expected = simulate(read_network(network / "net.h5"), np.load(network / "in.npy")).output
    assert expected.sum() > 0
    np.testing.assert_array_equal(out, expected)


def test_simulate_rejects_bad_input(network, capsys, tmp_path):
    net = str(network / "net.h5")
    for name, array, message in (
            ("bad.npy", np.zeros((7, 10)), "expected spikes [8, time >= 1] or [samples >= 1, 8, time >= 1], "
                                           "got shape (7, 10)"),  # the file's own shape
            ("bad2.npy", np.full((8, 10), 2), "spikes must be 0 or 1"),
            ("empty.npy", np.zeros((8, 0)), "got shape (8, 0)"),
            ("none.npy", np.zeros((0, 8, 10)), "got shape (0, 8, 10)")):
        np.save(tmp_path / name, array)
        assert main(["simulate", net, "--input", str(tmp_path / name), "-o", str(tmp_path / "o.npy")]) == 2
        err = capsys.readouterr().err
        assert f"error: {tmp_path / name}: " in err and message in err and net not in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.npy").exists()


def test_output_path_that_is_a_folder_is_one_line(network, capsys, tmp_path):
    assert main(["simulate", str(network / "net.h5"), "--input", str(network / "in.npy"),
                 "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"lava-convdelay simulate: error: {tmp_path}: is a directory; give the name of the file to write\n"
    assert main(["simulate", str(network / "net.h5"), "--input", str(network / "in.npy"),
                 "-o", str(network / "in.npy" / "out.npy")]) == 2
    assert "in.npy is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("option,value,message", [
    ("--rate", "-1", "--rate must be a number > 0 and <= 1, got -1.0"),
    ("--rate", "0", "--rate must be a number > 0 and <= 1, got 0.0"),
    ("--rate", "nan", "--rate must be a number > 0 and <= 1, got nan"),
    ("--rate", "1.5", "--rate must be a number > 0 and <= 1, got 1.5"),
    ("--steps", "0", "--steps must be an integer >= 1, got 0"),
    ("--samples", "0", "--samples must be an integer >= 1, got 0"),
    ("--samples", "-2", "--samples must be an integer >= 1, got -2"),
    ("--seed", "-1", "--seed must be an integer >= 0, got -1"),
])
def test_verify_refuses_out_of_range_options(network, capsys, option, value, message):
    assert main(["verify", str(network / "net.h5"), option, value]) == 2
    assert capsys.readouterr().err == f"lava-convdelay verify: error: {message}\n"


def test_verify_fails_when_nothing_was_compared(network, capsys, tmp_path):
    np.save(tmp_path / "silence.npy", np.zeros((2, 8, 30), np.int8))
    assert main(["verify", str(network / "net.h5"), "--input", str(tmp_path / "silence.npy")]) == 1
    out = capsys.readouterr().out
    assert "verdict: NOT VERIFIED: no layer spiked, on either side" in out and "spike-exact" not in out
    np.save(tmp_path / "empty.npy", np.zeros((8, 0), np.int8))
    assert main(["verify", str(network / "net.h5"), "--input", str(tmp_path / "empty.npy")]) == 2
    assert f"{tmp_path / 'empty.npy'}: expected spikes" in capsys.readouterr().err
    # an output layer that cannot spike: layer 1 agrees, layer 2 compared nothing
    torch.manual_seed(2)
    model = SpikingNetwork({"input_size": 8, "neuron": NEURON, "layers": [
        {"type": "conv_delay_rec", "neurons": 12, "max_delay": 15, "weight_scale": 3},
        {"type": "dense", "neurons": 3, "weight_scale": 3}]})
    with torch.no_grad():
        model.blocks[1].synapse.weight.zero_()
    export_blocks(list(model.blocks), tmp_path / "mute.h5")
    assert main(["verify", str(tmp_path / "mute.h5"), "--samples", "1", "--steps", "40", "--rate", "0.3"]) == 1
    out = capsys.readouterr().out
    assert "100.0000 %" in out.splitlines()[2]
    assert "verdict: NOT VERIFIED: layer(s) 2 stayed silent on both sides" in out


def test_simulate_uses_the_binning_the_file_records(network, capsys, tmp_path):
    torch.manual_seed(2)
    model = SpikingNetwork({"input_size": 8, "neuron": NEURON, "layers": [
        {"type": "conv_delay_rec", "neurons": 12, "max_delay": 15, "weight_scale": 3},
        {"type": "dense", "neurons": 3, "weight_scale": 3}]})
    encoding = InputEncoding(dt=0.02, pool=1, duration=0.8, source_channels=8)  # 40 steps
    export_blocks(list(model.blocks), tmp_path / "net.h5", encoding=encoding)
    args = ["simulate", str(tmp_path / "net.h5"), "--input", str(network / "in.npy"), "-o", str(tmp_path / "o.npy")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{network / 'in.npy'}: 50 time steps, but {tmp_path / 'net.h5'} was trained on 40 (dt 0.02 s" in err
    assert "encode REC.wav --dt 0.02 --pool 1 --duration 0.8" in err and "--allow-other-binning" in err
    assert not (tmp_path / "o.npy").exists()
    assert main(args + ["--allow-other-binning"]) == 0
    assert np.load(tmp_path / "o.npy").shape == (3, 50)


def test_verify_reports_exact_agreement(network, capsys):
    assert main(["verify", str(network / "net.h5"), "--samples", "2", "--steps", "40", "--rate", "0.3"]) == 0
    out = capsys.readouterr().out
    assert out.count("100.0000 %") == 2 and "spike-exact" in out


def test_verify_fails_on_a_mismatch(network, capsys, monkeypatch):
    import netx_export.to_model as to_model

    def tampered(spec):
        model = spec_to_model(spec)
        with torch.no_grad():
            model.blocks[1].synapse.weight.mul_(-1)
        return model
    monkeypatch.setattr(to_model, "spec_to_model", tampered)
    assert main(["verify", str(network / "net.h5"), "--samples", "1", "--steps", "40", "--rate", "0.3"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "100.0000 %" in out.splitlines()[2]


def test_deploy_without_loihi_says_what_is_missing(network, capsys):
    assert main(["deploy", str(network / "net.h5"), "--input", str(network / "in.npy"),
                 "-o", str(network / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert "lava-loihi" in err and "INRC" in err and "--backend cpu" in err
    assert not (network / "x.npy").exists()


def test_deploy_loihi2_path_with_mocked_hardware(network, monkeypatch, capsys):
    from lava.utils.system import Loihi2
    used = []

    def fake_hw_cfg(*args, **kwargs):  # the boundary: the hardware run configuration
        used.append(True)
        return run_configs.Loihi2SimCfg(select_tag="fixed_pt")
    monkeypatch.setattr(Loihi2, "is_loihi2_available", True)
    monkeypatch.setattr(run_configs, "Loihi2HwCfg", fake_hw_cfg)
    assert main(["deploy", str(network / "net.h5"), "--backend", "loihi2", "--input",
                 str(network / "in.npy"), "-o", str(network / "hw.npy")]) == 0
    assert used
    assert main(["deploy", str(network / "net.h5"), "--backend", "cpu", "--input",
                 str(network / "in.npy"), "-o", str(network / "cpu.npy")]) == 0
    np.testing.assert_array_equal(np.load(network / "hw.npy"), np.load(network / "cpu.npy"))
