"""What a model config may hold: the keys of each layer type and of the
neuron parameters, and their types and ranges.

:class:`lava_convdelay.nn.model.SpikingNetwork` checks a config with these before
building any block, so a misspelt key or a wrong value is one line naming the
layer, the key and the value, never a traceback from inside SLAYER.
"""
from __future__ import annotations

from lava_convdelay.bounds import FLOAT32_MAX, Bounds, check_value
from lava_convdelay.errors import UserError
from lava_convdelay.limits import MAX_DELAY, MAX_DELAY_CHANNELS, VTH_SPIKING_MAX, WEIGHT_UNIT


class ConfigError(UserError):
    """A model config that cannot be built; the message names the layer and key."""


MODEL_KEYS = ("input_size", "neuron", "layers")
_COMMON = ("type", "neurons", "neuron", "weight_scale")
_RECURRENT = _COMMON + ("rec_dropout", "dropout")
_DELAYED = _RECURRENT + ("max_delay", "delay_init", "learn_delays", "sigma")
#: The keys each layer type takes (see lava_convdelay.nn.model and the blocks' arguments).
LAYER_KEYS = {
    "conv_delay_rec": _DELAYED + ("kernel_size", "channels"),
    "conv_delay_channels_rec": _DELAYED + ("kernel_size", "channels", "delay_channels", "delay_rule"),
    "delay_rec": _DELAYED,
    "rec": _RECURRENT,
    "dense": _COMMON + ("delay",),
    "affine": _COMMON,  # the non-spiking readout (output layer only)
    "conv": _COMMON + ("channels", "kernel_size"),  # the front end; "neurons" optional: channels x positions
}
#: The most neurons of a layer: a recurrent layer trains an [N, N] float32 matrix with
#: its gradient and two Adam moments, 4 GB at N = 16384 (and the config check builds
#: every layer once).
MAX_NEURONS = 2**14
#: Real numbers become float32 tensor entries (weights scaled by ``weight_scale``, the
#: delay kernel's ``sigma``), so none may pass FLOAT32_MAX.
LAYER_BOUNDS = {
    "neurons": Bounds(True, 1, MAX_NEURONS),
    # initial weights beyond +-4 (the 8-bit range in SLAYER units) saturate when quantized;
    # 10^4 leaves room and keeps torch's uniform init range (2 x bound) finite
    "weight_scale": Bounds(False, 0, 1e4, low_allowed=False),
    "rec_dropout": Bounds(False, 0, 1, high_allowed=False),
    "dropout": Bounds(False, 0, 1, high_allowed=False),
    "max_delay": Bounds(True, 0, MAX_DELAY),
    "sigma": Bounds(False, 0, FLOAT32_MAX),
    "kernel_size": Bounds(True, 1, MAX_NEURONS),
    "channels": Bounds(True, 1, MAX_NEURONS),
    "delay_channels": Bounds(True, 1, MAX_DELAY_CHANNELS),
}
LAYER_FLAGS = ("learn_delays", "delay")
#: Keys a layer type refuses with a reason (rather than as unknown): what it does not do.
UNSUPPORTED_KEYS = {
    "conv": {
        "stride": "stride 1 only (the layer keeps its input's positions)",
        "dilation": "dilation 1 only",
        "groups": "groups 1 only (every output channel sees every input channel)",
        "padding": "\"same\" zero padding only (kernel_size // 2 on each side)",
        "delay": "no axonal delays on a conv layer",
    },
}
#: Keys a layer type needs (default: "neurons").
REQUIRED_KEYS = {"conv": ("channels",)}
NEURON_REQUIRED = ("threshold", "current_decay", "voltage_decay")
#: SLAYER CUBA parameters a config may set; the threshold's mantissa int(64 * threshold)
#: must fit Loihi's [1, 2^17 - 1].
NEURON_BOUNDS = {
    "threshold": Bounds(False, 1 / WEIGHT_UNIT, (VTH_SPIKING_MAX + 1) / WEIGHT_UNIT, high_allowed=False),
    "current_decay": Bounds(False, 0, 1),
    "voltage_decay": Bounds(False, 0, 1),
    "tau_grad": Bounds(False, 0, FLOAT32_MAX, low_allowed=False),
    "scale_grad": Bounds(False, 0, FLOAT32_MAX, low_allowed=False),
}


