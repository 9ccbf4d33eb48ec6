"""loihi2-selftest (sim/loihi2/selftest): every micro-test runs on the CPU
rehearsal and gives what the docs derive by hand; compare finds the
differences a chip could show -- an off-by-one reset, an unsigned voltage
read, the post-spike register value (tolerated) -- and names them and the
option to switch; archives are checked when read."""
import json

import numpy as np
import pytest
from factories import hardware_model
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.lif.models import PyLifResetModelBitAcc
from lava.proc.lif.process import LIFReset
from lava.proc.sparse.models import PyDelaySparseModelFloat
from lava.proc.sparse.process import DelaySparse
from test_calibration import PostSpikeRehearsal

from lava_convdelay.cli import main
from netx_export.exporter import export_blocks
from sim.errors import ArchiveError
from sim.loihi2.backend import CpuRehearsal
from sim.loihi2.selftest.archive import read_archive, write_archive
from sim.loihi2.selftest.compare import compare_archives, first_difference
from sim.loihi2.selftest.microtests import MICRO_TESTS
from sim.loihi2.selftest.run import run_selftest

#: what each micro-test gives, derived by hand in its docstring (sim/loihi2/selftest/microtests.py):
#: neuron -> spike columns
SPIKES = {
    "dense_lif": [[1, 2, 5], [], []],
    "delay_dense_scalar": [[5, 7], [5, 7]], "delay_sparse_scalar": [[5, 7], [5, 7]],
    "delay_dense_matrix": [[3, 4], [4, 6]], "delay_sparse_matrix": [[3, 4], [4, 6]],
    "delay_dense_loop": [[1, 5, 9, 13]], "delay_sparse_loop": [[1, 5, 9, 13]],
    "readout_vth_32768": 16, "readout_vth_65535": 23, "readout_vth_65536": 23, "readout_vth_131071": 32,
}


@pytest.fixture(scope="module")
def cpu_archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("selftest")
    export_blocks(list(hardware_model().blocks), folder / "net.h5")
    np.save(folder / "x.npy", (np.random.default_rng(0).random((2, 8, 30)) < 0.3).astype(np.int8))
    assert main(["loihi2-selftest", "run", str(folder / "net.h5"), "--backend", "cpu", "--input",
                 str(folder / "x.npy"), "-o", str(folder / "cpu.npz")]) == 0
    return folder


def test_every_micro_test_runs_on_the_cpu_and_gives_the_hand_derived_result(cpu_archive):
    archive = read_archive(cpu_archive / "cpu.npz")
    meta, arrays = archive.meta, archive.arrays
    assert list(meta["tests"]) == [t.name for t in MICRO_TESTS] and len(MICRO_TESTS) == 17
    assert all(t["status"] == "ok" and "CPU FALLBACK" not in t["models"] for t in meta["tests"].values())
    assert meta["calibration"]["offsets"] == [0, 0] and meta["calibration"]["post_spike"] == [0]
    assert meta["environment"]["packages"]["lava-nc"] == "0.10.0"
    assert len(meta["environment"]["network"]["sha256"]) == 64
    assert meta["settings"]["READOUT_VTH"] == 65535
    for name, expected in SPIKES.items():
        spikes = arrays[f"{name}/spikes"]
        if isinstance(expected, int):
            assert np.flatnonzero(spikes[0])[0] == expected, name
        else:
            assert [np.flatnonzero(row).tolist() for row in spikes] == expected, name
    assert arrays["dense_lif/voltage"][2, :6].tolist() == [0, 128, 224, 168, 126, 222]
    assert arrays["negative_voltage/voltage"][0].tolist() == [0] + [-16256] * 5
    assert arrays["burst_140/voltage"][0, 2] == 140 * 254 * 64
    v = arrays["lifreset_step/voltage"][0]
    assert v[1] == v[2] == 128 and v[10] == 128 and v[9] > 4000  # reset in time steps 3, 11
    for period in (64, 256, 512):
        v = arrays[f"lifreset_period_{period}/voltage"][0]
        assert v[period - 1] > 100 * period and v[period] == 128 and v[2 * period] == 128, period
    assert meta["network"]["status"] == "ok" and meta["network"]["layers"] == 4
    for layer, n in zip(range(1, 5), (10, 12, 8, 3)):
        assert arrays[f"network/layer{layer}/spikes"].shape == arrays[f"network/layer{layer}/voltage"].shape \
            == (2, n, 30)
        assert arrays[f"network/layer{layer}/spikes"].any(), f"layer {layer} silent: weak test"


