"""Build a network of standard Lava processes from a :class:`NetworkSpec`.

This is the *what*: processes and connections, independent of the backend
that runs them (:mod:`sim.cpu.runner` picks CPU simulation or Loihi 2). Only
processes with Loihi 2 implementations are used, per layer:

- feed-forward synapse: ``Dense``; ``DelayDense`` when a ``dense`` layer has
  a ``delay`` (``delays[i, j] = delay[i]``: the delay sits on the layer's own
  input, as stock NetX does);
- neuron: ``LIF`` with ``du = iDecay - 1``, ``dv = vDecay``, ``vth = vThMant``,
  ``bias_mant = 0``, ``bias_exp = 6`` (NetX's CUBA mapping); ``LIFReset``
  with a :class:`NeuronReset` (the hardware schedule, :mod:`sim.loihi2.schedule`);
- recurrent synapse, from ``LIF.s_out`` back into the same ``LIF.a_in``
  (Lava sums the two inputs): ``Sparse`` for ``dense_rec`` (and for delayed
  types whose delays are all 0), else ``DelaySparse`` with
  ``delays[i, j] = delay_rec[j]`` where ``R[i, j] != 0`` (0 elsewhere, as
  DelaySparse wants) and ``max_delay = max(delay_rec)`` -- or, with
  ``delayed_synapse="dense"``, ``DelayDense`` with the same matrices as
  dense arrays (public Loihi 2 scripts run ``DelayDense``; no public hardware
  run of ``DelaySparse`` is known). ``conv_rec`` uses its banded
  ``weight_rec``: about ``k * C`` non-zeros per row;
- delay channels (``dchan_rec``): one recurrent synapse per delay channel
  ``d``, its banded depthwise weights (``k`` non-zeros per row) with the one
  scalar delay ``delays[d]``: ``Sparse`` at delay 0, else ``DelaySparse`` (or
  ``DelayDense`` with ``delayed_synapse="dense"``) with ``delays=delays[d]``;
  all-zero channels are left out.

Timing: every synapse adds one step, so a spike of layer ``l - 1`` at step
``t`` reaches layer ``l`` at ``t + 1`` (``t + 1 + D_i`` through a delayed
``dense``), and a recurrent spike of neuron ``j`` at ``t`` arrives at
``t + 1 + delay_rec[j]``: exactly docs/hdf5-format.md.

Weights: one mantissa / exponent / bit-width / sign mode per *layer*, from
lava-dl's ``optimize_weight_bits`` over ``[W | R]`` (``R`` the delay channels'
matrices side by side for ``dchan_rec``), passed to both synapses
so the feed-forward and recurrent inputs arrive on the same scale. (NetX's
own ``RecurrentDense`` drops ``weight_exp`` and puts the feed-forward delay
inside the loop; it is not used.) The sign mode is passed explicitly, and the
result is checked with Lava's own clip / truncate functions to give exactly
``W``, ``R`` (see :func:`layer_weights` for the upstream inconsistency this
guards against).
"""
from __future__ import annotations

import sim.lava_runtime  # noqa: F401  (first: Lava's runtime under the process's start method)

# isort: split
from dataclasses import dataclass, field, replace

import numpy as np
from lava.lib.dl.netx.utils import SYNAPSE_SIGN_MODE, optimize_weight_bits
from lava.magma.core.process.process import AbstractProcess
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.lif.process import LIF, LIFReset
from lava.proc.sparse.process import DelaySparse, Sparse
from lava.utils.weightutils import SignMode, clip_weights, determine_sign_mode, truncate_weights
from lava.utils.weightutils import optimize_weight_bits as lava_optimize_weight_bits
from scipy.sparse import csr_matrix

from netx_export.spec import LayerSpec, NetworkSpec
from sim.errors import UnsupportedLayerError

#: ``delayed_synapse`` choices: the process of a delayed recurrent synapse.
DELAYED_SYNAPSES = ("sparse", "dense")

_SIGN_MODES = {SYNAPSE_SIGN_MODE.MIXED: SignMode.MIXED,
               SYNAPSE_SIGN_MODE.EXCITATORY: SignMode.EXCITATORY,
               SYNAPSE_SIGN_MODE.INHIBITORY: SignMode.INHIBITORY}


