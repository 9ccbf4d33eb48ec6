"""Time-major tensors between blocks: the inference synapse, the one-step shift,
and blocks whose no-autograd forward equals their autograd forward bit for bit."""
import pytest
import torch
import torch.nn.functional as F

from lava_convdelay.nn.blocks import ConvDelayRecurrent, DelayChannelConvRecurrent, DelayRecurrent
from lava_convdelay.nn.time_major import EVENT_DENSITY, dense_synapse_time_major, shift_one_step, time_major

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
