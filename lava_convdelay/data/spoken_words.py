"""Generated keyword sets for any English word list (Speech Commands' 35 words by
default): eSpeak NG speakers of many accents and voices, in 1-s clips with
background noise, through the SHD cochlea, in the SHD format.

Like a Speech Commands recording (and SSC, its spiking version), every sample is
a 1-s clip: the word, cut to itself (eSpeak's lead-in and tail more than
:data:`TRIM_DB` dB below its loudest 10 ms removed), starts at a random point
where it fits whole, and background noise (:mod:`lava_convdelay.data.noise`: a
kind drawn uniformly, the SNR uniformly from the configured range) fills the
whole clip. The clip goes through ``AudioEncoding.shd(duration=1.0)`` (SHD's
chain: the clip normalised, 30-ms ramps, 700 places), which the files record.
Speakers (:mod:`lava_convdelay.data.voices`): the test speakers' accents and
voice variants are all unseen in training.

Every utterance of a split has an id; a seeded shuffle deals them round-robin to
the split's speakers (each speaker says a random mix of words, all speakers
about as many). Determinism: each utterance draws from its own seed, and each
fixed chunk of a speaker's utterances runs in a fresh process with eSpeak's
noise source and the C library's ``rand`` seeded, so the files do not depend on
the number of workers; each chunk is saved as a part when done, so a killed run
continues (:mod:`lava_convdelay.data.parts`).
"""
from __future__ import annotations

import ctypes
import multiprocessing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lava_convdelay.atomic import atomic_output
from lava_convdelay.data.audio import SAMPLE_RATE, resample
from lava_convdelay.data.audio_encoding import AudioEncoding, trim_silence
from lava_convdelay.data.cochlea import BasilarMembrane
from lava_convdelay.data.noise import BABBLE_TALKERS, KINDS, add_noise, babble_bank, background
from lava_convdelay.data.parts import collect_parts, run_parts, save_part
from lava_convdelay.data.shd import write_shd
from lava_convdelay.data.speech import Voice
from lava_convdelay.data.voices import ACCENTS, SLOWEST_RATE, VARIANTS, Speaker, voice_plan

if TYPE_CHECKING:
    from lava_convdelay.data.generate import GeneratorConfig

CLIP = 1.0  # seconds per sample, as in Speech Commands
CLIP_SAMPLES = int(CLIP * SAMPLE_RATE)
TRIM_DB = 30.0
MIN_WORD = 0.1  # seconds: shorter (after trimming) is not a spoken word
CHUNK = 10  # utterances per part and per fresh process (fixed: part of what makes runs reproducible)
VERSION = 1
SPLITS = ("train", "test")
DEFAULTS = {"per_class": 100, "test_per_class": 30, "train_speakers": 400, "test_speakers": 40,
            "snr_db": (0.0, 30.0)}


def audio_chain(config: GeneratorConfig) -> AudioEncoding:
    """SHD's chain on the 1-s clip, with the configured channels."""
    return replace(AudioEncoding.shd(duration=CLIP), channels=config.channels)


def _seed_espeak(synth, seed: int) -> None:
    """eSpeak's own noise source, and the C library's ``rand``, which it also calls."""
    ctypes.CDLL(None).srand(seed)
    synth.seed(seed)


