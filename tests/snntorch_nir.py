"""Run a NIR graph in snnTorch: NIR's own PyTorch interpreter (``nirtorch.nir_to_torch``)
with snnTorch's ``Synaptic`` neuron for each ``CubaLIF`` and a per-neuron delay line
for each ``Delay`` (snnTorch 1.0.0's ``import_from_nir`` has no ``Delay`` and fails
on recurrent graphs with nirtorch 2.6; see docs/nir.md).

Each ``CubaLIF`` is discretised with forward Euler at ``dt``, current first, as
snnTorch's ``Synaptic`` computes: ``syn = alpha * syn + gain * x``,
``mem = beta * mem + syn``, spike where ``mem > threshold``, then ``mem = 0``
(``reset_delay=False``), with ``alpha = 1 - dt / tau_syn``,
``beta = 1 - dt / tau_mem`` and ``gain = (dt / tau_syn * w_in) * (dt / tau_mem * r)``.
nirtorch runs feed-forward edges within a step and feeds a cycle back one step
later, so a ``Delay`` of ``d * dt`` in a cycle is a lag of ``1 + d`` steps.
"""
import nir
import nirtorch
import numpy as np
import snntorch as snn
import torch


class SynapticCell(torch.nn.Module):
    """snnTorch's ``Synaptic`` as a stateful nirtorch module."""

    def __init__(self, node: nir.CubaLIF, dt: float):
        super().__init__()
        as_t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64).reshape(-1), dtype=torch.float64)  # noqa: E731
        self.register_buffer("gain", as_t((dt / node.tau_syn * node.w_in) * (dt / node.tau_mem * node.r)))
        self.neuron = snn.Synaptic(alpha=1 - dt / as_t(node.tau_syn), beta=1 - dt / as_t(node.tau_mem),
                                   threshold=as_t(node.v_threshold), reset_mechanism="zero", reset_delay=False)

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


def _linear(node):
    layer = torch.nn.Linear(node.weight.shape[1], node.weight.shape[0], bias=isinstance(node, nir.Affine))
    layer.weight.data = torch.as_tensor(node.weight, dtype=torch.float64)
    if isinstance(node, nir.Affine):
        layer.bias.data = torch.as_tensor(node.bias, dtype=torch.float64)
    return layer


def to_snntorch(graph: nir.NIRGraph, dt: float) -> torch.nn.Module:
    node_map = {nir.CubaLIF: lambda n: SynapticCell(n, dt), nir.Delay: lambda n: DelayLine(n, dt),
                nir.Linear: _linear, nir.Affine: _linear}
    return nirtorch.nir_to_torch(graph, node_map).double()


def run(module: torch.nn.Module, spikes: np.ndarray) -> np.ndarray:
    """Output spikes ``[N_out, T]`` for input ``[C, T]``, from rest."""
    state, out = None, []
    with torch.no_grad():
        for t in range(spikes.shape[1]):
            y, state = module(torch.as_tensor(spikes[:, t], dtype=torch.float64), state)
            out.append(y.numpy())
    return np.stack(out, axis=1).astype(np.uint8)
