"""Evaluation metrics shared by every chapter.

* :func:`parzen_log_prob` / :func:`parzen_log_likelihood` — the Gaussian Parzen-window
  (kernel density) estimate of held-out log-likelihood from samples, the protocol of
  Breuleux et al. (2011) and Goodfellow et al. (2014) used by the papers' tables;
* :func:`select_parzen_sigma` — its bandwidth, chosen by grid search on validation data;
* :func:`bits_per_dim` and :func:`continuous_to_discrete_nll` — nats per example to bits per
  dimension, with the dequantisation convention made explicit;
* :func:`mode_coverage` — modes captured and the fraction of high-quality samples on the 2-D
  mixtures (VEEGAN / PacGAN protocol);
* :func:`frechet_distance` / :func:`frechet_distance_gaussians` — the Fréchet distance between
  Gaussians fitted to two feature sets (FID when the features come from Inception);
* :func:`classifier_frechet` / :func:`classifier_quality_bar` — the Fréchet distance in a small
  classifier's features, and the quality bar a baseline meets before a chapter compares
  against it (every class covered, a Fréchet distance within twice a reference model's);
* :func:`inception_metrics` — the Inception score and FID in the standard Inception-v3
  features, through an optional backend (``torchmetrics[image]`` or ``torch-fidelity``) that
  downloads its weights on first use (``paper`` scale, with a network);
* :func:`prd_curve` / :func:`prd_from_histograms` / :func:`prd_f_beta` — precision and recall
  of a generative model (Sajjadi et al. 2018): quality and coverage as two numbers, not one.

Inputs may be NumPy arrays or torch tensors. The Parzen estimator and the mode coverage run
on the device of the inputs (the samples' device); the Fréchet distance runs on the CPU in
float64 (its matrices are small and a matrix square root wants double precision).
"""

from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .checks import check_int, check_positive, check_positive_int, check_probability

__all__ = [
    "bits_per_dim",
    "classifier_frechet",
    "classifier_quality_bar",
    "continuous_to_discrete_nll",
    "frechet_distance",
    "frechet_distance_gaussians",
    "inception_metrics",
    "mean_std",
    "mode_coverage",
    "parzen_log_likelihood",
    "pareto_front",
    "parzen_log_prob",
    "prd_curve",
    "prd_f_beta",
    "prd_from_histograms",
    "select_parzen_sigma",
]

ArrayLike = Union[np.ndarray, torch.Tensor]

#: Number of samples of the VEEGAN / PacGAN mode-coverage protocol on the 2-D mixtures.
MODE_COVERAGE_N_SAMPLES = 2500


# ----------------------------------------------------------------------------- input checks


def _compute_dtype(device: torch.device) -> torch.dtype:
    # Apple's MPS backend has no float64; everywhere else we compute in double precision.
    return torch.float32 if device.type == "mps" else torch.float64


def _as_points(
    value: ArrayLike, name: str, device: Optional[torch.device] = None, min_rows: int = 1
) -> torch.Tensor:
    """``value`` as a finite floating (N, d) tensor: images (N, ...) are flattened per row."""
    if isinstance(value, np.ndarray):
        if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
            raise TypeError(f"{name} must hold real numbers; got a NumPy array of dtype {value.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(value))
    elif torch.is_tensor(value):
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers; got a tensor of dtype {value.dtype}")
        tensor = value.detach()
    else:
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray; got {type(value).__name__}")
    if tensor.dim() < 2:
        raise ValueError(
            f"{name} must have shape (N, d) or (N, ...) (images are flattened per row); got shape "
            f"{tuple(tensor.shape)}. For 1-D data pass x.reshape(-1, 1)."
        )
    if tensor.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} row(s); got shape {tuple(tensor.shape)}")
    tensor = tensor.reshape(tensor.shape[0], -1)
    if tensor.shape[1] == 0:
        raise ValueError(f"{name} has no dimensions per row; got shape {tuple(value.shape)}")
    device = tensor.device if device is None else device
    tensor = tensor.to(device=device, dtype=_compute_dtype(device))
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return tensor


def _check_same_dim(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of dimensions per row; got "
            f"{a.shape[1]} and {b.shape[1]}"
        )


def _positive_float(value: object, name: str) -> float:
    """A positive number, also given as a one-element tensor or array (a metric's output)."""
    if (torch.is_tensor(value) and value.numel() == 1) or (isinstance(value, np.ndarray) and value.size == 1):
        value = value.item()
    return check_positive(value, name)


# ----------------------------------------------------------------------------- Parzen window


def _logsumexp_rows_(logits: torch.Tensor) -> torch.Tensor:
    """Row-wise logsumexp of a finite matrix, overwriting it (in place is ~2x faster on a CPU)."""
    row_max = logits.amax(dim=1, keepdim=True)
    return logits.sub_(row_max).exp_().sum(dim=1).log_().add_(row_max.squeeze(1))


