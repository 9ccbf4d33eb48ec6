"""A labelled folder of recordings: which files, their classes and speakers, and
the train / test split.

Labels come from sub-folder names (``RECORDINGS/<class>/**/*.wav``) or from a
CSV manifest with a header naming the columns ``path``, ``label`` and
optionally ``speaker`` and ``split`` (``train`` / ``test``); manifest paths are
relative to the manifest's folder. Classes and speakers are numbered in sorted
order of their names.

Folders are walked following symbolic links; every entry named ``*.wav`` is a
recording, whatever it is (a folder, a dangling link, a FIFO: the import's
check of each recording reports it, as for a manifest row). A link back to a
folder it lies in (a loop), one file reached under two names (two manifest
rows, a linked class folder), names or labels holding control characters, and
labels that are the same text in two Unicode forms are errors.

Split (SHD's convention first): the manifest's ``split`` column where given;
else, where every recording has a speaker, whole speakers are held out for the
test set (a seeded draw, until they hold ``test_fraction`` of the recordings);
else a seeded ``test_fraction`` of each class.
"""
from __future__ import annotations

import csv
import hashlib
import os
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lava_convdelay.errors import UserError

SPLITS = ("train", "test")


class RecordingsError(UserError):
    """A folder or manifest of recordings that cannot be used."""


@dataclass(frozen=True)
class Recording:
    path: Path
    name: str  # path relative to the recordings' root (stable across machines): names the file, seeds it
    label: str
    speaker: str | None = None
    split: str | None = None
    line: int | None = None  # the manifest line that lists it (None: found in a folder)

    def where(self) -> str:
        """How the user named it: ``line 3 (a/x.wav)``, or the name within the folder."""
        return f"line {self.line} ({self.name!r})" if self.line is not None else repr(self.name)

    def seed(self, base: int) -> int:
        """The bushy cells' seed: from ``base`` and the file's name only, so that a file
        encodes alike whatever the worker count or the other files."""
        digest = hashlib.sha256(f"{base}:{self.name}".encode()).digest()
        return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def find_recordings(source: str | Path) -> list[Recording]:
    """The recordings of a folder (labels from sub-folders) or a CSV manifest, sorted by name."""
    source = Path(source)
    if source.is_dir():
        recordings = _from_folders(source)
    elif source.is_file():
        recordings = _from_manifest(source)
    else:
        raise RecordingsError(f"{source}: no such folder or manifest")
    if not recordings:
        raise RecordingsError(f"{source}: no .wav recordings found (expected {source}/<class>/*.wav"
                              f"{'' if source.is_dir() else ' rows'})")
    _refuse_same_files(sorted(recordings, key=lambda r: (r.line or 0, r.name)), source)
    _refuse_equivalent_labels(recordings, source)
    return sorted(recordings, key=lambda r: r.name)


def _refuse_same_files(recordings: list[Recording], source: Path) -> None:
    """One file listed twice (``a/x.wav`` and ``./a/x.wav``, an absolute path, a link)
    would be encoded twice and could land in both splits."""
    seen: dict[str, Recording] = {}
    for recording in recordings:
        real = os.path.realpath(recording.path)
        if not os.path.lexists(real):  # dangling: each one is reported as a missing file
            continue
        if real in seen:
            raise RecordingsError(f"{source}: {seen[real].where()} and {recording.where()} are the same file "
                                  f"({real!r}); list each recording once")
        seen[real] = recording


def _refuse_equivalent_labels(recordings: list[Recording], source: Path) -> None:
    """Labels that differ only in their Unicode form (``é`` as one character or as ``e``
    and an accent) look alike but would be two classes."""
    forms = defaultdict(set)
    for recording in recordings:
        forms[unicodedata.normalize("NFC", recording.label)].add(recording.label)
    for variants in forms.values():
        if len(variants) > 1:
            a, b = sorted(variants)[:2]
            raise RecordingsError(f"{source}: the labels {a!r} and {b!r} are the same text in two Unicode forms; "
                                  f"write them alike")


#: Unicode categories refused in names and labels: control characters (a newline
#: would break every output line that shows them), format characters (invisible,
#: or reordering the text around them) and line / paragraph separators
_HIDDEN = ("Cc", "Cf", "Zl", "Zp")


def _visible(text: str) -> bool:
    return not any(unicodedata.category(c) in _HIDDEN for c in text)


def _walk(folder: Path):
    """Every entry named ``*.wav`` under ``folder`` (following links to folders), without
    recursion: a link to a folder that holds it is refused as a loop."""
    stack = [(folder, (os.path.realpath(folder),))]
    while stack:
        current, ancestors = stack.pop()
        try:
            entries = sorted(current.iterdir())
        except OSError as err:
            raise RecordingsError(f"{current}: cannot list the folder ({err.strerror or err})") from None
        for entry in entries:
            if entry.suffix.lower() == ".wav":
                yield entry
            elif entry.is_dir():
                real = os.path.realpath(entry)
                if real in ancestors:
                    raise RecordingsError(f"{entry}: a link to {real!r}, a folder that holds it (a loop); "
                                          f"remove the link")
                stack.append((entry, ancestors + (real,)))


