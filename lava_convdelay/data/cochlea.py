"""Audio -> spikes with the cochlea chain that produced SHD, vectorized.

The same model equations as the ``lauscher`` package (Cramer et al. 2020):
RMS normalisation (0.3) -> Hanning window -> hydrodynamic basilar membrane
(Sieroka et al. 2006, 700 channels) -> Meddis inner hair cell (1986, 1988) ->
bushy cells (40 converging fibres with 1 ms dead time into a LIF).

What is different is only how it is computed:

- the basilar membrane's transfer function depends on the signal length and
  rate only, so it is computed for all channels at once and cached; an
  utterance then costs one FFT, one product and one inverse FFT;
- the per-sample recursions (hair cell, fibres, LIF) are compiled with numba;
- the bushy cell's 40 fibres are exchangeable, so instead of drawing every
  fibre at every sample it tracks how many fibres of a channel are in each
  phase of their dead time and draws the number of new fibre spikes from a
  binomial (the same distribution); the fibres' synaptic currents add
  linearly, so one summed current per channel replaces 40.

It is much faster than ``lauscher`` (BENCHMARKS.md, "Cochlea cost", and
docs/data.md give the measurements).
"""
from __future__ import annotations

import cmath
from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
from scipy import special

RMS_LEVEL = 0.3


def normalise_and_window(samples: np.ndarray, level: float | None = RMS_LEVEL,
                         ramp: int | None = None) -> np.ndarray:
    """RMS normalisation to ``level`` (0.3; ``None``: the samples keep their level),
    then Hanning ramps of ``ramp`` samples at both ends (``None``: over each half,
    lauscher's default)."""
    x = np.asarray(samples, dtype=np.float64)
    rms = np.sqrt(np.mean(x**2))
    if not np.isfinite(rms) or rms == 0:
        raise ValueError("the audio is silent (RMS 0) or not finite")
    x = x * (level / rms) if level is not None else x.copy()
    half = x.size // 2 if ramp is None else min(ramp, x.size // 2)
    ramp = np.hanning(half * 2)[:half]
    x[:half] = ramp * x[:half]
    x[-half:] = ramp[::-1] * x[-half:] if half else x[-half:]
    return x


