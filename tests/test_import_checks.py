"""`data import`: what the listing and the check of every recording refuse or
report, one line each, before anything is written (duplicates, entries that are
not WAV files, recordings the audio chain cannot take, manifests from
spreadsheets, labels that would break the output, a single class)."""
import json
import os
import threading
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from wav_files import tone, wav_bytes, write_wav

from lava_convdelay.cli import main
from lava_convdelay.data import importer
from lava_convdelay.data.audio_encoding import AudioEncoding
from lava_convdelay.data.recordings import RecordingsError, find_recordings
from lava_convdelay.data.shd import read_shd

SMALL = AudioEncoding(duration=0.3, channels=70)  # the same chain, short and 10 times narrower: fast


def recordings(root: Path, per_class: int = 2, classes=("a", "b")) -> Path:
    """``root/<class>/<i>.wav``: tones of their own frequency and noise."""
    for c, label in enumerate(classes):
        for i in range(per_class):
            write_wav(root / label / f"{i}.wav", tone(0.3, frequency=300 + 200 * c, seed=10 * c + i))
    return root


def run_import(source, out, **options):
    return importer.import_recordings(source, out, SMALL, test_fraction=0.5, workers=1, progress=False, **options)


def refused(source, out, capsys, **options) -> list[str]:
    """The per-file lines of an import that stops on bad recordings (nothing written)."""
    with pytest.raises(RecordingsError, match=r"recording\(s\) cannot be used"):
        run_import(source, out, **options)
    assert not Path(out).exists()
    return capsys.readouterr().err.strip().splitlines()


# --------------------------------------------------------------------------- one recording listed twice


@pytest.mark.parametrize("second", ["./a/0.wav", "a//0.wav", "b/../a/0.wav", "ABSOLUTE"])
def test_one_file_in_two_manifest_rows_is_an_error_naming_both(tmp_path, second):
    root = recordings(tmp_path)
    second = str(root / "a" / "0.wav") if second == "ABSOLUTE" else second
    (root / "m.csv").write_text(f"path,label\na/0.wav,a\na/1.wav,a\nb/0.wav,b\n{second},b\n")
    with pytest.raises(RecordingsError) as err:
        find_recordings(root / "m.csv")
    assert str(err.value) == (f"{root / 'm.csv'}: line 2 ('a/0.wav') and line 5 ({second!r}) are the same file "
                              f"({str(root / 'a' / '0.wav')!r}); list each recording once")


def test_a_linked_class_folder_is_an_error_naming_both(tmp_path):
    root = recordings(tmp_path / "rec")
    (root / "c").symlink_to(root / "a")
    with pytest.raises(RecordingsError, match=r"'a/0.wav' and 'c/0.wav' are the same file"):
        find_recordings(root)


def test_a_class_folder_linked_to_the_root_is_a_loop(tmp_path):
    root = recordings(tmp_path / "rec")
    (root / "c").symlink_to(root)
    with pytest.raises(RecordingsError, match=r"rec/c: a link to '.*rec', a folder that holds it \(a loop\)"):
        find_recordings(root)


def test_copies_of_one_recording_are_reported_and_skipped_on_request(tmp_path, capsys):
    """Two files with the same audio (a copy, or the same samples with other header
    chunks) would put one recording in both splits."""
    root = recordings(tmp_path / "rec", per_class=3)
    (root / "b" / "copy.wav").write_bytes((root / "a" / "1.wav").read_bytes())
    extra = b"LIST" + (4).to_bytes(4, "little") + b"INFO"
    write_wav(root / "b" / "other-header.wav", tone(0.3, frequency=300, seed=2), extra_chunks=extra)  # = a/2.wav
    lines = refused(root, tmp_path / "out", capsys)
    assert lines == [f"{root / 'b' / 'copy.wav'}: the same audio as 'a/1.wav', labelled 'a' (a copy; it could land "
                     f"in both splits)",
                     f"{root / 'b' / 'other-header.wav'}: the same audio as 'a/2.wav', labelled 'a' (a copy; it "
                     f"could land in both splits)"]
    result = run_import(root, tmp_path / "out", skip_bad=True)
    assert result.skipped == lines and result.counts["train"] + result.counts["test"] == 6


# --------------------------------------------------------------------------- entries that are not WAV files


