"""Training loop: sigma annealing, delay and weight clamping, AdamW with a delay learning
rate, per-epoch atomic checkpoints with exact resume, metrics and plots, and
multi-process training through ``torchrun`` (DistributedDataParallel).

    lava-convdelay train --config configs/crsnn.json --out runs/crsnn [--resume]
    torchrun --nproc_per_node=2 -m lava_convdelay.train --config ... --out ...

Run directory: ``checkpoint.pt`` (latest epoch), ``config.json``,
``metrics.csv`` / ``metrics.json``, ``plots/*.png``.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from lava_convdelay.atomic import atomic_output
from lava_convdelay.augment import AUGMENT_DEFAULTS, augment_spikes
from lava_convdelay.bounds import Bounds, check_value
from lava_convdelay.checkpoint import read_checkpoint, save_checkpoint
from lava_convdelay.class_names import class_mismatch, dataset_classes, dataset_labels
from lava_convdelay.data_setup import build_datasets, check_data_section
from lava_convdelay.delays import SigmaSchedule
from lava_convdelay.errors import UserError
from lava_convdelay.model import SpikingNetwork
from lava_convdelay.evaluate import model_predictions
from lava_convdelay.readout import count_ce_loss, rate_loss, voltage_ce_loss
from lava_convdelay.weight_range import project_weights_

# The recipe of configs/*.json (README, "The shipped configs"); true_rate and
# false_rate are used by the "rate" loss only; loss "auto" is the output
# layer's own: voltage_ce for an affine (voltage) readout, count_ce for spikes.
DEFAULT_TRAIN = {
    "epochs": 30,
    "batch_size": 16,
    "lr": 1e-2,
    "lr_delay": 0.5,
    "weight_decay": 1e-5,
    "sigma_init": 10.0,
    "sigma_decay": 0.95,
    "sigma_reference_epochs": 100,
    "loss": "auto",
    "ce_scale": 1.0,
    "true_rate": 0.2,
    "false_rate": 0.03,
    "eval_batch_size": 64,
    **AUGMENT_DEFAULTS,
    "time_shift": 10,
}


TRAIN_BOUNDS = {
    "epochs": Bounds(True, 1),
    "batch_size": Bounds(True, 1),
    "eval_batch_size": Bounds(True, 1),
    "lr": Bounds(False, 0, low_allowed=False),
    "lr_delay": Bounds(False, 0),
    "weight_decay": Bounds(False, 0),
    "sigma_init": Bounds(False, 0),
    "sigma_decay": Bounds(False, 0, 1, low_allowed=False),
    "sigma_reference_epochs": Bounds(False, 0, low_allowed=False),
    "ce_scale": Bounds(False, 0, low_allowed=False),
    "true_rate": Bounds(False, 0, 1),
    "false_rate": Bounds(False, 0, 1),
    "time_shift": Bounds(True, 0),
    "channel_shift": Bounds(True, 0),
    "thinning": Bounds(False, 0, 1),
}


# train.loss -> loss(model output, labels, train config)
LOSSES = {
    "rate": lambda spikes, labels, cfg: rate_loss(spikes, labels, cfg["true_rate"], cfg["false_rate"]),
    "count_ce": lambda spikes, labels, cfg: count_ce_loss(spikes, labels, cfg["ce_scale"]),
    "voltage_ce": lambda voltage, labels, cfg: voltage_ce_loss(voltage, labels, cfg["ce_scale"]),
}
# the readout (lava_convdelay.readout) each loss trains
LOSS_READOUT = {"rate": "spike_count", "count_ce": "spike_count", "voltage_ce": "voltage_sum"}


class TrainConfigError(UserError):
    """A training config that cannot be used; names the file and key."""


CONFIG_KEYS = ("description", "seed", "model", "data", "train")


def load_config(path: str | os.PathLike) -> dict:
    """Read a JSON training config, check every value and fill in defaults."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrainConfigError(f"{path}: no such config file") from None
    except json.JSONDecodeError as err:
        raise TrainConfigError(f"{path}: invalid JSON ({err})") from None
    except (OSError, UnicodeDecodeError) as err:  # a folder, unreadable, not text
        raise TrainConfigError(f"{path}: cannot read the config ({err})") from None
    return normalise_config(config, str(path))


