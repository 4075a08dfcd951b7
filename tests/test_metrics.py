"""Tests of companion.metrics against hand computations, closed forms and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.neighbors import KernelDensity

from companion.metrics import (
    bits_per_dim,
    continuous_to_discrete_nll,
    frechet_distance,
    frechet_distance_gaussians,
    mode_coverage,
    parzen_log_likelihood,
    parzen_log_prob,
    select_parzen_sigma,
)

# ----------------------------------------------------------------------------- Parzen


def test_parzen_with_one_sample_is_a_gaussian_log_density():
    gen = torch.Generator().manual_seed(0)
    centre = torch.randn(1, 5, generator=gen, dtype=torch.float64)
    x = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    sigma = 0.7
    expected = torch.distributions.Normal(centre[0], sigma).log_prob(x).sum(dim=1)
    torch.testing.assert_close(parzen_log_prob(centre, x, sigma), expected, rtol=1e-12, atol=1e-12)


def test_parzen_matches_sklearn_kernel_density():
    # sklearn's tree is exact here (low dimension, bandwidth not small next to the distances);
    # see benchmarks/parzen.py for the regime where it is not.
    rng = np.random.default_rng(1)
    samples, x = rng.normal(size=(300, 4)), rng.normal(size=(50, 4))
    for sigma in (0.3, 1.0):
        expected = KernelDensity(kernel="gaussian", bandwidth=sigma).fit(samples).score_samples(x)
        ours = parzen_log_prob(samples, x, sigma).numpy()
        np.testing.assert_allclose(ours, expected, rtol=1e-6)
        assert parzen_log_likelihood(samples, x, sigma) == pytest.approx(expected.mean(), rel=1e-6)


def test_parzen_matches_direct_differences_in_high_dimension():
    # Small bandwidth, far points: log-densities of -1e3 nats, where cancellation in
    # ||x||^2 - 2 x.s + ||s||^2 would show.
    rng = np.random.default_rng(2)
    samples, x = rng.random((400, 100)) + 5.0, rng.random((30, 100)) + 5.0
    sigma = 0.1
    sq = ((x[:, None, :] - samples[None, :, :]) ** 2).sum(-1)
    expected = (
        torch.logsumexp(torch.from_numpy(-sq / (2 * sigma**2)), dim=1).numpy()
        - math.log(400)
        - 50 * math.log(2 * math.pi * sigma**2)
    )
    np.testing.assert_allclose(parzen_log_prob(samples, x, sigma).numpy(), expected, rtol=1e-10)


def test_parzen_chunking_does_not_change_the_result():
    gen = torch.Generator().manual_seed(3)
    samples, x = torch.rand(257, 6, generator=gen), torch.rand(41, 6, generator=gen)
    whole = parzen_log_prob(samples, x, 0.2)
    chunked = parzen_log_prob(samples, x, 0.2, batch_size=7, sample_batch_size=13)
    torch.testing.assert_close(chunked, whole, rtol=1e-12, atol=1e-12)


def test_parzen_flattens_images_and_accepts_numpy_and_float32():
    gen = torch.Generator().manual_seed(4)
    samples, x = torch.rand(50, 1, 4, 4, generator=gen), torch.rand(9, 1, 4, 4, generator=gen)
    flat = parzen_log_prob(samples.reshape(50, 16), x.reshape(9, 16), 0.3)
    torch.testing.assert_close(parzen_log_prob(samples, x, 0.3), flat)
    torch.testing.assert_close(parzen_log_prob(samples.numpy(), x.numpy(), 0.3), flat)
    assert flat.dtype == torch.float64 and flat.shape == (9,)


def test_parzen_includes_the_minus_log_n_term():
    # Duplicating every sample leaves the kernel average (the density) unchanged; a sum of
    # kernels without the -log N term would grow by log 2.
    gen = torch.Generator().manual_seed(5)
    samples, x = torch.randn(30, 3, generator=gen), torch.randn(10, 3, generator=gen)
    once = parzen_log_likelihood(samples, x, 0.5)
    twice = parzen_log_likelihood(torch.cat([samples, samples]), x, 0.5)
    assert twice == pytest.approx(once, abs=1e-12)


def test_parzen_density_integrates_to_one_in_1d():
    samples = torch.tensor([[-1.0], [0.5], [2.0]])
    grid = torch.linspace(-8, 10, 20001).reshape(-1, 1)
    density = parzen_log_prob(samples, grid, 0.4).exp()
    assert float(torch.trapezoid(density, grid[:, 0].double())) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_metrics_run_on_the_samples_device():
    samples, x = torch.rand(100, 5, device="cuda"), torch.rand(10, 5, device="cuda")
    out = parzen_log_prob(samples, x, 0.3)
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), parzen_log_prob(samples.cpu(), x.cpu(), 0.3))
    sigma, ll = select_parzen_sigma(samples, x)
    assert (sigma, ll) == pytest.approx(select_parzen_sigma(samples.cpu(), x.cpu()))
    centers = samples[:4].double()
    assert mode_coverage(samples, centers, 0.3) == mode_coverage(samples.cpu(), centers.cpu(), 0.3)
    assert frechet_distance(samples, x) == pytest.approx(frechet_distance(samples.cpu(), x.cpu()))


def test_select_parzen_sigma_recovers_the_generating_bandwidth():
    # Validation points = a random sample + N(0, s^2 I) noise, with samples far apart: the
    # Parzen window with bandwidth s is then the true density, so the grid search must pick s.
    gen = torch.Generator().manual_seed(6)
    grid = torch.logspace(-1, 0, 10)
    true_sigma = float(grid[4])
    samples = torch.rand(100, 5, generator=gen, dtype=torch.float64) * 40
    idx = torch.randint(0, 100, (2000,), generator=gen)
    valid = samples[idx] + true_sigma * torch.randn(2000, 5, generator=gen, dtype=torch.float64)
    best_sigma, best_ll = select_parzen_sigma(samples, valid)
    assert best_sigma == pytest.approx(true_sigma, rel=1e-6)
    assert best_ll == pytest.approx(parzen_log_likelihood(samples, valid, best_sigma), rel=1e-10)
    # On a custom grid the score of every bandwidth is the single-bandwidth score.
    sigma, ll = select_parzen_sigma(samples, valid, sigmas=[1.0, 2.0])
    assert sigma == 1.0 and ll == pytest.approx(parzen_log_likelihood(samples, valid, 1.0), rel=1e-10)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda s, x: parzen_log_prob(s.tolist(), x, 0.1), TypeError),
        (lambda s, x: parzen_log_prob(s, x, "0.1"), TypeError),
        (lambda s, x: parzen_log_prob(s > 0, x, 0.1), TypeError),
        (lambda s, x: parzen_log_prob(s, x, 0.0), ValueError),
        (lambda s, x: parzen_log_prob(s, x, -1.0), ValueError),
        (lambda s, x: parzen_log_prob(s, x, float("nan")), ValueError),
        (lambda s, x: parzen_log_prob(s, x[:, :2], 0.1), ValueError),
        (lambda s, x: parzen_log_prob(s[:, 0], x, 0.1), ValueError),
        (lambda s, x: parzen_log_prob(s[:0], x, 0.1), ValueError),
        (lambda s, x: parzen_log_prob(s, x[:0], 0.1), ValueError),
        (lambda s, x: parzen_log_prob(s, x.index_fill(0, torch.tensor([2]), float("nan")), 0.1), ValueError),
        (lambda s, x: parzen_log_prob(s.index_fill(0, torch.tensor([2]), float("inf")), x, 0.1), ValueError),
        (lambda s, x: parzen_log_prob(s, x, 0.1, batch_size=0), ValueError),
        (lambda s, x: select_parzen_sigma(s, x, sigmas=[]), ValueError),
        (lambda s, x: select_parzen_sigma(s, x, sigmas=[0.1, -0.2]), ValueError),
        (lambda s, x: select_parzen_sigma(s, x, sigmas=0.1), TypeError),
        (lambda s, x: select_parzen_sigma(s, x[:, :1]), ValueError),
    ],
)
def test_parzen_rejects_bad_input(call, error):
    gen = torch.Generator().manual_seed(7)
    samples, x = torch.rand(20, 3, generator=gen), torch.rand(5, 3, generator=gen)
    with pytest.raises(error):
        call(samples, x)


# ----------------------------------------------------------------------------- bits per dim


def test_bits_per_dim_hand_values():
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
    assert bits_per_dim(3072 * 3 * math.log(2), 3072) == pytest.approx(3.0)
    out = bits_per_dim(torch.tensor([0.0, 10 * math.log(2)]), 10)
    torch.testing.assert_close(out, torch.tensor([0.0, 1.0]))
    np.testing.assert_allclose(bits_per_dim(np.array([2 * math.log(2)]), 1), [2.0])


def test_uniform_density_on_the_unit_cube_is_8_bits_per_dim_at_256_levels():
    d = 3 * 32 * 32
    # Uniform on [0, 1]^d: density 1, NLL 0 nats; uniform on [-1, 1]^d: NLL d log 2 nats.
    assert bits_per_dim(continuous_to_discrete_nll(0.0, d), d) == pytest.approx(8.0)
    on_minus_one_one = continuous_to_discrete_nll(d * math.log(2), d, data_range=2.0)
    assert bits_per_dim(on_minus_one_one, d) == pytest.approx(8.0)
    # Binary data (2 levels) scaled to [0, 1]: one bit per dimension.
    assert bits_per_dim(continuous_to_discrete_nll(0.0, 5, n_levels=2), 5) == pytest.approx(1.0)


def test_discrete_nll_of_a_dequantised_density_matches_the_bin_probabilities():
    # A density that is constant on each bin of 4 levels on [0, 1]: its dequantised
    # likelihood is exactly the bin probability.
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    density = probs * 4  # the density on [0, 1] is P(bin) / width
    level = 2
    nll_discrete = continuous_to_discrete_nll(-math.log(density[level]), 1, n_levels=4)
    assert nll_discrete == pytest.approx(-math.log(probs[level]))


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: bits_per_dim(1.0, 0), ValueError),
        (lambda: bits_per_dim(1.0, 2.5), TypeError),
        (lambda: bits_per_dim("1.0", 3), TypeError),
        (lambda: bits_per_dim(float("nan"), 3), ValueError),
        (lambda: bits_per_dim(torch.tensor([1.0, float("nan")]), 3), ValueError),
        (lambda: continuous_to_discrete_nll(1.0, 3, n_levels=1), ValueError),
        (lambda: continuous_to_discrete_nll(1.0, 3, data_range=0.0), ValueError),
    ],
)
def test_bits_per_dim_rejects_bad_input(call, error):
    with pytest.raises(error):
        call()


# ----------------------------------------------------------------------------- mode coverage


def _ring(k=8, radius=2.0):
    angles = torch.arange(k, dtype=torch.float64) * 2 * math.pi / k
    return torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1)


def test_mode_coverage_counts_modes_and_quality():
    centers, std = _ring(), 0.02
    gen = torch.Generator().manual_seed(8)
    noise = 0.5 * std * torch.randn(80, 2, generator=gen, dtype=torch.float64)  # well inside 3 std
    all_modes = centers.repeat(10, 1) + noise
    assert mode_coverage(all_modes, centers, std) == (8, 1.0)
    three_modes = centers[[0, 3, 5]].repeat(20, 1) + noise[:60]
    assert mode_coverage(three_modes, centers, std) == (3, 1.0)
    # 20 samples at the origin are 100 std from every mode: low quality, no mode gained.
    with_junk = torch.cat([three_modes, torch.zeros(20, 2, dtype=torch.float64)])
    n_modes, quality = mode_coverage(with_junk, centers, std)
    assert (n_modes, quality) == (3, pytest.approx(60 / 80))


def test_mode_coverage_radius_is_n_std_standard_deviations():
    centers, std = _ring(), 0.1
    direction = torch.tensor([[0.6, 0.8]], dtype=torch.float64)
    inside = centers[:1] + 2.9 * std * direction
    outside = centers[1:2] + 3.1 * std * direction
    n_modes, quality = mode_coverage(torch.cat([inside, outside]), centers, std)
    assert (n_modes, quality) == (1, 0.5)
    assert mode_coverage(outside, centers, std, n_std=3.2) == (1, 1.0)
    assert mode_coverage(outside.numpy(), centers.numpy(), std) == (0, 0.0)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda c: mode_coverage(c, c, 0.0), ValueError),
        (lambda c: mode_coverage(c, c, 0.1, n_std=-1.0), ValueError),
        (lambda c: mode_coverage(c, c[:, :1], 0.1), ValueError),
        (lambda c: mode_coverage(c[:0], c, 0.1), ValueError),
        (lambda c: mode_coverage(c.tolist(), c, 0.1), TypeError),
        (lambda c: mode_coverage(c * float("nan"), c, 0.1), ValueError),
    ],
)
def test_mode_coverage_rejects_bad_input(call, error):
    with pytest.raises(error):
        call(_ring())


# ----------------------------------------------------------------------------- Fréchet


def test_frechet_gaussians_closed_form_for_diagonal_covariances():
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # ||mu_a - mu_b||^2 = 5
    value = frechet_distance_gaussians(mu_a, np.diag(a), mu_b, np.diag(b))
    assert value == pytest.approx(expected, rel=1e-12)


def test_frechet_gaussians_matches_scipy_sqrtm_for_full_covariances():
    rng = np.random.default_rng(9)
    m_a, m_b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    cov_a, cov_b = m_a @ m_a.T + 0.1 * np.eye(6), m_b @ m_b.T + 0.1 * np.eye(6)
    mu_a, mu_b = rng.normal(size=6), rng.normal(size=6)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root)
    assert frechet_distance_gaussians(mu_a, cov_a, mu_b, cov_b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance_gaussians(mu_b, cov_b, mu_a, cov_a) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_from_samples():
    gen = torch.Generator().manual_seed(10)
    mixing = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    feats = torch.randn(500, 4, generator=gen, dtype=torch.float64) @ mixing
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-8)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    assert frechet_distance(feats, feats + shift) == pytest.approx(5.25, rel=1e-8)
    # Many samples of two diagonal Gaussians approach the closed form.
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 0.25])
    xa = torch.randn(40000, 3, generator=gen) * a.sqrt()
    xb = torch.randn(40000, 3, generator=gen) * b.sqrt() + torch.tensor([1.0, 0.0, 0.0])
    expected = 1.0 + float(((a.sqrt() - b.sqrt()) ** 2).sum())
    assert frechet_distance(xa, xb.numpy()) == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda f: frechet_distance(f, f[:, :2]), ValueError),
        (lambda f: frechet_distance(f[:1], f), ValueError),
        (lambda f: frechet_distance(f[:, 0], f[:, 0]), ValueError),
        (lambda f: frechet_distance(f[None], f[None]), ValueError),
        (lambda f: frechet_distance(f.tolist(), f), TypeError),
        (lambda f: frechet_distance(np.where(f > 0, np.inf, f), f), ValueError),
        (lambda f: frechet_distance_gaussians(f[0], np.eye(3), f[1], np.eye(2)), ValueError),
        (lambda f: frechet_distance_gaussians(f[0], np.eye(3), f[1, :2], np.eye(3)), ValueError),
    ],
)
def test_frechet_rejects_bad_input(call, error):
    feats = np.random.default_rng(11).normal(size=(10, 3))
    with pytest.raises(error):
        call(feats)


def test_frechet_gaussians_refuses_what_is_no_covariance():
    mu = np.zeros(2)
    # these once came out as 0.0 and 0.258 without a word
    with pytest.raises(ValueError, match="positive semi-definite"):
        frechet_distance_gaussians(mu, -np.eye(2), mu, np.eye(2))
    with pytest.raises(ValueError, match="symmetric"):
        frechet_distance_gaussians(mu, np.array([[1.0, 5.0], [0.0, 1.0]]), mu, np.eye(2))
    # round-off of a fitted covariance passes: a rank-deficient sample covariance (N = 2 < d = 3)
    feats = np.random.default_rng(0).normal(size=(2, 3))
    cov = np.cov(feats, rowvar=False)
    assert frechet_distance_gaussians(feats.mean(0), cov, feats.mean(0), cov) == pytest.approx(0.0, abs=1e-9)


# -- the quality bar of a baseline: class coverage and a Fréchet distance in a classifier's features
from companion.metrics import classifier_frechet, classifier_quality_bar  # noqa: E402


class _PixelClassifier(torch.nn.Module):
    """Features: the 10 pixels of a (1, 2, 5) image; class: the brightest pixel (known answers)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def test_classifier_features_are_read_in_evaluation_mode_and_the_mode_restored():
    class DropoutNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(10, 10)
            self.drop = torch.nn.Dropout(0.5)

        def features(self, x: torch.Tensor) -> torch.Tensor:
            return self.drop(self.linear(x.flatten(1)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.features(x)

    torch.manual_seed(0)
    net = DropoutNet().train()
    x, y = _images_of_classes([0, 1, 2, 3] * 10, seed=1), _images_of_classes([4, 5, 6, 7] * 10, seed=2)
    # in training mode dropout would draw new masks each call: the same inputs would give different distances
    assert classifier_frechet(x, net, y) == classifier_frechet(x, net, y)
    assert net.training


def _images_of_classes(classes, seed: int = 0) -> torch.Tensor:
    """Images in [0, 0.5] whose brightest pixel is ``classes[i]`` (set to 1)."""
    gen = torch.Generator().manual_seed(seed)
    x = 0.5 * torch.rand(len(classes), 10, generator=gen)
    x[torch.arange(len(classes)), torch.as_tensor(classes)] = 1.0
    return x.view(-1, 1, 2, 5)


def test_classifier_frechet_is_the_frechet_distance_of_the_features():
    net = _PixelClassifier()
    a, b = _images_of_classes(np.arange(200) % 10, 1), _images_of_classes(np.arange(300) % 10, 2)
    assert classifier_frechet(a, net, b) == pytest.approx(frechet_distance(a.flatten(1), b.flatten(1)), rel=1e-6)
    assert classifier_frechet(a, net, a) == pytest.approx(0.0, abs=1e-6)
    # samples outside the data's range are clipped to it first (value_range=None keeps them)
    assert classifier_frechet(a + 5.0, net, b) == classifier_frechet(torch.ones_like(a), net, b)
    assert classifier_frechet(a + 5.0, net, b, value_range=None) > classifier_frechet(a + 5.0, net, b)


def test_classifier_quality_bar_passes_covering_samples_and_fails_a_collapsed_or_far_generator():
    net = _PixelClassifier()
    reference = _images_of_classes(np.arange(500) % 10, 0)
    covering = _images_of_classes(np.arange(1000) % 10, 1)
    ref_fd = classifier_frechet(covering, net, reference)
    bar = classifier_quality_bar(covering, net, reference, ref_fd)
    assert bar["class_shares"] == pytest.approx([0.1] * 10) and bar["min_class_share"] == pytest.approx(0.1)
    assert bar["frechet"] == pytest.approx(ref_fd) and bar["frechet_ratio"] == pytest.approx(1.0)
    assert bar["covers_classes"] and bar["within_frechet"] and bar["meets_bar"]
    # 98% of the samples in class 0: class 9 gets 0.2% < 3%, so the bar fails on coverage
    collapsed = _images_of_classes([0] * 981 + list(range(1, 10)) * 2 + [1], 3)
    bar = classifier_quality_bar(collapsed, net, reference, ref_fd)
    assert not bar["covers_classes"] and not bar["meets_bar"]
    assert bar["min_class_share"] == pytest.approx(0.002)
    # every class covered, but a Fréchet distance over twice the reference's fails on quality
    bar = classifier_quality_bar(covering, net, reference, ref_fd / 3)
    assert bar["covers_classes"] and not bar["within_frechet"] and not bar["meets_bar"]
    assert bar["frechet_ratio"] == pytest.approx(3.0)
    # the thresholds are arguments
    assert classifier_quality_bar(covering, net, reference, ref_fd / 3, max_frechet_ratio=3.5)["meets_bar"]
    assert classifier_quality_bar(collapsed, net, reference, ref_fd, min_class_share=0.001)["covers_classes"]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x, n: classifier_quality_bar(x, n, x, 0.0), ValueError, "reference_frechet"),
        (lambda x, n: classifier_quality_bar(x, n, x, 1.0, min_class_share=1.5), ValueError, "min_class_share"),
        (lambda x, n: classifier_quality_bar(x, n, x, 1.0, max_frechet_ratio=-1), ValueError, "max_frechet_ratio"),
        (lambda x, n: classifier_quality_bar(x, torch.nn.Linear(10, 10), x, 1.0), TypeError, "classifier"),
        (lambda x, n: classifier_quality_bar(x.numpy(), n, x, 1.0), TypeError, "samples"),
        (lambda x, n: classifier_quality_bar(x.flatten(1), n, x, 1.0), ValueError, "samples"),
        (lambda x, n: classifier_quality_bar(x, n, x.view(-1, 1, 5, 2), 1.0), ValueError, "same image shape"),
        (lambda x, n: classifier_frechet(x * float("nan"), n, x), ValueError, "NaN"),
    ],
)
def test_classifier_quality_bar_rejects_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(_images_of_classes(np.arange(20) % 10), _PixelClassifier())


