"""Lava (CPU fixed_pt) against the training-side quantized model, spike for
spike in every layer at every step; stock NetX files in stock NetX."""
import numpy as np
import pytest
import torch
from factories import SWEEP_SEEDS
from lava.lib.dl import slayer

from lava_convdelay.nn.model import SpikingNetwork
from lava_convdelay.nn.readout import to_voltage_units
from lava_convdelay.training import normalise_config, train
from netx_export.exporter import blocks_to_spec, export_blocks
from netx_export.reader import read_network
from sim.cpu.runner import LavaRunner
from sim.fixed_point import simulate

NEURON = {"threshold": 1.0, "current_decay": 0.2, "voltage_decay": 0.1}

STACKS = {
    "ff-delay/conv/delay/rec": [
        {"type": "dense", "neurons": 16, "delay": True, "weight_scale": 3},
        {"type": "conv_delay_rec", "neurons": 24, "kernel_size": 3, "max_delay": 62,
         "delay_init": [0, 62], "weight_scale": 3},
        {"type": "delay_rec", "neurons": 12, "max_delay": 20, "weight_scale": 3},
        {"type": "rec", "neurons": 8, "weight_scale": 3},
        {"type": "dense", "neurons": 5, "weight_scale": 3}],
    "conv, voltage readout": [
        {"type": "conv_delay_rec", "neurons": 16, "kernel_size": 3, "max_delay": 20, "weight_scale": 3},
        {"type": "affine", "neurons": 5, "weight_scale": 3,
         "neuron": {"current_decay": 0.5, "voltage_decay": 0.0}}],
    "conv k5 c3, conv k7": [
        {"type": "conv_delay_rec", "neurons": 18, "kernel_size": 5, "channels": 3, "max_delay": 30,
         "weight_scale": 3},
        {"type": "conv_delay_rec", "neurons": 14, "kernel_size": 7, "channels": 1, "max_delay": 62,
         "delay_init": [40, 62], "weight_scale": 3},
        {"type": "dense", "neurons": 4, "weight_scale": 3}],
    "conv front end, conv, voltage readout": [
        {"type": "conv", "channels": 3, "kernel_size": 5, "weight_scale": 3},
        {"type": "conv", "channels": 2, "kernel_size": 3, "weight_scale": 6},
        {"type": "conv_delay_rec", "neurons": 20, "kernel_size": 3, "channels": 2, "max_delay": 20,
         "weight_scale": 3},
        {"type": "affine", "neurons": 5, "weight_scale": 3, "neuron": {"current_decay": 0.5, "voltage_decay": 0.0}}],
}


def _compare(model, x, runner_input=None):
    """Lava vs training side vs fixed point, every layer, every step (a
    non-spiking output layer: its integer voltage at every step, and no spike)."""
    with torch.no_grad():
        outputs = model(x, all_layers=True)
    expected = [s.numpy().astype(np.uint8) for s in outputs]
    voltage = None
    if model.readout == "voltage_sum":
        voltage = to_voltage_units(outputs[-1]).numpy()
        expected[-1] = np.zeros_like(expected[-1])  # it never fires
        assert np.count_nonzero(voltage) > 0.5 * voltage.size, "readout silent: weak test"
    spec = blocks_to_spec(list(model.blocks))
    lava = LavaRunner(spec).run_many(x.numpy(), record_layers=True, record_voltage=True, progress=False)
    fixed = simulate(spec, x.numpy(), record_layers=True, record_voltage=True)
    for b, result in enumerate(lava):
        for i, (got, want) in enumerate(zip(result.layers, expected), start=1):
            assert want[b].sum() > 0 or (voltage is not None and i == len(expected)), \
                f"layer {i} silent: weak test"
            np.testing.assert_array_equal(got, want[b], err_msg=f"sample {b}, layer {i}")
            np.testing.assert_array_equal(fixed.layers[i - 1][b], got, err_msg=f"fixed, sample {b}, layer {i}")
        np.testing.assert_array_equal(result.voltage, fixed.voltage[b])
        if voltage is not None:
            np.testing.assert_array_equal(result.voltage, voltage[b], err_msg=f"readout voltage, sample {b}")
    return lava


@pytest.mark.parametrize("seed", SWEEP_SEEDS)
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_random_networks_match_spike_for_spike(seed, stack):
    torch.manual_seed(seed)
    model = SpikingNetwork({"input_size": 10, "neuron": NEURON, "layers": STACKS[stack]}).eval()
    for block in model.blocks:
        if getattr(block, "delay", None) is not None:  # SLAYER feed-forward delays: spread them
            with torch.no_grad():
                block.delay.delay.copy_(torch.randint(0, 9, block.delay.delay.shape).float() + 0.4)
    x = (torch.rand(3, 10, 90, generator=torch.Generator().manual_seed(seed)) < 0.25).float()
    lava = _compare(model, x)
    # samples are independent: the third sample alone gives the same spikes
    alone = LavaRunner(blocks_to_spec(list(model.blocks))).run(x[2].numpy())
    np.testing.assert_array_equal(alone.output, lava[2].output)


