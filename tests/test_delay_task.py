"""The delay-sensitive control task (issue 29): its samples, its config, and the
delay gradient of every delay block on a one-neuron instance of it."""
from pathlib import Path

import numpy as np
import pytest
import torch

from lava_convdelay.app.evaluation import evaluate, load_target
from lava_convdelay.data.delay_task import TAIL_STEPS, DelayTask, DelayTaskError
from lava_convdelay.data.encoding import EncodingError
from lava_convdelay.nn.blocks import ConvDelayRecurrent, DelayChannelConvRecurrent, DelayRecurrent
from lava_convdelay.training import DataConfigError, build_datasets, load_config, normalise_config, train

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "delay_task.json"
#: noise off and every pulse step full: a sample is its two pulses alone
CLEAN = {"source": "delay-task", "intervals": [4, 7], "channels": 3, "pulse_steps": 2, "pulse_rate": 1.0,
         "noise_rate": 0.0, "per_class": 20, "test_per_class": 5, "dt": 0.01, "pool": 1, "duration": 0.25}


def hand_made(onset: int, interval: int, channels: int = 3, steps: int = 25, pulse: int = 2) -> torch.Tensor:
    x = torch.zeros(channels, steps)
    x[:, onset:onset + pulse] = 1
    x[:, onset + interval:onset + interval + pulse] = 1
    return x


def test_each_sample_is_two_pulses_its_class_interval_apart():
    train_set, test_set = build_datasets(CLEAN, progress=False)
    assert (len(train_set), len(test_set)) == (40, 10)
    assert train_set.keys == ["4 steps", "7 steps"]
    onsets = set()
    for dataset in (train_set, test_set):
        for i in range(len(dataset)):
            x, label = dataset[i]
            assert label == i % 2  # classes in turn
            onset = int(x.sum(0).nonzero()[0])
            assert torch.equal(x, hand_made(onset, (4, 7)[label]))
            # the sample ends TAIL_STEPS after the second pulse's end, or later
            assert onset + (4, 7)[label] + 2 + TAIL_STEPS <= 25
            onsets.add((label, onset))
    assert {onset for label, onset in onsets if label == 1} == set(range(25 - 7 - 2 - TAIL_STEPS + 1))


def test_binned_steps_are_the_generated_ones():
    """Spikes at the middle of their step bin back to that step, at a dt of 1 ms too."""
    task = DelayTask(intervals=(5,), steps=20, channels=2, per_class=3, test_per_class=1)
    events = task.split("train", 0.001)
    train_set, _ = build_datasets({"source": "delay-task", "intervals": [5], "channels": 2, "per_class": 3,
                                   "test_per_class": 1, "dt": 0.001, "pool": 1, "duration": 0.02}, progress=False)
    for i in range(3):
        x, _ = train_set[i]
        steps = np.round(events["times"][i] / 0.001 - 0.5).astype(int)
        expected = torch.zeros(2, 20)
        expected[torch.as_tensor(events["units"][i].astype(np.int64)), torch.as_tensor(steps)] = 1
        assert torch.equal(x, expected)


def test_deterministic_for_a_seed_and_different_across_seeds_and_splits():
    a = DelayTask(seed=3).split("train", 0.01)
    b = DelayTask(seed=3).split("train", 0.01)
    assert all(np.array_equal(x, y) for x, y in zip(a["times"], b["times"]))
    assert all(np.array_equal(x, y) for x, y in zip(a["units"], b["units"]))
    assert np.array_equal(a["labels"], b["labels"])
    other = DelayTask(seed=4).split("train", 0.01)
    test = DelayTask(seed=3).split("test", 0.01)
    assert not np.array_equal(a["times"][0], other["times"][0])
    assert not np.array_equal(a["times"][0], test["times"][0])


