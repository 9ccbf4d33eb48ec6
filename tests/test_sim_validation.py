"""The Lava builder refuses what it cannot map, naming the source, the layer
and the value; and its weight scaling gives back exactly the weights."""
import dataclasses

import numpy as np
import pytest
import torch
from naive_reference import naive_banded

from lava_convdelay.errors import UserError
from lava_convdelay.nn.recurrent_synapse import conv_to_dense
from netx_export.errors import UnsupportedLayerError
from netx_export.spec import ConvRecurrence, CubaParams, LayerSpec, NetworkSpec
from sim.cpu.runner import LavaRunner
from sim.errors import InputSpikesError, InvalidSpecError
from sim.lava_network import build_network, layer_weights

NEURON = CubaParams(i_decay=1024, v_decay=512, vth_mant=80)


def spec_of(*layers, input_size=4):
    return NetworkSpec(input_size, list(layers), source="net.h5")


def dense(n=3, n_in=4, **kw):
    return LayerSpec("dense", np.full((n, n_in), 2, np.int64), NEURON, **kw)


def delay_rec(n=3, n_in=4, **kw):
    fields = dict(weight_rec=np.full((n, n), -2, np.int64), delay_rec=np.arange(n), max_delay=n)
    fields.update(kw)
    return LayerSpec("delay_rec", np.full((n, n_in), 2, np.int64), NEURON, **fields)


