"""The batched fixed-point simulator against the training-side quantized model
(every layer, every step), against the independent integer references and,
where those stop (24-bit wrap and saturation), against Lava."""
import numpy as np
import pytest
import torch
from factories import NETWORKS, make_spec, random_spikes
from naive_reference import naive_delay_recurrent, reference_network

from lava_convdelay.nn.model import SpikingNetwork
from netx_export.exporter import blocks_to_spec
from netx_export.spec import ConvRecurrence, CubaParams, LayerSpec, NetworkSpec
from sim.fixed_point import simulate

NEURON = {"threshold": 1.0, "current_decay": 0.2, "voltage_decay": 0.1}


def random_model(seed, layers):
    torch.manual_seed(seed)
    model = SpikingNetwork({"input_size": 10, "neuron": NEURON, "layers": layers})
    for block in model.blocks:
        if hasattr(block, "axonal_delay") and block.axonal_delay is not None:
            block.set_sigma(0.0)
    return model.eval()


STACKS = [
    [{"type": "dense", "neurons": 16, "delay": True, "weight_scale": 3},
     {"type": "conv_delay_rec", "neurons": 24, "kernel_size": 3, "max_delay": 62, "delay_init": [0, 62],
      "weight_scale": 3},
     {"type": "dense", "neurons": 5, "weight_scale": 3}],
    [{"type": "delay_rec", "neurons": 20, "max_delay": 30, "weight_scale": 3},
     {"type": "conv_delay_rec", "neurons": 18, "kernel_size": 5, "channels": 3, "max_delay": 12,
      "weight_scale": 3},
     {"type": "rec", "neurons": 12, "weight_scale": 3},
     {"type": "dense", "neurons": 4, "weight_scale": 3}],
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("stack", range(len(STACKS)))
def test_fixed_point_equals_training_side_every_layer(seed, stack):
    model = random_model(seed, STACKS[stack])
    with torch.no_grad():  # feed-forward delays: give them a real spread
        first = model.blocks[0]
        if getattr(first, "delay", None) is not None:
            first.delay.delay.copy_(torch.randint(0, 8, first.delay.delay.shape).float() + 0.3)
    x = (torch.rand(6, 10, 120, generator=torch.Generator().manual_seed(seed)) < 0.25).float()
    with torch.no_grad():
        expected = [s.numpy().astype(np.uint8) for s in model(x, all_layers=True)]
    spec = blocks_to_spec(list(model.blocks))
    result = simulate(spec, x.numpy(), record_layers=True)
    for i, (want, got) in enumerate(zip(expected, result.layers), start=1):
        assert want.sum() > 0.01 * want.size, f"layer {i} nearly silent: weak test"
        np.testing.assert_array_equal(got, want, err_msg=f"layer {i}")
    np.testing.assert_array_equal(result.output, expected[-1])


def test_single_layer_matches_naive_reference_and_voltage():
    model = random_model(5, [{"type": "delay_rec", "neurons": 14, "max_delay": 20, "weight_scale": 3}])
    spec = blocks_to_spec(list(model.blocks))
    layer = spec.layers[0]
    x = (np.random.default_rng(5).random((10, 70)) < 0.3).astype(np.int64)
    result = simulate(spec, x, record_voltage=True)
    # the simulator delivers the input one step late (synaptic latency)
    late = np.pad(x[:, :-1], ((0, 0), (1, 0)))
    expected = naive_delay_recurrent(late, layer.weight, layer.weight_rec, layer.delay_rec,
                                     layer.neuron.i_decay, layer.neuron.v_decay, layer.neuron.vth_mant)
    assert expected.sum() > 20
    np.testing.assert_array_equal(result.output, expected)
    assert result.voltage.shape == (14, 70)
    assert np.all(result.voltage[expected == 1] == 0)  # reset on spike steps
    assert np.all(result.voltage <= layer.neuron.vth_mant << 6)


def test_bad_input_shape_is_named():
    model = random_model(0, [{"type": "dense", "neurons": 3}])
    spec = blocks_to_spec(list(model.blocks))
    with pytest.raises(ValueError, match=r"expected input \[batch, 10, time\]"):
        simulate(spec, np.zeros((2, 9, 5)))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_layer_and_voltage_match_integer_reference(name, seed):
    """test_sim_lava's networks (conv k3-k7 with 1-3 channels, delays up to 62,
    dense and delay recurrence, feed-forward delays, small weights) against
    its loop reference of docs/hdf5-format.md, several samples in one batch."""
    spec = make_spec(name, seed)
    x = random_spikes(seed, spec.input_size, 3, 70)
    result = simulate(spec, x, record_layers=True, record_voltage=True)
    for b in range(len(x)):
        want_layers, want_v = reference_network(spec, x[b])
        for i, (got, want) in enumerate(zip(result.layers, want_layers), start=1):
            assert want.any(), f"layer {i} silent: weak test"
            np.testing.assert_array_equal(got[b], want, err_msg=f"sample {b}, layer {i}")
        np.testing.assert_array_equal(result.voltage[b], want_v, err_msg=f"sample {b}, voltage")
    np.testing.assert_array_equal(result.output, result.layers[-1])


def test_wrap_of_u_and_saturation_of_v_match_lava():
    """Currents beyond Lava's 24 bits: u wraps, v saturates at -(2^23 - 1);
    the recurrence (with delays) runs through it. Lava is the authority."""
    from sim.cpu.runner import LavaRunner
    n_in, steps = 10, 200
    w = np.zeros((4, n_in), np.int64)
    w[0], w[1], w[3] = 254, -256, 100
    w[2, :5], w[2, 5:] = 254, -256
    r = np.array([[0, 40, 0, -30], [20, 0, 0, 0], [0, 0, 0, 60], [-50, 0, 10, 0]])
    delays = np.array([0, 3, 5, 1])
    neuron = CubaParams(i_decay=1, v_decay=2, vth_mant=(1 << 17) - 1)  # u barely decays
    spec = NetworkSpec(n_in, [LayerSpec("delay_rec", w, neuron, weight_rec=r, delay_rec=delays, max_delay=5)])
    x = np.ones((2, n_in, steps), np.int8)
    x[1, :, 120:] = 0
    lava = LavaRunner(spec).run_many(x, record_voltage=True, progress=False)
    fixed = simulate(spec, x, record_voltage=True)
    for b in range(2):
        np.testing.assert_array_equal(fixed.output[b], lava[b].output, err_msg=f"sample {b}")
        np.testing.assert_array_equal(fixed.voltage[b], lava[b].voltage, err_msg=f"sample {b}, voltage")
        assert fixed.voltage[b].min() == 1 - (1 << 23)  # v saturated
        late = np.pad(x[b, :, :-1], ((0, 0), (1, 0)))
        unwrapped = naive_delay_recurrent(late, w, r, delays, neuron.i_decay, neuron.v_decay, neuron.vth_mant)
        assert not np.array_equal(unwrapped, fixed.output[b])  # 24-bit arithmetic changed the spikes
        assert lava[b].output.sum() > 50


def test_input_forms():
    model = random_model(3, [{"type": "rec", "neurons": 6, "weight_scale": 3}])
    spec = blocks_to_spec(list(model.blocks))
    x = np.random.default_rng(3).random((2, 10, 30)) < 0.3
    want = simulate(spec, x.astype(np.int8)).output
    assert want.any()
    strided = np.repeat(x, 2, axis=2)[:, :, ::2]
    for same in (x, x.astype(np.float64), torch.from_numpy(x.astype(np.float32)), strided):
        np.testing.assert_array_equal(simulate(spec, same).output, want)
    with pytest.raises(ValueError, match="must be 0 or 1"):
        simulate(spec, 2 * x.astype(np.int8))
    with pytest.raises(ValueError, match="CPU only"):
        simulate(spec, x, device="cuda")


def test_samples_split_over_threads_equal_samples_alone(monkeypatch):
    import numba
    spec = make_spec("stack", 2)
    x = random_spikes(2, spec.input_size, 7, 60)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 3)  # shares of 2, 2 and 3 samples
    together = simulate(spec, x, record_layers=True, record_voltage=True)
    for b in range(len(x)):
        alone = simulate(spec, x[b], record_layers=True, record_voltage=True)
        for i, (got, want) in enumerate(zip(together.layers, alone.layers), start=1):
            np.testing.assert_array_equal(got[b], want, err_msg=f"sample {b}, layer {i}")
        np.testing.assert_array_equal(together.voltage[b], alone.voltage)


