"""Lava CPU speed at SHD size: 140 -> 256 rec -> 256 rec -> 20, T = 100.

One run, all variants side by side, on ``Loihi2SimCfg(select_tag='fixed_pt')``:

- ConvDelayRecurrent (``conv_rec``, k = 3, C = 1: banded DelaySparse) and
  DelayRecurrent (``delay_rec``: dense DelaySparse), read from their HDF5
  files and built by ``sim.lava_network`` -- with the CPU models the runner
  uses (``sim.cpu.models``: cached delay weights) and with Lava's stock ones;
- the delay-free dense recurrent net (``dense_rec``) from a stock NetX file,
  loaded by stock ``lava.lib.dl.netx.hdf5.Network`` (and, for reference, by
  ``sim``);
- per-sample cost of the ways to keep samples independent (conv_rec, output
  only and every layer recorded): models that rest by themselves at sample
  starts (``LavaRunner.run_many``'s default), zeroing the state with
  ``Var.set`` between samples, and building + compiling a network per sample.

The three files are written with h5py from docs/hdf5-format.md and share the
feed-forward weights and neuron parameters; recurrent delays are uniform in
[10, 30]. Steps/s exclude compilation: one step is run first, then ``--steps``
steps are timed, ``--repeats`` times (median reported). One output sink.

    .venv/bin/python bench/bench_lava.py [--steps 100] [--repeats 3] [--out FILE.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lava_convdelay  # noqa: E402,F401  (lava import order / quiet imports)

INPUTS, HIDDEN, OUTPUTS = 140, 256, 20
NEURON = dict(iDecay=1024, vDecay=128, vThMant=64)  # current_decay 0.25, voltage_decay 0.03, threshold 1
INPUT_RATE = 0.05
#: weight ranges (units of 1/64): sparse activity, about the same firing rates in all three nets
RANGES = {"w1": (-56, 50), "w2": (-48, 40), "w3": (-48, 40), "rec": (-22, 20), "kernel": (-60, 40)}


def _even(rng, shape, low, high):
    return (2 * rng.integers(low // 2, high // 2 + 1, size=shape)).astype(np.float32)


def _layer(group, kind, weight, **extra):
    n, n_in = weight.shape
    group.create_dataset("type", data=np.array([kind.encode()], dtype="S10"))
    group.create_dataset("shape", data=np.array([n], np.int64))
    group.create_dataset("inFeatures", data=np.int64(n_in))
    group.create_dataset("outFeatures", data=np.int64(n))
    group.create_dataset("weight", data=weight)
    for key, value in NEURON.items():
        group.create_dataset(f"neuron/{key}", data=np.int64(value))
    group.create_dataset("neuron/type", data="CUBA")
    group.create_dataset("neuron/refDelay", data=np.int64(1))
    group.create_dataset("neuron/gradedSpike", data=False)
    for key, value in extra.items():
        group.create_dataset(key, data=value)


def write_files(folder: Path, seed: int = 0) -> dict[str, Path]:
    """conv_rec, delay_rec (extension files) and dense_rec (stock file), same W."""
    rng = np.random.default_rng(seed)
    w1 = _even(rng, (HIDDEN, INPUTS), *RANGES["w1"])
    w2 = _even(rng, (HIDDEN, HIDDEN), *RANGES["w2"])
    w3 = _even(rng, (OUTPUTS, HIDDEN), *RANGES["w3"])
    dense_rec = [_even(rng, (HIDDEN, HIDDEN), *RANGES["rec"]) for _ in range(2)]
    kernels = [_even(rng, (1, 1, 3), *RANGES["kernel"]) for _ in range(2)]
    delays = [rng.integers(10, 31, HIDDEN).astype(np.int64) for _ in range(2)]
    paths = {}
    for kind in ("conv_rec", "delay_rec", "dense_rec"):
        path = folder / f"{kind}.h5"
        with h5py.File(path, "w") as f:
            root = f.create_group("layer" if kind == "dense_rec" else "lava_convdelay_layer")
            if kind != "dense_rec":
                f.attrs["format"], f.attrs["format_version"] = "lava-convdelay-netx", 1
            for i, w in enumerate((w1, w2)):
                extra = {}
                if kind == "conv_rec":
                    extra = dict(weight_rec_conv=kernels[i], channels=np.int64(1), kernelSize=np.int64(3),
                                 delay_rec=delays[i], maxDelay=np.int64(30))
                elif kind == "delay_rec":
                    extra = dict(weight_rec=dense_rec[i], delay_rec=delays[i], maxDelay=np.int64(30))
                else:
                    extra = dict(weight_rec=dense_rec[i])
                _layer(root.create_group(str(i)), kind, w, **extra)
            _layer(root.create_group("2"), "dense", w3)
        paths[kind] = path
    return paths


CONV = "ConvDelayRecurrent k=3 (conv_rec, sim)"
DELAY = "DelayRecurrent (delay_rec, sim)"
NO_DELAY = "no delays (dense_rec, stock NetX)"


def _var_set_backend():
    from sim.cpu.runner import Backend, CpuBackend

    class VarSetCpu(CpuBackend):
        """Fast CPU models and Extractors, but state zeroed with Var.set between samples."""

        def prepare(self, net, span):  # no reset_period: the models never rest by themselves
            pass

        def reset(self, net):
            Backend.reset(self, net)
    return VarSetCpu


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and all its descendants (Lava's
    process models run in forked children), from /proc; Linux only."""
    import os
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    family, grew = {os.getpid()}, True
    while grew:
        grew = False
        for pid, (ppid, _) in stats.items():
            if ppid in family and pid not in family:
                family.add(pid)
                grew = True
    return sum(stats[pid][1] for pid in family if pid in stats)


