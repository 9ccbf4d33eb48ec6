"""Import Lava's runtime under the process's multiprocessing start method.

Lava's message infrastructure calls ``multiprocessing.set_start_method('fork')``
when it is first imported (anything importing ``lava.magma.core.process``
does), and its runtime starts its workers with the global start method, so
Lava runs only under 'fork'. Python refuses to set a start method twice
("context has already been set"), which breaks that import once anything has
fixed the method: explicitly, or implicitly by creating a pool, a queue or a
DataLoader worker (the default method, 'fork' on Linux, is then set).

Importing this module first makes the import work in every process where Lava
can run: where no method is set, Lava sets 'fork' as before; where 'fork' is
already set, the setting is cleared for Lava to set it again (the same
method). A process that chose another method ('spawn', 'forkserver') gets a
:class:`LavaStartMethodError` naming the method, instead of a changed method
under its feet. Training needs none of this (SLAYER does not touch
multiprocessing): only the modules of :mod:`sim` that build or run Lava
processes import it.
"""
import multiprocessing
import sys

from lava_convdelay.errors import UserError

_LAVA_RUNTIME = "lava.magma.runtime.message_infrastructure.multiprocessing"


class LavaStartMethodError(UserError, RuntimeError):
    """Lava's CPU runtime needs the 'fork' start method; this process chose another."""


def import_lava_runtime() -> None:
    """Import Lava's message infrastructure (idempotent); see the module docstring."""
    if _LAVA_RUNTIME in sys.modules:
        return
    method = multiprocessing.get_start_method(allow_none=True)
    if method not in (None, "fork"):
        raise LavaStartMethodError(
            f"Lava's CPU runtime runs its processes with the multiprocessing start method 'fork', but this "
            f"process set {method!r}; run Lava simulations in a process that keeps the default (or sets "
            f"'fork'), e.g. a separate script or `lava-convdelay simulate`")
    if method == "fork":
        multiprocessing.set_start_method(None, force=True)  # Lava sets 'fork' again on import
    __import__(_LAVA_RUNTIME)



def stop_quietly(process) -> None:
    """Stop the runtime after an error without masking that error."""
    try:
        process.stop()
    except Exception as err:  # noqa: BLE001 -- the original error is the one to see
        print(f"lava-convdelay: stopping the Lava runtime also failed: {err!r}", file=sys.stderr)


import_lava_runtime()
