"""The process graph that goes to Loihi 2, built like lava-dl's NetX
hardware examples (``tests/lava/lib/dl/netx/test_hdf5_nx.py``, the netx
tutorials' ``utils.py``); backend-independent (the *what*)::

    io.source.RingBuffer -> InputAdapter -> layer 1 ... layer L -> OutputAdapter -> io.sink.RingBuffer
         (host)                            (chip: LIFReset or LIF, Dense,               (host)
                                            Sparse, DelayDense / DelaySparse)

- every host-to-chip and chip-to-host edge goes through an adapter
  (:mod:`sim.loihi2.adapters`): lava-loihi's ``embedded_io.spike`` adapters on the
  chip, pass-through models on the CPU;
- the neurons are ``LIFReset`` on the schedule's reset interval and
  per-layer offsets (:mod:`sim.loihi2.schedule`), so nothing is set from the host
  between samples -- or, on a host-reset schedule, plain ``LIF`` whose ``u``,
  ``v`` the host zeroes between samples (:func:`sim.loihi2.execution.execute`);
- delayed recurrent synapses are ``DelayDense`` with per-synapse delay
  matrices unless told otherwise (``delayed_synapse``, :mod:`sim.lava_network`):
  NetX's own delayed synapse, and the only one public Loihi 2 runs used;
- with ``record_layers`` every layer gets its own output adapter and sink
  (for finding the first layer that differs), otherwise only the output
  layer;
- no Monitor: the output voltage is read by the backend's state probe
  (:mod:`sim.loihi2.backend`);
- a non-spiking output layer (a voltage readout) gets the threshold
  ``READOUT_VTH`` of every simulator (:mod:`sim.readout_band`).

The CPU fast path (:mod:`sim.cpu.runner`) uses the same layers without
adapters or ``LIFReset``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source

from netx_export.spec import NetworkSpec
from sim.lava_network import LavaNetwork, NeuronReset, build_network
from sim.loihi2.adapters.process import InputAdapter, OutputAdapter

__all__ = ["HardwareGraph", "build_hardware_graph"]


@dataclass
class HardwareGraph:
    """The built processes; ``sinks[i]`` records ``recorded[i]`` (layer
    indexes from 0, the output layer last), ``span`` steps in a ring."""

    net: LavaNetwork
    source: Source
    input_adapter: InputAdapter
    recorded: list[int] = field(default_factory=list)
    output_adapters: list[OutputAdapter] = field(default_factory=list)
    sinks: list[Sink] = field(default_factory=list)


def build_hardware_graph(spec: NetworkSpec, data: np.ndarray, reset: NeuronReset | None, span: int,
                         record_layers: bool = False, delayed_synapse: str = "dense") -> HardwareGraph:
    """The graph for input ``data`` ``[channels, steps]`` (all samples one after
    the other); sinks hold the last ``span`` steps; ``reset``: None for plain
    ``LIF`` (a host-reset schedule)."""
    net = build_network(spec, reset, delayed_synapse)
    source = Source(data=data)
    source.name = "input_source"  # lava's io processes take no name
    adapter = InputAdapter(shape=(spec.input_size,), name="input_adapter")
    source.s_out.connect(adapter.inp)
    net.connect_input(adapter.out)
    graph = HardwareGraph(net, source, adapter)
    for index in range(len(net.layers)) if record_layers else [len(net.layers) - 1]:
        spikes = net.layers[index].spikes()  # [N] in the file's order (a conv layer's mapped)
        out = OutputAdapter(shape=spikes.shape, name=f"layer{index + 1}.output_adapter")
        sink = Sink(shape=spikes.shape, buffer=span)
        sink.name = f"layer{index + 1}.sink"
        spikes.connect(out.inp)
        out.out.connect(sink.a_in)
        graph.recorded.append(index)
        graph.output_adapters.append(out)
        graph.sinks.append(sink)
    return graph
