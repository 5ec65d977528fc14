"""Bad input through the user-facing entry points: one test per case.

Each case runs ``python -m fmnist`` in a subprocess, as a user does, and checks the contract the README
promises: exit status 2, exactly one ``error:`` line on stderr naming the file/line/byte/option and the
problem, no traceback, and nothing written (the working folder is snapshotted before and after).

Two IDX cases cannot be reached from the command line: a folder source is md5-checked against the official
release before it is parsed, and ``fmnist predict`` reads image files only. Those go through the closest
public function, ``prepare_splits(ingest(folder, checksums=...))``, with the same checks.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fmnist.data import idx, kaggle_csv
from fmnist.data.ingest import CSV_TRAIN, RELEASE_FILES
from tests.cli import assert_one_line_error, fmnist, fmnist_peak_memory, user_env
from tests.factories import gzip_bomb, make_arrays, png_bomb, snapshot, write_csv_pair, write_release, write_splits
from tests.http_server import closed_port, redirect, serve


@pytest.fixture()
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return user_env(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    """The user's working folder (the command's cwd)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def run_unchanged(work: Path, env: dict[str, str], *args: str):
    """Run ``fmnist ARGS`` in ``work`` and assert it wrote no file there."""
    before = snapshot(work)
    result = fmnist(*args, cwd=work, env=env)
    assert snapshot(work) == before, "a failed command left files behind"
    return result


# Each input below that could take hundreds of MiB or more to read must cost no more than this over what the
# command needs to refuse a missing file.
MEMORY_MARGIN_MIB = 64


