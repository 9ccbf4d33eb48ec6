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
  Chip models are Loihi 2 (``AbstractNcProcessModel``) models. The system
  is chosen with lava-nc's ``lava.utils.loihi`` (``use_slurm_host`` /
  ``use_ethernet_host``; the deprecated ``lava.utils.system.Loihi2`` is not
  used), after the partition and board are checked against ``sinfo``.

Every voltage read is sign-extended from 24 bits (:func:`sign_extend_24`):
Intel's examples do so with graded data and voltages read from the chip; the
extension leaves values that are already signed unchanged.
"""
from __future__ import annotations

import os

import numpy as np
from lava.magma.core.run_configs import AbstractNcProcessModel, Loihi2HwCfg, Loihi2SimCfg
from lava.proc.conv.models import PyConvModelFixed
from lava.proc.io.sink import Read
from lava.utils import loihi, slurm
from lava.utils.loihi import ChipGeneration

from lava_convdelay.limits import STATE_BITS
from sim.errors import BackendUnavailableError
from sim.loihi2.adapters.models import CHIP_ADAPTER_MODELS

__all__ = ["HardwareBackend", "CpuRehearsal", "Loihi2Hardware", "LOIHI_GENERATIONS", "DEFAULT_PARTITION",
           "DEFAULT_GENERATION", "make_hardware_backend", "sign_extend_24"]

#: Loihi chip generations lava-nc knows (``lava.utils.loihi.ChipGeneration``).
LOIHI_GENERATIONS = tuple(g.value for g in ChipGeneration)
#: Partition the NetX tutorials ask for when neither ``--partition``, ``--board`` nor ``PARTITION`` says.
DEFAULT_PARTITION = "oheogulch"
#: lava-nc's default generation ("Most Loihi 2 systems available to the INRC are N3B3").
DEFAULT_GENERATION = "N3B3"

_SIGN_BIT = 1 << (STATE_BITS - 1)
_MASK = (1 << STATE_BITS) - 1


def sign_extend_24(values) -> np.ndarray:
    """int64 ``values`` read as 24-bit two's complement: raw register contents
    (``0 .. 2^24 - 1``) become signed, values already in ``[-2^23, 2^23)``
    stay as they are (so applying it twice changes nothing)."""
    x = np.asarray(values).astype(np.int64)
    return ((x & _MASK) ^ _SIGN_BIT) - _SIGN_BIT


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
        configuration callback), ``.read()`` -> sign-extended int64 ``[N, span]``
        (slot ``i`` holds the value after time step ``i + 1`` modulo ``span``)
        and ``.raw_unsigned``: whether any value read so far was a raw 24-bit
        one (``>= 2^23`` before the extension)."""
        raise NotImplementedError

    def is_chip_model(self, model: type) -> bool:
        raise NotImplementedError


class _Probe:
    """Sign extension and the record of raw values, for both probes."""

    raw_unsigned = False

    def _extended(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw).astype(np.int64)
        self.raw_unsigned |= bool((raw >= _SIGN_BIT).any())
        return sign_extend_24(raw)


class _ReadProbe(_Probe):
    """``lava.proc.io.sink.Read`` of a Var after every step into ``span`` slots."""

    callback = None

    def __init__(self, var, span: int):
        self.reader = Read(buffer=span)
        self.reader.name = f"{var.process.name}.{var.name}.reader"
        self.reader.connect_var(var)

    def read(self) -> np.ndarray:
        return self._extended(self.reader.data.get())


