"""Reading recordings: any PCM or float WAV, mono or multi-channel, at any rate."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lava_convdelay.errors import UserError

#: the rate the cochlea runs at (SHD's); recordings are resampled to it
SAMPLE_RATE = 16000
#: the longest recording read by default: the basilar membrane transforms a sample
#: whole (~0.5 GB per second of audio)
MAX_SECONDS = 20.0
#: the shortest recording: one 10 ms bin
MIN_SECONDS = 0.01


class AudioFileError(UserError):
    """A recording that cannot be used: not a WAV file, unreadable, empty, silent or too long."""


def read_wav(path: str | Path, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """``(samples, rate)``: float64 mono audio (channels averaged; unsigned 8-bit
    centred) at the file's own rate. Every problem is an :class:`AudioFileError`
    naming the file."""
    from scipy.io import wavfile
    path = Path(path)
    try:
        rate, audio = wavfile.read(path)
    except FileNotFoundError:
        raise AudioFileError(f"{path}: no such audio file") from None
    except IsADirectoryError:
        raise AudioFileError(f"{path}: is a folder, not a WAV file") from None
    except (ValueError, EOFError, OSError, TypeError, KeyError, IndexError) as err:  # malformed headers
        raise AudioFileError(f"{path}: not a readable WAV file ({err or type(err).__name__})") from None
    if rate <= 0:
        raise AudioFileError(f"{path}: the WAV header gives a sample rate of {rate} Hz")
    if audio.dtype == np.uint8:  # 8-bit WAV is unsigned around 128
        audio = audio.astype(np.float64) - 128
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.size < MIN_SECONDS * rate:
        raise AudioFileError(f"{path}: the recording is {'empty' if not audio.size else 'shorter than 10 ms'}")
    if audio.size > max_seconds * rate:
        raise AudioFileError(f"{path}: the recording is {audio.size / rate:.1f} s long, more than the "
                             f"{max_seconds:g} s allowed (the cochlea transforms a sample whole, ~0.5 GB per "
                             f"second); cut it into pieces")
    if not np.isfinite(audio).all():
        raise AudioFileError(f"{path}: the recording holds non-finite samples (NaN or inf)")
    if not audio.any():
        raise AudioFileError(f"{path}: the audio is silent (all samples 0)")
    return audio, int(rate)


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` at ``rate`` Hz -> ``target`` Hz (polyphase; unchanged if equal)."""
    if rate == target:
        return audio
    from scipy.signal import resample_poly
    g = np.gcd(rate, target)
    return resample_poly(audio, target // g, rate // g)
