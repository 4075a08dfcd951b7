"""Every dataset of the book, behind one function: ``load(name, split)``.

The machines that build and test the book have no network, so the default datasets ship
inside installed packages or are generated; MNIST, CIFAR-10 and BSDS300 (``paper`` scale)
are downloaded once, verified and cached.

=========  ==================  =====================================  ========================
name       shape of one split  source                                 train / valid / test
=========  ==================  =====================================  ========================
digits     (N, 1, 8, 8)        ``sklearn.datasets.load_digits``       1,297 / 250 / 250
faces      (N, 1, 25, 25)      the 100 faces of                       70 / 15 / 15
                               ``skimage.data.lfw_subset()``
patches    (N, 63)             8x8 patches of photos in               60,000 / 10,000 / 20,000
                               ``skimage.data``, BSDS300-style
ring       (N, 2)              8 Gaussians on a circle (PacGAN)       10,000 / 2,500 / 2,500
grid       (N, 2)              25 Gaussians on a 5x5 grid (PacGAN)    10,000 / 2,500 / 2,500
bars       (N, 2)              six bars with a gap (Yoo et al.)       10,000 / 2,500 / 2,500
mnist      (N, 1, 28, 28)      MNIST, downloaded                      50,000 / 10,000 / 10,000
cifar10    (N, 3, 32, 32)      CIFAR-10 (binary version), downloaded  45,000 / 5,000 / 10,000
bsds300    (N, 63)             8x8 patches of the BSDS300 photos,     1,000,000 / 50,000 /
                               downloaded; as ``patches``             250,000
=========  ==================  =====================================  ========================

Images are float32 in [0, 1]; :func:`to_levels` turns them into integer grey levels for
models of discrete pixels. Class labels (digits, mnist, cifar10) and mixture components
(ring, grid, bars) come from :func:`load_labels`, row for row with :func:`load`.

Every split is fixed: the same call gives the same numbers on every machine (NumPy's
PCG64 generator seeded with constants of this module). The arrays are computed once per
process and cached; every call returns a fresh tensor, so a caller may modify it freely.

Design notes
------------
* ``faces``: ``lfw_subset`` holds 100 faces followed by 100 *non-faces* (background
  crops); only the faces are used.
* ``patches`` follows the BSDS300 preprocessing of Uria et al. (RNADE), used by MADE, MAF
  and the latent density paper: integer grey values ``p`` in {0..255} of an 8x8 patch are
  dequantised, ``(p + u) / 256`` with ``u ~ U[0, 1)``, the patch mean is subtracted (this
  removes the DC component), and the bottom-right pixel is dropped because it is minus the
  sum of the other 63. Test patches come from photographs that no training patch sees
  (``camera``, ``coins``, ``gravel``), as BSDS300 holds out whole images. Validation
  patches come from the training photographs, but from 32x32 tiles that no training patch
  touches (a fixed seventh of the tiles), so no pixel is shared between the splits.
* ``bsds300`` is the real thing at the sizes of MAF (Papamakarios et al., 2017): the
  Berkeley Segmentation Dataset's 200 training and 100 test photographs
  (``BSDS300-images.tgz``, read from the archive without extracting it), converted to
  grey levels with ITU-R 601 luma (Pillow's ``"L"`` mode, the same weights as MATLAB's
  ``rgb2gray``; the papers do not say which conversion the original files used), then
  8x8 patches at uniformly random positions with the preprocessing of ``patches``. Test
  patches come from the 100 test photographs; validation patches from a fixed tenth (20)
  of the training photographs, held out whole; training patches from the other 180.
  Patches are drawn with replacement of positions, so the sizes are a choice (those of
  MAF); the rows are in random order, so ``load("bsds300")[:n]`` is a random subset.
  One split costs about 4 bytes x 63 x N in the cache (250 MB for the training split).
* Toys: ``ring`` and ``grid`` are the PacGAN benchmark (Lin et al., 2018): 8 Gaussians of
  std 0.01 equally spaced on the unit circle, and 25 Gaussians of std 0.05 centred on
  {-4, -2, 0, 2, 4}^2, equally weighted. ``bars`` is the target of Fig. 5 of Yoo et al.;
  see :func:`sample_toy` for its geometry and :func:`bars_gap_mask` for its gap.
* Downloads: ``torchvision`` is used when it is installed (it is optional and imported
  lazily); otherwise the files come over plain HTTP (``urllib``) into :func:`data_dir`.
  Every file we download is checked against its published SHA-256 checksum before it is
  parsed; a failed download raises :class:`DownloadError` saying what to do. BSDS300 has no
  published checksum (and the server's archive is not known to be byte-stable), so its
  archive is checked by structure instead: it must be a gzipped tar holding exactly
  200 ``BSDS300/images/train/*.jpg`` and 100 ``BSDS300/images/test/*.jpg`` files.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import io
import os
import struct
import tarfile
import urllib.error
import urllib.request
import warnings
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = [
    "BARS_GAP_X",
    "BARS_GAP_Y",
    "BARS_HALF_LENGTH",
    "BARS_OFFSET",
    "DATA_ENV",
    "DOWNLOAD_NAMES",
    "DownloadError",
    "NAMES",
    "OFFLINE_NAMES",
    "PATCH_TEST_IMAGES",
    "PATCH_TRAIN_IMAGES",
    "SHA256",
    "SPLITS",
    "SPLIT_SIZES",
    "TOY_NAMES",
    "bars_gap_mask",
    "data_dir",
    "from_levels",
    "load",
    "load_labels",
    "names",
    "sample_toy",
    "to_levels",
    "toy_centers",
    "toy_std",
]

SPLITS = ("train", "valid", "test")
TOY_NAMES = ("ring", "grid", "bars")
OFFLINE_NAMES = ("digits", "faces", "patches") + TOY_NAMES
DOWNLOAD_NAMES = ("mnist", "cifar10", "bsds300")
NAMES = OFFLINE_NAMES + DOWNLOAD_NAMES

_TOY_SIZES = {"train": 10_000, "valid": 2_500, "test": 2_500}

#: Number of rows of every split. MNIST and CIFAR-10 are given for the official files:
#: their validation split is the last sixth (MNIST) or tenth (CIFAR-10) of the official
#: training set, and their test split is the official test set. BSDS300 patches are
#: sampled, at the sizes of MAF.
SPLIT_SIZES: Dict[str, Dict[str, int]] = {
    "digits": {"train": 1_297, "valid": 250, "test": 250},
    "faces": {"train": 70, "valid": 15, "test": 15},
    "patches": {"train": 60_000, "valid": 10_000, "test": 20_000},
    "ring": dict(_TOY_SIZES),
    "grid": dict(_TOY_SIZES),
    "bars": dict(_TOY_SIZES),
    "mnist": {"train": 50_000, "valid": 10_000, "test": 10_000},
    "cifar10": {"train": 45_000, "valid": 5_000, "test": 10_000},
    "bsds300": {"train": 1_000_000, "valid": 50_000, "test": 250_000},
}

_UNLABELLED = ("faces", "patches", "bsds300")

# One constant seeds everything; each (dataset, split) gets its own stream from it.
_SEED = 20_240_611

ArrayPair = Tuple[np.ndarray, Optional[np.ndarray]]


def names() -> Tuple[str, ...]:
    """The names :func:`load` knows: the offline ones first, then the downloaded ones."""
    return NAMES


def _check_name(name: object, allowed: Sequence[str] = NAMES, what: str = "name") -> str:
    if not isinstance(name, str):
        raise TypeError(
            f"{what} must be a str, one of {', '.join(allowed)}; got {type(name).__name__}"
        )
    if name not in allowed:
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(allowed)}")
    return name


def _check_split(split: object) -> str:
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    return split


def _rng(*keys: Union[int, str]) -> np.random.Generator:
    """A generator seeded from :data:`_SEED` and ``keys`` (strings hashed with CRC-32)."""
    words = [_SEED] + [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(words)


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False  # the cache must never change under a caller
    return array


# --------------------------------------------------------------------------- public API


def load(name: str, split: str = "train") -> torch.Tensor:
    """Load one split of a dataset as a float32 tensor.

    Args:
        name: one of :data:`NAMES` (see the module docstring for shapes, sources and sizes).
        split: ``"train"``, ``"valid"`` or ``"test"``; the splits are fixed and disjoint.

    Returns:
        A new float32 CPU tensor (the caller may modify it): images in [0, 1] of shape
        ``(N, C, H, W)``, patches (``patches``, ``bsds300``) ``(N, 63)``, 2-D toys ``(N, 2)``.

    Raises:
        ValueError: for an unknown ``name`` or ``split``.
        DownloadError: when ``mnist``, ``cifar10`` or ``bsds300`` are neither cached nor
            downloadable (or the cached file is not the official one).
    """
    name = _check_name(name)
    split = _check_split(split)
    x, _ = _arrays(name, split)
    if x.dtype == np.uint8:  # downloaded images are cached as bytes to save memory
        return torch.from_numpy(x.astype(np.float32) / np.float32(255.0))
    return torch.from_numpy(np.array(x, dtype=np.float32))


def load_labels(name: str, split: str = "train") -> torch.Tensor:
    """The labels of the rows of ``load(name, split)``, as an int64 tensor of shape ``(N,)``.

    For ``digits``, ``mnist`` and ``cifar10`` these are the classes (0-9); for the toys the
    mixture component each point was drawn from (``ring``: 0-7 counter-clockwise from
    angle 0; ``grid``: 0-24, row-major in the order of :func:`toy_centers`; ``bars``: 0-5,
    see :func:`sample_toy`). Select the digits 0 and 1, for instance, with
    ``x[(y == 0) | (y == 1)]``.

    Raises:
        ValueError: for an unknown name or split, or for ``faces``, ``patches`` and
            ``bsds300``, which have no labels.
    """
    name = _check_name(name)
    split = _check_split(split)
    _, y = _arrays(name, split)
    if y is None:
        labelled = [n for n in NAMES if n not in _UNLABELLED]
        raise ValueError(
            f"dataset {name!r} has no labels; labelled datasets: {', '.join(labelled)}"
        )
    return torch.from_numpy(np.array(y, dtype=np.int64))


def _arrays(name: str, split: str) -> ArrayPair:
    if name == "bsds300":
        return _bsds300_split(split, str(data_dir())), None
    if name in DOWNLOAD_NAMES:
        return _downloaded_split(name, split, str(data_dir()))
    return _offline_arrays(name, split)


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


def _split_indices(
    n: int, sizes: Dict[str, int], split: str, rng: np.random.Generator
) -> np.ndarray:
    """The rows of ``split`` in a fixed random permutation of ``range(n)``."""
    assert sum(sizes.values()) == n, (n, sizes)
    order = rng.permutation(n)
    start = 0
    for s in SPLITS:
        if s == split:
            return np.sort(order[start : start + sizes[s]])
        start += sizes[s]
    raise AssertionError(split)


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


# --------------------------------------------------------------------------- 2-D toys

_TOY_STD = {"ring": 0.01, "grid": 0.05, "bars": 0.1}

#: ``bars``: half the length of every bar (the uniform coordinate is U(-10, 10)).
BARS_HALF_LENGTH = 10.0
#: ``bars``: the two outer bars of each direction sit at -3 and +3.
BARS_OFFSET = 3.0
#: ``bars``: the gap, an interval of the first coordinate on the upper horizontal bar.
BARS_GAP_X = (1.6, 2.6)
#: ``bars``: the height of the upper horizontal bar, which holds the gap.
BARS_GAP_Y = BARS_OFFSET
_BARS_GAP_COMPONENT = 2


def toy_std(name: str) -> float:
    """The standard deviation of the Gaussians of a 2-D toy.

    ``ring``: 0.01; ``grid``: 0.05 (PacGAN); ``bars``: 0.1, the std across each bar.
    """
    return _TOY_STD[_check_name(name, TOY_NAMES, "toy name")]


def toy_centers(name: str) -> torch.Tensor:
    """The centres of the modes of ``ring`` (8) or ``grid`` (25), float32 ``(K, 2)``.

    ``ring``: ``(cos 2 pi k/8, sin 2 pi k/8)`` for k = 0..7. ``grid``: ``(i, j)`` for i, j in
    {-4, -2, 0, 2, 4}, i varying slowest. Row k is the mode of label k in :func:`load_labels`.

    Raises:
        ValueError: for any other name (``bars`` has bars, not point modes).
    """
    name = _check_name(name, ("ring", "grid"), "toy name with point modes")
    return torch.from_numpy(_toy_centers_np(name).astype(np.float32))


def _toy_centers_np(name: str) -> np.ndarray:
    if name == "ring":
        angles = 2 * np.pi * np.arange(8) / 8
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    axis = np.arange(-4.0, 5.0, 2.0)
    i, j = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([i.ravel(), j.ravel()], axis=1)


def sample_toy(name: str, n: int, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` fresh points of a 2-D toy (the fixed splits of :func:`load` are such draws).

    ``ring`` and ``grid`` are equally weighted mixtures of isotropic Gaussians centred on
    :func:`toy_centers` with std :func:`toy_std`.

    ``bars`` is the target of Fig. 5 of Yoo et al. (latent density estimation): six
    equally likely components, component k being
      0: ``(U(-10, 10), N(0, 0.1^2))``        horizontal bar at y = 0 (t1 in the paper),
      1: component 0 shifted by (0, -3)       horizontal bar at y = -3 (t2),
      2: component 0 shifted by (0, +3)       horizontal bar at y = +3 (t3),
      3: ``(N(0, 0.1^2), U(-10, 10))``        vertical bar at x = 0 (t4),
      4: component 3 shifted by (+3, 0)       vertical bar at x = +3 (t5),
      5: component 3 shifted by (-3, 0)       vertical bar at x = -3 (t6),
    and the points of the upper horizontal bar (component 2) whose x lies in the gap
    :data:`BARS_GAP_X` = [1.6, 2.6] are removed (and replaced by fresh draws, so that there
    are exactly ``n`` points). The paper calls this gap "10% (1.6 ~ 2.6)"; the interval it
    gives is 5% of a bar of length 20 (it would be 10% of a bar of length 10); we follow
    the explicit numbers. A model that fills the gap over-generalises; measure it with
    :func:`bars_gap_mask`.

    Args:
        name: ``"ring"``, ``"grid"`` or ``"bars"``.
        n: number of points, a positive int.
        seed: a non-negative int; the same seed gives the same points on every machine.

    Returns:
        ``(points, components)``: float32 ``(n, 2)`` and int64 ``(n,)``.
    """
    name = _check_name(name, TOY_NAMES, "toy name")
    for value, what in ((n, "n"), (seed, "seed")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{what} must be an int; got {type(value).__name__}")
    if n < 1:
        raise ValueError(f"n must be a positive int; got {n}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative; got {seed}")
    x, y = _sample_toy_np(name, int(n), _rng(name, "sample_toy", int(seed)))
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)


