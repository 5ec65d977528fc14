"""Facts about the official Fashion-MNIST release: file names, checksums and download locations."""

from __future__ import annotations

from types import MappingProxyType

# role -> file name, in the order the release lists them.
RELEASE_FILES = MappingProxyType(
    {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
)

# The official md5 checksums (the ones the Fashion-MNIST README and torchvision publish).
OFFICIAL_MD5 = MappingProxyType(
    {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
)

# The official download location first, then a mirror of the same files.
DEFAULT_BASE_URLS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

CSV_TRAIN = "fashion-mnist_train.csv"
CSV_TEST = "fashion-mnist_test.csv"

TRAIN_SIZE = 60_000
TEST_SIZE = 10_000
