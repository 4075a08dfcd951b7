"""Tests of the ELBO-surgery experiments that are cheap enough for CI: Fig. 1 with both posterior families."""

from __future__ import annotations

import dataclasses
import math

import pytest

from companion.experiments import elbo_surgery as ex


def test_marginal_kl_experiment_reports_both_posterior_families():
    cfg = ex.MarginalKLConfig.for_scale("smoke", datasets=("digits",), n_steps=20, flow_steps=20,
                                        max_examples=300, n_z=300)
    result = ex.run_marginal_kl(cfg)
    assert set(result.table["digits"]) == {"gaussian", "realnvp"}
    for family, row in result.table["digits"].items():
        assert -0.05 <= row["mutual_information"] <= math.log(300) + 1e-6
        assert abs(row["sum_residual"]) < 0.5  # eq. 5 up to Monte Carlo noise
        assert math.isfinite(row["elbo"]) and math.isfinite(row["marginal_kl"])
        assert f"digits_{family}_marginal_kl" in result.metrics
    ex.plot_marginal_kl(result)


def test_marginal_kl_experiment_rejects_unknown_posteriors():
    with pytest.raises(ValueError, match="posteriors"):
        ex.run_marginal_kl(ex.MarginalKLConfig.for_scale("smoke", posteriors=("iaf",)))


def test_low_posterior_scores_decoded_means_like_for_like():
    # The reference for decoded low-posterior images is the decoded means of training
    # examples, scored by the same ELBO; the raw data's ELBO stays beside it.
    tiny_vae = dataclasses.replace(ex.SURGERY_VAE["smoke"], n_steps=10, max_examples=200)
    cfg = ex.LowPosteriorConfig.for_scale("smoke", vae=tiny_vae, n_candidates=200, n_show=8)
    result = ex.run_low_posterior(cfg)
    assert result.reconstruction_elbo.shape == (4 * cfg.n_show,)
    assert result.low_elbo.shape == result.ordinary_elbo.shape == (cfg.n_show,)
    assert result.metrics["mean_elbo_reconstruction"] == pytest.approx(float(result.reconstruction_elbo.mean()))
    assert math.isfinite(result.metrics["mean_elbo_reconstruction"])
    ex.plot_low_posterior(result)


def test_the_vae_sub_config_is_shared_and_frozen():
    # The experiments that study one trained VAE take its settings from one sub-config, so the
    # same scale gives the same (cached) model; a preset cannot be changed through one config.
    from companion.experiments import elbo_surgery_extra as exx

    configs = [ex.DensityModelsConfig, ex.LowPosteriorConfig, exx.LowPosteriorAnalysisConfig]
    for scale in ("smoke", "book", "paper"):
        assert len({c.for_scale(scale).vae for c in configs}) == 1
    assert ex.DensityRatioConfig.for_scale("paper").vae.hidden == 1000  # the paper's wider encoder
    cfg = ex.LowPosteriorConfig.for_scale("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.vae.n_steps = 1
    assert cfg.to_dict()["vae"]["n_steps"] == ex.SURGERY_VAE["smoke"].n_steps
    assert cfg.vae.trained(cfg.seed) is cfg.vae.trained(cfg.seed)  # trained once per process
