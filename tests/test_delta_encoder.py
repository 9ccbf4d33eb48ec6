"""The delta encoder (send-on-delta on mel log energies, issue 28): level
crossings of hand-built level courses, a filterbank step and silence with
events derived by hand, determinism and level independence; its settings in the
audio encoding (errors, JSON records, records written before the encoder was a
setting); an import whose files reproduce their events from the record, and
a network trained on them that classify runs as recorded."""
import json

import h5py
import numpy as np
import pytest
from factories import train_and_export
from scipy.io import wavfile

from lava_convdelay.cli import main
from lava_convdelay.data import importer
from lava_convdelay.data.audio import read_wav
from lava_convdelay.data.audio_encoding import AudioEncoding, AudioEncodingError
from lava_convdelay.data.encoding import EncodingError
from lava_convdelay.data.mel_delta import MelDelta, mel_weights
from lava_convdelay.data.shd import SHDDataset, read_shd
from lava_convdelay.training.data_section import check_data_section

MS = 1e-3


def test_level_crossings_of_a_hand_built_course():
    # band 0 rises from the floor to 2.5 steps in frame 2, holds, falls to 0.5 and to 0;
    # band 1 stays at the floor. Times interpolate between frame i - 1 (at i - 1 ms) and i.
    y = np.array([[0, 0, 2.5, 2.5, 0.5, 0], [0, 0, 0, 0, 0, 0]], float)
    times, units = MelDelta(bands=2).events(y)
    # up through levels 1, 2 between frames 1 and 2: 1 + 1/2.5, 1 + 2/2.5 ms; down through
    # level 1 between frames 3 and 4: 3 + (2.5 - 1)/2; down to 0 at frame 5: 4 + 0.5/0.5
    np.testing.assert_allclose(times, [1.4 * MS, 1.8 * MS, 3.75 * MS, 5.0 * MS], rtol=1e-12)
    assert units.tolist() == [0, 0, 2, 2]  # up of band 0 is unit 0; down: 1 * 2 bands + 0


def test_hysteresis_keeps_wobbles_smaller_than_a_step_silent():
    y = np.array([[1.0, 0.2, 0.9, 0.1, 1.9, 0.05, 0.0]])
    times, units = MelDelta(bands=1).events(y)
    # up to level 1 in frame 0 (time 0: the first frame's events), nothing until it falls to 0
    np.testing.assert_allclose(times, [0.0, 6.0 * MS], atol=1e-15)
    assert units.tolist() == [0, 1]


def test_parts_of_the_range_have_their_own_channels():
    # 4 steps (range 4 dB of 1 dB) in 2 parts: steps 0-1 are part 0, steps 2-3 part 1
    encoder = MelDelta(bands=1, levels=2, step_db=1.0, range_db=4.0)
    times, units = encoder.events(np.array([[0.0, 4.0, 0.0]]))
    np.testing.assert_allclose(times, np.array([0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]) * MS, rtol=1e-12)
    # up: (0 * 2 + part) * 1 band; down: (1 * 2 + part)
    assert units.tolist() == [0, 0, 1, 1, 3, 3, 2, 2]
    assert encoder.channels == 4


def test_first_frame_events_are_at_time_zero():
    times, units = MelDelta(bands=1).events(np.array([[3.0, 3.0]]))
    assert times.tolist() == [0.0, 0.0, 0.0] and units.tolist() == [0, 0, 0]


def test_silence_gives_no_events():
    for encoder in (MelDelta(), MelDelta(bands=8, levels=2)):
        times, units = encoder(np.zeros(16000))
        assert times.size == 0 and units.size == 0


def test_a_step_in_a_tones_energy_gives_its_up_events_when_it_happens():
    # a 1-kHz tone, 16 samples a period = one hop: every frame inside a stretch of constant
    # amplitude sees the same samples, so the level only changes where the amplitude does.
    # It starts at sample 0 and rises by 12 dB at 0.5 s. One band (50 Hz - 8 kHz), steps of
    # 3 dB within 40 dB of the loudest frame: after the step the band is at 40/3 = 13.33
    # steps, before it at 28/3 = 9.33.
    # - Frame 0, centred on sample 0, holds half a window's energy (-3 dB): 8.33 steps, so
    #   8 up events at time 0; the 9th (level 9, -1 dB) while later frames fill, within
    #   12.5 ms (half a window).
    # - 4 up events (levels 10-13) while the frames pass the step, centres within 12.5 ms
    #   of 0.5 s, in that order.
    # - None down: the last frame (centred 16 samples before the end) holds more than half
    #   a window's energy, -3 dB: 12.33 steps, above level 12.
    n = np.arange(16000)
    x = np.sin(2 * np.pi * n / 16) * np.where(n < 8000, 1.0, 10 ** (12 / 20))
    times, units = MelDelta(bands=1, step_db=3.0, range_db=40.0)(x)
    assert units.tolist() == [0] * 13
    assert times[:8].tolist() == [0.0] * 8 and 0 < times[8] <= 0.0125
    assert np.all((times[9:] >= 0.4875) & (times[9:] <= 0.5125)) and np.all(np.diff(times[9:]) > 0)


