"""Reading recordings: any PCM or float WAV, mono or multi-channel, at any rate."""
from __future__ import annotations

import errno
import os
import stat
import struct
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lava_convdelay.errors import UserError

#: the rate the cochlea runs at (SHD's); recordings are resampled to it
SAMPLE_RATE = 16000
#: the longest recording read by default: the basilar membrane transforms a sample
#: whole (~0.5 GB per second)
MAX_SECONDS = 20.0
#: the longest recording ``data import --max-seconds`` may admit: the whole file is read
#: into memory as float64 before it is cut to ``--duration`` (10 minutes of 48-kHz
#: stereo: ~0.7 GB)
MAX_READ_SECONDS = 600.0
#: the shortest recording: one 10 ms bin
MIN_SECONDS = 0.01
#: sample rates read: twice the lowest band edge of the cochlea (``AudioEncoding``'s
#: ``max_frequency`` >= 200 Hz; a recording at rate R carries nothing above R / 2) up
#: to 384 kHz, the highest rate of recording formats in use (DXD). The polyphase
#: resampler's filter grows with the rate: at a rate near 384 kHz sharing no factor
#: with 16 kHz, one second of audio takes ~5 s to resample.
MIN_RATE, MAX_RATE = 400, 384000


class AudioFileError(UserError):
    """A recording that cannot be used: not a WAV file, unreadable, empty, silent or too long."""


class WavLayout(NamedTuple):
    """What a WAV header declares: ``channels``, ``rate`` (Hz), ``block_align`` (bytes
    per frame), ``data_bytes`` (the data chunk's declared size) and ``available``
    (the bytes the file holds after the data chunk's header)."""

    channels: int
    rate: int
    block_align: int
    data_bytes: int
    available: int


def wav_layout(f, file_size: int) -> WavLayout | None:
    """The header of the open WAV file ``f`` (``file_size`` bytes), walking its chunks as
    SciPy does; ``None`` where the walk does not reach a ``fmt `` and a ``data`` chunk
    (SciPy's reader then says what is wrong)."""
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:] != b"WAVE":
        return None
    order = ">" if head[:4] == b"RIFX" else "<"
    fmt, rf64_data = None, None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            return None
        name, size = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
        if name == b"fmt ":
            body = f.read(16)
            if size < 16 or len(body) < 16:
                return None
            _, channels, rate, _, block_align, _ = struct.unpack(order + "HHIIHH", body)
            fmt = (channels, rate, block_align)
            f.seek(size - 16 + (size & 1), os.SEEK_CUR)
        elif name == b"ds64":  # RF64: the 64-bit sizes, the data chunk's second
            body = f.read(16)
            if size < 16 or len(body) < 16:
                return None
            rf64_data = struct.unpack("<Q", body[8:])[0]
            f.seek(size - 16 + (size & 1), os.SEEK_CUR)
        elif name == b"data":
            if fmt is None:
                return None
            if head[:4] == b"RF64" and size == 0xFFFFFFFF and rf64_data is not None:
                size = rf64_data
            return WavLayout(*fmt, size, file_size - f.tell())
        else:
            f.seek(size + (size & 1), os.SEEK_CUR)


def _open_regular(path: Path):
    """``path`` opened for reading if it is a regular file; a FIFO, device or socket is
    refused before anything is read from it (opening without blocking: a FIFO with no
    writer would otherwise wait forever)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        kind = "a symbolic link to a missing file" if path.is_symlink() else "no such audio file"
        raise AudioFileError(f"{path}: {kind}") from None
    except IsADirectoryError:
        raise AudioFileError(f"{path}: is a folder, not a WAV file") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise AudioFileError(f"{path}: a loop of symbolic links") from None
        raise AudioFileError(f"{path}: cannot be opened ({err.strerror or err})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) \
            else "not a regular file"
        raise AudioFileError(f"{path}: is {kind}, not a WAV file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _check_layout(path: Path, layout: WavLayout, max_seconds: float) -> None:
    """Refuse what the header declares before any audio is read."""
    if layout.channels < 1 or layout.block_align < layout.channels:
        raise AudioFileError(f"{path}: the WAV header declares {layout.channels} channel(s) in frames of "
                             f"{layout.block_align} byte(s), at least one byte per channel is needed")
    if not MIN_RATE <= layout.rate <= MAX_RATE:
        raise AudioFileError(f"{path}: the WAV header gives a sample rate of {layout.rate} Hz; rates from "
                             f"{MIN_RATE} to {MAX_RATE} Hz are read")
    if layout.data_bytes > layout.available:
        raise AudioFileError(f"{path}: the data chunk is truncated: the header declares {layout.data_bytes} "
                             f"bytes of audio but the file holds {max(0, layout.available)}")
    seconds = layout.data_bytes // layout.block_align / layout.rate
    if seconds > max_seconds:
        raise AudioFileError(_too_long(path, seconds, max_seconds))


def _too_long(path: Path, seconds: float, max_seconds: float) -> str:
    return (f"{path}: the recording is {seconds:.1f} s long, more than the {max_seconds:g} s allowed (the cochlea "
            f"transforms a sample whole, ~0.5 GB per second); cut it into pieces")


def read_wav(path: str | Path, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """``(samples, rate)``: float64 mono audio (channels averaged; unsigned 8-bit
    centred) at the file's own rate. Every problem is an :class:`AudioFileError`
    naming the file: a path that is not a regular file, a header that is not WAV or
    declares what cannot be read (no channels, a rate outside
    [:data:`MIN_RATE`, :data:`MAX_RATE`], a data chunk longer than the file, more
    than ``max_seconds``; all checked before the audio is read), empty, shorter than
    10 ms, non-finite or all-zero samples."""
    from scipy.io import wavfile
    path = Path(path)
    with _open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            layout = wav_layout(f, size)
        except (struct.error, OSError, ValueError):  # a seek past what the OS allows
            layout = None
        if layout is not None:
            _check_layout(path, layout, max_seconds)
        f.seek(0)
        try:
            with warnings.catch_warnings():  # what they warn of is checked above, per file
                warnings.simplefilter("ignore", wavfile.WavFileWarning)
                rate, audio = wavfile.read(f)
        except Exception as err:  # SciPy's parser meets malformed files with anything (struct.error,
            # ZeroDivisionError, UnboundLocalError, ...); the file is the problem, named here
            raise AudioFileError(f"{path}: not a readable WAV file ({err or type(err).__name__})") from None
    if layout is None and not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFileError(f"{path}: the WAV header gives a sample rate of {rate} Hz; rates from "
                             f"{MIN_RATE} to {MAX_RATE} Hz are read")
    if audio.dtype == np.uint8:  # 8-bit WAV is unsigned around 128
        audio = audio.astype(np.float64) - 128
    audio = np.asarray(audio, dtype=np.float64)
    if not np.isfinite(audio).all():
        raise AudioFileError(f"{path}: the recording holds non-finite samples (NaN or inf)")
    if audio.ndim == 2:
        with np.errstate(over="ignore"):
            audio = audio.mean(axis=1)
        if not np.isfinite(audio).all():
            raise AudioFileError(f"{path}: the channels' samples are too large to average in float64")
    if audio.size < MIN_SECONDS * rate:
        raise AudioFileError(f"{path}: the recording is {'empty' if not audio.size else 'shorter than 10 ms'}")
    if audio.size > max_seconds * rate:
        raise AudioFileError(_too_long(path, audio.size / rate, max_seconds))
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
