"""Deployment-side speed at SHD size (140 -> 256 rec -> 256 rec -> 20, T = 100).

In one run:
1. Lava CPU (Loihi2SimCfg fixed_pt, Lava's stock process models) steps/s for
   the ConvDelayRecurrent (k = 3) net, the DelayRecurrent net (both through
   sim.lava_network's builder), and the delay-free dense recurrent net loaded
   by *stock* NetX;
2. CRSNN samples/s of the batched fixed-point simulator (sim.fixed_point, on
   one thread and on NUMBA_NUM_THREADS threads, default: all cores) side by
   side with Lava CPU on the same network: with Lava's stock
   fixed-point models and with the runner's faster CPU models
   (sim.cpu.models), both as steps/s / T, and end to end through
   LavaRunner.run_many (what `lava-convdelay simulate` runs: faster models,
   samples back to back). Compilation is excluded everywhere. The variants
   run round-robin ``--rounds`` times (medians), so load changes on a shared
   machine hit all of them; the simulator's output is checked spike for
   spike against run_many's.

    .venv/bin/python bench/bench_deploy.py [--steps 100] [--batch 256] [--rounds 3]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import torch

from lava_convdelay.nn.model import SpikingNetwork
from netx_export.exporter import blocks_to_spec, export_blocks

NEURON = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03}
STOCK = "Lava, stock models"
FAST = "Lava, faster models"
RUN_MANY = "Lava, run_many"
VARIANTS = {
    STOCK: "Lava CPU, Loihi2SimCfg(select_tag='fixed_pt') with Lava's stock process models: steps/s / T",
    FAST: "Lava CPU, the runner's faster CPU models (sim.cpu.models, CpuBackend().run_config()): steps/s / T",
    RUN_MANY: "Lava CPU, LavaRunner.run_many's loop (what `lava-convdelay simulate` runs; faster models, "
              "samples back to back, state reset between them): samples/s",
}


def shd_model(kind: str, seed: int = 0) -> SpikingNetwork:
    torch.manual_seed(seed)
    layers = [{"type": kind, "neurons": 256, "weight_scale": 2}, {"type": kind, "neurons": 256, "weight_scale": 2},
              {"type": "dense", "neurons": 20, "weight_scale": 2}]
    for layer in layers[:2]:
        if kind != "rec":
            layer.update(max_delay=30, delay_init=[10, 30])
    return SpikingNetwork({"input_size": 140, "neuron": NEURON, "layers": layers})


def lava_steps_per_second(build, steps: int, spikes: np.ndarray, config=None) -> float:
    """Steps/s of a built network fed by a RingBuffer source, compile excluded;
    ``config`` defaults to Lava's stock fixed-point models."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    inp, out, root = build()
    source = io.source.RingBuffer(data=spikes)
    sink = io.sink.RingBuffer(shape=out.shape, buffer=steps + 1)
    source.s_out.connect(inp)
    out.connect(sink.a_in)
    config = config or Loihi2SimCfg(select_tag="fixed_pt")
    try:
        root.run(condition=RunSteps(num_steps=1), run_cfg=config)  # compile + first step
        start = time.perf_counter()
        root.run(condition=RunSteps(num_steps=steps), run_cfg=config)
        elapsed = time.perf_counter() - start
    finally:
        root.stop()
    return steps / elapsed


