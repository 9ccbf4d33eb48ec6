"""CLI: ``export`` a checkpoint to NetX HDF5 and ``inspect`` a network file."""
from __future__ import annotations

import argparse
from pathlib import Path

from lava_convdelay.app.runs import export_checkpoint
from lava_convdelay.atomic import check_output_path
from lava_convdelay.errors import UserError
from netx_export.reader import read_network
from netx_export.summary import layer_table


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


def run_inspect(args: argparse.Namespace) -> int:
    spec = read_network(args.network)
    print(layer_table(spec))
    if spec.readout == "voltage_sum":
        from sim.readout_band import describe_bound
        print(describe_bound(spec.layers[-1]))
    if args.loihi2:
        from sim.loihi2.resources import chip_fit, fit_table
        fit = chip_fit(spec)
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
    inspect.set_defaults(func=run_inspect)
