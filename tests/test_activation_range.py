"""Per-step synaptic input against Lava's 16-bit activation buffers, on
hand-built layers whose sums follow by hand."""
import numpy as np

from lava_convdelay.limits import ACTIVATION_LIMIT
from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from sim.loihi2.activation_range import describe_inputs, largest_inputs

FIRES = CubaParams(i_decay=4096, v_decay=4095, vth_mant=1)  # any arriving positive input fires


def test_feed_forward_sum_and_the_16_bit_limit():
    wide = NetworkSpec(200, [LayerSpec("dense", np.full((1, 200), 254, np.int64), FIRES)], source="<wide>")
    x = np.zeros((2, 200, 5), np.int8)
    x[0, :100, 1] = 1  # 100 * 254 = 25400
    x[1, :, 3] = 1  # 200 * 254 = 50800
    assert largest_inputs(wide, x[:1]) == {"layer1.dense": 25400}
    assert largest_inputs(wide, x) == {"layer1.dense": 50800}
    assert largest_inputs(wide, x[::-1], chunk=1) == {"layer1.dense": 50800}  # the largest of all chunks
    assert ACTIVATION_LIMIT == 32767
    assert describe_inputs({"layer1.dense": 25400}).startswith("largest per-step synaptic input: layer1.dense 25400")
    line = describe_inputs({"layer1.dense": 50800, "layer2.dense": 12})
    assert line.startswith("WARNING") and "in layer1.dense (layer1.dense 50800, layer2.dense 12)" in line


def test_recurrent_delays_spread_the_arrivals():
    def layer(delay_rec):
        return NetworkSpec(1, [LayerSpec("delay_rec", np.full((3, 1), 254, np.int64), FIRES,
                                         weight_rec=np.array([[0, 0, 0], [0, 0, 0], [100, 120, 0]], np.int64),
                                         delay_rec=np.array(delay_rec), max_delay=2)], source="<rec>")
    x = np.zeros((1, 1, 8), np.int8)
    x[0, 0, 2] = 1  # all three neurons fire at step 3
    # equal delays: 100 + 120 reach neuron 2 in the same step; different ones: apart
    assert largest_inputs(layer([1, 1, 0]), x) == {"layer1.dense": 254, "layer1.rec": 220}
    assert largest_inputs(layer([0, 2, 0]), x) == {"layer1.dense": 254, "layer1.rec": 120}
