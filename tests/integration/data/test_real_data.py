"""Ingest and split of the real Fashion-MNIST files (from $FMNIST_DATA_DIR)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fmnist.data import idx
from fmnist.data.ingest import OFFICIAL_MD5, RELEASE_FILES, ingest, load
from fmnist.data.manifest import read_manifest
from fmnist.data.parquet import read_split
from fmnist.data.prepare import prepare_splits
from fmnist.errors import DataError
from tests.factories import snapshot


def test_real_release_matches_official_checksums(real_data_dir: Path) -> None:
    result = ingest(real_data_dir)
    assert result.md5 == dict(OFFICIAL_MD5)
    raw = load(result)
    assert raw.train_images.shape == (60_000, 28, 28)
    assert raw.test_images.shape == (10_000, 28, 28)
    assert np.bincount(raw.train_labels).tolist() == [6000] * 10
    # Pixel statistics published for the training images (on 0..1).
    scaled = raw.train_images / 255.0
    assert scaled.mean() == pytest.approx(0.2860, abs=5e-4)
    assert scaled.std() == pytest.approx(0.3530, abs=5e-4)


def test_splits_counts_balance_disjointness(real_splits: Path, real_data_dir: Path) -> None:
    manifest = read_manifest(real_splits)
    rows = {name: info.rows for name, info in manifest.splits.items()}
    assert rows == {"train": 58_200, "val": 900, "test": 900, "official_test": 10_000}
    assert manifest.splits["val"].class_counts == [90] * 10
    assert manifest.splits["test"].class_counts == [90] * 10
    assert manifest.splits["train"].class_counts == [5820] * 10
    assert manifest.source["md5"] == dict(sorted(OFFICIAL_MD5.items()))

    # Every source training image (with its label) is in exactly one of train/val/test.
    source = idx.read_images(real_data_dir / RELEASE_FILES["train_images"]).reshape(60_000, 784)
    source_labels = idx.read_labels(real_data_dir / RELEASE_FILES["train_labels"])

    def keys(pixels: np.ndarray, labels: np.ndarray) -> list[bytes]:
        return [
            hashlib.blake2b(row.tobytes() + bytes([lab]), digest_size=16).digest()
            for row, lab in zip(pixels, labels, strict=True)
        ]

    parts = [keys(*read_split(real_splits / f"{s}.parquet")) for s in ("train", "val", "test")]
    joined = sorted(k for part in parts for k in part)
    assert joined == sorted(keys(source, source_labels))
    assert not set(parts[1]) & set(parts[2])
    assert not set(parts[0]) & (set(parts[1]) | set(parts[2]))


@pytest.mark.slow
def test_cli_split_is_deterministic(real_data_dir: Path, tmp_path: Path) -> None:
    for out in ("a", "b"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "fmnist",
                "--quiet",
                "split",
                "--data-source",
                str(real_data_dir),
                "--out",
                str(tmp_path / out),
                "--seed",
                "42",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_corrupted_real_file_fails_clearly_and_writes_nothing(real_data_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "release"
    copy.mkdir()
    for name in RELEASE_FILES.values():
        (copy / name).write_bytes((real_data_dir / name).read_bytes())
    data = bytearray((copy / RELEASE_FILES["train_images"]).read_bytes())
    data[len(data) // 2] ^= 0x55
    (copy / RELEASE_FILES["train_images"]).write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: md5 [0-9a-f]+ does not match the official"):
        prepare_splits(ingest(copy), tmp_path / "out")
    assert snapshot(tmp_path / "out") == {}
