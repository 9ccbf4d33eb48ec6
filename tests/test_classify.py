"""`classify`: WAV -> the network's class name, encoded as its training data was
(the audio chain `data import` recorded, carried by training and export into the
network file), on the fixed-point simulator or Lava; window timelines."""
import importlib.util
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from factories import train_and_export
from scipy.io import wavfile

from lava_convdelay.cli import main
from lava_convdelay.data.audio_encoding import AudioEncoding
from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.limits import VTH_NON_SPIKING
from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from netx_export.writer import write_network

_spec = importlib.util.spec_from_file_location(
    "make_recordings", Path(__file__).resolve().parent.parent / "bench" / "make_recordings.py")
make_recordings = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_recordings)

AUDIO = AudioEncoding(channels=70)


def _network(path, winner, spiking=True, names=("a", "b", "c"), min_spikes=1):
    """10 inputs (70 channels / 7) -> 3 outputs; only output `winner` is excited."""
    weight = np.full((3, 10), -256)
    weight[winner] = 254
    neuron = CubaParams(2048, 1024, 64 if spiking else VTH_NON_SPIKING)
    spec = NetworkSpec(10, [LayerSpec("dense", weight, neuron)],
                       encoding=InputEncoding(0.01, 7, 1.0, 70, min_spikes, audio=AUDIO.to_json()),
                       class_names=list(names) if names else None)
    return write_network(spec, path)


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wav")
    manifest = make_recordings.make_recordings(folder, speakers=1, per_speaker=1, classes=["en-seven"])
    path = manifest.parent / "en-seven" / "spk00-0.wav"
    rate, audio = wavfile.read(path)
    second = np.zeros((rate,) + audio.shape[1:], audio.dtype)  # speech, then digital silence, in 1-s pieces
    second[:min(rate, len(audio))] = audio[:rate]
    wavfile.write(folder / "timeline.wav", rate, np.concatenate([second, 0 * second, second]))
    return path, folder / "timeline.wav"


@pytest.mark.parametrize("winner,spiking,names,expected", [
    (1, True, ("a", "b", "c"), "b  (spike count: b "),
    (2, False, ("a", "b", "c"), "c  (summed voltage: c "),
    (0, True, None, "output 0  (spike count: output 0 "),
])
def test_prints_the_class_the_network_decides(wav, tmp_path, capsys, winner, spiking, names, expected):
    net = _network(tmp_path / "net.h5", winner, spiking, names)
    assert main(["classify", str(net), str(wav[0])]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"{wav[0]}: {expected}")


def test_timeline_of_windows_with_silence(wav, tmp_path, capsys):
    net = _network(tmp_path / "net.h5", 1)
    assert main(["classify", str(net), str(wav[1]), "--window", "1", "--hop", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(": ")[1].split()[0] for line in lines] == ["b", "(silent)", "b"]
    assert lines[1].startswith(f"{wav[1]}    1.00-2.00 s")


def test_input_is_binned_with_the_networks_min_spikes(wav, tmp_path, capsys, monkeypatch):
    """A network trained on bins of at least 4 events gets bins of at least 4 events."""
    from lava_convdelay.cli import classify
    from lava_convdelay.data.audio import read_wav
    from lava_convdelay.data.shd import bin_spikes
    seen = []
    monkeypatch.setattr(classify, "_classify", lambda spec, spikes, backend: seen.append(spikes) or
                        (np.zeros(len(spikes), np.int64), np.zeros((len(spikes), 3))))
    assert main(["classify", str(_network(tmp_path / "net.h5", 1, min_spikes=4)), str(wav[0])]) == 0
    times, units = AUDIO.spikes(*read_wav(wav[0]), seed=0)
    binned = {k: bin_spikes(times, units, 0.01, 7, 1.0, 70, min_spikes=k).numpy() for k in (1, 4)}
    assert binned[4].sum() < binned[1].sum()  # the threshold matters for this recording
    assert np.array_equal(seen[0][0], binned[4])


def test_import_train_export_classify_on_lava(tmp_path, capsys):
    """The record of the audio chain goes from `data import` through training and export
    into the network file, and classify gives the same answer on both backends."""
    folder = tmp_path / "rec"
    make_recordings.make_recordings(folder, speakers=2, per_speaker=1, classes=["en-one", "en-two"])
    assert main(["data", "import", str(folder / "manifest.csv"), "-o", str(tmp_path / "data"),
                 "--test-fraction", "0.5", "--workers", "1", "--encoder", "cochlea"]) == 0
    stamp = json.loads((tmp_path / "data" / "import.json").read_text())
    train_and_export(tmp_path, {"source": "shd", "train": str(tmp_path / "data" / "train.h5"),
                                "test": str(tmp_path / "data" / "test.h5")})
    with h5py.File(tmp_path / "net.h5", "r") as f:
        recorded = json.loads(f["lava_convdelay_meta/input/audioEncoding"][()].decode())
    assert recorded == stamp["encoding"]
    capsys.readouterr()
    wav = folder / "en-two" / "spk01-0.wav"
    lines = []
    for backend in ("fixed", "lava"):
        assert main(["classify", str(tmp_path / "net.h5"), str(wav), "--backend", backend]) == 0
        lines.append(capsys.readouterr().out.strip())
    assert lines[0] == lines[1] and lines[0].split(": ")[1].split()[0] in ("en-one", "en-two")


@pytest.mark.parametrize("argv,message", [
    (["--hop", "0.5"], "--hop needs --window"),
    (["--window", "0"], "--window must be a number >= 0.01 and <= 600, got 0.0"),
    (["--top", "0"], "--top must be an integer >= 1, got 0"),
])
def test_bad_options_are_one_line(wav, tmp_path, capsys, argv, message):
    net = _network(tmp_path / "net.h5", 1)
    assert main(["classify", str(net), str(wav[0])] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
