"""CLI: ``data generate``, ``data show`` and ``encode``."""
from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lava_convdelay.atomic import check_output_path
from lava_convdelay.bounds import Bounds, check_value
from lava_convdelay.encoding import ENCODING_BOUNDS, InputEncoding
from lava_convdelay.errors import UserError

MAX_SECONDS = 20  # of audio for `encode`: the basilar membrane needs the whole signal in memory


def run_generate(args: argparse.Namespace) -> int:
    from lava_convdelay.data.generate import GeneratorConfig, cache_dir, generate
    config = GeneratorConfig(**{**asdict(GeneratorConfig()),
                                **{k: v for k, v in (("per_class", args.per_class), ("seed", args.seed),
                                                     ("test_per_class", args.test_per_class)) if v is not None}})
    if args.workers is not None:
        check_value(args.workers, "--workers", Bounds(True, 1))
    try:
        train, test = generate(args.out or cache_dir(config), config, workers=args.workers, progress=True)
    except ValueError as err:
        raise UserError(str(err)) from None
    print(f"wrote {train} and {test}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from lava_convdelay.data.shd import SHDDataset
    from lava_convdelay.plots import plot_dataset
    check_value(args.per_class, "--per-class", Bounds(True, 1))
    check_value(args.dt, "--dt", ENCODING_BOUNDS["dt"])
    if args.duration is not None:
        check_value(args.duration, "--duration", ENCODING_BOUNDS["duration"])
    check_output_path(args.output or args.file.with_suffix(".png"))
    data = SHDDataset(args.file, dt=args.dt, pool=1, duration=args.duration)
    out = args.output or args.file.with_suffix(".png")
    plot_dataset(data, out, per_class=args.per_class)
    print(f"wrote {out}")
    return 0


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float audio and its sample rate from a PCM WAV file."""
    from scipy.io import wavfile
    try:
        rate, audio = wavfile.read(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such audio file") from None
    except ValueError as err:
        raise UserError(f"{path}: not a readable WAV file ({err})") from None
    if rate <= 0:
        raise UserError(f"{path}: the WAV header gives a sample rate of {rate} Hz")
    if audio.dtype == np.uint8:  # 8-bit WAV is unsigned around 128
        audio = audio.astype(np.float64) - 128
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.size < rate // 100:
        raise UserError(f"{path}: the recording is shorter than 10 ms")
    if audio.size > MAX_SECONDS * rate:
        raise UserError(f"{path}: the recording is {audio.size / rate:.0f} s long; the cochlea model "
                        f"transforms it whole (~0.5 GB per second), so cut it to at most {MAX_SECONDS} s")
    return audio, int(rate)


def run_encode(args: argparse.Namespace) -> int:
    from lava_convdelay.cli_lava import save_npy
    from lava_convdelay.data.cochlea import Cochlea, spikes_to_events
    from lava_convdelay.data.generate import SAMPLE_RATE, _resample
    from lava_convdelay.data.shd import bin_spikes
    InputEncoding(args.dt, args.pool, 1.0 if args.duration is None else args.duration,
                  min_spikes=args.min_spikes).check(prefix="--")
    check_value(args.seed, "--seed", Bounds(True, 0))
    check_output_path(args.output)
    audio, rate = read_wav(args.input)
    audio = _resample(audio, rate) if rate != SAMPLE_RATE else audio
    try:
        spikes, fs = Cochlea()(audio, SAMPLE_RATE, seed=args.seed)
    except ValueError as err:
        raise UserError(f"{args.input}: {err}") from None
    times, units = spikes_to_events(spikes, fs)
    duration = args.duration or audio.size / SAMPLE_RATE
    binned = bin_spikes(times, units, args.dt, args.pool, duration,
                        min_spikes=args.min_spikes).numpy().astype(np.uint8)
    save_npy(binned, args.output)
    print(f"wrote {args.output}: spikes [{binned.shape[0]} channels, {binned.shape[1]} steps], "
          f"{int(binned.sum())} spikes")
    return 0


def add_parser(subparsers) -> None:
    data = subparsers.add_parser("data", help="generate or look at spike datasets")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="synthesize the spoken-digit set (SHD format)")
    gen.add_argument("--out", type=Path, help="folder for train.h5 and test.h5 (default: the cache "
                     "that training with \"source\": \"generated\" reads, see docs/data.md)")
    gen.add_argument("--per-class", type=int, help="training utterances per class (default 30)")
    gen.add_argument("--test-per-class", type=int, help="test utterances per class (default 10)")
    gen.add_argument("--seed", type=int, help="default 0")
    gen.add_argument("--workers", type=int, help="processes (default: all cores)")
    gen.set_defaults(func=run_generate)
    show = sub.add_parser("show", help="save a spike-raster PNG of a few samples per class")
    show.add_argument("file", type=Path, help="SHD-format file")
    show.add_argument("-o", "--output", type=Path, help="PNG path (default: FILE.png)")
    show.add_argument("--per-class", type=int, default=2)
    show.add_argument("--dt", type=float, default=1e-3, help="raster bin, seconds")
    show.add_argument("--duration", type=float, help="seconds (default: the file's longest sample)")
    show.set_defaults(func=run_show)

    enc = subparsers.add_parser("encode", help="turn a WAV recording into spikes [channels, time] (.npy)")
    enc.add_argument("input", type=Path, help="PCM WAV file (mono, or averaged to mono)")
    enc.add_argument("-o", "--output", type=Path, required=True)
    enc.add_argument("--dt", type=float, default=10e-3, help="time step, seconds")
    enc.add_argument("--pool", type=int, default=5, help="channel pooling (700 / pool channels)")
    enc.add_argument("--duration", type=float, help="seconds (default: the recording's length)")
    enc.add_argument("--min-spikes", type=int, default=1,
                     help="events of the pooled channels that make a bin 1 (the network's training binning)")
    enc.add_argument("--seed", type=int, default=0, help="seed of the stochastic bushy-cell stage")
    enc.set_defaults(func=run_encode)
