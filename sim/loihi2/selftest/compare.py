"""Compare a chip archive with the CPU rehearsal's (:mod:`.archive`): per
micro-test and per layer of the real network, equal or the first difference
-- the earliest step, then the lowest neuron -- what it looks like (a reset
or a spike that comes k steps late, a raw 24-bit voltage), and the option to
switch (:data:`~sim.loihi2.selftest.microtests.MICRO_TESTS`).

One difference is tolerated and counted: a neuron's voltage in a step in
which it fired, where the chip shows the post-spike value its calibration
measured (Loihi's register reads 128 there, Lava's models 0) -- the
dynamics afterwards are compared as usual.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.loihi2.selftest.archive import Archive
from sim.loihi2.selftest.microtests import MICRO_TESTS

__all__ = ["Difference", "Verdict", "Comparison", "compare_archives", "first_difference"]

_RAW = 1 << 24
_SHIFTS = range(1, 5)


@dataclass(frozen=True)
class Difference:
    """The first differing entry of ``array``: ``sample`` (real network only),
    ``neuron``, ``step``, the reference's (CPU) value and the chip's."""

    array: str
    neuron: int
    step: int
    reference: int
    got: int
    sample: int | None = None

    def describe(self) -> str:
        where = f"sample {self.sample}, " if self.sample is not None else ""
        return (f"{self.array}: first difference at {where}neuron {self.neuron}, step {self.step}: "
                f"{self.reference} (cpu) vs {self.got} (chip)")


@dataclass
class Verdict:
    """One micro-test or layer: ``equal``; else ``problem`` (what differs),
    ``differences``, ``diagnosis`` and ``fallback``."""

    name: str
    equal: bool
    problem: str = ""
    differences: list[Difference] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)
    fallback: str = ""
    tolerated: int = 0

    def describe(self) -> str:
        if self.equal:
            note = f" ({self.tolerated} post-spike voltage(s) tolerated)" if self.tolerated else ""
            return f"{self.name}: equal{note}"
        lines = [f"{self.name}: DIFFERS{': ' + self.problem if self.problem else ''}"]
        lines += [f"  {d.describe()}" for d in self.differences]
        lines += [f"  looks like: {text}" for text in self.diagnosis]
        if self.fallback:
            lines.append(f"  switch: {self.fallback}")
        return "\n".join(lines)


@dataclass
class Comparison:
    """``verdicts`` of what both archives hold; ``one_sided``: micro-tests only one ran (``--only``)."""

    header: list[str]
    verdicts: list[Verdict]
    one_sided: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return all(v.equal for v in self.verdicts)

    def describe(self) -> str:
        differing = [v.name for v in self.verdicts if not v.equal]
        summary = ("verdict: the chip equals the CPU rehearsal in every micro-test and layer" if not differing else
                   f"verdict: {len(differing)} of {len(self.verdicts)} differ: {', '.join(differing)} "
                   f"(fix them in this order; docs/loihi2.md, 'The self-test')")
        skipped = [f"not compared (run on one side only): {', '.join(self.one_sided)}"] if self.one_sided else []
        return "\n".join(self.header + [v.describe() for v in self.verdicts] + skipped + [summary])


def first_difference(reference: np.ndarray, got: np.ndarray, array: str, mask: np.ndarray | None = None
                     ) -> Difference | None:
    """The earliest differing entry of ``[N, T]`` (or ``[S, N, T]``: the first
    sample that differs) arrays, ignoring entries where ``mask``; None if equal."""
    differs = reference != got
    if mask is not None:
        differs &= ~mask
    if not differs.any():
        return None
    sample = None
    if differs.ndim == 3:
        sample = int(np.flatnonzero(differs.any(axis=(1, 2)))[0])
        reference, got, differs = reference[sample], got[sample], differs[sample]
    step = int(np.flatnonzero(differs.any(axis=0))[0])
    neuron = int(np.flatnonzero(differs[:, step])[0])
    return Difference(array, neuron, step, int(reference[neuron, step]), int(got[neuron, step]), sample)


def _post_spike_mask(spikes: np.ndarray, reference_v: np.ndarray, got_v: np.ndarray, post_spike: list[int]
                     ) -> np.ndarray:
    """Where the reference fired and read 0, and the chip reads a measured post-spike value."""
    values = [v for v in post_spike if v != 0]
    return (spikes != 0) & (reference_v == 0) & np.isin(got_v, values)


def _shift(reference: np.ndarray, got: np.ndarray) -> int | None:
    """``k > 0`` where ``got`` is ``reference`` moved ``k`` steps later (``k < 0``:
    earlier), up to 4; None otherwise (or where they are equal or empty)."""
    if np.array_equal(reference, got) or not reference.any():
        return None
    for k in _SHIFTS:
        if np.array_equal(got[..., k:], reference[..., :-k]) and not got[..., :k].any():
            return k
        if np.array_equal(reference[..., k:], got[..., :-k]) and not reference[..., :k].any():
            return -k
    return None


def _resets(voltage: np.ndarray) -> list[int]:
    """Columns where the first neuron's rising voltage stops rising (the
    LIFReset micro-tests drive it up every step: a reset)."""
    v = voltage.reshape(-1, voltage.shape[-1])[0]
    return [int(t) for t in range(1, v.size) if v[t - 1] > 0 and v[t] <= v[t - 1]]


def _diagnose(name: str, reference: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> list[str]:
    """What a difference looks like, in the terms of the fallbacks."""
    notes = []
    ref_v, got_v = reference["voltage"], got["voltage"]
    wrong = ref_v != got_v
    if wrong.any() and np.all((got_v[wrong] - ref_v[wrong] == _RAW) & (ref_v[wrong] < 0)):
        notes.append("every differing voltage is the reference's plus 2^24: raw 24-bit values, not sign-extended")
    for what in ("spikes", "voltage"):
        k = _shift(reference[what], got[what])
        if k:
            notes.append(f"the chip's {what} are the CPU's, {abs(k)} step(s) {'later' if k > 0 else 'earlier'}")
    if name.startswith("lifreset") and wrong.any():
        ref_resets, chip_resets = _resets(ref_v), _resets(got_v)
        if len(ref_resets) == len(chip_resets) and ref_resets:
            shifts = {c - r for r, c in zip(ref_resets, chip_resets)}
            if len(shifts) == 1 and 0 not in shifts:
                k = shifts.pop()
                notes.append(f"v falls at columns {ref_resets} on the CPU and {chip_resets} on the chip: the reset "
                             f"comes {abs(k)} step(s) {'late' if k > 0 else 'early'}")
        elif not chip_resets:
            notes.append(f"v never falls on the chip (CPU: at columns {ref_resets}): the reset does not happen")
    if name.startswith("readout_vth") or name.startswith("delay"):
        for n in range(reference["spikes"].shape[0]):
            ref_at = np.flatnonzero(reference["spikes"][n]).tolist()
            chip_at = np.flatnonzero(got["spikes"][n]).tolist()
            if ref_at != chip_at:
                notes.append(f"neuron {n} fires at {_listing(ref_at)} on the CPU, at {_listing(chip_at)} on the chip")
    return notes


def _listing(columns: list[int], most: int = 6) -> str:
    return "no step" if not columns else \
        ", ".join(map(str, columns[:most])) + (f", ... ({len(columns)} in all)" if len(columns) > most else "")


def _compare_arrays(name: str, reference: dict[str, np.ndarray], got: dict[str, np.ndarray], post_spike: list[int],
                    sample_axis: bool = False) -> Verdict:
    if reference["spikes"].shape != got["spikes"].shape:
        return Verdict(name, False, f"shapes differ: {reference['spikes'].shape} (cpu) vs {got['spikes'].shape} "
                                    f"(chip)")
    mask = _post_spike_mask(reference["spikes"], reference["voltage"], got["voltage"], post_spike)
    differences = [d for d in (first_difference(reference["spikes"], got["spikes"], "spikes"),
                               first_difference(reference["voltage"], got["voltage"], "voltage", mask)) if d]
    return Verdict(name, not differences, differences=differences, tolerated=int(mask.sum()))


def _micro_verdicts(chip: Archive, cpu: Archive, post_spike: list[int], one_sided: list[str]) -> list[Verdict]:
    verdicts = []
    for test in MICRO_TESTS:
        ran = [archive.meta["tests"].get(test.name) for archive in (cpu, chip)]
        if None in ran:
            if ran != [None, None]:
                one_sided.append(test.name)
            continue
        status = [r["status"] for r in ran]
        if status != ["ok", "ok"]:
            messages = [f"{side}: {s}{' (' + r['message'] + ')' if r.get('message') else ''}"
                        for side, s, r in zip(("cpu", "chip"), status, ran)]
            verdicts.append(Verdict(test.name, False, "; ".join(messages), fallback=test.fallback))
            continue
        arrays = [{key: a.arrays[f"{test.name}/{key}"] for key in ("spikes", "voltage")} for a in (cpu, chip)]
        verdict = _compare_arrays(test.name, *arrays, post_spike)
        if not verdict.equal:
            verdict.diagnosis = _diagnose(test.name, *arrays)
            verdict.fallback = test.fallback
        verdicts.append(verdict)
    return verdicts


def _network_verdicts(chip: Archive, cpu: Archive, post_spike: list[int], one_sided: list[str]) -> list[Verdict]:
    runs = [a.meta.get("network") for a in (cpu, chip)]
    if None in runs:
        if runs != [None, None]:
            one_sided.append("the network")
        return []
    if any(r["status"] != "ok" for r in runs):
        problem = "; ".join(f"{side}: {r['status']} {r['message']}" for side, r in zip(("cpu", "chip"), runs))
        return [Verdict("network", False, problem, fallback="fix the micro-tests that differ first")]
    if not np.array_equal(cpu.arrays["network/input"], chip.arrays["network/input"]) or \
            runs[0]["layers"] != runs[1]["layers"]:
        return [Verdict("network", False, "the two archives ran different inputs or networks")]
    verdicts = []
    for layer in range(1, runs[0]["layers"] + 1):
        arrays = [{key: a.arrays[f"network/layer{layer}/{key}"] for key in ("spikes", "voltage")} for a in (cpu, chip)]
        verdict = _compare_arrays(f"network layer {layer}", *arrays, post_spike)
        if not verdict.equal:
            verdict.fallback = "the first micro-test that differs says what to switch; if all are equal, report " \
                               "this layer, sample and step"
        verdicts.append(verdict)
    return verdicts


def _header(chip: Archive, cpu: Archive) -> list[str]:
    lines = []
    for side, archive in (("chip", chip), ("cpu", cpu)):
        meta = archive.meta
        packages = meta.get("environment", {}).get("packages", {})
        versions = ", ".join(f"{k} {v}" for k, v in packages.items() if k.startswith(("lava", "nx")))
        calibration = meta.get("calibration", {})
        offsets = calibration.get("offsets")
        measured = (f"offsets spikes {offsets[0]}, voltage {offsets[1]}; post-spike voltage "
                    f"{calibration.get('post_spike')}" if offsets else f"calibration {calibration.get('status')}: "
                    f"{calibration.get('message', '')}")
        lines.append(f"{side} ({archive.path}): {meta.get('describe')}; {versions}; {measured}")
    return lines


def compare_archives(chip: Archive, cpu: Archive) -> Comparison:
    """Every micro-test and layer of ``chip`` against ``cpu`` (the reference)."""
    post_spike = chip.meta.get("calibration", {}).get("post_spike") or []
    one_sided: list[str] = []
    verdicts = _micro_verdicts(chip, cpu, post_spike, one_sided) + _network_verdicts(chip, cpu, post_spike, one_sided)
    return Comparison(_header(chip, cpu), verdicts, one_sided)
