"""Labelled batches: the three layouts and their one-line errors, the store (duplicates, immutability, the data
version), the split with batches, and the shift generator. Tiny generated images only."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fmnist.data import idx
from fmnist.data.batch_store import accept_batch, data_version, held_batches, read_batch_part, row_keys
from fmnist.data.ingest import ingest
from fmnist.data.labelled_batch import read_labelled_batch
from fmnist.data.manifest import RECENT, read_manifest, read_verified_split
from fmnist.data.prepare import prepare_splits, splits_ready
from fmnist.data.shifts import Shift, draw_batch, write_batch
from fmnist.data.split import SplitSizes
from fmnist.errors import DataError
from tests.factories import make_arrays, snapshot, write_release

SIZES = SplitSizes(val=10, test=10)


def _batch(n: int = 50, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    images, labels = make_arrays(n, seed)
    return images.reshape(n, 784), labels


@pytest.mark.parametrize("layout", ["png", "csv", "idx"])
def test_every_layout_reads_back_the_same_labelled_images(tmp_path: Path, layout: str) -> None:
    pixels, labels = _batch()
    where = write_batch(tmp_path / ("b.csv" if layout == "csv" else "b"), pixels, labels, layout)  # type: ignore[arg-type]
    batch = read_labelled_batch(where)
    assert batch.format == layout
    np.testing.assert_array_equal(batch.pixels, pixels)
    np.testing.assert_array_equal(batch.labels, labels)


def _png_folder(tmp_path: Path, n: int = 3) -> Path:
    folder = tmp_path / "pngs"
    write_batch(folder, *_batch(n), "png")
    return folder


def _bad_size(folder: Path) -> str:
    Image.new("L", (32, 32)).save(folder / "00000.png")
    return "00000.png: image is 32x32, expected 28x28"


def _unknown_label(folder: Path) -> str:
    (folder / "labels.csv").write_text("file,label\n00000.png,3\n00001.png,12\n00002.png,1\n")
    return "line 3: unknown label '12'"


def _missing_image(folder: Path) -> str:
    (folder / "00001.png").unlink()
    return "00001.png: named in labels.csv but missing"


def _unlisted_image(folder: Path) -> str:
    Image.new("L", (28, 28)).save(folder / "extra.png")
    return "extra.png: not listed in labels.csv"


def _truncated_png(folder: Path) -> str:
    data = (folder / "00002.png").read_bytes()
    (folder / "00002.png").write_bytes(data[: len(data) // 2])
    return "00002.png: not a readable PNG/JPEG image"


@pytest.mark.parametrize("damage", [_bad_size, _unknown_label, _missing_image, _unlisted_image, _truncated_png])
def test_a_bad_png_batch_is_one_line_naming_the_file_and_problem(tmp_path: Path, damage) -> None:
    folder = _png_folder(tmp_path)
    expected = damage(folder)
    with pytest.raises(DataError) as error:
        read_labelled_batch(folder)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_an_empty_folder_and_a_truncated_idx_pair_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty folder"):
        read_labelled_batch(tmp_path / "empty")
    folder = write_batch(tmp_path / "idx", *_batch(5), "idx")
    images = folder / "batch-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-100]))
    with pytest.raises(DataError, match=r"batch-images-idx3-ubyte\.gz"):
        read_labelled_batch(folder)


def test_an_idx_pair_with_different_counts_is_refused(tmp_path: Path) -> None:
    folder = write_batch(tmp_path / "idx", *_batch(5), "idx")
    (folder / "batch-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx.encode_labels(np.zeros(4, np.uint8))))
    with pytest.raises(DataError, match=r"holds 5 images but batch-labels-idx1-ubyte\.gz holds 4 labels"):
        read_labelled_batch(folder)


def _accept(root: Path, pixels: np.ndarray, labels: np.ndarray, held: np.ndarray | None = None):
    batch = read_labelled_batch(
        write_batch(root.parent / f"src-{len(list(root.parent.iterdir()))}", pixels, labels, "idx")
    )
    return accept_batch(root, batch, "src", np.zeros(0, np.uint64) if held is None else held, added_at="now")


def test_a_batch_is_recorded_once_with_a_stratified_recent_slice_and_checksums(tmp_path: Path) -> None:
    root = tmp_path / "batches"
    pixels, labels = _batch(100)
    info = _accept(root, pixels, labels)
    assert (info.sequence, info.rows, info.train_rows, info.recent_rows) == (1, 100, 80, 20)
    recent_x, recent_y = read_batch_part(root, info, RECENT)
    train_x, _ = read_batch_part(root, info, "train")
    assert np.bincount(recent_y, minlength=10).tolist() == [2] * 10  # every class in proportion
    together = np.concatenate([train_x, recent_x])
    assert sorted(map(bytes, together)) == sorted(map(bytes, pixels))
    assert held_batches(root) == [info]
    before = snapshot(root)
    with pytest.raises(DataError, match=f"already added as batch {info.id}"):
        _accept(root, pixels, labels)
    assert snapshot(root) == before  # nothing recorded
    (root / info.id / "train.parquet").write_bytes(b"changed")
    with pytest.raises(DataError, match="changed after it was accepted"):
        read_batch_part(root, info, "train")


def test_a_batch_holding_any_image_already_held_is_refused_whole(tmp_path: Path) -> None:
    root = tmp_path / "batches"
    pixels, labels = _batch(40)
    held = row_keys(pixels[:3], labels[:3])
    with pytest.raises(DataError, match=r"3 of 40 images are already held \(first: batch-images-idx3-ubyte.gz#0\)"):
        _accept(root, pixels, labels, held)
    assert held_batches(root) == []
    # The same pixels under another label are another labelled example, and a repeat inside the batch is one.
    relabelled = (labels + 1) % 10
    assert _accept(root, pixels, relabelled, held).rows == 40
    twice = np.concatenate([pixels[:5], pixels[:5]]), np.concatenate([labels[:5], labels[:5]])
    with pytest.raises(DataError, match="5 of 10 images are already held"):
        _accept(root, *twice)


def test_the_data_version_names_the_base_and_every_batch_in_order(tmp_path: Path) -> None:
    root = tmp_path / "batches"
    first = _accept(root, *_batch(20, seed=1))
    second = _accept(root, *_batch(20, seed=2))
    base = {"a.gz": "1" * 32}
    versions = {data_version(base, []), data_version(base, [first]), data_version(base, [first, second])}
    assert len(versions) == 3
    assert data_version(base, [first, second]) != data_version(base, [second, first])
    assert data_version(base, [first]) == data_version(dict(base), held_batches(root)[:1])


def test_batches_extend_train_and_fill_recent_and_leave_the_base_split_as_it_was(tmp_path: Path) -> None:
    md5 = write_release(tmp_path / "release", n_train=200, n_test=50)
    source = ingest(tmp_path / "release", checksums=md5)
    plain = prepare_splits(source, tmp_path / "plain", seed=3, sizes=SIZES)
    root = tmp_path / "batches"
    info = _accept(root, *_batch(30))
    assert not splits_ready(source, tmp_path / "plain", 3, root)  # a new batch makes the old split stale
    with_batches = prepare_splits(source, tmp_path / "with", seed=3, sizes=SIZES, batches_root=root)
    assert splits_ready(source, tmp_path / "with", 3, root)
    assert with_batches.batches == [info.id] and with_batches.base_train_rows == plain.splits["train"].rows
    assert with_batches.data_version != plain.data_version
    for name in ("val", "test", "official_test"):
        assert with_batches.splits[name] == plain.splits[name]
    base_x, _ = read_verified_split(tmp_path / "plain", "train")
    train_x, _ = read_verified_split(tmp_path / "with", "train")
    np.testing.assert_array_equal(train_x[: len(base_x)], base_x)
    assert len(train_x) == len(base_x) + info.train_rows
    assert read_verified_split(tmp_path / "with", RECENT)[0].shape == (info.recent_rows, 784)
    assert read_manifest(tmp_path / "with", verify=True).splits[RECENT].rows == info.recent_rows


def test_drawn_batches_are_seeded_follow_the_class_mix_and_never_equal_their_sources() -> None:
    pixels, labels = _batch(2000, seed=3)
    shift = Shift(brightness=20, rotate=5, class_weights={6: 5.0, 0: 0.0})
    a = draw_batch(pixels, labels, 500, shift, seed=1)
    b = draw_batch(pixels, labels, 500, shift, seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    counts = np.bincount(a[1], minlength=10)
    assert counts[0] == 0 and counts[6] > 2 * counts[1]
    assert not np.isin(row_keys(*a), row_keys(pixels, labels)).any()
    with pytest.raises(DataError, match="class weights"):
        Shift(class_weights={12: 1.0})


def test_the_batches_label_round_trips_and_names_no_batch_none() -> None:
    from fmnist.data.batch_store import batches_label, parse_batches_label

    assert batches_label([]) == "none" and parse_batches_label("none") == [] and parse_batches_label(None) == []
    assert parse_batches_label(batches_label(["0001-a", "0002-b"])) == ["0001-a", "0002-b"]
