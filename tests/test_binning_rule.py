"""The one binning rule (docs/hdf5-format.md, "Input binning"): every path that
bins events (SHD-format files through SHDDataset, `encode`, `classify`) bins the
float32 value a file holds with ``floor((t / dt) * 1.000001)`` in binary64, so a
recording gives the same input spikes whether it is classified from its WAV or
evaluated from the imported file.

The events below lie where the paths used to differ: times the cochlea gives in
float64 just below a bin's lower edge, whose float32 value (what a file holds)
lands on the other side of it, and float32 values of the edges themselves. The
expected bins are worked out by hand in the comments.
"""
import math
import struct

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from lava_convdelay.cli import main
from lava_convdelay.data import SHDDataset, bin_spikes, write_shd
from lava_convdelay.data.audio_encoding import AudioEncoding
from lava_convdelay.data.encoding import InputEncoding
from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from netx_export.writer import write_network

DT = 0.01
#: (time in float64 seconds as the cochlea would give it, the bin of the rule)
EVENTS = [
    # float32(0.00999998999801) = 0.0099999904632568359375; / 0.01 * 1.000001 = 1.0000000463 -> bin 1,
    # where the float64 value itself gives 0.99999999980 -> 0 (the old float64 path of encode / classify)
    (0.00999998999801, 1),
    # float32 = 0.02999996952712535858 -> 2.999996952712536 * 1.000001 = 2.9999999527 -> bin 2,
    # where the float64 value gives 2.99999700010 * 1.000001 = 3.0000000001 -> 3
    (0.02999997000103, 2),
    # float32 values of edges: float32(0.01) = 0.00999999977648258, 0.999999977648258 * 1.000001 -> 1;
    # float32(0.29) = 0.2899999916553497, 28.99999916553497 * 1.000001 = 29.000028 -> 29 (a naive floor gives 28)
    (0.01, 1), (0.29, 29), (0.57, 57),
    # far from an edge, and past the 1-s window (dropped)
    (0.5049, 50), (0.99999, 99), (1.0, None), (1e30, None),
]
UNITS = np.arange(len(EVENTS)) * 7  # one event per pooled channel (pool 7): row i holds event i


def expected_bins() -> torch.Tensor:
    out = torch.zeros(100, 100)
    for row, (_, step) in enumerate(EVENTS):
        if step is not None:
            out[row, step] = 1
    return out


def rule(seconds: float) -> int:
    """The documented rule, written independently of the toolkit (struct's float32)."""
    stored = struct.unpack("<f", struct.pack("<f", seconds))[0] if seconds < 1e30 else seconds
    return math.floor(stored / DT * (1 + 1e-6))


def test_the_hand_worked_bins_are_the_documented_rule():
    for seconds, step in EVENTS:
        assert rule(seconds) == step or (step is None and rule(seconds) >= 100), seconds


TIMES = np.array([seconds for seconds, _ in EVENTS], np.float64)


def test_every_path_bins_the_same(tmp_path, monkeypatch, capsys):
    # 1. straight from float64 events (what encode and classify bin)
    direct = bin_spikes(TIMES, UNITS, DT, pool=7, duration=1.0)
    assert torch.equal(direct, expected_bins())
    # 2. a file (data import, data generate: float32 times) through SHDDataset (train, evaluate)
    write_shd(tmp_path / "d.h5", [TIMES], [UNITS], [0], ["x"])
    from_file, _ = SHDDataset(tmp_path / "d.h5", dt=DT, pool=7, duration=1.0)[0]
    assert torch.equal(from_file, expected_bins())
    # 3. encode and 4. classify, with the cochlea replaced by these events
    monkeypatch.setattr(AudioEncoding, "spikes", lambda self, audio, rate, seed: (TIMES, UNITS))
    wavfile.write(tmp_path / "r.wav", 16000, (np.sin(np.arange(16000) / 5) * 1e4).astype(np.int16))
    assert main(["encode", str(tmp_path / "r.wav"), "-o", str(tmp_path / "e.npy"), "--pool", "7",
                 "--duration", "1"]) == 0
    assert np.array_equal(np.load(tmp_path / "e.npy"), expected_bins().numpy().astype(np.uint8))
    seen = []

    def simulate(spec, spikes, record_voltage=False):
        seen.append(spikes)
        return type("Result", (), {"output": np.zeros((len(spikes), 1, spikes.shape[-1]), np.uint8),
                                   "voltage": None})()
    monkeypatch.setattr("sim.fixed_point.simulate", simulate)
    spec = NetworkSpec(100, [LayerSpec("dense", np.zeros((1, 100), np.int64), CubaParams(2048, 1024, 64))],
                       encoding=InputEncoding(DT, 7, 1.0, 700, audio=AudioEncoding().to_json()))
    write_network(spec, tmp_path / "net.h5")
    capsys.readouterr()
    assert main(["classify", str(tmp_path / "net.h5"), str(tmp_path / "r.wav")]) == 0
    assert len(seen) == 1 and np.array_equal(seen[0][0], expected_bins().numpy())


@pytest.mark.parametrize("min_spikes", [1, 2])
def test_counting_bins_use_the_same_steps(min_spikes):
    # two events per bin in row 0 at the float32 edge values: both in bin 1, so min_spikes 2 keeps it
    times = np.array([0.01, 0.0199, 0.00999998999801])
    out = bin_spikes(times, np.array([0, 0, 0]), DT, pool=7, duration=0.05, min_spikes=min_spikes)
    assert out[0].tolist() == [0, 1, 0, 0, 0]


def test_a_file_without_min_spikes_bins_any_event(tmp_path):
    """docs/hdf5-format.md: minSpikes is optional; files written before it existed bin with 1."""
    import h5py

    from netx_export.reader import read_network
    spec = NetworkSpec(100, [LayerSpec("dense", np.zeros((1, 100), np.int64), CubaParams(2048, 1024, 64))],
                       encoding=InputEncoding(DT, 7, 1.0, 700, min_spikes=3))
    write_network(spec, tmp_path / "net.h5")
    assert read_network(tmp_path / "net.h5").encoding.min_spikes == 3
    with h5py.File(tmp_path / "net.h5", "a") as f:
        del f["lava_convdelay_meta/input/minSpikes"]
    assert read_network(tmp_path / "net.h5").encoding.min_spikes == 1
