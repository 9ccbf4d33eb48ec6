"""The encoder options of `data import` and `encode` (issue 28): `--encoder` and the
delta encoder's `--channels`, `--levels`, `--step-db`, `--range-db`, end to end
(the record in the files, the events, the printed data section), the import's
default encoder, each bad value as one line with exit 2; a network trained on a
CLI import with non-default delta settings, whose `classify` on a WAV gives the
scores of the imported test sample and whose `inspect` names the encoder."""
import json

import numpy as np
import pytest
from factories import train_and_export
from scipy.io import wavfile

from lava_convdelay.cli import main
from lava_convdelay.cli.data import IMPORT_ENCODER
from lava_convdelay.data import importer
from lava_convdelay.data.audio import read_wav
from lava_convdelay.data.audio_encoding import AudioEncoding
from lava_convdelay.data.mel_delta import MelDelta
from lava_convdelay.data.shd import SHDDataset, bin_spikes, read_shd
from lava_convdelay.nn.readout import scores
from netx_export.reader import read_network
from sim.fixed_point import simulate

#: non-default delta settings: 8 bands x 2 parts x up/down, 3-dB steps within 24 dB
DELTA_ARGS = ["--encoder", "delta", "--channels", "32", "--levels", "2", "--step-db", "3", "--range-db", "24"]
DELTA = {"encoder": "delta", "channels": 32, "levels": 2, "step_db": 3.0, "range_db": 24.0}


