"""Checkpoints: written atomically, read without executing code.

A checkpoint is a dict ``{"format": "lava-convdelay-checkpoint", "version": 1,
"config": <model config>, "state_dict": ..., **extra}`` saved with
``torch.save`` to a temporary file in the target directory and renamed, and
loaded with ``torch.load(weights_only=True)``, so a file can neither be left
half-written by a crash nor run code when read.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from lava_convdelay.atomic import atomic_output
from lava_convdelay.errors import UserError
from lava_convdelay.nn.model import SpikingNetwork

FORMAT = "lava-convdelay-checkpoint"
VERSION = 1
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class CheckpointError(UserError):
    """A checkpoint that cannot be read; the message names the file."""


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename."""
    path = Path(path)
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())  # the rename must never publish unwritten data
    return path


def save_checkpoint(path: str | os.PathLike, model: SpikingNetwork, **extra) -> Path:
    """Save ``model`` (config + weights) and JSON/tensor ``extra`` fields."""
    return atomic_torch_save(
        {"format": FORMAT, "version": VERSION, "config": model.config,
         "state_dict": model.state_dict(), **extra},
        path,
    )


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, validated; never unpickles arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            raise CheckpointError(f"{path}: this is a network file (HDF5), not a checkpoint; give the "
                                  f"checkpoint.pt that train wrote")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupted pickles raise anything (IndexError, KeyError, ...)
        detail = str(err).strip() or type(err).__name__
        if "WeightsUnpickler error:" in detail:  # torch's advice to disable weights_only is wrong here
            detail = "contains objects other than tensors and plain data: " + \
                detail.split("WeightsUnpickler error:")[-1].strip()
        raise CheckpointError(
            f"{path}: not a readable lava-convdelay checkpoint ({detail[-200:]})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a lava-convdelay checkpoint (missing format marker)")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')} is not supported")
    for key in ("config", "state_dict"):
        if key not in data:
            raise CheckpointError(f"{path}: checkpoint has no '{key}'")
    if not isinstance(data["state_dict"], dict):
        raise CheckpointError(f"{path}: 'state_dict' must be a mapping of tensors, got "
                              f"{type(data['state_dict']).__name__}")
    names = data.get("class_names")
    if names is not None and not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise CheckpointError(f"{path}: 'class_names' must be a non-empty list of strings, got {names!r:.80}")
    if not isinstance(data.get("input_encoding", {}), (dict, type(None))):
        raise CheckpointError(f"{path}: 'input_encoding' must be a mapping, got {data['input_encoding']!r:.80}")
    return data


def load_model(path: str | os.PathLike) -> tuple[SpikingNetwork, dict]:
    """Rebuild the model of a checkpoint; returns ``(model, checkpoint dict)``."""
    data = read_checkpoint(path)
    try:
        model = SpikingNetwork(data["config"])
        model.load_state_dict(data["state_dict"])
    except UserError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not match the config ({str(err).splitlines()[0]})") from None
    return model, data
