"""CLI: ``demo``, the main job: spoken digits -> CRSNN -> NetX HDF5 -> Lava, in one command.

    make demo            (= lava-convdelay demo --out runs/demo)

Generates (or reuses) the embedded spoken-digit data, trains the CRSNN of
``configs/demo.json``, exports it, runs test samples on the Lava CPU
simulator and prints float / quantized / fixed-point / Lava accuracy, the
Lava-vs-quantized spike agreement per layer and the recurrent parameter
count. Everything lands in the run directory (checkpoint, metrics, plots,
``crsnn.h5``, ``summary.json``). Re-running resumes an unfinished run.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from lava_convdelay.atomic import atomic_output

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo.json"


def run(out: Path, config_path: Path, lava_samples: int, epochs: int | None) -> dict:
    from lava_convdelay.app.agreement import spike_agreement
    from lava_convdelay.app.evaluation import evaluate
    from lava_convdelay.app.runs import export_checkpoint
    from lava_convdelay.bounds import Bounds, check_value
    from lava_convdelay.nn.checkpoint import load_model, read_checkpoint
    from lava_convdelay.training import load_config, normalise_config, train
    from lava_convdelay.training.data_section import build_datasets
    from netx_export.reader import read_network

    start = time.perf_counter()
    config = load_config(config_path)
    if epochs is not None:
        config["train"]["epochs"] = epochs
        config = normalise_config(config, f"{config_path} with --epochs")
    check_value(lava_samples, "--lava-samples", Bounds(True, 1))
    print("== data: embedded spoken digits (generated on first use, then cached)", flush=True)
    train_set, test_set = build_datasets(config["data"], progress=True)
    print(f"   {len(train_set)} training / {len(test_set)} test samples, "
          f"{train_set.channels} channels x {train_set[0][0].shape[1]} steps", flush=True)
    checkpoint = out / "checkpoint.pt"
    done = checkpoint.exists() and read_checkpoint(checkpoint)["epoch"] + 1 >= config["train"]["epochs"]
    if not done:
        print("== training the CRSNN", flush=True)
        train(config, out, resume=checkpoint.exists(), progress=True, datasets=(train_set, test_set))
    model, state = load_model(checkpoint)
    print("== export", flush=True)
    network = out / "crsnn.h5"
    export_checkpoint(checkpoint, network)
    spec = read_network(network)
    print(f"== evaluation ({lava_samples} test samples on Lava; fixed-point on the whole test set)", flush=True)
    full = evaluate(test_set, model, spec, backends=("float", "quantized", "fixed"), progress=False)
    sub = evaluate(test_set, model, spec, backends=("quantized", "lava"), samples=lava_samples)
    spikes = torch.stack([test_set[i][0] for i in range(sub.samples)]).numpy().astype(np.int8)
    last = state["history"][-1]
    rows, _ = spike_agreement(model, spec, spikes)
    summary = {
        "test_samples": len(test_set),
        "accuracy_whole_test_set": full.accuracy,
        "lava_samples": sub.samples,
        "accuracy_lava_subset": sub.accuracy,
        "lava_vs_quantized_spike_agreement": [r[0] for r in rows],
        "recurrent_parameters": model.recurrent_param_count,
        "delay_movement": {key: last[key] for key in ("delay_moved", "delays_changed") if key in last},
        "seconds": time.perf_counter() - start,
    }
    with atomic_output(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    print()
    print(f"CRSNN on embedded spoken digits ({len(test_set)} test samples)")
    print(f"  float accuracy (as trained)          {100 * full.accuracy['float']:6.2f} %")
    print(f"  quantized accuracy (8-bit, int delay) {100 * full.accuracy['quantized']:6.2f} %")
    print(f"  fixed-point simulator (= Lava)        {100 * full.accuracy['fixed']:6.2f} %")
    print(f"  Lava CPU, first {sub.samples} samples          {100 * sub.accuracy['lava']:6.2f} %   "
          f"(quantized on the same samples: {100 * sub.accuracy['quantized']:.2f} %)")
    agreement = ", ".join(f"layer {i}: {100 * r[0]:.2f} %" for i, r in enumerate(rows, start=1))
    print(f"  Lava vs quantized spikes              {agreement}")
    print(f"  recurrent parameters                  {model.recurrent_param_count}")
    if summary["delay_movement"]:
        print(f"  learned delays vs their initial ones  moved {last['delay_moved']:.2f} steps on average, "
              f"{100 * last['delays_changed']:.0f} % changed (plots/delays.png)")
    print(f"  run directory                         {out} (plots in {out / 'plots'})")
    print(f"  total time                            {summary['seconds'] / 60:.1f} min")
    return summary


def run_demo(args: argparse.Namespace) -> int:
    run(args.out, args.config, args.lava_samples, args.epochs)
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="the main job: embedded spoken digits -> CRSNN -> NetX HDF5 -> "
                                                "Lava (make demo)", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory (default runs/demo)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="training config (default configs/demo.json)")
    parser.add_argument("--lava-samples", type=int, default=20, help="test samples run on Lava (default 20)")
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.set_defaults(func=run_demo)
