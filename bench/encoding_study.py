"""Which encoding of users' own recordings serves a classifier best (issue 16).

A folder of eSpeak recordings (bench/make_recordings.py: 20 spoken-digit classes,
half the speakers at 8 kHz, noise, silences, varied lengths) is imported with
`data import` under several audio encodings, held-out speakers for testing;
the same non-spiking reference (bench/gru_baseline.py: a 2-layer GRU) is then
trained on each encoding's spikes, binned several ways, and on plain log-mel
features of the same audio. Results: bench/results/encoding_study.json and
BENCHMARKS.md.

    OMP_NUM_THREADS=2 .venv/bin/python bench/encoding_study.py --work /tmp/study
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from gru_baseline import train_gru  # noqa: E402
from make_recordings import make_recordings  # noqa: E402

from lava_convdelay.data.audio import SAMPLE_RATE, read_wav  # noqa: E402
from lava_convdelay.data.audio_encoding import AudioEncoding  # noqa: E402
from lava_convdelay.data.importer import import_recordings  # noqa: E402
from lava_convdelay.data.shd import read_shd  # noqa: E402

VARIANTS = {  # in the order they run (the first two are compared most)
    "shd": AudioEncoding.shd(1.0),  # SHD's chain in a 1-s buffer (data import --shd)
    "trim_centre_band": AudioEncoding(1.0, "centre", 20.0, "clip", 0.3, 4000.0),  # data import's default here
    "own_length_band": AudioEncoding(None, "centre", 20.0, "clip", 0.3, 4000.0),  # the same, each at its length
    "shd_own_length": AudioEncoding.shd(None),  # the embedded data's chain (v2)
    "trim_centre": AudioEncoding(1.0, "centre", 20.0, "clip", 0.3, None),  # all 700 channels
}
DT, POOL, STEPS = 0.01, 5, 100


def binned_counts(times, units, channels=700):
    """``[channels / POOL, STEPS]`` spike counts per pooled channel and 10-ms bin."""
    t = np.floor(np.asarray(times, np.float64) / DT * (1 + 1e-6)).astype(np.int64)
    keep = t < STEPS
    out = np.zeros((channels // POOL, STEPS), np.float32)
    np.add.at(out, (np.asarray(units, np.int64)[keep] // POOL, t[keep]), 1)
    return out


BINNINGS = {
    "or": lambda c: (c >= 1).astype(np.float32),  # SHD binning: any spike (binary)
    "count>=3": lambda c: (c >= 3).astype(np.float32),  # binary, at least 3 spikes
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


def spectral_split(files, labels, encoding):
    feats = []
    for path in files:
        audio, rate = read_wav(path)
        feats.append(log_mel(encoding.prepare(audio, rate)))
    return np.stack(feats), np.asarray(labels)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--speakers", type=int, default=16)
    parser.add_argument("--per-speaker", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "encoding_study.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    recordings = args.work / "recordings"
    if not (recordings / "manifest.csv").exists():
        make_recordings(recordings, args.speakers, args.per_speaker)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results.setdefault("rows", {})

    def record(name, seed, accuracy):
        results["rows"].setdefault(name, {})[str(seed)] = accuracy
        args.out.write_text(json.dumps(results, indent=1))
        print(f"{name:45s} seed {seed}: {100 * accuracy:.1f} %", flush=True)

    imports = {}

    def spikes_of(variant):
        if variant not in imports:
            begin = time.perf_counter()
            imported = import_recordings(recordings / "manifest.csv", args.work / variant, VARIANTS[variant],
                                         test_fraction=0.25, seed=0, progress=False)
            results.setdefault("import_seconds", {}).setdefault(variant, time.perf_counter() - begin)
            imports[variant] = (imported, read_shd(imported.train), read_shd(imported.test))
        return imports[variant]

    def run_spikes(variant, name):
        key = f"{variant} / {name}"
        imported, train, test = spikes_of(variant)
        x = {s: np.stack([BINNINGS[name](binned_counts(t, u)) for t, u in zip(d["times"], d["units"])])
             for s, d in (("train", train), ("test", test))}
        if name == "or":  # bin activity: the first 50 ms (silence where centred) and overall
            results.setdefault("activity", {})[variant] = {
                "first_50ms": float(x["train"][:, :, :5].mean()), "all": float(x["train"].mean())}
        for seed in args.seeds:
            if str(seed) not in results["rows"].get(key, {}):
                record(key, seed, train_gru(Arrays(x["train"], train["labels"]), Arrays(x["test"], test["labels"]),
                                            seed, args.epochs)["acc_float"])

    def run_spectral(name, encoding):
        import csv
        rows = list(csv.DictReader(open(recordings / "manifest.csv")))
        classes = sorted({r["label"] for r in rows})
        held = set(spikes_of(args.variants[0])[0].split.split(": ")[1].split(", "))
        parts = {}
        for split, keep in (("train", lambda r: r["speaker"] not in held), ("test", lambda r: r["speaker"] in held)):
            chosen = [r for r in rows if keep(r)]
            parts[split] = spectral_split([recordings / r["path"] for r in chosen],
                                          [classes.index(r["label"]) for r in chosen], encoding)
        mean = parts["train"][0].mean((0, 2), keepdims=True)
        std = parts["train"][0].std((0, 2), keepdims=True) + 1e-6
        for seed in args.seeds:
            if str(seed) not in results["rows"].get(name, {}):
                record(name, seed, train_gru(Arrays((parts["train"][0] - mean) / std, parts["train"][1]),
                                             Arrays((parts["test"][0] - mean) / std, parts["test"][1]), seed,
                                             args.epochs)["acc_float"])

    first, second = args.variants[:2]
    run_spikes(first, "or")
    run_spikes(second, "or")
    run_spectral("log-mel 40, centred", AudioEncoding(1.0, "centre", None, "buffer"))
    run_spikes(second, "count>=3")
    run_spikes(first, "count>=3")
    run_spikes(second, "counts")
    run_spikes(first, "counts")
    for variant in args.variants[2:]:
        run_spikes(variant, "or")
    run_spectral("log-mel 40, trimmed + centred", AudioEncoding(1.0, "centre", 20.0, "clip"))
    split_names = spikes_of(first)[0]
    results["settings"] = {"variants": {k: asdict(VARIANTS[k]) for k in args.variants}, "epochs": args.epochs,
                           "speakers": args.speakers, "per_speaker": args.per_speaker, "split": split_names.split}
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
