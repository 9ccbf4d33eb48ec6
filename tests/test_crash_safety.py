"""SIGKILL a real process while it writes checkpoints / network files / trains:
the file under the final name is always complete, and a resumed run ends
exactly where an uninterrupted one does."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lava_convdelay.nn.checkpoint import load_model, read_checkpoint
from lava_convdelay.training import normalise_config, train
from netx_export.reader import read_network

pytestmark = pytest.mark.slow  # kills timed with sleeps; a data generation (minutes)

HERE = Path(__file__).parent

WRITER = r"""
import sys, torch
sys.path.insert(0, sys.argv[3])
from lava_convdelay.nn.model import SpikingNetwork
from lava_convdelay.nn.checkpoint import save_checkpoint
from netx_export.exporter import export_blocks
neuron = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03}
model = SpikingNetwork({"input_size": 700, "neuron": neuron, "layers": [
    {"type": "delay_rec", "neurons": 1024}, {"type": "dense", "neurons": 20}]})
for i in range(1000):
    with torch.no_grad():
        model.blocks[1].synapse.weight.fill_(i % 7 / 64)
    if sys.argv[1] == "checkpoint":
        save_checkpoint(sys.argv[2], model, epoch=i)
    else:
        export_blocks(list(model.blocks), sys.argv[2])
"""


def _kill_while_writing(tmp_path, kind, target, rounds=3):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    for k in range(rounds):
        proc = subprocess.Popen([sys.executable, str(script), kind, str(target), str(HERE)])
        deadline = time.time() + 120
        while not target.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3 + 0.37 * k)  # land at different points of a write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert target.exists()
        yield
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert all(name.endswith(".tmp") for name in leftovers)


def test_sigkill_during_checkpointing_never_corrupts(tmp_path):
    target = tmp_path / "ck.pt"
    for _ in _kill_while_writing(tmp_path, "checkpoint", target):
        model, data = load_model(target)  # complete and loadable every time
        assert model.blocks[0].num_neurons == 1024 and data["epoch"] >= 0


def test_sigkill_during_export_never_corrupts(tmp_path):
    target = tmp_path / "net.h5"
    for _ in _kill_while_writing(tmp_path, "export", target):
        spec = read_network(target)
        assert spec.layers[0].weight_rec.shape == (1024, 1024)


TRAINER = r"""
import sys, time
import torch
torch.set_num_threads(1)  # as the in-process runs below: one reduction order
sys.path.insert(0, sys.argv[2])
import lava_convdelay.training.loop as train_module
from factories import TRAIN_CONFIG, toy_datasets
from lava_convdelay.training import normalise_config, train

real_save = train_module.save_checkpoint
def slow_save(*args, **kwargs):  # leave time to be killed between epochs
    real_save(*args, **kwargs)
    time.sleep(1.0)
train_module.save_checkpoint = slow_save
train(normalise_config(TRAIN_CONFIG), sys.argv[1], progress=False, datasets=toy_datasets())
"""


def test_sigkill_during_training_then_resume_equals_uninterrupted(tmp_path):
    sys.path.insert(0, str(HERE))
    from factories import TRAIN_CONFIG, assert_same_state, toy_datasets
    script = tmp_path / "trainer.py"
    script.write_text(TRAINER)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(run), str(HERE)])
    checkpoint = run / "checkpoint.pt"
    deadline = time.time() + 180
    while time.time() < deadline:
        if checkpoint.exists() and read_checkpoint(checkpoint)["epoch"] >= 1:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = read_checkpoint(checkpoint)["epoch"]
    assert 1 <= killed_at < 3, "the run must be killed before it finished"
    # one thread in every process: with two, a float sum's order may depend on how the
    # threads split it, and "bit-identical" would compare that, not the resume
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        resumed = train(normalise_config(TRAIN_CONFIG), run, resume=True, progress=False, datasets=toy_datasets())
        full = train(normalise_config(TRAIN_CONFIG), tmp_path / "full", progress=False, datasets=toy_datasets())
    finally:
        torch.set_num_threads(threads)
    assert_same_state(full, resumed)
    assert os.path.exists(run / "plots" / "curves.png")


def test_sigkill_during_dataset_generation_then_rerun(tmp_path):
    from lava_convdelay.data import read_shd
    out = tmp_path / "data"
    cmd = [sys.executable, "-m", "lava_convdelay.cli", "data", "generate", "--out", str(out),
           "--per-class", "1", "--test-per-class", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "generator.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(15)  # well inside the synthesis of the training split
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for name in ("train.h5", "test.h5"):
        if (out / name).exists():  # whatever exists under the final name is complete
            assert len(read_shd(out / name)["labels"]) == 20
    assert not (out / "test.h5").exists(), "killed too late to test anything"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert len(read_shd(out / "train.h5")["labels"]) == 20
    assert len(read_shd(out / "test.h5")["labels"]) == 20
