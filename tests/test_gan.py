"""Tests of companion.gan: losses by hand, the gradient penalty, networks, the training step."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from companion.gan import (
    GAN,
    ConvDiscriminator,
    ConvGenerator,
    MLPDiscriminator,
    MLPGenerator,
    discriminator_loss,
    fit_gan,
    gan_step,
    generator_loss,
    gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from companion.train import History


def test_losses_match_hand_values():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([-1.0])
    # -mean log D(real) - mean log(1 - D(fake)), with D = sigmoid
    expected = -(math.log(0.5) + math.log(1 / (1 + math.exp(-2)))) / 2 - math.log(1 - 1 / (1 + math.exp(1)))
    assert discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)
    # non-saturating generator loss: -mean log D(fake)
    assert generator_loss(torch.tensor([-1.0, 3.0])).item() == pytest.approx(
        -(math.log(1 / (1 + math.e)) + math.log(1 / (1 + math.exp(-3)))) / 2, rel=1e-6
    )
    assert wasserstein_critic_loss(torch.tensor([1.0, 3.0]), torch.tensor([-2.0])).item() == pytest.approx(-4.0)
    assert wasserstein_generator_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


def test_non_saturating_loss_keeps_its_gradient_when_the_discriminator_wins():
    # D confidently rejects a fake (logit -10): log(1 - D) is flat there, -log D is not
    logit = torch.tensor([-10.0], requires_grad=True)
    (grad_ns,) = torch.autograd.grad(generator_loss(logit), logit)
    (grad_sat,) = torch.autograd.grad(torch.log1p(-torch.sigmoid(logit)).mean(), logit)
    assert abs(grad_ns.item()) > 0.99 and abs(grad_sat.item()) < 1e-4


def test_gradient_penalty_is_zero_for_unit_norm_gradients_and_positive_otherwise():
    torch.manual_seed(0)
    real, fake = torch.randn(64, 3), torch.randn(64, 3) + 2
    linear = nn.Linear(3, 1)
    critic = lambda x: linear(x).squeeze(1)  # noqa: E731
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.6, 0.0, 0.8]]))  # unit norm: |grad| = 1 everywhere
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        linear.weight.mul_(3.0)  # |grad| = 3: penalty (3 - 1)^2 = 4 at every point
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx(4.0, rel=1e-5)
    gp.backward()  # the penalty trains the critic: d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    torch.testing.assert_close(linear.weight.grad, 2 * (3.0 - 1) * linear.weight / 3.0)
    # a non-linear critic has gradients of varying norm
    mlp = MLPDiscriminator((3,), hidden=16, n_layers=2)
    assert gradient_penalty(mlp, real, fake).item() > 0


def test_gradient_penalty_on_images_and_with_a_seeded_generator():
    real, fake = torch.rand(8, 1, 4, 4), torch.rand(8, 1, 4, 4)
    weight = torch.randn(16)
    critic = lambda x: x.flatten(1) @ (weight / weight.norm())  # noqa: E731
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    conv = ConvDiscriminator((1, 4, 4), channels=(4,))
    a = gradient_penalty(conv, real, fake, generator=torch.Generator().manual_seed(3))
    b = gradient_penalty(conv, real, fake, generator=torch.Generator().manual_seed(3))
    assert a.item() == b.item() and a.item() > 0


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 25, 25)])
def test_conv_networks(shape):
    g, d = ConvGenerator(5, shape, channels=(16, 8)), ConvDiscriminator(shape, channels=(8, 16))
    gan = GAN(g, d)
    x = gan.sample(3)
    assert x.shape == (3, *shape) and 0 <= x.min() and x.max() <= 1 and not x.requires_grad
    assert d(x).shape == (3,)


def test_mlp_networks_and_gan_wrapper():
    g, d = MLPGenerator(3, (1, 2, 2), hidden=8), MLPDiscriminator((1, 2, 2), hidden=8)
    gan = GAN(g, d)
    assert gan.latent_dim == 3
    assert gan.sample(7).shape == (7, 1, 2, 2)
    assert gan.generate(7).requires_grad
    assert d(torch.randn(7, 1, 2, 2)).shape == (7,)
    assert not hasattr(gan, "log_prob")  # sample-only model


@pytest.mark.parametrize("loss", ["ns", "wgan-gp"])
def test_gan_step_updates_each_player_with_its_own_loss(loss):
    torch.manual_seed(0)
    gan = GAN(MLPGenerator(2, (2,), hidden=8), MLPDiscriminator((2,), hidden=8))
    d_opt = torch.optim.SGD(gan.discriminator.parameters(), lr=0.1)
    g_opt = torch.optim.SGD(gan.generator.parameters(), lr=0.1)
    d_before = [p.clone() for p in gan.discriminator.parameters()]
    g_before = [p.clone() for p in gan.generator.parameters()]
    out = gan_step(gan, [torch.randn(16, 2), torch.randn(16, 2)], d_opt, g_opt, loss=loss, n_critic=2)
    assert set(out) == {"d_loss", "g_loss", "gp"} and all(isinstance(v, float) for v in out.values())
    assert (out["gp"] > 0) == (loss == "wgan-gp")
    assert any(not torch.equal(a, b) for a, b in zip(d_before, gan.discriminator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, gan.generator.parameters()))
    # D is frozen only during the generator update: it is trainable again afterwards
    assert all(p.requires_grad for p in gan.discriminator.parameters())
    # the generator update does not touch D: with a zero-learning-rate D optimizer, D stays put
    d_after = [p.clone() for p in gan.discriminator.parameters()]
    g_mid = [p.clone() for p in gan.generator.parameters()]
    gan_step(gan, torch.randn(16, 2), torch.optim.SGD(gan.discriminator.parameters(), lr=0.0), g_opt, loss=loss)
    assert all(torch.equal(a, b) for a, b in zip(d_after, gan.discriminator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_mid, gan.generator.parameters()))


def test_fit_gan_moves_the_samples_to_the_data():
    torch.manual_seed(0)
    data = torch.tensor([2.0, -1.0]) + 0.1 * torch.randn(2000, 2)
    gan = GAN(MLPGenerator(2, (2,), hidden=32, n_layers=2), MLPDiscriminator((2,), hidden=32, n_layers=2))
    history = fit_gan(gan, data, n_steps=300, batch_size=64, lr=2e-3, progress=False)
    assert isinstance(history, History) and {"d_loss", "g_loss"} <= set(history.names())
    mean = gan.sample(2000).mean(0)
    assert (mean - torch.tensor([2.0, -1.0])).norm() < 0.3


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"real_logits must have shape \(batch,\)"):
        discriminator_loss(torch.zeros(3, 1), torch.zeros(3))
    with pytest.raises(ValueError, match="fake_logits"):
        generator_loss(torch.zeros(0))
    with pytest.raises(TypeError, match="Tensor"):
        wasserstein_generator_loss([1.0])
    critic = MLPDiscriminator((2,), hidden=4)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        gradient_penalty(critic, torch.full((3, 2), float("nan")), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="critic"):
        gradient_penalty(lambda x: x, torch.zeros(3, 2), torch.zeros(3, 2))
    gan = GAN(MLPGenerator(2, (2,), hidden=4), critic)
    opt = torch.optim.SGD(gan.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="loss"):
        gan_step(gan, torch.zeros(4, 2), opt, opt, loss="hinge")
    with pytest.raises(ValueError, match="n_critic"):
        gan_step(gan, torch.zeros(4, 2), opt, opt, n_critic=0)
    with pytest.raises(ValueError, match="n_critic=2"):
        gan_step(gan, [torch.zeros(4, 2)], opt, opt, n_critic=2)
    with pytest.raises(ValueError, match="gp_weight"):
        gan_step(gan, torch.zeros(4, 2), opt, opt, gp_weight=-1.0)
    with pytest.raises(ValueError, match="latent_dim"):
        GAN(nn.Linear(2, 2), critic)
    with pytest.raises(ValueError, match="shape"):
        critic(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="NaN"):
        fit_gan(gan, torch.full((10, 2), float("inf")), n_steps=1)
    with pytest.raises(TypeError, match="GAN"):
        fit_gan(critic, torch.zeros(10, 2), n_steps=1)


def test_the_mlp_discriminator_keeps_leading_dimensions():
    from companion.gan import MLPDiscriminator

    torch.manual_seed(0)
    disc = MLPDiscriminator((1, 4, 4), hidden=8, n_layers=1).eval()
    x = torch.rand(3, 5, 1, 4, 4)  # a leading axis of 3 (replicas, say) of batches of 5
    out = disc(x)
    assert out.shape == (3, 5)
    assert torch.allclose(out[1], disc(x[1]), atol=1e-6)
    for bad in (torch.rand(5, 16), torch.rand(1, 4, 4)):
        with pytest.raises(ValueError, match="expected inputs of shape"):
            disc(bad)
