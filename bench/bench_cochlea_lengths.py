"""Cochlea cost per second of audio for recordings of many lengths (issue 16):
the padded FFT lengths (`padded_length`, one transfer function per step of the
grid) against the unpadded computation, which needs a transfer function per
length (what `encode` and the cochlea did before). CPU seconds of this process
(one thread), so other jobs on the machine inflate them less than wall time.

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python bench/bench_cochlea_lengths.py [--clips 24] [--old 4]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from lava_convdelay.data import cochlea
from lava_convdelay.data.cochlea import BasilarMembrane, BushyCell, Cochlea, HairCell, normalise_and_window

FS = 16000


def clip(seconds: float, rng) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.3 * rng.standard_normal(t.size)


def old_chain(x: np.ndarray, seed: int) -> np.ndarray:
    """The cochlea before issue 16: the basilar membrane at the signal's own length."""
    velocity, fs = BasilarMembrane()(normalise_and_window(x), FS)
    return BushyCell()(HairCell()(velocity, fs), fs, seed)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=24, help="recordings, lengths uniform in [0.3, 1.5] s")
    parser.add_argument("--old", type=int, default=4, help="of them, run through the old chain too")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cochlea_lengths.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    lengths = np.round(rng.uniform(0.3, 1.5, args.clips), 4)
    clips = [clip(s, rng) for s in lengths]
    Cochlea()(clip(0.1, rng), FS, 0)  # numba kernels compiled (cached on disk)
    rows = []
    for i, x in enumerate(clips):
        hits = cochlea._transfer.cache_info().misses
        start = time.process_time()
        Cochlea()(x, FS, seed=i)
        new = time.process_time() - start
        rows.append({"seconds": float(lengths[i]), "fft_seconds": cochlea.padded_length(x.size, FS) / FS,
                     "new_cpu": new, "new_transfer": cochlea._transfer.cache_info().misses > hits})
    for i, x in enumerate(clips[:args.old]):
        start = time.process_time()
        old_chain(x, i)
        rows[i]["old_cpu"] = time.process_time() - start
    audio = float(lengths.sum())
    new_total = sum(r["new_cpu"] for r in rows)
    steady = [r for r in rows if not r["new_transfer"]]
    old = [r for r in rows if "old_cpu" in r]
    summary = {
        "clips": args.clips, "audio_seconds": audio,
        "distinct_fft_lengths": sorted({r["fft_seconds"] for r in rows}),
        "new_cpu_per_audio_second_all": new_total / audio,
        "new_cpu_per_audio_second_without_transfer":
            sum(r["new_cpu"] for r in steady) / sum(r["seconds"] for r in steady),
        "old_cpu_per_audio_second": sum(r["old_cpu"] for r in old) / sum(r["seconds"] for r in old),
        "new_cpu_per_audio_second_same_clips": sum(r["new_cpu"] for r in old) / sum(r["seconds"] for r in old),
        "rows": rows,
    }
    args.out.write_text(json.dumps(summary, indent=1))
    for key, value in summary.items():
        if key != "rows":
            print(f"{key}: {value if not isinstance(value, float) else round(value, 3)}")


if __name__ == "__main__":
    main()
