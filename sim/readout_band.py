"""The voltage readout's threshold, the one rule every simulator and graph
applies, and how close a network's readout comes to it.

A non-spiking output layer (``vThMant >= 2^17`` in the file, lava-dl writes
``2^18 - 1``) cannot keep that threshold on Loihi 2: Lava declares the LIF
threshold an unsigned 17-bit field, and public hardware runs found ``2^17``
unreliable. So the fixed-point simulator (:mod:`sim.fixed_point`), the Lava
CPU graph and the Loihi 2 graph (:mod:`sim.lava_network`) all build it with
:data:`~lava_convdelay.limits.READOUT_VTH`: it fires, and its ``v`` resets
to 0, only where ``v > READOUT_VTH << 6``, identically everywhere. No
threshold that fits the chip's field keeps a LIF from firing (``v`` saturates
at ``2^23 - 1``, above any such threshold), so whether a readout can reach
that band is checked instead: for every input by a bound
(:func:`readout_bound`), on given samples by the simulator
(:func:`readout_margin`), with a warning at half the band.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lava_convdelay.limits import READOUT_VTH, READOUT_WARN_V, STATE_UNIT, THRESHOLD_SHIFT, V_MAX
from netx_export.spec import CubaParams, LayerSpec

__all__ = ["READOUT_FIRES_ABOVE", "built_vth", "readout_bound", "describe_bound", "ReadoutMargin", "readout_margin"]

#: ``v`` above this makes the readout fire
READOUT_FIRES_ABOVE = READOUT_VTH << THRESHOLD_SHIFT


def built_vth(neuron: CubaParams) -> int:
    """The threshold mantissa simulators and graphs use: the file's for a
    spiking layer, :data:`READOUT_VTH` for a non-spiking one."""
    return neuron.vth_mant if neuron.spiking else READOUT_VTH


def readout_bound(layer: LayerSpec) -> int:
    """The largest ``v`` (units of 1/4096) any input can drive the layer to:
    every presynaptic neuron spiking in every step gives at most
    ``A = max_i sum_j max(W_ij, 0)`` per step, ``u <= 64 A * 4096 / iDecay``,
    ``v <= u * 4096 / vDecay`` (truncation toward zero only shrinks them);
    ``V_MAX`` where a decay is 0 (no bound below saturation)."""
    drive = int(np.clip(layer.weight, 0, None).sum(axis=1).max(initial=0))
    if layer.weight_rec is not None:
        drive += int(np.clip(layer.weight_rec, 0, None).sum(axis=1).max(initial=0))
    neuron = layer.neuron
    if not neuron.i_decay or not neuron.v_decay:
        return V_MAX
    u = (drive << THRESHOLD_SHIFT) * STATE_UNIT // neuron.i_decay
    return min(V_MAX, u * STATE_UNIT // neuron.v_decay)


def describe_bound(layer: LayerSpec) -> str:
    """One line for ``inspect``: the rule, and whether any input can reach the band."""
    bound = readout_bound(layer)
    text = (f"readout band: the voltage readout fires where v > {READOUT_FIRES_ABOVE} (READOUT_VTH = {READOUT_VTH} "
            f"in every simulator and graph, docs/hdf5-format.md); ")
    if bound <= READOUT_FIRES_ABOVE:
        return text + f"it cannot fire on any input: its voltage stays at or below {bound}"
    return text + (f"an input can reach it (bound {bound}): evaluate and deploy warn where the voltage exceeds "
                   f"{READOUT_WARN_V}")


@dataclass(frozen=True)
class ReadoutMargin:
    """A readout's largest voltage on some samples (``largest``, 1/4096
    units), how many samples came within half the band (``near``), fired
    (``fired``) or saturated negative (``saturated``)."""

    largest: int
    near: int
    fired: int
    saturated: int
    samples: int

    @classmethod
    def merged(cls, margins: list[ReadoutMargin]) -> ReadoutMargin:
        """One margin over the samples of several."""
        return cls(max(m.largest for m in margins), sum(m.near for m in margins), sum(m.fired for m in margins),
                   sum(m.saturated for m in margins), sum(m.samples for m in margins))

    def warning(self, source: str) -> str | None:
        """One line where something is wrong, else None."""
        parts = []
        if self.fired:
            parts.append(f"the readout fired (v > {READOUT_FIRES_ABOVE}, its v reset to 0) on {self.fired} of "
                         f"{self.samples} sample(s): their voltage sums are cut short, in every simulator alike")
        elif self.near:
            parts.append(f"the readout voltage exceeded {READOUT_WARN_V} (half of the {READOUT_FIRES_ABOVE} at which "
                         f"it fires, READOUT_VTH = {READOUT_VTH}) on {self.near} of {self.samples} sample(s), "
                         f"largest {self.largest}")
        if self.saturated:
            parts.append(f"the readout voltage reached the 24-bit limit (-{V_MAX}) on {self.saturated} sample(s): "
                         f"Lava and Loihi saturate where training does not")
        if not parts:
            return None
        return (f"{source}: " + "; ".join(parts) + "; their decisions can differ from the quantized model's "
                "(lower the readout's weights, e.g. train with a smaller weight_scale)")


def readout_margin(voltage: np.ndarray, spikes: np.ndarray | None = None) -> ReadoutMargin:
    """:class:`ReadoutMargin` of a voltage readout's ``v`` ``[B, N, T]`` (and its
    spikes ``[B, N, T]``, which it emits only in the band)."""
    voltage = np.asarray(voltage)
    per_sample = voltage.reshape(len(voltage), -1)
    fired = np.zeros(len(voltage), bool) if spikes is None \
        else np.asarray(spikes).reshape(len(voltage), -1).any(axis=1)
    return ReadoutMargin(int(per_sample.max(initial=0)), int((per_sample > READOUT_WARN_V).any(axis=1).sum()),
                         int(fired.sum()), int((per_sample <= -V_MAX).any(axis=1).sum()), len(voltage))
