"""The between-sample schedule of the hardware graph, and where it is exact.

On Loihi 2 samples follow each other in one of two ways:

- **LIFReset** (NetX's way, lava-dl ``netx/hdf5.py``): every layer is a
  ``LIFReset`` that zeroes ``u`` and ``v`` once every ``period`` steps -- a
  power of 2, as the NetX tutorials require of the reset interval on Loihi 2,
  and at most :data:`~lava_convdelay.limits.MAX_RESET_INTERVAL` (256) unless
  a self-test has shown more works -- layer ``l`` in the step in which the
  sample's first input reaches it (:class:`sim.lava_network.NeuronReset`,
  offset 1: the input reaches layer 1's synapse in the sample's first time
  step); nothing is set from the host;
- **host reset** (what ml_genn_netx's Loihi 2 scripts do): plain ``LIF``
  neurons; after each sample's ``period`` steps (any length) the host zeroes
  every layer's ``u`` and ``v`` with ``Var.set``.

A :class:`Schedule` gives each sample ``period`` steps: its ``steps`` input
steps, then silent ones. Spikes still in flight in a synapse's delay buffer
at a reset are *not* cleared by either, so a sample is exactly what it is
alone (from rest) only if the previous sample has gone quiet in time. Which
samples that holds for follows from each sample run alone, longer than the
period (:func:`leaks`, on the batched fixed-point simulator, bit-exact with
Lava): a spike of layer ``l - 1`` at column ``e`` reaches neuron ``i`` at
``e + 1 + delay[i]``, one of neuron ``j`` of layer ``l`` itself at
``e + 1 + delay_rec[j]``; with LIFReset column ``P + l`` is layer ``l``'s
reset, with host reset column ``P`` is every layer's. ``margin`` moves every
reset that many steps earlier: what a host-to-chip adapter latency does on
hardware, where the input arrives later than the resets assume.

:func:`plan` picks the period: the smallest power of 2 that holds the input,
the ``tail`` to be read, the layers and the largest delay, doubled (up to
:data:`MAX_DOUBLINGS` times) until no sample leaks at the margin
:data:`LATENCY_ALLOWANCE` (only the last sample's leak does not count);
``reset="auto"`` resets with LIFReset up to the largest allowed interval and
from the host beyond it. Self-sustained recurrent activity may never stop:
then the plan keeps the period with the fewest leaks, says which samples are
exposed, and the run measures what that does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lava_convdelay.limits import MAX_RESET_INTERVAL
from netx_export.spec import NetworkSpec
from sim.errors import ScheduleError
from sim.fixed_point import simulate
from sim.graph_options import RESETS
from sim.lava_network import NeuronReset

__all__ = ["Schedule", "Plan", "LATENCY_ALLOWANCE", "MAX_DOUBLINGS", "RESET_OFFSET", "RESETS", "leaks", "plan",
           "shortest_period", "fit_columns"]

#: NetX ``reset_offset``: each sample's first input column reaches layer 1's
#: synapse in the sample's first time step (Lava counts steps from 1).
RESET_OFFSET = 1
#: Steps of host-to-chip latency the planned resets stay exact for (the
#: calibration measures the real one; the CPU's adapters add none).
LATENCY_ALLOWANCE = 4
#: How often :func:`plan` doubles the period looking for one without leaks.
MAX_DOUBLINGS = 3


@dataclass(frozen=True)
class Schedule:
    """``steps`` input steps per sample, one sample every ``period`` steps;
    ``host_reset``: the host zeroes ``u``, ``v`` after each sample (any
    period), else ``LIFReset`` does (a power of 2)."""

    steps: int
    period: int
    host_reset: bool = False

    def __post_init__(self):
        if self.period < 1 or (not self.host_reset and self.period & (self.period - 1)):
            raise ScheduleError(f"the period must be a power of 2 (LIFReset's reset_interval on Loihi 2), "
                                f"got {self.period}; --reset host takes any period")
        if self.period < self.steps:
            raise ScheduleError(f"a period of {self.period} steps is shorter than the {self.steps} input steps")

    @property
    def reset(self) -> NeuronReset | None:
        """The LIFReset schedule (None: plain LIF, reset from the host)."""
        return None if self.host_reset else NeuronReset(interval=self.period, offset=RESET_OFFSET)

    @property
    def silent(self) -> int:
        return self.period - self.steps

    def describe(self) -> str:
        text = f"one sample every {self.period} steps ({self.steps} input + {self.silent} silent), "
        if self.host_reset:
            return text + "u and v of every layer zeroed from the host (Var.set) after each sample"
        return text + (f"LIFReset interval {self.period}, layer l reset at time steps = {RESET_OFFSET} + l "
                       f"(mod {self.period})")


@dataclass
class Plan:
    """A :class:`Schedule` for some samples; ``leaking[k]``: sample ``k``'s
    activity reaches into sample ``k + 1`` at ``margin`` (so sample ``k + 1``
    may differ from its result alone; ``voltage``: the output voltage counts
    too); ``late[k]``: by how many steps, at worst (0 where it does not
    leak). See :func:`leaks`."""

    schedule: Schedule
    tail: int
    margin: int
    voltage: bool
    leaking: np.ndarray
    late: np.ndarray

    @property
    def exposed(self) -> np.ndarray:
        """Samples that follow a leaking one (their results may not be exact)."""
        return np.flatnonzero(self.leaking[:-1]) + 1

    def describe(self) -> str:
        text = f"schedule: {self.schedule.describe()}; "
        exposed = self.exposed
        if not exposed.size:
            return text + (f"every sample's activity dies out before the next sample's resets "
                           f"(with {self.margin} steps to spare for adapter latency): exact")
        what = "spikes, or the output voltage, " if self.voltage else "spikes "
        return text + (f"WARNING: in {exposed.size} of {self.leaking.size - 1} sample transitions the previous "
                       f"sample's {what}still reach a layer at or after its reset (up to "
                       f"{int(self.late[:-1].max())} steps late; samples {_listing(exposed)}): those samples "
                       f"may differ from their results alone")


def _listing(indexes: np.ndarray, most: int = 8) -> str:
    shown = ", ".join(str(int(i)) for i in indexes[:most])
    return shown + (f", ... ({indexes.size} in all)" if indexes.size > most else "")


def _max_delays(spec: NetworkSpec) -> int:
    def delays(layer):
        channels = None if layer.delay_channels is None else layer.delay_channels.delays
        return (layer.delay, layer.delay_rec, channels)
    return max(max((int(np.max(d)) for d in delays(layer) if d is not None and np.size(d)),
                   default=0) for layer in spec.layers)


def shortest_period(spec: NetworkSpec, steps: int, tail: int = 0) -> int:
    """The smallest power of 2 that holds ``steps + tail`` columns, one step
    per layer and the largest delay: the first period :func:`plan` tries."""
    need = steps + tail + len(spec.layers) + _max_delays(spec) + 1
    return 1 << (need - 1).bit_length()


def fit_columns(spikes, span: int) -> np.ndarray:
    """``spikes`` ``[B, C, T]`` as uint8 ``[B, C, span]``: cut, or padded with silent steps."""
    spikes = np.asarray(spikes)
    out = np.zeros(spikes.shape[:2] + (span,), np.uint8)
    out[:, :, :min(span, spikes.shape[2])] = spikes[:, :, :span]
    return out


def _latest_arrival(last_pre: np.ndarray, connected: np.ndarray, pre_delay: np.ndarray | None = None,
                    post_delay: np.ndarray | None = None) -> np.ndarray:
    """``[B]``: the latest column at which a spike reaches a neuron (-1: none).
    ``last_pre`` ``[B, J]``: each presynaptic neuron's last spike column (-1:
    none); ``connected`` ``[I, J]``: the non-zero weights; the extra steps are
    per presynaptic neuron (``pre_delay`` ``[J]``) or per postsynaptic
    neuron (``post_delay`` ``[I]``)."""
    if post_delay is None:
        delay = np.zeros(connected.shape[1], np.int64) if pre_delay is None else pre_delay
        reaches = connected.any(axis=0)[None] & (last_pre >= 0)
        return np.where(reaches, last_pre + 1 + delay[None], -1).max(axis=1, initial=-1)
    latest = []
    for part in np.array_split(last_pre, max(1, len(last_pre) // 16)):  # [b, I, J] stays small
        newest = np.where(connected[None], part[:, None, :], -1).max(axis=2, initial=-1)
        latest.append(np.where(newest >= 0, newest + 1 + post_delay[None], -1).max(axis=1, initial=-1))
    return np.concatenate(latest)


def _last_spike(spikes: np.ndarray, until: int) -> np.ndarray:
    """``[B, N]`` column of each neuron's last spike at or before ``until`` (-1: none)."""
    window = spikes[:, :, :until + 1]
    fired = window.any(axis=2)
    last = window.shape[2] - 1 - np.argmax(window[:, :, ::-1], axis=2)
    return np.where(fired, last, -1)


