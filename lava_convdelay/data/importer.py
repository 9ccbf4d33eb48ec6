"""``data import``: a labelled folder of recordings -> SHD-format ``train.h5`` /
``test.h5`` (docs/data.md, "Your own recordings").

1. Every recording is read and checked first (not a regular file, not a WAV
   file, unreadable or truncated, empty, silent, too long, failing the audio
   chain before the cochlea, the same audio as another recording): each problem
   is one line naming the file; the import stops there, before anything is
   written, or with ``skip_bad`` leaves those files out and lists them in
   ``skipped.txt``. An import needs two classes.
2. The settings, classes, speakers, split and the files' sizes and times go to
   ``import.json``. A later run into the same folder continues an unfinished
   import with the same settings and files, and refuses anything else.
3. The encoder (the cochlea, or the delta encoder) runs on all cores, in
   fixed chunks of :data:`CHUNK` recordings; each finished chunk is saved (atomically) under
   ``.import-parts/``, so a killed import continues where it stopped. Every
   recording has its own seed (from the import's seed and its name), so the
   result does not depend on the number of workers.
4. Each split is written atomically to its ``.h5`` file, which also records
   the audio encoding (``classify`` reproduces it); the parts are then removed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lava_convdelay.atomic import atomic_output
from lava_convdelay.data.audio import MAX_SECONDS, SAMPLE_RATE, AudioFileError, read_wav
from lava_convdelay.data.audio_encoding import AudioEncoding, AudioEncodingError
from lava_convdelay.data.cochlea import BasilarMembrane, padded_length
from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.data.parts import load_part, run_parts, save_part
from lava_convdelay.data.recordings import Recording, RecordingsError, find_recordings, split_recordings
from lava_convdelay.data.shd import write_shd
from lava_convdelay.errors import one_line

CHUNK = 16  # recordings per task and per saved part (fixed: part of what makes runs resumable)
VERSION = 1
STAMP = "import.json"
SKIPPED = "skipped.txt"
PARTS = ".import-parts"
#: training binning for the import's own cochlea chain: a 10-ms bin of 5 pooled
#: channels is 1 where they fired at least 5 times, below which lie the cochlea's
#: spontaneous spikes (BENCHMARKS.md, "Encoding your own recordings"); the SHD
#: chain keeps SHD's binning (any spike) for comparability with SHD results
MIN_SPIKES, SHD_MIN_SPIKES = 5, 1
#: training binning for the delta encoder (no spontaneous events): every channel
#: its own input, a bin 1 on any event (BENCHMARKS.md, "A deterministic encoder")
DELTA_POOL, DELTA_MIN_SPIKES = 1, 1


@dataclass
class ImportResult:
    train: Path
    test: Path
    counts: dict
    classes: list[str]
    skipped: list[str]
    split: str
    encoding: AudioEncoding
    cut: int

    def data_section(self) -> dict:
        """The training config's ``data`` section for these files."""
        if self.encoding.encoder == "delta":
            pool, min_spikes = DELTA_POOL, DELTA_MIN_SPIKES
        else:
            shd_chain = self.encoding == AudioEncoding.shd(self.encoding.duration)
            pool, min_spikes = InputEncoding.pool, SHD_MIN_SPIKES if shd_chain else MIN_SPIKES
        return {"source": "shd", "train": str(self.train), "test": str(self.test),
                "duration": self.encoding.duration or 1.0, "dt": InputEncoding.dt, "pool": pool,
                "min_spikes": min_spikes}


