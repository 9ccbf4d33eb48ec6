"""The words a generated set speaks: the built-in vocabularies and the user's own list.

A vocabulary is named (``"digits"``: the embedded English and German digits;
``"speech-commands"``: the 35 keywords of Speech Commands v2) or given as its
words, one class each, in order. :func:`check_words` refuses what the English
voices cannot say as a word (the synthesis itself is checked when a set is
generated: :func:`lava_convdelay.data.spoken_words.check_speakable`);
:func:`vocabulary_setting` turns a command-line or config value (a name, a
word-list file or a list of words) into what
:class:`lava_convdelay.data.generate.GeneratorConfig` takes.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from lava_convdelay.errors import UserError

DIGITS = "digits"
#: Speech Commands v2's 35 words (Warden 2018), in the corpus's usual order
SPEECH_COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
                   "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                   "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
                   "backward", "forward", "follow", "learn", "visual")
#: the named word lists (``"digits"`` is a recipe of its own, in two languages)
WORD_LISTS = {"speech-commands": SPEECH_COMMANDS}
NAMES = (DIGITS, *WORD_LISTS)
MAX_LETTERS = 40
MAX_FILE_BYTES = 1 << 20
_WORD = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")  # letters, single inner spaces, hyphens, apostrophes


class VocabularyError(UserError, ValueError):
    """A word list that cannot be spoken as classes; names the word and what is wrong."""


def _latin(word: str) -> bool:
    """Every letter is Latin (an English voice spells other scripts letter by letter)."""
    return all(not ch.isalpha() or "LATIN" in unicodedata.name(ch, "") for ch in word)


def check_words(words, where: str = "vocabulary") -> tuple[str, ...]:
    """``words`` as a tuple, or :class:`VocabularyError` naming the first bad word:
    not a string, empty, with outer spaces, not made of Latin letters (single
    inner spaces, hyphens and apostrophes allowed), longer than :data:`MAX_LETTERS`,
    or the same word twice (ignoring case). At least two words (classes)."""
    if isinstance(words, (str, bytes)) or not isinstance(words, (list, tuple)):
        raise VocabularyError(f"{where}: expected a list of words, got {type(words).__name__}")
    seen: dict[str, int] = {}
    for number, word in enumerate(words, 1):
        if not isinstance(word, str):
            raise VocabularyError(f"{where}: word {number} must be a string, got {word!r}")
        if not word.strip():
            raise VocabularyError(f"{where}: word {number} is empty")
        if word != word.strip():
            raise VocabularyError(f"{where}: word {number} {word!r} has leading or trailing spaces")
        if not _WORD.match(word) or not _latin(word):
            raise VocabularyError(f"{where}: word {number} {word!r} is not a word eSpeak NG's English voices "
                                  f"can say: use Latin letters, with single spaces, hyphens or apostrophes "
                                  f"between them (no digits, punctuation or other scripts)")
        if len(word) > MAX_LETTERS:
            raise VocabularyError(f"{where}: word {number} {word[:20]!r}... has {len(word)} characters, "
                                  f"more than {MAX_LETTERS}")
        key = word.casefold()
        if key in seen:
            raise VocabularyError(f"{where}: {word!r} (word {number}) repeats word {seen[key]} "
                                  f"{words[seen[key] - 1]!r}; each class needs its own word")
        seen[key] = number
    if len(words) < 2:
        raise VocabularyError(f"{where}: {len(words)} word(s); a classifier needs at least 2")
    return tuple(words)


def read_word_list(path: str | os.PathLike) -> tuple[str, ...]:
    """A word-list file: UTF-8 text, one word per line (surrounding spaces
    removed); blank lines and lines starting with ``#`` are not words."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise VocabularyError(f"{path}: {path.stat().st_size} bytes; a word list has at most "
                                  f"{MAX_FILE_BYTES} (one word per line)")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise VocabularyError(f"{path}: no such word-list file") from None
    except IsADirectoryError:
        raise VocabularyError(f"{path}: is a folder, not a word-list file") from None
    except UnicodeDecodeError as err:
        raise VocabularyError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise VocabularyError(f"{path}: cannot read ({err.strerror})") from None
    words = [line.strip() for line in text.splitlines()]
    return check_words([w for w in words if w and not w.startswith("#")], where=str(path))


def vocabulary_setting(value) -> str | tuple[str, ...]:
    """What ``GeneratorConfig(vocabulary=...)`` takes, from a command-line or config value:
    a name from :data:`NAMES`, else the path of a word-list file
    (:func:`read_word_list`), or a list of words (:func:`check_words`)."""
    if isinstance(value, str):
        if value in NAMES:
            return value
        if not Path(value).exists():
            raise VocabularyError(f"vocabulary: {value!r} is neither a vocabulary ({', '.join(NAMES)}) "
                                  f"nor an existing word-list file")
        return read_word_list(value)
    return check_words(value)
