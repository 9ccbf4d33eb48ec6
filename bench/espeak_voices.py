"""Which eSpeak NG voices the generator may use: every English accent x voice
variant of the ``espeakng-loader`` data, synthesized in two fresh processes
started at different times, each with the same seed; a pair whose audio differs
between the two is not reproducible and is left out of
:data:`lava_convdelay.data.voices.VARIANTS`.

eSpeak NG seeds its noise generator (breath, whisper) from the clock when it
initialises; :meth:`lava_convdelay.data.speech.Synthesizer.seed` resets it, which
this check exercises. Writes the per-pair audio digests as JSON.

    .venv/bin/python bench/espeak_voices.py bench/results/espeak_voices.json [--workers 2]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import time
from pathlib import Path

import espeakng_loader

from lava_convdelay.data.speech import Synthesizer, Voice
from lava_convdelay.data.voices import ACCENTS

WORDS = ["seven", "sheila", "visual", "forward"]  # voiced, fricative and long words
SEED = 7


def installed_variants() -> list[str]:
    """Every voice variant file the eSpeak NG data ships."""
    return sorted(os.listdir(Path(espeakng_loader.get_data_path()) / "voices" / "!v"))


def _digests(job: tuple[str, str]) -> tuple[str, str, list[str] | str]:
    """Runs in a fresh process: the audio digests of :data:`WORDS` for one voice."""
    accent, variant = job
    try:
        synth = Synthesizer()
        synth.seed(SEED)
        return accent, variant, [hashlib.sha256(synth.say(word, accent, Voice(variant, 160, 50, 50, 100))
                                                .tobytes()).hexdigest()[:16] for word in WORDS]
    except Exception as err:  # noqa: BLE001  (a voice that fails is recorded as such)
        return accent, variant, f"error: {err}"


def survey(workers: int) -> dict:
    jobs = [(accent, variant) for accent in ACCENTS for variant in installed_variants()]
    runs = []
    for attempt in range(2):
        if attempt:
            time.sleep(2.0)  # a different clock second for eSpeak's own seeding
        with multiprocessing.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
            runs.append(pool.map(_digests, jobs, chunksize=1))
    result = {}
    for (accent, variant, first), (_, _, second) in zip(*runs):
        result.setdefault(variant, {})[accent] = "reproducible" if first == second and isinstance(first, list) \
            else (first if isinstance(first, str) else "differs between runs")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    start = time.perf_counter()
    result = survey(args.workers)
    good = sorted(v for v, by_accent in result.items() if all(s == "reproducible" for s in by_accent.values()))
    args.out.write_text(json.dumps({"accents": ACCENTS, "words": WORDS, "reproducible_in_every_accent": good,
                                    "by_variant": result, "seconds": round(time.perf_counter() - start, 1)},
                                   indent=1))
    print(f"{len(good)} of {len(result)} variants reproducible in all {len(ACCENTS)} accents")
    print(json.dumps(good))


if __name__ == "__main__":
    main()
