"""More experiments of the ELBO-surgery chapter (Rosca et al., 2018), the paper's appendix figures: an index.

The chapter's notebook imports them from here (``exx``); each lives in the module of its topic
(see :mod:`companion.experiments.elbo_surgery` for the whole map):

* ``elbo_surgery/low_posterior_analysis`` (Figs. 10-12, 14, 15) —
  :mod:`~companion.experiments.elbo_surgery_low_posterior`;
* ``elbo_surgery/bounds_along_training`` (Figs. 4, 23, 24) —
  :mod:`~companion.experiments.elbo_surgery_hybrids`;
* ``elbo_surgery/classifier_updates`` (Fig. 20) — :mod:`~companion.experiments.elbo_surgery_ratios`;
* ``elbo_surgery/many_latents`` (Figs. 5, 16, 17), ``elbo_surgery/pixel_likelihoods``
  (Fig. 22) and ``elbo_surgery/reconstructions_and_samples`` (Figs. 25-28) —
  :mod:`~companion.experiments.elbo_surgery_galleries`.
"""

from __future__ import annotations

from companion.experiments.elbo_surgery_galleries import (
    GALLERY_MODELS,
    MANY_LATENTS_CLAIMS,
    MANY_LATENTS_MODELS,
    MANY_LATENTS_QUANTITIES,
    ManyLatentsConfig,
    ManyLatentsResult,
    PixelLikelihoodsConfig,
    PixelLikelihoodsResult,
    ReconstructionsConfig,
    ReconstructionsResult,
    many_latents_verdicts,
    plot_many_latents,
    plot_pixel_likelihoods,
    plot_reconstructions_and_samples,
    run_many_latents,
    run_pixel_likelihoods,
    run_reconstructions_and_samples,
)
from companion.experiments.elbo_surgery_hybrids import (
    BOUND_MODELS,
    BoundsAlongTrainingConfig,
    BoundsAlongTrainingResult,
    plot_bounds_along_training,
    run_bounds_along_training,
)
from companion.experiments.elbo_surgery_low_posterior import (
    LowPosteriorAnalysisConfig,
    LowPosteriorAnalysisResult,
    plot_low_posterior_analysis,
    run_low_posterior_analysis,
)
from companion.experiments.elbo_surgery_ratios import (
    ClassifierUpdatesConfig,
    ClassifierUpdatesResult,
    plot_classifier_updates,
    run_classifier_updates,
)
from companion.experiments.elbo_surgery_shared import digits_feature_net, frechet_to_held_out

__all__ = [
    "BOUND_MODELS", "GALLERY_MODELS", "MANY_LATENTS_CLAIMS", "MANY_LATENTS_MODELS", "MANY_LATENTS_QUANTITIES",
    "BoundsAlongTrainingConfig", "BoundsAlongTrainingResult", "ClassifierUpdatesConfig", "ClassifierUpdatesResult",
    "LowPosteriorAnalysisConfig", "LowPosteriorAnalysisResult", "ManyLatentsConfig", "ManyLatentsResult",
    "PixelLikelihoodsConfig", "PixelLikelihoodsResult", "ReconstructionsConfig", "ReconstructionsResult",
    "digits_feature_net", "frechet_to_held_out", "many_latents_verdicts",
    "plot_bounds_along_training", "plot_classifier_updates", "plot_low_posterior_analysis", "plot_many_latents",
    "plot_pixel_likelihoods", "plot_reconstructions_and_samples",
    "run_bounds_along_training", "run_classifier_updates", "run_low_posterior_analysis", "run_many_latents",
    "run_pixel_likelihoods", "run_reconstructions_and_samples",
]