def test_filter_shapes():
    # one band from 50 Hz (mel 2595 log10(1 + 50/700) = 77.754565) to 8 kHz (2840.023047)
    # peaks half way, at 1458.888806 mel = 700 (10^(1458.888806/2595) - 1) = 1854.407955 Hz;
    # it rises linearly in Hz from 50 Hz and falls to 0 at 8 kHz, on 31.25-Hz bins
    weights = mel_weights(1, 8000.0)
    hz = np.arange(257) * 31.25
    peak = 1854.407955
    expected = np.maximum(0, np.minimum((hz - 50) / (peak - 50), (8000 - hz) / (8000 - peak)))
    np.testing.assert_allclose(weights[0], expected, rtol=0, atol=1e-8)
    assert weights.shape == (1, 257) and mel_weights(40, 4000.0).shape == (40, 257)


def test_events_are_deterministic_and_independent_of_the_level_and_the_seed():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(12000) * np.sin(np.linspace(0, 9, 12000)) ** 2
    encoding = AudioEncoding(encoder="delta", channels=32)
    a, b = encoding.spikes(x, 16000, seed=0), encoding.spikes(x, 16000, seed=5)
    c = AudioEncoding(encoder="delta", channels=32, normalise="buffer", level=0.05).spikes(30 * x, 16000, seed=0)
    assert a[0].size > 100
    for other in (b, c):
        np.testing.assert_allclose(other[0], a[0], rtol=0, atol=1e-9)
        assert other[1].tolist() == a[1].tolist()
    assert a[1].min() >= 0 and a[1].max() < 32 and np.all(np.diff(a[0]) >= 0)


@pytest.mark.parametrize("settings, message", [
    ({"encoder": "mfcc"}, r"encoder must be one of \('cochlea', 'delta'\), got 'mfcc'"),
    ({"step_db": 3.0}, r"step_db: settings of the delta encoder, not of the cochlea"),
    ({"encoder": "delta", "step_db": 0.0}, r"step_db must be a number >= 0.1, got 0.0"),
    ({"encoder": "delta", "step_db": 3.0, "range_db": 2.0}, r"range_db must be a number >= 3 and <= 150, got 2.0"),
    ({"encoder": "delta", "levels": 0}, r"levels must be an integer >= 1, got 0"),
    ({"encoder": "delta", "channels": 127}, r"channels=127 is not 2 \(up, down\) x levels=1 x a number of mel"),
    ({"encoder": "delta", "channels": 600}, r"channels must be an integer >= 2 and <= 514, got 600"),
    ({"encoder": "delta", "channels": 192, "max_frequency": 4000.0},
     r"channels=192 asks for 96 mel bands between 50 and 4000 Hz; 1 of them fall between"),
    ({"encoder": "delta", "levels": 4, "channels": 64, "step_db": 3.0, "range_db": 9.0},
     r"levels=4 splits range_db=9 into more parts than its 3 steps"),
    ({"encoder": "delta", "max_frequency": 9000.0}, r"max_frequency must be a number > 100 and <= 8000"),
])
def test_bad_settings_name_the_setting(settings, message):
    with pytest.raises(AudioEncodingError, match=f"audio encoding: {message}"):
        AudioEncoding(**settings)


def test_records_round_trip_and_old_records_read_as_the_cochlea():
    delta = AudioEncoding(max_frequency=4000.0, encoder="delta", channels=96, levels=3, step_db=4.0, range_db=48.0)
    assert AudioEncoding.from_json(delta.to_json()) == delta
    assert json.loads(delta.to_json())["encoder"] == "delta"
    assert "delta: 16 mel bands 50-4000 Hz, up/down events per 4 dB within 48 dB of the loudest in 3 parts " \
           "of the range (96 channels)" in delta.describe()
    assert AudioEncoding(encoder="delta").channels == 128  # the encoder's default channels
    # a record as `data import` wrote it before the encoder was a setting (issue 16)
    old = ('{"channels": 700, "duration": 1.0, "level": 0.3, "max_frequency": 4000.0, "normalise": "clip", '
           '"placement": "centre", "ramp": 0.03, "trim_db": 20.0}')
    cochlea = AudioEncoding.from_json(old)
    assert cochlea == AudioEncoding(max_frequency=4000.0) and cochlea.encoder == "cochlea"
    assert cochlea.channels == 700 and cochlea.step_db is None
    assert cochlea.describe().endswith("cochlea: 700 channels up to 4000 Hz")
    assert AudioEncoding.from_json(cochlea.to_json()) == cochlea
    with pytest.raises(AudioEncodingError, match=r"f.h5: not an audio encoding record \(expected an object"):
        AudioEncoding.from_json('{"bands": 64}', "f.h5")
    with pytest.raises(AudioEncodingError, match=r"g.h5: not an audio encoding record \(audio encoding: channels "
                                                  r"must be an integer >= 2 and <= 514, got 700\)"):
        AudioEncoding.from_json(old.replace('"channels"', '"encoder": "delta", "channels"'), "g.h5")


