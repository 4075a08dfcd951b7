"""Smoke tests of the implicit-MLE chapter's Fig. 4 / Fig. 5 / Table 1 (CelebA column) experiments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from companion.experiments import implicit_mle_baselines as B
from companion.experiments import implicit_mle_neighbours as N
from companion.experiments import implicit_mle_parzen as P


def test_nearest_samples_finds_the_exact_copy():
    samples = torch.rand(20, 1, 4, 4)
    queries = samples[[3, 7]] + 1e-4
    near, dist = N.nearest_samples(queries, samples)
    assert torch.allclose(near, samples[[3, 7]]) and bool((dist < 1e-2).all())
    with pytest.raises(ValueError, match="same image shape"):
        N.nearest_samples(torch.rand(2, 1, 4, 4), torch.rand(5, 1, 3, 3))
    with pytest.raises(TypeError, match="queries must be a torch.Tensor"):
        N.nearest_samples(np.zeros((2, 4)), torch.rand(5, 4))


def test_pca_frechet_is_zero_for_the_same_set_and_positive_for_a_shifted_one():
    x = torch.rand(50, 1, 5, 5)
    assert N.pca_frechet(x, x, x, 3) == pytest.approx(0.0, abs=1e-8)
    assert N.pca_frechet(x, x, x + 0.3, 3) > 0.01
    with pytest.raises(ValueError, match="n_components"):
        N.pca_frechet(x, x, x, 0)


def test_nearest_neighbours_smoke_run_and_quality_bar():
    from matplotlib.figure import Figure

    cfg = N.NearestNeighboursConfig.for_scale("smoke")
    result = N.run_nearest_neighbours(cfg)
    assert set(result.neighbours) == set(B.METHODS)
    assert result.neighbours["IML"].shape == result.queries.shape == (cfg.n_queries, 1, 8, 8)
    assert result.component_samples.shape[:2] == (cfg.n_components, cfg.n_per_component)
    assert np.all(np.diff(result.component_weights) <= 1e-9)  # heaviest component first
    for m in B.METHODS:
        assert result.distances[m].shape == (cfg.n_seeds,) and np.all(result.distances[m] > 0)
        bar = result.metrics["quality_bar"][m]
        assert 0 <= bar["meets_bar_seeds"] <= cfg.n_seeds and bar["frechet"]["mean"] >= 0
    assert isinstance(N.plot_nearest_neighbours(result), Figure)


def test_the_digits_quality_bar_rejects_a_one_class_generator():
    """The bar in the digit classifier the chapters use: real digits pass, a generator of ones does not."""
    from companion.data import load, load_labels
    from companion.experiments.adaptive_density import train_feature_net
    from companion.metrics import classifier_frechet, classifier_quality_bar

    net, _ = train_feature_net(n_steps=60)
    x, y, held_out = load("digits", "train"), load_labels("digits", "train"), load("digits", "test")
    reference = classifier_frechet(x[300:600], net, held_out)
    real = classifier_quality_bar(x[:300], net, held_out, reference)
    ones = classifier_quality_bar(x[y == 1][:100], net, held_out, reference)
    assert real["covers_classes"] and real["frechet_ratio"] < 2
    assert min(real["class_shares"]) > min(ones["class_shares"])
    assert not ones["meets_bar"] and ones["frechet"] > real["frechet"]


def test_parzen_sweep_smoke_run_reports_the_quality_bar():
    cfg = P.ParzenSweepConfig.for_scale("smoke")
    result = P.run_parzen_sweep(cfg)
    bar = result.metrics["quality_bar"]
    k = cfg.latent_dims[0]
    for m in B.METHODS:
        entry = bar[m][k]
        assert 0 <= entry["meets_bar_seeds"] <= cfg.n_seeds and entry["frechet"]["mean"] >= 0
        assert 0 <= entry["min_class_share"]["mean"] <= 1
        assert isinstance(result.metrics["meets_bar_at_best_k"][m], bool)
        assert result.metrics["train_seconds"][m]["mean"] > 0
    # the VAE is its own reference: a Fréchet ratio of one in every seed
    assert bar["VAE"][k]["frechet_ratio"]["mean"] == pytest.approx(1.0)


def test_gan_sweep_smoke_run_scores_every_setting():
    from matplotlib.figure import Figure

    cfg = B.GANSweepConfig.for_scale("smoke")
    result = B.run_gan_sweep(cfg)
    assert len(result.rows) == len(cfg.gan_settings) + len(cfg.wgan_settings)
    for row in result.rows:
        assert row["frechet_ratio"] == pytest.approx(row["frechet"] / result.metrics["vae_frechet"])
        assert isinstance(row["meets_bar"], bool) and 0 <= row["min_class_share"] <= 1
    table = B.gan_sweep_table(result)
    assert list(table.index) == ["GAN"] * len(cfg.gan_settings) + ["WGAN-GP"] * len(cfg.wgan_settings)
    assert isinstance(B.plot_gan_sweep(result), Figure)
    with pytest.raises(ValueError, match="digits"):
        B.run_gan_sweep(B.GANSweepConfig.for_scale("smoke", dataset="faces"))


def test_faces_smoke_run():
    from matplotlib.figure import Figure

    cfg = N.FacesConfig.for_scale("smoke")
    result = N.run_faces(cfg)
    assert set(result.parzen) == set(N.FACE_METHODS)
    assert all(np.isfinite(v).all() and v.shape == (cfg.n_seeds,) for v in result.parzen.values())
    assert result.queries.shape[1:] == (1, 25, 25) and result.neighbours["GAN"].shape == result.queries.shape
    assert 0 <= result.metrics["gan_meets_bar_seeds"] <= cfg.n_seeds
    assert isinstance(N.plot_faces(result), Figure)


def test_faces_and_neighbours_are_registered():
    from companion.reproduce import experiments

    known = experiments()
    assert known["implicit_mle/faces"].config is N.FacesConfig
    assert known["implicit_mle/nearest_neighbours"].plot is N.plot_nearest_neighbours


def _summary(passed, ratio=0.5, share=0.06):
    return {"meets_bar_seeds": passed, "covers_classes_seeds": passed, "frechet": {"mean": 10.0, "std": 1.0},
            "frechet_ratio": {"mean": ratio, "std": 0.1}, "min_class_share": {"mean": share, "std": 0.01}}


def test_bar_phrase_says_meets_fails_or_partly_with_the_numbers():
    assert B.bar_phrase("the GAN", _summary(3), 3, 16).startswith("the GAN meets the bar at K = 16 (3 of 3 seeds")
    assert "0.50 times the VAE's" in B.bar_phrase("the GAN", _summary(3), 3, 16)
    assert "6.0%" in B.bar_phrase("the GAN", _summary(3), 3, 16)
    assert B.bar_phrase("WGAN-GP", _summary(0), 3, 4).startswith("WGAN-GP fails the bar")
    assert B.bar_phrase("WGAN-GP", _summary(1), 3, 4).startswith(
        "WGAN-GP meets the bar in some seeds only at K = 4 (1 of 3"
    )
    with pytest.raises(ValueError, match="n_seeds"):
        B.bar_phrase("the GAN", _summary(1), 0, 4)


def test_quality_bar_table_has_one_row_per_method_and_latent_size():
    table = B.quality_bar_table({"GAN": {4: _summary(0, 2.4, 0.004), 16: _summary(3)}, "VAE": {4: _summary(3, 1.0)}}, 3)
    assert list(table.index) == [("GAN", 4), ("GAN", 16), ("VAE", 4)]
    assert table.loc[("GAN", 4), "meets the bar"] == "0/3 seeds"
    assert table.loc[("GAN", 4), "smallest class share (%)"] == "0.4"