def _parzen_log_prob_grid(
    samples: torch.Tensor,
    x: torch.Tensor,
    sigmas: Sequence[float],
    batch_size: int,
    sample_batch_size: int,
) -> torch.Tensor:
    """Parzen log-densities of the rows of ``x`` for several bandwidths: a tensor (S, M).

    With ``||x - s||^2 = ||x||^2 - (2 x.s - ||s||^2)``, the term in brackets comes from one
    matrix product per chunk, and ``||x||^2`` is constant along a row, so it leaves the
    logsumexp over samples. The distances do not depend on the bandwidth: one pass over the
    data serves every bandwidth of a grid search.
    """
    n, d = samples.shape
    # Centring both sets on the samples' mean leaves distances unchanged and shrinks the
    # norms, so less precision is lost when ||x||^2 and 2 x.s - ||s||^2 are subtracted.
    centre = samples.mean(dim=0, keepdim=True)
    samples = samples - centre
    x = x - centre
    samples_sq = samples.pow(2).sum(dim=1)
    x_sq = x.pow(2).sum(dim=1)
    coefs = [0.5 / s**2 for s in sigmas]  # the kernel is exp(-coef * ||x - s||^2)
    out = torch.empty(len(sigmas), x.shape[0], dtype=x.dtype, device=x.device)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        acc = torch.full((len(sigmas), xb.shape[0]), -math.inf, dtype=x.dtype, device=x.device)
        for s_start in range(0, n, sample_batch_size):
            sb = samples[s_start : s_start + sample_batch_size]
            sb_sq = samples_sq[s_start : s_start + sample_batch_size]
            if len(coefs) == 1:  # fused: coef * (2 x.s - ||s||^2) in one call
                logits = torch.addmm(sb_sq, xb, sb.T, beta=-coefs[0], alpha=2 * coefs[0])
                chunk_lse = [_logsumexp_rows_(logits)]
            else:
                inner = torch.addmm(sb_sq, xb, sb.T, beta=-1.0, alpha=2.0)
                chunk_lse = [_logsumexp_rows_(inner * c) for c in coefs]
            for k, lse in enumerate(chunk_lse):
                acc[k] = torch.logaddexp(acc[k], lse)
        for k, (sigma, coef) in enumerate(zip(sigmas, coefs)):
            log_norm = math.log(n) + 0.5 * d * math.log(2 * math.pi * sigma**2)
            x_sq_b = x_sq[start : start + batch_size]
            out[k, start : start + xb.shape[0]] = acc[k] - coef * x_sq_b - log_norm
    return out


def parzen_log_prob(
    samples: ArrayLike,
    x: ArrayLike,
    sigma: float,
    batch_size: int = 1024,
    sample_batch_size: int = 4096,
) -> torch.Tensor:
    r"""Log-density of each row of ``x`` under a Gaussian Parzen window on ``samples``.

    The Parzen window (kernel density estimate) with an isotropic Gaussian kernel of
    bandwidth :math:`\sigma` centred on the :math:`N` samples :math:`s_i \in \mathbb{R}^d` is

    .. math::
        \log \hat p(x) = \operatorname{logsumexp}_i\Big(-\frac{\lVert x - s_i\rVert^2}{2\sigma^2}\Big)
                         - \log N - \frac{d}{2}\log(2\pi\sigma^2),

    the same quantity as ``sklearn.neighbors.KernelDensity(kernel="gaussian",
    bandwidth=sigma).fit(samples).score_samples(x)``. It is computed in chunks of
    ``batch_size`` rows of ``x`` times ``sample_batch_size`` samples (memory stays bounded),
    with the squared distances from one matrix product per chunk, in float64 (float32 on
    Apple's MPS, which has no float64), on the samples' device.

    Why not sklearn's ``KernelDensity``: besides being 10-40x slower on a CPU, its tree-based
    sum goes wrong (by tens of nats per point) when the bandwidth is small next to the
    distances in high dimension, which is exactly the Parzen regime (for example d = 64 or
    784, sigma = 0.2 on [0, 1] data; scikit-learn issue #7492). ``benchmarks/parzen.py``
    shows both effects.

    Args:
        samples: model samples, (N, d) or (N, ...) images (flattened per row); a tensor or
            a NumPy array.
        x: the points to score, (M, d) or (M, ...) with the same number of values per row.
            Moved to the samples' device.
        sigma: the kernel bandwidth, > 0.
        batch_size: rows of ``x`` per chunk.
        sample_batch_size: samples per chunk.

    Returns:
        A float64 tensor (M,) of log-densities in nats, on the samples' device.

    Raises:
        TypeError: for inputs that are not tensors/arrays of real numbers, or a non-number sigma.
        ValueError: for empty inputs, 1-D inputs, mismatched dimensions, non-finite values,
            ``sigma <= 0`` or non-positive batch sizes.
    """
    samples_t = _as_points(samples, "samples")
    x_t = _as_points(x, "x", device=samples_t.device)
    _check_same_dim(samples_t, x_t, "samples", "x")
    sigma = _positive_float(sigma, "sigma")
    batch_size = check_positive_int(batch_size, "batch_size")
    sample_batch_size = check_positive_int(sample_batch_size, "sample_batch_size")
    return _parzen_log_prob_grid(samples_t, x_t, [sigma], batch_size, sample_batch_size)[0]