def _check(recording: Recording, encoding: AudioEncoding, max_seconds: float) -> tuple[int, float, str]:
    """``(rate, seconds after trimming, digest of the audio)`` of a usable recording;
    :class:`AudioFileError` naming it otherwise. The audio chain runs up to the
    cochlea, so that what it refuses (samples whose level overflows) is found here."""
    audio, rate = read_wav(recording.path, max_seconds)
    try:
        prepared = replace(encoding, duration=None).prepare(audio, rate)
    except AudioEncodingError as err:
        raise AudioFileError(f"{recording.path}: {err}") from None
    seconds = audio.size / rate if encoding.trim_db is None else prepared.size / SAMPLE_RATE
    if encoding.duration is None and prepared.size > MAX_SECONDS * SAMPLE_RATE:
        raise AudioFileError(f"{recording.path}: {prepared.size / SAMPLE_RATE:.1f} s after trimming, but the cochlea "
                             f"takes at most {MAX_SECONDS:g} s at a recording's own length (~0.5 GB per second); "
                             f"give --duration or cut it")
    digest = hashlib.sha256(np.int64(rate).tobytes() + audio.tobytes()).hexdigest()
    return rate, seconds, digest


def _encode_chunk(job) -> None:
    """Worker: encode one chunk of recordings and save it as a part file."""
    path, encoding, seed, max_seconds, recordings = job
    times, units = [], []
    for recording in recordings:
        audio, rate = read_wav(recording.path, max_seconds)
        t, u = encoding.spikes(audio, rate, recording.seed(seed))
        times.append(t)
        units.append(u)
    save_part(path, times, units)


def _digest(recordings: list[Recording]) -> str:
    h = hashlib.sha256()
    for r in recordings:
        stat = r.path.stat()
        h.update(json.dumps([r.name, r.label, r.speaker, r.split, stat.st_size, stat.st_mtime_ns]).encode())
    return h.hexdigest()[:16]


