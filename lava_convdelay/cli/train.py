"""CLI: ``train`` a network from a config file; also the ``torchrun`` entry point.

    lava-convdelay train --config configs/crsnn.json --out runs/crsnn [--resume]
    torchrun --nproc_per_node=2 -m lava_convdelay.cli.train --config ... --out ...
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lava_convdelay.errors import UserError
from lava_convdelay.training.config import load_config, normalise_config
from lava_convdelay.training.loop import train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="training config (JSON)")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (the per-epoch summary lines stay)")


def run_from_args(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.epochs is not None:
        config["train"]["epochs"] = args.epochs
        config = normalise_config(config, f"{args.config} with --epochs")
    train(config, args.out, resume=args.resume, progress=not args.no_progress)
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a network from a config file")
    add_arguments(parser)
    parser.set_defaults(func=run_from_args)


def main(argv=None) -> int:
    """Entry point for ``python -m lava_convdelay.cli.train`` (and torchrun)."""
    parser = argparse.ArgumentParser(prog="lava_convdelay.cli.train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except UserError as err:
        print(f"lava_convdelay.cli.train: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
