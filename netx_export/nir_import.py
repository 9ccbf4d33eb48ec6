"""Map a NIR graph onto a :class:`NetworkSpec` (docs/nir.md).

The graph must be a chain of layers, each ``Affine | Linear -> [Delay] ->
neuron`` (a ``Delay`` right after a non-recurrent neuron is that layer's output
delay, which equals the file's input delay for a bias-free neuron starting at
rest), where a neuron is ``CubaLIF``, ``LIF``, ``IF`` (or ``CubaLI``, ``LI``,
``I`` as the non-spiking output layer), optionally with one recurrent cycle
``neuron -> [Delay] -> Affine | Linear | Conv1d -> neuron`` (or several parallel
cycles ``[Delay] -> Linear`` with ``depthwiseKernel`` metadata: the delay channels
of a ``dchan_rec`` layer); the first layers
may be ``Conv1d -> neuron`` (a ``conv`` front end). Sub-graphs are
inlined; ``Flatten`` nodes are identities (every shape is flattened in C
order, so ``Conv1d``'s position ``(c, f)`` is neuron ``c * F + f``).

Each neuron is discretised with forward Euler at ``dt`` seconds per step,
current first (the file's semantics, docs/hdf5-format.md)::

    iDecay = 4096 * dt / tau_syn           (4096 for neurons without a synaptic current)
    vDecay = 4096 * dt / tau_mem           (0 for IF / I)
    gain   = (dt / tau_syn * w_in) * (dt / tau_mem * r)   -> folded into every incoming weight
    vThMant = 64 * v_threshold

and rounded to the file's integers: decays with SLAYER's rule, weights with
the exporter's 8-bit quantizer (:func:`netx_export.exporter.quantize_weights`),
delays ``tau / dt`` with :func:`lava_convdelay.nn.delays.round_delays`. Every
rounding that changes a value is reported; whatever cannot be represented
raises a :class:`~lava_convdelay.errors.UserError` naming the node and value.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import nir
import numpy as np
import torch
from lava.lib.dl import slayer

from lava_convdelay.data.encoding import EncodingError, InputEncoding
from lava_convdelay.hdf5_safety import MAX_ELEMENTS, open_hdf5
from lava_convdelay.limits import MAX_DELAY, STATE_UNIT, VTH_NON_SPIKING, VTH_SPIKING_MAX, WEIGHT_UNIT
from lava_convdelay.nn.delay_channels import depthwise_to_dense
from lava_convdelay.nn.delays import round_delays
from lava_convdelay.nn.recurrent_synapse import conv_to_dense
from netx_export.errors import NetworkFormatError, QuantizationError, UnsupportedLayerError
from netx_export.exporter import CONV_LAYOUT, DENSE_LAYOUT, quantize_weights
from netx_export.nir_export import ENCODING_PREFIX
from netx_export.spec import (
    MAX_NEURONS,
    ConvRecurrence,
    CubaParams,
    DelayChannels,
    LayerSpec,
    NetworkSpec,
    conv_layer,
)

#: Metadata of a delay channel's ``Linear`` (:mod:`netx_export.nir_export`): its depthwise kernel ``[C, k]``.
CHANNEL_KERNEL = "depthwiseKernel"
SPIKING = (nir.CubaLIF, nir.LIF, nir.IF)
NON_SPIKING = (nir.CubaLI, nir.LI, nir.I)
WEIGHTS = (nir.Affine, nir.Linear)
#: Nodes that only pass values on (after inlining sub-graphs).
PASS_THROUGH = (nir.Input, nir.Output, nir.Flatten)
#: Relative float noise (float32 parameters) below which a value counts as exact.
TOLERANCE = 1e-6


def _off(values: np.ndarray, target) -> np.ndarray:
    """Where ``values`` differ from ``target`` by more than float noise."""
    return np.abs(values - target) > TOLERANCE * np.maximum(1.0, np.abs(target))


@dataclass
class ImportResult:
    """The network and one line per approximation made (empty: exact)."""

    spec: NetworkSpec
    notes: list[str] = field(default_factory=list)
    dt: float = 0.0


class _Graph:
    """The graph with sub-graphs inlined and pass-through nodes spliced out."""

    def __init__(self, graph: nir.NIRGraph, source: str):
        self.source = source
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: set[tuple[str, str]] = set()
        self.input, self.output = self._inline(graph, "")
        for name in [n for n, node in self.nodes.items() if isinstance(node, PASS_THROUGH)]:
            if name not in (self.input, self.output):
                self._splice(name)

    def fail(self, name: str, what: str) -> UnsupportedLayerError:
        node = self.nodes.get(name)
        kind = f" ({type(node).__name__})" if node is not None else ""
        return UnsupportedLayerError(f"{self.source}: node '{name}'{kind}: {what}")

    def _inline(self, graph: nir.NIRGraph, prefix: str) -> tuple[str, str]:
        ends = {}
        for kind in (nir.Input, nir.Output):
            found = [prefix + n for n, node in graph.nodes.items() if isinstance(node, kind)]
            if len(found) != 1:
                where = f"sub-graph '{prefix[:-1]}'" if prefix else "the graph"
                raise UnsupportedLayerError(f"{self.source}: {where} has {len(found)} {kind.__name__} nodes "
                                            f"({', '.join(found) or 'none'}); a network has exactly one")
            ends[kind] = found[0]
        inner_ends = {}
        for name, node in graph.nodes.items():
            if isinstance(node, nir.NIRGraph):
                inner_ends[name] = self._inline(node, f"{prefix}{name}.")
            else:
                self.nodes[prefix + name] = node
        for src, dst in graph.edges:
            src = inner_ends[src][1] if src in inner_ends else prefix + src
            dst = inner_ends[dst][0] if dst in inner_ends else prefix + dst
            self.edges.add((src, dst))
        return ends[nir.Input], ends[nir.Output]

    def _splice(self, name: str) -> None:
        preds, succs = self.pred(name), self.succ(name)
        self.edges = {e for e in self.edges if name not in e}
        self.edges |= {(p, s) for p in preds for s in succs}
        del self.nodes[name]

    def succ(self, name: str) -> list[str]:
        return sorted(d for s, d in self.edges if s == name)

    def pred(self, name: str) -> list[str]:
        return sorted(s for s, d in self.edges if d == name)

    def path(self, start: str, stop) -> list[str]:
        """Nodes from ``start`` up to and including the first ``stop(node)`` one; the
        nodes before it must form a chain (one input, one output each)."""
        path = [start]
        while not stop(path[-1]):
            name = path[-1]
            if len(self.pred(name)) != 1 or len(self.succ(name)) != 1:
                raise self.fail(name, f"branches (inputs {self.pred(name)}, outputs {self.succ(name)}); "
                                      f"only chains of layers with one recurrent cycle each are representable")
            if len(path) > 4:
                raise self.fail(name, f"too many nodes between layers ({path}); expected "
                                      f"[Delay] -> Affine/Linear -> [Delay]")
            path.append(self.succ(name)[0])
        return path


def _shown(value) -> str:
    """``value`` for a one-line message (an array's repr spans lines), at most 80 characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _numbers(value, what: str, fail) -> np.ndarray:
    """``value`` as a float64 array, or ``fail(message)`` where it is not real numbers (strings,
    objects, complex numbers, whose imaginary part a conversion would drop)."""
    try:
        array = np.asarray(value)
        if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer)
                                       or np.issubdtype(array.dtype, np.floating)):
            raise TypeError
        return array.astype(np.float64)
    except (TypeError, ValueError):
        raise fail(f"'{what}' must be real numbers, got {_shown(value)}") from None


