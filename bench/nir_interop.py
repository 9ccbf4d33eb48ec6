"""NIR interop with snnTorch, both ways (docs/nir.md, "Interop: snnTorch").

1. snnTorch -> NIR -> Lava: an snnTorch network ``Linear -> RSynaptic`` (recurrent
   CUBA-LIF) ``-> Linear -> Synaptic``, exported by snnTorch's ``export_to_nir``,
   imported with :func:`netx_export.nir_import.graph_to_spec` at snnTorch's time
   step (1e-4 s) and run on Lava. Its spikes are compared with snnTorch's own
   simulation, and with the same graph run in snnTorch neurons by NIR's PyTorch
   interpreter (below): as the graph states it (reset at the spike), and with
   the recurrent layer's reset one step late, as snnTorch 1.0.0's ``RSynaptic``
   computes it.
2. lava-convdelay -> NIR -> snnTorch: a CRSNN trained here (a small toy task,
   or the run directory ``--run``, on its own test data), written with :func:`netx_export.nir_export.spec_to_nir`,
   read back with ``nir.read`` and run in snnTorch neurons by NIR's interpreter;
   spikes and accuracy compared with Lava's.

snnTorch 1.0.0's own ``import_from_nir`` cannot do (2): it has no ``Delay`` and
fails on recurrent graphs with nirtorch 2.6. So graphs are run with
``nirtorch.nir_to_torch`` (NIR's PyTorch interpreter: feed-forward edges within
a step, a cycle fed back one step later) with snnTorch's ``Synaptic`` for each
``CubaLIF`` and a per-neuron delay line for each ``Delay``. Each ``CubaLIF`` is
discretised with forward Euler at ``dt``, current first, as ``Synaptic``
computes: ``syn = alpha * syn + gain * x``, ``mem = beta * mem + syn``, a spike
where ``mem > threshold``, then ``mem = 0`` with ``alpha = 1 - dt / tau_syn``,
``beta = 1 - dt / tau_mem``, ``gain = (dt / tau_syn * w_in) * (dt / tau_mem * r)``.

    .venv/bin/python bench/nir_interop.py [--samples 32] [--run runs/demo]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import nir
import nirtorch
import numpy as np
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir

from netx_export.nir_export import spec_to_nir
from netx_export.nir_import import graph_to_spec
from sim.cpu.runner import LavaRunner
from sim.fixed_point import simulate

SNNTORCH_DT = 1e-4  # the time step snnTorch's export_to_nir assumes


# --------------------------------------------------------------------------- NIR graphs in snnTorch

class SynapticCell(torch.nn.Module):
    """snnTorch's ``Synaptic`` for one ``CubaLIF`` node, as a stateful nirtorch module;
    ``delayed_reset``: snnTorch's ``reset_delay=True`` (the reset one step late)."""

    def __init__(self, node: nir.CubaLIF, dt: float, delayed_reset: bool = False):
        super().__init__()
        as_t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64).reshape(-1))  # noqa: E731
        self.register_buffer("gain", as_t((dt / node.tau_syn * node.w_in) * (dt / node.tau_mem * node.r)))
        self.neuron = snn.Synaptic(alpha=1 - dt / as_t(node.tau_syn), beta=1 - dt / as_t(node.tau_mem),
                                   threshold=as_t(node.v_threshold), reset_mechanism="zero",
                                   reset_delay=delayed_reset)

    def forward(self, x, state=None):
        syn, mem = state if state is not None else (torch.zeros_like(x), torch.zeros_like(x))
        spk, syn, mem = self.neuron(self.gain * x, syn, mem)
        return spk.to(x.dtype), (syn, mem)


class DelayLine(torch.nn.Module):
    """``y_j(t) = x_j(t - d_j)`` with ``d_j = round(tau_j / dt)`` steps."""

    def __init__(self, node: nir.Delay, dt: float):
        super().__init__()
        self.register_buffer("steps", torch.as_tensor(np.rint(np.asarray(node.delay) / dt).astype(np.int64)))

    def forward(self, x, state=None):
        history = torch.zeros((int(self.steps.max()) + 1,) + x.shape, dtype=x.dtype) if state is None else state
        history = torch.cat([x[None], history[:-1]])  # history[k] = x(t - k)
        return torch.gather(history, 0, self.steps.expand_as(x)[None])[0], history


def _linear(node) -> torch.nn.Linear:
    layer = torch.nn.Linear(node.weight.shape[1], node.weight.shape[0], bias=isinstance(node, nir.Affine))
    layer.weight.data = torch.as_tensor(node.weight, dtype=torch.float64)
    if isinstance(node, nir.Affine):
        layer.bias.data = torch.as_tensor(node.bias, dtype=torch.float64)
    return layer


