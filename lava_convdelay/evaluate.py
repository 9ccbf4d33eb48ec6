"""Accuracy of a trained network as trained, as quantized, and as deployed.

- **float**: the training-side model as it was trained (its last sigma);
- **quantized**: the training-side model with integer delays (sigma = 0),
  8-bit weights and fixed-point neurons, i.e. exactly what is exported;
- **fixed**: the exported network on the batched fixed-point simulator
  (bit-exact with Lava; the whole test set in seconds);
- **lava**: the exported network on the Lava CPU simulator (slow: use
  ``--samples``).

All use the same decision rule (:mod:`lava_convdelay.readout`).
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from lava_convdelay.readout import decide, to_voltage_units
from netx_export.description import NetworkSpec


@dataclass
class Evaluation:
    samples: int
    accuracy: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    labels: np.ndarray | None = None


def _batches(dataset, batch_size):
    return DataLoader(dataset, batch_size=batch_size, shuffle=False)


def model_predictions(model, dataset, batch_size: int = 64, sigma: float | None = None) -> np.ndarray:
    """Training-side predictions; ``sigma=0`` gives the quantized (deployed) model."""
    model = copy.deepcopy(model).eval() if sigma is not None else model.eval()
    if sigma is not None:
        model.set_sigma(sigma)
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for x, _ in _batches(dataset, batch_size):
            output = model(x.to(device))
            if model.readout == "voltage_sum":
                output = to_voltage_units(output)
            out.append(decide(output, model.readout))
    return np.concatenate(out)


def fixed_predictions(spec: NetworkSpec, dataset, batch_size: int = 256) -> np.ndarray:
    """Predictions of the exported network on the fixed-point simulator."""
    from sim.fixed_point import V_MAX, simulate
    voltage = spec.readout == "voltage_sum"
    out, saturated = [], 0
    for x, _ in _batches(dataset, batch_size):
        result = simulate(spec, x.numpy(), record_voltage=voltage)
        out.append(decide(result.voltage if voltage else result.output, spec.readout))
        if voltage:
            saturated += int((np.abs(result.voltage) >= V_MAX).any(axis=(1, 2)).sum())
    if saturated:
        warnings.warn(f"{spec.source}: the readout voltage reached the 24-bit limit (+-{V_MAX}) on "
                      f"{saturated} sample(s); there Lava and Loihi saturate where training did not, "
                      f"so their decisions can differ from the quantized model's", stacklevel=2)
    return np.concatenate(out)


def lava_predictions(spec: NetworkSpec, dataset, progress: bool = True) -> np.ndarray:
    """Predictions of the exported network on the Lava CPU simulator."""
    from sim.lava_runner import LavaRunner
    x = torch.stack([dataset[i][0] for i in range(len(dataset))]).numpy()
    voltage = spec.readout == "voltage_sum"
    results = LavaRunner(spec).run_many(x, record_voltage=voltage, progress=progress)
    return decide(np.stack([r.voltage if voltage else r.output for r in results]), spec.readout)


def evaluate(dataset, model=None, spec: NetworkSpec | None = None,
             backends=("float", "quantized", "fixed"), samples: int | None = None,
             progress: bool = True) -> Evaluation:
    """Accuracy per backend on the first ``samples`` of ``dataset``."""
    if samples is not None:
        dataset = Subset(dataset, range(min(samples, len(dataset))))
    labels = np.array([int(dataset[i][1]) for i in range(len(dataset))])
    result = Evaluation(samples=len(dataset), labels=labels)
    for backend in backends:
        if backend == "float":
            pred = model_predictions(model, dataset)
        elif backend == "quantized":
            pred = model_predictions(model, dataset, sigma=0.0)
        elif backend == "fixed":
            pred = fixed_predictions(spec, dataset)
        elif backend == "lava":
            pred = lava_predictions(spec, dataset, progress)
        else:
            raise ValueError(f"unknown backend {backend!r}")
        result.predictions[backend] = pred
        result.accuracy[backend] = float((pred == labels).mean())
    return result


def _binning(target, recorded, args):
    """The binning of the evaluation data: the one the network was trained with, where
    recorded; ``--dt/--pool/--duration/--min-spikes`` only where given (and, against a recorded
    binning, with ``--allow-other-binning``)."""
    from dataclasses import replace

    from lava_convdelay.bounds import check_value
    from lava_convdelay.encoding import ENCODING_BOUNDS, EncodingError, InputEncoding

    given = {key: getattr(args, key) for key in ("dt", "pool", "duration", "min_spikes")
             if getattr(args, key) is not None}
    for key, value in given.items():
        check_value(value, "--" + key.replace("_", "-"), ENCODING_BOUNDS[key])
    if recorded is None:
        return InputEncoding.from_settings(given).check(prefix="--")
    differ = [key for key, value in given.items() if value != getattr(recorded, key)]
    if differ and not args.allow_other_binning:
        shown = " ".join(f"--{key.replace('_', '-')} {given[key]:g}" for key in differ)
        raise EncodingError(f"{target}: was trained on input binned with {recorded.describe()}; {shown} "
                            f"differs: leave it out to bin the data as in training, or add "
                            f"--allow-other-binning to evaluate on data binned differently")
    return replace(recorded, **given).check(prefix="--")


def _load_target(args):
    """(model or None, spec, test dataset) for a run directory or a network file,
    the data binned as the network's training data was."""
    import json

    from lava_convdelay.checkpoint import load_model, recorded_inputs
    from lava_convdelay.class_names import class_mismatch, dataset_classes
    from lava_convdelay.data import SHDDataset
    from lava_convdelay.data_setup import build_datasets
    from lava_convdelay.errors import UserError
    from netx_export.exporter import blocks_to_spec
    from netx_export.reader import read_network

    path = args.target
    if path.is_dir():
        checkpoint = path / "checkpoint.pt"
        if not checkpoint.exists():
            raise UserError(f"{path}: not a run directory (no checkpoint.pt)")
        model, data = load_model(checkpoint)
        spec = blocks_to_spec(list(model.blocks), str(checkpoint), *recorded_inputs(checkpoint, data))
    else:
        model, spec = None, read_network(path)
        if args.data is None:
            raise UserError(f"{path}: a network file needs --data TEST.h5 (SHD format) to evaluate on")
    binning = _binning(path, spec.encoding, args)
    if spec.encoding is None:
        print(f"note: {path} does not record how its input was binned; binning the data with "
              f"{binning.describe()} (--dt/--pool/--duration/--min-spikes)")
    if args.data is not None:
        test = SHDDataset(args.data, **binning.binning())
    else:
        config_path = path / "config.json"
        try:
            section = json.loads(config_path.read_text())["data"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"{config_path}: cannot read the run's data section ({err}); "
                            f"give the test data with --data") from None
        section = {**section, **binning.binning()}
        test = build_datasets(section, progress=False, where=str(config_path))[1]
    channels = test[0][0].shape[0]
    if channels != spec.input_size:
        raise UserError(f"{path}: the network takes {spec.input_size} input channels but the data "
                        f"gives {channels}; adjust --pool")
    names = spec.class_names
    mismatch = class_mismatch(names, len(names) if names else spec.output_size, *dataset_classes(test))
    if mismatch:
        raise UserError(f"{test.path}: {mismatch} ({path}); evaluate on data with the training classes, "
                        f"in their order")
    return model, spec, test


def run_evaluate(args) -> int:
    from lava_convdelay.bounds import Bounds, check_value
    from lava_convdelay.errors import UserError
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
    model, spec, test = _load_target(args)
    result = evaluate(test, model, spec, backends, samples=args.samples or None)
    print(f"{args.target}: {result.samples} test samples ({test.encoding.describe()})")
    for backend in backends:
        print(f"  {backend:<10} accuracy {100 * result.accuracy[backend]:6.2f} %")
    if "fixed" in result.predictions and "lava" in result.predictions:
        same = float((result.predictions["fixed"] == result.predictions["lava"]).mean())
        print(f"  fixed-point vs Lava decisions identical: {100 * same:.2f} %")
    return 0


def add_parser(subparsers) -> None:
    from pathlib import Path
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
