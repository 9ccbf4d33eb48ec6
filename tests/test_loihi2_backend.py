"""The Loihi 2 backend at lava-loihi's boundary: the system checks through
lava-nc's lava.utils.loihi / slurm (a fake sinfo), and the 24-bit sign
extension of every voltage read."""
import os
import sys
import types

import numpy as np
import pytest
from factories import fake_loihi_system

from sim.errors import BackendUnavailableError
from sim.loihi2.backend import Loihi2Hardware, sign_extend_24


def test_sign_extension_fixes_raw_values_and_keeps_signed_ones():
    raw = np.array([16760960, 0, 128, (1 << 23) - 1, 1 << 23, (1 << 24) - 1])
    assert sign_extend_24(raw).tolist() == [-16256, 0, 128, (1 << 23) - 1, -(1 << 23), -1]
    signed = np.array([-16256, -1, -(1 << 23), 5])
    assert sign_extend_24(signed).tolist() == signed.tolist()
    assert sign_extend_24(sign_extend_24(raw)).tolist() == sign_extend_24(raw).tolist()


def test_state_probe_reads_are_sign_extended_and_raw_ones_recorded(monkeypatch):
    """lava-loihi's StateProbe at the import boundary, returning the raw
    24-bit register (neuron-major, one column per step)."""
    class StateProbe:
        def __init__(self, var):
            self.time_series = np.array([[16760960, 16760960, 0], [128, 96, 72]]).reshape(-1)
    module = types.ModuleType("lava.utils.loihi2_state_probes")
    module.StateProbe = StateProbe
    monkeypatch.setitem(sys.modules, "lava.utils.loihi2_state_probes", module)
    var = types.SimpleNamespace(shape=(2,))
    probe = Loihi2Hardware().voltage_probe(var, 2)
    assert probe.read().tolist() == [[-16256, 0], [96, 72]] and probe.raw_unsigned
    fresh = Loihi2Hardware().voltage_probe(var, 2)  # a probe that returns signed values: unchanged
    fresh.callback.time_series = np.array([[-16256, 3], [1, 2]]).reshape(-1)
    assert fresh.read().tolist() == [[-16256, 3], [1, 2]] and not fresh.raw_unsigned


def test_without_lava_loihi_the_backend_says_so():
    with pytest.raises(BackendUnavailableError, match="lava-loihi extension .* INRC .*--backend cpu"):
        Loihi2Hardware().check_available()


def test_default_partition_is_found_although_sinfo_marks_it(monkeypatch):
    """sinfo prints the default partition as 'oheogulch*', which lava-nc's exact
    name match would not find; N3B3 is lava-nc's default generation."""
    fake_loihi_system(monkeypatch)
    backend = Loihi2Hardware()
    backend.check_available()
    assert (os.environ["PARTITION"], os.environ["LOIHI_GEN"], os.environ["SLURM"]) == ("oheogulch", "N3B3", "1")
    assert "BOARD" not in os.environ and "NOSLURM" not in os.environ
    assert backend.describe() == "Loihi 2 (LOIHI_GEN=N3B3, PARTITION=oheogulch; host: SLURM)"


def test_a_preset_generation_is_kept(monkeypatch):
    """use_slurm_host writes its own default (N3B3) unless given the generation."""
    fake_loihi_system(monkeypatch)
    monkeypatch.setenv("LOIHI_GEN", "N3C1")
    monkeypatch.setenv("PARTITION", "oheogulch_20m")
    Loihi2Hardware().check_available()
    assert (os.environ["LOIHI_GEN"], os.environ["PARTITION"]) == ("N3C1", "oheogulch_20m")
    monkeypatch.setenv("LOIHI_GEN", "N9Z9")
    with pytest.raises(BackendUnavailableError, match="LOIHI_GEN='N9Z9' is not a Loihi generation"):
        Loihi2Hardware().check_available()


@pytest.mark.parametrize("options,message", [
    (dict(partition="nowhere"), "SLURM partition 'nowhere' is not listed as up by sinfo (partitions: oheogulch "
                                "(idle), oheogulch_20m (idle), kp_broken (down)); pass --partition"),
    (dict(partition="kp_broken"), "SLURM partition 'kp_broken' is not listed as up"),
    (dict(board="ncl-ext-og-02"), "board 'ncl-ext-og-02' is not listed as up by `sinfo -N` (boards: ncl-ext-og-01 "
                                  "(oheogulch, idle), ncl-ext-og-02 (oheogulch, down)"),
    (dict(board="ncl-ext-og-05", partition="oheogulch"), "board 'ncl-ext-og-05' is in partition 'oheogulch_20m', "
                                                         "not 'oheogulch': give --board or --partition, not both"),
])
def test_partitions_and_boards_are_checked_against_sinfo(monkeypatch, options, message):
    fake_loihi_system(monkeypatch)
    with pytest.raises(BackendUnavailableError) as err:
        Loihi2Hardware(**options).check_available()
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "SLURM" not in os.environ


def test_a_board_alone_sets_no_partition(monkeypatch):
    fake_loihi_system(monkeypatch)
    Loihi2Hardware(board="ncl-ext-og-05", loihi_gen="N3C1").check_available()
    assert os.environ["BOARD"] == "ncl-ext-og-05" and "PARTITION" not in os.environ
    assert os.environ["LOIHI_GEN"] == "N3C1"


def test_silent_sinfo_is_reported(monkeypatch):
    fake_loihi_system(monkeypatch, sinfo=False)
    with pytest.raises(BackendUnavailableError, match=r"`sinfo` gave no answer .*--ethernet-host ADDRESS"):
        Loihi2Hardware().check_available()