def test_an_archive_equals_itself(cpu_archive, capsys):
    path = str(cpu_archive / "cpu.npz")
    assert main(["loihi2-selftest", "compare", path, path]) == 0
    out = capsys.readouterr().out
    assert "verdict: the chip equals the CPU rehearsal in every micro-test and layer" in out
    assert out.count(": equal") == 17 + 4


class OffByOneReset(PyLifResetModelBitAcc):
    """LIFReset that resets one step after the step its reset_offset names."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.reset_offset = (self.reset_offset + 1) % self.reset_interval


class LateReset(CpuRehearsal):
    def run_config(self, callbacks):
        return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={LIFReset: OffByOneReset})


def test_compare_names_an_off_by_one_reset(cpu_archive, capsys):
    run_selftest(LateReset(), cpu_archive / "late.npz", tests=["lifreset_step"], log=lambda _: None)
    assert read_archive(cpu_archive / "late.npz").meta["calibration"]["offsets"] == [0, 0]  # plain LIF: unaffected
    assert main(["loihi2-selftest", "compare", str(cpu_archive / "late.npz"), str(cpu_archive / "cpu.npz")]) == 1
    out = capsys.readouterr().out
    assert "lifreset_step: DIFFERS" in out
    assert "voltage: first difference at neuron 0, step 2: 128 (cpu) vs 383 (chip)" in out
    assert "v falls at columns [2, 10, 18] on the CPU and [3, 11, 19] on the chip: the reset comes 1 step(s) late" \
        in out
    assert "switch: a reset k steps late/early: the chip counts reset_offset differently -- deploy --reset host" in out
    assert "not compared (run on one side only): dense_lif, lifreset_period_64" in out
    assert "verdict: 1 of 1 differ: lifreset_step" in out


class UnsignedProbe(CpuRehearsal):
    """A voltage read path that returns the raw 24-bit register and skips the sign extension."""

    def voltage_probe(self, var, span):
        probe = super().voltage_probe(var, span)
        read = probe.read
        probe.read = lambda: read() & 0xFFFFFF
        return probe


def test_compare_names_an_unsigned_voltage_read(cpu_archive, capsys):
    run_selftest(UnsignedProbe(), cpu_archive / "raw.npz", tests=["negative_voltage", "dense_lif"],
                 log=lambda _: None)
    assert main(["loihi2-selftest", "compare", str(cpu_archive / "raw.npz"), str(cpu_archive / "cpu.npz")]) == 1
    out = capsys.readouterr().out
    assert "dense_lif: equal" in out and "negative_voltage: DIFFERS" in out
    assert "voltage: first difference at neuron 0, step 1: -16256 (cpu) vs 16760960 (chip)" in out
    assert "looks like: every differing voltage is the reference's plus 2^24: raw 24-bit values, not sign-extended" \
        in out
    assert "switch: 16760960 (= 2^24 - 16256): the probe returns raw 24-bit values" in out


class NoDelaySparseOnChip(CpuRehearsal):
    """A chip without a DelaySparse model: the run configuration falls back to a CPU model."""

    def run_config(self, callbacks):
        return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={DelaySparse: PyDelaySparseModelFloat})


def test_a_micro_test_that_falls_back_is_named_with_its_switch(cpu_archive, capsys):
    run_selftest(NoDelaySparseOnChip(), cpu_archive / "nosparse.npz",
                 tests=["delay_sparse_scalar", "delay_dense_scalar"], log=lambda _: None)
    tests = read_archive(cpu_archive / "nosparse.npz").meta["tests"]
    assert tests["delay_sparse_scalar"]["status"] == "compile error"
    assert "CPU FALLBACK" in tests["delay_sparse_scalar"]["models"]
    assert main(["loihi2-selftest", "compare", str(cpu_archive / "nosparse.npz"), str(cpu_archive / "cpu.npz")]) == 1
    out = capsys.readouterr().out
    assert "delay_dense_scalar: equal" in out
    assert "delay_sparse_scalar: DIFFERS: cpu: ok; chip: compile error (sim.errors.ChipFallbackError: 1 chip-side " \
           "process(es) did not get a model for cpu, they would run on the host CPU: delaysparse (DelaySparse) -> " \
           "PyDelaySparseModelFloat)" in out
    assert "switch: DelaySparse does not work: keep the default --delayed-synapse dense" in out


def test_the_post_spike_voltage_is_tolerated(cpu_archive, capsys):
    run_selftest(PostSpikeRehearsal(), cpu_archive / "post.npz", tests=["dense_lif", "delay_dense_loop"],
                 log=lambda _: None)
    chip, cpu = read_archive(cpu_archive / "post.npz"), read_archive(cpu_archive / "cpu.npz")
    assert chip.meta["calibration"]["post_spike"] == [128]
    assert chip.arrays["dense_lif/voltage"][0, [1, 2, 5]].tolist() == [128] * 3
    comparison = compare_archives(chip, cpu)
    assert comparison.equal and [v.tolerated for v in comparison.verdicts] == [3, 4]
    assert "dense_lif: equal (3 post-spike voltage(s) tolerated)" in comparison.describe()


def test_first_difference_is_the_earliest_step():
    a = np.zeros((2, 3, 5), np.int64)
    b = a.copy()
    b[1, 2, 1], b[1, 0, 3], b[0, 1, 4] = 7, 9, 1
    found = first_difference(a, b, "layer")
    assert (found.sample, found.neuron, found.step, found.reference, found.got) == (0, 1, 4, 0, 1)
    found = first_difference(a[1], b[1], "layer")
    assert (found.neuron, found.step, found.got) == (2, 1, 7)
    assert first_difference(a, b, "layer", mask=b != 0) is None


def test_archives_are_checked_when_read(tmp_path, capsys):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert main(["loihi2-selftest", "compare", str(tmp_path / "junk.npz"), str(tmp_path / "junk.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'junk.npz'}: not a loihi2-selftest archive" in err
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ArchiveError, match="no meta entry"):
        read_archive(tmp_path / "other.npz")
    np.savez(tmp_path / "old.npz", meta=np.array(json.dumps({"format": "something else"})))
    with pytest.raises(ArchiveError, match="not a lava-convdelay-loihi2-selftest archive of version 1"):
        read_archive(tmp_path / "old.npz")
    meta = {"tests": {"dense_lif": {"status": "ok"}}}
    write_archive(tmp_path / "flat.npz", meta, {"dense_lif/spikes": np.zeros(4, np.uint8),
                                                "dense_lif/voltage": np.zeros(4, np.int64)})
    with pytest.raises(ArchiveError, match=r"dense_lif/spikes must be a 2-D integer array .* got uint8 \(4,\)"):
        read_archive(tmp_path / "flat.npz")
    write_archive(tmp_path / "floats.npz", meta, {"dense_lif/spikes": np.zeros((1, 4)),
                                                  "dense_lif/voltage": np.zeros((1, 4), np.int64)})
    with pytest.raises(ArchiveError, match="dense_lif/spikes must be a 2-D integer array"):
        read_archive(tmp_path / "floats.npz")
    write_archive(tmp_path / "missing.npz", meta, {"dense_lif/spikes": np.zeros((1, 4), np.uint8)})
    with pytest.raises(ArchiveError, match="micro-test dense_lif ran but dense_lif/voltage is missing"):
        read_archive(tmp_path / "missing.npz")
    write_archive(tmp_path / "status.npz", {"tests": {"dense_lif": {"status": "fine"}}}, {})
    with pytest.raises(ArchiveError, match="meta.tests must map each micro-test to its status"):
        read_archive(tmp_path / "status.npz")


def test_run_refuses_unknown_micro_tests(tmp_path, capsys):
    assert main(["loihi2-selftest", "run", "--backend", "cpu", "--only", "nothing", "-o",
                 str(tmp_path / "x.npz")]) == 2
    assert "--only: unknown micro-test 'nothing' (dense_lif, " in capsys.readouterr().err
    assert main(["loihi2-selftest", "run", "-o", str(tmp_path / "x.npz")]) == 2
    assert "lava-loihi" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()
