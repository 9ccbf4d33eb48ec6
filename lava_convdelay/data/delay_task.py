"""A delay-sensitive synthetic control task: the class of a sample is the interval
between two input pulses (issue 29: does the delay gradient learn at all?).

Each sample has ``channels`` input channels and ``steps`` time steps. Two pulses,
alike in law, start ``interval`` steps apart at a random onset; each lasts
``pulse_steps`` steps, in which every channel spikes with probability
``pulse_rate`` per step; distractor spikes fall on every channel and step with
probability ``noise_rate``. Class ``k`` is ``intervals[k]``.

Both pulses are drawn alike and the onset is random, so the spike count of every
channel, and of any memoryless function of the present input, has the same law in
every class: a network must compare the present with what it received
``interval`` steps before. Neurons whose state forgets within a few steps can do
that only through recurrent delays near ``interval - 1`` (a spike at step ``t``
arrives at ``t + 1 + d``, :mod:`lava_convdelay.nn.delays`).

Samples are SHD-format events (times in seconds, at the middle of their step of
``dt`` seconds, so that binning with ``dt`` gives back the steps), held in memory
in the form of :func:`lava_convdelay.data.shd.read_shd`; the set depends on
:class:`DelayTask` alone and is the same for the same settings.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lava_convdelay.bounds import SEED_BOUNDS, Bounds, check_value
from lava_convdelay.errors import UserError

#: steps after the second pulse's end before the sample ends: the readout's voltage,
#: summed over the sample, then holds the whole response to both pulses in every class
TAIL_STEPS = 8
#: the most samples per class and split (every sample is drawn in memory)
MAX_PER_CLASS = 100_000
#: the most input channels (SHD-format files store channels as uint16)
MAX_CHANNELS = 2**16
#: the most classes (intervals)
MAX_INTERVALS = 256
SPLITS = ("train", "test")


class DelayTaskError(UserError, ValueError):
    """Delay-task settings that cannot make a sample."""


@dataclass(frozen=True)
class DelayTask:
    """The task's settings (the config's ``data`` section, source ``"delay-task"``).

    ``intervals``: steps between the pulses' onsets, one class each, in label
    order; ``steps``: time steps per sample (``data.duration / data.dt``);
    ``per_class`` / ``test_per_class``: samples per class in the training / test
    split; ``seed``: the samples' seed (the splits draw from separate streams).
    """

    intervals: tuple[int, ...] = (6, 12, 18, 24)
    steps: int = 60
    channels: int = 16
    pulse_steps: int = 2
    pulse_rate: float = 0.8
    noise_rate: float = 0.02
    per_class: int = 100
    test_per_class: int = 50
    seed: int = 0

    def __post_init__(self):
        intervals = self.intervals
        if isinstance(intervals, (str, bytes)) or not isinstance(intervals, (list, tuple)) or \
                not 1 <= len(intervals) <= MAX_INTERVALS:
            raise DelayTaskError(f"intervals must be a list of 1 to {MAX_INTERVALS} step counts, got {intervals!r}")
        for value in intervals:
            check_value(value, "intervals", Bounds(True, 1, 10**6), DelayTaskError)
        if len(set(intervals)) != len(intervals):
            raise DelayTaskError(f"intervals must be distinct (one class each), got {list(intervals)}")
        object.__setattr__(self, "intervals", tuple(int(v) for v in intervals))
        check_value(self.channels, "channels", Bounds(True, 1, MAX_CHANNELS), DelayTaskError)
        check_value(self.pulse_steps, "pulse_steps", Bounds(True, 1, 10**6), DelayTaskError)
        for name in ("pulse_rate", "noise_rate"):
            check_value(getattr(self, name), name, Bounds(False, 0, 1), DelayTaskError)
        for name in ("per_class", "test_per_class"):
            check_value(getattr(self, name), name, Bounds(True, 1, MAX_PER_CLASS), DelayTaskError)
        check_value(self.seed, "seed", SEED_BOUNDS, DelayTaskError)
        check_value(self.steps, "steps", Bounds(True, 1, 10**6), DelayTaskError)
        if self.steps < self.min_steps:
            raise DelayTaskError(f"intervals up to {max(self.intervals)} steps need samples of {self.min_steps} "
                                 f"steps or more (both pulses of {self.pulse_steps} steps and {TAIL_STEPS} after "
                                 f"them), got {self.steps}; lengthen data.duration")

    @property
    def min_steps(self) -> int:
        """The shortest sample that holds every class's pulses and the tail."""
        return max(self.intervals) + self.pulse_steps + TAIL_STEPS

    @property
    def keys(self) -> list[str]:
        """The class names, in label order: ``"6 steps"``."""
        return [f"{interval} steps" for interval in self.intervals]

    def sample(self, rng: np.random.Generator, label: int) -> np.ndarray:
        """One sample of class ``label``: ``[channels, steps]`` bool spikes."""
        interval = self.intervals[label]
        spikes = rng.random((self.channels, self.steps)) < self.noise_rate
        onset = int(rng.integers(0, self.steps - interval - self.pulse_steps - TAIL_STEPS + 1))
        for start in (onset, onset + interval):
            pulse = rng.random((self.channels, self.pulse_steps)) < self.pulse_rate
            spikes[:, start:start + self.pulse_steps] |= pulse
        return spikes

    def split(self, split: str, dt: float) -> dict:
        """The samples of ``split`` (``"train"`` or ``"test"``) as events, classes in
        turn (0, 1, ..., 0, 1, ...), in the form :func:`lava_convdelay.data.shd.read_shd`
        returns: ``times`` seconds ((step + 0.5) x ``dt``), ``units``, ``labels``, ``keys``."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        count = self.per_class if split == "train" else self.test_per_class
        rng = np.random.default_rng([self.seed, SPLITS.index(split)])
        labels = np.tile(np.arange(len(self.intervals), dtype=np.int64), count)
        times, units = [], []
        for label in labels:
            unit, step = np.nonzero(self.sample(rng, int(label)))
            order = np.argsort(step, kind="stable")  # SHD files list events in time order
            times.append(((step[order] + 0.5) * dt).astype(np.float32))
            units.append(unit[order].astype(np.uint16))
        return {"times": times, "units": units, "labels": labels, "keys": self.keys, "speaker": None,
                "audio_encoding": None, "channels": self.channels}
