"""Generated word-list sets (speech commands or the user's words): vocabulary,
voices, noise, determinism and resuming, on a few utterances end to end."""
import filecmp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from lava_convdelay.data import SHDDataset, read_shd
from lava_convdelay.data.generate import GeneratorConfig, GeneratorConfigError, cache_dir, generate
from lava_convdelay.data.noise import KINDS, add_noise, background, coloured_noise
from lava_convdelay.data.parts import run_parts, save_part
from lava_convdelay.data.spoken_words import draw_noise, utterance_plan
from lava_convdelay.data.vocabulary import (
    SPEECH_COMMANDS,
    VocabularyError,
    check_words,
    read_word_list,
    vocabulary_setting,
)
from lava_convdelay.data.voices import (
    ACCENTS,
    PITCH,
    PITCH_RANGE,
    RATE,
    TEST_ACCENTS,
    TEST_VARIANTS,
    VARIANTS,
    max_speakers,
    voice_plan,
)

TINY = GeneratorConfig(vocabulary=["yes", "no", "visual"], per_class=2, test_per_class=1, train_speakers=3,
                       test_speakers=2, seed=3, snr_db=(5, 20))
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    """The tiny set, generated in a fresh process (see the killed-run test)."""
    out = tmp_path_factory.mktemp("words")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    made = subprocess.run([sys.executable, "-c", RUN.format(config=TINY, workers=2), str(out)], env=env, cwd=REPO,
                          capture_output=True)
    assert made.returncode == 0, made.stderr.decode()[-2000:]
    return out, (out / "train.h5", out / "test.h5")


# --- vocabulary ---------------------------------------------------------------------------------------------

def test_speech_commands_is_the_35_keywords_with_its_defaults():
    assert len(SPEECH_COMMANDS) == 35 == len(set(SPEECH_COMMANDS))
    assert {"marvin", "sheila", "visual", "learn", "follow", "zero", "nine"} <= set(SPEECH_COMMANDS)
    config = GeneratorConfig(vocabulary="speech-commands")
    assert config.words == SPEECH_COMMANDS
    assert (config.per_class, config.test_per_class, config.train_speakers, config.test_speakers,
            config.snr_db) == (100, 30, 400, 40, (0.0, 30.0))
    assert cache_dir(config).name.startswith("speech-commands-v1-")


def test_own_word_list():
    config = GeneratorConfig(vocabulary=["lights on", "o'clock", "rock-and-roll", "café"])
    assert config.words == ("lights on", "o'clock", "rock-and-roll", "café")
    assert cache_dir(config).name.startswith("spoken-words-v1-")
    assert config.settings()["words"] == ["lights on", "o'clock", "rock-and-roll", "café"]


@pytest.mark.parametrize("words,message", [
    (["yes", ""], "word 2 is empty"),
    (["yes", "   "], "word 2 is empty"),
    (["yes", " no"], "word 2 ' no' has leading or trailing spaces"),
    (["yes", "no", "Yes"], "'Yes' \\(word 3\\) repeats word 1 'yes'"),
    (["yes", "r2d2"], "word 2 'r2d2' is not a word"),
    (["yes", "stop!"], "word 2 'stop!' is not a word"),
    (["yes", "two  words"], "word 2 'two  words' is not a word"),
    (["yes", "да"], "word 2 'да' is not a word"),
    (["yes", "🙂"], "word 2 '🙂' is not a word"),
    (["yes", 7], "word 2 must be a string"),
    (["yes"], "1 word\\(s\\); a classifier needs at least 2"),
    ("yes", "expected a list of words"),
])
def test_bad_word_lists_are_refused_naming_the_word(words, message):
    with pytest.raises(VocabularyError, match=message):
        check_words(words)
    if not isinstance(words, str):
        with pytest.raises(GeneratorConfigError, match=message):
            GeneratorConfig(vocabulary=words)


def test_unknown_vocabulary_name():
    with pytest.raises(GeneratorConfigError, match="vocabulary must be one of digits, speech-commands"):
        GeneratorConfig(vocabulary="speech_commands")