def test_folder_entries_that_are_not_wav_files_are_reported_as_in_a_manifest(tmp_path, capsys):
    root = recordings(tmp_path / "rec", per_class=3)
    (root / "a" / "folder.wav").mkdir()
    (root / "a" / "dangling.wav").symlink_to(root / "a" / "missing.wav")
    (root / "b" / "loop.wav").symlink_to(root / "b" / "loop.wav")
    os.mkfifo(root / "b" / "fifo.wav")
    (root / "b" / "sub").mkdir()
    write_wav(root / "b" / "sub" / "cut.wav", tone(0.3, seed=99), keep=1000)
    (root / "b" / "notes.txt").write_text("other files are ignored")
    lines = refused(root, tmp_path / "out", capsys)
    assert sorted(lines) == sorted([
        f"{root / 'a' / 'dangling.wav'}: a symbolic link to a missing file",
        f"{root / 'a' / 'folder.wav'}: is a folder, not a WAV file",
        f"{root / 'b' / 'fifo.wav'}: is a FIFO, not a WAV file",
        f"{root / 'b' / 'loop.wav'}: a loop of symbolic links",
        f"{root / 'b' / 'sub' / 'cut.wav'}: the data chunk is truncated: the header declares 9600 bytes of audio "
        f"but the file holds 956"])
    result = run_import(root, tmp_path / "out", skip_bad=True)
    assert sorted(result.skipped) == sorted(lines) and result.counts["train"] + result.counts["test"] == 6
    assert (tmp_path / "out" / "skipped.txt").read_text().splitlines() == result.skipped


def test_a_fifo_in_a_manifest_does_not_hang_the_check(tmp_path, capsys):
    root = recordings(tmp_path)
    os.mkfifo(root / "a" / "fifo.wav")
    (root / "m.csv").write_text("path,label\na/0.wav,a\na/1.wav,a\nb/0.wav,b\nb/1.wav,b\na/fifo.wav,a\n")
    done = []
    thread = threading.Thread(target=lambda: done.append(refused(root / "m.csv", tmp_path / "out", capsys)),
                              daemon=True)
    thread.start()
    thread.join(120)
    assert done == [[f"{root / 'a' / 'fifo.wav'}: is a FIFO, not a WAV file"]]


@pytest.mark.parametrize("header", [dict(keep=30), dict(channels=65535), dict(rate=300)])
def test_bad_headers_are_skippable(tmp_path, capsys, header):
    """Once, a truncated header or 65535 channels escaped --skip-bad as a traceback."""
    root = recordings(tmp_path / "rec")
    (root / "a" / "bad.wav").write_bytes(wav_bytes(tone(0.3), header.pop("rate", 16000), **header))
    assert len(refused(root, tmp_path / "out", capsys)) == 1
    result = run_import(root, tmp_path / "out", skip_bad=True)
    assert len(result.skipped) == 1 and result.skipped[0].startswith(f"{root / 'a' / 'bad.wav'}: ")


# --------------------------------------------------------------------------- the audio chain, in the check


def test_recordings_the_audio_chain_refuses_are_found_before_anything_is_written(tmp_path, capsys):
    """Float samples whose squares overflow: the chain's level normalisation cannot
    take them. Once this stopped the import after import.json, naming no file."""
    root = recordings(tmp_path / "rec")
    huge = np.random.default_rng(0).standard_normal(4800) * 1e200
    (root / "a" / "huge.wav").write_bytes(wav_bytes(huge.astype(np.float64), format_tag=3))
    lines = refused(root, tmp_path / "out", capsys)
    assert lines == [f"{root / 'a' / 'huge.wav'}: the audio's samples are too large for the audio chain (their RMS "
                     f"overflows float64)"]
    assert run_import(root, tmp_path / "out", skip_bad=True).skipped == lines


def test_own_length_longer_than_the_cochlea_takes_is_refused_per_file(tmp_path, capsys):
    root = recordings(tmp_path / "rec")
    write_wav(root / "a" / "long.wav", tone(25, rate=1000, seed=5), rate=1000)
    with pytest.raises(RecordingsError, match=r"1 recording\(s\) cannot be used"):
        importer.import_recordings(root, tmp_path / "out", AudioEncoding(duration=None, trim_db=None, channels=70),
                                   max_seconds=30, workers=1, progress=False)
    assert capsys.readouterr().err.strip() == (
        f"{root / 'a' / 'long.wav'}: 25.0 s after trimming, but the cochlea takes at most 20 s at a recording's own "
        f"length (~0.5 GB per second); give --duration or cut it")


# --------------------------------------------------------------------------- manifests and labels