def _sample_toy_np(name: str, n: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    std = _TOY_STD[name]
    if name in ("ring", "grid"):
        centers = _toy_centers_np(name)
        labels = rng.integers(len(centers), size=n)
        points = centers[labels] + std * rng.standard_normal((n, 2))
        return points.astype(np.float32), labels.astype(np.int64)
    kept_x, kept_y, have = [], [], 0
    while have < n:  # rejection: draw, drop the gap, draw again for what is missing
        m = n - have + n // 16 + 16
        labels = rng.integers(6, size=m)
        along = rng.uniform(-BARS_HALF_LENGTH, BARS_HALF_LENGTH, size=m)
        across = std * rng.standard_normal(m)
        shift = np.array([0.0, -BARS_OFFSET, BARS_OFFSET])[labels % 3]
        horizontal = labels < 3
        points = np.where(
            horizontal[:, None],
            np.stack([along, across + shift], axis=1),
            np.stack([across - shift, along], axis=1),  # components 4, 5 sit at x = +3, -3
        )
        in_gap = (
            (labels == _BARS_GAP_COMPONENT) & (along >= BARS_GAP_X[0]) & (along <= BARS_GAP_X[1])
        )
        kept_x.append(points[~in_gap])
        kept_y.append(labels[~in_gap])
        have += int((~in_gap).sum())
    return (
        np.concatenate(kept_x)[:n].astype(np.float32),
        np.concatenate(kept_y)[:n].astype(np.int64),
    )


def bars_gap_mask(points: torch.Tensor, half_width: float = 0.3) -> torch.Tensor:
    """Which points lie in the gap of ``bars``: ``1.6 <= x <= 2.6`` and ``|y - 3| <= half_width``.

    The default half width is three standard deviations of the bar's thickness; the
    training data then has (almost surely) no point in the gap, and the fraction of a
    model's samples in it, ``bars_gap_mask(samples).float().mean()``, measures how much the
    model fills a hole in its data.

    Args:
        points: a float tensor (or array) of shape ``(N, 2)``.
        half_width: a positive float.

    Returns:
        A bool tensor of shape ``(N,)`` on the device of ``points``.
    """
    points = torch.as_tensor(points)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2); got {tuple(points.shape)}")
    if not points.is_floating_point():
        raise TypeError(f"points must be a floating-point tensor; got {points.dtype}")
    is_number = isinstance(half_width, (int, float)) and not isinstance(half_width, bool)
    if not is_number or not half_width > 0:
        raise ValueError(f"half_width must be a positive number; got {half_width!r}")
    x, y = points[:, 0], points[:, 1]
    return (x >= BARS_GAP_X[0]) & (x <= BARS_GAP_X[1]) & ((y - BARS_GAP_Y).abs() <= half_width)