def import_recordings(source: str | os.PathLike, out_dir: str | os.PathLike, encoding: AudioEncoding,
                      test_fraction: float = 0.2, seed: int = 0, skip_bad: bool = False,
                      workers: int | None = None, progress: bool = True, max_seconds: float = MAX_SECONDS,
                      band_from_rates: bool = False) -> ImportResult:
    """Import ``source`` (folder or CSV manifest) into ``out_dir``; see the module docstring.
    ``band_from_rates``: channels up to the Nyquist frequency of the lowest-rate recording
    (capped at 8 kHz, the cochlea's)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RecordingsError(f"{out}: is a file, not a folder")
    recordings = find_recordings(source)
    rates, lengths, bad, heard = {}, {}, [], {}
    for recording in tqdm(recordings, desc="checking recordings", unit="file", disable=not progress):
        try:
            rate, length, digest = _check(recording, encoding, max_seconds)
        except AudioFileError as err:
            bad.append(one_line(str(err)))
            continue
        if digest in heard:  # the first by name is kept (with skip_bad)
            bad.append(one_line(f"{recording.path}: the same audio as {heard[digest].where()}, labelled "
                                f"{heard[digest].label!r} (a copy; it could land in both splits)"))
            continue
        heard[digest] = recording
        rates[recording.name], lengths[recording.name] = rate, length
    if bad:
        for line in bad:
            print(line, file=sys.stderr)
        if not skip_bad:
            raise RecordingsError(f"{source}: {len(bad)} recording(s) cannot be used (listed above, one per line); "
                                  f"fix or remove them, or pass --skip-bad to import the others")
    good = [r for r in recordings if r.name in rates]
    if not good:
        raise RecordingsError(f"{source}: none of the {len(recordings)} recordings can be used")
    if band_from_rates:
        encoding = replace(encoding, max_frequency=min(SAMPLE_RATE / 2, min(rates.values()) / 2))
    classes = sorted({r.label for r in good})
    if len(classes) < 2:
        raise RecordingsError(f"{source}: all {len(good)} usable recordings are of one class ({classes[0]!r}); "
                              f"a classifier needs at least two")
    train, test, how = split_recordings(good, test_fraction, seed, str(source))
    speakers = sorted({r.speaker for r in good}) if all(r.speaker for r in good) else None
    stamp = {"version": VERSION, "source": str(Path(source).resolve()), "encoding": asdict(encoding),
             "test_fraction": test_fraction, "seed": seed, "max_seconds": max_seconds, "split": how,
             "classes": classes, "speakers": speakers, "recordings": {"train": len(train), "test": len(test)},
             "skipped": bad, "files": _digest(good)}
    _claim(out, stamp)
    if bad:
        with atomic_output(out / SKIPPED) as tmp:
            tmp.write_text("".join(line + "\n" for line in bad))
    parts = out / PARTS / stamp["files"]
    jobs = [(parts / f"{name}-{i // CHUNK:05d}.npz", encoding, seed, max_seconds, chunk[i:i + CHUNK])
            for name, chunk in (("train", train), ("test", test)) if not (out / f"{name}.h5").exists()
            for i in range(0, len(chunk), CHUNK)]
    todo = [job for job in jobs if not job[0].exists()]
    if todo:
        _run(todo, encoding, workers, progress, [lengths[r.name] for job in todo for r in job[-1]])
    paths = []
    for name, members in (("train", train), ("test", test)):
        path = out / f"{name}.h5"
        if not path.exists():  # files only ever appear complete (atomic rename)
            times, units = [], []
            for job in (j for j in jobs if j[0].name.startswith(name)):
                t, u, _ = load_part(job[0])
                times += t
                units += u
            write_shd(path, times, units, [classes.index(r.label) for r in members], classes,
                      [speakers.index(r.speaker) for r in members] if speakers else None,
                      audio_encoding=encoding.to_json())
        paths.append(path)
    shutil.rmtree(out / PARTS, ignore_errors=True)
    cut = sum(encoding.duration is not None and lengths[r.name] > encoding.duration for r in good)
    return ImportResult(paths[0], paths[1], {"train": len(train), "test": len(test)}, classes, bad, how,
                        encoding, cut)


def _claim(out: Path, stamp: dict) -> None:
    """Write ``import.json``, or check that an earlier run into ``out`` had the same one."""
    path = out / STAMP
    if path.exists():
        try:
            found = json.loads(path.read_text())
        except ValueError:
            found = None
        if found != json.loads(json.dumps(stamp)):
            raise RecordingsError(f"{out}: holds an import with other settings or recordings ({path}); "
                                  f"use another -o, or remove that folder to start over")
        return
    if any((out / f"{split}.h5").exists() for split in ("train", "test")):
        raise RecordingsError(f"{out}: has train.h5 / test.h5 that this import did not make; use another -o")
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(stamp, indent=1))


def _run(jobs: list, encoding: AudioEncoding, workers: int | None, progress: bool, seconds: list[float]) -> None:
    """Encode the chunks on ``workers`` forked processes (default: all cores);
    ``seconds``: the recordings' lengths after trimming."""
    # before forking, inherited by the workers: the numba kernels (and the cochlea's
    # transfer functions)
    if encoding.encoder == "delta":
        encoding.mel_delta()(np.random.default_rng(0).standard_normal(SAMPLE_RATE // 8))
    else:
        _prepare_cochlea(encoding, seconds)
    run_parts(jobs, _encode_chunk, lambda job: len(job[-1]), workers, progress, f"{encoding.encoder} (files)")


def _prepare_cochlea(encoding: AudioEncoding, seconds: list[float]) -> None:
    """Compile the cochlea's kernels and compute the transfer functions of the most
    common FFT lengths (as many as the cache keeps)."""
    cochlea = encoding.cochlea()
    cochlea(np.random.default_rng(0).standard_normal(SAMPLE_RATE // 8), SAMPLE_RATE, seed=0)
    if encoding.duration is not None:
        seconds = [encoding.duration]
    common = Counter(padded_length(int(round(s * SAMPLE_RATE)), SAMPLE_RATE) for s in seconds).most_common(6)
    membrane = BasilarMembrane(cochlea.channels, cochlea.place_min)
    for length, _ in common:
        membrane.transfer(length, SAMPLE_RATE)
