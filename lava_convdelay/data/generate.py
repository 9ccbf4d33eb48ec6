"""The embedded default data: spoken digits in English and German, made offline.

20 classes like SHD (labels 0-9 English "zero".."nine", 10-19 German
"null".."neun"), synthesized with eSpeak NG and turned into spikes by the
SHD cochlea chain (:mod:`lava_convdelay.data.cochlea`), written in the SHD
format. Speakers are eSpeak voice variants with their own rate, pitch, pitch
range and level; train and test speakers are disjoint. Each utterance gets a
little rate/pitch jitter, a random onset and background noise.

Deterministic for a seed whatever the number of worker processes: eSpeak
keeps internal state from one utterance to the next, so fixed chunks of one
speaker's utterances are synthesized, in a fixed order, each by a freshly
forked worker.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lava_convdelay.atomic import atomic_output
from lava_convdelay.data.cochlea import BasilarMembrane, Cochlea, spikes_to_events
from lava_convdelay.data.shd import write_shd
from lava_convdelay.data.speech import Voice

WORDS = {"en": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
         "de": ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"]}
KEYS = [f"{lang}-{word}" for lang in ("en", "de") for word in WORDS[lang]]
# eSpeak voice variants whose output is reproducible; f2, f3, f5 and whisperf add
# breath noise that differs from run to run even with a fixed rand() seed
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f4",
            "klatt", "klatt2", "klatt3", "klatt4", "croak", "grandma", "grandpa", "linda"]
CHUNK = 10  # utterances per worker task (fixed: part of what makes runs reproducible)
SAMPLE_RATE = 16000  # audio is resampled to this before the cochlea
DURATION = 1.0  # seconds per utterance (padded / cut)
VERSION = 1


@dataclass(frozen=True)
class GeneratorConfig:
    """What a generated set depends on (its cache key)."""

    per_class: int = 30  # training utterances per class
    test_per_class: int = 10
    train_speakers: int = 12
    test_speakers: int = 4
    seed: int = 0
    channels: int = 700

    def digest(self) -> str:
        text = json.dumps({**asdict(self), "version": VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_speakers(config: GeneratorConfig) -> list[Voice]:
    """Disjoint voices: the first ``train_speakers`` for training, the rest for testing."""
    total = config.train_speakers + config.test_speakers
    if total > len(VARIANTS):
        raise ValueError(f"at most {len(VARIANTS)} speakers, asked for {total}")
    rng = np.random.default_rng([config.seed, 1])
    variants = rng.permutation(VARIANTS)[:total]
    return [Voice(str(v), int(rng.integers(130, 191)), int(rng.integers(30, 71)),
                  int(rng.integers(20, 81)), int(rng.integers(80, 121))) for v in variants]


def _plan(config: GeneratorConfig, split: str) -> list[tuple[int, Voice, list[tuple[int, int]]]]:
    """Per speaker: (speaker id, voice, [(utterance id, label)]) in a fixed order."""
    speakers = make_speakers(config)
    if split == "train":
        ids, per_class = range(config.train_speakers), config.per_class
    else:
        ids, per_class = range(config.train_speakers, len(speakers)), config.test_per_class
    ids = list(ids)
    jobs = {s: [] for s in ids}
    for label in range(len(KEYS)):
        for i in range(per_class):
            k = label * per_class + i  # utterance id; speakers take turns
            jobs[ids[k % len(ids)]].append((k, label))
    return [(s, speakers[s], jobs[s]) for s in ids if jobs[s]]


def _resample(audio: np.ndarray, rate: int) -> np.ndarray:
    from scipy.signal import resample_poly
    g = np.gcd(rate, SAMPLE_RATE)
    return resample_poly(audio, SAMPLE_RATE // g, rate // g)


def utterance_audio(synth, label: int, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """One jittered, noisy, fixed-length utterance at :data:`SAMPLE_RATE`."""
    lang = "en" if label < 10 else "de"
    jittered = Voice(voice.variant, voice.rate + int(rng.integers(-10, 11)),
                     int(np.clip(voice.pitch + rng.integers(-5, 6), 0, 99)), voice.pitch_range, voice.volume)
    audio = _resample(synth.say(WORDS[lang][label % 10], lang, jittered), synth.sample_rate)
    length = int(DURATION * SAMPLE_RATE)
    onset = int(rng.integers(0, int(0.15 * SAMPLE_RATE)))
    out = np.zeros(length)
    piece = audio[: length - onset]
    out[onset:onset + piece.size] = piece * voice.volume / 100
    rms = np.sqrt(np.mean(piece**2)) if piece.size else 1.0
    snr_db = rng.uniform(25, 40)
    return out + rng.standard_normal(length) * rms * 10 ** (-snr_db / 20)


def _speaker_job(args):
    """Runs in a fresh worker: one speaker's utterances -> spike events."""
    import ctypes
    from lava_convdelay.data.speech import Synthesizer
    config, speaker, voice, utterances = args
    ctypes.CDLL(None).srand(config.seed * 100003 + utterances[0][0])
    synth = Synthesizer()
    cochlea = Cochlea(config.channels)
    out = []
    for uid, label in utterances:
        rng = np.random.default_rng([config.seed, 2, uid, speaker])
        audio = utterance_audio(synth, label, voice, rng)
        spikes, fs = cochlea(audio, SAMPLE_RATE, seed=int(rng.integers(2**31)))
        times, units = spikes_to_events(spikes, fs)
        out.append((uid, label, speaker, times, units))
    return out