@dataclass(frozen=True)
class NeuronReset:
    """NetX's between-sample reset (``hdf5.Network(reset_interval=...,
    reset_offset=...)``): every layer is a ``LIFReset`` that zeroes its ``u``
    and ``v`` once every ``interval`` steps, layer ``l`` (from 1) at the Lava
    time steps ``t`` with ``t % interval == (offset + l) % interval`` -- the
    step in which each sample's first input reaches it if the sample's first
    input column reaches layer 1's synapse at time step ``offset`` (mod
    ``interval``). The synapses' buffers are not reset."""

    interval: int
    offset: int

    def layer_offset(self, layer: int) -> int:
        return (self.offset + layer) % self.interval


@dataclass
class LavaLayer:
    """The processes of one layer; ``synapse.s_in`` receives presynaptic spikes."""

    neuron: LIF
    synapse: AbstractProcess
    recurrent: AbstractProcess | None = None
    channel_synapses: list[AbstractProcess] = field(default_factory=list)  # 'dchan_rec': one per delay channel

    @property
    def stateful(self) -> list[tuple[AbstractProcess, str]]:
        """(process, var name) pairs that carry state from one step to the next:
        the neuron's ``u``, ``v`` and each synapse's activation / delay buffer."""
        pairs = [(self.neuron, "u"), (self.neuron, "v"), (self.synapse, "a_buff")]
        if self.recurrent is not None:
            pairs.append((self.recurrent, "a_buff"))
        pairs += [(synapse, "a_buff") for synapse in self.channel_synapses]
        return pairs


@dataclass
class LavaNetwork:
    """Built, unconnected-to-I/O processes of a network (no source, no sinks)."""

    spec: NetworkSpec
    layers: list[LavaLayer] = field(default_factory=list)

    @property
    def input_port(self):
        """InPort for the external spikes ``[input_size]`` (layer 1's synapse)."""
        return self.layers[0].synapse.s_in

    @property
    def output_port(self):
        """OutPort of the last layer's spikes ``[N_out]``."""
        return self.layers[-1].neuron.s_out


@dataclass(frozen=True)
class LayerWeights:
    """A layer's synapse parameters for Lava: ``weight`` ``[N, in]`` and
    ``weight_rec`` ``[N, N]`` (or None) are the mantissas given to the
    processes; ``weight_exp``, ``num_weight_bits`` and ``sign_mode`` are
    shared by both synapses."""

    weight: np.ndarray
    weight_rec: np.ndarray | None
    weight_exp: int
    num_weight_bits: int
    sign_mode: SignMode

    @property
    def scaling(self) -> dict:
        return dict(weight_exp=self.weight_exp, num_weight_bits=self.num_weight_bits,
                    sign_mode=self.sign_mode)


# --------------------------------------------------------------------------- weights

def _lava_effective(mantissa: np.ndarray, bits: int, exponent: int, sign: SignMode) -> np.ndarray | None:
    """What Lava's fixed-point synapse models (and Loihi) make of ``mantissa``, in
    units of the original weights; None if the exponent scaling is not exact."""
    processed = truncate_weights(clip_weights(mantissa.astype(np.int32), sign, num_bits=8), sign, bits)
    processed = np.asarray(processed, dtype=np.int64)
    if exponent >= 0:
        return processed << exponent
    shift = -exponent
    # the models shift the *sum* right by -exponent: exact iff every weight is a multiple of 2^shift
    return None if np.any(processed & ((1 << shift) - 1)) else processed >> shift


