"""Run a network file or :class:`NetworkSpec` on Lava's CPU fixed-point
simulator, fast: what ``simulate``, ``verify`` and ``evaluate --backend lava``
use. (Loihi 2 needs a different graph and schedule: :mod:`sim.loihi2.runner`,
which ``deploy`` uses and can rehearse on the CPU.)

This is the *how*: :mod:`sim.lava_network` builds the processes (*what*); a
:class:`Backend` supplies the run configuration, the spike recorders and the
way back to rest between samples; ``cpu`` runs
``Loihi2SimCfg(select_tag='fixed_pt')``.

Time span: a sample ``[C, T]`` runs ``T + tail`` steps. External spike
``in[:, t]`` reaches layer 1 at step ``t + 1``; the returned arrays are
``[N, T + tail]`` with column ``t`` = what happened at step ``t`` (0-based),
so layer ``l``'s column ``t`` equals training block ``l``'s output at index
``t`` (docs/hdf5-format.md). With ``tail = 0`` (default) that is exactly the
training output's span (the last input step shows up in layer ``l`` at
``T - 1 + l``, beyond it); ``tail = L + max delays`` adds the steps in which
the last inputs die out in an ``L``-layer network.

Samples are independent: all run in one compiled network, one after the
other, and every sample starts from rest -- ``u`` and ``v`` of each LIF and
the activation / delay buffer ``a_buff`` of every synapse at 0 -- exactly as
if run alone. (Zeroing only ``u``, ``v`` leaves spikes in flight in the delay
buffers; padding with silent steps is not exact either, since the buffered
spikes make neurons fire during the padding.) Three ways back to rest, from
fastest (figures: BENCHMARKS.md, "Sample resets and recorders on the Lava
CPU path"):

- CPU default: the models of :mod:`sim.cpu.models` zero their own state at
  each sample start (``proc_params['reset_period']``): just the steps;
- ``Var.set`` on every stateful Var between samples (what :class:`Backend`
  does, used with ``fast_models=False``): exact but slow, because Lava moves
  a Var one element per message;
- building and compiling a network per sample: slower still.

Recording: spikes from ``LIF.s_out`` (last layer, or every layer with
``record_layers``) through ``lava.proc.io.extractor.Extractor`` on the CPU
(one message per step, drained after each sample) -- or
``lava.proc.io.sink.RingBuffer`` sinks read with ``Var.get``
(``fast_models=False``), an order of magnitude slower with every layer
recorded. The output layer's voltage comes from a
``lava.proc.monitor.process.Monitor`` probe of ``LIF.v`` (``v`` after each
step, i.e. after the reset), read once at the end.
"""
from __future__ import annotations

import os

import numpy as np
from tqdm import tqdm

from netx_export.reader import read_network
from netx_export.spec import NetworkSpec
from sim.cpu.models import FAST_CPU_MODELS, RESET_PERIOD
from sim.errors import InputSpikesError
from sim.lava_network import LavaNetwork, build_network, lava_spec
from sim.lava_runtime import stop_quietly
from sim.samples import SimResult, check_input

__all__ = ["SimResult", "Backend", "CpuBackend", "make_backend", "LavaRunner"]


class _SinkRecorder:
    """Spikes through ``lava.proc.io.sink.RingBuffer`` (``span`` columns), read
    with ``Var.get``: one message per element."""

    def __init__(self, port, span: int):
        from lava.proc.io.sink import RingBuffer
        self.sink = RingBuffer(shape=port.shape, buffer=span)
        port.connect(self.sink.a_in)

    def read(self) -> np.ndarray:
        # a sink writes global step g (from 1) at column (g - 1) % span: this sample, in order
        return self.sink.data.get().astype(np.uint8)


class _ExtractorRecorder:
    """Spikes through ``lava.proc.io.extractor.Extractor``: one message per step
    into a ``span``-slot pipe, drained after each sample (CPU)."""

    def __init__(self, port, span: int):
        from lava.proc.io.extractor import Extractor
        self.extractor = Extractor(shape=port.shape, buffer_size=span)
        self.span = span
        port.connect(self.extractor.in_port)

    def read(self) -> np.ndarray:
        return np.stack([self.extractor.receive() for _ in range(self.span)], axis=1).astype(np.uint8)


class Backend:
    """Where a built network runs: a Lava run configuration, how spikes are
    recorded, and how the network is brought back to rest between samples."""

    name = "abstract"

    def run_config(self):
        """The Lava ``RunConfig``."""
        raise NotImplementedError

    def recorder(self, port, span: int):
        """An object recording ``port``'s spikes; ``.read()`` -> ``[N, span]`` after each sample."""
        return _SinkRecorder(port, span)

    def prepare(self, net: LavaNetwork, span: int) -> None:
        """Called once after building, before compiling; samples are ``span`` steps."""

    def reset(self, net: LavaNetwork) -> None:
        """Between samples: zero every stateful Var of ``net`` (u, v, synapse
        buffers) with ``Var.set`` -- exact, but one message per element."""
        for layer in net.layers:
            for process, name in layer.stateful:
                var = getattr(process, name)
                var.set(np.zeros(var.shape, dtype=np.int32))


