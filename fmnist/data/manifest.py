"""The manifest of a split folder, a strict contract (docs/data.md, 'Parquet layout'): each file's rows and sha256.

Readers get a split through :func:`read_verified_split`, which checks the bytes it parses against the manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pydantic import ConfigDict, StringConstraints, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from fmnist.atomic import atomic_write_text
from fmnist.data.parquet import parse_split
from fmnist.errors import DataError

MANIFEST_NAME = "manifest.json"
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test", "official_test")
# Present once labelled batches were added: a stratified slice of each batch, kept out of training.
RECENT = "recent"
SplitName = Literal["train", "val", "test", "official_test", "recent"]
# Strict: no type coercion ("3" is not 3, true is not 1), and a key the schema does not know is an error.
STRICT = ConfigDict(strict=True, extra="forbid")
_T = TypeVar("_T")


@dataclass(frozen=True, config=STRICT)
class SplitInfo:
    """One split file: its name in the folder, row count, rows per class and sha256."""

    file: str
    rows: int
    class_counts: list[int]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


@dataclass(frozen=True, config=STRICT)
class Manifest:
    """Everything needed to reproduce and verify a split folder. With batches, ``train`` holds the base release's
    ``base_train_rows`` first, then each batch's training rows in ``batches`` order."""

    format_version: int
    seed: int
    sizes: dict[str, int]
    source: dict[str, Any]
    splits: dict[SplitName, SplitInfo]
    data_version: str = ""
    batches: list[str] = field(default_factory=list)
    base_train_rows: int = 0

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), so the same split always gives the same manifest bytes."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @property
    def sha256(self) -> str:
        """The manifest's own hash: it names the exact data a model was trained on."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @property
    def dataset_digests(self) -> dict[str, str]:
        """Each split's short digest (the first 16 hex digits of its sha256), as MLflow records datasets."""
        return {name: info.sha256[:16] for name, info in self.splits.items()}


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """The hex digest of a file's bytes, read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def read_strict_json(path: Path, schema: type[_T], what: str, fix: str) -> _T:
    """The JSON file ``path`` as a ``schema``; else one DataError naming the first key at fault, and ``fix``."""
    try:
        return TypeAdapter(schema).validate_json(path.read_bytes())
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        problem = "unknown key" if error["type"] in {"unexpected_keyword_argument", "extra_forbidden"} else error["msg"]
        raise DataError(f"{path}: malformed {what} ({where + ': ' if where else ''}{problem}); {fix}") from None


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically into ``directory``."""
    path = Path(directory) / MANIFEST_NAME
    atomic_write_text(path, manifest.to_json())
    return path


def read_manifest(directory: Path, *, verify: bool = True) -> Manifest:
    """Read a folder's manifest, checking its schema; with ``verify``, check every split file's sha256 too."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise DataError(f"{path}: no manifest; run `fmnist split --out {directory}` to create the splits")
    manifest = read_strict_json(path, Manifest, "manifest", "re-create it with `fmnist split`")
    missing = [name for name in SPLIT_NAMES if name not in manifest.splits]
    if missing:
        raise DataError(f"{path}: no split {', '.join(missing)}; re-create it with `fmnist split`")
    for name, info in manifest.splits.items():
        # Readers open `<folder>/<split>.parquet`: another name (`../x.parquet`) would vouch for a file never read.
        if info.file != f"{name}.parquet":
            raise DataError(
                f"{path}: split {name!r} names file {info.file!r}, expected {name + '.parquet'!r} in the same folder;"
                " re-create it with `fmnist split`"
            )
    if verify:
        for name in manifest.splits:
            _split_bytes(Path(directory), manifest, name)
    return manifest


def read_verified_split(split_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Split ``name`` as ``(pixels (N, 784), labels (N,))`` uint8, checked against the manifest. The file is read
    once: the bytes whose sha256 is checked are the bytes parsed."""
    file = Path(split_dir) / f"{name}.parquet"
    return parse_split(_split_bytes(Path(split_dir), read_manifest(split_dir, verify=False), name), file)


def read_checked(file: Path, sha256: str, record: str, missing: str, changed: str) -> bytes:
    """The bytes of ``file`` if their sha256 is the one ``record`` holds, else a DataError ending ``missing`` or
    ``changed`` (what happened and what to do)."""
    if not file.is_file():
        raise DataError(f"{file}: {missing}")
    data = file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise DataError(f"{file}: sha256 {digest[:12]}… does not match {sha256[:12]}… recorded in {record}; {changed}")
    return data


def _split_bytes(directory: Path, manifest: Manifest, name: str) -> bytes:
    missing = f"listed in {MANIFEST_NAME} as split {name!r} but missing; re-create it with `fmnist split`"
    changed = "the file changed after the split. Re-create it with `fmnist split`"
    return read_checked(directory / f"{name}.parquet", manifest.splits[name].sha256, MANIFEST_NAME, missing, changed)
