"""A deterministic spike encoder beside the cochlea: send-on-delta (level
crossing) on the log energies of a mel filterbank.

1. **Filterbank**: 25-ms Hann frames centred every millisecond (frame ``i`` at
   ``i`` ms; zeros beyond the signal), 512-point power spectra, ``bands``
   triangular filters spaced equally on the mel scale from 50 Hz to
   ``max_frequency``.
2. **Levels**: each band's energy in dB below the loudest band and frame of the
   signal, floored at ``-range_db`` (anything quieter is silence to the
   encoder), counted in steps of ``step_db`` above that floor:
   ``y [bands, frames]`` in ``[0, range_db / step_db]``. The signal's level does
   not matter, only its spectrum's shape and course.
3. **Level crossing** with one step of hysteresis: each band holds a level ``r``
   (0, the floor, before the first frame). When ``y`` reaches ``r + 1`` the
   band sends an *up* event and ``r`` rises by one, when ``y`` falls to
   ``r - 1`` a *down* event and ``r`` falls by one, as often as levels are
   passed from one frame to the next; wobbles of less than a step send
   nothing. An event's time is where the straight line between the two frames
   passes the level (events of the first frame: time 0).
4. **Channels**: the ``K = floor(range_db / step_db)`` steps between the
   levels are split into ``levels`` parts from the floor up; the crossing of
   the step between levels ``k - 1`` and ``k`` (up to ``k`` or down to
   ``k - 1``) goes to part ``(k - 1) * levels // K``. ``levels`` 1 is plain
   send-on-delta, two channels (up, down) per band. Unit
   ``(direction * levels + part) * bands + band`` (direction 0 up, 1 down):
   neighbouring units are neighbouring bands of one direction and part, so
   pooling ``pool`` units (``pool`` dividing ``bands``) merges bands.

Everything is a function of the samples alone: no random draws.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np

from lava_convdelay.data.audio import SAMPLE_RATE

WINDOW = 0.025  # seconds per frame
HOP = 0.001  # seconds between frame centres
FFT = 512  # points of each frame's spectrum (31.25-Hz bins at 16 kHz)
MIN_FREQUENCY = 50.0  # Hz, the lowest filter's lower edge
LOG_ZERO = -300.0  # dB of a band without energy (below any signal's floor)
FRAMES_PER_BLOCK = 2048  # frames transformed at once (bounds the memory of long recordings)


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=16)
def mel_weights(bands: int, max_frequency: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """``[bands, FFT // 2 + 1]`` triangular filters: band ``b`` rises from edge ``b`` to
    peak at edge ``b + 1`` and falls to edge ``b + 2``, the ``bands + 2`` edges equally
    spaced in mel from :data:`MIN_FREQUENCY` to ``max_frequency`` Hz. A band may
    hold no FFT bin at all (too narrow): see :func:`empty_bands`."""
    hz = np.arange(FFT // 2 + 1) * rate / FFT
    edges = mel_to_hz(np.linspace(hz_to_mel(MIN_FREQUENCY), hz_to_mel(max_frequency), bands + 2))
    lower, peak, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    weights = np.maximum(0.0, np.minimum((hz - lower) / (peak - lower), (upper - hz) / (upper - peak)))
    weights.setflags(write=False)  # shared by the cache
    return weights


def empty_bands(bands: int, max_frequency: float) -> int:
    """How many of the ``bands`` filters hold no FFT bin (too many bands for the span)."""
    return int((mel_weights(bands, float(max_frequency)).sum(1) == 0).sum())


@dataclass(frozen=True)
class MelDelta:
    """The encoder; ``__call__`` gives SHD-style events of 16-kHz samples.
    Settings are checked by :class:`lava_convdelay.data.audio_encoding.AudioEncoding`;
    the defaults are the choice measured in BENCHMARKS.md ("A deterministic encoder")."""

    bands: int = 64
    levels: int = 1  # parts of the range, each with its own up and down channels per band
    step_db: float = 4.0
    range_db: float = 30.0
    max_frequency: float = SAMPLE_RATE / 2

    @property
    def steps(self) -> int:
        """``K``: the level steps between the floor and the loudest frame."""
        return int(np.floor(self.range_db / self.step_db + 1e-9))

    @property
    def channels(self) -> int:
        """Event channels: up and down for each part of the range and band."""
        return 2 * self.levels * self.bands

    def log_energy(self, samples: np.ndarray) -> np.ndarray:
        """``[bands, frames]`` band energies in dB of the 16-kHz ``samples``, one frame per
        :data:`HOP` (``ceil(len / 16)`` frames, the first centred on sample 0)."""
        x = np.asarray(samples, dtype=np.float64)
        width, hop = int(round(WINDOW * SAMPLE_RATE)), int(round(HOP * SAMPLE_RATE))
        frames = -(-x.size // hop)
        padded = np.pad(x, (width // 2, width))
        window = np.hanning(width + 2)[1:-1]  # no zero end points: every sample of the frame counts
        weights = mel_weights(self.bands, float(self.max_frequency))
        energy = np.empty((self.bands, frames))
        for first in range(0, frames, FRAMES_PER_BLOCK):
            count = min(FRAMES_PER_BLOCK, frames - first)
            view = np.lib.stride_tricks.sliding_window_view(padded[first * hop:], width)[::hop][:count]
            power = np.abs(np.fft.rfft(view * window, FFT)) ** 2
            energy[:, first:first + count] = weights @ power.T
        return 10.0 * np.log10(energy + 10 ** (LOG_ZERO / 10))

    def levels_of(self, samples: np.ndarray) -> np.ndarray:
        """``y [bands, frames]``: the energies in steps above the floor (step 2 of the module)."""
        db = self.log_energy(samples)
        if db.max() <= LOG_ZERO:  # no energy in any band: all at the floor (not all at the peak)
            return np.zeros_like(db)
        return np.clip(db - db.max() + self.range_db, 0.0, None) / self.step_db

    def events(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Level crossings of ``y [bands, frames]`` (steps 3 and 4): ``(times in seconds,
        units)``, sorted by time (ties in the order of band, then crossing)."""
        y = np.ascontiguousarray(y, dtype=np.float64)
        empty = np.zeros(0, np.int64)
        count = _crossings(y, False, empty, empty, empty, empty, np.zeros(0))
        band, step, up, frame = (np.zeros(count, np.int64) for _ in range(4))
        fraction = np.zeros(count)
        _crossings(y, True, band, step, up, frame, fraction)
        times = np.maximum(0.0, (frame - 1 + fraction) * HOP)
        part = step * self.levels // max(self.steps, 1)
        units = ((1 - up) * self.levels + part) * self.bands + band
        order = np.argsort(times, kind="stable")
        return times[order], units[order]

    def __call__(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Events ``(times in seconds, units)`` of 16-kHz ``samples``."""
        return self.events(self.levels_of(samples))


@numba.njit(cache=True)
def _crossings(y, fill, band, step, up, frame, fraction):
    """Count (``fill`` False) or write the level crossings of ``y``: per event its band,
    the step crossed (``k - 1`` between levels ``k - 1`` and ``k``), up (1) or down (0),
    the frame reached and where between the previous frame and it the level lies (0-1]."""
    count = 0
    for b in range(y.shape[0]):
        level = 0
        previous = 0.0  # the floor before the first frame
        for i in range(y.shape[1]):
            value = y[b, i]
            while value >= level + 1:
                level += 1
                if fill:
                    band[count], step[count], up[count], frame[count] = b, level - 1, 1, i
                    fraction[count] = (level - previous) / (value - previous)
                count += 1
            while value <= level - 1:
                level -= 1
                if fill:
                    band[count], step[count], up[count], frame[count] = b, level, 0, i
                    fraction[count] = (previous - level) / (previous - value)
                count += 1
            previous = value
    return count
