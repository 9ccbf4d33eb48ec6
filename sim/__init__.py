"""Running network files: the batched fixed-point simulator (:mod:`.fixed_point`,
bit-exact with Lava), the Lava network builder both Lava paths share
(:mod:`.lava_network`), the Lava CPU path (:mod:`.cpu`) and the Loihi 2 path
(:mod:`.loihi2`). What a network *is* comes from :mod:`netx_export.spec`; how
it runs is chosen here.

Names from the Lava paths are imported on first use: importing Lava's runtime
sets the process's multiprocessing start method (:mod:`.lava_runtime`), which
``import sim`` alone must not do.
"""
import importlib

import lava_convdelay  # noqa: F401  (quiet lava-dl import)
from sim.errors import (
    BackendUnavailableError,
    CalibrationError,
    ChipFallbackError,
    InputSpikesError,
    InvalidSpecError,
    ScheduleError,
)
from sim.fixed_point import FixedPointResult, simulate

_LAZY = {
    "LavaRunner": "sim.cpu.runner", "SimResult": "sim.cpu.runner", "build_network": "sim.lava_network",
    "HardwareRunner": "sim.loihi2.runner", "compare_with_exact": "sim.loihi2.runner",
    "make_hardware_backend": "sim.loihi2.backend", "chip_fit": "sim.loihi2.resources",
    "fit_table": "sim.loihi2.resources",
}

__all__ = [
    "BackendUnavailableError", "CalibrationError", "ChipFallbackError", "FixedPointResult", "InputSpikesError",
    "InvalidSpecError", "ScheduleError", "simulate", *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