def parzen_log_likelihood(
    samples: ArrayLike,
    x: ArrayLike,
    sigma: float,
    batch_size: int = 1024,
    sample_batch_size: int = 4096,
) -> float:
    """Mean Parzen-window log-likelihood (nats) of the rows of ``x``; see :func:`parzen_log_prob`.

    This is the number reported in the "Parzen" tables of the papers (for example 10,000
    samples of a model scored on the MNIST test set). It is an estimate of
    :math:`\\mathbb{E}_{x \\sim p_{\\text{test}}} \\log p_{\\text{model}}(x)` whose bias can be
    large in high dimensions (Theis et al., 2016): compare numbers only under one protocol.
    """
    return float(parzen_log_prob(samples, x, sigma, batch_size, sample_batch_size).mean())


def select_parzen_sigma(
    samples: ArrayLike,
    valid: ArrayLike,
    sigmas: Optional[Union[Sequence[float], np.ndarray, torch.Tensor]] = None,
    batch_size: int = 1024,
    sample_batch_size: int = 4096,
) -> Tuple[float, float]:
    """Pick the Parzen bandwidth that maximises the mean log-likelihood of validation data.

    The default grid is ``torch.logspace(-1, 0, 10)`` (ten bandwidths from 0.1 to 1, evenly
    spaced on a log scale), the grid of the original protocol (Breuleux et al., 2011;
    Goodfellow et al., 2014) for data in [0, 1]. The distances are computed once and reused
    for every bandwidth.

    The estimate includes the ``-log N`` term of the kernel average. Some published
    re-implementations sum the kernels instead of averaging them, which adds ``log N``
    (9.21 nats for N = 10,000) to every score; it does not change the chosen bandwidth, but
    the numbers are then not comparable with the papers' tables.

    Args:
        samples: model samples, (N, d) or (N, ...).
        valid: validation data, (M, d) or (M, ...), never the test set.
        sigmas: candidate bandwidths (all > 0); the default grid when ``None``.
        batch_size, sample_batch_size: chunk sizes, as in :func:`parzen_log_prob`.

    Returns:
        ``(best_sigma, best_ll)``: the chosen bandwidth and its mean validation
        log-likelihood in nats. Ties go to the first bandwidth of the grid.
    """
    samples_t = _as_points(samples, "samples")
    valid_t = _as_points(valid, "valid", device=samples_t.device)
    _check_same_dim(samples_t, valid_t, "samples", "valid")
    if sigmas is None:
        grid = torch.logspace(-1, 0, 10, dtype=torch.float64).tolist()
    else:
        if torch.is_tensor(sigmas):
            sigmas = sigmas.detach().cpu().reshape(-1).tolist()
        elif isinstance(sigmas, np.ndarray):
            sigmas = sigmas.reshape(-1).tolist()
        if not isinstance(sigmas, (list, tuple)):
            raise TypeError(f"sigmas must be a sequence of positive numbers; got {type(sigmas).__name__}")
        if len(sigmas) == 0:
            raise ValueError("sigmas must hold at least one bandwidth")
        grid = [_positive_float(s, "every entry of sigmas") for s in sigmas]
    batch_size = check_positive_int(batch_size, "batch_size")
    sample_batch_size = check_positive_int(sample_batch_size, "sample_batch_size")
    mean_ll = _parzen_log_prob_grid(samples_t, valid_t, grid, batch_size, sample_batch_size).mean(dim=1)
    best = int(torch.argmax(mean_ll))
    return float(grid[best]), float(mean_ll[best])


# ----------------------------------------------------------------------------- bits per dim


def _check_nll(value: object, name: str):
    if torch.is_tensor(value):
        if not (value.is_floating_point() or value.dtype in (torch.int32, torch.int64)):
            raise TypeError(f"{name} must hold real numbers; got a tensor of dtype {value.dtype}")
        if bool(torch.isnan(value).any()):
            raise ValueError(f"{name} contains NaN")
        return value.to(torch.get_default_dtype()) if not value.is_floating_point() else value
    if isinstance(value, np.ndarray):
        if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
            raise TypeError(f"{name} must hold real numbers; got an array of dtype {value.dtype}")
        if np.isnan(value).any():
            raise ValueError(f"{name} contains NaN")
        return value.astype(np.float64)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, a tensor or an array; got {type(value).__name__}")
    if math.isnan(value):
        raise ValueError(f"{name} is NaN")
    return float(value)


