"""The micro-tests of ``loihi2-selftest``: each a few neurons and steps, each
a question about the chip whose answer the project depends on. What the CPU
rehearsal gives (Lava's bit-accurate models) is the reference; column ``t``
is time step ``t`` (an input at column ``c`` reaches a LIF at ``c + 1``,
through a delay ``d`` at ``c + 1 + d``). Evidence behind each, and what to
do when one differs: docs/loihi2.md ("The self-test").

Neurons are ``LIF(vth, du, dv, bias_mant=0, bias_exp=6)`` in Lava's units
(``du = 4095``: the current lasts one step; ``dv = 4095``: so does the
voltage; ``du = dv = 0``: almost no decay).
"""
from __future__ import annotations

from functools import partial

import numpy as np
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.lif.process import LIF, LIFReset
from lava.proc.sparse.process import DelaySparse
from scipy.sparse import csr_matrix

from lava_convdelay.limits import MAX_RESET_INTERVAL
from sim.loihi2.selftest.harness import MicroGraph, MicroTest

__all__ = ["MICRO_TESTS", "RESET_PERIODS", "READOUT_THRESHOLDS", "micro_test"]

#: LIFReset intervals tried (the schedule caps LIFReset at 256 unless told otherwise)
RESET_PERIODS = (64, 256, 512)
#: readout thresholds tried: 2^15, the project's READOUT_VTH 2^16 - 1, 2^16, 2^17 - 1
READOUT_THRESHOLDS = (1 << 15, (1 << 16) - 1, 1 << 16, (1 << 17) - 1)
#: two input channels (0 at column 0, 1 at column 2) into two neurons, for the delay tests
DELAY_INPUT = np.array([[1, 0, 0] + [0] * 9, [0, 0, 1] + [0] * 9], np.int32)
DELAY_WEIGHTS = np.full((2, 2), 254)
#: per synapse, with a delay of 0 beside a non-zero weight (what csr_matrix(delays) used to drop)
DELAY_MATRIX = np.array([[3, 0], [5, 1]])


def _lif(n: int, vth: int, du: int, dv: int, name: str, reset: tuple[int, int] | None = None) -> LIF:
    params = dict(shape=(n,), vth=vth, du=du, dv=dv, bias_mant=0, bias_exp=6, name=name)
    if reset is None:
        return LIF(**params)
    return LIFReset(reset_interval=reset[0], reset_offset=reset[1], **params)


def _input(channels: int, steps: int, columns) -> np.ndarray:
    data = np.zeros((channels, steps), np.int32)
    data[:, list(columns)] = 1
    return data


def _chain(data: np.ndarray, synapse, neuron) -> MicroGraph:
    synapse.a_out.connect(neuron.a_in)
    return MicroGraph(data, [synapse.s_in], [neuron])


def dense_lif() -> MicroGraph:
    """Inputs at columns 0, 1, 4 (12 steps) into three neurons: weight 254
    fires at 1, 2, 5 (its ``v`` there: the post-spike value, 0 on the CPU);
    weight 2 holds 128 at 1, 2, 5 (``dv = 4095``); weight 2 with ``dv =
    1024`` runs 128, 224, 168, 126, 222, ... (not multiples of 128)."""
    synapses = [Dense(weights=np.array([[w]]), name=f"dense{i}") for i, w in enumerate((254, 2, 2))]
    neurons = [_lif(1, 100, 4095, 4095, "fires"), _lif(1, 100, 4095, 4095, "holds"),
               _lif(1, 100, 4095, 1024, "decays")]
    for synapse, neuron in zip(synapses, neurons):
        synapse.a_out.connect(neuron.a_in)
    return MicroGraph(_input(1, 12, (0, 1, 4)), [s.s_in for s in synapses], neurons)


def lifreset_step() -> MicroGraph:
    """Weight 2 every step into ``LIFReset(reset_interval=8, reset_offset=3)``
    without decay (20 steps): ``u``, ``v`` are zeroed at time steps 3 and 11,
    i.e. ``v`` drops at columns 2 and 10."""
    return _chain(np.ones((1, 20), np.int32), Dense(weights=np.array([[2]]), name="dense"),
                  _lif(1, (1 << 17) - 1, 0, 0, "lifreset", reset=(8, 3)))


