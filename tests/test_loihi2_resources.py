"""Chip-fit estimate on hand-built layers with hand-computed expectations."""
import numpy as np

from lava_convdelay.cli import main
from netx_export.reader import read_network
from netx_export.spec import ConvRecurrence, CubaParams, LayerSpec, NetworkSpec
from netx_export.writer import write_network
from sim.loihi2.resources import chip_fit, layer_resources, weight_bits

CUBA = CubaParams(1024, 128, 64)


def test_weight_bits():
    assert weight_bits(np.array([2, 4, -6])) == 3  # /2 -> 1, 2, -3: 2 bits + sign
    assert weight_bits(np.array([254, 128])) == 7  # /2 -> 127, 64: 7 bits, unsigned
    assert weight_bits(np.array([64, 128])) == 2  # /64 -> 1, 2
    assert weight_bits(np.array([0, 0])) == 1


def test_conv_layer_resources_by_hand():
    n, k = 256, 3
    kernel = np.array([[[2, 4, 2]]], dtype=np.int64)
    dense = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for m in range(k):
            if 0 <= i + m - 1 < n:
                dense[i, i + m - 1] = kernel[0, 0, m]
    layer = LayerSpec("conv_rec", np.full((n, 10), 2, dtype=np.int64), CUBA, weight_rec=dense,
                      delay_rec=np.full(n, 30, dtype=np.int64), max_delay=30,
                      conv=ConvRecurrence(1, 3, kernel))
    r = layer_resources(1, layer, "sparse")  # DelaySparse: the band's non-zeros
    assert r.synapses == n * 10 + (3 * n - 2) == r.nonzero_synapses
    assert r.recurrent_synapses == 3 * n - 2
    assert r.weight_bits == 2 and r.delay_depth == 30
    # bits: synapses * (2 weight + 8 index (256 pre) + 5 delay) + neurons * (48 + 31 slots * 16)
    expected = r.synapses * (2 + 8 + 5) + n * (48 + 31 * 16)
    assert r.memory_bytes == -(-expected // 8)
    assert r.cores == 1 and r.limiting == "neurons"
    built = layer_resources(1, layer)  # the default, DelayDense: every entry of the N x N matrix
    assert (built.recurrent_synapses, built.synapses, built.nonzero_synapses) == (n * n, n * 10 + n * n, r.synapses)
    assert built.memory_bytes == -(-(built.synapses * (2 + 8 + 5) + n * (48 + 31 * 16)) // 8)
    # one DelayDense per delay value, each N x N: 3 groups
    groups = LayerSpec("conv_rec", layer.weight, CUBA, weight_rec=dense, delay_rec=np.arange(n) % 3 + 1,
                       max_delay=3, conv=layer.conv)
    assert layer_resources(1, groups, "groups").recurrent_synapses == 3 * n * n


def test_verdicts(tmp_path):
    big = LayerSpec("dense", np.full((9000, 4), 2, dtype=np.int64), CUBA)
    fit = chip_fit(NetworkSpec(4, [big]))
    assert fit.fits and fit.cores == 2 and "limited by neurons" in fit.verdict
    dense = LayerSpec("delay_rec", np.full((2048, 2048), 254, dtype=np.int64), CUBA,
                      weight_rec=np.full((2048, 2048), -254, dtype=np.int64),
                      delay_rec=np.full(2048, 62, dtype=np.int64), max_delay=62)
    fit = chip_fit(NetworkSpec(2048, [dense] * 8))
    assert not fit.fits
    assert "cores > 128" in fit.verdict and "memory of layer" in fit.verdict
    path = write_network(NetworkSpec(2048, [dense] * 8), tmp_path / "huge.h5")
    assert read_network(path).layers[0].num_neurons == 2048
    assert main(["inspect", str(path), "--loihi2"]) == 1