def test_weights_past_the_8bit_range_match_spike_for_spike(tmp_path):
    """Float weights beyond SLAYER's clamp (feed-forward, dense and conv recurrent): the file holds
    -256 / 254 there, and the quantized model, the fixed-point simulator and Lava agree."""
    torch.manual_seed(5)
    model = SpikingNetwork({"input_size": 10, "neuron": NEURON, "layers": STACKS["ff-delay/conv/delay/rec"]}).eval()
    pushed = []
    with torch.no_grad():
        for i, block in enumerate(model.blocks):
            for name in ("synapse", "input_synapse", "recurrent_synapse"):
                synapse = getattr(block, name, None)
                if synapse is not None:
                    flat = synapse.weight.view(-1)
                    flat[0], flat[-1] = -4.9, 4.4
                    pushed.append((i, name))
    assert len(pushed) == 8  # every synapse of the five layers
    x = (torch.rand(2, 10, 60, generator=torch.Generator().manual_seed(5)) < 0.25).float()
    _compare(model, x)
    export_blocks(list(model.blocks), tmp_path / "net.h5")
    spec = read_network(tmp_path / "net.h5")
    for i, name in pushed:
        layer = spec.layers[i]
        stored = (layer.weight if name in ("synapse", "input_synapse") else
                  layer.conv.kernel if layer.conv is not None else layer.weight_rec).reshape(-1)
        assert (stored[0], stored[-1]) == (-256, 254), (i, name)


def test_trained_network_matches(tmp_path):
    from factories import TRAIN_CONFIG, toy_datasets
    config = normalise_config(TRAIN_CONFIG)
    config["model"]["layers"][0]["max_delay"] = 30
    config["train"]["epochs"] = 3
    config["train"]["lr_delay"] = 1.0  # make the learned delays move visibly
    model = train(config, tmp_path, progress=False, datasets=toy_datasets()).eval()
    assert len(set(model.blocks[0].integer_delays().tolist())) > 5  # non-trivial learned delays
    x = torch.stack([toy_datasets()[1][i][0] for i in range(3)])
    _compare(model, x)


def test_trained_conv_front_end_matches(tmp_path):
    """A conv front end trained with the recipe's loop: Lava = quantized model = fixed point."""
    from factories import TRAIN_CONFIG, toy_datasets
    # seed 1: every layer fires on the test samples (at seed 3 the front end's six
    # initial weights are all negative and nothing fires: a test of nothing)
    config = normalise_config({**TRAIN_CONFIG, "seed": 1, "model": {**TRAIN_CONFIG["model"], "layers": [
        {"type": "conv", "channels": 2, "kernel_size": 3, "weight_scale": 2},
        {"type": "conv_delay_rec", "neurons": 24, "channels": 2, "kernel_size": 3, "max_delay": 10},
        {"type": "dense", "neurons": 3}]}})
    config["train"]["epochs"] = 3
    torch.manual_seed(config["seed"])  # as train() seeds before building the model
    initial = SpikingNetwork({**config["model"], "input_size": 12}).blocks[0].kernel().detach()
    model = train(config, tmp_path, progress=False, datasets=toy_datasets()).eval()
    assert not torch.equal(model.blocks[0].kernel().detach(), initial)  # the front end learned
    x = torch.stack([toy_datasets()[1][i][0] for i in range(3)])
    _compare(model, x)


def _slayer_forward(blocks, x):
    """Every block's output from rest (SLAYER's Recurrent keeps state between calls)."""
    outputs = []
    with torch.no_grad():
        for block in blocks:
            if isinstance(block, slayer.block.cuba.Recurrent):
                block.spike_state = torch.zeros(1)
                block.neuron.current_state = torch.zeros(1)
                block.neuron.voltage_state = torch.zeros(1)
            x = block(x)
            outputs.append(x[0].numpy().astype(np.uint8))
    return outputs


def test_stock_file_runs_identically_in_stock_netx(tmp_path):
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    torch.manual_seed(4)
    blocks = [slayer.block.cuba.Dense(dict(NEURON), 10, 16, weight_scale=3, delay=True),
              slayer.block.cuba.Recurrent(dict(NEURON), 16, 12, weight_scale=3),
              slayer.block.cuba.Dense(dict(NEURON), 12, 5, weight_scale=3)]
    x = (torch.rand(1, 10, 60, generator=torch.Generator().manual_seed(4)) < 0.3).float()
    _slayer_forward(blocks, x)  # SLAYER creates feed-forward delays on the first call
    with torch.no_grad():
        blocks[0].delay.delay.copy_(torch.randint(0, 6, (16,)).float())
    outputs = _slayer_forward(blocks, x)
    path = tmp_path / "stock.h5"
    export_blocks(blocks, path)
    ours = LavaRunner(path).run(x[0].numpy(), record_layers=True)
    for i, (got, want) in enumerate(zip(ours.layers, outputs), start=1):
        assert want.sum() > 0
        np.testing.assert_array_equal(got, want, err_msg=f"layer {i}")

    stock = netx.hdf5.Network(str(path))
    source = io.source.RingBuffer(data=x[0].numpy())
    sink = io.sink.RingBuffer(shape=stock.out.shape, buffer=x.shape[-1])
    source.s_out.connect(stock.inp)
    stock.out.connect(sink.a_in)
    stock.run(condition=RunSteps(num_steps=x.shape[-1]), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    theirs = sink.data.get().astype(np.uint8)
    stock.stop()
    np.testing.assert_array_equal(theirs, ours.output)
