"""The delay rule: kernel, rounding, schedule, and delay gradients."""
import math

import pytest
import torch

from lava_convdelay.errors import DelayRangeError
from lava_convdelay.nn.axonal_delay import RecurrentDelay
from lava_convdelay.nn.delays import SigmaSchedule, delay_kernel, num_lags, round_delays
from lava_convdelay.nn.recurrent_synapse import ConvRecurrentSynapse, DenseRecurrentSynapse


def test_round_delays_is_nearest_ties_up_and_range_checked():
    d = torch.tensor([0.0, 0.49, 0.5, 1.5, 2.5, 29.5, 30.0, -0.3])
    assert round_delays(d, 30).tolist() == [0, 0, 1, 2, 3, 30, 30, 0]
    with pytest.raises(DelayRangeError, match=r"layer 3: 2 delay\(s\) outside \[0, 30\].*"
                                              r"neuron 1: 30.6.*neuron 2: -0.7"):
        round_delays(torch.tensor([1.0, 30.6, -0.7]), 30, "layer 3")
    with pytest.raises(DelayRangeError, match="neuron 0: nan"):
        round_delays(torch.tensor([float("nan")]), 30)


def test_kernel_values_by_hand():
    # d = 2.25, sigma = 1 -> width 2, centre lag 3.25: weights (2 - |k - 3.25|) / 4
    k = delay_kernel(torch.tensor([2.25]), 1.0, 8, 30)[0]
    expected = [0, 0.75 / 4, 1.75 / 4, 1.25 / 4, 0.25 / 4, 0, 0, 0]
    torch.testing.assert_close(k, torch.tensor(expected), rtol=0, atol=1e-7)
    # sigma = 0: one-hot at lag 1 + round(d) (column = lag - 1)
    k0 = delay_kernel(torch.tensor([2.5, 0.2]), 0.0, 8, 30)
    assert k0[0].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    assert k0[1].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]


def test_kernel_converges_to_integer_rule_as_sigma_goes_to_zero():
    d = torch.tensor([0.0, 3.0, 17.0, 30.0])
    lags = num_lags(30, 0.0)
    exact = delay_kernel(d, 0.0, lags, 30)
    errors = [(delay_kernel(d, s, lags, 30) - exact).abs().max().item() for s in (1e-1, 1e-2, 1e-3)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 3e-3


def test_wide_kernel_keeps_its_mass_inside_the_buffer():
    # away from lag 0 the triangle's mass is 1 (DelRec normalisation)
    lags = num_lags(30, 10.0)
    k = delay_kernel(torch.tensor([15.0, 30.0]), 10.0, lags, 30)
    torch.testing.assert_close(k.sum(1), torch.ones(2), rtol=0, atol=1e-6)
    assert k[1, -1] > 0  # d = max_delay still reaches the last lag


def _recurrent_current(delay, synapse, spikes, sigma):
    """Sum over steps of G * R(read(t)), read_j(t) = sum_k K[j, k - 1] s_j(t - k),
    for fixed presynaptic spikes."""
    delay.set_sigma(sigma)
    kernel, _ = delay.kernel()
    weight = synapse.quantized()
    total = 0.0
    gen = torch.Generator().manual_seed(5)
    for t in range(spikes.shape[-1]):
        read = sum(kernel[:, k - 1] * spikes[..., t - k] for k in range(1, min(t, kernel.shape[1]) + 1))
        current = synapse.propagate(weight, read if torch.is_tensor(read) else spikes[..., 0] * 0)
        total = total + (current * torch.randn(current.shape, generator=gen, dtype=spikes.dtype)).sum()
    return total


@pytest.mark.parametrize("kind", ["dense", "conv"])
@pytest.mark.parametrize("sigma", [0.7, 4.2])
def test_delay_gradients_match_finite_differences(kind, sigma):
    torch.manual_seed(0)
    n = 12
    synapse = (DenseRecurrentSynapse(n, weight_scale=2) if kind == "dense"
               else ConvRecurrentSynapse(n, channels=2, kernel_size=3, weight_scale=2)).double()
    delay = RecurrentDelay(n, max_delay=20).double()
    # fractional parts near .5 keep every delay away from the kernel's kinks
    with torch.no_grad():
        delay.delay.copy_(torch.randint(0, 19, (n,)).double() + 0.45 + 0.1 * torch.rand(n).double())
    spikes = (torch.rand(3, n, 60) < 0.3).double()
    loss = _recurrent_current(delay, synapse, spikes, sigma)
    (grad,) = torch.autograd.grad(loss, delay.delay)
    eps = 1e-6
    numeric = torch.zeros(n, dtype=torch.float64)
    for j in range(n):
        with torch.no_grad():
            delay.delay[j] += eps
            up = _recurrent_current(delay, synapse, spikes, sigma)
            delay.delay[j] -= 2 * eps
            down = _recurrent_current(delay, synapse, spikes, sigma)
            delay.delay[j] += eps
        numeric[j] = (up - down) / (2 * eps)
    assert numeric.abs().max() > 1e-3  # the loss does depend on the delays
    torch.testing.assert_close(grad, numeric, rtol=1e-6, atol=1e-8)


def test_sigma_schedule_follows_delrec_and_reaches_zero():
    sched = SigmaSchedule(sigma_init=10, epochs=50, decay=0.95, reference_epochs=100)
    assert sched(0) == 10
    assert math.isclose(sched(10), 10 * 0.95 ** 20)
    assert sched(48) > 0 and sched(49) == 0.0
    values = [sched(e) for e in range(50)]
    assert all(a > b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError):
        SigmaSchedule(epochs=3, integer_epochs=4)


def test_clamp_keeps_delays_in_range():
    delay = RecurrentDelay(4, max_delay=10, init_range=(0, 10))
    with torch.no_grad():
        delay.delay.copy_(torch.tensor([-2.0, 3.3, 10.7, 5.0]))
    delay.clamp_()
    assert delay.delay.tolist() == pytest.approx([0.0, 3.3, 10.0, 5.0])
