"""CLI: ``export-nir`` a run or network file as a NIR graph, ``import-nir`` one (docs/nir.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

from lava_convdelay.app.runs import load_network
from lava_convdelay.atomic import check_output_path
from lava_convdelay.bounds import check_value
from lava_convdelay.data.encoding import ENCODING_BOUNDS
from lava_convdelay.errors import UserError
from netx_export.reader import read_network
from netx_export.spec import NetworkSpec
from netx_export.summary import layer_table


def _time_step(args: argparse.Namespace, spec: NetworkSpec) -> float:
    recorded = spec.encoding.dt if spec.encoding is not None else None
    if args.dt is None:
        if recorded is None:
            raise UserError(f"{args.target}: does not record its time step (the binning of its input); "
                            f"give --dt SECONDS")
        return recorded
    check_value(args.dt, "--dt", ENCODING_BOUNDS["dt"])
    if recorded is not None and args.dt != recorded:
        raise UserError(f"{args.target}: was trained with {recorded:g} s per step (its input binning); "
                        f"--dt {args.dt:g} differs: leave --dt out")
    return args.dt


def run_export_nir(args: argparse.Namespace) -> int:
    from netx_export.nir_export import write_nir
    check_output_path(args.output)
    spec = load_network(args.target)
    dt = _time_step(args, spec)
    write_nir(spec, args.output, dt)
    print(f"wrote {args.output}: {len(spec.layers)} layers, {dt:g} s per step")
    return 0


def run_import_nir(args: argparse.Namespace) -> int:
    from netx_export.nir_import import read_nir
    from netx_export.writer import write_network
    check_output_path(args.output)
    if args.dt is not None:
        check_value(args.dt, "--dt", ENCODING_BOUNDS["dt"])
    result = read_nir(args.network, args.dt)
    write_network(result.spec, args.output)
    print(f"wrote {args.output}: discretised at {result.dt:g} s per step")
    if result.notes:
        print(f"approximations ({len(result.notes)}):")
        print("\n".join(f"  {note}" for note in result.notes))
    else:
        print("exact: every value of the graph is represented without rounding")
    print(layer_table(read_network(args.output)))
    return 0


def add_parser(subparsers) -> None:
    export = subparsers.add_parser("export-nir", help="write a run or network file as a NIR graph")
    export.add_argument("target", type=Path, help="run directory, checkpoint (.pt) or network file (.h5)")
    export.add_argument("-o", "--output", type=Path, required=True, help="NIR file to write (.nir)")
    export.add_argument("--dt", type=float, help="seconds per time step (default: the recorded input binning's; "
                                                 "needed where none is recorded)")
    export.set_defaults(func=run_export_nir)

    imp = subparsers.add_parser("import-nir", help="map a NIR graph onto a network file (8-bit, integer delays)")
    imp.add_argument("network", type=Path, help="NIR file (.nir)")
    imp.add_argument("-o", "--output", type=Path, required=True, help="network file to write (.h5)")
    imp.add_argument("--dt", type=float, help="seconds per time step to discretise with (default: the "
                                              "graph's stated 'dt' metadata)")
    imp.set_defaults(func=run_import_nir)