class CpuBackend(Backend):
    """Lava's bit-accurate CPU simulation, ``Loihi2SimCfg(select_tag='fixed_pt')``.

    With ``fast_models`` (default) the run configuration maps the standard
    processes onto the models of :mod:`sim.cpu.models` -- same integers,
    cached delay weights, and every model returns to rest at the start of each
    sample by itself -- and spikes are recorded with ``Extractor``s. With
    ``fast_models=False`` Lava's own models run, state is zeroed with
    ``Var.set`` and spikes go through ``RingBuffer`` sinks."""

    name = "cpu"

    def __init__(self, fast_models: bool = True):
        self.fast_models = fast_models

    def run_config(self):
        from lava.magma.core.run_configs import Loihi2SimCfg
        return Loihi2SimCfg(select_tag="fixed_pt",
                            exception_proc_model_map=dict(FAST_CPU_MODELS) if self.fast_models else None)

    def recorder(self, port, span: int):
        return _ExtractorRecorder(port, span) if self.fast_models else _SinkRecorder(port, span)

    def prepare(self, net: LavaNetwork, span: int) -> None:
        if self.fast_models:
            for layer in net.layers:
                for process in {id(p): p for p, _ in layer.stateful}.values():
                    process.proc_params.overwrite(RESET_PERIOD, span)

    def reset(self, net: LavaNetwork) -> None:
        if not self.fast_models:  # the fast models rest by themselves
            super().reset(net)


def make_backend(backend: str | Backend, fast_models: bool = True) -> Backend:
    """``'cpu'`` (or a :class:`Backend` instance, returned as is); Loihi 2 runs
    the hardware graph (:class:`sim.loihi2.runner.HardwareRunner`)."""
    if isinstance(backend, Backend):
        return backend
    if backend == "cpu":
        return CpuBackend(fast_models=fast_models)
    raise ValueError(f"unknown backend {backend!r} (cpu; Loihi 2: sim.loihi2.runner.HardwareRunner)")


class LavaRunner:
    """Runs samples through a network on Lava.

    ``network``: a :class:`NetworkSpec` or the path of a network file (stock
    NetX or this project's extension; read with :func:`netx_export.reader.read_network`).
    The spec is validated up front: unknown layer types raise
    :class:`netx_export.errors.UnsupportedLayerError`, inconsistent fields
    :class:`sim.errors.InvalidSpecError`. Each :meth:`run` / :meth:`run_many`
    call compiles the network once and always stops the Lava runtime.
    """

    def __init__(self, network: NetworkSpec | str | os.PathLike, backend: str | Backend = "cpu",
                 fast_models: bool = True):
        spec = network if isinstance(network, NetworkSpec) else read_network(network)
        self.spec = lava_spec(spec)
        self._backend = make_backend(backend, fast_models)
        self.backend = self._backend.name

    def _check(self, spikes, tail: int) -> np.ndarray:
        return check_input(self.spec, spikes, tail)

    def run(self, spikes, record_layers: bool = False, record_voltage: bool = False,
            tail: int = 0) -> SimResult:
        """One sample: ``spikes`` 0/1 ``[channels, T]`` -> :class:`SimResult` with
        arrays ``[N, T + tail]``."""
        spikes = np.asarray(spikes)
        if spikes.ndim != 2:
            raise InputSpikesError(f"{self.spec.source}: expected input spikes [{self.spec.input_size}, "
                                   f"time], got shape {spikes.shape}")
        return self.run_many(spikes[None], record_layers, record_voltage, tail=tail, progress=False)[0]

    def run_many(self, spikes, record_layers: bool = False, record_voltage: bool = False,
                 tail: int = 0, progress: bool = True) -> list[SimResult]:
        """Independent samples: ``spikes`` 0/1 ``[samples, channels, T]`` -> one
        :class:`SimResult` per sample (arrays ``[N, T + tail]``), with a tqdm bar
        when ``progress`` and more than one sample. Runs in chunks of
        ``CHUNK`` samples per compiled network (bounded memory)."""
        spikes = self._check(spikes, tail)
        samples = spikes.shape[0]
        results: list[SimResult] = []
        with tqdm(total=samples, desc="lava", unit="sample", leave=False,
                  disable=not progress or samples == 1) as bar:
            for start in range(0, samples, self.CHUNK):
                results += self._run_chunk(spikes[start:start + self.CHUNK], record_layers,
                                           record_voltage, tail, bar)
        return results

    #: samples per compiled network in :meth:`run_many` (a compile costs about as much as a few samples)
    CHUNK = 256

    def _run_chunk(self, spikes: np.ndarray, record_layers: bool, record_voltage: bool, tail: int,
                   bar) -> list[SimResult]:
        from lava.magma.core.run_conditions import RunSteps
        from lava.proc.io.source import RingBuffer as Source
        from lava.proc.monitor.process import Monitor

        samples, channels, steps = spikes.shape
        span = steps + tail
        padded = np.concatenate([spikes, np.zeros((samples, channels, tail), np.int8)], axis=2)
        backend = self._backend
        net = build_network(self.spec)
        source = Source(data=padded.transpose(1, 0, 2).reshape(channels, samples * span))
        net.connect_input(source.s_out)
        watched = net.layers if record_layers else net.layers[-1:]
        recorders = [backend.recorder(layer.spikes(), span) for layer in watched]
        monitor = None
        if record_voltage:
            monitor = Monitor()
            monitor.probe(net.layers[-1].neuron.v, samples * span)
        backend.prepare(net, span)
        config = backend.run_config()
        recorded = []
        try:
            for k in range(samples):
                if k:
                    backend.reset(net)
                source.run(condition=RunSteps(num_steps=span), run_cfg=config)
                recorded.append([recorder.read() for recorder in recorders])
                bar.update(1)
            voltage = None
            if monitor is not None:
                data = monitor.get_data()[net.layers[-1].neuron.name]["v"]
                voltage = np.asarray(data).T.astype(np.int64)
        except BaseException:
            stop_quietly(source)
            raise
        source.stop()
        results = []
        for k, layers in enumerate(recorded):
            results.append(SimResult(
                output=layers[-1],
                layers=layers if record_layers else None,
                voltage=voltage[:, k * span:(k + 1) * span] if voltage is not None else None,
            ))
        return results
