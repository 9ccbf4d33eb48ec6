"""What a Lava run of samples takes and gives, on either path (:mod:`sim.cpu`,
:mod:`sim.loihi2`): input spikes checked against the network, and one
:class:`SimResult` per sample."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netx_export.spec import NetworkSpec
from sim.errors import InputSpikesError

__all__ = ["SimResult", "check_input"]


@dataclass
class SimResult:
    """One sample's result. ``output``: the last layer's spikes, uint8 0/1
    ``[N_out, steps]``; ``layers``: every layer's spikes ``[N_l, steps]`` (when
    recorded, else None); ``voltage``: the output layer's ``v`` after each step
    (0 on spike steps: after the reset), int64 in units of 1/4096
    ``[N_out, steps]`` (when recorded, else None); ``layer_voltages``: every
    layer's ``v`` likewise (the Loihi 2 path, when recorded, else None).
    ``steps = T + tail``."""

    output: np.ndarray
    layers: list[np.ndarray] | None = None
    voltage: np.ndarray | None = None
    layer_voltages: list[np.ndarray] | None = None


def check_input(spec: NetworkSpec, spikes, tail: int = 0) -> np.ndarray:
    """``spikes`` as int8 ``[samples, channels, T >= 1]`` 0/1 for ``spec``, and a
    non-negative integer ``tail``, or :class:`InputSpikesError`."""
    spikes = np.asarray(spikes)
    if spikes.ndim != 3 or spikes.shape[1] != spec.input_size or spikes.shape[2] < 1:
        raise InputSpikesError(f"{spec.source}: expected input spikes [samples, "
                               f"{spec.input_size}, time >= 1], got shape {spikes.shape}")
    if not np.isin(spikes, (0, 1)).all():
        raise InputSpikesError(f"{spec.source}: input spikes must be 0/1")
    if isinstance(tail, bool) or not isinstance(tail, (int, np.integer)) or tail < 0:
        raise InputSpikesError(f"tail must be a non-negative integer number of steps, got {tail!r}")
    return spikes.astype(np.int8)
