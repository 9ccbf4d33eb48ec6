"""Build a network of standard Lava processes from a :class:`NetworkSpec`.

This is the *what*: processes and connections, independent of the backend
that runs them (:mod:`sim.lava_runner` picks CPU simulation or Loihi 2). Only
processes with Loihi 2 implementations are used:

- feed-forward: ``Dense`` (``DelayDense`` when a ``dense`` layer has delays,
  per output neuron, as stock NetX does);
- neuron: ``LIF`` with ``du = iDecay - 1``, ``dv = vDecay``, ``vth = vThMant``,
  ``bias_exp = 6`` (NetX's CUBA mapping);
- recurrence: ``Sparse`` (``dense_rec``) or ``DelaySparse`` with
  ``delays[i, j] = delay_rec[j]`` (``delay_rec``, and ``conv_rec``, whose
  banded matrix has about ``k * C`` non-zeros per row). Both synapses feed the
  same ``LIF.a_in``, where Lava sums them.

Weights of one layer share one mantissa/exponent scaling from lava-dl's
``optimize_weight_bits`` over ``[W | R]``, so feed-forward and recurrent
inputs arrive on the same scale. (NetX's own ``RecurrentDense`` loses the
exponent and misplaces delays; it is not used.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from lava.lib.dl.netx.utils import optimize_weight_bits
from lava.magma.core.process.process import AbstractProcess
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.lif.process import LIF
from lava.proc.sparse.process import DelaySparse, Sparse
from scipy.sparse import csr_matrix

from netx_export.description import LayerSpec, NetworkSpec
from netx_export.errors import UnsupportedLayerError


@dataclass
class LavaLayer:
    """The processes of one layer; ``inp`` receives presynaptic spikes."""

    neuron: LIF
    synapse: AbstractProcess
    recurrent: AbstractProcess | None = None

    @property
    def stateful(self) -> list[tuple[AbstractProcess, str]]:
        """(process, var name) pairs that hold state between time steps."""
        pairs = [(self.neuron, "u"), (self.neuron, "v"), (self.synapse, "a_buff")]
        if self.recurrent is not None:
            pairs.append((self.recurrent, "a_buff"))
        return pairs


@dataclass
class LavaNetwork:
    spec: NetworkSpec
    layers: list[LavaLayer] = field(default_factory=list)

    @property
    def input_port(self):
        return self.layers[0].synapse.s_in

    @property
    def output_port(self):
        return self.layers[-1].neuron.s_out


def _shared_scaling(layer: LayerSpec) -> tuple[np.ndarray, np.ndarray | None, int, int]:
    mats = [layer.weight] + ([layer.weight_rec] if layer.weight_rec is not None else [])
    joined, bits, exponent, _ = optimize_weight_bits(np.hstack(mats).astype(np.int64))
    joined = np.asarray(joined)
    n_in = layer.in_features
    rec = joined[:, n_in:] if layer.weight_rec is not None else None
    return joined[:, :n_in], rec, int(bits), int(exponent)


def build_layer(layer: LayerSpec, name: str, where: str = "") -> LavaLayer:
    """Processes and internal connections of one layer (``where`` names it in errors)."""
    n = layer.num_neurons
    if layer.neuron.i_decay == 0:
        # Lava's LIF adds 1 to du (12-bit unsigned), so iDecay = 0 has no encoding
        raise UnsupportedLayerError(f"{where or name}: iDecay = 0 (no current decay) cannot be expressed "
                                    f"by Lava's LIF (du = iDecay - 1 must be >= 0)")
    weight, weight_rec, bits, exponent = _shared_scaling(layer)
    scaling = dict(weight_exp=exponent, num_weight_bits=bits)
    neuron = LIF(shape=(n,), vth=layer.neuron.vth_mant, du=layer.neuron.i_decay - 1,
                 dv=layer.neuron.v_decay, bias_mant=0, bias_exp=6, name=f"{name}.lif")
    if layer.delay is not None and layer.delay.any():
        delays = np.repeat(layer.delay.reshape(-1, 1), layer.in_features, axis=1).astype(np.int64)
        synapse = DelayDense(weights=weight, delays=delays, max_delay=int(layer.delay.max()),
                             name=f"{name}.dense", **scaling)
    else:
        synapse = Dense(weights=weight, name=f"{name}.dense", **scaling)
    synapse.a_out.connect(neuron.a_in)
    recurrent = None
    if weight_rec is not None:
        sparse = csr_matrix(weight_rec)
        if layer.delay_rec is not None and layer.delay_rec.any():
            delays = np.where(weight_rec != 0, layer.delay_rec[None, :], 0).astype(np.int64)
            recurrent = DelaySparse(weights=sparse, delays=csr_matrix(delays),
                                    max_delay=int(layer.delay_rec.max()), name=f"{name}.rec", **scaling)
        else:
            recurrent = Sparse(weights=sparse, name=f"{name}.rec", **scaling)
        neuron.s_out.connect(recurrent.s_in)
        recurrent.a_out.connect(neuron.a_in)
    return LavaLayer(neuron, synapse, recurrent)


def build_network(spec: NetworkSpec) -> LavaNetwork:
    """All layers, chained: layer ``l``'s spikes feed layer ``l + 1``'s synapse."""
    net = LavaNetwork(spec)
    for i, layer in enumerate(spec.layers, start=1):
        lava_layer = build_layer(layer, f"layer{i}", f"{spec.source}: layer {i}")
        if net.layers:
            net.layers[-1].neuron.s_out.connect(lava_layer.synapse.s_in)
        net.layers.append(lava_layer)
    return net
