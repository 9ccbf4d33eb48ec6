"""Quiet imports of lava-dl.

Importing ``lava.lib.dl.slayer`` prints an unrelated warning about an optional
Prophesee dataset toolbox (object-detection examples) to stdout, and torch's
``cpp_extension`` prints "No CUDA runtime is found" to stderr on CPU machines.
Neither concerns this toolkit, and both would pollute CLI output that users
pipe, so the first import happens here with those streams captured.
"""
import contextlib
import io

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    from lava.lib.dl import slayer  # noqa: F401

__all__ = ["slayer"]
