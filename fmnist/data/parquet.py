"""The Parquet layout of a split (docs/data.md, 'Parquet layout'), written atomically and read straight into numpy.

Pixels are one ``fixed_size_binary[784]`` column, not 784 columns or a list: it has no repetition levels, so a split
decodes into one contiguous buffer that numpy views as ``(N, 784)`` without a copy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fmnist.atomic import atomic_path
from fmnist.classes import NUM_PIXELS, check_labels
from fmnist.errors import DataError

FORMAT_VERSION = 1
SCHEMA = pa.schema(
    [
        pa.field("label", pa.uint8(), nullable=False),
        pa.field("pixels", pa.binary(NUM_PIXELS), nullable=False),
    ],
    metadata={b"fmnist.format_version": str(FORMAT_VERSION).encode()},
)


def write_split(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images ``(N, 28, 28)`` or ``(N, 784)`` and labels as a split, atomically; same arrays give same bytes."""
    flat = np.ascontiguousarray(images, dtype=np.uint8).reshape(-1)
    pixels = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(NUM_PIXELS), flat.size // NUM_PIXELS, [None, pa.py_buffer(flat)]
    )
    table = pa.Table.from_arrays([pa.array(np.asarray(labels, dtype=np.uint8)), pixels], schema=SCHEMA)
    with atomic_path(Path(path)) as tmp:
        # Dense pixel bytes gain nothing from statistics or dictionary pages, which slow writing; zstd 1 halves size.
        pq.write_table(
            table, tmp, compression="zstd", compression_level=1, use_dictionary=False, write_statistics=False
        )


def read_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels (N, 784) uint8, labels (N,) uint8)`` of a split file, its schema checked first."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: split file not found; run `fmnist split` to create it")
    return _decode(str(path), path)  # the schema comes from the footer: a wrong file is refused unread


def parse_split(data: bytes, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """`read_split` on the bytes of the file ``path`` (named in errors)."""
    return _decode(pa.py_buffer(data), path)


def _decode(source: str | pa.Buffer, path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        schema = pq.read_schema(source)
        if not schema.remove_metadata().equals(SCHEMA.remove_metadata()):
            found = ", ".join(f"{f.name}: {f.type}" for f in schema)
            raise DataError(
                f"{path}: unexpected Parquet schema ({found}); expected label: uint8,"
                f" pixels: fixed_size_binary[{NUM_PIXELS}]. Re-create it with `fmnist split`"
            )
        table = pq.read_table(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc}); run `fmnist split` again") from None
    labels = table.column("label").to_numpy()
    check_labels(labels, lambda i: f"{path}: row {i}: label {labels[i]}")
    column = table.column("pixels").combine_chunks()
    # buffers() is [validity, data]; the data buffer holds the rows back to back (offset for sliced arrays).
    data = np.frombuffer(column.buffers()[1], dtype=np.uint8)
    start = column.offset * NUM_PIXELS
    return data[start : start + len(column) * NUM_PIXELS].reshape(-1, NUM_PIXELS), labels
