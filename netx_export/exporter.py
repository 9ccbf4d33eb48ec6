"""Quantize trained blocks into a :class:`NetworkSpec` and write it.

Supported blocks: SLAYER's ``cuba.Dense`` (with or without ``delay=True``),
``cuba.Recurrent`` (without feed-forward delay) and ``cuba.Affine`` (the
non-spiking readout, written as a ``dense`` layer whose threshold is out of
reach, as lava-dl writes it), and this project's ``DelayRecurrent`` /
``ConvDelayRecurrent``, ``DelayChannelConvRecurrent`` (a ``dchan_rec``
layer: its kernels and one delay per delay channel) and ``ConvBlock``
(SLAYER's ``cuba.Conv`` of the front end). The file holds exactly what the
blocks' forward pass computes with (the quantized training model):

- weights: the output of each synapse's ``pre_hook_fx`` -- SLAYER's
  ``quantize_8bit``, steps of 2/64 clamped to [-256, 254]/64 -- the same
  function the forward pass applies (:mod:`lava_convdelay.nn.weight_range`);
- recurrent delays: the integers the integer forward uses
  (:meth:`RecurrentDelay.integer_delays`: clamped to ``[0, max_delay]``, rounded);
- feed-forward delays: SLAYER's ``floor`` of its ``Delay``, clamped as its
  forward clamps it (``[0, 62]``);
- decays 12-bit, thresholds as SLAYER's ``device_params``.

So whatever training produced exports without loss. A :class:`QuantizationError`
remains for values the forward does *not* bring into Loihi's range: non-finite
values, weights of a synapse without a quantizer hook outside the 8-bit range,
a feed-forward delay above 62 that its ``Delay`` did not clamp. It names the
source (the checkpoint), the layer, the index and the value.
"""
from __future__ import annotations

import copy
import os

import numpy as np
import torch
from lava.lib.dl import slayer

from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.errors import DelayRangeError
from lava_convdelay.limits import MAX_DELAY, VTH_NON_SPIKING, WEIGHT_MAX, WEIGHT_MIN, WEIGHT_STEP, WEIGHT_UNIT
from lava_convdelay.nn.blocks import AbstractDelayRecurrent, ConvDelayRecurrent, DelayChannelConvRecurrent
from lava_convdelay.nn.conv_block import ConvBlock
from lava_convdelay.nn.delays import round_delays
from lava_convdelay.nn.recurrent_synapse import conv_to_dense
from netx_export.errors import QuantizationError, UnsupportedLayerError
from netx_export.spec import ConvRecurrence, CubaParams, DelayChannels, LayerSpec, NetworkSpec, conv_layer
from netx_export.writer import write_network

WEIGHT_GRID = f"[{WEIGHT_MIN / WEIGHT_UNIT:g}, {WEIGHT_MAX / WEIGHT_UNIT:g}]"
DENSE_LAYOUT = "(post, pre)"
CONV_LAYOUT = "(out channel, in channel, tap)"
CHANNELS_LAYOUT = "(delay channel, channel, tap)"


def _listed(values: torch.Tensor, mask: torch.Tensor, layout: str) -> str:
    """``"(post, pre): (i, j): w, ..."`` for the first five entries of ``mask``."""
    idx = [tuple(int(i) for i in ix) for ix in torch.nonzero(mask)]
    return f"{layout}: " + ", ".join(f"{ix}: {values[ix].item():.4f}" for ix in idx[:5])


def quantize_weights(w: torch.Tensor, where: str, layout: str, unclamped: str = "") -> np.ndarray:
    """Float SLAYER weights ``w`` as 8-bit Loihi weights, int64 in units of 1/64.

    SLAYER's ``quantize_8bit`` rounding (to the nearest multiple of 2/64, ties to
    even) *without* its clamp: a non-finite weight, or one outside the 8-bit range
    after rounding, is a :class:`QuantizationError` naming ``where``, the index (in
    ``layout``'s terms) and the value; ``unclamped`` says why nothing clamps it.
    The exporter applies it to synapses without a quantizer hook, the NIR import
    to every weight it reads.
    """
    bad = ~torch.isfinite(w)
    if bad.any():
        raise QuantizationError(f"{where}: {int(bad.sum())} non-finite weight(s) {_listed(w, bad, layout)}")
    mant = slayer.utils.quantize(w.to(torch.float64) * WEIGHT_UNIT, step=WEIGHT_STEP)
    bad = (mant < WEIGHT_MIN) | (mant > WEIGHT_MAX)
    if bad.any():
        raise QuantizationError(f"{where}: {int(bad.sum())} weight(s) outside the 8-bit range {WEIGHT_GRID}"
                                f"{unclamped} {_listed(w, bad, layout)}")
    return mant.numpy().astype(np.int64)


