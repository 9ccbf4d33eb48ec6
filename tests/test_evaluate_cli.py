"""A run records how its input was binned and its class names; export writes
them into the network file; evaluate and simulate bin (or check) their input
with them and refuse test data of other classes."""
import json

import numpy as np
import pytest
import torch
from factories import TOY_KEYS, toy_shd

from lava_convdelay.cli import main
from lava_convdelay.data import write_shd
from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.nn.checkpoint import load_model, read_checkpoint, save_checkpoint
from netx_export.reader import read_network

ENCODING = InputEncoding(dt=0.02, pool=25, duration=0.3)  # 28 channels x 15 steps, not the CLI defaults
NEURON = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03, "tau_grad": 0.03, "scale_grad": 3}


def _config(folder, layers=None):
    return {"seed": 1,
            "data": {"source": "shd", "train": str(folder / "train.h5"), "test": str(folder / "test.h5"),
                     "dt": ENCODING.dt, "pool": ENCODING.pool, "duration": ENCODING.duration},
            "model": {"neuron": NEURON, "layers": layers or [
                {"type": "conv_delay_rec", "neurons": 16, "max_delay": 5}, {"type": "dense", "neurons": 3}]},
            "train": {"epochs": 1, "batch_size": 6, "sigma_init": 3}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-epoch run trained through the command line without progress bars."""
    folder = tmp_path_factory.mktemp("run")
    toy_shd(folder / "train.h5", 12, 0)
    toy_shd(folder / "test.h5", 6, 1)
    (folder / "config.json").write_text(json.dumps(_config(folder)))
    return folder


@pytest.fixture(scope="module")
def trained(run):
    import io
    from contextlib import redirect_stdout
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["train", "--config", str(run / "config.json"), "--out", str(run / "run"), "--no-progress"]) == 0
    return run / "run", out.getvalue()


def test_no_progress_keeps_the_epoch_summary(trained):
    _, printed = trained
    assert printed.startswith("epoch 1: loss ") and "test accuracy" in printed


def test_the_checkpoint_records_binning_and_class_names(trained):
    data = read_checkpoint(trained[0] / "checkpoint.pt")
    assert data["input_encoding"] == {"dt": 0.02, "pool": 25, "duration": 0.3, "source_channels": 700,
                                      "min_spikes": 1}
    assert data["class_names"] == TOY_KEYS


def _accuracy_lines(out):
    return [line for line in out.splitlines() if "accuracy" in line]


def test_evaluate_run_with_data_bins_as_the_run(trained, run, capsys):
    folder, _ = trained
    capsys.readouterr()
    assert main(["evaluate", str(folder), "--backend", "quantized,fixed", "--samples", "0"]) == 0
    own = capsys.readouterr().out
    assert main(["evaluate", str(folder), "--data", str(run / "test.h5"), "--backend", "quantized,fixed",
                 "--samples", "0"]) == 0
    given = capsys.readouterr().out
    assert "6 test samples (dt 0.02 s, pool 25 (700 -> 28 channels), duration 0.3 s (15 steps), min_spikes 1)" in given
    assert _accuracy_lines(given) == _accuracy_lines(own) and len(_accuracy_lines(given)) == 2


def test_evaluate_refuses_other_binning_unless_asked(trained, run, capsys):
    folder, _ = trained
    args = ["evaluate", str(folder), "--data", str(run / "test.h5"), "--backend", "fixed", "--dt", "0.01"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == (f"lava-convdelay evaluate: error: {folder}: was trained on input binned with dt 0.02 s, pool 25 "
                   f"(700 -> 28 channels), duration 0.3 s (15 steps), min_spikes 1; --dt 0.01 differs: leave it out "
                   f"to bin the data as in training, or add --allow-other-binning to evaluate on data binned "
                   f"differently\n")
    assert main(args + ["--allow-other-binning"]) == 0
    out = capsys.readouterr().out
    assert "(dt 0.01 s, pool 25 (700 -> 28 channels), duration 0.3 s (30 steps), min_spikes 1)" in out


def test_export_records_binning_and_classes_and_evaluate_uses_them(trained, run, capsys, tmp_path):
    folder, _ = trained
    net = tmp_path / "net.h5"
    assert main(["export", str(folder / "checkpoint.pt"), "-o", str(net)]) == 0
    out = capsys.readouterr().out
    assert "input: dt 0.02 s, pool 25 (700 -> 28 channels), duration 0.3 s (15 steps), min_spikes 1" in out
    assert "classes: 3 (low, mid, high)" in out
    spec = read_network(net)
    assert spec.encoding == ENCODING and spec.class_names == TOY_KEYS
    # no --pool/--dt/--duration: the file says how
    assert main(["evaluate", str(net), "--data", str(run / "test.h5"), "--backend", "fixed", "--samples", "0"]) == 0
    out = capsys.readouterr().out
    assert "6 test samples (dt 0.02 s, pool 25" in out
    assert main(["evaluate", str(net), "--data", str(run / "test.h5"), "--duration", "0.5"]) == 2
    assert "--duration 0.5 differs" in capsys.readouterr().err


def test_evaluate_refuses_data_of_other_classes(trained, run, capsys, tmp_path):
    folder, _ = trained
    rng = np.random.default_rng(0)
    times = [np.sort(rng.uniform(0, 0.3, 30)) for _ in range(8)]
    units = [rng.integers(0, 700, 30) for _ in range(8)]
    write_shd(tmp_path / "four.h5", times, units, np.arange(8) % 4, TOY_KEYS + ["extra"])
    write_shd(tmp_path / "renamed.h5", times, units, np.arange(8) % 3, ["low", "high", "mid"])
    for target in (folder, None):
        if target is None:
            assert main(["export", str(folder / "checkpoint.pt"), "-o", str(tmp_path / "net.h5")]) == 0
            target = tmp_path / "net.h5"
        capsys.readouterr()
        assert main(["evaluate", str(target), "--data", str(tmp_path / "four.h5"), "--backend", "fixed"]) == 2
        assert f"error: {tmp_path / 'four.h5'}: 4 classes, 3 in training; the same names as far as both go " \
               f"({target})" in capsys.readouterr().err
        assert main(["evaluate", str(target), "--data", str(tmp_path / "renamed.h5"), "--backend", "fixed"]) == 2
        assert "3 classes, 3 in training; class 1 is 'high' here but 'mid' in training" in capsys.readouterr().err


def test_evaluate_run_with_weights_past_the_8bit_range(trained, run, capsys, tmp_path):
    """A checkpoint whose float weights sit beyond SLAYER's clamp (older training): evaluation runs."""
    folder, _ = trained
    model, data = load_model(folder / "checkpoint.pt")
    with torch.no_grad():
        model.blocks[1].synapse.weight.view(3, 16)[0, 0] = -4.0209
        model.blocks[0].recurrent_synapse.weight[0, 0, 1] = 5.0
    copy = tmp_path / "old"
    copy.mkdir()
    (copy / "config.json").write_text((folder / "config.json").read_text())
    save_checkpoint(copy / "checkpoint.pt", model, **{k: v for k, v in data.items()
                                                      if k not in ("format", "version", "config", "state_dict")})
    assert main(["evaluate", str(copy), "--backend", "quantized,fixed,lava", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "decisions identical: 100.00 %" in out


def test_older_checkpoints_give_their_binning_from_the_recipe(trained, capsys, tmp_path):
    folder, _ = trained
    model, data = load_model(folder / "checkpoint.pt")
    (tmp_path / "a").mkdir()
    save_checkpoint(tmp_path / "a" / "ck.pt", model, recipe=data["recipe"])  # before binning was recorded
    assert main(["export", str(tmp_path / "a" / "ck.pt"), "-o", str(tmp_path / "a.h5")]) == 0
    spec = read_network(tmp_path / "a.h5")
    assert spec.encoding == ENCODING and spec.class_names is None
    (tmp_path / "c").mkdir()  # before recipes, in its run directory: the run's config.json
    (tmp_path / "c" / "config.json").write_text((folder / "config.json").read_text())
    save_checkpoint(tmp_path / "c" / "checkpoint.pt", model)
    assert main(["export", str(tmp_path / "c" / "checkpoint.pt"), "-o", str(tmp_path / "c.h5")]) == 0
    assert read_network(tmp_path / "c.h5").encoding == ENCODING
    save_checkpoint(tmp_path / "b.pt", model)  # before recipes, alone: nothing known
    capsys.readouterr()
    assert main(["export", str(tmp_path / "b.pt"), "-o", str(tmp_path / "b.h5")]) == 0
    assert "does not record how its input was binned" in capsys.readouterr().out
    assert read_network(tmp_path / "b.h5").encoding is None


@pytest.mark.parametrize("argv,message", [
    (["--samples", "-1"], "--samples must be an integer >= 0, got -1"),
    (["--dt", "0"], "--dt must be a number > 0 and <= 3600, got 0.0"),
    (["--pool", "3", "--allow-other-binning"], "--pool=3 does not divide the 700 channels"),
    (["--duration", "inf"], "--duration must be a number > 0 and <= 3600, got inf"),
    (["--backend", ","], "choose from float, quantized, fixed, lava"),
])
def test_evaluate_refuses_bad_options(trained, capsys, argv, message):
    assert main(["evaluate", str(trained[0])] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_train_refuses_an_output_layer_smaller_than_the_classes_and_writes_nothing(run, capsys, tmp_path):
    config = _config(run, [{"type": "delay_rec", "neurons": 8, "max_delay": 5}, {"type": "dense", "neurons": 2}])
    (tmp_path / "c.json").write_text(json.dumps(config))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"lava-convdelay train: error: {run / 'train.h5'}: 3 classes, but the output layer (layer 2, dense) "
        f"has 2 neurons; it needs one per class\n")
    assert not (tmp_path / "out").exists()


def test_train_refuses_test_data_of_other_classes(run, capsys, tmp_path):
    rng = np.random.default_rng(0)
    write_shd(tmp_path / "test.h5", [rng.uniform(0, 0.3, 5)] * 4, [rng.integers(0, 700, 5)] * 4,
              np.arange(4), ["low", "mid", "high", "top"])
    config = _config(run)
    config["data"]["test"] = str(tmp_path / "test.h5")
    (tmp_path / "c.json").write_text(json.dumps(config))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "out")]) == 2
    assert (f"error: {tmp_path / 'test.h5'}: 4 classes, 3 in training; the same names as far as both go "
            f"({run / 'train.h5'})") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
