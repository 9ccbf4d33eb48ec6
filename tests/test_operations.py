"""The operations and energy report (sim/operations.py, sim/energy.py, inspect
--operations) against a count by hand on a small network whose spikes follow
by hand from docs/hdf5-format.md."""
import json

import numpy as np
import pytest

from lava_convdelay.cli import main
from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from netx_export.writer import write_network
from sim.energy import NEURON_UPDATE, STATIC_POWER, STEP_TIME, SYNOP, estimate_energy
from sim.fixed_point import simulate
from sim.operations import count_operations

#: fires exactly in the steps in which more than 100 (weight units) arrive
SHARP = CubaParams(i_decay=4096, v_decay=4095, vth_mant=100)


def small_network():
    """2 inputs -> 3 dense neurons -> 2 delay_rec neurons (neuron 1 excites 0 through delay 2)."""
    layer1 = LayerSpec("dense", np.array([[254, 0], [0, 254], [254, 254]], np.int64), SHARP)
    layer2 = LayerSpec("delay_rec", np.array([[254, 0, 0], [0, 0, 254]], np.int64), SHARP,
                       weight_rec=np.array([[0, 254], [0, 0]], np.int64), delay_rec=np.array([0, 2]), max_delay=2)
    x = np.zeros((1, 2, 6), np.int8)
    x[0, 0, [0, 2]] = 1
    x[0, 1, 1] = 1
    return NetworkSpec(2, [layer1, layer2], source="<small>"), x


def test_the_spikes_are_those_worked_out_by_hand():
    spec, x = small_network()
    run = simulate(spec, x, record_layers=True)
    # layer 1: an input at t fires its targets at t + 1
    assert [np.flatnonzero(r).tolist() for r in run.layers[0][0]] == [[1, 3], [2], [1, 2, 3]]
    # layer 2: neuron 0 from layer-1 neuron 0 (2, 4) and from its neighbour's spikes at 2 through delay 2 (5);
    # neuron 1 from layer-1 neuron 2 (2, 3, 4)
    assert [np.flatnonzero(r).tolist() for r in run.layers[1][0]] == [[2, 4, 5], [2, 3, 4]]


@pytest.mark.parametrize("option,rec_built", [("dense", 6 * 2), ("groups", 6 * 2 * 1), ("sparse", 3)])
def test_operations_by_hand(option, rec_built):
    spec, x = small_network()
    ops = count_operations(spec, np.concatenate([x, x]), option)
    first, second = ops.layers
    # layer 1: 3 input spikes; non-zero fan-out 2 each -> 6; Dense builds 3 rows -> 9
    assert (first.spikes.tolist(), first.ff_nonzero.tolist(), first.ff_built.tolist()) == ([6, 6], [6, 6], [9, 9])
    assert (first.rec_nonzero.tolist(), first.neuron_updates, first.dense_macs) == ([0, 0], 3 * 6, 6 * 3 * 2)
    # layer 2: layer-1 spikes 2 + 1 + 3 with non-zero fan-out 1, 0, 1 -> 5; Dense: 6 spikes x 2 rows -> 12
    assert (second.spikes.tolist(), second.ff_nonzero.tolist(), second.ff_built.tolist()) == ([6, 6], [5, 5], [12, 12])
    # recurrent: its own 3 + 3 spikes, non-zero fan-out 0 and 1 -> 3; DelayDense: 6 x 2 rows; one delay group (2)
    assert second.rec_nonzero.tolist() == [3, 3] and second.rec_built.tolist() == [rec_built] * 2
    assert (second.neuron_updates, second.dense_macs) == (2 * 6, 6 * (2 * 3 + 2 * 2))
    assert ops.synops("nonzero").tolist() == [6 + 5 + 3] * 2 and ops.total("neuron_updates").tolist() == [30, 30]
    energy = estimate_energy(ops)
    assert energy.dynamic_low == pytest.approx(14 * 23.6e-12 + 30 * 51.2e-12, rel=1e-12)
    assert energy.dynamic_high == pytest.approx((9 + 12 + rec_built) * 35.5e-12 + 30 * 81e-12, rel=1e-12)
    assert energy.static_low == pytest.approx(6 * 1.164e-6 * 0.212, rel=1e-12)


def test_constants_name_their_source_and_chip():
    assert (SYNOP.low, SYNOP.high, NEURON_UPDATE.low, NEURON_UPDATE.high) == (23.6e-12, 35.5e-12, 51.2e-12, 81e-12)
    assert SYNOP.chip == NEURON_UPDATE.chip == "Loihi 1 (14 nm)" and "Loihi 2" in STATIC_POWER.chip
    assert "Davies" in SYNOP.source and "SANA-FE" in SYNOP.source and "NECOTIS" in STEP_TIME.source


def test_inspect_reports_operations_and_energy(tmp_path, capsys):
    spec, x = small_network()
    write_network(spec, tmp_path / "small.h5")
    np.save(tmp_path / "x.npy", x)
    assert main(["inspect", str(tmp_path / "small.h5"), "--operations", "--input", str(tmp_path / "x.npy"),
                 "--json", str(tmp_path / "ops.json")]) == 0
    out = capsys.readouterr().out
    assert "all    12.0    11 / 21" in out and "Loihi 1 per-operation energies; Loihi 2's are unpublished" in out
    record = json.loads((tmp_path / "ops.json").read_text())
    assert record["per_inference"]["rec_built"] == 12 and record["per_inference"]["dense_macs"] == 96
    assert record["constants"]["synaptic operation"]["chip"] == "Loihi 1 (14 nm)"
    assert main(["inspect", str(tmp_path / "small.h5"), "--operations"]) == 2
    assert "give --input SPIKES.npy or --data TEST.h5" in capsys.readouterr().err