def _weights(synapse: torch.nn.Module, shape: tuple, where: str, layout: str) -> np.ndarray:
    """The weights the block's forward pass computes with, int64 in units of 1/64, ``shape``.

    With a ``pre_hook_fx`` (every supported block has SLAYER's ``quantize_8bit``)
    they are the hook's output, already quantized and clamped; without one the
    forward uses the float weights, which are rounded to the 8-bit grid and must
    lie in its range.
    """
    w = synapse.weight.detach().cpu().reshape(shape)
    hook = getattr(synapse, "pre_hook_fx", None)
    if hook is None:
        return quantize_weights(w, where, layout, ", which this synapse's forward does not clamp "
                                                  "(it has no pre_hook_fx quantizer)")
    bad = ~torch.isfinite(w)
    if bad.any():
        raise QuantizationError(f"{where}: {int(bad.sum())} non-finite weight(s) {_listed(w, bad, layout)}")
    mant = hook(w).to(torch.float64) * WEIGHT_UNIT
    bad = (mant != torch.round(mant)) | (mant < WEIGHT_MIN) | (mant > WEIGHT_MAX)
    if bad.any():
        raise UnsupportedLayerError(
            f"{where}: {int(bad.sum())} weight(s) from the synapse's pre_hook_fx that are not 8-bit Loihi "
            f"weights (multiples of 1/{WEIGHT_UNIT} in {WEIGHT_GRID}); use SLAYER's quantize_8bit at the "
            f"default neuron scale {WEIGHT_UNIT} {_listed(w, bad, layout)}")
    return mant.numpy().astype(np.int64)


def _neuron(neuron, where: str) -> CubaParams:
    if getattr(neuron, "norm", None) is not None or getattr(neuron, "graded_spike", False):
        raise UnsupportedLayerError(f"{where}: neuron normalisation / graded spikes are not exportable")
    if not getattr(neuron, "shared_param", True):
        raise UnsupportedLayerError(f"{where}: per-neuron decays (shared_param=False) are not exportable")
    if getattr(neuron, "w_scale", WEIGHT_UNIT) != WEIGHT_UNIT:
        raise UnsupportedLayerError(f"{where}: neuron scale {neuron.w_scale} is not exportable (the file's "
                                    f"fixed point is SLAYER's default scale {WEIGHT_UNIT})")
    params = neuron.device_params
    if params["type"] != "CUBA":
        raise UnsupportedLayerError(f"{where}: neuron type {params['type']} (CUBA only)")
    return CubaParams(int(params["iDecay"]), int(params["vDecay"]), int(params["vThMant"]))


def _feedforward_delay(block, where: str) -> np.ndarray | None:
    if block.delay is None:
        return None
    axon = copy.deepcopy(block.delay)  # SLAYER's Delay clamps its parameter in place before each use
    if axon.delay.numel() != block.synapse.out_channels:
        raise UnsupportedLayerError(
            f"{where}: feed-forward delays are not initialised (SLAYER initialises them on the "
            f"first forward pass); run the network once before exporting"
        )
    axon.clamp()
    try:
        # SLAYER exports floor(delay) for feed-forward axonal delays
        return round_delays(torch.floor(axon.delay.detach().cpu().flatten()), MAX_DELAY,
                            where + " feed-forward").numpy()
    except DelayRangeError as err:  # non-finite, or a Delay without max_delay
        raise QuantizationError(str(err)) from None


def _recurrent_delays(block, where: str) -> np.ndarray:
    try:
        return block.integer_delays(where).numpy()
    except DelayRangeError as err:  # only non-finite delays: the forward clamps the rest
        raise QuantizationError(str(err)) from None


