"""Measure the steps the adapters and the voltage probe add on a backend.

Adapters between host and chip add latency (on Loihi 2 the
``embedded_io`` adapters' is not documented), so the step at which a
sample's column ``t`` shows up in the host's sinks and in the state probe's
data is measured, not assumed. A two-neuron calibration network (one input
channel) runs an aperiodic pattern through the backend's own hardware graph:

- neuron 0 (weight 254, threshold 100, no memory) fires in each step an
  input spike arrives: the **spike** offset is where the sink's ring equals
  its exact spikes;
- neuron 1 (weight 2, ``vDecay = 1024``) never fires; its voltage runs
  128, 96, 72, 54, ... after each input -- not a multiple of 128 and
  aperiodic: the **voltage** offset is where the probe's data of neuron 1
  equal its exact voltages. Only neuron 1's: Loihi's register reads 128, not
  0, in the step of a spike (an Intel maintainer in lava-nc issue #282;
  nengo-loihi's probes), so a firing neuron's voltage is no reference. Its
  values at spike steps are recorded (:attr:`Calibration.post_spike`).

The voltage half runs only where a voltage is read (a voltage readout).
The neurons are plain ``LIF`` (one sample from rest needs no reset), so the
offsets do not depend on how the chip's ``LIFReset`` counts.
The exact results come from the fixed-point simulator. If no offset
matches, the raw rings, the expected arrays and the environment are saved
(``.npz``) and :class:`~sim.errors.CalibrationError` names that file. On the
CPU rehearsal both offsets are 0 (the pass-through models forward in the
same step; tests/test_hardware_graph.py).
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lava_convdelay.atomic import atomic_output
from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from sim.errors import CalibrationError
from sim.fixed_point import simulate
from sim.loihi2.backend import HardwareBackend, make_hardware_backend
from sim.loihi2.environment import environment
from sim.loihi2.execution import Offsets, compile_graph, execute
from sim.loihi2.schedule import fit_columns, plan
from sim.samples import check_input

__all__ = ["CALIBRATION_SPEC", "CALIBRATION_INPUT", "CALIBRATION_PERIOD", "CALIBRATION_SPAN", "Calibration",
           "calibrate", "find_offset"]

#: neuron 0 fires on every arrival; neuron 1 holds an aperiodic, decaying voltage and never fires
CALIBRATION_SPEC = NetworkSpec(
    input_size=1,
    layers=[LayerSpec("dense", np.array([[254], [2]], np.int64), CubaParams(i_decay=4096, v_decay=1024, vth_mant=100))],
    source="<calibration network>")
#: spikes at steps 0, 1, 4, 9, 11 of 16: no shift of it matches itself
CALIBRATION_INPUT = np.zeros((1, 1, 16), np.int8)
CALIBRATION_INPUT[0, 0, [0, 1, 4, 9, 11]] = 1
#: columns compared: the input and the voltage's decay to 0 after its last spike
CALIBRATION_SPAN = 32
#: the calibration sample's period: finds offsets up to 64 - 32
CALIBRATION_PERIOD = 64
FIRING, HOLDING = 0, 1


@dataclass(frozen=True)
class Calibration:
    """The measured :class:`Offsets` (``voltage`` 0 where no voltage was read)
    and, where it was, the distinct values neuron 0's probe showed in the
    steps it fired (``post_spike``; ``(0,)`` on the CPU, 128 reported for Loihi)."""

    offsets: Offsets
    post_spike: tuple[int, ...] = ()


def find_offset(ring: np.ndarray, expected: np.ndarray) -> int | None:
    """The slot ``s`` with ``ring[:, s + t] == expected[:, t]`` for every column
    ``t`` and nothing else recorded, else None."""
    span = expected.shape[1]
    for s in range(ring.shape[1] - span + 1):
        rest = np.delete(ring, np.s_[s:s + span], axis=1)
        if np.array_equal(ring[:, s:s + span], expected) and not rest.any():
            return s
    return None


def _save_failure(path: Path, backend: HardwareBackend, rings: dict[str, np.ndarray]) -> Path:
    with atomic_output(path, suffix=".npz") as tmp:
        np.savez(tmp, backend=np.array(backend.name), environment=np.array(json.dumps(environment())),
                 **{key: np.asarray(value) for key, value in rings.items()})
    return path


def calibrate(backend: str | HardwareBackend, voltage: bool = True, failure_path: Path | None = None) -> Calibration:
    """Run the calibration network on ``backend``'s hardware graph (one sample,
    preflighted like any graph) and measure the offsets; ``voltage``: also
    the voltage probe's. On failure the raw data go to ``failure_path``
    (default: a new file in the temporary folder) and a
    :class:`CalibrationError` names it."""
    backend = make_hardware_backend(backend)
    spikes = check_input(CALIBRATION_SPEC, CALIBRATION_INPUT)
    # one sample from rest: plain LIF (no LIFReset), so that a chip whose LIFReset differs still calibrates
    schedule = plan(CALIBRATION_SPEC, spikes, period=CALIBRATION_PERIOD, voltage=voltage, reset="host")
    compiled = compile_graph(CALIBRATION_SPEC, backend, schedule, spikes, voltage_layers=(0,) if voltage else ())
    recorded: list = []
    execute(compiled, CALIBRATION_PERIOD, lambda _, rings, volts: recorded.append((rings[0], volts)))
    exact = simulate(CALIBRATION_SPEC, fit_columns(CALIBRATION_INPUT, CALIBRATION_SPAN), record_layers=True,
                     record_voltage=True)
    ring, volts = recorded[0]
    expected_spikes, expected_voltage = exact.output[0], exact.voltage[0]
    found = {"spikes": find_offset(ring[FIRING:FIRING + 1], expected_spikes[FIRING:FIRING + 1])
             if not ring[HOLDING].any() else None}
    if voltage:
        found["voltage"] = find_offset(volts[0][HOLDING:HOLDING + 1], expected_voltage[HOLDING:HOLDING + 1])
    failed = [what for what, offset in found.items() if offset is None]
    if failed:
        if failure_path is None:
            failure_path = Path(tempfile.mkdtemp(prefix="lava-convdelay-")) / f"calibration-{backend.name}.npz"
        raw = {"spike_ring": ring, "expected_spikes": expected_spikes, "input": CALIBRATION_INPUT[0]}
        if voltage:
            raw.update(voltage_ring=volts[0], expected_voltage=expected_voltage)
        saved = _save_failure(Path(failure_path), backend, raw)
        raise CalibrationError(f"{backend.name}: the recorded {' and '.join(failed)} of the calibration network "
                               f"match its exact result at no step offset; the raw data are in {saved} "
                               f"(see docs/loihi2.md, 'Calibration failed')")
    offsets = Offsets(found["spikes"], found.get("voltage") or 0)
    post_spike: tuple[int, ...] = ()
    if voltage:
        fired = np.flatnonzero(expected_spikes[FIRING]) + offsets.voltage
        post_spike = tuple(sorted({int(v) for v in volts[0][FIRING, fired[fired < volts[0].shape[1]]]}))
    return Calibration(offsets, post_spike)
