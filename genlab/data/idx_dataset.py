"""Find, download and load an MNIST-style dataset stored as four IDX files (shared by mnist, fashion-mnist)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from genlab.data import download as dl
from genlab.data.base import DataError, ImageData
from genlab.data.common import make_image_data
from genlab.data.idx import find_idx_pair, idx_names, load_idx_pair
from genlab.io import cache_dir

FILE_KEYS = (("train", "images"), ("train", "labels"), ("test", "images"), ("test", "labels"))


@dataclass(frozen=True)
class IdxDataset:
    """Where one IDX dataset may live and how to fetch it.

    Args:
        name: dataset name, also the sub-folder looked for under data_dir and the cache.
        classes: class names indexed by label.
        subdirs: other sub-folders of data_dir to look in (e.g. torchvision's "MNIST/raw").
        system_dirs: fixed folders to look in after data_dir (e.g. a Debian package's folder).
        sha256: canonical .gz file name -> SHA-256, for downloads.
        mirrors: base URLs ending in "/", tried in order.
        fix: the end of the error sentence telling the user another way to provide the files offline.
        fix_short: the same advice in a few words, for list_datasets.
    """

    name: str
    classes: tuple[str, ...]
    subdirs: tuple[str, ...]
    system_dirs: tuple[Path, ...]
    sha256: dict[str, str]
    mirrors: tuple[str, ...]
    fix: str
    fix_short: str

    def user_dirs(self, data_dir: Path | None) -> list[Path]:
        """data_dir itself, then its sub-folders named after the dataset."""
        if data_dir is None:
            return []
        return [data_dir, data_dir / self.name, *(data_dir / s for s in self.subdirs)]

    def later_dirs(self) -> list[Path]:
        """Folders looked in after data_dir and any packaged copy: system folders, then the download cache."""
        return [*self.system_dirs, cache_dir() / self.name]

    def find_in(self, folders: list[Path], split: str) -> tuple[Path, Path] | None:
        """The first (images, labels) pair for `split` in `folders`, or None."""
        for folder in folders:
            if folder.is_dir() and (pair := find_idx_pair(folder, split)) is not None:
                return pair
        return None

    def load_pair(self, pair: tuple[Path, Path], split: str) -> ImageData:
        x, y = load_idx_pair(*pair, num_classes=len(self.classes))
        return make_image_data(x, y, name=self.name, split=split, classes=self.classes, source=str(pair[0]))

    def load(
        self, split: str, data_dir: Path | None, packaged: Callable[[str], ImageData | None] | None = None
    ) -> ImageData:
        """Load `split` from data_dir, else `packaged(split)`, else system folders or cache, else download.

        Args:
            split: "train" or "test".
            data_dir: user folder or None.
            packaged: returns the split from an installed package, or None when that package is absent.
        """
        if (pair := self.find_in(self.user_dirs(data_dir), split)) is not None:
            return self.load_pair(pair, split)
        if packaged is not None and (data := packaged(split)) is not None:
            return data
        if (pair := self.find_in(self.later_dirs(), split)) is None:
            try:
                pair = self.download(split)
            except DataError as e:
                raise self.missing_error(data_dir, str(e)) from None
        return self.load_pair(pair, split)

    def locate(
        self, data_dir: Path | None, packaged: Callable[[], str | None] | None = None
    ) -> tuple[bool, str]:
        """(available, where) for list_datasets: checks file names only, never the network."""

        def has_files(folder: Path) -> bool:
            return any((folder / n).is_file() for n in idx_names("train", "images"))

        for folder in self.user_dirs(data_dir):
            if has_files(folder):
                return True, str(folder)
        if packaged is not None and (where := packaged()) is not None:
            return True, where
        for folder in self.later_dirs():
            if has_files(folder):
                return True, str(folder)
        return False, f"not found; {self.fix_short}"

    def download(self, split: str) -> tuple[Path, Path]:
        """Download the two .gz files of `split` into the cache, verified by SHA-256."""
        paths = []
        for kind in ("images", "labels"):
            fname = idx_names(split, kind)[0]
            urls = [m + fname for m in self.mirrors]
            paths.append(dl.download_any(urls, cache_dir() / self.name / fname, self.sha256[fname]))
        return paths[0], paths[1]

    def missing_error(self, data_dir: Path | None, reason: str) -> DataError:
        """The DataError when no copy was found and none could be downloaded."""
        looked = ", ".join(str(p) for p in [*self.user_dirs(data_dir), *self.later_dirs()])
        names = ", ".join(idx_names(s, k)[0] for s, k in FILE_KEYS)
        return DataError(
            f"{self.name}: no data found (looked in {looked}; {reason}). To fix: pass data_dir=DIR "
            f"(CLI: --data-dir DIR) where DIR holds the four IDX files {names} (gzipped or not), "
            f"{self.fix}"
        )