def _integer(value, what: str, fail) -> int:
    """``value`` as an int: a whole real number, a scalar or one-element array, else ``fail(message)``."""
    array = _numbers(value, what, fail)
    if array.size != 1 or not np.isfinite(array).all() or array.reshape(-1)[0] != np.round(array.reshape(-1)[0]):
        raise fail(f"'{what}' must be one integer, got {_shown(value)}")
    return int(array.reshape(-1)[0])


def _array(value, n: int, what: str, graph: _Graph, name: str) -> np.ndarray:
    """``value`` (scalar or any shape of ``n`` elements) as float64 ``[n]``."""
    array = _numbers(value, what, lambda message: graph.fail(name, message))
    if array.size == 1:
        array = np.full(n, float(array.reshape(-1)[0]))
    if array.size != n:
        raise graph.fail(name, f"'{what}' has {array.size} values for {n} neurons")
    array = array.reshape(-1)
    if not np.isfinite(array).all() and what not in ("tau_syn", "tau_mem", "tau"):
        raise graph.fail(name, f"'{what}' has a non-finite value {array[~np.isfinite(array)][0]}")
    return array


def _uniform_integer(values: np.ndarray, rounded: np.ndarray, what: str, graph: _Graph, name: str,
                     notes: list[str]) -> int:
    """The one per-layer integer of ``rounded``; reports the rounding and non-uniform values."""
    if rounded.min() != rounded.max():
        raise graph.fail(name, f"{what} differs between neurons ({rounded.min()} .. {rounded.max()}, from "
                               f"{values.min():.6g} .. {values.max():.6g}); the file has one value per layer")
    value = int(rounded[0])
    if _off(values, values[0]).any():
        notes.append(f"node '{name}': {what} not uniform ({values.min():.9g} .. {values.max():.9g}), all "
                     f"rounded to {value}")
    elif _off(values, value).any():
        notes.append(f"node '{name}': {what} {values[0]:.9g} rounded to {value}")
    return value


