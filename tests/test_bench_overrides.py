"""bench/bench_models.py's command-line overrides reach the right config keys."""
import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lava_convdelay.errors import UserError
from lava_convdelay.training import TrainConfigError

_spec = importlib.util.spec_from_file_location(
    "bench_models", Path(__file__).resolve().parent.parent / "bench" / "bench_models.py")
bench_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_models)


def test_setting_parses_section_key_and_json_value():
    assert bench_models.setting("train.lr_delay=0.1") == ("train", "lr_delay", 0.1)
    assert bench_models.setting("hidden.delay_init=[0, 30]") == ("hidden", "delay_init", [0, 30])


@pytest.mark.parametrize("text", ["train.lr_delay", "model.lr=1", "lr=1", "train.=1", "train.lr=abc"])
def test_setting_rejects_malformed_text(text):
    with pytest.raises(argparse.ArgumentTypeError, match="train.KEY=VALUE|must be JSON"):
        bench_models.setting(text)


def test_set_overrides_every_hidden_layer_but_not_the_readout():
    args = bench_models.parse_args(["--hidden-layers", "3", "--set", "hidden.delay_init=[0, 30]",
                                    "--set", "train.lr_delay=0.1"])
    config = bench_models.run_config("crsnn", 7, args)
    layers = config["model"]["layers"]
    assert [layer.get("delay_init") for layer in layers] == [[0, 30]] * 3 + [None]
    assert layers[-1]["neurons"] == 20
    assert config["train"]["lr_delay"] == 0.1
    assert config["seed"] == 7


def test_a_conv_front_end_keeps_its_settings():
    """The hidden-layer overrides reach the recurrent layers, not the front end's convolutions."""
    args = bench_models.parse_args(["--neurons", "64", "--kernel-size", "7", "--hidden-layers", "3",
                                    "--set", "hidden.rec_dropout=0.1"])
    layers = bench_models.run_config("conv_front", 0, args)["model"]["layers"]
    assert [layer["type"] for layer in layers] == ["conv", "conv"] + ["conv_delay_rec"] * 3 + ["affine"]
    assert [(layer["channels"], layer["kernel_size"], "neurons" in layer) for layer in layers[:2]] == \
        [(2, 5, False), (4, 5, False)]
    assert [(layer["neurons"], layer["kernel_size"], layer["rec_dropout"]) for layer in layers[2:5]] == \
        [(64, 7, 0.1)] * 3


def test_output_settings_reach_the_output_layer_only():
    args = bench_models.parse_args(["--set", 'output.type="dense"', "--set", 'train.loss="count_ce"',
                                    "--set", "train.ce_scale=0.5"])
    layers = bench_models.run_config("crsnn", 0, args)["model"]["layers"]
    assert [layer["type"] for layer in layers] == ["conv_delay_rec", "conv_delay_rec", "dense"]


def test_set_after_the_named_flags_and_checked_like_the_config_file():
    config = bench_models.run_config("crsnn", 0, bench_models.parse_args(
        ["--set", "train.thinning=0.4", "--thinning", "0.2"]))
    assert config["train"]["thinning"] == 0.4
    with pytest.raises(TrainConfigError,
                       match=r"command-line overrides: train\.lr_delay must be a number >= 0 and <= 1000, got -1"):
        bench_models.run_config("crsnn", 0, bench_models.parse_args(["--set", "train.lr_delay=-1"]))
    with pytest.raises(TrainConfigError, match=r"unknown train key\(s\) \['lr_dlay'\]"):
        bench_models.run_config("crsnn", 0, bench_models.parse_args(["--set", "train.lr_dlay=0.1"]))


def test_data_settings_select_another_data_set_and_are_checked():
    args = bench_models.parse_args(["--set", 'data.vocabulary="speech-commands"', "--set", "data.min_spikes=5",
                                    "--set", "output.neurons=35"])
    config = bench_models.run_config("delrec", 0, args)
    assert config["data"]["vocabulary"] == "speech-commands"
    assert config["data"]["min_spikes"] == 5
    assert config["model"]["layers"][-1]["neurons"] == 35
    with pytest.raises(UserError, match="vocabulary"):
        bench_models.run_config("delrec", 0, bench_models.parse_args(["--set", 'data.vocabulary="klingon"']))


_delay_spec = importlib.util.spec_from_file_location(
    "delay_task_bench", Path(__file__).resolve().parent.parent / "bench" / "delay_task.py")
delay_task_bench = importlib.util.module_from_spec(_delay_spec)
_delay_spec.loader.exec_module(delay_task_bench)


@pytest.mark.parametrize("variant, layer, learn, init", [
    ("delrec-learned", "delay_rec", True, [0, 4]),
    ("crsnn-frozen", "conv_delay_rec", False, [0, 4]),
    ("delaychan-learned-0-30", "conv_delay_channels_rec", True, [0, 30]),
    ("crsnn-frozen-0-30", "conv_delay_rec", False, [0, 30]),
])
def test_delay_task_variants_set_block_learning_and_initial_delays(variant, layer, learn, init):
    hidden = delay_task_bench.run_config(variant, 1, 5)["model"]["layers"][0]
    assert (hidden["type"], hidden["learn_delays"], hidden["delay_init"]) == (layer, learn, init)
    assert delay_task_bench.parts(variant)[1] == ("learned" if learn else "frozen")


def test_delay_task_controls():
    assert [layer["type"] for layer in delay_task_bench.run_config("readout-only", 0, None)["model"]["layers"]] \
        == ["affine"]
    hidden = delay_task_bench.run_config("rsnn", 0, None)["model"]["layers"][0]
    assert hidden["type"] == "rec" and "max_delay" not in hidden
    assert delay_task_bench.parts("rsnn") == ("rsnn", "", "")


def test_delay_task_match_counts_delays_near_interval_minus_one():
    # intervals 6 and 12 call for delays 5 and 11; within 1 step: 4, 6 and 12 (not 8 or 0)
    match = delay_task_bench.delay_match(np.array([4, 6, 8, 12, 0]), [6, 12])
    assert match == {"mean_distance": (1 + 1 + 3 + 1 + 5) / 5, "matching": 3 / 5, "targets_hit": 2}
