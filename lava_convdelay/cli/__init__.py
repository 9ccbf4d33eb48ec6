"""The application: the `lava-convdelay` command line.

The only part of :mod:`lava_convdelay` that imports :mod:`netx_export` and
:mod:`sim` (with :mod:`lava_convdelay.app`, the functions its commands share).
Each subcommand lives in its own module and registers itself through a
``add_parser(subparsers)`` function listed in ``_COMMANDS``; user errors are
raised as :class:`lava_convdelay.errors.UserError` and printed without a
traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from lava_convdelay import __version__
from lava_convdelay.errors import UserError, one_line

# Modules providing `add_parser(subparsers)`; each sets `func` on its parser.
_COMMANDS: list[str] = [
    "lava_convdelay.cli.data", "lava_convdelay.cli.train", "lava_convdelay.cli.evaluate",
    "lava_convdelay.cli.network", "lava_convdelay.cli.lava", "lava_convdelay.cli.classify",
    "lava_convdelay.cli.nir", "lava_convdelay.cli.demo", "lava_convdelay.cli.selftest",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lava-convdelay",
        description="Train recurrent SNNs with learnable axonal delays and "
        "convolutional recurrence (lava-dl), export them to NetX HDF5 and run "
        "them on Lava / Loihi 2.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"lava-convdelay {args.command}: error: {one_line(str(err))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
