"""The manifest is a contract: exactly the four splits, each ``<split>.parquet`` beside it with its sha256, no key
unknown, missing or of the wrong type; every reader checks the bytes of each split it reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fmnist.data.ingest import IngestResult
from fmnist.data.manifest import file_digest, read_manifest, read_verified_split
from fmnist.data.parquet import write_split
from fmnist.data.prepare import splits_ready
from fmnist.errors import DataError
from tests.factories import make_arrays, write_splits

Edit = Callable[[dict[str, Any]], object]

CASES: dict[str, tuple[Edit, str]] = {
    "entry deleted": (lambda m: m["splits"].pop("official_test"), "no split official_test"),
    "split named ../x": (lambda m: m["splits"].update({"../x": m["splits"].pop("val")}), r"splits\.\.\./x"),
    "unknown key": (lambda m: m.update(note="hi"), r"note: unknown key"),
    "unknown split key": (lambda m: m["splits"]["train"].update(path="/etc"), r"splits\.train\.path: unknown key"),
    "missing key": (lambda m: m.pop("seed"), r"seed: Field required"),
    "missing sha256": (lambda m: m["splits"]["test"].pop("sha256"), r"splits\.test\.sha256: Field required"),
    "rows as text": (lambda m: m["splits"]["train"].update(rows="40"), r"splits\.train\.rows: .*valid integer"),
    "rows as bool": (lambda m: m["splits"]["train"].update(rows=True), r"splits\.train\.rows: .*valid integer"),
    "sha256 not hex": (lambda m: m["splits"]["val"].update(sha256="x" * 64), r"splits\.val\.sha256: .*pattern"),
    "splits not an object": (lambda m: m.update(splits=[]), r"splits: Input should be an object"),
}


@pytest.fixture()
def splits(tmp_path: Path) -> Path:
    return write_splits(tmp_path / "splits")


def ready(folder: Path) -> bool:
    """`splits_ready` for the tiny release that `write_splits` split."""
    md5 = {p.name: file_digest(p) for p in folder.with_name(folder.name + "-release").iterdir()}
    return splits_ready(IngestResult("idx", "release", {}, md5), folder, seed=0)


def edit_manifest(folder: Path, edit: Edit) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("case", CASES)
def test_a_broken_manifest_is_one_line_naming_it_and_no_split_is_ready(splits: Path, case: str) -> None:
    edit, expected = CASES[case]
    assert ready(splits)
    edit_manifest(splits, edit)
    for read in (lambda: read_manifest(splits, verify=False), lambda: read_verified_split(splits, "train")):
        with pytest.raises(DataError, match=rf"manifest\.json: .*{expected}") as caught:
            read()
        assert "\n" not in str(caught.value)
    assert not ready(splits)  # the pipeline splits again


def test_not_json_is_one_line(splits: Path) -> None:
    (splits / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match=r"manifest\.json: malformed manifest \(Invalid JSON"):
        read_manifest(splits)


def test_a_deleted_entry_no_longer_hides_a_swapped_file(splits: Path) -> None:
    # Before the manifest was a contract, deleting a split's entry skipped its hash check.
    write_split(splits / "official_test.parquet", *make_arrays(20, seed=7))
    with pytest.raises(DataError, match=r"official_test\.parquet: sha256"):
        read_verified_split(splits, "official_test")
    edit_manifest(splits, lambda m: m["splits"].pop("official_test"))
    with pytest.raises(DataError, match=r"no split official_test"):
        read_verified_split(splits, "official_test")


def test_every_split_is_checked_when_read(splits: Path) -> None:
    for name in ("train", "val", "test", "official_test"):
        pixels, labels = read_verified_split(splits, name)
        assert pixels.shape == (len(labels), 784)
    (splits / "test.parquet").write_bytes((splits / "val.parquet").read_bytes())
    with pytest.raises(DataError, match=r"test\.parquet: sha256 .* does not match .* recorded in manifest\.json"):
        read_verified_split(splits, "test")
    (splits / "test.parquet").unlink()
    with pytest.raises(DataError, match=r"test\.parquet: listed in manifest\.json as split 'test' but missing"):
        read_verified_split(splits, "test")
