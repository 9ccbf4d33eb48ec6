"""Delay-recurrent blocks against a naive reference, conv vs banded dense,
integer mode vs the sigma = 0 kernel path, and SLAYER's own Recurrent block."""
import numpy as np
import pytest
import torch
from factories import assert_product_matches
from lava.lib.dl import slayer
from naive_reference import naive_banded, naive_delay_recurrent

from lava_convdelay.nn.blocks import ConvDelayRecurrent, DelayRecurrent

NEURON = dict(threshold=1.0, current_decay=0.2, voltage_decay=0.1)
I_DECAY, V_DECAY, VTH_MANT = round(4096 * 0.2), round(4096 * 0.1), 64


def random_input(seed, channels, steps, rate=0.3):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(2, channels, steps, generator=gen) < rate).float()


def set_delays(block, seed, max_delay):
    gen = torch.Generator().manual_seed(seed + 1000)
    real = torch.rand(block.num_neurons, generator=gen) * max_delay
    real[0] = max_delay  # exercise the limit
    with torch.no_grad():
        block.axonal_delay.delay.copy_(real)
    return np.floor(real.numpy().astype(np.float64) + 0.5).astype(np.int64)


def integer_weights(block):
    w = block.input_synapse.pre_hook_fx(block.input_synapse.weight, descale=True)
    w = w.reshape(block.num_neurons, -1).detach().numpy().round().astype(np.int64)
    r = (block.recurrent_synapse.quantized() * 64).detach().numpy().round().astype(np.int64)
    if r.ndim == 3:
        r = naive_banded(r, block.recurrent_synapse.positions)
    return w, r


def check_against_naive(block, x, delays):
    with torch.no_grad():
        out = block(x).numpy().astype(np.int64)
    w, r = integer_weights(block)
    total_spikes = 0
    for b in range(x.shape[0]):
        expected = naive_delay_recurrent(x[b].numpy().astype(np.int64), w, r, delays,
                                         I_DECAY, V_DECAY, VTH_MANT)
        assert np.array_equal(out[b, :, 0], np.zeros(block.num_neurons))  # delay_shift
        np.testing.assert_array_equal(out[b, :, 1:], expected[:, :-1])
        total_spikes += expected.sum()
        # the delays must matter for this test to mean anything
        undelayed = naive_delay_recurrent(x[b].numpy().astype(np.int64), w, r, 0 * delays,
                                          I_DECAY, V_DECAY, VTH_MANT)
        assert not np.array_equal(undelayed, expected)
    n_cells = out[..., 1:].size
    assert 0.02 * n_cells < total_spikes < 0.8 * n_cells  # neither silent nor saturated


@pytest.mark.parametrize("seed,neurons,inputs,max_delay", [
    (0, 8, 5, 10), (1, 16, 10, 30), (2, 12, 6, 62),
])
def test_dense_integer_mode_matches_naive_loop(seed, neurons, inputs, max_delay):
    torch.manual_seed(seed)
    block = DelayRecurrent(NEURON, inputs, neurons, weight_scale=3, max_delay=max_delay)
    delays = set_delays(block, seed, max_delay)
    check_against_naive(block, random_input(seed, inputs, 90), delays)


@pytest.mark.parametrize("seed,neurons,channels,kernel,max_delay", [
    (0, 16, 1, 3, 20), (1, 18, 2, 3, 30), (2, 24, 3, 5, 62), (3, 12, 1, 7, 12),
])
def test_conv_integer_mode_matches_naive_loop(seed, neurons, channels, kernel, max_delay):
    torch.manual_seed(seed)
    block = ConvDelayRecurrent(NEURON, 6, neurons, kernel_size=kernel, channels=channels,
                               weight_scale=4, max_delay=max_delay)
    delays = set_delays(block, seed, max_delay)
    check_against_naive(block, random_input(seed, 6, 90), delays)


