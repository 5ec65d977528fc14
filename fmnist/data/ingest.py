"""Ingest: turn a data source (docs/data.md, 'Sources') into verified local files, then into validated arrays.

pooch renames a download only after its md5 checks, so the cache never holds a partial or unverified file;
:func:`_download` bounds each transfer in time and size, against a server that trickles or never stops.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlparse

import numpy as np
import pooch
import requests
import urllib3

from fmnist.data import idx, kaggle_csv
from fmnist.data.manifest import file_digest
from fmnist.errors import DataError, SourceError
from fmnist.redaction import redact

SOURCE_ENV = "FMNIST_DATA_SOURCE"
# role -> file name, in the order the release lists them.
RELEASE_FILES = MappingProxyType(
    {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
)
# The official md5 checksums (the ones the Fashion-MNIST README and torchvision publish).
OFFICIAL_MD5 = MappingProxyType(
    {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
)
# The official download location first, then a mirror of the same files.
DEFAULT_BASE_URLS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
CSV_TRAIN = "fashion-mnist_train.csv"
CSV_TEST = "fashion-mnist_test.csv"

# A progress bar as `_download` drives it: attribute ``total``, methods ``update(n)`` and ``close()``.
ProgressFactory = Callable[[str], Any]
MAX_BYTES = 64 << 20  # the largest release file (train images) is 26 MB
TOTAL_TIMEOUT = 600.0  # seconds for one file, whatever the server does


@dataclass(frozen=True)
class IngestResult:
    """Verified local files of one source: ``files`` and ``md5`` are keyed by file name."""

    kind: Literal["idx", "csv"]
    source: str
    files: dict[str, Path]
    md5: dict[str, str]

    def to_json(self) -> dict[str, object]:
        """A JSON-friendly view (paths as strings)."""
        return {**asdict(self), "files": {k: str(v) for k, v in self.files.items()}}


@dataclass(frozen=True)
class RawDataset:
    """The whole data set as arrays: images ``(N, 28, 28)`` uint8, labels ``(N,)`` uint8."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def default_source() -> str | None:
    """The source named by ``$FMNIST_DATA_SOURCE``, or ``None`` for the official download."""
    return os.environ.get(SOURCE_ENV) or None


def ingest(
    source: str | os.PathLike[str] | None,
    cache_dir: Path = Path("data/raw"),
    *,
    progress: ProgressFactory | None = None,
    checksums: Mapping[str, str] = OFFICIAL_MD5,
) -> IngestResult:
    """Resolve ``source`` to verified local files, downloading a URL into ``cache_dir``. ``checksums``: each release
    file's md5 (only tests with a tiny release of their own pass others)."""
    text, scheme = _parse(source)
    if text is None or scheme in {"http", "https"}:
        urls = DEFAULT_BASE_URLS if text is None else (text,)
        files = {
            name: fetch_file(name, urls, cache_dir, md5=checksums[name], progress=progress)
            for name in RELEASE_FILES.values()
        }
        # pooch verified each md5 before the file got its final name.
        label = "official download" if text is None else redact(text)
        return IngestResult("idx", label, files, {name: checksums[name] for name in files})
    if scheme == "file":
        return _from_idx_dir(Path(urlparse(text).path), checksums)
    path = Path(text).expanduser()
    if path.is_dir():
        release = all((path / name).exists() for name in RELEASE_FILES.values())
        if not release and ((path / CSV_TRAIN).exists() or (path / CSV_TEST).exists()):
            return _from_csv(path / CSV_TRAIN)
        return _from_idx_dir(path, checksums)  # says which official files are missing, if any
    if path.suffix == ".csv":
        return _from_csv(path)
    if path.exists():
        raise SourceError(
            f"{path}: not a data source; pass a directory with the four official .gz files, a directory or"
            f" path of {CSV_TRAIN}, or a base URL"
        )
    raise SourceError(f"{path}: no such file or directory (data source)")


def _parse(source: str | os.PathLike[str] | None) -> tuple[str | None, str]:
    """The source as text and its URL scheme ('' for a plain path or None); a malformed http(s) URL is a SourceError."""
    if source is None:
        return None, ""
    text = os.fspath(source)
    try:
        parsed = urlparse(text)
        _ = parsed.port  # a port that is not a number, or out of range, raises here
    except ValueError as exc:
        raise SourceError(f"{text}: malformed URL ({exc}); expected e.g. https://host/folder/") from None
    if parsed.scheme in {"http", "https"} and not parsed.hostname:
        raise SourceError(f"{text}: malformed URL (no host); expected e.g. https://host/folder/")
    return text, parsed.scheme


def load(result: IngestResult) -> RawDataset:
    """The validated arrays of an ingest result. Each file is first checked against its ingested md5: a cached
    result may outlive its files."""
    for name, path in result.files.items():
        found = file_digest(path) if path.is_file() else None
        if found != result.md5.get(name):
            what = f"md5 {found}, not the {result.md5.get(name)} it was ingested with" if found else "missing"
            raise DataError(f"{path}: {what}; ingest the source again (`fmnist run --refresh-data`)")
    files = result.files
    if result.kind == "csv":
        return RawDataset(*kaggle_csv.read_csv(files[CSV_TRAIN]), *kaggle_csv.read_csv(files[CSV_TEST]))
    by_role = {role: files[name] for role, name in RELEASE_FILES.items()}
    train = idx.read_pair(by_role["train_images"], by_role["train_labels"])
    return RawDataset(*train, *idx.read_pair(by_role["test_images"], by_role["test_labels"]))