def _tone(path, frequency, seconds=0.4, rate=16000):
    """A tone rising by 20 dB half way, between 0.1-s silences (int16)."""
    n = np.arange(int(seconds * rate))
    x = 0.05 * np.sin(2 * np.pi * frequency * n / rate) * np.where(n < n.size // 2, 1.0, 10.0)
    x = np.concatenate([np.zeros(rate // 10), x, np.zeros(rate // 10)])
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, np.round(x * 30000).astype(np.int16))


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """Two classes of tones (distinct: the import refuses copies), 2 training and 1 test
    recording each; a CSV manifest."""
    root = tmp_path_factory.mktemp("tones")
    rows = []
    for i, (label, frequency) in enumerate([("low", 300.0), ("high", 1500.0)] * 3):
        name = f"{label}/r{i}.wav"
        _tone(root / name, frequency + 15 * i)
        rows.append(f"{name},{label},{'test' if i >= 4 else 'train'}")
    (root / "m.csv").write_text("path,label,split\n" + "\n".join(rows) + "\n")
    return root


def _data_section(out: str) -> dict:
    line = [text for text in out.splitlines() if text.startswith("train with")][0]
    return json.loads(line.split('"data": ', 1)[1])


def test_import_with_each_delta_option_records_it_and_reproduces_its_events(tones, tmp_path, capsys):
    assert main(["data", "import", str(tones / "m.csv"), "-o", str(tmp_path / "out"), "--workers", "1"]
                + DELTA_ARGS) == 0
    out = capsys.readouterr().out
    # the recordings are at 16 kHz: the bands reach 8 kHz ('auto')
    expected = AudioEncoding(max_frequency=8000.0, **DELTA)
    assert "delta: 8 mel bands 50-8000 Hz, up/down events per 3 dB within 24 dB of the loudest in 2 parts" in out
    section = _data_section(out)
    assert (section["pool"], section["min_spikes"]) == (1, 1)
    for split, count in (("train", 4), ("test", 2)):
        data = read_shd(tmp_path / "out" / f"{split}.h5")
        assert AudioEncoding.from_json(data["audio_encoding"]) == expected and data["channels"] == 32
        assert len(data["times"]) == count
    data = read_shd(tmp_path / "out" / "test.h5")
    for name, times, units in zip(["high/r5.wav", "low/r4.wav"], data["times"], data["units"]):
        again = expected.spikes(*read_wav(tones / name), seed=0)
        assert times.size > 10 and units.max() < 32
        assert times.tolist() == again[0].astype(np.float32).tolist() and units.tolist() == again[1].tolist()


def _chosen_encoding(monkeypatch, tmp_path, argv) -> tuple[AudioEncoding, dict]:
    """The encoding `data import ARGV` hands the importer, and the data section it prints."""
    seen = {}

    def fake_import(recordings, out, encoding, *args, **kwargs):
        seen["encoding"] = encoding
        return importer.ImportResult(out / "train.h5", out / "test.h5", {"train": 2, "test": 1}, ["a", "b"], [],
                                     "held-out speakers: s1", encoding, 0)
    monkeypatch.setattr(importer, "import_recordings", fake_import)
    assert main(["data", "import", str(tmp_path), "-o", str(tmp_path / "out")] + argv) == 0
    return seen["encoding"], seen


def test_the_import_default_is_the_measured_encoder_and_shd_keeps_the_cochlea(monkeypatch, tmp_path, capsys):
    assert IMPORT_ENCODER == "delta"  # the choice of BENCHMARKS.md, "Encoders (issue 28)"
    encoding, _ = _chosen_encoding(monkeypatch, tmp_path, [])
    assert encoding == AudioEncoding(encoder="delta")
    assert (encoding.channels, encoding.levels, encoding.step_db, encoding.range_db) == (128, 1, 4.0, 30.0)
    assert (_data_section(capsys.readouterr().out)["pool"]) == 1
    encoding, _ = _chosen_encoding(monkeypatch, tmp_path, ["--encoder", "cochlea"])
    assert encoding == AudioEncoding() and encoding.encoder == "cochlea" and encoding.channels == 700
    assert _data_section(capsys.readouterr().out)["min_spikes"] == importer.MIN_SPIKES
    for argv in (["--shd"], ["--shd", "--encoder", "cochlea"]):
        encoding, _ = _chosen_encoding(monkeypatch, tmp_path, argv)
        assert encoding == AudioEncoding.shd(1.0) and encoding.encoder == "cochlea"
    encoding, _ = _chosen_encoding(monkeypatch, tmp_path, ["--max-frequency", "3000"] + DELTA_ARGS)
    assert encoding == AudioEncoding(max_frequency=3000.0, **DELTA)


def test_help_shows_the_delta_encoders_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["data", "import", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    encoder = MelDelta()
    for option, value in (("channels", encoder.channels), ("levels", encoder.levels),
                          ("step-db", f"{encoder.step_db:g}"), ("range-db", f"{encoder.range_db:g}")):
        assert f"--{option}" in text
        assert f"(default {value})" in text
    assert f"(default {IMPORT_ENCODER})" in text


@pytest.mark.parametrize("argv,message", [
    (["--encoder", "mfcc"], "--encoder must be one of cochlea, delta, got 'mfcc'"),
    (["--encoder", "cochlea", "--step-db", "3"], "--step-db sets the delta encoder; add --encoder delta"),
    (["--encoder", "cochlea", "--channels", "70"], "--channels sets the delta encoder; add --encoder delta"),
    (["--step-db", "x"], "--step-db must be a number, got 'x'"),
    (["--step-db", "0"], "audio encoding: step_db must be a number >= 0.1, got 0.0"),
    (["--range-db", "2"], "audio encoding: range_db must be a number >= 4 and <= 150, got 2.0"),
    (["--range-db", "200"], "audio encoding: range_db must be a number >= 4 and <= 150, got 200.0"),
    (["--levels", "0"], "audio encoding: levels must be an integer >= 1, got 0"),
    (["--levels", "9", "--channels", "36"], "audio encoding: levels=9 splits range_db=30 into more parts than its "
                                            "7 steps of step_db=4"),
    (["--channels", "127"], "audio encoding: channels=127 is not 2 (up, down) x levels=1 x a number of mel bands"),
    (["--channels", "600"], "audio encoding: channels must be an integer >= 2 and <= 514, got 600"),
    (["--channels", "12.5"], "--channels must be an integer, got '12.5'"),
    (["--channels", "400", "--max-frequency", "4000"], "audio encoding: channels=400 asks for 200 mel bands"),
    (["--max-frequency", "shd"], "--max-frequency shd is the cochlea's SHD channel map"),
    (["--shd", "--encoder", "delta"], "--shd fixes the chain (SHD's cochlea); drop --encoder delta"),
    (["--shd", "--channels", "64", "--range-db", "20"], "--shd fixes the chain (SHD's cochlea); drop --channels, "
                                                        "--range-db"),
])
def test_bad_encoder_options_are_one_line(tmp_path, capsys, argv, message):
    assert main(["data", "import", str(tmp_path), "-o", str(tmp_path / "out")] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_encode_with_the_delta_encoder(tones, tmp_path, capsys):
    wav = tones / "low" / "r0.wav"
    assert main(["encode", str(wav), "-o", str(tmp_path / "s.npy")] + DELTA_ARGS) == 0
    assert "(delta: own length" in capsys.readouterr().out
    spikes = np.load(tmp_path / "s.npy")
    # the import's chain at the recording's own length (0.6 s: 60 steps), every channel its own input
    encoding = AudioEncoding(duration=None, **DELTA)
    times, units = encoding.spikes(*read_wav(wav), seed=0)
    assert spikes.shape == (32, 60) and spikes.dtype == np.uint8 and spikes.sum() > 10
    assert np.array_equal(spikes, bin_spikes(times, units, 0.01, 1, 0.6, channels=32).numpy())
    # --pool and --min-spikes still bin them
    assert main(["encode", str(wav), "-o", str(tmp_path / "p.npy"), "--pool", "8", "--min-spikes", "2",
                 "--duration", "1"] + DELTA_ARGS) == 0
    assert np.array_equal(np.load(tmp_path / "p.npy"),
                          bin_spikes(times, units, 0.01, 8, 1.0, channels=32, min_spikes=2).numpy())


@pytest.mark.parametrize("argv,message", [
    (["--step-db", "3"], "--step-db sets the delta encoder; add --encoder delta (the cochlea takes no --step-db)"),
    (["--encoder", "delta", "--channels", "32", "--pool", "3"], "--pool=3 does not divide the 32 channels"),
    (["--encoder", "delta", "--range-db", "0.5"], "audio encoding: range_db must be a number >= 4 and <= 150"),
    (["--encoder", "gammatone"], "--encoder must be one of cochlea, delta, got 'gammatone'"),
])
def test_bad_encode_options_are_one_line(tones, tmp_path, capsys, argv, message):
    assert main(["encode", str(tones / "low" / "r0.wav"), "-o", str(tmp_path / "s.npy")] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "s.npy").exists()


def test_classify_reproduces_the_recorded_delta_encoding_and_inspect_names_it(tones, tmp_path, capsys):
    assert main(["data", "import", str(tones / "m.csv"), "-o", str(tmp_path / "data"), "--workers", "1"]
                + DELTA_ARGS) == 0
    section = _data_section(capsys.readouterr().out)
    train_and_export(tmp_path, section, output="affine")
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "net.h5")]) == 0
    assert "delta: 8 mel bands 50-8000 Hz, up/down events per 3 dB within 24 dB of the loudest in 2 parts of the " \
           "range (32 channels)" in capsys.readouterr().out
    # the test split holds high/r5 then low/r4 (sorted by name within the split)
    spec = read_network(tmp_path / "net.h5")
    test = SHDDataset(section["test"], **{k: section[k] for k in ("dt", "pool", "duration", "min_spikes")})
    names = ["high", "low"]
    for index, wav in enumerate([tones / "high" / "r5.wav", tones / "low" / "r4.wav"]):
        spikes = test[index][0].numpy().astype(np.uint8)[None]
        # the summed voltages of the non-spiking output layer (its readout): never all 0 here
        expected = scores(simulate(spec, spikes, record_voltage=True).voltage, spec.readout)[0]
        assert spec.readout == "voltage_sum" and np.any(expected != 0)
        assert main(["classify", str(tmp_path / "net.h5"), str(wav), "--top", "2"]) == 0
        line = capsys.readouterr().out.strip()
        printed = dict(part.rsplit(" ", 1) for part in line.split("(summed voltage: ")[1].rstrip(")").split(", "))
        assert {name: int(printed[name]) for name in names} == {names[k]: int(expected[k]) for k in range(2)}
