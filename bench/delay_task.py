"""Does the delay gradient learn? The delay-sensitive control task of issue 29.

Trains configs/delay_task.json (the class is the interval between two input
pulses, :mod:`lava_convdelay.data.delay_task`; neurons that forget within a few
steps) with each recurrent delay block (DelRec, the CRSNN, delay channels),
delays learned and frozen at the same initial values, for each seed: delays
starting in the config's [0, 4], below every interval's delay (``MODEL-learned``,
``MODEL-frozen``), and uniform over [0, 30], which covers the intervals at random
(``MODEL-learned-0-30``, ``MODEL-frozen-0-30``); and two controls: no hidden
layer (``readout-only``) and a recurrence without delays (``rsnn``). Every run
is evaluated as trained (float),
quantized, on the fixed-point simulator and, for the first seed of each learned
model, on Lava (``--lava-samples``); the delays' histograms before and after
training are compared with the delays the intervals call for (``interval - 1``).
Runs are ordinary run directories under --out and resume where a killed bench
left them.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/delay_task.py --seeds 0 1 2 --jobs 2

``--epochs 60 --variants delrec-learned delrec-frozen --out runs/delay_task_60ep
--results bench/results/delay_task_60ep.json``: the same with twice the epochs.
"""
import argparse
import copy
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lava_convdelay.app.evaluation import evaluate  # noqa: E402
from lava_convdelay.atomic import atomic_output  # noqa: E402
from lava_convdelay.nn.checkpoint import load_model, read_checkpoint  # noqa: E402
from lava_convdelay.training import load_config, normalise_config, train  # noqa: E402
from lava_convdelay.training.data_section import build_datasets  # noqa: E402
from netx_export.exporter import blocks_to_spec  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_models import print_lava_agreement  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "delay_task.json"
#: the hidden layer of each delay model (over the config's), learned and frozen
MODELS = {
    "delrec": {"type": "delay_rec"},
    "crsnn": {"type": "conv_delay_rec", "kernel_size": 3, "channels": 1},
    "delaychan": {"type": "conv_delay_channels_rec", "kernel_size": 3, "channels": 1, "delay_channels": 4},
}
#: the initial delays: the config's [0, 4], below every interval's delay (no suffix), and
#: uniform over [0, 30], which covers them at random (suffix "-0-30")
WIDE_INIT = [0, 30]
#: controls: the hidden layer (None: no hidden layer, the readout alone)
CONTROLS = {
    "readout-only": None,
    "rsnn": {"type": "rec", "drop": ("max_delay", "delay_init")},
}
#: a delay "matches" an interval I when it is within this many steps of I - 1
#: (the pulses last 2 steps)
MATCH_STEPS = 1


def variants() -> dict[str, dict | None]:
    """Variant name -> hidden-layer overrides (None: no hidden layer)."""
    table: dict[str, dict | None] = {}
    for suffix, init in (("", {}), ("-0-30", {"delay_init": WIDE_INIT})):
        for name, layer in MODELS.items():
            for kind, learn in (("learned", True), ("frozen", False)):
                table[f"{name}-{kind}{suffix}"] = {**layer, "learn_delays": learn, **init}
    table.update(CONTROLS)
    return table


def parts(variant: str) -> tuple[str, str, str]:
    """``(model, "learned" | "frozen" | "", initial delays)`` of a variant's name."""
    model, _, rest = variant.partition("-")
    kind, _, init = rest.partition("-")
    if kind not in ("learned", "frozen"):
        return variant, "", ""
    return model, kind, f"[{init.replace('-', ', ')}]" if init else "[0, 4]"


def run_config(variant: str, seed: int, epochs: int | None) -> dict:
    config = load_config(CONFIG)
    config["seed"] = seed
    if epochs:
        config["train"]["epochs"] = epochs
    layer = copy.deepcopy(variants()[variant])
    if layer is None:
        config["model"]["layers"] = config["model"]["layers"][-1:]
    else:
        hidden = config["model"]["layers"][0]
        for key in layer.pop("drop", ()):
            hidden.pop(key)
        hidden.update(layer)
    return normalise_config(config, f"{CONFIG} for {variant}")


def train_one(variant: str, seed: int, args: argparse.Namespace) -> str:
    """Train (or finish) one run; returns its directory."""
    torch.set_num_threads(1)
    config = run_config(variant, seed, args.epochs)
    run = args.out / f"{variant}-seed{seed}"
    metrics = run / "metrics.json"
    if not (metrics.exists() and len(json.loads(metrics.read_text())) >= config["train"]["epochs"]):
        train(config, run, resume=(run / "checkpoint.pt").exists(), progress=False)
    print(f"trained {run}", flush=True)
    return str(run)


