"""The decision rule and the two training losses."""
import math

import numpy as np
import pytest
import torch

from lava_convdelay.nn.readout import decide
from lava_convdelay.training import TrainConfigError, normalise_config
from lava_convdelay.training.losses import count_ce_loss, rate_loss


def spikes_with_counts(counts, steps=10):
    """``[batch, classes, steps]`` spikes whose sums are ``counts``."""
    counts = torch.as_tensor(counts)
    t = torch.arange(steps)
    return (t[None, None, :] < counts[..., None]).float()


def test_decide_takes_most_spikes_first_on_ties():
    s = spikes_with_counts([[1, 4, 2], [3, 3, 0], [0, 0, 0]])
    assert decide(s).tolist() == [1, 0, 0]
    assert decide(s.numpy().astype(np.int8)).tolist() == [1, 0, 0]


def test_count_ce_loss_is_cross_entropy_of_scaled_counts():
    s = spikes_with_counts([[2, 5, 0], [0, 0, 0]])
    labels = torch.tensor([1, 2])
    # by hand: sample 1 logits (0.4, 1.0, 0); sample 2 uniform -> ln 3
    first = -1.0 + math.log(math.exp(0.4) + math.exp(1.0) + 1.0)
    expected = (first + math.log(3)) / 2
    assert count_ce_loss(s, labels, scale=0.2).item() == pytest.approx(expected, rel=1e-6)


def test_count_ce_loss_gradient_raises_the_labelled_count_only():
    s = spikes_with_counts([[3, 3, 3]]).requires_grad_()
    count_ce_loss(s, torch.tensor([2]), scale=0.5).backward()
    grad = s.grad.sum(-1)[0]
    assert grad[2] < 0 and grad[0] > 0 and grad[1] > 0  # descent adds spikes to class 2 only


def test_rate_loss_is_zero_at_target_rates():
    s = torch.zeros(1, 2, 100)
    s[0, 0, :20] = 1   # rate 0.2 on the label
    s[0, 1, :3] = 1    # rate 0.03 elsewhere
    assert rate_loss(s, torch.tensor([0])).item() == pytest.approx(0.0, abs=1e-12)
    assert rate_loss(s, torch.tensor([1])).item() == pytest.approx(2 * 0.17 ** 2, rel=1e-5)


def test_unknown_loss_is_refused():
    with pytest.raises(TrainConfigError, match=r"train.loss must be one of \('auto', 'rate', 'count_ce', "
                                               r"'voltage_ce'\), got 'mse'"):
        normalise_config({"model": {}, "train": {"loss": "mse"}}, "x.json")
    with pytest.raises(TrainConfigError, match=r"train.loss must be one of .*, got \['rate'\]"):
        normalise_config({"model": {}, "train": {"loss": ["rate"]}}, "x.json")


def test_voltage_sum_decides_by_integer_voltage_sums_first_on_ties():
    from lava_convdelay.nn.readout import to_voltage_units
    # SLAYER-unit voltages that are exact multiples of 1/4096, as the training side gives
    v = torch.tensor([[[0.5, -0.25], [0.0, 0.5], [1.0, -0.75]],
                      [[1 / 4096, 0.0], [0.0, 1 / 4096], [-2.0, 0.0]]])
    units = to_voltage_units(v)
    assert units.dtype == torch.int64
    assert units[0].tolist() == [[2048, -1024], [0, 2048], [4096, -3072]]
    # sums 1024, 2048, 1024 -> class 1; second sample ties 1, 1, -> class 0
    assert decide(units, "voltage_sum").tolist() == [1, 0]
    assert decide(units.numpy(), "voltage_sum").tolist() == [1, 0]
    with pytest.raises(ValueError, match="unknown readout 'max'"):
        decide(units, "max")


def test_voltage_ce_loss_is_cross_entropy_of_the_scaled_mean_voltage():
    from lava_convdelay.training.losses import voltage_ce_loss
    v = torch.tensor([[[1.0, 3.0], [0.0, 0.0]]])  # means 2, 0
    expected = -0.5 * 2 + math.log(math.exp(1.0) + 1.0)  # logits 1, 0 at scale 0.5; label 0
    assert voltage_ce_loss(v, torch.tensor([0]), scale=0.5).item() == pytest.approx(expected, rel=1e-6)


def test_the_loss_follows_the_output_layer():
    neuron = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03}  # a config needs them
    spiking = {"neuron": neuron, "layers": [{"type": "dense", "neurons": 3}]}
    voltage = {"neuron": neuron, "layers": [{"type": "affine", "neurons": 3}]}
    assert normalise_config({"model": spiking})["train"]["loss"] == "count_ce"
    assert normalise_config({"model": voltage})["train"]["loss"] == "voltage_ce"
    with pytest.raises(TrainConfigError, match="x.json: train.loss 'count_ce' trains a spike_count readout "
                                               "but the model has an 'affine'"):
        normalise_config({"model": voltage, "train": {"loss": "count_ce"}}, "x.json")
    with pytest.raises(TrainConfigError, match="train.loss 'voltage_ce' .* a spiking output layer"):
        normalise_config({"model": spiking, "train": {"loss": "voltage_ce"}}, "x.json")


def test_evaluate_warns_when_the_readout_voltage_reaches_its_band():
    from lava_convdelay.app.evaluation import fixed_predictions
    from lava_convdelay.nn.model import SpikingNetwork
    from netx_export.exporter import blocks_to_spec

    model = SpikingNetwork({"input_size": 64, "layers": [
        {"type": "affine", "neurons": 2, "neuron": {"threshold": 1.0, "current_decay": 0.01, "voltage_decay": 0.0}}]})
    with torch.no_grad():
        model.blocks[0].synapse.weight.fill_(3.9)
    spec = blocks_to_spec(list(model.blocks), source="sat.h5")
    loud = [(torch.ones(64, 60), 0), (torch.zeros(64, 60), 1)]
    # every simulator fires a readout above 4194240 (tests/test_readout_band.py)
    with pytest.warns(UserWarning, match=r"sat.h5: the readout fired \(v > 4194240, its v reset to 0\) on 1 of 2 "):
        fixed_predictions(spec, loud)
    quiet = [(torch.ones(64, 2), 0)]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fixed_predictions(spec, quiet)


def test_inspect_names_the_voltage_readout(tmp_path, capsys):
    from lava_convdelay.cli import main
    from lava_convdelay.nn.model import SpikingNetwork
    from netx_export.exporter import export_blocks

    model = SpikingNetwork({"input_size": 8, "layers": [{"type": "affine", "neurons": 3, "neuron": {
        "threshold": 1.0, "current_decay": 0.5, "voltage_decay": 0.2}}]})
    export_blocks(list(model.blocks), tmp_path / "v.h5")
    assert main(["inspect", str(tmp_path / "v.h5")]) == 0
    assert "readout: voltage_sum (a non-spiking output layer; class: the largest voltage" in capsys.readouterr().out
