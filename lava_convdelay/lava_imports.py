"""lava-dl's SLAYER, imported first and quietly.

Importing ``lava.lib.dl.slayer`` prints an unrelated warning about an optional
Prophesee dataset toolbox to stdout, and torch's ``cpp_extension`` prints "No
CUDA runtime is found" to stderr on CPU machines; both would pollute CLI
output that users pipe, so they are captured here.

Only SLAYER: the training side needs nothing else, and SLAYER leaves
multiprocessing alone, so ``import lava_convdelay`` keeps whatever start
method a script chose. Lava's runtime (which sets the method to 'fork' when
imported) is imported by :mod:`sim.lava_runtime`, where Lava runs.
"""
import contextlib
import io

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    from lava.lib.dl import slayer  # noqa: F401

__all__ = ["slayer"]
