"""Results table on the embedded spoken digits (or another data section): CRSNN, DelRec, RSNN, ablations.

Trains every config of configs/ (optionally scaled down: --neurons, --epochs)
for each seed, then reports test accuracy (mean and spread), recurrent
parameters, training time per epoch, and for the CRSNN the quantized,
fixed-point and Lava accuracies. A non-spiking GRU on the same inputs, split
and seeds (bench/gru_baseline.py) is trained beside them as the data's
reference (``--no-gru`` leaves it out). ``--jobs K`` trains K runs side by side,
each on ``cores / K`` torch threads; runs resume where a killed bench left
them (each is an ordinary run directory under --out).

    .venv/bin/python bench/bench_models.py --neurons 128 --epochs 12 --seeds 0 1 2 --jobs 2 --lava-samples 40

Delay channels (configs/delay_channels.json, ``--configs delaychan``); one cell
of the K x D ablation at C = 4 (issue 25), each cell in its own --out:

    .venv/bin/python bench/bench_models.py --configs delaychan --seeds 0 1 2 --no-gru \
        --kernel-size 3 --set hidden.delay_channels=4 --out runs/ablation_k3_d4
"""
import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from lava_convdelay.app.evaluation import evaluate
from lava_convdelay.atomic import atomic_output
from lava_convdelay.errors import UserError
from lava_convdelay.nn.checkpoint import load_model
from lava_convdelay.nn.model import ConfigError
from lava_convdelay.training import load_config, normalise_config, train
from lava_convdelay.training.augment import AUGMENT_DEFAULTS
from lava_convdelay.training.data_section import build_datasets
from netx_export.exporter import blocks_to_spec

sys.path.insert(0, str(Path(__file__).parent))
from gru_baseline import train_gru  # noqa: E402

CONFIGS = ["crsnn", "delrec", "rsnn", "crsnn_no_delay", "crsnn_fixed_delay"]
GRU = "gru"  # the non-spiking reference's row
#: bench names of configs whose file is named otherwise
CONFIG_FILES = {"delaychan": "delay_channels"}
ROOT = Path(__file__).resolve().parent.parent


def overrides_source(name: str) -> str:
    """What an error in a config with this bench's overrides names."""
    return f"configs/{CONFIG_FILES.get(name, name)}.json with the command-line overrides"


def run_config(name: str, seed: int, args: argparse.Namespace) -> dict:
    config = load_config(ROOT / "configs" / f"{CONFIG_FILES.get(name, name)}.json")
    config["seed"] = seed
    config["data"].update(overrides(args, "data"))
    if args.epochs:
        config["train"]["epochs"] = args.epochs
    for key in AUGMENT_DEFAULTS:
        if getattr(args, key) is not None:
            config["train"][key] = getattr(args, key)
    config["train"].update(overrides(args, "train"))
    # "hidden" layers are the recurrent ones: a convolutional front end keeps its own settings
    *hidden, output = config["model"]["layers"]
    front = [layer for layer in hidden if layer["type"] == "conv"]
    hidden = [layer for layer in hidden if layer["type"] != "conv"]
    if args.hidden_layers:
        hidden = [dict(hidden[0]) for _ in range(args.hidden_layers)]
    config["model"]["layers"] = front + hidden + [output]
    for layer in hidden:
        if args.neurons:
            layer["neurons"] = args.neurons
        if args.kernel_size and "kernel_size" in layer:
            layer["kernel_size"] = args.kernel_size
        if args.channels and "channels" in layer:
            layer["channels"] = args.channels
        if args.dropout is not None:
            layer["dropout"] = args.dropout
        layer.update(overrides(args, "hidden"))
    config["model"]["layers"][-1].update(overrides(args, "output"))
    # the overrides get the config file's checks (a --thinning 2 is named here, not deep in torch)
    return normalise_config(config, overrides_source(name))


def overrides(args: argparse.Namespace, section: str) -> dict:
    """The ``--set`` values of one section (data, train, hidden or output), in command-line order."""
    return {key: value for where, key, value in args.set if where == section}