def test_a_manifest_with_a_byte_order_mark_is_read(tmp_path):
    """Spreadsheets save "CSV UTF-8" with a BOM before the header."""
    root = recordings(tmp_path)
    (root / "m.csv").write_bytes("path,label\r\na/0.wav,a\r\nb/0.wav,b\r\n".encode("utf-8-sig"))
    assert [(r.name, r.label, r.line) for r in find_recordings(root / "m.csv")] == [("a/0.wav", "a", 2),
                                                                                     ("b/0.wav", "b", 3)]


@pytest.mark.parametrize("label", ["two\nlines", "tab\there", "bell\a", "rtl\u202eevil", "zero\u200bwidth",
                                   "sep\u2028line"])
def test_labels_with_control_or_format_characters_are_refused_naming_the_row(tmp_path, label):
    root = recordings(tmp_path)
    (root / "m.csv").write_text(f'path,label\na/0.wav,a\nb/0.wav,"{label}"\n')
    with pytest.raises(RecordingsError) as err:
        find_recordings(root / "m.csv")
    assert str(err.value) == f"{root / 'm.csv'}: line 3: the label {label!r} holds control or format characters"
    assert "\n" not in str(err.value).replace(repr(label), "")


def test_folder_names_with_control_characters_are_refused(tmp_path):
    root = recordings(tmp_path / "rec")
    write_wav(root / "new\nline" / "0.wav", tone(0.3, seed=7))
    with pytest.raises(RecordingsError, match=r"'new\\nline/0.wav' holds control or format characters"):
        find_recordings(root)


def test_labels_in_two_unicode_forms_are_refused(tmp_path):
    root = recordings(tmp_path)
    composed, decomposed = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    (root / "m.csv").write_text(f"path,label\na/0.wav,{composed}\nb/0.wav,{decomposed}\n")
    with pytest.raises(RecordingsError, match="are the same text in two Unicode forms"):
        find_recordings(root / "m.csv")


def test_the_cli_keeps_a_message_on_one_line(tmp_path, capsys):
    """A file name holding a newline is shown escaped."""
    (tmp_path / "m.csv").write_text('path,label\n"x\ny.wav",a\n')
    assert main(["data", "import", str(tmp_path / "m.csv"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"lava-convdelay data: error: {tmp_path / 'm.csv'}: line 2: the path 'x\\ny.wav' holds control " \
                  f"or format characters\n"


# --------------------------------------------------------------------------- classes and options


def test_one_class_is_refused(tmp_path):
    root = recordings(tmp_path / "rec", classes=("only",))
    with pytest.raises(RecordingsError, match=r"all 2 usable recordings are of one class \('only'\); a classifier "
                                              r"needs at least two"):
        run_import(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_one_class_left_after_skipping_is_refused(tmp_path, capsys):
    root = recordings(tmp_path / "rec", per_class=2)
    for i in range(2):
        (root / "b" / f"{i}.wav").write_bytes(b"not audio")
    with pytest.raises(RecordingsError, match=r"one class \('a'\)"):
        run_import(root, tmp_path / "out", skip_bad=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv,message", [
    (["--duration", "100000"], "--duration must be a number >= 0.01 and <= 20, got 100000.0"),
    (["--max-seconds", "1e9"], "--max-seconds must be a number > 0 and <= 600, got 1000000000.0"),
    (["--level", "1e300"], "--level must be a number > 0 and <= 1000, got 1e+300"),
    (["--seed", str(2**64)], f"--seed must be an integer >= 0 and <= 4294967295, got {2**64}"),
])
def test_options_beyond_what_the_chain_takes_are_one_line(tmp_path, capsys, argv, message):
    root = recordings(tmp_path / "rec")
    assert main(["data", "import", str(root), "-o", str(tmp_path / "out")] + argv) == 2
    err = capsys.readouterr().err
    assert err == f"lava-convdelay data: error: {message}\n" and not (tmp_path / "out").exists()


def test_an_import_that_passes_every_check_still_works(tmp_path):
    root = recordings(tmp_path / "rec")
    result = run_import(root, tmp_path / "out")
    assert result.classes == ["a", "b"] and result.skipped == []
    train = read_shd(result.train)
    assert train["keys"] == ["a", "b"] and sorted(train["labels"].tolist()) == [0, 1]
    assert json.loads((tmp_path / "out" / "import.json").read_text())["recordings"] == {"train": 2, "test": 2}