def lifreset_period(period: int) -> MicroGraph:
    """Weight 2 every step into ``LIFReset(reset_interval=period,
    reset_offset=1)`` (``u`` one step long, ``v`` without decay), ``2 period +
    4`` steps: ``v`` climbs by 128 a step and drops at columns ``period`` and
    ``2 period``."""
    return _chain(np.ones((1, 2 * period + 4), np.int32), Dense(weights=np.array([[2]]), name="dense"),
                  _lif(1, (1 << 17) - 1, 4095, 0, "lifreset", reset=(period, 1)))


def _delay_neurons() -> LIF:
    return _lif(2, 100, 4095, 4095, "lif")


def delay_dense_scalar() -> MicroGraph:
    """``DelayDense`` with one delay (4) for all synapses: neuron 0 and 1 fire
    at 0 + 1 + 4 = 5 and 2 + 1 + 4 = 7."""
    return _chain(DELAY_INPUT, DelayDense(weights=DELAY_WEIGHTS, delays=4, name="delaydense"), _delay_neurons())


def delay_dense_matrix() -> MicroGraph:
    """``DelayDense`` with per-synapse delays :data:`DELAY_MATRIX`: neuron 0 fires
    at 3 (channel 1, delay 0) and 4 (channel 0, delay 3), neuron 1 at 4 and 6."""
    return _chain(DELAY_INPUT, DelayDense(weights=DELAY_WEIGHTS, delays=DELAY_MATRIX, max_delay=5, name="delaydense"),
                  _delay_neurons())


def delay_sparse_scalar() -> MicroGraph:
    """As :func:`delay_dense_scalar`, with ``DelaySparse``."""
    return _chain(DELAY_INPUT, DelaySparse(weights=csr_matrix(DELAY_WEIGHTS), delays=4, name="delaysparse"),
                  _delay_neurons())


def delay_sparse_matrix() -> MicroGraph:
    """As :func:`delay_dense_matrix`, with ``DelaySparse`` and the delays stored on
    the weights' pattern (the explicit 0 kept, :func:`sim.lava_network.delay_pattern`)."""
    weights = csr_matrix(DELAY_WEIGHTS)
    rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
    delays = csr_matrix((DELAY_MATRIX[rows, weights.indices], weights.indices.copy(), weights.indptr.copy()),
                        shape=weights.shape)
    return _chain(DELAY_INPUT, DelaySparse(weights=weights, delays=delays, max_delay=5, name="delaysparse"),
                  _delay_neurons())


def delay_loop(process: str) -> MicroGraph:
    """A recurrent self-loop through ``process`` (delay 3, weight 254) on one
    neuron that an input at column 0 starts (16 steps): a spike at ``t``
    returns at ``t + 1 + 3``, so it fires at 1, 5, 9, 13."""
    neuron = _lif(1, 100, 4095, 4095, "lif")
    loop = DelayDense(weights=np.array([[254]]), delays=np.array([[3]]), max_delay=3, name="loop") \
        if process == "DelayDense" else \
        DelaySparse(weights=csr_matrix(np.array([[254]])), delays=csr_matrix(np.array([[3]])), max_delay=3,
                    name="loop")
    neuron.s_out.connect(loop.s_in)
    loop.a_out.connect(neuron.a_in)
    return _chain(_input(1, 16, (0,)), Dense(weights=np.array([[254]]), name="dense"), neuron)


def negative_voltage() -> MicroGraph:
    """One spike through weight -254 into a neuron whose voltage does not decay:
    ``v = -254 * 64 = -16256`` from column 1 (a raw 24-bit read gives 16760960)."""
    return _chain(_input(1, 6, (0,)), Dense(weights=np.array([[-254]]), name="dense"),
                  _lif(1, 100, 4095, 0, "lif"))


def readout_threshold(vth: int) -> MicroGraph:
    """Weight 254 every step, no decay (60 steps): ``v`` grows as about
    ``16256 t (t + 1) / 2`` and the neuron first fires where it exceeds
    ``vth << 6`` -- column 16 for 2^15, 23 for 2^16 - 1 and 2^16, 32 for 2^17 - 1."""
    return _chain(np.ones((1, 60), np.int32), Dense(weights=np.array([[254]]), name="dense"),
                  _lif(1, vth, 0, 0, f"readout{vth}"))


def burst() -> MicroGraph:
    """140 input channels all spiking at column 1 into one neuron through weights
    254: ``u = v = 140 * 254 * 64 = 2275840`` at column 2 (more than a 16-bit
    activation holds: a saturating one gives 2097088, a wrapping one -1918464;
    fewer spikes through the adapter, less)."""
    return _chain(_input(140, 6, (1,)), Dense(weights=np.full((1, 140), 254), name="dense"),
                  _lif(1, (1 << 17) - 1, 4095, 4095, "lif"))


