"""atomic_output: complete files under the final name, ordinary permissions; folder_lock."""
import multiprocessing
import os
import stat
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from lava_convdelay.atomic import atomic_output
from lava_convdelay.folder_lock import folder_lock


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


def _hold_lock(folder, entered, release):
    with folder_lock(folder):
        entered.set()
        release.wait(10)
        (Path(folder) / "first").write_text("done")


def test_folder_lock_makes_a_second_process_wait(tmp_path, capsys):
    """Two jobs generating one cached set at once: the second waits for the first's files."""
    context = multiprocessing.get_context("fork")
    entered, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(tmp_path / "set", entered, release))
    holder.start()
    try:
        assert entered.wait(10)
        threading.Timer(0.5, release.set).start()
        with folder_lock(tmp_path / "set", "generating"):
            assert (tmp_path / "set" / "first").read_text() == "done"  # entered only after the holder left
    finally:
        release.set()
        holder.join(10)
    assert holder.exitcode == 0
    assert "another process is generating here; waiting" in capsys.readouterr().err