@pytest.mark.parametrize("channels,kernel", [(1, 3), (2, 5), (4, 3)])
def test_conv_equals_dense_with_banded_matrix(channels, kernel):
    torch.manual_seed(7)
    neurons = 8 * channels
    conv = ConvDelayRecurrent(NEURON, 10, neurons, kernel_size=kernel, channels=channels,
                              weight_scale=4, max_delay=15, delay_init=(0, 15))
    dense = DelayRecurrent(NEURON, 10, neurons, weight_scale=4, max_delay=15)
    banded = naive_banded(conv.recurrent_synapse.quantized().detach().numpy(), 8)
    np.testing.assert_array_equal(conv.recurrent_synapse.dense_matrix().detach().numpy(), banded)
    with torch.no_grad():
        dense.input_synapse.weight.copy_(conv.input_synapse.weight)
        dense.recurrent_synapse.synapse.weight.copy_(torch.from_numpy(banded).reshape(
            dense.recurrent_synapse.synapse.weight.shape))
        dense.axonal_delay.delay.copy_(conv.axonal_delay.delay)
    x = random_input(3, 10, 80)
    for sigma in (0.0, 2.5):  # integer mode and the training kernel
        conv.set_sigma(sigma)
        dense.set_sigma(sigma)
        a, b = conv(x), dense(x)
        assert a.sum() > 0
        assert torch.equal(a, b)


@pytest.mark.parametrize("cls", [DelayRecurrent, ConvDelayRecurrent])
def test_sigma_zero_training_path_equals_integer_mode(cls):
    torch.manual_seed(11)
    block = cls(NEURON, 12, 20, weight_scale=4, max_delay=40, delay_init=(0, 40))
    block.set_sigma(0.0)
    x = random_input(5, 12, 100)
    trained = block(x)  # autograd on: kernel line with one-hot kernel
    assert trained.requires_grad
    with torch.no_grad():
        deployed = block(x)  # ring buffer
    assert deployed.sum() > 0
    assert torch.equal(trained.detach(), deployed)
    # and a positive sigma really is a different (smoothed) model
    block.set_sigma(3.0)
    with torch.no_grad():
        assert not torch.equal(block(x), deployed)


def test_without_delays_equals_slayer_recurrent():
    torch.manual_seed(0)
    ref = slayer.block.cuba.Recurrent(dict(NEURON), 20, 32, weight_scale=2)
    block = DelayRecurrent(NEURON, 20, 32, weight_scale=2, delays=False)
    with torch.no_grad():
        block.input_synapse.weight.copy_(ref.input_synapse.weight)
        block.recurrent_synapse.synapse.weight.copy_(ref.recurrent_synapse.weight)
    x = random_input(1, 20, 100, rate=0.2)
    expected = ref(x)
    assert expected.sum() > 0
    assert torch.equal(block(x), expected)


def test_calls_are_independent_and_params_not_mutated():
    params = dict(NEURON)
    block = DelayRecurrent(params, 10, 16, weight_scale=4, max_delay=20)
    assert params == NEURON
    x = random_input(2, 10, 60)
    with torch.no_grad():
        first, second = block(x), block(x)
        single = block(x[1:2])
    assert first.sum() > 0
    assert torch.equal(first, second)
    assert torch.equal(first[1:2], single)  # batch entries do not interact


@pytest.mark.parametrize("cls", [DelayRecurrent, ConvDelayRecurrent])
def test_feed_forward_dropout_drops_output_spikes_only_in_training(cls):
    """``dropout`` thins what the next layer sees; the layer's own recurrence
    (and so which spikes exist) is untouched, and eval is unaffected."""
    torch.manual_seed(0)
    plain = cls(NEURON, 10, 16, weight_scale=4, max_delay=20).train()
    dropped = cls(NEURON, 10, 16, weight_scale=4, max_delay=20, dropout=0.5).train()
    dropped.load_state_dict(plain.state_dict())
    x = random_input(3, 10, 80)
    with torch.no_grad():
        full, thinned = plain(x), dropped(x)
        assert torch.equal(dropped.eval()(x), full)
    assert full.sum() > 200
    kept = thinned != 0
    assert torch.equal(thinned[kept], torch.full_like(thinned[kept], 2.0))  # 1 / (1 - p)
    assert torch.equal(full[kept], torch.ones_like(full[kept]))  # a subset of the real spikes
    assert 0.4 < kept.sum() / full.sum() < 0.6
    with pytest.raises(ValueError, match="dropout must be in"):
        cls(NEURON, 10, 16, dropout=1.0)


