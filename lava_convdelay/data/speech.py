"""Speech synthesis with eSpeak NG through ctypes (the ``espeakng-loader`` wheel
ships libespeak-ng and its English and German data; no system package)."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lava_convdelay.errors import UserError

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class SpeechSynthesisError(UserError, RuntimeError):
    """eSpeak NG cannot run or lacks a voice: an installation problem, not a bug."""


@dataclass(frozen=True)
class Voice:
    """One synthetic "speaker": eSpeak voice variant and prosody."""

    variant: str  # eSpeak voice variant, e.g. "m3", "f2"
    rate: int  # words per minute
    pitch: int  # 0..99
    pitch_range: int  # 0..99
    volume: int  # 0..200

    def name(self, language: str) -> str:
        return f"{language}+{self.variant}"


#: whether eSpeak NG is initialised in this process image (a forked worker inherits
#: its parent's engine, and with it the parent's state)
_engine_running = False


class Synthesizer:
    """eSpeak NG in synchronous mode, from a fresh engine: an engine running in
    this process (an earlier instance, or the parent's before a fork) is shut
    down first, since eSpeak keeps state from one utterance to the next and an
    initialisation over a running engine leaves its loaded voice pointing at
    freed phoneme data (silence or "Invalid instruction" from eSpeak)."""

    def __init__(self):
        global _engine_running
        import espeakng_loader
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        if _engine_running:
            self.lib.espeak_Terminate()
        data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent, 0)
        _engine_running = self.sample_rate > 0
        if self.sample_rate <= 0:
            raise SpeechSynthesisError(f"eSpeak NG failed to initialise (data in {data_parent.decode()})")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: eSpeak calls it later
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]

    def seed(self, value: int) -> None:
        """Seed eSpeak NG's noise source (breath and whisper voices), which it seeds
        from the clock when it initialises: without this, those voices differ
        from run to run."""
        self.lib.espeak_ng_SetRandSeed(value)

    def _collect(self, wav, count, events):
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).astype(np.float64) / 32768.0)
        return 0

    def say(self, text: str, language: str, voice: Voice) -> np.ndarray:
        """Mono audio in [-1, 1] at :attr:`sample_rate` Hz."""
        if self.lib.espeak_SetVoiceByName(voice.name(language).encode()) != 0:
            raise SpeechSynthesisError(f"eSpeak NG has no voice {voice.name(language)!r}")
        for param, value in ((_RATE, voice.rate), (_PITCH, voice.pitch), (_RANGE, voice.pitch_range),
                             (_VOLUME, voice.volume)):
            self.lib.espeak_SetParameter(param, value, 0)
        self._chunks = []
        # eSpeak holds one callback for the process: the last instance's, freed with it
        self.lib.espeak_SetSynthCallback(self._callback)
        data = text.encode("utf-8")
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise SpeechSynthesisError(f"eSpeak NG could not synthesise {text!r} (status {status})")
        self.lib.espeak_Synchronize()
        if not self._chunks:
            raise SpeechSynthesisError(f"eSpeak NG produced no audio for {text!r}")
        return np.concatenate(self._chunks)
