"""Experiments of the chapter on ELBO surgery and distribution matching (Rosca et al., 2018): an index.

The chapter's notebook imports its main experiments from here (``ex``); each lives in the
module of its topic:

* :mod:`~companion.experiments.elbo_surgery_marginal_kl` — the terms of eq. 5:
  ``elbo_surgery/linear_gaussian`` (probabilistic PCA, in closed form) and
  ``elbo_surgery/marginal_kl`` (Fig. 1, VAEs with Gaussian and Real-NVP posteriors);
* :mod:`~companion.experiments.elbo_surgery_ratios` — learned estimates of a KL:
  ``elbo_surgery/density_ratio`` (Fig. 3, Tables 1-2), ``elbo_surgery/density_models``
  (Fig. 21), ``elbo_surgery/synthetic_gaussians`` (App. D) and
  ``elbo_surgery/classifier_updates`` (Fig. 20);
* :mod:`~companion.experiments.elbo_surgery_low_posterior` — ``elbo_surgery/low_posterior``
  (Sec. 3.3 / App. A) and ``elbo_surgery/low_posterior_analysis`` (Figs. 10-12, 14, 15);
* :mod:`~companion.experiments.elbo_surgery_hybrids` — ``elbo_surgery/hybrids`` (Sec. 6,
  Figs. 7-8) and ``elbo_surgery/bounds_along_training`` (Figs. 4, 23, 24);
* :mod:`~companion.experiments.elbo_surgery_galleries` — ``elbo_surgery/many_latents``
  (Figs. 5, 16, 17), ``elbo_surgery/pixel_likelihoods`` (Fig. 22) and
  ``elbo_surgery/reconstructions_and_samples`` (Figs. 25-28);
* :mod:`~companion.experiments.elbo_surgery_shared` — the VAE they share, trained once per
  process, and its typed sub-config :class:`SurgeryVAEConfig`.

The appendix experiments are indexed (``exx``) in :mod:`companion.experiments.elbo_surgery_extra`.
The method code is in :mod:`companion.surgery`, :mod:`companion.learned_kl`,
:mod:`companion.flow_posterior` and :mod:`companion.hybrids`.
"""

from __future__ import annotations

from companion.experiments.elbo_surgery_hybrids import HybridsConfig, HybridsResult, plot_hybrids, run_hybrids
from companion.experiments.elbo_surgery_low_posterior import (
    LowPosteriorConfig,
    LowPosteriorResult,
    plot_low_posterior,
    run_low_posterior,
)
from companion.experiments.elbo_surgery_marginal_kl import (
    POSTERIORS,
    LinearGaussianConfig,
    LinearGaussianResult,
    MarginalKLConfig,
    MarginalKLResult,
    plot_linear_gaussian,
    plot_marginal_kl,
    ppca_posterior,
    run_linear_gaussian,
    run_marginal_kl,
)
from companion.experiments.elbo_surgery_ratios import (
    DensityModelsConfig,
    DensityModelsResult,
    DensityRatioConfig,
    DensityRatioResult,
    SyntheticGaussiansConfig,
    SyntheticGaussiansResult,
    plot_density_models,
    plot_density_ratio,
    plot_synthetic_gaussians,
    run_density_models,
    run_density_ratio,
    run_synthetic_gaussians,
)
from companion.experiments.elbo_surgery_ratios import _row_label as _row_label  # the notebook labels its table
from companion.experiments.elbo_surgery_shared import (
    LIKELIHOOD,
    SURGERY_VAE,
    SurgeryVAEConfig,
    posterior_samples,
    posteriors,
    train_flow_vae,
    train_vae,
    trained_flow_vae,
    trained_vae,
)

__all__ = [
    "LIKELIHOOD", "POSTERIORS", "SURGERY_VAE", "SurgeryVAEConfig",
    "DensityModelsConfig", "DensityModelsResult", "DensityRatioConfig", "DensityRatioResult",
    "HybridsConfig", "HybridsResult", "LinearGaussianConfig", "LinearGaussianResult",
    "LowPosteriorConfig", "LowPosteriorResult", "MarginalKLConfig", "MarginalKLResult",
    "SyntheticGaussiansConfig", "SyntheticGaussiansResult",
    "plot_density_models", "plot_density_ratio", "plot_hybrids", "plot_linear_gaussian", "plot_low_posterior",
    "plot_marginal_kl", "plot_synthetic_gaussians",
    "posterior_samples", "posteriors", "ppca_posterior", "train_flow_vae", "train_vae",
    "trained_flow_vae", "trained_vae",
    "run_density_models", "run_density_ratio", "run_hybrids", "run_linear_gaussian", "run_low_posterior",
    "run_marginal_kl", "run_synthetic_gaussians",
]
