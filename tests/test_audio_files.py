"""Reading WAV recordings (``read_wav``, used by ``data import``, ``classify`` and
``encode``): every header or file that cannot be read is one line naming the file,
found before the audio is read; nothing blocks, nothing warns."""
import os
import threading
import warnings

import numpy as np
import pytest
from scipy.io import wavfile
from wav_files import tone, wav_bytes, write_wav

from lava_convdelay.cli import main
from lava_convdelay.data.audio import AudioFileError, read_wav

GOOD = wav_bytes(tone(0.2))
DATA_AT = GOOD.index(b"data") + 8  # where the samples start


def test_the_header_writer_makes_what_scipy_reads(tmp_path):
    audio = tone(0.2)
    (tmp_path / "a.wav").write_bytes(wav_bytes(audio, 16000))
    wavfile.write(tmp_path / "b.wav", 16000, audio)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    samples, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000 and np.array_equal(samples, audio.astype(np.float64))


@pytest.mark.parametrize("header,message", [
    (dict(keep=30), r"not a readable WAV file \(unpack requires a buffer of 16 bytes\)"),  # struct.error
    (dict(keep=10), "not a readable WAV file"),
    (dict(channels=65535), r"declares 65535 channel\(s\) in frames of 2 byte\(s\)"),  # ZeroDivisionError
    (dict(channels=0), r"declares 0 channel\(s\)"),
    (dict(block_align=0), r"declares 1 channel\(s\) in frames of 0 byte\(s\)"),
    (dict(rate=0), "gives a sample rate of 0 Hz; rates from 400 to 384000 Hz are read"),
    (dict(rate=300), "gives a sample rate of 300 Hz"),
    (dict(rate=4_000_000_000), "gives a sample rate of 4000000000 Hz"),
    (dict(keep=DATA_AT + 3000), "the data chunk is truncated: the header declares 6400 bytes of audio but the file "
                                "holds 3000"),
    (dict(declared_data=2**32 - 1), "the data chunk is truncated: the header declares 4294967295 bytes"),
    (dict(declared_data=2**31, declared_riff=2**31 + 36), "the data chunk is truncated"),
])
def test_bad_headers_are_one_line_naming_the_file(tmp_path, header, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(wav_bytes(tone(0.2), header.pop("rate", 16000), **header))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SciPy's warning of a short data chunk must not escape
        with pytest.raises(AudioFileError, match=message) as err:
            read_wav(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_truncated_data_whose_riff_size_was_fixed_is_found(tmp_path):
    """An editor that rewrote the RIFF size but not the data chunk's: SciPy reads the
    part that is there and says nothing; the walk of the header still sees it."""
    cut = wav_bytes(tone(0.2), keep=DATA_AT + 1000)
    fixed = cut[:4] + (len(cut) - 8).to_bytes(4, "little") + cut[8:]
    (tmp_path / "cut.wav").write_bytes(fixed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rate, audio = wavfile.read(tmp_path / "cut.wav")  # what SciPy alone makes of it
    assert audio.size == 500
    with pytest.raises(AudioFileError, match="declares 6400 bytes of audio but the file holds 1000"):
        read_wav(tmp_path / "cut.wav")


def test_length_is_checked_from_the_header_before_reading(tmp_path, monkeypatch):
    """A recording longer than allowed is refused before SciPy reads (and allocates) it."""
    from scipy.io import wavfile as scipy_wavfile
    write_wav(tmp_path / "long.wav", tone(2.5, rate=1000), rate=1000)
    monkeypatch.setattr(scipy_wavfile, "read", lambda *a, **k: pytest.fail("read the audio"))
    with pytest.raises(AudioFileError, match="2.5 s long, more than the 2 s allowed"):
        read_wav(tmp_path / "long.wav", max_seconds=2)


def test_unknown_chunks_are_skipped_silently(tmp_path):
    """A ``LIST`` / ``cue `` chunk (metadata of recording software) does not change the audio."""
    audio = tone(0.2)
    extra = b"cue " + (4).to_bytes(4, "little") + b"\0\0\0\0" + b"LIST" + (3).to_bytes(4, "little") + b"abc\0"
    write_wav(tmp_path / "meta.wav", audio, extra_chunks=extra)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        samples, rate = read_wav(tmp_path / "meta.wav")
    assert rate == 16000 and np.array_equal(samples, audio)


def _refused_in_time(path) -> str:
    """The message of ``read_wav(path)``, which must come within 60 s (a FIFO would block)."""
    result = []

    def read():
        try:
            read_wav(path)
        except AudioFileError as err:
            result.append(str(err))
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), f"reading {path} blocked"
    return result[0]


@pytest.mark.parametrize("make,message", [
    (lambda p: os.mkfifo(p), "is a FIFO, not a WAV file"),
    (lambda p: p.mkdir(), "is a folder, not a WAV file"),
    (lambda p: p.symlink_to(p.parent / "missing.wav"), "a symbolic link to a missing file"),
    (lambda p: p.symlink_to(p), "a loop of symbolic links"),
    (lambda p: p.symlink_to("/dev/zero"), "is a device, not a WAV file"),
])
def test_paths_that_are_not_regular_files_are_refused_before_reading(tmp_path, make, message):
    path = tmp_path / "x.wav"
    make(path)
    assert _refused_in_time(path) == f"{path}: {message}"


@pytest.mark.parametrize("header,message", [
    (dict(keep=30), "not a readable WAV file"),
    (dict(channels=65535), "declares 65535 channel(s)"),
    (dict(keep=DATA_AT + 3000), "the data chunk is truncated"),
])
def test_encode_names_the_file_in_one_line(tmp_path, capsys, header, message):
    path = tmp_path / "in.wav"
    path.write_bytes(wav_bytes(tone(0.2), **header))
    assert main(["encode", str(path), "-o", str(tmp_path / "out.npy")]) == 2
    err = capsys.readouterr().err
    assert err == f"lava-convdelay encode: error: {path}: " + err.split(f"{path}: ", 1)[1]
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "out.npy").exists()