def conv_rec(n=6, channels=2, k=3, seed=0, **kw):
    kernel = 2 * np.random.default_rng(seed).integers(-128, 128, (channels, channels, k))
    fields = dict(weight_rec=naive_banded(kernel, n // channels), delay_rec=np.zeros(n, np.int64) + 1,
                  max_delay=4, conv=ConvRecurrence(channels, k, kernel))
    fields.update(kw)
    return LayerSpec("conv_rec", np.full((n, 4), 2, np.int64), NEURON, **fields)


BAD = {
    "unknown type": (spec_of(dataclasses.replace(dense(), type="pooling")),
                     UnsupportedLayerError, r"net\.h5: layer 1 \(pooling\): unknown layer type 'pooling'"),
    "input size": (spec_of(dense(), input_size=5), InvalidSpecError, r"layer 1 \(dense\): 'weight' has shape \(3, 4\)"),
    "sizes do not chain": (spec_of(dense(), dense(n_in=4)), InvalidSpecError,
                           r"layer 2 .*shape \(3, 4\), expected \(3, 3\)"),
    "weight range": (spec_of(dataclasses.replace(dense(), weight=np.full((3, 4), 256))), InvalidSpecError,
                     r"layer 1 \(dense\): weight 256 at index \(0, 0\) of 'weight' is outside \[-256, 254\]"),
    "fractional weight": (spec_of(dataclasses.replace(dense(), weight=np.full((3, 4), 2.5))), InvalidSpecError,
                          r"'weight' must hold integers, got 2.5"),
    "iDecay 0": (spec_of(dataclasses.replace(dense(), neuron=CubaParams(0, 10, 10))), UnsupportedLayerError,
                 r"layer 1 .*iDecay = 0"),
    "vDecay range": (spec_of(dataclasses.replace(dense(), neuron=CubaParams(10, 5000, 10))), InvalidSpecError,
                     r"'vDecay'=5000 is outside \[0, 4096\]"),
    "threshold 0": (spec_of(dataclasses.replace(dense(), neuron=CubaParams(10, 10, 0))), InvalidSpecError,
                    r"'vThMant'=0"),
    "ff delay on recurrent": (spec_of(delay_rec(delay=np.ones(3, np.int64))), UnsupportedLayerError,
                              r"layer 1 \(delay_rec\): a feed-forward 'delay' on a 'delay_rec' layer"),
    "ff delay range": (spec_of(dense(delay=np.array([0, 63, 1]))), InvalidSpecError,
                       r"delay 63 at index \(1,\) of 'delay' is outside \[0, 62\]"),
    "dense with weight_rec": (spec_of(dense(weight_rec=np.zeros((3, 3), np.int64))), InvalidSpecError,
                              r"a 'dense' layer has no 'weight_rec'"),
    "dense_rec with delays": (spec_of(LayerSpec("dense_rec", np.full((3, 4), 2), NEURON,
                                                weight_rec=np.ones((3, 3), np.int64) * 2,
                                                delay_rec=np.array([0, 1, 0]))),
                              UnsupportedLayerError, r"'dense_rec' has no recurrent delays"),
    "missing weight_rec": (spec_of(delay_rec(weight_rec=None)), InvalidSpecError, r"needs 'weight_rec'"),
    "missing delay_rec": (spec_of(delay_rec(delay_rec=None)), InvalidSpecError, r"needs 'delay_rec'"),
    "delay above maxDelay": (spec_of(delay_rec(delay_rec=np.array([0, 5, 1]), max_delay=4)), InvalidSpecError,
                             r"recurrent delay 5 at index \(1,\) of 'delay_rec' is outside \[0, 4\]"),
    "maxDelay above 62": (spec_of(delay_rec(max_delay=63)), InvalidSpecError, r"'maxDelay'=63 is outside \[0, 62\]"),
    "conv without kernel": (spec_of(conv_rec(conv=None)), InvalidSpecError, r"'conv_rec' needs its convolution"),
    "even kernel": (spec_of(conv_rec(k=2, weight_rec=None)), InvalidSpecError, r"kernelSize=2 do not fit N=6"),
    "channels do not divide": (spec_of(conv_rec(n=6, channels=4, weight_rec=None)), InvalidSpecError,
                               r"channels=4"),
    "band does not match kernel": (spec_of(conv_rec(weight_rec=np.zeros((6, 6), np.int64))), InvalidSpecError,
                                   r"layer 1 \(conv_rec\): 'weight_rec' is not the banded matrix"),
    "no layers": (spec_of(), InvalidSpecError, r"net\.h5: the network has no layers"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_invalid_specs_are_user_errors_that_say_where(case):
    spec, error, pattern = BAD[case]
    with pytest.raises(error, match=pattern) as info:
        LavaRunner(spec)
    assert isinstance(info.value, UserError)
    with pytest.raises(error):
        build_network(spec)


def test_valid_spec_passes_and_conv_band_is_filled_in():
    layer = conv_rec(n=12, channels=3, k=5, seed=3)
    checked = spec_of(dataclasses.replace(layer, weight_rec=None), dense(n_in=12)).validate()
    np.testing.assert_array_equal(checked.layers[0].weight_rec, layer.weight_rec)
    rows_nonzero = (checked.layers[0].weight_rec != 0).sum(axis=1)
    assert rows_nonzero.max() <= 5 * 3


@pytest.mark.parametrize("channels,k,positions", [(1, 3, 8), (2, 5, 6), (3, 7, 4), (1, 1, 5)])
def test_banded_matrix_equals_loop_version(channels, k, positions):
    kernel = np.random.default_rng(k).integers(-100, 100, (channels, channels, k))
    np.testing.assert_array_equal(conv_to_dense(torch.from_numpy(kernel), positions).numpy(),
                                  naive_banded(kernel, positions))


def test_bad_input_spikes():
    runner = LavaRunner(spec_of(dense()))
    with pytest.raises(InputSpikesError, match=r"expected input spikes \[4, time\]"):
        runner.run(np.zeros((1, 4, 10)))
    with pytest.raises(InputSpikesError, match=r"expected input spikes \[samples, 4, time >= 1\]"):
        runner.run_many(np.zeros((2, 3, 10)))
    with pytest.raises(InputSpikesError, match=r"time >= 1"):
        runner.run_many(np.zeros((2, 4, 0)))
    x = np.zeros((4, 10))
    x[1, 2] = 2
    with pytest.raises(InputSpikesError, match="must be 0/1"):
        runner.run(x)
    with pytest.raises(InputSpikesError, match="tail"):
        runner.run(np.zeros((4, 10)), tail=-1)


def _effective(lw):
    """The weights Lava's fixed-point synapse models apply, by hand: clip,
    drop the truncated bits, shift by the exponent (units of the file)."""
    from lava.utils.weightutils import SignMode
    sign = -1 if lw.sign_mode == SignMode.INHIBITORY else 1
    mixed = lw.sign_mode == SignMode.MIXED
    drop = 8 - lw.num_weight_bits + mixed
    out = []
    for mat in (lw.weight, lw.weight_rec):
        m = np.clip(sign * mat.astype(np.int64), -256 if mixed else 0, 255)
        m = sign * ((m >> drop) << drop)
        out.append(m * 2.0 ** lw.weight_exp)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_layer_weights_share_one_exact_scaling(seed):
    rng = np.random.default_rng(seed)
    scale = [1, 1, 4, 16, 64, 128][seed]
    w = 2 * rng.integers(-128 // scale, 128 // scale, (5, 7))
    r = 2 * rng.integers(-128 // scale, 128 // scale, (5, 5))
    if seed == 1:
        w, r = np.abs(w), -np.abs(r)  # W >= 0 and R <= 0 with the -256 corner
        r[0, 0] = -256
    if seed == 5:
        w, r = -np.abs(w) - 2, -np.abs(r) - 2  # all inhibitory
    layer = LayerSpec("dense_rec", w, NEURON, weight_rec=r)
    lw = layer_weights(layer)
    got_w, got_r = _effective(lw)
    np.testing.assert_array_equal(got_w, w)
    np.testing.assert_array_equal(got_r, r)
    if scale >= 16:
        assert lw.weight_exp < 0  # small weights use the exponent, not fewer mantissa bits


def test_odd_weights_that_do_not_fit_are_refused():
    layer = LayerSpec("dense", np.array([[255 - 256, 253]]), NEURON)  # -1 and 253: odd, mixed, large
    with pytest.raises(UnsupportedLayerError, match="cannot be represented exactly"):
        layer_weights(layer, "net.h5: layer 1 (dense)")


def test_validated_layers_are_read_only_and_not_checked_twice_but_new_layers_are():
    """``simulate`` validates its spec on every call; a ``conv_rec`` layer's check is O(N^2)
    (its banded matrix against the kernel's), so a layer ``validate`` made is returned as it
    is. That is only sound while it cannot change: its arrays are read-only, and a layer
    derived from it with ``replace`` is a new layer, checked again."""
    checked = spec_of(conv_rec(), dense(n=2, n_in=6)).validate()
    again = checked.validate()
    assert all(a is b for a, b in zip(again.layers, checked.layers))
    layer = checked.layers[0]
    for array in (layer.weight, layer.weight_rec, layer.delay_rec, layer.conv.kernel):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    off_band = layer.weight_rec.copy()
    off_band[0, -1] = 2
    with pytest.raises(InvalidSpecError, match="not the banded matrix"):
        spec_of(dataclasses.replace(layer, weight_rec=off_band), checked.layers[1]).validate()
    with pytest.raises(InvalidSpecError, match="'weight' has shape"):  # the same layer behind another input size
        NetworkSpec(5, [layer, checked.layers[1]], source="net.h5").validate()
