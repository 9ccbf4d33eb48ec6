"""How a recording becomes spikes: the settings of ``data import``, recorded in
its files (and, through training and export, in the network file), so that
``classify`` encodes a new recording exactly as the training data was.

Steps, each a setting of :class:`AudioEncoding`:

1. resample to 16 kHz (the cochlea's rate, SHD's);
2. ``trim_db``: cut the leading and trailing parts whose 10-ms frames stay more
   than ``trim_db`` dB below the loudest frame (silence, breath, hum);
3. ``normalise="clip"``: scale the (trimmed) recording to RMS ``level``; the
   speech then has the same level however long the clip or the padding;
4. ``duration``: place the recording in a buffer of this many seconds,
   ``placement="centre"`` (zeros on both sides; a longer one is cut equally at
   both ends) or ``"start"`` (zeros after it; a longer one loses its end);
   ``None`` keeps each recording's own length;
5. ``normalise="buffer"`` scales the whole buffer to RMS ``level`` (SHD's
   order), then Hanning ramps of ``ramp`` seconds at both ends (``None``: over
   each half of the buffer, lauscher's default);
6. the ``encoder``, which yields ``channels`` event channels:

   - ``"cochlea"`` (:class:`lava_convdelay.data.cochlea.Cochlea`): the basilar
     membrane with ``channels`` places from the one resonating at
     ``max_frequency`` (``None``: SHD's map, whose first ~120 of 700 channels
     lie above 8 kHz, 16-kHz audio's Nyquist) to the apex, hair cells, bushy
     cells (random draws: a seed per recording);
   - ``"delta"`` (:class:`lava_convdelay.data.mel_delta.MelDelta`): a mel
     filterbank up to ``max_frequency`` (``None``: 8 kHz) whose log energies
     send an up or down event per ``step_db`` they rise or fall, within
     ``range_db`` below the recording's loudest band; ``channels`` =
     2 (up, down) x ``levels`` (parts of the range) x mel bands. Deterministic,
     and independent of ``level``.

:meth:`AudioEncoding.shd` is the chain that made SHD and the embedded data
(``encode``'s default). Defaults are the choice measured in BENCHMARKS.md.
Records written before the encoder was a setting read as the cochlea chain.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import numpy as np

from lava_convdelay.bounds import Bounds, check_value
from lava_convdelay.data.audio import MAX_SECONDS, SAMPLE_RATE, resample
from lava_convdelay.data.cochlea import BasilarMembrane, Cochlea, normalise_and_window, spikes_to_events
from lava_convdelay.data.mel_delta import FFT, MIN_FREQUENCY, MelDelta, empty_bands
from lava_convdelay.errors import UserError

FRAME = 0.01  # seconds per frame of the silence trimmer
#: above this RMS level the bushy cells are saturated (on white noise, 3000 gives
#: within 12 % of the spike count at 10^6; SHD's level is 0.3), and larger levels
#: only bring the chain's arithmetic closer to float64's limits
MAX_LEVEL = 1000.0
ENCODERS = ("cochlea", "delta")
#: SHD's 700 places, the cochlea's default and most; its memory (~0.5 GB per second
#: of audio) and MAX_SECONDS assume at most these
COCHLEA_CHANNELS = 700
#: the delta encoder's settings where not given (``channels``: 2 x levels x mel bands)
DELTA_DEFAULTS = {"channels": MelDelta().channels, "levels": MelDelta.levels, "step_db": MelDelta.step_db,
                  "range_db": MelDelta.range_db}
#: settings of the delta encoder alone (``None`` for the cochlea)
DELTA_SETTINGS = ("levels", "step_db", "range_db")
#: the delta encoder's limits: finer steps or a wider range than a spectrum's level
#: carries only multiply events; more bands than the spectrum has bins leave some empty
MIN_STEP_DB, MAX_RANGE_DB, MAX_BANDS = 0.1, 150.0, FFT // 2 + 1


class AudioEncodingError(UserError, ValueError):
    """Settings of the audio chain that cannot be used."""


class SilentAudioError(AudioEncodingError):
    """Audio without sound (its RMS is 0): nothing to encode."""


@dataclass(frozen=True)
class AudioEncoding:
    duration: float | None = 1.0
    placement: str = "centre"
    trim_db: float | None = 20.0
    normalise: str = "clip"
    level: float = 0.3
    max_frequency: float | None = None
    channels: int | None = None  # event channels the encoder yields (None: the encoder's default)
    ramp: float | None = 0.03  # seconds of Hanning ramp at each end of the buffer (None: each half)
    encoder: str = "cochlea"
    levels: int | None = None  # delta: parts of the level range, each with its own channels
    step_db: float | None = None  # delta: dB per level step
    range_db: float | None = None  # delta: dB below the loudest band and frame that are encoded

    def __post_init__(self):
        where = "audio encoding"
        if self.encoder not in ENCODERS:
            raise AudioEncodingError(f"{where}: encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.duration is not None:
            # the cochlea transforms the whole buffer at once
            check_value(self.duration, f"{where}: duration", Bounds(False, FRAME, MAX_SECONDS), AudioEncodingError)
        if self.trim_db is not None:
            check_value(self.trim_db, f"{where}: trim_db", Bounds(False, 0, low_allowed=False), AudioEncodingError)
        check_value(self.level, f"{where}: level", Bounds(False, 0, MAX_LEVEL, low_allowed=False), AudioEncodingError)
        if self.ramp is not None:
            check_value(self.ramp, f"{where}: ramp", Bounds(False, 0, MAX_SECONDS), AudioEncodingError)
        for name, choices in (("placement", ("centre", "start")), ("normalise", ("clip", "buffer"))):
            if getattr(self, name) not in choices:
                raise AudioEncodingError(f"{where}: {name} must be one of {choices}, got {getattr(self, name)!r}")
        if self.encoder == "cochlea":
            self._check_cochlea(where)
        else:
            self._check_delta(where)

    def _default(self, name: str, value) -> None:
        if getattr(self, name) is None:
            object.__setattr__(self, name, value)  # frozen: the encoder's default, once, at construction

    def _check_cochlea(self, where: str) -> None:
        given = [name for name in DELTA_SETTINGS if getattr(self, name) is not None]
        if given:
            raise AudioEncodingError(f"{where}: {', '.join(given)}: settings of the delta encoder, not of the cochlea")
        self._default("channels", COCHLEA_CHANNELS)
        if self.max_frequency is not None:
            check_value(self.max_frequency, f"{where}: max_frequency", Bounds(False, 200, SAMPLE_RATE),
                        AudioEncodingError)
        check_value(self.channels, f"{where}: channels", Bounds(True, 1, COCHLEA_CHANNELS), AudioEncodingError)

    def _check_delta(self, where: str) -> None:
        for name, value in DELTA_DEFAULTS.items():
            self._default(name, value)
        if self.max_frequency is not None:
            check_value(self.max_frequency, f"{where}: max_frequency",
                        Bounds(False, 2 * MIN_FREQUENCY, SAMPLE_RATE / 2, low_allowed=False), AudioEncodingError)
        check_value(self.levels, f"{where}: levels", Bounds(True, 1), AudioEncodingError)
        check_value(self.step_db, f"{where}: step_db", Bounds(False, MIN_STEP_DB), AudioEncodingError)
        check_value(self.range_db, f"{where}: range_db", Bounds(False, self.step_db, MAX_RANGE_DB), AudioEncodingError)
        check_value(self.channels, f"{where}: channels", Bounds(True, 2 * self.levels, 2 * self.levels * MAX_BANDS),
                    AudioEncodingError)
        if self.channels % (2 * self.levels):
            raise AudioEncodingError(f"{where}: channels={self.channels} is not 2 (up, down) x levels="
                                     f"{self.levels} x a number of mel bands; use a multiple of {2 * self.levels}")
        steps = self.mel_delta().steps
        if self.levels > steps:
            raise AudioEncodingError(f"{where}: levels={self.levels} splits range_db={self.range_db:g} into more "
                                     f"parts than its {steps} steps of step_db={self.step_db:g}")
        top = self.max_frequency or SAMPLE_RATE / 2
        bands = self.mel_delta().bands
        empty = empty_bands(bands, top)
        if empty:
            raise AudioEncodingError(f"{where}: channels={self.channels} asks for {bands} mel bands between "
                                     f"{MIN_FREQUENCY:g} and {top:g} Hz; {empty} of them fall between the "
                                     f"{SAMPLE_RATE / FFT:g}-Hz bins of the spectrum: use fewer channels")

    @classmethod
    def shd(cls, duration: float | None = 1.0) -> AudioEncoding:
        """The chain of SHD and the embedded data: no trimming, the recording at the
        start of the buffer (``None``: at its own length, as SHD's aligned
        recordings were converted), the buffer normalised, 30-ms ramps (the SHD
        conversion as github.com/danilo-bc/lauscher-shd re-implements it), SHD's
        700 places."""
        return cls(duration=duration, placement="start", trim_db=None, normalise="buffer", level=0.3,
                   max_frequency=None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "") -> AudioEncoding:
        """The record's encoding; a record without ``encoder`` (written before there was a
        choice) is the cochlea chain."""
        try:
            settings = json.loads(text)
            names = {f.name for f in fields(cls)}
            if not isinstance(settings, dict) or set(settings) - names:
                raise ValueError(f"expected an object with keys from {sorted(names)}")
            return cls(**{"encoder": "cochlea", **settings})
        except (ValueError, TypeError) as err:
            raise AudioEncodingError(f"{where}: not an audio encoding record ({err})") from None

    def describe(self) -> str:
        length = f"{self.duration:g} s buffer, placed at the {self.placement}" if self.duration else "own length"
        trim = f"silence trimmed at -{self.trim_db:g} dB" if self.trim_db is not None else "not trimmed"
        ramp = f"{1000 * self.ramp:g}-ms ramps" if self.ramp is not None else "ramps over each half"
        if self.encoder == "cochlea":
            band = f"{self.channels} channels up to {self.max_frequency:g} Hz" if self.max_frequency else \
                f"{self.channels} channels (SHD's map)"
            return f"{length}, {trim}, {self.normalise} RMS {self.level:g}, {ramp}, cochlea: {band}"
        delta = self.mel_delta()
        parts = f" in {self.levels} parts of the range" if self.levels > 1 else ""
        return (f"{length}, {trim}, {self.normalise} RMS {self.level:g}, {ramp}, delta: {delta.bands} mel bands "
                f"{MIN_FREQUENCY:g}-{delta.max_frequency:g} Hz, up/down events per {self.step_db:g} dB within "
                f"{self.range_db:g} dB of the loudest{parts} ({self.channels} channels)")

    def prepare(self, audio: np.ndarray, rate: int) -> np.ndarray:
        """Steps 1-4: the 16-kHz signal that enters step 5."""
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, by a message
            x = resample(np.asarray(audio, dtype=np.float64), rate)
            if self.trim_db is not None:
                x = trim_silence(x, self.trim_db)
            rms = np.sqrt(np.mean(x**2)) if x.size else 0.0
        if not np.isfinite(rms):
            raise AudioEncodingError("the audio's samples are too large for the audio chain (their RMS overflows "
                                     "float64)")
        if rms == 0:
            raise SilentAudioError("the audio is silent (RMS 0)")
        if self.normalise == "clip":
            x = x * (self.level / rms)
        if self.duration is None:
            return x
        n = int(round(self.duration * SAMPLE_RATE))
        out = np.zeros(n)
        if x.size >= n:
            start = (x.size - n) // 2 if self.placement == "centre" else 0
            out[:] = x[start:start + n]
        else:
            start = (n - x.size) // 2 if self.placement == "centre" else 0
            out[start:start + x.size] = x
        return out

    def cochlea(self) -> Cochlea:
        """The cochlea of step 6 (steps 5 and 6 of the cochlea chain)."""
        place = 0.0 if self.max_frequency is None else BasilarMembrane().place_of(self.max_frequency)
        return Cochlea(self.channels, place, self.level if self.normalise == "buffer" else None, self.ramp)

    def mel_delta(self) -> MelDelta:
        """The delta encoder of step 6 (``encoder="delta"`` only)."""
        if self.encoder != "delta":
            raise AudioEncodingError(f"audio encoding: the {self.encoder} chain has no delta encoder")
        return MelDelta(self.channels // (2 * self.levels), self.levels, self.step_db, self.range_db,
                        self.max_frequency or SAMPLE_RATE / 2)

    def spikes(self, audio: np.ndarray, rate: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Events ``(times in seconds, channels)`` of one recording; ``seed`` fixes
        the bushy cells' random draws (the delta encoder draws none)."""
        if self.encoder == "delta":
            ramp = None if self.ramp is None else int(round(self.ramp * SAMPLE_RATE))
            level = self.level if self.normalise == "buffer" else None
            return self.mel_delta()(normalise_and_window(self.prepare(audio, rate), level, ramp))
        spikes, fs = self.cochlea()(self.prepare(audio, rate), SAMPLE_RATE, seed=seed)
        return spikes_to_events(spikes, fs)


def trim_silence(x: np.ndarray, below_db: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """``x`` without the leading and trailing 10-ms frames more than ``below_db`` dB
    below its loudest frame (at least one frame stays)."""
    frame = int(FRAME * rate)
    count = max(1, x.size // frame)
    energy = np.array([np.mean(x[i * frame:(i + 1) * frame] ** 2) for i in range(count)])
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-below_db / 10))
    return x[loud[0] * frame:min(x.size, (loud[-1] + 1) * frame)]
