"""The whole command-line pipeline on small SHD-format files:
train -> evaluate (float / quantized / fixed / Lava) -> export -> verify."""
import json

from factories import toy_shd

from lava_convdelay.cli import main
from netx_export.reader import read_network


def test_train_evaluate_export_verify(tmp_path, capsys):
    train_file, test_file = toy_shd(tmp_path / "train.h5", 36, 0), toy_shd(tmp_path / "test.h5", 12, 1)
    config = {
        "seed": 1,
        "data": {"source": "shd", "train": str(train_file), "test": str(test_file),
                 "dt": 0.01, "pool": 25, "duration": 0.3},
        "model": {"neuron": {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03,
                             "tau_grad": 0.03, "scale_grad": 3},
                  "layers": [{"type": "conv_delay_rec", "neurons": 16, "max_delay": 10},
                             {"type": "dense", "neurons": 3}]},
        "train": {"epochs": 4, "batch_size": 6, "sigma_init": 3},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    run = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "config.json"), "--out", str(run), "--no-progress"]) == 0
    history = json.loads((run / "metrics.json").read_text())
    assert history[-1]["test_accuracy"] >= 0.75  # chance is 1/3

    capsys.readouterr()
    assert main(["evaluate", str(run), "--samples", "6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    accuracy = {line.split()[0]: float(line.split()[2]) for line in lines[1:5]}
    assert set(accuracy) == {"float", "quantized", "fixed", "lava"}
    assert accuracy["quantized"] == accuracy["fixed"] == accuracy["lava"]  # deployed == simulated
    assert "decisions identical: 100.00 %" in lines[-1]

    assert main(["export", str(run / "checkpoint.pt"), "-o", str(tmp_path / "net.h5")]) == 0
    assert read_network(tmp_path / "net.h5").input_size == 28
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "net.h5"), "--data", str(test_file), "--backend", "fixed",
                 "--samples", "0", "--pool", "25", "--duration", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "12 test samples" in out and "fixed" in out
    assert main(["verify", str(tmp_path / "net.h5"), "--samples", "2", "--steps", "30", "--rate", "0.2"]) == 0
