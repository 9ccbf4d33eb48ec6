"""A training config: its sections, the ``train`` keys with their defaults (the
shipped recipe) and allowed values, and the one check that refuses a config
before any data is read or file written.

    {"description": "...", "seed": 0,
     "model": {...},            # lava_convdelay.nn.model
     "data": {...},             # lava_convdelay.training.data_section
     "train": {...}}            # DEFAULT_TRAIN below
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from lava_convdelay.bounds import FLOAT32_MAX, SEED_BOUNDS, Bounds, check_value
from lava_convdelay.data.encoding import MAX_SOURCE_CHANNELS, MAX_STEPS
from lava_convdelay.errors import UserError
from lava_convdelay.nn.model import SpikingNetwork
from lava_convdelay.training.augment import AUGMENT_DEFAULTS
from lava_convdelay.training.data_section import check_data_section
from lava_convdelay.training.losses import LOSS_READOUT, LOSSES

# The recipe of configs/*.json (README, "The shipped configs"); true_rate and
# false_rate are used by the "rate" loss only; loss "auto" is the output
# layer's own: voltage_ce for an affine (voltage) readout, count_ce for spikes.
DEFAULT_TRAIN = {
    "epochs": 30,
    "batch_size": 16,
    "lr": 1e-2,
    "lr_delay": 0.5,
    "weight_decay": 1e-5,
    "sigma_init": 10.0,
    "sigma_decay": 0.95,
    "sigma_reference_epochs": 100,
    "loss": "auto",
    "ce_scale": 1.0,
    "true_rate": 0.2,
    "false_rate": 0.03,
    "eval_batch_size": 64,
    # the design notes' training tips for delay channels (issue 25): delays held
    # at their initial values for the first epochs, L1 on the recurrent kernels
    "freeze_delays_epochs": 0,
    "kernel_l1": 0.0,
    **AUGMENT_DEFAULTS,
    "time_shift": 10,
}


#: What training can use. Counts are bounded by memory and by the per-epoch seed
#: (``seed * 100003 + epoch`` must fit torch's 64-bit seeds); every real number
#: becomes a float32 tensor entry or a scalar of float32 arithmetic, so none may
#: pass FLOAT32_MAX; the shifts by what a sample can hold. What depends on the data
#: (a shift that empties every sample, a binning that leaves no spike) is refused
#: when training starts (lava_convdelay.training.loop).
MAX_EPOCHS = 10**6
#: torch's batch sampler lists batch_size indices before reading a sample; larger
#: batches than the data hold are the whole data
MAX_BATCH = 10**6
TRAIN_BOUNDS = {
    "epochs": Bounds(True, 1, MAX_EPOCHS),
    "batch_size": Bounds(True, 1, MAX_BATCH),
    "eval_batch_size": Bounds(True, 1, MAX_BATCH),
    # Adam moves a weight by about lr per step, and the forward clamps weights to the
    # 8-bit range [-4, 3.97]: steps beyond ~8 cross it whole; Adam's first steps scale
    # lr by 10 (bias correction), which a float32 must hold
    "lr": Bounds(False, 0, 100, low_allowed=False),
    # delays live in [0, 62] steps and move by about lr_delay per step
    "lr_delay": Bounds(False, 0, 1000),
    # AdamW multiplies each weight by 1 - lr x weight_decay per step (a float32)
    "weight_decay": Bounds(False, 0, 1000),
    "sigma_init": Bounds(False, 0, FLOAT32_MAX),
    "sigma_decay": Bounds(False, 0, 1, low_allowed=False),
    "sigma_reference_epochs": Bounds(False, 0, FLOAT32_MAX, low_allowed=False),
    "ce_scale": Bounds(False, 0, FLOAT32_MAX, low_allowed=False),
    "true_rate": Bounds(False, 0, 1),
    "false_rate": Bounds(False, 0, 1),
    "time_shift": Bounds(True, 0, MAX_STEPS),
    "channel_shift": Bounds(True, 0, MAX_SOURCE_CHANNELS),
    "thinning": Bounds(False, 0, 1),
    "freeze_delays_epochs": Bounds(True, 0, MAX_EPOCHS),
    "kernel_l1": Bounds(False, 0, FLOAT32_MAX),
}


class TrainConfigError(UserError):
    """A training config that cannot be used; names the file and key."""


CONFIG_KEYS = ("description", "seed", "model", "data", "train")


def load_config(path: str | os.PathLike) -> dict:
    """Read a JSON training config, check every value and fill in defaults."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrainConfigError(f"{path}: no such config file") from None
    except json.JSONDecodeError as err:
        raise TrainConfigError(f"{path}: invalid JSON ({err})") from None
    except (OSError, UnicodeDecodeError) as err:  # a folder, unreadable, not text
        raise TrainConfigError(f"{path}: cannot read the config ({err})") from None
    return normalise_config(config, str(path))


