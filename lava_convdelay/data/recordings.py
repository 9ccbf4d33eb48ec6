"""A labelled folder of recordings: which files, their classes and speakers, and
the train / test split.

Labels come from sub-folder names (``RECORDINGS/<class>/**/*.wav``) or from a
CSV manifest with a header naming the columns ``path``, ``label`` and
optionally ``speaker`` and ``split`` (``train`` / ``test``); manifest paths are
relative to the manifest's folder. Classes and speakers are numbered in sorted
order of their names.

Split (SHD's convention first): the manifest's ``split`` column where given;
else, where every recording has a speaker, whole speakers are held out for the
test set (a seeded draw, until they hold ``test_fraction`` of the recordings);
else a seeded ``test_fraction`` of each class.
"""
from __future__ import annotations

import csv
import hashlib
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
    return sorted(recordings, key=lambda r: r.name)


def _from_folders(root: Path) -> list[Recording]:
    loose = sorted(p.name for p in root.glob("*.wav"))
    if loose:
        raise RecordingsError(f"{root}: {loose[0]} (and {len(loose) - 1} other .wav file(s)) lie outside a class "
                              f"folder; put each recording in {root}/<class>/, or list them in a CSV manifest")
    return [Recording(p, p.relative_to(root).as_posix(), p.relative_to(root).parts[0])
            for p in root.glob("*/**/*") if p.suffix.lower() == ".wav" and p.is_file()]


def _from_manifest(path: Path) -> list[Recording]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
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
        split = value.get("split") or None
        if split is not None and split not in SPLITS:
            raise RecordingsError(f"{path}: line {line}: split must be train or test, got {split!r}")
        if "split" in value and split is None:
            raise RecordingsError(f"{path}: line {line}: empty split (the manifest has a split column)")
        out.append(Recording(path.parent / value["path"], value["path"], value["label"],
                             value.get("speaker") or None, split))
    names = [r.name for r in out]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise RecordingsError(f"{path}: {twice} is listed twice")
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
