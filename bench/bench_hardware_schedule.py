"""Per-sample agreement of the Loihi 2 schedule with each sample's exact result.

For each trained run directory (or network file with --data), the first
``--samples`` test samples run through the hardware graph on its CPU
rehearsal (``deploy --backend cpu``: Loihi2SimCfg fixed_pt, Lava's own
models, LIFReset between samples up to ``--max-reset-interval`` and the host's
Var.set of u, v beyond, as ``--reset`` says) at

- the planned period (sim.loihi2.schedule.plan: the shortest power of 2 without
  leaks at the margin, up to 3 doublings), and
- the shortest period (``sim.loihi2.schedule.shortest_period``: input + layers +
  largest delay, no check of the activity), and
- a tight period: the smallest power of 2 that holds the input and the
  latency allowance (silent steps fewer than the delays: leaks expected),

and each sample's output spikes and output voltage are compared with the
sample run alone from rest (the fixed-point simulator, bit-exact with Lava).
Reported per network and period: the samples the plan predicts exposed to
the previous sample's activity, the samples whose spikes / voltage are
equal in every column, the fraction of equal entries, and equal decisions
(most output spikes).

    .venv/bin/python bench/bench_hardware_schedule.py runs/demo [runs/delrec ...] [--samples 40]
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from lava_convdelay.app.evaluation import load_target
from lava_convdelay.limits import MAX_RESET_INTERVAL
from sim.fixed_point import simulate
from sim.graph_options import DELAYED_SYNAPSES, RESETS
from sim.loihi2.runner import HardwareRunner, compare_with_exact
from sim.loihi2.schedule import LATENCY_ALLOWANCE, shortest_period


def measure(spec, x: np.ndarray, period: int | None, delayed_synapse: str, reset: str, max_interval: int) -> dict:
    runner = HardwareRunner(spec, "cpu", delayed_synapse, reset=reset, max_interval=max_interval)
    start = time.perf_counter()
    results = runner.run_many(x, record_voltage=True, period=period)
    seconds = time.perf_counter() - start
    plan = runner.last_plan
    exact = simulate(runner.spec, x, record_voltage=True)
    agreement = compare_with_exact(runner.spec, x, results)
    voltage = np.stack([r.voltage for r in results])
    output = np.stack([r.output for r in results])
    return {
        "period": plan.schedule.period,
        "host_reset": plan.schedule.host_reset,
        "exposed": plan.exposed.tolist(),
        "spikes_equal_samples": int((output == exact.output).all(axis=(1, 2)).sum()),
        "spike_entries_equal": float((output == exact.output).mean()),
        "voltage_equal_samples": int((voltage == exact.voltage).all(axis=(1, 2)).sum()),
        "voltage_entries_equal": float((voltage == exact.voltage).mean()),
        "decisions_equal": agreement.decisions,
        "unexposed_all_equal": bool(agreement.equal[np.setdiff1d(np.arange(len(x)), plan.exposed)].all()),
        "seconds_per_sample": seconds / len(x),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="+", type=Path, help="run directories (or network files with --data)")
    parser.add_argument("--data", type=Path, help="SHD-format test file for network files")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--delayed-synapse", choices=DELAYED_SYNAPSES, default="dense",
                        help="process(es) of the delayed recurrence (sim/lava_network.py)")
    parser.add_argument("--reset", choices=RESETS, default="auto", help="between samples (sim/loihi2/schedule.py)")
    parser.add_argument("--max-reset-interval", type=int, default=MAX_RESET_INTERVAL)
    parser.add_argument("--out", type=Path, default=Path("bench/results/hardware_schedule.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {"samples": args.samples, "networks": {}}
    for target in args.targets:
        _, spec, test = load_target(target, args.data)
        x = torch.stack([test[i][0] for i in range(min(args.samples, len(test)))]).numpy().astype(np.int8)
        rows = results["networks"][str(target)] = {}
        steps = x.shape[-1]
        tight = 1 << (steps + LATENCY_ALLOWANCE - 1).bit_length()
        for name, period in (("planned", None), ("shortest", shortest_period(spec, steps)), ("tight", tight)):
            rows[name] = row = measure(spec, x, period, args.delayed_synapse, args.reset, args.max_reset_interval)
            print(f"{target} {name}: period {row['period']}, exposed {len(row['exposed'])}/{len(x) - 1}, "
                  f"spikes equal in {row['spikes_equal_samples']}/{len(x)} samples "
                  f"({100 * row['spike_entries_equal']:.3f} % entries), voltage equal in "
                  f"{row['voltage_equal_samples']}/{len(x)} ({100 * row['voltage_entries_equal']:.3f} %), "
                  f"decisions equal {100 * row['decisions_equal']:.1f} %, {row['seconds_per_sample']:.1f} s/sample",
                  flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
