"""The Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

Computed on the CPU in float64: its matrices are small and a matrix square root wants
double precision.
"""

from __future__ import annotations

import numpy as np

from ..checks import ArrayLike, check_float64_array

__all__ = ["frechet_distance", "frechet_distance_gaussians"]



def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues -> 0)."""
    eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def frechet_distance_gaussians(
    mu_a: ArrayLike, cov_a: ArrayLike, mu_b: ArrayLike, cov_b: ArrayLike
) -> float:
    r"""Fréchet (2-Wasserstein squared) distance between two Gaussians.

    .. math::
        d^2 = \lVert\mu_a - \mu_b\rVert^2 + \operatorname{Tr}\big(\Sigma_a + \Sigma_b
              - 2(\Sigma_a\Sigma_b)^{1/2}\big).

    The trace of :math:`(\Sigma_a\Sigma_b)^{1/2}` is computed from the symmetric form
    :math:`\operatorname{Tr}\big((\Sigma_a^{1/2}\Sigma_b\Sigma_a^{1/2})^{1/2}\big)` (same
    eigenvalues), with symmetric eigendecompositions in float64: no complex round-off to
    discard, unlike a general matrix square root of the non-symmetric product.

    Args:
        mu_a, mu_b: means, (d,).
        cov_a, cov_b: covariance matrices, (d, d), symmetric positive semi-definite.

    Returns:
        The distance (>= 0; round-off below zero is clipped).

    Raises:
        ValueError: for shapes that do not match, or a covariance that is not symmetric positive
            semi-definite (up to round-off: asymmetry or a negative eigenvalue beyond 1e-8 of its scale).
    """
    mu_a = check_float64_array(mu_a, "mu_a", 1)
    mu_b = check_float64_array(mu_b, "mu_b", 1)
    cov_a = check_float64_array(cov_a, "cov_a", 2)
    cov_b = check_float64_array(cov_b, "cov_b", 2)
    d = mu_a.shape[0]
    for name, mu in (("mu_b", mu_b),):
        if mu.shape != (d,):
            raise ValueError(f"{name} must have shape ({d},) like mu_a; got {mu.shape}")
    for name, cov in (("cov_a", cov_a), ("cov_b", cov_b)):
        if cov.shape != (d, d):
            raise ValueError(f"{name} must have shape ({d}, {d}); got {cov.shape}")
        _check_covariance(cov, name)
    sqrt_a = _psd_sqrt(cov_a)
    middle = sqrt_a @ ((cov_b + cov_b.T) / 2) @ sqrt_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)
    return max(value, 0.0)


def _check_covariance(cov: np.ndarray, name: str) -> None:
    """A clear error for a matrix that is no covariance: not symmetric, or with a negative eigenvalue,
    each beyond round-off (1e-8 of the matrix's largest entry)."""
    tolerance = 1e-8 * max(float(np.abs(cov).max()), 1e-300)
    if np.abs(cov - cov.T).max() > tolerance:
        raise ValueError(f"{name} must be symmetric; its largest asymmetry is {np.abs(cov - cov.T).max():.3g}")
    smallest = float(np.linalg.eigvalsh((cov + cov.T) / 2).min())
    if smallest < -tolerance:
        raise ValueError(f"{name} must be positive semi-definite; its smallest eigenvalue is {smallest:.3g}")


def frechet_distance(feats_a: ArrayLike, feats_b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    Fits the mean and the (unbiased) covariance of each set and returns
    :func:`frechet_distance_gaussians` of the two fits. The estimate is biased upwards for
    small sets; compare numbers computed with the same number of samples (50,000 in FID).

    Args:
        feats_a, feats_b: features, (N_a, d) and (N_b, d), at least two rows each.
    """
    a = check_float64_array(feats_a, "feats_a", 2)
    b = check_float64_array(feats_b, "feats_b", 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"feats_a and feats_b must have the same number of features; got {a.shape[1]} and {b.shape[1]}"
        )
    for name, feats in (("feats_a", a), ("feats_b", b)):
        if feats.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 rows to estimate a covariance; got {feats.shape[0]}")
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    return frechet_distance_gaussians(a.mean(axis=0), cov_a, b.mean(axis=0), cov_b)