def _period_fallback(period: int) -> str:
    if period > MAX_RESET_INTERVAL:
        return (f"nothing to switch: deploy already resets from the host beyond {MAX_RESET_INTERVAL} steps "
                f"(--reset auto); only if this passes may --max-reset-interval go up to {period}")
    return f"LIFReset intervals of {period} steps do not work here: deploy --reset host"


_SWITCH_DELAYS = ("deploy --delayed-synapse groups (one scalar-delay DelayDense per delay value) if the scalar "
                  "test passes; --delayed-synapse sparse if only DelaySparse passes")

#: every micro-test in the order the runbook reads them (docs/loihi2.md)
MICRO_TESTS: tuple[MicroTest, ...] = (
    MicroTest("dense_lif", "Dense + LIF through the adapters: spikes and voltages at the calibrated offsets; "
              "the firing neuron's voltage in its spike steps is the post-spike value",
              "if only the firing neuron's voltage differs at its spike steps, that is the chip's post-spike "
              "register value (tolerated); any other difference: the adapters' offsets are not constant -- "
              "report it, nothing to switch", dense_lif),
    MicroTest("lifreset_step", "LIFReset(interval 8, offset 3) zeroes u, v at time steps 3 and 11",
              "a reset k steps late/early: the chip counts reset_offset differently -- deploy --reset host "
              "(u, v zeroed from the host between samples)", lifreset_step),
    *(MicroTest(f"lifreset_period_{p}", f"LIFReset with a {p}-step interval compiles and resets at columns {p} "
                f"and {2 * p}", _period_fallback(p), partial(lifreset_period, p))
      for p in RESET_PERIODS),
    MicroTest("delay_dense_scalar", "DelayDense with one scalar delay (4) for all synapses",
              "no delayed synapse works: the network's delays cannot run on this chip (report it)",
              delay_dense_scalar),
    MicroTest("delay_dense_matrix", "DelayDense with per-synapse delays, a delay of 0 beside non-zero weights",
              _SWITCH_DELAYS, delay_dense_matrix),
    MicroTest("delay_dense_loop", "a recurrent self-loop through DelayDense (delay 3): spikes at 1, 5, 9, 13",
              "recurrent delays arrive at other steps: report the shift; try --delayed-synapse sparse",
              partial(delay_loop, "DelayDense")),
    MicroTest("delay_sparse_scalar", "DelaySparse with one scalar delay (4)",
              "DelaySparse does not work: keep the default --delayed-synapse dense", delay_sparse_scalar),
    MicroTest("delay_sparse_matrix", "DelaySparse with per-synapse delays stored on the weights' pattern",
              "keep the default --delayed-synapse dense", delay_sparse_matrix),
    MicroTest("delay_sparse_loop", "a recurrent self-loop through DelaySparse (delay 3)",
              "keep the default --delayed-synapse dense", partial(delay_loop, "DelaySparse")),
    MicroTest("negative_voltage", "a negative voltage (-16256) through the state probe",
              "16760960 (= 2^24 - 16256): the probe returns raw 24-bit values and they were not sign-extended "
              "(sim.loihi2.backend.sign_extend_24 must be on this read path); scrambled values: the probe's "
              "layout is not reshape(N, -1) -- report it", negative_voltage),
    *(MicroTest(f"readout_vth_{v}", f"a threshold of {v} (v > {v << 6} fires) behaves as on the CPU",
                "the readout's threshold field cannot hold this value: READOUT_VTH (lava_convdelay/limits.py) "
                "must be the largest threshold whose test passes", partial(readout_threshold, v))
      for v in READOUT_THRESHOLDS),
    MicroTest("burst_140", "140 simultaneous input spikes at weight 254 reach one neuron (2275840)",
              "2097088: the activation saturates at 16 bits; -1918464: it wraps; less: the input adapter drops "
              "spikes -- lower the first layer's weights (or split bursts); deploy's per-step input line "
              "warns above 32767", burst),
)


def micro_test(name: str) -> MicroTest:
    """The micro-test called ``name`` (ValueError naming the others)."""
    for test in MICRO_TESTS:
        if test.name == name:
            return test
    raise ValueError(f"unknown micro-test {name!r} ({', '.join(t.name for t in MICRO_TESTS)})")
