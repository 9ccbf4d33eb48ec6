"""Adapter processes on the edges between host (CPU) processes and chip
processes, as in lava-dl's NetX hardware tutorials (``InputAdapter`` /
``OutputAdapter`` in the oxford and mnist tutorials' ``utils.py``).

They only declare ports; :mod:`sim.loihi2.adapters.models` gives each two models:
a CPU pass-through (so the same graph runs on ``Loihi2SimCfg``) and a Loihi 2
sub-process model around ``lava.proc.embedded_io.spike.PyToNxAdapter`` /
``NxToPyAdapter`` (lava-loihi only).
"""
from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess

__all__ = ["InputAdapter", "OutputAdapter"]


class _Adapter(AbstractProcess):
    """Spikes ``[shape]`` in on ``inp``, out on ``out``."""

    def __init__(self, *, shape: tuple[int, ...], name: str | None = None) -> None:
        super().__init__(shape=shape, name=name)
        self.inp = InPort(shape=shape)
        self.out = OutPort(shape=shape)


class InputAdapter(_Adapter):
    """Host -> chip: spikes from a CPU process into the first chip process."""


class OutputAdapter(_Adapter):
    """Chip -> host: spikes of a chip process to a CPU process."""