def run_many_samples_per_second(spec, batch: np.ndarray) -> tuple[float, np.ndarray]:
    """Samples/s of LavaRunner.run_many's loop (one compiled network, samples
    back to back), timed from the end of the first sample (which compiles) to
    the end of the last; and the outputs."""
    from sim.cpu.runner import LavaRunner

    class Clock:  # in place of run_many's progress bar: when each sample ends
        ends = []

        def update(self, _):
            self.ends.append(time.perf_counter())
    clock = Clock()
    results = LavaRunner(spec)._run_chunk(batch, False, False, 0, clock)
    return (len(batch) - 1) / (clock.ends[-1] - clock.ends[0]), np.stack([r.output for r in results])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256, help="samples per fixed-point simulator call")
    parser.add_argument("--rounds", type=int, default=3, help="round-robin repetitions of the CRSNN variants")
    parser.add_argument("--lava-samples", type=int, default=4, help="samples per run_many measurement (>= 2)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/deploy.json"))
    args = parser.parse_args()
    from lava.lib.dl import netx

    from sim.cpu.runner import CpuBackend
    from sim.fixed_point import simulate
    from sim.lava_network import build_network

    spikes = (np.random.default_rng(0).random((140, args.steps + 1)) < 0.05).astype(np.int8)
    results = {"steps": args.steps, "batch": args.batch, "rounds": args.rounds, "cpus": os.cpu_count(),
               "load_average_1min_start": os.getloadavg()[0], "lava_steps_per_s": {}}
    specs = {}
    for name, kind in (("ConvDelayRecurrent (k=3)", "conv_delay_rec"), ("DelayRecurrent", "delay_rec")):
        specs[name] = blocks_to_spec(list(shd_model(kind).blocks))

    def ours(spec):
        def build():
            net = build_network(spec)
            return net.input_port, net.output_port, net.layers[0].neuron
        return build

    name = "DelayRecurrent"
    results["lava_steps_per_s"][name] = lava_steps_per_second(ours(specs[name]), args.steps, spikes)
    print(name, f"{results['lava_steps_per_s'][name]:.1f} steps/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rsnn.h5"
        export_blocks(list(shd_model("rec").blocks), path)

        def build_stock():
            net = netx.hdf5.Network(str(path))
            return net.inp, net.out, net
        name = "no delays, dense_rec (stock NetX)"
        results["lava_steps_per_s"][name] = lava_steps_per_second(build_stock, args.steps, spikes)
        print(name, f"{results['lava_steps_per_s'][name]:.1f} steps/s", flush=True)

    crsnn = specs["ConvDelayRecurrent (k=3)"]
    batch = (np.random.default_rng(1).random((args.batch, 140, args.steps)) < 0.05).astype(np.int8)
    threads = sorted({1, numba.config.NUMBA_NUM_THREADS})
    fixed_names = {k: f"fixed point, {k} thread{'s' * (k > 1)}" for k in threads}
    results["variants"] = {**{name: f"sim.fixed_point.simulate, one call on {args.batch} samples, "
                                    f"numba.set_num_threads({k})" for k, name in fixed_names.items()}, **VARIANTS}
    simulate(crsnn, batch[:8])  # compiles (or loads numba's cache)
    measured = {**{name: [] for name in fixed_names.values()}, STOCK: [], FAST: [], RUN_MANY: []}
    for round_ in range(args.rounds):
        for k, name in fixed_names.items():
            numba.set_num_threads(k)
            start = time.perf_counter()
            fixed = simulate(crsnn, batch)
            measured[name].append(args.batch / (time.perf_counter() - start))
        measured[STOCK].append(lava_steps_per_second(ours(crsnn), args.steps, spikes) / args.steps)
        measured[FAST].append(lava_steps_per_second(ours(crsnn), args.steps, spikes,
                                                    CpuBackend().run_config()) / args.steps)
        rate, lava_out = run_many_samples_per_second(crsnn, batch[:args.lava_samples])
        measured[RUN_MANY].append(rate)
        assert np.array_equal(fixed.output[:args.lava_samples], lava_out), "fixed point != Lava"
        print(f"round {round_ + 1}: " + ", ".join(f"{v[-1]:.2f}" for v in measured.values()) + " samples/s",
              flush=True)
    rates = results["crsnn_samples_per_s"] = {k: statistics.median(v) for k, v in measured.items()}
    results["lava_steps_per_s"]["ConvDelayRecurrent (k=3)"] = rates[STOCK] * args.steps
    results["fixed_point_equals_lava_on_samples"] = args.lava_samples
    results["fixed_over_lava"] = {f"{fixed} / {lava}": rates[fixed] / rates[lava]
                                  for fixed in fixed_names.values() for lava in (STOCK, FAST, RUN_MANY)}
    steps = results["lava_steps_per_s"]
    results["conv_over_dense_delay"] = steps["ConvDelayRecurrent (k=3)"] / steps["DelayRecurrent"]
    results["load_average_1min_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
