"""SHD/SSC reader: binning, caching, malformed files (and a fuzz of them)."""
import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lava_convdelay.data.shd as shd
from lava_convdelay.data import DatasetFormatError, SHDDataset, read_shd, write_shd
from lava_convdelay.data.encoding import EncodingError
from lava_convdelay.errors import UserError

KEYS = ["zero", "one", "null"]


def small_file(path):
    times = [np.array([0.0, 0.0095, 0.0101, 0.999, 1.2]), np.array([0.5])]
    units = [np.array([0, 4, 5, 699, 3]), np.array([10])]
    return write_shd(path, times, units, labels=[2, 0], keys=KEYS, speaker=[7, 8])


def test_binning_by_hand(tmp_path):
    data = SHDDataset(small_file(tmp_path / "s.h5"), dt=0.01, pool=5, duration=1.0)
    assert len(data) == 2 and data.keys == KEYS and data.channels == 140
    x, label = data[0]
    assert label == 2 and x.shape == (140, 100)
    expected = torch.zeros(140, 100)
    expected[0, 0] = 1  # units 0 and 4 (pooled to 0) at 0 ms and 9.5 ms share bin 0
    expected[1, 1] = 1  # unit 5 -> channel 1, 10.1 ms -> bin 1
    expected[139, 99] = 1  # unit 699 at 999 ms; the spike at 1.2 s is past the duration
    assert torch.equal(x, expected)
    x2, _ = SHDDataset(tmp_path / "s.h5", dt=0.005, pool=1, duration=0.6)[1]
    assert x2.shape == (700, 120) and x2.sum() == 1 and x2[10, 100] == 1


def test_second_epoch_does_not_rebin(tmp_path, monkeypatch):
    data = SHDDataset(small_file(tmp_path / "s.h5"))
    calls = []
    real = shd.bin_spikes
    monkeypatch.setattr(shd, "bin_spikes", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = [data[i][0] for i in range(len(data))]
    second = [data[i][0] for i in range(len(data))]
    assert len(calls) == 2
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def _edit(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)
    return path


@pytest.mark.parametrize("edit,message", [
    (lambda f: f.__delitem__("labels"), "missing dataset 'labels'"),
    (lambda f: f.__delitem__("spikes/units"), "missing dataset 'spikes/units'"),
    (lambda f: (f.__delitem__("labels"), f.create_dataset("labels", data=np.array([0, 1, 1], np.uint8))),
     "2 spike-time rows, 2 unit rows and 3 labels"),
    (lambda f: (f.__delitem__("labels"), f.create_dataset("labels", data=np.array([0, 5], np.uint8))),
     r"labels must lie in \[0, number of classes\)"),
])
def test_malformed_structure(tmp_path, edit, message):
    path = _edit(small_file(tmp_path / "s.h5"), edit)
    with pytest.raises(DatasetFormatError, match=message) as err:
        read_shd(path)
    assert str(path) in str(err.value)


def test_bad_spike_values(tmp_path):
    path = write_shd(tmp_path / "u.h5", [np.array([0.1])], [np.array([700])], [0], KEYS)
    with pytest.raises(DatasetFormatError, match=r"sample 0 has units outside \[0, 700\)"):
        read_shd(path)
    path = write_shd(tmp_path / "t.h5", [np.array([0.1, -0.2])], [np.array([1, 2])], [0], KEYS)
    with pytest.raises(DatasetFormatError, match="sample 0 has negative or non-finite spike times"):
        read_shd(path)
    path = write_shd(tmp_path / "r.h5", [np.array([0.1, 0.2])], [np.array([1])], [0], KEYS)
    with pytest.raises(DatasetFormatError, match="sample 0 has 2 spike times but 1 units"):
        read_shd(path)
    with pytest.raises(DatasetFormatError, match="no such dataset file"):
        read_shd(tmp_path / "missing.h5")
    with pytest.raises(EncodingError, match=r"s.h5: pool=3 does not divide the 700 channels"):
        SHDDataset(small_file(tmp_path / "s.h5"), pool=3)


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_dataset_files(tmp_path, data):
    """80 cases: damaged SHD files give a UserError naming the file, or valid data."""
    path = small_file(tmp_path / "s.h5")
    kind = data.draw(st.sampled_from(["truncate", "delete", "replace"]))
    if kind == "truncate":
        blob = path.read_bytes()
        path.write_bytes(blob[: data.draw(st.integers(0, len(blob) - 1))])
    else:
        key = data.draw(st.sampled_from(["labels", "spikes/times", "spikes/units", "extra/keys", "extra/speaker"]))
        with h5py.File(path, "a") as f:
            del f[key]
            if kind == "replace":
                f.create_dataset(key, data=data.draw(st.sampled_from(
                    [np.zeros(0), np.array([-1, 2]), np.array([1.5]), np.zeros((2, 2)), np.array([b"x", b"y"])])))
    try:
        dataset = SHDDataset(path)
    except UserError as err:
        assert str(path) in str(err)
        return
    for i in range(len(dataset)):
        x, y = dataset[i]
        assert x.shape == (140, 100) and 0 <= y


def test_in_place_changes_do_not_reach_the_cache(tmp_path):
    data = SHDDataset(small_file(tmp_path / "s.h5"))
    x, _ = data[0]
    assert x.dtype == torch.float32 and x.sum() == 3
    x.zero_()  # e.g. an augmentation working in place
    assert data[0][0].sum() == 3


def test_spikes_on_bin_edges_survive_float32_storage(tmp_path):
    """Cochlea samples at 8 kHz, stored as float32: sample k belongs to bin k // 80 at 10 ms."""
    k = np.arange(8000)
    path = write_shd(tmp_path / "edges.h5", [k / 8000.0], [k % 700], [0], KEYS)
    assert read_shd(path)["times"][0].dtype == np.float32
    x, _ = SHDDataset(path, dt=0.01, pool=1, duration=1.0)[0]
    expected = torch.zeros(700, 100)
    expected[k % 700, k // 80] = 1
    assert torch.equal(x, expected)


def test_min_spikes_keeps_only_bins_with_that_many_events():
    from lava_convdelay.data import bin_spikes
    # channels 0-4 pool into row 0, 5-9 into row 1; bins of 10 ms
    times = np.array([0.001, 0.002, 0.004, 0.013, 0.011, 0.025])
    units = np.array([0, 3, 4, 1, 6, 9])
    # row 0: bin 0 has 3 events, bin 1 has 1; row 1: bin 1 has 1, bin 2 has 1
    any_event = bin_spikes(times, units, dt=0.01, pool=5, duration=0.03, channels=10)
    assert any_event.tolist() == [[1, 1, 0], [0, 1, 1]]
    two = bin_spikes(times, units, dt=0.01, pool=5, duration=0.03, channels=10, min_spikes=2)
    assert two.tolist() == [[1, 0, 0], [0, 0, 0]]
    assert bin_spikes(times, units, dt=0.01, pool=5, duration=0.03, channels=10, min_spikes=4).sum() == 0
