"""The calibration (sim/loihi2/calibration.py) on CPU rehearsals that behave as
Loihi is reported to: a firing neuron's voltage register reads 128 in its
spike step (lava-nc issue #282), adapters that lose spikes. The offsets come
from the sink (spikes) and from a neuron that never fires (voltage) only."""
import numpy as np
import pytest
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.lif.models import PyLifModelBitAcc, PyLifResetModelBitAcc
from lava.proc.lif.process import LIF, LIFReset
from test_hardware_graph import LateAdapters, late_model

from lava_convdelay.cli import main
from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from netx_export.writer import write_network
from sim.errors import CalibrationError
from sim.loihi2 import backend
from sim.loihi2.adapters.process import OutputAdapter
from sim.loihi2.backend import CpuRehearsal
from sim.loihi2.calibration import CALIBRATION_INPUT, calibrate
from sim.loihi2.execution import Offsets

POST_SPIKE_V = 128


class _ReadsPostSpikeVoltage:
    """Lava's bit-accurate LIF whose ``v`` reads 128 in the step of a spike and
    evolves from 0 afterwards (what an Intel maintainer describes for the chip)."""

    spiked = None

    def reset_voltage(self, spike_vector):
        self.v[spike_vector] = POST_SPIKE_V
        self.spiked = np.asarray(spike_vector, bool).copy()

    def subthr_dynamics(self, activation_in):
        if self.spiked is not None:
            self.v[self.spiked] = 0
        super().subthr_dynamics(activation_in)


class PostSpikeLifReset(_ReadsPostSpikeVoltage, PyLifResetModelBitAcc):
    pass


class PostSpikeLif(_ReadsPostSpikeVoltage, PyLifModelBitAcc):
    pass


class PostSpikeRehearsal(CpuRehearsal):
    """The CPU rehearsal with the chip's reported post-spike voltage."""

    def run_config(self, callbacks):
        return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={LIFReset: PostSpikeLifReset,
                                                                              LIF: PostSpikeLif})


def test_calibration_passes_with_a_post_spike_voltage_of_128():
    found = calibrate(PostSpikeRehearsal())
    assert found.offsets == Offsets(spikes=0, voltage=0) and found.post_spike == (POST_SPIKE_V,)
    assert calibrate("cpu").post_spike == (0,)
    late = LateAdapters(2, 1)  # with adapters that take steps, too
    late.run_config = lambda callbacks: Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={
        **late.models, LIF: PostSpikeLif})
    found = calibrate(late)
    assert found.offsets == Offsets(spikes=3, voltage=2) and found.post_spike == (POST_SPIKE_V,)


def test_without_voltage_no_probe_is_built():
    found = calibrate(PostSpikeRehearsal(), voltage=False)
    assert found.offsets == Offsets(spikes=0, voltage=0) and found.post_spike == ()


class DroppingOutput(CpuRehearsal):
    """An output adapter that loses every spike."""

    def run_config(self, callbacks):
        lost = late_model(OutputAdapter, 100)  # longer than the calibration's period: nothing comes out
        return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={OutputAdapter: lost})


def test_a_failed_calibration_saves_its_raw_rings(tmp_path):
    path = tmp_path / "out.npy.calibration-failure.npz"
    with pytest.raises(CalibrationError) as err:
        calibrate(DroppingOutput(), failure_path=path)
    message = str(err.value)
    assert "\n" not in message and f"the raw data are in {path}" in message
    assert message.startswith("cpu: the recorded spikes of the calibration network match its exact result at no")
    with np.load(path) as saved:
        assert not saved["spike_ring"].any() and saved["expected_spikes"].sum() == 5
        assert saved["voltage_ring"][1].tolist()[1:4] == [128, 224, 168]  # the probe worked
        np.testing.assert_array_equal(saved["input"], CALIBRATION_INPUT[0])
        assert str(saved["backend"]) == "cpu" and '"lava-nc": "0.10.0"' in str(saved["environment"])


def test_deploy_names_the_saved_calibration(tmp_path, monkeypatch, capsys):
    """deploy saves the rings beside its output."""
    spec = NetworkSpec(2, [LayerSpec("dense", np.full((2, 2), 254, np.int64), CubaParams(4096, 4095, 100))])
    write_network(spec, tmp_path / "net.h5")
    np.save(tmp_path / "x.npy", np.ones((2, 8), np.int8))
    monkeypatch.setattr(backend, "CpuRehearsal", DroppingOutput)
    assert main(["deploy", str(tmp_path / "net.h5"), "--backend", "cpu", "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "out.npy")]) == 2
    err = capsys.readouterr().err
    assert f"the raw data are in {tmp_path / 'out.npy.calibration-failure.npz'}" in err
    assert (tmp_path / "out.npy.calibration-failure.npz").exists() and not (tmp_path / "out.npy").exists()
