"""Time-major tensors between blocks: the inference synapse, the one-step shift,
and blocks whose no-autograd forward equals their autograd forward bit for bit."""
import pytest
import torch
import torch.nn.functional as F

from lava_convdelay.nn.blocks import ConvDelayRecurrent, DelayChannelConvRecurrent, DelayRecurrent
from lava_convdelay.nn.time_major import (
    EVENT_DENSITY,
    dense_synapse_time_major,
    later_steps,
    shift_one_step,
    time_major,
)

NEURON = dict(threshold=1.0, current_decay=0.25, voltage_decay=0.03)


def _spikes(shape, rate, seed, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator) < rate).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rate", [0.03, 0.5])  # the event-driven product and the matrix product
@pytest.mark.parametrize("layout", ["batch-major", "time-major"])
def test_synapse_equals_slayer_conv3d_on_spikes(dtype, rate, layout):
    block = DelayRecurrent(NEURON, 37, 64, weight_scale=4).to(dtype)
    x = _spikes((5, 37, 23), rate, 1, dtype)
    if layout == "time-major":
        x = x.permute(2, 1, 0).contiguous().permute(2, 1, 0)
    assert (float(x.count_nonzero()) < EVENT_DENSITY * x.numel()) == (rate < EVENT_DENSITY)
    with torch.no_grad():
        want = block.input_synapse(x)  # SLAYER's conv3d with the 8-bit weights
        got = block.input_current(x)
    assert want.abs().max() > 1
    assert got.shape == want.shape and torch.equal(got, want)
    assert got.permute(2, 1, 0).is_contiguous()  # the loops' layout, no copy


def test_synapse_of_graded_input_and_its_weights():
    """Not only spikes: graded inputs give W x to rounding, in both products."""
    weight = torch.randn(11, 7, dtype=torch.float64)
    for rate in (0.05, 0.9):
        x = _spikes((3, 7, 13), rate, 2, torch.float64) * torch.rand(3, 7, 13, dtype=torch.float64)
        want = torch.einsum("nm,bmt->bnt", weight, x)
        torch.testing.assert_close(dense_synapse_time_major(weight, x), want, rtol=1e-12, atol=1e-12)


def test_shift_one_step_is_slayers_delay_shift_in_time_major_memory():
    x = torch.randn(4, 6, 9)
    shifted = shift_one_step(x)
    assert torch.equal(shifted, F.pad(x[..., :-1], (1, 0)))
    assert shifted.permute(2, 1, 0).is_contiguous()
    assert time_major(shifted).data_ptr() == shifted.data_ptr()  # a view, no copy


@pytest.mark.parametrize("make", [
    lambda: DelayRecurrent(NEURON, 40, 96, weight_scale=4, max_delay=12),
    lambda: ConvDelayRecurrent(NEURON, 40, 96, kernel_size=5, channels=2, weight_scale=4, max_delay=12),
    lambda: DelayChannelConvRecurrent(NEURON, 40, 96, kernel_size=3, channels=4, delay_channels=3,
                                      weight_scale=4, max_delay=12),
])
@pytest.mark.parametrize("rate", [0.05, 0.4])
def test_inference_forward_equals_the_autograd_forward(make, rate):
    """Integer mode: the no-autograd path (time-major synapse, compiled
    convolution, shift) gives the spikes of the path training uses."""
    torch.manual_seed(0)
    block = make().eval()
    if isinstance(block, ConvDelayRecurrent):
        block.recurrent_synapse.product = "taps"
    x = _spikes((6, 40, 60), rate, 3)
    with_autograd = block(x)
    with torch.no_grad():
        without = block(x)
    assert 0.02 < float(with_autograd.mean()) < 0.8
    assert torch.equal(without, with_autograd)
    following = DelayRecurrent(NEURON, 96, 32, weight_scale=4, max_delay=12).eval()
    with torch.no_grad():  # a layer fed the time-major output
        fed = following(without)
    assert fed.sum() > 0 and torch.equal(fed, following(with_autograd.detach()))


def test_later_steps_is_a_view_of_the_loops_buffer_only_where_that_is_right():
    history = torch.zeros(4 + 6, 3, 2)
    history[4:] = torch.randn(6, 3, 2)
    spikes = history[4:]
    view = later_steps(spikes, history)
    assert view.data_ptr() == history[3].data_ptr()  # no copy
    copied = later_steps(spikes.clone(), history)  # other memory: a new tensor
    assert copied.data_ptr() != history[3].data_ptr()
    for got in (view, copied):
        assert torch.equal(got, torch.cat((torch.zeros(1, 3, 2), spikes[:-1])))


@pytest.mark.parametrize("cls", [DelayRecurrent, DelayChannelConvRecurrent])
def test_the_loops_shift_has_the_gradient_of_a_shift_after_the_loop(cls):
    """The loops' ``shifted`` output against the unshifted output shifted
    afterwards: the same spikes, and (float64, training, smoothed delays,
    recurrent dropout) the same gradients for every parameter and the input."""
    torch.manual_seed(4)
    block = cls(NEURON, 9, 32, weight_scale=4, max_delay=8, rec_dropout=0.2, sigma=1.5).double().train()
    x = _spikes((3, 9, 40), 0.3, 5, torch.float64)
    results = []
    for in_loop in (True, False):
        torch.manual_seed(6)  # the same dropout mask
        z = block.input_synapse(x).detach().requires_grad_()
        mask = torch.bernoulli(torch.full((3, 32), 0.8, dtype=torch.float64))
        out = block.recurrence(z, mask, True) if in_loop else shift_one_step(block.recurrence(z, mask, False))
        weights = torch.linspace(-1, 2, out.numel(), dtype=torch.float64).view(out.shape)
        learned = [z, block.recurrent_synapse.weight, block.axonal_delay.delay]
        results.append((out.detach(), torch.autograd.grad((out * weights).sum(), learned)))
    (out, grads), (want, want_grads) = results
    assert 0.02 < float(out.mean()) < 0.8 and torch.equal(out, want)
    for got, expected in zip(grads, want_grads):
        assert expected.abs().max() > 1e-6
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