def test_shapes_and_types():
    task = DelayTask(per_class=5, test_per_class=2)
    events = task.split("test", 0.01)
    assert events["labels"].dtype == np.int64 and events["labels"].tolist() == [0, 1, 2, 3] * 2
    assert all(t.dtype == np.float32 and u.dtype == np.uint16 for t, u in zip(events["times"], events["units"]))
    assert all(np.all(np.diff(t) >= 0) for t in events["times"])  # time order, as SHD files
    config = load_config(CONFIG)
    train_set, test_set = build_datasets(config["data"], progress=False)
    x, label = test_set[0]
    assert x.dtype == torch.float32 and x.shape == (16, 60) and isinstance(label, int)
    assert (len(train_set), len(test_set)) == (400, 200)
    assert train_set.encoding.channels == 16 and train_set.encoding.steps == 60


def test_noise_and_pulse_rates():
    always = DelayTask(intervals=(3,), steps=20, channels=4, pulse_rate=0.0, noise_rate=1.0, per_class=1)
    assert always.sample(np.random.default_rng(0), 0).all()
    never = DelayTask(intervals=(3,), steps=20, channels=4, pulse_rate=0.0, noise_rate=0.0, per_class=1)
    assert not never.sample(np.random.default_rng(0), 0).any()


def test_config_loads_and_names_its_model_input():
    config = load_config(CONFIG)
    assert config["data"]["source"] == "delay-task"
    assert config["model"]["layers"][0]["type"] == "delay_rec"
    assert config["train"]["time_shift"] == 0  # the onset is random already; a shift could cut a pulse


@pytest.mark.parametrize("change, message", [
    ({"vocabulary": "digits"}, "unknown key(s) ['vocabulary'] for source 'delay-task'"),
    ({"duration": 0.3}, "data.intervals up to 24 steps need samples of 34 steps or more"),
    ({"intervals": [6, 6]}, "data.intervals must be distinct"),
    ({"intervals": [0, 6]}, "data.intervals must be an integer >= 1"),
    ({"noise_rate": 1.5}, "data.noise_rate must be a number >= 0 and <= 1"),
    ({"per_class": 0}, "data.per_class must be an integer >= 1"),
])
def test_bad_settings_are_refused_with_one_line(change, message):
    config = load_config(CONFIG)
    config["data"].update(change)
    with pytest.raises(DataConfigError) as err:
        normalise_config(config, "cfg.json")
    assert message in str(err.value) and str(err.value).startswith("cfg.json: ")


def test_a_pool_that_does_not_divide_the_channels_is_refused():
    config = load_config(CONFIG)
    config["data"]["pool"] = 5
    with pytest.raises(EncodingError, match="data.pool=5 does not divide the 16 channels"):
        normalise_config(config, "cfg.json")


def test_task_settings_checked_in_python_too():
    with pytest.raises(DelayTaskError, match="intervals must be a list"):
        DelayTask(intervals="6")  # type: ignore[arg-type]


def test_a_trained_run_evaluates_through_its_data_section(tmp_path):
    """A run records the task's binning and class names; ``evaluate`` rebuilds its test
    set from the run's config, and the exported network decides as the quantized model."""
    config = load_config(CONFIG)
    config["data"].update(per_class=4, test_per_class=3)
    config["train"]["epochs"] = 1
    train(config, tmp_path / "run", progress=False)
    model, spec, test_set = load_target(tmp_path / "run")
    assert spec.class_names == ["6 steps", "12 steps", "18 steps", "24 steps"]
    assert spec.encoding.source_channels == 16 and spec.encoding.pool == 1 and spec.encoding.steps == 60
    assert len(test_set) == 12
    result = evaluate(test_set, model, spec, ("quantized", "fixed"), progress=False)
    assert np.array_equal(result.predictions["quantized"], result.predictions["fixed"])


