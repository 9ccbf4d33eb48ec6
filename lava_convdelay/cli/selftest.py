"""CLI: ``loihi2-selftest``, the first thing to run on an INRC system
(docs/loihi2.md, "The self-test"):

- ``loihi2-selftest run [NET.h5] --backend loihi2 -o chip.npz``: the
  environment, the calibration, every micro-test in its own runtime, then the
  network on a few samples with every layer's spikes and voltages, into one
  archive; ``--backend cpu -o cpu.npz`` does the same on the CPU rehearsal;
- ``loihi2-selftest compare chip.npz cpu.npz``: per micro-test and layer,
  equal or the first difference and the option to switch (exit 0 only if
  all are equal);
- ``loihi2-selftest list``: the micro-tests and what each checks.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lava_convdelay.app.spike_files import load_spikes
from lava_convdelay.atomic import check_output_path
from lava_convdelay.bounds import Bounds, check_value
from lava_convdelay.cli.lava import add_system_options
from lava_convdelay.errors import UserError
from sim.graph_options import DELAYED_SYNAPSES, RESETS


def _network_input(args: argparse.Namespace, spec) -> np.ndarray:
    """The first ``--samples`` of ``--input``, else random spikes at ``--rate``."""
    if args.input is not None:
        return load_spikes(args.input, spec.input_size)[:args.samples]
    steps = args.steps if args.steps is not None else (spec.encoding.steps if spec.encoding is not None else 100)
    check_value(steps, "--steps", Bounds(True, 1))
    rng = np.random.default_rng(args.seed)
    return (rng.random((args.samples, spec.input_size, steps)) < args.rate).astype(np.int8)


def run_selftest_command(args: argparse.Namespace) -> int:
    from netx_export.reader import read_network
    from sim.loihi2.backend import make_hardware_backend
    from sim.loihi2.selftest.archive import read_archive
    from sim.loihi2.selftest.microtests import micro_test
    from sim.loihi2.selftest.run import run_selftest

    check_value(args.samples, "--samples", Bounds(True, 1))
    check_value(args.rate, "--rate", Bounds(False, 0, 1, low_allowed=False))
    check_value(args.seed, "--seed", Bounds(True, 0))
    output = args.output or Path("chip.npz" if args.backend == "loihi2" else "cpu.npz")
    check_output_path(output)
    for name in args.only or []:
        try:
            micro_test(name)
        except ValueError as err:
            raise UserError(f"--only: {err}") from None
    spikes = None
    if args.network is not None:
        spikes = _network_input(args, read_network(args.network))
    backend = make_hardware_backend(args.backend, args.loihi_gen, args.partition, args.board, args.ethernet_host)
    path = run_selftest(backend, output, args.network, spikes, args.only, args.delayed_synapse, args.reset)
    meta = read_archive(path).meta
    failed = [name for name, test in meta["tests"].items() if test["status"] != "ok"]
    network = meta["network"]
    if network is not None and network["status"] != "ok":
        failed.append("network")
    print(f"wrote {path}: {len(meta['tests'])} micro-test(s)" + (", the network" if network else "")
          + (f"; did not run: {', '.join(failed)}" if failed else "; all ran")
          + ". Next: lava-convdelay loihi2-selftest compare CHIP.npz CPU.npz")
    return 1 if failed else 0


def run_compare(args: argparse.Namespace) -> int:
    from sim.loihi2.selftest.archive import read_archive
    from sim.loihi2.selftest.compare import compare_archives

    comparison = compare_archives(read_archive(args.chip), read_archive(args.cpu))
    print(comparison.describe())
    return 0 if comparison.equal else 1


def run_list(_: argparse.Namespace) -> int:
    from sim.loihi2.selftest.microtests import MICRO_TESTS
    for test in MICRO_TESTS:
        print(f"{test.name}: {test.checks}\n    if it differs: {test.fallback}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "loihi2-selftest", help="micro-tests of what the Loihi 2 path relies on, on the chip and on the CPU, and "
                                "their comparison (docs/loihi2.md)")
    commands = parser.add_subparsers(dest="selftest", metavar="STEP", required=True)
    run = commands.add_parser("run", help="run the self-test on one backend into an archive (.npz)")
    run.add_argument("network", type=Path, nargs="?", help="network file (.h5) to run on a few samples as well")
    run.add_argument("--backend", choices=("loihi2", "cpu"), default="loihi2",
                     help="loihi2, or cpu: the same graphs on Lava's CPU simulator (the reference)")
    run.add_argument("-o", "--output", type=Path, help="archive to write (default: chip.npz / cpu.npz)")
    run.add_argument("--input", type=Path, help="0/1 spikes .npy for the network (default: random, --rate)")
    run.add_argument("--samples", type=int, default=3, help="samples of the network to run (default 3)")
    run.add_argument("--steps", type=int, help="steps per random sample (default: the file's record, else 100)")
    run.add_argument("--rate", type=float, default=0.05, help="random input spike probability per step")
    run.add_argument("--seed", type=int, default=0, help="seed of the random input")
    run.add_argument("--only", nargs="+", metavar="TEST", help="run only these micro-tests (see `list`)")
    run.add_argument("--delayed-synapse", choices=DELAYED_SYNAPSES, default="dense",
                     help="delayed recurrent synapses of the network (as deploy)")
    run.add_argument("--reset", choices=RESETS, default="auto", help="between the network's samples (as deploy)")
    add_system_options(run)
    run.set_defaults(func=run_selftest_command)
    compare = commands.add_parser("compare", help="compare a chip archive with the CPU's: first differences and "
                                                  "what to switch; exit 0 only if all equal")
    compare.add_argument("chip", type=Path, help="archive of the chip (loihi2-selftest run --backend loihi2)")
    compare.add_argument("cpu", type=Path, help="archive of the CPU rehearsal (--backend cpu), the reference")
    compare.set_defaults(func=run_compare)
    listing = commands.add_parser("list", help="the micro-tests, what each checks and the fallback")
    listing.set_defaults(func=run_list)
