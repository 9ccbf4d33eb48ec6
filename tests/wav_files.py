"""WAV files the tests write, well-formed or with any header field overridden
(factories, not tests): the reader's and the import's hostile cases."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def tone(seconds: float = 0.3, rate: int = 16000, frequency: float = 440.0, seed: int = 0) -> np.ndarray:
    """A tone with a little noise, int16 ``[frames]``; ``seed`` makes each file's audio its own."""
    t = np.arange(int(round(seconds * rate))) / rate
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return np.round(8000 * np.sin(2 * np.pi * frequency * t) + 300 * noise).astype(np.int16)


def wav_bytes(audio: np.ndarray, rate: int = 16000, *, channels: int | None = None, block_align: int | None = None,
              bits: int | None = None, format_tag: int = 1, declared_data: int | None = None,
              declared_riff: int | None = None, keep: int | None = None, extra_chunks: bytes = b"") -> bytes:
    """The bytes of a PCM WAV file holding ``audio`` (``[frames]`` or ``[frames, channels]``);
    every header field can be given instead of the true one; ``keep``: only the first bytes
    (a truncated file); ``extra_chunks`` go between ``fmt `` and ``data``."""
    audio = np.asarray(audio)
    frames_channels = 1 if audio.ndim == 1 else audio.shape[1]
    data = audio.tobytes()
    channels = frames_channels if channels is None else channels
    width = audio.dtype.itemsize
    block_align = width * frames_channels if block_align is None else block_align
    bits = 8 * width if bits is None else bits
    fmt = struct.pack("<HHIIHH", format_tag, channels, rate, rate * block_align & 0xFFFFFFFF, block_align, bits)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunks + b"data"
            + struct.pack("<I", len(data) if declared_data is None else declared_data) + data)
    out = b"RIFF" + struct.pack("<I", len(body) if declared_riff is None else declared_riff) + body
    return out if keep is None else out[:keep]


def write_wav(path: Path, audio: np.ndarray, rate: int = 16000, **header) -> Path:
    """:func:`wav_bytes` written to ``path`` (folders made)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(audio, rate, **header))
    return path
