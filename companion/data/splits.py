"""The names, sizes and fixed random splits of the datasets of :mod:`companion.data`.

Every split is fixed: one constant seeds NumPy's PCG64 generator, and each (dataset, split)
gets its own stream from it, so the same call gives the same numbers on every machine.
"""

from __future__ import annotations

import zlib
from typing import Dict, Optional, Tuple, Union

import numpy as np

__all__ = ["DOWNLOAD_NAMES", "NAMES", "OFFLINE_NAMES", "SPLITS", "SPLIT_SIZES", "TOY_NAMES"]

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


def _rng(*keys: Union[int, str]) -> np.random.Generator:
    """A generator seeded from :data:`_SEED` and ``keys`` (strings hashed with CRC-32)."""
    words = [_SEED] + [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(words)


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False  # the cache must never change under a caller
    return array


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
