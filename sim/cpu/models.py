"""Faster CPU process models for the standard Lava processes sim/ uses.

Selected only through the CPU run configuration's ``exception_proc_model_map``
(:data:`FAST_CPU_MODELS`); the process graph is unchanged, so nothing here
reaches Loihi 2. Each model is Lava's own fixed-point model (subclassed, same
integer arithmetic) with two changes, both measured on lava-nc 0.10:

1. ``DelaySparse`` / ``DelayDense``: Lava rebuilds the delay-stacked weight
   matrix (``max_delay + 1`` masked copies, stacked) on *every* time step,
   which makes a delayed recurrence several times slower than the rest of the
   network. Here it is built once (again only if ``weights`` or ``delays``
   are replaced).
2. Rest at sample boundaries: with ``proc_params['reset_period'] = P``
   (set by :mod:`sim.cpu.runner` before compiling), a model zeroes its state
   -- ``u``, ``v`` of a LIF, the activation / delay buffer ``a_buff`` of a
   synapse (``a_buf`` of a ``Conv``) -- at the start of steps ``P + 1``, ``2P + 1``, ... before doing
   anything else, so every ``P``-step sample starts from rest with empty
   buffers. Zeroing the same Vars from the host with ``Var.set`` is exact too
   but slow: Lava moves a Var one element per message, so the delay buffers
   of an SHD-size net take longer than simulating the sample (BENCHMARKS.md,
   "Sample resets and recorders on the Lava CPU path"). Without
   ``reset_period`` the models never reset.

:class:`lava.proc.io.extractor.Extractor` is mapped as well (its model has no
``fixed_pt`` tag); the runner records spikes with it because reading a
``RingBuffer`` sink costs the same per element as ``Var.set``.
"""
from __future__ import annotations

import sim.lava_runtime  # noqa: F401  (first: Lava's runtime under the process's start method)

# isort: split
import numpy as np
from lava.proc.conv.models import PyConvModelFixed
from lava.proc.conv.process import Conv
from lava.proc.dense.models import PyDelayDenseModelBitAcc, PyDenseModelBitAcc
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
from lava.proc.lif.models import PyLifModelBitAcc
from lava.proc.lif.process import LIF
from lava.proc.sparse.models import PyDelaySparseModelBitAcc, PySparseModelBitAcc
from lava.proc.sparse.process import DelaySparse, Sparse

#: proc_params key: number of steps per sample (0 or absent: never reset).
RESET_PERIOD = "reset_period"


class _RestEveryPeriod:
    """Mixin: zero ``_state`` at the first step of each ``reset_period``-step sample."""

    _state: tuple[str, ...] = ()

    def run_spk(self):
        period = self.proc_params.get(RESET_PERIOD, 0)
        if period and self.time_step > 1 and (self.time_step - 1) % period == 0:
            for name in self._state:
                getattr(self, name)[...] = 0
        super().run_spk()


class _CachedDelayWeights:
    """Builds ``get_delay_wgts_mat`` once per (weights, delays) object pair."""

    def _delay_weights(self):
        cached = getattr(self, "_stacked_cache", None)
        if cached is None or cached[0] is not self.weights or cached[1] is not self.delays:
            # called after run_spk's first-step clip / truncate of the weights
            stacked = self.get_delay_wgts_mat(self.weights, self.delays, self.a_buff.shape[-1] - 1)
            if hasattr(stacked, "tocsr"):  # DelaySparse: a scipy stack; CSR for fast products
                stacked = stacked.tocsr()
            cached = (self.weights, self.delays, stacked)
            self._stacked_cache = cached
        return cached[2]


class RestingLifModel(_RestEveryPeriod, PyLifModelBitAcc):
    """Lava's bit-accurate LIF; ``u``, ``v`` back to 0 at each sample start."""

    _state = ("u", "v")


class RestingDenseModel(_RestEveryPeriod, PyDenseModelBitAcc):
    """Lava's bit-accurate Dense; ``a_buff`` emptied at each sample start."""

    _state = ("a_buff",)


class RestingSparseModel(_RestEveryPeriod, PySparseModelBitAcc):
    """Lava's bit-accurate Sparse; ``a_buff`` emptied at each sample start."""

    _state = ("a_buff",)


class RestingDelaySparseModel(_RestEveryPeriod, _CachedDelayWeights, PyDelaySparseModelBitAcc):
    """Lava's bit-accurate DelaySparse with cached delay weights; resting buffer."""

    _state = ("a_buff",)

    def calc_act(self, s_in) -> np.ndarray:
        slots = self.a_buff.shape[-1]
        return np.reshape(self._delay_weights().dot(s_in), (slots, self.weights.shape[0])).T


class RestingDelayDenseModel(_RestEveryPeriod, _CachedDelayWeights, PyDelayDenseModelBitAcc):
    """Lava's bit-accurate DelayDense with cached delay weights; resting buffer."""

    _state = ("a_buff",)

    def calc_act(self, s_in) -> np.ndarray:
        slots = self.a_buff.shape[-1]
        stacked = self._delay_weights()
        # Lava: np.sum(stacked * s_in, axis=1); the same integer sums
        acts = stacked[:, s_in].sum(axis=1) if s_in.dtype == bool else stacked.dot(s_in)
        return np.reshape(acts, (slots, self.weights.shape[0])).T


class RestingConvModel(_RestEveryPeriod, PyConvModelFixed):
    """Lava's fixed-point Conv; its activation buffer ``a_buf`` emptied at each sample start."""

    _state = ("a_buf",)


#: ``exception_proc_model_map`` for ``Loihi2SimCfg(select_tag='fixed_pt')``.
FAST_CPU_MODELS = {
    LIF: RestingLifModel,
    Dense: RestingDenseModel,
    Sparse: RestingSparseModel,
    DelaySparse: RestingDelaySparseModel,
    DelayDense: RestingDelayDenseModel,
    Conv: RestingConvModel,
    Extractor: PyLoihiExtractorModel,
}