def setting(text: str) -> tuple[str, str, object]:
    """``data.KEY=JSON``, ``train.KEY=JSON``, ``hidden.KEY=JSON`` (every hidden layer) or
    ``output.KEY=JSON`` (the output layer) -> (section, key, value)."""
    path, sep, raw = text.partition("=")
    section, dot, key = path.partition(".")
    if not sep or not dot or not key or section not in ("data", "train", "hidden", "output"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected data.KEY=VALUE, train.KEY=VALUE, hidden.KEY=VALUE or output.KEY=VALUE")
    try:
        return section, key, json.loads(raw)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"{text!r}: VALUE must be JSON (0.1, true, [0, 30], \"a\")") from None


def mean_sd(values: np.ndarray) -> str:
    """Mean and, over two or more seeds, the sample standard deviation (ddof 1,
    as papers report spreads)."""
    return f"{values.mean():.1f}" + (f" ± {values.std(ddof=1):.1f}" if len(values) > 1 else "")


def print_lava_agreement(rows: dict) -> None:
    """One line per run that was also run on Lava: its accuracy there and its agreement
    with the quantized model on the same test samples."""
    for name, entries in rows.items():
        for e in entries:
            if "acc_lava_subset" in e:
                print(f"{name} seed {e['seed']}: first {e['lava_samples']} test samples: Lava "
                      f"{100 * e['acc_lava_subset']:.1f} %, quantized {100 * e['acc_quantized_subset']:.1f} %, "
                      f"same prediction on {100 * e['lava_equals_quantized']:.1f} %")


def train_one(name: str, seed: int, args: argparse.Namespace, threads: int) -> str:
    """Train (or finish) one run; returns its directory."""
    torch.set_num_threads(threads)
    if name == GRU:
        return train_reference(seed, args)
    config = run_config(name, seed, args)
    run = args.out / f"{name}-seed{seed}"
    metrics = run / "metrics.json"
    if not (metrics.exists() and len(json.loads(metrics.read_text())) >= config["train"]["epochs"]):
        data = build_datasets(config["data"], progress=False)
        train(config, run, resume=(run / "checkpoint.pt").exists(), progress=False, datasets=data)
    print(f"trained {run}", flush=True)
    return str(run)


def train_reference(seed: int, args: argparse.Namespace) -> str:
    """The GRU reference on the first config's data (its result.json; a finished one is kept)."""
    run = args.out / f"{GRU}-seed{seed}"
    if not (run / "result.json").exists():
        train_set, test_set = build_datasets(run_config(args.configs[0], seed, args)["data"], progress=False)
        result = train_gru(train_set, test_set, seed)
        run.mkdir(parents=True, exist_ok=True)
        with atomic_output(run / "result.json") as tmp:
            tmp.write_text(json.dumps(result, indent=1))
    print(f"trained {run}", flush=True)
    return str(run)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, help="hidden layer size override")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--hidden-layers", type=int, help="number of hidden layers (copies of the first)")
    parser.add_argument("--kernel-size", type=int, help="conv recurrence kernel override (odd)")
    parser.add_argument("--channels", type=int, help="conv recurrence channel override (divides --neurons)")
    parser.add_argument("--dropout", type=float, help="hidden layers' feed-forward dropout override")
    parser.add_argument("--time-shift", type=int, help="train.time_shift override (steps)")
    parser.add_argument("--channel-shift", type=int, help="train.channel_shift override (input channels)")
    parser.add_argument("--thinning", type=float, help="train.thinning override")
    parser.add_argument("--set", type=setting, action="append", default=[], metavar="SECTION.KEY=JSON",
                        help="any other override, after the ones above: data.KEY (the data section), "
                             "train.KEY (the train section), "
                             "hidden.KEY (every hidden layer) or output.KEY (the output layer); repeatable, "
                             "e.g. --set train.lr_delay=0.1 --set 'hidden.delay_init=[0, 30]' "
                             "--set 'output.type=\"dense\"'")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--lava-samples", type=int, default=40)
    parser.add_argument("--configs", nargs="+", default=CONFIGS)
    parser.add_argument("--no-gru", action="store_true", help="leave out the non-spiking GRU reference")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained side by side")
    parser.add_argument("--threads", type=int, help="torch threads per run (default: the cores / --jobs; give 1 "
                        "when other work shares the cores: oversubscribed threads slow training several-fold)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_models"))
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    return args


