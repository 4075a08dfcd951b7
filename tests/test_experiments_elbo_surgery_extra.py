"""Smoke-scale tests of the ELBO-surgery appendix experiments (Figs. 4-5, 10-17, 20, 22-28)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from companion.evidence import VERDICTS, verdict
from companion.experiments import elbo_surgery_extra as ex


def test_low_posterior_analysis_finds_neighbours_in_the_data():
    from companion.experiments.elbo_surgery_shared import SURGERY_VAE

    tiny_vae = dataclasses.replace(SURGERY_VAE["smoke"], n_steps=10, max_examples=200)
    cfg = ex.LowPosteriorAnalysisConfig.for_scale("smoke", vae=tiny_vae, n_candidates=300, n_show=6,
                                                  num_z_values=(20, 300), n_per_num_z=3, tsne_prior=40,
                                                  tsne_perplexity=5.0)
    r = ex.run_low_posterior_analysis(cfg)
    assert r.low.shape == r.neighbours.shape == r.random_data.shape == (6, 1, 8, 8)
    assert r.tsne.shape == (46, 2)
    assert r.by_num_z.shape == (2, 3, 1, 8, 8)
    # More prior draws can only find latents of lower (or equal) q(z) among the kept ones.
    assert r.metrics["mean_log_q_num_z_300"] <= r.metrics["mean_log_q_num_z_20"] + 1e-9
    assert set(r.kl) == {"data", "neighbours", "low-posterior samples"} and (r.kl["data"] >= 0).all()
    assert 0.0 <= r.metrics["mean_norm_rank_low"] <= 1.0
    ex.plot_low_posterior_analysis(r)


def test_bounds_along_training_reports_every_model():
    cfg = ex.BoundsAlongTrainingConfig.for_scale("smoke", n_steps=6, eval_every=3, critic_steps=5, n_samples=40)
    r = ex.run_bounds_along_training(cfg)
    assert set(r.reported) == set(ex.BOUND_MODELS)
    for kind in ex.BOUND_MODELS:
        curve = r.reported[kind][cfg.learning_rates[0]]
        assert curve.shape == (3,) and np.isfinite(curve).all()
    assert set(r.true_elbo) == {"vae", "aae"}
    # The VAE reports its own ELBO: no gap.
    assert r.metrics[f"vae_lr{cfg.learning_rates[0]:g}_final_gap"] == 0.0
    # Every model but the VAE (the reference) is checked against the digits quality bar.
    assert set(r.quality_bar) == {"aae", "avb", "veegan"}
    for kind in r.quality_bar:
        runs = cfg.critic_seeds if kind in cfg.critic_models else cfg.gap_seeds if kind == "aae" else 1
        assert r.metrics[f"{kind}_runs"] == runs and 0 <= r.metrics[f"{kind}_runs_meeting_bar"] <= runs
        assert len(r.quality_bar[kind][0]["class_shares"]) == 10
    assert r.metrics["vae_mean_frechet"] > 0
    # Fig. 24: AVB and the VAE over several seeds per learning rate, the first being the run with curves.
    lr = cfg.learning_rates[0]
    assert cfg.critic_seeds == 2 and cfg.critic_models == ("vae", "avb")
    for kind in ex.BOUND_MODELS:
        scores = r.critic_runs[kind][lr]
        assert len(scores) == len(cfg.run_seeds(kind, 0)) and scores[0] == r.critic[kind][0]
    assert r.critic_runs["avb"][lr][0] != r.critic_runs["avb"][lr][1]  # another seed, another model
    assert r.metrics[f"avb_vs_vae_lr{lr:g}_critic_verdict"] == verdict(r.critic_runs["avb"][lr],
                                                                       r.critic_runs["vae"][lr])
    # Fig. 4: each AAE run's report against its own true ELBO at the end, paired.
    ends = r.final_runs["aae"][lr]
    assert len(ends) == cfg.gap_seeds == 2 and ends[0] == (r.reported["aae"][lr][-1], r.true_elbo["aae"][lr][-1])
    assert r.metrics[f"aae_lr{lr:g}_report_above_elbo_verdict"] == verdict(
        [e[0] for e in ends], [e[1] for e in ends], paired=True)
    ex.plot_bounds_along_training(r)


def test_bounds_along_training_seeds_are_distinct_per_model():
    cfg = ex.BoundsAlongTrainingConfig.for_scale("smoke", learning_rates=(1e-3, 5e-4), critic_seeds=3)
    assert cfg.run_seeds("avb", 0) == [0, 2, 4] and cfg.run_seeds("avb", 1) == [1, 3, 5]
    assert cfg.run_seeds("aae", 1) == [1, 3]  # gap_seeds runs (Fig. 4)
    assert cfg.run_seeds("veegan", 1) == [1]  # not compared: the run with curves only
    with pytest.raises(ValueError, match="critic_seeds"):
        dataclasses.replace(cfg, critic_seeds=0).run_seeds("vae", 0)


def test_bounds_along_training_rejects_unknown_models():
    with pytest.raises(ValueError, match="models"):
        ex.run_bounds_along_training(ex.BoundsAlongTrainingConfig.for_scale("smoke", models=("iwae",)))


def test_classifier_updates_runs_one_curve_per_setting_and_seed():
    cfg = ex.ClassifierUpdatesConfig.for_scale("smoke", dims=(1,), estimation_steps=5, learning_steps=10,
                                               n_samples=300)
    r = ex.run_classifier_updates(cfg)
    assert r.updates == [1, 5]
    assert r.runs[1].learning_curves[1].shape[0] == cfg.n_seeds == 2
    # Same seeds: both settings start from the same true KL, seed by seed.
    assert np.array_equal(r.runs[1].learning_curves[1][:, 0], r.runs[5].learning_curves[1][:, 0])
    assert not np.array_equal(r.runs[1].kl_after_learning(1), r.runs[5].kl_after_learning(1))
    assert r.metrics["updates5_vs_1_d1_lower_kl_verdict"] in VERDICTS
    ex.plot_classifier_updates(r)
    with pytest.raises(ValueError, match="updates"):
        ex.run_classifier_updates(ex.ClassifierUpdatesConfig.for_scale("smoke", updates=(0,)))


def test_many_latents_counts_active_latents_per_seed_and_gives_every_verdict():
    cfg = ex.ManyLatentsConfig.for_scale("smoke", n_steps=5, latent_dim=12)
    assert cfg.n_seeds == 3 and cfg.seeds == [0, 1, 2]
    r = ex.run_many_latents(cfg)
    assert r.seeds == cfg.seeds
    for name in cfg.datasets:
        for kind in ex.MANY_LATENTS_MODELS:
            assert r.means[name][kind].shape == (cfg.n_show, 12)
            assert np.all(np.diff(r.activity[name][kind]) <= 0)  # sorted, descending
            runs = r.runs[name][kind]
            assert set(runs) == set(ex.MANY_LATENTS_QUANTITIES)
            assert all(len(values) == cfg.n_seeds for values in runs.values())
            assert all(0 <= v <= 12 and v == int(v) for v in runs["active_latents"])
            assert len(set(runs["average_kl"])) == cfg.n_seeds  # each seed its own run
            # the first seed's pictures: its variances count its active latents
            assert int((r.activity[name][kind] > cfg.active_threshold).sum()) == runs["active_latents"][0]
            assert r.metrics[f"{name}_{kind}_mean_posterior_std"] == pytest.approx(np.mean(runs["mean_posterior_std"]))
        # every pre-stated claim, on every data set, with the verdict read from the runs
        assert set(r.verdicts[name]) == {f"{a}_vs_{b}_{q}" for a, b, q in ex.MANY_LATENTS_CLAIMS}
        for a, b, q in ex.MANY_LATENTS_CLAIMS:
            word = verdict(r.runs[name][a][q], r.runs[name][b][q], higher_is_better=False)
            assert r.verdicts[name][f"{a}_vs_{b}_{q}"] == word == r.metrics[f"{name}_{a}_vs_{b}_{q}_smaller_verdict"]
    ex.plot_many_latents(r)


def test_many_latents_verdicts_reads_the_claims_and_refuses_bad_input():
    runs = {"digits": {"vae": {"active_latents": [2.0, 3.0, 2.0, 4.0, 3.0]},
                       "aae": {"active_latents": [180.0, 175.0, 190.0, 185.0, 178.0]}}}
    assert ex.many_latents_verdicts(runs, [("vae", "aae", "active_latents")]) == {
        "digits": {"vae_vs_aae_active_latents": "holds"}}
    assert ex.many_latents_verdicts(runs, [("aae", "vae", "active_latents")]) == {
        "digits": {"aae_vs_vae_active_latents": "does not hold"}}
    with pytest.raises(TypeError, match="runs must be"):
        ex.many_latents_verdicts({})
    with pytest.raises(TypeError, match="claim"):
        ex.many_latents_verdicts(runs, [("vae", "aae")])
    with pytest.raises(KeyError, match="mean_posterior_std"):
        ex.many_latents_verdicts(runs)  # the default claims need the posterior widths too
    with pytest.raises(ValueError, match="n_seeds"):
        ex.run_many_latents(ex.ManyLatentsConfig.for_scale("smoke", n_seeds=0))
    with pytest.raises(ValueError, match="seed"):
        ex.run_many_latents(ex.ManyLatentsConfig.for_scale("smoke", seed=-1))
    with pytest.raises(ValueError, match="datasets"):
        ex.run_many_latents(ex.ManyLatentsConfig.for_scale("smoke", datasets=()))


def test_pixel_likelihoods_scores_both_likelihoods_per_seed():
    cfg = ex.PixelLikelihoodsConfig.for_scale("smoke", n_steps=5, max_examples=200, n_samples=60)
    r = ex.run_pixel_likelihoods(cfg)
    for name in ("bernoulli", "logistic"):
        assert len(r.per_seed[name]["average_kl"]) == cfg.n_seeds
        assert all(math.isfinite(v) for v in r.per_seed[name]["sample_frechet"])
        assert r.reconstructions[name].min() >= 0 and r.reconstructions[name].max() <= 1.0 + 1e-6
    ex.plot_pixel_likelihoods(r)


def test_reconstructions_and_samples_on_both_data_sets():
    cfg = ex.ReconstructionsConfig.for_scale("smoke", n_steps=3)
    r = ex.run_reconstructions_and_samples(cfg)
    assert r.reconstructions["faces"]["vgh++"].shape == (cfg.n_show, 1, 25, 25)
    assert r.samples["digits"]["aae"].shape == (cfg.n_show, 1, 8, 8)
    for name in cfg.datasets:
        for kind in cfg.models:
            errors = r.l1[name][kind]
            assert len(errors) == len(cfg.seeds) and all(e > 0 for e in errors)
            assert r.metrics[f"{name}_{kind}_l1_reconstruction"] == pytest.approx(np.mean(errors))
        for other in ("vae", "aae"):
            assert r.metrics[f"{name}_vgh++_vs_{other}_l1_verdict"] in (-1.0, 0.0, 1.0)
    assert r.metrics["n_seeds"] == len(cfg.seeds) >= 2
    ex.plot_reconstructions_and_samples(r)


def test_reconstructions_first_seed_is_the_gallery_and_seeds_are_checked():
    one = ex.run_reconstructions_and_samples(ex.ReconstructionsConfig.for_scale(
        "smoke", n_steps=3, seeds=(1,), datasets=("digits",), models=("vae",)))
    two = ex.run_reconstructions_and_samples(ex.ReconstructionsConfig.for_scale(
        "smoke", n_steps=3, seeds=(1, 0), datasets=("digits",), models=("vae",)))
    assert np.array_equal(one.reconstructions["digits"]["vae"], two.reconstructions["digits"]["vae"])
    assert one.l1["digits"]["vae"] == two.l1["digits"]["vae"][:1]
    with pytest.raises(ValueError, match="seeds must be a non-empty tuple of ints"):
        ex.run_reconstructions_and_samples(ex.ReconstructionsConfig.for_scale("smoke", seeds=()))


def test_frechet_to_held_out_is_small_for_real_digits_and_large_for_a_collapsed_sampler():
    from companion.data import load

    held_out, train = load("digits", "valid"), load("digits", "train")
    collapsed = train[:1].repeat(200, 1, 1, 1)  # one digit, 200 times
    real = ex.frechet_to_held_out(train[:200], held_out, classifier_steps=40)
    assert 0 <= real < ex.frechet_to_held_out(collapsed, held_out, classifier_steps=40)
    with pytest.raises(ValueError, match="samples"):
        ex.frechet_to_held_out(torch.zeros(3, 64), held_out, classifier_steps=40)


def test_hybrids_run_seeds_and_report_the_gan_quality_bar():
    from companion.experiments import elbo_surgery as base

    cfg = base.HybridsConfig.for_scale("smoke", models=("vae", "aae", "gan"), n_steps=5, gan_steps=5,
                                       critic_steps=5, n_samples=40, n_bar_samples=60)
    r = base.run_hybrids(cfg)
    assert all(len(v) == cfg.n_seeds * len(cfg.learning_rates) for v in r.scores.values())
    assert len(r.quality_bar["gan"]) == cfg.n_seeds
    assert 0 <= r.metrics["gan_runs_meeting_bar"] <= cfg.n_seeds
    assert math.isfinite(r.metrics["vae_mean_frechet"])
    base.plot_hybrids(r)


def test_classifier_updates_reuses_the_one_update_run():
    from companion.experiments import elbo_surgery as base

    cfg = ex.ClassifierUpdatesConfig.for_scale("smoke", dims=(1,), estimation_steps=5, learning_steps=10,
                                               n_samples=300, updates=(1, 2))
    one = base.run_synthetic_gaussians(base.SyntheticGaussiansConfig.for_scale(
        "smoke", dims=(1,), estimation_steps=5, learning_steps=10, n_samples=300))
    r = ex.run_classifier_updates(cfg, reuse=one)
    assert np.array_equal(r.runs[1].learning_curves[1], one.learning_curves[1])
    assert np.array_equal(r.runs[2].learning_curves[1][:, 0], one.learning_curves[1][:, 0])  # same starts, seeds
    # The settings share each seed's Gaussians and initialisation: the verdict is paired.
    assert r.metrics["updates2_vs_1_d1_lower_kl_verdict"] == verdict(
        r.runs[2].kl_after_learning(1), r.runs[1].kl_after_learning(1), higher_is_better=False, paired=True)
    # A one-update run over more seeds holds ours: its first seeds are taken.
    first = ex.run_classifier_updates(dataclasses.replace(cfg, n_seeds=1, updates=(1,)), reuse=one)
    assert first.runs[1].seeds == [0] and np.array_equal(first.runs[1].learning_curves[1], one.learning_curves[1][:1])
    with pytest.raises(ValueError, match="reuse"):
        ex.run_classifier_updates(ex.ClassifierUpdatesConfig.for_scale("smoke", dims=(1, 10)), reuse=one)
    with pytest.raises(ValueError, match="seeds"):
        ex.run_classifier_updates(dataclasses.replace(cfg, n_seeds=3), reuse=one)


def test_a_run_over_one_dimension_is_part_of_a_run_over_several():
    # Why reuse may take a subset of dimensions: each dimension is seeded on its own.
    from companion.experiments import elbo_surgery as base

    kw = dict(estimation_steps=5, learning_steps=6, n_samples=300)
    both = base.run_synthetic_gaussians(base.SyntheticGaussiansConfig.for_scale("smoke", dims=(1, 10), **kw))
    one = base.run_synthetic_gaussians(base.SyntheticGaussiansConfig.for_scale("smoke", dims=(10,), **kw))
    assert np.allclose(both.learning_curves[10], one.learning_curves[10])


def test_synthetic_gaussians_seeds_are_the_plain_runs_and_carry_a_verdict():
    from companion.experiments import elbo_surgery as base

    kw = dict(dims=(1,), estimation_steps=5, learning_steps=6, n_samples=300)
    two = base.run_synthetic_gaussians(base.SyntheticGaussiansConfig.for_scale("smoke", n_seeds=2, **kw))
    second = base.run_synthetic_gaussians(base.SyntheticGaussiansConfig.for_scale("smoke", n_seeds=1, seed=1, **kw))
    assert two.seeds == [0, 1] and two.learning_curves[1].shape == (2, 7)
    assert np.allclose(two.learning_curves[1][1], second.learning_curves[1][0])  # seed 1 is the run with seed 1
    assert two.true_kl[1][0] != two.true_kl[1][1]  # a seed draws its own pair of Gaussians
    assert two.metrics["d1_learning_lowers_kl_verdict"] in VERDICTS
    # Each seed's end against its own start: a paired verdict.
    assert two.metrics["d1_learning_lowers_kl_verdict"] == verdict(
        two.kl_after_learning(1), two.true_kl[1], higher_is_better=False, paired=True)
    assert 0 <= two.metrics["d1_seeds_kl_lowered"] <= 2
    # One seed gives no verdict.
    assert second.metrics["d1_learning_lowers_kl_verdict"] == "cannot tell at this budget"
    base.plot_synthetic_gaussians(two)


def test_the_frozen_sampler_draws_the_model_gaussian():
    # The classifier's draws come from d normals (b + eps L^T, L L^T = W^T W) instead of k = 10 d:
    # the same Gaussian N(b, W^T W), so its mean and covariance must be the model's.
    from companion.experiments.elbo_surgery_ratios import _AffineGaussian

    torch.manual_seed(0)
    model = _AffineGaussian(30, 3, torch.Generator().manual_seed(1))
    bias, covariance = model.moments()
    x = model.frozen_sampler()(200_000).double()
    assert not x.requires_grad and x.shape == (200_000, 3)
    assert torch.allclose(x.mean(0), bias, atol=0.02)
    assert torch.allclose(torch.cov(x.T), covariance, atol=0.02)
    # A singular W^T W has no Cholesky factor: the draws fall back to W^T z + b, still without a gradient.
    with torch.no_grad():
        model.weight[:, 0] = 0.0
    x = model.frozen_sampler()(50_000).double()
    assert not x.requires_grad
    assert torch.allclose(x[:, 0], bias[0].expand(50_000))  # no spread along the dead direction
    assert torch.allclose(torch.cov(x.T)[1:, 1:], model.moments()[1][1:, 1:], atol=0.02)