def _last_nonzero(values: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``[B]`` last column in ``[start, stop)`` with a non-zero value (-1: none)."""
    window = values[:, :, start:max(start, stop)].any(axis=1)
    if not window.shape[1]:
        return np.full(len(values), -1)
    return np.where(window.any(axis=1), start + window.shape[1] - 1 - np.argmax(window[:, ::-1], axis=1), -1)


def leaks(spec: NetworkSpec, spikes: np.ndarray, period: int, margin: int = 0,
          voltage: bool = False, host_reset: bool = False) -> np.ndarray:
    """``[B]``: by how many steps sample ``k`` reaches into sample ``k + 1``;
    ``<= 0``: it does not. With LIFReset, layer ``l`` resets at column
    ``period + l`` of sample ``k``; with ``host_reset`` every layer at column
    ``period``; either up to ``margin`` steps earlier (``r = period + l -
    margin``, or ``period - margin``) if the input arrives late. Sample ``k``
    reaches into ``k + 1`` if

    - a spike of it (emitted before its layer's reset) reaches layer ``l`` at
      or after ``r`` (late by the arrival ``- r + 1``),
    - with LIFReset only: layer ``l`` itself spikes in ``[period, period +
      l)``: before the reset, so these show up in sample ``k + 1``'s first
      columns (late by the spike column ``- period + 1``), and, with
      ``voltage``, the output layer's ``v`` is not 0 somewhere in ``[period,
      period + L)`` (what sample ``k + 1``'s voltage shows there).

    ``spikes``: ``[B, C, T]`` 0/1."""
    layers = len(spec.layers)
    padded = fit_columns(spikes, period + layers)  # the last reset is at column period + layers
    run = simulate(spec, padded, record_layers=True, record_voltage=voltage and not host_reset)
    worst = np.full(spikes.shape[0], np.iinfo(np.int64).min, np.int64)
    for l, layer in enumerate(spec.layers, start=1):  # noqa: E741 -- the layer index of the docs
        reset = period - margin if host_reset else period + l - margin
        pre = padded if l == 1 else run.layers[l - 2]
        # the previous layer's old spikes: before its own reset (the input: before the next sample)
        until = reset - 1 if host_reset else period - 1 if l == 1 else reset - 2
        ff_delay = None if layer.delay is None else np.asarray(layer.delay, np.int64)
        arrival = _latest_arrival(_last_spike(pre, until), np.asarray(layer.weight) != 0, post_delay=ff_delay)
        if layer.weight_rec is not None:
            rec_delay = None if layer.delay_rec is None else np.asarray(layer.delay_rec, np.int64)
            rec = _latest_arrival(_last_spike(run.layers[l - 1], reset - 1), np.asarray(layer.weight_rec) != 0,
                                  pre_delay=rec_delay)
            arrival = np.maximum(arrival, rec)
        if layer.delay_channels is not None:  # each delay channel: its banded synapses, its one delay
            n = layer.num_neurons
            last = _last_spike(run.layers[l - 1], reset - 1)
            for matrix, delay in zip(layer.delay_channels.matrices(n), layer.delay_channels.delays):
                rec = _latest_arrival(last, matrix != 0, pre_delay=np.full(n, int(delay), np.int64))
                arrival = np.maximum(arrival, rec)
        worst = np.maximum(worst, arrival - reset + 1)
        if not host_reset:
            shown = _last_nonzero(run.layers[l - 1], period, period + l)
            worst = np.maximum(worst, np.where(shown >= 0, shown - period + 1, worst))
    if voltage and not host_reset:
        shown = _last_nonzero(run.voltage, period, period + layers)
        worst = np.maximum(worst, np.where(shown >= 0, shown - period + 1, worst))
    return worst


def plan(spec: NetworkSpec, spikes: np.ndarray, tail: int = 0, period: int | None = None,
         margin: int = LATENCY_ALLOWANCE, voltage: bool = False, reset: str = "auto",
         max_interval: int = MAX_RESET_INTERVAL) -> Plan:
    """The schedule for ``spikes`` ``[B, C, T]``: ``period`` if given, else
    :func:`shortest_period` doubled until no sample leaks at ``margin`` (at
    most :data:`MAX_DOUBLINGS` times; if all leak, the one with the fewest
    leaking samples). ``reset`` (:data:`RESETS`): ``"lifreset"`` with
    intervals up to ``max_interval`` only, ``"host"``, or ``"auto"``:
    LIFReset up to ``max_interval``, the host beyond. ``voltage``: the output
    voltage is read too (see :func:`leaks`)."""
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    steps = np.asarray(spikes).shape[-1]
    if period is not None:
        candidates = [period]
    else:
        first = shortest_period(spec, steps, tail)
        candidates = [first << k for k in range(MAX_DOUBLINGS + 1)]
        if reset == "lifreset":
            candidates = [c for c in candidates if c <= max_interval] or candidates[:1]
    tried = []
    for candidate in candidates:
        host = reset == "host" or (reset == "auto" and candidate > max_interval)
        if reset == "lifreset" and candidate > max_interval:
            raise ScheduleError(f"a LIFReset interval of {candidate} steps exceeds the largest one allowed "
                                f"({max_interval}; public Loihi 2 runs use at most 256): use --reset host, or "
                                f"--max-reset-interval {candidate} once loihi2-selftest has shown it works")
        schedule = Schedule(steps, candidate, host)  # LIFReset: a power of 2; at least the input
        if steps + tail + margin > candidate:
            raise ScheduleError(f"a period of {candidate} steps cannot hold {steps} input steps, a tail of "
                                f"{tail} and {margin} steps of adapter latency; use {2 * candidate}")
        late = leaks(spec, spikes, candidate, margin, voltage, host)
        tried.append((int((late[:-1] > 0).sum()), candidate, schedule, late))
        if not tried[-1][0]:
            break
    _, _, best, late = min(tried, key=lambda t: t[:2])  # self-sustained activity: the fewest leaks, shortest
    return Plan(best, tail, margin, voltage, late > 0, np.maximum(late, 0))
