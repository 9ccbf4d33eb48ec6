"""Accuracy of a trained network as trained, as quantized, and as deployed.

- **float**: the training-side model as it was trained (its last sigma);
- **quantized**: the training-side model with integer delays (sigma = 0),
  8-bit weights and fixed-point neurons, i.e. exactly what is exported;
- **fixed**: the exported network on the batched fixed-point simulator
  (bit-exact with Lava; the whole test set in seconds);
- **lava**: the exported network on the Lava CPU simulator (slow: use
  ``--samples``).

All use the same decision rule (:mod:`lava_convdelay.nn.readout`).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from lava_convdelay.app.runs import checkpoint_network, run_checkpoint
from lava_convdelay.bounds import check_value
from lava_convdelay.data import SHDDataset
from lava_convdelay.data.class_names import class_mismatch, dataset_classes
from lava_convdelay.data.encoding import ENCODING_BOUNDS, EncodingError, InputEncoding
from lava_convdelay.errors import UserError
from lava_convdelay.nn.readout import decide
from lava_convdelay.training.data_section import build_datasets
from lava_convdelay.training.predictions import model_predictions
from netx_export.reader import read_network
from netx_export.spec import NetworkSpec


@dataclass
class Evaluation:
    samples: int
    accuracy: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    labels: np.ndarray | None = None


def fixed_predictions(spec: NetworkSpec, dataset, batch_size: int = 256) -> np.ndarray:
    """Predictions of the exported network on the fixed-point simulator; for a
    voltage readout, a warning where its voltage comes within half of the
    voltage at which every simulator makes it fire (:mod:`sim.readout_band`)."""
    from sim.fixed_point import simulate
    from sim.readout_band import ReadoutMargin, readout_margin
    voltage = spec.readout == "voltage_sum"
    out, margins = [], []
    for x, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        result = simulate(spec, x.numpy(), record_voltage=voltage)
        out.append(decide(result.voltage if voltage else result.output, spec.readout))
        if voltage:
            margins.append(readout_margin(result.voltage, result.output))
    if margins:
        warning = ReadoutMargin.merged(margins).warning(str(spec.source))
        if warning:
            warnings.warn(warning, stacklevel=2)
    return np.concatenate(out)


def lava_predictions(spec: NetworkSpec, dataset, progress: bool = True) -> np.ndarray:
    """Predictions of the exported network on the Lava CPU simulator."""
    from sim.cpu.runner import LavaRunner
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


def test_binning(target: Path, recorded: InputEncoding | None, given: dict,
                 allow_other_binning: bool = False) -> InputEncoding:
    """The binning of the evaluation data: the one the network was trained with, where
    recorded; the settings in ``given`` (``--dt/--pool/--duration/--min-spikes``) only
    where given (and, against a recorded binning, with ``allow_other_binning``)."""
    for key, value in given.items():
        check_value(value, "--" + key.replace("_", "-"), ENCODING_BOUNDS[key])
    if recorded is None:
        return InputEncoding.from_settings(given).check(prefix="--")
    differ = [key for key, value in given.items() if value != getattr(recorded, key)]
    if differ and not allow_other_binning:
        shown = " ".join(f"--{key.replace('_', '-')} {given[key]:g}" for key in differ)
        raise EncodingError(f"{target}: was trained on input binned with {recorded.describe()}; {shown} "
                            f"differs: leave it out to bin the data as in training, or add "
                            f"--allow-other-binning to evaluate on data binned differently")
    return replace(recorded, **given).check(prefix="--")


def load_target(path: Path, data: Path | None = None, given: dict | None = None,
                allow_other_binning: bool = False):
    """``(model or None, spec, test dataset)`` for a run directory or a network file;
    the test data is ``data`` (SHD format) or the run's own, binned as the network's
    training data was (:func:`test_binning` of ``given``)."""
    if path.is_dir():
        model, spec = checkpoint_network(run_checkpoint(path))
    else:
        model, spec = None, read_network(path)
        if data is None:
            raise UserError(f"{path}: a network file needs --data TEST.h5 (SHD format) to evaluate on")
    binning = test_binning(path, spec.encoding, given or {}, allow_other_binning)
    if spec.encoding is None:
        print(f"note: {path} does not record how its input was binned; binning the data with "
              f"{binning.describe()} (--dt/--pool/--duration/--min-spikes)")
    if data is not None:
        test = SHDDataset(data, **binning.binning())
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