def generate_split(config: GeneratorConfig, split: str, path: Path, workers: int | None = None,
                   progress: bool = True) -> Path:
    """Synthesize one split into an SHD-format file at ``path`` (atomically)."""
    plan = _plan(config, split)
    # computed once here, inherited by the forked workers
    BasilarMembrane(config.channels).transfer(int(DURATION * SAMPLE_RATE), SAMPLE_RATE)
    Cochlea(config.channels)(np.random.default_rng(0).standard_normal(int(DURATION * SAMPLE_RATE)),
                             SAMPLE_RATE, seed=0)  # compiles the numba kernels before forking
    jobs = [(config, speaker, voice, utterances[i:i + CHUNK])
            for speaker, voice, utterances in plan for i in range(0, len(utterances), CHUNK)]
    total = sum(len(j[3]) for j in jobs)
    results = []
    context = multiprocessing.get_context("fork")
    with context.Pool(workers or os.cpu_count(), maxtasksperchild=1) as pool, \
            tqdm(total=total, desc=f"{split} utterances", disable=not progress) as bar:
        for part in pool.imap_unordered(_speaker_job, jobs):
            results.extend(part)
            bar.update(len(part))
    results.sort(key=lambda r: r[0])
    return write_shd(path, [r[3] for r in results], [r[4] for r in results],
                     [r[1] for r in results], KEYS, [r[2] for r in results])


def default_cache_dir() -> Path:
    root = os.environ.get("LAVA_CONVDELAY_DATA") or Path.home() / ".cache" / "lava-convdelay"
    return Path(root)


def generate(out_dir: str | os.PathLike, config: GeneratorConfig = GeneratorConfig(),
             workers: int | None = None, progress: bool = True) -> tuple[Path, Path]:
    """``out_dir/train.h5`` and ``out_dir/test.h5``; existing complete files are reused."""
    out = Path(out_dir)
    stamp = out / "generator.json"
    expected = {**asdict(config), "version": VERSION}
    if stamp.exists() and json.loads(stamp.read_text()) != expected:
        raise ValueError(f"{out}: holds data generated with other settings ({stamp}); use another --out")
    with atomic_output(stamp) as tmp:
        tmp.write_text(json.dumps(expected, indent=1))
    paths = []
    for split in ("train", "test"):
        path = out / f"{split}.h5"
        if not path.exists():  # files only ever appear complete (atomic rename)
            generate_split(config, split, path, workers, progress)
        paths.append(path)
    return paths[0], paths[1]


def default_dataset(progress: bool = True, per_class: int | None = None, seed: int | None = None):
    """Paths of the cached default train/test sets, generating them on first use."""
    config = GeneratorConfig()
    changes = {k: v for k, v in (("per_class", per_class), ("seed", seed)) if v is not None}
    config = GeneratorConfig(**{**asdict(config), **changes})
    return generate(default_cache_dir() / f"spoken-digits-v{VERSION}-{config.digest()}", config,
                    progress=progress)
