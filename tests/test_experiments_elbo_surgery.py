"""Tests of the ELBO-surgery experiments that are cheap enough for CI: Fig. 1 with both posterior families."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from companion.evidence import VERDICTS, verdict
from companion.experiments import elbo_surgery as ex


def test_marginal_kl_experiment_reports_both_posterior_families_over_seeds():
    cfg = ex.MarginalKLConfig.for_scale("smoke", datasets=("digits",), n_steps=20, flow_steps=20,
                                        max_examples=300, n_z=300, n_seeds=3, seed=4)
    result = ex.run_marginal_kl(cfg)
    assert result.seeds == [4, 5, 6]
    assert set(result.table["digits"]) == set(result.runs["digits"]) == {"gaussian", "realnvp"}
    for family, row in result.table["digits"].items():
        per_seed = result.runs["digits"][family]
        assert set(per_seed) == set(row)
        for key, values in per_seed.items():
            assert len(values) == 3
            assert row[key] == pytest.approx(np.mean(values))  # the table holds the means over seeds
        assert len(set(per_seed["marginal_kl"])) == 3  # the seeds are different runs
        for mi, residual in zip(per_seed["mutual_information"], per_seed["sum_residual"]):
            assert -0.05 <= mi <= math.log(300) + 1e-6
            assert abs(residual) < 0.5  # eq. 5 up to Monte Carlo noise
        assert math.isfinite(row["elbo"]) and math.isfinite(row["marginal_kl"])
        assert f"digits_{family}_marginal_kl" in result.metrics
        assert result.metrics[f"digits_{family}_marginal_kl_std"] == pytest.approx(
            np.std(per_seed["marginal_kl"], ddof=1))
    # the verdict on "Real-NVP has the smaller marginal KL", paired by seed, from the runs kept
    runs = result.runs["digits"]
    assert result.flow_verdicts == {"digits": verdict(runs["realnvp"]["marginal_kl"], runs["gaussian"]["marginal_kl"],
                                                      higher_is_better=False, paired=True)}
    assert result.flow_verdicts["digits"] in VERDICTS
    ex.plot_marginal_kl(result)


def test_marginal_kl_families_of_a_seed_start_from_the_same_encoder_and_decoder():
    vae, _ = ex.train_vae("digits", 4, 1, 16, 100, seed=3)
    flow_model, _ = ex.train_flow_vae("digits", 4, 1, 16, 100, 3, 1, 8)
    other, _ = ex.train_vae("digits", 4, 1, 16, 100, seed=4)
    # one step of training apart from the same start: close; another seed: far
    same = [(a - b).abs().max().item() for a, b in zip(vae.parameters(), flow_model.vae.parameters())]
    different = [(a - b).abs().max().item() for a, b in zip(vae.parameters(), other.parameters())]
    assert max(same) < 0.01 < max(different)


def test_marginal_kl_experiment_without_both_families_gives_no_verdict():
    cfg = ex.MarginalKLConfig.for_scale("smoke", datasets=("digits",), posteriors=("gaussian",), n_steps=5,
                                        max_examples=100, n_z=100, n_seeds=2)
    result = ex.run_marginal_kl(cfg)
    assert result.flow_verdicts == {}
    assert len(result.runs["digits"]["gaussian"]["marginal_kl"]) == 2


@pytest.mark.parametrize("bad", [{"n_seeds": 0}, {"seed": -1}, {"datasets": ()}])
def test_marginal_kl_experiment_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        ex.run_marginal_kl(ex.MarginalKLConfig.for_scale("smoke", **bad))


def test_train_vae_rejects_bad_settings():
    with pytest.raises(ValueError, match="dataset"):
        ex.train_vae("mnist-typo", 4, 1, 16, 100, 0)
    with pytest.raises(ValueError, match="n_steps"):
        ex.train_vae("digits", 4, 0, 16, 100, 0)
    with pytest.raises(ValueError, match="flow_blocks"):
        ex.train_flow_vae("digits", 4, 1, 16, 100, 0, 0, 8)


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
    # the mean scores of every VAE (the first is the pictures'), and the verdict over them
    assert result.metrics["n_seeds"] == cfg.n_seeds == 2
    for key in ("mean_elbo_low", "mean_elbo_reconstruction", "mean_elbo_data"):
        assert len(result.per_seed[key]) == 2 and result.per_seed[key][0] == result.metrics[key]
    assert result.per_seed["mean_elbo_low"][0] != result.per_seed["mean_elbo_low"][1]
    assert result.metrics["low_vs_reconstruction_elbo_verdict"] in (-1.0, 0.0, 1.0)
    m = result.metrics
    assert m["low_minus_reconstruction_elbo_low"] <= m["low_minus_reconstruction_elbo"] <= \
        m["low_minus_reconstruction_elbo_high"]
    with pytest.raises(ValueError, match="n_seeds must be a positive int"):
        ex.run_low_posterior(dataclasses.replace(cfg, n_seeds=0))


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