def delay_match(delays: np.ndarray, intervals: list[int]) -> dict:
    """How close ``delays`` (integer steps) are to what the intervals call for (``I - 1``)."""
    targets = np.array(intervals) - 1
    distance = np.abs(delays[:, None] - targets[None, :]).min(1)
    return {"mean_distance": float(distance.mean()), "matching": float((distance <= MATCH_STEPS).mean()),
            "targets_hit": int(sum((np.abs(delays - t) <= MATCH_STEPS).any() for t in targets))}


def measure(variant: str, seed: int, args: argparse.Namespace, test_set) -> dict:
    run = args.out / f"{variant}-seed{seed}"
    model, _ = load_model(run / "checkpoint.pt")
    history = json.loads((run / "metrics.json").read_text())
    spec = blocks_to_spec(list(model.blocks))
    result = evaluate(test_set, model, spec, ("float", "quantized", "fixed"), progress=False)
    entry = {"seed": seed, **{f"acc_{k}": v for k, v in result.accuracy.items()},
             "fixed_equals_quantized": float((result.predictions["fixed"] == result.predictions["quantized"]).mean()),
             "recurrent_params": model.recurrent_param_count,
             "seconds_per_epoch": float(np.mean([h["epoch_seconds"] for h in history])),
             "curve": [h["test_accuracy"] for h in history]}
    if model.delay_blocks():
        intervals = run_config(variant, seed, args.epochs)["data"]["intervals"]
        initial = read_checkpoint(run / "checkpoint.pt")["initial_delays"][0].numpy()
        final = model.integer_delays()[0].numpy()
        entry.update(initial_delays=initial.tolist(), final_delays=final.tolist(),
                     match_initial=delay_match(initial, intervals), match_final=delay_match(final, intervals),
                     delay_moved=float(np.abs(final - initial).mean()))
    if parts(variant)[1] == "learned" and seed == args.seeds[0] and args.lava_samples:
        lava = evaluate(test_set, model, spec, ("quantized", "lava"), samples=args.lava_samples, progress=False)
        entry.update(lava_samples=lava.samples, acc_lava_subset=lava.accuracy["lava"],
                     acc_quantized_subset=lava.accuracy["quantized"],
                     lava_equals_quantized=float((lava.predictions["lava"] == lava.predictions["quantized"]).mean()))
    return entry


def gradient_magnitudes(seed: int, batch: int = 64) -> list[str]:
    """Mean absolute gradient of the loss on one training batch, per parameter group
    (delays, input weights, recurrent weights), of each delay model at its initial
    values, at sigma 10 (the first epoch), 2 and 0 (the last)."""
    from lava_convdelay.nn.model import SpikingNetwork
    from lava_convdelay.training.losses import LOSSES

    config = run_config("delrec-learned", seed, None)
    train_set = build_datasets(config["data"], progress=False)[0]
    x = torch.stack([train_set[i][0] for i in range(batch)])
    y = torch.tensor([train_set[i][1] for i in range(batch)])
    lines = ["| model | sigma | hidden spikes / neuron / sample | delays | input weights | recurrent weights |",
             "|---|---:|---:|---:|---:|---:|"]
    for model_name in MODELS:
        config = run_config(f"{model_name}-learned", seed, None)
        torch.manual_seed(seed)
        model = SpikingNetwork({**config["model"], "input_size": x.shape[1]}).train()
        block = model.blocks[0]
        for sigma in (10.0, 2.0, 0.0):
            model.zero_grad()
            model.set_sigma(sigma)
            hidden, output = model(x, all_layers=True)
            LOSSES[config["train"]["loss"]](output, y, config["train"]).backward()
            grads = [p.grad.abs().mean().item() for p in (model.delay_parameters()[0], block.input_synapse.weight,
                                                          block.recurrent_synapse.weight)]
            lines.append(f"| {model_name} | {sigma:g} | {hidden.sum(-1).mean().item():.2f} | "
                         + " | ".join(f"{g:.1e}" for g in grads) + " |")
    return lines


def mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.1f}" + (f" ± {values.std(ddof=1):.1f}" if len(values) > 1 else "")


