"""The choices of how a network becomes a Lava graph, named without importing
Lava (the command line lists them before any Lava import; importing Lava's
runtime fixes the multiprocessing start method, :mod:`sim.lava_runtime`),
and what each builds (for the counts of :mod:`sim.operations` and
:mod:`sim.loihi2.resources`)."""
import numpy as np

__all__ = ["DELAYED_SYNAPSES", "RESETS", "delay_groups", "built_fan_out", "built_channel_fan_out"]

#: the process(es) of a delayed recurrent synapse (:mod:`sim.lava_network`): ``DelayDense`` with a
#: per-synapse delay matrix, one scalar-delay ``DelayDense`` per delay value, or ``DelaySparse``
DELAYED_SYNAPSES = ("dense", "groups", "sparse")
#: between samples on the Loihi 2 graph (:func:`sim.loihi2.schedule.plan`): LIFReset up to the largest
#: interval then the host (auto), LIFReset only, or the host zeroing ``u`` and ``v``
RESETS = ("auto", "lifreset", "host")


def delay_groups(weight_rec: np.ndarray, delay_rec: np.ndarray) -> np.ndarray:
    """The distinct delays of the presynaptic neurons that have a non-zero
    recurrent weight: one synapse process each under ``"groups"``."""
    used = np.flatnonzero(np.asarray(weight_rec).any(axis=0))
    return np.unique(np.asarray(delay_rec, np.int64)[used])


def built_fan_out(weight_rec: np.ndarray, delay_rec: np.ndarray | None, delayed_synapse: str) -> np.ndarray:
    """``[N]``: synapses one spike of presynaptic neuron ``j`` is looked up in,
    as :func:`sim.lava_network.build_layer` builds the recurrent connection:
    the non-zeros of column ``j`` through ``Sparse`` / ``DelaySparse``, all
    ``N`` rows through ``DelayDense``, ``N`` per delay group with ``"groups"``
    (every group's process receives every spike)."""
    weight_rec = np.asarray(weight_rec)
    n = weight_rec.shape[0]
    nonzero = np.count_nonzero(weight_rec, axis=0)
    if not weight_rec.any():
        return np.zeros(weight_rec.shape[1], np.int64)
    if delay_rec is None or not np.any(delay_rec) or delayed_synapse == "sparse":
        return nonzero.astype(np.int64)
    groups = len(delay_groups(weight_rec, delay_rec)) if delayed_synapse == "groups" else 1
    return np.full(weight_rec.shape[1], n * groups, np.int64)


def built_channel_fan_out(matrices: np.ndarray, delayed_synapse: str) -> np.ndarray:
    """``[N]``: as :func:`built_fan_out` for a ``dchan_rec`` layer whose delay
    channels' banded weights are ``matrices`` ``[D, N, N]`` (channel, post,
    pre): one synapse process per non-empty channel, its non-zeros under
    ``"sparse"``, all ``N`` rows under ``"dense"`` / ``"groups"`` (the channels
    are the delay groups)."""
    matrices = np.asarray(matrices)
    if delayed_synapse == "sparse":
        return np.count_nonzero(matrices, axis=1).sum(axis=0).astype(np.int64)
    used = int(sum(bool(m.any()) for m in matrices))
    return np.full(matrices.shape[2], matrices.shape[1] * used, np.int64)
