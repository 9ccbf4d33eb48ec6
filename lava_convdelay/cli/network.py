"""CLI: ``export`` a checkpoint to NetX HDF5 and ``inspect`` a network file."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from lava_convdelay.app.runs import export_checkpoint
from lava_convdelay.app.spike_files import load_spikes
from lava_convdelay.atomic import atomic_output, check_output_path
from lava_convdelay.bounds import Bounds, check_value
from lava_convdelay.errors import UserError
from netx_export.reader import read_network
from netx_export.summary import layer_table
from sim.graph_options import DELAYED_SYNAPSES


def run_export(args: argparse.Namespace) -> int:
    if args.clamp:
        raise UserError("--clamp is no longer needed: export writes the weights and delays the training "
                        "forward computes with (quantized and clamped there), so nothing is left to clamp; "
                        "drop --clamp")
    check_output_path(args.output)
    spec = export_checkpoint(args.checkpoint, args.output)
    print(f"wrote {args.output}")
    if spec.encoding is None:
        print(f"note: {args.checkpoint} does not record how its input was binned, so {args.output} does "
              f"not either: give evaluate --dt/--pool/--duration, and simulate input binned as in training")
    print(layer_table(read_network(args.output)))
    return 0


def _operation_samples(args: argparse.Namespace, spec) -> np.ndarray:
    """The first ``--samples`` of ``--input`` (spikes .npy) or ``--data`` (SHD
    test file, binned as the network's training data)."""
    if (args.input is None) == (args.data is None):
        raise UserError("--operations counts on samples: give --input SPIKES.npy or --data TEST.h5 (one of them)")
    if args.input is not None:
        return load_spikes(args.input, spec.input_size)[:args.samples or None]
    from lava_convdelay.app.evaluation import load_target
    _, _, test = load_target(args.network, args.data)
    count = len(test) if not args.samples else min(args.samples, len(test))
    return np.stack([test[i][0].numpy() for i in range(count)]).astype(np.int8)


def _report_operations(args: argparse.Namespace, spec) -> None:
    from sim.energy import NEURON_UPDATE, STATIC_POWER, STEP_TIME, SYNOP, estimate_energy
    from sim.operations import count_operations

    check_value(args.samples, "--samples", Bounds(True, 0))
    spikes = _operation_samples(args, spec)
    ops = count_operations(spec.validate(), spikes, args.delayed_synapse)
    energy = estimate_energy(ops)
    print()
    print(ops.table())
    print(energy.describe())
    if args.json is not None:
        record = {"network": str(args.network), "samples": ops.samples, "steps": ops.steps,
                  "delayed_synapse": ops.delayed_synapse,
                  "per_inference": {key: float(np.mean(ops.total(key))) for key in (
                      "spikes", "ff_nonzero", "ff_built", "rec_nonzero", "rec_built", "neuron_updates", "dense_macs")},
                  "energy_joules": dataclasses.asdict(energy),
                  "constants": {c.name: dataclasses.asdict(c) for c in (SYNOP, NEURON_UPDATE, STATIC_POWER, STEP_TIME)}}
        with atomic_output(args.json, suffix=".json") as tmp:
            tmp.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.json}")


def run_inspect(args: argparse.Namespace) -> int:
    spec = read_network(args.network)
    print(layer_table(spec))
    if spec.readout == "voltage_sum":
        from sim.readout_band import describe_bound
        print(describe_bound(spec.layers[-1]))
    if args.json is not None:
        check_output_path(args.json)
    if args.operations:
        _report_operations(args, spec)
    if args.loihi2:
        from sim.loihi2.resources import chip_fit, fit_table
        fit = chip_fit(spec, args.delayed_synapse)
        print()
        print(fit_table(fit))
        return 0 if fit.fits else 1
    return 0


def add_parser(subparsers) -> None:
    export = subparsers.add_parser("export", help="quantize a checkpoint and write NetX HDF5")
    export.add_argument("checkpoint", type=Path, help="training checkpoint (.pt)")
    export.add_argument("-o", "--output", type=Path, required=True, help="network file to write (.h5)")
    export.add_argument("--clamp", action="store_true", help=argparse.SUPPRESS)  # removed; says so
    export.set_defaults(func=run_export)

    inspect = subparsers.add_parser("inspect", help="print the layer table of a network file")
    inspect.add_argument("network", type=Path, help="network file (.h5)")
    inspect.add_argument("--loihi2", action="store_true",
                         help="estimate Loihi 2 resources (cores, memory) and whether the network "
                              "fits one chip; exit status 1 if it does not")
    inspect.add_argument("--operations", action="store_true",
                         help="synaptic operations, neuron updates and dense-equivalent MACs per inference on the "
                              "fixed-point simulator, and an energy estimate (needs --input or --data)")
    inspect.add_argument("--input", type=Path, help="0/1 spikes .npy to count operations on")
    inspect.add_argument("--data", type=Path, help="SHD-format test file to count operations on (binned as the "
                                                   "network's training data)")
    inspect.add_argument("--samples", type=int, default=100, help="first N samples (0: all)")
    inspect.add_argument("--delayed-synapse", choices=DELAYED_SYNAPSES, default="dense",
                         help="the delayed recurrent synapses to count as built (as deploy)")
    inspect.add_argument("--json", type=Path, help="also write the operation counts and energy estimate here")
    inspect.set_defaults(func=run_inspect)
