"""The training loop: sigma annealing, delay and weight clamping, AdamW with a
delay learning rate (delays optionally frozen for the first epochs), an
optional L1 term on the recurrent convolution kernels, per-epoch atomic checkpoints with exact resume, metrics
and plots, and multi-process training through ``torchrun``
(DistributedDataParallel; the command is :mod:`lava_convdelay.cli.train`).

Run directory: ``checkpoint.pt`` (latest epoch), ``config.json``,
``metrics.csv`` / ``metrics.json``, ``plots/*.png``.
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from lava_convdelay.atomic import atomic_output
from lava_convdelay.data.class_names import class_mismatch, dataset_classes, dataset_labels
from lava_convdelay.errors import UserError
from lava_convdelay.nn.checkpoint import read_checkpoint, save_checkpoint
from lava_convdelay.nn.delays import SigmaSchedule
from lava_convdelay.nn.model import SpikingNetwork
from lava_convdelay.nn.weight_range import project_weights_
from lava_convdelay.training.augment import AUGMENT_DEFAULTS, augment_spikes
from lava_convdelay.training.config import TrainConfigError
from lava_convdelay.training.data_section import build_datasets
from lava_convdelay.training.losses import LOSSES
from lava_convdelay.training.predictions import model_predictions


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


class TrainingDivergedError(UserError):
    """Training reached a non-finite loss or weights; the epoch is not saved."""


def _diverged(out: Path, epoch: int, what: str, cfg: dict) -> TrainingDivergedError:
    kept = f"the checkpoint of epoch {epoch} is kept" if epoch else "no checkpoint was written"
    return TrainingDivergedError(f"{out}: epoch {epoch + 1}: training diverged ({what}); {kept}; lower train.lr "
                                 f"({cfg['lr']:g}), train.ce_scale ({cfg['ce_scale']:g}), the layers' weight_scale "
                                 f"or the neurons' scale_grad")


def _check_input(cfg: dict, train_set, name: str, progress: bool) -> None:
    """Refuse augmentation that empties samples and a binning that leaves every training
    sample without a spike; warn of empty samples (this bins, and caches, every sample)."""
    channels, steps = train_set[0][0].shape
    for key, size, what in (("time_shift", steps, "time steps"), ("channel_shift", channels, "channels")):
        if cfg[key] >= size:
            raise TrainConfigError(f"{name}: train.{key}={cfg[key]} moves every spike out of a sample shifted by "
                                   f"{size} or more (the input has {size} {what}); use at most {size - 1}")
    empty = sum(not train_set[i][0].any() for i in tqdm(range(len(train_set)), desc="checking the input",
                                                       unit="sample", disable=not progress, leave=False))
    if not empty:
        return
    encoding = getattr(train_set, "encoding", None)
    how = f" ({encoding.describe()})" if encoding is not None else ""
    if empty == len(train_set):
        raise TrainConfigError(f"{name}: no training sample has a spike after binning{how}; lower data.min_spikes "
                               f"or check data.dt and data.duration")
    print(f"warning: {name}: {empty} of {len(train_set)} training samples have no spike after binning{how}",
          flush=True)


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
    from lava_convdelay.training.plots import plot_run

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
    _check_input(cfg, train_set, str(getattr(train_set, "path", "the training data")), progress and ctx.is_main)
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
        for batch, (x, y) in enumerate(bar, start=1):
            x, y = x.to(ctx.device), y.to(ctx.device)
            x = augment_spikes(x, **{key: cfg[key] for key in AUGMENT_DEFAULTS})
            loss = LOSSES[cfg["loss"]](net(x), y, cfg)
            if cfg["kernel_l1"]:
                loss = loss + cfg["kernel_l1"] * model.kernel_l1()
            optimizer.zero_grad()
            loss.backward()
            if epoch < cfg["freeze_delays_epochs"]:  # no gradient, no AdamW step (nor moment update)
                for delay in model.delay_parameters():
                    delay.grad = None
            # gradients are alike on every rank (DDP averages them): all stop, or none
            if not all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None):
                raise _diverged(out, epoch, f"batch {batch}: the loss is {loss.item():g} and its gradients are not "
                                            f"finite", cfg)
            optimizer.step()
            model.clamp_delays()
            project_weights_(model)  # no weight beyond the quantizer's clamp, where it would get no gradient
            total, count = total + loss.item() * len(y), count + len(y)
            bar.set_postfix(loss=f"{total / count:.4f}")
        scheduler.step()
        epoch_seconds = time.perf_counter() - start_time
        losses = torch.tensor([total], dtype=torch.float64, device=ctx.device)
        if ctx.world > 1:  # every rank stops, or none
            dist.all_reduce(losses)
        if not math.isfinite(float(losses)):
            raise _diverged(out, epoch, f"the mean loss is {total / count:g}", cfg)
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
