from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fmnist.data import idx
from fmnist.data.ingest import CSV_TEST, RELEASE_FILES, fetch_file, ingest, load, source_fingerprint
from fmnist.errors import DataError, SourceError
from tests.factories import snapshot, write_csv_pair
from tests.http_server import firehose, redirect, serve, trickle


def test_directory_source_verifies_and_loads(tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    result = ingest(directory, checksums=md5)
    assert result.kind == "idx"
    assert result.md5 == md5
    raw = load(result)
    assert raw.train_images.shape == (200, 28, 28)
    assert raw.test_labels.shape == (50,)


def test_md5_mismatch_names_file_and_both_sums(tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    wrong = dict(md5)
    name = RELEASE_FILES["test_labels"]
    wrong[name] = "0" * 32
    with pytest.raises(DataError, match=rf"{name}: md5 {md5[name]} does not match the official 0{{32}}"):
        ingest(directory, checksums=wrong)


def test_official_checksums_reject_other_files(tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, _ = tiny_release
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: md5 [0-9a-f]{32} does not match"):
        ingest(directory)


def test_directory_missing_one_file(tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    (directory / RELEASE_FILES["train_labels"]).unlink()
    with pytest.raises(SourceError, match=r"missing train-labels-idx1-ubyte\.gz \(found: t10k-images"):
        ingest(directory, checksums=md5)


def test_image_label_count_mismatch(tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    import gzip
    import hashlib

    name = RELEASE_FILES["train_labels"]
    gz = gzip.compress(idx.encode_labels(np.zeros(199, np.uint8)), mtime=0)
    (directory / name).write_bytes(gz)
    md5 = {**md5, name: hashlib.md5(gz).hexdigest()}
    with pytest.raises(DataError, match=r"holds 200 images but train-labels-idx1-ubyte\.gz holds 199 labels"):
        load(ingest(directory, checksums=md5))


def test_csv_pair_from_directory_and_from_train_path(tmp_path: Path) -> None:
    train_csv = write_csv_pair(tmp_path)
    for source in (tmp_path, train_csv):
        result = ingest(source)
        assert result.kind == "csv"
        raw = load(result)
        assert raw.train_images.shape == (60, 28, 28)
        assert raw.test_images.shape == (20, 28, 28)


def test_csv_without_test_sibling(tmp_path: Path) -> None:
    train_csv = write_csv_pair(tmp_path)
    (tmp_path / CSV_TEST).unlink()
    with pytest.raises(SourceError, match=r"fashion-mnist_test\.csv: missing"):
        ingest(train_csv)


def test_nonexistent_source(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no such file or directory"):
        ingest(tmp_path / "nowhere")


def test_download_from_base_url_caches_verified_files(
    tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]
) -> None:
    directory, md5 = tiny_release
    cache = tmp_path / "cache"
    with serve(directory) as url:
        result = ingest(url, cache, checksums=md5)
    assert set(p.name for p in cache.iterdir()) == set(RELEASE_FILES.values())
    assert all(result.files[n].read_bytes() == (directory / n).read_bytes() for n in RELEASE_FILES.values())
    # Cached: a second ingest with the server gone does not download again.
    again = ingest("http://127.0.0.1:9/", cache, checksums=md5)
    assert again.files == result.files


def test_download_with_wrong_checksum_keeps_nothing(tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    cache = tmp_path / "cache"
    bad = {**md5, RELEASE_FILES["train_images"]: "1" * 32}
    with serve(directory) as url, pytest.raises(DataError, match=r"failed checksum verification"):
        ingest(url, cache, checksums=bad)
    assert RELEASE_FILES["train_images"] not in snapshot(cache)


def test_unreachable_url(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError, match=r"could not download train-images-idx3-ubyte\.gz: .*unreachable"):
        ingest(f"http://127.0.0.1:{port}/", tmp_path / "cache")
    assert snapshot(tmp_path / "cache") == {}


def test_download_cut_off_half_way_leaves_no_file(tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    cache = tmp_path / "cache"
    with serve(directory, cut_off=True) as url, pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz"):
        ingest(url, cache, checksums=md5)
    assert snapshot(cache) == {}


def test_http_404(tmp_path: Path) -> None:
    with serve(tmp_path) as url, pytest.raises(SourceError, match=r"HTTP 404"):
        ingest(url, tmp_path / "cache")


# --- the ingest cache key and the re-check of a (cached) result -----------------------------------------------


def test_fingerprint_of_a_folder_follows_content_not_names_sizes_or_times(
    tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]
) -> None:
    directory, _ = tiny_release
    key = source_fingerprint(directory, tmp_path / "cache")
    first = directory / RELEASE_FILES["train_labels"]
    os.utime(first, (1, 1))  # touched: same bytes
    assert source_fingerprint(directory, tmp_path / "cache") == key
    data = bytearray(first.read_bytes())
    data[-5] ^= 1  # same name, same size, another byte
    first.write_bytes(bytes(data))
    os.utime(first, (1, 1))
    assert source_fingerprint(directory, tmp_path / "cache") != key


def test_fingerprint_of_a_csv_source_follows_both_files(tmp_path: Path) -> None:
    train_csv = write_csv_pair(tmp_path / "csv")
    key = source_fingerprint(train_csv, tmp_path / "cache")
    assert source_fingerprint(tmp_path / "csv", tmp_path / "cache") != key  # another path, another key
    write_csv_pair(tmp_path / "csv", seed=3)
    assert source_fingerprint(train_csv, tmp_path / "cache") != key


def test_fingerprint_of_a_url_needs_every_cached_file_intact(
    tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]
) -> None:
    directory, md5 = tiny_release
    url, cache = "http://127.0.0.1:9/", tmp_path / "cache"
    assert source_fingerprint(url, cache, md5) is None  # nothing cached yet: download
    shutil.copytree(directory, cache)
    key = source_fingerprint(url, cache, md5)
    assert key is not None
    assert source_fingerprint(url, tmp_path / "elsewhere", md5) is None
    shutil.copytree(directory, tmp_path / "other")
    assert source_fingerprint(url, tmp_path / "other", md5) not in {None, key}  # the key names the cache folder
    assert source_fingerprint(url, cache) is None  # not the official files
    (cache / RELEASE_FILES["test_labels"]).write_bytes(b"swapped")
    assert source_fingerprint(url, cache, md5) is None
    (cache / RELEASE_FILES["test_labels"]).unlink()
    assert source_fingerprint(url, cache, md5) is None


def test_fingerprint_of_a_malformed_url_is_none(tmp_path: Path) -> None:
    assert source_fingerprint("http://[::1", tmp_path) is None


@pytest.mark.parametrize("change", ["replaced", "deleted"])
def test_load_refuses_a_result_whose_files_changed_since_ingest(
    tiny_release: tuple[Path, dict[str, str]], change: str
) -> None:
    directory, md5 = tiny_release
    result = ingest(directory, checksums=md5)
    victim = directory / RELEASE_FILES["train_images"]
    if change == "replaced":
        shutil.copy(directory / RELEASE_FILES["test_images"], victim)
        expected = r"md5 [0-9a-f]{32}, not the [0-9a-f]{32} it was ingested with"
    else:
        victim.unlink()
        expected = "missing"
    with pytest.raises(DataError, match=rf"train-images-idx3-ubyte\.gz: {expected}; ingest the source again"):
        load(result)


# --- downloads are bounded in time and size ----------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("server", "total_timeout", "expected"),
    [(trickle, 1, r"not complete after 1 s"), (firehose, 600, r"more than 67,108,864 bytes, larger than any")],
)
def test_a_download_that_never_ends_is_given_up_on(
    tmp_path: Path, server: Callable[[], type], total_timeout: float, expected: str
) -> None:
    name = RELEASE_FILES["train_labels"]
    with serve(tmp_path, handler=server()) as url, pytest.raises(SourceError, match=rf"{name}: .*{expected}"):
        fetch_file(name, (url,), tmp_path / "cache", md5="0" * 32, timeout=5, total_timeout=total_timeout)
    assert snapshot(tmp_path / "cache") == {}


def test_a_redirect_to_a_local_file_is_refused(tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    name = RELEASE_FILES["train_labels"]
    local = (directory / name).as_uri()  # the right bytes, with the right md5: still not read
    with serve(tmp_path, handler=redirect(local)) as url, pytest.raises(SourceError, match=r"No connection adapters"):
        fetch_file(name, (url,), tmp_path / "cache", md5=md5[name])
    assert snapshot(tmp_path / "cache") == {}
