"""Write files so that they appear complete or not at all."""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from lava_convdelay.errors import UserError

# like tempfile.mkstemp's flags (exclusive, never through a symlink), but the file
# is created with mode 0o666 so the kernel applies the umask (and a folder's default
# ACL) as for any ordinary file, where mkstemp always gives 0o600
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _create_temporary(folder: Path, prefix: str, suffix: str) -> Path:
    """A new empty file ``folder/prefix<random>suffix`` with the ordinary mode."""
    for _ in range(100):
        tmp = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(tmp, _FLAGS, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{folder}: no free temporary name {prefix}*{suffix}")


def check_output_path(path: str | os.PathLike) -> Path:
    """``path`` if a file can be written there, else a :class:`UserError`
    (called by commands before their work starts, and by :func:`atomic_output`)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give the name of the file to write")
    folder = next(p for p in path.parents if p.exists())  # the root always exists
    if not folder.is_dir():
        raise UserError(f"{path}: {folder} is a file, not a folder")
    return path


@contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".tmp", check: Callable[[Path], None] | None = None):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    ``check(tmp)``, where given, runs on the complete temporary file before the
    rename (a writer re-reading what it wrote with its validating reader); if it
    raises, nothing is left under the final name.

    On any error (or a kill) the final name is untouched and the temporary
    file is removed (a kill can leave a ``.NAME.*`` file behind, never a
    partial ``NAME``). ``suffix`` matters to writers that infer the format.
    The file gets the mode of any newly created file, ``0o666 & ~umask``
    (0o644 with the usual umask 022), not the owner-only mode of ``tempfile``.
    """
    path = check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path.parent, f".{path.name}.", suffix)
    try:
        yield tmp
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
