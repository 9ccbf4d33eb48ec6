"""The embedded default data: spoken digits in English and German, made offline.

20 classes like SHD (labels 0-9 English "zero".."nine", 10-19 German
"null".."neun"), synthesized with eSpeak NG and turned into spikes by the
SHD cochlea chain (:mod:`lava_convdelay.data.cochlea`), written in the SHD
format. Speakers are eSpeak voice variants with their own rate, pitch, pitch
range and level; train and test speakers are disjoint. Each utterance gets a
little rate/pitch jitter, a random onset and background noise. Like SHD's
aligned studio recordings, each utterance is cut to its word (plus the short
onset) and converted at its own length, with the SHD chain of
:meth:`lava_convdelay.data.audio_encoding.AudioEncoding.shd` (the SHD article's
hair cells, 30-ms ramps): binned to a fixed duration, a sample is silent after
its word.

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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lava_convdelay.atomic import atomic_output
from lava_convdelay.bounds import SEED_BOUNDS, Bounds, check_value
from lava_convdelay.data.audio import SAMPLE_RATE, resample
from lava_convdelay.data.audio_encoding import AudioEncoding, trim_silence
from lava_convdelay.data.cochlea import BasilarMembrane, padded_length, spikes_to_events
from lava_convdelay.data.shd import write_shd
from lava_convdelay.data.speech import Voice
from lava_convdelay.errors import UserError

WORDS = {"en": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
         "de": ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"]}
KEYS = [f"{lang}-{word}" for lang in ("en", "de") for word in WORDS[lang]]
# eSpeak voice variants whose output is reproducible; f2, f3, f5 and whisperf add
# breath noise that differs from run to run even with a fixed rand() seed
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f4",
            "klatt", "klatt2", "klatt3", "klatt4", "croak", "grandma", "grandpa", "linda"]
CHUNK = 10  # utterances per worker task (fixed: part of what makes runs reproducible)
DURATION = 1.0  # longest utterance, seconds (longer words are cut)
TRIM_DB = 30.0  # eSpeak's lead-in and tail below this many dB under the loudest 10 ms are cut
VERSION = 2  # 1: 1-s buffers through lauscher's default chain (21 % of pooled bins active in silence)
#: the most utterances per class and split: 10^4 x 20 classes take about a day on 2 cores
#: (~0.4 s of CPU each), and every utterance is planned in memory before the first one
MAX_PER_CLASS = 10000


class GeneratorConfigError(UserError, ValueError):
    """Generator settings that cannot be used (sizes below 1, a negative seed)."""


class GeneratedDataError(UserError, ValueError):
    """An output folder holding data this generator did not make, or made otherwise."""


@dataclass(frozen=True)
class GeneratorConfig:
    """What a generated set depends on (its cache key)."""

    per_class: int = 30  # training utterances per class
    test_per_class: int = 10
    train_speakers: int = 12
    test_speakers: int = 4
    seed: int = 0
    channels: int = 700

    def __post_init__(self):
        for name in ("per_class", "test_per_class"):
            check_value(getattr(self, name), name, Bounds(True, 1, MAX_PER_CLASS), GeneratorConfigError)
        for name in ("train_speakers", "test_speakers", "channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GeneratorConfigError(f"{name} must be an integer >= 1, got {value!r}")
        check_value(self.seed, "seed", SEED_BOUNDS, GeneratorConfigError)
        if self.train_speakers + self.test_speakers > len(VARIANTS):
            raise GeneratorConfigError(f"at most {len(VARIANTS)} speakers (eSpeak voice variants), "
                                       f"asked for {self.train_speakers + self.test_speakers}")

    def digest(self) -> str:
        text = json.dumps({**asdict(self), "version": VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_speakers(config: GeneratorConfig) -> list[Voice]:
    """Disjoint voices: the first ``train_speakers`` for training, the rest for testing."""
    total = config.train_speakers + config.test_speakers
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


def audio_chain(config: GeneratorConfig) -> AudioEncoding:
    """SHD's chain at each utterance's own length, with the configured channels."""
    return replace(AudioEncoding.shd(duration=None), channels=config.channels)


def utterance_audio(synth, label: int, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """One jittered, noisy utterance at :data:`SAMPLE_RATE`: its word after a random
    onset of up to 50 ms, at most :data:`DURATION` seconds in all."""
    lang = "en" if label < 10 else "de"
    jittered = Voice(voice.variant, voice.rate + int(rng.integers(-10, 11)),
                     int(np.clip(voice.pitch + rng.integers(-5, 6), 0, 99)), voice.pitch_range, voice.volume)
    word = trim_silence(resample(synth.say(WORDS[lang][label % 10], lang, jittered), synth.sample_rate), TRIM_DB)
    onset = int(rng.integers(0, int(0.05 * SAMPLE_RATE)))
    piece = word[: int(DURATION * SAMPLE_RATE) - onset]
    out = np.concatenate([np.zeros(onset), piece * voice.volume / 100])
    # the noise follows the unscaled speech, so the level shifts the SNR by up to
    # +-2 dB; the absolute level itself is removed by the cochlea's RMS normalisation
    rms = np.sqrt(np.mean(piece**2)) if piece.size else 1.0
    snr_db = rng.uniform(25, 40)
    return out + rng.standard_normal(out.size) * rms * 10 ** (-snr_db / 20)


def _speaker_job(args):
    """Runs in a fresh worker: one speaker's utterances -> spike events."""
    import ctypes

    from lava_convdelay.data.speech import Synthesizer
    config, speaker, voice, utterances = args
    ctypes.CDLL(None).srand(config.seed * 100003 + utterances[0][0])
    synth = Synthesizer()
    cochlea = audio_chain(config).cochlea()
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
    # computed once here, inherited by the forked workers: the transfer function of
    # every FFT length an utterance can take (up to DURATION), and the numba kernels
    lengths = {padded_length(n, SAMPLE_RATE) for n in range(1, int(DURATION * SAMPLE_RATE) + 1, SAMPLE_RATE // 100)}
    for length in sorted(lengths):
        BasilarMembrane(config.channels).transfer(length, SAMPLE_RATE)
    audio_chain(config).cochlea()(np.random.default_rng(0).standard_normal(SAMPLE_RATE // 10), SAMPLE_RATE, seed=0)
    jobs = [(config, speaker, voice, utterances[i:i + CHUNK])
            for speaker, voice, utterances in plan for i in range(0, len(utterances), CHUNK)]
    total = sum(len(j[3]) for j in jobs)
    results = []
    context = multiprocessing.get_context("fork")
    with context.Pool(workers or len(os.sched_getaffinity(0)), maxtasksperchild=1) as pool, \
            tqdm(total=total, desc=f"{split} utterances", disable=not progress) as bar:
        for part in pool.imap_unordered(_speaker_job, jobs):
            results.extend(part)
            bar.update(len(part))
    results.sort(key=lambda r: r[0])
    return write_shd(path, [r[3] for r in results], [r[4] for r in results],
                     [r[1] for r in results], KEYS, [r[2] for r in results])


def default_cache_dir() -> Path:
    """``$LAVA_CONVDELAY_DATA``, else ``~/.cache/lava-convdelay``."""
    root = os.environ.get("LAVA_CONVDELAY_DATA") or Path.home() / ".cache" / "lava-convdelay"
    return Path(root)


def cache_dir(config: GeneratorConfig) -> Path:
    """Where :func:`default_dataset` keeps the set generated with ``config``."""
    return default_cache_dir() / f"spoken-digits-v{VERSION}-{config.digest()}"


def generate(out_dir: str | os.PathLike, config: GeneratorConfig = GeneratorConfig(),
             workers: int | None = None, progress: bool = True) -> tuple[Path, Path]:
    """``out_dir/train.h5`` and ``out_dir/test.h5``; existing complete files are reused."""
    out = Path(out_dir)
    stamp = out / "generator.json"
    expected = {**asdict(config), "version": VERSION}
    if stamp.exists():
        try:
            found = json.loads(stamp.read_text())
        except ValueError:
            found = None
        if found != expected:
            raise GeneratedDataError(f"{out}: holds data generated with other settings ({stamp}); use another --out")
    elif any((out / f"{split}.h5").exists() for split in ("train", "test")):
        raise GeneratedDataError(f"{out}: has train.h5 / test.h5 that this generator did not make; use another --out")
    with atomic_output(stamp) as tmp:
        tmp.write_text(json.dumps(expected, indent=1))
    paths = []
    for split in ("train", "test"):
        path = out / f"{split}.h5"
        if not path.exists():  # files only ever appear complete (atomic rename)
            generate_split(config, split, path, workers, progress)
        paths.append(path)
    return paths[0], paths[1]


def default_dataset(progress: bool = True, per_class: int | None = None,
                    seed: int | None = None) -> tuple[Path, Path]:
    """``(train_path, test_path)`` of the cached spoken-digit set, generated on first use.

    ``per_class`` training utterances per class (default 30; the test split keeps
    10 per class), generator ``seed`` (default 0). Read them with
    :class:`lava_convdelay.data.SHDDataset`.
    """
    config = GeneratorConfig()
    changes = {k: v for k, v in (("per_class", per_class), ("seed", seed)) if v is not None}
    config = GeneratorConfig(**{**asdict(config), **changes})
    return generate(cache_dir(config), config, progress=progress)
