"""Precision and recall of a generative model (Sajjadi et al. 2018): quality and coverage as two numbers."""

from __future__ import annotations

import math
from typing import Sequence, Tuple, Union

import numpy as np

from ..checks import ArrayLike, check_float64_array, check_int, check_nonnegative_int, check_positive

__all__ = ["prd_curve", "prd_f_beta", "prd_from_histograms"]



def _histogram(value: Union[ArrayLike, Sequence[float]], name: str) -> np.ndarray:
    if isinstance(value, (list, tuple)):  # counts or weights given as a plain list
        value = np.asarray(value, dtype=float)
    hist = check_float64_array(value, name, 1)
    if (hist < 0).any() or not hist.sum() > 0:
        raise ValueError(f"{name} must be non-negative with a positive sum; got {hist.tolist()}")
    return hist / hist.sum()


def prd_from_histograms(
    reference_hist: Union[ArrayLike, Sequence[float]],
    model_hist: Union[ArrayLike, Sequence[float]],
    n_angles: int = 1001,
) -> Tuple[np.ndarray, np.ndarray]:
    r"""The precision-recall curve of Sajjadi et al. (2018) between two discrete distributions.

    For a reference (real data) distribution :math:`P` and a model distribution :math:`Q` on
    the same bins, and slopes :math:`\lambda = \tan\theta` for ``n_angles`` angles
    :math:`\theta` in :math:`(0, \pi/2)`,

    .. math::
        \alpha(\lambda) = \sum_\omega \min\big(\lambda P(\omega), Q(\omega)\big), \qquad
        \beta(\lambda) = \alpha(\lambda) / \lambda = \sum_\omega \min\big(P(\omega), Q(\omega)/\lambda\big):

    :math:`\alpha` is the precision (how much of :math:`Q` lies where :math:`P` does) and
    :math:`\beta` the recall (how much of :math:`P` the model reaches). Both reach
    :math:`\sum_\omega \min(P, Q)` at :math:`\lambda = 1`; identical distributions give the
    point (1, 1), disjoint ones the point (0, 0).

    Args:
        reference_hist: non-negative weights of :math:`P` per bin, (k,) (normalised here).
        model_hist: the same for :math:`Q`, (k,).
        n_angles: points on the curve, at least 3.

    Returns:
        ``(precision, recall)``, two arrays of shape ``(n_angles,)``, ordered by growing slope.
    """
    p = _histogram(reference_hist, "reference_hist")
    q = _histogram(model_hist, "model_hist")
    if p.shape != q.shape:
        raise ValueError(f"reference_hist and model_hist must have the same bins; got {p.shape} and {q.shape}")
    check_int(n_angles, "n_angles", 3)
    eps = 1e-10  # the end slopes 0 and infinity are left out
    slopes = np.tan(np.linspace(eps, math.pi / 2 - eps, n_angles))
    precision = np.minimum(slopes[:, None] * p[None, :], q[None, :]).sum(axis=1)
    recall = precision / slopes
    # round-off can lift either a hair above 1
    return np.clip(precision, 0.0, 1.0), np.clip(recall, 0.0, 1.0)


def prd_curve(real_features: ArrayLike, model_features: ArrayLike, n_clusters: int = 20,
              n_angles: int = 1001, n_runs: int = 10, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """The precision-recall curve of generated samples against real data (Sajjadi et al. 2018).

    The union of the two feature sets is clustered by k-means into ``n_clusters`` bins; the
    histograms of real and generated points over the bins give the curve of
    :func:`prd_from_histograms`. As in the paper, the curve is averaged over ``n_runs``
    clusterings with different seeds (the paper uses 20 clusters, 10 runs, and as many real
    as generated points: give equal numbers here too, or the histograms weigh them unevenly).

    Args:
        real_features: features of real data, (N, d), for example a classifier's penultimate layer.
        model_features: features of generated samples, (M, d).
        n_clusters: bins of the histograms (at least 2, at most the number of points).
        n_angles: points on the curve.
        n_runs: clusterings averaged.
        seed: the first clustering's seed (the runs use ``seed, seed + 1, ...``).

    Returns:
        ``(precision, recall)``, arrays of shape ``(n_angles,)``.
    """
    from sklearn.cluster import MiniBatchKMeans

    real = check_float64_array(real_features, "real_features", 2)
    fake = check_float64_array(model_features, "model_features", 2)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real_features and model_features must have the same number of features; "
                         f"got {real.shape[1]} and {fake.shape[1]}")
    for name, value, low in (("n_clusters", n_clusters, 2), ("n_runs", n_runs, 1)):
        check_int(value, name, low)
    if n_clusters > len(real) + len(fake):
        raise ValueError(f"n_clusters must be at most the number of points ({len(real) + len(fake)}); got {n_clusters}")
    seed = check_nonnegative_int(seed, "seed")
    points = np.concatenate([real, fake])
    precisions, recalls = [], []
    for run in range(n_runs):
        labels = MiniBatchKMeans(n_clusters=n_clusters, n_init=10, random_state=seed + run).fit(points).labels_
        p = np.bincount(labels[: len(real)], minlength=n_clusters)
        q = np.bincount(labels[len(real):], minlength=n_clusters)
        precision, recall = prd_from_histograms(p, q, n_angles)
        precisions.append(precision)
        recalls.append(recall)
    return np.mean(precisions, axis=0), np.mean(recalls, axis=0)


def prd_f_beta(precision: ArrayLike, recall: ArrayLike, beta: float = 8.0) -> Tuple[float, float]:
    r"""The summary of a PRD curve: :math:`(\max F_\beta, \max F_{1/\beta})` (Sajjadi et al. 2018).

    :math:`F_\beta = (1 + \beta^2)\,p\,r / (\beta^2 p + r)` weighs recall :math:`\beta` times as
    much as precision: with :math:`\beta = 8` the first number summarises recall (coverage),
    the second precision (quality).

    Returns:
        ``(f_beta, f_inverse_beta)``, both in [0, 1].
    """
    p = check_float64_array(precision, "precision", 1)
    r = check_float64_array(recall, "recall", 1)
    if p.shape != r.shape:
        raise ValueError(f"precision and recall must have the same shape; got {p.shape} and {r.shape}")
    if (p < 0).any() or (p > 1).any() or (r < 0).any() or (r > 1).any():
        raise ValueError("precision and recall must lie in [0, 1]")
    check_positive(beta, "beta")

    def f_score(b: float) -> float:
        denominator = b ** 2 * p + r
        scores = np.where(denominator > 0, (1 + b ** 2) * p * r / np.where(denominator > 0, denominator, 1.0), 0.0)
        return float(scores.max())

    return f_score(float(beta)), f_score(1.0 / float(beta))
