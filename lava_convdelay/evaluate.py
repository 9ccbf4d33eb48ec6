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


def _load_target(path, data_file, dt, pool, duration):
    """(model or None, spec, test dataset) for a run directory or a network file."""
    import json
    from pathlib import Path

    from lava_convdelay.checkpoint import load_model
    from lava_convdelay.data import SHDDataset
    from lava_convdelay.data_setup import build_datasets
    from lava_convdelay.errors import UserError
    from netx_export.exporter import blocks_to_spec
    from netx_export.reader import read_network

    path = Path(path)
    binning = {k: v for k, v in (("dt", dt), ("pool", pool), ("duration", duration)) if v is not None}
    if path.is_dir():
        if not (path / "checkpoint.pt").exists():
            raise UserError(f"{path}: not a run directory (no checkpoint.pt)")
        model, _ = load_model(path / "checkpoint.pt")
        spec, _ = blocks_to_spec(list(model.blocks), source=str(path / "checkpoint.pt"))
        if data_file is not None:
            test = SHDDataset(data_file, **binning)
        else:
            config = json.loads((path / "config.json").read_text())
            test = build_datasets({**config["data"], **binning}, progress=False)[1]
    else:
        model, spec = None, read_network(path)
        if data_file is None:
            raise UserError(f"{path}: a network file needs --data TEST.h5 (SHD format) to evaluate on")
        test = SHDDataset(data_file, **binning)
    channels = test[0][0].shape[0]
    if channels != spec.input_size:
        raise UserError(f"{path}: the network takes {spec.input_size} input channels but the data "
                        f"gives {channels}; adjust --pool")
    return model, spec, test


def run_evaluate(args) -> int:
    from lava_convdelay.errors import UserError
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = set(backends) - {"float", "quantized", "fixed", "lava"}
    if unknown:
        raise UserError(f"unknown backend(s) {sorted(unknown)}; choose from float, quantized, fixed, lava")
    model, spec, test = _load_target(args.target, args.data, args.dt, args.pool, args.duration)
    if model is None:
        backends = [b for b in backends if b in ("fixed", "lava")]
    result = evaluate(test, model, spec, backends, samples=args.samples or None)
    print(f"{args.target}: {result.samples} test samples")
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
    parser.add_argument("--dt", type=float, help="bin width, seconds (network files: default 0.01)")
    parser.add_argument("--pool", type=int, help="channel pooling (default 5: 700 -> 140)")
    parser.add_argument("--duration", type=float, help="seconds per sample (default 1.0)")
    parser.set_defaults(func=run_evaluate)
