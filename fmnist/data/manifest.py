"""The manifest of a split folder: what each Parquet file holds and how to check it is intact."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fmnist.atomic import atomic_write_text
from fmnist.data.checksum import file_digest
from fmnist.errors import DataError

MANIFEST_NAME = "manifest.json"
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test", "official_test")


@dataclass(frozen=True)
class SplitInfo:
    """One split file: its name in the folder, row count, rows per class and sha256."""

    file: str
    rows: int
    class_counts: list[int]
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """Everything needed to reproduce and verify a split folder."""

    format_version: int
    seed: int
    sizes: dict[str, int]
    source: dict[str, Any]
    splits: dict[str, SplitInfo]

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), so the same split always gives the same manifest bytes."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @property
    def sha256(self) -> str:
        """A hash of the manifest itself: identifies the exact data a model was trained on."""
        from fmnist.data.checksum import bytes_digest

        return bytes_digest(self.to_json().encode())


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically into ``directory``."""
    path = Path(directory) / MANIFEST_NAME
    atomic_write_text(path, manifest.to_json())
    return path


def read_manifest(directory: Path, *, verify: bool = True) -> Manifest:
    """Read a folder's manifest; with ``verify``, check every split file against its recorded sha256."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise DataError(f"{path}: no manifest; run `fmnist split --out {directory}` to create the splits")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest(
            format_version=int(raw["format_version"]),
            seed=int(raw["seed"]),
            sizes=dict(raw["sizes"]),
            source=dict(raw["source"]),
            splits={name: SplitInfo(**info) for name, info in raw["splits"].items()},
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: malformed manifest ({exc}); re-create it with `fmnist split`") from None
    for name, info in manifest.splits.items():
        # Readers open `<folder>/<split>.parquet`: a manifest naming any other file (`../x.parquet`) would have the
        # hash check vouch for a file that is never read, and send the check outside the folder.
        if info.file != f"{name}.parquet":
            raise DataError(
                f"{path}: split {name!r} names file {info.file!r}, expected {name + '.parquet'!r} in the same folder;"
                " re-create it with `fmnist split`"
            )
    if verify:
        for name, info in manifest.splits.items():
            file = Path(directory) / info.file
            if not file.is_file():
                raise DataError(f"{file}: listed in {path.name} as split {name!r} but missing")
            digest = file_digest(file, "sha256")
            if digest != info.sha256:
                raise DataError(
                    f"{file}: sha256 {digest[:12]}… does not match {info.sha256[:12]}… recorded in"
                    f" {path.name}; the file changed after the split. Re-create it with `fmnist split`"
                )
    return manifest
