"""Deployment-side speed at SHD size (140 -> 256 rec -> 256 rec -> 20, T = 100).

In one run:
1. Lava CPU (Loihi2SimCfg fixed_pt) steps/s for the ConvDelayRecurrent (k = 3)
   net, the DelayRecurrent net (both through sim.lava_runner's builder), and
   the delay-free dense recurrent net loaded by *stock* NetX;
2. samples/s of the batched fixed-point simulator vs Lava on the CRSNN.

    .venv/bin/python bench/bench_deploy.py [--steps 100] [--batch 256]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lava_convdelay.model import SpikingNetwork
from netx_export.exporter import blocks_to_spec, export_blocks

NEURON = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03}


def shd_model(kind: str, seed: int = 0) -> SpikingNetwork:
    torch.manual_seed(seed)
    layers = [{"type": kind, "neurons": 256, "weight_scale": 2}, {"type": kind, "neurons": 256, "weight_scale": 2},
              {"type": "dense", "neurons": 20, "weight_scale": 2}]
    for layer in layers[:2]:
        if kind != "rec":
            layer.update(max_delay=30, delay_init=[10, 30])
    return SpikingNetwork({"input_size": 140, "neuron": NEURON, "layers": layers})


def lava_steps_per_second(build, steps: int, spikes: np.ndarray) -> float:
    """Steps/s of a built network fed by a RingBuffer source, compile excluded."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    inp, out, root = build()
    source = io.source.RingBuffer(data=spikes)
    sink = io.sink.RingBuffer(shape=out.shape, buffer=steps + 1)
    source.s_out.connect(inp)
    out.connect(sink.a_in)
    config = Loihi2SimCfg(select_tag="fixed_pt")
    try:
        root.run(condition=RunSteps(num_steps=1), run_cfg=config)  # compile + first step
        start = time.perf_counter()
        root.run(condition=RunSteps(num_steps=steps), run_cfg=config)
        elapsed = time.perf_counter() - start
    finally:
        root.stop()
    return steps / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("bench/results/deploy.json"))
    args = parser.parse_args()
    from lava.lib.dl import netx
    from sim.fixed_point import simulate
    from sim.lava_network import build_network

    spikes = (np.random.default_rng(0).random((140, args.steps + 1)) < 0.05).astype(np.int8)
    results = {"steps": args.steps, "lava_steps_per_s": {}}
    specs = {}
    for name, kind in (("ConvDelayRecurrent (k=3)", "conv_delay_rec"), ("DelayRecurrent", "delay_rec")):
        spec, _ = blocks_to_spec(list(shd_model(kind).blocks))
        specs[name] = spec

        def build(spec=spec):
            net = build_network(spec)
            return net.input_port, net.output_port, net.layers[0].neuron
        results["lava_steps_per_s"][name] = lava_steps_per_second(build, args.steps, spikes)
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
    simulate(crsnn, batch[:8])  # warm-up
    start = time.perf_counter()
    simulate(crsnn, batch)
    fixed = args.batch / (time.perf_counter() - start)
    lava = results["lava_steps_per_s"]["ConvDelayRecurrent (k=3)"] / args.steps
    results["crsnn_samples_per_s"] = {"fixed-point (batch %d)" % args.batch: fixed, "lava cpu": lava}
    results["fixed_over_lava"] = fixed / lava
    rates = results["lava_steps_per_s"]
    results["conv_over_dense_delay"] = rates["ConvDelayRecurrent (k=3)"] / rates["DelayRecurrent"]
    print(json.dumps(results, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
