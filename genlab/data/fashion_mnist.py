"""Fashion-MNIST, Zalando article images, 60k train / 10k test, 1x28x28 (Xiao, Rasul & Vollgraf 2017).

Looked for, in order: the IDX files in data_dir (or data_dir/fashion-mnist, data_dir/FashionMNIST/raw); the
Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist); a previous download in the cache
($GENLAB_CACHE or ~/.cache/genlab)/fashion-mnist; a download from a mirror, verified by SHA-256.
"""

from __future__ import annotations

from pathlib import Path

from genlab.data.base import ImageData
from genlab.data.common import Loader, Split
from genlab.data.idx_dataset import IdxDataset

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
APT_FIX = "apt-get update && apt-get install -y dataset-fashion-mnist"

# SHA-256 of the upstream gzipped IDX files (github.com/zalandoresearch/fashion-mnist; upstream MD5
# 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...). Debian's copies are recompressed, so their .gz
# bytes differ; they are read locally and never checked against these.
SPEC = IdxDataset(
    name="fashion-mnist",
    classes=CLASSES,
    subdirs=("FashionMNIST/raw", "FashionMNIST", "fashion"),
    system_dirs=(DEBIAN_DIR,),
    sha256={
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    fix=f"or install the Debian package (as root): {APT_FIX}",
    fix_short=f"{APT_FIX}, or pass data_dir with the IDX files",
)


def load(split: Split, data_dir: Path | None) -> ImageData:
    """Load Fashion-MNIST `split` from the first source found (see the module docstring)."""
    return SPEC.load(split, data_dir)


def locate(data_dir: Path | None) -> tuple[bool, str]:
    """Where Fashion-MNIST would load from without network (checks file names only)."""
    return SPEC.locate(data_dir)


LOADER = Loader(load, locate, "Fashion-MNIST clothing, 60k/10k, 28x28 grey, 10 classes", (1, 28, 28), 10)