@pytest.fixture(scope="module")
def baseline_mib(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Peak memory of ``fmnist predict`` refusing a missing file: the command's own cost, whatever the input."""
    work = tmp_path_factory.mktemp("baseline")
    result, peak = fmnist_peak_memory("predict", "missing.png", cwd=work, env=user_env(work))
    assert_one_line_error(result, "missing.png: no such file")
    return peak


def run_bounded(work: Path, env: dict[str, str], baseline_mib: int, *args: str):
    """:func:`run_unchanged`, also asserting the command's peak memory stayed within the margin."""
    before = snapshot(work)
    result, peak = fmnist_peak_memory(*args, cwd=work, env=env)
    assert snapshot(work) == before, "a failed command left files behind"
    assert peak < baseline_mib + MEMORY_MARGIN_MIB, (peak, baseline_mib)
    return result


# --- Kaggle CSV sources: `fmnist split --data-source DIR --out out` -----------------------------------------


def csv_source(work: Path, edit: Callable[[list[str]], list[str]] | None = None, raw: bytes | None = None) -> Path:
    """A tiny Kaggle CSV pair in ``work/csv`` whose train file is edited line-wise or replaced by ``raw``."""
    train = write_csv_pair(work / "csv", n_train=20, n_test=5)
    if raw is not None:
        train.write_bytes(raw)
    elif edit is not None:
        train.write_text("\n".join(edit(train.read_text().splitlines())) + "\n")
    return train.parent


def set_cell(line_no: int, column: int, value: str) -> Callable[[list[str]], list[str]]:
    """An edit that puts ``value`` into ``column`` (0 = label) of 1-based ``line_no``."""

    def edit(lines: list[str]) -> list[str]:
        cells = lines[line_no - 1].split(",")
        cells[column] = value
        lines[line_no - 1] = ",".join(cells)
        return lines

    return edit


def split_csv(work: Path, env: dict[str, str], source: Path):
    return run_unchanged(work, env, "split", "--data-source", str(source), "--out", "out")


def test_csv_label_10(work: Path, env: dict[str, str]) -> None:
    result = split_csv(work, env, csv_source(work, set_cell(4, 0, "10")))
    assert_one_line_error(result, CSV_TRAIN, "line 4", "label", "10", "outside 0..9")


def test_csv_label_minus_1(work: Path, env: dict[str, str]) -> None:
    result = split_csv(work, env, csv_source(work, set_cell(3, 0, "-1")))
    assert_one_line_error(result, CSV_TRAIN, "line 3, column label", "'-1'", "0..9")


def test_csv_pixel_256(work: Path, env: dict[str, str]) -> None:
    result = split_csv(work, env, csv_source(work, set_cell(5, 7, "256")))
    assert_one_line_error(result, CSV_TRAIN, "line 5, column pixel7", "256", "outside 0..255")


def test_csv_pixel_negative(work: Path, env: dict[str, str]) -> None:
    result = split_csv(work, env, csv_source(work, set_cell(2, 100, "-4")))
    assert_one_line_error(result, CSV_TRAIN, "line 2, column pixel100", "'-4'", "not an integer in 0..255")


def test_csv_pixel_float(work: Path, env: dict[str, str]) -> None:
    result = split_csv(work, env, csv_source(work, set_cell(6, 784, "12.5")))
    assert_one_line_error(result, CSV_TRAIN, "line 6, column pixel784", "'12.5'", "not an integer")


def test_csv_pixel_nan(work: Path, env: dict[str, str]) -> None:
    result = split_csv(work, env, csv_source(work, set_cell(7, 1, "NaN")))
    assert_one_line_error(result, CSV_TRAIN, "line 7, column pixel1", "missing value 'NaN'")


def test_csv_pixel_empty(work: Path, env: dict[str, str]) -> None:
    result = split_csv(work, env, csv_source(work, set_cell(8, 300, "")))
    assert_one_line_error(result, CSV_TRAIN, "line 8, column pixel300", "missing value")


def test_csv_missing_column(work: Path, env: dict[str, str]) -> None:
    # The last column gone everywhere, header included: the header check names it.
    source = csv_source(work, lambda lines: [line.rsplit(",", 1)[0] for line in lines])
    result = split_csv(work, env, source)
    assert_one_line_error(result, CSV_TRAIN, "line 1", "784 columns, expected 785")


def test_csv_extra_column(work: Path, env: dict[str, str]) -> None:
    source = csv_source(work, lambda lines: [*lines[:9], lines[9] + ",0", *lines[10:]])
    result = split_csv(work, env, source)
    assert_one_line_error(result, CSV_TRAIN, "line 10", "786 columns, expected 785")


def test_csv_empty_file(work: Path, env: dict[str, str]) -> None:
    result = split_csv(work, env, csv_source(work, raw=b""))
    assert_one_line_error(result, CSV_TRAIN, "empty file")


def test_csv_header_only(work: Path, env: dict[str, str]) -> None:
    result = split_csv(work, env, csv_source(work, lambda lines: lines[:1]))
    assert_one_line_error(result, CSV_TRAIN, "header only, no data rows")


def test_csv_not_utf8(work: Path, env: dict[str, str]) -> None:
    train = write_csv_pair(work / "csv", n_train=20, n_test=5)
    raw = train.read_bytes()
    offset = raw.index(b"\n", raw.index(b"\n") + 1) + 3  # inside line 3
    train.write_bytes(raw[:offset] + b"\xff\xfe" + raw[offset:])
    result = split_csv(work, env, train.parent)
    assert_one_line_error(result, CSV_TRAIN, f"byte {offset} (line 3)", "not UTF-8", "0xff")


# --- IDX files: `fmnist predict FILE-idx3-ubyte.gz` reads IDX images without a checksum ----------------------


def idx_images_file(work: Path, data: bytes, compress: bool = True) -> Path:
    path = work / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def test_idx_truncated_gzip(work: Path, env: dict[str, str]) -> None:
    path = idx_images_file(work, idx.encode_images(make_arrays(5)[0]))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    result = run_unchanged(work, env, "predict", path.name)
    assert_one_line_error(result, path.name, "truncated gzip file", f"byte {len(whole) // 2}")


def test_idx_wrong_magic(work: Path, env: dict[str, str]) -> None:
    path = idx_images_file(work, idx.encode_labels(make_arrays(5)[1]))  # a labels file where images belong
    result = run_unchanged(work, env, "predict", path.name)
    assert_one_line_error(result, path.name, "byte 0", "IDX magic number 2049", "expected 2051")


def test_idx_images_32x32(work: Path, env: dict[str, str]) -> None:
    path = idx_images_file(work, idx.encode_images(np.zeros((3, 32, 32), np.uint8)))
    result = run_unchanged(work, env, "predict", path.name)
    assert_one_line_error(result, path.name, "bytes 8-15", "32x32, expected 28x28")


def test_idx_data_shorter_than_header_says(work: Path, env: dict[str, str]) -> None:
    data = idx.encode_images(make_arrays(5)[0])
    path = idx_images_file(work, data[:-100])
    result = run_unchanged(work, env, "predict", path.name)
    assert_one_line_error(result, path.name, "truncated IDX data", "5 images", "100 bytes missing")


def test_idx_gzip_inflating_to_gigabytes(work: Path, env: dict[str, str], baseline_mib: int) -> None:
    # 10 images as the header says, then 2 GiB of zeros: reading stops one byte past what the header promises.
    path = work / "images-idx3-ubyte.gz"
    path.write_bytes(gzip_bomb(idx.encode_images(make_arrays(10)[0]), 2 << 30))
    result = run_bounded(work, env, baseline_mib, "predict", path.name)
    assert_one_line_error(result, path.name, "byte 7856: unexpected bytes after the 10 images of 28x28")


@pytest.mark.slow  # writes a 1.6 GB file
def test_csv_of_a_million_rows(work: Path, env: dict[str, str], baseline_mib: int, tmp_path: Path) -> None:
    row = ("0," * 784 + "0\n").encode()
    with open(tmp_path / "million.csv", "wb") as fh:  # outside `work`: its snapshot would hold it in memory
        fh.write(",".join(kaggle_csv.HEADER).encode() + b"\n")
        for _ in range(100):
            fh.write(row * 10_000)
    result = run_bounded(work, env, baseline_mib, "predict", str(tmp_path / "million.csv"))
    size = (tmp_path / "million.csv").stat().st_size
    assert_one_line_error(result, f"million.csv: {size:,} bytes, more than a CSV of 100,000 images can hold")


def tiny_release_splits(folder: Path, payloads: dict[str, bytes], out: Path) -> None:
    """``prepare_splits`` on a tiny release with some files replaced (their md5s accepted as official)."""
    from fmnist.data.ingest import ingest
    from fmnist.data.prepare import prepare_splits
    from fmnist.data.split import SplitSizes

    md5 = write_release(folder, n_train=60, n_test=20)
    for role, data in payloads.items():
        gz = gzip.compress(data, mtime=0)
        (folder / RELEASE_FILES[role]).write_bytes(gz)
        md5[RELEASE_FILES[role]] = hashlib.md5(gz).hexdigest()
    prepare_splits(ingest(folder, checksums=md5), out, seed=0, sizes=SplitSizes(val=10, test=10))


def test_idx_image_label_count_mismatch(tmp_path: Path) -> None:
    # Not reachable from the CLI (a folder source must match the official md5s): closest public function.
    from fmnist.errors import DataError

    labels = make_arrays(59)[1]
    with pytest.raises(DataError) as caught:
        tiny_release_splits(tmp_path / "release", {"train_labels": idx.encode_labels(labels)}, tmp_path / "out")
    message = str(caught.value)
    assert "\n" not in message
    assert "train-images-idx3-ubyte.gz holds 60 images but train-labels-idx1-ubyte.gz holds 59 labels" in message
    assert snapshot(tmp_path / "out") == {}


def test_idx_label_10(tmp_path: Path) -> None:
    # Not reachable from the CLI (a folder source must match the official md5s): closest public function.
    from fmnist.errors import DataError

    labels = make_arrays(60)[1]
    labels[17] = 10
    with pytest.raises(DataError) as caught:
        tiny_release_splits(tmp_path / "release", {"train_labels": idx.encode_labels(labels)}, tmp_path / "out")
    message = str(caught.value)
    assert "\n" not in message
    assert "train-labels-idx1-ubyte.gz: byte 25: label 10 at item 17 is outside 0..9" in message
    assert snapshot(tmp_path / "out") == {}


# --- folder and URL sources ---------------------------------------------------------------------------------


def test_release_md5_mismatch(work: Path, env: dict[str, str]) -> None:
    write_release(work / "release")  # generated files: right names, wrong checksums
    result = run_unchanged(work, env, "split", "--data-source", "release", "--out", "out")
    assert_one_line_error(
        result, "train-images-idx3-ubyte.gz: md5", "does not match the official 8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    )


def test_release_folder_missing_one_file(work: Path, env: dict[str, str]) -> None:
    write_release(work / "release")
    (work / "release" / RELEASE_FILES["test_labels"]).unlink()  # found missing before any checksum is read
    result = run_unchanged(work, env, "ingest", "--data-source", "release")
    assert_one_line_error(result, "release: missing t10k-labels-idx1-ubyte.gz", "four official")


def test_unreachable_url(work: Path, env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    result = run_unchanged(work, env, "ingest", "--data-source", url, "--cache-dir", "cache")
    assert_one_line_error(result, f"{url}train-images-idx3-ubyte.gz: unreachable", "--data-source")


def test_download_cut_off_half_way(work: Path, env: dict[str, str], tmp_path: Path) -> None:
    write_release(tmp_path / "served")
    with serve(tmp_path / "served", cut_off=True) as url:
        result = run_unchanged(work, env, "ingest", "--data-source", url, "--cache-dir", "cache")
    assert_one_line_error(result, "could not download train-images-idx3-ubyte.gz", "cut off")


def test_url_redirecting_to_a_local_file(work: Path, env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("not for the server to choose\n")
    with serve(tmp_path, handler=redirect((tmp_path / "secret.txt").as_uri())) as url:
        result = run_unchanged(work, env, "ingest", "--data-source", url, "--cache-dir", "cache")
    assert_one_line_error(result, "train-images-idx3-ubyte.gz: unreachable", "No connection adapters", "file://")


@pytest.mark.parametrize(
    ("url", "problem"),
    [("http://[::1/", "Invalid IPv6 URL"), ("http:///fashion/", "no host"), ("http://127.0.0.1:99999/", "Port out")],
)
def test_malformed_url(work: Path, env: dict[str, str], url: str, problem: str) -> None:
    result = run_unchanged(work, env, "ingest", "--data-source", url, "--cache-dir", "cache")
    assert_one_line_error(result, f"{url}: malformed URL", problem)


# --- Parquet splits ---------------------------------------------------------------------------------------------


def test_parquet_changed_schema(work: Path, env: dict[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"label": pa.array([1, 2], pa.int64()), "pixels": pa.array([b"\0" * 784] * 2, pa.binary())})
    pq.write_table(table, work / "test.parquet")
    result = run_unchanged(work, env, "predict", "test.parquet")
    # The expected type is printed literally: `[784]` must not be swallowed as console markup.
    assert_one_line_error(result, "test.parquet: unexpected Parquet schema", "label: int64", "fixed_size_binary[784]")


def test_train_data_of_another_schema(work: Path, env: dict[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fmnist.data.manifest import file_digest

    splits = write_splits(work / "splits")
    table = pa.table({"label": pa.array([1, 2], pa.int64()), "pixels": pa.array([b"\0" * 784] * 2, pa.binary())})
    pq.write_table(table, splits / "train.parquet")
    manifest = json.loads((splits / "manifest.json").read_text())  # a manifest that vouches for it
    manifest["splits"]["train"]["sha256"] = file_digest(splits / "train.parquet", "sha256")
    (splits / "manifest.json").write_text(json.dumps(manifest))
    result = run_unchanged(work, env, "train", "torch", "--data", "splits")
    assert_one_line_error(result, "splits/train.parquet: unexpected Parquet schema", "label: int64")


def test_train_data_naming_a_parquet_file(work: Path, env: dict[str, str]) -> None:
    write_splits(work / "splits")
    result = run_unchanged(work, env, "train", "torch", "--data", "splits/train.parquet")
    assert_one_line_error(result, "'--data'", "'splits/train.parquet' is a file")


def test_manifest_hash_mismatch(work: Path, env: dict[str, str], tmp_path: Path) -> None:
    from fmnist.data.parquet import write_split

    tiny_release_splits(tmp_path / "release", {}, work / "splits")
    images, labels = make_arrays(3)
    write_split(work / "splits" / "val.parquet", images, labels)  # a valid split, but not the one recorded
    result = run_unchanged(
        work, env, "train", "torch", "--data", "splits", "--max-epochs", "1", "--checkpoints", "ckpt"
    )
    assert_one_line_error(result, "splits/val.parquet: sha256", "does not match", "manifest.json")


# --- fmnist predict -------------------------------------------------------------------------------------------


def test_predict_rgb_png(work: Path, env: dict[str, str]) -> None:
    from PIL import Image

    Image.new("RGB", (28, 28)).save(work / "photo.png")
    result = run_unchanged(work, env, "predict", "photo.png")
    assert_one_line_error(result, "photo.png: image mode RGB", "expected 8-bit grey")


def test_predict_32x32_grey_png(work: Path, env: dict[str, str]) -> None:
    from PIL import Image

    Image.new("L", (32, 32)).save(work / "big.png")
    result = run_unchanged(work, env, "predict", "big.png")
    assert_one_line_error(result, "big.png: image is 32x32, expected 28x28")


def test_predict_text_named_png(work: Path, env: dict[str, str]) -> None:
    (work / "note.png").write_text("not an image\n")
    result = run_unchanged(work, env, "predict", "note.png")
    assert_one_line_error(result, "note.png: not a readable PNG/JPEG image")


@pytest.mark.parametrize("side", [30_000, 12_000])  # past twice Pillow's own limit; between once and twice
def test_predict_png_declaring_a_huge_size(work: Path, env: dict[str, str], baseline_mib: int, side: int) -> None:
    (work / "bomb.png").write_bytes(png_bomb(side))  # under a MB; decoded, side² bytes
    result = run_bounded(work, env, baseline_mib, "predict", "bomb.png")
    assert_one_line_error(result, "bomb.png: image too large to decode", f"({side * side} pixels)", "expected 28x28")


def test_predict_missing_input_with_brackets_in_its_name(work: Path, env: dict[str, str]) -> None:
    # Brackets in a path are printed as given, not read as console markup (`[/]` used to crash the printer).
    result = run_unchanged(work, env, "predict", "shots[a][/].png")
    assert_one_line_error(result, "shots[a][/].png: no such file or folder")


@pytest.mark.slow  # imports MLflow and creates its store: 3-10 s
def test_predict_unknown_model(work: Path, env: dict[str, str]) -> None:
    from PIL import Image

    Image.new("L", (28, 28)).save(work / "shoe.png")
    result = run_unchanged(work, env, "predict", "--model", "models:/no-such-model/1", "shoe.png")
    assert_one_line_error(result, "cannot load model 'models:/no-such-model/1'", "no-such-model", "not found")


# --- nonsense options -------------------------------------------------------------------------------------------


def test_max_epochs_negative(work: Path, env: dict[str, str]) -> None:
    result = run_unchanged(work, env, "train", "torch", "--max-epochs", "-1")
    assert_one_line_error(result, "'--max-epochs'", "greater than or equal to 1", "fmnist train --help")


def test_max_epochs_zero(work: Path, env: dict[str, str]) -> None:
    result = run_unchanged(work, env, "run", "--max-epochs", "0")
    assert_one_line_error(result, "'--max-epochs'", "greater than or equal to 1", "fmnist run --help")


def test_unknown_preset(work: Path, env: dict[str, str]) -> None:
    result = run_unchanged(work, env, "train", "keras", "--preset", "fastest")
    assert_one_line_error(result, "'--preset'", "'fastest' is not one of 'seed', 'parity', 'tuned'")


def test_unknown_framework_train(work: Path, env: dict[str, str]) -> None:
    result = run_unchanged(work, env, "train", "jax")
    assert_one_line_error(result, "'framework'", "'jax' is not one of 'keras', 'torch'")


def test_unknown_framework_run(work: Path, env: dict[str, str]) -> None:
    result = run_unchanged(work, env, "run", "--frameworks", "keras,jax")
    assert_one_line_error(result, "--frameworks 'keras,jax'", "choose from keras, torch")


def test_negative_seed(work: Path, env: dict[str, str]) -> None:
    result = run_unchanged(work, env, "train", "torch", "--seed", "-3")
    assert_one_line_error(result, "'--seed'", "greater than or equal to 0")


def test_unknown_option(work: Path, env: dict[str, str]) -> None:
    result = run_unchanged(work, env, "split", "--sead", "3")
    assert_one_line_error(result, "No such option: --sead", "--seed")


def test_no_data_source_folder(work: Path, env: dict[str, str]) -> None:
    shutil.rmtree(work / "missing", ignore_errors=True)
    result = run_unchanged(work, env, "split", "--data-source", "missing", "--out", "out")
    assert_one_line_error(result, "missing: no such file or directory (data source)")


# --- fmnist ablate: rejected before anything trains (no flow, no MLflow run, no file) ------------------------------


def test_ablate_unknown_factor(work: Path, env: dict[str, str]) -> None:
    result = run_unchanged(work, env, "ablate", "--factors", "bn_momentum,bn_foo")
    assert_one_line_error(result, "--factors 'bn_momentum,bn_foo'", "unknown factor 'bn_foo'", "choose from init")


def test_ablate_factor_listed_twice(work: Path, env: dict[str, str]) -> None:
    result = run_unchanged(work, env, "ablate", "--factors", "init,bn_epsilon,init")
    assert_one_line_error(result, "--factors 'init,bn_epsilon,init'", "'init' listed twice")


def test_ablate_one_seed(work: Path, env: dict[str, str]) -> None:
    result = run_unchanged(work, env, "ablate", "--seeds", "1")
    assert_one_line_error(result, "'--seeds'", "greater than or equal to 2", "fmnist ablate --help")


@pytest.mark.parametrize("margin", ["0", "-0.5"])
def test_ablate_margin_not_positive(work: Path, env: dict[str, str], margin: str) -> None:
    result = run_unchanged(work, env, "ablate", f"--margin={margin}")
    assert_one_line_error(result, f"--margin {float(margin):g}", "give a positive number of accuracy points")


@pytest.mark.parametrize("command", [["split", "--data-source", "missing"], ["report", "--run-id", "0" * 32]])
def test_out_naming_an_existing_file(work: Path, env: dict[str, str], command: list[str]) -> None:
    (work / "keep.txt").write_text("not to be replaced\n")
    result = run_unchanged(work, env, *command, "--out", "keep.txt")
    assert_one_line_error(result, "'--out'", "'keep.txt' is a file")


@pytest.mark.parametrize("command", ["evaluate", "register", "report"])
def test_run_id_that_is_not_one(work: Path, env: dict[str, str], command: str) -> None:
    result = run_unchanged(work, env, command, "--run-id", "nope")
    assert_one_line_error(result, "'--run-id'", "'nope' is not an MLflow run id", f"fmnist {command} --help")


@pytest.mark.slow  # imports MLflow and creates its store: 3-10 s each
@pytest.mark.parametrize(("command", "says"), [("evaluate", "no finished framework runs"), ("report", "no pipeline")])
def test_run_id_that_does_not_exist(work: Path, env: dict[str, str], command: str, says: str) -> None:
    result = run_unchanged(work, env, command, "--run-id", "0" * 32)
    assert_one_line_error(result, f"run {'0' * 32}", says)
