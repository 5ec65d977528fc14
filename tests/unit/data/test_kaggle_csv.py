from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fmnist.data.kaggle_csv import HEADER, encode_csv, read_csv
from fmnist.errors import DataError
from tests.factories import make_arrays


def _csv(tmp_path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    lines = [",".join(header or HEADER)] + [",".join(r) for r in rows]
    path = tmp_path / "fashion-mnist_train.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _row(label: str = "3", pixel: str = "0", at: int = 0) -> list[str]:
    row = [label] + ["0"] * 784
    if at:
        row[at] = pixel
    return row


def test_round_trip(tmp_path: Path) -> None:
    images, labels = make_arrays(25)
    path = tmp_path / "a.csv"
    path.write_bytes(encode_csv(images, labels))
    got_images, got_labels = read_csv(path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize(
    ("pixel", "message"),
    [
        ("256", r"line 3, column pixel7: 256 is outside 0..255"),
        ("-1", r"line 3, column pixel7: '-1' is not an integer in 0..255"),
        ("1.5", r"line 3, column pixel7: '1.5' is not an integer in 0..255"),
        ("NaN", r"line 3, column pixel7: missing value 'NaN'"),
        ("", r"line 3, column pixel7: missing value ''"),
        ("abc", r"line 3, column pixel7: 'abc' is not an integer"),
    ],
)
def test_bad_pixel_names_line_and_column(tmp_path: Path, pixel: str, message: str) -> None:
    path = _csv(tmp_path, [_row(), _row(pixel=pixel, at=7)])
    with pytest.raises(DataError, match=message):
        read_csv(path)


@pytest.mark.parametrize(
    ("label", "message"), [("10", r"line 2: label 10 is outside 0..9"), ("-1", r"'-1' is not an integer")]
)
def test_bad_label(tmp_path: Path, label: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_csv(_csv(tmp_path, [_row(label=label)]))


def test_extra_column(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"line 3: 786 columns, expected 785"):
        read_csv(_csv(tmp_path, [_row(), [*_row(), "0"]]))


def test_missing_column(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"line 2: 784 columns, expected 785"):
        read_csv(_csv(tmp_path, [_row()[:-1]]))


def test_wrong_header_name(tmp_path: Path) -> None:
    header = list(HEADER)
    header[0] = "class"
    with pytest.raises(DataError, match=r"line 1: header column 1 is 'class', expected 'label'"):
        read_csv(_csv(tmp_path, [_row()], header=header))


def test_header_with_wrong_column_count(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"line 1: header has 784 columns, expected 785"):
        read_csv(_csv(tmp_path, [_row()], header=list(HEADER[:-1])))


def test_header_only(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"header only, no data rows"):
        read_csv(_csv(tmp_path, []))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "fashion-mnist_train.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty file"):
        read_csv(path)


def test_non_utf8_bytes_report_offset(tmp_path: Path) -> None:
    path = _csv(tmp_path, [_row()])
    data = path.read_bytes()
    offset = len(data) - 3
    path.write_bytes(data[:offset] + b"\xff" + data[offset + 1 :])
    with pytest.raises(DataError, match=rf"byte {offset} \(line 2\): not UTF-8 text \(byte 0xff\)"):
        read_csv(path)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_windows_and_old_mac_line_ends_read(tmp_path: Path, newline: str) -> None:
    images, labels = make_arrays(5)
    path = tmp_path / "a.csv"
    path.write_bytes(encode_csv(images, labels).replace(b"\n", newline.encode()))
    got_images, got_labels = read_csv(path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_bare_carriage_return_in_a_cell_ends_the_row(tmp_path: Path) -> None:
    path = _csv(tmp_path, [_row(), _row()])
    path.write_bytes(path.read_bytes().replace(b"\n3,", b"\n3\r,", 1))  # the parser ends line 2 at the \r
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: line 2: 1 columns, expected 785$"):
        read_csv(path)


def test_unclosed_quote_names_the_row_it_opens(tmp_path: Path) -> None:
    path = _csv(tmp_path, [_row()] * 2 + [_row(pixel='"5', at=3)] + [_row()] * 200)
    with pytest.raises(DataError, match=r"line 4: not a CSV row \(field larger than field limit"):
        read_csv(path)
