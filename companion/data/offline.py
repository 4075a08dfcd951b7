"""The datasets that need no network: ``digits`` and ``faces`` from installed packages, ``patches``
cut from the photographs of ``skimage.data``, and the 2-D toys (see :mod:`.toys`)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence, Tuple

import numpy as np

from .splits import SPLIT_SIZES, ArrayPair, _frozen, _rng, _split_indices
from .toys import _sample_toy_np

__all__ = ["PATCH_TEST_IMAGES", "PATCH_TRAIN_IMAGES"]


@functools.lru_cache(maxsize=None)
def _offline_arrays(name: str, split: str) -> ArrayPair:
    if name == "digits":
        x, y = _digits(split)
    elif name == "faces":
        x, y = _faces(split), None
    elif name == "patches":
        x, y = _patches(split), None
    else:
        x, y = _sample_toy_np(name, SPLIT_SIZES[name][split], _rng(name, split))
    return _frozen(x), (None if y is None else _frozen(y))


# --------------------------------------------------------------------------- digits, faces


def _digits_table() -> Tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits of ``sklearn.datasets.load_digits`` as (counts 0..16, labels).

    The CSV file that scikit-learn ships is read directly when it is where scikit-learn
    keeps it, because importing scikit-learn takes a second or two; ``load_digits`` is the
    fallback (the tests check that both agree).
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",", dtype=np.float64)
            if table.shape == (1797, 65):
                return table[:, :64], table[:, 64].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target.astype(np.int64)


def _digits(split: str) -> Tuple[np.ndarray, np.ndarray]:
    counts, labels = _digits_table()
    x = counts.reshape(-1, 1, 8, 8) / 16.0  # the values are counts 0..16
    rows = _split_indices(len(x), SPLIT_SIZES["digits"], split, _rng("digits"))
    return x[rows].astype(np.float32), labels[rows]


def _faces(split: str) -> np.ndarray:
    import skimage.data

    faces = skimage.data.lfw_subset()[:100]  # the other 100 images are not faces
    x = np.clip(faces, 0.0, 1.0).reshape(-1, 1, 25, 25)
    rows = _split_indices(len(x), SPLIT_SIZES["faces"], split, _rng("faces"))
    return x[rows].astype(np.float32)


# --------------------------------------------------------------------------- patches

#: The photographs of ``skimage.data`` (all load offline) that the patches come from.
#: The test photographs hold a similar share of flat patches (sky, walls) as the training
#: ones: about 11% and 14% of patches have a grey-level std below 1.
PATCH_TRAIN_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle", "brick", "grass")
PATCH_TEST_IMAGES = ("camera", "coins", "gravel")
_PATCH = 8
_TILE = 32
_VALID_TILE_FRACTION = 1 / 7


def _photo(name: str) -> np.ndarray:
    """A photograph of ``skimage.data`` in 8-bit grey levels (ITU-R 709 luma for colour)."""
    import skimage.data

    if name == "motorcycle":
        image = skimage.data.stereo_motorcycle()[0]  # the left view of a stereo pair
    else:
        image = getattr(skimage.data, name)()
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.2125, 0.7154, 0.0721])
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _tiles(images: Sequence[np.ndarray]) -> np.ndarray:
    """Rows ``(image index, top, left)`` of every whole ``_TILE`` x ``_TILE`` tile."""
    rows = []
    for k, image in enumerate(images):
        tops = np.arange(0, image.shape[0] - _TILE + 1, _TILE)
        lefts = np.arange(0, image.shape[1] - _TILE + 1, _TILE)
        top, left = np.meshgrid(tops, lefts, indexing="ij")
        rows.append(np.stack([np.full(top.size, k), top.ravel(), left.ravel()], axis=1))
    return np.concatenate(rows)


@functools.lru_cache(maxsize=None)
def _patch_pixels(split: str) -> np.ndarray:
    """The integer grey values (uint8, shape ``(N, 64)``) of the patches of ``split``."""
    test = split == "test"
    images = [_photo(n) for n in (PATCH_TEST_IMAGES if test else PATCH_TRAIN_IMAGES)]
    tiles = _tiles(images)
    if not test:
        # One fixed partition of the training photographs' tiles, shared by train and valid.
        order = _rng("patches", "tiles").permutation(len(tiles))
        n_valid = int(round(len(tiles) * _VALID_TILE_FRACTION))
        tiles = tiles[np.sort(order[:n_valid] if split == "valid" else order[n_valid:])]
    rng = _rng("patches", split, "locations")
    n = SPLIT_SIZES["patches"][split]
    chosen = tiles[rng.integers(len(tiles), size=n)]
    offsets = rng.integers(0, _TILE - _PATCH + 1, size=(n, 2))
    tops, lefts = chosen[:, 1] + offsets[:, 0], chosen[:, 2] + offsets[:, 1]
    out = np.empty((n, _PATCH * _PATCH), dtype=np.uint8)
    for k, image in enumerate(images):
        windows = np.lib.stride_tricks.sliding_window_view(image, (_PATCH, _PATCH))
        here = chosen[:, 0] == k
        out[here] = windows[tops[here], lefts[here]].reshape(-1, _PATCH * _PATCH)
    return out


def _patches(split: str) -> np.ndarray:
    return _preprocess_patches(_patch_pixels(split), _rng("patches", split, "dequantise"))


def _preprocess_patches(
    pixels: np.ndarray, rng: np.random.Generator, chunk: int = 100_000
) -> np.ndarray:
    """The BSDS300 preprocessing of integer patches ``(N, 64)``: float32 ``(N, 63)``.

    Works through ``chunk`` rows at a time so that a million patches need no gigabytes of
    float64 temporaries; the noise stream is the same as in one call.
    """
    out = np.empty((len(pixels), pixels.shape[1] - 1), dtype=np.float32)
    for start in range(0, len(pixels), chunk):
        p = pixels[start : start + chunk].astype(np.float64)
        x = (p + rng.random(p.shape)) / 256.0  # dequantised, in [0, 1)
        x -= x.mean(axis=1, keepdims=True)  # remove the DC component
        out[start : start + chunk] = x[:, :-1]  # the last pixel is minus the sum of the rest
    return out
