"""Synthetic speakers for word lists: eSpeak NG English accents x voice variants x prosody.

A speaker is an accent (:data:`ACCENTS`), a voice variant (:data:`VARIANTS`:
formants, pitch contour, breath, roughness) and its own speaking rate, pitch and
pitch range. The test speakers are unseen in every respect: a seeded draw holds
out :data:`TEST_ACCENTS` accents and :data:`TEST_VARIANTS` variants, training
speakers combine only the others, test speakers only these (so no test speaker
shares an accent or a variant with any training speaker). Within each side every
speaker has an (accent, variant) pair of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lava_convdelay.data.speech import Voice

#: the English accents of the espeakng-loader data (en-Shaw, the Shavian alphabet,
#: speaks as "en" and is left out)
ACCENTS = ["en", "en-us", "en-gb-x-rp", "en-029", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-us-nyc"]
#: every voice variant of the espeakng-loader data: each gave the same audio in two
#: processes started at different times, in every accent, once eSpeak's noise
#: source is seeded (bench/espeak_voices.py, bench/results/espeak_voices.json)
VARIANTS = ["Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Demonic", "Denis", "Diogo", "Gene",
            "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Mr serious",
            "Nguyen", "Reed", "RicishayMax", "RicishayMax2", "RicishayMax3", "Storm", "Tweaky", "UniRobot",
            "adam", "anika", "anikaRobot", "announcer", "antonio", "aunty", "belinda", "benjamin", "boris",
            "caleb", "croak", "david", "ed", "edward", "edward2", "f1", "f2", "f3", "f4", "f5", "fast",
            "grandma", "grandpa", "gustave", "ian", "iven", "iven2", "iven3", "iven4", "john", "kaukovalta",
            "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "linda", "m1", "m2", "m3", "m4", "m5",
            "m6", "m7", "m8", "marcelo", "max", "michel", "miguel", "mike2", "norbert", "pablo", "paul",
            "pedro", "quincy", "rob", "robert", "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5",
            "robosoft6", "robosoft7", "robosoft8", "sandro", "shelby", "steph", "steph2", "steph3", "travis",
            "victor", "whisper", "whisperf", "zac"]
TEST_ACCENTS = 2
TEST_VARIANTS = 24
#: a speaker's own speaking rate (words per minute), pitch and pitch range (eSpeak's
#: 0-99 scale), each drawn uniformly from these inclusive ranges
RATE, PITCH, PITCH_RANGE = (120, 200), (15, 85), (15, 90)
#: each utterance moves its speaker's rate and pitch by up to this much
RATE_JITTER, PITCH_JITTER = 10, 5
SLOWEST_RATE = RATE[0] - RATE_JITTER


@dataclass(frozen=True)
class Speaker:
    accent: str  # eSpeak language name, e.g. "en-gb-scotland"
    voice: Voice

    def describe(self) -> str:
        v = self.voice
        return f"{self.accent}+{v.variant}, {v.rate} wpm, pitch {v.pitch}, range {v.pitch_range}"

    def jittered(self, rng: np.random.Generator) -> Voice:
        """This speaker's voice for one utterance: rate and pitch moved a little."""
        v = self.voice
        return Voice(v.variant, v.rate + int(rng.integers(-RATE_JITTER, RATE_JITTER + 1)),
                     int(np.clip(v.pitch + rng.integers(-PITCH_JITTER, PITCH_JITTER + 1), 0, 99)),
                     v.pitch_range, v.volume)


@dataclass(frozen=True)
class VoicePlan:
    """The speakers of a set and the accents and variants each side uses."""

    train: list[Speaker]
    test: list[Speaker]
    train_accents: list[str]
    test_accents: list[str]
    train_variants: list[str]
    test_variants: list[str]


def max_speakers() -> tuple[int, int]:
    """The most training and test speakers with an (accent, variant) pair each."""
    return ((len(ACCENTS) - TEST_ACCENTS) * (len(VARIANTS) - TEST_VARIANTS), TEST_ACCENTS * TEST_VARIANTS)


def voice_plan(train_speakers: int, test_speakers: int, seed: int) -> VoicePlan:
    """The speakers for generator ``seed`` (at most :func:`max_speakers` on each side)."""
    rng = np.random.default_rng([seed, 11])
    accents = [str(a) for a in rng.permutation(ACCENTS)]
    variants = [str(v) for v in rng.permutation(VARIANTS)]
    sides = {"test": (accents[:TEST_ACCENTS], variants[:TEST_VARIANTS], test_speakers),
             "train": (accents[TEST_ACCENTS:], variants[TEST_VARIANTS:], train_speakers)}
    speakers = {}
    for side, (side_accents, side_variants, count) in sides.items():
        pairs = [(a, v) for a in side_accents for v in side_variants]
        if count > len(pairs):
            raise ValueError(f"{count} {side} speakers, but only {len(pairs)} accent x variant pairs")
        speakers[side] = [Speaker(pairs[i][0], Voice(pairs[i][1], int(rng.integers(RATE[0], RATE[1] + 1)),
                                                     int(rng.integers(PITCH[0], PITCH[1] + 1)),
                                                     int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)), 100))
                          for i in rng.permutation(len(pairs))[:count]]
    return VoicePlan(speakers["train"], speakers["test"], sorted(sides["train"][0]), sorted(sides["test"][0]),
                     sorted(sides["train"][1]), sorted(sides["test"][1]))
