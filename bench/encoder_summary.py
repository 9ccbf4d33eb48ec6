"""Issue 28's encoder comparison in one file: log-mel features, the import's cochlea
chain and the delta encoder's defaults on held-out speakers of both synthetic sets,
gathered from the raw study files in bench/results/encoders/ (each figure names
the file and row it came from), with the issue's targets checked.

Raw files (copied from the runs' --out files; BENCHMARKS.md, "Encoders (issue 28)",
gives each run's command):

- set 1 (320 recordings, 16 speakers, 4 held out): ``set1_grid.json`` and
  ``set1_crsnn.json`` (bench/encoder_study.py: delta linear, GRU, CRSNN; cochlea
  linear), ``../encoding_study.json`` (bench/encoding_study.py, issue 16: the
  cochlea's GRU and CRSNN, log-mel's GRU; its ``trim_centre_band / count>=5`` row
  is today's cochlea default: trimmed, centred, clip RMS 0.3, 700 channels to
  4 kHz, pool 5, ``min_spikes`` 5);
- set 2 (800 recordings, 40 speakers, 10 held out): ``set2.json`` (linear),
  ``set2_crsnn_s*.json`` and ``set2_cochlea_crsnn_s2.json`` (CRSNN),
  ``set2_gru.json`` and ``set2_gru_logmel.json`` (GRU), ``../encoding_study_800.json``
  (the cochlea's CRSNN seeds 0 and 1).

    .venv/bin/python bench/encoder_summary.py   # writes bench/results/encoders.json
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
RAW = RESULTS / "encoders"
DELTA, COCHLEA, LOG_MEL = "delta-c128-s4-r30-l1/p1-k1", "cochlea/p5-k5", "log-mel 40, trimmed + centred"
OLD_COCHLEA = "trim_centre_band / count>=5"  # encoding_study.py's name of the same chain and binning
TARGETS = {"gru_points_below_log_mel": 2.0, "linear_points_below_log_mel": 5.0, "crsnn_points_above_cochlea": 5.0}


def load(name: str) -> dict:
    return json.loads((RAW / name).read_text()) if (RAW / name).exists() else json.loads((RESULTS / name).read_text())


def row(name: str, key: str) -> dict:
    return load(name).get("rows", {}).get(key, {})


def seeds(values: dict, source: str) -> dict:
    """``{"seeds": {seed: %}, "mean": %, "source": ...}`` of accuracies 0-1 per seed."""
    percent = {seed: round(100 * value, 2) for seed, value in sorted(values.items())}
    return {"seeds": percent, "mean": round(float(np.mean(list(percent.values()))), 2) if percent else None,
            "source": source}


def merged(*parts: tuple[str, dict]) -> dict:
    values, sources = {}, []
    for source, part in parts:
        if part:
            values.update(part)
            sources.append(f"{source} (seeds {', '.join(sorted(part))})")
    return seeds(values, "; ".join(sources))


def set_one() -> dict:
    old = load("encoding_study.json")
    delta = row("set1_grid.json", DELTA)
    return {
        "recordings": 320, "test_speakers": 4, "test_recordings": 80,
        "log-mel": {"linear": {"value": 100 * old["linear"][LOG_MEL], "source": "encoding_study.json linear"},
                    "gru": seeds(old["rows"][LOG_MEL], f"encoding_study.json rows[{LOG_MEL!r}]")},
        "cochlea": {"linear": {"value": 100 * row("set1_grid.json", COCHLEA)["linear"],
                               "source": f"set1_grid.json rows[{COCHLEA!r}]"},
                    "gru": seeds(old["rows"][OLD_COCHLEA], f"encoding_study.json rows[{OLD_COCHLEA!r}]"),
                    "crsnn": seeds(old["crsnn"]["trim_centre_band / min_spikes 5"],
                                   "encoding_study.json crsnn['trim_centre_band / min_spikes 5']"),
                    "rates": row("set1_grid.json", COCHLEA)["rates"]},
        "delta": {"linear": {"value": 100 * delta["linear"], "source": f"set1_grid.json rows[{DELTA!r}]"},
                  "gru": seeds(delta["gru"], f"set1_grid.json rows[{DELTA!r}]"),
                  "crsnn": seeds(row("set1_crsnn.json", DELTA)["crsnn"], f"set1_crsnn.json rows[{DELTA!r}]"),
                  "rates": delta["rates"]}}


def set_two() -> dict:
    first = load("set2.json")["rows"]
    crsnn = [(f"set2_crsnn_s{s}.json", row(f"set2_crsnn_s{s}.json", DELTA).get("crsnn", {})) for s in range(3)]
    old = load("encoding_study_800.json")["crsnn"]["trim_centre_band / min_spikes 5"]
    return {
        "recordings": 800, "test_speakers": 10, "test_recordings": 200,
        "log-mel": {"linear": {"value": 100 * first[LOG_MEL]["linear"], "source": "set2.json"},
                    "gru": merged(("set2_gru_logmel.json", row("set2_gru_logmel.json", LOG_MEL).get("gru", {})))},
        "cochlea": {"linear": {"value": 100 * first[COCHLEA]["linear"], "source": "set2.json"},
                    "gru": merged(("set2_gru.json", row("set2_gru.json", COCHLEA).get("gru", {}))),
                    "crsnn": merged(("encoding_study_800.json", old),
                                    ("set2_cochlea_crsnn_s2.json",
                                     row("set2_cochlea_crsnn_s2.json", COCHLEA).get("crsnn", {}))),
                    "rates": first[COCHLEA]["rates"]},
        "delta": {"linear": {"value": 100 * first[DELTA]["linear"], "source": "set2.json"},
                  "gru": merged(("set2_gru.json", row("set2_gru.json", DELTA).get("gru", {}))),
                  "crsnn": merged(*crsnn),
                  "rates": first[DELTA]["rates"]}}


def targets(data: dict) -> dict:
    """The issue's targets on one set: GRU on delta within 2 points of GRU on log-mel, the
    linear reference within 5, the CRSNN mean >= 5 points above the cochlea's."""
    mel, cochlea, delta = data["log-mel"], data["cochlea"], data["delta"]
    checks = {}
    pairs = {"gru_points_below_log_mel": (mel["gru"]["mean"], delta["gru"]["mean"]),
             "linear_points_below_log_mel": (mel["linear"]["value"], delta["linear"]["value"]),
             "crsnn_points_above_cochlea": (delta["crsnn"]["mean"], cochlea["crsnn"]["mean"])}
    for name, (a, b) in pairs.items():
        if a is None or b is None:
            checks[name] = {"value": None, "met": None}
            continue
        gap = round(a - b, 2)
        met = gap >= TARGETS[name] if name == "crsnn_points_above_cochlea" else gap <= TARGETS[name]
        checks[name] = {"value": gap, "target": TARGETS[name], "met": bool(met)}
    return checks


def main():
    summary = {"set1": set_one(), "set2": set_two(), "speed": load("encoder_speed.json")}
    for name in ("set1", "set2"):
        summary[name]["targets"] = targets(summary[name])
    (RESULTS / "encoders.json").write_text(json.dumps(summary, indent=1) + "\n")
    for name in ("set1", "set2"):
        print(name)
        for encoder in ("log-mel", "cochlea", "delta"):
            entry = summary[name][encoder]
            cells = [f"linear {entry['linear']['value']:.1f}"]
            for model in ("gru", "crsnn"):
                if model in entry:
                    cells.append(f"{model} {' '.join(f'{v:.2f}' for v in entry[model]['seeds'].values())} "
                                 f"(mean {entry[model]['mean']})")
            if "rates" in entry:
                cells.append(f"{entry['rates']['input_spikes_per_s_per_input']:.2f} spikes/s/input, "
                             f"{entry['rates']['events_per_s_per_event_channel']:.2f} events/s/channel")
            print(f"  {encoder:8s} " + "; ".join(cells))
        print("  targets:", json.dumps(summary[name]["targets"]))


if __name__ == "__main__":
    main()