def test_parameter_counts_and_integer_delays():
    conv = ConvDelayRecurrent(NEURON, 140, 256, kernel_size=3, channels=1)
    conv2 = ConvDelayRecurrent(NEURON, 140, 256, kernel_size=5, channels=4)
    dense = DelayRecurrent(NEURON, 140, 256)
    plain = DelayRecurrent(NEURON, 140, 256, delays=False)
    assert conv.recurrent_param_count == 3 + 256
    assert conv2.recurrent_param_count == 5 * 4 * 4 + 256
    assert dense.recurrent_param_count == 256 * 256 + 256
    assert plain.recurrent_param_count == 256 * 256
    with torch.no_grad():
        dense.axonal_delay.delay.copy_(torch.linspace(0, 30, 256))
    d = dense.integer_delays()
    assert d.dtype == torch.int64
    assert d[0] == 0 and d[-1] == 30 and d[128] == round(128 * 30 / 255 + 1e-9)
    assert torch.equal(plain.integer_delays(), torch.zeros(256, dtype=torch.int64))


def test_bad_construction_is_rejected():
    with pytest.raises(ValueError, match="max_delay=63"):
        DelayRecurrent(NEURON, 4, 8, max_delay=63)
    with pytest.raises(ValueError, match="multiple of channels"):
        ConvDelayRecurrent(NEURON, 4, 10, channels=3)
    with pytest.raises(ValueError, match="odd"):
        ConvDelayRecurrent(NEURON, 4, 10, kernel_size=4)
    with pytest.raises(ValueError, match="init range"):
        DelayRecurrent(NEURON, 4, 8, max_delay=10, delay_init=(5, 20))
    with pytest.raises(ValueError, match="requires_grad"):
        DelayRecurrent(dict(NEURON, requires_grad=True), 4, 8)
    block = DelayRecurrent(NEURON, 4, 8)
    with pytest.raises(ValueError, match=r"expected input \[batch, 4, time\]"):
        block(torch.zeros(1, 5, 10))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls", [DelayRecurrent, ConvDelayRecurrent])
def test_cuda_matches_cpu(cls):
    torch.manual_seed(3)
    block = cls(NEURON, 10, 16, weight_scale=4, max_delay=20, sigma=2.0)
    x = random_input(4, 10, 60)
    cpu = block(x)
    cpu.sum().backward()
    grad_cpu = block.axonal_delay.delay.grad.clone()
    block.zero_grad()
    block.cuda()
    gpu = block(x.cuda())
    gpu.sum().backward()
    assert torch.equal(cpu, gpu.cpu())
    torch.testing.assert_close(block.axonal_delay.delay.grad.cpu(), grad_cpu, rtol=1e-4, atol=1e-5)
    block.set_sigma(0.0)
    with torch.no_grad():
        assert torch.equal(block(x.cuda()).cpu(), block.cpu()(x))


