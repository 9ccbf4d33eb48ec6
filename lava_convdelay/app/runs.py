"""Run directories and the networks in them: a run directory (``train --out``)
holds ``checkpoint.pt``; its network is the quantized model of that
checkpoint with what the run recorded of its data (binning, class names).
The one place that turns "run directory -> checkpoint -> spec"."""
from __future__ import annotations

import json
import os
from pathlib import Path

from lava_convdelay.data.encoding import EncodingError, InputEncoding
from lava_convdelay.errors import UserError
from lava_convdelay.nn.checkpoint import CheckpointError, load_model
from lava_convdelay.nn.model import SpikingNetwork
from netx_export.exporter import blocks_to_spec
from netx_export.reader import read_network
from netx_export.spec import NetworkSpec
from netx_export.writer import write_network

CHECKPOINT = "checkpoint.pt"


def run_checkpoint(run_dir: Path) -> Path:
    """``run_dir/checkpoint.pt``, or a :class:`UserError` if ``run_dir`` is not a run directory."""
    checkpoint = Path(run_dir) / CHECKPOINT
    if not checkpoint.is_file():
        raise UserError(f"{run_dir}: not a run directory (no {CHECKPOINT})")
    return checkpoint


def recorded_inputs(path: str | os.PathLike, data: dict) -> tuple[InputEncoding | None, list[str] | None]:
    """How the input of the run that wrote checkpoint ``path`` (read as ``data``) was made,
    and its class names; ``None`` for what is not known.

    ``train`` records both (``input_encoding``, ``class_names``). Checkpoints written
    before it did carry the run's data section (``recipe``) or sit beside the run's
    ``config.json``; their binning is that section's, used only where it gives the
    model's input size.
    """
    names = data.get("class_names")  # read_checkpoint checked it: None or a list of strings
    if "input_encoding" in data:
        recorded = data["input_encoding"]
        if recorded is None:
            return None, names
        try:
            return InputEncoding.from_settings(recorded).check(f"{path}: input_encoding"), names
        except EncodingError as err:
            raise CheckpointError(str(err)) from None
    recipe = data.get("recipe")
    section = recipe.get("data") if isinstance(recipe, dict) else None
    config = Path(path).parent / "config.json"
    if section is None and config.is_file():
        try:
            section = json.loads(config.read_text()).get("data")
        except (OSError, ValueError, AttributeError):
            section = None
    if not isinstance(section, dict):
        return None, names
    try:
        encoding = InputEncoding.from_settings(section).check()
    except UserError:
        return None, names
    return (encoding if encoding.channels == data["config"].get("input_size") else None), names


def checkpoint_network(checkpoint: Path) -> tuple[SpikingNetwork, NetworkSpec]:
    """The model of ``checkpoint`` and its quantized network, with what the run
    recorded of its data (binning, class names); errors name the checkpoint."""
    model, data = load_model(checkpoint)
    return model, blocks_to_spec(list(model.blocks), str(checkpoint), *recorded_inputs(checkpoint, data))


def checkpoint_spec(checkpoint: Path) -> NetworkSpec:
    """The quantized network of ``checkpoint`` (:func:`checkpoint_network`)."""
    return checkpoint_network(checkpoint)[1]


def load_network(target: Path) -> NetworkSpec:
    """The quantized network of a run directory, a checkpoint (.pt) or a network file."""
    target = Path(target)
    if target.is_dir():
        return checkpoint_spec(run_checkpoint(target))
    if target.suffix == ".pt":
        return checkpoint_spec(target)
    return read_network(target)


def export_checkpoint(checkpoint: Path, output: Path) -> NetworkSpec:
    """Write the network of ``checkpoint`` (:func:`checkpoint_spec`) to ``output``."""
    spec = checkpoint_spec(checkpoint)
    write_network(spec, output)
    return spec
