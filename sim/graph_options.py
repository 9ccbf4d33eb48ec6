"""The choices of how a network becomes a Lava graph, named without importing
Lava (the command line lists them before any Lava import; importing Lava's
runtime fixes the multiprocessing start method, :mod:`sim.lava_runtime`)."""

__all__ = ["DELAYED_SYNAPSES", "RESETS"]

#: the process(es) of a delayed recurrent synapse (:mod:`sim.lava_network`): ``DelayDense`` with a
#: per-synapse delay matrix, one scalar-delay ``DelayDense`` per delay value, or ``DelaySparse``
DELAYED_SYNAPSES = ("dense", "groups", "sparse")
#: between samples on the Loihi 2 graph (:func:`sim.loihi2.schedule.plan`): LIFReset up to the largest
#: interval then the host (auto), LIFReset only, or the host zeroing ``u`` and ``v``
RESETS = ("auto", "lifreset", "host")
