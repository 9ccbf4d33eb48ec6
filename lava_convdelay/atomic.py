"""Write files so that they appear complete or not at all."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On any error (or a kill) the final name is untouched and the temporary
    file is removed (a kill can leave a ``.NAME.*`` file behind, never a
    partial ``NAME``). ``suffix`` matters to writers that infer the format.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
