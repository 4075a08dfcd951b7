"""The 2-D toys: ``ring`` and ``grid`` (PacGAN) and ``bars`` (Yoo et al.), with their modes and gap."""

from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

from ..checks import check_choice, check_nonnegative_int, check_positive, check_positive_int, check_tensor
from .splits import TOY_NAMES, _rng

__all__ = [
    "BARS_GAP_X", "BARS_GAP_Y", "BARS_HALF_LENGTH", "BARS_OFFSET",
    "bars_gap_mask", "sample_toy", "toy_centers", "toy_std",
]

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
    return _TOY_STD[check_choice(name, "name", TOY_NAMES)]


def toy_centers(name: str) -> torch.Tensor:
    """The centres of the modes of ``ring`` (8) or ``grid`` (25), float32 ``(K, 2)``.

    ``ring``: ``(cos 2 pi k/8, sin 2 pi k/8)`` for k = 0..7. ``grid``: ``(i, j)`` for i, j in
    {-4, -2, 0, 2, 4}, i varying slowest. Row k is the mode of label k in :func:`load_labels`.

    Raises:
        ValueError: for any other name (``bars`` has bars, not point modes).
    """
    name = check_choice(name, "name", ("ring", "grid"))
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
    name = check_choice(name, "name", TOY_NAMES)
    n, seed = check_positive_int(n, "n"), check_nonnegative_int(seed, "seed")
    x, y = _sample_toy_np(name, n, _rng(name, "sample_toy", seed))
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
    points = check_tensor(torch.as_tensor(points), "points", shape=(None, 2), finite=False)
    half_width = check_positive(half_width, "half_width")
    x, y = points[:, 0], points[:, 1]
    return (x >= BARS_GAP_X[0]) & (x <= BARS_GAP_X[1]) & ((y - BARS_GAP_Y).abs() <= half_width)
