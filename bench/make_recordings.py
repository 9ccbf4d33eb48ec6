"""A folder of labelled recordings made with eSpeak NG, for `data import`'s tests
and the encoding study (BENCHMARKS.md): RECORDINGS/<class>/<speaker>-<n>.wav and
RECORDINGS/manifest.csv (path,label,speaker).

Like a real keyword folder, and unlike the embedded data: every file has its own
length (speaking rate, 0-0.4 s of leading and trailing silence), background
noise at 10-30 dB SNR, and its speaker's recording format: half the speakers
record at 8 kHz (telephone band: nothing above 4 kHz), the others at 16 kHz;
int16, int32 or float32 samples; some in stereo.

    .venv/bin/python bench/make_recordings.py OUT [--speakers 16] [--per-speaker 2] [--seed 0]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from lava_convdelay.data.audio import resample
from lava_convdelay.data.digits import KEYS, VARIANTS, WORDS
from lava_convdelay.data.speech import Synthesizer, Voice


def speaker_format(index: int) -> dict:
    """Speaker ``index``'s recording format (rate, sample type, channels)."""
    return {"rate": 8000 if index % 2 else 16000, "dtype": (np.int16, np.float32, np.int32)[index % 3],
            "stereo": index % 4 == 3}


def write_recording(path: Path, audio: np.ndarray, rate: int, dtype, stereo: bool, rng) -> None:
    """``audio`` (16 kHz float) written at ``rate`` as ``dtype``, mono or stereo."""
    x = resample(audio, 16000, rate)
    x = x / max(1e-9, np.abs(x).max()) * rng.uniform(0.1, 0.9)
    if stereo:
        x = np.stack([x, x * rng.uniform(0.5, 1.0)], axis=1)
    if dtype != np.float32:
        x = np.round(x * np.iinfo(dtype).max).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, x.astype(dtype))


def utterance(synth: Synthesizer, word: str, language: str, voice: Voice, rng) -> np.ndarray:
    """One noisy utterance with its own rate and silences, 16 kHz float."""
    jittered = Voice(voice.variant, voice.rate + int(rng.integers(-25, 26)),
                     int(np.clip(voice.pitch + rng.integers(-8, 9), 0, 99)), voice.pitch_range, voice.volume)
    speech = resample(synth.say(word, language, jittered), synth.sample_rate)
    lead, tail = (int(rng.uniform(0, 0.4) * 16000) for _ in range(2))
    x = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
    rms = np.sqrt(np.mean(speech**2))
    return x + rng.standard_normal(x.size) * rms * 10 ** (-rng.uniform(10, 30) / 20)


def make_recordings(out: Path, speakers: int = 16, per_speaker: int = 2, seed: int = 0,
                    classes: list[str] = KEYS) -> Path:
    """Write the folder; returns its manifest (path,label,speaker)."""
    rng = np.random.default_rng(seed)
    synth = Synthesizer()
    rows = []
    for s in range(speakers):
        voice = Voice(VARIANTS[s % len(VARIANTS)], int(rng.integers(110, 211)), int(rng.integers(25, 76)),
                      int(rng.integers(20, 81)), 100)
        fmt = speaker_format(s)
        for key in classes:
            language, word = key.split("-", 1)
            index = WORDS[language].index(word)
            for k in range(per_speaker):
                name = f"{key}/spk{s:02d}-{k}.wav"
                write_recording(out / name, utterance(synth, WORDS[language][index], language, voice, rng),
                                fmt["rate"], fmt["dtype"], fmt["stereo"], rng)
                rows.append((name, key, f"spk{s:02d}"))
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        csv.writer(f).writerows([("path", "label", "speaker")] + rows)
    return manifest


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--speakers", type=int, default=16)
    parser.add_argument("--per-speaker", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_recordings(args.out, args.speakers, args.per_speaker, args.seed))
