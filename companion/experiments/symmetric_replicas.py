"""One update of many batch GANs at once: the steps the chapter's replica experiments share.

The mode-coverage experiments (``symmetric_discriminators/mode_coverage``, ``baseline_sweep``),
the digits experiment (``symmetric_discriminators/digits_dynamics``) and the comparison chapter's
GANs (``companion.experiments.comparison_gans.fit_gans``) train every seed of a model at once
with :class:`~companion.replicas.Replicas`: networks whose outputs carry a leading replica axis
``S``. The helpers here write the losses of eqs. (4.4)-(4.5) for that axis and take one
optimizer step of every replica; the single-run game is :func:`companion.symmetric.bgan_step`.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import torch
from torch import nn

from companion.symmetric import bernoulli_kl

__all__ = ["Mix", "discriminator_update", "generator_update", "replica_gan_step", "replica_mixer", "replica_step",
           "set_losses"]

#: ``mix(real, fake) -> (sets, real fractions)`` for replica-stacked batches ``(S, B, ...)``.
Mix = Callable[[torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]


def replica_mixer(mix_one: Callable[[torch.Tensor, torch.Tensor, torch.Generator], Tuple[torch.Tensor, torch.Tensor]],
                  rngs: List[torch.Generator]) -> Mix:
    """``mix_one(real, fake, rng)`` applied to every replica with its own generator, the results stacked."""

    def mix(real: torch.Tensor, fake: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        pairs = [mix_one(r, f, g) for r, f, g in zip(real, fake, rngs)]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

    return mix


def set_losses(logits: torch.Tensor, targets: torch.Tensor, reduction: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-replica discriminator and generator losses of a batch GAN from the logits
    ``(S, sets, B)`` and the real fractions ``(S, sets)``: eqs. (4.4)-(4.5) with the BGAN
    (4.13) or M-BGAN (4.14) reduction, as :class:`~companion.symmetric.SymmetricDiscriminator`
    computes them."""
    if reduction == "bgan":
        d_loss = bernoulli_kl(targets, logits.mean(-1)).mean(-1)
        g_loss = nn.functional.softplus(-logits.mean(-1)).mean(-1)
    else:
        d_loss = bernoulli_kl(targets.unsqueeze(-1).expand_as(logits), logits).mean((-1, -2))
        g_loss = nn.functional.softplus(-logits).mean((-1, -2))
    return d_loss, g_loss


def replica_step(optimizer: torch.optim.Optimizer, losses: torch.Tensor) -> torch.Tensor:
    """One optimizer step on per-replica ``losses`` ``(S,)``; returns them.

    The gradient of their sum is, for each replica's parameters, that replica's own loss's.
    """
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()
    optimizer.step()
    return losses


def discriminator_update(disc: nn.Module, d_opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                         mix: Mix, reduction: Optional[str]) -> torch.Tensor:
    """One discriminator step of replicated GANs; returns the per-replica losses.

    ``reduction=None``: the pointwise GAN loss, real and generated minibatches passed
    separately; ``"bgan"``/``"mbgan"``: the batch GAN's loss (eq. 4.4) on the sets
    ``mix(real, fake)``.
    """
    if reduction is None:
        d_loss = nn.functional.softplus(-disc(real)).mean(-1) + nn.functional.softplus(disc(fake)).mean(-1)
    else:
        sets, targets = mix(real, fake)
        d_loss = set_losses(disc(sets), targets, reduction)[0]
    return replica_step(d_opt, d_loss)


def generator_update(disc: nn.Module, g_opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                     mix: Mix, reduction: Optional[str]) -> torch.Tensor:
    """One generator step of replicated GANs with the discriminator frozen; returns the per-replica losses.

    ``reduction=None``: the non-saturating loss on ``fake``; ``"bgan"``/``"mbgan"``: the batch GAN's
    generator loss (eq. 4.5) on the sets ``mix(real, fake)``, all of them labelled fake.
    """
    disc.requires_grad_(False)
    if reduction is None:
        g_loss = nn.functional.softplus(-disc(fake)).mean(-1)
    else:
        sets, _ = mix(real, fake)
        g_loss = set_losses(disc(sets), torch.zeros(sets.shape[:2], device=sets.device), reduction)[1]
    replica_step(g_opt, g_loss)
    disc.requires_grad_(True)
    return g_loss


def replica_gan_step(gen: nn.Module, disc: nn.Module, g_opt: torch.optim.Optimizer, d_opt: torch.optim.Optimizer,
                     real: torch.Tensor, draw_noise: Callable[[], torch.Tensor], mix: Mix,
                     reduction: Optional[str]) -> Tuple[torch.Tensor, torch.Tensor]:
    """One step of replicated GANs on the real minibatches ``real`` ``(S, B, ...)``: a discriminator update
    (:func:`discriminator_update`) against a generated batch made without gradients, then a generator update
    (:func:`generator_update`) on a fresh one; ``draw_noise()`` gives each batch's stacked noise.

    Returns:
        The per-replica discriminator and generator losses, each ``(S,)``.

    Raises:
        TypeError: if ``real`` is not a tensor or ``draw_noise`` is not callable (the replicas check the shapes).
    """
    if not torch.is_tensor(real):
        raise TypeError(f"real must be a torch.Tensor (S, B, ...); got {type(real).__name__}")
    if not callable(draw_noise):
        raise TypeError(f"draw_noise must be callable; got {type(draw_noise).__name__}")
    with torch.no_grad():
        fake = gen(draw_noise())
    d_loss = discriminator_update(disc, d_opt, real, fake, mix, reduction)
    g_loss = generator_update(disc, g_opt, real, gen(draw_noise()), mix, reduction)
    return d_loss, g_loss
