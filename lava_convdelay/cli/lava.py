"""CLI: ``simulate`` a network file on Lava's CPU simulator, ``deploy`` it as
the Loihi 2 graph (on Loihi 2, or rehearsed on the CPU), and ``verify`` it
against the training-side quantized model."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from lava_convdelay.app.agreement import spike_agreement
from lava_convdelay.app.spike_files import check_binning, load_spikes, per_input, save_npy
from lava_convdelay.atomic import atomic_output, check_output_path
from lava_convdelay.bounds import Bounds, check_value
from lava_convdelay.errors import UserError
from lava_convdelay.limits import MAX_RESET_INTERVAL
from netx_export.reader import read_network
from sim.graph_options import DELAYED_SYNAPSES, RESETS

#: samples whose decision `simulate` prints
SHOWN_DECISIONS = 10


def run_simulate(args: argparse.Namespace) -> int:
    from lava_convdelay.nn.readout import decide, scores
    from sim.cpu.runner import LavaRunner
    check_output_path(args.output)
    runner = LavaRunner(args.network)
    spec = runner.spec
    spikes = load_spikes(args.input, spec.input_size)
    check_binning(args.input, spikes, spec, args.allow_other_binning)
    voltage = spec.readout == "voltage_sum"  # a non-spiking output layer: its voltage is what the decision reads
    results = runner.run_many(spikes, record_voltage=voltage, progress=len(spikes) > 1)
    output = np.stack([r.voltage if voltage else r.output.astype(np.uint8) for r in results])
    written = per_input(output, args.input)
    save_npy(written, args.output)
    print(f"wrote {args.output}: output {'voltages (int64, 1/4096 units)' if voltage else 'spikes'} "
          f"{list(written.shape)}")
    names = spec.class_names or []
    label = lambda k: f"{names[k]} (output {k})" if k < len(names) else f"output {k}"  # noqa: E731
    unit = "summed voltage" if voltage else "spike count"
    decided, score = decide(output, spec.readout), scores(output, spec.readout)
    shown = min(len(output), SHOWN_DECISIONS)
    for i in range(shown):
        print(f"sample {i}: {label(int(decided[i]))}; {unit} per output neuron: {score[i].tolist()}")
    if shown < len(output):
        print(f"... and {len(output) - shown} more sample(s); the decision rule ({spec.readout}) applies to each")
    return 0


def _record(args: argparse.Namespace, runner, spikes: np.ndarray, agreement, margin) -> dict:
    """What ``deploy`` writes beside its output (``OUTPUT.json``): the environment
    (versions, LOIHI_GEN, partition, the network's hash), the schedule, the
    calibration and the agreement."""
    from sim.loihi2.environment import environment

    plan_, calibration = runner.last_plan, runner.last_calibration
    return {
        "command": "deploy", "network": str(args.network), "input": str(args.input), "output": str(args.output),
        "backend": runner.backend.describe(), "environment": environment(args.network),
        "delayed_synapse": runner.delayed_synapse, "samples": int(len(spikes)), "steps": int(spikes.shape[-1]),
        "schedule": {"period": plan_.schedule.period, "host_reset": plan_.schedule.host_reset,
                     "silent": plan_.schedule.silent, "margin": plan_.margin,
                     "exposed_samples": plan_.exposed.tolist()},
        "calibration": {"spikes": calibration.offsets.spikes, "voltage": calibration.offsets.voltage,
                        "post_spike_voltage": list(calibration.post_spike)},
        "agreement": {"equal_samples": int(agreement.equal.sum()), "entries": agreement.entries,
                      "decisions": agreement.decisions, "readout": agreement.readout},
        "readout_margin": None if margin is None else dataclasses.asdict(margin),
    }


def run_deploy(args: argparse.Namespace) -> int:
    from sim.fixed_point import simulate
    from sim.loihi2.backend import make_hardware_backend
    from sim.loihi2.runner import HardwareRunner, compare_with_exact
    from sim.readout_band import readout_margin

    check_value(args.max_reset_interval, "--max-reset-interval", Bounds(True, 1))
    backend = make_hardware_backend(args.backend, args.loihi_gen, args.partition, args.board, args.ethernet_host)
    if args.input is None and not args.dry_run:
        backend.check_available()  # fails with a clear message where the backend is missing
        print(f"{backend.describe()}: available; pass --input SPIKES.npy -o OUT.npy to run, or --dry-run")
        return 0
    spec = read_network(args.network)
    if args.input is None and args.steps < 1:
        raise UserError(f"--steps must be at least 1, got {args.steps}")
    spikes = load_spikes(args.input, spec.input_size) if args.input is not None \
        else np.zeros((1, spec.input_size, args.steps), np.int8)
    if args.input is not None:
        check_binning(args.input, spikes, spec, args.allow_other_binning)
        if not args.dry_run:
            check_output_path(args.output)
    runner = HardwareRunner(spec, backend, args.delayed_synapse, log=print, reset=args.reset,
                            max_interval=args.max_reset_interval,
                            calibration_failure=Path(f"{args.output}.calibration-failure.npz"))
    voltage = spec.readout == "voltage_sum"  # a non-spiking output layer: its voltage is the output
    if args.dry_run:
        if args.input is None:
            print(f"no --input: one silent sample of {args.steps} steps (the activity check needs real input)")
        runner.preflight(spikes, period=args.period, record_voltage=voltage)
        print("dry run: the graph compiles and every chip-side process got a chip model; nothing ran")
        return 0
    margin = None
    if voltage:  # before any chip time: how close the readout comes to the voltage at which it fires
        exact = simulate(runner.spec, spikes, record_voltage=True)
        margin = readout_margin(exact.voltage, exact.output)
        warning = margin.warning(str(args.network))
        if warning:
            print("WARNING: " + warning)
    results = runner.run_many(spikes, record_voltage=voltage, period=args.period, progress=len(spikes) > 1)
    output = per_input(np.stack([r.voltage if voltage else r.output.astype(np.uint8) for r in results]),
                       args.input)
    save_npy(output, args.output)
    agreement = compare_with_exact(runner.spec, spikes, results)
    record = Path(f"{args.output}.json")
    with atomic_output(record, suffix=".json") as tmp:
        tmp.write_text(json.dumps(_record(args, runner, spikes, agreement, margin), indent=1))
    print(f"wrote {args.output}: output {'voltages' if voltage else 'spikes'} {list(output.shape)}; "
          + agreement.describe() + f"; versions and settings in {record}")
    exposed = runner.last_plan.exposed
    if exposed.size:
        print(f"of the {exposed.size} sample(s) run after a sample still active at the resets, "
              f"{int(agreement.equal[exposed].sum())} equal their exact result alone")
    return 0 if agreement.equal.all() else 1


def run_verify(args: argparse.Namespace) -> int:
    from netx_export.to_model import spec_to_model

    check_value(args.samples, "--samples", Bounds(True, 1))
    check_value(args.steps, "--steps", Bounds(True, 1))
    check_value(args.rate, "--rate", Bounds(False, 0, 1, low_allowed=False))
    check_value(args.seed, "--seed", Bounds(True, 0))
    spec = read_network(args.network)
    if args.input is not None:
        spikes = load_spikes(args.input, spec.input_size)[: args.samples]
    else:
        gen = np.random.default_rng(args.seed)
        spikes = (gen.random((args.samples, spec.input_size, args.steps)) < args.rate).astype(np.int8)
    rows, _ = spike_agreement(spec_to_model(spec), spec, spikes)
    print(f"{args.network}: {len(spikes)} sample(s) x {spikes.shape[-1]} steps, "
          f"training-side quantized model vs Lava (CPU, fixed_pt)")
    print("layer  type       neurons  spikes (train)  spikes (lava)  agreement")
    for i, (layer, (agreement, n_train, n_lava, _)) in enumerate(zip(spec.layers, rows), start=1):
        kind = layer.type if layer.neuron.spiking else "voltage"  # activity: non-zero voltages
        print(f"{i:<6} {kind:<10} {layer.num_neurons:<8} {n_train:<15} {n_lava:<14} {100 * agreement:.4f} %")
    if not all(row[3] for row in rows):
        print("verdict: MISMATCH")
        return 1
    silent = [str(i) for i, row in enumerate(rows, start=1) if row[1] == row[2] == 0]
    if silent:  # equal because empty (no spike, or a readout voltage of 0 throughout): nothing compared
        what = ("no layer spiked, on either side: nothing was compared" if len(silent) == len(rows) else
                f"layer(s) {', '.join(silent)} stayed silent on both sides: their spikes were not compared")
        print(f"verdict: NOT VERIFIED: {what}; give input that makes every layer spike (a higher --rate, "
              f"more --steps, or real samples with --input)")
        return 1
    print("verdict: spike-exact (100 %)")
    return 0


def add_system_options(parser) -> None:
    """Where a Loihi 2 backend runs: ``--loihi-gen``, ``--partition``, ``--board``, ``--ethernet-host``."""
    from lava.utils.loihi import ChipGeneration

    parser.add_argument("--loihi-gen", choices=[g.value for g in ChipGeneration],
                        help="Loihi chip generation (sets LOIHI_GEN; default: LOIHI_GEN, else N3B3)")
    parser.add_argument("--partition", help="SLURM partition, checked against sinfo (default: PARTITION, else "
                                            "oheogulch unless --board is given)")
    parser.add_argument("--board", help="SLURM board (node name), checked against `sinfo -N` (default: BOARD)")
    parser.add_argument("--ethernet-host", help="address of a Kapoho Point on the network, instead of SLURM")


ALLOW_HELP = ("run input whose number of time steps differs from the training input's "
              "(which the network file records)")


def add_parser(subparsers) -> None:
    simulate = subparsers.add_parser("simulate", help="run a network file on the Lava CPU simulator")
    simulate.add_argument("network", type=Path, help="network file (.h5)")
    simulate.add_argument("--input", type=Path, required=True,
                          help="0/1 spikes .npy [channels, time] (or [samples, channels, time])")
    simulate.add_argument("-o", "--output", type=Path, required=True,
                          help="output .npy [output neurons, time] (or per sample): spikes (uint8), or "
                               "a voltage readout's voltages (int64, 1/4096 units), what the decision reads")
    simulate.add_argument("--allow-other-binning", action="store_true", help=ALLOW_HELP)
    simulate.set_defaults(func=run_simulate)

    deploy = subparsers.add_parser(
        "deploy", help="run a network file as the Loihi 2 graph: on Loihi 2 (lava-loihi), or rehearsed on the "
                       "CPU; exit 0 only if every sample equals its exact result (docs/loihi2.md)")
    deploy.add_argument("network", type=Path, help="network file (.h5)")
    deploy.add_argument("--backend", choices=("loihi2", "cpu"), default="loihi2",
                        help="loihi2, or cpu: the same graph and schedule on Lava's CPU simulator")
    deploy.add_argument("--input", type=Path, help="0/1 spikes .npy [channels, time] (or [samples, channels, time])")
    deploy.add_argument("-o", "--output", type=Path, default=Path("output_spikes.npy"),
                        help="the output layer's spikes, or its integer voltages if it is a voltage readout")
    deploy.add_argument("--allow-other-binning", action="store_true", help=ALLOW_HELP)
    deploy.add_argument("--dry-run", action="store_true",
                        help="compile the graph, print every process's model and stop (error if a chip-side "
                             "process fell back to a CPU model)")
    deploy.add_argument("--steps", type=int, default=100, help="steps per sample for --dry-run without --input")
    deploy.add_argument("--period", type=int,
                        help="steps per sample (default: the shortest power of 2 in which activity dies out); "
                             "a power of 2 where LIFReset resets the samples")
    deploy.add_argument("--delayed-synapse", choices=DELAYED_SYNAPSES, default="dense",
                        help="delayed recurrent synapses as DelayDense with per-synapse delays (dense, default), "
                             "one DelayDense per delay value with a scalar delay (groups), or DelaySparse (sparse); "
                             "see docs/loihi2.md")
    deploy.add_argument("--reset", choices=RESETS, default="auto",
                        help="between samples: LIFReset up to --max-reset-interval, the host beyond (auto), "
                             "LIFReset only, or the host zeroing u and v (Var.set) after each sample")
    deploy.add_argument("--max-reset-interval", type=int, default=MAX_RESET_INTERVAL,
                        help=f"largest LIFReset interval (default {MAX_RESET_INTERVAL}; raise it only once "
                             f"loihi2-selftest has shown a longer one resets on time)")
    add_system_options(deploy)
    deploy.set_defaults(func=run_deploy)

    verify = subparsers.add_parser(
        "verify", help="compare Lava with the training-side quantized model, per layer; "
                       "exit 0 only at 100 %% agreement with spikes in every layer")
    verify.add_argument("network", type=Path, help="network file (.h5)")
    verify.add_argument("--samples", type=int, default=4, help="random samples (with --input: the first N)")
    verify.add_argument("--steps", type=int, default=100, help="steps per random sample")
    verify.add_argument("--rate", type=float, default=0.05,
                        help="random input spike probability per step, in (0, 1]")
    verify.add_argument("--seed", type=int, default=0, help="seed of the random input (>= 0)")
    verify.add_argument("--input", type=Path, help="use these spikes (.npy) instead of random ones")
    verify.set_defaults(func=run_verify)