# -- inception_metrics: input checks and the optional backend (nothing is downloaded) ----------
import sys  # noqa: E402
import types  # noqa: E402
import urllib.error  # noqa: E402

from companion.metrics import inception_metrics  # noqa: E402


def _rgb(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def no_inception_backend(monkeypatch):
    """Make both backends fail to import, whether or not they are installed."""
    for name in ("torchmetrics", "torchmetrics.image", "torchmetrics.image.fid", "torchmetrics.image.inception",
                 "torch_fidelity"):
        monkeypatch.setitem(sys.modules, name, None)  # `import name` then raises ImportError


@pytest.mark.parametrize(
    "fake, real, kwargs, error",
    [
        (_rgb(20)[:, :1], _rgb(20), {}, ValueError),  # grey images
        (_rgb(20)[0], _rgb(20), {}, ValueError),  # one image without a batch dimension
        (_rgb(20) * 2, _rgb(20), {}, ValueError),  # outside [0, 1]
        (_rgb(20) - 0.5, _rgb(20), {}, ValueError),
        (_rgb(20).index_fill(0, torch.tensor([3]), float("nan")), _rgb(20), {}, ValueError),
        (_rgb(5), _rgb(20), {}, ValueError),  # fewer images than the 10 splits of the score
        (_rgb(20), _rgb(1), {}, ValueError),  # one real image has no covariance
        (_rgb(20), _rgb(20), {"splits": 0}, ValueError),
        (_rgb(20), _rgb(20), {"backend": "tensorflow"}, ValueError),
        ([[0.5]], _rgb(20), {}, TypeError),
        (_rgb(20) > 0.5, _rgb(20), {}, TypeError),
    ],
)
def test_inception_metrics_rejects_bad_input(no_inception_backend, fake, real, kwargs, error):
    with pytest.raises(error):
        inception_metrics(fake, real, **kwargs)


@pytest.mark.parametrize("backend", ["auto", "torchmetrics", "torch_fidelity"])
def test_inception_metrics_says_what_to_install_when_no_backend(no_inception_backend, backend):
    with pytest.raises(RuntimeError) as info:
        inception_metrics(_rgb(20), _rgb(20, seed=1), backend=backend)
    message = str(info.value)
    assert "pip install torchmetrics[image]" in message and "pip install torch-fidelity" in message
    assert "first use" in message and "network" in message
    assert "frechet_distance" in message  # the offline stand-in


def _fake_torchmetrics(monkeypatch, fid_init=None):
    """Install a stand-in ``torchmetrics`` whose metrics record what they are given."""
    calls = {"fid": [], "is": []}

    class FakeFID:
        def __init__(self, feature, normalize):
            if fid_init is not None:
                fid_init()
            assert feature == 2048 and normalize is True

        def to(self, device):
            return self

        def update(self, images, real):
            calls["fid"].append((images.clone(), real))

        def compute(self):
            return torch.tensor(12.5)

    class FakeIS:
        def __init__(self, normalize, splits):
            calls["splits"] = splits

        def to(self, device):
            return self

        def update(self, images):
            calls["is"].append(images.clone())

        def compute(self):
            return torch.tensor(3.0), torch.tensor(0.25)

    fid_mod, is_mod = types.ModuleType("torchmetrics.image.fid"), types.ModuleType("torchmetrics.image.inception")
    fid_mod.FrechetInceptionDistance, is_mod.InceptionScore = FakeFID, FakeIS
    for name, module in (("torchmetrics", types.ModuleType("torchmetrics")),
                         ("torchmetrics.image", types.ModuleType("torchmetrics.image")),
                         ("torchmetrics.image.fid", fid_mod), ("torchmetrics.image.inception", is_mod)):
        monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_inception_metrics_feeds_real_and_fake_images_to_the_backend(monkeypatch):
    calls = _fake_torchmetrics(monkeypatch)
    fake, real = _rgb(25), _rgb(30, seed=1)
    out = inception_metrics(fake, real, backend="torchmetrics", batch_size=10, device="cpu", splits=5)
    assert out == {"inception_score": 3.0, "inception_score_std": 0.25, "fid": 12.5, "backend": "torchmetrics"}
    fed_real = torch.cat([x for x, is_real in calls["fid"] if is_real])
    fed_fake = torch.cat([x for x, is_real in calls["fid"] if not is_real])
    assert torch.equal(fed_real, real) and torch.equal(fed_fake, fake)
    assert torch.equal(torch.cat(calls["is"]), fake)  # the score sees the samples only
    assert max(len(x) for x, _ in calls["fid"]) == 10 and calls["splits"] == 5


def test_inception_metrics_explains_a_failed_weight_download(monkeypatch):
    def offline():
        raise urllib.error.URLError("no network")

    _fake_torchmetrics(monkeypatch, fid_init=offline)
    with pytest.raises(RuntimeError) as info:
        inception_metrics(_rgb(20), _rgb(20, seed=1), backend="torchmetrics")
    message = str(info.value)
    assert "could not load the Inception-v3 weights" in message and "no network" in message
    assert "pip install torchmetrics[image]" in message


def _fake_torch_fidelity(monkeypatch, error: Exception) -> None:
    module = types.ModuleType("torch_fidelity")

    def calculate_metrics(**kwargs):
        raise error

    module.calculate_metrics = calculate_metrics
    monkeypatch.setitem(sys.modules, "torch_fidelity", module)


def test_torch_fidelity_blames_the_weights_only_for_a_failed_download(monkeypatch):
    _fake_torch_fidelity(monkeypatch, urllib.error.URLError("no network"))
    with pytest.raises(RuntimeError, match="could not load the Inception-v3 weights"):
        inception_metrics(_rgb(20), _rgb(20, seed=1), backend="torch_fidelity")
    # any other failure (a bad argument, an out-of-memory error) surfaces as itself
    _fake_torch_fidelity(monkeypatch, ValueError("batch too large"))
    with pytest.raises(ValueError, match="batch too large"):
        inception_metrics(_rgb(20), _rgb(20, seed=1), backend="torch_fidelity")


def test_mean_std_is_the_sample_statistic_over_runs():
    from companion.metrics import mean_std

    values = [3.0, 5.0, 10.0]
    assert mean_std(values) == {"mean": 6.0, "std": pytest.approx(np.std(values, ddof=1))}
    assert mean_std([2.5]) == {"mean": 2.5, "std": 0.0}
    for bad in ([], [[1.0, 2.0]], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="values"):
            mean_std(bad)


def test_the_package_exposes_every_metric_of_its_modules():
    import importlib
    import pkgutil

    import companion.metrics as metrics

    for info in pkgutil.iter_modules(metrics.__path__):
        module = importlib.import_module(f"companion.metrics.{info.name}")
        for name in module.__all__:
            assert getattr(metrics, name) is getattr(module, name) and name in metrics.__all__, name
