"""The official Fashion-MNIST release: its files, checksums and download locations, and the checksummed download.

pooch does the caching: it has the file written to a temporary name beside the target, checks the md5 and only then
renames, so the cache never holds a partial or unverified file, and a file already cached with the right checksum
is not downloaded again. The transfer itself (:func:`_download`) is bounded in time and size: a server that trickles
bytes forever, or never stops sending, is given up on.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pooch
import requests
import urllib3

from fmnist.errors import DataError, SourceError

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

# A progress bar in pooch's protocol: attributes ``total``, methods ``update(n)``, ``reset()``, ``close()``.
ProgressFactory = Callable[[str], Any]
MAX_BYTES = 64 << 20  # the largest release file (train images) is 26 MB
TOTAL_TIMEOUT = 600.0  # seconds for one file, whatever the server does


class DownloadLimitError(requests.RequestException):
    """A download took longer than its time bound or grew past its size bound."""


def fetch_file(
    name: str,
    base_urls: Sequence[str],
    cache_dir: Path,
    *,
    md5: str | None = None,
    progress: ProgressFactory | None = None,
    timeout: float = 60.0,
    total_timeout: float = TOTAL_TIMEOUT,
) -> Path:
    """Download ``name`` from the first base URL that serves it, verify its md5, return the cached path.

    ``timeout`` bounds the wait for each answer or read, ``total_timeout`` the whole transfer of one file.
    """
    md5 = md5 or OFFICIAL_MD5[name]
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
    """pooch's downloader protocol: stream ``url`` into ``output_file``, at most ``MAX_BYTES`` in ``total_timeout``
    seconds. Each read returns what has arrived, so the clock is looked at at least once per ``timeout``."""
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