def _decay(rate: np.ndarray, what: str, graph: _Graph, name: str, notes: list[str]) -> int:
    """A 12-bit decay from the per-step rate ``dt / tau`` (SLAYER's rounding)."""
    bad = ~((rate >= 0) & (rate <= 1))
    if bad.any():
        raise graph.fail(name, f"dt / {what} = {rate[bad][0]:.6g} is outside [0, 1] (a time constant "
                               f"shorter than the time step; choose a smaller --dt)")
    scaled = rate * STATE_UNIT
    rounded = slayer.utils.quantize(torch.from_numpy(scaled)).numpy().astype(np.int64)
    key = {"tau_syn": "iDecay", "tau_mem": "vDecay", "tau": "vDecay"}.get(what, "vDecay")
    return _uniform_integer(scaled, rounded, f"{key} = 4096 * dt / {what}", graph, name, notes)


def _neuron(graph: _Graph, name: str, dt: float, n: int, notes: list[str]) -> tuple[CubaParams, np.ndarray]:
    """The CUBA parameters of a layer of ``n`` neurons and each neuron's input gain
    (folded into its weights)."""
    node = graph.nodes[name]
    get = lambda key: _array(getattr(node, key), n, key, graph, name)  # noqa: E731
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        with np.errstate(divide="ignore", invalid="ignore"):
            syn_rate, syn_key = dt / get("tau_syn"), "tau_syn"
        syn_gain = syn_rate * get("w_in")
    else:  # no synaptic current: u is the input of the step alone (iDecay 4096)
        syn_rate, syn_key, syn_gain = np.ones(n), "", np.ones(n)
    if isinstance(node, (nir.I, nir.IF)):  # no leak: vDecay 0, dv = dt * r * I
        mem_rate, mem_key, mem_gain = np.zeros(n), "", dt * get("r")
    else:
        mem_key = "tau_mem" if hasattr(node, "tau_mem") else "tau"
        with np.errstate(divide="ignore", invalid="ignore"):
            mem_rate = dt / get(mem_key)
        mem_gain = mem_rate * get("r")
    if not isinstance(node, (nir.I, nir.IF)):
        leak = get("v_leak")
        if np.any(leak != 0):
            raise graph.fail(name, f"v_leak {leak[leak != 0][0]:g} (a constant input) is not representable; "
                                   f"the file's neurons have no bias")
    i_decay = _decay(syn_rate, syn_key, graph, name, notes) if syn_key else STATE_UNIT
    v_decay = _decay(mem_rate, mem_key, graph, name, notes) if mem_key else 0
    if isinstance(node, NON_SPIKING):
        vth = VTH_NON_SPIKING
        if "vThMant" in node.metadata:
            stated = _integer(node.metadata["vThMant"], "vThMant",
                              lambda message: graph.fail(name, f"metadata {message}"))
            if VTH_SPIKING_MAX < stated <= VTH_NON_SPIKING:
                vth = stated
            else:
                notes.append(f"node '{name}': metadata vThMant {stated} is not a non-spiking threshold "
                             f"({VTH_SPIKING_MAX + 1} .. {VTH_NON_SPIKING}); {VTH_NON_SPIKING} used")
    else:
        reset = get("v_reset")
        if np.any(reset != 0):
            raise graph.fail(name, f"v_reset {reset[reset != 0][0]:g} is not representable (the file's "
                                   f"neurons reset to 0)")
        threshold = get("v_threshold") * WEIGHT_UNIT
        vth = _uniform_integer(threshold, np.floor(threshold + 0.5).astype(np.int64),
                               "vThMant = 64 * v_threshold", graph, name, notes)
        if not 1 <= vth <= VTH_SPIKING_MAX:
            raise graph.fail(name, f"v_threshold {threshold[0] / WEIGHT_UNIT:g} gives vThMant {vth}, outside "
                                   f"[1, {VTH_SPIKING_MAX}]")
    gain = syn_gain * mem_gain
    if not (np.isfinite(gain).all() and (gain > 0).all()):
        raise graph.fail(name, f"input gain (dt / tau_syn * w_in) * (dt / tau_mem * r) = {gain.min():g} .. "
                               f"{gain.max():g} must be finite and > 0")
    if _off(gain, 1.0).any():
        notes.append(f"node '{name}': input gain (dt / tau_syn * w_in) * (dt / tau_mem * r) = "
                     f"{gain.min():.6g} .. {gain.max():.6g} folded into its incoming weights")
    return CubaParams(i_decay, v_decay, vth), gain


def _weights(graph: _Graph, name: str, gain: np.ndarray, shape: tuple, notes: list[str],
             layout: str = DENSE_LAYOUT) -> np.ndarray:
    """An Affine / Linear node's weights x the postsynaptic gains, quantized to 8 bits."""
    node = graph.nodes[name]
    if isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
        bias = np.asarray(node.bias).reshape(-1)
        raise graph.fail(name, f"bias {bias[bias != 0][0]:g} is not representable (the file's synapses "
                               f"have no bias)")
    weight = _numbers(node.weight, "weight", lambda message: graph.fail(name, message))
    if weight.shape != shape:
        raise graph.fail(name, f"weight has shape {weight.shape}, expected {shape} (post, pre)")
    return _quantized(graph, name, weight * gain.reshape((-1,) + (1,) * (weight.ndim - 1)), notes, layout)


