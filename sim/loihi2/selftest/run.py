"""The whole self-test on one backend, into one archive (:mod:`.archive`):

1. the environment (versions, ``LOIHI_GEN``, partition, board, the network
   file's SHA-256), after the backend's own availability check;
2. the calibration (:mod:`sim.loihi2.calibration`): the adapters' step
   offsets and the post-spike voltage; every micro-test is read back at
   these offsets;
3. every micro-test (:mod:`.microtests`), each in its own runtime; a compile
   or run failure is recorded and the next one runs;
4. the real network, if given, on a few samples through the hardware graph
   (:class:`sim.loihi2.runner.HardwareRunner`) with every layer's spikes and
   voltages recorded.

The same code runs on Loihi 2 and on its CPU rehearsal; what differs between
the two archives is what :mod:`.compare` reports.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from lava_convdelay.limits import MAX_RESET_INTERVAL, READOUT_VTH
from sim.loihi2.backend import HardwareBackend
from sim.loihi2.calibration import calibrate
from sim.loihi2.environment import environment
from sim.loihi2.execution import Offsets
from sim.loihi2.selftest.archive import write_archive
from sim.loihi2.selftest.harness import error_text, run_micro
from sim.loihi2.selftest.microtests import MICRO_TESTS, micro_test

__all__ = ["run_selftest"]


def _calibration(backend: HardwareBackend, failure: Path, log: Callable[[str], None]) -> tuple[dict, Offsets]:
    try:
        found = calibrate(backend, voltage=True, failure_path=failure)
    except Exception as err:  # noqa: BLE001 -- recorded; the micro-tests run unaligned
        log(f"calibration: FAILED ({error_text(err)}); the micro-tests are read without offsets")
        return {"status": "error", "message": error_text(err), "offsets": None, "post_spike": []}, Offsets(0, 0)
    log(f"calibration: spike offset {found.offsets.spikes}, voltage offset {found.offsets.voltage}, "
        f"post-spike voltage {list(found.post_spike)}")
    return ({"status": "ok", "message": "", "offsets": [found.offsets.spikes, found.offsets.voltage],
             "post_spike": list(found.post_spike)}, found.offsets)


def _network(network: Path, spikes: np.ndarray, backend: HardwareBackend, delayed_synapse: str, reset: str,
             failure: Path, log: Callable[[str], None]) -> tuple[dict, dict[str, np.ndarray]]:
    from sim.loihi2.runner import HardwareRunner
    arrays: dict[str, np.ndarray] = {"network/input": spikes.astype(np.uint8)}
    try:
        runner = HardwareRunner(network, backend, delayed_synapse, log=log, reset=reset, calibration_failure=failure)
        results = runner.run_many(spikes, record_layers=True, record_layer_voltages=True, progress=False)
    except Exception as err:  # noqa: BLE001 -- recorded for compare
        log(f"network: FAILED ({error_text(err)})")
        return {"status": "run error", "message": error_text(err), "layers": 0, "schedule": None}, arrays
    for l in range(len(runner.spec.layers)):  # noqa: E741 -- layer index
        arrays[f"network/layer{l + 1}/spikes"] = np.stack([r.layers[l] for r in results]).astype(np.uint8)
        arrays[f"network/layer{l + 1}/voltage"] = np.stack([r.layer_voltages[l] for r in results])
    schedule = runner.last_plan.schedule
    return ({"status": "ok", "message": "", "layers": len(runner.spec.layers),
             "schedule": {"period": schedule.period, "host_reset": schedule.host_reset}}, arrays)


def run_selftest(backend: HardwareBackend, output: Path, network: Path | None = None,
                 spikes: np.ndarray | None = None, tests: list[str] | None = None, delayed_synapse: str = "dense",
                 reset: str = "auto", log: Callable[[str], None] = print) -> Path:
    """Run the self-test on ``backend`` and write the archive ``output``;
    ``tests``: the micro-tests to run (default all); ``network`` with
    ``spikes`` ``[S, C, T]``: the real network's run. Returns ``output``."""
    backend.check_available()
    selected = [micro_test(name) for name in tests] if tests is not None else list(MICRO_TESTS)
    meta: dict = {"backend": backend.name, "describe": backend.describe(), "environment": environment(network),
                  "settings": {"READOUT_VTH": READOUT_VTH, "MAX_RESET_INTERVAL": MAX_RESET_INTERVAL,
                               "delayed_synapse": delayed_synapse, "reset": reset}}
    log(f"self-test on {meta['describe']}")
    failure = Path(f"{output}.calibration-failure.npz")
    meta["calibration"], offsets = _calibration(backend, failure, log)
    meta["tests"], arrays = {}, {}
    for k, test in enumerate(selected, start=1):
        result = run_micro(test, backend, offsets)
        meta["tests"][test.name] = {"status": result.status, "message": result.message, "models": result.models,
                                    "raw_unsigned": result.raw_unsigned}
        if result.status == "ok":
            arrays.update({f"{test.name}/{key}": getattr(result, key)
                           for key in ("spikes", "voltage", "raw_spikes", "raw_voltage")})
        why = f" ({result.message})" if result.message else ""
        log(f"[{k}/{len(selected)}] {test.name}: {result.status}{why}")
    meta["network"] = None
    if network is not None and spikes is not None:
        meta["network"], network_arrays = _network(network, spikes, backend, delayed_synapse, reset, failure, log)
        arrays.update(network_arrays)
    return write_archive(output, meta, arrays)
