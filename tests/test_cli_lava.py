"""simulate / verify / deploy commands, the CPU rehearsal of the Loihi 2
graph, and the Loihi 2 path with lava-loihi mocked at its boundary."""
import hashlib
import json
import os

import numpy as np
import pytest
import torch
from factories import fake_loihi_system

from lava_convdelay.cli import main
from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.nn.model import SpikingNetwork
from netx_export.exporter import export_blocks
from netx_export.reader import read_network
from netx_export.to_model import spec_to_model
from sim.fixed_point import simulate
from sim.loihi2.backend import CpuRehearsal, Loihi2Hardware

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
    # input from `data import` (a recorded audio chain, not encode's SHD chain): classify encodes it
    imported = InputEncoding(dt=0.02, pool=1, duration=0.8, source_channels=8, audio='{"channels": 8}')
    export_blocks(list(model.blocks), tmp_path / "net.h5", encoding=imported)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"use `lava-convdelay classify {tmp_path / 'net.h5'} REC.wav`" in err and "encode REC.wav" not in err


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


def test_deploy_rehearses_the_hardware_graph_on_the_cpu(network, capsys):
    out = network / "rehearsed.npy"
    assert main(["deploy", str(network / "net.h5"), "--backend", "cpu", "--input", str(network / "in.npy"),
                 "-o", str(out)]) == 0
    expected = simulate(read_network(network / "net.h5"), np.load(network / "in.npy")).output
    np.testing.assert_array_equal(np.load(out), expected)
    text = capsys.readouterr().out
    assert "LIFReset interval 128" in text and "PyLifResetModelBitAcc" in text and "slot 0" in text
    assert "in 1 of 1 samples (100.0 %)" in text


def test_deploy_writes_a_voltage_readouts_voltages(tmp_path, capsys):
    torch.manual_seed(3)
    model = SpikingNetwork({"input_size": 8, "neuron": NEURON, "layers": [
        {"type": "dense", "neurons": 6, "weight_scale": 3}, {"type": "affine", "neurons": 3, "weight_scale": 3}]})
    export_blocks(list(model.blocks), tmp_path / "readout.h5")
    x = (np.random.default_rng(2).random((2, 8, 40)) < 0.3).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    assert main(["deploy", str(tmp_path / "readout.h5"), "--backend", "cpu", "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "v.npy")]) == 0
    expected = simulate(read_network(tmp_path / "readout.h5"), x, record_voltage=True).voltage
    assert np.count_nonzero(expected) > expected.size // 2
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), expected)
    assert "output voltages [2, 3, 40]" in capsys.readouterr().out


def test_deploy_reports_samples_hit_by_the_previous_ones_activity(network, capsys, tmp_path):
    # this untrained recurrence sustains itself: the samples after the first are not exact
    np.save(tmp_path / "three.npy", (np.random.default_rng(1).random((3, 8, 50)) < 0.3).astype(np.int8))
    assert main(["deploy", str(network / "net.h5"), "--backend", "cpu", "--input", str(tmp_path / "three.npy"),
                 "-o", str(tmp_path / "out.npy")]) == 1
    text = capsys.readouterr().out
    assert "WARNING: in 2 of 2 sample transitions" in text
    assert "in 1 of 3 samples" in text and "of the 2 sample(s) run after a sample still active" in text
    assert np.load(tmp_path / "out.npy").shape == (3, 3, 50)


def test_deploy_dry_run_compiles_and_lists_models(network, capsys, tmp_path):
    assert main(["deploy", str(network / "net.h5"), "--backend", "cpu", "--dry-run",
                 "-o", str(tmp_path / "none.npy")]) == 0
    text = capsys.readouterr().out  # DelayDense by default
    assert "layer1.rec" in text and "DelayDense" in text and "DelaySparse" not in text
    assert "one sample every 128 steps (100 input" in text and text.rstrip().endswith("nothing ran")
    assert not (tmp_path / "none.npy").exists()
    assert main(["deploy", str(network / "net.h5"), "--backend", "cpu", "--dry-run", "--delayed-synapse", "sparse",
                 "-o", str(tmp_path / "none.npy")]) == 0
    text = capsys.readouterr().out
    assert "DelaySparse" in text and "DelayDense" not in text
    assert main(["deploy", str(network / "net.h5"), "--dry-run"]) == 2
    assert "lava-loihi" in capsys.readouterr().err


