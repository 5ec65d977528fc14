from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fmnist.data.ingest import RELEASE_FILES, ingest
from fmnist.data.manifest import read_manifest
from fmnist.data.parquet import read_split
from fmnist.data.prepare import prepare_splits
from fmnist.data.split import SplitSizes
from fmnist.errors import DataError
from tests.factories import snapshot

SIZES = SplitSizes(val=20, test=30)


def test_writes_four_splits_and_manifest(tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    out = tmp_path / "splits"
    manifest = prepare_splits(ingest(directory, checksums=md5), out, seed=5, sizes=SIZES)
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "official_test.parquet",
        "test.parquet",
        "train.parquet",
        "val.parquet",
    ]
    rows = {name: info.rows for name, info in manifest.splits.items()}
    assert rows == {"train": 150, "val": 20, "test": 30, "official_test": 50}
    assert read_manifest(out) == manifest
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["seed"] == 5 and on_disk["source"]["md5"] == md5
    # Every training image is in exactly one split.
    pixels = np.concatenate([read_split(out / f"{s}.parquet")[0] for s in ("train", "val", "test")])
    assert len({row.tobytes() for row in pixels}) == 200


def test_same_seed_gives_identical_bytes(tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    source = ingest(directory, checksums=md5)
    prepare_splits(source, tmp_path / "a", seed=9, sizes=SIZES)
    prepare_splits(source, tmp_path / "b", seed=9, sizes=SIZES)
    prepare_splits(source, tmp_path / "c", seed=10, sizes=SIZES)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert snapshot(tmp_path / "a")["val.parquet"] != snapshot(tmp_path / "c")["val.parquet"]


def test_corrupt_source_writes_nothing(tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    out = tmp_path / "splits"
    prepare_splits(ingest(directory, checksums=md5), out, seed=1, sizes=SIZES)
    before = snapshot(out)
    # Truncate the gz of the test images: parsing fails before any split is written.
    name = RELEASE_FILES["test_images"]
    data = (directory / name).read_bytes()
    (directory / name).write_bytes(data[: len(data) // 2])
    import hashlib

    md5 = {**md5, name: hashlib.md5(data[: len(data) // 2]).hexdigest()}
    with pytest.raises(DataError, match=r"truncated gzip file"):
        prepare_splits(ingest(directory, checksums=md5), out, seed=2, sizes=SIZES)
    assert snapshot(out) == before


def test_manifest_detects_a_changed_file(tmp_path: Path, tiny_release: tuple[Path, dict[str, str]]) -> None:
    directory, md5 = tiny_release
    out = tmp_path / "splits"
    prepare_splits(ingest(directory, checksums=md5), out, seed=1, sizes=SIZES)
    (out / "val.parquet").write_bytes((out / "test.parquet").read_bytes())
    with pytest.raises(DataError, match=r"val\.parquet: sha256 .* does not match .* recorded in manifest\.json"):
        read_manifest(out)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no manifest; run `fmnist split"):
        read_manifest(tmp_path)
