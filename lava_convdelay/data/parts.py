"""Long conversions in fixed chunks ("parts"), each saved atomically when it is done,
so a killed run continues where it stopped and gives the same files.

A part holds the spike events of a few samples, ``times`` (float32 seconds) and
``units`` (uint16 channels) concatenated with their ``counts``, and any
per-sample ``columns`` (labels, speakers, noise levels...).
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lava_convdelay.atomic import atomic_output


def save_part(path: Path, times: list, units: list, **columns) -> None:
    """Write one part (atomically): per sample ``times`` [events] seconds, ``units`` [events]."""
    with atomic_output(path, suffix=".npz") as tmp:
        np.savez(tmp, times=np.concatenate([np.asarray(t, np.float32) for t in times]),
                 units=np.concatenate([np.asarray(u, np.uint16) for u in units]),
                 counts=np.array([len(t) for t in times], np.int64), **columns)


def load_part(path: Path) -> tuple[list, list, dict]:
    """``(times, units, columns)`` of a part written by :func:`save_part`."""
    with np.load(path) as part:
        bounds = np.concatenate([[0], np.cumsum(part["counts"])])
        times, units = part["times"], part["units"]
        columns = {k: part[k] for k in part.files if k not in ("times", "units", "counts")}
    pairs = list(zip(bounds[:-1], bounds[1:]))
    return [times[a:b] for a, b in pairs], [units[a:b] for a, b in pairs], columns


def collect_parts(paths: list[Path]) -> tuple[list, list, dict]:
    """The samples of all ``paths`` in the order of their ``uid`` column:
    ``(times, units, columns)``, each column one ``[samples]`` array."""
    times, units, columns = [], [], {}
    for path in paths:
        t, u, c = load_part(path)
        times += t
        units += u
        for name, values in c.items():
            columns.setdefault(name, []).append(values)
    columns = {name: np.concatenate(values) for name, values in columns.items()}
    order = np.argsort(columns["uid"], kind="stable")
    return [times[i] for i in order], [units[i] for i in order], {k: v[order] for k, v in columns.items()}


def run_parts(jobs: list, work: Callable, size: Callable, workers: int | None = None, progress: bool = True,
              desc: str = "parts", fresh_process: bool = False) -> int:
    """Run ``work(job)`` for each job whose part file ``job[0]`` does not exist yet,
    on ``workers`` forked processes (default: all cores); ``work`` saves the part.
    The progress bar counts ``size(job)`` samples per job. ``fresh_process``: each
    job in a process of its own, for libraries that keep state from one call to
    the next (eSpeak). Returns how many jobs ran."""
    todo = [job for job in jobs if not Path(job[0]).exists()]
    count = max(1, min(workers or len(os.sched_getaffinity(0)), len(todo)))
    with tqdm(total=sum(size(job) for job in todo), desc=desc, disable=not progress or not todo) as bar:
        if count == 1 and not fresh_process:
            for job in todo:
                work(job)
                bar.update(size(job))
            return len(todo)
        context = multiprocessing.get_context("fork")
        with context.Pool(count, maxtasksperchild=1 if fresh_process else None) as pool:
            for index in pool.imap_unordered(_indexed, [(work, i, job) for i, job in enumerate(todo)], chunksize=1):
                bar.update(size(todo[index]))
    return len(todo)


def _indexed(task) -> int:
    work, index, job = task
    work(job)
    return index
