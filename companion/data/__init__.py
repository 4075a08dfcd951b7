"""Every dataset of the book, behind one function: ``load(name, split)``.

The machines that build and test the book have no network, so the default datasets ship
inside installed packages or are generated; MNIST, CIFAR-10 and BSDS300 (``paper`` scale)
are downloaded once, verified and cached.

Every name below is importable from ``companion.data``; the code lives in one module a
source: :mod:`.splits` (names, sizes, the fixed splits), :mod:`.offline` (digits, faces,
patches), :mod:`.toys` (the 2-D mixtures), :mod:`.levels` (grey levels),
:mod:`.downloads` (MNIST, CIFAR-10) and :mod:`.bsds300`.

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

from typing import Tuple

import numpy as np
import torch

from ..checks import check_choice
from .bsds300 import _bsds300_split
from .downloads import DATA_ENV, SHA256, DownloadError, _downloaded_split, data_dir
from .levels import from_levels, to_levels
from .offline import PATCH_TEST_IMAGES, PATCH_TRAIN_IMAGES, _offline_arrays
from .splits import (
    _UNLABELLED,
    DOWNLOAD_NAMES,
    NAMES,
    OFFLINE_NAMES,
    SPLIT_SIZES,
    SPLITS,
    TOY_NAMES,
    ArrayPair,
)
from .toys import (
    BARS_GAP_X,
    BARS_GAP_Y,
    BARS_HALF_LENGTH,
    BARS_OFFSET,
    bars_gap_mask,
    sample_toy,
    toy_centers,
    toy_std,
)

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


def names() -> Tuple[str, ...]:
    """The names :func:`load` knows: the offline ones first, then the downloaded ones."""
    return NAMES


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
    name = check_choice(name, "name", NAMES)
    split = check_choice(split, "split", SPLITS)
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
    name = check_choice(name, "name", NAMES)
    split = check_choice(split, "split", SPLITS)
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
