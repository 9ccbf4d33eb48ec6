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
forked worker. Each chunk is saved as a part (:mod:`lava_convdelay.data.parts`)
when done, so a killed generation continues. The demo's data: what this
module writes for the default settings must not change (its cache key and
files are fixed in tests/test_data_generator.py).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lava_convdelay.data.audio import SAMPLE_RATE, resample
from lava_convdelay.data.audio_encoding import AudioEncoding, trim_silence
from lava_convdelay.data.cochlea import BasilarMembrane, padded_length, spikes_to_events
from lava_convdelay.data.parts import collect_parts, run_parts, save_part
from lava_convdelay.data.shd import write_shd
from lava_convdelay.data.speech import Voice

if TYPE_CHECKING:
    from lava_convdelay.data.generate import GeneratorConfig

WORDS = {"en": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
         "de": ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"]}
KEYS = [f"{lang}-{word}" for lang in ("en", "de") for word in WORDS[lang]]
# eSpeak voice variants whose output is reproducible without seeding eSpeak's noise
# source (this recipe predates Synthesizer.seed); f2, f3, f5 and whisperf add breath
# noise that eSpeak seeds from the clock
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f4",
            "klatt", "klatt2", "klatt3", "klatt4", "croak", "grandma", "grandpa", "linda"]
CHUNK = 10  # utterances per worker task (fixed: part of what makes runs reproducible)
DURATION = 1.0  # longest utterance, seconds (longer words are cut)
TRIM_DB = 30.0  # eSpeak's lead-in and tail below this many dB under the loudest 10 ms are cut
SNR_DB = (25, 40)  # background noise, uniform in this range
VERSION = 2  # 1: 1-s buffers through lauscher's default chain (21 % of pooled bins active in silence)
DEFAULTS = {"per_class": 30, "test_per_class": 10, "train_speakers": 12, "test_speakers": 4}


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
    snr_db = rng.uniform(*SNR_DB)
    return out + rng.standard_normal(out.size) * rms * 10 ** (-snr_db / 20)


def _speaker_job(job) -> None:
    """Runs in a fresh worker: one chunk of a speaker's utterances -> a part of spike events."""
    import ctypes

    from lava_convdelay.data.speech import Synthesizer
    path, config, speaker, voice, utterances = job
    ctypes.CDLL(None).srand(config.seed * 100003 + utterances[0][0])
    synth = Synthesizer()
    cochlea = audio_chain(config).cochlea()
    times, units = [], []
    for uid, label in utterances:
        rng = np.random.default_rng([config.seed, 2, uid, speaker])
        audio = utterance_audio(synth, label, voice, rng)
        spikes, fs = cochlea(audio, SAMPLE_RATE, seed=int(rng.integers(2**31)))
        t, u = spikes_to_events(spikes, fs)
        times.append(t)
        units.append(u)
    save_part(path, times, units, uid=np.array([uid for uid, _ in utterances]),
              label=np.array([label for _, label in utterances]), speaker=np.full(len(utterances), speaker))


def generate_split(config: GeneratorConfig, split: str, path: Path, workers: int | None = None,
                   progress: bool = True, parts: Path | None = None) -> Path:
    """Synthesize one split into an SHD-format file at ``path`` (atomically), keeping
    finished chunks in ``parts`` (default: ``.parts-<split>`` beside ``path``)."""
    parts = parts or path.parent / f".parts-{split}"
    jobs = [(parts / f"{split}-{speaker:04d}-{i // CHUNK:03d}.npz", config, speaker, voice, utterances[i:i + CHUNK])
            for speaker, voice, utterances in _plan(config, split) for i in range(0, len(utterances), CHUNK)]
    if not all(job[0].exists() for job in jobs):
        # computed once here, inherited by the forked workers: the transfer function of
        # every FFT length an utterance can take (up to DURATION), and the numba kernels
        lengths = {padded_length(n, SAMPLE_RATE)
                   for n in range(1, int(DURATION * SAMPLE_RATE) + 1, SAMPLE_RATE // 100)}
        for length in sorted(lengths):
            BasilarMembrane(config.channels).transfer(length, SAMPLE_RATE)
        audio_chain(config).cochlea()(np.random.default_rng(0).standard_normal(SAMPLE_RATE // 10), SAMPLE_RATE,
                                      seed=0)
        run_parts(jobs, _speaker_job, lambda job: len(job[-1]), workers, progress, f"{split} utterances",
                  fresh_process=True)
    times, units, columns = collect_parts([job[0] for job in jobs])
    return write_shd(path, times, units, columns["label"], KEYS, columns["speaker"])
