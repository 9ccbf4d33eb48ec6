"""CPU cost per second of audio of each encoder of `data import` (issue 28): the
cochlea chain and the delta encoder, on the same recordings, one thread, CPU
seconds of this process (so other jobs on the machine inflate them less than
wall time). Each encoder first encodes one recording untimed (numba kernels,
and the cochlea's transfer function for the 1-s buffer: its one-off cost,
reported apart); then every recording is read, prepared (resampled, trimmed,
placed in its 1-s buffer) and encoded.

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python bench/bench_encoder_speed.py \\
        /tmp/enc/set1/recordings --recordings 40 --out bench/results/encoder_speed.json
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from lava_convdelay.data.audio import read_wav
from lava_convdelay.data.audio_encoding import AudioEncoding

ENCODINGS = {  # the band of the study's recordings (half at 8 kHz)
    "cochlea": AudioEncoding(max_frequency=4000.0),
    "delta": AudioEncoding(max_frequency=4000.0, encoder="delta"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recordings", type=Path, help="a bench/make_recordings.py folder")
    parser.add_argument("--recordings", dest="count", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "encoder_speed.json")
    args = parser.parse_args()
    rows = list(csv.DictReader(open(args.recordings / "manifest.csv")))[:args.count]
    audio = [read_wav(args.recordings / row["path"]) for row in rows]
    results = {"recordings": len(audio), "audio_seconds": len(audio) * 1.0, "encoders": {}}
    for name, encoding in ENCODINGS.items():
        start = time.process_time()
        encoding.spikes(*audio[0], seed=0)
        first = time.process_time() - start
        start = time.process_time()
        events = sum(encoding.spikes(x, rate, seed=i)[0].size for i, (x, rate) in enumerate(audio))
        cpu = time.process_time() - start
        results["encoders"][name] = {"encoding": encoding.describe(), "cpu_s_per_audio_s": cpu / len(audio),
                                     "first_recording_cpu_s": first, "events": events}
        print(f"{name:8s} {cpu / len(audio):.4f} CPU s per s of audio (first recording {first:.2f} s), "
              f"{events / len(audio):.0f} events per recording", flush=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