def _from_folders(root: Path) -> list[Recording]:
    loose = sorted(p.name for p in root.glob("*.wav"))
    if loose:
        raise RecordingsError(f"{root}: {loose[0]!r} (and {len(loose) - 1} other .wav file(s)) lie outside a "
                              f"class folder; put each recording in {root}/<class>/, or list them in a CSV manifest")
    out = []
    for path in _walk(root):
        name = path.relative_to(root).as_posix()
        if not _visible(name):
            raise RecordingsError(f"{root}: {name!r} holds control or format characters; rename it")
        out.append(Recording(path, name, path.relative_to(root).parts[0]))
    return out


def _from_manifest(path: Path) -> list[Recording]:
    try:  # utf-8-sig: spreadsheets save "CSV UTF-8" with a byte-order mark
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise RecordingsError(f"{path}: not a readable CSV manifest ({err})") from None
    if not rows:
        raise RecordingsError(f"{path}: the manifest is empty")
    header = [h.strip().lower() for h in rows[0]]
    known = ("path", "label", "speaker", "split")
    if "path" not in header or "label" not in header or set(header) - set(known) or len(set(header)) < len(header):
        raise RecordingsError(f"{path}: line 1: the header must name the columns path, label and optionally "
                              f"speaker, split (each once), got {rows[0]}")
    column = {name: header.index(name) for name in header}
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise RecordingsError(f"{path}: line {line}: {len(row)} columns, the header has {len(header)}")
        value = {name: row[i].strip() for name, i in column.items()}
        if not value["path"] or not value["label"]:
            raise RecordingsError(f"{path}: line {line}: empty path or label")
        hidden = next((name for name, text in value.items() if not _visible(text)), None)
        if hidden:
            raise RecordingsError(f"{path}: line {line}: the {hidden} {value[hidden]!r} holds control or format "
                                  f"characters")
        split = value.get("split") or None
        if split is not None and split not in SPLITS:
            raise RecordingsError(f"{path}: line {line}: split must be train or test, got {split!r}")
        if "split" in value and split is None:
            raise RecordingsError(f"{path}: line {line}: empty split (the manifest has a split column)")
        out.append(Recording(path.parent / value["path"], value["path"], value["label"],
                             value.get("speaker") or None, split, line))
    first: dict[str, Recording] = {}
    for recording in out:
        if recording.name in first:
            raise RecordingsError(f"{path}: {recording.name} is listed twice (lines {first[recording.name].line} "
                                  f"and {recording.line})")
        first[recording.name] = recording
    return out


def split_recordings(recordings: list[Recording], test_fraction: float, seed: int,
                     where: str) -> tuple[list[Recording], list[Recording], str]:
    """``(train, test, how)``: see the module docstring; ``how`` says which rule split them."""
    if all(r.split for r in recordings):
        train = [r for r in recordings if r.split == "train"]
        test = [r for r in recordings if r.split == "test"]
        how = "as the manifest's split column says"
    elif any(r.split for r in recordings):
        raise RecordingsError(f"{where}: some recordings have a split and some not")
    elif all(r.speaker for r in recordings):
        speakers = sorted({r.speaker for r in recordings})
        if len(speakers) < 2:
            raise RecordingsError(f"{where}: one speaker ({speakers[0]}) cannot be held out for testing; "
                                  f"give more speakers, a split column, or no speakers (a split by class)")
        order = np.random.default_rng(seed).permutation(len(speakers))
        held, count = set(), 0
        for i in order[:-1]:  # at least one speaker trains
            if count >= test_fraction * len(recordings):
                break
            held.add(speakers[i])
            count += sum(r.speaker == speakers[i] for r in recordings)
        train = [r for r in recordings if r.speaker not in held]
        test = [r for r in recordings if r.speaker in held]
        how = f"held-out speakers: {', '.join(sorted(held))}"
    else:
        rng = np.random.default_rng(seed)
        test_names = set()
        for label in sorted({r.label for r in recordings}):
            members = [r.name for r in recordings if r.label == label]
            count = min(len(members) - 1, int(round(test_fraction * len(members))))
            test_names.update(members[i] for i in rng.permutation(len(members))[:count])
        train = [r for r in recordings if r.name not in test_names]
        test = [r for r in recordings if r.name in test_names]
        how = f"a seeded {test_fraction:g} of each class"
    missing = sorted({r.label for r in recordings} - {r.label for r in train})
    if missing:
        raise RecordingsError(f"{where}: class(es) {missing} have no training recordings after the split ({how})")
    if not test:
        raise RecordingsError(f"{where}: the split ({how}) leaves no test recordings; raise --test-fraction or "
                              f"give a split column")
    return train, test, how
