"""`data fetch`: SHD / SSC downloads against a local HTTP server (no internet):
checksums, resuming with Range requests, servers without them, atomic final
files, the SHD-format check of what an archive holds, and training's
``"source": "shd"`` reading the fetched files."""
from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import h5py
import numpy as np
import pytest
from factories import toy_shd

from lava_convdelay.cli import main
from lava_convdelay.data import read_shd
from lava_convdelay.data.fetch import DATASETS, Archive, ChecksumError, FetchError, fetch
from lava_convdelay.training.data_section import DataConfigError, build_datasets


class FileServer:
    """Serves ``files`` (name -> bytes) under ``/data/`` on 127.0.0.1, recording each
    request: ``{"name", "range" (the Range header or None), "status", "sent" (body bytes)}``.
    ``ranges``: answer ``Range: bytes=N-`` with 206 (else ignore it: 200, whole file);
    ``cut_after``: the first response stops after that many body bytes (a broken transfer)."""

    def __init__(self, files: dict[str, bytes], ranges: bool = True, cut_after: int | None = None):
        self.files, self.ranges, self.cut_after = files, ranges, cut_after
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.removeprefix("/data/")
                asked = self.headers.get("Range")
                if name not in server.files:
                    return self._answer(name, asked, 404, {}, b"")
                body = server.files[name]
                match = re.fullmatch(r"bytes=(\d+)-", asked or "")
                if not (server.ranges and match):
                    return self._answer(name, asked, 200, {}, body)
                start = int(match.group(1))
                if start >= len(body):
                    return self._answer(name, asked, 416, {"Content-Range": f"bytes */{len(body)}"}, b"")
                return self._answer(name, asked, 206, {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"},
                                    body[start:])

            def _answer(self, name, asked, status, headers, body):
                send = body
                if server.cut_after is not None and not server.requests:
                    send = body[:server.cut_after]
                server.requests.append({"name": name, "range": asked, "status": status, "sent": len(send)})
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(send)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/data/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)  # the local server is reached directly
    servers = []

    def start(files, **options):
        servers.append(FileServer(files, **options))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


def zipped(member: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, payload)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def shd_files(tmp_path_factory):
    """``{member: the .h5 bytes}`` of a small SHD-format train and test file."""
    folder = tmp_path_factory.mktemp("shd")
    return {name: toy_shd(folder / name, n, seed).read_bytes()
            for name, n, seed in (("shd_train.h5", 9, 0), ("shd_test.h5", 6, 1))}


def published(shd_files):
    """The server's files and their archives, with digests computed here (hashlib)."""
    files = {f"{member}.zip": zipped(member, data) for member, data in shd_files.items()}
    archives = tuple(Archive(name, hashlib.md5(data).hexdigest()) for name, data in files.items())
    return files, archives