def normalise_config(config: dict, where: str = "config") -> dict:
    """Check every section of ``config`` (``where``: the file, for messages) before any
    work starts, and fill in defaults: the model is built once, small, to check it."""
    if not isinstance(config, dict) or "model" not in config:
        raise TrainConfigError(f"{where}: needs a 'model' section")
    config = copy.deepcopy(config)
    unknown = set(config) - set(CONFIG_KEYS)
    if unknown:
        raise TrainConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {list(CONFIG_KEYS)}")
    for section in ("model", "train", "data"):
        if not isinstance(config.get(section, {}), dict):
            raise TrainConfigError(f"{where}: '{section}' must be a mapping")
    if not isinstance(config.get("description", ""), str):
        raise TrainConfigError(f"{where}: description must be a string")
    unknown = set(config.get("train", {})) - set(DEFAULT_TRAIN)
    if unknown:
        raise TrainConfigError(f"{where}: unknown train key(s) {sorted(unknown)}; known: {sorted(DEFAULT_TRAIN)}")
    config["train"] = {**DEFAULT_TRAIN, **config.get("train", {})}
    loss = config["train"]["loss"]
    if not isinstance(loss, str) or loss not in ("auto", *LOSSES):  # a JSON list or dict is unhashable
        raise TrainConfigError(f"{where}: train.loss must be one of {('auto', *LOSSES)}, got {loss!r}")
    readout = _readout_of(config["model"])
    if loss == "auto":
        config["train"]["loss"] = loss = "voltage_ce" if readout == "voltage_sum" else "count_ce"
    if LOSS_READOUT[loss] != readout:
        output = "an 'affine' (voltage)" if readout == "voltage_sum" else "a spiking"
        raise TrainConfigError(f"{where}: train.loss '{loss}' trains a {LOSS_READOUT[loss]} readout but the "
                               f"model has {output} output layer; use loss 'auto'")
    for key, bounds in TRAIN_BOUNDS.items():
        check_value(config["train"][key], f"{where}: train.{key}", bounds, TrainConfigError)
    config.setdefault("seed", 0)
    check_value(config["seed"], f"{where}: seed", Bounds(True, 0), TrainConfigError)
    config.setdefault("data", {"source": "generated"})
    check_data_section(config["data"], where)
    model = config["model"]
    try:  # every layer key, type and range, and what the blocks check (kernel vs neurons, ...)
        SpikingNetwork({**model, "input_size": model.get("input_size", 1)})
    except UserError as err:
        raise TrainConfigError(f"{where}: {err}") from None
    return config


def _readout_of(model: dict) -> str:
    """The readout a model section's output layer implies (before building it)."""
    layers = model.get("layers")
    last = layers[-1] if isinstance(layers, list) and layers and isinstance(layers[-1], dict) else {}
    return "voltage_sum" if last.get("type") == "affine" else "spike_count"


