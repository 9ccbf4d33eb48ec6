"""Which encoding of users' own recordings serves a classifier best (issue 16).

A folder of eSpeak recordings (bench/make_recordings.py: 20 spoken-digit classes,
half the speakers at 8 kHz, noise, silences, varied lengths) is imported with
`data import` under several audio encodings, held-out speakers for testing;
the same non-spiking references (bench/gru_baseline.py: a 2-layer GRU;
bench/linear_baseline.py: logistic regression on segment means, which unlike
the GRU learns from 12 recordings per class) are then trained on each
encoding's spikes, binned several ways, and on plain log-mel features of the
same audio. Last, the spiking network users train (configs/demo.json's CRSNN
recipe) on the import's default chain with bins of at least 1 / 3 / 5 events.
Results: bench/results/encoding_study.json ("rows": GRU, per seed; "linear":
the deterministic linear reference; "crsnn": per seed) and BENCHMARKS.md.

    OMP_NUM_THREADS=2 .venv/bin/python bench/encoding_study.py --work /tmp/study
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from gru_baseline import train_gru  # noqa: E402
from linear_baseline import train_linear  # noqa: E402
from make_recordings import make_recordings  # noqa: E402

from lava_convdelay.data.audio import SAMPLE_RATE, read_wav  # noqa: E402
from lava_convdelay.data.audio_encoding import AudioEncoding  # noqa: E402
from lava_convdelay.data.cochlea import Cochlea  # noqa: E402
from lava_convdelay.data.importer import import_recordings  # noqa: E402
from lava_convdelay.data.shd import bin_index, read_shd  # noqa: E402
from lava_convdelay.training import load_config, train  # noqa: E402

VARIANTS = {  # in the order they run (the first two are compared most)
    "shd": AudioEncoding.shd(1.0),  # SHD's chain in a 1-s buffer (data import --shd)
    "trim_centre_band": AudioEncoding(1.0, "centre", 20.0, "clip", 0.3, 4000.0),  # data import's default here
    "own_length_band": AudioEncoding(None, "centre", 20.0, "clip", 0.3, 4000.0),  # the same, each at its length
    "shd_own_length": AudioEncoding.shd(None),  # the embedded data's chain (v2)
    "trim_centre": AudioEncoding(1.0, "centre", 20.0, "clip", 0.3, None),  # all 700 channels
}
DT, POOL, STEPS = 0.01, 5, 100
REFERENCES = ["linear", "hair-cell", "gru", "crsnn"]


def binned_counts(times, units, channels=700):
    """``[channels / POOL, STEPS]`` spike counts per pooled channel and 10-ms bin."""
    step = bin_index(times, DT)  # the toolkit's binning rule (docs/hdf5-format.md)
    keep = step < STEPS
    out = np.zeros((channels // POOL, STEPS), np.float32)
    np.add.at(out, (np.asarray(units, np.int64)[keep] // POOL, step[keep].astype(np.int64)), 1)
    return out


BINNINGS = {
    "or": lambda c: (c >= 1).astype(np.float32),  # SHD binning: any spike (binary)
    "count>=3": lambda c: (c >= 3).astype(np.float32),  # binary, at least 3 spikes (InputEncoding.min_spikes)
    "count>=5": lambda c: (c >= 5).astype(np.float32),  # binary, at least one spike per pooled channel
    "counts": lambda c: np.log1p(c),  # non-binary, for reference only
}


class Arrays(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def log_mel(audio: np.ndarray, bands: int = 40) -> np.ndarray:
    """``[bands, STEPS]`` log-mel energies: 25-ms Hann frames every 10 ms, 0-8 kHz."""
    from scipy.signal import stft
    _, _, spec = stft(audio, SAMPLE_RATE, nperseg=400, noverlap=240, nfft=512, boundary=None, padded=True)
    power = np.abs(spec[:, :STEPS]) ** 2
    hz = np.linspace(0, SAMPLE_RATE / 2, power.shape[0])
    mel = 2595 * np.log10(1 + hz / 700)
    edges = np.linspace(mel[0], mel[-1], bands + 2)
    weights = np.clip(np.minimum((mel[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None]),
                                 (edges[2:, None] - mel[None]) / (edges[2:, None] - edges[1:-1, None])), 0, None)
    out = np.log(weights @ power + 1e-8)
    return np.pad(out, ((0, 0), (0, STEPS - out.shape[1])), constant_values=out.min())


def hair_cell_rate(audio: np.ndarray, cochlea: Cochlea) -> np.ndarray:
    """``[700 / POOL, STEPS]`` log mean firing probability of the inner hair cells,
    pooled as the spikes are: the cochlea's information before the spikes sample it."""
    rate, fs = cochlea.firing_probability(audio, SAMPLE_RATE)
    rate = rate[:, : int(STEPS * DT * fs)]
    return np.log(rate.reshape(700 // POOL, POOL, STEPS, -1).mean((1, 3)) + 1e-6)


def spectral_split(files, labels, encoding, features):
    """``features(audio)`` of each file's ``encoding.prepare``d audio."""
    feats = []
    for path in files:
        audio, rate = read_wav(path)
        feats.append(features(encoding.prepare(audio, rate)))
    return np.stack(feats), np.asarray(labels)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--speakers", type=int, default=16)
    parser.add_argument("--per-speaker", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                        help="audio encodings (the first two are compared most)")
    parser.add_argument("--references", nargs="+", default=REFERENCES, choices=REFERENCES,
                        help="which classifiers run (hair-cell: the linear one on hair-cell rates)")
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--recordings-seed", type=int, default=0, help="make_recordings' seed (voices, noise)")
    parser.add_argument("--min-spikes", type=int, nargs="+", default=[1, 3, 5], help="the CRSNN's binnings")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "encoding_study.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    recordings = args.work / "recordings"
    if not (recordings / "manifest.csv").exists():
        make_recordings(recordings, args.speakers, args.per_speaker, args.recordings_seed)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results.setdefault("rows", {})
    results.setdefault("linear", {})

    def record(name, seed, accuracy):
        results["rows"].setdefault(name, {})[str(seed)] = accuracy
        args.out.write_text(json.dumps(results, indent=1))
        print(f"{name:45s} seed {seed}: {100 * accuracy:.1f} %", flush=True)

    def record_linear(name, x_train, y_train, x_test, y_test):
        if name not in results["linear"]:
            results["linear"][name] = train_linear(x_train, y_train, x_test, y_test)["acc_float"]
            args.out.write_text(json.dumps(results, indent=1))
            print(f"{name:45s} linear: {100 * results['linear'][name]:.1f} %", flush=True)

    imports = {}

    def spikes_of(variant):
        if variant not in imports:
            begin = time.perf_counter()
            imported = import_recordings(recordings / "manifest.csv", args.work / variant, VARIANTS[variant],
                                         test_fraction=args.test_fraction, seed=0, progress=False)
            results.setdefault("import_seconds", {}).setdefault(variant, time.perf_counter() - begin)
            imports[variant] = (imported, read_shd(imported.train), read_shd(imported.test))
        return imports[variant]

    def binned(variant, name):
        imported, train, test = spikes_of(variant)
        return train, test, {s: np.stack([BINNINGS[name](binned_counts(t, u)) for t, u in zip(d["times"], d["units"])])
                             for s, d in (("train", train), ("test", test))}

    def run_linear(variant):
        for name in BINNINGS:
            train, test, x = binned(variant, name)
            record_linear(f"{variant} / {name}", x["train"], train["labels"], x["test"], test["labels"])

    def run_spikes(variant, name):
        key = f"{variant} / {name}"
        train, test, x = binned(variant, name)
        if name == "or":  # bin activity: the first 50 ms (silence where centred) and overall
            results.setdefault("activity", {})[variant] = {
                "first_50ms": float(x["train"][:, :, :5].mean()), "all": float(x["train"].mean())}
        for seed in args.seeds:
            if str(seed) not in results["rows"].get(key, {}):
                record(key, seed, train_gru(Arrays(x["train"], train["labels"]), Arrays(x["test"], test["labels"]),
                                            seed, args.epochs)["acc_float"])

    def run_crsnn(variant, min_spikes):
        """The demo recipe's CRSNN on ``variant``'s files, bins of at least ``min_spikes`` events."""
        imported = spikes_of(variant)[0]
        key = f"{variant} / min_spikes {min_spikes}"
        for seed in args.seeds:
            if str(seed) in results.setdefault("crsnn", {}).get(key, {}):
                continue
            config = load_config(Path(__file__).parent.parent / "configs" / "demo.json")
            config["seed"] = seed
            config["data"] = dict(imported.data_section(), min_spikes=min_spikes)
            config["model"]["layers"][-1]["neurons"] = len(imported.classes)
            out = args.work / "crsnn" / f"{variant}-k{min_spikes}-s{seed}"
            shutil.rmtree(out, ignore_errors=True)
            train(config, out, progress=False)
            accuracy = json.loads((out / "metrics.json").read_text())[-1]["test_accuracy"]
            results["crsnn"].setdefault(key, {})[str(seed)] = accuracy
            args.out.write_text(json.dumps(results, indent=1))
            print(f"{key:45s} CRSNN seed {seed}: {100 * accuracy:.1f} %", flush=True)

    spectral = {}

    def spectral_features(name, encoding, features=log_mel):
        import csv
        if name in spectral:
            return spectral[name]
        rows = list(csv.DictReader(open(recordings / "manifest.csv")))
        classes = sorted({r["label"] for r in rows})
        held = set(spikes_of(args.variants[0])[0].split.split(": ")[1].split(", "))
        parts = {}
        for split, keep in (("train", lambda r: r["speaker"] not in held), ("test", lambda r: r["speaker"] in held)):
            chosen = [r for r in rows if keep(r)]
            parts[split] = spectral_split([recordings / r["path"] for r in chosen],
                                          [classes.index(r["label"]) for r in chosen], encoding, features)
        spectral[name] = parts
        return parts

    def run_spectral(name, encoding, seeds, features=log_mel):
        if name in results["linear"] and all(str(seed) in results["rows"].get(name, {}) for seed in seeds):
            return
        parts = spectral_features(name, encoding, features)
        record_linear(name, parts["train"][0], parts["train"][1], parts["test"][0], parts["test"][1])
        mean = parts["train"][0].mean((0, 2), keepdims=True)
        std = parts["train"][0].std((0, 2), keepdims=True) + 1e-6
        for seed in seeds:
            if str(seed) not in results["rows"].get(name, {}):
                record(name, seed, train_gru(Arrays((parts["train"][0] - mean) / std, parts["train"][1]),
                                             Arrays((parts["test"][0] - mean) / std, parts["test"][1]), seed,
                                             args.epochs)["acc_float"])

    first, second = args.variants[:2]
    centred, trimmed = AudioEncoding(1.0, "centre", None, "buffer"), AudioEncoding(1.0, "centre", 20.0, "clip")
    if "linear" in args.references:  # first: seconds per row, on every variant and binning
        run_spectral("log-mel 40, trimmed + centred", trimmed, [])
        run_spectral("log-mel 40, centred", centred, [])
        for variant in args.variants:
            run_linear(variant)
    if "hair-cell" in args.references:
        run_spectral(f"hair-cell rate, {second}", VARIANTS[second], [],
                     partial(hair_cell_rate, cochlea=VARIANTS[second].cochlea()))
    if "gru" in args.references:
        run_spikes(first, "or")
        run_spikes(second, "or")
        run_spectral("log-mel 40, centred", centred, args.seeds)
        run_spikes(second, "count>=3")
        run_spikes(first, "count>=3")
        run_spikes(second, "counts")
        run_spikes(first, "counts")
        for variant in args.variants[2:]:
            run_spikes(variant, "or")
        run_spectral("log-mel 40, trimmed + centred", trimmed, args.seeds)
        run_spikes(second, "count>=5")
    if "crsnn" in args.references:
        for min_spikes in args.min_spikes:
            run_crsnn(second, min_spikes)
    split_names = spikes_of(first)[0]
    results["settings"] = {"variants": {k: asdict(VARIANTS[k]) for k in args.variants}, "epochs": args.epochs,
                           "speakers": args.speakers, "per_speaker": args.per_speaker,
                           "recordings_seed": args.recordings_seed, "split": split_names.split}
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
