"""Process models of the adapters of :mod:`sim.loihi2.adapters.process`.

- CPU (``Loihi2SimCfg(select_tag='fixed_pt')`` picks them): pass the spikes
  on in the same step.
- Loihi 2: sub-process models that insert lava-loihi's
  ``embedded_io.spike.PyToNxAdapter`` / ``NxToPyAdapter``, as the NetX
  hardware tutorials do. ``Loihi2HwCfg`` would pick the CPU pass-through
  for a process with both kinds of model (it prefers leaf models), so the
  Loihi 2 backend maps the adapters onto these explicitly
  (:data:`CHIP_ADAPTER_MODELS`). ``embedded_io`` is imported only when a
  chip model is built: it exists only where lava-loihi is installed.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.resources import CPU, Loihi2NeuroCore
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from sim.loihi2.adapters.process import InputAdapter, OutputAdapter

__all__ = ["PyInputAdapterModel", "PyOutputAdapterModel", "NxInputAdapterModel", "NxOutputAdapterModel",
           "CHIP_ADAPTER_MODELS"]


class _PyPassThrough(PyLoihiProcessModel):
    inp: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)

    def run_spk(self) -> None:
        self.out.send(self.inp.recv())


@implements(proc=InputAdapter, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyInputAdapterModel(_PyPassThrough):
    """CPU: the host's spikes go on unchanged."""


@implements(proc=OutputAdapter, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyOutputAdapterModel(_PyPassThrough):
    """CPU: the network's spikes go on unchanged."""


class _NxAdapter(AbstractSubProcessModel):
    """Inserts lava-loihi's ``embedded_io.spike.<adapter>`` between ``inp`` and ``out``."""

    adapter = ""

    def __init__(self, proc) -> None:
        from lava.proc.embedded_io import spike  # lava-loihi
        self.embedded = getattr(spike, self.adapter)(shape=proc.proc_params["shape"])
        proc.inp.connect(self.embedded.inp)
        self.embedded.out.connect(proc.out)


@implements(proc=InputAdapter, protocol=LoihiProtocol)
@requires(Loihi2NeuroCore)
class NxInputAdapterModel(_NxAdapter):
    """Loihi 2: ``embedded_io.spike.PyToNxAdapter`` between host and chip."""

    adapter = "PyToNxAdapter"


@implements(proc=OutputAdapter, protocol=LoihiProtocol)
@requires(Loihi2NeuroCore)
class NxOutputAdapterModel(_NxAdapter):
    """Loihi 2: ``embedded_io.spike.NxToPyAdapter`` between chip and host."""

    adapter = "NxToPyAdapter"


#: ``exception_proc_model_map`` entries of the Loihi 2 run configuration.
CHIP_ADAPTER_MODELS = {InputAdapter: NxInputAdapterModel, OutputAdapter: NxOutputAdapterModel}