def table(rows: dict[str, list[dict]]) -> list[str]:
    """The markdown table: accuracy per variant; learned minus frozen per model."""
    lines = ["| model | initial delays | delays | test acc. % (mean ± s.d.) | quantized % | fixed-point % | "
             "learned - frozen (points) | delays within 1 step of an interval - 1: before -> after | "
             "recurrent params |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for variant, entries in rows.items():
        model, kind, init = parts(variant)
        acc = [100 * e["acc_float"] for e in entries]
        gain = ""
        frozen_variant = variant.replace("-learned", "-frozen")
        if kind == "learned" and frozen_variant in rows:
            frozen = {e["seed"]: 100 * e["acc_float"] for e in rows[frozen_variant]}
            gain = mean_sd([100 * e["acc_float"] - frozen[e["seed"]] for e in entries if e["seed"] in frozen])
        match = ""
        if "match_final" in entries[0]:
            match = (f"{100 * np.mean([e['match_initial']['matching'] for e in entries]):.0f} % -> "
                     f"{100 * np.mean([e['match_final']['matching'] for e in entries]):.0f} %")
        lines.append(f"| {model} | {init or '-'} | {kind or '(control)'} | {mean_sd(acc)} (n={len(acc)}) | "
                     f"{mean_sd([100 * e['acc_quantized'] for e in entries])} | "
                     f"{mean_sd([100 * e['acc_fixed'] for e in entries])} | {gain} | {match} | "
                     f"{entries[0]['recurrent_params']} |")
    return lines


def plot(rows: dict[str, list[dict]], intervals: list[int], path: Path) -> None:
    """Accuracy of learned vs frozen delays (and the controls) and, per model, the
    delays before and after training (all seeds pooled), the intervals' delays marked."""
    models = [m for m in MODELS if f"{m}-learned" in rows]
    fig, axes = plt.subplots(1, 1 + len(models), figsize=(4.2 * (1 + len(models)), 3.4), squeeze=False)
    ax = axes[0, 0]
    names = list(rows)
    for i, name in enumerate(names):
        acc = [100 * e["acc_float"] for e in rows[name]]
        kind = parts(name)[1]
        colour = "C0" if kind == "learned" else "C1" if kind == "frozen" else "grey"
        ax.bar(i, np.mean(acc), color=colour, alpha=0.6)
        ax.scatter([i] * len(acc), acc, color="k", s=8, zorder=3)
    ax.axhline(100 / len(intervals), color="k", linestyle=":", linewidth=1, label="chance")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set(ylabel="test accuracy (%)", ylim=(0, 100), title="learned (blue) vs frozen (orange)")
    ax.legend(fontsize=7)
    for ax, model in zip(axes[0, 1:], models):
        entries = rows[f"{model}-learned"]
        top = max(max(e["final_delays"] + e["initial_delays"]) for e in entries)
        bins = np.arange(-0.5, top + 1.5)
        ax.hist(np.concatenate([e["initial_delays"] for e in entries]), bins=bins, histtype="step", color="k",
                label="initial (= frozen)")
        ax.hist(np.concatenate([e["final_delays"] for e in entries]), bins=bins, color="C0", alpha=0.6,
                label="learned")
        for target in np.array(intervals) - 1:
            ax.axvline(target, color="C3", linestyle="--", linewidth=1)
        ax.set(title=f"{model}: delays, {len(entries)} seeds (red: interval - 1)", xlabel="delay (steps)",
               ylabel="count")
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--variants", nargs="+", default=list(variants()), choices=list(variants()))
    parser.add_argument("--lava-samples", type=int, default=20,
                        help="test samples run on Lava for the first seed of each learned model (0: none)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained side by side (one thread each)")
    parser.add_argument("--out", type=Path, default=Path("runs/delay_task"))
    parser.add_argument("--gradients", action="store_true",
                        help="print the mean absolute gradient per parameter group of each delay model at its "
                             "initial values (first seed) and stop")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "delay_task.json",
                        help="the JSON; the plot goes beside it (.png)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None):
    args = parse_args(argv)
    torch.set_num_threads(1)  # no OpenMP pool in this process before the workers are forked
    if args.gradients:
        print("\n".join(gradient_magnitudes(args.seeds[0])))
        return
    jobs = [(variant, seed) for variant in args.variants for seed in args.seeds]
    if args.jobs > 1:
        # fork, not spawn: importing lava sets the start method to fork (bench_models.py)
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("fork")) as pool:
            list(pool.map(train_one, *zip(*[(v, s, args) for v, s in jobs])))
    else:
        for variant, seed in jobs:
            train_one(variant, seed, args)
    config = run_config(args.variants[0], args.seeds[0], args.epochs)
    test_set = build_datasets(config["data"], progress=False)[1]
    rows: dict[str, list[dict]] = {}
    for variant, seed in jobs:
        entry = measure(variant, seed, args, test_set)
        rows.setdefault(variant, []).append(entry)
        print(variant, {k: v for k, v in entry.items() if not isinstance(v, list)}, flush=True)
    intervals = config["data"]["intervals"]
    lines = table(rows)
    with atomic_output(args.results) as tmp:
        tmp.write_text(json.dumps({"command": " ".join(sys.argv), "config": str(CONFIG.relative_to(ROOT)),
                                   "epochs": config["train"]["epochs"], "intervals": intervals,
                                   "match_steps": MATCH_STEPS, "table": lines, "rows": rows}, indent=1))
    plot(rows, intervals, args.results.with_suffix(".png"))
    print("\n".join(lines))
    print_lava_agreement(rows)
    print(f"wrote {args.results} and {args.results.with_suffix('.png')}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
