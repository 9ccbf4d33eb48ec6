"""CLI: ``data generate``, ``data show``, ``data import``, ``data fetch`` and ``encode``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lava_convdelay.atomic import check_output_path
from lava_convdelay.bounds import SEED_BOUNDS, Bounds, check_value
from lava_convdelay.data.encoding import ENCODING_BOUNDS, InputEncoding
from lava_convdelay.errors import UserError

#: ``data import``'s encoder: the one that kept most of log-mel features' accuracy at
#: the fewest input spikes on held-out speakers (BENCHMARKS.md, "Encoders (issue 28)");
#: ``--shd`` keeps SHD's cochlea chain, ``encode`` and the embedded digits the cochlea
IMPORT_ENCODER = "delta"


def run_generate(args: argparse.Namespace) -> int:
    from lava_convdelay.data.generate import GeneratorConfig, cache_dir, generate
    from lava_convdelay.data.vocabulary import vocabulary_setting
    given = {"per_class": args.per_class, "seed": args.seed, "test_per_class": args.test_per_class,
             "vocabulary": None if args.vocabulary is None else vocabulary_setting(args.vocabulary)}
    config = GeneratorConfig(**{k: v for k, v in given.items() if v is not None})
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
    from lava_convdelay.training.plots import plot_dataset
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


def _seconds_or(word: str):
    """argparse type: a number of seconds, or ``word`` (-> None)."""
    def parse(text: str):
        if text == word:
            return None
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds or '{word}', got {text!r}") from None
    return parse


#: ``data import`` / ``encode`` options that set the delta encoder, and their settings
DELTA_OPTIONS = {"channels": "--channels", "levels": "--levels", "step_db": "--step-db", "range_db": "--range-db"}


def encoder_settings(args: argparse.Namespace, default: str) -> dict:
    """``encoder`` and the delta encoder's settings that the options give (``--encoder``,
    else ``default``); the values are checked by :class:`AudioEncoding`, which names the
    setting. The cochlea takes none of them: its places are its channels, pooled as SHD's."""
    from lava_convdelay.data.audio_encoding import ENCODERS
    encoder = default if args.encoder is None else args.encoder
    if encoder not in ENCODERS:
        raise UserError(f"--encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
    settings = {"encoder": encoder}
    for name, option in DELTA_OPTIONS.items():
        text = getattr(args, name)
        if text is None:
            continue
        if encoder != "delta":
            raise UserError(f"{option} sets the delta encoder; add --encoder delta (the {encoder} takes no "
                            f"{option})")
        settings[name] = _integer(text, option) if name in ("channels", "levels") else _number(text, option)
    return settings


def import_encoding(args: argparse.Namespace):
    """The :class:`AudioEncoding` that ``data import``'s options ask for, and whether the
    band comes from the recordings' rates."""
    from lava_convdelay.data.audio_encoding import AudioEncoding
    if args.shd:
        chosen = [f"--{k.replace('_', '-')}" for k in ("placement", "trim_db", "level", "max_frequency", "normalise",
                                                       *DELTA_OPTIONS) if getattr(args, k) is not None]
        if args.encoder not in (None, "cochlea"):
            chosen.insert(0, f"--encoder {args.encoder}")
        if chosen:
            raise UserError(f"--shd fixes the chain (SHD's cochlea); drop {', '.join(chosen)}")
        return AudioEncoding.shd(args.duration), False
    default = AudioEncoding()
    encoder = encoder_settings(args, IMPORT_ENCODER)
    band = args.max_frequency or "auto"
    if band == "shd" and encoder["encoder"] != "cochlea":
        raise UserError(f"--max-frequency shd is the cochlea's SHD channel map; the {encoder['encoder']} encoder "
                        f"takes 'auto' or a number of Hz")
    settings = {"duration": args.duration,
                "placement": args.placement or default.placement,
                "trim_db": default.trim_db if args.trim_db is None else (None if args.trim_db == "off" else
                                                                          _number(args.trim_db, "--trim-db")),
                "normalise": args.normalise or default.normalise,
                "level": default.level if args.level is None else args.level,
                "max_frequency": None if band in ("auto", "shd") else _number(band, "--max-frequency"),
                **encoder}
    return AudioEncoding(**settings), band == "auto"


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{option} must be a number, got {text!r}") from None


def _integer(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{option} must be an integer, got {text!r}") from None


def run_import(args: argparse.Namespace) -> int:
    from lava_convdelay.data.importer import import_recordings
    check_value(args.test_fraction, "--test-fraction", Bounds(False, 0, 1, low_allowed=False, high_allowed=False))
    from lava_convdelay.data.audio import MAX_READ_SECONDS, MAX_SECONDS
    from lava_convdelay.data.audio_encoding import FRAME, MAX_LEVEL
    check_value(args.seed, "--seed", SEED_BOUNDS)
    check_value(args.max_seconds, "--max-seconds", Bounds(False, 0, MAX_READ_SECONDS, low_allowed=False))
    if args.duration is not None:  # the cochlea transforms the whole buffer
        check_value(args.duration, "--duration", Bounds(False, FRAME, MAX_SECONDS))
    if args.level is not None:
        check_value(args.level, "--level", Bounds(False, 0, MAX_LEVEL, low_allowed=False))
    if args.workers is not None:
        check_value(args.workers, "--workers", Bounds(True, 1))
    encoding, band_from_rates = import_encoding(args)
    result = import_recordings(args.recordings, args.out, encoding, args.test_fraction, args.seed, args.skip_bad,
                               args.workers, progress=True, max_seconds=args.max_seconds,
                               band_from_rates=band_from_rates)
    print(f"wrote {result.train} ({result.counts['train']} recordings) and {result.test} "
          f"({result.counts['test']}); {len(result.classes)} classes: {', '.join(result.classes)}")
    print(f"split: {result.split}; encoding: {result.encoding.describe()}")
    if result.cut:
        print(f"note: {result.cut} recording(s) longer than {result.encoding.duration:g} s were cut to it")
    if result.skipped:
        print(f"skipped {len(result.skipped)} recording(s), listed in {args.out / 'skipped.txt'}")
    print(f'train with "data": {json.dumps(result.data_section())}')
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from lava_convdelay.data.fetch import BASE_URL, fetch
    paths = fetch(args.dataset, args.dir, url_base=args.url_base or BASE_URL, progress=True)
    print(f"{args.dataset}: {', '.join(str(p) for p in paths)}")
    section = {"source": args.dataset}
    if args.dir is not None:  # elsewhere than where the source looks by default
        section.update({split: str(args.dir / f"{args.dataset}_{split}.h5") for split in ("train", "test")})
    print(f'train with "data": {json.dumps(section)}')
    return 0


def run_encode(args: argparse.Namespace) -> int:
    from lava_convdelay.app.spike_files import save_npy
    from lava_convdelay.data.audio import read_wav
    from lava_convdelay.data.audio_encoding import AudioEncoding
    from lava_convdelay.data.importer import DELTA_MIN_SPIKES, DELTA_POOL
    from lava_convdelay.data.shd import bin_spikes
    settings = encoder_settings(args, "cochlea")
    if settings["encoder"] == "cochlea":  # the SHD chain, as the embedded data's
        encoding, pool, min_spikes = AudioEncoding.shd(duration=None), 5, 1
    else:  # the import's chain (trimmed, placed, normalised) at the recording's own length
        encoding, pool, min_spikes = AudioEncoding(duration=None, **settings), DELTA_POOL, DELTA_MIN_SPIKES
    pool = pool if args.pool is None else args.pool
    min_spikes = min_spikes if args.min_spikes is None else args.min_spikes
    InputEncoding(args.dt, pool, 1.0 if args.duration is None else args.duration, encoding.channels,
                  min_spikes=min_spikes).check(prefix="--")
    check_value(args.seed, "--seed", SEED_BOUNDS)
    check_output_path(args.output)
    audio, rate = read_wav(args.input)
    times, units = encoding.spikes(audio, rate, seed=args.seed)
    duration = args.duration or audio.size / rate
    binned = bin_spikes(times, units, args.dt, pool, duration, channels=encoding.channels,
                        min_spikes=min_spikes).numpy().astype(np.uint8)
    save_npy(binned, args.output)
    print(f"wrote {args.output}: spikes [{binned.shape[0]} channels, {binned.shape[1]} steps], "
          f"{int(binned.sum())} spikes ({settings['encoder']}: {encoding.describe()})")
    return 0


def _encoder_options(parser: argparse.ArgumentParser, default: str) -> None:
    """``--encoder`` and the delta encoder's settings, as text: :class:`AudioEncoding` checks
    them (one-line errors). The defaults shown are :class:`MelDelta`'s (not imported here:
    its numba would slow every command's start; tests/test_encoder_cli.py compares them)."""
    parser.add_argument("--encoder", metavar="{cochlea,delta}",
                        help=f"cochlea (the SHD chain's basilar membrane, hair and bushy cells) or delta "
                             f"(send-on-delta on mel log energies, deterministic; docs/data.md) (default {default})")
    parser.add_argument("--channels", help="delta: event channels, 2 (up, down) x levels x mel bands (default 128)")
    parser.add_argument("--levels", help="delta: parts of the level range, each with its own channels (default 1)")
    parser.add_argument("--step-db", help="delta: dB of log-energy change per event (default 4)")
    parser.add_argument("--range-db", help="delta: dB below the recording's loudest band and frame that are "
                                           "encoded (default 30)")


def add_parser(subparsers) -> None:
    data = subparsers.add_parser("data", help="generate or look at spike datasets")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="synthesize the spoken-digit set, or a keyword set (SHD format)")
    gen.add_argument("--out", type=Path, help="folder for train.h5 and test.h5 (default: the cache "
                     "that training with \"source\": \"generated\" reads, see docs/data.md)")
    gen.add_argument("--vocabulary", help="digits (default), speech-commands (the 35 keywords of Speech "
                     "Commands v2), or a word-list file (one word per line); docs/data.md")
    gen.add_argument("--per-class", type=int, help="training utterances per class (default 30 digits, 100 words)")
    gen.add_argument("--test-per-class", type=int, help="test utterances per class (default 10 digits, 30 words)")
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

    imp = sub.add_parser("import", help="labelled WAV recordings -> SHD-format train.h5 / test.h5",
                         description="Import a folder of labelled recordings (RECORDINGS/<class>/*.wav) or a CSV "
                         "manifest (header: path,label[,speaker][,split]) into SHD-format train.h5 / test.h5 and "
                         "import.json (the settings); see docs/data.md. Re-running continues an interrupted import.")
    imp.add_argument("recordings", type=Path, help="folder of class folders, or a CSV manifest")
    imp.add_argument("-o", "--out", type=Path, required=True, help="folder for train.h5, test.h5, import.json")
    imp.add_argument("--duration", type=_seconds_or("own"), default=1.0,
                     help="seconds per sample: recordings are padded / cut to it (default 1); 'own': each its own "
                          "length")
    imp.add_argument("--placement", choices=("centre", "start"), help="where a recording goes in the buffer "
                     "(default centre)")
    imp.add_argument("--trim-db", help="trim leading / trailing audio more than this many dB below the loudest "
                     "10-ms frame (default 20); 'off': keep it")
    imp.add_argument("--normalise", choices=("clip", "buffer"), help="scale the recording (default) or the whole "
                     "padded buffer (SHD) to the RMS level")
    imp.add_argument("--level", type=float, help="RMS level (default 0.3, SHD's)")
    imp.add_argument("--max-frequency", help="Hz of the highest cochlea channel or mel band; 'auto' (default): "
                     "the Nyquist frequency of the lowest-rate recording, at most 8000; 'shd' (cochlea): SHD's "
                     "channel map")
    imp.add_argument("--shd", action="store_true", help="the SHD / embedded-data chain: SHD's cochlea, no "
                     "trimming, recording at the buffer's start, buffer normalised, SHD's channels (for SHD "
                     "comparability)")
    _encoder_options(imp, IMPORT_ENCODER)
    imp.add_argument("--test-fraction", type=float, default=0.2, help="share of recordings (or of speakers' "
                     "recordings) for testing, where the manifest gives no split (default 0.2)")
    imp.add_argument("--seed", type=int, default=0, help="seed of the split and of the cochlea (default 0)")
    imp.add_argument("--skip-bad", action="store_true", help="leave out recordings that cannot be used, listing "
                     "them in skipped.txt (default: stop)")
    imp.add_argument("--workers", type=int, help="processes (default: all cores)")
    imp.add_argument("--max-seconds", type=float, default=20.0, help="longest recording accepted (default 20)")
    imp.set_defaults(func=run_import)

    fetch = sub.add_parser("fetch", help="download SHD or SSC (internet), checked against the published MD5",
                           description="Download the Spiking Heidelberg Digits (shd: train, test) or Spiking Speech "
                           "Commands (ssc: train, valid, test) from the Zenke lab, check each archive's MD5 against "
                           "the published digest, decompress and check the SHD format; an interrupted download "
                           "continues where it stopped when re-run (docs/data.md, \"SHD and SSC\").")
    fetch.add_argument("dataset", choices=("shd", "ssc"))
    fetch.add_argument("--dir", type=Path, help="folder for the .h5 files (default: the one training with "
                       "\"source\": \"shd\" / \"ssc\" reads, $LAVA_CONVDELAY_DATA/DATASET, "
                       "~/.cache/lava-convdelay/DATASET)")
    fetch.add_argument("--url-base", help="the folder of a mirror holding the same archives (default "
                       "https://zenkelab.org/datasets/); the digests checked stay the published ones")
    fetch.set_defaults(func=run_fetch)

    enc = subparsers.add_parser("encode", help="turn a WAV recording into spikes [channels, time] (.npy)",
                                description="Encode one recording: the SHD chain (default), or with --encoder "
                                "delta the import's chain and the delta encoder, at the recording's own length.")
    enc.add_argument("input", type=Path, help="PCM WAV file (mono, or averaged to mono)")
    enc.add_argument("-o", "--output", type=Path, required=True)
    enc.add_argument("--dt", type=float, default=10e-3, help="time step, seconds")
    enc.add_argument("--pool", type=int, help="channels merged (cochlea: default 5, 700 / 5 channels; delta: "
                                              "default 1)")
    enc.add_argument("--duration", type=float, help="seconds (default: the recording's length)")
    enc.add_argument("--min-spikes", type=int,
                     help="events of the pooled channels that make a bin 1 (the network's training binning; "
                          "default 1)")
    enc.add_argument("--seed", type=int, default=0, help="seed of the cochlea's stochastic bushy-cell stage")
    _encoder_options(enc, "cochlea")
    enc.set_defaults(func=run_encode)
