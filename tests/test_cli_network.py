"""Model config, checkpoints, and the export / inspect commands."""
import os
import pickle
import subprocess
import sys

import pytest
import torch

from lava_convdelay.cli import main
from lava_convdelay.nn.checkpoint import CheckpointError, load_model, save_checkpoint
from lava_convdelay.nn.model import ConfigError, SpikingNetwork
from netx_export.reader import read_network

CONFIG = {
    "input_size": 12,
    "neuron": {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03},
    "layers": [
        {"type": "dense", "neurons": 16, "delay": True},
        {"type": "conv_delay_rec", "neurons": 24, "kernel_size": 3, "channels": 2, "max_delay": 20},
        {"type": "delay_rec", "neurons": 10, "max_delay": 62, "delay_init": [0, 62]},
        {"type": "rec", "neurons": 8},
        {"type": "dense", "neurons": 4},
    ],
}


def test_model_from_config_and_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = SpikingNetwork(CONFIG)
    assert model.recurrent_param_count == (3 * 2 * 2 + 24) + (10 * 10 + 10) + 8 * 8
    x = (torch.rand(2, 12, 30) < 0.3).float()
    with torch.no_grad():
        expected = model(x, all_layers=True)
    save_checkpoint(tmp_path / "ck.pt", model, epoch=4)
    torch.manual_seed(1)  # a different init must be overwritten by the load
    loaded, data = load_model(tmp_path / "ck.pt")
    assert data["epoch"] == 4
    with torch.no_grad():
        got = loaded(x, all_layers=True)
    for a, b in zip(expected, got):
        assert torch.equal(a, b)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary left behind


@pytest.mark.parametrize("layers,message", [
    ([{"type": "lstm", "neurons": 4}], "layer 1: unknown type 'lstm'"),
    ([{"type": "dense"}], r"layer 1 \(dense\): missing 'neurons'"),
    ([{"type": "delay_rec", "neurons": 4, "max_delay": 99}],
     r"layer 1 \(delay_rec\): max_delay must be an integer >= 0 and <= 62, got 99$"),
    ([{"type": "conv_delay_rec", "neurons": 5, "channels": 2}], "multiple of channels"),
    ([{"type": "conv_delay_rec", "neurons": 6, "kernel_size": "3"}],
     r"layer 1 \(conv_delay_rec\): kernel_size must be an integer >= 1 and <= 16384, got '3'$"),
    ([{"type": "dense", "neurons": 0}], r"layer 1 \(dense\): neurons must be an integer >= 1 and <= 16384, got 0$"),
    ([{"type": "rec", "neurons": 4, "rec_dropout": 1.0}], r"rec_dropout must be a number >= 0 and < 1, got 1.0$"),
    ([{"type": "dense", "neurons": 4, "kernel_size": 3}], r"layer 1 \(dense\): unknown key\(s\) \['kernel_size'\]"),
    ([{"type": "dense", "neurons": 4, "delay": "yes"}], r"layer 1 \(dense\): delay must be true or false, got 'yes'$"),
    ([{"type": "delay_rec", "neurons": 4, "delay_init": [1, "x"]}], r"delay_init must be \[low, high\]"),
    ([{"type": "delay_rec", "neurons": 4, "delay_init": [9, 1]}], r"delay init range \(9, 1\)"),
    ([{"type": "dense", "neurons": 4, "neuron": {"threshold": "4"}}],
     r"layer 1 \(dense\): neuron.threshold must be a number >= 0.015625 and < 2048, got '4'$"),
    ([{"type": "dense", "neurons": 4, "neuron": {"tau": 1}}], r"layer 1 \(dense\): neuron: unknown key\(s\) \['tau'\]"),
    ([{"type": "dense", "neurons": 4, "weight_scale": float("nan")}],
     r"weight_scale must be a number > 0 and <= 10000, got nan$"),
])
def test_bad_configs_name_the_layer(layers, message):
    with pytest.raises(ConfigError, match=message):
        SpikingNetwork({"input_size": 3, "neuron": CONFIG["neuron"], "layers": layers})


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_checkpoints_never_execute_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("evil.pt", "wb") as f:
        pickle.dump({"format": "lava-convdelay-checkpoint", "x": _Exploit()}, f)
    with pytest.raises(CheckpointError, match="evil.pt: not a readable lava-convdelay checkpoint"):
        load_model("evil.pt")
    assert not (tmp_path / "pwned").exists()
    torch.save({"state_dict": {}}, "other.pt")
    with pytest.raises(CheckpointError, match="missing format marker"):
        load_model("other.pt")


