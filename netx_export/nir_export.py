"""Write a :class:`NetworkSpec` as a NIR graph (docs/nir.md).

Every value comes from the file's integers, so a NIR consumer sees the network
Lava runs: weights ``W / 64`` (SLAYER units), thresholds ``vThMant / 64``, and
each layer's CUBA-LIF as a ``CubaLIF`` (``CubaLI`` for the non-spiking readout)
whose forward-Euler discretisation with the stated time step ``dt`` is the
file's decays::

    tau_syn = dt * 4096 / iDecay,  w_in = 4096 / iDecay   (so dt / tau_syn * w_in = 1)
    tau_mem = dt * 4096 / vDecay,  r    = 4096 / vDecay   (so dt / tau_mem * r    = 1)

A layer is ``Linear -> [Delay] -> CubaLIF``; a recurrence is the cycle
``CubaLIF -> [Delay] -> Linear -> CubaLIF``. A convolutional recurrence is
written as its banded matrix (NIR has no node that turns a layer's flat
``(N,)`` output into the ``(C, F)`` input ``Conv1d`` needs, and ``nir.read``
type-checks every edge); its kernel is kept in the ``Linear`` node's metadata,
which :mod:`netx_export.nir_import` checks against the matrix. A delay-channel
recurrence (``dchan_rec``) is ``D`` parallel cycles ``CubaLIF -> Delay (the
channel's one delay) -> Linear (its banded depthwise matrix) -> CubaLIF``, the
kernel ``[C, k]`` in each ``Linear``'s metadata. A ``conv``
layer (the front end) is ``Conv1d -> CubaLIF`` on ``(C, F)``-shaped values
(the network input is then ``(1, F)``), and a ``Flatten`` (channel-major,
neuron ``c * F + f``) leads from the last one to the next layer. Other metadata
(the integers, ``maxDelay``, the time step, the training data record) lets the
import restore the file exactly; no NIR consumer needs it to run the graph.
"""
from __future__ import annotations

import math
import os

import nir
import numpy as np

from lava_convdelay.atomic import atomic_output
from lava_convdelay.limits import STATE_UNIT, WEIGHT_UNIT
from netx_export.errors import UnsupportedLayerError
from netx_export.spec import LayerSpec, NetworkSpec

GENERATOR = "lava-convdelay"
#: Graph metadata keys of the input encoding (docs/hdf5-format.md's training data record).
ENCODING_PREFIX = "input_"


def node_names(index: int) -> dict[str, str]:
    """The names of layer ``index``'s nodes (1-based, as in the layer table)."""
    prefix = f"layer{index}"
    return {part: f"{prefix}.{part}" for part in ("weight", "delay", "neuron", "rec_delay", "rec_weight",
                                                   "flatten")}


def _neuron(layer: LayerSpec, dt: float, where: str, shape: tuple[int, ...] = ()) -> nir.NIRNode:
    """The layer's neuron node, parameters of ``shape`` (default ``(N,)``)."""
    params = layer.neuron
    for key, decay in (("iDecay", params.i_decay), ("vDecay", params.v_decay)):
        if decay == 0:
            raise UnsupportedLayerError(
                f"{where}: {key}=0 (no decay) has no NIR CubaLIF: its forward-Euler input gain "
                f"dt / tau * w_in = 1 needs tau = w_in * dt = infinity")
    shape = shape or (layer.num_neurons,)
    full = lambda value: np.full(shape, value, dtype=np.float64)  # noqa: E731
    fields = dict(tau_syn=full(dt * STATE_UNIT / params.i_decay), tau_mem=full(dt * STATE_UNIT / params.v_decay),
                  r=full(STATE_UNIT / params.v_decay), v_leak=full(0.0), w_in=full(STATE_UNIT / params.i_decay))
    metadata = {"iDecay": params.i_decay, "vDecay": params.v_decay, "vThMant": params.vth_mant}
    if not params.spiking:
        return nir.CubaLI(**fields, metadata=metadata)
    return nir.CubaLIF(**fields, v_threshold=full(params.vth_mant / WEIGHT_UNIT), v_reset=full(0.0),
                       metadata=metadata)


def _conv_shape(layer: LayerSpec) -> tuple[int, int]:
    """``(C, F)`` of a ``conv`` layer's neurons."""
    channels = layer.ff_conv.channels
    return channels, layer.num_neurons // channels