class _StateProbe(_Probe):
    """lava-loihi's ``StateProbe``; its ``time_series`` grows by one column a step."""

    def __init__(self, var, span: int):
        from lava.utils.loihi2_state_probes import StateProbe  # lava-loihi
        self.callback = StateProbe(var)
        self.neurons, self.span = var.shape[0], span

    def read(self) -> np.ndarray:
        series = np.asarray(self.callback.time_series).reshape(self.neurons, -1)
        return self._extended(series[:, -self.span:])


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
    """Loihi 2 through lava-loihi (INRC). ``loihi_gen``: the chip generation
    (else ``LOIHI_GEN``, else N3B3); ``partition`` / ``board``: where SLURM
    runs it (else ``PARTITION`` / ``BOARD``, else :data:`DEFAULT_PARTITION`);
    ``ethernet_host``: a Kapoho Point on the network instead of SLURM."""

    name = "loihi2"

    def __init__(self, loihi_gen: str | None = None, partition: str | None = None, board: str | None = None,
                 ethernet_host: str | None = None):
        if loihi_gen is not None and loihi_gen not in LOIHI_GENERATIONS:
            raise ValueError(f"unknown Loihi generation {loihi_gen!r} ({', '.join(LOIHI_GENERATIONS)})")
        self.loihi_gen, self.partition, self.board, self.ethernet_host = loihi_gen, partition, board, ethernet_host

    def generation(self) -> ChipGeneration:
        """The chip generation to pass to lava-nc (always passed: ``use_slurm_host``
        otherwise writes N3B3 over an N3C1 system's ``LOIHI_GEN``)."""
        value = self.loihi_gen or os.environ.get("LOIHI_GEN") or DEFAULT_GENERATION
        if value not in LOIHI_GENERATIONS:
            raise BackendUnavailableError(f"LOIHI_GEN={value!r} is not a Loihi generation lava-nc knows "
                                          f"({', '.join(LOIHI_GENERATIONS)}); pass --loihi-gen")
        return ChipGeneration(value)

    def check_available(self) -> None:
        """lava-loihi installed, then the system: SLURM's partition and board
        checked against ``sinfo`` (names compared without the ``*`` sinfo puts
        after the default partition, which lava-nc's own check would not
        find), then ``lava.utils.loihi.use_slurm_host``; or
        ``use_ethernet_host``. Any failure is one :class:`BackendUnavailableError`."""
        if not loihi.is_installed():
            raise BackendUnavailableError(
                "the Loihi 2 backend needs the lava-loihi extension and access to a Loihi 2 "
                "system, which Intel provides to INRC members; it is not installed here. "
                "Use --backend cpu to rehearse the same graph and schedule on the CPU simulator.")
        generation = self.generation()
        try:
            if self.ethernet_host is not None:
                loihi.use_ethernet_host(self.ethernet_host, loihi_gen=generation)
                return
            partition, board = self._slurm_target()
            # partition=None: lava-nc's exact name match would miss "oheogulch*"; checked above, set below
            loihi.use_slurm_host(partition=None, board=board, loihi_gen=generation)
        except (ImportError, ValueError) as err:
            raise BackendUnavailableError(f"Loihi 2 system not usable: {err}") from None
        if partition is not None:
            os.environ["PARTITION"] = partition

    def _slurm_target(self) -> tuple[str | None, str | None]:
        """The checked ``(partition, board)``: each one ``sinfo`` lists and not down."""
        if not slurm.is_available():
            raise BackendUnavailableError(
                "lava-loihi is installed but SLURM's `sinfo` gave no answer (lava-nc waits 1 s for it): run "
                "`sinfo` by hand; for a Kapoho Point on the network pass --ethernet-host ADDRESS")
        board = self.board or os.environ.get("BOARD")
        partition = self.partition or os.environ.get("PARTITION") or (None if board else DEFAULT_PARTITION)
        partitions = {p.name.rstrip("*"): p for p in slurm.get_partitions()}
        listing = ", ".join(f"{name} ({p.state})" for name, p in partitions.items()) or "none"
        if partition is not None and (partition not in partitions or "down" in partitions[partition].state):
            raise BackendUnavailableError(f"SLURM partition {partition!r} is not listed as up by sinfo "
                                          f"(partitions: {listing}); pass --partition")
        if board is not None:
            boards = {b.nodename: b for b in slurm.get_boards()}
            info = boards.get(board)
            if info is None or "down" in info.state:
                shown = ", ".join(f"{b.nodename} ({b.partition.rstrip('*')}, {b.state})" for b in boards.values())
                raise BackendUnavailableError(f"board {board!r} is not listed as up by `sinfo -N` "
                                              f"(boards: {shown or 'none'}); pass --board")
            if partition is not None and info.partition.rstrip("*") != partition:
                raise BackendUnavailableError(f"board {board!r} is in partition {info.partition.rstrip('*')!r}, "
                                              f"not {partition!r}: give --board or --partition, not both")
        return partition, board

    def describe(self) -> str:
        where = ", ".join(f"{key}={os.environ[key]}" for key in ("PARTITION", "BOARD", "NXSDKHOST")
                          if key in os.environ)
        return (f"Loihi 2 (LOIHI_GEN={os.environ.get('LOIHI_GEN', DEFAULT_GENERATION + ' (default)')}"
                f"{', ' + where if where else ''}; host: {loihi.host or 'not chosen'})")

    def run_config(self, callbacks: list):
        return Loihi2HwCfg(exception_proc_model_map=dict(CHIP_ADAPTER_MODELS), callback_fxs=list(callbacks))

    def voltage_probe(self, var, span: int):
        return _StateProbe(var, span)

    def is_chip_model(self, model: type) -> bool:
        """A Loihi 2 neuro-core model (lava-nc's ``run_configs`` defines a
        placeholder class where lava-loihi is missing, so nothing qualifies here)."""
        return issubclass(model, AbstractNcProcessModel)


def make_hardware_backend(backend: str | HardwareBackend, loihi_gen: str | None = None,
                          partition: str | None = None, board: str | None = None,
                          ethernet_host: str | None = None) -> HardwareBackend:
    """``'cpu'`` / ``'loihi2'`` (or a :class:`HardwareBackend`, returned as is)."""
    if isinstance(backend, HardwareBackend):
        return backend
    if backend == "cpu":
        return CpuRehearsal()
    if backend == "loihi2":
        return Loihi2Hardware(loihi_gen, partition, board, ethernet_host)
    raise ValueError(f"unknown backend {backend!r} (cpu, loihi2)")