def normalise_config(config: dict, where: str = "config") -> dict:
    """Check every section of ``config`` (``where``: the file, for messages) before any
    work starts, and fill in defaults: the model is built once, small, to check it."""
    if not isinstance(config, dict) or "model" not in config:
        raise TrainConfigError(f"{where}: needs a 'model' section")
    config = copy.deepcopy(config)
    unknown = set(config) - set(CONFIG_KEYS)
    if unknown:
        raise TrainConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {list(CONFIG_KEYS)}")
    for section in ("model", "train", "data"):
        if not isinstance(config.get(section, {}), dict):
            raise TrainConfigError(f"{where}: '{section}' must be a mapping")
    if not isinstance(config.get("description", ""), str):
        raise TrainConfigError(f"{where}: description must be a string")
    unknown = set(config.get("train", {})) - set(DEFAULT_TRAIN)
    if unknown:
        raise TrainConfigError(f"{where}: unknown train key(s) {sorted(unknown)}; known: {sorted(DEFAULT_TRAIN)}")
    config["train"] = {**DEFAULT_TRAIN, **config.get("train", {})}
    loss = config["train"]["loss"]
    if not isinstance(loss, str) or loss not in ("auto", *LOSSES):  # a JSON list or dict is unhashable
        raise TrainConfigError(f"{where}: train.loss must be one of {('auto', *LOSSES)}, got {loss!r}")
    readout = _readout_of(config["model"])
    if loss == "auto":
        config["train"]["loss"] = loss = "voltage_ce" if readout == "voltage_sum" else "count_ce"
    if LOSS_READOUT[loss] != readout:
        output = "an 'affine' (voltage)" if readout == "voltage_sum" else "a spiking"
        raise TrainConfigError(f"{where}: train.loss '{loss}' trains a {LOSS_READOUT[loss]} readout but the "
                               f"model has {output} output layer; use loss 'auto'")
    for key, bounds in TRAIN_BOUNDS.items():
        check_value(config["train"][key], f"{where}: train.{key}", bounds, TrainConfigError)
        if not bounds.integer:  # torch cannot take a JSON integer beyond 64 bits as a scale
            config["train"][key] = float(config["train"][key])
    config.setdefault("seed", 0)
    check_value(config["seed"], f"{where}: seed", SEED_BOUNDS, TrainConfigError)
    config.setdefault("data", {"source": "generated"})
    encoding = check_data_section(config["data"], where)
    model = config["model"]
    try:  # every layer key, type and range, and what the blocks check (kernel vs neurons, conv vs input, ...)
        SpikingNetwork({**model, "input_size": model.get("input_size", encoding.channels)})
    except UserError as err:
        raise TrainConfigError(f"{where}: {err}") from None
    return config


def _readout_of(model: dict) -> str:
    """The readout a model section's output layer implies (before building it)."""
    layers = model.get("layers")
    last = layers[-1] if isinstance(layers, list) and layers and isinstance(layers[-1], dict) else {}
    return "voltage_sum" if last.get("type") == "affine" else "spike_count"


