"""CLI: ``classify NET.h5 A.wav [B.wav ...]``: the class a network hears in each
recording, by its own decision rule (:mod:`lava_convdelay.nn.readout`), on the
fixed-point simulator (default) or Lava.

Each recording is encoded as the network's training data was: the audio chain
that ``data import`` recorded in the data and ``export`` in the network file
(``/lava_convdelay_meta/input/audioEncoding``), then binned as training binned
it (``dt``, ``pool``, ``duration``). A file without the audio record is encoded
with the SHD chain (the embedded data's), and says so. With ``--window`` the
recording is cut into windows of that many seconds every ``--hop`` seconds,
each window encoded and classified alone: a timeline of detections. Windows
start every ``--hop`` seconds from 0 until one reaches the recording's end, so
every window starts inside the recording and the last may be cut by its end; a
hop longer than the window leaves gaps between windows.
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from lava_convdelay.bounds import SEED_BOUNDS, Bounds, check_value
from lava_convdelay.data.audio import MAX_READ_SECONDS
from lava_convdelay.errors import UserError
from lava_convdelay.nn.readout import decide, scores


def _encodings(spec, path: Path):
    """``(audio encoding, binning)`` of the network's input, with a note where not recorded."""
    from lava_convdelay.data.audio_encoding import AudioEncoding, AudioEncodingError
    from lava_convdelay.data.encoding import InputEncoding
    binning = spec.encoding
    if binning is None:
        binning = InputEncoding()
        if binning.channels != spec.input_size:
            raise UserError(f"{path}: does not record how its input was made, and the network takes "
                            f"{spec.input_size} channels, not the default {binning.channels}")
        print(f"note: {path} does not record how its input was made; using {binning.describe()}")
    if binning.audio is None:
        try:
            audio = AudioEncoding.shd(binning.duration)
        except AudioEncodingError as err:  # a binning longer than the cochlea takes
            raise UserError(f"{path}: the input record's duration of {binning.duration:g} s cannot be encoded "
                            f"({err})") from None
        print(f"note: {path} does not record an audio encoding (its data did not come from `data import`); "
              f"encoding with the SHD chain: {audio.describe()}")
    else:
        audio = AudioEncoding.from_json(binning.audio, f"{path}: /lava_convdelay_meta/input/audioEncoding")
    if audio.channels != binning.source_channels:
        raise UserError(f"{path}: the audio encoding gives {audio.channels} channels but the binning expects "
                        f"{binning.source_channels}")
    return audio, binning


#: windows encoded and simulated together (bounds the memory of long timelines)
CHUNK = 64


def _windows(samples: np.ndarray, rate: int, window: float | None, hop: float | None):
    """``(start seconds, end seconds, samples)`` of the whole recording, or of windows of
    ``window`` seconds every ``hop`` seconds: from 0 until one reaches the end, each
    starting inside the recording, the last cut by its end."""
    if window is None:
        yield 0.0, samples.size / rate, samples
        return
    size, step = max(1, int(round(window * rate))), max(1, int(round(hop * rate)))
    start = 0
    while True:
        end = min(samples.size, start + size)
        yield start / rate, end / rate, samples[start:end]
        if end >= samples.size or start + step >= samples.size:
            return
        start += step


def _classify(spec, spikes: np.ndarray, backend: str) -> tuple[np.ndarray, np.ndarray]:
    """Decisions and scores ``[samples]``, ``[samples, outputs]`` of 0/1 ``spikes``."""
    voltage = spec.readout == "voltage_sum"
    if backend == "lava":
        from sim.cpu.runner import LavaRunner
        results = LavaRunner(spec).run_many(spikes, record_voltage=voltage, progress=False)
        output = np.stack([r.voltage if voltage else r.output for r in results])
    else:
        from sim.fixed_point import simulate
        result = simulate(spec, spikes, record_voltage=voltage)
        output = result.voltage if voltage else result.output
    return decide(output, spec.readout), scores(output, spec.readout)


def run_classify(args: argparse.Namespace) -> int:
    from lava_convdelay.data.audio import read_wav
    from lava_convdelay.data.audio_encoding import AudioEncodingError, SilentAudioError
    from lava_convdelay.data.shd import bin_spikes
    from netx_export.reader import read_network
    check_value(args.seed, "--seed", SEED_BOUNDS)
    check_value(args.top, "--top", Bounds(True, 1))
    if args.window is not None:
        # no window or hop beyond the longest recording any command reads
        check_value(args.window, "--window", Bounds(False, 0.01, MAX_READ_SECONDS))
        check_value(args.window if args.hop is None else args.hop, "--hop", Bounds(False, 0.001, MAX_READ_SECONDS))
    elif args.hop is not None:
        raise UserError("--hop needs --window")
    spec = read_network(args.network)
    audio_encoding, binning = _encodings(spec, args.network)
    names = spec.class_names or []
    unit = "summed voltage" if spec.readout == "voltage_sum" else "spike count"

    def label(k: int) -> str:
        return names[k] if k < len(names) else f"output {k}"

    def encode(wav: Path, start: float, end: float, piece: np.ndarray, rate: int) -> np.ndarray | None:
        """0/1 input ``[channels, steps]`` of one piece; ``None`` where it is silent."""
        try:
            times, units = audio_encoding.spikes(piece, rate, args.seed)
        except SilentAudioError:  # a window of digital silence: nothing to classify
            return None
        except AudioEncodingError as err:
            where = "" if args.window is None else f" {start:.2f}-{end:.2f} s"
            raise UserError(f"{wav}{where}: {err}") from None
        return bin_spikes(times, units, channels=binning.source_channels, **binning.binning()).numpy()

    for wav in args.recordings:
        samples, rate = read_wav(wav)
        pieces = _windows(samples, rate, args.window, args.window if args.hop is None else args.hop)
        while batch := list(itertools.islice(pieces, CHUNK)):
            chunk = [(start, end, encode(wav, start, end, piece, rate)) for start, end, piece in batch]
            heard = [spikes for _, _, spikes in chunk if spikes is not None]
            decided, score = _classify(spec, np.stack(heard).astype(np.uint8), args.backend) if heard else ([], [])
            results = iter(zip(decided, score))
            for start, end, spikes in chunk:
                where = f"{wav}" if args.window is None else f"{wav} {start:7.2f}-{end:.2f} s"
                if spikes is None:
                    print(f"{where}: (silent)")
                    continue
                k, row = next(results)
                ranked = np.argsort(-row, kind="stable")[: args.top]
                print(f"{where}: {label(int(k))}  ({unit}: "
                      + ", ".join(f"{label(int(j))} {int(row[j])}" for j in ranked) + ")", flush=True)
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("classify", help="the class a network file hears in WAV recordings",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("network", type=Path, help="network file (.h5) from export")
    parser.add_argument("recordings", type=Path, nargs="+", help="WAV files")
    parser.add_argument("--backend", choices=("fixed", "lava"), default="fixed",
                        help="fixed-point simulator (default; bit-exact with Lava) or Lava's CPU simulator")
    parser.add_argument("--window", type=float, help="classify windows of this many seconds (a timeline)")
    parser.add_argument("--hop", type=float, help="seconds between windows (default: --window)")
    parser.add_argument("--top", type=int, default=3, help="scores shown per line (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cochlea's bushy cells (default 0)")
    parser.set_defaults(func=run_classify)
