"""Property / fuzz tests of the recordings side: WAV headers and chunks, CSV
manifests, folder trees (links, loops, FIFOs, copies, odd names), `data import`,
`classify` options and training configs at extreme values. Each either works
(and what it produced holds what the toolkit promises) or stops with one
UserError naming the file or value; never another exception, never a warning
from inside a library, never a hang, never a file left behind.

Every test counts its outcomes and prints them (``pytest -s``); the table in
docs/errors.md, "Fuzzed cases", is that output. Cases per test are the
``fuzz(N)`` numbers; each test runs in under 30 s on the 2-core machine.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import struct
import tempfile
import unicodedata
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import TRAIN_NEURON, toy_data
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from wav_files import tone, wav_bytes

from lava_convdelay.bounds import Bounds
from lava_convdelay.cli import main
from lava_convdelay.data import importer
from lava_convdelay.data.audio import MAX_RATE, MIN_RATE, AudioFileError, read_wav
from lava_convdelay.data.audio_encoding import AudioEncoding
from lava_convdelay.data.recordings import RecordingsError, find_recordings
from lava_convdelay.data.shd import read_shd
from lava_convdelay.errors import UserError
from lava_convdelay.training import load_config, train
from lava_convdelay.training import plots as training_plots


def fuzz(examples):
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def report(name: str, outcomes: Counter) -> None:
    """The outcome counts of one test (``pytest -s`` shows them)."""
    print(f"\n{name}: {sum(outcomes.values())} cases: "
          + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1])))


def kind_of(message: str, where: str) -> str:
    """What a refusal says, without the files it names: its first words."""
    text = re.sub(r"\S*\x00\S*:? ?", "", message.replace(where, "\x00")) if where else message
    text = re.sub(r"'[^']*'", "'…'", re.sub(r"\b(line|lines) \d+( and \d+)?", r"\1 N", text))
    return " ".join(text.replace("(", " ").split()[:4])


# --------------------------------------------------------------------------- WAV headers and chunks

RATES = st.sampled_from([0, 1, 300, MIN_RATE - 1, MIN_RATE, 8000, 11025, 16000, 44100, 48000, 96000, MAX_RATE,
                         MAX_RATE + 1, 2**31, 2**32 - 1]) | st.integers(0, 2**32 - 1)
CHUNK_IDS = st.sampled_from([b"LIST", b"cue ", b"fact", b"JUNK", b"data", b"fmt ", b"ds64", b"\0\0\0\0", b"ab"])


@st.composite
def wav_blobs(draw) -> bytes:
    """A WAV file's bytes: a header with fields overridden, a valid file with bytes
    flipped, or random bytes behind ``RIFF``."""
    kind = draw(st.sampled_from(["header", "header", "flip", "raw", "samples"]))
    frames = draw(st.integers(0, 400))
    if kind == "samples":  # a valid header over odd samples
        dtype = draw(st.sampled_from([np.uint8, np.int16, np.int32, np.float32, np.float64]))
        channels = draw(st.integers(1, 3))
        values = draw(st.sampled_from(["tone", "zeros", "nan", "inf", "huge", "tiny", "mixed"]))
        x = np.resize(tone(0.05, 8000).astype(np.float64), (frames, channels))
        x = {"tone": x, "zeros": 0 * x, "nan": x * np.nan, "inf": np.where(x > 0, np.inf, -np.inf),
             "huge": x * 1e300, "tiny": x * 1e-310, "mixed": np.where(x > 0, 1e308, x)}[values]
        if np.issubdtype(dtype, np.integer):
            x = np.nan_to_num(x, posinf=0, neginf=0).clip(np.iinfo(dtype).min, np.iinfo(dtype).max)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # float64 -> float32 overflow is the point of the case
            samples = x.astype(dtype)
        return wav_bytes(samples if channels > 1 else samples[:, 0], 8000,
                         format_tag=3 if np.issubdtype(dtype, np.floating) else 1)
    audio = tone(frames / 16000 if frames else 0.0)
    if kind == "raw":
        return b"RIFF" + draw(st.binary(max_size=200))
    if kind == "flip":
        blob = bytearray(wav_bytes(audio))
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, min(len(blob) - 1, 60)))  # the header and the first samples
            blob[i] = draw(st.integers(0, 255))
        return bytes(blob)
    extra = b"".join(name + struct.pack("<I", size) + b"x" * min(size, 16)
                     for name, size in draw(st.lists(st.tuples(CHUNK_IDS, st.integers(0, 2**32 - 1)), max_size=2)))
    blob = wav_bytes(audio, draw(RATES),
                     channels=draw(st.none() | st.integers(0, 65535)),
                     block_align=draw(st.none() | st.integers(0, 65535)),
                     bits=draw(st.none() | st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64, 65535])),
                     format_tag=draw(st.sampled_from([1, 3, 0xFFFE, 2, 0])),
                     declared_data=draw(st.none() | st.integers(0, 2**32 - 1)),
                     declared_riff=draw(st.none() | st.integers(0, 2**32 - 1)),
                     extra_chunks=extra if draw(st.booleans()) else b"")
    return blob[:draw(st.none() | st.integers(0, len(blob)))]


def test_wav_headers_and_chunks():
    """400 WAV files: every one is read as usable audio or refused naming the file."""
    outcomes = Counter()

    @fuzz(400)
    @given(blob=wav_blobs())
    @example(blob=wav_bytes(tone(0.2), keep=30))                    # struct.error once
    @example(blob=wav_bytes(tone(0.2), channels=65535))             # ZeroDivisionError once
    @example(blob=wav_bytes(tone(0.2), keep=3000))                  # half the audio and a warning once
    def case(blob):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "x.wav"
            path.write_bytes(blob)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # nothing from SciPy or NumPy reaches the user
                try:
                    audio, rate = read_wav(path)
                except AudioFileError as err:
                    assert str(err).startswith(f"{path}: ") and "\n" not in str(err)
                    outcomes[f"refused: {kind_of(str(err), str(path))}"] += 1
                    return
                assert audio.dtype == np.float64 and audio.ndim == 1 and np.isfinite(audio).all() and audio.any()
                assert MIN_RATE <= rate <= MAX_RATE and 0.01 * rate <= audio.size <= 20 * rate
                try:  # the check `data import` makes of each recording
                    importer._check(importer.Recording(path, "x.wav", "a"), AudioEncoding(), 20.0)
                    outcomes["read and usable"] += 1
                except AudioFileError as err:
                    assert str(err).startswith(f"{path}: ")
                    outcomes[f"read, refused by the chain: {kind_of(str(err), str(path))}"] += 1
    case()
    report("WAV files", outcomes)
    assert outcomes["read and usable"] >= 10 and sum(outcomes.values()) >= 400


# --------------------------------------------------------------------------- manifests and folders, `data import`


def _stub_cochlea(monkeypatch):
    """The cochlea stage replaced by one event per recording (the checks before it are real)."""
    monkeypatch.setattr(AudioEncoding, "spikes", lambda self, audio, rate, seed: (np.array([0.1]), np.array([3])))
    monkeypatch.setattr(importer, "_run", lambda jobs, *args: [importer._encode_chunk(job) for job in jobs])


def _recordings_folder(root: Path) -> None:
    """Four distinct good recordings per class a / b, and a few bad ones beside them."""
    for c, label in enumerate("ab"):
        for i in range(4):
            (root / label).mkdir(parents=True, exist_ok=True)
            (root / label / f"{i}.wav").write_bytes(wav_bytes(tone(0.1, 8000, 300 + 100 * c, seed=10 * c + i), 8000))
    (root / "cut.wav").write_bytes(wav_bytes(tone(0.1, 8000), 8000, keep=500))
    (root / "copy.wav").write_bytes((root / "a" / "0.wav").read_bytes())
    (root / "dir.wav").mkdir()
    os.mkfifo(root / "fifo.wav")
    (root / "dangling.wav").symlink_to(root / "missing.wav")


def _import_outcome(source: Path, out: Path, skip_bad: bool, listed: int, outcomes: Counter) -> None:
    """Run `data import` (cochlea stubbed): it writes complete files, or stops naming
    ``source`` / a file with nothing written."""
    try:
        result = importer.import_recordings(source, out, AudioEncoding(duration=0.1, channels=70), 0.5,
                                            skip_bad=skip_bad, workers=1, progress=False)
    except RecordingsError as err:
        assert "\n" not in str(err) and str(source) in str(err) or str(out) in str(err)
        assert not out.exists() or not any(out.iterdir())
        outcomes[f"import refused: {kind_of(str(err), str(source.parent))}"] += 1
        return
    train_data, test_data = read_shd(result.train), read_shd(result.test)
    assert train_data["keys"] == test_data["keys"] == result.classes and len(result.classes) >= 2
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for k in result.classes for c in k)
    assert len(train_data["labels"]) + len(test_data["labels"]) + len(result.skipped) == listed
    outcomes["imported" + (" (some skipped)" if result.skipped else "")] += 1


GOOD_PATHS = [f"{label}/{i}.wav" for label in "ab" for i in range(4)]
PATHS = st.sampled_from(GOOD_PATHS * 3 + ["./a/0.wav", "a//1.wav", "b/../a/2.wav", "ABS", "missing.wav", "a",
                                         "cut.wav", "copy.wav", "dir.wav", "fifo.wav", "dangling.wav", "x\ny.wav",
                                         "../outside.wav", " "])
LABELS = st.sampled_from(["a", "b"] * 6 + ["c", "café", unicodedata.normalize("NFD", "café"), "x\ny", "tab\t",
                                           "rtl\u202e", " padded ", "", "数字", "a,b", '"q"'])


@st.composite
def manifests(draw, root: str) -> str:
    """A valid manifest of the eight good recordings, then 0-4 changes: rows added,
    cells replaced (other names of a file, missing or non-regular files, odd labels),
    a row cut short, another header, a byte-order mark."""
    extras = draw(st.sampled_from([[], [], ["speaker"], ["split"]]))
    columns = ["path", "label"] + extras
    fill = {"speaker": lambda i: f"s{i % 3}", "split": lambda i: "test" if i % 4 == 3 else "train"}
    rows = [[p, p[0]] + [fill[c](i) for c in extras] for i, p in enumerate(GOOD_PATHS)]
    for _ in range(draw(st.integers(0, 4))):
        change = draw(st.sampled_from(["add", "path", "label", "cell", "cut", "header"]))
        row = draw(st.integers(0, len(rows) - 1))
        if change == "add":
            rows.append([draw(PATHS), draw(LABELS)] + [fill[c](row) for c in extras])
        elif change == "path":
            rows[row][0] = draw(PATHS)
        elif change == "label" and len(rows[row]) > 1:
            rows[row][1] = draw(LABELS)
        elif change == "cell" and len(rows[row]) > 2:
            rows[row][2] = draw(st.sampled_from(["", "dev", "s\n", "TEST"]))
        elif change == "cut":
            rows[row] = rows[row][:1]
        elif change == "header":
            columns = draw(st.sampled_from([["label", "path"] + columns[2:], ["Path", "LABEL"] + columns[2:],
                                            ["path"] + columns[1:-1], ["path", "label", "label"][:len(columns)],
                                            ["path", "label", "extra"][:len(columns)]]))
    rows = [[cell.replace("ABS", f"{root}/a/0.wav") for cell in r] for r in rows]
    text = io.StringIO()
    csv.writer(text).writerows([columns] + rows)
    return ("\ufeff" if draw(st.booleans()) else "") + text.getvalue()


def test_manifests_and_import(monkeypatch):
    """100 manifests (duplicates under other names, BOMs, control characters, bad
    columns, missing or non-regular files), each listed and imported."""
    _stub_cochlea(monkeypatch)
    outcomes = Counter()

    @fuzz(100)
    @given(data=st.data(), skip_bad=st.booleans())
    def case(data, skip_bad):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            _recordings_folder(root)
            manifest = root / "m.csv"
            manifest.write_text(data.draw(manifests(str(root))), encoding="utf-8")
            try:
                listed = find_recordings(manifest)
            except RecordingsError as err:
                assert str(err).startswith(f"{manifest}: ")
                outcomes[f"listing refused: {kind_of(str(err), folder)}"] += 1
                return
            real = [p for p in map(os.path.realpath, (r.path for r in listed)) if os.path.lexists(p)]
            assert len(set(real)) == len(real)  # no file twice
            _import_outcome(manifest, root / "out", skip_bad, len(listed), outcomes)
    case()
    report("manifests", outcomes)
    assert sum(outcomes.values()) == 100 and outcomes["imported"] >= 10


ENTRIES = st.sampled_from(["wav", "wav", "wav", "copy", "cut", "huge", "silent", "dir.wav", "dangling", "loop.wav",
                           "fifo", "link-to-sibling", "link-to-root", "link-to-own-class", "subfolder", "text"])
CLASS_NAMES = st.sampled_from(["a", "b", "c", "d", "new\nline", "é", "x y", ".hidden"])


def test_folder_trees_and_import(monkeypatch):
    """100 folder trees: class folders of recordings, copies, links (dangling, to a
    sibling, to the root, to themselves), FIFOs, folders named .wav, nested folders."""
    _stub_cochlea(monkeypatch)
    outcomes = Counter()

    @fuzz(100)
    @given(tree=st.lists(st.tuples(CLASS_NAMES, st.lists(ENTRIES, min_size=1, max_size=3)), min_size=0, max_size=3),
           skip_bad=st.booleans())
    def case(tree, skip_bad):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "rec"
            good = tone(0.1, 8000, seed=1)
            for c, label in enumerate(("base-a", "base-b")):  # two classes of good recordings
                for i in range(3):
                    (root / label).mkdir(parents=True, exist_ok=True)
                    (root / label / f"{i}.wav").write_bytes(wav_bytes(tone(0.1, 8000, 900 + 50 * i, seed=900 + 10 * c
                                                                           + i), 8000))
            tree = [("base-a", entries) if name == "a" else (name, entries) for name, entries in tree]
            for c, (label, entries) in enumerate(tree):
                cls = root / label
                cls.mkdir(parents=True, exist_ok=True)
                for i, entry in enumerate(entries):
                    path = cls / f"{entry}-{c}-{i}.wav"
                    if entry == "wav":
                        path.write_bytes(wav_bytes(tone(0.1, 8000, 300 + 50 * i, seed=100 * c + i), 8000))
                    elif entry == "copy":
                        path.write_bytes(wav_bytes(good, 8000))
                    elif entry == "cut":
                        path.write_bytes(wav_bytes(good, 8000, keep=400))
                    elif entry == "huge":
                        path.write_bytes(wav_bytes(np.full(800, 1e200) * (-1) ** np.arange(800), 8000,
                                                   format_tag=3))
                    elif entry == "silent":
                        path.write_bytes(wav_bytes(0 * good, 8000))
                    elif entry == "dir.wav":
                        path.mkdir()
                    elif entry == "dangling":
                        path.symlink_to(cls / "missing")
                    elif entry == "loop.wav":
                        path.symlink_to(path)
                    elif entry == "fifo":
                        os.mkfifo(path)
                    elif entry == "link-to-sibling":
                        (cls / f"sib{c}-{i}").symlink_to(root / tree[0][0], target_is_directory=True)
                    elif entry == "link-to-root":
                        (cls / f"up{c}-{i}").symlink_to(root, target_is_directory=True)
                    elif entry == "link-to-own-class":
                        (cls / f"self{c}-{i}").symlink_to(cls, target_is_directory=True)
                    elif entry == "subfolder":
                        (cls / f"sub{c}-{i}").mkdir(exist_ok=True)
                        (cls / f"sub{c}-{i}" / "n.wav").write_bytes(wav_bytes(tone(0.1, 8000, 700, seed=c + 50 * i),
                                                                          8000))
                    else:
                        (cls / f"notes{c}-{i}.txt").write_text("ignored")
            try:
                listed = find_recordings(root)
            except RecordingsError as err:
                assert str(root) in str(err)
                outcomes[f"listing refused: {kind_of(str(err), folder)}"] += 1
                return
            real = [p for p in map(os.path.realpath, (r.path for r in listed)) if os.path.lexists(p)]
            assert len(set(real)) == len(real)
            _import_outcome(root, Path(folder) / "out", skip_bad, len(listed), outcomes)
    case()
    report("folder trees", outcomes)
    assert sum(outcomes.values()) == 100 and outcomes["imported"] >= 10


# --------------------------------------------------------------------------- classify options


@pytest.fixture(scope="module")
def classify_files(tmp_path_factory):
    from lava_convdelay.data.encoding import InputEncoding
    from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
    from netx_export.writer import write_network
    folder = tmp_path_factory.mktemp("classify")
    weight = np.full((3, 10), -256)
    weight[1] = 254
    spec = NetworkSpec(10, [LayerSpec("dense", weight, CubaParams(2048, 1024, 64))],
                       encoding=InputEncoding(0.01, 7, 0.3, 70, 1, audio=AudioEncoding(0.3, channels=70).to_json()),
                       class_names=["a", "b", "c"])
    write_network(spec, folder / "net.h5")
    audio = np.concatenate([tone(0.2), np.zeros(3200, np.int16), tone(0.13, seed=3)])  # 0.53 s
    (folder / "rec.wav").write_bytes(wav_bytes(audio))
    return folder, audio.size / 16000


SECONDS = (st.floats(0.0005, 2.0).map(lambda x: f"{x:.4f}")
           | st.sampled_from(["0", "0.001", "0.0099", "0.01", "0.05", "0.1", "0.25", "0.53", "0.6", "1", "1e9", "1e308",
                              "-0.1", "nan", "inf", "x", ""]))
CLASSIFY_OPTIONS = st.fixed_dictionaries({}, optional={
    "--window": SECONDS, "--hop": SECONDS,
    "--top": st.sampled_from(["1", "3", "0", "-1", "99", "1.5", "x"]),
    "--seed": st.sampled_from(["0", "7", "4294967295", "4294967296", str(2**70), "-1", "x"]),
    "--backend": st.sampled_from(["fixed", "fixed", "gpu"])})


def test_classify_options(classify_files, monkeypatch, capsys):
    """150 option sets of classify (the cochlea stubbed, the simulator real): a timeline
    whose windows lie inside the recording, or one line, exit 2."""
    monkeypatch.setattr(AudioEncoding, "spikes", lambda self, audio, rate, seed: (
        self.prepare(audio, rate) is not None and np.array([0.05, 0.1]), np.array([14, 15])))
    folder, seconds = classify_files
    outcomes = Counter()

    @fuzz(150)
    @given(options=CLASSIFY_OPTIONS)
    @example(options={"--window": "0.1", "--hop": "0.3"})  # hop > window: windows after the end, once
    def case(options):
        argv = ["classify", str(folder / "net.h5"), str(folder / "rec.wav")]
        argv += [x for kv in options.items() for x in kv]
        capsys.readouterr()
        try:
            status = main(argv)
        except SystemExit as exit_:  # argparse: a value of the wrong type
            assert exit_.code == 2 and "lava-convdelay classify: error: " in capsys.readouterr().err
            outcomes["refused by argparse"] += 1
            return
        out, err = capsys.readouterr()
        if status == 2:
            assert err.count("\n") == 1 and err.startswith("lava-convdelay classify: error: "), err
            outcomes[f"refused: {kind_of(err.split('error: ', 1)[1], '')}"] += 1
            return
        assert status == 0 and not err
        lines = out.strip().splitlines()
        if "--window" in options:
            spans = [line.split(": ")[0].rsplit(" ", 2)[1].split("-") for line in lines]
            starts, ends = [float(a) for a, _ in spans], [float(b) for _, b in spans]
            assert starts[0] == 0 and all(s < seconds for s in starts) and all(e <= round(seconds, 2) for e in ends)
            assert all(s < e for s, e in zip(starts, ends)) and starts == sorted(starts)
        outcomes["classified" + (" (windows)" if "--window" in options else "")] += 1
    case()
    report("classify options", outcomes)
    assert sum(outcomes.values()) == 151 and outcomes["classified (windows)"] >= 10


# --------------------------------------------------------------------------- training configs at extreme values

#: every key with a bound, and where it lives in a config
BOUNDED = {**{f"train.{k}": k for k in ("epochs", "batch_size", "eval_batch_size", "lr", "lr_delay", "weight_decay",
                                         "sigma_init", "sigma_decay", "sigma_reference_epochs", "ce_scale",
                                         "true_rate", "false_rate", "time_shift", "channel_shift", "thinning")},
           "seed": "seed", "layer.weight_scale": "weight_scale", "layer.sigma": "sigma", "layer.neurons": "neurons",
           "layer.max_delay": "max_delay", "layer.rec_dropout": "rec_dropout", "neuron.tau_grad": "tau_grad",
           "neuron.scale_grad": "scale_grad", "neuron.threshold": "threshold"}
EXTREMES = [0, 1, -1, 2**31, 2**32, 2**62, 2**64, 10**10, 10**30, 1e-300, 0.5, 1.5, 99.9, 100.0, 100.5, 1e3, 1e6,
            1e30, 3.4028234663852886e38, 3.5e38, 1e300, float("nan"), float("inf"), "1", None, True]


def _config(edits: dict) -> dict:
    config = {"seed": 0, "model": {"neuron": dict(TRAIN_NEURON), "layers": [
        {"type": "conv_delay_rec", "neurons": 8, "max_delay": 4}, {"type": "dense", "neurons": 3}]},
        "train": {"epochs": 1, "batch_size": 4}}
    for path, value in edits.items():
        section, _, key = path.partition(".")
        if section == "seed":
            config["seed"] = value
        elif section == "layer":
            config["model"]["layers"][0][key] = value
        elif section == "neuron":
            config["model"]["neuron"][key] = value
        else:
            config["train"][key] = value
    return config


@pytest.fixture(scope="module")
def tiny_data():
    return toy_data(6, 0), toy_data(3, 1)


def _train_outcome(tmp: Path, config: dict, datasets, outcomes: Counter) -> None:
    """Load ``config``; what loads trains one epoch, or stops with one UserError."""
    path = tmp / "c.json"
    path.write_text(json.dumps(config))
    try:
        loaded = load_config(path)
    except UserError as err:
        assert str(err).startswith(f"{path}: ") and "\n" not in str(err)
        outcomes["refused when loaded"] += 1
        return
    if loaded["train"]["epochs"] > 2:  # a long run proves nothing more; its schedule is built below
        loaded["train"]["epochs"] = 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # SLAYER's own notices
            model = train(loaded, tmp / "run", progress=False, datasets=datasets)
    except UserError as err:
        assert "\n" not in str(err)
        assert not (tmp / "run" / "checkpoint.pt").exists() or "epoch 2" in str(err)
        outcomes[f"refused in training: {kind_of(str(err), str(tmp / 'run'))}"] += 1
        return
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    outcomes["trained"] += 1


def test_each_bounded_key_at_its_edges(tmp_path, tiny_data, monkeypatch, capsys):
    """Every bounded key of a training config at its bound, just past it and at
    extreme values (26 each): refused when loaded, or trained without an exception
    other than a one-line UserError."""
    monkeypatch.setattr(training_plots, "plot_run", lambda *args, **kwargs: [])  # plots are tested apart
    from lava_convdelay.nn.layer_config import LAYER_BOUNDS, NEURON_BOUNDS
    from lava_convdelay.training.config import TRAIN_BOUNDS
    outcomes = Counter()
    bounds = {**{f"train.{k}": b for k, b in TRAIN_BOUNDS.items()},
              **{f"layer.{k}": b for k, b in LAYER_BOUNDS.items() if f"layer.{k}" in BOUNDED},
              **{f"neuron.{k}": b for k, b in NEURON_BOUNDS.items() if f"neuron.{k}" in BOUNDED}}
    for number, path in enumerate(sorted(BOUNDED)):
        bound = bounds.get(path)
        values = list(EXTREMES)
        if isinstance(bound, Bounds) and bound.high is not None:
            values += [bound.high, bound.high + 1 if bound.integer else bound.high * (1 + 1e-9)]
        for i, value in enumerate(values):
            if path in ("train.epochs",) and isinstance(value, int) and not isinstance(value, bool) and value > 2:
                continue  # would run that many epochs; the loading check alone is below
            case = tmp_path / f"{number}-{i}"
            case.mkdir()
            _train_outcome(case, _config({path: value}), tiny_data, outcomes)
    for value in (10**6, 10**6 + 1):  # the bound of epochs, loaded only
        (tmp_path / "e.json").write_text(json.dumps(_config({"train.epochs": value})))
        try:
            load_config(tmp_path / "e.json")
            outcomes["loaded (epochs)"] += 1
        except UserError:
            outcomes["refused when loaded"] += 1
    capsys.readouterr()
    report("config keys at their edges", outcomes)
    assert outcomes["trained"] >= 50 and outcomes["refused when loaded"] >= 200


@pytest.mark.slow
def test_random_extreme_configs(tmp_path, tiny_data, monkeypatch, capsys):
    """60 configs with 1-4 keys at extreme values together."""
    monkeypatch.setattr(training_plots, "plot_run", lambda *args, **kwargs: [])
    outcomes = Counter()
    counter = iter(range(10**6))

    @fuzz(60)
    @given(edits=st.dictionaries(st.sampled_from(sorted(BOUNDED)), st.sampled_from(EXTREMES), min_size=1,
                                 max_size=4))
    def case(edits):
        folder = tmp_path / str(next(counter))
        folder.mkdir()
        _train_outcome(folder, _config(edits), tiny_data, outcomes)
    case()
    capsys.readouterr()
    report("random extreme configs", outcomes)
    assert sum(outcomes.values()) == 60

