"""Run samples through the hardware graph (:mod:`sim.loihi2.graph`) on
Loihi 2 or on its CPU rehearsal (:mod:`sim.loihi2.backend`).

A run of samples ``[B, C, T]``:

1. **plan** the schedule (:func:`sim.loihi2.schedule.plan`): one sample every
   ``period`` steps, resets by ``LIFReset`` (a power of 2, at most 256 unless
   told otherwise) or from the host, and which samples
   follow one whose spikes are still in flight at the resets; and say how
   large the per-step synaptic inputs get (:mod:`sim.loihi2.activation_range`);
2. **preflight** (:func:`sim.loihi2.preflight.preflight`): compile the graph, list
   every process's model, stop if a chip-side process got a CPU model;
3. **calibrate** (:mod:`sim.loihi2.calibration`): measure on this backend the steps
   the adapters add before the output spikes and (where a voltage is read)
   the voltage probe's data;
4. **run** sample after sample (``RunSteps(period)`` each; ``Var.set`` of
   ``u``, ``v`` after each only on a host-reset schedule),
   reading each sample's columns back from the sinks' rings at the measured
   offsets, so that column ``t`` is step ``t`` of the sample exactly as in
   :mod:`sim.cpu.runner` and docs/hdf5-format.md.

:func:`compare_with_exact` then says, per sample, whether the output equals
the sample's result alone (the batched fixed-point simulator, bit-exact with
Lava); where the plan found leaks, this is the measured agreement.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lava_convdelay.limits import MAX_RESET_INTERVAL
from lava_convdelay.nn.readout import decide
from netx_export.reader import read_network
from netx_export.spec import NetworkSpec
from sim.errors import ChipCompileError, ChipFallbackError, ScheduleError
from sim.fixed_point import simulate
from sim.graph_options import DELAYED_SYNAPSES
from sim.lava_network import lava_spec
from sim.loihi2.activation_range import describe_inputs, largest_inputs
from sim.loihi2.backend import HardwareBackend, make_hardware_backend
from sim.loihi2.calibration import Calibration, calibrate
from sim.loihi2.execution import Compiled, Offsets, build_graph, compile_graph, execute
from sim.loihi2.preflight import model_table
from sim.loihi2.schedule import Plan, fit_columns, leaks, plan
from sim.samples import SimResult, check_input

__all__ = ["HardwareRunner", "Agreement", "compare_with_exact"]


@dataclass
class Agreement:
    """Per sample against its exact result alone: ``equal[k]``: sample ``k``'s
    output spikes (and voltage, where recorded) equal it in every column;
    ``entries``: the fraction of equal entries of the readout's signal
    (spikes, or the voltage of a non-spiking output layer); ``decisions``:
    the fraction of equal decisions (``readout``)."""

    equal: np.ndarray
    entries: float
    decisions: float
    readout: str

    def describe(self) -> str:
        k = int(self.equal.sum())
        signal = "voltage" if self.readout == "voltage_sum" else "spike"
        return (f"output equal to each sample's exact result alone in {k} of {self.equal.size} samples "
                f"({100 * k / self.equal.size:.1f} %); {100 * self.entries:.4f} % of all output {signal} entries "
                f"and {100 * self.decisions:.1f} % of the decisions ({self.readout}) equal")


def compare_with_exact(spec: NetworkSpec, spikes: np.ndarray, results: list[SimResult]) -> Agreement:
    """Each result against the sample run alone from rest (the fixed-point
    simulator), over the result's columns. A voltage readout (non-spiking
    output layer) needs the results' voltage."""
    voltage = results[0].voltage is not None
    if spec.readout == "voltage_sum" and not voltage:
        raise ValueError(f"{spec.source}: the output layer is a voltage readout: record its voltage to compare")
    exact = simulate(spec, fit_columns(spikes, results[0].output.shape[-1]), record_voltage=voltage)
    got = np.stack([r.output for r in results])
    equal = (got == exact.output).all(axis=(1, 2))
    signal, reference = got, exact.output
    if voltage:
        signal, reference = np.stack([r.voltage for r in results]), exact.voltage
        equal &= (signal == reference).all(axis=(1, 2))
        if spec.readout != "voltage_sum":
            signal, reference = got, exact.output
    decisions = decide(signal, spec.readout) == decide(reference, spec.readout)
    return Agreement(equal, float((signal == reference).mean()), float(decisions.mean()), spec.readout)