@dataclass(frozen=True)
class BasilarMembrane:
    """Hydrodynamic shallow-water basilar membrane (Sieroka, Dosch, Rupp 2006)."""

    channels: int = 700
    place_min: float = 0.0  # the first channel's place; channels span [place_min, c]
    a: float = 3500
    alpha: float = 3.0
    rho: float = 1.0
    c: float = 3.5
    c0: float = 10e8
    de: float = 0.15
    h: float = 0.1
    m: float = 0.05

    @property
    def r(self) -> float:
        return self.de * np.sqrt(self.c0 * self.m)

    def _z(self, w):
        f = w / (2.0 * np.pi)
        arg = 4.0 * np.pi * f / self.alpha * np.sqrt(2.0 / (self.h * self.c0))
        return np.sqrt(2.0 * self.c0 / self.h) * (1j * special.j0(arg) + special.y0(arg)) \
            / (special.j1(arg) - 1j * special.y1(arg))

    def place_of(self, frequency: float) -> float:
        """The place whose stiffness and mass resonate at ``frequency`` Hz,
        ``sqrt(c0 exp(-alpha x) / m) = 2 pi f`` (the measured peak of a channel's
        transfer function lies about 11 % below it)."""
        return 2.0 / self.alpha * float(np.log(np.sqrt(self.c0 / self.m) / (2 * np.pi * frequency)))

    def transfer(self, num_samples: int, sample_rate: int) -> np.ndarray:
        """``[channels, num_samples // 2 + 1]`` complex transfer function (cached)."""
        return _transfer(self, num_samples, sample_rate)

    def __call__(self, samples: np.ndarray, sample_rate: int,
                 fft_length: int | None = None) -> tuple[np.ndarray, int]:
        """Membrane velocity ``[channels, n // 2 + 1]`` at ``sample_rate // 2``.

        ``fft_length=None`` transforms the ``n`` samples as they are (lauscher's
        computation). A longer ``fft_length`` transforms them followed by zeros up to
        that length and keeps the first ``n // 2 + 1`` outputs: exactly what the
        unpadded computation gives for the zero-padded signal, cut to the signal's
        span, so signals of many lengths share the transfer function of one length.
        """
        n = samples.size
        length = n if fft_length is None else int(fft_length)
        if length < n:
            raise ValueError(f"fft_length {length} is shorter than the signal ({n} samples)")
        spectrum = np.fft.fft(samples, length)[: length // 2 + 1]
        velocity = np.fft.ifft(self.transfer(length, sample_rate) * spectrum[None], axis=1)[:, : n // 2 + 1]
        return np.real(velocity), sample_rate // 2


def padded_length(num_samples: int, sample_rate: int) -> int:
    """The FFT length :class:`Cochlea` evaluates a signal of ``num_samples`` at: the
    smallest ``b * 2**k`` or ``1.5 * b * 2**k`` (``b``: an eighth of a second) that
    holds it. At most 1.5 times the signal (an eighth of a second for shorter ones),
    and few distinct lengths: one transfer function serves every signal between two
    steps, and whole seconds (the embedded data's 1 s) are their own length."""
    low = max(1, sample_rate // 8)
    while True:
        for length in (low, low * 3 // 2):
            if length >= num_samples:
                return length
        low *= 2


@lru_cache(maxsize=8)  # the grid steps of 0.125-1.5 s: ~0.5 GB at 700 channels
def _transfer(bm: BasilarMembrane, num_samples: int, sample_rate: int) -> np.ndarray:
    """``2 w / xi(w, c) * P(w, c) * Z(w) / P(w, 0)`` with ``P = sqrt(G / g) H0(G)``."""
    w = 2 * np.pi * np.linspace(1, sample_rate // 2, num_samples // 2 + 1)
    places = np.linspace(bm.place_min, bm.c, bm.channels)
    constants = (bm.a, bm.alpha, bm.m, bm.r, bm.c0, bm.h, bm.rho)
    big_g, root, xi = _membrane(w, places, *constants)
    big_g0, root0, _ = _membrane(w, np.zeros(1), *constants)
    with np.errstate(all="ignore"):
        return 2.0 * w / xi * (root * special.hankel1(0, big_g)) \
            * (bm._z(w) / (root0[0] * special.hankel1(0, big_g0[0])))


@numba.njit(cache=True)
def _membrane(w, places, a, alpha, m, r, c0, h, rho):
    """Sieroka et al.'s terms per place ``c`` and angular frequency ``w``, fused in
    one pass (numpy's temporaries over channels x frequencies cost more than the
    arithmetic): ``xi``, the argument ``G`` of the Hankel function and ``sqrt(G / g)``,
    ``g = w sqrt(rho / (h xi))``; each ``[places, frequencies]``. SciPy's Hankel
    function (not available to numba) is applied outside."""
    big_g = np.empty((places.size, w.size), np.complex128)
    root = np.empty_like(big_g)
    xi = np.empty_like(big_g)
    for j in range(w.size):
        wj = w[j]
        sq = np.sqrt(a + m * wj**2)
        # the log's numerator and the terms of G at the base (c = 0) depend on w only
        top = (-alpha * cmath.sqrt(-a + c0 - wj * (m * wj + 1j * r))
               + 1j * alpha * (2.0 * a + wj * (2.0 * m * wj + 1j * r)) / (2.0 * sq))
        g_base = wj * cmath.sqrt(rho / (h * (c0 - a - m * wj**2 - 1j * wj * r)))
        scale = 1.0 / (alpha * np.sqrt(h * 2.0 * (m * wj**2 + a)))
        for i in range(places.size):
            half = np.exp(-alpha * places[i] / 2.0)
            x = c0 * np.exp(-alpha * places[i]) - a - m * wj**2 - 1j * wj * r * half
            bottom = 0.5 * alpha / half * (-2.0 * cmath.sqrt(x)
                                           + 1j * (2.0 * a + wj * (2.0 * m * wj + 1j * half * r)) / sq)
            g = 2.0 * g_base / alpha - scale * (2.0 * 1j * np.sqrt(2.0) * wj * cmath.log(top / bottom))
            xi[i, j] = x
            big_g[i, j] = g
            root[i, j] = cmath.sqrt(g / (wj * cmath.sqrt(rho / (h * x))))
    return big_g, root, xi


@dataclass(frozen=True)
class HairCell:
    """Meddis (1986, 1988) transmitter-pool inner hair cell, all channels at once."""

    y: float = 5.05
    g: float = 2000.0
    l: float = 2500.0  # noqa: E741  (the model's name)
    r: float = 6580.0
    x: float = 66.3
    a: float = 5.0
    b: float = 300.0
    h: float = 50000.0
    m: float = 1.0

    def __call__(self, bm: np.ndarray, fs: float) -> np.ndarray:
        """Membrane velocity ``[channels, T]`` -> firing probability ``[channels, T]``."""
        fs = float(fs)
        kt0 = self.g * self.a / (self.a + self.b)
        c0 = self.m * self.y * kt0 / (self.l * kt0 + self.y * (self.l + self.r))
        params = np.array([self.y * self.m / fs, self.x / fs, self.y / fs, self.r / fs, self.g / fs,
                           self.h / fs, (self.l + self.r) / fs, self.a, self.b, self.m,
                           c0, c0 * (self.l + self.r) / kt0, c0 * self.r / self.x])
        return _meddis(np.ascontiguousarray(bm, dtype=np.float64), params)


@numba.njit(cache=True)
def _meddis(bm, params):
    ymdt, xdt, ydt, rdt, gdt, hdt, lrdt, a, b, m, c_init, q_init, w_init = params
    out = np.empty_like(bm)
    for i in range(bm.shape[0]):
        c, q, w = c_init, q_init, w_init
        for j in range(bm.shape[1]):
            drive = bm[i, j] + a
            kt = gdt * drive / (drive + b) if drive > 0 else 0.0
            replenish = ymdt - ydt * q if q < m else 0.0
            eject = kt * q
            reuptake_loss = lrdt * c
            reuptake = rdt * c
            reprocess = xdt * w
            q = max(q + replenish - eject + reprocess, 0.0)
            c = max(c + eject - reuptake_loss, 0.0)
            w = max(w + reuptake - reprocess, 0.0)
            out[i, j] = c * hdt
    return out


@dataclass(frozen=True)
class BushyCell:
    """Bushy cells: ``n_convergence`` dead-time fibres drive one LIF per channel."""

    n_convergence: int = 40
    tau_mem: float = 1e-3
    tau_syn: float = 5e-4
    tau_refrac: float = 1e-3
    weight: float = 13e3

    def __call__(self, probability: np.ndarray, fs: float, seed: int) -> np.ndarray:
        """Firing probability ``[channels, T]`` -> 0/1 bushy-cell spikes ``[channels, T]``.

        ``seed`` fixes the fibres' random draws (numba's own generator).
        """
        fs = float(fs)
        dt = 1.0 / fs
        return _bushy(np.ascontiguousarray(probability, dtype=np.float64), self.n_convergence,
                      int(np.ceil(self.tau_refrac * fs)), self.tau_refrac * fs,
                      np.exp(-dt / self.tau_mem), np.exp(-dt / self.tau_syn),
                      self.weight / self.n_convergence * dt, seed)


@numba.njit(cache=True)
def _bushy(probability, n_fibres, dead, n_refrac, mem_decay, syn_decay, gain, seed):
    np.random.seed(seed)
    channels, steps = probability.shape
    spikes = np.zeros((channels, steps), dtype=np.uint8)
    ring = np.zeros(max(dead, 1), dtype=np.int64)
    for i in range(channels):
        ring[:] = 0
        dead_now = 0  # fibres inside their dead time
        vm, isyn, refrac = 0.0, 0.0, 0.0
        for t in range(steps):
            # fibres: those that fired `dead` samples ago are available again
            slot = t % ring.size
            dead_now -= ring[slot]
            p = min(max(probability[i, t], 0.0), 1.0)
            fired = np.random.binomial(n_fibres - dead_now, p)
            if dead > 0:
                ring[slot] = fired
                dead_now += fired
            # LIF driven by the summed synaptic current of the fibres
            if t > 0:
                if refrac <= 0:
                    if vm < 1.0:
                        vm = vm * mem_decay
                    else:
                        refrac = n_refrac
                        vm = 0.0
                        spikes[i, t - 1] = 1
                else:
                    vm = 0.0
                isyn = isyn * syn_decay
            isyn += fired
            if refrac <= 0:
                vm += isyn * gain
            if vm > 1.0:
                vm = 1.0
            refrac -= 1
    return spikes


@dataclass(frozen=True)
class Cochlea:
    """The whole chain; ``__call__`` gives spikes ``[channels, T']`` at ``fs // 2``.

    The basilar membrane is evaluated at :func:`padded_length` (the signal's own
    length where that is on the grid, e.g. whole seconds), so signals of new
    lengths reuse a cached transfer function instead of computing one each.
    """

    channels: int = 700
    place_min: float = 0.0  # see BasilarMembrane; 0 is SHD's map
    level: float | None = RMS_LEVEL  # see normalise_and_window
    ramp: float | None = None  # seconds of Hanning ramp at each end (None: over each half, lauscher's)

    def __post_init__(self):
        if self.ramp is not None and not self.ramp >= 0:
            raise ValueError(f"ramp must be >= 0 seconds or None, got {self.ramp!r}")

    def firing_probability(self, samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        """The chain up to the inner hair cells: ``([channels, T'] probability, fs // 2)``."""
        ramp = None if self.ramp is None else int(round(self.ramp * sample_rate))
        x = normalise_and_window(samples, self.level, ramp)
        velocity, fs = BasilarMembrane(self.channels, self.place_min)(x, sample_rate,
                                                                     padded_length(x.size, sample_rate))
        return HairCell()(velocity, fs), fs

    def __call__(self, samples: np.ndarray, sample_rate: int, seed: int):
        probability, fs = self.firing_probability(samples, sample_rate)
        return BushyCell()(probability, fs, seed), fs


def spikes_to_events(spikes: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``[channels, T]`` spikes -> (times in seconds, channel units), time-sorted."""
    units, steps = np.nonzero(spikes)
    order = np.argsort(steps, kind="stable")
    return (steps[order] / fs).astype(np.float64), units[order].astype(np.int64)