def test_deploy_refuses_a_period_that_is_not_a_power_of_two(network, capsys):
    assert main(["deploy", str(network / "net.h5"), "--backend", "cpu", "--dry-run", "--period", "96"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "power of 2" in err and "got 96" in err and "--reset host" in err
    assert main(["deploy", str(network / "net.h5"), "--backend", "cpu", "--dry-run", "--period", "96",
                 "--reset", "host", "--steps", "50"]) == 0
    assert "one sample every 96 steps (50 input + 46 silent), u and v of every layer zeroed from the host" in \
        capsys.readouterr().out


def test_deploy_caps_lifreset_intervals(network, capsys):
    """Above 256 steps LIFReset is not used unless allowed: --reset lifreset
    stops, naming the options; auto resets from the host."""
    net = str(network / "net.h5")
    assert main(["deploy", net, "--backend", "cpu", "--dry-run", "--period", "512", "--reset", "lifreset"]) == 2
    err = capsys.readouterr().err
    assert "LIFReset interval of 512 steps exceeds the largest one allowed (256" in err
    assert "--reset host" in err and "--max-reset-interval 512" in err
    assert main(["deploy", net, "--backend", "cpu", "--dry-run", "--period", "512"]) == 0
    text = capsys.readouterr().out
    assert "one sample every 512 steps" in text and "zeroed from the host (Var.set)" in text
    assert "PyLifModelBitAcc" in text and "LIFReset" not in text
    assert main(["deploy", net, "--backend", "cpu", "--dry-run", "--period", "512", "--max-reset-interval",
                 "512"]) == 0
    assert "LIFReset interval 512" in capsys.readouterr().out


def test_deploy_loihi2_path_with_mocked_hardware(network, monkeypatch, capsys):
    """The loihi2 path end to end, lava-loihi replaced at its boundary: the
    availability check (lava-nc's lava.utils.loihi against a fake sinfo), the
    run configuration, the state probe and the chip models (here the CPU's);
    the record beside the output names versions, generation, partition and
    the network's hash."""
    fake_loihi_system(monkeypatch)
    monkeypatch.setattr(Loihi2Hardware, "run_config", lambda self, callbacks: CpuRehearsal().run_config(callbacks))
    monkeypatch.setattr(Loihi2Hardware, "is_chip_model", lambda self, model: CpuRehearsal().is_chip_model(model))
    monkeypatch.setattr(Loihi2Hardware, "voltage_probe",
                        lambda self, var, span: CpuRehearsal().voltage_probe(var, span))
    assert main(["deploy", str(network / "net.h5"), "--input", str(network / "in.npy"), "--loihi-gen", "N3C1",
                 "--partition", "oheogulch_20m", "-o", str(network / "hw.npy")]) == 0
    assert "Loihi 2 (LOIHI_GEN=N3C1, PARTITION=oheogulch_20m; host: SLURM)" in capsys.readouterr().out
    assert (os.environ["LOIHI_GEN"], os.environ["PARTITION"], os.environ["SLURM"]) == ("N3C1", "oheogulch_20m", "1")
    record = json.loads((network / "hw.npy.json").read_text())
    with open(network / "net.h5", "rb") as f:
        assert record["environment"]["network"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert record["environment"]["variables"]["LOIHI_GEN"] == "N3C1"
    assert record["environment"]["variables"]["PARTITION"] == "oheogulch_20m"
    assert record["environment"]["packages"]["lava-nc"] == "0.10.0" and "lava-dl" in record["environment"]["packages"]
    assert record["delayed_synapse"] == "dense" and record["agreement"]["equal_samples"] == 1
    assert record["schedule"]["host_reset"] is False and record["calibration"]["spikes"] == 0
    assert main(["deploy", str(network / "net.h5"), "--backend", "cpu", "--input",
                 str(network / "in.npy"), "-o", str(network / "cpu.npy")]) == 0
    np.testing.assert_array_equal(np.load(network / "hw.npy"), np.load(network / "cpu.npy"))
