"""Training throughput of the shipped CRSNN: the fused time loop against the
per-step autograd formulation it replaced, side by side in one run.

A training step (forward, loss, backward, AdamW step) of the model of a
config (default configs/demo.json) on random spike batches ``[batch, 140, T]``,
once with the blocks' fused loop (lava_convdelay.nn.cuba_recurrence) and once
with the recurrence stepped by autograd (lava_convdelay.nn.cuba_step, the
pre-fusion code path), alternating rounds; both start from the same weights
and must give identical outputs and (float) equal gradients. Reports the
median samples/s per mode and their ratio.

    .venv/bin/python bench/bench_training.py [--threads 1] [--batch 16] [--rounds 5]
"""
import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from lava_convdelay.nn.blocks import AbstractDelayRecurrent
from lava_convdelay.nn.cuba_step import stepwise_recurrence
from lava_convdelay.nn.model import SpikingNetwork
from lava_convdelay.training.config import load_config
from lava_convdelay.training.losses import LOSSES

ROOT = Path(__file__).resolve().parent.parent


def stepwise_forward(block: AbstractDelayRecurrent, x: torch.Tensor) -> torch.Tensor:
    """``block.forward`` with the recurrence stepped by autograd (no dropout)."""
    out = stepwise_recurrence(block, block.input_synapse(x))
    return torch.nn.functional.pad(out[..., :-1], (1, 0))


def use_stepwise(model: SpikingNetwork) -> SpikingNetwork:
    model = copy.deepcopy(model)
    for block in model.blocks:
        if isinstance(block, AbstractDelayRecurrent):
            block.forward = stepwise_forward.__get__(block)
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100, help="time steps per sample")
    parser.add_argument("--batches", type=int, default=4, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sigma", type=float, default=5.0, help="delay kernel spread during the bench")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = load_config(args.config)
    model = SpikingNetwork({**config["model"], "input_size": 140})
    for block in model.blocks:  # the comparison is about the loop, not dropout draws
        if isinstance(block, AbstractDelayRecurrent):
            block.rec_dropout = block.dropout = 0.0
    model.set_sigma(args.sigma)
    loss_fn = LOSSES[config["train"]["loss"]]
    x = (torch.rand(args.batches, args.batch, 140, args.steps) < 0.1).float()
    y = torch.randint(0, config["model"]["layers"][-1]["neurons"], (args.batches, args.batch))
    models = {"fused": model, "stepwise": use_stepwise(model)}

    # same spikes and gradients before timing anything
    grads = {}
    for name, m in models.items():
        m.train().zero_grad()
        out = m(x[0])
        loss_fn(out, y[0], config["train"]).backward()
        grads[name] = (out.detach(), [p.grad.clone() for p in m.parameters() if p.grad is not None])
    assert torch.equal(grads["fused"][0], grads["stepwise"][0]), "outputs differ"
    for a, b in zip(grads["fused"][1], grads["stepwise"][1]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)

    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-3) for name, m in models.items()}
    rates = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, m in models.items():
            start = time.perf_counter()
            for b in range(args.batches):
                optimizers[name].zero_grad()
                loss_fn(m(x[b]), y[b], config["train"]).backward()
                optimizers[name].step()
            rates[name].append(args.batches * args.batch / (time.perf_counter() - start))
    result = {"config": str(args.config), "threads": args.threads, "batch": args.batch, "steps": args.steps,
              "sigma": args.sigma, "samples_per_second": {k: statistics.median(v) for k, v in rates.items()},
              "rounds": rates}
    result["speedup"] = result["samples_per_second"]["fused"] / result["samples_per_second"]["stepwise"]
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
