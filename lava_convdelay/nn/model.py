"""A feed-forward stack of SLAYER-style blocks described by a plain config.

The config is JSON-compatible (stored in checkpoints, readable by
``torch.load(weights_only=True)``)::

    {"input_size": 140,
     "neuron": {"threshold": 4.0, "current_decay": 0.5, "voltage_decay": 0.2},
     "layers": [
        {"type": "conv_delay_rec", "neurons": 256, "kernel_size": 3, "channels": 1,
         "max_delay": 30, "delay_init": [10, 30], "learn_delays": true},
        {"type": "conv_delay_channels_rec", "neurons": 256, "channels": 4, "kernel_size": 5,
         "delay_channels": 8, "max_delay": 30, "delay_rule": "triangle"},   # delay channels
        {"type": "delay_rec", "neurons": 256, "max_delay": 30},
        {"type": "rec", "neurons": 256},          # plain recurrence (SLAYER Recurrent)
        {"type": "dense", "neurons": 20},         # SLAYER Dense (optional "delay": true)
        {"type": "affine", "neurons": 20}]}       # non-spiking readout (last layer only)

A convolutional front end comes first: ``{"type": "conv", "channels": 4,
"kernel_size": 5}`` layers (:class:`lava_convdelay.nn.conv_block.ConvBlock`),
before every other layer and never the output layer. The input is one channel
of ``input_size`` positions, each conv layer ``channels`` channels of the same
positions (its ``neurons``, optional, are ``channels x input_size``), neuron
``c * input_size + f``: a following ``conv_delay_rec`` with the same
``channels`` convolves over the same positions.

Layer keys other than ``type`` and ``neurons`` are passed to the block; a layer
may override ``neuron`` parameters with its own ``"neuron"`` dict. The output
layer's kind sets the decision rule (:mod:`lava_convdelay.nn.readout`): an
``affine`` output is read by its voltage, a spiking one by its spike counts.
"""
from __future__ import annotations

import copy

import torch
from lava.lib.dl import slayer

from lava_convdelay.nn.blocks import Affine, ConvDelayRecurrent, DelayChannelConvRecurrent, DelayRecurrent
from lava_convdelay.nn.conv_block import ConvBlock
from lava_convdelay.nn.delay_channels import DelayChannelSynapse
from lava_convdelay.nn.layer_config import LAYER_BOUNDS, ConfigError, check_layer, check_model
from lava_convdelay.nn.recurrent_synapse import ConvRecurrentSynapse


def _build_block(index: int, layer: dict, in_neurons: int, neuron: dict, in_channels: int) -> torch.nn.Module:
    """Block ``index`` (from 1) fed by ``in_neurons`` neurons, ``in_channels`` channels of
    positions where it is a conv layer's input."""
    params = check_layer(index, layer, neuron)
    # real-valued settings as floats: a JSON integer such as 10**30 passes the range check
    # but torch cannot multiply a tensor by an integer beyond 64 bits
    params = {key: float(value) for key, value in params.items()}
    layer = {key: float(value) if key in LAYER_BOUNDS and not LAYER_BOUNDS[key].integer else value
             for key, value in layer.items()}
    kind = layer.pop("type")
    out_neurons = layer.pop("neurons", None)
    layer.pop("neuron", None)
    if isinstance(layer.get("delay_init"), list):
        layer["delay_init"] = tuple(layer["delay_init"])
    try:
        if kind == "conv":
            positions = in_neurons // in_channels
            if out_neurons is not None and out_neurons != layer["channels"] * positions:
                raise ConfigError(f"layer {index} (conv): neurons={out_neurons}, but {layer['channels']} channels "
                                  f"of {positions} positions are {layer['channels'] * positions}")
            return ConvBlock(params, in_channels, positions=positions, **layer)
        if kind == "conv_delay_rec":
            return ConvDelayRecurrent(params, in_neurons, out_neurons, **layer)
        if kind == "conv_delay_channels_rec":
            return DelayChannelConvRecurrent(params, in_neurons, out_neurons, **layer)
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


def _check_front_end(index: int, layers: list[dict]) -> None:
    """A conv layer (``index``, from 1) only in the front end: after the input or another
    conv layer, and not the output layer."""
    for i, earlier in enumerate(layers[:index - 1], start=1):
        if earlier.get("type") != "conv":
            raise ConfigError(f"layer {index} (conv): a conv layer belongs to the front end, before every other "
                              f"layer; layer {i} is {earlier.get('type')!r}")
    if index == len(layers):
        raise ConfigError(f"layer {index} (conv): a conv layer cannot be the output layer (the front end feeds "
                          f"the recurrent layers and the readout)")


class SpikingNetwork(torch.nn.Module):
    """Blocks applied in sequence; input/output ``[batch, neurons, time]`` spikes."""

    def __init__(self, config: dict):
        super().__init__()
        check_model(config)
        self.config = copy.deepcopy(config)
        neuron = dict(config.get("neuron", {}))
        layers = config["layers"]
        blocks, size, channels = [], config["input_size"], 1  # the input: one channel of its positions
        for i, layer in enumerate(layers, start=1):
            if layer.get("type") == "affine" and i < len(layers):
                raise ConfigError(f"layer {i} (affine): a non-spiking layer can only be the output layer "
                                  f"(it sends no spikes on)")
            if layer.get("type") == "conv":
                _check_front_end(i, layers)
            block = _build_block(i, layer, size, neuron, channels)
            blocks.append(block)
            size = block.num_neurons if isinstance(block, ConvBlock) else layer["neurons"]
            channels = block.channels if isinstance(block, ConvBlock) else 1
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
        """The decision rule its output layer implies (:data:`lava_convdelay.nn.readout.READOUTS`)."""
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

    def kernel_l1(self) -> torch.Tensor:
        """Sum of the absolute raw weights of the recurrent convolution kernels
        (``conv_delay_rec`` and ``conv_delay_channels_rec`` layers): the L1
        term of the ``kernel_l1`` training option; 0 without such layers."""
        total = torch.zeros(())
        for block in self.blocks:
            synapse = getattr(block, "recurrent_synapse", None)
            if isinstance(synapse, (ConvRecurrentSynapse, DelayChannelSynapse)):
                total = total.to(synapse.weight.device) + synapse.weight.abs().sum()
        return total

    def delay_parameters(self) -> list[torch.nn.Parameter]:
        return [b.axonal_delay.delay for b in self.delay_blocks() if b.axonal_delay.delay.requires_grad]

    def integer_delays(self) -> list[torch.Tensor]:
        """Each delay block's deployed delays, ``[neurons]`` int64 steps, in block order."""
        return [b.axonal_delay.integer_delays() for b in self.delay_blocks()]

    def delay_movement(self, initial: list[torch.Tensor]) -> dict[str, float]:
        """How far the learned integer delays are from ``initial`` (:meth:`integer_delays`
        at the start): ``delay_moved`` the mean absolute change in steps and
        ``delays_changed`` the fraction that differ, over the blocks that learn delays;
        empty when none does."""
        pairs = [(now, start) for block, now, start in zip(self.delay_blocks(), self.integer_delays(), initial)
                 if block.axonal_delay.delay.requires_grad]
        if not pairs:
            return {}
        change = torch.cat([(now - start.to(now.device)).abs() for now, start in pairs]).float()
        return {"delay_moved": float(change.mean()), "delays_changed": float((change > 0).float().mean())}