class DistContext:
    """torchrun's environment, or a single process."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
        local = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def close(self):
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _check_data(model_config: dict, train_set, test_set) -> dict:
    """Refuse data the model cannot learn or be tested on, before anything is written;
    returns what the checkpoint records of the data (its input encoding, class names)."""
    name = str(getattr(train_set, "path", "the training data"))
    test_name = str(getattr(test_set, "path", "the test data"))
    channels = train_set[0][0].shape[0]
    if model_config["input_size"] != channels:
        raise TrainConfigError(f"{name}: the data gives {channels} input channels but the model's "
                               f"input_size is {model_config['input_size']}; drop input_size or match the data")
    encoding, test_encoding = getattr(train_set, "encoding", None), getattr(test_set, "encoding", None)
    if test_set[0][0].shape[0] != channels or (encoding and test_encoding and encoding != test_encoding):
        raise TrainConfigError(f"{test_name}: binned differently from {name}; bin both alike")
    names, count = dataset_classes(train_set)
    mismatch = class_mismatch(names, count, *dataset_classes(test_set))
    if mismatch:
        raise TrainConfigError(f"{test_name}: {mismatch} ({name}); test on the training classes, in their order")
    layers = model_config["layers"]
    outputs = layers[-1]["neurons"]
    if outputs < count:
        raise TrainConfigError(f"{name}: {count} classes, but the output layer (layer {len(layers)}, "
                               f"{layers[-1]['type']}) has {outputs} neurons; it needs one per class")
    return {"input_encoding": encoding.as_dict() if encoding else None, "class_names": names}


def _optimizer(model: SpikingNetwork, cfg: dict) -> torch.optim.Optimizer:
    delays = model.delay_parameters()
    delay_ids = {id(p) for p in delays}
    weights = [p for p in model.parameters() if p.requires_grad and id(p) not in delay_ids]
    groups = [{"params": weights, "lr": cfg["lr"], "weight_decay": cfg["weight_decay"]}]
    if delays:
        groups.append({"params": delays, "lr": cfg["lr_delay"], "weight_decay": 0.0})
    return torch.optim.AdamW(groups)


def _changed_keys(old: dict, new: dict) -> list[str]:
    """Dotted names (``train.lr``) whose values differ between two recipes."""
    changed = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section), new.get(section)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += [f"{section}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            changed.append(section)
    return changed


def _write_metrics(out: Path, history: list[dict]) -> None:
    with atomic_output(out / "metrics.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    with atomic_output(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(history, indent=1))


def train(config: dict, out_dir: str | os.PathLike, resume: bool = False,
          progress: bool = True, datasets=None) -> SpikingNetwork:
    """Train ``config`` into ``out_dir``; returns the trained model.

    ``datasets`` (train, test) overrides the config's data section (tests).
    With ``resume`` the run continues after the last completed epoch, with the
    same RNG state, so the result equals an uninterrupted run on CPU.
    """
    from lava_convdelay.plots import plot_run

    ctx = DistContext()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TrainConfigError(f"{out}: is a file; --out names the run directory")
    cfg = config["train"]
    torch.manual_seed(config["seed"])
    train_set, test_set = datasets if datasets is not None else build_datasets(config["data"], progress)
    model_config = dict(config["model"])
    model_config.setdefault("input_size", train_set[0][0].shape[0])
    data_record = _check_data(model_config, train_set, test_set)
    model = SpikingNetwork(model_config).to(ctx.device)
    optimizer = _optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg["epochs"])
    sigma = SigmaSchedule(cfg["sigma_init"], cfg["epochs"], cfg["sigma_decay"], cfg["sigma_reference_epochs"])
    history, start = [], 0
    initial_delays = [d.cpu() for d in model.integer_delays()]  # the delays' starting point, kept for the record
    checkpoint = out / "checkpoint.pt"
    recipe = {"seed": config["seed"], "data": config["data"], "train": cfg}  # what else makes the run
    if resume and checkpoint.exists():
        state = read_checkpoint(checkpoint)
        if state["config"] != model.config:
            raise TrainConfigError(f"{checkpoint}: was written for a different model config; "
                                   f"use a new --out directory or drop --resume")
        # a resumed run must be the run it claims to continue (checkpoints
        # written before recipes were stored carry none and cannot be checked)
        changed = _changed_keys(state.get("recipe", recipe), recipe)
        if changed:
            raise TrainConfigError(f"{checkpoint}: was trained with other settings for {', '.join(changed)}; "
                                   f"resume with the original config or use a new --out directory")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        history, start = list(state["history"]), int(state["epoch"]) + 1
        initial_delays = state.get("initial_delays", initial_delays)
    elif checkpoint.exists() and not resume:
        raise TrainConfigError(f"{out}: already holds a run; pass --resume to continue it or choose a new --out")
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_output(out / "config.json") as tmp:
            tmp.write_text(json.dumps({**config, "model": model.config}, indent=1))
    # buffers are either set identically on every rank (sigma) or transient
    # per-batch neuron state that rank 0's evaluation resizes: never broadcast them
    net = DistributedDataParallel(model, broadcast_buffers=False) if ctx.world > 1 else model
    test_labels = dataset_labels(test_set) if ctx.is_main else None
    for epoch in range(start, cfg["epochs"]):
        model.set_sigma(sigma(epoch))
        shuffle = torch.Generator().manual_seed(config["seed"] * 100003 + epoch)
        if ctx.world > 1:
            sampler = DistributedSampler(train_set, ctx.world, ctx.rank, shuffle=True,
                                         seed=config["seed"] * 100003 + epoch)
            loader = DataLoader(train_set, batch_size=cfg["batch_size"], sampler=sampler)
        else:
            loader = DataLoader(train_set, batch_size=cfg["batch_size"], shuffle=True, generator=shuffle)
        model.train()
        start_time, total, count = time.perf_counter(), 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg['epochs']}", disable=not (progress and ctx.is_main))
        for x, y in bar:
            x, y = x.to(ctx.device), y.to(ctx.device)
            x = augment_spikes(x, **{key: cfg[key] for key in AUGMENT_DEFAULTS})
            loss = LOSSES[cfg["loss"]](net(x), y, cfg)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.clamp_delays()
            project_weights_(model)  # no weight beyond the quantizer's clamp, where it would get no gradient
            total, count = total + loss.item() * len(y), count + len(y)
            bar.set_postfix(loss=f"{total / count:.4f}")
        scheduler.step()
        epoch_seconds = time.perf_counter() - start_time
        if ctx.is_main:
            predictions = model_predictions(model, test_set, cfg["eval_batch_size"])
            test_acc = float((predictions == test_labels).mean())
            history.append({"epoch": epoch + 1, "sigma": sigma(epoch), "loss": total / count,
                            "test_accuracy": test_acc, "epoch_seconds": epoch_seconds,
                            **model.delay_movement(initial_delays)})
            save_checkpoint(checkpoint, model, optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), rng=torch.get_rng_state(),
                            epoch=epoch, history=history, recipe=recipe, initial_delays=initial_delays,
                            **data_record)
            _write_metrics(out, history)
            # the summary line stays without progress bars
            moved = (f", delays moved {history[-1]['delay_moved']:.2f} steps on average"
                     if "delay_moved" in history[-1] else "")
            print(f"epoch {epoch + 1}: loss {total / count:.4f}, sigma {sigma(epoch):.3g}, "
                  f"test accuracy {test_acc:.3f}{moved} ({epoch_seconds:.1f} s)", flush=True)
        if ctx.world > 1:
            dist.barrier()
    if ctx.is_main and history:
        plot_run(out, model, test_set, history, initial_delays)
    ctx.close()
    return model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="training config (JSON)")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (the per-epoch summary lines stay)")


def run_from_args(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.epochs is not None:
        config["train"]["epochs"] = args.epochs
        config = normalise_config(config, f"{args.config} with --epochs")
    train(config, args.out, resume=args.resume, progress=not args.no_progress)
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a network from a config file")
    add_arguments(parser)
    parser.set_defaults(func=run_from_args)


def main(argv=None) -> int:
    """Entry point for ``python -m lava_convdelay.train`` (and torchrun)."""
    parser = argparse.ArgumentParser(prog="lava_convdelay.train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except UserError as err:
        print(f"lava_convdelay.train: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