def _from_idx_dir(directory: Path, checksums: Mapping[str, str]) -> IngestResult:
    missing = [name for name in RELEASE_FILES.values() if not (directory / name).is_file()]
    if missing:
        present = sorted(p.name for p in directory.iterdir())[:8]
        raise SourceError(
            f"{directory}: missing {', '.join(missing)} (found: {', '.join(present) or 'nothing'});"
            " the directory must hold the four official Fashion-MNIST .gz files"
        )
    files = {name: directory / name for name in RELEASE_FILES.values()}
    md5 = {name: file_digest(path) for name, path in files.items()}
    for name, digest in md5.items():
        if digest != checksums[name]:
            raise DataError(
                f"{files[name]}: md5 {digest} does not match the official {checksums[name]}:"
                " the file is corrupt or not the official release; download it again"
            )
    return IngestResult("idx", str(directory), files, md5)


def _from_csv(train_csv: Path) -> IngestResult:
    if not train_csv.name.endswith("_train.csv"):
        raise SourceError(f"{train_csv}: expected a file named like {CSV_TRAIN} (with a _test.csv sibling)")
    test_csv = train_csv.with_name(train_csv.name.removesuffix("_train.csv") + "_test.csv")
    for p in (train_csv, test_csv):
        if not p.is_file():
            raise SourceError(f"{p}: missing; a CSV source needs both {train_csv.name} and {test_csv.name}")
    files = {CSV_TRAIN: train_csv, CSV_TEST: test_csv}
    return IngestResult("csv", str(train_csv), files, {k: file_digest(p) for k, p in files.items()})


def source_fingerprint(
    source: str | os.PathLike[str] | None, cache_dir: Path, checksums: Mapping[str, str] = OFFICIAL_MD5
) -> str | None:
    """A key that changes whenever the data ``ingest(source, cache_dir)`` gives does, or None: use no cached result.
    A URL's key holds only while all four files sit in ``cache_dir`` with the official md5; else None (download)."""
    try:
        text, scheme = _parse(source)
    except SourceError:
        return None  # ingest says what is wrong with it
    if text is None or scheme in {"http", "https"}:
        cached = [Path(cache_dir) / name for name in RELEASE_FILES.values()]
        if not all(p.is_file() and file_digest(p) == checksums[p.name] for p in cached):
            return None
        key: list[object] = [text or DEFAULT_BASE_URLS, str(Path(cache_dir).absolute())]
    else:
        path = Path(urlparse(text).path if scheme == "file" else text).expanduser().absolute()
        names = (*RELEASE_FILES.values(), CSV_TRAIN, CSV_TEST)
        files = (
            [path / n for n in names] if path.is_dir() else [path, path.with_name(path.name.replace("_train", "_test"))]
        )
        key = [str(path), [(p.name, file_digest(p)) for p in files if p.is_file()]]
    return hashlib.sha256(repr(key).encode()).hexdigest()


class DownloadLimitError(requests.RequestException):
    """A download took longer than its time bound or grew past its size bound."""


def fetch_file(
    name: str,
    base_urls: Sequence[str],
    cache_dir: Path,
    *,
    md5: str,
    progress: ProgressFactory | None = None,
    timeout: float = 60.0,
    total_timeout: float = TOTAL_TIMEOUT,
) -> Path:
    """Download ``name`` from the first base URL that serves it, md5 verified; return the cached path. ``timeout``
    (s) bounds each answer or read, ``total_timeout`` the whole file."""
    failures: list[str] = []
    for base in base_urls:
        url = base.rstrip("/") + "/" + name
        bar = progress(name) if progress else None
        download = functools.partial(_download, bar=bar, timeout=timeout, total_timeout=total_timeout)
        try:
            path = pooch.retrieve(url, known_hash=f"md5:{md5}", fname=name, path=cache_dir, downloader=download)
            return Path(path)
        except requests.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.response.status_code if exc.response is not None else '?'}")
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            # requests' URL errors (a redirect to file://, a bad host) are ValueErrors too: say what they say.
            why = str(exc) if isinstance(exc, DownloadLimitError | ValueError) else type(exc).__name__
            failures.append(f"{url}: unreachable or cut off ({why})")
        except ValueError as exc:  # pooch's checksum mismatch
            if "hash" not in str(exc).lower():
                raise
            failures.append(f"{url}: md5 does not match the official {md5} (corrupt or wrong file)")
    if any("md5" in f for f in failures):
        raise DataError(f"{name}: download failed checksum verification: " + "; ".join(failures))
    raise SourceError(
        f"could not download {name}: " + "; ".join(failures) + ". Check the network, or pass --data-source"
        " with a local directory holding the four official .gz files"
    )


def _download(url: str, output_file: str, pooch: object, *, bar: Any, timeout: float, total_timeout: float) -> None:
    """pooch's downloader: stream ``url`` into ``output_file``, at most ``MAX_BYTES`` in ``total_timeout`` seconds.
    ``read1`` returns what has arrived, so the clock is checked at least once per ``timeout``."""
    give_up = time.monotonic() + total_timeout
    try:
        with requests.get(url, stream=True, timeout=timeout) as response, open(output_file, "wb") as out:
            response.raise_for_status()
            if bar is not None:
                bar.total = int(response.headers.get("content-length", 0))
            written = 0
            while chunk := response.raw.read1(1 << 16, decode_content=True):
                written += out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                if written > MAX_BYTES:
                    raise DownloadLimitError(f"more than {MAX_BYTES:,} bytes, larger than any release file")
                if time.monotonic() > give_up:
                    raise DownloadLimitError(f"not complete after {total_timeout:g} s")
    finally:
        if bar is not None:
            bar.close()
