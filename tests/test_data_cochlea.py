"""The vectorized cochlea against the reference package ``lauscher`` (test-only):
deterministic stages to 1e-9 relative on the same input (basilar membrane at
the full 700 channels), the bushy-cell stage exactly where it is deterministic
(fibre firing probabilities of 0 or 1) and statistically otherwise."""
import numpy as np
import pytest

from lava_convdelay.data.cochlea import BasilarMembrane, BushyCell, HairCell, normalise_and_window

lauscher = pytest.importorskip("lauscher")
from lauscher.audiowaves import MonoAudioWave  # noqa: E402
from lauscher.firing_probability import FiringProbability  # noqa: E402
from lauscher.membranevelocity import MembraneVelocity  # noqa: E402
from lauscher.transformations import BasilarMembrane as RefBM  # noqa: E402
from lauscher.transformations import BushyCell as RefBushy  # noqa: E402
from lauscher.transformations import HairCell as RefHairCell  # noqa: E402
from lauscher.transformations import HanningWindow, RmsNormalizer  # noqa: E402

FS = 16000


def chirp(seconds=0.06, seed=0):
    t = np.arange(int(seconds * FS)) / FS
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * (300 + 4000 * t) * t) + 0.05 * rng.standard_normal(t.size)


def relative_error(ours, theirs):
    return np.abs(np.asarray(ours) - np.asarray(theirs)).max() / np.abs(theirs).max()


@pytest.fixture(scope="module")
def reference_chain():
    audio = chirp()
    wave = MonoAudioWave(audio.copy(), FS)
    wave = wave.transform(RmsNormalizer(0.3)).transform(HanningWindow())
    bm = wave.transform(RefBM(channels=700))
    return audio, wave.samples.copy(), bm


def test_normalisation_and_window_equal_lauscher(reference_chain):
    audio, reference, _ = reference_chain
    assert relative_error(normalise_and_window(audio), reference) < 1e-12


def test_basilar_membrane_equals_lauscher(reference_chain):
    audio, windowed, reference = reference_chain
    ours, fs = BasilarMembrane(channels=700)(windowed, FS)
    assert fs == reference.sample_rate
    theirs = np.asarray(reference.channels)
    assert ours.shape == theirs.shape == (700, int(0.06 * FS) // 2 + 1)
    assert np.abs(theirs).max(axis=1).min() > 0.1  # every channel responds
    per_channel = np.abs(ours - theirs).max(axis=1) / np.abs(theirs).max(axis=1)
    assert per_channel.max() < 1e-9


def test_hair_cell_equals_lauscher(reference_chain):
    _, _, bm = reference_chain
    # every 14th channel: lauscher's Python loop takes ~20 s for all 700
    velocity = np.asarray(bm.channels)[::14]
    theirs = np.asarray(MembraneVelocity(velocity, bm.sample_rate).transform(RefHairCell()).channels)
    ours = HairCell()(velocity, bm.sample_rate)
    assert ours.shape == theirs.shape == (50, velocity.shape[1])
    assert np.abs(theirs).max(axis=1).min() > 0
    per_channel = np.abs(ours - theirs).max(axis=1) / np.abs(theirs).max(axis=1)
    assert per_channel.max() < 1e-9


def lauscher_bushy(probability, fs):
    train = FiringProbability(list(probability), fs).transform(RefBushy())
    dense = np.zeros(probability.shape, dtype=np.uint8)
    dense[np.asarray(train.spike_labels, dtype=int),
          np.round(np.asarray(train.spike_times) * fs).astype(int)] = 1
    return dense


def test_bushy_cell_equals_lauscher_where_deterministic():
    """Fibres that fire with probability 0 or 1 make both models deterministic:
    this checks the fibres' dead time, the synaptic and membrane dynamics and
    the refractory period spike for spike."""
    rng = np.random.default_rng(1)
    channels, steps, fs = 16, 1600, 8000
    probability = np.zeros((channels, steps))
    for row in probability:  # bursts of certain firing between silences
        t = 0
        while t < steps:
            on = rng.integers(1, 40)
            row[t:t + on] = 1
            t += on + rng.integers(1, 60)
    theirs = lauscher_bushy(probability, fs)
    ours = BushyCell()(probability, fs, seed=0)
    assert theirs.sum() > 1000
    assert np.array_equal(ours, theirs)


def test_bushy_cell_rates_match_lauscher_statistically():
    """Per-channel spike counts over repeated runs: |mean difference| within
    4 standard errors (plus 1 spike), and total rates within 5 %."""
    rng = np.random.default_rng(3)
    channels, steps, fs = 12, 2400, 8000  # 0.3 s at the cochlea's output rate
    level = np.linspace(0.002, 0.06, channels)[:, None]
    probability = level * (1 + 0.5 * np.sin(2 * np.pi * 30 * np.arange(steps) / fs))[None]
    probability = np.clip(probability + 0.002 * rng.standard_normal(probability.shape), 0, 1)
    repeats = 12
    ours = np.array([BushyCell()(probability, fs, seed).sum(1) for seed in range(repeats)])
    theirs = []
    for seed in range(repeats):
        np.random.seed(seed)
        theirs.append(lauscher_bushy(probability, fs).sum(1))
    theirs = np.array(theirs)
    assert theirs.sum(1).mean() > 200  # enough spikes for the statistics to mean something
    se = np.sqrt(ours.var(0, ddof=1) / repeats + theirs.var(0, ddof=1) / repeats)
    assert np.all(np.abs(ours.mean(0) - theirs.mean(0)) <= 4 * se + 1)
    assert abs(ours.sum() / theirs.sum() - 1) < 0.05