def bits_per_dim(nll_nats, n_dims: int):
    """Convert a negative log-likelihood in nats per example to bits per dimension.

    ``bits/dim = nll_nats / (n_dims * ln 2)``; floats give a float, tensors and arrays are
    converted elementwise.

    Which likelihood goes in matters. Image benchmarks (bits/dim on CIFAR-10, MNIST) report
    the *discrete* likelihood of 8-bit pixels, which a continuous model bounds by its density
    on dequantised data (pixels plus uniform noise) on the [0, 256) scale. A density fitted
    on data scaled to [0, 1] is 256**d times larger, so its NLL must first be shifted by
    ``d * log(256)`` nats: use :func:`continuous_to_discrete_nll` before this function. For
    instance the uniform density on [0, 1]^d has NLL 0 there, and 8 bits/dim as a model of
    8-bit images.

    Args:
        nll_nats: negative log-likelihood per example, in nats (a number, tensor or array).
        n_dims: number of dimensions of one example (for example 3 * 32 * 32).

    Raises:
        TypeError: for non-numeric inputs.
        ValueError: for ``n_dims < 1`` or a NaN likelihood.
    """
    nll = _check_nll(nll_nats, "nll_nats")
    n_dims = check_positive_int(n_dims, "n_dims")
    return nll / (n_dims * math.log(2.0))


def continuous_to_discrete_nll(nll_nats, n_dims: int, n_levels: int = 256, data_range: float = 1.0):
    """Turn the NLL of a density on rescaled data into the NLL of the discrete data, in nats.

    Data with ``n_levels`` levels per dimension (256 for 8-bit images) rescaled to an
    interval of length ``data_range`` (1 for [0, 1], 2 for [-1, 1]) has bins of width
    ``data_range / n_levels``. A density ``p`` on that scale gives the discrete (dequantised)
    likelihood ``P(bin) ~ p * width**d``, so

        nll_discrete = nll_continuous + n_dims * log(n_levels / data_range).

    Feed the result to :func:`bits_per_dim`. Example: the uniform density on [0, 1]^d has
    continuous NLL 0, hence ``d * log 256`` nats, hence 8 bits/dim.

    Args:
        nll_nats: NLL per example of the density on the rescaled data, in nats.
        n_dims: dimensions per example.
        n_levels: number of discrete levels per dimension (>= 2).
        data_range: length of the interval the levels were rescaled to (> 0).
    """
    nll = _check_nll(nll_nats, "nll_nats")
    n_dims = check_positive_int(n_dims, "n_dims")
    n_levels = check_positive_int(n_levels, "n_levels")
    if n_levels < 2:
        raise ValueError(f"n_levels must be >= 2; got {n_levels}")
    data_range = _positive_float(data_range, "data_range")
    return nll + n_dims * math.log(n_levels / data_range)


# ----------------------------------------------------------------------------- mode coverage



