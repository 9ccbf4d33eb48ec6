"""Which spike encoder of users' own recordings keeps most of what a spectrogram
keeps (issue 28): the delta encoder (send-on-delta on mel log energies,
lava_convdelay/data/mel_delta.py) over a grid of its settings, against the
import's cochlea chain and plain log-mel features of the same trimmed audio.

A folder of bench/make_recordings.py eSpeak recordings is imported with
`data import` (`import_recordings`, the band from the recordings' rates as the
command's default) under each candidate encoding, held-out speakers for the
test set; the same classifiers are then trained on each candidate's binned
input (``SHDDataset``: exactly what training sees): the linear reference
(bench/linear_baseline.py, deterministic), the GRU (bench/gru_baseline.py, per
seed) and the demo recipe's CRSNN (configs/demo.json, per seed). Beside each
accuracy: what the chip receives, active input bins per second per network
input channel (and the encoder's raw events per second per event channel).

Candidates are named ``ENCODER[/BINNING]``: ``cochlea`` (the import's default
chain) or ``delta-cC-sS-rR-lL`` (channels C, step_db S, range_db R, levels L);
binning ``pP-kK`` (pool P, min_spikes K; default: the import's recommendation).
Results resume from ``--out`` (a row runs once).

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python bench/encoder_study.py --work /tmp/enc/set1 \\
        --candidates cochlea delta-c128-s3-r40-l1 --references linear gru --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from encoding_study import Arrays, log_mel, spectral_split  # noqa: E402
from gru_baseline import train_gru  # noqa: E402
from linear_baseline import train_linear  # noqa: E402
from make_recordings import make_recordings  # noqa: E402

from lava_convdelay.data.audio_encoding import AudioEncoding  # noqa: E402
from lava_convdelay.data.importer import import_recordings  # noqa: E402
from lava_convdelay.data.shd import SHDDataset  # noqa: E402
from lava_convdelay.train import load_config, train  # noqa: E402

REFERENCES = ["linear", "gru", "crsnn"]
LOG_MEL = "log-mel 40, trimmed + centred"  # the yardstick, as in bench/encoding_study.py


def parse_candidate(name: str) -> tuple[AudioEncoding, dict | None]:
    """``(audio encoding, binning or None: the import's)`` of a candidate's name."""
    encoder, _, binning = name.partition("/")
    if encoder == "cochlea":
        encoding = AudioEncoding()
    else:
        match = re.fullmatch(r"delta-c(\d+)-s([\d.]+)-r([\d.]+)-l(\d+)", encoder)
        if not match:
            raise SystemExit(f"{name}: not a candidate (cochlea or delta-cC-sS-rR-lL[/pP-kK])")
        channels, step, span, levels = match.groups()
        encoding = AudioEncoding(encoder="delta", channels=int(channels), step_db=float(step),
                                 range_db=float(span), levels=int(levels))
    if not binning:
        return encoding, None
    match = re.fullmatch(r"p(\d+)-k(\d+)", binning)
    if not match:
        raise SystemExit(f"{name}: binning must be pP-kK")
    return encoding, {"pool": int(match.group(1)), "min_spikes": int(match.group(2))}


def safe(name: str) -> str:
    """``name`` as a file name."""
    return re.sub(r"[^\w.-]", "_", name)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--speakers", type=int, default=16)
    parser.add_argument("--per-speaker", type=int, default=1)
    parser.add_argument("--recordings-seed", type=int, default=0, help="make_recordings' seed (voices, noise)")
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--candidates", nargs="+", required=True)
    parser.add_argument("--references", nargs="+", default=["linear"], choices=REFERENCES)
    parser.add_argument("--log-mel", action="store_true", help="also the references on log-mel features")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2, help="import workers")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the classifiers")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recordings = args.work / "recordings"
    if not (recordings / "manifest.csv").exists():
        make_recordings(recordings, args.speakers, args.per_speaker, args.recordings_seed)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    rows = results.setdefault("rows", {})

    def save():
        args.out.write_text(json.dumps(results, indent=1))

    def imported(encoding: AudioEncoding, key: str):
        folder = args.work / safe(key)
        begin = time.perf_counter()
        result = import_recordings(recordings / "manifest.csv", folder, encoding, test_fraction=args.test_fraction,
                                   seed=0, workers=args.workers, progress=False, band_from_rates=True)
        results.setdefault("import_seconds", {}).setdefault(key, time.perf_counter() - begin)
        results.setdefault("split", result.split)
        return result

    def stacked(dataset):
        return np.stack([dataset[i][0].numpy() for i in range(len(dataset))]), dataset.labels

    for name in args.candidates:
        encoding, binning = parse_candidate(name)
        encoder_key = name.partition("/")[0]
        result = imported(encoding, encoder_key)
        section = result.data_section()
        if binning:
            section.update(binning)
        key = f"{encoder_key}/p{section['pool']}-k{section['min_spikes']}"
        row = rows.setdefault(key, {})
        settings = {k: section[k] for k in ("dt", "pool", "duration", "min_spikes")}
        train_set, test_set = SHDDataset(result.train, **settings), SHDDataset(result.test, **settings)
        x_train, y_train = stacked(train_set)
        x_test, y_test = stacked(test_set)
        if "rates" not in row:
            seconds = len(train_set) * train_set.duration
            events = sum(t.size for t in train_set.data["times"])
            row["encoding"] = result.encoding.to_json()
            row["input_channels"] = int(x_train.shape[1])
            row["rates"] = {  # training set: every recording's 1-s buffer
                "events_per_s_per_event_channel": events / seconds / train_set.encoding.source_channels,
                "input_spikes_per_s_per_input": float(x_train.sum()) / seconds / x_train.shape[1],
                "input_spikes_per_s": float(x_train.sum()) / seconds}
            save()
        print(f"{key:40s} {row['input_channels']:4d} inputs, "
              f"{row['rates']['input_spikes_per_s_per_input']:6.2f} spikes/s/input", flush=True)
        if "linear" in args.references and "linear" not in row:
            row["linear"] = train_linear(x_train, y_train, x_test, y_test)["acc_float"]
            save()
            print(f"{key:40s} linear {100 * row['linear']:.1f} %", flush=True)
        if "gru" in args.references:
            for seed in args.seeds:
                if str(seed) not in row.setdefault("gru", {}):
                    row["gru"][str(seed)] = train_gru(Arrays(x_train, y_train), Arrays(x_test, y_test), seed,
                                                      args.epochs)["acc_float"]
                    save()
                    print(f"{key:40s} GRU seed {seed}: {100 * row['gru'][str(seed)]:.1f} %", flush=True)
        if "crsnn" in args.references:
            for seed in args.seeds:
                if str(seed) in row.setdefault("crsnn", {}):
                    continue
                config = load_config(Path(__file__).parent.parent / "configs" / "demo.json")
                config["seed"] = seed
                config["data"] = section
                config["model"]["layers"][-1]["neurons"] = len(result.classes)
                out = args.work / "crsnn" / f"{safe(key)}-s{seed}"
                shutil.rmtree(out, ignore_errors=True)
                begin = time.perf_counter()
                train(config, out, progress=False)
                metrics = json.loads((out / "metrics.json").read_text())
                row["crsnn"][str(seed)] = metrics[-1]["test_accuracy"]
                row.setdefault("crsnn_seconds", {})[str(seed)] = time.perf_counter() - begin
                save()
                print(f"{key:40s} CRSNN seed {seed}: {100 * row['crsnn'][str(seed)]:.1f} %", flush=True)

    if args.log_mel:
        row = rows.setdefault(LOG_MEL, {})
        wanted = ("linear" in args.references and "linear" not in row) or (
            "gru" in args.references and any(str(s) not in row.get("gru", {}) for s in args.seeds))
        if wanted:
            manifest = list(csv.DictReader(open(recordings / "manifest.csv")))
            classes = sorted({r["label"] for r in manifest})
            held = set(results["split"].split(": ")[1].split(", "))
            parts = {}
            for split, keep in (("train", lambda r: r["speaker"] not in held),
                                ("test", lambda r: r["speaker"] in held)):
                chosen = [r for r in manifest if keep(r)]
                parts[split] = spectral_split([recordings / r["path"] for r in chosen],
                                              [classes.index(r["label"]) for r in chosen],
                                              AudioEncoding(1.0, "centre", 20.0, "clip"), log_mel)
            (x_train, y_train), (x_test, y_test) = parts["train"], parts["test"]
            if "linear" in args.references and "linear" not in row:
                row["linear"] = train_linear(x_train, y_train, x_test, y_test)["acc_float"]
                save()
                print(f"{LOG_MEL:40s} linear {100 * row['linear']:.1f} %", flush=True)
            if "gru" in args.references:
                mean, std = x_train.mean((0, 2), keepdims=True), x_train.std((0, 2), keepdims=True) + 1e-6
                for seed in args.seeds:
                    if str(seed) not in row.setdefault("gru", {}):
                        row["gru"][str(seed)] = train_gru(Arrays((x_train - mean) / std, y_train),
                                                          Arrays((x_test - mean) / std, y_test), seed,
                                                          args.epochs)["acc_float"]
                        save()
                        print(f"{LOG_MEL:40s} GRU seed {seed}: {100 * row['gru'][str(seed)]:.1f} %", flush=True)
    results["settings"] = {"speakers": args.speakers, "per_speaker": args.per_speaker,
                           "recordings_seed": args.recordings_seed, "epochs": args.epochs,
                           "test_fraction": args.test_fraction}
    save()


if __name__ == "__main__":
    main()
