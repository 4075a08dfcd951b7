"""Tests of companion.symmetric: equivariance, invariance, the optimal discriminator, mixing."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.stats import beta as beta_dist
from scipy.stats import norm
from torch.nn import functional as F

from companion.symmetric import (
    EquivariantConv2d,
    EquivariantLinear,
    SymmetricDiscriminator,
    batch_log_densities,
    bernoulli_kl,
    bgan_step,
    check_layer_merge,
    complementary_mixed_sets,
    mix_batches,
    mixing_log_prior,
    optimal_discriminator,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _perm(n: int, seed: int = 1) -> torch.Tensor:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    assert not torch.equal(perm, torch.arange(n))
    return perm


# ---------------------------------------------------------------- equivariant layers


@pytest.mark.parametrize("shape", [(7, 3), (4, 7, 3)])
def test_equivariant_linear_commutes_with_permutations(shape):
    layer = EquivariantLinear(3, 5)
    x = torch.randn(*shape)
    perm = _perm(7)
    assert torch.allclose(layer(x[..., perm, :]), layer(x)[..., perm, :], atol=1e-6)


@pytest.mark.parametrize("reweight", [True, False])
def test_equivariant_linear_matches_eq_4_12(reweight):
    layer = EquivariantLinear(3, 4, reweight=reweight)
    x = torch.randn(6, 3)
    w_own, w_mix = (6 / 7, 1 / 7) if reweight else (1.0, 1.0)
    lam, gam, c = layer.own.weight.t(), layer.mixing.weight.t(), layer.own.bias
    expected = c + w_own * x @ lam + w_mix * x.mean(0, keepdim=True) @ gam
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_equivariant_linear_mixes_the_batch_and_keeps_sets_apart():
    layer = EquivariantLinear(2, 3)
    x = torch.randn(2, 5, 2, requires_grad=True)
    layer(x)[0, 0].sum().backward()
    assert x.grad[0, 3].abs().sum() > 0  # element 0 sees element 3 of its own set
    assert x.grad[1].abs().sum() == 0  # but nothing of the other set


def test_equivariant_linear_without_mixing_is_pointwise():
    layer = EquivariantLinear(2, 3)
    with torch.no_grad():
        layer.mixing.weight.zero_()
    x = torch.randn(5, 2)
    y = layer(x)
    x2 = x.clone()
    x2[3] += 1.0
    assert torch.allclose(layer(x2)[0], y[0])


@pytest.mark.parametrize("shape", [(6, 2, 8, 8), (3, 6, 2, 8, 8)])
def test_equivariant_conv_commutes_with_permutations(shape):
    layer = EquivariantConv2d(2, 4, 3)
    x = torch.randn(*shape)
    perm = _perm(6)
    if len(shape) == 4:
        assert torch.allclose(layer(x[perm]), layer(x)[perm], atol=1e-5)
    else:
        assert torch.allclose(layer(x[:, perm]), layer(x)[:, perm], atol=1e-5)


def test_equivariant_conv_matches_eq_4_12_and_mixes():
    layer = EquivariantConv2d(2, 3, 3, stride=2, padding=1)
    x = torch.randn(5, 2, 8, 8, requires_grad=True)
    own = F.conv2d(x, layer.own.weight, layer.own.bias, stride=2, padding=1)
    mix = F.conv2d(x.mean(0, keepdim=True), layer.mixing.weight, stride=2, padding=1)
    expected = (5 / 6) * (own - layer.own.bias.view(1, -1, 1, 1)) + layer.own.bias.view(1, -1, 1, 1) + mix / 6
    y = layer(x)
    assert y.shape == (5, 3, 4, 4)
    assert torch.allclose(y, expected, atol=1e-5)
    y[0].sum().backward()
    assert x.grad[4].abs().sum() > 0


def test_two_layers_merge_into_one_equivariant_layer():
    """Lemma 0 of the chapter: networks are closed under composition."""
    first, second = EquivariantLinear(3, 4), EquivariantLinear(4, 2)
    n = 5
    L1, G1, c1 = first.effective_weights(n)
    L2, G2, c2 = second.effective_weights(n)
    with torch.no_grad():
        Lambda = L1 @ L2
        Gamma = G1 @ L2 + (L1 + G1) @ G2
        bias = c1 @ (L2 + G2) + c2
    assert check_layer_merge(first, second, Lambda, Gamma, bias, set_size=n)
    assert not check_layer_merge(first, second, Lambda, G1 @ L2, bias, set_size=n)
    assert not check_layer_merge(first, second, Lambda[:2], Gamma, bias, set_size=n)


# ---------------------------------------------------------------- discriminators


@pytest.mark.parametrize("reduction", ["bgan", "mbgan"])
def test_vector_discriminator_is_invariant(reduction):
    disc = SymmetricDiscriminator(2, (16, 16), reduction=reduction)
    x = torch.randn(3, 9, 2)
    perm = _perm(9)
    target = torch.tensor([0.0, 0.5, 1.0])
    logits = disc(x)
    assert logits.shape == (3, 9)
    assert torch.allclose(disc(x[:, perm]), logits[:, perm], atol=1e-6)
    assert torch.allclose(disc.predict_ratio(x[:, perm]), disc.predict_ratio(x), atol=1e-6)
    assert torch.allclose(disc.loss(x[:, perm], target), disc.loss(x, target), atol=1e-6)
    assert torch.allclose(disc.generator_loss(x[:, perm]), disc.generator_loss(x), atol=1e-6)


@pytest.mark.parametrize("reduction", ["bgan", "mbgan"])
def test_image_discriminator_is_invariant(reduction):
    disc = SymmetricDiscriminator((1, 8, 8), (4, 8), reduction=reduction)
    x = torch.randn(6, 1, 8, 8)
    perm = _perm(6)
    assert disc(x).shape == (6,)
    assert torch.allclose(disc.predict_ratio(x[perm]), disc.predict_ratio(x), atol=1e-5)
    assert disc(torch.randn(2, 6, 1, 8, 8)).shape == (2, 6)


def test_reductions_follow_eqs_4_13_and_4_14():
    x = torch.randn(2, 5, 3)
    target = torch.tensor([0.2, 0.8])
    bgan = SymmetricDiscriminator(3, (8,), reduction="bgan")
    mbgan = SymmetricDiscriminator(3, (8,), reduction="mbgan")
    mbgan.load_state_dict(bgan.state_dict())
    o = bgan(x)
    u, v = target, torch.sigmoid(o.mean(-1))
    kl = u * torch.log(u / v) + (1 - u) * torch.log((1 - u) / (1 - v))
    assert torch.allclose(bgan.loss(x, target), kl.mean(), atol=1e-6)
    v_each = torch.sigmoid(o)
    u_each = target[:, None]
    kl_each = u_each * torch.log(u_each / v_each) + (1 - u_each) * torch.log((1 - u_each) / (1 - v_each))
    assert torch.allclose(mbgan.loss(x, target), kl_each.mean(), atol=1e-6)
    assert torch.allclose(mbgan.predict_ratio(x), v_each.mean(-1), atol=1e-6)
    assert torch.allclose(bgan.generator_loss(x), -torch.log(v).mean(), atol=1e-6)


def test_batch_of_one_is_the_standard_gan_loss():
    disc = SymmetricDiscriminator(2, (8,))
    x = torch.randn(10, 1, 2)
    labels = (torch.arange(10) % 2).float()
    expected = F.binary_cross_entropy_with_logits(disc(x).squeeze(-1), labels)
    assert torch.allclose(disc.loss(x, labels), expected, atol=1e-6)  # entropy of a 0/1 label is 0


def test_discriminator_learns_towards_the_optimum():
    """A few hundred steps on 1-D Gaussians, B = 2: the loss gets near the optimal loss."""
    torch.manual_seed(0)
    disc = SymmetricDiscriminator(1, (32, 32), activation="tanh")
    opt = torch.optim.Adam(disc.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)

    def batch(n):
        real = torch.randn(n, 2, 1, generator=gen)
        fake = 2.0 + torch.randn(n, 2, 1, generator=gen)
        y, beta = mix_batches(real, fake, 0.5, generator=gen, set_dim=1)
        return y, beta.mean(-1)

    for _ in range(150):
        y, t = batch(128)
        opt.zero_grad()
        disc.loss(y, t).backward()
        opt.step()
    y, t = batch(4000)
    d_star = optimal_discriminator(torch.as_tensor(norm.logpdf(y[..., 0].numpy())),
                                   torch.as_tensor(norm.logpdf(y[..., 0].numpy(), loc=2.0)))
    with torch.no_grad():
        learned = disc.loss(y, t).item()
        optimal = bernoulli_kl(t.double(), torch.logit(d_star)).mean().item()
        constant = bernoulli_kl(t, torch.zeros_like(t)).mean().item()
    assert optimal < learned < optimal + 0.02
    assert learned < 0.5 * constant


# ---------------------------------------------------------------- the Bernoulli KL


def test_bernoulli_kl_closed_form():
    u = torch.tensor([0.0, 0.3, 0.5, 1.0])
    logits = torch.tensor([0.4, -1.0, 2.0, 0.1])
    v = torch.sigmoid(logits)
    expected = torch.special.xlogy(u, u / v) + torch.special.xlogy(1 - u, (1 - u) / (1 - v))
    assert torch.allclose(bernoulli_kl(u, logits), expected, atol=1e-6)
    assert torch.allclose(bernoulli_kl(u[1:3], torch.logit(u[1:3])), torch.zeros(2), atol=1e-6)


# ---------------------------------------------------------------- the optimal discriminator


def _brute_force_posterior_mean(p1, p2, prior_density):
    """E[#beta / B | y] by listing the 2^B vectors and integrating the prior over p numerically."""
    batch_size = len(p1)
    num = den = 0.0
    for beta in itertools.product((0, 1), repeat=batch_size):
        k = sum(beta)
        prob_beta = integrate.quad(lambda p: prior_density(p) * p**k * (1 - p) ** (batch_size - k), 0, 1,
                                   points=[0.1, 0.9], limit=200)[0]
        lik = np.prod([p1[i] if beta[i] else p2[i] for i in range(batch_size)])
        num += k / batch_size * lik * prob_beta
        den += lik * prob_beta
    return num / den


def test_optimal_discriminator_for_one_sample_is_the_gan_optimum():
    lp1, lp2 = torch.randn(20, 1), torch.randn(20, 1)
    p1, p2 = lp1.exp().double(), lp2.exp().double()
    assert torch.allclose(optimal_discriminator(lp1, lp2), (p1 / (p1 + p2)).squeeze(-1), atol=1e-10)


@pytest.mark.parametrize(
    "prior",
    [dict(), dict(a=2.0, b=0.5), dict(gamma=0.2)],
    ids=["uniform", "beta(2,0.5)", "gamma=0.2"],
)
def test_optimal_discriminator_is_the_brute_force_posterior_mean(prior):
    rng = np.random.default_rng(0)
    y = rng.normal(size=4)
    p1, p2 = norm.pdf(y), norm.pdf(y, loc=1.0, scale=0.7)
    if "gamma" in prior:
        g = prior["gamma"]
        density = lambda p: (p <= g or p >= 1 - g) / (2 * g)  # noqa: E731
    elif prior:
        density = beta_dist(prior["a"], prior["b"]).pdf
    else:
        density = lambda p: 1.0  # noqa: E731
    expected = _brute_force_posterior_mean(p1, p2, density)
    got = optimal_discriminator(torch.as_tensor(np.log(p1)), torch.as_tensor(np.log(p2)), **prior)
    assert abs(got.item() - expected) < 1e-6


def test_optimal_discriminator_is_permutation_invariant_and_methods_agree():
    lp1, lp2 = torch.randn(3, 10), torch.randn(3, 10)
    perm = _perm(10)
    d = optimal_discriminator(lp1, lp2, method="enumerate")
    assert torch.allclose(optimal_discriminator(lp1[:, perm], lp2[:, perm], method="enumerate"), d, atol=1e-12)
    assert torch.allclose(optimal_discriminator(lp1, lp2, method="recursion"), d, atol=1e-12)
    big = optimal_discriminator(torch.randn(2, 200), torch.randn(2, 200))
    assert torch.all((big > 0) & (big < 1))


@pytest.mark.parametrize("prior,mean", [(dict(), 0.5), (dict(a=3.0, b=1.0), 0.75), (dict(gamma=0.1), 0.5)])
def test_indistinguishable_samples_give_the_prior_mean(prior, mean):
    lp = torch.randn(4, 6)
    assert torch.allclose(optimal_discriminator(lp, lp.clone(), **prior), torch.full((4,), mean, dtype=torch.float64))


def test_gamma_one_half_is_the_uniform_prior():
    assert torch.allclose(mixing_log_prior(7, gamma=0.5), mixing_log_prior(7), atol=1e-10)
    for gamma in (0.0, 0.1, 0.3):
        probs = mixing_log_prior(7, gamma=gamma).exp()
        counts = torch.tensor([math.comb(7, k) for k in range(8)], dtype=torch.float64)
        assert abs((probs * counts).sum().item() - 1.0) < 1e-10  # a distribution over beta


@pytest.mark.parametrize("a,b", [(1.0, 1.0), (2.0, 3.0)])
def test_balanced_and_unbalanced_densities_integrate_to_one(a, b):
    """On a discrete sample space, summing over every batch is exact integration."""
    p1 = torch.tensor([0.5, 0.2, 0.2, 0.1], dtype=torch.float64)
    p2 = torch.tensor([0.1, 0.1, 0.3, 0.5], dtype=torch.float64)
    batches = torch.tensor(list(itertools.product(range(4), repeat=3)))  # all 64 batches, B = 3
    log_p, log_q = batch_log_densities(p1.log()[batches], p2.log()[batches], a=a, b=b)
    assert abs(log_p.exp().sum().item() - 1) < 1e-12
    assert abs(log_q.exp().sum().item() - 1) < 1e-12
    d_star = optimal_discriminator(p1.log()[batches], p2.log()[batches], a=a, b=b)
    assert torch.allclose(a / (a + b) * (log_q - log_p).exp(), d_star, atol=1e-12)


def test_p_balanced_matches_proposition_1():
    lp1, lp2 = torch.randn(3), torch.randn(3)
    B = 3
    bal = unbal = 0.0
    for beta in itertools.product((0, 1), repeat=B):
        k = sum(beta)
        term = math.exp(sum(lp1[i] if beta[i] else lp2[i] for i in range(B))) / math.comb(B, k)
        bal += term / (B + 1)
        unbal += 2 / (B + 1) * term * k / B
    log_p, log_q = batch_log_densities(lp1, lp2)
    assert abs(log_p.exp().item() - bal) < 1e-6 and abs(log_q.exp().item() - unbal) < 1e-6


# ---------------------------------------------------------------- mixed batches


def test_gamma_zero_gives_pure_batches():
    real, fake = torch.ones(400, 10, 2), -torch.ones(400, 10, 2)
    batch, beta = mix_batches(real, fake, 0.0, set_dim=1)
    fraction = beta.mean(-1)
    assert set(fraction.unique().tolist()) == {0.0, 1.0}
    assert 0.4 < fraction.mean().item() < 0.6
    assert torch.equal(batch[..., 0], 2 * beta - 1)


def test_gamma_one_half_spreads_the_real_fraction():
    real, fake = torch.ones(2000, 20, 1), torch.zeros(2000, 20, 1)
    batch, beta = mix_batches(real, fake, 0.5, set_dim=1, generator=torch.Generator().manual_seed(0))
    fraction = beta.mean(-1)
    assert torch.equal(batch[..., 0], beta)
    middle = ((fraction > 0.3) & (fraction < 0.7)).float().mean().item()
    assert 0.3 < middle < 0.5  # p* uniform: about 0.4 of the sets in the middle
    # variance of the fraction: Var(p*) + E[p*(1 - p*)] / B = 1/12 + (1/6) / 20
    assert abs(fraction.var().item() - (1 / 12 + 1 / 120)) < 0.01
    smooth = mix_batches(real, fake, 0.1, set_dim=1)[1].mean(-1)
    assert ((smooth > 0.3) & (smooth < 0.7)).float().mean().item() < 0.02


def test_mix_batches_is_repeatable_with_a_generator():
    real, fake = torch.randn(8, 3), torch.randn(8, 3)
    a = mix_batches(real, fake, 0.3, generator=torch.Generator().manual_seed(5))
    b = mix_batches(real, fake, 0.3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[1].shape == (8,)


def test_complementary_sets_use_every_sample_once():
    real, fake = torch.randn(12, 3), torch.randn(12, 3) + 10
    sets, targets = complementary_mixed_sets(real, fake, 0.5, generator=torch.Generator().manual_seed(3))
    assert sets.shape == (2, 12, 3) and torch.allclose(targets.sum(), torch.tensor(1.0))
    from_real = sets[..., 0] < 5  # real samples are far from the fake ones
    assert torch.equal(from_real[0], ~from_real[1])
    assert abs(from_real[0].float().mean().item() - targets[0].item()) < 1e-6
    assert torch.equal(torch.where(from_real[0, :, None], sets[0], sets[1]), real)
    pure, t = complementary_mixed_sets(real, fake, 0.0)
    assert sorted(t.tolist()) == [0.0, 1.0]


@pytest.mark.parametrize("reduction", ["bgan", "mbgan"])
def test_bgan_step_trains_both_players(reduction):
    gen = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    disc = SymmetricDiscriminator(2, (8, 8), reduction=reduction, activation="maxout", maxout_pieces=3)
    g_before = [p.detach().clone() for p in gen.parameters()]
    d_before = [p.detach().clone() for p in disc.parameters()]
    g_opt, d_opt = torch.optim.Adam(gen.parameters(), 1e-2), torch.optim.Adam(disc.parameters(), 1e-2)
    out = bgan_step(gen, disc, [torch.randn(10, 2), torch.randn(10, 2)], 2, d_opt, g_opt, gamma=0.3)
    assert set(out) == {"d_loss", "g_loss"} and all(math.isfinite(v) for v in out.values())
    assert all(not torch.equal(a, b) for a, b in zip(g_before, gen.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d_before, disc.parameters()))
    assert all(p.requires_grad for p in disc.parameters())
    x = torch.randn(7, 2)
    perm = _perm(7)
    assert torch.allclose(disc.predict_ratio(x[perm]), disc.predict_ratio(x), atol=1e-6)


# ---------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_clear_errors():
    real = torch.randn(4, 2)
    with pytest.raises(ValueError, match="same shape"):
        mix_batches(real, torch.randn(5, 2), 0.5)
    with pytest.raises(ValueError, match="gamma"):
        mix_batches(real, real, 0.6)
    with pytest.raises(ValueError, match="gamma"):
        mix_batches(real, real, -0.1)
    with pytest.raises(ValueError, match="empty"):
        mix_batches(torch.randn(0, 2), torch.randn(0, 2), 0.5)
    with pytest.raises(TypeError, match="real"):
        mix_batches(np.zeros((4, 2)), real, 0.5)
    with pytest.raises(ValueError, match="empty"):
        EquivariantLinear(2, 3)(torch.randn(0, 2))
    with pytest.raises(ValueError, match=r"\(\.\.\., B, 2\)"):
        EquivariantLinear(2, 3)(torch.randn(4, 3))
    with pytest.raises(ValueError, match="in_features"):
        EquivariantLinear(0, 3)
    with pytest.raises(ValueError, match="shape"):
        EquivariantConv2d(2, 3, 3)(torch.randn(4, 1, 8, 8))
    with pytest.raises(ValueError, match="empty"):
        EquivariantConv2d(2, 3, 3)(torch.randn(0, 2, 8, 8))
    with pytest.raises(ValueError, match="reduction"):
        SymmetricDiscriminator(2, reduction="mean")
    with pytest.raises(ValueError, match="in_shape"):
        SymmetricDiscriminator((1, 8))
    with pytest.raises(ValueError, match="activation"):
        SymmetricDiscriminator(2, activation="swish")
    with pytest.raises(ValueError, match="real_batches"):
        bgan_step(torch.nn.Linear(2, 2), SymmetricDiscriminator(2, (4,)), [], 2, None, None)
    disc = SymmetricDiscriminator(2, (4,))
    with pytest.raises(ValueError, match="target"):
        disc.loss(torch.randn(3, 5, 2), torch.rand(5))
    with pytest.raises(ValueError, match="shape"):
        disc(torch.randn(3, 5, 4))
    with pytest.raises(ValueError, match="same shape"):
        optimal_discriminator(torch.randn(3), torch.randn(4))
    with pytest.raises(ValueError, match="empty"):
        optimal_discriminator(torch.randn(0), torch.randn(0))
    with pytest.raises(ValueError, match="B <= 16"):
        optimal_discriminator(torch.randn(17), torch.randn(17), method="enumerate")
    with pytest.raises(ValueError, match="a must"):
        optimal_discriminator(torch.randn(3), torch.randn(3), a=0.0)
    with pytest.raises(ValueError, match="gamma"):
        optimal_discriminator(torch.randn(3), torch.randn(3), gamma=0.7)
    with pytest.raises(ValueError, match="NaN"):
        optimal_discriminator(torch.tensor([0.0, math.nan]), torch.zeros(2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bernoulli_kl(torch.tensor([1.5]), torch.zeros(1))


# -- the paper-scale CIFAR-10 configuration (no download, no training) ---------------------------
def test_cifar10_paper_config_builds_the_sngan_pair_with_spectral_norm():
    from companion.experiments.symmetric_cifar10 import (
        PAPER_TABLE_4_1,
        Cifar10Config,
        SNGANGenerator,
    )
    from companion.nets import spectral_normalise

    for scale in ("smoke", "book"):  # the CPU scales keep the small pair on digits, without IS/FID
        small = Cifar10Config.for_scale(scale)
        assert (small.dataset, small.architecture, small.spectral_norm, small.n_inception_samples) == \
            ("digits", "small", False, 0)
    cfg = Cifar10Config.for_scale("paper")
    assert cfg.dataset == "cifar10" and cfg.architecture == "sngan" and cfg.n_inception_samples > 0
    assert PAPER_TABLE_4_1["M-BGAN"] == (7.49, 0.06, 23.7) and PAPER_TABLE_4_1["SN (Miyato et al.)"][2] == 29.3
    torch.manual_seed(0)
    gen = SNGANGenerator(cfg.latent_dim, (3, 32, 32))
    fake = gen(torch.randn(4, cfg.latent_dim))
    assert fake.shape == (4, 3, 32, 32) and 0 <= fake.min() and fake.max() <= 1
    disc = spectral_normalise(SymmetricDiscriminator((3, 32, 32), cfg.channels, reduction="mbgan",
                                                     activation="leaky_relu"))
    # after a few power iterations every normalised weight has spectral norm ~1
    for _ in range(30):
        disc(fake.detach())
    disc.eval()
    conv = disc.features[0].own
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert abs(float(sigma) - 1.0) < 0.05
    logits = disc(fake)
    assert logits.shape == (4,)
    perm = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(disc(fake[perm]), logits[perm], rtol=1e-5, atol=1e-5)  # still equivariant
    with pytest.raises(ValueError):
        SNGANGenerator(8, (3, 16, 16))


def test_fit_bgan_trains_and_checks_its_gan():
    from companion.gan import GAN, MLPDiscriminator, MLPGenerator
    from companion.symmetric import SymmetricDiscriminator, fit_bgan

    torch.manual_seed(0)
    gan = GAN(MLPGenerator(2, (3,), hidden=8), SymmetricDiscriminator(3, (8, 8)), 2)
    history = fit_bgan(gan, torch.randn(64, 3), n_steps=4, batch_size=8, n_disc=2, progress=False)
    assert len(history["d_loss"]) >= 1 and len(history["g_loss"]) >= 1
    with pytest.raises(TypeError, match="SymmetricDiscriminator"):
        fit_bgan(GAN(MLPGenerator(2, (3,), hidden=8), MLPDiscriminator((3,), hidden=8)), torch.randn(8, 3),
                 n_steps=1, batch_size=4)


def test_both_methods_agree_when_a_log_density_is_minus_infinity():
    """An element outside the support of p1 (or p2) has log-density -inf: it cannot be real
    (or fake); the enumeration used to multiply -inf by 0 and return NaN."""
    from companion.symmetric import optimal_discriminator

    log_p_real = torch.tensor([[-math.inf, -1.0, -0.5], [-0.3, -1.2, -2.0], [-math.inf, -math.inf, -1.0]],
                              dtype=torch.float64)
    log_p_fake = torch.tensor([[-0.7, -math.inf, -1.1], [-0.9, -0.2, -1.5], [-0.4, -0.8, -math.inf]],
                              dtype=torch.float64)
    for prior in ({}, {"a": 2.0, "b": 3.0}, {"gamma": 0.3}):
        enum = optimal_discriminator(log_p_real, log_p_fake, method="enumerate", **prior)
        recursion = optimal_discriminator(log_p_real, log_p_fake, method="recursion", **prior)
        assert torch.isfinite(enum).all() and torch.isfinite(recursion).all()
        torch.testing.assert_close(enum, recursion)
    # the first set: element 0 is fake and element 1 real for sure, so D* lies in [1/3, 2/3];
    # the third: every element is determined (fake, fake, real), so D* = 1/3 exactly
    d = optimal_discriminator(log_p_real, log_p_fake, method="enumerate")
    assert 1 / 3 <= float(d[0]) <= 2 / 3
    assert abs(float(d[2]) - 1 / 3) < 1e-12


# -- Maxout: the cheaper backward equals torch.amax's ------------------------------------------


def _maxout_reference(x: torch.Tensor, pieces: int) -> torch.Tensor:
    return x.unflatten(-1, (x.shape[-1] // pieces, pieces)).amax(dim=-1)


@pytest.mark.parametrize("shape", [(7, 12), (3, 5, 12)])
def test_maxout_values_and_gradients_equal_amax(shape):
    from companion.symmetric import Maxout

    x = torch.randn(*shape, requires_grad=True)
    upstream = torch.randn(*shape[:-1], 4)
    ours = Maxout(3)(x)
    reference = _maxout_reference(x, 3)
    assert torch.equal(ours, reference)
    (grad_ours,) = torch.autograd.grad(ours, x, upstream)
    (grad_reference,) = torch.autograd.grad(reference, x, upstream)
    assert torch.equal(grad_ours, grad_reference)
    # exactly one piece per group receives the gradient
    assert torch.equal((grad_ours != 0).unflatten(-1, (4, 3)).sum(-1), torch.ones(*shape[:-1], 4, dtype=torch.long))


def test_maxout_second_derivative_matches_amax():
    """A gradient penalty differentiates the input gradient with respect to the weights."""
    from companion.symmetric import Maxout

    x = torch.randn(6, 2, requires_grad=True)
    layer = torch.nn.Linear(2, 12)
    readout = torch.nn.Linear(4, 1)
    penalties = []
    for activation in (Maxout(3), lambda h: _maxout_reference(h, 3)):
        (input_grad,) = torch.autograd.grad(readout(activation(layer(x))).sum(), x, create_graph=True)
        penalties.append(torch.autograd.grad(input_grad.pow(2).sum(), readout.weight)[0])
    assert penalties[0].abs().sum() > 0
    torch.testing.assert_close(penalties[0], penalties[1], rtol=0, atol=0)


def test_maxout_ties_send_the_whole_gradient_to_each_tied_piece():
    from companion.symmetric import Maxout

    x = torch.tensor([[1.0, 1.0, 0.0]], requires_grad=True)
    (grad,) = torch.autograd.grad(Maxout(3)(x), x, torch.tensor([[2.0]]))
    assert torch.equal(grad, torch.tensor([[2.0, 2.0, 0.0]]))


def test_maxout_rejects_a_width_not_divisible_by_pieces():
    from companion.symmetric import Maxout

    with pytest.raises(ValueError, match="multiple of pieces"):
        Maxout(3)(torch.randn(2, 7))
