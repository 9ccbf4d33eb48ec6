"""Delay-channel convolutional recurrence (the method's second form): the fused
time loop against a naive per-step autograd reference written from the
formula, integer mode against a naive integer loop, the product against
torch's conv1d, the two delay rules, initialisation and the config."""
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from factories import assert_product_matches
from naive_reference import naive_banded, trunc_shift12

from lava_convdelay.nn.blocks import DelayChannelConvRecurrent
from lava_convdelay.nn.cuba_step import CubaStepper
from lava_convdelay.nn.layer_config import ConfigError
from lava_convdelay.nn.model import SpikingNetwork

NEURON = dict(threshold=1.0, current_decay=0.2, voltage_decay=0.1)
I_DECAY, V_DECAY, VTH_MANT = round(4096 * 0.2), round(4096 * 0.1), 64


def random_input(seed, channels, steps, rate=0.3, batch=2):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, channels, steps, generator=gen) < rate).float()


def naive_lag_weights(delays, rule, sigma, lags):
    """``[D, L]`` weight of lag ``1 .. L`` per delay channel, from the formulas of
    shared/method.md: the triangle of half-width ``w = 1 + sigma`` around ``1 + d``
    (weight ``max(0, w - |k - (1 + d)|) / w^2``), or linear interpolation
    (``1 - a`` at ``1 + floor(d)``, ``a`` at ``1 + ceil(d)``), written as the hat
    ``max(0, 1 - |k - (1 + d)|)``: ``1 - (1 - a)`` is not always ``a`` in floating
    point, and a read one bit off can truncate to another integer current. The
    triangle at ``sigma = 0`` is one-hot at ``1 + round(d)`` with the hat's
    gradient (straight through)."""
    rows = []
    for d in delays:
        row = []
        for k in range(1, lags + 1):
            width = 1.0 if rule == "linear" else 1.0 + sigma
            weight = torch.clamp(width - torch.abs(k - (1.0 + d)), min=0)
            if rule == "triangle" and sigma == 0:
                weight = float(k == 1 + int(torch.floor(d + 0.5))) + (weight - weight.detach())
            row.append(weight if rule == "linear" else weight / width**2)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def naive_delay_channels(block, z, rule, sigma, mask=None):
    """Spikes ``[B, N, T]`` (unshifted) of a delay-channel block, one autograd
    step at a time: ``I(t) = z(t) + sum_d conv1d_depthwise(read_d(t), K_d)``,
    ``read_d(t) = sum_k w_d(k) h(t - k)``, through SLAYER's CUBA arithmetic."""
    batch, neurons, steps = z.shape
    synapse = block.recurrent_synapse
    weight = synapse.quantized()
    delays = block.axonal_delay.delay.clamp(0, block.axonal_delay.max_delay)
    lags = block.axonal_delay.max_delay + 1 + int(np.ceil(sigma if rule == "triangle" else 0))
    lag_weights = naive_lag_weights(delays, rule, sigma, lags)
    stepper = CubaStepper(block.neuron, batch, neurons, z.device, z.dtype)
    history = [z.new_zeros(batch, neurons)] * lags  # history[-k] = h(t - k)
    spikes = []
    for t in range(steps):
        current = z[..., t]
        for d in range(synapse.delay_channels):
            read = sum(lag_weights[d, k - 1] * history[-k] for k in range(1, lags + 1))
            conv = F.conv1d(read.view(batch, synapse.channels, -1), weight[d][:, None, :],
                            padding=synapse.kernel_size // 2, groups=synapse.channels)
            current = current + conv.reshape(batch, neurons)
        s = stepper.step(current)
        history = history[1:] + [s if mask is None else s * mask]
        spikes.append(s)
    return torch.stack(spikes, -1)


def _fused_cases():
    cases = []
    for product in ("taps", "dense", "lags"):
        cases += [("triangle", 3.0, 0.0, product), ("triangle", 1.0, 0.3, product), ("triangle", 0.0, 0.3, product),
                  ("linear", 1.0, 0.0, product), ("linear", 1.0, 0.3, product)]
    return cases


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "tensor-ops"])
@pytest.mark.parametrize("rule,sigma,dropout,product", _fused_cases())
def test_fused_loop_matches_naive_autograd(rule, sigma, dropout, product, compiled, monkeypatch):
    """The fused loop's spikes equal the naive reference's, and its gradients of
    the input weights, the delay-channel kernels and the delays equal autograd's
    through it (float64, rtol 1e-9): both delay rules, both products, the
    compiled CPU steps and the tensor operations, with and without recurrent dropout."""
    from lava_convdelay.nn import cuba_recurrence

    monkeypatch.setattr(cuba_recurrence, "COMPILED_ON_CPU", compiled)
    torch.manual_seed(4)
    block = DelayChannelConvRecurrent(dict(NEURON, tau_grad=0.5, scale_grad=1.0), 10, 24, kernel_size=5,
                                      channels=3, delay_channels=4, weight_scale=5, max_delay=12,
                                      rec_dropout=dropout, delay_rule=rule).double().train()
    block.recurrent_synapse.product = product
    block.set_sigma(sigma)
    # Quarter-step delays and half-widths 1, 2, 4: every lag weight is a multiple of
    # 1/64 and every weight one of 1/32, so reads and currents are exact in any
    # summation order (the forward truncates 4096 * I: one bit off could move a
    # spike); the fractional parts keep away from the kernels' kinks.
    with torch.no_grad():
        block.axonal_delay.delay.copy_(torch.tensor([0.25, 3.75, 7.25, 11.75], dtype=torch.float64))
    x = random_input(6, 10, 70).double()
    target = torch.randn(2, 24, 70, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    params = [block.input_synapse.weight, block.recurrent_synapse.weight, block.axonal_delay.delay]

    torch.manual_seed(9)
    fused = block(x)  # delay-shifted
    grads = torch.autograd.grad((fused[..., 1:] * target[..., :-1]).sum(), params)
    torch.manual_seed(9)  # the same recurrent dropout mask, drawn as the block draws it
    mask = torch.bernoulli(torch.full((2, 24), 1 - dropout)) / (1 - dropout) if dropout else None
    reference = naive_delay_channels(block, block.input_synapse(x), rule, sigma, mask)
    expected = torch.autograd.grad((reference[..., :-1] * target[..., :-1]).sum(), params)
    assert 0.05 * reference.numel() < reference.sum() < 0.8 * reference.numel()
    assert torch.equal(fused[..., 1:], reference[..., :-1])
    for got, want in zip(grads, expected):
        assert want.abs().min() > 0 or want.abs().max() > 1e-3  # every parameter really gets a gradient
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    assert (expected[2].abs() > 1e-4).all()  # every delay channel's delay


def naive_integer_delay_channels(x, w_int, kernels_int, delays, positions):
    """Integer spikes ``[N, T]`` (unshifted) by explicit loops: ``kernels_int``
    ``[D, C, k]`` weight mantissas (x 64), ``delays`` ``[D]`` integers:
    ``a_i(t) = sum_j W_ij x_j(t) + sum_d sum_j R^d_ij s_j(t - 1 - d_d)``."""
    n, steps = w_int.shape[0], x.shape[1]
    matrices = [naive_banded(np.stack([np.diag(kernel[:, m]) for m in range(kernel.shape[1])], -1), positions)
                for kernel in kernels_int]
    u = np.zeros(n, np.int64)
    v = np.zeros(n, np.int64)
    s = np.zeros((n, steps), np.int64)
    for t in range(steps):
        a = w_int @ x[:, t]
        for matrix, delay in zip(matrices, delays):
            src = t - 1 - int(delay)
            if src >= 0:
                a = a + matrix @ s[:, src]
        u = trunc_shift12(u * (4096 - I_DECAY)) + (a << 6)
        v = trunc_shift12(v * (4096 - V_DECAY)) + u
        fired = v > (VTH_MANT << 6)
        s[:, t] = fired
        v[fired] = 0
    return s


@pytest.mark.parametrize("rule", ["triangle", "linear"])
@pytest.mark.parametrize("product", ["taps", "dense", "lags"])
def test_integer_mode_matches_naive_integer_loop(rule, product):
    """At sigma 0 (deployment) the block computes with the 8-bit weights and the
    rounded delays (``round_delays``: 2.5 -> 3), bit for bit as an integer loop;
    the delays matter (delay 0 and a large one among them)."""
    torch.manual_seed(1)
    block = DelayChannelConvRecurrent(NEURON, 8, 20, kernel_size=3, channels=2, delay_channels=4,
                                      weight_scale=6, max_delay=40, delay_rule=rule).eval()
    block.recurrent_synapse.product = product
    with torch.no_grad():
        block.axonal_delay.delay.copy_(torch.tensor([0.2, 2.5, 17.4, 40.0]))
    delays = np.array([0, 3, 17, 40])
    assert torch.equal(block.integer_delays(), torch.from_numpy(delays))
    x = random_input(3, 8, 120)
    with torch.no_grad():
        out = block(x).numpy().astype(np.int64)
    w = block.input_synapse.pre_hook_fx(block.input_synapse.weight, descale=True)
    w = w.reshape(20, -1).detach().numpy().round().astype(np.int64)
    kernels = (block.recurrent_synapse.quantized() * 64).detach().numpy().round().astype(np.int64)
    total = 0
    for b in range(2):
        xb = x[b].numpy().astype(np.int64)
        expected = naive_integer_delay_channels(xb, w, kernels, delays, 10)
        np.testing.assert_array_equal(out[b, :, 1:], expected[:, :-1])
        total += expected.sum()
        assert not np.array_equal(expected, naive_integer_delay_channels(xb, w, kernels, 0 * delays, 10))
    assert 0.02 * out[..., 1:].size < total < 0.8 * out[..., 1:].size


@pytest.mark.parametrize("channels,kernel,positions,delay_channels", [(1, 3, 9, 2), (4, 5, 6, 3), (2, 1, 5, 1)])
def test_delay_channel_product_against_conv1d(channels, kernel, positions, delay_channels):
    """The taps' three operations against torch's grouped conv1d and its autograd
    (float64): the current, the gradient wrt the reads, the kernel gradient over steps."""
    from lava_convdelay.nn.delay_channels import DelayChannelProduct

    gen = torch.Generator().manual_seed(channels * 10 + kernel)
    steps, batch, n = 6, 4, channels * positions
    weight = torch.randn(delay_channels, channels, kernel, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn(steps, delay_channels * n, batch, generator=gen, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(steps, n, batch, generator=gen, dtype=torch.float64)
    base = torch.randn(n, batch, generator=gen, dtype=torch.float64)

    def conv(signal):  # [T, D * N, B] -> [T, N, B]
        flat = signal.reshape(steps, delay_channels, n, batch).permute(0, 3, 1, 2)
        flat = flat.reshape(steps * batch, delay_channels * channels, positions)
        out = F.conv1d(flat, weight.reshape(delay_channels * channels, 1, kernel), padding=kernel // 2,
                       groups=delay_channels * channels)
        out = out.reshape(steps, batch, delay_channels, n).sum(2)
        return out.permute(0, 2, 1)

    expected = conv(x)
    want_x, want_w = torch.autograd.grad((expected * grad).sum(), [x, weight])
    assert_product_matches(DelayChannelProduct(weight.detach(), positions), x, base, grad, expected, want_x, want_w,
                           delay_channels * n)


def spikes_by_product(block, x, products):
    """The block's spikes on ``x`` with each recurrent product, from the same dropout draw."""
    outs = []
    for product in products:
        block.recurrent_synapse.product = product
        torch.manual_seed(3)
        with torch.no_grad():
            outs.append(block(x))
    return outs


def test_taps_and_dense_products_give_identical_spikes():
    """Integer mode (float32) with recurrent dropout: the taps and the ``[N, D N]``
    banded row give the same spikes bit for bit; the product is chosen by size."""
    from lava_convdelay.nn.delay_channels import DelayChannelProduct
    from lava_convdelay.nn.recurrent_synapse import DenseProduct

    torch.manual_seed(5)
    block = DelayChannelConvRecurrent(NEURON, 10, 96, kernel_size=5, channels=4, delay_channels=8,
                                      weight_scale=4, max_delay=20, rec_dropout=0.25).train()
    x = random_input(2, 10, 100)
    outs = spikes_by_product(block, x, ("taps", "dense"))
    assert 0.02 < outs[0].mean() < 0.8
    assert torch.equal(outs[0], outs[1])
    block.recurrent_synapse.product = "auto"
    assert isinstance(block.recurrent_synapse.recurrent_product(), DenseProduct)  # 96^2 < 10_000 * 5
    big = DelayChannelConvRecurrent(NEURON, 10, 256, kernel_size=5, channels=4, delay_channels=8)
    assert isinstance(big.recurrent_synapse.recurrent_product(), DelayChannelProduct)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "tensor-ops"])
def test_lag_loop_gives_the_per_channel_spikes_and_is_the_default(compiled, monkeypatch):
    """Integer mode (float32) with recurrent dropout and two delay channels
    sharing a delay: the loop over lag-combined kernels gives the per-channel
    taps' spikes bit for bit; "auto" runs it at every size, an unknown product
    is refused."""
    from lava_convdelay.nn import cuba_recurrence, delay_channel_recurrence

    monkeypatch.setattr(cuba_recurrence, "COMPILED_ON_CPU", compiled)
    torch.manual_seed(5)
    block = DelayChannelConvRecurrent(NEURON, 10, 96, kernel_size=5, channels=4, delay_channels=8,
                                      weight_scale=4, max_delay=20, rec_dropout=0.25).train()
    with torch.no_grad():
        block.axonal_delay.delay[3] = block.axonal_delay.delay[2]
    x = random_input(2, 10, 100)
    outs = spikes_by_product(block, x, ("taps", "lags"))
    assert 0.02 < outs[0].mean() < 0.8
    assert torch.equal(outs[0], outs[1])
    calls = []
    monkeypatch.setattr("lava_convdelay.nn.blocks.delay_channel_cuba",
                        lambda *args: calls.append(args) or delay_channel_recurrence.delay_channel_cuba(*args))
    for n in (8, 96, 1024):
        small = DelayChannelConvRecurrent(NEURON, 3, n, kernel_size=3, channels=4, delay_channels=2)
        assert small.recurrent_synapse.lag_loop()
        with torch.no_grad():
            small(random_input(1, 3, 5, batch=1))
    assert len(calls) == 3
    block.recurrent_synapse.product = "conv1d"
    with pytest.raises(ValueError, match="product must be one of"):
        block(x)


@pytest.mark.parametrize("lags", [1, 3, 4, 5, 8, 9])
@pytest.mark.parametrize("size", [1, 3, 5])
@pytest.mark.parametrize("transposed", [False, True])
def test_compiled_lag_convolution_against_loops(lags, size, transposed):
    """The compiled lag convolution (four lags per pass, then one by one) against
    the formula written as loops: every lag count around the groups of four,
    zero weights skipped, rows past the history left out, both directions."""
    from lava_convdelay.nn.delay_channel_recurrence import _compiled_lag_conv

    rng = np.random.default_rng(lags * 10 + size)
    channels, positions, batch, steps = 2, 6, 3, 12
    sources = rng.integers(-3, 4, (steps, channels * positions * batch)).astype(np.float64)
    kernels = rng.integers(-4, 5, (lags, channels, size)).astype(np.float64)
    kernels[0, 0, size // 2] = 0
    rows = rng.integers(0, steps, lags)
    rows[-1] = steps - 2  # + offset 3: past the history
    out = np.full(channels * positions * batch, np.nan)
    _compiled_lag_conv(sources, rows, 3, kernels, positions, transposed, out)
    src = sources.reshape(steps, channels, positions, batch)
    want = np.zeros((channels, positions, batch))
    for a in range(lags):
        if rows[a] + 3 >= steps:
            continue
        for c in range(channels):
            for f in range(positions):
                for m in range(size):
                    g = f + m - size // 2
                    if 0 <= g < positions:
                        if transposed:
                            want[c, g] += kernels[a, c, m] * src[rows[a] + 3, c, f]
                        else:
                            want[c, f] += kernels[a, c, m] * src[rows[a] + 3, c, g]
    np.testing.assert_array_equal(out.reshape(want.shape), want)


def test_delay_rules_and_initialisation():
    """Even spacing is the design notes' lags linspace(1, 2D, D) (delays 0 .. 2D - 1),
    clamped to max_delay; the linear rule interpolates between floor and ceil
    while sigma > 0 and is the integer rule at sigma 0, as the triangle is."""
    block = DelayChannelConvRecurrent(NEURON, 4, 40, delay_channels=8, max_delay=30)
    assert torch.allclose(block.axonal_delay.delay, torch.tensor([0.0, 15 / 7, 30 / 7, 45 / 7, 60 / 7, 75 / 7,
                                                                  90 / 7, 15.0]))
    clamped = DelayChannelConvRecurrent(NEURON, 4, 40, delay_channels=8, max_delay=9)
    assert clamped.axonal_delay.delay.max() == 9 and clamped.axonal_delay.delay[4] == 60 / 7
    torch.manual_seed(0)
    uniform = DelayChannelConvRecurrent(NEURON, 4, 40, delay_channels=64, delay_init=(10, 20))
    assert 10 <= uniform.axonal_delay.delay.min() < 11 and 19 < uniform.axonal_delay.delay.max() <= 20
    linear = DelayChannelConvRecurrent(NEURON, 4, 40, delay_channels=2, max_delay=6, delay_rule="linear", sigma=1)
    with torch.no_grad():
        linear.axonal_delay.delay.copy_(torch.tensor([2.25, 6.0]))
    kernel, one_hot = linear.axonal_delay.kernel()
    assert not one_hot
    expected = torch.zeros(2, 7)
    expected[0, 2], expected[0, 3], expected[1, 6] = 0.75, 0.25, 1.0  # lag 3 and 4; lag 7
    assert torch.equal(kernel, expected)
    linear.set_sigma(0)
    kernel, one_hot = linear.axonal_delay.kernel()
    assert one_hot and torch.equal(kernel, torch.eye(7)[[2, 6]])
    assert DelayChannelConvRecurrent(NEURON, 4, 40).recurrent_param_count == 4 * 5 * 8 + 8


def test_config_layer_type():
    """The layer type builds the block from a config; bad values are refused naming layer and key."""
    layer = {"type": "conv_delay_channels_rec", "neurons": 40, "channels": 4, "kernel_size": 5,
             "delay_channels": 8, "max_delay": 20, "delay_rule": "linear", "delay_init": "linspace"}
    model = SpikingNetwork({"input_size": 6, "neuron": NEURON, "layers": [layer, {"type": "affine", "neurons": 3}]})
    block = model.blocks[0]
    assert isinstance(block, DelayChannelConvRecurrent) and block.axonal_delay.rule == "linear"
    assert model.recurrent_param_count == 168
    assert model.integer_delays()[0].tolist() == [0, 2, 4, 6, 9, 11, 13, 15]
    for bad, match in [({"delay_rule": "cubic"}, "delay_rule must be"),
                       ({"delay_channels": 0}, "delay_channels"),
                       ({"delay_init": "random"}, "delay_init must be"),
                       ({"kernel_size": 4}, "odd"), ({"channels": 3}, "multiple of channels")]:
        with pytest.raises(ConfigError, match=match):
            SpikingNetwork({"input_size": 6, "neuron": NEURON, "layers": [{**layer, **bad}]})
    with pytest.raises(ConfigError, match="delay_init must be"):  # "linspace" is this layer type's only
        SpikingNetwork({"input_size": 6, "neuron": NEURON, "layers": [
            {"type": "conv_delay_rec", "neurons": 8, "delay_init": "linspace"}]})


def test_training_options_freeze_delays_and_kernel_l1(tmp_path):
    """``freeze_delays_epochs``: the delays keep their initial values during the
    first E epochs (and learn after them); ``kernel_l1``: an L1 term on the
    recurrent kernels shrinks them against the same run without it."""
    from factories import TRAIN_NEURON, toy_datasets

    from lava_convdelay.nn.delay_channels import evenly_spaced_delays
    from lava_convdelay.training import normalise_config, train

    layer = {"type": "conv_delay_channels_rec", "neurons": 16, "channels": 2, "kernel_size": 3,
             "delay_channels": 3, "max_delay": 10}
    runs = {}
    for name, extra in {"plain": {}, "frozen": {"freeze_delays_epochs": 2}, "frozen first": {"freeze_delays_epochs": 1},
                        "l1": {"kernel_l1": 1.0}}.items():
        config = normalise_config({"seed": 3, "model": {"neuron": TRAIN_NEURON, "layers": [
            layer, {"type": "dense", "neurons": 3}]}, "train": {"epochs": 2, "batch_size": 8, "sigma_init": 3,
                                                               "time_shift": 0, **extra}})
        runs[name] = train(config, tmp_path / name.replace(" ", "_"), progress=False, datasets=toy_datasets())
    initial = evenly_spaced_delays(3, 10)
    delays = {name: model.blocks[0].axonal_delay.delay.detach() for name, model in runs.items()}
    assert torch.equal(delays["frozen"], initial)
    assert (delays["plain"] - initial).abs().min() > 1e-3
    moved = delays["frozen first"] - initial  # learned in the second epoch only
    assert moved.abs().max() > 1e-3 and not torch.allclose(delays["frozen first"], delays["plain"])
    kernels = {name: model.blocks[0].recurrent_synapse.weight.detach() for name, model in runs.items()}
    assert not torch.equal(kernels["frozen"], kernels["plain"])  # the weights still learn
    assert kernels["l1"].abs().sum() < 0.8 * kernels["plain"].abs().sum()


# --------------------------------------------------------------------------- export, simulators, Lava


def delay_channel_network(seed=0, rule="triangle"):
    """A random delay-channel stack in integer mode: channel delays 0, 3, 17 and 62
    in the first recurrent layer, a triangle and a linear rule layer, a readout."""
    torch.manual_seed(seed)
    model = SpikingNetwork({"input_size": 8, "neuron": {"threshold": 1.0, "current_decay": 0.5,
                                                        "voltage_decay": 0.2}, "layers": [
        {"type": "conv_delay_channels_rec", "neurons": 12, "channels": 2, "kernel_size": 3, "delay_channels": 4,
         "max_delay": 62, "weight_scale": 3, "delay_rule": rule},
        {"type": "conv_delay_channels_rec", "neurons": 10, "channels": 1, "kernel_size": 5, "delay_channels": 3,
         "max_delay": 9, "weight_scale": 3, "delay_rule": "linear", "delay_init": [0, 9]},
        {"type": "dense", "neurons": 3, "weight_scale": 3}]}).eval()
    with torch.no_grad():
        model.blocks[0].axonal_delay.delay.copy_(torch.tensor([0.2, 3.0, 16.5, 62.0]))
    return model


def test_integer_mode_equals_fixed_point_simulator_and_hdf5_round_trip(tmp_path):
    """The exported 'dchan_rec' layers (8-bit kernels, rounded delays) run in the
    fixed-point simulator spike for spike as the block's integer mode, and the
    network file reads back to the same spec."""
    from netx_export.exporter import blocks_to_spec, export_blocks
    from netx_export.reader import read_network
    from sim.fixed_point import simulate

    model = delay_channel_network()
    path = tmp_path / "net.h5"
    spec = export_blocks(list(model.blocks), path)
    first = spec.layers[0].delay_channels
    assert spec.layers[0].type == "dchan_rec" and first.delays.tolist() == [0, 3, 17, 62]
    assert np.array_equal(first.kernel, (model.blocks[0].recurrent_synapse.quantized() * 64).detach().numpy())
    back = read_network(path)
    for a, b in zip(back.layers, spec.layers):
        assert a.type == b.type and np.array_equal(a.weight, b.weight) and a.max_delay == b.max_delay
        if b.delay_channels is not None:
            assert np.array_equal(a.delay_channels.kernel, b.delay_channels.kernel)
            assert np.array_equal(a.delay_channels.delays, b.delay_channels.delays)
    assert back.layers[0].recurrent_params == 2 * 3 * 4 + 4
    x = (np.random.default_rng(1).random((3, 8, 120)) < 0.3).astype(np.int8)
    with torch.no_grad():
        expected = [s.numpy().astype(np.uint8) for s in model(torch.from_numpy(x).float(), all_layers=True)]
    fixed = simulate(back, x, record_layers=True)
    for i, (got, want) in enumerate(zip(fixed.layers, expected)):
        assert 0.02 * want.size < want.sum() < 0.8 * want.size, f"layer {i + 1}: weak test"
        np.testing.assert_array_equal(got, want, err_msg=f"layer {i + 1}")
    other = blocks_to_spec(list(delay_channel_network().blocks))  # the delays matter
    channels = replace(other.layers[0].delay_channels, delays=np.zeros_like(other.layers[0].delay_channels.delays))
    other.layers[0] = replace(other.layers[0], delay_channels=channels)
    assert not np.array_equal(simulate(other, x).output, fixed.output)


@pytest.mark.parametrize("delayed_synapse,kinds", [
    ("sparse", ["Sparse"] + ["DelaySparse"] * 3),
    ("dense", ["Dense"] + ["DelayDense"] * 3),
    ("groups", ["Dense"] + ["DelayDense"] * 3),
])
def test_lava_equals_quantized_model_spike_for_spike(delayed_synapse, kinds, monkeypatch):
    """Lava's CPU fixed-point graph (one synapse process per delay channel with
    its scalar delay, 0 .. 62: Sparse / DelaySparse, or Dense / DelayDense as
    on Loihi 2) = the quantized model in every layer at every step."""
    import sim.cpu.runner as cpu_runner
    from netx_export.exporter import blocks_to_spec
    from sim.lava_network import build_network

    monkeypatch.setattr(cpu_runner, "build_network",
                        lambda spec, **options: build_network(spec, delayed_synapse=delayed_synapse, **options))
    model = delay_channel_network(seed=1)
    spec = blocks_to_spec(list(model.blocks))
    net = build_network(spec, delayed_synapse=delayed_synapse)
    assert [type(p).__name__ for p in net.layers[0].recurrent] == kinds
    assert [p.name for p in net.layers[0].recurrent] == [f"layer1.rec{d}" for d in range(4)]
    x = (np.random.default_rng(2).random((2, 8, 100)) < 0.3).astype(np.int8)
    with torch.no_grad():
        expected = [s.numpy().astype(np.uint8) for s in model(torch.from_numpy(x).float(), all_layers=True)]
    results = cpu_runner.LavaRunner(spec).run_many(x, record_layers=True, progress=False)
    for b, result in enumerate(results):
        for i, (got, want) in enumerate(zip(result.layers, expected), start=1):
            assert 0.02 * want[b].size < want[b].sum() < 0.8 * want[b].size, f"layer {i}: weak test"
            np.testing.assert_array_equal(got, want[b], err_msg=f"sample {b}, layer {i}")


@pytest.mark.parametrize("field,value,message", [
    ("delay_rec", np.array([0, 3, 17, 63]), r"recurrent delay 63 at index \(3,\) of 'delay_rec' is outside \[0, 62\]"),
    ("delay_rec", np.array([0, 3, 17]), r"'delay_rec' has shape \(3,\), expected \(4,\)"),
    # refused before it is read: D * C * k = 24 elements at most
    ("weight_rec_conv", np.zeros((4, 2, 5)), r"'weight_rec_conv': declares shape \(4, 2, 5\) \(40 elements\), more "
                                             r"than the 24 the file's other fields allow"),
    ("weight_rec_conv", np.zeros((4, 3, 2)), r"'weight_rec_conv' has shape \(4, 3, 2\), expected \(4, 2, 3\)"),
    ("delay_rec", np.arange(5), r"'delay_rec': declares shape \(5,\) \(5 elements\), more than the 4"),
    ("weight_rec_conv", np.full((4, 2, 3), 300.0), r"weight 300 at index \(0, 0, 0\) of 'weight_rec_conv'"),
    ("kernelSize", np.int64(5), r"'weight_rec_conv' has shape \(4, 2, 3\), expected \(4, 2, 5\)"),
    ("delayChannels", np.int64(0), r"'delayChannels'=0 outside \[1, 1024\]"),
])
def test_reader_refuses_bad_delay_channels(tmp_path, field, value, message):
    """A 'dchan_rec' layer with a bad field is refused with an error naming the
    file, the layer and the value."""
    import h5py

    from netx_export.errors import NetworkFormatError
    from netx_export.exporter import export_blocks
    from netx_export.reader import read_network
    from netx_export.spec import InvalidSpecError

    path = tmp_path / "net.h5"
    export_blocks(list(delay_channel_network().blocks), path)
    with h5py.File(path, "a") as f:
        layer = f["lava_convdelay_layer/1"]
        del layer[field]
        layer.create_dataset(field, data=value)
    with pytest.raises((NetworkFormatError, InvalidSpecError), match=message) as err:
        read_network(path)
    assert str(path) in str(err.value) and "layer 1" in str(err.value)


def test_loihi2_graph_rehearsal_and_resources():
    """The Loihi 2 graph (adapters, LIFReset, DelayDense with one scalar delay per
    delay channel) rehearsed on the CPU equals the fixed-point simulator on every
    sample the schedule does not report as exposed to its predecessor's
    activity (the first always); the chip-fit estimate counts the channels' banded synapses and delay buffers."""
    from netx_export.exporter import blocks_to_spec
    from sim.fixed_point import simulate
    from sim.loihi2.resources import ACCUMULATOR_BITS, NEURON_STATE_BITS, chip_fit
    from sim.loihi2.runner import HardwareRunner

    model = delay_channel_network(seed=1)
    spec = blocks_to_spec(list(model.blocks))
    fit = chip_fit(spec)  # as deploy builds it: one Dense / DelayDense per delay channel, every entry
    first = fit.layers[0]
    banded = sum(int(np.count_nonzero(m)) for m in spec.layers[0].delay_channels.matrices(12))
    assert first.recurrent_synapses == 4 * 12 * 12 and first.synapses == 12 * 8 + 4 * 12 * 12
    assert first.nonzero_synapses == np.count_nonzero(spec.layers[0].weight) + banded
    assert chip_fit(spec, "groups").layers[0].recurrent_synapses == 4 * 12 * 12
    assert chip_fit(spec, "sparse").layers[0].recurrent_synapses == banded < 4 * 12 * 12
    assert first.delay_depth == 62
    buffers = 12 * ((3 + 1) + (17 + 1) + (62 + 1)) * ACCUMULATOR_BITS  # the delay-0 channel needs none
    assert first.memory_bytes * 8 >= 12 * NEURON_STATE_BITS + buffers and fit.fits
    x = (np.random.default_rng(3).random((2, 8, 40)) < 0.3).astype(np.int8)
    runner = HardwareRunner(spec, "cpu", delayed_synapse="dense")
    graph, _ = runner.build(runner.plan(x), x)
    assert [type(p).__name__ for p in graph.net.layers[0].recurrent] == ["Dense"] + ["DelayDense"] * 3
    exposed = runner.plan(x).exposed  # samples the previous one's activity still reaches (delay 62)
    results = runner.run_many(x, record_layers=True, progress=False)
    fixed = simulate(spec, x, record_layers=True)
    assert 0 not in exposed
    for k, result in enumerate(results):
        if k in exposed:
            continue
        for i, got in enumerate(result.layers):
            assert fixed.layers[i][k].sum() > 0, f"layer {i + 1} silent: weak test"
            np.testing.assert_array_equal(got, fixed.layers[i][k], err_msg=f"sample {k}, layer {i + 1}")


# --------------------------------------------------------------------------- the command line


def test_command_line_pipeline(tmp_path, capsys):
    """A config with 'conv_delay_channels_rec' trained 2 epochs on toy SHD files, then
    export -> inspect --loihi2, verify, simulate, evaluate (fixed, lava), deploy --backend
    cpu: every command exits 0, and fixed = lava = the quantized model's accuracy."""
    import json

    from factories import toy_shd

    from lava_convdelay.cli import main
    from netx_export.reader import read_network
    from sim.fixed_point import simulate

    train_file, test_file = toy_shd(tmp_path / "train.h5", 36, 0), toy_shd(tmp_path / "test.h5", 12, 1)
    config = {
        "seed": 1,
        "data": {"source": "shd", "train": str(train_file), "test": str(test_file),
                 "dt": 0.01, "pool": 25, "duration": 0.3},
        "model": {"neuron": {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03,
                             "tau_grad": 0.03, "scale_grad": 3},
                  "layers": [{"type": "conv_delay_channels_rec", "neurons": 16, "channels": 2, "kernel_size": 3,
                              "delay_channels": 4, "max_delay": 10},
                             {"type": "dense", "neurons": 3}]},
        "train": {"epochs": 2, "batch_size": 6, "sigma_init": 3},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    run, net = tmp_path / "run", tmp_path / "net.h5"
    assert main(["train", "--config", str(tmp_path / "config.json"), "--out", str(run), "--no-progress"]) == 0
    assert main(["export", str(run / "checkpoint.pt"), "-o", str(net)]) == 0
    spec = read_network(net)
    assert [layer.type for layer in spec.layers] == ["dchan_rec", "dense"]
    assert spec.layers[0].delay_channels.kernel.shape == (4, 2, 3)

    capsys.readouterr()
    assert main(["evaluate", str(run), "--samples", "0", "--backend", "quantized"]) == 0
    quantized = _accuracies(capsys.readouterr().out)["quantized"]
    for backend in ("fixed", "lava"):
        assert main(["evaluate", str(net), "--data", str(test_file), "--backend", backend, "--samples", "0"]) == 0
        out = capsys.readouterr().out
        assert "12 test samples" in out
        assert _accuracies(out)[backend] == quantized, out

    assert main(["inspect", str(net), "--loihi2"]) == 0
    out = capsys.readouterr().out
    assert "dchan_rec" in out and "fits" in out
    assert main(["verify", str(net), "--samples", "2", "--steps", "30", "--rate", "0.2"]) == 0
    assert capsys.readouterr().out.count("100.0000 %") == 2
    x = (np.random.default_rng(4).random((28, 30)) < 0.2).astype(np.int8)
    np.save(tmp_path / "in.npy", x)
    expected = simulate(spec, x).output
    assert expected.any(), "silent output: weak test"
    assert main(["simulate", str(net), "--input", str(tmp_path / "in.npy"), "-o", str(tmp_path / "sim.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npy"), expected)
    assert main(["deploy", str(net), "--backend", "cpu", "--input", str(tmp_path / "in.npy"),
                 "-o", str(tmp_path / "deployed.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "deployed.npy"), expected)


def _accuracies(out: str) -> dict[str, float]:
    """``{backend: accuracy}`` from ``evaluate``'s table (a row: name, samples, accuracy, ...)."""
    rows = [line.split() for line in out.splitlines()]
    return {row[0]: float(row[2]) for row in rows
            if len(row) > 2 and row[0] in ("float", "quantized", "fixed", "lava")}
