"""Where the hardware graph (:mod:`sim.loihi2.runner`) runs: Loihi 2, or a
CPU rehearsal of exactly the same graph and schedule.

A backend gives the run configuration, a probe of the output layer's
voltage, and the rule for what counts as a chip model (for
:mod:`sim.loihi2.preflight`):

- ``cpu`` (:class:`CpuRehearsal`): ``Loihi2SimCfg(select_tag='fixed_pt')``,
  i.e. Lava's own bit-accurate models (``LIFReset`` included, not the
  project's faster models of :mod:`sim.cpu.models`) and the adapters'
  pass-through models; the voltage through ``lava.proc.io.sink.Read``,
  lava-nc's CPU counterpart of ``embedded_io.state.Read`` (it reads ``v``
  after each step, as a state probe does). Lava's bit-accurate models stand
  for the chip's in the preflight.
- ``loihi2`` (:class:`Loihi2Hardware`): ``Loihi2HwCfg`` with the adapters
  mapped onto their ``embedded_io`` sub-process models, and the voltage
  through lava-loihi's ``StateProbe`` passed as a callback
  (``Loihi2HwCfg(callback_fxs=[...])``), as the public Loihi 2 SHD classifier
  of ml_genn_netx does; a Monitor cannot read a chip variable from the host.
  Chip models are Loihi 2 (``AbstractNcProcessModel``) models. The Loihi
  generation and partition go to lava-loihi through the environment
  variables it reads, ``LOIHI_GEN`` and ``PARTITION``.
"""
from __future__ import annotations

import os

import numpy as np
from lava.magma.core.run_configs import AbstractNcProcessModel, Loihi2HwCfg, Loihi2SimCfg
from lava.proc.conv.models import PyConvModelFixed
from lava.proc.io.sink import Read
from lava.utils.loihi import ChipGeneration
from lava.utils.system import Loihi2

from sim.errors import BackendUnavailableError
from sim.loihi2.adapters.models import CHIP_ADAPTER_MODELS

__all__ = ["HardwareBackend", "CpuRehearsal", "Loihi2Hardware", "LOIHI_GENERATIONS", "DEFAULT_PARTITION",
           "make_hardware_backend"]

#: Loihi chip generations lava-nc knows (``lava.utils.loihi.ChipGeneration``).
LOIHI_GENERATIONS = tuple(g.value for g in ChipGeneration)
#: Partition the NetX tutorials ask for (``Loihi2.preferred_partition``) when ``PARTITION`` is unset.
DEFAULT_PARTITION = "oheogulch"


class HardwareBackend:
    """Interface; see the module docstring."""

    name = "abstract"

    def check_available(self) -> None:
        """Raise :class:`BackendUnavailableError` where this backend cannot run."""

    def describe(self) -> str:
        raise NotImplementedError

    def run_config(self, callbacks: list):
        """The Lava run configuration; ``callbacks``: the probes' callbacks."""
        raise NotImplementedError

    def voltage_probe(self, var, span: int):
        """A probe of ``var`` (``[N]``) with ``.callback`` (None or a run
        configuration callback) and ``.read()`` -> ``[N, span]``: slot ``i``
        holds the value after time step ``i + 1`` modulo ``span``."""
        raise NotImplementedError

    def is_chip_model(self, model: type) -> bool:
        raise NotImplementedError


class _ReadProbe:
    """``lava.proc.io.sink.Read`` of a Var after every step into ``span`` slots."""

    callback = None

    def __init__(self, var, span: int):
        self.reader = Read(buffer=span)
        self.reader.name = f"{var.process.name}.{var.name}.reader"
        self.reader.connect_var(var)

    def read(self) -> np.ndarray:
        return np.asarray(self.reader.data.get()).astype(np.int64)


class _StateProbe:
    """lava-loihi's ``StateProbe``; its ``time_series`` grows by one column a step."""

    def __init__(self, var, span: int):
        from lava.utils.loihi2_state_probes import StateProbe  # lava-loihi
        self.callback = StateProbe(var)
        self.neurons, self.span = var.shape[0], span

    def read(self) -> np.ndarray:
        series = np.asarray(self.callback.time_series).reshape(self.neurons, -1)
        return series[:, -self.span:].astype(np.int64)