# One neuron of each delay block, on the task's smallest instance: a strong input spike at
# ONSET makes it fire, a weak one INTERVAL steps later leaves it below threshold unless its
# own recurrent spike (weight 1) arrives then. Its voltage needs no memory (both decays 1),
# so only the delay can bring the two together: raising the output's spikes moves the delay
# towards INTERVAL - 1 from either side.
NEURON = {"threshold": 1.0, "current_decay": 1.0, "voltage_decay": 1.0, "tau_grad": 0.002, "scale_grad": 1.0}
ONSET, INTERVAL, WEAK = 3, 10, 0.75
BLOCKS = {
    "delay_rec": lambda delay, sigma, learn: DelayRecurrent(
        NEURON, 2, 1, max_delay=20, delay_init=(delay, delay), sigma=sigma, learn_delays=learn, delay_shift=False),
    "conv_delay_rec": lambda delay, sigma, learn: ConvDelayRecurrent(
        NEURON, 2, 1, kernel_size=1, channels=1, max_delay=20, delay_init=(delay, delay), sigma=sigma,
        learn_delays=learn, delay_shift=False),
    "conv_delay_channels_rec": lambda delay, sigma, learn: DelayChannelConvRecurrent(
        NEURON, 2, 1, kernel_size=1, channels=1, delay_channels=1, max_delay=20, delay_init=(delay, delay),
        sigma=sigma, learn_delays=learn, delay_shift=False),
}


def delay_gradient(kind: str, delay: float, sigma: float, learn: bool = True):
    """(output spike steps, d(-spike count)/d delay) of one neuron of block ``kind``."""
    block = BLOCKS[kind](delay, sigma, learn)
    with torch.no_grad():
        block.input_synapse.weight.copy_(torch.tensor([2.0, WEAK]).reshape(block.input_synapse.weight.shape))
        block.recurrent_synapse.weight.fill_(1.0)
    x = torch.zeros(1, 2, 30)
    x[0, 0, ONSET] = x[0, 1, ONSET + INTERVAL] = 1
    out = block(x)
    (-out.sum()).backward()
    return out[0, 0].nonzero().flatten().tolist(), block.axonal_delay.delay.grad


def surrogate(v: float, threshold: float = 1.0) -> float:
    """SLAYER's spike derivative (tau_rho = 100 tau_grad threshold, scale_rho = 0.1 scale_grad)."""
    tau_rho = 100 * NEURON["tau_grad"] * threshold
    return 0.1 * NEURON["scale_grad"] / 2 / tau_rho * np.exp(-abs(v - threshold) / tau_rho)


@pytest.mark.parametrize("kind", list(BLOCKS))
@pytest.mark.parametrize("delay", [5.0, 8.5, 9.5, 13.0])
def test_delay_gradient_points_to_the_interval(kind, delay):
    """At sigma 4 (kernel half-width 5) the weak pulse's step reads the triangle
    (5 - |INTERVAL - 1 - d|) / 25; its slope 1/25 times the spike derivative there is the
    gradient (the other steps, far below threshold, add under 3 %), of the sign that
    moves the delay towards INTERVAL - 1 = 9."""
    spikes, grad = delay_gradient(kind, delay, sigma=4.0)
    assert spikes == [ONSET]  # the weak pulse alone stays below threshold
    v = WEAK + (5 - abs(INTERVAL - 1 - delay)) / 25
    expected = -np.sign(INTERVAL - 1 - delay) / 25 * surrogate(v)
    assert float(grad) == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("kind", list(BLOCKS))
def test_delay_gradient_reaches_only_within_the_kernel(kind):
    """At sigma 0 (integer delays) the gradient is the straight-through triangle of
    half-width 1: none two steps away from INTERVAL - 1, one half a step away (where the
    rounded delay, 9, already makes the weak pulse fire); why sigma starts wide."""
    assert float(delay_gradient(kind, 7.0, sigma=0.0)[1]) == 0.0
    spikes, grad = delay_gradient(kind, 8.5, sigma=0.0)
    assert spikes == [ONSET, ONSET + INTERVAL] and float(grad) < 0


@pytest.mark.parametrize("kind", list(BLOCKS))
def test_frozen_delays_get_no_gradient(kind):
    spikes, grad = delay_gradient(kind, 8.5, sigma=4.0, learn=False)
    assert spikes == [ONSET] and grad is None
