"""Measure the steps the adapters and the voltage probe add on a backend.

Adapters between host and chip add latency (on Loihi 2 the
``embedded_io`` adapters' is not documented), so the step at which a
sample's column ``t`` shows up in the host's sinks and in the state probe's
data is measured, not assumed: a two-neuron calibration network (one input
channel, weights 254 and 2, threshold 100: neuron 0 fires and neuron 1 holds
a voltage in the step each input spike arrives, and nothing in between) runs
an aperiodic pattern through the backend's own hardware graph, and the
offset is where the recorded rings equal the pattern's result on the
fixed-point simulator. On the CPU rehearsal both offsets are 0 (the
pass-through models forward in the same step; tests/test_hardware_graph.py).
"""
from __future__ import annotations

import numpy as np

from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from sim.errors import CalibrationError
from sim.fixed_point import simulate
from sim.loihi2.backend import HardwareBackend, make_hardware_backend
from sim.loihi2.execution import Offsets, compile_graph, execute
from sim.loihi2.schedule import plan
from sim.samples import check_input

__all__ = ["CALIBRATION_SPEC", "CALIBRATION_INPUT", "CALIBRATION_PERIOD", "calibrate", "find_offset"]

CALIBRATION_SPEC = NetworkSpec(
    input_size=1,
    layers=[LayerSpec("dense", np.array([[254], [2]], np.int64), CubaParams(i_decay=4096, v_decay=4095, vth_mant=100))],
    source="<calibration network>")
#: spikes at steps 0, 1, 4, 9, 11 of 16: no shift of it matches itself
CALIBRATION_INPUT = np.zeros((1, 1, 16), np.int8)
CALIBRATION_INPUT[0, 0, [0, 1, 4, 9, 11]] = 1
#: the calibration sample's period: finds offsets up to 64 - 16 - 1
CALIBRATION_PERIOD = 64


def find_offset(ring: np.ndarray, expected: np.ndarray, what: str, backend: str) -> int:
    """The slot ``s`` with ``ring[:, s + t] == expected[:, t]`` for every column
    ``t`` and nothing else recorded, or :class:`CalibrationError`."""
    span = expected.shape[1]
    if not np.any(expected):
        raise CalibrationError(f"calibration: the expected {what} is empty")
    for s in range(ring.shape[1] - span + 1):
        rest = np.delete(ring, np.s_[s:s + span], axis=1)
        if np.array_equal(ring[:, s:s + span], expected) and not rest.any():
            return s
    raise CalibrationError(f"{backend}: the recorded {what} of the calibration network match its expected "
                           f"result at no step offset (recorded {ring.tolist()}); see docs/loihi2.md")


def calibrate(backend: str | HardwareBackend) -> Offsets:
    """Run the calibration network on ``backend``'s hardware graph (one sample,
    preflighted like any graph) and measure the :class:`Offsets`."""
    backend = make_hardware_backend(backend)
    spikes = check_input(CALIBRATION_SPEC, CALIBRATION_INPUT)
    compiled = compile_graph(CALIBRATION_SPEC, backend, plan(CALIBRATION_SPEC, spikes, period=CALIBRATION_PERIOD,
                                                             voltage=True), spikes, record_voltage=True)
    recorded = []
    execute(compiled, CALIBRATION_PERIOD, lambda _, rings, voltage: recorded.append((rings[0], voltage)))
    exact = simulate(CALIBRATION_SPEC, CALIBRATION_INPUT, record_voltage=True)
    spikes, voltage = recorded[0]
    name = backend.name
    return Offsets(find_offset(spikes, exact.output[0], "output spikes", name),
                   find_offset(voltage, exact.voltage[0], "voltages", name))
