"""The AGAVE experiments added for the thesis' Figs. 3.2 and 3.6, and the parallel training of the chapter's models."""

from __future__ import annotations

import pytest
import torch

from companion.evidence import VERDICTS
from companion.experiments import agave as ex
from companion.experiments import agave_extra as ax
from companion.experiments import agave_models as am


def test_endpoint_agreement_counts_samples_nearer_their_own_end():
    ends = torch.stack([torch.zeros(2, 1, 2, 2), torch.full((2, 1, 2, 2), 4.0)], dim=1)  # (pairs, 2, ...)
    following = torch.stack([ends[:, 0], ends[:, 0], ends[:, 1]], dim=1)  # first near end 0, last near end 1
    reversed_ = following.flip(1)
    assert ax.endpoint_agreement(following, ends) == 1.0
    assert ax.endpoint_agreement(reversed_, ends) == 0.0
    with pytest.raises(ValueError, match="do not match"):
        ax.endpoint_agreement(following, ends[:1])


def test_prior_samples_smoke_are_images_and_distances_in_grey_levels():
    cfg = ax.PriorSamplesConfig.for_scale("smoke", n_steps=2, n_test=8)
    result = ax.run_prior_samples(cfg)
    assert result.samples.shape == (2, 3, 1, 8, 8) and result.f.shape == (2, 1, 8, 8)
    assert 0 <= result.samples.min() and result.samples.max() <= 1 and result.f.max() <= 1  # images in [0, 1]
    assert result.metrics["distance_to_own_f"] > 1.0  # in grey levels: on the [0, 1] scale it could not pass 1
    ax.plot_prior_samples(result)


def test_the_shared_module_is_the_chapters_footing():
    assert ex.AgaveConfig is am.AgaveConfig and ex.trained_agave is am.trained_agave
    assert am.agave_scales(smoke={"n_z": 1}, paper={})["smoke"]["n_z"] == 1
    x = am.images(am.AgaveConfig.for_scale("smoke"), "test")
    assert x.shape == (32, 1, 8, 8) and 0 <= x.min() and x.max() == 1  # n_test images in [0, 1]


def test_interpolations_smoke():
    cfg = ax.InterpolationsConfig.for_scale("smoke", n_steps=2, n_test=8)
    result = ax.run_interpolations(cfg)
    assert result.f.shape == result.samples.shape == result.samples_naive.shape == (2, 3, 1, 8, 8)
    assert 0.0 <= result.metrics["agave_endpoint_agreement"] <= 1.0
    assert 0.0 <= result.metrics["naive_endpoint_agreement"] <= 1.0
    ax.plot_interpolations(result)
    with pytest.raises(ValueError, match="n_pairs"):
        ax.run_interpolations(ax.InterpolationsConfig.for_scale("smoke", n_steps=2, n_test=8, n_pairs=5))


def test_samples_smoke_reports_every_bar_and_verdict_over_seeds():
    cfg = ax.SamplesConfig.for_scale("smoke", n_steps=2, n_test=16, n_samples=20, n_frechet=16, classifier_steps=5)
    result = ax.run_samples(cfg)
    m = result.metrics
    for key in ax.SAMPLE_MODELS:
        n = len(cfg.vae_seeds if key in ("vae", "iaf_vae") else cfg.pixel_seeds)
        assert m[f"{key}_n_seeds"] == n and all(len(v) == n for v in result.runs[key].values())
        assert 0.0 <= m[f"{key}_min_class_share"] <= 0.1 + 1e-9  # the smallest of ten shares
        assert m[f"{key}_frechet"] >= 0.0 and m[f"{key}_frechet_std"] >= 0.0
    assert m["real_frechet"] >= 0.0
    # The digits bar, seed by seed, for every compared model: recomputed here from the runs.
    vae_frechet = sum(result.runs["vae"]["frechet"]) / len(cfg.vae_seeds)
    for key in ("iaf_vae", "pixelcnn", "agave"):
        runs = result.runs[key]
        expected = [s >= 0.03 and f <= 2 * vae_frechet for s, f in zip(runs["min_class_share"], runs["frechet"])]
        assert result.bars[key] == expected
        assert (m[f"{key}_bar_met_seeds"], m[f"{key}_bar_seeds"]) == (sum(expected), len(expected))
    for a, b, score in ax.SAMPLE_COMPARISONS:
        said = m[f"{a}_vs_{b}_{score}_verdict"]
        assert said in VERDICTS or said.startswith("not compared")
        assert m[f"{a}_vs_{b}_{score}_low"] <= m[f"{a}_vs_{b}_{score}_difference"] <= m[f"{a}_vs_{b}_{score}_high"]
        if score == "frechet" and not (all(result.bars[a]) and all(result.bars[b])):
            assert said.startswith("not compared")  # a model below the bar is not ranked
    assert m["iaf_vae_bound_bar_met"] == float(m["iaf_vae_vs_vae_bpd_verdict"] != "does not hold")
    assert set(result.names) <= set(result.images)
    ax.plot_samples(result)


def test_models_trained_in_worker_processes_equal_those_trained_here(monkeypatch):
    # Two AGAVEs trained in two forked workers (one thread each) against the same two trained
    # in this process on one thread: the same weights, so the cache does not depend on where.
    monkeypatch.setenv("COMPANION_WORKERS", "2")
    cfg = ex.AgaveConfig.for_scale("smoke", n_steps=3, seed=123)
    jobs = [am.agave_job(cfg), am.agave_job(cfg, lam=1.0)]
    for kind, c, overrides in jobs:
        am._MODEL_CACHE.pop(am._model_key(c, kind, overrides, c.n_steps), None)
    assert am.train_in_parallel(jobs, min_steps=1) == 2
    assert am.train_in_parallel(jobs, min_steps=1) == 0  # all cached now
    parallel = [am._MODEL_CACHE[am._model_key(c, k, o, c.n_steps)][0] for k, c, o in jobs]
    monkeypatch.undo()
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = [am._fit_model(k, c, o, c.n_steps)[0].state_dict() for k, c, o in jobs]
    finally:
        torch.set_num_threads(old)
    for a, b in zip(parallel, here):
        assert a.keys() == b.keys()
        for name in a:
            assert torch.allclose(a[name], b[name], atol=1e-6), name


def test_lambda_reports_every_seeds_test_kl_and_leaves_the_first_seeds_figures_alone():
    # The chapter reads "a larger lambda drives the KL down" over the seeds, so every seed's test KL is kept; the
    # first seed's is the one its figures and terms show, and reading the others must not move its random stream.
    tiny = dict(n_steps=2, n_test=8, iw_samples=2, seeds=(0, 1))
    lam = ex.run_lambda(ex.LambdaConfig.for_scale("smoke", lams=(1.0, 2.0), **tiny))
    assert set(lam.kl_nats) == {1.0, 2.0} and all(len(v) == 2 for v in lam.kl_nats.values())
    for value in (1.0, 2.0):
        assert lam.kl_nats[value][0] == lam.metrics[f"lam{value:g}_kl_nats"]
        assert lam.metrics[f"lam{value:g}_kl_nats_mean"] == pytest.approx(sum(lam.kl_nats[value]) / 2)
    first_only = ex.run_lambda(ex.LambdaConfig.for_scale("smoke", lams=(1.0, 2.0), **{**tiny, "seeds": (0,)}))
    assert first_only.metrics["lam2_kl_nats"] == lam.metrics["lam2_kl_nats"]
    assert torch.equal(first_only.prior_samples, lam.prior_samples)
