"""Modes captured and the fraction of high-quality samples on the 2-D mixtures (VEEGAN / PacGAN)."""

from __future__ import annotations

from typing import Tuple

import torch

from ..checks import ArrayLike, check_points, check_positive, check_same_width

__all__ = ["MODE_COVERAGE_N_SAMPLES", "mode_coverage"]


#: Number of samples of the VEEGAN / PacGAN mode-coverage protocol on the 2-D mixtures.
MODE_COVERAGE_N_SAMPLES = 2500


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
    samples_t = check_points(samples, "samples")
    centers_t = check_points(centers, "centers", device=samples_t.device)
    check_same_width(samples_t, centers_t, "samples", "centers")
    radius = check_positive(std, "std") * check_positive(n_std, "n_std")
    # Direct differences, not the matrix-product shortcut: the 3-std threshold is a sharp cut.
    dist = torch.cdist(samples_t, centers_t, compute_mode="donot_use_mm_for_euclid_dist")
    nearest_dist, nearest = dist.min(dim=1)
    high_quality = nearest_dist <= radius
    n_covered = int(torch.unique(nearest[high_quality]).numel())
    return n_covered, int(high_quality.sum()) / high_quality.numel()  # exact count ratio on any device
