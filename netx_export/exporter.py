"""Quantize trained blocks into a :class:`NetworkSpec` and write it.

Supported blocks: SLAYER's ``cuba.Dense`` (with or without ``delay=True``),
``cuba.Recurrent`` (without feed-forward delay) and ``cuba.Affine`` (the
non-spiking readout, written as a ``dense`` layer whose threshold is out of
reach, as lava-dl writes it), and this project's ``DelayRecurrent`` /
``ConvDelayRecurrent``. Weights become Loihi's 8-bit
values (SLAYER's ``quantize_8bit``: step 2/64, range [-256, 254]/64), decays
12-bit, recurrent delays integers via :func:`lava_convdelay.delays.round_delays`.

A weight outside the 8-bit range or a delay outside ``[0, max]`` stops the
export with :class:`QuantizationError` naming layer, neuron and value, unless
``clamp=True``, in which case each change is listed in the report.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from lava.lib.dl import slayer

from lava_convdelay.block.cuba import AbstractDelayRecurrent, ConvDelayRecurrent
from lava_convdelay.delays import LOIHI2_MAX_DELAY, round_delays
from lava_convdelay.errors import DelayRangeError
from lava_convdelay.recurrent_synapse import conv_to_dense
from netx_export.description import VTH_NON_SPIKING, ConvRecurrence, CubaParams, LayerSpec, NetworkSpec
from netx_export.errors import QuantizationError, UnsupportedLayerError
from netx_export.writer import write_network

WEIGHT_MIN, WEIGHT_MAX = -256, 254  # units of 1/64


@dataclass
class ExportReport:
    """What an export changed (only ever non-empty with ``clamp=True``)."""

    clamped: list[str] = field(default_factory=list)


def _quantize(weight: torch.Tensor, where: str, clamp: bool, report: ExportReport) -> np.ndarray:
    """SLAYER 8-bit quantization (step 2/64), in units of 1/64, range-checked."""
    w = weight.detach().cpu().to(torch.float64)
    if not torch.isfinite(w).all():
        idx = torch.nonzero(~torch.isfinite(w))[0].tolist()
        raise QuantizationError(f"{where}: non-finite weight {w[tuple(idx)].item()} at {idx}")
    mant = slayer.utils.quantize(w * 64, step=2).numpy()
    bad = (mant < WEIGHT_MIN) | (mant > WEIGHT_MAX)
    if bad.any():
        idx = [tuple(int(i) for i in ix) for ix in np.argwhere(bad)]
        shown = ", ".join(f"{ix}: {w[ix].item():.4f}" for ix in idx[:5])
        message = (f"{where}: {len(idx)} weight(s) outside the 8-bit range "
                   f"[{WEIGHT_MIN / 64:g}, {WEIGHT_MAX / 64:g}] (post, pre): {shown}")
        if not clamp:
            raise QuantizationError(message + "; retrain with smaller weights or export with clamping")
        report.clamped.append(message + " -> clamped")
        mant = np.clip(mant, WEIGHT_MIN, WEIGHT_MAX)
    return mant.astype(np.int64)


def _neuron(neuron, where: str) -> CubaParams:
    if getattr(neuron, "norm", None) is not None or getattr(neuron, "graded_spike", False):
        raise UnsupportedLayerError(f"{where}: neuron normalisation / graded spikes are not exportable")
    if not getattr(neuron, "shared_param", True):
        raise UnsupportedLayerError(f"{where}: per-neuron decays (shared_param=False) are not exportable")
    params = neuron.device_params
    if params["type"] != "CUBA":
        raise UnsupportedLayerError(f"{where}: neuron type {params['type']} (CUBA only)")
    return CubaParams(int(params["iDecay"]), int(params["vDecay"]), int(params["vThMant"]))


def _feedforward_delay(block, where: str, clamp: bool, report: ExportReport) -> np.ndarray | None:
    if block.delay is None:
        return None
    d = block.delay.delay.detach().cpu().flatten()
    if d.numel() != block.synapse.out_channels:
        raise UnsupportedLayerError(
            f"{where}: feed-forward delays are not initialised (SLAYER initialises them on the "
            f"first forward pass); run the network once before exporting"
        )
    try:
        # SLAYER exports floor(delay) for feed-forward axonal delays
        return round_delays(torch.floor(d), LOIHI2_MAX_DELAY, where + " feed-forward").numpy()
    except DelayRangeError as err:
        if not clamp:
            raise QuantizationError(str(err)) from None
        report.clamped.append(f"{err} -> clamped to [0, {LOIHI2_MAX_DELAY}]")
        return torch.floor(d).clamp(0, LOIHI2_MAX_DELAY).to(torch.int64).numpy()


def _recurrent_delays(block, where: str, clamp: bool, report: ExportReport) -> np.ndarray:
    try:
        return block.integer_delays(where).numpy()
    except DelayRangeError as err:
        if not clamp:
            raise QuantizationError(str(err)) from None
        delays = block.axonal_delay.delay.detach().cpu().clamp(0, block.axonal_delay.max_delay)
        report.clamped.append(f"{err} -> clamped to [0, {block.axonal_delay.max_delay}]")
        return round_delays(delays, block.axonal_delay.max_delay, where).numpy()


def block_to_layer(block: torch.nn.Module, where: str, clamp: bool = False,
                   report: ExportReport | None = None) -> LayerSpec:
    """Quantize one block into a :class:`LayerSpec`."""
    report = report if report is not None else ExportReport()
    if getattr(block, "delay_shift", True) is not True:
        raise UnsupportedLayerError(f"{where}: delay_shift=False blocks are not aligned with Lava")
    if isinstance(block, AbstractDelayRecurrent):
        n = block.num_neurons
        weight = _quantize(block.input_synapse.weight.reshape(n, -1), where + " weight", clamp, report)
        neuron = _neuron(block.neuron, where)
        raw_rec = block.recurrent_synapse.synapse.weight.reshape(n, n) \
            if not isinstance(block, ConvDelayRecurrent) else block.recurrent_synapse.weight
        rec = _quantize(raw_rec, where + " recurrent weight", clamp, report)
        if block.axonal_delay is None:  # plain recurrence: the stock type
            if isinstance(block, ConvDelayRecurrent):
                raise UnsupportedLayerError(
                    f"{where}: a convolutional recurrence without delays has no layer type yet; "
                    f"build it with delays (learn_delays=False, delay_init=(0, 0))"
                )
            return LayerSpec("dense_rec", weight, neuron, weight_rec=rec)
        delays = _recurrent_delays(block, where, clamp, report)
        max_delay = block.axonal_delay.max_delay
        if isinstance(block, ConvDelayRecurrent):
            syn = block.recurrent_synapse
            dense = conv_to_dense(torch.from_numpy(rec), syn.positions).numpy()
            return LayerSpec("conv_rec", weight, neuron, weight_rec=dense, delay_rec=delays,
                             max_delay=max_delay, conv=ConvRecurrence(syn.channels, syn.kernel_size, rec))
        return LayerSpec("delay_rec", weight, neuron, weight_rec=rec, delay_rec=delays, max_delay=max_delay)
    if isinstance(block, slayer.block.cuba.Recurrent):
        if block.delay is not None:
            raise UnsupportedLayerError(
                f"{where}: slayer Recurrent with a feed-forward delay is not supported "
                f"(an output delay of a recurrent layer cannot be moved onto its input)"
            )
        n = block.input_synapse.out_channels
        return LayerSpec(
            "dense_rec",
            _quantize(block.input_synapse.weight.reshape(n, -1), where + " weight", clamp, report),
            _neuron(block.neuron, where),
            weight_rec=_quantize(block.recurrent_synapse.weight.reshape(n, n),
                                 where + " recurrent weight", clamp, report),
        )
    if isinstance(block, slayer.block.cuba.Affine):
        n = block.synapse.out_channels
        neuron = _neuron(block.neuron, where)
        return LayerSpec(
            "dense",
            _quantize(block.synapse.weight.reshape(n, -1), where + " weight", clamp, report),
            CubaParams(neuron.i_decay, neuron.v_decay, VTH_NON_SPIKING),
        )
    if isinstance(block, slayer.block.cuba.Dense):
        n = block.synapse.out_channels
        return LayerSpec(
            "dense",
            _quantize(block.synapse.weight.reshape(n, -1), where + " weight", clamp, report),
            _neuron(block.neuron, where),
            delay=_feedforward_delay(block, where, clamp, report),
        )
    raise UnsupportedLayerError(
        f"{where}: block type {type(block).__module__}.{type(block).__name__} is not supported "
        f"(supported: slayer cuba.Dense, cuba.Recurrent, cuba.Affine, lava_convdelay DelayRecurrent, "
        f"ConvDelayRecurrent, Affine)"
    )


def blocks_to_spec(blocks, clamp: bool = False, source: str = "<memory>") -> tuple[NetworkSpec, ExportReport]:
    """Quantize a sequence of blocks (input first) into a :class:`NetworkSpec`."""
    report = ExportReport()
    layers = [block_to_layer(b, f"{source}: layer {i + 1} ({type(b).__name__})", clamp, report)
              for i, b in enumerate(blocks)]
    if not layers:
        raise UnsupportedLayerError(f"{source}: no blocks to export")
    for i, layer in enumerate(layers[:-1], start=1):
        if not layer.neuron.spiking:
            raise UnsupportedLayerError(f"{source}: layer {i} is non-spiking (cuba.Affine) but not the output "
                                        f"layer; it would send no spikes on")
    for i, (prev, layer) in enumerate(zip(layers, layers[1:]), start=2):
        if layer.in_features != prev.num_neurons:
            raise UnsupportedLayerError(
                f"{source}: layer {i} expects {layer.in_features} inputs but layer {i - 1} "
                f"has {prev.num_neurons} neurons"
            )
    return NetworkSpec(layers[0].in_features, layers, source), report


def export_blocks(blocks, path: str | os.PathLike, clamp: bool = False) -> ExportReport:
    """Quantize ``blocks`` and write them to ``path`` (atomically)."""
    spec, report = blocks_to_spec(blocks, clamp, source=str(Path(path)))
    write_network(spec, path)
    return report
