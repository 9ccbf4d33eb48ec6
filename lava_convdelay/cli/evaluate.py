"""CLI: ``evaluate`` a run directory or a network file: accuracy as trained,
quantized, and deployed (:mod:`lava_convdelay.app.evaluation`), on test data
binned as the network's training data was."""
from __future__ import annotations

from pathlib import Path

from lava_convdelay.app.evaluation import evaluate, load_target
from lava_convdelay.bounds import Bounds, check_value
from lava_convdelay.errors import UserError


def run_evaluate(args) -> int:
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = set(backends) - {"float", "quantized", "fixed", "lava"}
    if unknown or not backends:
        raise UserError(f"unknown backend(s) {sorted(unknown) or repr(args.backend)}; "
                        f"choose from float, quantized, fixed, lava")
    check_value(args.samples, "--samples", Bounds(True, 0))
    if not args.target.is_dir():  # a network file is only the deployed network
        if not {"fixed", "lava"} & set(backends):
            raise UserError(f"{args.target}: a network file runs on the fixed and lava backends only "
                            f"(float and quantized need the run directory)")
        backends = [b for b in backends if b in ("fixed", "lava")]
    given = {key: getattr(args, key) for key in ("dt", "pool", "duration", "min_spikes")
             if getattr(args, key) is not None}
    model, spec, test = load_target(args.target, args.data, given, args.allow_other_binning)
    result = evaluate(test, model, spec, backends, samples=args.samples or None)
    print(f"{args.target}: {result.samples} test samples ({test.encoding.describe()})")
    for backend in backends:
        print(f"  {backend:<10} accuracy {100 * result.accuracy[backend]:6.2f} %")
    if "fixed" in result.predictions and "lava" in result.predictions:
        same = float((result.predictions["fixed"] == result.predictions["lava"]).mean())
        print(f"  fixed-point vs Lava decisions identical: {100 * same:.2f} %")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="accuracy as trained, quantized, and deployed")
    parser.add_argument("target", type=Path, help="run directory (from train) or network file (.h5)")
    parser.add_argument("--data", type=Path, help="SHD-format test file (default: the run's own data)")
    parser.add_argument("--backend", default="float,quantized,fixed,lava",
                        help="comma list of float, quantized, fixed, lava")
    parser.add_argument("--samples", type=int, default=100,
                        help="first N test samples (0: all; Lava runs ~1 sample/s at SHD size)")
    parser.add_argument("--dt", type=float, help="bin width, seconds (default: as in training, where the run "
                        "or file records it, else 0.01)")
    parser.add_argument("--pool", type=int, help="channel pooling (default: as in training, else 5: 700 -> 140)")
    parser.add_argument("--duration", type=float, help="seconds per sample (default: as in training, else 1.0)")
    parser.add_argument("--min-spikes", type=int, help="events that make a bin 1 (default: as in training, else 1)")
    parser.add_argument("--allow-other-binning", action="store_true",
                        help="let --dt/--pool/--duration/--min-spikes differ from the binning the network was "
                             "trained with")
    parser.set_defaults(func=run_evaluate)