def block_to_layer(block: torch.nn.Module, where: str) -> LayerSpec:
    """Quantize one block into a :class:`LayerSpec`."""
    if getattr(block, "delay_shift", True) is not True:
        raise UnsupportedLayerError(f"{where}: delay_shift=False blocks are not aligned with Lava")
    if isinstance(block, AbstractDelayRecurrent):
        n = block.num_neurons
        weight = _weights(block.input_synapse, (n, -1), where + " weight", DENSE_LAYOUT)
        neuron = _neuron(block.neuron, where)
        syn = block.recurrent_synapse
        if isinstance(block, DelayChannelConvRecurrent):  # the kernels and one delay per delay channel
            kernel = _weights(syn, tuple(syn.weight.shape), where + " recurrent weight", CHANNELS_LAYOUT)
            channels = DelayChannels(syn.channels, syn.kernel_size, kernel, _recurrent_delays(block, where))
            return LayerSpec("dchan_rec", weight, neuron, max_delay=block.axonal_delay.max_delay,
                             delay_channels=channels)
        if isinstance(block, ConvDelayRecurrent):
            rec = _weights(syn, tuple(syn.weight.shape), where + " recurrent weight", CONV_LAYOUT)
        else:
            rec = _weights(syn, (n, n), where + " recurrent weight", DENSE_LAYOUT)
        if block.axonal_delay is None:  # plain recurrence: the stock type
            if isinstance(block, ConvDelayRecurrent):
                raise UnsupportedLayerError(
                    f"{where}: a convolutional recurrence without delays has no layer type yet; "
                    f"build it with delays (learn_delays=False, delay_init=(0, 0))"
                )
            return LayerSpec("dense_rec", weight, neuron, weight_rec=rec)
        delays = _recurrent_delays(block, where)
        max_delay = block.axonal_delay.max_delay
        if isinstance(block, ConvDelayRecurrent):
            dense = conv_to_dense(torch.from_numpy(rec), syn.positions).numpy()
            return LayerSpec("conv_rec", weight, neuron, weight_rec=dense, delay_rec=delays,
                             max_delay=max_delay, conv=ConvRecurrence(syn.channels, syn.kernel_size, rec))
        return LayerSpec("delay_rec", weight, neuron, weight_rec=rec, delay_rec=delays, max_delay=max_delay)
    if isinstance(block, ConvBlock):
        return _conv_front_end(block, where)
    if isinstance(block, slayer.block.cuba.Recurrent):
        if block.delay is not None:
            raise UnsupportedLayerError(
                f"{where}: slayer Recurrent with a feed-forward delay is not supported "
                f"(an output delay of a recurrent layer cannot be moved onto its input)"
            )
        n = block.input_synapse.out_channels
        return LayerSpec(
            "dense_rec",
            _weights(block.input_synapse, (n, -1), where + " weight", DENSE_LAYOUT),
            _neuron(block.neuron, where),
            weight_rec=_weights(block.recurrent_synapse, (n, n), where + " recurrent weight", DENSE_LAYOUT),
        )
    if isinstance(block, slayer.block.cuba.Affine):
        n = block.synapse.out_channels
        neuron = _neuron(block.neuron, where)
        return LayerSpec(
            "dense",
            _weights(block.synapse, (n, -1), where + " weight", DENSE_LAYOUT),
            CubaParams(neuron.i_decay, neuron.v_decay, VTH_NON_SPIKING),
        )
    if isinstance(block, slayer.block.cuba.Dense):
        n = block.synapse.out_channels
        return LayerSpec(
            "dense",
            _weights(block.synapse, (n, -1), where + " weight", DENSE_LAYOUT),
            _neuron(block.neuron, where),
            delay=_feedforward_delay(block, where),
        )
    raise UnsupportedLayerError(
        f"{where}: block type {type(block).__module__}.{type(block).__name__} is not supported "
        f"(supported: slayer cuba.Dense, cuba.Recurrent, cuba.Affine, lava_convdelay DelayRecurrent, "
        f"ConvDelayRecurrent, DelayChannelConvRecurrent, Affine, ConvBlock)"
    )


def _conv_front_end(block: ConvBlock, where: str) -> LayerSpec:
    """A ``conv`` layer; refuses the ``cuba.Conv`` options the layer type does not have."""
    syn = block.synapse
    settings = {"stride": (tuple(syn.stride), (1, 1, 1)), "dilation": (tuple(syn.dilation), (1, 1, 1)),
                "groups": (syn.groups, 1), "padding": (tuple(syn.padding), (0, block.kernel_size // 2, 0)),
                "delay": (block.delay, None)}
    for key, (value, supported) in settings.items():
        if value != supported:
            raise UnsupportedLayerError(f"{where}: {key}={value} is not exportable (a 'conv' layer has {supported})")
    shape = (block.channels, block.in_channels, block.kernel_size)
    kernel = _weights(syn, shape, where + " weight", CONV_LAYOUT)
    return conv_layer(kernel, block.positions, _neuron(block.neuron, where), where)


def blocks_to_spec(blocks, source: str = "<memory>", encoding: InputEncoding | None = None,
                   class_names: list[str] | None = None) -> NetworkSpec:
    """Quantize a sequence of blocks (input first) into a :class:`NetworkSpec`;
    errors name ``source`` (the checkpoint the blocks came from). ``encoding`` and
    ``class_names`` record the training data, where known."""
    names = [f"layer {i + 1} ({type(b).__name__})" for i, b in enumerate(blocks)]
    layers = [block_to_layer(b, f"{source}: {name}") for b, name in zip(blocks, names)]
    if not layers:
        raise UnsupportedLayerError(f"{source}: no blocks to export")
    if encoding is not None:
        encoding.check(source)
    spec = NetworkSpec(layers[0].in_features, layers, source, encoding,
                       list(class_names) if isinstance(class_names, tuple) else class_names)
    return spec.validate(names)


def export_blocks(blocks, path: str | os.PathLike, source: str = "<memory>",
                  encoding: InputEncoding | None = None, class_names: list[str] | None = None) -> NetworkSpec:
    """Quantize ``blocks`` and write them to ``path`` (atomically); see :func:`blocks_to_spec`."""
    spec = blocks_to_spec(blocks, source, encoding, class_names)
    write_network(spec, path)
    return spec