def test_large_fan_in_with_32_bit_sums_matches_integer_reference():
    """Sums beyond int16 (160 inputs of |w| >= 200 into a conv_rec layer, then
    a delay_rec layer): the 32-bit accumulation path, against the reference."""
    from naive_reference import naive_banded

    from sim.fixed_point import _kernel_args
    rng = np.random.default_rng(8)
    n_in, n = 160, 32
    w = (2 * rng.integers(100, 128, (n, n_in)) * rng.choice([-1, 1], (n, n_in))).astype(np.int64)
    kernel = np.array([[[-120, 80, 60]]])
    conv = LayerSpec("conv_rec", w, CubaParams(2000, 1200, 2000), weight_rec=naive_banded(kernel, n),
                     delay_rec=rng.integers(0, 9, n), max_delay=8, conv=ConvRecurrence(1, 3, kernel))
    rec = LayerSpec("delay_rec", 2 * rng.integers(-40, 60, (12, n)), CubaParams(1500, 900, 150),
                    weight_rec=2 * rng.integers(-50, 40, (12, 12)), delay_rec=rng.integers(0, 6, 12), max_delay=5)
    spec = NetworkSpec(n_in, [conv, rec])
    assert _kernel_args(conv, "test", 0)[0].dtype == np.int32 and _kernel_args(rec, "test", 1)[0].dtype == np.int16
    x = random_spikes(8, n_in, 2, 60, rate=0.1)
    result = simulate(spec, x, record_layers=True, record_voltage=True)
    for b in range(2):
        want_layers, want_v = reference_network(spec, x[b])
        for i, (got, want) in enumerate(zip(result.layers, want_layers), start=1):
            assert 0.02 < want.mean() < 0.6, f"layer {i}: degenerate activity {want.mean()}"
            np.testing.assert_array_equal(got[b], want, err_msg=f"sample {b}, layer {i}")
        np.testing.assert_array_equal(result.voltage[b], want_v)