def _add_layer(nodes: dict, edges: list, index: int, layer: LayerSpec, source: str, dt: float, where: str) -> str:
    name = node_names(index)
    conv = layer.ff_conv
    if conv is not None:  # the front end: (C_in, F) -> (C_out, F)
        _, positions = _conv_shape(layer)
        nodes[name["weight"]] = nir.Conv1d(input_shape=positions, weight=conv.kernel / WEIGHT_UNIT, stride=1,
                                           padding=conv.kernel_size // 2, dilation=1, groups=1,
                                           bias=np.zeros(conv.channels))
        nodes[name["neuron"]] = _neuron(layer, dt, where, _conv_shape(layer))
        edges += [(source, name["weight"]), (name["weight"], name["neuron"])]
        return name["neuron"]
    nodes[name["weight"]] = nir.Linear(weight=layer.weight / WEIGHT_UNIT)
    edges.append((source, name["weight"]))
    into = name["weight"]
    if layer.delay is not None:  # on the layer's input synapse, per postsynaptic neuron, as in the file
        nodes[name["delay"]] = nir.Delay(delay=layer.delay * dt)
        edges.append((into, name["delay"]))
        into = name["delay"]
    nodes[name["neuron"]] = _neuron(layer, dt, where)
    edges.append((into, name["neuron"]))
    if layer.delay_channels is not None:
        _add_delay_channels(nodes, edges, index, layer, dt)
    elif layer.is_recurrent:
        metadata = {}
        if layer.conv is not None:
            metadata = {"convKernel": layer.conv.kernel / WEIGHT_UNIT}
        nodes[name["rec_weight"]] = nir.Linear(weight=layer.weight_rec / WEIGHT_UNIT, metadata=metadata)
        back = name["neuron"]
        if layer.delay_rec is not None:  # per presynaptic neuron, before the weights
            nodes[name["rec_delay"]] = nir.Delay(delay=layer.delay_rec * dt, metadata={"maxDelay": layer.max_delay})
            edges.append((back, name["rec_delay"]))
            back = name["rec_delay"]
        edges += [(back, name["rec_weight"]), (name["rec_weight"], name["neuron"])]
    return name["neuron"]


def channel_node_names(index: int, channel: int) -> tuple[str, str]:
    """The ``Delay`` and ``Linear`` nodes of delay channel ``channel`` (from 0) of layer ``index``."""
    return f"layer{index}.rec_delay{channel}", f"layer{index}.rec_weight{channel}"


def _add_delay_channels(nodes: dict, edges: list, index: int, layer: LayerSpec, dt: float) -> None:
    """A 'dchan_rec' layer's cycle: one parallel branch per delay channel ``d``,
    ``neuron -> Delay (delays[d] * dt, every neuron) -> Linear (the channel's banded
    depthwise matrix / 64) -> neuron``; the ``Linear`` keeps the kernel ``[C, k]``
    (metadata ``depthwiseKernel``) and the channel's index (``delayChannel``)."""
    channels = layer.delay_channels
    neuron = node_names(index)["neuron"]
    for d, (matrix, delay) in enumerate(zip(channels.matrices(layer.num_neurons), channels.delays.tolist())):
        delay_name, weight_name = channel_node_names(index, d)
        nodes[delay_name] = nir.Delay(delay=np.full(layer.num_neurons, delay * dt),
                                      metadata={"maxDelay": layer.max_delay})
        nodes[weight_name] = nir.Linear(weight=matrix / WEIGHT_UNIT, metadata={
            "depthwiseKernel": channels.kernel[d] / WEIGHT_UNIT, "delayChannel": d})
        edges += [(neuron, delay_name), (delay_name, weight_name), (weight_name, neuron)]


def spec_to_nir(spec: NetworkSpec, dt: float) -> nir.NIRGraph:
    """The NIR graph of ``spec`` at ``dt`` seconds per step (validated by NIR)."""
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise UnsupportedLayerError(f"{spec.source}: time step dt={dt!r} must be a number of seconds > 0")
    front_end = spec.layers[0].ff_conv is not None  # its input: one channel of the positions
    nodes = {"input": nir.Input(input_type=np.array([1, spec.input_size] if front_end else [spec.input_size]))}
    edges: list[tuple[str, str]] = []
    last = "input"
    for index, layer in enumerate(spec.layers, start=1):
        last = _add_layer(nodes, edges, index, layer, last, float(dt),
                          f"{spec.source}: layer {index} ({layer.type})")
        if layer.ff_conv is not None and spec.layers[index].ff_conv is None:  # to a flat population
            flatten = node_names(index)["flatten"]
            nodes[flatten] = nir.Flatten(input_type={"input": np.array(_conv_shape(layer))}, start_dim=0)
            edges.append((last, flatten))
            last = flatten
    nodes["output"] = nir.Output(output_type=np.array([spec.output_size]))
    edges.append((last, "output"))
    metadata = {"generator": GENERATOR, "dt": float(dt)}
    if spec.encoding is not None:  # every recorded setting, as input_<name>
        metadata.update({f"{ENCODING_PREFIX}{key}": value for key, value in spec.encoding.as_dict().items()})
    if spec.class_names is not None:
        metadata["class_names"] = np.array([name.encode("utf-8") for name in spec.class_names])
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write_nir(spec: NetworkSpec, path: str | os.PathLike, dt: float) -> nir.NIRGraph:
    """Write ``spec`` as a NIR file at ``path`` (atomically); returns the graph."""
    graph = spec_to_nir(spec, dt)
    with atomic_output(path, suffix=".nir") as tmp:
        nir.write(tmp, graph)
    return graph