def test_word_list_files(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("# my keywords\nlights on\n\n  lights off  \nmusic\n", encoding="utf-8")
    assert read_word_list(path) == ("lights on", "lights off", "music")
    assert vocabulary_setting(str(path)) == ("lights on", "lights off", "music")
    assert vocabulary_setting("speech-commands") == "speech-commands"
    assert vocabulary_setting("digits") == "digits"
    assert vocabulary_setting(["a", "b"]) == ("a", "b")
    path.write_text("music\nMusic\n")
    with pytest.raises(VocabularyError, match=f"{path}: 'Music' \\(word 2\\) repeats word 1"):
        read_word_list(path)
    path.write_bytes(b"caf\xe9\nbar\n")
    with pytest.raises(VocabularyError, match="not UTF-8"):
        read_word_list(path)
    with pytest.raises(VocabularyError, match="neither a vocabulary .* nor an existing word-list file"):
        vocabulary_setting(str(tmp_path / "missing.txt"))
    with pytest.raises(VocabularyError, match="is a folder"):
        read_word_list(tmp_path)
    path.write_bytes(b"a\n" * (1 << 19) + b"b\n")
    with pytest.raises(VocabularyError, match="a word list has at most"):
        read_word_list(path)


def test_a_word_espeak_cannot_fit_in_a_clip_is_refused_before_anything_is_written(tmp_path):
    config = GeneratorConfig(vocabulary=["yes", "uncharacteristically"])
    with pytest.raises(GeneratorConfigError, match="'uncharacteristically': lasts .* s"):
        generate(tmp_path / "out", config, progress=False)
    assert not (tmp_path / "out" / "generator.json").exists()


# --- settings and cache key ---------------------------------------------------------------------------------

@pytest.mark.parametrize("change,message", [
    ({"snr_db": (10, 5)}, "snr_db must be \\[lowest, highest\\] dB"),
    ({"snr_db": (0, 30, 40)}, "snr_db must be"),
    ({"snr_db": "0-30"}, "snr_db must be"),
    ({"snr_db": (-50, 0)}, "snr_db must be"),
    ({"train_speakers": 481}, "train_speakers: at most 480"),
    ({"test_speakers": 49}, "test_speakers: at most 48"),
    ({"per_class": 0}, "per_class must be an integer >= 1"),
])
def test_unusable_word_settings_are_refused(change, message):
    with pytest.raises(GeneratorConfigError, match=message):
        GeneratorConfig(vocabulary="speech-commands", **change)


def test_digits_refuse_a_noise_range():
    with pytest.raises(GeneratorConfigError, match="snr_db applies to word lists"):
        GeneratorConfig(snr_db=(0, 30))


def test_every_setting_is_in_the_cache_key():
    base = GeneratorConfig(vocabulary="speech-commands")
    changed = [GeneratorConfig(vocabulary="digits"), GeneratorConfig(vocabulary=list(SPEECH_COMMANDS[:-1])),
               GeneratorConfig(vocabulary=list(SPEECH_COMMANDS[::-1]))]
    changed += [GeneratorConfig(vocabulary="speech-commands", **{name: value}) for name, value in
                (("per_class", 101), ("test_per_class", 31), ("train_speakers", 401), ("test_speakers", 39),
                 ("seed", 1), ("channels", 350), ("snr_db", (0, 31)))]
    digests = {base.digest()} | {c.digest() for c in changed}
    assert len(digests) == 1 + len(changed)
    assert GeneratorConfig(vocabulary=list(SPEECH_COMMANDS)).words == base.words
    assert GeneratorConfig(vocabulary=list(SPEECH_COMMANDS)).digest() != base.digest()  # named apart


# --- voices -------------------------------------------------------------------------------------------------

def test_test_voices_are_unseen_in_accent_and_variant():
    plan = voice_plan(400, 40, seed=0)
    assert (len(plan.train), len(plan.test)) == (400, 40)
    assert len(plan.test_accents) == TEST_ACCENTS == 2 and len(plan.test_variants) == TEST_VARIANTS == 24
    assert not set(plan.train_accents) & set(plan.test_accents)
    assert not set(plan.train_variants) & set(plan.test_variants)
    assert sorted(plan.train_accents + plan.test_accents) == sorted(ACCENTS)
    assert sorted(plan.train_variants + plan.test_variants) == sorted(VARIANTS)
    for side, accents, variants in ((plan.train, plan.train_accents, plan.train_variants),
                                    (plan.test, plan.test_accents, plan.test_variants)):
        pairs = [(s.accent, s.voice.variant) for s in side]
        assert len(set(pairs)) == len(pairs)  # every speaker its own accent x variant
        assert {a for a, _ in pairs} <= set(accents) and {v for _, v in pairs} <= set(variants)
        for s in side:
            assert RATE[0] <= s.voice.rate <= RATE[1] and PITCH[0] <= s.voice.pitch <= PITCH[1]
            assert PITCH_RANGE[0] <= s.voice.pitch_range <= PITCH_RANGE[1]
    assert len({s.accent for s in plan.train}) == len(ACCENTS) - TEST_ACCENTS
    assert max_speakers() == (6 * 80, 2 * 24)
    assert voice_plan(400, 40, seed=0) == plan and voice_plan(400, 40, seed=1) != plan


def test_utterances_are_dealt_evenly_to_the_split_speakers():
    config = GeneratorConfig(vocabulary="speech-commands")
    train, test = utterance_plan(config, "train"), utterance_plan(config, "test")
    assert [s for s, _, _ in train] == list(range(400)) and [s for s, _, _ in test] == list(range(400, 440))
    for plan, per_class in ((train, 100), (test, 30)):
        loads = [len(u) for _, _, u in plan]
        assert sum(loads) == 35 * per_class and max(loads) - min(loads) <= 1
        labels = np.bincount([label for _, _, u in plan for _, label in u])
        assert labels.tolist() == [per_class] * 35
        # each speaker a random mix of words (dealt in label order, speakers would share word groups)
        said = [frozenset(label for _, label in u) for _, _, u in plan]
        assert len(set(said)) == len(plan)


# --- noise --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_noise_is_mixed_at_the_drawn_snr(kind):
    rng = np.random.default_rng(0)
    babble = coloured_noise(32000, 1, rng)  # stands in for the babble bank here
    speech = np.sin(np.arange(4000) / 7.0) * 0.2
    clip = np.zeros(16000)
    clip[3000:7000] = speech
    noise = background(kind, 16000, rng, babble)
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0, rel=1e-12)
    mixed = add_noise(clip, float(np.sqrt(np.mean(speech**2))), noise, 7.5)
    snr = 10 * np.log10(np.mean(speech**2) / np.mean((mixed - clip) ** 2))
    assert snr == pytest.approx(7.5, abs=1e-9)


