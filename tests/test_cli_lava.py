"""simulate / verify / deploy commands, and the Loihi 2 path with the hardware
run configuration mocked at the boundary."""
import numpy as np
import pytest
import torch

import lava.magma.core.run_configs as run_configs
from lava_convdelay.cli import main
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
    np.save(tmp_path / "bad.npy", np.zeros((7, 10)))
    assert main(["simulate", str(network / "net.h5"), "--input", str(tmp_path / "bad.npy"),
                 "-o", str(tmp_path / "o.npy")]) == 2
    assert "expected spikes [8, time]" in capsys.readouterr().err
    np.save(tmp_path / "bad2.npy", np.full((8, 10), 2))
    assert main(["simulate", str(network / "net.h5"), "--input", str(tmp_path / "bad2.npy"),
                 "-o", str(tmp_path / "o.npy")]) == 2
    assert "must be 0 or 1" in capsys.readouterr().err
    assert not (tmp_path / "o.npy").exists()


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
