"""Training configs at the edges: values the config check once accepted but training
could not use are refused when the config is loaded; input that augmentation or
binning would leave empty is refused (or warned of) when training starts;
divergence stops with one line; checkpoints whose records are not what training
writes are one line."""
import copy
import json
import re

import numpy as np
import pytest
import torch
from factories import TRAIN_CONFIG, toy_datasets, toy_shd

from lava_convdelay.cli import main
from lava_convdelay.data import write_shd
from lava_convdelay.errors import UserError
from lava_convdelay.nn.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from lava_convdelay.nn.model import SpikingNetwork
from lava_convdelay.training import TrainConfigError, load_config, normalise_config, train
from lava_convdelay.training.loop import TrainingDivergedError


def config_with(path: str, value) -> dict:
    """TRAIN_CONFIG with ``path`` (``seed``, ``train.lr``, ``layer.sigma``, ``neuron.tau_grad``,
    ``data.dt``, ``model.input_size``) set to ``value``."""
    config = copy.deepcopy(TRAIN_CONFIG)
    section, _, key = path.partition(".")
    if section == "seed":
        config["seed"] = value
    elif section == "layer":
        config["model"]["layers"][0][key] = value
    elif section == "neuron":
        config["model"]["neuron"] = {**config["model"]["neuron"], key: value}
    elif section == "model":
        config["model"][key] = value
    else:
        config.setdefault(section, {})[key] = value
    return config


@pytest.mark.parametrize("path,value,message", [
    ("seed", 2**62, r"seed must be an integer >= 0 and <= 4294967295, got 4611686018427387904"),
    ("train.batch_size", 10**10, r"train.batch_size must be an integer >= 1 and <= 1000000"),
    ("train.eval_batch_size", 10**10, r"train.eval_batch_size must be an integer >= 1 and <= 1000000"),
    ("train.epochs", 10**30, r"train.epochs must be an integer >= 1 and <= 1000000"),
    ("train.lr", 1e39, r"train.lr must be a number > 0 and <= 100, got 1e\+39"),
    ("train.lr_delay", 1e30, r"train.lr_delay must be a number >= 0 and <= 1000"),
    ("train.weight_decay", 1e30, r"train.weight_decay must be a number >= 0 and <= 1000"),
    ("train.ce_scale", 1e300, r"train.ce_scale must be a number > 0 and <= 3.40282e\+38"),
    ("train.sigma_init", 1e39, r"train.sigma_init must be a number >= 0 and <= 3.40282e\+38"),
    ("train.time_shift", 10**30, r"train.time_shift must be an integer >= 0 and <= 100000"),
    ("train.channel_shift", 10**30, r"train.channel_shift must be an integer >= 0 and <= 65536"),
    ("layer.weight_scale", 1e39, r"layer 1 \(conv_delay_rec\): weight_scale must be a number > 0 and <= 10000"),
    ("layer.sigma", 1e300, r"layer 1 \(conv_delay_rec\): sigma must be a number >= 0 and <= 3.40282e\+38"),
    ("layer.neurons", 10**6, r"layer 1 \(conv_delay_rec\): neurons must be an integer >= 1 and <= 16384"),
    ("neuron.scale_grad", 1e300, r"neuron.scale_grad must be a number > 0 and <= 3.40282e\+38"),
    ("model.input_size", 10**9, r"input_size must be an integer >= 1 and <= 65536"),
    ("data.duration", 1e30, r"data.duration must be a number > 0 and <= 3600, got 1e\+30"),
    ("data.dt", 1e-30, r"data.duration=1 in steps of data.dt=1e-30 gives 1e\+30 time steps, more than the 100000"),
    ("data.min_spikes", 10**30, r"data.min_spikes must be an integer >= 1 and <= 2147483647"),
    ("data.per_class", 10**10, r"data.per_class must be an integer >= 1 and <= 10000"),
    ("data.seed", 2**64, r"data.seed must be an integer >= 0 and <= 4294967295"),
])
def test_values_training_cannot_use_are_refused_when_loading(tmp_path, path, value, message):
    (tmp_path / "c.json").write_text(json.dumps(config_with(path, value)))
    with pytest.raises(UserError, match=f"^{tmp_path / 'c.json'}: .*{message}"):
        load_config(tmp_path / "c.json")


# --------------------------------------------------------------------------- empty input


@pytest.mark.parametrize("key,value,message", [
    ("time_shift", 40, r"train.time_shift=40 moves every spike out of a sample shifted by 40 or more \(the input "
                       r"has 40 time steps\); use at most 39"),
    ("time_shift", 1000, r"train.time_shift=1000 moves every spike"),
    ("channel_shift", 12, r"train.channel_shift=12 moves every spike out of a sample shifted by 12 or more \(the "
                          r"input has 12 channels\)"),
])
def test_shifts_that_empty_samples_are_refused_before_anything_is_written(tmp_path, key, value, message):
    config = normalise_config(config_with(f"train.{key}", value))
    with pytest.raises(TrainConfigError, match=message):
        train(config, tmp_path / "run", progress=False, datasets=toy_datasets())
    assert not (tmp_path / "run").exists()


