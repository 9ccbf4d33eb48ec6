"""How the recurrent blocks scale with the layer size N (issue 25).

Training step (forward + backward, sigma = 10) and integer inference (sigma =
0, eval, no autograd) of the conv-delay block (CRSNN: ``ConvDelayRecurrent``,
k = 3, C = 1), the delay-channel form (``DelayChannelConvRecurrent``, k = 5,
C = 4, D = 8, the design notes' setting), DelRec (``DelayRecurrent``) and the
delay-free dense block (``DelayRecurrent(delays=False)``) at each N, batch 16, T = 100, 140 inputs,
delays uniform in [10, 30], one thread. Scopes: the whole block (its
140-input synapse included, the same for all three), its recurrence alone
(``forward_current`` from a fixed input current, computed as the block's own
forward computes it in that mode: SLAYER's synapse in training, the
time-major one of :mod:`lava_convdelay.nn.time_major` in inference), and, for inference, the
exported one-layer network in the fixed-point simulator (``sim.fixed_point``,
what ``evaluate`` runs). The blocks alternate within each repeat (order
rotated), and the medians are reported, with the ratios DelRec / conv,
DelRec / delay channels and dense / conv and, per block, the exponent of time per step between the last
two sizes.

``--crossover`` instead times the conv block's two products (taps and banded
matrix, :mod:`lava_convdelay.nn.recurrent_synapse`) against each other at small
N, recurrence scope, to place ``TAP_COST``.

    .venv/bin/python bench/bench_scaling.py [--sizes 256 1024 4096] [--repeats 5] \\
        [--modes inference train] [--out bench/results/scaling.json]
    .venv/bin/python bench/bench_scaling.py --crossover [--out bench/results/scaling_crossover.json]
"""
import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import torch
from tqdm import tqdm

from lava_convdelay.atomic import atomic_output
from lava_convdelay.nn.blocks import ConvDelayRecurrent, DelayChannelConvRecurrent, DelayRecurrent
from lava_convdelay.nn.recurrent_synapse import TAP_COST, conv_prefers_dense
from netx_export.exporter import blocks_to_spec
from sim.fixed_point import simulate

NEURON = dict(threshold=1.0, current_decay=0.25, voltage_decay=0.03)
INPUTS, TRAIN_SIGMA = 140, 10.0
CHANNELS = "delay channels (k=5 C=4 D=8)"
CASES = [("inference", "recurrence"), ("inference", "block"), ("inference", "simulator"),
         ("train", "recurrence"), ("train", "block")]


def make_blocks(n: int) -> dict:
    torch.manual_seed(0)
    delays = dict(max_delay=30, delay_init=(10, 30))
    return {
        "conv-delay (CRSNN k=3 C=1)": ConvDelayRecurrent(NEURON, INPUTS, n, kernel_size=3, weight_scale=2, **delays),
        CHANNELS: DelayChannelConvRecurrent(NEURON, INPUTS, n, kernel_size=5, channels=4, delay_channels=8,
                                            weight_scale=2, max_delay=30),
        "DelRec": DelayRecurrent(NEURON, INPUTS, n, weight_scale=2, **delays),
        "dense, no delays": DelayRecurrent(NEURON, INPUTS, n, weight_scale=2, delays=False),
    }


def timer(block, x: torch.Tensor, mode: str, scope: str):
    """A function timing one call of ``block`` in ``mode`` ("train" or
    "inference") and ``scope`` ("block", "recurrence" or "simulator"), seconds."""
    with torch.no_grad():  # the current the block's own forward feeds its loop in that mode
        z = block.input_synapse(x) if mode == "train" else block.input_current(x)
    if scope == "simulator":
        block.set_sigma(0.0)
        spec, spikes = blocks_to_spec([block.eval()]), x.numpy().astype("uint8")

        def simulated() -> float:
            start = time.perf_counter()
            simulate(spec, spikes)
            return time.perf_counter() - start
        return simulated

    def run() -> float:
        block.set_sigma(TRAIN_SIGMA if mode == "train" else 0.0)
        block.train(mode == "train")
        start = time.perf_counter()
        if mode == "train":
            block.zero_grad()
            out = block(x) if scope == "block" else block.forward_current(z.detach().requires_grad_())
            out.sum().backward()
        else:
            with torch.no_grad():
                block(x) if scope == "block" else block.forward_current(z)
        return time.perf_counter() - start
    return run


