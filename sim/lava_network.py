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
  types whose delays are all 0); a delayed recurrence (``delay_rec``,
  ``conv_rec``: ``I_rec(t) = sum_j R_ij s_j(t - 1 - d_j)``) as one of
  :data:`DELAYED_SYNAPSES` (all bit-identical on the CPU,
  tests/test_hardware_graph.py; docs/loihi2.md says which the chip has run):

  - ``"dense"``: ``DelayDense`` with the per-synapse matrix ``delays[i, j] =
    delay_rec[j]`` where ``R[i, j] != 0`` (0 elsewhere), ``max_delay =
    max(delay_rec)``: ``N x N`` synapses;
  - ``"groups"``: one ``DelayDense`` per distinct delay ``d`` with the
    *scalar* delay ``d`` and ``R``'s columns of the neurons with
    ``delay_rec[j] == d`` (the others 0; ``Dense`` for ``d = 0``): what the
    public Loihi 2 delay experiment ran; ``N x N`` synapses per group;
  - ``"sparse"``: ``DelaySparse`` whose delay matrix is stored on the weight
    matrix's own pattern (``indices`` / ``indptr`` shared, explicit zeros
    kept where a delay is 0): ``csr_matrix(delays)`` would drop those, and a
    chip compiler pairing the two by position would then pair them wrongly.

  ``conv_rec`` uses its banded ``weight_rec``: about ``k * C`` non-zeros per row;
- delay channels (``dchan_rec``): one recurrent synapse per delay channel
  ``d``, its banded depthwise weights (``k`` non-zeros per row) with the one
  scalar delay ``delays[d]`` (all-zero channels are left out). The channels
  are the layer's delay groups, so ``"dense"`` and ``"groups"`` build the
  same graph: ``DelayDense`` with the scalar delay (``Dense`` at delay 0),
  ``N x N`` synapses per channel; ``"sparse"``: ``DelaySparse`` with the
  delay on the weights' pattern (``Sparse`` at delay 0), the non-zeros.

