"""The downloaded datasets MNIST and CIFAR-10 (``paper`` scale): fetched once, verified, cached, parsed.

``torchvision`` is used when it is installed (it is optional and imported lazily); otherwise
the files come over plain HTTP (``urllib``) into :func:`data_dir`. Every file is checked
against its published SHA-256 checksum before it is parsed (or, for a file without one, by
a check of its structure); a failed download raises :class:`DownloadError` saying what to do.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import struct
import tarfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .splits import ArrayPair, _frozen

__all__ = ["DATA_ENV", "SHA256", "DownloadError", "data_dir"]

DATA_ENV = "COMPANION_DATA"


class DownloadError(RuntimeError):
    """A dataset file could not be downloaded, or the file in the cache is not the right one."""


def data_dir() -> Path:
    """The folder of downloaded datasets: ``$COMPANION_DATA``, else ``~/.cache/companion``."""
    folder = os.environ.get(DATA_ENV, "").strip()
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "companion"


_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
_CIFAR10_FILE = "cifar-10-binary.tar.gz"

#: Published SHA-256 checksums of the files we download (the same values are used by
#: TensorFlow Datasets and Keras, among others).
SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "cifar-10-binary.tar.gz": "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
}

_MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
    # The Berkeley Segmentation Dataset's page, then the older address of the same file.
    "bsds300": (
        "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/bsds/",
        "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/segbench/",
    ),
}
_OFFLINE_STAND_IN = {"mnist": "digits", "cifar10": "faces", "bsds300": "patches"}
_VALID_FRACTION = {"mnist": 1 / 6, "cifar10": 1 / 10}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, path: Path, timeout: float = 60.0) -> None:
    """Copy ``url`` to ``path``, atomically (a partial file never takes the final name)."""
    partial = path.with_name(path.name + ".part")
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "companion-data"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            with open(partial, "wb") as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _fetch(
    dataset: str, filename: str, folder: Path, check: Optional[Callable[[Path], None]] = None
) -> Path:
    """The verified path of ``filename`` in ``folder``, downloading it when it is missing.

    The file is verified against :data:`SHA256`, or, for a file without a published
    checksum, by ``check(path)``, which raises ``ValueError`` saying what is wrong.
    """
    path = folder / filename
    downloaded = False
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        failures = []
        for base in _MIRRORS[dataset]:
            try:
                _download(base + filename, path)
                downloaded = True
                break
            except (OSError, http.client.HTTPException, ValueError) as error:
                failures.append((base + filename, error))
        if not downloaded:
            url, error = failures[0]
            others = "".join(f"; also tried {u}: {e}" for u, e in failures[1:])
            stand_in = _OFFLINE_STAND_IN[dataset]
            raise DownloadError(
                f"could not download {filename} from {url}: {error}{others}. You are offline or "
                f"the server is down; download it by hand to {path}, or use the offline dataset "
                f"{stand_in!r} (companion.data.load({stand_in!r}))."
            )
    retry = "It was deleted; try again." if downloaded else "Delete it and try again."
    if check is not None:
        try:
            check(path)
        except ValueError as error:
            if downloaded:
                path.unlink()
            raise DownloadError(
                f"{path} is corrupt or not the official {filename}: {error}. {retry}"
            ) from error
        return path
    digest = _sha256(path)
    if digest != SHA256[filename]:
        if downloaded:
            path.unlink()
        raise DownloadError(
            f"{path} has SHA-256 {digest}, expected {SHA256[filename]}: it is corrupt or not the "
            f"official file. {retry}"
        )
    return path


def _read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file of unsigned bytes (MNIST's format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(
            f"{path} is not an IDX file of unsigned bytes (bad magic number {data[:4]!r})"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != int(np.prod(shape)):
        raise ValueError(
            f"{path}: IDX body has {len(data) - header} bytes, the header says {shape}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_mnist(folder: Path) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images, labels), "test": ...}`` from the four IDX files in ``folder``."""
    out = {}
    for part in ("train", "test"):
        images = _read_idx(_fetch("mnist", _MNIST_FILES[f"{part}_images"], folder))
        labels = _read_idx(_fetch("mnist", _MNIST_FILES[f"{part}_labels"], folder))
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
            raise ValueError(f"MNIST {part} files have shapes {images.shape} and {labels.shape}")
        out[part] = (images[:, None], labels.astype(np.int64))
    return out


_CIFAR10_RECORD = 1 + 3 * 32 * 32  # one label byte, then the red, green and blue planes


def _read_cifar10(archive: Path) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images, labels), "test": ...}`` from the binary CIFAR-10 archive."""
    members = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
    out = {}
    with tarfile.open(archive, "r:gz") as tar:
        for part, files in members.items():
            records = []
            for name in files:
                stream = tar.extractfile(f"cifar-10-batches-bin/{name}")
                if stream is None:
                    raise ValueError(f"{archive}: cifar-10-batches-bin/{name} is not a file")
                data = np.frombuffer(stream.read(), dtype=np.uint8)
                if data.size == 0 or data.size % _CIFAR10_RECORD:
                    raise ValueError(f"{archive}: {name} is not a whole number of CIFAR-10 records")
                records.append(data.reshape(-1, _CIFAR10_RECORD))
            table = np.concatenate(records)
            labels = table[:, 0].astype(np.int64)
            if labels.max() > 9:
                raise ValueError(f"{archive}: labels above 9 in the {part} batches")
            out[part] = (table[:, 1:].reshape(-1, 3, 32, 32), labels)
    return out


def _torchvision_arrays(name: str, folder: Path) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """The same arrays as the parsers above, through torchvision's own download."""
    import torchvision.datasets as tvd

    out = {}
    for part in ("train", "test"):
        if name == "mnist":
            ds = tvd.MNIST(str(folder / "torchvision"), train=part == "train", download=True)
            images = np.asarray(ds.data, dtype=np.uint8)[:, None]
        else:
            ds = tvd.CIFAR10(str(folder / "torchvision"), train=part == "train", download=True)
            images = np.asarray(ds.data, dtype=np.uint8).transpose(0, 3, 1, 2)  # NHWC -> NCHW
        out[part] = (images, np.asarray(ds.targets, dtype=np.int64))
    return out


def _have_torchvision() -> bool:
    import importlib.util

    return importlib.util.find_spec("torchvision") is not None


@functools.lru_cache(maxsize=2)
def _downloaded_arrays(name: str, root: str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    folder = Path(root) / name
    own_names = _MNIST_FILES.values() if name == "mnist" else [_CIFAR10_FILE]
    own_files = [folder / f for f in own_names]
    if _have_torchvision() and not all(f.exists() for f in own_files):
        try:
            return _torchvision_arrays(name, folder)
        except Exception as error:  # noqa: BLE001 - any failure: our own downloader explains
            warnings.warn(
                f"torchvision could not provide {name} ({error}); trying a plain download",
                stacklevel=2,
            )
    if name == "mnist":
        return _read_mnist(folder)
    return _read_cifar10(_fetch(name, _CIFAR10_FILE, folder))


def _downloaded_split(name: str, split: str, root: str) -> ArrayPair:
    parts = _downloaded_arrays(name, root)
    if split == "test":
        x, y = parts["test"]
    else:
        x, y = parts["train"]
        n_valid = int(round(len(x) * _VALID_FRACTION[name]))
        rows = slice(len(x) - n_valid, None) if split == "valid" else slice(0, len(x) - n_valid)
        x, y = x[rows], y[rows]
    return _frozen(x), _frozen(y)
