"""The shared step of replicated GANs (companion.experiments.symmetric_replicas) against plain steps by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from companion.experiments.symmetric_replicas import replica_gan_step
from companion.replicas import Replicas


def test_one_replicated_gan_step_is_each_replicas_own_plain_step():
    """Two replicas of a pointwise GAN take one replica_gan_step; each ends where its own plain step ends
    (the non-saturating game by hand on that replica's networks, noise and real batch), and the
    losses are one per replica."""
    seeds, batch, latent, dim = (3, 7), 5, 2, 4
    gens = Replicas(lambda: nn.Linear(latent, dim), seeds)
    discs = Replicas(lambda: nn.Sequential(nn.Linear(dim, 1), nn.Flatten(-2)), seeds)
    plain = [(gens.module(s), discs.module(s)) for s in range(2)]
    g_opt, d_opt = torch.optim.Adam(gens.parameters(), lr=0.1), torch.optim.Adam(discs.parameters(), lr=0.1)
    torch.manual_seed(0)
    real, noises = torch.randn(2, batch, dim), [torch.randn(2, batch, latent) for _ in range(2)]
    draws = iter(noises)
    d_loss, g_loss = replica_gan_step(gens, discs, g_opt, d_opt, real, lambda: next(draws), None, None)
    assert d_loss.shape == g_loss.shape == (2,)
    softplus = nn.functional.softplus
    for s, (gen, disc) in enumerate(plain):
        g, d = torch.optim.Adam(gen.parameters(), lr=0.1), torch.optim.Adam(disc.parameters(), lr=0.1)
        with torch.no_grad():
            fake = gen(noises[0][s])
        loss = softplus(-disc(real[s])).mean() + softplus(disc(fake)).mean()
        d.zero_grad(), loss.backward(), d.step()
        assert d_loss[s].item() == pytest.approx(loss.item(), abs=1e-6)
        disc.requires_grad_(False)
        loss = softplus(-disc(gen(noises[1][s]))).mean()
        g.zero_grad(), loss.backward(), g.step()
        assert g_loss[s].item() == pytest.approx(loss.item(), abs=1e-6)
        for stacked, module in ((gens, gen), (discs, disc)):
            for name, value in module.state_dict().items():
                assert torch.allclose(stacked.module(s).state_dict()[name], value, atol=1e-6), (s, name)
    assert all(p.requires_grad for p in discs.parameters())  # the discriminator is trainable again


def test_a_replicated_gan_step_says_what_is_wrong_with_its_inputs():
    gens = Replicas(lambda: nn.Linear(2, 3), (0, 1))
    discs = Replicas(lambda: nn.Sequential(nn.Linear(3, 1), nn.Flatten(-2)), (0, 1))
    g_opt, d_opt = torch.optim.Adam(gens.parameters()), torch.optim.Adam(discs.parameters())
    noise = lambda: torch.randn(2, 4, 2)  # noqa: E731
    with pytest.raises(TypeError, match="real must be a torch.Tensor"):
        replica_gan_step(gens, discs, g_opt, d_opt, [[0.0]], noise, None, None)
    with pytest.raises(TypeError, match="draw_noise must be callable"):
        replica_gan_step(gens, discs, g_opt, d_opt, torch.zeros(2, 4, 3), None, None, None)
    with pytest.raises(ValueError, match="leading replica axis"):
        replica_gan_step(gens, discs, g_opt, d_opt, torch.zeros(3, 4, 3), noise, None, None)
