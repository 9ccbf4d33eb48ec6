"""Download the Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC)
from the Zenke lab (https://zenkelab.org/datasets/), checked against their
published MD5 digests, resumable and atomic (``data fetch``).

Each file goes through three names in the fetch folder, so an interrupted run
continues where it stopped and nothing incomplete ever has a final name:

1. ``NAME.h5.zip.part``: the download so far; a re-run asks the server for the
   missing bytes only (an HTTP ``Range`` request) and starts over where the server
   sends the whole file instead (status 200, no range support).
2. ``NAME.h5.zip``: the complete archive, renamed from the ``.part`` only once its
   MD5 digest matched; a wrong digest removes the ``.part`` (it cannot be resumed)
   and stops with an error naming the file, the expected and the actual digest.
3. ``NAME.h5``: the archive's one member, decompressed to a temporary file that
   must pass the SHD-format checks (:func:`lava_convdelay.data.shd.check_layout`:
   the HDF5 safety checks, datasets, types, row counts, labels) before it is renamed
   (:func:`lava_convdelay.atomic.atomic_output`); the archive is then deleted.

A file present under its final name is kept as it is and not downloaded again.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from lava_convdelay.atomic import atomic_output
from lava_convdelay.data.generate import default_cache_dir
from lava_convdelay.data.shd import DatasetFormatError, check_layout
from lava_convdelay.errors import UserError, one_line

BASE_URL = "https://zenkelab.org/datasets/"
#: bytes read and written at a time
CHUNK = 1 << 20
#: seconds without data before a connection counts as lost (the ``.part`` is kept)
TIMEOUT = 60


@dataclass(frozen=True)
class Archive:
    """One published file: ``name`` (``shd_train.h5.zip``) on the server, its
    ``md5`` (hex digest of the archive), and the member it holds (``shd_train.h5``)."""

    name: str
    md5: str

    @property
    def member(self) -> str:
        return self.name.removesuffix(".zip")


# The Zenke lab publishes each file as .h5.gz and as .h5.zip. The digests of the ZIP
# archives of all five files are published, identically, by the two maintained
# libraries that download them: tonic (github.com/neuromorphs/tonic,
# tonic/datasets/hsd.py: SHD.train_md5 / test_md5, SSC.train_md5 / valid_md5 /
# test_md5, unchanged since 2021) and SpikingJelly (github.com/fangwei123456/spikingjelly,
# spikingjelly/datasets/shd.py: resource_url_md5 of SpikingHeidelbergDigits and
# SpikingSpeechCommands). For the .h5.gz files no public source found here gives
# the digests of all five (SSC's train and test ones were found nowhere), so the
# ZIP archives are the ones fetched.
DATASETS = {
    "shd": (Archive("shd_train.h5.zip", "f3252aeb598ac776c1b526422d90eecb"),
            Archive("shd_test.h5.zip", "1503a5064faa34311c398fb0a1ed0a6f")),
    "ssc": (Archive("ssc_train.h5.zip", "d102be95e7144fcc0553d1f45ba94170"),
            Archive("ssc_valid.h5.zip", "b4eee3516a4a90dd0c71a6ac23a8ae43"),
            Archive("ssc_test.h5.zip", "a35ff1e9cffdd02a20eb850c17c37748")),
}


class FetchError(UserError):
    """A download that failed or a fetched file that cannot be used; names the URL or file."""


class ChecksumError(FetchError):
    """A downloaded archive whose MD5 digest is not the published one."""


def fetch_dir(dataset: str) -> Path:
    """Where ``data fetch DATASET`` puts its files by default and where training with
    ``"source": DATASET`` looks for them: ``$LAVA_CONVDELAY_DATA/DATASET`` (default
    ``~/.cache/lava-convdelay/DATASET``)."""
    return default_cache_dir() / dataset


def fetch(dataset: str, out_dir: str | os.PathLike | None = None, url_base: str = BASE_URL,
          archives: tuple[Archive, ...] | None = None, progress: bool = True) -> list[Path]:
    """Download, check and decompress the files of ``dataset`` (``"shd"`` or ``"ssc"``)
    into ``out_dir`` (default :func:`fetch_dir`); returns the paths of the ``.h5``
    files. ``url_base``: the folder the archives are fetched from (a mirror);
    ``archives``: the files and their digests (default :data:`DATASETS`)."""
    if dataset not in DATASETS:
        raise FetchError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    if not re.match(r"https?://", url_base):
        raise FetchError(f"--url-base must be an http:// or https:// URL, got {one_line(url_base)!r}")
    out = Path(out_dir) if out_dir is not None else fetch_dir(dataset)
    if out.exists() and not out.is_dir():
        raise FetchError(f"{out}: is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return [fetch_archive(archive, out, url_base, progress) for archive in (archives or DATASETS[dataset])]


def fetch_archive(archive: Archive, out: Path, url_base: str, progress: bool = True) -> Path:
    """``out/MEMBER`` of one archive, through the three names of the module's docstring."""
    final = out / archive.member
    if final.exists():
        print(f"{final}: already fetched, kept")
        return final
    url = url_base.rstrip("/") + "/" + archive.name
    complete = out / archive.name
    if not complete.exists():
        part = out / (archive.name + ".part")
        download(url, part, progress)
        check_md5(part, archive.md5, url, progress)
        os.replace(part, complete)
    extract(complete, archive.member, final, url, progress)
    complete.unlink()
    return final