def to_snntorch(graph: nir.NIRGraph, dt: float, delayed_reset=()) -> torch.nn.Module:
    """``graph`` as a torch module of snnTorch neurons (nirtorch); the ``CubaLIF`` nodes
    in ``delayed_reset`` reset one step late."""
    node_map = {nir.CubaLIF: lambda n: SynapticCell(n, dt, any(n is d for d in delayed_reset)),
                nir.Delay: lambda n: DelayLine(n, dt), nir.Linear: _linear, nir.Affine: _linear}
    return nirtorch.nir_to_torch(graph, node_map).double()


def run_graph(module: torch.nn.Module, spikes: np.ndarray) -> np.ndarray:
    """Output spikes ``[N_out, T]`` for input ``[C, T]``, from rest."""
    state, out = None, []
    with torch.no_grad():
        for t in range(spikes.shape[1]):
            y, state = module(torch.as_tensor(spikes[:, t], dtype=torch.float64), state)
            out.append(y.numpy())
    return np.stack(out, axis=1).astype(np.uint8)


# --------------------------------------------------------------------------- snnTorch -> Lava

class SnnTorchNet(torch.nn.Module):
    """Linear -> RSynaptic (recurrent CUBA-LIF) -> Linear -> Synaptic, snnTorch's own modules."""

    def __init__(self, n_in: int, n: int, n_out: int, alpha: float = 0.5, beta: float = 0.75):
        super().__init__()
        self.fc1 = torch.nn.Linear(n_in, n, bias=False)
        self.lif1 = snn.RSynaptic(alpha=alpha, beta=beta, threshold=1.0, linear_features=n,
                                  reset_mechanism="zero", init_hidden=True)
        self.fc2 = torch.nn.Linear(n, n_out, bias=False)
        # per-neuron parameters: snnTorch exports scalar ones with shape (), which NIR's type check refuses
        self.lif2 = snn.Synaptic(alpha=torch.full((n_out,), alpha), beta=torch.full((n_out,), beta),
                                 threshold=torch.ones(n_out), reset_mechanism="zero", init_hidden=True,
                                 reset_delay=False)

    def forward(self, x):
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


def snntorch_network(seed: int = 0, n_in: int = 20, n: int = 16, n_out: int = 4, on_grid: bool = True):
    """A random snnTorch network (no recurrent bias: the file has none); ``on_grid``: weights
    already on Loihi's 8-bit grid, so that the import rounds nothing."""
    torch.manual_seed(seed)
    net = SnnTorchNet(n_in, n, n_out)
    with torch.no_grad():
        net.fc1.weight.normal_(0.1, 0.35)
        net.lif1.recurrent.weight.normal_(0.0, 0.3)
        net.lif1.recurrent.bias.zero_()
        net.fc2.weight.normal_(0.05, 0.4)
        if on_grid:
            for w in (net.fc1.weight, net.lif1.recurrent.weight, net.fc2.weight):
                w.copy_((torch.round(w * 32) / 32).clamp(-4, 3.96875))
    return net


