"""Read and validate Kaggle-style Fashion-MNIST CSV files (``label,pixel1..pixel784``), as the reference study used.

pyarrow parses, typed uint8 so that bad values fail there; its errors carry no row number, so on a failure a slow
row-by-row scan names the first bad cell's line and column.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from fmnist.classes import NUM_CLASSES, NUM_PIXELS, check_labels
from fmnist.errors import DataError

HEADER: tuple[str, ...] = ("label", *(f"pixel{i}" for i in range(1, NUM_PIXELS + 1)))
# The Kaggle train file has 60,000 rows. A file larger than this many rows of three-digit cells is refused unread:
# parsing holds it in memory several times.
MAX_ROWS = 100_000
MAX_BYTES = MAX_ROWS * 4 * len(HEADER)
_INT = re.compile(r"[0-9]+")
_LINE_END = re.compile(rb"[\r\n]")  # the parser ends a line at \n, \r\n or a bare \r


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 28, 28) uint8, labels (N,) uint8)`` of a Kaggle-style CSV file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise DataError(
            f"{path}: {size:,} bytes, more than a CSV of {MAX_ROWS:,} images can hold (the Kaggle train file has"
            " 60,000); pass a smaller file, or the images as IDX or Parquet"
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: empty file; expected a header 'label,pixel1,...,pixel784' and one row per image")
    end = _LINE_END.search(raw)
    header_end = end.start() if end else len(raw)
    names = [n.strip().strip('"') for n in _decode(raw[:header_end], path).strip().lstrip("\ufeff").split(",")]
    if len(names) != len(HEADER):
        raise DataError(
            f"{path}: line 1: header has {len(names)} columns, expected {len(HEADER)} ('label,pixel1,...,pixel784')"
        )
    for i, (got, want) in enumerate(zip(names, HEADER, strict=True)):
        if got != want:
            raise DataError(f"{path}: line 1: header column {i + 1} is {got!r}, expected {want!r}")
    if not raw[header_end:].strip():
        raise DataError(f"{path}: header only, no data rows")
    # Any byte that is not UTF-8 sits in a cell of digits, so the parser fails on it and the scan names it.
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(HEADER, pa.uint8()), strings_can_be_null=False)
    try:
        table = pacsv.read_csv(io.BytesIO(raw), convert_options=convert)
    except pa.ArrowInvalid as exc:
        _raise_first_bad_row(raw, path, str(exc))
    if any(col.null_count for col in table.columns):
        _raise_first_bad_row(raw, path, "missing values")
    labels = table.column("label").to_numpy()
    check_labels(labels, lambda i: f"{path}: line {i + 2}: label {labels[i]}")
    return np.column_stack([col.to_numpy() for col in table.columns[1:]]).reshape(-1, 28, 28), labels


def encode_csv(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Images and labels as Kaggle-style CSV bytes."""
    rows = np.column_stack([labels, np.reshape(images, (len(labels), -1))]).astype(np.int64)
    buf = io.StringIO()
    np.savetxt(buf, rows, fmt="%d", delimiter=",", header=",".join(HEADER), comments="")
    return buf.getvalue().encode("ascii")


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path}: byte {exc.start} (line {line}): not UTF-8 text (byte 0x{raw[exc.start]:02x});"
            " expected a plain CSV of integers"
        ) from None


def _raise_first_bad_row(raw: bytes, path: Path, detail: str) -> NoReturn:
    """A DataError naming the first malformed cell, found row by row (else one quoting ``detail``)."""
    # newline="": the csv module then ends lines where the parser does (a bare \r too) and counts them alike.
    reader = csv.reader(io.StringIO(_decode(raw, path), newline=""))
    next(reader)  # header, already checked
    line_no = 2  # where the current row starts (a quoted cell may span lines)
    try:
        for row in reader:
            if row:  # blank lines are skipped by the fast parser too
                _check_row(row, path, line_no)
            line_no = reader.line_num + 1
    except csv.Error as exc:  # e.g. an unclosed quote that runs past the csv module's field size limit
        raise DataError(f"{path}: line {line_no}: not a CSV row ({exc}); expected comma-separated integers") from None
    # The scan and the parser can disagree on a byte (a vertical tab the scan strips as whitespace): still one line.
    raise DataError(f"{path}: not a CSV of integers the parser accepts: {detail.splitlines()[0]!r}")


def _check_row(row: list[str], path: Path, line_no: int) -> None:
    if len(row) != len(HEADER):
        raise DataError(f"{path}: line {line_no}: {len(row)} columns, expected {len(HEADER)}")
    for col, cell in zip(HEADER, row, strict=True):
        text = cell.strip(" \t")  # what the parser trims; other whitespace (\v, \f) it rejects
        if text == "" or text.lower() in {"nan", "na", "null", "none"}:
            raise DataError(f"{path}: line {line_no}, column {col}: missing value {cell!r}")
        limit = NUM_CLASSES - 1 if col == "label" else 255
        if not _INT.fullmatch(text):
            raise DataError(f"{path}: line {line_no}, column {col}: {cell!r} is not an integer in 0..{limit}")
        value = int(text)
        if value > limit:
            raise DataError(f"{path}: line {line_no}, column {col}: {value} is outside 0..{limit}")