# --------------------------------------------------------------------------- grey levels


def to_levels(x: torch.Tensor, n_levels: int) -> torch.Tensor:
    """Quantise values in [0, 1] to the integers ``0 .. n_levels - 1``: ``round(x (n_levels - 1))``.

    This inverts the scaling of images stored as ``level / (n_levels - 1)``: ``digits``
    holds exactly 17 grey levels, recovered by ``to_levels(x, 17)``; MNIST and CIFAR-10 hold
    256. :func:`from_levels` goes back.

    Args:
        x: a float tensor with finite values in [0, 1].
        n_levels: an int >= 2.

    Returns:
        An int64 tensor of the shape of ``x``.
    """
    n_levels = _check_levels(n_levels)
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor; got {type(x).__name__}")
    if x.numel() and (not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise ValueError("x must hold finite values in [0, 1]")
    return torch.round(x * (n_levels - 1)).long()


def from_levels(levels: torch.Tensor, n_levels: int) -> torch.Tensor:
    """Map integer levels ``0 .. n_levels - 1`` back to [0, 1]: ``levels / (n_levels - 1)``.

    Args:
        levels: an integer tensor with values in ``0 .. n_levels - 1``.
        n_levels: an int >= 2.

    Returns:
        A float32 tensor of the shape of ``levels``.
    """
    n_levels = _check_levels(n_levels)
    if not torch.is_tensor(levels) or levels.is_floating_point() or levels.dtype == torch.bool:
        got = getattr(levels, "dtype", type(levels).__name__)
        raise TypeError(f"levels must be an integer tensor; got {got}")
    if levels.numel() and (levels.min() < 0 or levels.max() > n_levels - 1):
        raise ValueError(f"levels must lie in [0, {n_levels - 1}]")
    return levels.float() / (n_levels - 1)


def _check_levels(n_levels: object) -> int:
    if isinstance(n_levels, bool) or not isinstance(n_levels, (int, np.integer)):
        raise TypeError(f"n_levels must be an int; got {type(n_levels).__name__}")
    if n_levels < 2:
        raise ValueError(f"n_levels must be at least 2; got {n_levels}")
    return int(n_levels)


# --------------------------------------------------------------------------- downloads

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


# --------------------------------------------------------------------------- BSDS300

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
