"""Tests of companion.hybrids: the AAE / VGH / VGH++ steps and the evaluation metrics."""

from __future__ import annotations

import math

import pytest
import torch

from companion import hybrids


def toy_images(n=256, seed=0):
    """Blurry 4x4 'images' in [0, 1]: two prototypes plus noise."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.stack([torch.eye(4), torch.eye(4).flip(1)])
    which = torch.randint(2, (n,), generator=g)
    x = protos[which] * 0.8 + 0.1 + 0.05 * torch.rand(n, 4, 4, generator=g)
    return x.clamp(0, 1)[:, None]


@pytest.mark.parametrize("kind", hybrids.HYBRIDS)
def test_training_reduces_reconstruction_error_and_updates_every_part(kind):
    torch.manual_seed(0)
    x = toy_images()
    model = hybrids.VAEGANHybrid((1, 4, 4), latent_dim=2, kind=kind, hidden=32)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with torch.no_grad():
        error_before = float((model.decode(model.encode(x)[0]) - x).abs().mean())
    history = hybrids.fit_hybrid(model, x, n_steps=150, lr=3e-3, disc_lr=1e-3)
    with torch.no_grad():
        error_after = float((model.decode(model.encode(x)[0]) - x).abs().mean())
    assert error_after < 0.7 * error_before
    assert set(history.names()) == {"reconstruction", "encoder", "code_discriminator", "data_discriminator"}
    for name, p in model.named_parameters():
        assert not torch.equal(p, before[name]), f"{name} was not updated"
    samples = model.sample(5)
    assert samples.shape == (5, 1, 4, 4) and float(samples.min()) >= 0 and float(samples.max()) <= 1


def test_aae_pushes_codes_towards_the_prior():
    # With only the code-adversarial loss on the encoder, q(z) should approach N(0, I):
    # far-off codes (a large marginal KL) must be pulled in.
    torch.manual_seed(1)
    x = toy_images(512, seed=1)
    model = hybrids.VAEGANHybrid((1, 4, 4), latent_dim=2, kind="aae", hidden=32)
    with torch.no_grad():
        model.encoder[-1].bias[:2] += 6.0  # start the posterior means far from the prior
    hybrids.fit_hybrid(model, x, n_steps=300, lr=3e-3, disc_lr=3e-3)
    with torch.no_grad():
        mu, _ = model.encode(x)
    assert float(mu.mean(0).norm()) < 2.0


def test_independent_critic_tells_data_from_noise():
    g = torch.Generator().manual_seed(2)
    valid = toy_images(400, seed=2)
    good = toy_images(400, seed=3)
    bad = torch.rand(400, 1, 4, 4, generator=g)
    score_good = hybrids.independent_critic_score(good, valid, n_steps=200, hidden=32, lr=1e-3)
    score_bad = hybrids.independent_critic_score(bad, valid, n_steps=200, hidden=32, lr=1e-3)
    assert score_bad < score_good - 0.5
    assert abs(score_good) < 0.5  # same distribution: the Wasserstein estimate is near 0


def test_sample_diversity_of_gaussian_noise_matches_its_expectation():
    # For x, y ~ N(0, I_d) independent, x - y ~ N(0, 2 I_d): E|x - y| = 2 Gamma((d+1)/2) / Gamma(d/2).
    g = torch.Generator().manual_seed(3)
    d = 16
    x = torch.randn(5000, d, generator=g)
    expected = 2 * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
    assert hybrids.sample_diversity(x) == pytest.approx(expected, rel=0.02)
    assert hybrids.sample_diversity(x[:1].repeat(10, 1)) == 0.0  # collapsed: no diversity


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="kind"):
        hybrids.VAEGANHybrid((1, 4, 4), 2, kind="vae")
    with pytest.raises(ValueError, match="latent_dim"):
        hybrids.VAEGANHybrid((1, 4, 4), 0)
    model = hybrids.VAEGANHybrid((1, 4, 4), 2, kind="vgh")
    with pytest.raises(ValueError, match="shape"):
        model.encode(torch.zeros(3, 16))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        hybrids.fit_hybrid(model, 2 * torch.ones(8, 1, 4, 4), n_steps=1)
    with pytest.raises(ValueError, match="same example shape"):
        hybrids.independent_critic_score(torch.zeros(8, 3), torch.zeros(8, 4))
    with pytest.raises(ValueError, match="NaN"):
        hybrids.independent_critic_score(torch.full((8, 3), float("nan")), torch.zeros(8, 3))
    with pytest.raises(ValueError, match="at least 2"):
        hybrids.sample_diversity(torch.zeros(1, 3))


def test_aae_reported_bound_sits_above_its_true_elbo_when_the_classifier_is_blind():
    # A fresh code discriminator outputs logits near 0, so the reported KL estimate is ~0
    # while the true average KL is positive: the "bound" exceeds the ELBO.
    torch.manual_seed(0)
    x = toy_images(64)
    model = hybrids.VAEGANHybrid((1, 4, 4), latent_dim=2, kind="aae", hidden=16)
    with torch.no_grad():
        model.code_discriminator[-1].weight.zero_()
        model.code_discriminator[-1].bias.zero_()
    e = hybrids.aae_bound_estimates(model, x)
    assert e["kl_estimate"] == pytest.approx(0.0, abs=1e-6)
    assert e["reported"] - e["elbo"] == pytest.approx(e["average_kl"], abs=1e-4)
    assert e["average_kl"] > 0
    with pytest.raises(ValueError, match="aae"):
        hybrids.aae_bound_estimates(hybrids.VAEGANHybrid((1, 4, 4), 2, kind="vgh", hidden=8), x)


@pytest.mark.parametrize("cls", [hybrids.AdversarialVB, hybrids.VEEGAN])
def test_avb_and_veegan_train_and_sample(cls):
    torch.manual_seed(0)
    x = toy_images(128)
    model = cls((1, 4, 4), latent_dim=2, hidden=32)
    opts = model.optimizers(3e-3)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for i in range(40):
        out = model.train_step(x[(i % 4) * 32:(i % 4 + 1) * 32], opts)
    assert all(torch.isfinite(v) for v in out.values())
    changed = {name.split(".")[0] for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed == {name.split(".")[0] for name in before}  # every network learned
    e = model.bound_estimates(x)
    assert math.isfinite(e["reported"])
    s = model.sample(5)
    assert s.shape == (5, 1, 4, 4) and float(s.min()) >= 0 and float(s.max()) <= 1
    with pytest.raises(ValueError, match="n must"):
        model.sample(0)
    with pytest.raises(ValueError, match="x must"):
        model.bound_estimates(torch.zeros(3, 16))
    with pytest.raises(ValueError, match="lr"):
        model.optimizers(0.0)
    with pytest.raises(ValueError, match="latent_dim"):
        cls((1, 4, 4), latent_dim=0)


def test_avb_discriminator_learns_the_log_ratio_sign():
    # With the model frozen, T trained on (x, z~q) vs (x, z~p) must rate posterior draws above prior draws.
    torch.manual_seed(0)
    x = toy_images(256)
    model = hybrids.AdversarialVB((1, 4, 4), latent_dim=2, hidden=32)
    with torch.no_grad():  # a very narrow, offset posterior: q(z|x) far from p(z)
        model.encoder[-1].weight.mul_(0.01)
        model.encoder[-1].bias.fill_(2.0)
    opts = model.optimizers(3e-3)
    opts["model"] = torch.optim.SGD(model.encoder.parameters(), lr=0.0)
    for _ in range(200):
        model.train_step(x[:64], opts)
    with torch.no_grad():
        t_q = model.log_ratio(x, model.encode(x)).mean()
        t_p = model.log_ratio(x, torch.randn(len(x), 2)).mean()
    assert float(t_q) > float(t_p) + 1.0


def test_veegan_discriminator_can_learn_at_its_own_rate():
    model = hybrids.VEEGAN((1, 4, 4), latent_dim=2, hidden=8)
    opts = model.optimizers(1e-3, disc_lr=1e-4)
    assert opts["model"].param_groups[0]["lr"] == 1e-3 and opts["discriminator"].param_groups[0]["lr"] == 1e-4
    assert model.optimizers(1e-3)["discriminator"].param_groups[0]["lr"] == 1e-3  # default: the same rate
    with pytest.raises(ValueError, match="lr"):
        model.optimizers(1e-3, disc_lr=0.0)
