"""Tests of companion.vae: the ELBO's pieces, the IWAE bound, likelihoods, sampling, training."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from companion.train import History
from companion.vae import VAE, ELBOTerms, fit_vae, gaussian_kl, importance_weighted_bound


@pytest.fixture(scope="module")
def digit_images() -> torch.Tensor:
    """The real 8x8 digits in [0, 1], level k of 17 at k / 16 (sklearn ships them; no network needed)."""
    from sklearn.datasets import load_digits

    return torch.tensor(load_digits().images[:600], dtype=torch.float32).unsqueeze(1) / 16


@pytest.fixture(scope="module")
def trained_vae(digit_images) -> VAE:
    """A small discretized-logistic VAE trained for a few hundred steps."""
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), latent_dim=4, likelihood="logistic", n_levels=17, hidden=64)
    fit_vae(vae, digit_images[:500], n_steps=200, batch_size=64, lr=3e-3, progress=False)
    return vae.eval()


def test_gaussian_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4)
    q = D.Normal(mu, torch.exp(0.5 * logvar))
    p = D.Normal(torch.zeros(4), torch.ones(4))
    z = q.sample((100_000,))
    samples = (q.log_prob(z) - p.log_prob(z)).sum(-1)
    mc, se = samples.mean(0), samples.std(0) / math.sqrt(z.shape[0])
    closed = gaussian_kl(mu, logvar)
    assert ((mc - closed).abs() < 4 * se + 1e-3).all()
    torch.testing.assert_close(closed, D.kl_divergence(q, p).sum(-1))


def test_elbo_terms_and_beta(trained_vae, digit_images):
    x = digit_images[500:540]
    trained_vae.beta = 0.25
    torch.manual_seed(1)
    terms = trained_vae.elbo(x, n_samples=3)
    assert isinstance(terms, ELBOTerms) and all(t.shape == (40,) for t in terms)
    torch.testing.assert_close(terms.elbo, terms.reconstruction - terms.kl)
    torch.testing.assert_close(terms.objective, terms.reconstruction - 0.25 * terms.kl)
    mu, logvar = trained_vae.encode(x)
    torch.testing.assert_close(terms.kl, gaussian_kl(mu, logvar))
    assert (terms.kl >= 0).all()
    torch.manual_seed(1)
    assert trained_vae.loss(x, n_samples=3).item() == pytest.approx(-terms.objective.mean().item(), rel=1e-5)
    trained_vae.beta = 1.0


def test_iwae_is_above_the_elbo_and_tightens_with_k(trained_vae, digit_images):
    x = digit_images[500:600]
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = trained_vae.elbo(x, n_samples=200).elbo.mean().item()
        bounds = {k: trained_vae.log_prob(x, n_samples=k).mean().item() for k in (1, 10, 100)}
    # K = 1 is an unbiased (noisy) estimate of the ELBO; see the next test for the exact check
    assert abs(bounds[1] - elbo) < 2.0
    assert bounds[10] > elbo + 0.5  # the gaps are about 2.5 and 0.5-1 nats for this model
    assert bounds[100] > bounds[10] + 0.1
    assert trained_vae.log_prob_is_bound is True


def test_iwae_with_one_sample_equals_the_elbo_in_expectation(trained_vae, digit_images):
    x = digit_images[500:502]
    n = 4000
    torch.manual_seed(0)
    with torch.no_grad():
        draws = trained_vae.log_prob(x.repeat(n, 1, 1, 1), n_samples=1).view(n, 2)
        elbo = trained_vae.elbo(x, n_samples=n).elbo
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(n)
    assert ((mean - elbo).abs() < 4 * se + 0.05).all()


def test_iwae_chunking_does_not_change_the_bound(trained_vae, digit_images):
    x = digit_images[500:520]
    with torch.no_grad():
        torch.manual_seed(0)
        whole = trained_vae.log_prob(x, n_samples=50, chunk_size=50)
        torch.manual_seed(0)
        chunked = trained_vae.log_prob(x, n_samples=50, chunk_size=7)  # 7 chunks, the last of 1
    torch.testing.assert_close(chunked, whole)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "logistic"])
def test_log_likelihood_matches_reference(likelihood):
    torch.manual_seed(0)
    vae = VAE((3,), latent_dim=2, likelihood=likelihood, n_levels=5, hidden=8, init_log_scale=-0.3)
    params = torch.randn(4, 3) * (3 if likelihood == "logistic" else 1)
    if likelihood == "bernoulli":
        x = torch.randint(0, 2, (4, 3)).float()
        expected = D.Bernoulli(logits=params).log_prob(x).sum(1)
    elif likelihood == "gaussian":
        x = torch.randn(4, 3)
        expected = D.Normal(params, math.exp(-0.3)).log_prob(x).sum(1)
    else:
        k = torch.randint(0, 5, (4, 3)).float()  # levels; the model takes k / 4 and params in levels
        s = math.exp(-0.3)
        sig = torch.sigmoid
        upper = torch.where(k == 4, torch.ones(()), sig((k + 0.5 - params) / s))
        lower = torch.where(k == 0, torch.zeros(()), sig((k - 0.5 - params) / s))
        expected = (upper - lower).log().sum(1)
        x = k / 4
    torch.testing.assert_close(vae.log_likelihood(x, params), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "likelihood,architecture,shape",
    [("bernoulli", "mlp", (1, 8, 8)), ("gaussian", "mlp", (2,)), ("logistic", "conv", (1, 8, 8)),
     ("bernoulli", "conv", (1, 25, 25))],
)
def test_samples_have_the_right_shape_and_support(likelihood, architecture, shape):
    torch.manual_seed(0)
    vae = VAE(shape, latent_dim=3, likelihood=likelihood, architecture=architecture, n_levels=17, hidden=16,
              channels=(8, 8))
    draws, means = vae.sample(5), vae.sample(5, mean=True)
    assert draws.shape == means.shape == (5, *shape)
    assert not draws.requires_grad
    if likelihood == "bernoulli":
        assert set(draws.unique().tolist()) <= {0.0, 1.0} and 0 <= means.min() and means.max() <= 1
    if likelihood == "logistic":
        assert torch.equal(draws * 16, (draws * 16).round()) and draws.min() >= 0 and draws.max() <= 1
        assert means.min() >= 0 and means.max() <= 1
    # the samples are valid inputs: log_prob accepts them
    if likelihood != "gaussian":
        assert torch.isfinite(vae.log_prob(draws, n_samples=2)).all()
    assert vae.reconstruct(draws).shape == draws.shape


def test_sample_mean_is_the_average_of_draws():
    # the "blur of the mean": averaging many draws for the same z gives the decoder mean
    torch.manual_seed(0)
    vae = VAE((2,), latent_dim=2, likelihood="gaussian", hidden=8, init_log_scale=0.0)
    z = torch.randn(1, 2)
    params = vae.decode(z).detach()
    draws = torch.stack([vae.likelihood_sample(params) for _ in range(20000)])
    torch.testing.assert_close(draws.mean(0), vae.likelihood_mean(params), atol=0.03, rtol=0)


def test_fit_vae_trains(digit_images):
    torch.manual_seed(0)
    x = digit_images[:300]
    vae = VAE((1, 8, 8), latent_dim=4, likelihood="bernoulli", architecture="conv", channels=(8, 16))
    with torch.no_grad():
        before = vae.elbo(x).elbo.mean().item()
    history = fit_vae(vae, x, n_steps=100, batch_size=32, lr=3e-3, log_every=5, progress=False)
    assert isinstance(history, History)
    assert {"loss", "elbo", "reconstruction", "kl"} <= set(history.names())
    with torch.no_grad():
        after = vae.elbo(x).elbo.mean().item()
    assert after > before + 5


def test_bad_inputs_raise_clear_errors():
    vae = VAE((1, 4, 4), latent_dim=2, likelihood="logistic", n_levels=4, hidden=8)
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 4, 4\)"):
        vae.elbo(torch.zeros(3, 16))
    with pytest.raises(ValueError, match="NaN"):
        vae.elbo(torch.full((2, 1, 4, 4), float("nan")))
    with pytest.raises(ValueError, match="lattice"):
        vae.elbo(torch.full((2, 1, 4, 4), 0.5))  # between the levels 1/3 and 2/3
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.elbo(torch.full((2, 1, 4, 4), 3.0))  # integer levels where images in [0, 1] are expected
    with pytest.raises(TypeError, match="floating"):
        vae.elbo(torch.zeros(2, 1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        VAE((3,), likelihood="bernoulli").elbo(torch.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="n_samples"):
        vae.log_prob(torch.zeros(2, 1, 4, 4), n_samples=0)
    with pytest.raises(ValueError, match="z must have shape"):
        vae.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="likelihood"):
        VAE((3,), likelihood="poisson")
    with pytest.raises(ValueError, match="architecture"):
        VAE((3,), architecture="conv")
    with pytest.raises(ValueError, match="latent_dim"):
        VAE((3,), latent_dim=0)
    with pytest.raises(ValueError, match="beta"):
        VAE((3,), beta=-1.0)
    with pytest.raises(ValueError, match="n"):
        vae.sample(0)
    with pytest.raises(TypeError, match="VAE"):
        fit_vae(object(), torch.zeros(2, 3))


def test_custom_encoder_and_decoder():
    from torch import nn

    encoder = nn.Sequential(nn.Flatten(), nn.Linear(6, 4))
    decoder = nn.Sequential(nn.Linear(2, 6), nn.Unflatten(1, (2, 3)))
    vae = VAE((2, 3), latent_dim=2, likelihood="gaussian", encoder=encoder, decoder=decoder)
    assert vae.encoder is encoder and vae.decoder is decoder
    assert vae.elbo(torch.randn(5, 2, 3)).elbo.shape == (5,)
    bad = VAE((2, 3), latent_dim=3, likelihood="gaussian", encoder=encoder)
    with pytest.raises(ValueError, match="encoder must output"):
        bad.encode(torch.randn(5, 2, 3))
    with pytest.raises(TypeError, match="decoder"):
        VAE((2, 3), decoder=lambda z: z)


def test_importance_weighted_bound_checks_its_inputs():
    def log_px(z: torch.Tensor, k: int) -> torch.Tensor:
        return -z.pow(2).sum(-1).reshape(k, -1)

    mu, logvar = torch.zeros(3, 2), torch.zeros(3, 2)
    noise = torch.randn(4, 3, 2)
    # given noise, the bound does not depend on the chunk size
    assert torch.allclose(importance_weighted_bound(mu, logvar, log_px, 4, 1, noise=noise),
                          importance_weighted_bound(mu, logvar, log_px, 4, 3, noise=noise))
    with pytest.raises(ValueError, match="logvar must have shape"):
        importance_weighted_bound(mu, torch.zeros(3, 1), log_px, 4, 2)
    with pytest.raises(ValueError, match="n_samples must be a positive int"):
        importance_weighted_bound(mu, logvar, log_px, 0, 2)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        importance_weighted_bound(mu, logvar, log_px, 4, 0)
    with pytest.raises(ValueError, match="noise must have shape"):
        importance_weighted_bound(mu, logvar, log_px, 4, 2, noise=torch.randn(3, 3, 2))