def download(url: str, part: Path, progress: bool = True) -> None:
    """Complete ``part`` from ``url``: continue it with a Range request if it exists;
    if the server answers with the whole file (200) or a range that does not start
    where ``part`` ends, start over. The bytes received stay in ``part`` if the
    transfer breaks."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing after offset: the part is whole (its digest decides)
            return
        raise FetchError(f"{url}: the server answered {err.code} {one_line(str(err.reason))}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise FetchError(f"{url}: cannot connect ({one_line(str(reason))}); re-running continues the "
                         f"download") from None
    with response:
        if offset and (response.status != 206 or _range_start(response) != offset):
            offset = 0  # the server ignores ranges (or sent another one): restart cleanly
            if response.status == 206:  # a range we did not ask for: ask for everything
                response.close()
                part.unlink()
                return download(url, part, progress)
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        with open(part, "ab" if offset else "wb") as f, \
                tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=part.name.removesuffix(".part"),
                     disable=not progress) as bar:
            try:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as err:
                raise FetchError(f"{url}: the transfer broke after {f.tell()} bytes ({one_line(str(err))}); "
                                 f"re-running continues it") from None
        if total is not None and part.stat().st_size < total:
            raise FetchError(f"{url}: the server closed the connection after {part.stat().st_size} of {total} "
                             f"bytes; re-running continues the download")


def _range_start(response) -> int | None:
    """The first byte of a 206 response's ``Content-Range: bytes START-END/TOTAL``."""
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def md5_of(path: Path, progress: bool = False) -> str:
    """Hex MD5 digest of the file at ``path``."""
    digest = hashlib.md5()
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                     desc=f"checking {path.name}", disable=not progress, leave=False) as bar:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def check_md5(part: Path, expected: str, url: str, progress: bool = True) -> None:
    """Refuse ``part`` (downloaded from ``url``) unless its MD5 is ``expected``; a refused
    part is deleted (resuming it could never give the published file)."""
    actual = md5_of(part, progress)
    if actual != expected.lower():
        part.unlink()
        raise ChecksumError(f"{url}: MD5 {actual}, but the published digest is {expected}; the download was "
                            f"deleted (re-run to download it again; if it repeats, the server or a proxy "
                            f"alters the file)")


def extract(archive_path: Path, member: str, final: Path, url: str, progress: bool = True) -> None:
    """``final`` from the one ``member`` of the ZIP archive at ``archive_path``, written
    under a temporary name and renamed only once it passed :func:`check_layout`."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            infos = archive.infolist()
            if [info.filename for info in infos] != [member]:
                names = ", ".join(one_line(info.filename) for info in infos[:5])
                raise FetchError(f"{archive_path}: expected one file, {member}, in the archive; found "
                                 f"{len(infos)}: {names}")
            size = infos[0].file_size
            free = shutil.disk_usage(final.parent).free
            if size > free:
                raise FetchError(f"{final}: {member} takes {size} bytes decompressed, {free} are free in "
                                 f"{final.parent}")
            layout: list[tuple[int, int | None]] = []  # what the check found, for the message
            with atomic_output(final, suffix=".h5", check=lambda tmp: layout.append(_check_member(tmp, member, url))) \
                    as tmp, \
                    archive.open(infos[0]) as source, open(tmp, "wb") as target, \
                    tqdm(total=size, unit="B", unit_scale=True, desc=f"decompressing {member}",
                         disable=not progress) as bar:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    bar.update(len(chunk))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as err:
        raise FetchError(f"{archive_path}: not a readable ZIP archive ({one_line(str(err))})") from None
    samples, classes = layout[0]
    print(f"wrote {final}: {samples} samples, {classes if classes is not None else 'unnamed'} classes")


def _check_member(tmp: Path, member: str, url: str) -> tuple[int, int | None]:
    try:
        return check_layout(tmp)
    except DatasetFormatError as err:
        raise FetchError(f"{url}: {member} is not an SHD-format file "
                         f"({str(err).replace(str(tmp), member)}); nothing was written") from None
