"""Generated spike sets, made offline with eSpeak NG and the SHD cochlea, and their cache.

Two recipes, chosen by the vocabulary (:mod:`lava_convdelay.data.vocabulary`):

- ``"digits"`` (the default, the demo's data): 20 spoken digits in English and
  German, :mod:`lava_convdelay.data.digits`;
- a word list (``"speech-commands"``, Speech Commands v2's 35 keywords, or the
  user's own words): English speakers of 8 accents and ~100 voice variants in
  1-s clips with background noise, :mod:`lava_convdelay.data.spoken_words`.

A set depends on :class:`GeneratorConfig` alone (its cache key). Each finished
chunk of utterances is kept under ``OUT/.parts/`` until both files are written,
so a killed generation continues where it stopped; each ``.h5`` file appears
complete or not at all.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

from lava_convdelay.atomic import atomic_output
from lava_convdelay.bounds import SEED_BOUNDS, Bounds, check_value
from lava_convdelay.data import digits, spoken_words
from lava_convdelay.data.digits import VERSION
from lava_convdelay.data.vocabulary import DIGITS, NAMES, WORD_LISTS, VocabularyError, check_words
from lava_convdelay.data.voices import max_speakers
from lava_convdelay.errors import UserError
from lava_convdelay.folder_lock import folder_lock

PARTS = ".parts"
#: the settings the digits recipe had before word lists existed: its cache key holds
#: these alone, so the demo's cached data keeps its folder
DIGITS_KEY = ("per_class", "test_per_class", "train_speakers", "test_speakers", "seed", "channels")
#: the most utterances per class and split: 10^4 x 20 classes take about a day on 2 cores
#: (~0.4 s of CPU each), and every utterance is planned in memory before the first one
MAX_PER_CLASS = 10000


class GeneratorConfigError(UserError, ValueError):
    """Generator settings that cannot be used (sizes below 1, a negative seed, a bad word)."""


class GeneratedDataError(UserError, ValueError):
    """An output folder holding data this generator did not make, or made otherwise."""


@dataclass(frozen=True)
class GeneratorConfig:
    """What a generated set depends on (its cache key, :meth:`settings`).

    ``vocabulary``: ``"digits"``, ``"speech-commands"`` or a list of words (one
    class each, in order; :func:`lava_convdelay.data.vocabulary.vocabulary_setting`
    reads a word-list file). Sizes left at ``None`` take the recipe's defaults
    (digits: 30 / 10 utterances per class, 12 / 4 speakers; word lists: 100 / 30
    per class, 400 / 40 speakers). ``snr_db``: (lowest, highest) background-noise
    SNR in dB, word lists only (default 0-30; the digits keep their 25-40).
    """

    per_class: int | None = None  # training utterances per class
    test_per_class: int | None = None
    train_speakers: int | None = None
    test_speakers: int | None = None
    seed: int = 0
    channels: int = 700
    vocabulary: str | tuple[str, ...] = DIGITS
    snr_db: tuple[float, float] | None = None

    def __post_init__(self):
        vocabulary = self.vocabulary
        if isinstance(vocabulary, str):
            if vocabulary not in NAMES:
                raise GeneratorConfigError(f"vocabulary must be one of {', '.join(NAMES)} or a list of words, "
                                           f"got {vocabulary!r}")
        else:
            try:
                vocabulary = check_words(vocabulary)
            except VocabularyError as err:
                raise GeneratorConfigError(str(err)) from None
        object.__setattr__(self, "vocabulary", vocabulary)
        defaults = self.recipe.DEFAULTS
        for name in ("per_class", "test_per_class", "train_speakers", "test_speakers"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, defaults[name])
        for name in ("per_class", "test_per_class"):
            check_value(getattr(self, name), name, Bounds(True, 1, MAX_PER_CLASS), GeneratorConfigError)
        for name in ("train_speakers", "test_speakers", "channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GeneratorConfigError(f"{name} must be an integer >= 1, got {value!r}")
        check_value(self.seed, "seed", SEED_BOUNDS, GeneratorConfigError)
        if vocabulary == DIGITS:
            self._check_digits()
        else:
            self._check_words()

    def _check_digits(self):
        if self.snr_db is not None:
            raise GeneratorConfigError(f"snr_db applies to word lists; the digits keep their "
                                       f"{digits.SNR_DB[0]}-{digits.SNR_DB[1]} dB")
        if self.train_speakers + self.test_speakers > len(digits.VARIANTS):
            raise GeneratorConfigError(f"at most {len(digits.VARIANTS)} speakers (eSpeak voice variants), "
                                       f"asked for {self.train_speakers + self.test_speakers}")

    def _check_words(self):
        snr = spoken_words.DEFAULTS["snr_db"] if self.snr_db is None else self.snr_db
        if isinstance(snr, (str, bytes)) or not isinstance(snr, (list, tuple)) or len(snr) != 2 or \
                not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in snr) or \
                not -30 <= snr[0] <= snr[1] <= 100:
            raise GeneratorConfigError(f"snr_db must be [lowest, highest] dB with -30 <= lowest <= highest "
                                       f"<= 100, got {self.snr_db!r}")
        object.__setattr__(self, "snr_db", (float(snr[0]), float(snr[1])))
        most_train, most_test = max_speakers()
        for name, most in (("train_speakers", most_train), ("test_speakers", most_test)):
            if getattr(self, name) > most:
                raise GeneratorConfigError(f"{name}: at most {most} (one accent x voice variant pair each; "
                                           f"test speakers use held-out accents and variants), "
                                           f"asked for {getattr(self, name)}")

    @property
    def recipe(self):
        """The module that makes the set: :mod:`digits` or :mod:`spoken_words`."""
        return digits if self.vocabulary == DIGITS else spoken_words

    @property
    def words(self) -> tuple[str, ...]:
        """The class names, in label order."""
        if self.vocabulary == DIGITS:
            return tuple(digits.KEYS)
        return WORD_LISTS[self.vocabulary] if isinstance(self.vocabulary, str) else self.vocabulary

    @property
    def name(self) -> str:
        """The set's name in its cache folder."""
        if self.vocabulary == DIGITS:
            return "spoken-digits"
        return self.vocabulary if isinstance(self.vocabulary, str) else "spoken-words"

    def settings(self) -> dict:
        """Everything the set depends on, as JSON values (``generator.json`` and the cache key)."""
        if self.vocabulary == DIGITS:
            return {**{k: getattr(self, k) for k in DIGITS_KEY}, "version": VERSION}
        return json.loads(json.dumps({**{f.name: getattr(self, f.name) for f in fields(self)},
                                      "words": self.words, "version": spoken_words.VERSION}))

    def digest(self) -> str:
        text = json.dumps(self.settings(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def default_cache_dir() -> Path:
    """``$LAVA_CONVDELAY_DATA``, else ``~/.cache/lava-convdelay``."""
    root = os.environ.get("LAVA_CONVDELAY_DATA") or Path.home() / ".cache" / "lava-convdelay"
    return Path(root)


def cache_dir(config: GeneratorConfig) -> Path:
    """Where :func:`default_dataset` keeps the set generated with ``config``."""
    return default_cache_dir() / f"{config.name}-v{config.settings()['version']}-{config.digest()}"


def generate(out_dir: str | os.PathLike, config: GeneratorConfig = GeneratorConfig(),
             workers: int | None = None, progress: bool = True) -> tuple[Path, Path]:
    """``out_dir/train.h5`` and ``out_dir/test.h5``; existing complete files are
    reused, finished parts of an interrupted run too. One process at a time
    generates into a folder (:func:`~lava_convdelay.folder_lock.folder_lock`):
    a second one waits and then reuses the files."""
    out = Path(out_dir)
    with folder_lock(out, "generating a data set"):
        return _generate(out, config, workers, progress)


def _generate(out: Path, config: GeneratorConfig, workers: int | None, progress: bool) -> tuple[Path, Path]:
    stamp = out / "generator.json"
    expected = config.settings()
    if stamp.exists():
        try:
            found = json.loads(stamp.read_text())
        except ValueError:
            found = None
        if found != expected:
            raise GeneratedDataError(f"{out}: holds data generated with other settings ({stamp}); use another --out")
    elif any((out / f"{split}.h5").exists() for split in ("train", "test")):
        raise GeneratedDataError(f"{out}: has train.h5 / test.h5 that this generator did not make; use another --out")
    paths = [out / f"{split}.h5" for split in ("train", "test")]
    if config.recipe is spoken_words and not all(path.exists() for path in paths):
        problems = spoken_words.check_speakable(config.words)
        if problems:
            raise GeneratorConfigError("vocabulary: " + "; ".join(problems))
    with atomic_output(stamp) as tmp:
        tmp.write_text(json.dumps(expected, indent=1))
    for split, path in zip(("train", "test"), paths):
        if not path.exists():  # files only ever appear complete (atomic rename)
            config.recipe.generate_split(config, split, path, workers=workers, progress=progress, parts=out / PARTS)
    shutil.rmtree(out / PARTS, ignore_errors=True)
    return paths[0], paths[1]


def default_dataset(progress: bool = True, per_class: int | None = None, seed: int | None = None,
                    vocabulary: str | tuple[str, ...] | None = None) -> tuple[Path, Path]:
    """``(train_path, test_path)`` of a cached generated set, generated on first use.

    ``vocabulary`` (default ``"digits"``, see :class:`GeneratorConfig`),
    ``per_class`` training utterances per class (default: the vocabulary's), generator
    ``seed`` (default 0). Read them with :class:`lava_convdelay.data.SHDDataset`.
    """
    given = {"per_class": per_class, "seed": seed, "vocabulary": vocabulary}
    config = GeneratorConfig(**{k: v for k, v in given.items() if v is not None})
    return generate(cache_dir(config), config, progress=progress)
