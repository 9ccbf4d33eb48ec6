"""Training loop: outputs, exact resume after an interruption, torchrun DDP."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import TRAIN_CONFIG, TRAIN_NEURON, assert_same_state, toy_datasets

from lava_convdelay.errors import UserError
from lava_convdelay.nn.checkpoint import load_model, read_checkpoint
from lava_convdelay.nn.model import SpikingNetwork
from lava_convdelay.training import TrainConfigError, load_config, normalise_config, train
from netx_export.exporter import export_blocks
from netx_export.reader import read_network


def test_training_learns_and_writes_run_directory(tmp_path):
    model = train(normalise_config(TRAIN_CONFIG), tmp_path, progress=False, datasets=toy_datasets())
    history = json.loads((tmp_path / "metrics.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["sigma"] == 0.0
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["test_accuracy"] >= 0.8  # chance is 1/3
    assert (tmp_path / "metrics.csv").read_text().startswith("epoch,sigma,loss,test_accuracy")
    for name in ("curves.png", "delays.png", "raster.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded, _ = load_model(tmp_path / "checkpoint.pt")
    assert_same_state(model, loaded)
    delays = loaded.blocks[0].axonal_delay.delay
    assert float(delays.min()) >= 0 and float(delays.max()) <= 10
    # the recorded movement of the delays, recomputed from the checkpoint by hand
    initial = read_checkpoint(tmp_path / "checkpoint.pt")["initial_delays"][0].numpy()
    final = np.floor(delays.detach().numpy() + 0.5)
    assert history[-1]["delay_moved"] == pytest.approx(np.abs(final - initial).mean(), abs=1e-6)
    assert history[-1]["delays_changed"] == pytest.approx((final != initial).mean(), abs=1e-6)


def test_delay_movement_by_hand():
    model = SpikingNetwork({**TRAIN_CONFIG["model"], "input_size": 12})
    with torch.no_grad():
        model.blocks[0].axonal_delay.delay.copy_(torch.tensor([0.0, 2.4, 2.6, 9.5] * 4))
    initial = [torch.tensor([0, 2, 2, 8] * 4)]
    assert model.delay_movement(initial) == pytest.approx({"delay_moved": 0.75, "delays_changed": 0.5})
    model.blocks[0].axonal_delay.delay.requires_grad_(False)  # fixed delays: nothing learned, nothing reported
    assert model.delay_movement(initial) == {}


def test_large_learning_rate_keeps_weights_where_the_quantizer_can_move_them(tmp_path):
    """SLAYER's quantize_8bit clamps weights to [-4, 3.96875] in the forward pass; training projects
    them back after each step, so none sits past the clamp (no gradient) and export clamps nothing."""
    config = normalise_config({**TRAIN_CONFIG, "train": {**TRAIN_CONFIG["train"], "epochs": 1, "lr": 2.0}})
    model = train(config, tmp_path, progress=False, datasets=toy_datasets())
    weights = [model.blocks[0].input_synapse.weight, model.blocks[0].recurrent_synapse.weight,
               model.blocks[1].synapse.weight]
    for w in weights:
        w = w.detach()
        assert float(w.min()) >= -4.0 and float(w.max()) <= 3.96875
        # the quantizer's clamp changes nothing: rounding alone gives the deployed values
        rounded = torch.round(w * 32) / 32
        assert torch.equal(model.blocks[0].neuron.quantize_8bit(w), rounded)
    assert sum(int((w.detach().abs() >= 3.96875).sum()) for w in weights) > 0  # the projection acted
    export_blocks(list(model.blocks), tmp_path / "net.h5")
    stored = read_network(tmp_path / "net.h5").layers[1].weight
    np.testing.assert_array_equal(stored, (torch.round(weights[2].detach() * 32) * 2).reshape(3, 16).numpy())


class Interrupt(Exception):
    pass


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, monkeypatch):
    # with augmentation on: its draws must resume where they stopped too
    config = normalise_config({**TRAIN_CONFIG, "train": {**TRAIN_CONFIG["train"], "time_shift": 3, "channel_shift": 1,
                                                   "thinning": 0.3}})
    full = train(config, tmp_path / "full", progress=False, datasets=toy_datasets())
    plain = train(normalise_config(TRAIN_CONFIG), tmp_path / "plain", progress=False, datasets=toy_datasets())
    assert not torch.equal(full.blocks[0].input_synapse.weight, plain.blocks[0].input_synapse.weight)

    import lava_convdelay.training.loop as train_module
    real_save, saves = train_module.save_checkpoint, []

    def save_then_die(*args, **kwargs):  # die mid-run, right after epoch 2's checkpoint
        real_save(*args, **kwargs)
        saves.append(1)
        if len(saves) == 2:
            raise Interrupt
    monkeypatch.setattr(train_module, "save_checkpoint", save_then_die)
    with pytest.raises(Interrupt):
        train(config, tmp_path / "cut", progress=False, datasets=toy_datasets())
    monkeypatch.setattr(train_module, "save_checkpoint", real_save)
    assert read_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 1
    with pytest.raises(TrainConfigError, match="already holds a run"):
        train(config, tmp_path / "cut", progress=False, datasets=toy_datasets())
    resumed = train(config, tmp_path / "cut", resume=True, progress=False, datasets=toy_datasets())
    assert_same_state(full, resumed)
    history = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]


def test_resume_refuses_changed_training_settings(tmp_path):
    config = normalise_config({**TRAIN_CONFIG, "train": {**TRAIN_CONFIG["train"], "epochs": 1}})
    train(config, tmp_path, progress=False, datasets=toy_datasets())
    changed = normalise_config({**TRAIN_CONFIG, "seed": 4,
                                "train": {**TRAIN_CONFIG["train"], "epochs": 1, "thinning": 0.2}})
    with pytest.raises(TrainConfigError, match=r"checkpoint.pt: was trained with other settings for "
                                               r"seed, train.thinning; resume with the original config"):
        train(changed, tmp_path, resume=True, progress=False, datasets=toy_datasets())
    before = read_checkpoint(tmp_path / "checkpoint.pt")
    assert before["epoch"] == 0 and before["recipe"]["train"]["thinning"] == 0.0  # untouched


def test_bad_config_files(tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(TrainConfigError, match="a.json: invalid JSON"):
        load_config(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({**TRAIN_CONFIG, "train": {"epochz": 3}}))
    with pytest.raises(TrainConfigError, match=r"b.json: unknown train key\(s\) \['epochz'\]"):
        load_config(tmp_path / "b.json")
    with pytest.raises(TrainConfigError, match="no such config file"):
        load_config(tmp_path / "missing.json")


@pytest.mark.parametrize("key, value, message", [
    ("lr", "0.01", r"train.lr must be a number > 0 and <= 100, got '0.01'"),
    ("lr", 0, r"train.lr must be a number > 0 and <= 100, got 0"),
    ("epochs", True, r"train.epochs must be an integer >= 1 and <= 1000000, got True"),
    ("batch_size", 8.0, r"train.batch_size must be an integer >= 1 and <= 1000000, got 8.0"),
    ("thinning", 1.5, r"train.thinning must be a number >= 0 and <= 1, got 1.5"),
    ("time_shift", -2, r"train.time_shift must be an integer >= 0 and <= 100000, got -2"),
    ("sigma_decay", 0, r"train.sigma_decay must be a number > 0 and <= 1, got 0"),
])
def test_numeric_train_keys_are_checked(tmp_path, key, value, message):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**TRAIN_CONFIG, "train": {key: value}}))
    with pytest.raises(TrainConfigError, match=f"c.json: {message}$"):
        load_config(path)


@pytest.mark.parametrize("section, value, message", [
    ("data", {"duration": "1.4"}, r"data.duration must be a number > 0 and <= 3600, got '1.4'"),
    ("data", {"pool": 1.0}, r"data.pool must be an integer >= 1 and <= 65536, got 1.0"),
    ("data", {"pool": 3}, r"data.pool=3 does not divide the 700 channels of the recordings \(pools: 1, 2, 4,"),
    ("data", {"dt": 0.5, "duration": 0.2}, r"data.duration=0.2 is less than half a time step \(data.dt=0.5\)"),
    ("data", {"per_class": "40"}, r"data.per_class must be an integer >= 1 and <= 10000, got '40'"),
    ("data", {"seed": -1}, r"data.seed must be an integer >= 0 and <= 4294967295, got -1"),
    ("data", {"source": "shd", "train": "a.h5", "test": 3}, r"data.test must be a file path, got 3"),
    ("data", {"source": "shd", "train": "a.h5", "test": "b.h5", "seed": 1},
     r"data: \['seed'\] apply to source 'generated' only"),
    ("data", {"train": "a.h5"}, r"data: \['train'\] name the files of source 'shd'"),
    ("data", {"source": "wav"}, r"data: unknown source 'wav'"),
    ("data", {"dtt": 0.01}, r"data: unknown key\(s\) \['dtt'\]"),
    ("model", {"layers": [{"type": "conv_delay_rec", "neurons": 16, "max_delay": 63}]},
     r"layer 1 \(conv_delay_rec\): max_delay must be an integer >= 0 and <= 62, got 63"),
    ("model", {"layers": [{"type": "conv_delay_rec", "neurons": 16, "kernel_size": "3"}]},
     r"layer 1 \(conv_delay_rec\): kernel_size must be an integer >= 1 and <= 16384, got '3'"),
    ("model", {"neuron": {**TRAIN_NEURON, "voltage_decay": 2}, "layers": [{"type": "dense", "neurons": 3}]},
     r"layer 1 \(dense\): neuron.voltage_decay must be a number >= 0 and <= 1, got 2"),
    ("model", {"layers": [{"type": "dense", "neurons": 3}]},
     r"layer 1 \(dense\): neuron parameters \['threshold', 'current_decay', 'voltage_decay'\] missing"),
    ("model", {"neuron": TRAIN_NEURON, "layers": []}, r"model config has no layers"),
    ("seed", "x", r"seed must be an integer >= 0 and <= 4294967295, got 'x'"),
    ("epochz", 3, r"unknown key\(s\) \['epochz'\]; known: \['description', 'seed'"),
])
def test_data_and_model_sections_are_checked_naming_the_file(tmp_path, section, value, message):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({**TRAIN_CONFIG, section: value}))
    with pytest.raises(UserError, match=f"^{path}: {message}"):
        load_config(path)


def test_model_input_size_must_match_the_data(tmp_path):
    config = normalise_config({**TRAIN_CONFIG, "model": {**TRAIN_CONFIG["model"], "input_size": 14}})
    with pytest.raises(TrainConfigError, match=r"the training data: the data gives 12 input channels but the "
                                               r"model's input_size is 14"):
        train(config, tmp_path / "run", progress=False, datasets=toy_datasets())
    assert not (tmp_path / "run").exists()


DDP_SCRIPT = r"""
import json, os, sys, torch
import torch.distributed as dist
sys.path.insert(0, sys.argv[2])
from factories import TRAIN_CONFIG, toy_datasets
from lava_convdelay.training import normalise_config, train
config = normalise_config(TRAIN_CONFIG)
config["train"]["epochs"] = 3
model = train(config, sys.argv[1], progress=False, datasets=toy_datasets())
flat = torch.cat([p.detach().flatten() for p in model.parameters()])
torch.save(flat, os.path.join(sys.argv[1], f"params_rank{os.environ['RANK']}.pt"))
"""


@pytest.mark.slow  # two torchrun processes
def test_torchrun_two_processes_stay_synchronised(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(torchrun), "--nproc_per_node=2", "--master_port=29581", str(script),
         str(tmp_path / "run"), str(Path(__file__).parent)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "run" / "params_rank0.pt")
    rank1 = torch.load(tmp_path / "run" / "params_rank1.pt")
    assert torch.equal(rank0, rank1)  # gradients were all-reduced every step
    initial = torch.cat([p.detach().flatten() for p in
                         __import__("lava_convdelay.nn.model", fromlist=["x"]).SpikingNetwork(
                             {**TRAIN_CONFIG["model"], "input_size": 12}).parameters()])
    assert not torch.equal(rank0, initial)
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert history[-1]["loss"] < history[0]["loss"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.suffix == ".pt") == \
        ["checkpoint.pt", "params_rank0.pt", "params_rank1.pt"]


@pytest.mark.parametrize("name,params,delays", [
    ("crsnn", 2 * (3 + 256), 512), ("delrec", 2 * (256 * 256 + 256), 512), ("rsnn", 2 * 256 * 256, 0),
    ("crsnn_no_delay", 2 * (3 + 256), 0), ("crsnn_fixed_delay", 2 * (3 + 256), 0),
    ("shd_paper", 3 * (3 + 256), 3 * 256)])  # the paper's 3 recurrent layers of 256, k = 3
def test_shipped_configs_build(name, params, delays):
    config = load_config(Path(__file__).parent.parent / "configs" / f"{name}.json")
    from lava_convdelay.nn.model import SpikingNetwork
    model = SpikingNetwork({**config["model"], "input_size": 140})
    assert model.recurrent_param_count == params
    assert sum(p.numel() for p in model.delay_parameters()) == delays


def test_the_shd_paper_config_is_the_papers_setup():
    """configs/shd_paper.json against the published setup (docs/data.md, "SHD and SSC")."""
    config = load_config(Path(__file__).parent.parent / "configs" / "shd_paper.json")
    assert config["data"] == {"source": "shd", "dt": 0.01, "pool": 5, "duration": 1.0}  # the fetched files
    hidden, readout = config["model"]["layers"][:-1], config["model"]["layers"][-1]
    assert [(layer["type"], layer["neurons"], layer["kernel_size"], layer["max_delay"], layer["delay_init"],
             layer["rec_dropout"], layer["dropout"]) for layer in hidden] == \
        [("conv_delay_rec", 256, 3, 30, [10, 30], 0.2, 0.4)] * 3
    assert (readout["type"], readout["neurons"]) == ("affine", 20)
    train = config["train"]
    assert (train["epochs"], train["batch_size"], train["lr"], train["lr_delay"], train["weight_decay"],
            train["sigma_init"], train["sigma_decay"], train["thinning"]) == (150, 256, 5e-3, 5e-2, 1e-5, 10, 0.95, 0.5)
