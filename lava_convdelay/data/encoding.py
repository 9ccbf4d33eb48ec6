"""How recordings become a network's input spikes, so that a network can be
given input made the way its training input was.

SHD-format events (spike times and cochlea channels) are binned into 0/1
spikes ``[channels, steps]`` (:func:`lava_convdelay.data.bin_spikes`): bins of
``dt`` seconds over ``duration`` seconds, ``pool`` neighbouring channels of the
``source_channels`` merged, a bin being 1 where at least ``min_spikes``
events fall into it. Training records its :class:`InputEncoding` in the
checkpoint, export in the network file (docs/hdf5-format.md), and evaluation
and simulation use it to bin, or check, their input.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from lava_convdelay.bounds import Bounds, check_value
from lava_convdelay.errors import UserError

#: Cochlea channels of the SHD / SSC recordings (and of `encode` / `data generate`).
SHD_CHANNELS = 700
#: The most channels of a recording: SHD-format files store channels as uint16.
MAX_SOURCE_CHANNELS = 2**16
#: The most time steps of a sample: every stage holds a sample as a dense
#: ``[channels, steps]`` tensor (binning; training's float32 activity of every layer,
#: ``[batch, neurons, steps]``, kept for the backward pass; the simulators' records):
#: 10^5 steps of 140 channels are 56 MB in float32 before any layer.
MAX_STEPS = 100_000
#: The longest sample, seconds: SHD-format files hold spike times as float32, whose
#: spacing grows to 0.24 ms at an hour, a quarter of the finest bin in use (1 ms).
MAX_DURATION = 3600.0
#: The most events a bin may need (``min_spikes``): binning counts them in int64 and
#: the network file records the threshold as an integer; no bin of real data holds
#: 2^31 events (an empty input is refused when training starts).
MAX_MIN_SPIKES = 2**31 - 1

#: The allowed values of each setting.
ENCODING_BOUNDS = {
    "dt": Bounds(False, 0, MAX_DURATION, low_allowed=False),
    "pool": Bounds(True, 1, MAX_SOURCE_CHANNELS),
    "duration": Bounds(False, 0, MAX_DURATION, low_allowed=False),
    "source_channels": Bounds(True, 1, MAX_SOURCE_CHANNELS),
    "min_spikes": Bounds(True, 1, MAX_MIN_SPIKES),
}


class EncodingError(UserError, ValueError):
    """Input settings that cannot be used, or input made with other settings."""


@dataclass(frozen=True)
class InputEncoding:
    """Bins of ``dt`` seconds over ``duration`` seconds; ``pool`` neighbouring channels
    of ``source_channels`` merged; a bin is 1 where at least ``min_spikes`` events of
    its channels fall (1: any event); ``audio``: the recordings' encoding, where
    known. The defaults are the shipped configs'."""

    dt: float = 0.01
    pool: int = 5
    duration: float = 1.0
    source_channels: int = SHD_CHANNELS
    min_spikes: int = 1
    #: how recordings became the events (JSON of :class:`lava_convdelay.data.audio_encoding.AudioEncoding`),
    #: where they came from ``data import``; ``None``: not recorded (SHD, the embedded data)
    audio: str | None = None

    @classmethod
    def from_settings(cls, settings: dict) -> InputEncoding:
        """From a mapping holding some of the fields (a config's ``data`` section, a
        checkpoint's record), defaults for the rest; other keys are ignored."""
        return cls(**{f.name: settings[f.name] for f in fields(cls) if f.name in settings})

    @property
    def channels(self) -> int:
        return self.source_channels // self.pool

    @property
    def steps(self) -> int:
        return int(round(self.duration / self.dt))

    def check(self, where: str = "", prefix: str = "", pooled: bool = True) -> InputEncoding:
        """``self`` if usable, else :class:`EncodingError` naming ``where`` and the setting
        (``prefix + name``: ``data.pool``, ``--pool``). ``pooled`` False: not whether
        ``pool`` divides ``source_channels`` (not known before the data files are read)."""
        lead = f"{where}: " if where else ""
        for name, bounds in ENCODING_BOUNDS.items():
            shown = name.replace("_", "-") if prefix == "--" else name  # an option, or a config key
            check_value(getattr(self, name), f"{lead}{prefix}{shown}", bounds, EncodingError)
        if pooled and self.source_channels % self.pool:
            divisors = [p for p in range(1, self.source_channels + 1) if self.source_channels % p == 0]
            raise EncodingError(f"{lead}{prefix}pool={self.pool} does not divide the {self.source_channels} "
                                f"channels of the recordings (pools: {', '.join(map(str, divisors))})")
        if self.audio is not None and not isinstance(self.audio, str):
            raise EncodingError(f"{lead}audio encoding record must be text (JSON), got {self.audio!r:.80}")
        steps = self.duration / self.dt  # may be inf: checked before rounding
        if steps >= MAX_STEPS + 0.5:
            raise EncodingError(f"{lead}{prefix}duration={self.duration:g} in steps of {prefix}dt={self.dt:g} gives "
                                f"{steps:.4g} time steps, more than the {MAX_STEPS} a sample may have (every stage "
                                f"holds it as a [channels, steps] tensor)")
        if self.steps < 1:
            raise EncodingError(f"{lead}{prefix}duration={self.duration:g} is less than half a time step "
                                f"({prefix}dt={self.dt:g}): no time step to bin into")
        return self

    def binning(self) -> dict:
        """The keyword arguments of :class:`lava_convdelay.data.SHDDataset` for this encoding."""
        return {"dt": self.dt, "pool": self.pool, "duration": self.duration, "min_spikes": self.min_spikes}

    def differences(self, other: InputEncoding) -> list[str]:
        """Names of the settings in which ``other`` differs."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    def as_dict(self) -> dict:
        """The settings; ``audio`` only where recorded (records of other data stay as they were)."""
        return {k: v for k, v in asdict(self).items() if k != "audio" or v is not None}

    def describe(self) -> str:
        return (f"dt {self.dt:g} s, pool {self.pool} ({self.source_channels} -> {self.channels} channels), "
                f"duration {self.duration:g} s ({self.steps} steps), min_spikes {self.min_spikes}")

    def encode_options(self) -> str:
        """The ``encode`` options that make recordings into this input."""
        return f"--dt {self.dt:g} --pool {self.pool} --duration {self.duration:g} --min-spikes {self.min_spikes}"