def mean_std(values: Sequence[float]) -> Dict[str, float]:
    """The mean and the sample standard deviation (``ddof=1``) of repeated runs, e.g. over seeds.

    Returns ``{"mean": ..., "std": ...}`` (plain floats, JSON-friendly); one value has std 0.

    >>> mean_std([1.0, 2.0, 3.0])
    {'mean': 2.0, 'std': 1.0}
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence of numbers; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"values must be finite; got {arr.tolist()}")
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0}

def mode_coverage(
    samples: ArrayLike, centers: ArrayLike, std: float, n_std: float = 3.0
) -> Tuple[int, float]:
    """Modes captured and fraction of high-quality samples on a mixture of Gaussians.

    The protocol of VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018) for the
    2-D ring (8 modes) and grid (25 modes) mixtures:

    * each sample is assigned to its nearest mode centre;
    * a sample is *high quality* when it lies within ``n_std`` (3) standard deviations of
      that centre, i.e. its Euclidean distance is at most ``n_std * std``;
    * a mode is *captured* (covered) when at least one high-quality sample is assigned to it.

    The papers evaluate 2,500 samples per model (:data:`MODE_COVERAGE_N_SAMPLES`); with fewer
    samples a small mode can be missed by chance, with more a collapsed model can look
    better, so use 2,500 when comparing with their tables. This is not enforced.

    Args:
        samples: generated points, (N, d).
        centers: the mode centres, (K, d) (for example ``companion.data.toy_centers("ring")``).
        std: the standard deviation of each mixture component (> 0).
        n_std: the quality radius in standard deviations (> 0, 3 in the papers).

    Returns:
        ``(n_modes_covered, high_quality_fraction)``.
    """
    samples_t = _as_points(samples, "samples")
    centers_t = _as_points(centers, "centers", device=samples_t.device)
    _check_same_dim(samples_t, centers_t, "samples", "centers")
    radius = _positive_float(std, "std") * _positive_float(n_std, "n_std")
    # Direct differences, not the matrix-product shortcut: the 3-std threshold is a sharp cut.
    dist = torch.cdist(samples_t, centers_t, compute_mode="donot_use_mm_for_euclid_dist")
    nearest_dist, nearest = dist.min(dim=1)
    high_quality = nearest_dist <= radius
    n_covered = int(torch.unique(nearest[high_quality]).numel())
    return n_covered, int(high_quality.sum()) / high_quality.numel()  # exact count ratio on any device


# ----------------------------------------------------------------------------- Fréchet distance


def _as_numpy_matrix(value: ArrayLike, name: str, ndim: int) -> np.ndarray:
    if torch.is_tensor(value):
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers; got a tensor of dtype {value.dtype}")
        value = value.detach().cpu().to(torch.float64).numpy()
    elif isinstance(value, np.ndarray):
        if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
            raise TypeError(f"{name} must hold real numbers; got an array of dtype {value.dtype}")
        value = value.astype(np.float64)
    else:
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray; got {type(value).__name__}")
    if value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s); got shape {value.shape}")
    if value.size == 0:
        raise ValueError(f"{name} is empty (shape {value.shape})")
    if not np.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


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
    """
    mu_a = _as_numpy_matrix(mu_a, "mu_a", 1)
    mu_b = _as_numpy_matrix(mu_b, "mu_b", 1)
    cov_a = _as_numpy_matrix(cov_a, "cov_a", 2)
    cov_b = _as_numpy_matrix(cov_b, "cov_b", 2)
    d = mu_a.shape[0]
    for name, mu in (("mu_b", mu_b),):
        if mu.shape != (d,):
            raise ValueError(f"{name} must have shape ({d},) like mu_a; got {mu.shape}")
    for name, cov in (("cov_a", cov_a), ("cov_b", cov_b)):
        if cov.shape != (d, d):
            raise ValueError(f"{name} must have shape ({d}, {d}); got {cov.shape}")
    sqrt_a = _psd_sqrt(cov_a)
    middle = sqrt_a @ ((cov_b + cov_b.T) / 2) @ sqrt_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)
    return max(value, 0.0)


