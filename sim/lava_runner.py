"""Run a network file on Lava: the CPU fixed-point simulator, or Loihi 2.

This is the *how*: :mod:`sim.lava_network` builds the processes, a run
configuration picks the backend (``Loihi2SimCfg(select_tag='fixed_pt')`` on
the CPU, ``Loihi2HwCfg`` on Loihi 2 via ``lava-loihi``).

Many samples are run in one compiled network, one after the other: each
sample gets ``T`` steps, after which every stateful variable (``u``, ``v``
and each synapse's activation / delay buffer) is set back to zero, so samples
are independent without recompiling.

Alignment: layer ``l``'s returned spikes at index ``t`` equal the training
block ``l``'s output at ``t`` (docs/hdf5-format.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from lava_convdelay.errors import UserError
from netx_export.description import NetworkSpec
from netx_export.reader import read_network
from sim.lava_network import build_network


class BackendUnavailableError(UserError):
    """The requested Lava backend is not installed here."""


@dataclass
class SimResult:
    """``output`` ``[N_out, T]`` 0/1; ``layers`` per layer ``[N_l, T]``; ``voltage``
    the output layer's ``v`` after each step (int, units of 1/4096) ``[N_out, T]``."""

    output: np.ndarray
    layers: list[np.ndarray] | None = None
    voltage: np.ndarray | None = None


def loihi2_available() -> bool:
    """Lava's own test for the Loihi 2 backend (``lava-loihi``, INRC only)."""
    from lava.utils.system import Loihi2
    Loihi2.preferred_partition = os.environ.get("PARTITION", "oheogulch")
    return bool(Loihi2.is_loihi2_available)


def run_config(backend: str):
    """The Lava run configuration for ``backend`` ('cpu' or 'loihi2')."""
    if backend == "cpu":
        from lava.magma.core.run_configs import Loihi2SimCfg
        return Loihi2SimCfg(select_tag="fixed_pt")
    if backend == "loihi2":
        if not loihi2_available():
            raise BackendUnavailableError(
                "the Loihi 2 backend needs the lava-loihi extension and access to a Loihi 2 "
                "system, which Intel provides to INRC members; it is not installed here. "
                "Use --backend cpu to run the same network on the CPU simulator."
            )
        from lava.magma.core.run_configs import Loihi2HwCfg
        return Loihi2HwCfg()
    raise ValueError(f"unknown backend {backend!r} (cpu, loihi2)")


class LavaRunner:
    """Runs samples through a network file (or :class:`NetworkSpec`) on Lava."""

    def __init__(self, network: NetworkSpec | str | os.PathLike, backend: str = "cpu"):
        self.spec = network if isinstance(network, NetworkSpec) else read_network(network)
        self.backend = backend

    def _check(self, spikes: np.ndarray) -> np.ndarray:
        spikes = np.asarray(spikes)
        if spikes.ndim != 3 or spikes.shape[1] != self.spec.input_size:
            raise UserError(f"{self.spec.source}: expected input spikes [samples, "
                            f"{self.spec.input_size}, time], got shape {spikes.shape}")
        if not np.isin(spikes, (0, 1)).all():
            raise UserError(f"{self.spec.source}: input spikes must be 0/1")
        return spikes.astype(np.int8)

    def run(self, spikes, record_layers: bool = False, record_voltage: bool = False) -> SimResult:
        """One sample: ``spikes`` ``[channels, T]`` -> :class:`SimResult`."""
        return self.run_many(np.asarray(spikes)[None], record_layers, record_voltage, progress=False)[0]

    def run_many(self, spikes, record_layers: bool = False, record_voltage: bool = False,
                 progress: bool = True) -> list[SimResult]:
        """``spikes`` ``[samples, channels, T]`` -> one :class:`SimResult` per sample."""
        from lava.magma.core.run_conditions import RunSteps
        from lava.proc import io
        from lava.proc.monitor.process import Monitor

        spikes = self._check(spikes)
        samples, _, steps = spikes.shape
        total = samples * steps
        net = build_network(self.spec)
        source = io.source.RingBuffer(data=np.concatenate(list(spikes), axis=1))
        source.s_out.connect(net.input_port)
        watched = net.layers if record_layers else net.layers[-1:]
        sinks = []
        for layer in watched:
            sink = io.sink.RingBuffer(shape=layer.neuron.s_out.shape, buffer=total)
            layer.neuron.s_out.connect(sink.a_in)
            sinks.append(sink)
        monitor = None
        if record_voltage:
            monitor = Monitor()
            monitor.probe(net.layers[-1].neuron.v, total)
        config = run_config(self.backend)
        state = [(proc, name, getattr(proc, name)) for layer in net.layers for proc, name in layer.stateful]
        try:
            for k in tqdm(range(samples), desc="lava", disable=not progress, leave=False):
                if k:
                    for _, _, var in state:
                        var.set(np.zeros(var.shape, dtype=np.int32))
                source.run(condition=RunSteps(num_steps=steps), run_cfg=config)
            recorded = [sink.data.get().astype(np.uint8) for sink in sinks]
            voltage = None
            if monitor is not None:
                data = monitor.get_data()
                voltage = next(iter(next(iter(data.values())).values())).T.astype(np.int64)
        finally:
            source.stop()
        results = []
        for k in range(samples):
            span = slice(k * steps, (k + 1) * steps)
            layers = [r[:, span] for r in recorded]
            results.append(SimResult(
                output=layers[-1],
                layers=layers if record_layers else None,
                voltage=voltage[:, span] if voltage is not None else None,
            ))
        return results
