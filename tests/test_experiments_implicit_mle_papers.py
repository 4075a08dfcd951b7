"""Smoke tests of the implicit-MLE chapter's Fig. 4 / Fig. 5 / Table 1 (CelebA column) experiments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from companion.experiments import implicit_mle as E


def test_nearest_samples_finds_the_exact_copy():
    samples = torch.rand(20, 1, 4, 4)
    queries = samples[[3, 7]] + 1e-4
    near, dist = E.nearest_samples(queries, samples)
    assert torch.allclose(near, samples[[3, 7]]) and bool((dist < 1e-2).all())
    with pytest.raises(ValueError, match="same image shape"):
        E.nearest_samples(torch.rand(2, 1, 4, 4), torch.rand(5, 1, 3, 3))
    with pytest.raises(TypeError, match="tensors"):
        E.nearest_samples(np.zeros((2, 4)), torch.rand(5, 4))


def test_pca_frechet_is_zero_for_the_same_set_and_positive_for_a_shifted_one():
    x = torch.rand(50, 1, 5, 5)
    assert E.pca_frechet(x, x, x, 3) == pytest.approx(0.0, abs=1e-8)
    assert E.pca_frechet(x, x, x + 0.3, 3) > 0.01
    with pytest.raises(ValueError, match="n_components"):
        E.pca_frechet(x, x, x, 0)


def test_nearest_neighbours_smoke_run_and_quality_bar():
    from matplotlib.figure import Figure

    cfg = E.NearestNeighboursConfig.for_scale("smoke")
    result = E.run_nearest_neighbours(cfg)
    assert set(result.neighbours) == set(E.METHODS)
    assert result.neighbours["IML"].shape == result.queries.shape == (cfg.n_queries, 1, 8, 8)
    assert result.component_samples.shape[:2] == (cfg.n_components, cfg.n_per_component)
    assert np.all(np.diff(result.component_weights) <= 1e-9)  # heaviest component first
    for m in E.METHODS:
        assert result.distances[m].shape == (cfg.n_seeds,) and np.all(result.distances[m] > 0)
        bar = result.metrics["quality_bar"][m]
        assert 0 <= bar["meets_bar_seeds"] <= cfg.n_seeds and bar["frechet"]["mean"] >= 0
    assert isinstance(E.plot_nearest_neighbours(result), Figure)


def test_digits_quality_bar_rejects_a_one_class_generator():
    from companion.data import load, load_labels
    from companion.experiments.adaptive_density import train_feature_net

    net, _ = train_feature_net(n_steps=60)
    x, y = load("digits", "train"), load_labels("digits", "train")
    real = E.digits_quality_bar(x[:300], 1e3, net, load("digits", "test"))
    ones = E.digits_quality_bar(x[y == 1][:100], 1e3, net, load("digits", "test"))
    assert min(real["class_shares"]) > min(ones["class_shares"])
    assert not ones["meets_bar"]
    with pytest.raises(ValueError, match="reference_fd"):
        E.digits_quality_bar(x[:10], 0.0, net, x[:10])


def test_faces_smoke_run():
    from matplotlib.figure import Figure

    cfg = E.FacesConfig.for_scale("smoke")
    result = E.run_faces(cfg)
    assert set(result.parzen) == set(E.FACE_METHODS)
    assert all(np.isfinite(v).all() and v.shape == (cfg.n_seeds,) for v in result.parzen.values())
    assert result.queries.shape[1:] == (1, 25, 25) and result.neighbours["GAN"].shape == result.queries.shape
    assert 0 <= result.metrics["gan_meets_bar_seeds"] <= cfg.n_seeds
    assert isinstance(E.plot_faces(result), Figure)


def test_faces_and_neighbours_are_registered():
    from companion.reproduce import experiments

    known = experiments()
    assert known["implicit_mle/faces"].config is E.FacesConfig
    assert known["implicit_mle/nearest_neighbours"].plot is E.plot_nearest_neighbours
