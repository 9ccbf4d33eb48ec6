"""Preflight: compile a graph, say which process model every process got,
and refuse to run if a chip-side process did not get a chip model.

``Loihi2HwCfg`` prefers a Loihi 2 (Nc) model, then a C model, and otherwise
takes a Python (CPU) model without a word (lava-nc ``run_configs.py``,
``Loihi2HwCfg._order_according_to_resources``): a network whose LIF or
DelaySparse has no chip model on the installed lava-loihi would run partly
on the host -- slowly, and not as the chip computes. What counts as a chip
model is the backend's to say (``is_chip_model``); on the CPU rehearsal
Lava's bit-accurate models stand for the chip's, so the check runs here too.

Where compilation itself fails (a process lava-loihi has no model for, a
compiler limit), the table is made anyway from what Lava had chosen when it
stopped (it assigns every process's model before the sub-compilers run) and
travels with the one-line :class:`~sim.errors.ChipCompileError`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lava.magma.compiler.compiler_graphs import find_processes
from lava.magma.core.process.process import AbstractProcess
from lava.proc.conv.process import Conv
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.lif.process import LIF
from lava.proc.sparse.process import DelaySparse, Sparse

from sim.errors import ChipCompileError, ChipFallbackError

__all__ = ["CHIP_PROCESSES", "ModelChoice", "model_choices", "check_on_chip", "model_table", "preflight"]

#: Processes that must run on neuro cores (``LIFReset`` is a ``LIF``; ``Conv``: a conv front end).
CHIP_PROCESSES = (LIF, Dense, Sparse, DelayDense, DelaySparse, Conv)


@dataclass(frozen=True)
class ModelChoice:
    """One compiled process: its name, class and model (None: none chosen
    before compilation stopped); ``chip_side``: it must run on the chip;
    ``on_chip``: its model is a chip model."""

    process: str
    process_type: str
    model: type | None
    chip_side: bool
    on_chip: bool


def model_choices(processes, is_chip_model: Callable[[type], bool]) -> list[ModelChoice]:
    """The model of each *compiled* process, sorted by process name."""
    choices = []
    for process in sorted(processes, key=lambda p: p.name):
        model = process.model_class
        choices.append(ModelChoice(process.name, type(process).__name__, model, isinstance(process, CHIP_PROCESSES),
                                   model is not None and bool(is_chip_model(model))))
    return choices


def check_on_chip(choices: list[ModelChoice], backend: str = "the chip") -> None:
    """Raise :class:`ChipFallbackError` (with the model table) naming every
    chip-side process whose model is not a chip model."""
    fallen = [c for c in choices if c.chip_side and not c.on_chip]
    if fallen:
        listed = "; ".join(f"{c.process} ({c.process_type}) -> {_model_name(c)}" for c in fallen)
        raise ChipFallbackError(f"{len(fallen)} chip-side process(es) did not get a model for {backend}, "
                                f"they would run on the host CPU: {listed}", model_table(choices))


def _model_name(choice: ModelChoice) -> str:
    return "no model chosen" if choice.model is None else choice.model.__name__


def model_table(choices: list[ModelChoice]) -> str:
    """One line per process: name, class, model, and where it runs."""
    rows = [(c.process, c.process_type, _model_name(c),
             ("chip" if c.on_chip else "CPU FALLBACK") if c.chip_side else "host")
            for c in choices]
    header = ("process", "type", "model", "runs on")
    widths = [max(len(r[k]) for r in rows + [header]) for k in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in [header] + rows)


def preflight(process: AbstractProcess, run_cfg, is_chip_model: Callable[[type], bool],
              backend: str = "the chip"):
    """Compile the graph connected to ``process`` with ``run_cfg``; returns
    ``(executable, choices)`` for ``process.create_runtime(executable=...)``,
    or raises :class:`ChipFallbackError`, or :class:`ChipCompileError` (with
    the table as far as Lava got) where compilation fails. Hierarchical
    processes (the adapters on Loihi 2) are listed with their sub-process
    model and their children with theirs."""
    try:
        executable = process.compile(run_cfg)
    except Exception as err:  # noqa: BLE001 -- any compiler failure: report the table, then the error
        table = model_table(model_choices(find_processes(process), is_chip_model))
        reason = (str(err).strip().splitlines() or [""])[0]
        raise ChipCompileError(f"{backend}: the graph did not compile: {type(err).__name__}: {reason} "
                               f"(the process models chosen so far are listed above)", table) from err
    seen = {id(p): p for p in find_processes(process)}
    seen.update({id(p): p for p in executable.process_list})
    choices = model_choices(seen.values(), is_chip_model)
    check_on_chip(choices, backend)
    return executable, choices