@pytest.mark.parametrize("exponent,slope", [(0, 0.0), (1, -1.0), (2, -2.0)])
def test_coloured_noise_has_its_spectral_slope(exponent, slope):
    rng = np.random.default_rng(1)
    power = np.mean([np.abs(np.fft.rfft(coloured_noise(4096, exponent, rng))) ** 2 for _ in range(200)], axis=0)
    f = np.arange(power.size)
    band = (f >= 10) & (f <= 1000)
    fitted = np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.05)


def test_noise_draws_cover_the_range_and_the_kinds():
    rng = np.random.default_rng(2)
    draws = [draw_noise(rng, (0.0, 30.0)) for _ in range(4000)]
    snrs = np.array([s for _, s in draws])
    assert snrs.min() >= 0 and snrs.max() <= 30 and snrs.min() < 0.1 and snrs.max() > 29.9
    assert abs(np.mean(snrs < 15) - 0.5) < 0.03  # uniform
    counts = np.array([sum(k == kind for k, _ in draws) for kind in KINDS])
    assert (abs(counts / len(draws) - 0.25) < 0.03).all()


# --- the generated files ------------------------------------------------------------------------------------

def test_generated_files(tiny_set):
    out, (train, test) = tiny_set
    data, held_out = read_shd(train), read_shd(test)
    assert data["keys"] == held_out["keys"] == ["yes", "no", "visual"]
    assert np.bincount(data["labels"]).tolist() == [2, 2, 2] and np.bincount(held_out["labels"]).tolist() == [1] * 3
    assert set(data["speaker"].tolist()) <= {0, 1, 2} and set(held_out["speaker"].tolist()) <= {3, 4}
    assert '"duration": 1.0' in data["audio_encoding"] and '"normalise": "buffer"' in data["audio_encoding"]
    for path in (train, test):
        with h5py.File(path) as f:
            snr, noise, onset = f["extra/snr_db"][()], f["extra/noise"][()], f["extra/onset"][()]
        assert len(snr) == len(noise) == len(onset) == len(read_shd(path)["labels"])
        assert ((snr >= 5) & (snr <= 20)).all()  # TINY's snr_db
        assert {n.decode() for n in noise} <= set(KINDS) and ((onset >= 0) & (onset < 1)).all()
    ends = [float(t.max()) for t in data["times"]]
    assert min(ends) > 0.95  # noise fills every 1-s clip
    assert min(t.size for t in data["times"]) > 2000
    x, _ = SHDDataset(train, min_spikes=5)[0]
    assert x.shape == (140, 100)
    assert not (out / ".parts").exists()


def test_deterministic_whatever_the_worker_count(tiny_set, tmp_path):
    _, (train, _) = tiny_set
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    again = subprocess.run([sys.executable, "-c", RUN.format(config=TINY, workers=1), str(tmp_path)], env=env,
                           cwd=REPO, capture_output=True)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    assert filecmp.cmp(train, tmp_path / "train.h5", shallow=False)


