"""Results table on the embedded spoken digits: CRSNN, DelRec, RSNN, ablations.

Trains every config of configs/ (optionally scaled down: --neurons, --epochs)
for each seed, then reports test accuracy (mean and spread), recurrent
parameters, training time per epoch, and for the CRSNN the quantized,
fixed-point and Lava accuracies.

    .venv/bin/python bench/bench_models.py --neurons 128 --epochs 8 --seeds 0 1 2 --lava-samples 40
"""
import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

from lava_convdelay.data_setup import build_datasets
from lava_convdelay.evaluate import evaluate
from lava_convdelay.train import load_config, train
from netx_export.exporter import blocks_to_spec

CONFIGS = ["crsnn", "delrec", "rsnn", "crsnn_no_delay", "crsnn_fixed_delay"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, help="hidden layer size override")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--lava-samples", type=int, default=40)
    parser.add_argument("--configs", nargs="+", default=CONFIGS)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_models"))
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    rows = {}
    data = None
    for name in args.configs:
        base = load_config(root / "configs" / f"{name}.json")
        if data is None:
            data = build_datasets(base["data"], progress=True)
        for seed in args.seeds:
            config = copy.deepcopy(base)
            config["seed"] = seed
            if args.epochs:
                config["train"]["epochs"] = args.epochs
            if args.neurons:
                for layer in config["model"]["layers"][:-1]:
                    layer["neurons"] = args.neurons
            run = args.out / f"{name}-seed{seed}"
            done = (run / "metrics.json").exists() and \
                len(json.loads((run / "metrics.json").read_text())) >= config["train"]["epochs"]
            if done:
                from lava_convdelay.checkpoint import load_model
                model, _ = load_model(run / "checkpoint.pt")
            else:
                model = train(config, run, resume=(run / "checkpoint.pt").exists(), progress=False,
                              datasets=data)
            history = json.loads((run / "metrics.json").read_text())
            backends = ("float", "quantized", "fixed")
            spec, _ = blocks_to_spec(list(model.blocks))
            result = evaluate(data[1], model, spec, backends, progress=False)
            entry = {"seed": seed, **{f"acc_{k}": v for k, v in result.accuracy.items()},
                     "recurrent_params": model.recurrent_param_count,
                     "seconds_per_epoch": float(np.mean([h["epoch_seconds"] for h in history]))}
            if name == "crsnn" and args.lava_samples:
                lava = evaluate(data[1], model, spec, ("quantized", "lava"), samples=args.lava_samples,
                                progress=False)
                entry["lava_samples"] = lava.samples
                entry["acc_lava_subset"] = lava.accuracy["lava"]
                entry["acc_quantized_subset"] = lava.accuracy["quantized"]
            rows.setdefault(name, []).append(entry)
            print(name, json.dumps(entry), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    print("\n| model | test acc. % (mean ± std) | quantized % | recurrent params | s / epoch |")
    print("|---|---:|---:|---:|---:|")
    for name, entries in rows.items():
        acc = np.array([e["acc_float"] for e in entries]) * 100
        quant = np.array([e["acc_quantized"] for e in entries]) * 100
        print(f"| {name} | {acc.mean():.2f} ± {acc.std():.2f} (n={len(acc)}) | {quant.mean():.2f} | "
              f"{entries[0]['recurrent_params']} | {np.mean([e['seconds_per_epoch'] for e in entries]):.1f} |")


if __name__ == "__main__":
    sys.exit(main())