def _quantized(graph: _Graph, name: str, weight: np.ndarray, notes: list[str], layout: str) -> np.ndarray:
    mant = quantize_weights(torch.from_numpy(weight), f"{graph.source}: node '{name}'", layout,
                            " (the file's weights are 8-bit; scale the graph's weights and thresholds down "
                            "together)")
    error = np.abs(mant / WEIGHT_UNIT - weight)
    if _off(weight, mant / WEIGHT_UNIT).any():
        moved = int(_off(weight, mant / WEIGHT_UNIT).sum())
        notes.append(f"node '{name}': {moved} of {weight.size} weights moved to the 8-bit grid (steps of "
                     f"1/32), largest change {error.max():.4g} ({100 * error.max() / np.abs(weight).max():.2g} "
                     f"% of the largest |weight|)")
    return mant


def _delays(graph: _Graph, names: list[str], n: int, dt: float, notes: list[str], what: str) -> np.ndarray:
    """The sum of ``Delay`` nodes' ``tau`` in whole steps (the project's rounding, Loihi 2's limit)."""
    total = np.zeros(n)
    for name in names:
        total += _array(graph.nodes[name].delay, n, "delay", graph, name) / dt
    where = f"{graph.source}: node '{names[-1]}' ({what})"
    steps = round_delays(torch.from_numpy(total), MAX_DELAY, where).numpy()
    error = np.abs(total - steps)
    if _off(total, steps).any():
        notes.append(f"node '{names[-1]}': {int(_off(total, steps).sum())} {what} delay(s) of "
                     f"{total.min():.4g} .. {total.max():.4g} steps rounded to whole steps (largest change "
                     f"{error.max():.3g} steps)")
    return steps