def shd_config(tmp_path, **data) -> dict:
    toy_shd(tmp_path / "train.h5", 12, 0)
    toy_shd(tmp_path / "test.h5", 6, 1)
    config = copy.deepcopy(TRAIN_CONFIG)
    config["train"]["epochs"] = 1
    config["data"] = {"source": "shd", "train": str(tmp_path / "train.h5"), "test": str(tmp_path / "test.h5"),
                      "duration": 0.4, **data}
    return normalise_config(config)


def test_a_binning_that_leaves_no_spike_is_refused(tmp_path):
    with pytest.raises(TrainConfigError, match=r"train.h5: no training sample has a spike after binning \(dt 0.01 "
                                               r"s, pool 5 .* min_spikes 1000000\); lower data.min_spikes"):
        train(shd_config(tmp_path, min_spikes=10**6), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_empty_samples_are_warned_of(tmp_path, capsys):
    config = shd_config(tmp_path)
    data = [np.sort(np.random.default_rng(i).uniform(0, 0.3, 50)) for i in range(6)]
    units = [np.random.default_rng(i).integers(0, 700, 50) for i in range(6)]
    data[2], units[2] = np.zeros(0), np.zeros(0, int)  # one sample without events
    write_shd(tmp_path / "train.h5", data, units, [0, 1, 2, 0, 1, 2], ["low", "mid", "high"])
    train(config, tmp_path / "run", progress=False)
    assert f"warning: {tmp_path / 'train.h5'}: 1 of 6 training samples have no spike after binning" \
        in capsys.readouterr().out


# --------------------------------------------------------------------------- divergence


def test_divergence_stops_with_one_line_and_saves_nothing_of_that_epoch(tmp_path, capsys):
    """A ce_scale near float32's largest makes the logits infinite: once a DelayRangeError
    from the NaN delays (naming no file), or plots of an infinite loss."""
    config = config_with("train.ce_scale", 3e38)
    config["train"]["epochs"] = 1
    (tmp_path / "c.json").write_text(json.dumps(config))
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError) as err:
        train(normalise_config(config), out, progress=False, datasets=toy_datasets())
    assert str(err.value) == (f"{out}: epoch 1: training diverged (batch 1: the loss is nan and its gradients are "
                              f"not finite); no checkpoint was written; lower train.lr (0.01), train.ce_scale "
                              f"(3e+38), the layers' weight_scale or the neurons' scale_grad")
    assert not (out / "checkpoint.pt").exists()


# --------------------------------------------------------------------------- checkpoint records


@pytest.fixture
def checkpoint(tmp_path):
    def make(**extra):
        torch.manual_seed(0)
        model = SpikingNetwork({"input_size": 4, "neuron": TRAIN_CONFIG["model"]["neuron"],
                                "layers": [{"type": "dense", "neurons": 3}]})
        return save_checkpoint(tmp_path / "checkpoint.pt", model, **extra)
    return make


@pytest.mark.parametrize("extra,message", [
    (dict(class_names="abc"), r"'class_names' must be a non-empty list of strings, got 'abc'"),
    (dict(class_names=5), r"'class_names' must be a non-empty list of strings, got 5"),
    (dict(class_names=["a", 2, "c"]), r"'class_names' must be a non-empty list of strings, got \['a', 2, 'c'\]"),
    (dict(class_names=[]), r"'class_names' must be a non-empty list of strings, got \[\]"),
    (dict(input_encoding="x"), r"'input_encoding' must be a mapping, got 'x'"),
    (dict(input_encoding={"dt": "0.01"}), r"input_encoding: dt must be a number > 0 and <= 3600, got '0.01'"),
    (dict(input_encoding={"duration": 1e12}), r"input_encoding: duration must be a number > 0 and <= 3600"),
    (dict(input_encoding={"pool": 1, "source_channels": 4, "audio": 3}), r"audio encoding record must be text"),
])
def test_checkpoint_records_of_the_wrong_kind_are_one_line(checkpoint, tmp_path, capsys, extra, message):
    path = checkpoint(**extra)
    assert main(["export", str(path), "-o", str(tmp_path / "net.h5")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lava-convdelay export: error: {path}: ") and len(err.splitlines()) == 1
    assert re.search(message, err), err
    assert not (tmp_path / "net.h5").exists()


def test_a_state_dict_that_is_not_a_mapping_is_refused(checkpoint, tmp_path):
    path = checkpoint()
    state = torch.load(path, weights_only=True)
    torch.save({**state, "state_dict": [1, 2]}, path)
    with pytest.raises(CheckpointError, match="'state_dict' must be a mapping of tensors, got list"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_model(path)
