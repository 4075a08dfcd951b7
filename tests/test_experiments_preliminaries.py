"""Tests of the primer chapter's experiments (companion/experiments/preliminaries*.py), at tiny sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from companion.experiments import preliminaries as P
from companion.experiments import preliminaries_evaluation as PE
from companion.experiments import preliminaries_exercises as PX
from companion.experiments import preliminaries_gans as PG
from companion.experiments import preliminaries_vae as PV
from companion.metrics import total_variation

# ----------------------------------------------------------------------------- helpers


def test_ring_log_prob_matches_a_torch_mixture():
    from companion.data import toy_centers, toy_std

    centers, std = toy_centers("ring"), toy_std("ring")
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(8)),
        torch.distributions.Independent(torch.distributions.Normal(centers, std), 1),
    )
    x = torch.cat([centers + 0.02 * torch.randn(8, 2), torch.randn(20, 2)])
    assert torch.allclose(P.ring_log_prob(x), mixture.log_prob(x), atol=1e-4, rtol=1e-5)


def test_ring_log_prob_integrates_to_one_near_one_mode():
    # one mode's neighbourhood holds 1/8 of the mass; the others contribute nothing there
    from companion.data import toy_centers

    c = toy_centers("ring")[0]
    axis = torch.linspace(-0.08, 0.08, 401)
    gx, gy = torch.meshgrid(axis + c[0], axis + c[1], indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    cell = float(axis[1] - axis[0]) ** 2
    mass = float(P.ring_log_prob(pts).exp().sum()) * cell
    assert mass == pytest.approx(1 / 8, rel=1e-3)


def test_gaussian_fit_log_prob_on_its_own_data_has_the_closed_form():
    torch.manual_seed(0)
    train = torch.randn(500, 3) @ torch.tensor([[1.0, 0.3, 0.0], [0.0, 2.0, 0.5], [0.0, 0.0, 0.7]]) + 1.0
    cov = torch.cov(train.double().T, correction=0)
    d = 3
    expected = -0.5 * d * math.log(2 * math.pi) - 0.5 * float(torch.logdet(cov)) - 0.5 * d
    assert float(P.gaussian_fit_log_prob(train, train).double().mean()) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    "bad, error",
    [(np.zeros((3, 2)), TypeError), (torch.zeros(3), ValueError), (torch.tensor([[0.0, float("nan")]]), ValueError),
     (torch.zeros(0, 2), ValueError), (torch.zeros(3, 2, dtype=torch.long), TypeError)],
)
def test_ring_log_prob_rejects_bad_points(bad, error):
    with pytest.raises(error, match="x"):
        P.ring_log_prob(bad)


def test_gaussian_fit_log_prob_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="train"):
        P.gaussian_fit_log_prob(torch.zeros(5, 2), torch.zeros(3, 3))


def test_total_variation_of_flat_and_checkerboard_images():
    assert total_variation(torch.full((2, 1, 4, 4), 0.3)) == pytest.approx(0.0)
    i, j = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    board = ((i + j) % 2).float().view(1, 1, 4, 4)
    assert total_variation(board) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="images"):
        total_variation(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="2 x 2"):  # no neighbours in one direction: was nan
        total_variation(torch.zeros(2, 1, 1, 4))


# ----------------------------------------------------------------------------- the experiments


def test_all_four_experiments_are_registered():
    from companion.reproduce import experiments

    known = experiments()
    for name, config, plot in [
        ("realnvp_ring", P.RealNVPRingConfig, P.plot_realnvp_ring),
        ("gan_ring", PG.GANRingConfig, PG.plot_gan_ring),
        ("vae_digits", PV.VAEDigitsConfig, PV.plot_vae_digits),
        ("parzen_bandwidth", PE.ParzenBandwidthConfig, PE.plot_parzen_bandwidth),
    ]:
        exp = known[f"preliminaries/{name}"]
        assert exp.config is config and exp.plot is plot
        smoke, book = config.for_scale("smoke"), config.for_scale("book")
        assert smoke != book and smoke.scale == "smoke"


@pytest.fixture(scope="module")
def flow_result():
    return P.run_realnvp_ring(P.RealNVPRingConfig.for_scale("smoke", n_steps=150, resolution=30))


def test_realnvp_on_ring_beats_a_single_gaussian_and_stays_below_the_truth(flow_result):
    m = flow_result.metrics
    assert m["test_log_likelihood"] > m["gaussian_test_log_likelihood"] + 0.2
    assert m["test_log_likelihood"] < m["true_test_log_likelihood"]
    assert 0 <= m["modes_covered"] <= 8 and 0.0 <= m["high_quality_fraction"] <= 1.0
    assert flow_result.samples.shape == (2500, 2) and np.isfinite(flow_result.samples).all()


def test_realnvp_test_log_likelihood_is_the_flows_own(flow_result):
    from companion.data import load

    with torch.no_grad():
        again = float(
            flow_result.flow.log_prob(load("ring", "test").to(next(flow_result.flow.parameters()).device)).mean()
        )
    assert again == pytest.approx(flow_result.metrics["test_log_likelihood"], rel=1e-5)


def test_plot_realnvp_ring_returns_a_figure(flow_result):
    from matplotlib.figure import Figure

    assert isinstance(P.plot_realnvp_ring(flow_result), Figure)


def test_gan_ring_reports_modes_in_range_along_training():
    from matplotlib.figure import Figure

    cfg = PG.GANRingConfig.for_scale("smoke", n_steps=60, eval_every=30, resolution=20)
    result = PG.run_gan_ring(cfg)
    assert result.steps == [30, 60]
    assert all(isinstance(k, int) and 0 <= k <= 8 for k in result.modes)
    m = result.metrics
    assert isinstance(m["modes_covered"], int) and 0 <= m["modes_covered"] <= 8
    assert 0.0 <= m["high_quality_fraction"] <= 1.0
    assert m["min_modes_covered"] <= m["max_modes_covered"]
    assert result.samples.shape == (2500, 2) and result.logit_grid.shape == (20, 20)
    assert isinstance(PG.plot_gan_ring(result), Figure)


def test_gan_ring_rejects_a_zero_evaluation_interval():
    with pytest.raises(ValueError, match="eval_every"):
        PG.run_gan_ring(PG.GANRingConfig.for_scale("smoke", eval_every=0))


@pytest.fixture(scope="module")
def vae_result():
    return PV.run_vae_digits(PV.VAEDigitsConfig.for_scale("smoke", n_steps=120, iwae_ks=(1, 10, 200), n_show=8))


def test_vae_iwae_bound_is_at_least_the_elbo_on_the_test_split(vae_result):
    m = vae_result.metrics
    assert m["iwae"] >= m["elbo"]
    assert m["iwae_k200"] >= m["iwae_k10"] - 0.5 >= m["iwae_k1"] - 1.0  # tightens with K (up to noise)
    assert m["iwae"] == vae_result.iwae[-1] and vae_result.iwae_ks == [1, 10, 200]


def test_vae_bounds_are_log_probabilities_of_discrete_images(vae_result):
    m = vae_result.metrics
    # a bound on log P(x) of a discrete image is below 0; the uniform model over 17 levels is -64 log 17
    assert all(b < 0 for b in vae_result.iwae) and m["elbo"] < 0
    assert m["elbo"] == pytest.approx(m["reconstruction"] - m["kl"], abs=1e-4) and m["kl"] >= 0
    assert m["elbo_bits_per_dim"] == pytest.approx(-m["elbo"] / (64 * math.log(2)))


def test_vae_images_are_in_the_unit_interval(vae_result):
    for images in (vae_result.test_images, vae_result.reconstructions, vae_result.sample_means, vae_result.samples):
        assert images.shape == (8, 1, 8, 8) and images.min() >= 0 and images.max() <= 1


def test_plot_vae_digits_returns_a_figure(vae_result):
    from matplotlib.figure import Figure

    assert isinstance(PV.plot_vae_digits(vae_result), Figure)


def test_vae_rejects_empty_iwae_ks():
    with pytest.raises(ValueError, match="iwae_ks"):
        PV.run_vae_digits(PV.VAEDigitsConfig.for_scale("smoke", iwae_ks=()))


def test_parzen_kmeans_outranks_real_data_and_estimates_grow_with_n():
    from matplotlib.figure import Figure

    cfg = PE.ParzenBandwidthConfig.for_scale("smoke", sample_sizes=(30, 120))
    result = PE.run_parzen_bandwidth(cfg)
    data, kmeans = result.by_size["real digits"], result.by_size["k-means centroids"]
    assert data[1] > data[0]  # more kernel centres: a higher estimate of the same distribution
    assert all(k > d for k, d in zip(kmeans, data))  # Theis et al.: the blurry prototypes win
    for name, curve in result.curves.items():
        assert len(curve) == len(cfg.sigmas)
        assert max(curve) == pytest.approx(max(curve))  # finite
        assert result.selected[name] in result.sigmas
    m = result.metrics
    assert m["data_ll_half_sigma_drop"] > 0 and m["data_ll_double_sigma_drop"] > 0
    assert isinstance(PE.plot_parzen_bandwidth(result), Figure)


def test_parzen_rejects_tiny_sample_sizes():
    with pytest.raises(ValueError, match="sample_sizes"):
        PE.run_parzen_bandwidth(PE.ParzenBandwidthConfig.for_scale("smoke", sample_sizes=(1,)))


# ----------------------------------------------------------------------------- exercise checks


def _d_star(p, q):
    total = p + q
    return np.divide(p, total, out=np.full_like(total, 0.5), where=total > 0)


def _js(p, q):
    m = (p + q) / 2
    kl = lambda a, b: float(np.sum(a[a > 0] * np.log(a[a > 0] / b[a > 0])))  # noqa: E731
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def test_check_optimal_discriminator_accepts_the_right_answer(capsys):
    assert PX.check_optimal_discriminator(_d_star, _js) is True
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "d_star, js",
    [(lambda p, q: np.divide(p, q, out=np.ones_like(p), where=q > 0), None),  # the ratio, not the classifier
     (_d_star, lambda p, q: 0.5 * float(np.sum(np.abs(p - q)))),  # total variation, not JS
     (lambda p, q: np.full_like(p, 0.5), None)],
)
def test_check_optimal_discriminator_rejects_wrong_answers(d_star, js):
    with pytest.raises(AssertionError):
        PX.check_optimal_discriminator(d_star, js)


def test_check_optimal_discriminator_wants_callables():
    with pytest.raises(TypeError, match="functions"):
        PX.check_optimal_discriminator(np.array([0.5]))


def test_check_bits_per_dim():
    right = (-40.0 + 64 * math.log(17)) / (64 * math.log(2))
    assert PX.check_bits_per_dim(right, nll_nats=-40.0, n_dims=64, n_levels=17) is True
    with pytest.raises(AssertionError, match="change of units"):
        PX.check_bits_per_dim(-40.0 / (64 * math.log(2)), nll_nats=-40.0, n_dims=64, n_levels=17)
    with pytest.raises(AssertionError, match="nats per dimension"):
        PX.check_bits_per_dim(right * math.log(2), nll_nats=-40.0, n_dims=64, n_levels=17)
    with pytest.raises(TypeError, match="answer"):
        PX.check_bits_per_dim("3.19", nll_nats=-40.0, n_dims=64, n_levels=17)


# ----------------------------------------------------------------------------- thesis Table 2.1 and Fig. 2.5


def test_classifier_score_of_confident_balanced_and_of_uniform_predictions():
    confident = torch.eye(4).repeat(5, 1)  # every class equally often, each with certainty
    assert PE.classifier_score(confident) == pytest.approx(4.0, rel=1e-6)
    assert PE.classifier_score(torch.full((6, 4), 0.25)) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="probs"):
        PE.classifier_score(torch.ones(3, 4))


def test_frechet_subsets_full_set_is_zero_and_small_subsets_are_farther():
    from matplotlib.figure import Figure

    result = PE.run_frechet_subsets(PE.FrechetSubsetsConfig.for_scale("smoke", sizes=(1297, 80), n_repeats=3))
    assert result.frechet.shape == (2, 3) and result.frechet[0] == pytest.approx(0.0, abs=1e-6)
    assert result.frechet[1].min() > 0  # a random subset of 80 is not the whole set
    # dropping half the classes costs more than any random subset of the same quality
    assert result.references["training digits 0-4 only"]["frechet"] > result.frechet.max()
    assert result.references["training digits 0-4 only"]["classifier_score"] < result.classifier_score[0, 0]
    assert isinstance(PE.plot_frechet_subsets(result), Figure)


def test_frechet_subsets_rejects_sizes_beyond_the_training_set():
    with pytest.raises(ValueError, match="sizes"):
        PE.run_frechet_subsets(PE.FrechetSubsetsConfig.for_scale("smoke", sizes=(5000,)))


def test_flow_grid_maps_the_grid_both_ways_and_inverts(flow_result):
    from matplotlib.figure import Figure

    grid = P.flow_grid_from(flow_result.flow, flow_result.train, n_lines=5, n_points=20)
    assert grid.data_lines.shape == grid.data_lines_to_latent.shape == (10, 20, 2)
    assert grid.latent_lines.shape == grid.latent_lines_to_data.shape == (10, 20, 2)
    # f^-1(f(x)) = x on the data grid
    dev = next(flow_result.flow.parameters()).device
    with torch.no_grad():
        back = flow_result.flow.inverse(torch.as_tensor(grid.data_lines_to_latent.reshape(-1, 2), device=dev))
    assert np.allclose(back.cpu().numpy(), grid.data_lines.reshape(-1, 2), atol=1e-3)
    assert grid.metrics["stretch_ratio"] >= 1.0
    assert isinstance(P.plot_flow_grid(grid), Figure)
    with pytest.raises(ValueError, match="n_lines"):
        P.flow_grid_from(flow_result.flow, flow_result.train, n_lines=1)


def test_new_preliminaries_experiments_are_registered():
    from companion.reproduce import experiments

    known = experiments()
    assert known["preliminaries/frechet_subsets"].config is PE.FrechetSubsetsConfig
    assert known["preliminaries/flow_grid"].plot is P.plot_flow_grid
    assert P.FlowGridConfig.for_scale("smoke").n_steps == P.RealNVPRingConfig.for_scale("smoke").n_steps


def test_gan_digits_smoke_run_reports_the_quality_bar():
    from matplotlib.figure import Figure

    from companion.experiments.preliminaries_gans import GANDigitsConfig, plot_gan_digits, run_gan_digits

    cfg = GANDigitsConfig.for_scale("smoke")
    result = run_gan_digits(cfg)
    m = result.metrics
    assert 0 <= m["meets_bar_seeds"] <= m["covers_classes_seeds"] <= cfg.n_seeds
    assert len(m["per_seed"]) == cfg.n_seeds
    for bar in m["per_seed"]:
        assert bar["frechet_ratio"] == pytest.approx(bar["frechet"] / bar["reference_frechet"])
        assert bar["meets_bar"] == (bar["covers_classes"] and bar["frechet_ratio"] <= 2.0)
    assert result.class_shares["GAN"].shape == result.class_shares["VAE"].shape == (cfg.n_seeds, 10)
    assert np.allclose(result.class_shares["VAE"].sum(1), 1.0)
    assert result.gan_samples.shape == (cfg.n_show, 1, 8, 8)
    assert isinstance(plot_gan_digits(result), Figure)
