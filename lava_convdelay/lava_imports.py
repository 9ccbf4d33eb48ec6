"""Imports of lava / lava-dl that must happen first, and quietly.

- Importing ``lava.lib.dl.slayer`` prints an unrelated warning about an
  optional Prophesee dataset toolbox to stdout, and torch's ``cpp_extension``
  prints "No CUDA runtime is found" to stderr on CPU machines; both would
  pollute CLI output that users pipe, so they are captured here.
- Lava's message infrastructure calls ``multiprocessing.set_start_method('fork')``
  when first imported, which raises "context has already been set" if anything
  (a torch DataLoader, torch.distributed) used multiprocessing before. Importing
  it up front lets training and Lava simulation share one process.
"""
import contextlib
import io

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
    from lava.lib.dl import slayer  # noqa: F401

__all__ = ["slayer"]
