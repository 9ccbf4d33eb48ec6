"""Rebuild a training-side model from a network file.

The exported values are exactly representable on the training side (weights
are multiples of 1/64, decays of 1/4096, delays integers), so the rebuilt
:class:`SpikingNetwork` *is* the quantized model the file came from; ``verify``
runs it against Lava without needing the original checkpoint.
"""
from __future__ import annotations

import torch

from lava_convdelay.limits import STATE_UNIT, WEIGHT_UNIT
from lava_convdelay.nn.model import SpikingNetwork
from netx_export.spec import LayerSpec, NetworkSpec


def _neuron(layer: LayerSpec) -> dict:
    if not layer.neuron.spiking:  # the readout's threshold is not used
        return {"threshold": 1.0, "current_decay": layer.neuron.i_decay / STATE_UNIT,
                "voltage_decay": layer.neuron.v_decay / STATE_UNIT}
    return {"threshold": layer.neuron.vth_mant / WEIGHT_UNIT,
            "current_decay": layer.neuron.i_decay / STATE_UNIT,
            "voltage_decay": layer.neuron.v_decay / STATE_UNIT}


def _layer_config(layer: LayerSpec) -> dict:
    config = {"neurons": layer.num_neurons, "neuron": _neuron(layer)}
    if not layer.neuron.spiking:
        return {"type": "affine", **config}
    if layer.type == "dense":
        return {"type": "dense", "delay": layer.delay is not None, **config}
    if layer.ff_conv is not None:
        return {"type": "conv", "channels": layer.ff_conv.channels, "kernel_size": layer.ff_conv.kernel_size,
                **config}
    if layer.type == "dense_rec":
        return {"type": "rec", **config}
    delays = {"max_delay": layer.max_delay, "delay_init": [0, layer.max_delay], "learn_delays": False}
    if layer.type == "delay_rec":
        return {"type": "delay_rec", **delays, **config}
    if layer.type == "dchan_rec":
        channels = layer.delay_channels
        return {"type": "conv_delay_channels_rec", "kernel_size": channels.kernel_size, "channels": channels.channels,
                "delay_channels": channels.count, **delays, **config}
    return {"type": "conv_delay_rec", "kernel_size": layer.conv.kernel_size,
            "channels": layer.conv.channels, **delays, **config}


def spec_to_model(spec: NetworkSpec) -> SpikingNetwork:
    """A model in eval mode, integer delays (sigma = 0), computing what ``spec`` does."""
    model = SpikingNetwork({"input_size": spec.input_size,
                            "layers": [_layer_config(layer) for layer in spec.layers]})
    with torch.no_grad():
        for block, layer in zip(model.blocks, spec.layers):
            if layer.ff_conv is not None:
                kernel = torch.as_tensor(layer.ff_conv.kernel / WEIGHT_UNIT, dtype=torch.float32)
                block.synapse.weight.copy_(kernel.reshape(block.synapse.weight.shape))
                continue
            w = torch.as_tensor(layer.weight / WEIGHT_UNIT, dtype=torch.float32)
            if layer.type == "dense":
                block.synapse.weight.copy_(w.reshape(block.synapse.weight.shape))
                if layer.delay is not None:
                    block.delay.delay.copy_(torch.tensor(layer.delay, dtype=torch.float32))
                continue
            block.input_synapse.weight.copy_(w.reshape(block.input_synapse.weight.shape))
            if layer.type == "dchan_rec":
                block.recurrent_synapse.weight.copy_(torch.as_tensor(layer.delay_channels.kernel / WEIGHT_UNIT))
                block.axonal_delay.delay.copy_(torch.tensor(layer.delay_channels.delays, dtype=torch.float32))
                continue  # sigma 0: integer delays
            if layer.type == "conv_rec":
                block.recurrent_synapse.weight.copy_(torch.as_tensor(layer.conv.kernel / WEIGHT_UNIT))
            else:
                rec = block.recurrent_synapse.synapse.weight
                rec.copy_(torch.as_tensor(layer.weight_rec / WEIGHT_UNIT, dtype=torch.float32).reshape(rec.shape))
            if layer.delay_rec is not None:
                block.axonal_delay.delay.copy_(torch.tensor(layer.delay_rec, dtype=torch.float32))
                block.set_sigma(0.0)
    return model.eval()