def _tone_wav(path, rate, dtype, frequency, seconds, step_at):
    """A tone that rises by 20 dB at ``step_at`` seconds, in silence before and after it."""
    n = np.arange(int(seconds * rate))
    x = 0.05 * np.sin(2 * np.pi * frequency * n / rate) * np.where(n < step_at * rate, 1.0, 10.0)
    x = np.concatenate([np.zeros(rate // 10), x, np.zeros(rate // 10)])
    if dtype == np.int16:
        x = np.round(x * 30000)
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, x.astype(dtype))


def test_import_writes_files_whose_record_reproduces_their_events(tmp_path):
    rows = []
    for i, (label, frequency) in enumerate([("low", 300.0), ("high", 1500.0)] * 3):
        name = f"{label}/r{i}.wav"
        _tone_wav(tmp_path / "rec" / name, 8000 if i % 2 else 16000, np.int16 if i < 3 else np.float32,
                  frequency + 20 * i, 0.3 + 0.1 * i, 0.1 + 0.03 * i)
        rows.append(f"{name},{label},{'test' if i >= 4 else 'train'}")
    (tmp_path / "rec" / "m.csv").write_text("path,label,split\n" + "\n".join(rows) + "\n")
    result = importer.import_recordings(tmp_path / "rec" / "m.csv", tmp_path / "out",
                                        AudioEncoding(encoder="delta", channels=32), workers=2, progress=False,
                                        band_from_rates=True)
    assert result.encoding == AudioEncoding(max_frequency=4000.0, encoder="delta", channels=32)
    names = {"train": sorted(r.split(",")[0] for r in rows[:4]), "test": sorted(r.split(",")[0] for r in rows[4:])}
    for split, path in (("train", result.train), ("test", result.test)):
        data = read_shd(path)
        recorded = AudioEncoding.from_json(data["audio_encoding"])
        assert recorded == result.encoding and data["channels"] == 32
        assert len(data["times"]) == len(names[split])
        for name, times, units in zip(names[split], data["times"], data["units"]):
            again = recorded.spikes(*read_wav(tmp_path / "rec" / name), seed=0)
            assert times.size > 10
            assert times.tolist() == again[0].astype(np.float32).tolist() and units.tolist() == again[1].tolist()
    section = result.data_section()
    assert (section["pool"], section["min_spikes"]) == (importer.DELTA_POOL, importer.DELTA_MIN_SPIKES)
    binning = {k: section[k] for k in ("dt", "pool", "duration", "min_spikes")}
    dataset = SHDDataset(result.train, **binning)
    assert dataset.encoding.source_channels == 32 and tuple(dataset[0][0].shape) == (32 // section["pool"], 100)
    assert dataset.encoding.audio == result.encoding.to_json()
    with pytest.raises(EncodingError, match=r"train.h5: pool=5 does not divide the 32 channels of the recordings"):
        SHDDataset(result.train, pool=5)
    # a training config's data section cannot know the files' channels; the files are checked when read
    assert check_data_section({**section, "pool": 8}).pool == 8


def test_a_network_trained_on_delta_events_classifies_wavs_as_recorded(tmp_path, capsys):
    """The delta record goes from the import through training and export into the network
    file; classify (unchanged) encodes with it, bins the delta's channels, and both backends agree."""
    rows = []
    for i, (label, frequency) in enumerate([("low", 300.0), ("high", 1500.0)] * 2):
        name = f"{label}/r{i}.wav"
        # 10 Hz apart: the import refuses copies of the same audio
        _tone_wav(tmp_path / "rec" / name, 16000, np.int16, frequency + 10 * i, 0.4, 0.2)
        rows.append(f"{name},{label},{'test' if i >= 2 else 'train'}")
    (tmp_path / "rec" / "m.csv").write_text("path,label,split\n" + "\n".join(rows) + "\n")
    encoding = AudioEncoding(encoder="delta", channels=16)
    result = importer.import_recordings(tmp_path / "rec" / "m.csv", tmp_path / "data", encoding, workers=1,
                                        progress=False)
    train_and_export(tmp_path, result.data_section())
    with h5py.File(tmp_path / "net.h5", "r") as f:
        assert AudioEncoding.from_json(f["lava_convdelay_meta/input/audioEncoding"][()].decode()) == encoding
        assert int(f["lava_convdelay_meta/input/sourceChannels"][()]) == 16
    capsys.readouterr()
    lines = []
    for backend in ("fixed", "lava"):
        assert main(["classify", str(tmp_path / "net.h5"), str(tmp_path / "rec" / "low" / "r2.wav"),
                     "--backend", backend]) == 0
        lines.append(capsys.readouterr().out.strip())
    assert lines[0] == lines[1] and lines[0].split(": ")[1].split()[0] in ("low", "high")
