"""A feed-forward stack of SLAYER-style blocks described by a plain config.

The config is JSON-compatible (stored in checkpoints, readable by
``torch.load(weights_only=True)``)::

    {"input_size": 140,
     "neuron": {"threshold": 4.0, "current_decay": 0.5, "voltage_decay": 0.2},
     "layers": [
        {"type": "conv_delay_rec", "neurons": 256, "kernel_size": 3, "channels": 1,
         "max_delay": 30, "delay_init": [10, 30], "learn_delays": true},
        {"type": "delay_rec", "neurons": 256, "max_delay": 30},
        {"type": "rec", "neurons": 256},          # plain recurrence (SLAYER Recurrent)
        {"type": "dense", "neurons": 20},         # SLAYER Dense (optional "delay": true)
        {"type": "affine", "neurons": 20}]}       # non-spiking readout (last layer only)

Layer keys other than ``type`` and ``neurons`` are passed to the block; a layer
may override ``neuron`` parameters with its own ``"neuron"`` dict. The output
layer's kind sets the decision rule (:mod:`lava_convdelay.readout`): an
``affine`` output is read by its voltage, a spiking one by its spike counts.
"""
from __future__ import annotations

import copy

import torch
from lava.lib.dl import slayer

from lava_convdelay.block.cuba import Affine, ConvDelayRecurrent, DelayRecurrent
from lava_convdelay.errors import UserError

LAYER_TYPES = ("conv_delay_rec", "delay_rec", "rec", "dense", "affine")


class ConfigError(UserError):
    """A model config that cannot be built; the message names the layer and key."""


def _build_block(index: int, layer: dict, in_neurons: int, neuron: dict) -> torch.nn.Module:
    layer = dict(layer)
    kind = layer.pop("type", None)
    if kind not in LAYER_TYPES:
        raise ConfigError(f"layer {index}: unknown type {kind!r} (known: {', '.join(LAYER_TYPES)})")
    if "neurons" not in layer:
        raise ConfigError(f"layer {index} ({kind}): missing 'neurons'")
    out_neurons = layer.pop("neurons")
    if isinstance(out_neurons, bool) or not isinstance(out_neurons, int) or out_neurons < 1:
        raise ConfigError(f"layer {index} ({kind}): 'neurons' must be a positive integer, got {out_neurons!r}")
    if not isinstance(layer.get("neuron", {}), dict):
        raise ConfigError(f"layer {index} ({kind}): 'neuron' must be a mapping of neuron parameters")
    params = {**neuron, **layer.pop("neuron", {})}
    if "delay_init" in layer:
        layer["delay_init"] = tuple(layer["delay_init"])
    try:
        if kind == "conv_delay_rec":
            return ConvDelayRecurrent(params, in_neurons, out_neurons, **layer)
        if kind == "delay_rec":
            return DelayRecurrent(params, in_neurons, out_neurons, **layer)
        if kind == "rec":
            return DelayRecurrent(params, in_neurons, out_neurons, delays=False, **layer)
        if kind == "affine":
            return Affine(params, in_neurons, out_neurons, **layer)
        block = slayer.block.cuba.Dense(params, in_neurons, out_neurons, **layer)
        if block.delay is not None:  # SLAYER sizes feed-forward delays on first use
            block.delay(torch.zeros(1, out_neurons, 1))
        return block
    except (TypeError, ValueError, AssertionError) as err:  # SLAYER validates with assert
        raise ConfigError(f"layer {index} ({kind}): {err}") from None


class SpikingNetwork(torch.nn.Module):
    """Blocks applied in sequence; input/output ``[batch, neurons, time]`` spikes."""

    def __init__(self, config: dict):
        super().__init__()
        if not isinstance(config, dict) or "layers" not in config or "input_size" not in config:
            raise ConfigError("model config needs 'input_size' and 'layers'")
        size = config["input_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"'input_size' must be a positive integer, got {size!r}")
        if not isinstance(config["layers"], list) or not all(isinstance(x, dict) for x in config["layers"]):
            raise ConfigError("'layers' must be a list of layer mappings")
        if not isinstance(config.get("neuron", {}), dict):
            raise ConfigError("'neuron' must be a mapping of neuron parameters")
        self.config = copy.deepcopy(config)
        neuron = dict(config.get("neuron", {}))
        blocks, size = [], config["input_size"]
        for i, layer in enumerate(config["layers"], start=1):
            if layer.get("type") == "affine" and i < len(config["layers"]):
                raise ConfigError(f"layer {i} (affine): a non-spiking layer can only be the output layer "
                                  f"(it sends no spikes on)")
            blocks.append(_build_block(i, layer, size, neuron))
            size = layer["neurons"]
        if not blocks:
            raise ConfigError("model config has no layers")
        self.blocks = torch.nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, all_layers: bool = False):
        """Output ``[B, N_out, T]`` (spikes, or an ``affine`` output's voltage),
        or every layer's output if ``all_layers``."""
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs if all_layers else x

    @property
    def readout(self) -> str:
        """The decision rule its output layer implies (:data:`lava_convdelay.readout.READOUTS`)."""
        return "voltage_sum" if isinstance(self.blocks[-1], Affine) else "spike_count"

    def delay_blocks(self):
        return [b for b in self.blocks if getattr(b, "axonal_delay", None) is not None]

    def set_sigma(self, sigma: float) -> None:
        for block in self.delay_blocks():
            block.set_sigma(sigma)

    def clamp_delays(self) -> None:
        for block in self.delay_blocks():
            block.clamp_delays()

    @property
    def recurrent_param_count(self) -> int:
        total = 0
        for block in self.blocks:
            if hasattr(block, "recurrent_param_count"):
                total += block.recurrent_param_count
            elif isinstance(block, slayer.block.cuba.Recurrent):
                total += block.recurrent_synapse.weight.numel()
        return total

    def delay_parameters(self) -> list[torch.nn.Parameter]:
        return [b.axonal_delay.delay for b in self.delay_blocks() if b.axonal_delay.delay.requires_grad]
