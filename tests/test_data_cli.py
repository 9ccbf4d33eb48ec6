"""`data generate` / `encode` argument handling and the WAV reader (no synthesis)."""
import numpy as np
import pytest
from scipy.io import wavfile

import lava_convdelay.data.generate as gen
from lava_convdelay.cli import main
from lava_convdelay.data.audio import MAX_SECONDS, read_wav
from lava_convdelay.errors import UserError


def test_generate_without_out_fills_the_training_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAVA_CONVDELAY_DATA", str(tmp_path))
    calls = []
    monkeypatch.setattr(gen, "generate", lambda out, config, workers, progress:
                        calls.append((out, config, workers)) or (out / "train.h5", out / "test.h5"))
    assert main(["data", "generate", "--per-class", "3", "--seed", "4"]) == 0
    out, config, workers = calls[0]
    assert (config.per_class, config.test_per_class, config.seed, workers) == (3, 10, 4, None)
    # the folder default_dataset(per_class=3, seed=4) reads
    assert out == tmp_path / f"spoken-digits-v{gen.VERSION}-{gen.GeneratorConfig(per_class=3, seed=4).digest()}"
    assert main(["data", "generate", "--out", str(tmp_path / "x"), "--workers", "1"]) == 0
    assert calls[1][0] == tmp_path / "x" and calls[1][2] == 1


@pytest.mark.parametrize("argv,message", [
    (["data", "generate", "--per-class", "0"], "per_class must be an integer >= 1 and <= 10000, got 0"),
    (["data", "generate", "--test-per-class", "-2"], "test_per_class must be an integer >= 1 and <= 10000, got -2"),
    (["data", "generate", "--seed", "-1"], "seed must be an integer >= 0 and <= 4294967295, got -1"),
    (["data", "generate", "--workers", "0"], "--workers must be an integer >= 1, got 0"),
    (["encode", "in.wav", "-o", "x.npy", "--pool", "3"], "--pool=3 does not divide the 700 channels"),
    (["encode", "in.wav", "-o", "x.npy", "--dt", "0"], "--dt must be a number > 0 and <= 3600, got 0.0"),
    (["encode", "in.wav", "-o", "x.npy", "--seed", "-1"], "--seed must be an integer >= 0 and <= 4294967295, got -1"),
    (["data", "show", "x.h5", "--dt", "nan"], "--dt must be a number > 0 and <= 3600, got nan"),
    (["data", "show", "x.h5", "--per-class", "0"], "--per-class must be an integer >= 1, got 0"),
])
def test_bad_options_are_user_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAVA_CONVDELAY_DATA", str(tmp_path))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_wav_formats(tmp_path):
    tone = np.sin(2 * np.pi * 440 * np.arange(800) / 8000)
    wavfile.write(tmp_path / "u8.wav", 8000, np.round(128 + 100 * tone).astype(np.uint8))
    audio, rate = read_wav(tmp_path / "u8.wav")
    assert rate == 8000 and abs(audio.mean()) < 0.5 and np.allclose(audio, 100 * tone, atol=0.5)
    wavfile.write(tmp_path / "st.wav", 8000, np.stack([tone, -tone / 2], 1).astype(np.float32))
    audio, _ = read_wav(tmp_path / "st.wav")
    assert np.allclose(audio, tone / 4, atol=1e-6)
    wavfile.write(tmp_path / "long.wav", 1000, np.zeros(int(MAX_SECONDS + 1) * 1000, np.int16))
    with pytest.raises(UserError, match=f"more than the {MAX_SECONDS:g} s allowed") as err:
        read_wav(tmp_path / "long.wav")
    assert str(tmp_path / "long.wav") in str(err.value)


def test_show_plots_the_longest_sample_by_default(tmp_path, monkeypatch, capsys):
    import lava_convdelay.training.plots as plots
    from lava_convdelay.data import write_shd
    write_shd(tmp_path / "d.h5", [np.array([0.1, 0.5]), np.array([0.2, 1.73])], [np.array([3, 4]), np.array([5, 6])],
              [0, 1], ["a", "b"])
    shown = []
    monkeypatch.setattr(plots, "plot_dataset", lambda data, out, per_class: shown.append(data))
    assert main(["data", "show", str(tmp_path / "d.h5")]) == 0
    x, _ = shown[0][1]
    assert x.shape == (700, 1731) and x[6, 1730] == 1  # the spike at 1.73 s is in the last 1 ms bin
    assert main(["data", "show", str(tmp_path / "d.h5"), "--duration", "1.0"]) == 0
    assert shown[1][1][0].shape == (700, 1000)
