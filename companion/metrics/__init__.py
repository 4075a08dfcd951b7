"""Evaluation metrics shared by every chapter, one module an idea.

* :mod:`.parzen`: :func:`parzen_log_prob` / :func:`parzen_log_likelihood`, the Gaussian
  Parzen-window (kernel density) estimate of held-out log-likelihood from samples, the
  protocol of Breuleux et al. (2011) and Goodfellow et al. (2014) used by the papers' tables;
  :func:`select_parzen_sigma`, its bandwidth chosen by grid search on validation data;
* :mod:`.likelihood`: :func:`bits_per_dim` and :func:`continuous_to_discrete_nll`, nats per
  example to bits per dimension, with the dequantisation convention made explicit;
* :mod:`.coverage`: :func:`mode_coverage`, modes captured and the fraction of high-quality
  samples on the 2-D mixtures (VEEGAN / PacGAN protocol);
* :mod:`.frechet`: :func:`frechet_distance` / :func:`frechet_distance_gaussians`, the Fréchet
  distance between Gaussians fitted to two feature sets (FID when the features come from Inception);
* :mod:`.quality`: :func:`classifier_frechet` / :func:`classifier_quality_bar`, the Fréchet
  distance in a small classifier's features, and the quality bar a baseline meets before a
  chapter compares against it (every class covered, a Fréchet distance within twice a
  reference model's);
* :mod:`.inception`: :func:`inception_metrics`, the Inception score and FID in the standard
  Inception-v3 features, through an optional backend (``torchmetrics[image]`` or
  ``torch-fidelity``) that downloads its weights on first use (``paper`` scale, with a network);
* :mod:`.prd`: :func:`prd_curve` / :func:`prd_from_histograms` / :func:`prd_f_beta`, precision
  and recall of a generative model (Sajjadi et al. 2018): quality and coverage as two numbers;
* :mod:`.summary`: :func:`mean_std` over seeds and :func:`pareto_front` over models;
* :mod:`.images`: :func:`total_variation`, a batch's sharpness/noise statistic (blur against speckle).

Every name is importable from here (``from companion.metrics import frechet_distance``).
Inputs may be NumPy arrays or torch tensors. The Parzen estimator and the mode coverage run
on the device of the inputs (the samples' device); the Fréchet distance runs on the CPU in
float64 (its matrices are small and a matrix square root wants double precision).
"""

from __future__ import annotations

from .coverage import MODE_COVERAGE_N_SAMPLES, mode_coverage
from .frechet import frechet_distance, frechet_distance_gaussians
from .images import total_variation
from .inception import INCEPTION_BACKENDS, inception_metrics
from .likelihood import bits_per_dim, continuous_to_discrete_nll
from .parzen import parzen_log_likelihood, parzen_log_prob, select_parzen_sigma
from .prd import prd_curve, prd_f_beta, prd_from_histograms
from .quality import classifier_frechet, classifier_quality_bar
from .summary import mean_std, pareto_front

__all__ = [
    "INCEPTION_BACKENDS",
    "MODE_COVERAGE_N_SAMPLES",
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
    "total_variation",
]
