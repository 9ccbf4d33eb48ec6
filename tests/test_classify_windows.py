"""`classify`: the window timeline (every window starts inside the recording; a
hop longer than the window leaves gaps), recordings the audio chain cannot
take, and network files whose input record asks for more than the toolkit can
encode."""
import json
import re

import h5py
import numpy as np
import pytest
from wav_files import tone, wav_bytes, write_wav

from lava_convdelay.cli import main
from lava_convdelay.cli.classify import _windows
from lava_convdelay.data.audio_encoding import AudioEncoding
from lava_convdelay.data.encoding import InputEncoding
from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from netx_export.writer import write_network

AUDIO = AudioEncoding(channels=70)


def network(path, audio=AUDIO):
    """10 inputs (70 channels / 7) -> 3 outputs; only output 1 ("b") is excited."""
    weight = np.full((3, 10), -256)
    weight[1] = 254
    spec = NetworkSpec(10, [LayerSpec("dense", weight, CubaParams(2048, 1024, 64))],
                       encoding=InputEncoding(0.01, 7, 1.0, 70, 1, audio=audio and audio.to_json()),
                       class_names=["a", "b", "c"])
    return write_network(spec, path)


@pytest.mark.parametrize("seconds,window,hop,expected", [
    (1.0, 0.2, 0.5, [(0, 0.2), (0.5, 0.7)]),              # hop > window: gaps, nothing after the end
    (1.0, 0.2, 0.4, [(0, 0.2), (0.4, 0.6), (0.8, 1.0)]),
    (1.0, 0.4, 0.3, [(0, 0.4), (0.3, 0.7), (0.6, 1.0)]),   # the third reaches the end: no fourth
    (1.0, 0.4, 0.25, [(0, 0.4), (0.25, 0.65), (0.5, 0.9), (0.75, 1.0)]),
    (1.0, 0.5, 0.5, [(0, 0.5), (0.5, 1.0)]),
    (1.1, 0.5, 0.5, [(0, 0.5), (0.5, 1.0), (1.0, 1.1)]),    # the last cut by the end
    (0.5, 1.0, 0.25, [(0, 0.5)]),                          # a window longer than the recording
    (0.5, 0.1, 2.0, [(0, 0.1)]),                           # a hop longer than the recording
])
def test_windows_start_inside_the_recording(seconds, window, hop, expected):
    rate = 16000
    samples = np.arange(int(round(seconds * rate)))
    pieces = list(_windows(samples, rate, window, hop))
    assert [(round(a, 6), round(b, 6)) for a, b, _ in pieces] == expected
    for start, end, piece in pieces:  # each piece holds the samples it names
        assert piece.size and piece[0] == round(start * rate) and piece[-1] == round(end * rate) - 1


@pytest.fixture(scope="module")
def speech_then_silence(tmp_path_factory):
    """0.3 s of tone, then 0.7 s of digital silence."""
    audio = np.concatenate([tone(0.3), np.zeros(11200, np.int16)])
    return write_wav(tmp_path_factory.mktemp("wav") / "timeline.wav", audio)