def frechet_distance(feats_a: ArrayLike, feats_b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    Fits the mean and the (unbiased) covariance of each set and returns
    :func:`frechet_distance_gaussians` of the two fits. The estimate is biased upwards for
    small sets; compare numbers computed with the same number of samples (50,000 in FID).

    Args:
        feats_a, feats_b: features, (N_a, d) and (N_b, d), at least two rows each.
    """
    a = _as_numpy_matrix(feats_a, "feats_a", 2)
    b = _as_numpy_matrix(feats_b, "feats_b", 2)
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


# ----------------------------------------------------------------------------- the quality bar of a baseline


def _check_classifier(classifier: object) -> torch.nn.Module:
    if not isinstance(classifier, torch.nn.Module) or not callable(getattr(classifier, "features", None)):
        raise TypeError(
            "classifier must be a torch.nn.Module with a features(x) method and class logits from forward(x), "
            "e.g. companion.experiments.adaptive_density.train_feature_net(...)[0]; "
            f"got {type(classifier).__name__}"
        )
    return classifier


def _check_images_batch(images: object, name: str, value_range: Optional[Tuple[float, float]]) -> torch.Tensor:
    if not torch.is_tensor(images):
        raise TypeError(f"{name} must be a torch.Tensor of images (N, C, H, W); got {type(images).__name__}")
    if images.dim() != 4 or images.shape[0] < 2 or not images.is_floating_point():
        raise ValueError(f"{name} must be a floating-point batch of at least 2 images (N, C, H, W); "
                         f"got {images.dtype} {tuple(images.shape)}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return images.detach() if value_range is None else images.detach().clamp(*value_range)


@torch.no_grad()
def _classifier_outputs(classifier: torch.nn.Module, images: torch.Tensor, chunk: int = 1000):
    device = next(classifier.parameters()).device
    feats, logits = [], []
    for part in images.split(chunk):
        part = part.to(device)
        feats.append(classifier.features(part).cpu())
        logits.append(classifier(part).cpu())
    logits = torch.cat(logits)
    return torch.cat(feats), logits.argmax(1), logits.shape[1]


def classifier_frechet(
    samples: torch.Tensor,
    classifier: torch.nn.Module,
    reference: torch.Tensor,
    value_range: Optional[Tuple[float, float]] = (0.0, 1.0),
) -> float:
    """:func:`frechet_distance` between ``samples`` and ``reference`` images in ``classifier.features``.

    The book's offline stand-in for FID: the features of a small classifier trained on the
    same data (for ``digits``,
    :func:`companion.experiments.adaptive_density.train_feature_net`) in place of Inception's.

    Args:
        samples: generated images (N, C, H, W), at least 2.
        classifier: a module with ``features(x)`` (N, d) and class logits ``classifier(x)``.
        reference: real images of the same shape (held-out data), at least 2.
        value_range: samples and reference are clipped to it first (the data's range);
            ``None`` leaves them as they are.
    """
    classifier = _check_classifier(classifier)
    samples = _check_images_batch(samples, "samples", value_range)
    reference = _check_images_batch(reference, "reference", value_range)
    if samples.shape[1:] != reference.shape[1:]:
        raise ValueError(f"samples and reference must have the same image shape; got {tuple(samples.shape[1:])} "
                         f"and {tuple(reference.shape[1:])}")
    return frechet_distance(_classifier_outputs(classifier, samples)[0], _classifier_outputs(classifier, reference)[0])


def classifier_quality_bar(
    samples: torch.Tensor,
    classifier: torch.nn.Module,
    reference: torch.Tensor,
    reference_frechet: float,
    min_class_share: float = 0.03,
    max_frechet_ratio: float = 2.0,
    value_range: Optional[Tuple[float, float]] = (0.0, 1.0),
) -> Dict[str, object]:
    """The quality bar a baseline must meet before a chapter compares against it.

    Two conditions, read in a classifier's eyes: the samples **cover every class** (each of
    the classifier's classes gets at least ``min_class_share`` of the samples' predicted
    labels), and their :func:`classifier_frechet` to the ``reference`` images is at most
    ``max_frechet_ratio`` times ``reference_frechet`` (the same distance for a reference model,
    in the book the VAE). The book's bar for the ``digits`` GANs: 1,000 samples, each digit at
    least 3%, a Fréchet distance within twice the VAE's.

    Args:
        samples: generated images (N, C, H, W).
        classifier: a module with ``features(x)`` and class logits ``classifier(x)``.
        reference: held-out real images the Fréchet distance is measured against.
        reference_frechet: the reference model's :func:`classifier_frechet` (positive).
        min_class_share: the smallest share each class must get, in ``[0, 1]``.
        max_frechet_ratio: the largest Fréchet distance allowed, as a multiple of
            ``reference_frechet``.
        value_range: see :func:`classifier_frechet`.

    Returns:
        ``{"class_shares": [...], "min_class_share", "frechet", "reference_frechet",
        "frechet_ratio", "covers_classes", "within_frechet", "meets_bar"}`` (plain Python
        values, JSON-friendly); ``meets_bar`` is ``covers_classes and within_frechet``.
    """
    classifier = _check_classifier(classifier)
    reference_frechet = _positive_float(reference_frechet, "reference_frechet")
    max_frechet_ratio = _positive_float(max_frechet_ratio, "max_frechet_ratio")
    min_class_share = check_probability(min_class_share, "min_class_share")
    samples = _check_images_batch(samples, "samples", value_range)
    reference = _check_images_batch(reference, "reference", value_range)
    if samples.shape[1:] != reference.shape[1:]:
        raise ValueError(f"samples and reference must have the same image shape; got {tuple(samples.shape[1:])} "
                         f"and {tuple(reference.shape[1:])}")
    feats, labels, n_classes = _classifier_outputs(classifier, samples)
    shares = np.bincount(labels.numpy(), minlength=n_classes) / len(labels)
    fd = frechet_distance(feats, _classifier_outputs(classifier, reference)[0])
    covers, within = bool(shares.min() >= min_class_share), bool(fd <= max_frechet_ratio * reference_frechet)
    return {"class_shares": shares.tolist(), "min_class_share": float(shares.min()), "frechet": float(fd),
            "reference_frechet": reference_frechet, "frechet_ratio": float(fd / reference_frechet),
            "covers_classes": covers, "within_frechet": within, "meets_bar": covers and within}


# ----------------------------------------------------------------------------- IS and FID (optional)

#: The optional backends of :func:`inception_metrics`, in the order ``backend="auto"`` tries them.
INCEPTION_BACKENDS = ("torchmetrics", "torch_fidelity")

_INCEPTION_HELP = (
    "Install one of them with `pip install torchmetrics[image]` (torchmetrics with torch-fidelity) "
    "or `pip install torch-fidelity`. The Inception-v3 weights are downloaded on first use, which "
    "needs a network (Colab works). Offline, the book's stand-in is "
    "companion.metrics.frechet_distance in the features of a small classifier trained on the same data."
)


def _check_images(images: ArrayLike, name: str, min_samples: int) -> torch.Tensor:
    """``images`` as a float32 CPU tensor (N, 3, H, W) with values in [0, 1]."""
    if isinstance(images, np.ndarray):
        if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)):
            raise TypeError(f"{name} must hold real numbers; got a NumPy array of dtype {images.dtype}")
        images = torch.from_numpy(np.ascontiguousarray(images))
    elif not torch.is_tensor(images):
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray; got {type(images).__name__}")
    if images.is_complex() or images.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers; got dtype {images.dtype}")
    if images.dim() != 4 or images.shape[1] != 3:
        hint = (
            " (repeat grey images to 3 channels: x.repeat(1, 3, 1, 1))"
            if images.dim() == 4 and images.shape[1] == 1
            else ""
        )
        raise ValueError(f"{name} must have shape (N, 3, H, W) (RGB images){hint}; got {tuple(images.shape)}")
    if images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"{name} has an empty image size; got shape {tuple(images.shape)}")
    if images.shape[0] < min_samples:
        raise ValueError(
            f"{name} needs at least {min_samples} images; got {images.shape[0]} (FID needs a covariance "
            "and the Inception score one split per group; papers use 10,000-50,000)"
        )
    images = images.detach().to("cpu", torch.float32)
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    if float(images.min()) < 0.0 or float(images.max()) > 1.0:
        raise ValueError(
            f"{name} must lie in [0, 1]; got values in [{float(images.min()):.3g}, {float(images.max()):.3g}]"
        )
    return images


def _torchmetrics_inception(fake, real, batch_size, device, splits):
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore

    try:  # the constructors load (and on first use download) the Inception-v3 weights
        fid = FrechetInceptionDistance(feature=2048, normalize=True).to(device)
        isc = InceptionScore(normalize=True, splits=splits).to(device)
    except (ImportError, ModuleNotFoundError):
        raise
    except Exception as error:  # URLError, HTTPError, OSError, ... from the weight download
        raise _WeightsUnavailable(error) from error
    for images, is_real in ((real, True), (fake, False)):
        for chunk in images.split(batch_size):
            fid.update(chunk.to(device), real=is_real)
    for chunk in fake.split(batch_size):
        isc.update(chunk.to(device))
    is_mean, is_std = isc.compute()
    return float(is_mean), float(is_std), float(fid.compute())


def _torch_fidelity_inception(fake, real, batch_size, device, splits):
    import torch_fidelity

    class _Uint8Images(torch.utils.data.Dataset):  # torch-fidelity reads uint8 (3, H, W) images
        def __init__(self, images: torch.Tensor) -> None:
            self.images = (images * 255).round().to(torch.uint8)

        def __len__(self) -> int:
            return self.images.shape[0]

        def __getitem__(self, i: int) -> torch.Tensor:
            return self.images[i]

    try:
        out = torch_fidelity.calculate_metrics(
            input1=_Uint8Images(fake), input2=_Uint8Images(real), isc=True, fid=True, isc_splits=splits,
            batch_size=batch_size, cuda=device.type == "cuda", verbose=False,
        )
    except (ImportError, ModuleNotFoundError):
        raise
    except Exception as error:  # the weight download happens inside calculate_metrics
        raise _WeightsUnavailable(error) from error
    return (float(out["inception_score_mean"]), float(out["inception_score_std"]),
            float(out["frechet_inception_distance"]))


class _WeightsUnavailable(Exception):
    """The backend is installed but its Inception weights could not be loaded."""


def inception_metrics(
    fake_images: ArrayLike,
    real_images: ArrayLike,
    backend: str = "auto",
    batch_size: int = 100,
    device: Optional[Union[str, torch.device]] = None,
    splits: int = 10,
) -> dict:
    """The Inception score of ``fake_images`` and their FID to ``real_images``, in Inception-v3 features.

    The standard protocols: the Inception score (Salimans et al., 2016) ``exp E_x KL(p(y|x) || p(y))``
    with the ImageNet classes of Inception-v3, mean and standard deviation over ``splits``
    groups of the samples; FID (Heusel et al., 2017), :func:`frechet_distance` between
    Gaussians fitted to the 2048 pool features of Inception-v3 on the two sets. Images are
    resized to 299 x 299 by the backend. Papers use 50,000 samples for IS and 10,000-50,000
    for FID; fewer samples bias FID upwards, so compare numbers at equal sample sizes.

    The Inception network is **optional** and not a requirement of the book: the function
    imports a backend lazily, ``torchmetrics`` (``pip install torchmetrics[image]``, which
    brings ``torch-fidelity``) or ``torch_fidelity`` (``pip install torch-fidelity``). Either
    downloads the Inception-v3 weights on first use, which needs a network (Colab works).
    Offline, the book uses :func:`frechet_distance` in the features of a small classifier
    trained on the same data as a stand-in.

    Args:
        fake_images: model samples, (N, 3, H, W) with values in [0, 1]; a tensor or array.
        real_images: data, (M, 3, H, W) in [0, 1] (for CIFAR-10, the training set).
        backend: ``"torchmetrics"``, ``"torch_fidelity"`` or ``"auto"`` (the first one that imports).
        batch_size: images per forward pass of the Inception network.
        device: where the Inception network runs (default: CUDA when available, else the CPU).
        splits: groups of the Inception score (10 in the papers); ``N >= splits`` is required.

    Returns:
        ``{"inception_score": ..., "inception_score_std": ..., "fid": ..., "backend": name}``.

    Raises:
        TypeError, ValueError: for inputs that are not (N, 3, H, W) finite images in [0, 1],
            too few images, or bad options.
        RuntimeError: when no backend is installed or its Inception weights cannot be
            downloaded; the message says what to install and what the offline stand-in is.
    """
    if backend not in INCEPTION_BACKENDS + ("auto",):
        raise ValueError(f"backend must be one of {INCEPTION_BACKENDS + ('auto',)}; got {backend!r}")
    splits = check_positive_int(splits, "splits")
    batch_size = check_positive_int(batch_size, "batch_size")
    fake = _check_images(fake_images, "fake_images", max(2, splits))
    real = _check_images(real_images, "real_images", 2)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    runners = {"torchmetrics": _torchmetrics_inception, "torch_fidelity": _torch_fidelity_inception}
    names = INCEPTION_BACKENDS if backend == "auto" else (backend,)
    missing = []
    for name in names:
        try:
            is_mean, is_std, fid = runners[name](fake, real, batch_size, device, splits)
        except (ImportError, ModuleNotFoundError) as error:
            missing.append(f"{name} ({error})")
            continue
        except _WeightsUnavailable as error:
            raise RuntimeError(
                f"inception_metrics: the {name} backend is installed but could not load the Inception-v3 "
                f"weights ({type(error.__cause__).__name__}: {error.__cause__}). They are downloaded on first "
                f"use, which needs a network. {_INCEPTION_HELP}"
            ) from error.__cause__
        return {"inception_score": is_mean, "inception_score_std": is_std, "fid": fid, "backend": name}
    raise RuntimeError(
        "inception_metrics: no Inception backend is available (tried " + "; ".join(missing) + "). " + _INCEPTION_HELP
    )


def pareto_front(points: Mapping[str, Tuple[float, float]]) -> List[str]:
    """The names whose ``(x, y)`` no other point beats on both (lower is better on both axes).

    A point is *dominated* when another one is at least as good on both coordinates and
    strictly better on one. Points with a NaN coordinate are left out.

    Args:
        points: ``name -> (x, y)``.

    Returns:
        The non-dominated names, sorted by ``x``.
    """
    if not isinstance(points, Mapping):
        raise TypeError(f"points must be a mapping name -> (x, y); got {type(points).__name__}")
    clean = {}
    for name, value in points.items():
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            raise ValueError(f"points[{name!r}] must be a pair (x, y); got {value!r}")
        x, y = float(value[0]), float(value[1])
        if math.isfinite(x) and math.isfinite(y):
            clean[name] = (x, y)
    front = [a for a, (xa, ya) in clean.items()
             if not any(xb <= xa and yb <= ya and (xb < xa or yb < ya) for b, (xb, yb) in clean.items() if b != a)]
    return sorted(front, key=lambda name: clean[name])


# ----------------------------------------------------------------------------- precision and recall (PRD)


def _histogram(value: Union[ArrayLike, Sequence[float]], name: str) -> np.ndarray:
    if isinstance(value, (list, tuple)):  # counts or weights given as a plain list
        value = np.asarray(value, dtype=float)
    hist = _as_numpy_matrix(value, name, 1)
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

    real = _as_numpy_matrix(real_features, "real_features", 2)
    fake = _as_numpy_matrix(model_features, "model_features", 2)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real_features and model_features must have the same number of features; "
                         f"got {real.shape[1]} and {fake.shape[1]}")
    for name, value, low in (("n_clusters", n_clusters, 2), ("n_runs", n_runs, 1)):
        check_int(value, name, low)
    if n_clusters > len(real) + len(fake):
        raise ValueError(f"n_clusters must be at most the number of points ({len(real) + len(fake)}); got {n_clusters}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int; got {seed!r}")
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
    p = _as_numpy_matrix(precision, "precision", 1)
    r = _as_numpy_matrix(recall, "recall", 1)
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