def _check_keys(given, known, where: str) -> None:
    unknown = set(given) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")


def check_model(config) -> None:
    """The model-level keys: ``input_size``, a ``neuron`` mapping and a non-empty ``layers`` list."""
    if not isinstance(config, dict) or "layers" not in config or "input_size" not in config:
        raise ConfigError("model config needs 'input_size' and 'layers'")
    _check_keys(config, MODEL_KEYS, "model")
    # input channels: SHD-format files store channels as uint16
    check_value(config["input_size"], "input_size", Bounds(True, 1, 2**16), ConfigError)
    if not isinstance(config.get("neuron", {}), dict):
        raise ConfigError("'neuron' must be a mapping of neuron parameters")
    if not isinstance(config["layers"], list) or not all(isinstance(x, dict) for x in config["layers"]):
        raise ConfigError("'layers' must be a list of layer mappings")
    if not config["layers"]:
        raise ConfigError("model config has no layers")


def check_layer(index: int, layer: dict, neuron: dict) -> dict:
    """Check layer ``index`` (from 1) and its neuron parameters (``neuron``, the model's,
    updated by the layer's own); returns those parameters."""
    kind = layer.get("type")
    if not isinstance(kind, str) or kind not in LAYER_KEYS:
        raise ConfigError(f"layer {index}: unknown type {kind!r} (known: {', '.join(LAYER_KEYS)})")
    where = f"layer {index} ({kind})"
    for key, reason in UNSUPPORTED_KEYS.get(kind, {}).items():
        if key in layer:
            raise ConfigError(f"{where}: '{key}' is not supported: {reason}")
    _check_keys(layer, LAYER_KEYS[kind], where)
    for key in REQUIRED_KEYS.get(kind, ("neurons",)):
        if key not in layer:
            raise ConfigError(f"{where}: missing '{key}'")
    for key, value in layer.items():
        if key in LAYER_BOUNDS:
            check_value(value, f"{where}: {key}", LAYER_BOUNDS[key], ConfigError)
        elif key in LAYER_FLAGS and not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
    if "delay_rule" in layer and layer["delay_rule"] not in ("triangle", "linear"):
        raise ConfigError(f"{where}: delay_rule must be 'triangle' or 'linear', got {layer['delay_rule']!r}")
    if "delay_init" in layer and not (kind == "conv_delay_channels_rec" and layer["delay_init"] == "linspace"):
        init = layer["delay_init"]
        if not (isinstance(init, (list, tuple)) and len(init) == 2 and all(Bounds(False, 0).allows(v) for v in init)):
            also = " or 'linspace'" if kind == "conv_delay_channels_rec" else ""
            raise ConfigError(f"{where}: delay_init must be [low, high], two numbers >= 0 (steps){also}, "
                              f"got {init!r}")
    if not isinstance(layer.get("neuron", {}), dict):
        raise ConfigError(f"{where}: 'neuron' must be a mapping of neuron parameters")
    params = {**neuron, **layer.get("neuron", {})}
    _check_keys(params, NEURON_BOUNDS, f"{where}: neuron")
    missing = [key for key in NEURON_REQUIRED if key not in params]
    if missing:
        raise ConfigError(f"{where}: neuron parameters {missing} missing (needed: {', '.join(NEURON_REQUIRED)})")
    for key, value in params.items():
        check_value(value, f"{where}: neuron.{key}", NEURON_BOUNDS[key], ConfigError)
    return params