def _conv(graph: _Graph, name: str, gain: np.ndarray, n: int, notes: list[str]) -> ConvRecurrence:
    node = graph.nodes[name]
    kernel = _numbers(node.weight, "weight", lambda message: graph.fail(name, message))
    channels = kernel.shape[0] if kernel.ndim == 3 else 0
    k = kernel.shape[-1] if kernel.ndim == 3 else 0
    if channels == 0 or kernel.shape[1] != channels or k % 2 == 0 or n % channels or k > 2 * (n // channels) - 1:
        raise graph.fail(name, f"kernel {kernel.shape} is not a recurrence over {n} neurons (need [C, C, k], "
                               f"odd k no wider than the positions, C dividing {n})")
    _check_conv_settings(graph, name, gain)
    return ConvRecurrence(channels, k, _quantized(graph, name, kernel * gain[0], notes, CONV_LAYOUT))


def _check_conv_settings(graph: _Graph, name: str, gain: np.ndarray) -> None:
    """A ``Conv1d`` node the file's convolutions express: stride, dilation and groups 1,
    "same" padding, no bias, one input gain for all its neurons."""
    node = graph.nodes[name]
    k = np.asarray(node.weight).shape[-1]
    padding = node.padding if isinstance(node.padding, str) else int(np.asarray(node.padding).reshape(-1)[0])
    for key, want in {"stride": 1, "dilation": 1, "groups": 1}.items():
        if np.any(np.asarray(getattr(node, key)) != want):
            raise graph.fail(name, f"{key}={getattr(node, key)} is not representable (need {want})")
    if padding not in ("same", k // 2):
        raise graph.fail(name, f"padding={node.padding} is not representable (need 'same' = {k // 2})")
    if np.any(np.asarray(node.bias) != 0):
        raise graph.fail(name, "bias is not representable (the file's synapses have no bias)")
    if _off(gain, gain[0]).any():
        raise graph.fail(name, f"a convolution into neurons of different input gains ({gain.min():.6g} .. "
                               f"{gain.max():.6g}) has no kernel")


def _front_end_conv(graph: _Graph, name: str, in_features: int, neuron: CubaParams, gain: np.ndarray,
                    notes: list[str]) -> LayerSpec:
    """A ``conv`` layer from a feed-forward ``Conv1d`` over ``in_features`` neurons."""
    node = graph.nodes[name]
    kernel = np.asarray(node.weight, dtype=np.float64)
    if kernel.ndim != 3 or kernel.shape[1] < 1 or in_features % kernel.shape[1]:
        raise graph.fail(name, f"kernel {kernel.shape} is not a convolution over the {in_features} neurons before "
                               f"it (need [C_out, C_in, k], C_in dividing {in_features})")
    positions = in_features // kernel.shape[1]
    if node.input_shape is not None and int(np.asarray(node.input_shape).reshape(-1)[0]) != positions:
        raise graph.fail(name, f"input_shape {node.input_shape}, but {kernel.shape[1]} channels of the "
                               f"{in_features} neurons before it have {positions} positions")
    if kernel.shape[2] % 2 == 0:
        raise graph.fail(name, f"kernel size {kernel.shape[2]} is not representable (need an odd one)")
    _check_conv_settings(graph, name, gain)
    mant = _quantized(graph, name, kernel * gain[0], notes, CONV_LAYOUT)
    return conv_layer(mant, positions, neuron, f"{graph.source}: node '{name}'")


def _recorded_conv(graph: _Graph, name: str, gain: np.ndarray, dense: np.ndarray,
                   notes: list[str]) -> ConvRecurrence | None:
    """The convolution this project's export records beside its banded ``Linear``
    (metadata ``convKernel``), where it gives exactly those weights."""
    kernel = _numbers(graph.nodes[name].metadata["convKernel"], "convKernel",
                      lambda message: graph.fail(name, f"metadata {message}"))
    n = dense.shape[0]
    if kernel.ndim == 3 and kernel.shape[0] == kernel.shape[1] and n % kernel.shape[0] == 0 and \
            not _off(gain, gain[0]).any():
        try:
            mant = quantize_weights(torch.from_numpy(kernel * gain[0]), name, CONV_LAYOUT)
        except QuantizationError:
            mant = None
        if mant is not None and np.array_equal(
                conv_to_dense(torch.from_numpy(mant), n // kernel.shape[0]).numpy(), dense):
            return ConvRecurrence(kernel.shape[0], kernel.shape[-1], mant)
    notes.append(f"node '{name}': its metadata's convolution kernel does not give its weights; imported as a "
                 f"dense recurrence")
    return None


@dataclass
class _Layer:
    neuron: str
    inputs: list[str]  # [Affine/Linear, Delay...] between the previous layer and this one
    recurrent: list[list[str]]  # cycles [Delay..., weights] from this layer back to itself (> 1: delay channels)
    output_delays: list[str] = field(default_factory=list)  # Delays right after this layer


def _chain(graph: _Graph) -> list[_Layer]:
    """The layers from the Input node to the Output node, checked to be a chain."""
    is_neuron = lambda n: isinstance(graph.nodes[n], SPIKING + NON_SPIKING)  # noqa: E731
    at_layer = lambda n: is_neuron(n) or n == graph.output  # noqa: E731
    for name, node in graph.nodes.items():
        if not isinstance(node, SPIKING + NON_SPIKING + WEIGHTS + (nir.Delay, nir.Conv1d, nir.Input, nir.Output)):
            raise graph.fail(name, "node type not supported (supported: CubaLIF, LIF, IF, CubaLI, LI, I, "
                                   "Affine, Linear, Conv1d, Delay, Flatten, sub-graphs)")
    layers: list[_Layer] = []
    current, seen = graph.input, set()
    while current != graph.output:
        succ = graph.succ(current)
        recurrent = []
        if is_neuron(current):
            loops = [graph.path(s, at_layer) for s in succ]
            recurrent = [p[:-1] for p in loops if p[-1] == current]
            forward = [p for p in loops if p[-1] != current]
            if len(forward) != 1:
                raise graph.fail(current, f"sends to {succ}: expected one path on to the next layer "
                                          f"and recurrent cycles")
            path = forward[0]
        elif len(succ) != 1:
            raise graph.fail(current, f"sends to {succ or 'nothing'}: expected one path to the first layer")
        else:
            path = graph.path(succ[0], at_layer)
        target = path[-1]
        if target in seen or target == current:
            raise graph.fail(target, "a connection back to an earlier layer is not representable")
        if layers:
            layers[-1].recurrent = recurrent
        between = path[:-1]
        out_delays = []
        while between and isinstance(graph.nodes[between[0]], nir.Delay):
            out_delays.append(between.pop(0))
        if layers:
            layers[-1].output_delays = out_delays
        elif out_delays:
            raise graph.fail(out_delays[0], "a Delay on the network input (per input channel) is not "
                                            "representable")
        if target == graph.output:
            if between:
                raise graph.fail(between[0], "only Delays may follow the output layer")
            break
        if not between or not isinstance(graph.nodes[between[0]], WEIGHTS + (nir.Conv1d,)) or not all(
                isinstance(graph.nodes[n], nir.Delay) for n in between[1:]):
            raise graph.fail(target, f"its input path {between} is not Affine/Linear/Conv1d -> [Delay]")
        layers.append(_Layer(target, between, []))
        seen.add(target)
        current = target
    on_chain = {graph.input, graph.output}.union(*({layer.neuron, *layer.inputs, *layer.output_delays,
                                                    *(name for cycle in layer.recurrent for name in cycle)}
                                                   for layer in layers))
    for name in sorted(set(graph.nodes) - on_chain):
        raise graph.fail(name, "is not on the path from the Input to the Output node")
    for layer in layers:
        wanted = 1 + len(layer.recurrent)
        if len(graph.pred(layer.neuron)) != wanted:
            raise graph.fail(layer.neuron, f"receives from {graph.pred(layer.neuron)}: expected its input "
                                           f"path{' and its recurrent cycles' if layer.recurrent else ''} only")
    if not layers:
        raise UnsupportedLayerError(f"{graph.source}: no neuron nodes between Input and Output")
    return layers


def _recurrence(graph: _Graph, layer: _Layer, gain: np.ndarray, dt: float, notes: list[str]) -> dict:
    """LayerSpec fields of the recurrent cycle (type, weight_rec, delays, conv)."""
    n = gain.size
    *delays, weights = layer.recurrent[0]
    node = graph.nodes[weights]
    if isinstance(node, nir.Delay) or not all(isinstance(graph.nodes[d], nir.Delay) for d in delays):
        raise graph.fail(weights, "a recurrent cycle must be [Delay] -> Affine/Linear/Conv1d; a Delay after "
                                  "the weights (per postsynaptic neuron) is not representable")
    fields = {}
    if delays:
        steps = _delays(graph, delays, n, dt, notes, "recurrent")
        declared = graph.nodes[delays[-1]].metadata.get("maxDelay")
        if declared is not None:
            declared = _integer(declared, "maxDelay", lambda message: graph.fail(delays[-1], f"metadata {message}"))
        max_delay = int(steps.max())
        if declared is not None and max_delay <= declared <= MAX_DELAY:
            max_delay = declared
        elif declared is not None:
            notes.append(f"node '{delays[-1]}': metadata maxDelay {declared} does not hold the delays within "
                         f"[0, {MAX_DELAY}]; maxDelay set to the largest delay, {max_delay}")
        fields.update(delay_rec=steps, max_delay=max_delay)
    if isinstance(node, nir.Conv1d):
        conv = _conv(graph, weights, gain, n, notes)
    else:
        dense = _weights(graph, weights, gain, (n, n), notes)
        conv = _recorded_conv(graph, weights, gain, dense, notes) if "convKernel" in node.metadata else None
        fields["weight_rec"] = dense
    if conv is not None:
        fields.update(conv=conv, weight_rec=conv_to_dense(torch.from_numpy(conv.kernel), n // conv.channels).numpy())
        fields.setdefault("delay_rec", np.zeros(n, np.int64))
        fields.setdefault("max_delay", 0)
        return {"type": "conv_rec", **fields}
    return {"type": "delay_rec" if delays else "dense_rec", **fields}


def _channel(graph: _Graph, cycle: list[str], gain: np.ndarray, dt: float,
             notes: list[str]) -> tuple[np.ndarray, int, int | None]:
    """One delay channel's cycle ``[Delay...] -> Linear``: its kernel mantissas ``[C, k]``
    (from the ``depthwiseKernel`` metadata, checked to give exactly the node's weights),
    its one delay in steps, and the ``maxDelay`` its ``Delay`` states (or None)."""
    *delays, weights = cycle
    node = graph.nodes[weights]
    n = gain.size
    if not isinstance(node, WEIGHTS) or not all(isinstance(graph.nodes[d], nir.Delay) for d in delays):
        raise graph.fail(weights, "a delay channel's cycle must be [Delay] -> Affine/Linear (a Delay after the "
                                  "weights, or a Conv1d, is not representable)")
    if CHANNEL_KERNEL not in node.metadata:
        raise graph.fail(weights, f"a recurrent cycle beside others without '{CHANNEL_KERNEL}' metadata: "
                                  f"parallel cycles are representable only as delay channels (a depthwise "
                                  f"kernel [C, k] per cycle)")
    fail = lambda message: graph.fail(weights, f"metadata {message}")  # noqa: E731
    kernel = _numbers(node.metadata[CHANNEL_KERNEL], CHANNEL_KERNEL, fail)
    if kernel.ndim != 2 or kernel.shape[0] < 1 or n % kernel.shape[0] or kernel.shape[1] % 2 == 0 or \
            kernel.shape[1] > 2 * (n // kernel.shape[0]) - 1:
        raise fail(f"'{CHANNEL_KERNEL}' {kernel.shape} is not a depthwise kernel over {n} neurons (need [C, k], "
                   f"C dividing {n}, odd k no wider than the positions)")
    if _off(gain, gain[0]).any():
        raise graph.fail(weights, f"a convolution into neurons of different input gains ({gain.min():.6g} .. "
                                  f"{gain.max():.6g}) has no kernel")
    dense = _weights(graph, weights, gain, (n, n), notes)
    mant = quantize_weights(torch.from_numpy(kernel * gain[0]), f"{graph.source}: node '{weights}' metadata",
                            "(channel, tap)")
    if not np.array_equal(depthwise_to_dense(torch.from_numpy(mant[None]), n // kernel.shape[0]).numpy()[0], dense):
        raise graph.fail(weights, f"its weights are not the depthwise convolution of its metadata's "
                                  f"'{CHANNEL_KERNEL}'")
    delay, declared = 0, None
    if delays:
        steps = _delays(graph, delays, n, dt, notes, "recurrent")
        if steps.min() != steps.max():
            raise graph.fail(delays[-1], f"delays {steps.min()} .. {steps.max()} steps: a delay channel has one "
                                         f"delay for all its neurons")
        delay = int(steps[0])
        if "maxDelay" in graph.nodes[delays[-1]].metadata:
            declared = _integer(graph.nodes[delays[-1]].metadata["maxDelay"], "maxDelay",
                                lambda message: graph.fail(delays[-1], f"metadata {message}"))
    return mant, delay, declared


def _delay_channels(graph: _Graph, layer: _Layer, gain: np.ndarray, dt: float, notes: list[str]) -> dict:
    """LayerSpec fields of parallel recurrent cycles, one per delay channel (a 'dchan_rec' layer),
    in the order of their ``delayChannel`` metadata where every cycle states it, else of their names."""
    cycles = list(layer.recurrent)
    order = [graph.nodes[cycle[-1]].metadata.get("delayChannel") for cycle in cycles]
    if all(isinstance(i, (int, np.integer)) for i in order) and sorted(int(i) for i in order) == \
            list(range(len(cycles))):
        cycles = [cycle for _, cycle in sorted(zip((int(i) for i in order), cycles))]
    parts = [_channel(graph, cycle, gain, dt, notes) for cycle in cycles]
    kernels = [kernel for kernel, _, _ in parts]
    if len({kernel.shape for kernel in kernels}) != 1:
        raise graph.fail(cycles[-1][-1], f"delay channels with kernels of shapes "
                                         f"{sorted({k.shape for k in kernels})}; a layer has one [C, k]")
    delays = np.array([delay for _, delay, _ in parts], np.int64)
    max_delay = int(delays.max())
    stated = {declared for _, _, declared in parts if declared is not None}
    if len(stated) == 1 and max_delay <= next(iter(stated)) <= MAX_DELAY:
        max_delay = next(iter(stated))
    elif stated:
        notes.append(f"node '{layer.neuron}': delay channels' metadata maxDelay {sorted(stated)} does not hold "
                     f"their delays within [0, {MAX_DELAY}]; maxDelay set to the largest delay, {max_delay}")
    channels, k = kernels[0].shape
    return {"type": "dchan_rec", "max_delay": max_delay,
            "delay_channels": DelayChannels(channels, k, np.stack(kernels).astype(np.int64), delays)}


def _metadata(graph: nir.NIRGraph, spec: NetworkSpec, notes: list[str]) -> None:
    """The training data record this project's export keeps in the graph's metadata."""
    meta = graph.metadata or {}
    settings = {key[len(ENCODING_PREFIX):]: value.item() if isinstance(value, np.generic) else value
                for key, value in meta.items() if key.startswith(ENCODING_PREFIX)}
    missing = {"dt", "pool", "duration", "source_channels"} - settings.keys()
    if settings and missing:
        notes.append(f"graph metadata: input binning without {sorted(missing)} left out of the file")
    elif settings:
        try:
            encoding = InputEncoding.from_settings(settings).check("graph metadata")
            if encoding.channels != spec.input_size:
                raise EncodingError(f"gives {encoding.channels} input channels for {spec.input_size}")
            spec.encoding = encoding
        except (EncodingError, TypeError) as err:
            notes.append(f"graph metadata: input binning left out of the file ({err})")
    if "class_names" in meta:
        raw = np.asarray(meta["class_names"])
        if raw.ndim != 1 or not all(isinstance(n, (str, bytes)) for n in raw):
            raise UnsupportedLayerError(f"{spec.source}: graph metadata 'class_names' must be a list of strings, got "
                                        f"{_shown(meta['class_names'])}")
        try:
            names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in raw]
        except UnicodeDecodeError:
            raise UnsupportedLayerError(f"{spec.source}: graph metadata 'class_names' is not UTF-8 text") from None
        if len(names) <= spec.output_size and len(set(names)) == len(names):
            spec.class_names = names
        else:
            notes.append(f"graph metadata: {len(names)} class names for {spec.output_size} outputs, or a name "
                         f"twice: left out of the file")


def _stated_dt(stated, source: str) -> float:
    """The graph's ``dt`` metadata as seconds: one real number."""
    def fail(message: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"{source}: graph metadata {message} (seconds per step)")
    array = _numbers(stated, "dt", fail)
    if array.size != 1:
        raise fail(f"'dt' must be one number, got {array.size} values")
    return float(array.reshape(-1)[0])


def _size(graph: _Graph, name: str, port: str) -> int:
    """The number of values at the Input / Output node ``name``: the product of its shape, >= 1."""
    node = graph.nodes[name]
    types = node.output_type if port == "output" else node.input_type
    shape = _numbers(types[port], f"{port} shape", lambda message: graph.fail(name, message))
    if shape.ndim > 1 or shape.size > 8 or (shape < 1).any() or (shape != np.round(shape)).any() \
            or np.prod(shape) > MAX_NEURONS:
        raise graph.fail(name, f"shape {shape.astype(np.int64).tolist() if shape.size <= 8 else shape.shape} is not "
                               f"a size of 1 .. {MAX_NEURONS} values")
    return int(np.prod(shape))


def graph_to_spec(graph: nir.NIRGraph, source: str, dt: float | None = None) -> ImportResult:
    """Map ``graph`` onto a network at ``dt`` seconds per step (default: the graph's
    stated ``dt`` metadata); errors and notes name ``source`` and the nodes."""
    stated = (graph.metadata or {}).get("dt")
    notes: list[str] = []
    if dt is None:
        if stated is None:
            raise UnsupportedLayerError(f"{source}: the graph does not state its time step (no 'dt' metadata); "
                                        f"give --dt SECONDS (snnTorch exports use 1e-4)")
        dt = _stated_dt(stated, source)
    elif stated is not None and not math.isclose(_stated_dt(stated, source), dt, rel_tol=1e-12):
        notes.append(f"graph: discretised with dt = {dt:g} s, the graph states {float(stated):g} s")
    if not (math.isfinite(dt) and dt > 0):
        raise UnsupportedLayerError(f"{source}: time step dt={dt!r} must be a number of seconds > 0")
    flat = _Graph(graph, source)
    input_size = _size(flat, flat.input, "output")
    spec = NetworkSpec(input_size, source=source)
    chain = _chain(flat)
    in_features = input_size
    for index, layer in enumerate(chain, start=1):
        weight = _numbers(flat.nodes[layer.inputs[0]].weight, "weight",
                          lambda message, name=layer.inputs[0]: flat.fail(name, message))
        if isinstance(flat.nodes[layer.inputs[0]], nir.Conv1d) and weight.ndim == 3:  # a conv front end
            n = weight.shape[0] * (in_features // max(1, weight.shape[1]))
            neuron, gain = _neuron(flat, layer.neuron, dt, n, notes)
            if len(layer.inputs) > 1 or layer.output_delays or layer.recurrent:
                raise flat.fail(layer.neuron, "a feed-forward Conv1d layer has no delays and no recurrence "
                                              "(a 'conv' layer)")
            spec.layers.append(_front_end_conv(flat, layer.inputs[0], in_features, neuron, gain, notes))
            in_features = n
            continue
        if weight.ndim != 2 or not 1 <= weight.shape[0] <= MAX_NEURONS:
            raise flat.fail(layer.inputs[0], f"weight has shape {weight.shape}, expected (post, pre) with 1 .. "
                                             f"{MAX_NEURONS} neurons")
        n = weight.shape[0]
        neuron, gain = _neuron(flat, layer.neuron, dt, n, notes)
        if index < len(chain) and not neuron.spiking:
            raise flat.fail(layer.neuron, "a non-spiking neuron is only representable as the output layer")
        fields = {}
        if len(layer.recurrent) > 1 or any(CHANNEL_KERNEL in flat.nodes[cycle[-1]].metadata
                                           for cycle in layer.recurrent):
            fields = _delay_channels(flat, layer, gain, dt, notes)
        elif layer.recurrent:
            fields = _recurrence(flat, layer, gain, dt, notes)
        kind = fields.pop("type", "dense")
        weight = _weights(flat, layer.inputs[0], gain, (n, in_features), notes)
        delays = layer.inputs[1:] + layer.output_delays
        if delays:
            if kind != "dense":
                raise flat.fail(delays[0], "a feed-forward delay on a recurrent layer is not representable")
            fields["delay"] = _delays(flat, delays, n, dt, notes, "feed-forward")
        spec.layers.append(LayerSpec(kind, weight, neuron, **fields))
        in_features = n
    output_size = _size(flat, flat.output, "input")
    if output_size != in_features:
        raise flat.fail(flat.output, f"has {output_size} values but the last layer {in_features} neurons")
    _metadata(graph, spec, notes)
    return ImportResult(spec.validate(), notes, dt)  # the file's rules (a conv front end first, ...)


def read_nir(path: str | os.PathLike, dt: float | None = None) -> ImportResult:
    """Read the NIR file ``path`` (NIR's own reader, which validates it) and map it."""
    path = Path(path)
    if not path.is_file():
        raise NetworkFormatError(f"{path}: no such file")
    # NIR's reader reads every dataset, following links and external storage: check the file first
    open_hdf5(path, NetworkFormatError, max_elements=MAX_ELEMENTS, what="NIR graph").close()
    try:
        graph = nir.read(path)
    except Exception as err:  # noqa: BLE001  (h5py, NIR's validation: many kinds, one message)
        raise NetworkFormatError(f"{path}: not a readable NIR graph ({type(err).__name__}: {err})") from None
    return graph_to_spec(graph, str(path), dt)
