"""What a Loihi 2 (or rehearsal) result was made with, recorded beside it:
package versions (every installed distribution named ``lava*`` or ``nx*``,
so lava-loihi is caught whatever its distribution is called, plus numpy,
scipy, torch, h5py and this project with its git commit), whether
lava-loihi is importable and from where, the variables lava-loihi reads
(``LOIHI_GEN``, ``PARTITION``, ``BOARD``, ``SLURM``, ``NOSLURM``,
``NXSDKHOST``), the host lava-nc chose, and the network file's SHA-256."""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
from pathlib import Path

__all__ = ["environment", "file_sha256", "VARIABLES"]

#: environment variables lava-loihi and lava-nc's ``lava.utils.loihi`` read or set
VARIABLES = ("LOIHI_GEN", "PARTITION", "BOARD", "SLURM", "NOSLURM", "NXSDKHOST", "HOST_BINARY")
_OTHER_PACKAGES = ("numpy", "scipy", "torch", "h5py", "lava-convdelay")
#: modules whose presence (and file) says which lava-loihi is in use
_MODULES = ("lava.utils.loihi2_profiler", "lava.utils.loihi2_state_probes", "lava.proc.embedded_io.spike")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _packages() -> dict[str, str]:
    found = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name.startswith(("lava", "nx")) or name in _OTHER_PACKAGES:
            found[name] = dist.version
    return dict(sorted(found.items()))


def _module_file(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a parent package missing
        return None
    return None if spec is None else str(spec.origin)


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def environment(network: str | os.PathLike | None = None) -> dict:
    """The record (JSON-ready); ``network``: the network file to hash."""
    from lava.utils import loihi

    record = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": _packages(),
        "lava_convdelay_commit": _git_commit(),
        "lava_loihi_installed": loihi.is_installed(),
        "modules": {name: _module_file(name) for name in _MODULES},
        "variables": {key: os.environ.get(key) for key in VARIABLES},
        "lava_host": loihi.host,
    }
    if network is not None:
        record["network"] = {"path": str(network), "sha256": file_sha256(network)}
    return record
