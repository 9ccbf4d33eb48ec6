"""`data import`: a labelled folder of eSpeak recordings (8 and 16 kHz, int16 /
int32 / float32, mono and stereo) -> SHD-format files; labels, speakers, split,
bad files, determinism whatever the worker count, resuming after a kill."""
import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from lava_convdelay.cli import main
from lava_convdelay.data import importer
from lava_convdelay.data.audio_encoding import AudioEncoding
from lava_convdelay.data.recordings import RecordingsError, find_recordings
from lava_convdelay.data.shd import SHDDataset, read_shd

_spec = importlib.util.spec_from_file_location(
    "make_recordings", Path(__file__).resolve().parent.parent / "bench" / "make_recordings.py")
make_recordings = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_recordings)

CLASSES = ["en-one", "en-two", "de-drei"]
SMALL = AudioEncoding(channels=70)  # 70 cochlea channels: the same chain, 10 times faster
_original_encode = importer._encode_chunk


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    root = tmp_path_factory.mktemp("rec")
    manifest = make_recordings.make_recordings(root, speakers=4, per_speaker=1, classes=CLASSES)
    return root, manifest


def test_manifest_import_holds_out_speakers_and_records_everything(recordings, tmp_path):
    root, manifest = recordings
    result = importer.import_recordings(manifest, tmp_path / "out", SMALL, test_fraction=0.25, seed=0,
                                        workers=1, progress=False, band_from_rates=True)
    train, test = read_shd(result.train), read_shd(result.test)
    assert result.classes == train["keys"] == test["keys"] == sorted(CLASSES)
    assert (len(train["labels"]), len(test["labels"])) == (9, 3)
    assert set(train["speaker"]).isdisjoint(test["speaker"]) and len(set(test["speaker"])) == 1
    for data in (train, test):  # every file in its class, a third of the events each way
        assert sorted(np.bincount(data["labels"])) == [len(data["labels"]) // 3] * 3
        assert all(t.size and u.max() < 70 and t.max() < 1.0 for t, u in zip(data["times"], data["units"]))
    # speaker 1 and 3 record at 8 kHz: the channels span up to 4 kHz; the setting is recorded
    assert result.encoding == replace(SMALL, max_frequency=4000.0)
    assert AudioEncoding.from_json(train["audio_encoding"]) == result.encoding
    assert SHDDataset(result.train).encoding.audio == result.encoding.to_json()
    stamp = json.loads((tmp_path / "out" / "import.json").read_text())
    assert stamp["classes"] == result.classes and stamp["recordings"] == {"train": 9, "test": 3}
    assert stamp["speakers"] == ["spk00", "spk01", "spk02", "spk03"]
    assert not (tmp_path / "out" / importer.PARTS).exists()


def _events(path):
    data = read_shd(path)
    return data["labels"].tolist(), [np.asarray(t).tolist() for t in data["times"]], \
        [np.asarray(u).tolist() for u in data["units"]]


def test_same_result_whatever_the_workers_and_after_a_kill(recordings, tmp_path, monkeypatch):
    root, _ = recordings
    monkeypatch.setattr(importer, "CHUNK", 4)
    whole = importer.import_recordings(root, tmp_path / "two", SMALL, 0.25, seed=3, workers=2, progress=False)
    done = []

    def killed_after_two(job):
        if len(done) == 2:
            raise KeyboardInterrupt  # the kill, after two chunks were saved
        done.append(_original_encode(job))
    monkeypatch.setattr(importer, "_encode_chunk", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        importer.import_recordings(root, tmp_path / "one", SMALL, 0.25, seed=3, workers=1, progress=False)
    assert len(list((tmp_path / "one" / importer.PARTS).glob("*/*.npz"))) == 2
    assert not list((tmp_path / "one").glob("*.h5"))
    encoded = []
    monkeypatch.setattr(importer, "_encode_chunk", lambda job: encoded.append(job) or _original_encode(job))
    resumed = importer.import_recordings(root, tmp_path / "one", SMALL, 0.25, seed=3, workers=1, progress=False)
    assert len(encoded) == 2  # chunks of 4: 9 training recordings in 3, 3 test ones in 1; 2 saved before the kill
    for a, b in ((whole.train, resumed.train), (whole.test, resumed.test)):
        assert _events(a) == _events(b)
    # the split without speakers: a quarter of each class (folders give no speaker)
    assert [int(n) for n in np.bincount(read_shd(resumed.test)["labels"])] == [1, 1, 1]
    with pytest.raises(RecordingsError, match="holds an import with other settings"):
        importer.import_recordings(root, tmp_path / "one", SMALL, 0.25, seed=4, workers=1, progress=False)


def test_bad_files_are_named_one_line_each_and_skipped_on_request(recordings, tmp_path, capsys):
    root, _ = recordings
    folder = tmp_path / "rec"
    for wav in root.glob("*/*.wav"):
        (folder / wav.parent.name).mkdir(parents=True, exist_ok=True)
        (folder / wav.parent.name / wav.name).write_bytes(wav.read_bytes())
    (folder / "en-one" / "notes.wav").write_text("not audio")
    wavfile.write(folder / "en-two" / "silent.wav", 8000, np.zeros(4000, np.int16))
    wavfile.write(folder / "de-drei" / "empty.wav", 8000, np.zeros(0, np.int16))
    wavfile.write(folder / "de-drei" / "long.wav", 1000, np.ones(3000, np.int16))
    with pytest.raises(RecordingsError, match="4 recording\\(s\\) cannot be used"):
        importer.import_recordings(folder, tmp_path / "out", SMALL, 0.25, workers=1, progress=False,
                                   max_seconds=2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert sorted(lines) == sorted([
        f"{folder / 'de-drei' / 'empty.wav'}: the recording is empty",
        f"{folder / 'de-drei' / 'long.wav'}: the recording is 3.0 s long, more than the 2 s allowed (the cochlea "
        f"transforms a sample whole, ~0.5 GB per second); cut it into pieces",
        f"{folder / 'en-two' / 'silent.wav'}: the audio is silent (all samples 0)",
        next(line for line in lines if line.startswith(f"{folder / 'en-one' / 'notes.wav'}: not a readable WAV"))])
    assert not (tmp_path / "out").exists()
    result = importer.import_recordings(folder, tmp_path / "out", SMALL, 0.25, workers=1, progress=False,
                                        skip_bad=True, max_seconds=2)
    assert len(result.skipped) == 4 and (result.counts["train"] + result.counts["test"]) == 12
    assert (tmp_path / "out" / "skipped.txt").read_text().splitlines() == result.skipped


@pytest.mark.parametrize("text,message", [
    ("file,label\nx.wav,a\n", "line 1: the header must name the columns path, label"),
    ("path,label,split\nx.wav,a,dev\n", "line 2: split must be train or test, got 'dev'"),
    ("path,label\nx.wav,a\nx.wav,b\n", "x.wav is listed twice"),
    ("path,label\nx.wav\n", "line 2: 1 columns, the header has 2"),
])
def test_manifest_errors_name_the_line(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(RecordingsError, match=message):
        find_recordings(tmp_path / "m.csv")


@pytest.mark.parametrize("argv,message", [
    (["--test-fraction", "1"], "--test-fraction must be a number > 0 and < 1, got 1.0"),
    (["--shd", "--placement", "centre"], "--shd fixes the chain (SHD's cochlea); drop --placement"),
    (["--trim-db", "x"], "--trim-db must be a number, got 'x'"),
    (["--workers", "0"], "--workers must be an integer >= 1, got 0"),
])
def test_bad_options_are_one_line(tmp_path, capsys, argv, message):
    assert main(["data", "import", str(tmp_path), "-o", str(tmp_path / "out")] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv,min_spikes", [(["--encoder", "cochlea"], 5), (["--shd"], 1)])
def test_import_prints_the_data_section_to_train_with(tmp_path, capsys, monkeypatch, argv, min_spikes):
    """The import's own cochlea chain is trained with bins of at least 5 events (the
    cochlea's spontaneous spikes fall below); the SHD chain keeps SHD's binning."""
    def fake_import(recordings, out, encoding, *args, **kwargs):
        return importer.ImportResult(out / "train.h5", out / "test.h5", {"train": 2, "test": 1}, ["a", "b"], [],
                                     "held-out speakers: s1", encoding, 0)

    monkeypatch.setattr(importer, "import_recordings", fake_import)
    assert main(["data", "import", str(tmp_path), "-o", str(tmp_path / "out")] + argv) == 0
    line = [text for text in capsys.readouterr().out.splitlines() if text.startswith("train with")][0]
    section = json.loads(line.split('"data": ', 1)[1])
    assert section == {"source": "shd", "train": str(tmp_path / "out" / "train.h5"),
                       "test": str(tmp_path / "out" / "test.h5"), "duration": 1.0, "dt": 0.01, "pool": 5,
                       "min_spikes": min_spikes}
