"""A temporal task that needs a recurrent delay far longer than the membrane
time constant: reproduce an input spike D = 20 steps later.

Neuron 1 relays the input; neuron 0 must fire exactly D steps after the input,
which it can only do through neuron 1's recurrent delay (d_1 = D - 1, since a
recurrent spike arrives 1 + d steps later). The neuron forgets within ~2 steps
(current decay 1, voltage decay 0.5), so the delay-free block cannot bridge
the gap. The delays start far from the answer and are learned by gradient
descent through the annealed triangular kernel.
"""
import pytest
import torch

from lava_convdelay.nn.blocks import DelayRecurrent
from lava_convdelay.nn.delays import SigmaSchedule

FAST = dict(threshold=1.0, current_decay=1.0, voltage_decay=0.5, tau_grad=0.03, scale_grad=3)
STEPS, GAP, EPOCHS = 50, 20, 40


def make_data(n, seed):
    gen = torch.Generator().manual_seed(seed)
    t0 = torch.randint(2, 15, (n,), generator=gen)
    x = torch.zeros(n, 1, STEPS)
    x[torch.arange(n), 0, t0] = 1
    target = torch.zeros(n, STEPS)
    target[torch.arange(n), t0 + GAP + 1] = 1  # +1: block outputs are delay-shifted
    return x, target, t0


def smooth(s, tau=4.0):
    """Causal exponential filter over time (van Rossum distance)."""
    acc, out = torch.zeros_like(s[..., 0]), []
    for t in range(s.shape[-1]):
        acc = acc * (1 - 1 / tau) + s[..., t]
        out.append(acc)
    return torch.stack(out, -1)


def train(delays: bool, delay_init: float):
    torch.manual_seed(0)
    block = DelayRecurrent(FAST, 1, 2, delays=delays, max_delay=30, sigma=10)
    with torch.no_grad():  # neuron 1 relays the input, neuron 0 listens to neuron 1
        block.input_synapse.weight.copy_(torch.tensor([0.0, 2.0]).view_as(block.input_synapse.weight))
        rec = block.recurrent_synapse.synapse.weight
        rec.copy_(torch.tensor([[0.0, 1.0], [0.0, 0.0]]).view_as(rec))
        if delays:
            block.axonal_delay.delay.fill_(delay_init)
    groups = [{"params": [block.input_synapse.weight, rec], "lr": 0.05}]
    if delays:
        groups.append({"params": [block.axonal_delay.delay], "lr": 1.0})
    opt = torch.optim.Adam(groups)
    lr_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    sigma_schedule = SigmaSchedule(sigma_init=10, epochs=EPOCHS)
    x, target, _ = make_data(32, 1)
    for epoch in range(EPOCHS):
        block.set_sigma(sigma_schedule(epoch))
        loss = ((smooth(block(x)[:, 0]) - smooth(target)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        lr_schedule.step()
        block.clamp_delays()
    x, _, t0 = make_data(64, 2)
    with torch.no_grad():
        out = block(x)[:, 0]
    exact = (out[torch.arange(64), t0 + GAP + 1] > 0) & (out.sum(-1) == 1)
    return exact.float().mean().item(), block


@pytest.mark.parametrize("delay_init", [2.0, 14.0, 30.0])
def test_delayed_block_learns_long_delay(delay_init):
    accuracy, block = train(True, delay_init)
    assert block.integer_delays()[1] == GAP - 1
    assert accuracy == 1.0


def test_block_without_delays_cannot_learn_it():
    accuracy, _ = train(False, 0.0)
    assert accuracy < 0.1