def layer_weights(layer: LayerSpec, where: str = "") -> LayerWeights:
    """Shared scaling of a validated layer's ``W`` and ``R`` for Lava's synapses.

    lava-dl's ``optimize_weight_bits([W | R])`` picks mantissas, bits and
    exponent. Upstream, it scales a matrix whose values are all <= 0 (or a
    sub-matrix of a mixed layer that is all <= 0) down to -256, which Lava's
    ``clip_weights`` then turns into -255 (inhibitory magnitudes are 8-bit
    unsigned) -- wrong weights, silently. So the sign mode is passed to the
    processes explicitly and the choice is checked with Lava's own clip and
    truncate; if it is not exact, Lava's own ``optimize_weight_bits`` (which
    scales inhibitory weights to -255) is tried, then the plain 8-bit
    mixed-sign encoding (exponent 0, exact for even weights in [-256, 254]). Raises
    :class:`UnsupportedLayerError` if neither represents the weights exactly.
    """
    mats = [layer.weight] + ([layer.weight_rec] if layer.weight_rec is not None else [])
    joined = np.hstack(mats).astype(np.int64)
    candidates = []
    if joined.any():
        with np.errstate(divide="ignore"):  # it divides by a zero max / min weight
            mantissa, bits, exponent, sign = optimize_weight_bits(joined)
        candidates.append((np.asarray(mantissa, dtype=np.int64), int(bits), int(exponent), _SIGN_MODES[sign]))
        # Lava's own optimizer scales inhibitory weights to -255 (consistent with its clip)
        sign = determine_sign_mode(joined)
        lava_opt = lava_optimize_weight_bits(joined.astype(np.int32), sign)
        candidates.append((np.asarray(lava_opt.weights, dtype=np.int64), int(lava_opt.num_weight_bits),
                           int(lava_opt.weight_exp), sign))
    candidates.append((joined, 8, 0, SignMode.MIXED))
    for mantissa, bits, exponent, sign in candidates:
        if not 1 <= bits <= 8:  # lava-dl asks for 9 bits for odd mixed-sign weights: not a Loihi width
            continue
        effective = _lava_effective(mantissa, bits, exponent, sign)
        if effective is not None and np.array_equal(effective, joined):
            n_in = layer.in_features
            rec = mantissa[:, n_in:] if layer.weight_rec is not None else None
            return LayerWeights(mantissa[:, :n_in], rec, exponent, bits, sign)
    raise UnsupportedLayerError(f"{where or 'layer'}: weights cannot be represented exactly by Loihi's "
                                f"8-bit synapse with one shared exponent (odd weights with magnitude > 127?)")


# --------------------------------------------------------------------------- building

def build_layer(layer: LayerSpec, name: str, where: str = "", reset: NeuronReset | None = None,
                index: int = 1, delayed_synapse: str = "sparse", max_vth: int | None = None) -> LavaLayer:
    """Processes and internal connections of one layer of a validated spec
    (:meth:`NetworkSpec.validate`; ``where`` names it in errors); ``index``:
    its position from 1, for ``reset``'s per-layer offset; see
    :func:`build_network` for the rest."""
    n = layer.num_neurons
    matrices = None
    if layer.delay_channels is not None:  # [D, N, N]; scaled with W as one [W | R_0 | .. | R_D-1]
        matrices = layer.delay_channels.matrices(n)
        layer = replace(layer, weight_rec=np.hstack(list(matrices)))
    weights = layer_weights(layer, where or name)
    vth = layer.neuron.vth_mant if max_vth is None else min(layer.neuron.vth_mant, max_vth)
    params = dict(shape=(n,), vth=vth, du=layer.neuron.i_decay - 1,
                  dv=layer.neuron.v_decay, bias_mant=0, bias_exp=6, name=f"{name}.lif")
    neuron = LIF(**params) if reset is None else \
        LIFReset(reset_interval=reset.interval, reset_offset=reset.layer_offset(index), **params)
    if layer.delay is not None and layer.delay.any():
        delays = np.repeat(layer.delay.reshape(-1, 1), layer.in_features, axis=1).astype(np.int64)
        synapse = DelayDense(weights=weights.weight, delays=delays, max_delay=int(layer.delay.max()),
                             name=f"{name}.dense", **weights.scaling)
    else:
        synapse = Dense(weights=weights.weight, name=f"{name}.dense", **weights.scaling)
    synapse.a_out.connect(neuron.a_in)
    recurrent = None
    rec = weights.weight_rec
    if matrices is not None:
        return LavaLayer(neuron, synapse, channel_synapses=_channel_synapses(
            layer, rec, neuron, name, weights, delayed_synapse))
    if rec is not None and rec.any():
        sparse = csr_matrix(rec)
        if layer.delay_rec is not None and layer.delay_rec.any():
            delays = np.where(rec != 0, layer.delay_rec[None, :], 0).astype(np.int64)
            delayed = dict(max_delay=int(layer.delay_rec.max()), name=f"{name}.rec", **weights.scaling)
            recurrent = DelaySparse(weights=sparse, delays=csr_matrix(delays), **delayed) \
                if delayed_synapse == "sparse" else DelayDense(weights=rec, delays=delays, **delayed)
        else:
            recurrent = Sparse(weights=sparse, name=f"{name}.rec", **weights.scaling)
        neuron.s_out.connect(recurrent.s_in)
        recurrent.a_out.connect(neuron.a_in)
    return LavaLayer(neuron, synapse, recurrent)