def test_fetch_downloads_checks_and_decompresses(tmp_path, serve, shd_files, capsys):
    files, archives = published(shd_files)
    server = serve(files)
    paths = fetch("shd", tmp_path, url_base=server.url, archives=archives, progress=False)
    assert paths == [tmp_path / "shd_train.h5", tmp_path / "shd_test.h5"]
    for path in paths:
        assert path.read_bytes() == shd_files[path.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shd_test.h5", "shd_train.h5"]  # no .part, .zip, temp
    assert [(r["name"], r["range"], r["status"]) for r in server.requests] == \
        [("shd_train.h5.zip", None, 200), ("shd_test.h5.zip", None, 200)]
    assert read_shd(paths[0])["labels"].tolist() == [0, 1, 2] * 3
    assert f"wrote {paths[0]}: 9 samples, 3 classes" in capsys.readouterr().out
    fetch("shd", tmp_path, url_base=server.url, archives=archives, progress=False)
    assert len(server.requests) == 2  # fetched files are kept, not downloaded again


def test_resume_asks_only_for_the_missing_bytes(tmp_path, serve, shd_files):
    files, archives = published(shd_files)
    archive = files["shd_train.h5.zip"]
    half = len(archive) // 2
    (tmp_path / "shd_train.h5.zip.part").write_bytes(archive[:half])  # an interrupted earlier run
    server = serve(files)
    fetch("shd", tmp_path, url_base=server.url, archives=archives[:1], progress=False)
    assert server.requests == [{"name": "shd_train.h5.zip", "range": f"bytes={half}-", "status": 206,
                                "sent": len(archive) - half}]
    assert (tmp_path / "shd_train.h5").read_bytes() == shd_files["shd_train.h5"]


def test_a_broken_transfer_keeps_its_part_and_continues(tmp_path, serve, shd_files):
    files, archives = published(shd_files)
    archive = files["shd_train.h5.zip"]
    server = serve(files, cut_after=1000)
    with pytest.raises(FetchError, match=rf"closed the connection after 1000 of {len(archive)} bytes; re-running "
                                         r"continues"):
        fetch("shd", tmp_path, url_base=server.url, archives=archives[:1], progress=False)
    assert (tmp_path / "shd_train.h5.zip.part").read_bytes() == archive[:1000]
    assert not (tmp_path / "shd_train.h5").exists()
    fetch("shd", tmp_path, url_base=server.url, archives=archives[:1], progress=False)
    assert [(r["range"], r["status"], r["sent"]) for r in server.requests] == \
        [(None, 200, 1000), ("bytes=1000-", 206, len(archive) - 1000)]
    assert (tmp_path / "shd_train.h5").read_bytes() == shd_files["shd_train.h5"]


def test_a_complete_part_is_checked_not_downloaded_again(tmp_path, serve, shd_files):
    files, archives = published(shd_files)
    (tmp_path / "shd_train.h5.zip.part").write_bytes(files["shd_train.h5.zip"])
    server = serve(files)
    fetch("shd", tmp_path, url_base=server.url, archives=archives[:1], progress=False)
    assert [(r["status"], r["sent"]) for r in server.requests] == [(416, 0)]
    assert (tmp_path / "shd_train.h5").read_bytes() == shd_files["shd_train.h5"]


def test_a_server_without_ranges_makes_it_start_over(tmp_path, serve, shd_files):
    files, archives = published(shd_files)
    archive = files["shd_train.h5.zip"]
    (tmp_path / "shd_train.h5.zip.part").write_bytes(b"x" * 500)  # would corrupt the file if appended to
    server = serve(files, ranges=False)
    fetch("shd", tmp_path, url_base=server.url, archives=archives[:1], progress=False)
    assert server.requests == [{"name": "shd_train.h5.zip", "range": "bytes=500-", "status": 200,
                                "sent": len(archive)}]
    assert (tmp_path / "shd_train.h5").read_bytes() == shd_files["shd_train.h5"]


def test_a_wrong_digest_stops_and_keeps_what_was_good(tmp_path, serve, shd_files):
    files, archives = published(shd_files)
    server = serve(files)
    fetch("shd", tmp_path, url_base=server.url, archives=archives[:1], progress=False)
    train = tmp_path / "shd_train.h5"
    before = train.stat().st_mtime_ns
    wrong = "0" * 32
    actual = hashlib.md5(files["shd_test.h5.zip"]).hexdigest()
    with pytest.raises(ChecksumError) as err:
        fetch("shd", tmp_path, url_base=server.url, archives=(archives[0], Archive("shd_test.h5.zip", wrong)),
              progress=False)
    assert str(err.value).startswith(f"{server.url}shd_test.h5.zip: MD5 {actual}, but the published digest is "
                                     f"{wrong}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shd_train.h5"]  # the bad download deleted
    assert train.stat().st_mtime_ns == before and train.read_bytes() == shd_files["shd_train.h5"]


@pytest.mark.parametrize("payload,message", [
    (b"not hdf5 at all" * 100, "not a readable HDF5 file"),
    ("hdf5 without spikes", "missing dataset 'spikes/times'"),
], ids=["not-hdf5", "hdf5-without-spikes"])
def test_an_archive_that_holds_no_shd_file_is_refused(tmp_path, serve, payload, message):
    if payload == "hdf5 without spikes":
        with h5py.File(tmp_path / "other.h5", "w") as f:
            f.create_dataset("labels", data=np.zeros(3, np.uint8))
        payload = (tmp_path / "other.h5").read_bytes()
    (tmp_path / "out").mkdir()
    archive = zipped("shd_train.h5", payload)
    server = serve({"shd_train.h5.zip": archive})
    with pytest.raises(FetchError, match=re.escape(message)) as err:
        fetch("shd", tmp_path / "out", url_base=server.url,
              archives=(Archive("shd_train.h5.zip", hashlib.md5(archive).hexdigest()),), progress=False)
    assert f"{server.url}shd_train.h5.zip: shd_train.h5 is not an SHD-format file (shd_train.h5: " in str(err.value)
    assert "nothing was written" in str(err.value)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["shd_train.h5.zip"]  # no .h5, no temp file


def test_an_archive_with_other_members_is_refused(tmp_path, serve, shd_files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("shd_train.h5", shd_files["shd_train.h5"])
        archive.writestr("../evil.h5", b"x")
    server = serve({"shd_train.h5.zip": buffer.getvalue()})
    with pytest.raises(FetchError, match=r"expected one file, shd_train.h5, in the archive; found 2: shd_train.h5, "
                                         r"../evil.h5"):
        fetch("shd", tmp_path, url_base=server.url,
              archives=(Archive("shd_train.h5.zip", hashlib.md5(buffer.getvalue()).hexdigest()),), progress=False)
    assert not (tmp_path / "shd_train.h5").exists() and not (tmp_path.parent / "evil.h5").exists()


def test_the_published_digests_are_checked_by_the_cli(tmp_path, serve, shd_files, capsys):
    files, _ = published(shd_files)  # not the published archives: their digests differ
    server = serve(files)
    assert main(["data", "fetch", "shd", "--dir", str(tmp_path), "--url-base", server.url]) == 2
    err = capsys.readouterr().err.splitlines()[-1]  # after the progress bars
    actual = hashlib.md5(files["shd_train.h5.zip"]).hexdigest()
    assert err == (f"lava-convdelay data: error: {server.url}shd_train.h5.zip: MD5 {actual}, but the published digest "
                   f"is {DATASETS['shd'][0].md5}; the download was deleted (re-run to download it again; if it "
                   f"repeats, the server or a proxy alters the file)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv,message", [
    (["--url-base", "ftp://example.org/"], "--url-base must be an http:// or https:// URL, got 'ftp://example.org/'"),
    (["--url-base", "http://127.0.0.1:9/"], "http://127.0.0.1:9/shd_train.h5.zip: cannot connect ("),
])
def test_cli_errors_are_one_line(tmp_path, serve, argv, message, capsys):
    assert main(["data", "fetch", "shd", "--dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_missing_file_on_the_server_is_named(tmp_path, serve):
    server = serve({})
    with pytest.raises(FetchError, match=re.escape(f"{server.url}shd_train.h5.zip: the server answered 404")):
        fetch("shd", tmp_path, url_base=server.url, progress=False)


def test_training_source_shd_reads_the_fetched_files(tmp_path, serve, shd_files, monkeypatch, capsys):
    monkeypatch.setenv("LAVA_CONVDELAY_DATA", str(tmp_path))
    section = {"source": "shd", "dt": 0.01, "pool": 5, "duration": 0.3}
    with pytest.raises(DataConfigError) as err:
        build_datasets(section, progress=False)
    assert str(err.value) == (f"config: data: source 'shd' without 'train' reads {tmp_path / 'shd' / 'shd_train.h5'}, "
                              f"which is not there; download it with `lava-convdelay data fetch shd` (or give "
                              f"data.train the path of your copy)")
    files, archives = published(shd_files)
    server = serve(files)
    fetch("shd", url_base=server.url, archives=archives, progress=False)  # the default folder
    train, test = build_datasets(section, progress=False)
    assert (len(train), len(test)) == (9, 6)
    assert train.path == tmp_path / "shd" / "shd_train.h5" and test.path == tmp_path / "shd" / "shd_test.h5"