def _quiet(_: str) -> None:
    """The default log: say nothing."""


class HardwareRunner:
    """Runs samples through the hardware graph on ``backend`` (``'cpu'``,
    ``'loihi2'`` or a :class:`~sim.loihi2.backend.HardwareBackend`).
    ``delayed_synapse``: the process(es) of delayed recurrent synapses
    (:data:`sim.graph_options.DELAYED_SYNAPSES`; ``DelayDense`` by default);
    ``reset`` / ``max_interval``: how samples are separated
    (:func:`sim.loihi2.schedule.plan`); ``calibration_failure``: where a
    failed calibration saves its raw data; ``log``: called with each stage's
    report (plan, model table, offsets). ``last_plan`` /
    ``last_calibration``: those of the last :meth:`run_many`."""

    #: samples per compiled graph (the source holds them all)
    CHUNK = 256

    def __init__(self, network: NetworkSpec | str | os.PathLike, backend: str | HardwareBackend = "cpu",
                 delayed_synapse: str = "dense", log: Callable[[str], None] = _quiet, reset: str = "auto",
                 max_interval: int = MAX_RESET_INTERVAL, calibration_failure: Path | None = None):
        spec = network if isinstance(network, NetworkSpec) else read_network(network)
        if delayed_synapse not in DELAYED_SYNAPSES:
            raise ValueError(f"delayed_synapse must be one of {DELAYED_SYNAPSES}, got {delayed_synapse!r}")
        self.spec = lava_spec(spec)
        self.backend = make_hardware_backend(backend)
        self.delayed_synapse = delayed_synapse
        self.reset, self.max_interval = reset, max_interval
        self.calibration_failure = calibration_failure
        self.log = log
        self.last_plan: Plan | None = None
        self.last_calibration: Calibration | None = None

    def plan(self, spikes, tail: int = 0, period: int | None = None, record_voltage: bool = False) -> Plan:
        """The schedule for ``spikes`` ``[B, C, T]`` (:func:`sim.loihi2.schedule.plan`)."""
        return plan(self.spec, check_input(self.spec, spikes, tail), tail, period, voltage=record_voltage,
                    reset=self.reset, max_interval=self.max_interval)

    def _voltage_layers(self, record_voltage: bool, record_layer_voltages: bool) -> tuple[int, ...]:
        layers = len(self.spec.layers)
        return tuple(range(layers)) if record_layer_voltages else (layers - 1,) if record_voltage else ()

    def build(self, plan_: Plan, spikes, record_layers: bool = False, record_voltage: bool = False):
        """The graph and voltage probes for ``spikes`` on ``plan_``'s schedule, not compiled
        (:func:`sim.loihi2.execution.build_graph`)."""
        return build_graph(self.spec, self.backend, plan_, spikes, record_layers,
                           self._voltage_layers(record_voltage, False), self.delayed_synapse)

    def compile(self, plan_: Plan, spikes, record_layers: bool = False, record_voltage: bool = False,
                record_layer_voltages: bool = False) -> Compiled:
        """The graph for ``spikes`` ``[B, C, T]`` on ``plan_``'s schedule, built and
        preflighted (:func:`sim.loihi2.execution.compile_graph`); where compilation
        fails, the model table as far as Lava got is logged before the error."""
        try:
            return compile_graph(self.spec, self.backend, plan_, spikes, record_layers,
                                 self._voltage_layers(record_voltage, record_layer_voltages), self.delayed_synapse)
        except (ChipCompileError, ChipFallbackError) as err:
            what = "compilation failed" if isinstance(err, ChipCompileError) else "chip-side processes on the CPU"
            self.log(f"process models (preflight, {what}):\n" + err.table)
            raise

    def calibrate(self, voltage: bool = True) -> Calibration:
        """Measure this backend's :class:`Offsets` (:mod:`sim.loihi2.calibration`);
        ``voltage``: the voltage probe's too."""
        try:
            found = calibrate(self.backend, voltage, self.calibration_failure)
        except (ChipCompileError, ChipFallbackError) as err:
            self.log("process models of the calibration network (preflight failed):\n" + err.table)
            raise
        offsets = found.offsets
        text = f"calibration on {self.backend.name}: column 0 of a sample is slot {offsets.spikes} of the output sinks"
        if voltage:
            text += (f" and slot {offsets.voltage} of the voltage probe (steps added by the adapters); a firing "
                     f"neuron's voltage reads {', '.join(map(str, found.post_spike))} in its spike steps")
        self.log(text)
        return found

    def preflight(self, spikes, tail: int = 0, period: int | None = None, record_layers: bool = False,
                  record_voltage: bool = False, record_layer_voltages: bool = False) -> tuple[Plan, Compiled]:
        """Plan and compile the first chunk's graph (logging both); nothing runs."""
        self.backend.check_available()
        self.log(f"backend: {self.backend.describe()}")
        spikes = check_input(self.spec, spikes, tail)
        plan_ = self.plan(spikes, tail, period, record_voltage)
        self.log(plan_.describe())
        self.log(describe_inputs(largest_inputs(self.spec, spikes)))
        compiled = self.compile(plan_, spikes[:self.CHUNK], record_layers, record_voltage, record_layer_voltages)
        self.log("process models (preflight):\n" + model_table(compiled.choices))
        return plan_, compiled

    def run_many(self, spikes, record_layers: bool = False, record_voltage: bool = False, tail: int = 0,
                 period: int | None = None, progress: bool = True,
                 record_layer_voltages: bool = False) -> list[SimResult]:
        """Independent samples ``[B, C, T]`` -> one :class:`SimResult` per sample
        with arrays ``[N, T + tail]`` (column ``t``: step ``t`` of the sample);
        ``record_layer_voltages``: every layer's ``v`` too (``layer_voltages``)."""
        spikes = check_input(self.spec, spikes, tail)
        voltage = record_voltage or record_layer_voltages
        plan_, first = self.preflight(spikes, tail, period, record_layers, record_voltage, record_layer_voltages)
        self.last_plan = plan_
        self.last_calibration = self.calibrate(voltage)
        offsets = self.last_calibration.offsets
        self._check_offsets(plan_, spikes, offsets, voltage)
        results: list[SimResult] = []
        with tqdm(total=len(spikes), desc=self.backend.name, unit="sample", leave=False,
                  disable=not progress or len(spikes) == 1) as bar:
            for start in range(0, len(spikes), self.CHUNK):
                chunk = spikes[start:start + self.CHUNK]
                compiled = first if start == 0 else self.compile(plan_, chunk, record_layers, record_voltage,
                                                                 record_layer_voltages)
                results += self._run_chunk(compiled, plan_, offsets, record_layers, record_voltage,
                                           record_layer_voltages, bar)
        return results

    def _check_offsets(self, plan_: Plan, spikes: np.ndarray, offsets: Offsets, voltage: bool) -> None:
        """The columns to read must lie within the period; a later input than
        the plan allowed for moves the resets earlier: re-check the leaks."""
        period, span = plan_.schedule.period, plan_.schedule.steps + plan_.tail
        used = (offsets.spikes, offsets.voltage) if voltage else (offsets.spikes,)
        if max(used) + span > period:
            raise ScheduleError(f"{self.backend.name}: the adapters add {max(used)} steps, too many to read {span} "
                                f"columns of a {period}-step period; give a longer --period")
        latency = min(used)  # the input adapter's share is at most this
        if latency > plan_.margin:
            late = leaks(self.spec, spikes, period, latency, plan_.voltage, plan_.schedule.host_reset)
            plan_.margin, plan_.leaking, plan_.late = latency, late > 0, np.maximum(late, 0)
            self.log(f"the input arrives up to {latency} steps after the planned resets; " + plan_.describe())

    def _run_chunk(self, compiled: Compiled, plan_: Plan, offsets: Offsets, record_layers: bool,
                   record_voltage: bool, record_layer_voltages: bool, bar) -> list[SimResult]:
        span = plan_.schedule.steps + plan_.tail
        results = []

        def on_sample(_: int, rings: list, voltages: list) -> None:
            layers = [ring[:, offsets.spikes:offsets.spikes + span] for ring in rings]
            volts = [v[:, offsets.voltage:offsets.voltage + span] for v in voltages]
            results.append(SimResult(
                output=layers[-1], layers=layers if record_layers else None,
                voltage=volts[-1] if record_voltage else None,
                layer_voltages=volts if record_layer_voltages else None))
            bar.update(1)

        execute(compiled, plan_.schedule.period, on_sample)
        return results