def main():
    args = parse_args()

    # a bad override stops here, not inside the first worker; on one thread, so that no
    # OpenMP pool exists in this process when the workers are forked below
    torch.set_num_threads(1)
    for name in args.configs:
        try:  # normalising the config builds its network on the data's input size
            run_config(name, 0, args)
        except ConfigError as err:
            raise SystemExit(f"{overrides_source(name)}: {err}") from None
        except UserError as err:
            raise SystemExit(str(err)) from None
    jobs = [(name, seed) for name in args.configs for seed in args.seeds]
    references = [] if args.no_gru else [(GRU, seed) for seed in args.seeds]
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    if args.jobs > 1:
        # fork, not spawn: importing lava sets the start method to fork, and a spawned
        # child re-importing it fails; this process has run torch on one thread only
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("fork")) as pool:
            list(pool.map(train_one, *zip(*[(n, s, args, threads) for n, s in jobs + references])))
    else:
        for name, seed in jobs + references:
            train_one(name, seed, args, threads)

    torch.set_num_threads(os.cpu_count() or 1)
    data = build_datasets(run_config(args.configs[0], 0, args)["data"], progress=False)
    rows = {}
    for name, seed in jobs:
        run = args.out / f"{name}-seed{seed}"
        model, _ = load_model(run / "checkpoint.pt")
        history = json.loads((run / "metrics.json").read_text())
        spec = blocks_to_spec(list(model.blocks))
        result = evaluate(data[1], model, spec, ("float", "quantized", "fixed"), progress=False)
        entry = {"seed": seed, **{f"acc_{k}": v for k, v in result.accuracy.items()},
                 "recurrent_params": model.recurrent_param_count,
                 "seconds_per_epoch": float(np.mean([h["epoch_seconds"] for h in history])),
                 **{key: history[-1][key] for key in ("delay_moved", "delays_changed") if key in history[-1]}}
        if name == "crsnn" and args.lava_samples:
            lava = evaluate(data[1], model, spec, ("quantized", "lava"), samples=args.lava_samples,
                            progress=False)
            entry["lava_samples"] = lava.samples
            entry["acc_lava_subset"] = lava.accuracy["lava"]
            entry["acc_quantized_subset"] = lava.accuracy["quantized"]
            entry["lava_equals_quantized"] = float((lava.predictions["lava"] == lava.predictions["quantized"]).mean())
        rows.setdefault(name, []).append(entry)
        print(name, json.dumps(entry), flush=True)
    for _, seed in references:
        rows.setdefault(GRU, []).append(json.loads((args.out / f"{GRU}-seed{seed}" / "result.json").read_text()))
    with atomic_output(args.out / "results.json") as tmp:
        tmp.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                   "threads_per_job": threads, "rows": rows}, indent=1))
    print(f"\n{args.jobs} job(s) side by side, {threads} torch thread(s) each")
    print("\n| model | test acc. % (mean ± s.d.) | quantized % | fixed-point % | recurrent params | s / epoch |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, entries in rows.items():
        acc = np.array([e["acc_float"] for e in entries]) * 100
        deployed = "| - | - " if name == GRU else "".join(
            f"| {text} " for text in (mean_sd(np.array([e["acc_quantized"] for e in entries]) * 100),
                                      f"{100 * np.mean([e['acc_fixed'] for e in entries]):.1f}"))
        label = f"{name} (non-spiking reference)" if name == GRU else name
        print(f"| {label} | {mean_sd(acc)} (n={len(acc)}) {deployed}| {entries[0]['recurrent_params']} | "
              f"{np.mean([e['seconds_per_epoch'] for e in entries]):.1f} |")
    print_lava_agreement(rows)


if __name__ == "__main__":
    sys.exit(main())
