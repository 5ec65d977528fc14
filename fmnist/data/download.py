"""Checksummed downloads of the official release, cached on disk.

pooch does the work: it streams into a temporary file beside the target, checks the md5 and only then renames,
so the cache never holds a partial or unverified file, and a file already cached with the right checksum is not
downloaded again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pooch
import requests

from fmnist.data.release import OFFICIAL_MD5
from fmnist.errors import DataError, SourceError

# A progress bar in pooch's protocol: attributes ``total``, methods ``update(n)``, ``reset()``, ``close()``.
ProgressFactory = Callable[[str], Any]


def fetch_file(
    name: str,
    base_urls: Sequence[str],
    cache_dir: Path,
    *,
    md5: str | None = None,
    progress: ProgressFactory | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``name`` from the first base URL that serves it, verify its md5, return the cached path."""
    md5 = md5 or OFFICIAL_MD5[name]
    failures: list[str] = []
    for base in base_urls:
        url = base.rstrip("/") + "/" + name
        downloader = pooch.HTTPDownloader(progressbar=progress(name) if progress else False, timeout=timeout)
        try:
            path = pooch.retrieve(url, known_hash=f"md5:{md5}", fname=name, path=cache_dir, downloader=downloader)
            return Path(path)
        except ValueError as exc:  # pooch's checksum mismatch
            if "hash" not in str(exc).lower():
                raise
            failures.append(f"{url}: md5 does not match the official {md5} (corrupt or wrong file)")
        except requests.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.response.status_code if exc.response is not None else '?'}")
        except requests.RequestException as exc:
            failures.append(f"{url}: unreachable or cut off ({type(exc).__name__})")
    if any("md5" in f for f in failures):
        raise DataError(f"{name}: download failed checksum verification: " + "; ".join(failures))
    raise SourceError(
        f"could not download {name}: " + "; ".join(failures) + ". Check the network, or pass --data-source"
        " with a local directory holding the four official .gz files"
    )
