"""The batched fixed-point simulator against the training-side quantized model
(every layer, every step) and against the naive per-layer reference."""
import numpy as np
import pytest
import torch

from lava_convdelay.model import SpikingNetwork
from naive_reference import naive_delay_recurrent
from netx_export.exporter import blocks_to_spec
from sim.fixed_point import simulate

NEURON = {"threshold": 1.0, "current_decay": 0.2, "voltage_decay": 0.1}


def random_model(seed, layers):
    torch.manual_seed(seed)
    model = SpikingNetwork({"input_size": 10, "neuron": NEURON, "layers": layers})
    for block in model.blocks:
        if hasattr(block, "axonal_delay") and block.axonal_delay is not None:
            block.set_sigma(0.0)
    return model.eval()


STACKS = [
    [{"type": "dense", "neurons": 16, "delay": True, "weight_scale": 3},
     {"type": "conv_delay_rec", "neurons": 24, "kernel_size": 3, "max_delay": 62, "delay_init": [0, 62],
      "weight_scale": 3},
     {"type": "dense", "neurons": 5, "weight_scale": 3}],
    [{"type": "delay_rec", "neurons": 20, "max_delay": 30, "weight_scale": 3},
     {"type": "conv_delay_rec", "neurons": 18, "kernel_size": 5, "channels": 3, "max_delay": 12,
      "weight_scale": 3},
     {"type": "rec", "neurons": 12, "weight_scale": 3},
     {"type": "dense", "neurons": 4, "weight_scale": 3}],
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("stack", range(len(STACKS)))
def test_fixed_point_equals_training_side_every_layer(seed, stack):
    model = random_model(seed, STACKS[stack])
    with torch.no_grad():  # feed-forward delays: give them a real spread
        first = model.blocks[0]
        if getattr(first, "delay", None) is not None:
            first.delay.delay.copy_(torch.randint(0, 8, first.delay.delay.shape).float() + 0.3)
    x = (torch.rand(6, 10, 120, generator=torch.Generator().manual_seed(seed)) < 0.25).float()
    with torch.no_grad():
        expected = [s.numpy().astype(np.uint8) for s in model(x, all_layers=True)]
    spec, _ = blocks_to_spec(list(model.blocks))
    result = simulate(spec, x.numpy(), record_layers=True)
    for i, (want, got) in enumerate(zip(expected, result.layers), start=1):
        assert want.sum() > 0.01 * want.size, f"layer {i} nearly silent: weak test"
        np.testing.assert_array_equal(got, want, err_msg=f"layer {i}")
    np.testing.assert_array_equal(result.output, expected[-1])


def test_single_layer_matches_naive_reference_and_voltage():
    model = random_model(5, [{"type": "delay_rec", "neurons": 14, "max_delay": 20, "weight_scale": 3}])
    spec, _ = blocks_to_spec(list(model.blocks))
    layer = spec.layers[0]
    x = (np.random.default_rng(5).random((10, 70)) < 0.3).astype(np.int64)
    result = simulate(spec, x, record_voltage=True)
    # the simulator delivers the input one step late (synaptic latency)
    late = np.pad(x[:, :-1], ((0, 0), (1, 0)))
    expected = naive_delay_recurrent(late, layer.weight, layer.weight_rec, layer.delay_rec,
                                     layer.neuron.i_decay, layer.neuron.v_decay, layer.neuron.vth_mant)
    assert expected.sum() > 20
    np.testing.assert_array_equal(result.output, expected)
    assert result.voltage.shape == (14, 70)
    assert np.all(result.voltage[expected == 1] == 0)  # reset on spike steps
    assert np.all(result.voltage <= layer.neuron.vth_mant << 6)


def test_bad_input_shape_is_named():
    model = random_model(0, [{"type": "dense", "neurons": 3}])
    spec, _ = blocks_to_spec(list(model.blocks))
    with pytest.raises(ValueError, match=r"expected input \[batch, 10, time\]"):
        simulate(spec, np.zeros((2, 9, 5)))