def _stepwise_cases():
    """(block class, options, sigma, dropout, conv product): the dense block,
    and the conv block with each of its products and several channel counts
    and kernel sizes."""
    cases = [(DelayRecurrent, {}, 3.5, 0.0, None), (DelayRecurrent, {}, 0.0, 0.3, None)]
    for product in ("taps", "dense"):
        cases += [(ConvDelayRecurrent, {}, 3.5, 0.3, product), (ConvDelayRecurrent, {}, 0.0, 0.0, product),
                  (ConvDelayRecurrent, dict(channels=4, kernel_size=5), 3.5, 0.3, product),
                  (ConvDelayRecurrent, dict(channels=2, kernel_size=3), 0.0, 0.3, product)]
    return cases


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "tensor-ops"])
@pytest.mark.parametrize("cls,options,sigma,dropout,product", _stepwise_cases())
def test_fused_loop_matches_stepwise_autograd(cls, options, sigma, dropout, product, compiled, monkeypatch):
    """The hand-written BPTT equals autograd through the per-step formulation
    (cuba_step), for the input current, the recurrent weights and the delays:
    the compiled CPU steps and the tensor operations (other devices), the
    convolution as its taps and as its banded matrix."""
    from lava_convdelay.nn import cuba_recurrence
    from lava_convdelay.nn.cuba_step import stepwise_recurrence

    monkeypatch.setattr(cuba_recurrence, "COMPILED_ON_CPU", compiled)
    torch.manual_seed(4)
    block = cls(dict(NEURON, tau_grad=0.5, scale_grad=1.0), 10, 16, weight_scale=4, max_delay=12,
                delay_init=(0, 12), rec_dropout=dropout, **options).double().train()
    if product is not None:
        block.recurrent_synapse.product = product
    block.set_sigma(sigma)
    with torch.no_grad():  # fractional parts away from the triangle's kinks
        block.axonal_delay.delay.copy_(torch.randint(0, 11, (16,)).double() + 0.3
                                       + 0.4 * torch.rand(16).double())
    x = random_input(6, 10, 70).double()
    target = torch.randn(2, 16, 70, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    params = [block.input_synapse.weight, block.recurrent_synapse.weight if cls is ConvDelayRecurrent
              else block.recurrent_synapse.synapse.weight, block.axonal_delay.delay]

    torch.manual_seed(9)
    fused = block(x)  # delay-shifted
    grads = torch.autograd.grad((fused[..., 1:] * target[..., :-1]).sum(), params)
    torch.manual_seed(9)  # the same recurrent dropout mask
    mask = None
    if dropout:
        keep = 1 - dropout
        mask = torch.bernoulli(torch.full((2, 16), keep)) / keep  # as the block draws it
    reference = stepwise_recurrence(block, block.input_synapse(x), mask)
    expected = torch.autograd.grad((reference[..., :-1] * target[..., :-1]).sum(), params)
    assert reference.sum() > 0.05 * reference.numel()
    assert torch.equal(fused[..., 1:], reference[..., :-1])
    for got, want in zip(grads, expected):
        assert want.abs().max() > 1e-3  # every parameter really gets a gradient
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("neurons,channels,kernel", [(96, 1, 3), (96, 3, 5), (40, 4, 7), (12, 4, 5)])
def test_conv_taps_equal_banded_matrix(neurons, channels, kernel):
    """The two products of a convolution give the same model: spikes bit for bit
    in integer mode (float32, with and without recurrent dropout) and with the
    smoothed kernel (float64), gradients equal at rtol 1e-9."""
    torch.manual_seed(neurons + kernel)
    block = ConvDelayRecurrent(NEURON, 10, neurons, kernel_size=kernel, channels=channels, weight_scale=3,
                               max_delay=20, delay_init=(0, 20), rec_dropout=0.25)
    x = random_input(channels, 10, 120)

    def run(product, train, sigma, dtype=torch.float32):
        block.recurrent_synapse.product = product
        block.to(dtype).train(train).set_sigma(sigma)
        torch.manual_seed(5)  # the same dropout mask
        return block(x.to(dtype))

    for train in (False, True):
        with torch.no_grad():
            taps, dense = run("taps", train, 0.0), run("dense", train, 0.0)
        assert 0.02 < taps.mean() < 0.8
        assert torch.equal(taps, dense)
    grads = {}
    for product in ("taps", "dense"):
        out = run(product, True, 2.5, torch.float64)
        learned = [p for p in block.parameters() if p.requires_grad]
        grads[product] = out, torch.autograd.grad(out.sum() + (out * out.roll(1, 2)).sum(), learned)
    assert torch.equal(grads["taps"][0], grads["dense"][0])
    for got, want in zip(grads["taps"][1], grads["dense"][1]):
        assert want.abs().max() > 1e-3
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cls,product", [(DelayRecurrent, None), (ConvDelayRecurrent, "dense"),
                                         (ConvDelayRecurrent, "taps")])
