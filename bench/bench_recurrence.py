"""Recurrent block speed at SHD size (N = 256, in = 140, T = 100).

Times, in one run: DelayRecurrent, ConvDelayRecurrent (k = 3), the same block
without delays, and DelRec's reference algorithm (bench/delrec_reference.py),
for training (forward + backward, sigma = 10) and integer-mode inference
(sigma = 0, no autograd), at batch 32 and 1. Delays uniform in [10, 30].

    .venv/bin/python bench/bench_recurrence.py [--repeats 3] [--out bench/results/recurrence.json]
"""
import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from delrec_reference import reference_forward  # noqa: E402

from lava_convdelay.nn.blocks import ConvDelayRecurrent, DelayRecurrent  # noqa: E402

NEURON = dict(threshold=1.0, current_decay=0.25, voltage_decay=0.03)
N, IN, T = 256, 140, 100


def make_blocks():
    torch.manual_seed(0)
    blocks = {
        "DelayRecurrent": DelayRecurrent(NEURON, IN, N, weight_scale=2, max_delay=30, delay_init=(10, 30)),
        "ConvDelayRecurrent(k=3)": ConvDelayRecurrent(NEURON, IN, N, kernel_size=3, weight_scale=2,
                                                      max_delay=30, delay_init=(10, 30)),
        "no delays (dense)": DelayRecurrent(NEURON, IN, N, weight_scale=2, delays=False),
    }
    return blocks


def timed(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def train_step(forward, block, x):
    def run():
        block.zero_grad()
        forward(x).sum().backward()
    return run


def infer(forward, x):
    def run():
        with torch.no_grad():
            forward(x)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/results/recurrence.json"))
    args = parser.parse_args()

    blocks = make_blocks()
    dense = blocks["DelayRecurrent"]
    results = {"machine": platform.processor() or platform.machine(),
               "threads": torch.get_num_threads(), "torch": torch.__version__, "rows": []}
    for batch in (32, 1):
        x = (torch.rand(batch, IN, T, generator=torch.Generator().manual_seed(batch)) < 0.05).float()
        for mode, sigma in (("train fwd+bwd (sigma=10)", 10.0), ("inference (integer)", 0.0)):
            for block in blocks.values():
                block.set_sigma(sigma)
            row = {"batch": batch, "mode": mode, "seconds": {}}
            make = (lambda f, b, x=x: train_step(f, b, x)) if sigma > 0 else (lambda f, b, x=x: infer(f, x))
            for name, block in blocks.items():
                row["seconds"][name] = timed(make(block, block), args.repeats)
            ref = lambda inp: reference_forward(dense, inp)  # noqa: E731
            row["seconds"]["DelRec reference"] = timed(make(ref, dense), args.reference_repeats)
            with torch.no_grad():  # same model, same spikes
                ours, theirs = dense(x), reference_forward(dense, x)
            row["spike_agreement_vs_reference"] = (ours == theirs).float().mean().item()
            secs = row["seconds"]
            row["speedup_vs_reference"] = {k: secs["DelRec reference"] / v for k, v in secs.items()}
            row["vs_no_delays"] = {k: v / secs["no delays (dense)"] for k, v in secs.items()}
            results["rows"].append(row)
            print(json.dumps(row, indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
