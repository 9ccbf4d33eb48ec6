"""Spoken-digit generator end to end on a few utterances; encode and show."""
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from lava_convdelay.cli import main
from lava_convdelay.data import SHDDataset, read_shd
from lava_convdelay.data.digits import KEYS, generate_split, make_speakers
from lava_convdelay.data.generate import GeneratorConfig, cache_dir, default_dataset, generate
from lava_convdelay.errors import UserError

pytestmark = pytest.mark.slow  # each test synthesises a data set (minutes on 2 cores)

TINY = GeneratorConfig(per_class=1, test_per_class=1, train_speakers=3, test_speakers=2, seed=5)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    return out, generate(out, TINY, workers=2, progress=False)


def test_generated_files_are_shd_and_complete(tiny_set):
    _, (train, test) = tiny_set
    data = read_shd(train)
    assert data["keys"] == KEYS and len(KEYS) == 20
    assert sorted(data["labels"].tolist()) == list(range(20))
    assert set(data["speaker"].tolist()) <= {0, 1, 2}
    assert set(read_shd(test)["speaker"].tolist()) <= {3, 4}  # disjoint test speakers
    counts = [t.size for t in data["times"]]
    assert min(counts) > 500  # every utterance produced a real spike pattern
    x, _ = SHDDataset(train)[0]
    assert x.shape == (140, 100) and 0.01 < float(x.mean()) < 0.9
    # speech stands out of the cochlea model's spontaneous activity
    per_step = np.sort(x.sum(0).numpy())[::-1]
    assert per_step[:10].mean() > 1.5 * np.median(per_step)
    # like SHD's aligned recordings, each utterance is converted at its word's own
    # length: samples end at different times, before the 1-s bins end
    ends = np.array([float(t.max()) for t in data["times"]])
    assert ends.max() < 1.0 and ends.max() - ends.min() > 0.1


def test_deterministic_whatever_the_worker_count(tiny_set, tmp_path):
    """The test split (two speakers, two worker tasks) again, in one process."""
    _, (_, test) = tiny_set
    again = generate_split(TINY, "test", tmp_path / "test.h5", workers=1, progress=False, parts=tmp_path / "parts")
    a, b = read_shd(test), read_shd(again)
    assert len(a["times"]) == len(b["times"]) == 20
    assert np.array_equal(a["labels"], b["labels"]) and np.array_equal(a["speaker"], b["speaker"])
    assert all(np.array_equal(x, y) for x, y in zip(a["times"], b["times"]))
    assert all(np.array_equal(x, y) for x, y in zip(a["units"], b["units"]))


def test_existing_files_are_reused_and_mismatches_refused(tiny_set):
    out, (train, test) = tiny_set
    before = train.stat().st_mtime_ns
    assert generate(out, TINY, progress=False) == (train, test)
    assert train.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="other settings"):
        generate(out, GeneratorConfig(per_class=2), progress=False)


def test_foreign_files_are_not_taken_for_generated_ones(tmp_path):
    (tmp_path / "train.h5").write_bytes(b"someone else's data")
    with pytest.raises(ValueError, match="did not make"):
        generate(tmp_path, TINY, progress=False)
    assert not (tmp_path / "generator.json").exists()


def test_default_dataset_reuses_the_cache(tiny_set, tmp_path, monkeypatch):
    """A complete set in the cache folder for the asked settings is returned as is."""
    out, (train, test) = tiny_set
    monkeypatch.setenv("LAVA_CONVDELAY_DATA", str(tmp_path))
    config = GeneratorConfig(per_class=1, seed=5)
    folder = cache_dir(config)
    assert folder.parent == tmp_path and folder != cache_dir(GeneratorConfig(per_class=1, seed=6))
    folder.mkdir()
    shutil.copy(train, folder / "train.h5")
    shutil.copy(test, folder / "test.h5")
    (folder / "generator.json").write_text(json.dumps(config.settings()))
    before = (folder / "train.h5").stat().st_mtime_ns
    assert default_dataset(progress=False, per_class=1, seed=5) == (folder / "train.h5", folder / "test.h5")
    assert (folder / "train.h5").stat().st_mtime_ns == before