def test_compiled_steps_equal_tensor_operations(cls, product, monkeypatch):
    """In float32, training mode, smoothed kernel and recurrent dropout, the
    compiled CPU steps give the tensor operations' spikes (their reads are
    the same sums in the same order, up to a fused multiply-add), also
    without autograd (where they keep no history for a backward), and their
    gradients to float32 rounding. The convolution's taps run inside the
    compiled loop (``_compiled_conv_forward``), the dense product outside it."""
    from lava_convdelay.nn import cuba_recurrence

    torch.manual_seed(2)
    options = dict(channels=2, kernel_size=5) if cls is ConvDelayRecurrent else {}
    block = cls(NEURON, 12, 48, weight_scale=3, max_delay=20, delay_init=(0, 20), rec_dropout=0.3, sigma=2.5,
                **options)
    if product is not None:
        block.recurrent_synapse.product = product
    x = random_input(8, 12, 150)
    results = {}
    for compiled in (True, False):
        monkeypatch.setattr(cuba_recurrence, "COMPILED_ON_CPU", compiled)
        torch.manual_seed(3)
        out = block(x)
        learned = [p for p in block.parameters() if p.requires_grad]
        grads = torch.autograd.grad((out * torch.linspace(-1, 1, 150)).sum(), learned)
        with torch.no_grad():
            torch.manual_seed(3)
            results[compiled] = out, grads, block(x)
    (out, grads, no_grad), (out_t, grads_t, no_grad_t) = results[True], results[False]
    assert 0.02 < out.mean() < 0.8
    assert torch.equal(out, out_t) and torch.equal(no_grad, out) and torch.equal(no_grad_t, out)
    for got, want in zip(grads, grads_t):  # summed in other orders: float32 rounding
        assert want.abs().max() > 1e-3
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6 * want.abs().max().item())


@pytest.mark.parametrize("channels,kernel,positions", [(1, 3, 9), (2, 5, 4), (4, 3, 6), (3, 5, 3), (1, 1, 5)])
def test_conv_product_against_conv1d(channels, kernel, positions):
    """ConvProduct's three operations against torch's conv1d and its autograd
    (float64): the current, the gradient wrt the reads and the weight gradient
    summed over steps."""
    import torch.nn.functional as F

    from lava_convdelay.nn.recurrent_synapse import ConvProduct

    gen = torch.Generator().manual_seed(channels * 10 + kernel)
    steps, batch, n = 7, 5, channels * positions
    weight = torch.randn(channels, channels, kernel, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn(steps, n, batch, generator=gen, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(steps, n, batch, generator=gen, dtype=torch.float64)
    base = torch.randn(n, batch, generator=gen, dtype=torch.float64)

    def conv(signal):  # [T, N, B] -> [T, N, B] through torch's conv1d
        flat = signal.permute(0, 2, 1).reshape(steps * batch, channels, positions)
        out = F.conv1d(flat, weight, padding=kernel // 2)
        return out.reshape(steps, batch, n).permute(0, 2, 1)

    expected = conv(x)
    want_x, want_w = torch.autograd.grad((expected * grad).sum(), [x, weight])
    assert_product_matches(ConvProduct(weight.detach(), positions), x, base, grad, expected, want_x, want_w, n)


def test_recurrent_product_choice():
    """The banded matrix while ``N^2 < TAP_COST * k * C``, the taps from there
    on; a forced choice is kept; anything else is an error."""
    from lava_convdelay.nn.recurrent_synapse import TAP_COST, ConvProduct, ConvRecurrentSynapse, DenseProduct

    assert TAP_COST == 10_000  # the measured crossover (BENCHMARKS.md) the cases below are written for
    for neurons, channels, kernel, dense in [(172, 1, 3, True), (174, 1, 3, False), (444, 4, 5, True),
                                            (448, 4, 5, False), (99, 1, 1, True), (100, 1, 1, False)]:
        synapse = ConvRecurrentSynapse(neurons, channels, kernel)
        assert isinstance(synapse.recurrent_product(), DenseProduct if dense else ConvProduct)
    synapse = ConvRecurrentSynapse(174)
    synapse.product = "dense"
    dense = synapse.recurrent_product()
    assert isinstance(dense, DenseProduct) and dense.weight.shape == (174, 174)
    synapse = ConvRecurrentSynapse(16)
    synapse.product = "taps"
    assert isinstance(synapse.recurrent_product(), ConvProduct)
    synapse.product = "conv1d"
    with pytest.raises(ValueError, match="product must be"):
        synapse.recurrent_product()