def scaling(args) -> dict:
    rows = []
    cases = [(mode, scope) for mode, scope in CASES if mode in args.modes]
    for n in args.sizes:
        blocks = make_blocks(n)
        x = (torch.rand(args.batch, INPUTS, args.steps, generator=torch.Generator().manual_seed(n)) < 0.05).float()
        times = {(mode, scope, name): [] for mode, scope in cases for name in blocks}
        runs = {key: timer(blocks[key[2]], x, key[0], key[1]) for key in times}
        for run in runs.values():  # warm up (compilation, allocator)
            run()
        for r in tqdm(range(args.repeats), desc=f"N={n}"):
            names = list(blocks)
            names = names[r % len(names):] + names[:r % len(names)]
            for mode, scope in cases:
                for name in names:
                    times[mode, scope, name].append(runs[mode, scope, name]())
        for mode, scope in cases:
            seconds = {name: statistics.median(times[mode, scope, name]) for name in blocks}
            conv = seconds["conv-delay (CRSNN k=3 C=1)"]
            row = {"N": n, "mode": mode, "scope": scope, "seconds": seconds,
                   "runs": {name: times[mode, scope, name] for name in blocks},
                   "DelRec / conv": seconds["DelRec"] / conv,
                   "DelRec / delay channels": seconds["DelRec"] / seconds[CHANNELS],
                   "dense no delays / conv": seconds["dense, no delays"] / conv,
                   "conv product": "dense" if conv_prefers_dense(n, 1, 3) else "taps"}
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
    exponents = []
    if len(args.sizes) >= 2:
        small, large = args.sizes[-2], args.sizes[-1]
        for mode, scope in cases:
            pick = {r["N"]: r["seconds"] for r in rows if r["mode"] == mode and r["scope"] == scope}
            exponents.append({"mode": mode, "scope": scope, "from": small, "to": large,
                              "exponent": {name: math.log(pick[large][name] / pick[small][name])
                                           / math.log(large / small) for name in pick[large]}})
            print(json.dumps(exponents[-1]), flush=True)
    return {"rows": rows, "exponents": exponents}


def crossover(args) -> dict:
    rows = []
    shapes = [(1, 3), (4, 5)]
    for batch in args.crossover_batches:
        for n in args.crossover_sizes:
            for channels, size in shapes:
                torch.manual_seed(0)
                block = ConvDelayRecurrent(NEURON, INPUTS, n, kernel_size=size, channels=channels, weight_scale=2,
                                           max_delay=30, delay_init=(10, 30))
                x = (torch.rand(batch, INPUTS, args.steps, generator=torch.Generator().manual_seed(n)) < 0.05).float()
                for mode in ("inference", "train"):
                    run = timer(block, x, mode, "recurrence")
                    times = {"taps": [], "dense": []}
                    for product in times:
                        block.recurrent_synapse.product = product
                        run()
                    for _ in range(args.repeats):
                        for product in times:
                            block.recurrent_synapse.product = product
                            times[product].append(run())
                    seconds = {k: statistics.median(v) for k, v in times.items()}
                    row = {"batch": batch, "N": n, "channels": channels, "kernel_size": size, "mode": mode,
                           "seconds": seconds, "dense / taps": seconds["dense"] / seconds["taps"]}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    return {"rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=["inference", "train"], default=["inference", "train"],
                        help="time only these (DelRec's training step at N = 4096 takes minutes)")
    parser.add_argument("--crossover", action="store_true", help="time the conv block's two products instead")
    parser.add_argument("--crossover-sizes", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512])
    parser.add_argument("--crossover-batches", type=int, nargs="+", default=[16, 1])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    result = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
              "torch": torch.__version__, "batch": args.batch, "steps": args.steps, "inputs": INPUTS,
              "repeats": args.repeats, "tap_cost": TAP_COST, "command": " ".join(sys.argv)}
    result.update(crossover(args) if args.crossover else scaling(args))
    out = args.out or Path("bench/results") / ("scaling_crossover.json" if args.crossover else "scaling.json")
    with atomic_output(out) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