def run_snntorch(net: SnnTorchNet, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """snnTorch's own simulation from rest: (hidden, output) spikes ``[N, T]``."""
    for module in net.modules():  # snntorch.utils.reset leaves RSynaptic's last spikes in place
        for key in ("spk", "syn", "mem"):
            if isinstance(getattr(module, key, None), torch.Tensor):
                setattr(module, key, torch.zeros(0))
    hidden, out = [], []
    with torch.no_grad():
        for t in range(spikes.shape[1]):
            out.append(net(torch.as_tensor(spikes[None, :, t], dtype=torch.float32)).numpy()[0])
            hidden.append(net.lif1.spk.numpy()[0])
    return np.stack(hidden, 1).astype(np.uint8), np.stack(out, 1).astype(np.uint8)


def agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """Equal (neuron, step) entries, and spikes in both / spikes in either."""
    return {"equal": float((a == b).mean()), "jaccard": float((a & b).sum() / max(1, (a | b).sum())),
            "spikes": [int(a.sum()), int(b.sum())]}


def snntorch_to_lava(samples: int, steps: int, on_grid: bool, seed: int = 0, rate: float = 0.15) -> dict:
    net = snntorch_network(seed, on_grid=on_grid)
    graph = export_to_nir(net, torch.zeros(net.fc1.in_features))
    result = graph_to_spec(graph, "snntorch export", dt=SNNTORCH_DT)
    spec = result.spec
    x = (np.random.default_rng(seed + 1).random((samples, spec.input_size, steps)) < rate).astype(np.int8)
    layers = len(spec.layers)  # Lava's layer l at step t + l is the NIR graph's at step t
    padded = np.concatenate([x, np.zeros(x.shape[:2] + (layers,), np.int8)], axis=2)
    start = time.perf_counter()
    lava = LavaRunner(spec).run_many(padded, record_layers=True, progress=False)
    lava_s = time.perf_counter() - start
    fixed = simulate(spec, padded, record_layers=True)
    recurrent = graph.nodes["lif1.lif"]
    as_stated = to_snntorch(graph, SNNTORCH_DT)
    as_rsynaptic = to_snntorch(graph, SNNTORCH_DT, delayed_reset=[recurrent])
    rows = {key: [] for key in ("hidden", "output", "graph", "graph_delayed")}
    for b in range(samples):
        hidden, out = run_snntorch(net, x[b])
        lava_hidden, lava_out = lava[b].layers[0][:, 1:1 + steps], lava[b].output[:, layers:layers + steps]
        if not all(np.array_equal(lava[b].layers[i], fixed.layers[i][b]) for i in range(layers)):
            raise RuntimeError(f"sample {b}: Lava differs from the fixed-point simulator")
        rows["hidden"].append((lava_hidden, hidden))
        rows["output"].append((lava_out, out))
        rows["graph"].append((lava_out, run_graph(as_stated, x[b])))
        rows["graph_delayed"].append((out, run_graph(as_rsynaptic, x[b])))
    joined = {key: agreement(np.concatenate([a for a, _ in v], 1), np.concatenate([b for _, b in v], 1))
              for key, v in rows.items()}
    return {"notes": result.notes, "lava_s": lava_s, "types": [layer.type for layer in spec.layers],
            "lava_vs_snntorch_hidden": joined["hidden"], "lava_vs_snntorch_output": joined["output"],
            "lava_vs_graph_in_snntorch": joined["graph"],
            "snntorch_vs_graph_with_delayed_reset": joined["graph_delayed"]}


# --------------------------------------------------------------------------- lava-convdelay -> snnTorch

def lava_to_snntorch(spec, x: np.ndarray, labels: np.ndarray | None = None, dt: float = 1e-3) -> dict:
    """``spec`` through NIR (written, read back) into snnTorch, against Lava's fixed point."""
    with tempfile.TemporaryDirectory() as tmp:
        nir.write(Path(tmp) / "net.nir", spec_to_nir(spec, dt))
        module = to_snntorch(nir.read(Path(tmp) / "net.nir"), dt)
    layers = len(spec.layers)
    padded = np.concatenate([x, np.zeros(x.shape[:2] + (layers,), x.dtype)], axis=2)
    ours = simulate(spec, padded).output[:, :, layers:]
    theirs = np.stack([run_graph(module, sample) for sample in x])
    out = {"output": agreement(ours, theirs)}
    if labels is not None:
        out["accuracy_lava"] = float((ours.sum(2).argmax(1) == labels).mean())
        out["accuracy_snntorch"] = float((theirs.sum(2).argmax(1) == labels).mean())
    return out


def toy_crsnn(out_dir: Path, epochs: int = 6):
    """A CRSNN trained on a three-class toy task (bursts on channel groups), its test set."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_train import toy_data

    from lava_convdelay.app import checkpoint_spec
    from lava_convdelay.training import normalise_config, train
    config = normalise_config({"seed": 3, "model": {
        "neuron": {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03},
        "layers": [{"type": "conv_delay_rec", "neurons": 16, "max_delay": 10},
                   {"type": "dense", "neurons": 3}]},
        "train": {"epochs": epochs, "batch_size": 8, "sigma_init": 3}})
    train_set, test_set = toy_data(96, 0), toy_data(48, 1)
    train(config, out_dir, progress=False, datasets=(train_set, test_set))
    x = test_set.tensors[0].numpy().astype(np.int8)
    return checkpoint_spec(out_dir / "checkpoint.pt"), x, test_set.tensors[1].numpy()


def run_test_set(run: Path, samples: int):
    """A run's network and the first ``samples`` of its own test data (binned as in training)."""
    from lava_convdelay.app import checkpoint_spec
    from lava_convdelay.training.data_section import build_datasets
    spec = checkpoint_spec(run / "checkpoint.pt")
    test = build_datasets(json.loads((run / "config.json").read_text())["data"], progress=False)[1]
    pairs = [test[i] for i in range(min(samples, len(test)))]
    x = np.stack([np.asarray(spikes, dtype=np.int8) for spikes, _ in pairs])
    return spec, x, np.array([int(label) for _, label in pairs])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--run", type=Path, help="a run directory whose network runs in snnTorch on its own "
                                                 "test data (default: a toy CRSNN trained here)")
    parser.add_argument("--test-samples", type=int, default=200, help="test samples of --run")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "nir_interop.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = {name: snntorch_to_lava(args.samples, args.steps, on_grid)
               for name, on_grid in (("snntorch_on_grid", True), ("snntorch_float_weights", False))}
    with tempfile.TemporaryDirectory() as tmp:
        if args.run:
            spec, x, labels = run_test_set(args.run, args.test_samples)
        else:
            spec, x, labels = toy_crsnn(Path(tmp) / "run")
        dt = spec.encoding.dt if spec.encoding else 1e-3
        results["crsnn_to_snntorch"] = {"network": str(args.run or "toy CRSNN"), "samples": len(labels),
                                        **lava_to_snntorch(spec, x, labels, dt)}
    print(json.dumps(results, indent=1))
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
