"""The voltage readout's threshold (sim/readout_band.py): one rule in the
fixed-point simulator, the Lava CPU graph, the Loihi 2 graph (its CPU
rehearsal) and docs/hdf5-format.md, checked on a readout driven into its
band; the bound inspect states, and the warnings of evaluate and deploy."""
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from naive_reference import reference_network

from lava_convdelay.cli import main
from lava_convdelay.limits import READOUT_VTH, READOUT_WARN_V, V_MAX, VTH_NON_SPIKING
from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from netx_export.writer import write_network
from sim.fixed_point import simulate
from sim.readout_band import READOUT_FIRES_ABOVE, readout_bound, readout_margin

DOC = Path(__file__).resolve().parent.parent / "docs" / "hdf5-format.md"
#: u keeps 4095/4096 a step, v never decays: with 254 arriving every step v grows as 16256 t (t + 1) / 2
INTEGRATING = CubaParams(i_decay=1, v_decay=0, vth_mant=VTH_NON_SPIKING)


def driven_readout():
    """Neuron 0 gets 254 every step (into the band at column 23: 22 * 23 / 2 * 16256 < 4194240 < 23 * 24 / 2 *
    16256, less u's slight decay), neuron 1 gets 2 (stays far below)."""
    spec = NetworkSpec(1, [LayerSpec("dense", np.array([[254], [2]], np.int64), INTEGRATING)], source="<driven>")
    return spec, np.ones((1, 1, 40), np.int8)


def test_the_numbers():
    assert READOUT_VTH == 65535 and READOUT_FIRES_ABOVE == 4194240 and READOUT_WARN_V == 2097120
    text = DOC.read_text()
    assert "2^16 - 1" in text and "4194240" in text and "2097120" in text  # the doc states the same rule


def test_every_simulator_and_graph_fires_the_readout_alike():
    from sim.cpu.runner import LavaRunner
    from sim.loihi2.runner import HardwareRunner
    spec, x = driven_readout()
    fixed = simulate(spec, x, record_voltage=True)
    spikes = fixed.output[0]
    assert np.flatnonzero(spikes[0])[0] == 23 and not spikes[1].any()
    assert fixed.voltage[0, 0, 22] <= READOUT_FIRES_ABOVE and fixed.voltage[0, 0, 23] == 0
    layers, volts = reference_network(spec, x[0])  # docs/hdf5-format.md, written independently
    np.testing.assert_array_equal(layers[-1], spikes)
    np.testing.assert_array_equal(volts, fixed.voltage[0])
    lava = LavaRunner(spec).run(x[0], record_voltage=True)
    np.testing.assert_array_equal(lava.output, spikes)
    np.testing.assert_array_equal(lava.voltage, fixed.voltage[0])
    chip = HardwareRunner(spec, "cpu").run_many(x, record_voltage=True, progress=False)[0]
    np.testing.assert_array_equal(chip.output, spikes)
    np.testing.assert_array_equal(chip.voltage, fixed.voltage[0])


def test_margin_and_warnings():
    spec, x = driven_readout()
    fixed = simulate(spec, x, record_voltage=True)
    fired = readout_margin(fixed.voltage, fixed.output)
    assert (fired.fired, fired.near, fired.samples) == (1, 1, 1) and fired.largest <= READOUT_FIRES_ABOVE
    assert "the readout fired (v > 4194240, its v reset to 0) on 1 of 1 sample(s)" in fired.warning("net.h5")
    short = simulate(spec, x[:, :, :18], record_voltage=True)  # v reaches 16256 * 17 * 18 / 2 ~ 2.5e6
    near = readout_margin(short.voltage, short.output)
    assert (near.fired, near.near) == (0, 1)
    assert near.warning("net.h5").startswith("net.h5: the readout voltage exceeded 2097120 (half of the 4194240")
    quiet = readout_margin(short.voltage[:, :, :10], short.output[:, :, :10])
    assert quiet.warning("net.h5") is None
    negative = readout_margin(np.full((2, 1, 3), -V_MAX))
    assert negative.saturated == 2 and "24-bit limit (-8388607) on 2 sample(s)" in negative.warning("x")


def test_evaluate_warns_before_and_in_the_band():
    from lava_convdelay.app.evaluation import fixed_predictions
    spec, x = driven_readout()
    loud = [(torch.ones(1, 40), 0), (torch.zeros(1, 40), 1)]
    with pytest.warns(UserWarning, match=r"<driven>: the readout fired .* on 1 of 2 sample"):
        fixed_predictions(spec, loud)
    with pytest.warns(UserWarning, match=r"<driven>: the readout voltage exceeded 2097120 .* on 1 of 1 sample"):
        fixed_predictions(spec, [(torch.ones(1, 18), 0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fixed_predictions(spec, [(torch.ones(1, 10), 0)])


def test_bound_by_hand(tmp_path, capsys):
    layer = LayerSpec("dense", np.array([[100, -50, 30], [2, 2, 2]], np.int64), CubaParams(2048, 1024, VTH_NON_SPIKING))
    # A = 100 + 30 = 130 per step; u <= 64 * 130 * 4096 / 2048 = 16640; v <= 16640 * 4096 / 1024 = 66560
    assert readout_bound(layer) == 66560
    assert readout_bound(driven_readout()[0].layers[0]) == V_MAX  # no voltage decay: no bound below saturation
    write_network(NetworkSpec(3, [layer]), tmp_path / "bounded.h5")
    assert main(["inspect", str(tmp_path / "bounded.h5")]) == 0
    assert "cannot fire on any input: its voltage stays at or below 66560" in capsys.readouterr().out
    spec, _ = driven_readout()
    write_network(spec, tmp_path / "driven.h5")
    assert main(["inspect", str(tmp_path / "driven.h5")]) == 0
    line = [s for s in capsys.readouterr().out.splitlines() if s.startswith("readout band:")][0]
    assert re.search(r"fires where v > 4194240 .*can reach it", line)


def test_deploy_warns_before_running(tmp_path, capsys):
    spec, x = driven_readout()
    write_network(spec, tmp_path / "driven.h5")
    np.save(tmp_path / "x.npy", x[0])
    assert main(["deploy", str(tmp_path / "driven.h5"), "--backend", "cpu", "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "v.npy")]) == 0  # the graph fires as the simulator does: exact
    out = capsys.readouterr().out
    assert out.index("WARNING: ") < out.index("calibration on cpu") and "the readout fired" in out
