"""Input augmentation: per-sample shifts in time and channel, spike thinning."""
import numpy as np
import pytest
import torch

from lava_convdelay.training.augment import augment_spikes, shift_samples


def naive_shift(x: np.ndarray, offset: int, axis: int) -> np.ndarray:
    out = np.zeros_like(x)
    length = x.shape[axis]
    for i in range(length):
        j = i + offset
        if 0 <= j < length:
            src = [slice(None)] * x.ndim
            dst = [slice(None)] * x.ndim
            src[axis], dst[axis] = i, j
            out[tuple(dst)] = x[tuple(src)]
    return out


def spikes(batch=6, channels=9, steps=13, seed=0):
    return (torch.rand(batch, channels, steps, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


@pytest.mark.parametrize("dim", [1, 2])
def test_shift_samples_matches_a_loop(dim):
    x = spikes()
    offsets = torch.tensor([0, 1, -1, 4, -12, 13])  # 13 steps / 9 channels: some move out entirely
    out = shift_samples(x, offsets, dim)
    for b, offset in enumerate(offsets.tolist()):
        np.testing.assert_array_equal(out[b].numpy(), naive_shift(x[b].numpy(), offset, dim - 1))


def test_single_spike_moves_by_offset():
    x = torch.zeros(2, 3, 10)
    x[:, 1, 5] = 1
    out = shift_samples(x, torch.tensor([3, -5]), dim=2)
    assert out[0, 1].nonzero().flatten().tolist() == [8]
    assert out[1, 1].nonzero().flatten().tolist() == [0]
    assert out.sum() == 2


def which_offset(original: np.ndarray, shifted: np.ndarray, axis: int, limit: int) -> list[int]:
    return [k for k in range(-limit, limit + 1) if np.array_equal(naive_shift(original, k, axis), shifted)]


def test_augment_draws_its_own_time_and_channel_shift_per_sample():
    torch.manual_seed(1)
    x = spikes(batch=32, channels=20, steps=50, seed=2)
    out = augment_spikes(x, time_shift=4)
    offsets = [which_offset(x[b].numpy(), out[b].numpy(), 1, 4) for b in range(32)]
    assert all(len(o) == 1 for o in offsets)  # every sample is one shift within the limit
    assert len({o[0] for o in offsets}) >= 5
    out = augment_spikes(x, channel_shift=2)
    offsets = [which_offset(x[b].numpy(), out[b].numpy(), 0, 2) for b in range(32)]
    assert all(len(o) == 1 for o in offsets)
    assert {o[0] for o in offsets} == {-2, -1, 0, 1, 2}


def test_thinning_drops_a_per_sample_fraction_of_spikes():
    torch.manual_seed(0)
    x = (torch.rand(64, 40, 100) < 0.3).float()
    out = augment_spikes(x, thinning=0.5)
    assert torch.all(out <= x)  # only removes spikes
    kept = (out.sum((1, 2)) / x.sum((1, 2))).numpy()
    assert kept.min() > 0.5 - 0.05 and kept.max() <= 1.0  # drop rate drawn from [0, 0.5]
    assert kept.std() > 0.08  # rates differ between samples (uniform: s.d. 0.144)
    assert kept.min() < 0.6 and kept.max() > 0.9


def test_no_augmentation_is_identity_and_draws_nothing():
    x = spikes()
    torch.manual_seed(5)
    out = augment_spikes(x)
    after = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(out, x) and torch.equal(after, torch.rand(1))