class CpuRehearsal(HardwareBackend):
    """The hardware graph on Lava's CPU simulator (bit-accurate models)."""

    name = "cpu"

    def describe(self) -> str:
        return "CPU rehearsal of the Loihi 2 graph (Loihi2SimCfg, fixed_pt, Lava's own models)"

    def run_config(self, callbacks: list):
        if callbacks:
            raise ValueError("the CPU rehearsal takes no run-configuration callbacks")
        return Loihi2SimCfg(select_tag="fixed_pt")

    def voltage_probe(self, var, span: int):
        return _ReadProbe(var, span)

    def is_chip_model(self, model: type) -> bool:
        """Lava's bit-accurate models stand for the chip's (for ``Conv``, which has none
        tagged so, its fixed-point model: the integer model NetX runs)."""
        return "bit_accurate_loihi" in getattr(model, "tags", ()) or issubclass(model, PyConvModelFixed)


class Loihi2Hardware(HardwareBackend):
    """Loihi 2 through lava-loihi (INRC). ``loihi_gen`` / ``partition``, when
    given, set ``LOIHI_GEN`` / ``PARTITION``; otherwise those variables as
    set, else lava-nc's default generation N3B3 and :data:`DEFAULT_PARTITION`."""

    name = "loihi2"

    def __init__(self, loihi_gen: str | None = None, partition: str | None = None):
        if loihi_gen is not None and loihi_gen not in LOIHI_GENERATIONS:
            raise ValueError(f"unknown Loihi generation {loihi_gen!r} ({', '.join(LOIHI_GENERATIONS)})")
        self.loihi_gen, self.partition = loihi_gen, partition

    def configure(self) -> None:
        """Put the generation and partition where lava-loihi reads them."""
        if self.loihi_gen is not None:
            os.environ["LOIHI_GEN"] = self.loihi_gen
        if self.partition is not None:
            os.environ["PARTITION"] = self.partition

    def check_available(self) -> None:
        self.configure()
        Loihi2.preferred_partition = os.environ.get("PARTITION", DEFAULT_PARTITION)
        # also sets LOIHI_GEN=N3B3 and PARTITION where unset (lava-nc utils/system.py)
        if not Loihi2.is_loihi2_available:
            raise BackendUnavailableError(
                "the Loihi 2 backend needs the lava-loihi extension and access to a Loihi 2 "
                "system, which Intel provides to INRC members; it is not installed here. "
                "Use --backend cpu to rehearse the same graph and schedule on the CPU simulator.")

    def describe(self) -> str:
        return (f"Loihi 2 (LOIHI_GEN={os.environ.get('LOIHI_GEN', 'N3B3 (default)')}, "
                f"PARTITION={os.environ.get('PARTITION', DEFAULT_PARTITION + ' (default)')})")

    def run_config(self, callbacks: list):
        return Loihi2HwCfg(exception_proc_model_map=dict(CHIP_ADAPTER_MODELS), callback_fxs=list(callbacks))

    def voltage_probe(self, var, span: int):
        return _StateProbe(var, span)

    def is_chip_model(self, model: type) -> bool:
        """A Loihi 2 neuro-core model (lava-nc's ``run_configs`` defines a
        placeholder class where lava-loihi is missing, so nothing qualifies here)."""
        return issubclass(model, AbstractNcProcessModel)


def make_hardware_backend(backend: str | HardwareBackend, loihi_gen: str | None = None,
                          partition: str | None = None) -> HardwareBackend:
    """``'cpu'`` / ``'loihi2'`` (or a :class:`HardwareBackend`, returned as is)."""
    if isinstance(backend, HardwareBackend):
        return backend
    if backend == "cpu":
        return CpuRehearsal()
    if backend == "loihi2":
        return Loihi2Hardware(loihi_gen, partition)
    raise ValueError(f"unknown backend {backend!r} (cpu, loihi2)")