def test_synaptic_sums_beyond_32_bits_are_refused_naming_file_and_layer():
    """8.5 M inputs of weight 254 sum past 2**31: a named error, not a wrapped int32."""
    from sim.errors import InvalidSpecError
    from sim.fixed_point import _kernel_args
    big = LayerSpec("dense", np.full((1, 8_500_000), 254, dtype=np.int16), CubaParams(2000, 1200, 2000))
    with pytest.raises(InvalidSpecError,
                       match=r"net\.h5: layer 3 \(dense\): synaptic sums up to 2159000000 do not fit in 32 bits"):
        _kernel_args(big, "net.h5", 3)


@pytest.mark.parametrize("channels,feed_forward,wide", [(14, 500, False), (14, 800, True), (15, 0, True)])
def test_conv_sum_bound_from_kernel_equals_banded_rows(channels, feed_forward, wide):
    """A convolution's bound on its synaptic sums comes from the [C, C, k] kernel
    (no N x N pass): at the int16 limit it picks what the banded matrix's row
    sums (naive, by loops) give, for positions that see every tap (F >= k)."""
    from naive_reference import naive_banded

    from sim.fixed_point import _kernel_args
    positions, size = 9, 9
    n = channels * positions
    kernel = np.full((channels, channels, size), 254, np.int64)
    kernel[:, :, ::2] *= -1
    w = np.zeros((n, 3), np.int64)
    w[:, 0] = feed_forward
    banded = naive_banded(kernel, positions)
    exact = int((np.abs(w).sum(axis=1) + np.abs(banded).sum(axis=1)).max())
    assert (exact >= 1 << 15) == wide
    conv = LayerSpec("conv_rec", w, CubaParams(2000, 1200, 2000), weight_rec=None, delay_rec=np.zeros(n, np.int64),
                     conv=ConvRecurrence(channels, size, kernel))
    assert _kernel_args(conv, "test", 0)[0].dtype == (np.int32 if wide else np.int16)