def synapse_microseconds(layer, rate: float, reps: int = 200) -> dict[str, float]:
    """Per-step compute of a layer's recurrent DelaySparse alone (no Lava runtime):
    Lava's model (delay-stacked weights rebuilt every step, then one product)
    vs sim's cached model (the product only), at spike ``rate``."""
    from lava.proc.sparse.models import PyDelaySparseModelBitAcc
    from scipy.sparse import csr_matrix

    rec = layer.weight_rec
    weights = csr_matrix(rec)
    delays = csr_matrix(np.where(rec != 0, layer.delay_rec[None, :], 0).astype(np.int64))
    max_delay = int(layer.delay_rec.max())
    spikes = np.random.default_rng(3).random((reps, rec.shape[1])) < rate
    build = PyDelaySparseModelBitAcc.get_delay_wgts_mat
    start = time.perf_counter()
    for s in spikes:
        build(weights, delays, max_delay).dot(s)
    stock = (time.perf_counter() - start) / reps
    stacked = build(weights, delays, max_delay).tocsr()
    start = time.perf_counter()
    for s in spikes:
        stacked.dot(s)
    cached = (time.perf_counter() - start) / reps
    return {"stock Lava model": 1e6 * stock, "cached (sim)": 1e6 * cached}


def steps_per_second(build, config, spikes: np.ndarray, steps: int, repeats: int) -> tuple[float, float]:
    """Median steps/s (wall clock) and CPU ms per step (all Lava processes) of
    ``repeats`` runs of ``steps`` steps, after a 1-step run that compiles."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc import io

    inp, out, root = build()
    source = io.source.RingBuffer(data=spikes)
    sink = io.sink.RingBuffer(shape=out.shape, buffer=spikes.shape[1])
    source.s_out.connect(inp)
    out.connect(sink.a_in)
    rates, cpu = [], []
    try:
        root.run(condition=RunSteps(num_steps=1), run_cfg=config)
        for _ in range(repeats):
            cpu_start, start = _cpu_seconds(), time.perf_counter()
            root.run(condition=RunSteps(num_steps=steps), run_cfg=config)
            rates.append(steps / (time.perf_counter() - start))
            cpu.append(1000 * (_cpu_seconds() - cpu_start) / steps)
    finally:
        root.stop()
    return statistics.median(rates), statistics.median(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per compiled network")
    parser.add_argument("--rounds", type=int, default=3, help="compiled networks per variant, round-robin")
    parser.add_argument("--samples", type=int, default=4, help="samples for the per-sample cost (>= 2)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    from lava.lib.dl import netx
    from lava.magma.core.run_configs import Loihi2SimCfg

    from sim.cpu.runner import CpuBackend, LavaRunner
    from sim.fixed_point import simulate
    from sim.lava_network import build_network
    VarSetCpu = _var_set_backend()

    total = 1 + args.repeats * args.steps
    spikes = (np.random.default_rng(1).random((INPUTS, total)) < INPUT_RATE).astype(np.int8)
    results = {"network": f"{INPUTS}-{HIDDEN}rec-{HIDDEN}rec-{OUTPUTS}", "steps": args.steps,
               "repeats": args.repeats, "input_rate": INPUT_RATE, "steps_per_s": {}, "cpu_ms_per_step": {},
               "firing_rate": {}}
    rates = results["steps_per_s"]

    def report(name, measured):
        rates[name], results["cpu_ms_per_step"][name] = measured
        print(f"{name:62s} {measured[0]:8.1f} steps/s {measured[1]:7.2f} CPU ms/step", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp))
        runners = {kind: LavaRunner(paths[kind]) for kind in paths}
        for kind, runner in runners.items():  # activity, for context (exact integer simulator)
            sim = simulate(runner.spec, spikes[None, :, :args.steps], record_layers=True)
            results["firing_rate"][kind] = [round(float(layer.mean()), 4) for layer in sim.layers]
        print("firing rates per layer:", results["firing_rate"], flush=True)

        def ours(kind):
            def build():
                net = build_network(runners[kind].spec)
                return net.input_port, net.output_port, net.layers[0].neuron
            return build

        def stock_netx():
            net = netx.hdf5.Network(str(paths["dense_rec"]))
            return net.inp, net.out, net

        fast, stock = CpuBackend().run_config(), Loihi2SimCfg(select_tag="fixed_pt")
        variants = {
            CONV: (ours("conv_rec"), fast),
            DELAY: (ours("delay_rec"), fast),
            NO_DELAY: (stock_netx, stock),
            CONV + ", stock Lava models": (ours("conv_rec"), stock),
            DELAY + ", stock Lava models": (ours("delay_rec"), stock),
            "no delays (dense_rec, sim)": (ours("dense_rec"), fast),
        }
        steps_per_second(ours("dense_rec"), fast, spikes, args.steps, 1)  # warm-up, not reported
        # round-robin, so that load changes on a shared machine hit every variant alike
        measured = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (build, config) in variants.items():
                measured[name].append(steps_per_second(build, config, spikes, args.steps, args.repeats))
        for name, values in measured.items():
            report(name, (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)))

        # the recurrent synapse alone, per step
        results["recurrent_synapse_us_per_step"] = {}
        for kind in ("conv_rec", "delay_rec"):
            layer = runners[kind].spec.layers[0]
            cost = results["recurrent_synapse_us_per_step"][kind] = synapse_microseconds(layer, 0.07)
            print(f"recurrent DelaySparse compute per step, {kind:9s} (nnz {np.count_nonzero(layer.weight_rec):5d}): "
                  + ", ".join(f"{k} {v:8.1f} us" for k, v in cost.items()), flush=True)

        # per-sample cost of independence
        batch = (np.random.default_rng(2).random((args.samples, INPUTS, args.steps)) < INPUT_RATE).astype(np.int8)
        spec = runners["conv_rec"].spec
        per_sample = results["per_sample_s_conv_rec"] = {}
        reference = None
        for record in (False, True):
            for name, runner in (("models rest (run_many default)", LavaRunner(spec)),
                                 ("Var.set reset, stock models + sinks", LavaRunner(spec, fast_models=False)),
                                 ("Var.set reset, fast models", LavaRunner(spec, backend=VarSetCpu()))):
                start = time.perf_counter()
                runner.run_many(batch[:1], record_layers=record, progress=False)
                one = time.perf_counter() - start
                start = time.perf_counter()
                many = runner.run_many(batch, record_layers=record, progress=False)
                cost = (time.perf_counter() - start - one) / (args.samples - 1)
                key = f"{name}{', every layer' if record else ''}"
                per_sample[key] = cost
                outputs = np.stack([m.output for m in many])
                reference = outputs if reference is None else reference
                assert np.array_equal(outputs, reference), key
                print(f"conv_rec per sample, {key:55s} {cost:6.3f} s", flush=True)
            start = time.perf_counter()
            alone = np.stack([LavaRunner(spec).run(x, record_layers=record).output for x in batch])
            key = f"compile per sample (run){', every layer' if record else ''}"
            per_sample[key] = (time.perf_counter() - start) / args.samples
            assert np.array_equal(alone, reference)
            print(f"conv_rec per sample, {key:55s} {per_sample[key]:6.3f} s", flush=True)

    conv, dense_delay, no_delay = rates[CONV], rates[DELAY], rates[NO_DELAY]
    cpu = results["cpu_ms_per_step"]
    stock_models = ", stock Lava models"
    results["ratios"] = {
        "steps/s conv / dense-delay": conv / dense_delay,
        "CPU per step dense-delay / conv": cpu[DELAY] / cpu[CONV],
        "steps/s conv / dense-delay, stock Lava models": rates[CONV + stock_models] / rates[DELAY + stock_models],
        "steps/s conv / no-delay stock NetX": conv / no_delay,
        "steps/s fast / stock Lava models, conv": conv / rates[CONV + stock_models],
        "steps/s fast / stock Lava models, dense-delay": dense_delay / rates[DELAY + stock_models],
    }
    print(json.dumps(results, indent=1))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    stock_ratio = results["ratios"]["steps/s conv / dense-delay, stock Lava models"]
    print(f"conv-delay vs dense-delay, steps/s: {conv / dense_delay:.2f}x with sim's CPU models, "
          f"{stock_ratio:.2f}x with Lava's stock models; CPU per step: "
          f"dense-delay / conv = {results['ratios']['CPU per step dense-delay / conv']:.2f}")
    # a measurement, not a test: fail only if conv is clearly slower (> 10 %, beyond wall-clock noise)
    return 0 if min(conv / dense_delay, stock_ratio) >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