def test_only_missing_parts_run(tmp_path):
    jobs = [(tmp_path / f"p{i}.npz", i) for i in range(4)]
    save_part(jobs[1][0], [np.zeros(2)], [np.zeros(2)], uid=np.array([1]))
    before = jobs[1][0].stat().st_mtime_ns
    assert run_parts(jobs, _write_part, lambda job: 1, workers=2, progress=False, fresh_process=True) == 3
    assert all(job[0].exists() for job in jobs) and jobs[1][0].stat().st_mtime_ns == before
    assert run_parts(jobs, _write_part, lambda job: 1, workers=2, progress=False) == 0


def _write_part(job):
    path, index = job
    save_part(path, [np.full(3, index)], [np.full(3, index)], uid=np.array([index]))


RUN = """
import sys
from lava_convdelay.data.generate import GeneratorConfig, generate
generate(sys.argv[1], {config!r}, workers={workers}, progress=False)
"""
KILLED_RUN = RUN.replace("{workers}", "1")


def test_a_killed_generation_continues_to_the_same_files(tiny_set, tmp_path):
    _, (train, test) = tiny_set
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN.format(config=TINY), str(out)], env=env, cwd=REPO,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not list((out / ".parts").glob("train-*.npz")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker processes
    proc.wait()
    done = list((out / ".parts").glob("train-*.npz"))
    assert 1 <= len(done) < 3 and not (out / "train.h5").exists(), "the run must be killed halfway"
    # resumed in a fresh process, as a user resumes: forked workers start from their parent's
    # eSpeak state, and this test process may have run eSpeak in other tests
    resumed = subprocess.run([sys.executable, "-c", RUN.format(config=TINY, workers=2), str(out)], env=env,
                             cwd=REPO, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    assert filecmp.cmp(out / "train.h5", train, shallow=False)
    assert filecmp.cmp(out / "test.h5", test, shallow=False)
    assert not (out / ".parts").exists()


@pytest.mark.parametrize("value,message", [
    ("speech-commands", None),
    (["lights on", "lights off"], None),
    ("no-such-list", r"config: data\.vocabulary: 'no-such-list' is neither a vocabulary"),
    (["lights", 3], r"config: data\.vocabulary: word 2 must be a string, got 3"),
])
def test_a_training_config_names_a_vocabulary(value, message):
    from lava_convdelay.training.data_section import DataConfigError, check_data_section
    data = {"source": "generated", "vocabulary": value}
    if message is None:
        assert check_data_section(data).pool == 5
    else:
        with pytest.raises(DataConfigError, match=message):
            check_data_section(data)


def test_vocabulary_applies_to_generated_data_only():
    from lava_convdelay.training.data_section import DataConfigError, check_data_section
    with pytest.raises(DataConfigError, match=r"\['vocabulary'\] apply to source 'generated' only"):
        check_data_section({"source": "shd", "train": "a.h5", "test": "b.h5", "vocabulary": "digits"})


def test_the_speech_commands_config_names_the_keyword_set():
    from lava_convdelay.training import load_config, normalise_config
    config = normalise_config(load_config(REPO / "configs" / "speech_commands.json"))
    assert config["data"]["vocabulary"] == "speech-commands"
    assert config["model"]["layers"][-1]["neurons"] == 35


def test_data_generate_takes_a_vocabulary(tmp_path, monkeypatch, capsys):
    """`data generate --vocabulary` reaches the generator with the word list's defaults;
    a bad vocabulary is one line, exit 2, and nothing is written."""
    from lava_convdelay.cli import main
    from lava_convdelay.data import generate as generate_module
    seen = []
    monkeypatch.setattr(generate_module, "generate", lambda out, config, **kw: seen.append(config) or (out, out))
    words = tmp_path / "words.txt"
    words.write_text("# mine\nlights on\nlights off\n")
    assert main(["data", "generate", "--vocabulary", str(words), "--out", str(tmp_path / "a")]) == 0
    assert seen[0].vocabulary == ("lights on", "lights off") and seen[0].per_class == 100
    assert main(["data", "generate", "--vocabulary", "speech-commands", "--per-class", "5",
                 "--out", str(tmp_path / "b")]) == 0
    assert seen[1].vocabulary == "speech-commands" and seen[1].per_class == 5 and seen[1].test_per_class == 30
    assert main(["data", "generate", "--out", str(tmp_path / "c")]) == 0
    assert seen[2].vocabulary == "digits" and seen[2].per_class == 30
    capsys.readouterr()
    assert main(["data", "generate", "--vocabulary", "no-such-list", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'no-such-list' is neither a vocabulary" in err
    assert not (tmp_path / "d").exists() and len(seen) == 3