def utterance_plan(config: GeneratorConfig, split: str) -> list[tuple[int, Speaker, list[tuple[int, int]]]]:
    """Per speaker: ``(speaker id, speaker, [(utterance id, label)])``, ids in order.
    Utterance ``label * per_class + i``; test speaker ids follow the training ones."""
    plan = voice_plan(config.train_speakers, config.test_speakers, config.seed)
    speakers, first, per_class = (plan.train, 0, config.per_class) if split == "train" else \
        (plan.test, config.train_speakers, config.test_per_class)
    total = len(config.words) * per_class
    dealt = np.random.default_rng([config.seed, 13, SPLITS.index(split)]).permutation(total) % len(speakers)
    said = {s: [] for s in range(len(speakers))}
    for uid in range(total):
        said[int(dealt[uid])].append((uid, uid // per_class))
    return [(first + s, speakers[s], said[s]) for s in range(len(speakers)) if said[s]]


def draw_noise(rng: np.random.Generator, snr_db: tuple[float, float]) -> tuple[str, float]:
    """An utterance's noise kind (uniform over :data:`KINDS`) and SNR (uniform in ``snr_db``)."""
    return KINDS[int(rng.integers(len(KINDS)))], float(rng.uniform(*snr_db))


def utterance_audio(synth, word: str, speaker: Speaker, rng: np.random.Generator, babble: np.ndarray,
                    snr_db: tuple[float, float]) -> tuple[np.ndarray, str, float, float]:
    """``(clip [CLIP_SAMPLES] at SAMPLE_RATE, noise kind, SNR dB, onset seconds)`` of one utterance."""
    spoken = synth.say(word, speaker.accent, speaker.jittered(rng))
    speech = trim_silence(resample(spoken, synth.sample_rate), TRIM_DB)[:CLIP_SAMPLES]
    onset = int(rng.integers(CLIP_SAMPLES - speech.size + 1))
    clip = np.zeros(CLIP_SAMPLES)
    clip[onset:onset + speech.size] = speech
    kind, snr = draw_noise(rng, snr_db)
    noisy = add_noise(clip, float(np.sqrt(np.mean(speech**2))), background(kind, CLIP_SAMPLES, rng, babble), snr)
    return noisy, kind, snr, onset / SAMPLE_RATE


def _chunk_job(job) -> None:
    """Runs in a fresh process: one chunk of a speaker's utterances -> a part."""
    from lava_convdelay.data.speech import Synthesizer
    path, config, split, speaker_id, speaker, utterances, babble_path = job
    synth = Synthesizer()
    _seed_espeak(synth, int(np.random.default_rng([config.seed, 14, SPLITS.index(split), utterances[0][0]])
                            .integers(2**31)))
    babble = np.load(babble_path)
    chain = audio_chain(config)
    times, units, kinds, snrs, onsets = [], [], [], [], []
    for uid, label in utterances:
        rng = np.random.default_rng([config.seed, 12, SPLITS.index(split), uid])
        audio, kind, snr, onset = utterance_audio(synth, config.words[label], speaker, rng, babble, config.snr_db)
        t, u = chain.spikes(audio, SAMPLE_RATE, seed=int(rng.integers(2**31)))
        times.append(t)
        units.append(u)
        kinds.append(KINDS.index(kind))
        snrs.append(snr)
        onsets.append(onset)
    save_part(path, times, units, uid=np.array([uid for uid, _ in utterances]),
              label=np.array([label for _, label in utterances]), speaker=np.full(len(utterances), speaker_id),
              snr_db=np.array(snrs, np.float32), noise=np.array(kinds, np.uint8),
              onset=np.array(onsets, np.float32))


def babble_speakers(seed: int) -> list[Speaker]:
    """The babble's talkers: any accent and variant, a speaker's usual prosody."""
    rng = np.random.default_rng([seed, 15])
    return [Speaker(ACCENTS[int(rng.integers(len(ACCENTS)))],
                    Voice(VARIANTS[int(rng.integers(len(VARIANTS)))], int(rng.integers(140, 181)),
                          int(rng.integers(20, 81)), int(rng.integers(20, 81)), 100)) for _ in range(BABBLE_TALKERS)]


def _babble_job(job) -> None:
    """Runs in a fresh process: the set's babble bank, saved as ``.npy``."""
    from lava_convdelay.data.speech import Synthesizer
    path, seed = job
    synth = Synthesizer()
    _seed_espeak(synth, seed)
    bank = babble_bank(synth, babble_speakers(seed), np.random.default_rng([seed, 16]))
    with atomic_output(path, suffix=".npy") as tmp:
        np.save(tmp, bank)


def _speakable_job(args) -> list[str]:
    """Runs in a fresh process: the problems of saying each word in each accent at
    the slowest rate (a neutral voice); an empty list when there are none."""
    from lava_convdelay.data.speech import SpeechSynthesisError, Synthesizer
    words, accents = args
    synth = Synthesizer()
    _seed_espeak(synth, 0)
    problems = []
    for word in words:
        for accent in accents:
            try:
                audio = synth.say(word, accent, Voice("m3", SLOWEST_RATE, 50, 50, 100))
            except SpeechSynthesisError as err:
                problems.append(f"{word!r}: {err}")
                break
            seconds = trim_silence(resample(audio, synth.sample_rate), TRIM_DB).size / SAMPLE_RATE
            if seconds < MIN_WORD or seconds > CLIP:
                problems.append(f"{word!r}: lasts {seconds:.2f} s in accent {accent} at {SLOWEST_RATE} words "
                                f"per minute; a word must last {MIN_WORD:g}-{CLIP:g} s (the clip)")
                break
    return problems


def check_speakable(words: tuple[str, ...]) -> list[str]:
    """What eSpeak NG cannot say as a word of a 1-s clip, one line per word
    (checked in a fresh process: eSpeak keeps state)."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(_speakable_job, ((words, ACCENTS),))


def generate_split(config: GeneratorConfig, split: str, path: Path, parts: Path, workers: int | None = None,
                   progress: bool = True) -> Path:
    """Synthesize one split into an SHD-format file at ``path`` (atomically),
    keeping finished chunks and the babble bank in the folder ``parts``."""
    babble = parts / "babble.npy"
    run_parts([(babble, config.seed)], _babble_job, lambda job: 1, 1, False, fresh_process=True)
    jobs = [(parts / f"{split}-{speaker_id:04d}-{i // CHUNK:03d}.npz", config, split, speaker_id, speaker,
             utterances[i:i + CHUNK], babble)
            for speaker_id, speaker, utterances in utterance_plan(config, split)
            for i in range(0, len(utterances), CHUNK)]
    if not all(job[0].exists() for job in jobs):
        # before forking, inherited by the workers: the clip's transfer function, the numba kernels
        BasilarMembrane(config.channels).transfer(CLIP_SAMPLES, SAMPLE_RATE)
        audio_chain(config).spikes(np.random.default_rng(0).standard_normal(SAMPLE_RATE // 10), SAMPLE_RATE, seed=0)
        run_parts(jobs, _chunk_job, lambda job: len(job[5]), workers, progress, f"{split} utterances",
                  fresh_process=True)
    times, units, columns = collect_parts([job[0] for job in jobs])
    extra = {"snr_db": columns["snr_db"], "noise": np.array([KINDS[i].encode() for i in columns["noise"]]),
             "onset": columns["onset"]}
    return write_shd(path, times, units, columns["label"], list(config.words), columns["speaker"],
                     audio_encoding=audio_chain(config).to_json(), extra=extra)