def test_speakers_are_distinct_voices():
    speakers = make_speakers(GeneratorConfig())
    assert len({s.variant for s in speakers}) == len(speakers) == 16


def test_a_missing_voice_is_a_one_line_user_error():
    """An eSpeak NG install without the language is an installation problem the CLI reports in one line."""
    from lava_convdelay.data.speech import Synthesizer, Voice
    with pytest.raises(UserError, match="eSpeak NG has no voice 'xx-none\\+m2'"):
        Synthesizer().say("seven", "xx-none", Voice("m2", 150, 50, 50, 100))


def test_show_and_encode(tiny_set, tmp_path, capsys):
    _, (train, _) = tiny_set
    assert main(["data", "show", str(train), "-o", str(tmp_path / "raster.png"), "--per-class", "1"]) == 0
    assert (tmp_path / "raster.png").read_bytes()[:4] == b"\x89PNG"
    from lava_convdelay.data.speech import Synthesizer, Voice
    audio = Synthesizer().say("seven", "en", Voice("m2", 150, 50, 50, 100))
    wavfile.write(tmp_path / "seven.wav", 22050, (audio * 20000).astype(np.int16))
    assert main(["encode", str(tmp_path / "seven.wav"), "-o", str(tmp_path / "seven.npy")]) == 0
    spikes = np.load(tmp_path / "seven.npy")
    assert spikes.shape == (140, int(round(audio.size / 22050 / 0.01))) and spikes.sum() > 100
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    assert main(["encode", str(tmp_path / "bad.wav"), "-o", str(tmp_path / "x.npy")]) == 2
    assert "not a readable WAV file" in capsys.readouterr().err
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize("change,message", [
    ({"per_class": 0}, "per_class must be an integer >= 1"),
    ({"per_class": 2.5}, "per_class must be an integer >= 1"),
    ({"seed": -3}, "seed must be an integer >= 0"),
    ({"train_speakers": 15, "test_speakers": 4}, "at most 18 speakers"),
])
def test_unusable_settings_are_refused(change, message):
    with pytest.raises(UserError, match=message):
        GeneratorConfig(**change)


def _first_training_sample(config, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first utterance of the training split, made as generate() makes it: a
    chunk in a fresh process (the chunk's other utterances come after it)."""
    import multiprocessing

    from lava_convdelay.data import digits
    from lava_convdelay.data.parts import load_part
    speaker, voice, utterances = digits._plan(config, "train")[0]
    job = (folder / "part.npz", config, speaker, voice, utterances[:1])
    with multiprocessing.get_context("fork").Pool(1) as pool:
        pool.apply(digits._speaker_job, (job,))
    times, units, _ = load_part(job[0])
    return times[0], units[0]


def test_the_demo_data_is_unchanged(tmp_path):
    """The default set's cache folder and first sample, as recorded from the code
    before word lists existed (the cached demo data: train.h5 sha256 33258dcf...,
    test.h5 962abc1e...); vocabulary and noise settings must not reach its key."""
    config = GeneratorConfig()
    assert cache_dir(config).name == "spoken-digits-v2-de57e1682c46"
    assert config.settings() == {"per_class": 30, "test_per_class": 10, "train_speakers": 12, "test_speakers": 4,
                                 "seed": 0, "channels": 700, "version": 2}
    assert GeneratorConfig(vocabulary="digits", per_class=30, train_speakers=12) == config
    times, units = _first_training_sample(config, tmp_path)
    assert times.dtype == np.float32 and units.dtype == np.uint16 and times.size == 9820
    digest = hashlib.sha256(times.tobytes() + units.tobytes()).hexdigest()
    assert digest == "c8746fde1c38c72203ea665230d62fded49d18e548ecc8de5461ac4b50237363"