def test_cli_export_and_inspect(tmp_path, capsys):
    torch.manual_seed(0)
    model = SpikingNetwork(CONFIG)
    save_checkpoint(tmp_path / "ck.pt", model)
    assert main(["export", str(tmp_path / "ck.pt"), "-o", str(tmp_path / "net.h5")]) == 0
    spec = read_network(tmp_path / "net.h5")
    assert [layer.type for layer in spec.layers] == ["dense", "conv_rec", "delay_rec", "dense_rec", "dense"]
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "net.h5")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["layer", "type", "shape", "weights", "synapses", "ff", "delay",
                                "rec", "delay", "rec", "params"]
    conv_row = lines[3].split()
    assert conv_row[:3] == ["2", "conv_rec", "16->24"]
    assert conv_row[3] == str(16 * 24 + 12)  # feed-forward weights + 3*2*2 kernel
    assert conv_row[-1] == str(3 * 2 * 2 + 24)
    assert f"recurrent parameters: {36 + 110 + 64}" in out
    assert "readout: spike_count" in out  # a spiking (dense) output layer


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    result = subprocess.run(
        [sys.executable, "-m", "lava_convdelay.cli", "export", str(tmp_path / "bad.pt"),
         "-o", str(tmp_path / "net.h5")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"error: {tmp_path / 'bad.pt'}: not a readable lava-convdelay checkpoint" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "net.h5").exists()


def test_cli_export_writes_what_the_forward_uses_and_names_the_checkpoint(tmp_path, capsys):
    model = SpikingNetwork(CONFIG)
    with torch.no_grad():
        model.blocks[2].axonal_delay.delay[3] = 63.0  # the forward clamps it to max_delay 62
        model.blocks[4].synapse.weight.view(4, 8)[1, 2] = -4.2  # the forward clamps it to -4
    save_checkpoint(tmp_path / "ck.pt", model)
    assert main(["export", str(tmp_path / "ck.pt"), "-o", str(tmp_path / "net.h5")]) == 0
    spec = read_network(tmp_path / "net.h5")
    assert spec.layers[2].delay_rec[3] == 62 and spec.layers[4].weight[1, 2] == -256
    with torch.no_grad():
        model.blocks[4].synapse.weight.view(4, 8)[0, 5] = float("nan")  # nothing the forward can use
    save_checkpoint(tmp_path / "bad.pt", model)
    capsys.readouterr()
    assert main(["export", str(tmp_path / "bad.pt"), "-o", str(tmp_path / "bad.h5")]) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'bad.pt'}: layer 5 (Dense) weight: 1 non-finite weight(s) (post, pre): (0, 5): nan" \
        in err and "bad.h5" not in err
    assert not (tmp_path / "bad.h5").exists()


def test_cli_export_clamp_option_is_gone_with_a_reason(tmp_path, capsys):
    save_checkpoint(tmp_path / "ck.pt", SpikingNetwork(CONFIG))
    assert main(["export", str(tmp_path / "ck.pt"), "-o", str(tmp_path / "net.h5"), "--clamp"]) == 2
    assert "--clamp is no longer needed" in capsys.readouterr().err
    assert not (tmp_path / "net.h5").exists()


def test_cli_export_says_when_given_a_network_file(tmp_path, capsys):
    save_checkpoint(tmp_path / "ck.pt", SpikingNetwork(CONFIG))
    assert main(["export", str(tmp_path / "ck.pt"), "-o", str(tmp_path / "net.h5")]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "net.h5"), "-o", str(tmp_path / "again.h5")]) == 2
    assert capsys.readouterr().err == (f"lava-convdelay export: error: {tmp_path / 'net.h5'}: this is a network "
                                       f"file (HDF5), not a checkpoint; give the checkpoint.pt that train wrote\n")
    assert main(["export", str(tmp_path / "ck.pt"), "-o", str(tmp_path)]) == 2
    assert f"{tmp_path}: is a directory" in capsys.readouterr().err
