"""BSDS300 (``paper`` scale): 8x8 patches of the Berkeley Segmentation Dataset's photographs, as in MAF.

The archive is read without extracting it and checked by structure (it has no published
checksum); the patches get the preprocessing of ``patches`` (:func:`.offline._preprocess_patches`).
"""

from __future__ import annotations

import functools
import io
import tarfile
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from .downloads import _fetch
from .offline import _PATCH, _preprocess_patches
from .splits import SPLIT_SIZES, _frozen, _rng

_BSDS300_FILE = "BSDS300-images.tgz"
_BSDS300_FOLDERS = {"train": "BSDS300/images/train/", "test": "BSDS300/images/test/"}
#: How many photographs each folder of the official archive holds.
_BSDS300_COUNTS = {"train": 200, "test": 100}
_BSDS300_VALID_IMAGE_FRACTION = 0.1  # 20 of the 200 training photographs


def _bsds300_members(tar: tarfile.TarFile, archive: Path) -> Dict[str, List[tarfile.TarInfo]]:
    """The JPEG members of each folder, sorted by name; ``ValueError`` for a wrong structure."""
    found: Dict[str, List[tarfile.TarInfo]] = {part: [] for part in _BSDS300_FOLDERS}
    for member in tar.getmembers():
        name = member.name[2:] if member.name.startswith("./") else member.name
        for part, folder in _BSDS300_FOLDERS.items():
            rest = name[len(folder) :]
            if member.isfile() and name.startswith(folder) and "/" not in rest:
                if rest.lower().endswith(".jpg"):
                    found[part].append(member)
    for part, expected in _BSDS300_COUNTS.items():
        if len(found[part]) != expected:
            raise ValueError(
                f"{archive} holds {len(found[part])} JPEG files in {_BSDS300_FOLDERS[part]}, "
                f"expected {expected}"
            )
    return {part: sorted(members, key=lambda m: m.name) for part, members in found.items()}


def _check_bsds300_archive(archive: Path) -> None:
    """Raise ``ValueError`` unless ``archive`` is a gzipped tar with the BSDS300 layout."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            _bsds300_members(tar, archive)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"{archive} is not a readable .tgz archive ({error})") from error


def _read_bsds300(archive: Path) -> Dict[str, List[np.ndarray]]:
    """``{"train": [...], "test": [...]}``: every photograph as uint8 grey levels ``(H, W)``.

    The JPEGs are decoded from the archive in memory (nothing is extracted), in the order
    of their file names.
    """
    from PIL import Image  # Pillow: only needed here

    out: Dict[str, List[np.ndarray]] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for part, members in _bsds300_members(tar, archive).items():
            images = []
            for member in members:
                stream = tar.extractfile(member)
                if stream is None:
                    raise ValueError(f"{archive}: {member.name} is not a file")
                with Image.open(io.BytesIO(stream.read())) as image:
                    grey = np.asarray(image.convert("L"), dtype=np.uint8)  # ITU-R 601 luma
                if min(grey.shape) < _PATCH:
                    raise ValueError(f"{archive}: {member.name} is smaller than a patch")
                images.append(grey)
            out[part] = images
    return out


@functools.lru_cache(maxsize=1)
def _bsds300_images(root: str) -> Dict[str, List[np.ndarray]]:
    """The grey photographs of each split: the training folder split by whole images."""
    folder = Path(root) / "bsds300"
    parts = _read_bsds300(_fetch("bsds300", _BSDS300_FILE, folder, _check_bsds300_archive))
    training = parts["train"]
    n_valid = max(1, int(round(len(training) * _BSDS300_VALID_IMAGE_FRACTION)))
    order = _rng("bsds300", "valid images").permutation(len(training))
    held_out = set(order[:n_valid].tolist())
    return {
        "train": [im for k, im in enumerate(training) if k not in held_out],
        "valid": [im for k, im in enumerate(training) if k in held_out],
        "test": parts["test"],
    }


def _random_patches(images: Sequence[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` 8x8 windows (uint8 ``(n, 64)``), uniform over every position in ``images``."""
    positions = np.array([(h - _PATCH + 1) * (w - _PATCH + 1) for h, w in map(np.shape, images)])
    which = rng.choice(len(images), size=n, p=positions / positions.sum())
    where = rng.integers(0, positions[which])  # a flat index of the window's top-left corner
    out = np.empty((n, _PATCH * _PATCH), dtype=np.uint8)
    for k, image in enumerate(images):
        here = which == k
        windows = np.lib.stride_tricks.sliding_window_view(image, (_PATCH, _PATCH))
        tops, lefts = np.divmod(where[here], windows.shape[1])
        out[here] = windows[tops, lefts].reshape(-1, _PATCH * _PATCH)
    return out


def _bsds300_pixels(split: str, root: str) -> np.ndarray:
    """The integer grey values (uint8 ``(N, 64)``) of the BSDS300 patches of ``split``."""
    n = SPLIT_SIZES["bsds300"][split]
    return _random_patches(_bsds300_images(root)[split], n, _rng("bsds300", split, "locations"))


@functools.lru_cache(maxsize=3)
def _bsds300_split(split: str, root: str) -> np.ndarray:
    pixels = _bsds300_pixels(split, root)
    return _frozen(_preprocess_patches(pixels, _rng("bsds300", split, "dequantise")))