A ``conv`` layer (the front end) is built as stock NetX builds its ``conv``
layers: Lava's ``Conv`` (``lava.proc.conv``) into a ``LIF`` of shape
``(X, Y, C) = (F, 1, C_out)``, Lava's channel-last layout. The file's neurons
are channel-major (``n = c * F + f``, docs/hdf5-format.md), so every
connection out of a conv layer to a flat population goes through
``s_out.transpose([2, 1, 0]).flatten()`` -- ``(C, 1, F)`` in C order, exactly
``c * F + f``, what stock NetX's ``flatten`` layer does; conv to conv is
direct, and the network input, one channel of ``F`` positions, is reshaped
to ``(F, 1, 1)`` (the file allows a conv layer nowhere else). The
kernel ``K[o, i, m]`` (cross-correlation, as SLAYER and PyTorch) becomes
Lava's ``weight[o, k - 1 - m, 0, i]`` (``(C_out, kX, kY, C_in)``, a true
convolution; stock NetX flips it the same way), padding ``(k // 2, 0)``, the
file's weights with exponent 0 (as stock NetX passes them).

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
from lava.proc.conv.process import Conv
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.lif.process import LIF, LIFReset
from lava.proc.sparse.process import DelaySparse, Sparse
from lava.utils.weightutils import SignMode, clip_weights, determine_sign_mode, truncate_weights
from lava.utils.weightutils import optimize_weight_bits as lava_optimize_weight_bits
from scipy.sparse import csr_matrix

from netx_export.spec import LayerSpec, NetworkSpec
from sim.errors import UnsupportedLayerError
from sim.graph_options import DELAYED_SYNAPSES, delay_groups
from sim.readout_band import built_vth

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
    """The processes of one layer; ``synapse.s_in`` receives presynaptic spikes.
    A conv layer's neuron and synapse output are ``(F, 1, C)`` (Lava's layout);
    :meth:`spikes` and :meth:`receive` map them to and from the file's order."""

    neuron: LIF
    synapse: AbstractProcess
    #: the recurrent synapse(s): none, one, one per delay (``"groups"``) or per delay channel (``dchan_rec``)
    recurrent: list[AbstractProcess] = field(default_factory=list)

    @property
    def is_conv(self) -> bool:
        return isinstance(self.synapse, Conv)

    @property
    def stateful(self) -> list[tuple[AbstractProcess, str]]:
        """(process, var name) pairs that carry state from one step to the next:
        the neuron's ``u``, ``v`` and each synapse's activation / delay buffer."""
        pairs = [(self.neuron, "u"), (self.neuron, "v"), (self.synapse, "a_buf" if self.is_conv else "a_buff")]
        return pairs + [(process, "a_buff") for process in self.recurrent]

    def spikes(self):
        """A port of the layer's spikes ``[N]`` in the file's neuron order (a new
        virtual port each call for a conv layer: its ``(F, 1, C)`` channel-major)."""
        if self.is_conv:
            return self.neuron.s_out.transpose([2, 1, 0]).flatten()
        return self.neuron.s_out

    def receive(self, port) -> None:
        """Connect ``port`` (presynaptic spikes ``[in]``, the file's order) to the synapse."""
        if self.is_conv:  # only the network input, one channel: (F,) is (F, 1, 1) in any order
            port = port.reshape(self.synapse.s_in.shape)
        port.connect(self.synapse.s_in)

    def feed(self, target: LavaLayer) -> None:
        """Connect this layer's spikes to ``target``'s synapse."""
        if self.is_conv and target.is_conv:  # both (F, 1, C): Lava's layout on each side
            self.neuron.s_out.connect(target.synapse.s_in)
        else:
            target.receive(self.spikes())


@dataclass
class LavaNetwork:
    """Built, unconnected-to-I/O processes of a network (no source, no sinks)."""

    spec: NetworkSpec
    layers: list[LavaLayer] = field(default_factory=list)

    @property
    def input_port(self):
        """InPort of layer 1's synapse; ``(F, 1, 1)`` for a conv front end, whose flat
        ``[input_size]`` input goes through :meth:`connect_input`."""
        return self.layers[0].synapse.s_in

    def connect_input(self, port) -> None:
        """Connect ``port``, the external spikes ``[input_size]``, to layer 1."""
        self.layers[0].receive(port)

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
                index: int = 1, delayed_synapse: str = "sparse") -> LavaLayer:
    """Processes and internal connections of one layer of a validated spec
    (:meth:`NetworkSpec.validate`; ``where`` names it in errors); ``index``:
    its position from 1, for ``reset``'s per-layer offset; see
    :func:`build_network` for the rest."""
    n = layer.num_neurons
    conv = layer.ff_conv
    shape = (n // conv.channels, 1, conv.channels) if conv is not None else (n,)
    params = dict(shape=shape, vth=built_vth(layer.neuron), du=layer.neuron.i_decay - 1,
                  dv=layer.neuron.v_decay, bias_mant=0, bias_exp=6, name=f"{name}.lif")
    neuron = LIF(**params) if reset is None else \
        LIFReset(reset_interval=reset.interval, reset_offset=reset.layer_offset(index), **params)
    if conv is not None:
        synapse = conv_synapse(layer, name)
        synapse.a_out.connect(neuron.a_in)
        return LavaLayer(neuron, synapse)
    channels = layer.delay_channels
    if channels is not None:  # [D, N, N]; scaled with W as one [W | R_0 | .. | R_D-1]
        layer = replace(layer, weight_rec=np.hstack(list(channels.matrices(n))))
    weights = layer_weights(layer, where or name)
    if layer.delay is not None and layer.delay.any():
        delays = np.repeat(layer.delay.reshape(-1, 1), layer.in_features, axis=1).astype(np.int64)
        synapse = DelayDense(weights=weights.weight, delays=delays, max_delay=int(layer.delay.max()),
                             name=f"{name}.dense", **weights.scaling)
    else:
        synapse = Dense(weights=weights.weight, name=f"{name}.dense", **weights.scaling)
    synapse.a_out.connect(neuron.a_in)
    rec = weights.weight_rec
    recurrent: list[AbstractProcess] = []
    if channels is not None:
        recurrent = channel_synapses(rec, channels.delays, f"{name}.rec", weights.scaling, delayed_synapse)
    elif rec is not None and rec.any():
        if layer.delay_rec is not None and layer.delay_rec.any():
            recurrent = delayed_recurrence(rec, layer.delay_rec, f"{name}.rec", weights.scaling, delayed_synapse)
        else:
            recurrent = [Sparse(weights=csr_matrix(rec), name=f"{name}.rec", **weights.scaling)]
    for process in recurrent:
        neuron.s_out.connect(process.s_in)
        process.a_out.connect(neuron.a_in)
    return LavaLayer(neuron, synapse, recurrent)


def conv_synapse(layer: LayerSpec, name: str) -> Conv:
    """Lava's ``Conv`` of a validated ``conv`` layer: input ``(F, 1, C_in)``, output
    ``(F, 1, C_out)``, the kernel flipped into Lava's convolution (module docstring)."""
    conv = layer.ff_conv
    positions = layer.in_features // conv.in_channels
    weight = np.ascontiguousarray(conv.kernel[:, :, ::-1].transpose(0, 2, 1)[:, :, None, :]).astype(np.int32)
    return Conv(weight=weight, weight_exp=0, num_weight_bits=8, input_shape=(positions, 1, conv.in_channels),
                padding=(conv.kernel_size // 2, 0), stride=1, dilation=1, groups=1, name=f"{name}.conv")


def delay_pattern(weights: csr_matrix, delay_rec: np.ndarray) -> csr_matrix:
    """The delay matrix ``delays[i, j] = delay_rec[j]`` stored on ``weights``'
    own pattern (same ``indices`` / ``indptr``; a delay of 0 stays an explicit
    entry beside its non-zero weight)."""
    data = np.asarray(delay_rec, np.int64)[weights.indices]
    return csr_matrix((data, weights.indices.copy(), weights.indptr.copy()), shape=weights.shape)


def delayed_recurrence(rec: np.ndarray, delay_rec: np.ndarray, name: str, scaling: dict,
                       delayed_synapse: str) -> list[AbstractProcess]:
    """The process(es) of a delayed recurrent synapse ``rec`` ``[N, N]``
    (mantissas) with per-presynaptic delays ``delay_rec`` ``[N]``, as
    ``delayed_synapse`` asks (module docstring)."""
    delay_rec = np.asarray(delay_rec, np.int64)
    if delayed_synapse == "groups":
        groups: list[AbstractProcess] = []
        for d in delay_groups(rec, delay_rec):
            part = np.where(delay_rec[None, :] == d, rec, 0)
            groups.append(Dense(weights=part, name=f"{name}.d{d}", **scaling) if d == 0 else
                          DelayDense(weights=part, delays=int(d), max_delay=int(d), name=f"{name}.d{d}", **scaling))
        return groups
    delayed = dict(max_delay=int(delay_rec.max()), name=name, **scaling)
    if delayed_synapse == "sparse":
        sparse = csr_matrix(rec)
        return [DelaySparse(weights=sparse, delays=delay_pattern(sparse, delay_rec), **delayed)]
    delays = np.where(rec != 0, delay_rec[None, :], 0).astype(np.int64)
    return [DelayDense(weights=rec, delays=delays, **delayed)]


def channel_synapses(rec: np.ndarray, delays: np.ndarray, name: str, scaling: dict,
                     delayed_synapse: str) -> list[AbstractProcess]:
    """A 'dchan_rec' layer's recurrent synapses: delay channel ``d`` carries
    columns ``d * N .. (d + 1) * N`` of the mantissas ``rec`` ``[N, D * N]``
    with the scalar delay ``delays[d]``, as ``delayed_synapse`` asks (module
    docstring); all-zero channels are left out."""
    n = rec.shape[0]
    synapses: list[AbstractProcess] = []
    for d, delay in enumerate(np.asarray(delays, np.int64).tolist()):
        block = np.ascontiguousarray(rec[:, d * n:(d + 1) * n])
        if not block.any():
            continue
        process_name = f"{name}{d}"
        if delayed_synapse == "sparse":
            sparse = csr_matrix(block)
            synapses.append(Sparse(weights=sparse, name=process_name, **scaling) if delay == 0 else
                            DelaySparse(weights=sparse, delays=delay_pattern(sparse, np.full(n, delay)),
                                        max_delay=delay, name=process_name, **scaling))
        else:
            synapses.append(Dense(weights=block, name=process_name, **scaling) if delay == 0 else
                            DelayDense(weights=block, delays=delay, max_delay=delay, name=process_name, **scaling))
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
                  delayed_synapse: str = "sparse") -> LavaNetwork:
    """Check ``spec`` (:func:`lava_spec`) and build all layers, chained: layer ``l``'s spikes feed
    layer ``l + 1``'s synapse. Connect a source to ``input_port`` and sinks to
    the neurons' ``s_out`` to run it (:class:`sim.cpu.runner.LavaRunner` does).
    ``reset``: ``LIFReset`` neurons on that schedule instead of ``LIF``;
    ``delayed_synapse``: one of :data:`DELAYED_SYNAPSES` for the delayed
    recurrent synapses (module docstring). A non-spiking output layer gets the
    threshold :data:`~lava_convdelay.limits.READOUT_VTH`
    (:func:`sim.readout_band.built_vth`), as in every simulator."""
    if delayed_synapse not in DELAYED_SYNAPSES:
        raise ValueError(f"delayed_synapse must be one of {DELAYED_SYNAPSES}, got {delayed_synapse!r}")
    checked = lava_spec(spec)
    net = LavaNetwork(checked)
    for i, layer in enumerate(checked.layers, start=1):
        lava_layer = build_layer(layer, f"layer{i}", f"{checked.source}: layer {i} ({layer.type})", reset, i,
                                 delayed_synapse)
        if net.layers:
            net.layers[-1].feed(lava_layer)
        net.layers.append(lava_layer)
    return net


__all__ = ["DELAYED_SYNAPSES", "NeuronReset", "LavaLayer", "LavaNetwork", "LayerWeights", "layer_weights",
           "lava_spec", "build_layer", "conv_synapse", "delay_pattern", "delayed_recurrence", "build_network"]
