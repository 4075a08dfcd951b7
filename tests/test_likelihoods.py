"""Tests of companion.likelihoods against torch.distributions, hand values and normalisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from companion.likelihoods import (
    bernoulli_log_prob,
    discretized_logistic_log_prob,
    discretized_logistic_mixture_log_prob,
    gaussian_log_prob,
    sample_discretized_logistic,
    sample_discretized_logistic_mixture,
    standard_normal_log_prob,
    sum_except_batch,
)


def _reference_logistic(k: int, mean: float, scale: float, n_levels: int) -> float:
    """The bin mass from its definition, with the edge bins absorbing the tails."""
    sigmoid = lambda t: 1.0 / (1.0 + math.exp(-t))  # noqa: E731
    upper = 1.0 if k == n_levels - 1 else sigmoid((k + 0.5 - mean) / scale)
    lower = 0.0 if k == 0 else sigmoid((k - 0.5 - mean) / scale)
    return math.log(upper - lower)


def test_bernoulli_matches_torch_distributions():
    torch.manual_seed(0)
    logits = 4 * torch.randn(5, 7)
    x = torch.randint(0, 2, (5, 7)).float()
    expected = D.Bernoulli(logits=logits).log_prob(x)
    torch.testing.assert_close(bernoulli_log_prob(x, logits), expected)
    # grey levels: the cross-entropy x log p + (1 - x) log(1 - p)
    p = torch.sigmoid(logits)
    xg = torch.rand(5, 7)
    cross_entropy = xg * p.log() + (1 - xg) * (1 - p).log()
    torch.testing.assert_close(bernoulli_log_prob(xg, logits), cross_entropy, rtol=1e-4, atol=1e-4)
    # extreme logits stay finite
    assert torch.isfinite(bernoulli_log_prob(torch.tensor([0.0, 1.0]), torch.tensor([200.0, -200.0]))).all()


def test_gaussian_matches_torch_distributions_and_broadcasts_a_scalar_scale():
    torch.manual_seed(0)
    x, mean = torch.randn(4, 3), torch.randn(4, 3)
    log_scale = torch.tensor(-0.7)
    expected = D.Normal(mean, log_scale.exp()).log_prob(x)
    torch.testing.assert_close(gaussian_log_prob(x, mean, log_scale), expected)
    torch.testing.assert_close(standard_normal_log_prob(x), D.Normal(0.0, 1.0).log_prob(x))
    assert sum_except_batch(torch.ones(2, 3, 4)).tolist() == [12.0, 12.0]


@pytest.mark.parametrize(
    "mean,scale,n_levels",
    [(100.3, 2.0, 256), (0.2, 0.7, 256), (250.0, 30.0, 256), (-3.0, 1.5, 8), (9.0, 0.3, 8)],
)
def test_discretized_logistic_matches_its_definition(mean, scale, n_levels):
    levels = torch.arange(n_levels, dtype=torch.float64)
    got = discretized_logistic_log_prob(levels, torch.tensor(mean, dtype=torch.float64),
                                        torch.tensor(math.log(scale), dtype=torch.float64), n_levels)
    for k in range(n_levels):
        try:
            ref = _reference_logistic(k, mean, scale, n_levels)
        except ValueError:  # the naive difference underflowed to 0: too far in a tail to compare
            continue
        if ref > -20:  # beyond that the naive difference of sigmoids loses its digits
            assert got[k].item() == pytest.approx(ref, rel=1e-6, abs=1e-9)


def test_discretized_logistic_hand_value():
    # level 1 of 3, mean 1, scale 1: sigmoid(0.5) - sigmoid(-0.5)
    value = discretized_logistic_log_prob(torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([0.0]), 3)
    assert value.item() == pytest.approx(math.log(0.24491866240370913), rel=1e-6)
    # edges: level 0 gets sigmoid(0.5) when the mean is 0
    edge = discretized_logistic_log_prob(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0]), 3)
    assert edge.item() == pytest.approx(math.log(1 / (1 + math.exp(-0.5))), rel=1e-6)


@pytest.mark.parametrize("n_levels", [2, 16, 256])
def test_discretized_logistic_sums_to_one_for_any_mean_and_scale(n_levels):
    means = torch.tensor([-1e6, -50.0, 0.0, 0.5, n_levels / 3, n_levels - 1.0, n_levels + 40.0, 1e6])
    log_scales = torch.tensor([-40.0, -25.0, -8.0, -2.0, 0.0, 3.0, 12.0, 40.0])
    mean, log_scale = torch.meshgrid(means, log_scales, indexing="ij")
    levels = torch.arange(n_levels, dtype=torch.float32).view(-1, 1, 1).expand(n_levels, *mean.shape)
    log_p = discretized_logistic_log_prob(levels, mean, log_scale, n_levels)
    assert torch.isfinite(log_p).all()
    total = torch.logsumexp(log_p, dim=0)
    assert total.abs().max().item() < 1e-5


def test_discretized_logistic_gradients_are_finite_at_extremes():
    mean = torch.tensor([0.0, 255.0, -1e4, 1e4, 127.5], requires_grad=True)
    log_scale = torch.tensor([-35.0, -10.0, 0.0, 5.0, -30.0], requires_grad=True)
    x = torch.tensor([0.0, 255.0, 100.0, 3.0, 127.0])
    discretized_logistic_log_prob(x, mean, log_scale).sum().backward()
    assert torch.isfinite(mean.grad).all() and torch.isfinite(log_scale.grad).all()


def test_discretized_logistic_mixture():
    torch.manual_seed(0)
    n_levels, k = 32, 3
    logits, means, log_scales = torch.randn(4, k), 40 * torch.rand(4, k) - 4, torch.randn(4, k)
    levels = torch.arange(n_levels, dtype=torch.float32).view(-1, 1).expand(n_levels, 4)
    log_p = discretized_logistic_mixture_log_prob(levels, logits, means, log_scales, n_levels)
    assert log_p.shape == (n_levels, 4)
    assert torch.logsumexp(log_p, dim=0).abs().max() < 1e-5
    # against the weighted sum of the components
    weights = torch.softmax(logits, -1)
    x = torch.tensor([3.0, 0.0, 31.0, 17.0])
    manual = sum(
        weights[:, j] * discretized_logistic_log_prob(x, means[:, j], log_scales[:, j], n_levels).exp()
        for j in range(k)
    )
    mixture = discretized_logistic_mixture_log_prob(x, logits, means, log_scales, n_levels)
    torch.testing.assert_close(mixture, manual.log())
    # a single component is the plain discretized logistic
    torch.testing.assert_close(
        discretized_logistic_mixture_log_prob(x, logits[:, :1], means[:, :1], log_scales[:, :1], n_levels),
        discretized_logistic_log_prob(x, means[:, 0], log_scales[:, 0], n_levels),
    )


def test_samplers_follow_the_probabilities():
    g = torch.Generator().manual_seed(0)
    n_levels, n = 6, 200_000
    mean, log_scale = torch.tensor(1.3), torch.tensor(0.2)
    draws = sample_discretized_logistic(mean.expand(n), log_scale.expand(n), n_levels, generator=g)
    freq = torch.bincount(draws.long(), minlength=n_levels).float() / n
    probs = discretized_logistic_log_prob(torch.arange(n_levels).float(), mean, log_scale, n_levels).exp()
    assert (freq - probs).abs().max() < 5e-3
    logits, means, log_scales = torch.tensor([0.0, 1.0]), torch.tensor([0.5, 4.0]), torch.tensor([-1.0, 0.0])
    draws = sample_discretized_logistic_mixture(
        logits.expand(n, 2), means.expand(n, 2), log_scales.expand(n, 2), n_levels, generator=g
    )
    freq = torch.bincount(draws.long(), minlength=n_levels).float() / n
    levels = torch.arange(n_levels).float()
    probs = discretized_logistic_mixture_log_prob(levels, logits, means, log_scales, n_levels).exp()
    assert (freq - probs).abs().max() < 5e-3


def test_bad_inputs_raise_clear_errors():
    mean, log_scale = torch.zeros(3), torch.zeros(3)
    with pytest.raises(ValueError, match="0..255"):
        discretized_logistic_log_prob(torch.tensor([0.0, 256.0, 3.0]), mean, log_scale)
    with pytest.raises(ValueError, match="0..255"):
        discretized_logistic_log_prob(torch.tensor([-1.0, 2.0, 3.0]), mean, log_scale)
    with pytest.raises(ValueError, match="integer"):
        discretized_logistic_log_prob(torch.tensor([0.5, 2.0, 3.0]), mean, log_scale)
    with pytest.raises(ValueError, match="NaN"):
        discretized_logistic_log_prob(torch.tensor([float("nan"), 2.0, 3.0]), mean, log_scale)
    with pytest.raises(ValueError, match="NaN"):
        discretized_logistic_log_prob(torch.zeros(3), torch.tensor([0.0, float("nan"), 1.0]), log_scale)
    with pytest.raises(ValueError, match="n_levels"):
        discretized_logistic_log_prob(torch.zeros(3), mean, log_scale, n_levels=1)
    with pytest.raises(ValueError, match="broadcast"):
        discretized_logistic_log_prob(torch.zeros(3), torch.zeros(4), log_scale)
    with pytest.raises(ValueError, match="broadcast"):
        discretized_logistic_mixture_log_prob(torch.zeros(3), torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bernoulli_log_prob(torch.tensor([1.5]), torch.zeros(1))
    with pytest.raises(ValueError, match="NaN"):
        gaussian_log_prob(torch.tensor([float("inf")]), torch.zeros(1), torch.zeros(()))
    with pytest.raises(ValueError, match="broadcast"):
        gaussian_log_prob(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(()))
    with pytest.raises(TypeError, match="Tensor"):
        gaussian_log_prob([0.0], torch.zeros(1), torch.zeros(()))
    # integer dtypes are accepted levels
    assert discretized_logistic_log_prob(torch.tensor([0, 1, 2]), mean, log_scale, 3).shape == (3,)