def _channel_synapses(layer: LayerSpec, rec: np.ndarray, neuron: LIF, name: str, weights: LayerWeights,
                      delayed_synapse: str) -> list[AbstractProcess]:
    """A 'dchan_rec' layer's recurrent synapses, ``LIF.s_out`` -> synapse ->
    ``LIF.a_in``: delay channel ``d`` carries columns ``d * N .. (d + 1) * N``
    of the mantissas ``rec`` with the scalar delay ``delays[d]``."""
    n = layer.num_neurons
    synapses: list[AbstractProcess] = []
    for d, delay in enumerate(layer.delay_channels.delays.tolist()):
        block = np.ascontiguousarray(rec[:, d * n:(d + 1) * n])
        if not block.any():
            continue
        process_name = f"{name}.rec{d}"
        if delay == 0:
            synapse = Sparse(weights=csr_matrix(block), name=process_name, **weights.scaling)
        elif delayed_synapse == "sparse":
            synapse = DelaySparse(weights=csr_matrix(block), delays=int(delay), max_delay=int(delay),
                                  name=process_name, **weights.scaling)
        else:
            synapse = DelayDense(weights=block, delays=int(delay), max_delay=int(delay), name=process_name,
                                 **weights.scaling)
        neuron.s_out.connect(synapse.s_in)
        synapse.a_out.connect(neuron.a_in)
        synapses.append(synapse)
    return synapses


def lava_spec(spec: NetworkSpec) -> NetworkSpec:
    """``spec`` checked (:meth:`NetworkSpec.validate`) and within what Lava's processes
    express, else :class:`UnsupportedLayerError` naming the layer."""
    checked = spec.validate()
    for i, layer in enumerate(checked.layers, start=1):
        if layer.neuron.i_decay == 0:
            # Lava's LIF decays u by (du + 1) / 4096 and du is a 12-bit unsigned field
            raise UnsupportedLayerError(f"{checked.source}: layer {i} ({layer.type}): iDecay = 0 (no current decay) "
                                        f"cannot be expressed by Lava's LIF (du = iDecay - 1 must be >= 0)")
    return checked


def build_network(spec: NetworkSpec, reset: NeuronReset | None = None,
                  delayed_synapse: str = "sparse", max_vth: int | None = None) -> LavaNetwork:
    """Check ``spec`` (:func:`lava_spec`) and build all layers, chained: layer ``l``'s spikes feed
    layer ``l + 1``'s synapse. Connect a source to ``input_port`` and sinks to
    the neurons' ``s_out`` to run it (:class:`sim.cpu.runner.LavaRunner` does).
    ``reset``: ``LIFReset`` neurons on that schedule instead of ``LIF``;
    ``delayed_synapse``: ``"sparse"`` (``DelaySparse``) or ``"dense"``
    (``DelayDense``) for the delayed recurrent synapses; ``max_vth``: build
    larger threshold mantissas (a non-spiking layer's) as this one."""
    if delayed_synapse not in DELAYED_SYNAPSES:
        raise ValueError(f"delayed_synapse must be one of {DELAYED_SYNAPSES}, got {delayed_synapse!r}")
    checked = lava_spec(spec)
    net = LavaNetwork(checked)
    for i, layer in enumerate(checked.layers, start=1):
        lava_layer = build_layer(layer, f"layer{i}", f"{checked.source}: layer {i} ({layer.type})", reset, i,
                                 delayed_synapse, max_vth)
        if net.layers:
            net.layers[-1].neuron.s_out.connect(lava_layer.synapse.s_in)
        net.layers.append(lava_layer)
    return net


__all__ = ["DELAYED_SYNAPSES", "NeuronReset", "LavaLayer", "LavaNetwork", "LayerWeights", "layer_weights",
           "lava_spec", "build_layer", "build_network"]