def test_a_hop_longer_than_the_window_prints_windows_inside_the_recording(speech_then_silence, tmp_path, capsys):
    """Once, this printed a third window "1.00-1.00 s" (starting at the end), and other
    lengths ended in an IndexError."""
    net = network(tmp_path / "net.h5")
    assert main(["classify", str(net), str(speech_then_silence), "--window", "0.2", "--hop", "0.5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{speech_then_silence}    0.00-0.20 s",
                                                        f"{speech_then_silence}    0.50-0.70 s"]
    assert lines[0].split(": ", 1)[1].startswith("b  (spike count: b ") and lines[1].endswith(": (silent)")


def test_long_timelines_are_classified_in_chunks(speech_then_silence, tmp_path, capsys, monkeypatch):
    """Windows are encoded and simulated a chunk at a time (memory), printing the same timeline."""
    from lava_convdelay.cli import classify
    net = network(tmp_path / "net.h5")
    argv = ["classify", str(net), str(speech_then_silence), "--window", "0.1", "--hop", "0.05"]
    assert main(argv) == 0
    whole = capsys.readouterr().out
    batches = []
    original = classify._classify
    monkeypatch.setattr(classify, "CHUNK", 4)
    monkeypatch.setattr(classify, "_classify", lambda spec, spikes, backend: batches.append(len(spikes)) or
                        original(spec, spikes, backend))
    assert main(argv) == 0
    assert capsys.readouterr().out == whole and len(whole.splitlines()) == 19
    assert max(batches) <= 4 and sum(batches) == sum("(silent)" not in line for line in whole.splitlines())


def test_samples_the_chain_cannot_take_are_an_error_not_silence(tmp_path, capsys):
    """Finite float samples whose squares overflow: once "(silent)", exit 0."""
    huge = np.random.default_rng(0).standard_normal(8000) * 1e200
    wav = tmp_path / "huge.wav"
    wav.write_bytes(wav_bytes(huge, format_tag=3))
    net = network(tmp_path / "net.h5")
    assert main(["classify", str(net), str(wav)]) == 2
    assert capsys.readouterr().err == (f"lava-convdelay classify: error: {wav}: the audio's samples are too large for "
                                       f"the audio chain (their RMS overflows float64)\n")
    assert main(["classify", str(net), str(wav), "--window", "0.25"]) == 2
    assert capsys.readouterr().err.startswith(f"lava-convdelay classify: error: {wav} 0.00-0.25 s: the audio's")


def _edit(path, **values):
    with h5py.File(path, "r+") as f:
        for name, value in values.items():
            del f[f"lava_convdelay_meta/input/{name}"]
            f[f"lava_convdelay_meta/input/{name}"] = value


@pytest.mark.parametrize("edit,message", [
    (dict(duration=1e12, dt=0.01), r"/lava_convdelay_meta/input: duration must be a number > 0 and <= 3600, "
                                   r"got 1000000000000.0"),
    (dict(duration=1e12, dt=1e10), r"/lava_convdelay_meta/input: dt must be a number > 0 and <= 3600"),
    (dict(duration=1e3, dt=1e-8), r"duration=1000 in steps of dt=1e-08 gives 1e\+11 time steps, more than the "
                                  r"100000"),
    (dict(audioEncoding=json.dumps({"duration": 1e12, "channels": 70})),
     r"audioEncoding: not an audio encoding record \(audio encoding: duration must be a number >= 0.01 and <= 20"),
    (dict(audioEncoding=json.dumps({"channels": 10**9})), r"channels must be an integer >= 1 and <= 700"),
])
def test_absurd_input_records_are_one_line_errors(speech_then_silence, tmp_path, capsys, edit, message):
    """A record `inspect` once accepted and `classify` then tried to allocate."""
    net = network(tmp_path / "net.h5")
    _edit(net, **edit)
    assert main(["classify", str(net), str(speech_then_silence)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(net) in err
    assert re.search(message, err), err


def test_a_binning_longer_than_the_cochlea_takes_is_named(speech_then_silence, tmp_path, capsys):
    """Without an audio record the SHD chain encodes the binning's duration whole."""
    net = network(tmp_path / "net.h5", audio=None)
    _edit(net, duration=100.0, dt=1.0)
    assert main(["classify", str(net), str(speech_then_silence)]) == 2
    assert capsys.readouterr().err.startswith(f"lava-convdelay classify: error: {net}: the input record's duration "
                                              f"of 100 s cannot be encoded (audio encoding: duration must be")


def test_seeds_beyond_32_bits_are_refused(speech_then_silence, tmp_path, capsys):
    """The bushy cells' generator keeps 32 bits: seed 2^32 would repeat seed 0."""
    net = network(tmp_path / "net.h5")
    assert main(["classify", str(net), str(speech_then_silence), "--seed", str(2**32)]) == 2
    assert "--seed must be an integer >= 0 and <= 4294967295, got 4294967296" in capsys.readouterr().err
