"""atomic_output: complete files under the final name, ordinary permissions."""
import os
import stat

import h5py
import numpy as np
import pytest

from lava_convdelay.atomic import atomic_output


@pytest.fixture
def umask():
    """Set the process umask for one test; the old one is restored afterwards."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".out.json.") and tmp.suffix == ".tmp"
        assert tmp.exists()
        tmp.write_text("complete")
    assert target.read_text() == "complete"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failure_without_an_old_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_output(tmp_path / "out.txt") as tmp:
        tmp.write_text("partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_final_file_respects_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    target = tmp_path / "out.txt"
    with atomic_output(target) as tmp:
        tmp.write_text("x")
    assert _mode(target) == expected


def test_hdf5_and_npy_writers_keep_the_ordinary_mode(tmp_path, umask):
    umask(0o022)
    with atomic_output(tmp_path / "a.h5") as tmp, h5py.File(tmp, "w") as f:
        f["x"] = np.arange(3)
    with atomic_output(tmp_path / "b.npy", suffix=".npy") as tmp:
        np.save(tmp, np.arange(3))
    assert _mode(tmp_path / "a.h5") == 0o644 and _mode(tmp_path / "b.npy") == 0o644
