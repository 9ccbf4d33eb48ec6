"""One process at a time in a folder: an advisory lock on ``folder/.lock``."""
from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "writing") -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if missing) for the block.

    Two processes that generate the same cached data set at once (two
    training jobs started together on a fresh machine) would otherwise each
    collect and delete the other's parts; with the lock the second waits and
    then finds the files complete. The lock is released when the process
    exits, however it ends (``flock``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{folder}: another process is {what} here; waiting for it", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
