"""Mixed batches and batch GANs with permutation-invariant (symmetric) discriminators.

The discriminator of a batch GAN (Lucas et al., 2018; thesis chapter 4) looks at a whole
*set* of samples, some real and some generated, and predicts the fraction of real ones.
This is the chapter's method module; it holds the game and re-exports the pieces that live
in modules of their own:

* :func:`mix_batches` — mixed batches with a mixing ratio ``p*`` uniform on
  ``[0, gamma] U [1 - gamma, 1]`` (batch smoothing; ``gamma = 0`` gives pure batches), and
  :func:`complementary_mixed_sets`, the pair ``m_beta``, ``m_{1-beta}`` that wastes no sample;
* :func:`bgan_step` — one training step of a batch GAN (BGAN or M-BGAN), and
  :func:`fit_bgan`, the fit that repeats it;
* :mod:`companion.equivariant` — the equivariant layers of eq. (4.12)
  (:class:`EquivariantLinear`, :class:`EquivariantConv2d`), the
  :class:`SymmetricDiscriminator` with the BGAN (eq. 4.13) and M-BGAN (eq. 4.14) reductions,
  and :func:`bernoulli_kl`, the loss of eq. (4.3);
* :mod:`companion.optimal_batch_discriminator` — the exact optimal discriminator
  :func:`optimal_discriminator` of eqs. (4.6)-(4.7), :func:`mixing_log_prior` and
  :func:`batch_log_densities` (Prop. 1, Sec. 4.7);
* :mod:`companion.minibatch_discrimination` — :class:`MinibatchDiscrimination` and
  :class:`MinibatchDiscriminator`, the baseline with hand-made batch statistics that
  Fig. 4.6 compares with (Salimans et al., 2016).

Shapes. A *set* (the thesis' batch) lies along one axis: dimension ``-2`` for vectors
``(..., B, features)`` and dimension ``-4`` for images ``(..., B, C, H, W)``; leading
dimensions index independent sets, which lets one forward pass treat many small sets.

Chapter: ``book/symmetric_discriminators.md``; its experiments: ``companion/experiments/symmetric_discriminators.py``.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from .checks import check_in_interval, check_nonnegative_int, check_positive_int, check_tensor
from .equivariant import (
    ACTIVATIONS,
    REDUCTIONS,
    EquivariantConv2d,
    EquivariantLinear,
    Maxout,
    SymmetricDiscriminator,
    bernoulli_kl,
    check_layer_merge,
)
from .minibatch_discrimination import L1KernelSum, MinibatchDiscrimination, MinibatchDiscriminator
from .optimal_batch_discriminator import batch_log_densities, mixing_log_prior, optimal_discriminator
from .train import Callback, History, adam, fit_adversarial

__all__ = [
    "ACTIVATIONS",
    "REDUCTIONS",
    "EquivariantConv2d",
    "EquivariantLinear",
    "L1KernelSum",
    "Maxout",
    "MinibatchDiscrimination",
    "MinibatchDiscriminator",
    "SymmetricDiscriminator",
    "batch_log_densities",
    "bernoulli_kl",
    "bgan_step",
    "check_layer_merge",
    "complementary_mixed_sets",
    "fit_bgan",
    "mix_batches",
    "mixing_log_prior",
    "optimal_discriminator",
]


def mix_batches(
    real: torch.Tensor,
    fake: torch.Tensor,
    gamma: float,
    generator: Optional[torch.Generator] = None,
    set_dim: int = 0,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mix a set of real and a set of generated samples (eq. 4.2, batch smoothing-``gamma``).

    For every set, a mixing ratio ``p*`` is drawn uniformly on ``[0, gamma] U [1 - gamma, 1]``
    (both halves equally likely), then ``beta ~ Bernoulli(p*)^B``; element ``b`` is real
    where ``beta_b = 1`` and generated where ``beta_b = 0``. ``gamma = 0`` gives pure
    batches (all real or all fake, each half of the time); ``gamma = 0.5`` gives ``p*``
    uniform on [0, 1].

    Args:
        real, fake: tensors of the same shape ``(*sets, B, *features)``.
        gamma: the batch-smoothing parameter, in [0, 0.5].
        generator: a ``torch.Generator`` for repeatable draws (on the tensors' device).
        set_dim: the axis of ``B``; the axes before it index independent sets (default 0:
            one set).

    Returns:
        ``(batch, beta)``: the mixed sets (same shape as ``real``) and the 0/1 mixing vectors
        (shape ``real.shape[:set_dim + 1]``, dtype of ``real``). The target of the
        discriminator is ``beta.mean(-1)``.
    """
    check_tensor(real, "real", finite=False, min_dim=1)
    check_tensor(fake, "fake", finite=False, min_dim=1)
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape; got {tuple(real.shape)} and {tuple(fake.shape)}")
    if check_nonnegative_int(set_dim, "set_dim") >= real.dim():
        raise ValueError(f"set_dim must be an int in [0, {real.dim() - 1}]; got {set_dim!r}")
    if real.shape[set_dim] == 0 or real.numel() == 0:
        raise ValueError(f"real and fake hold an empty batch (shape {tuple(real.shape)})")
    check_in_interval(gamma, "gamma", 0.0, 0.5)
    set_shape = real.shape[:set_dim]
    beta_shape = real.shape[: set_dim + 1]
    kwargs = dict(device=real.device, generator=generator)
    ratio = float(gamma) * torch.rand(set_shape, **kwargs)
    flip = torch.rand(set_shape, **kwargs) < 0.5
    ratio = torch.where(flip, 1.0 - ratio, ratio)
    beta = (torch.rand(beta_shape, **kwargs) < ratio.unsqueeze(-1)).to(real.dtype)
    mask = beta.reshape(*beta_shape, *([1] * (real.dim() - set_dim - 1)))
    return mask * real + (1 - mask) * fake, beta


def complementary_mixed_sets(
    real: torch.Tensor, fake: torch.Tensor, gamma: float, generator: Optional[torch.Generator] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Two mixed sets from one real and one fake batch: ``m_beta(x, x~)`` and ``m_{1-beta}(x, x~)``.

    The second set holds exactly the samples the first one left out (the thesis' remark
    after eq. 4.2), so no sample is wasted; with ``gamma = 0`` one set is all real and the
    other all fake.

    Args:
        real, fake: one set each, shape ``(B, *features)``.
        gamma: batch smoothing, in [0, 0.5] (see :func:`mix_batches`).

    Returns:
        ``(sets, targets)``: shape ``(2, B, *features)`` and the real fractions ``(2,)``.
    """
    first, beta = mix_batches(real, fake, gamma, generator=generator)
    mask = beta.reshape(-1, *([1] * (real.dim() - 1))).bool()
    second = torch.where(mask, fake, real)
    fraction = beta.mean()
    return torch.stack([first, second]), torch.stack([fraction, 1 - fraction])


def bgan_step(
    generator: nn.Module,
    discriminator: SymmetricDiscriminator,
    real_batches: Sequence[torch.Tensor],
    latent_dim: int,
    d_optimizer: torch.optim.Optimizer,
    g_optimizer: torch.optim.Optimizer,
    gamma: float = 0.5,
    rng: Optional[torch.Generator] = None,
) -> Dict[str, float]:
    """One training step of a batch GAN: one discriminator update per real batch, then one
    generator update.

    Every update turns a real batch and a fake batch of the same size into the two
    complementary mixed sets of :func:`complementary_mixed_sets`. The discriminator
    minimises the Bernoulli KL to the true real fraction (eq. 4.4 with the reduction of
    ``discriminator``); the generator minimises ``discriminator.generator_loss`` on fresh mixed
    sets: ``-log D`` (eq. 4.5) for BGAN, its per-element counterpart ``mean_b -log sigmoid(o_b)``
    for M-BGAN (the thesis leaves M-BGAN's generator loss implicit). Its gradient flows through
    the generated elements only.

    Returns:
        ``{"d_loss": ..., "g_loss": ...}`` (the last discriminator update's loss).
    """
    if not real_batches:
        raise ValueError("real_batches must hold at least one batch")
    device = real_batches[0].device
    discriminator.requires_grad_(True)
    for real in real_batches:
        with torch.no_grad():
            fake = generator(torch.randn(real.shape[0], latent_dim, device=device))
        sets, targets = complementary_mixed_sets(real, fake, gamma, generator=rng)
        d_loss = discriminator.loss(sets, targets)
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()
    discriminator.requires_grad_(False)  # the generator update leaves D's gradients alone
    real = real_batches[-1]
    fake = generator(torch.randn(real.shape[0], latent_dim, device=device))
    sets, _ = complementary_mixed_sets(real, fake, gamma, generator=rng)
    g_loss = discriminator.generator_loss(sets)
    g_optimizer.zero_grad(set_to_none=True)
    g_loss.backward()
    g_optimizer.step()
    discriminator.requires_grad_(True)
    return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach())}


def fit_bgan(
    gan: nn.Module,
    data: torch.Tensor,
    *,
    n_steps: int,
    batch_size: int,
    lr: float = 2e-4,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    betas: Tuple[float, float] = (0.5, 0.999),
    gamma: float = 0.5,
    n_disc: int = 1,
    log_every: int = 10,
    desc: str = "BGAN",
) -> History:
    """Train a batch GAN: ``n_steps`` calls of :func:`bgan_step` with Adam on both networks, in
    the package's alternating-update loop (:func:`companion.train.fit_adversarial`).

    Args:
        gan: a :class:`companion.gan.GAN` whose discriminator is a :class:`SymmetricDiscriminator`
            (its reduction makes it a BGAN or an M-BGAN) and whose generator makes flat vectors.
        data: the training examples, flattened to vectors ``(N, D)`` here.
        betas: Adam's.
        gamma: the mixing parameter of :func:`complementary_mixed_sets`.
        n_disc: discriminator updates (on fresh real batches) per generator update.
        n_steps, batch_size, lr, generator, callback, progress, log_every, desc: the package's fit keywords.

    Under ``torchrun`` the fit is not sharded: each real minibatch is one set, which the
    discriminator judges as a whole, so splitting it across processes would change the game;
    and the minibatches of one step are used one after the other. Every process runs the
    whole fit (the result of one process, without a speed-up).

    Returns:
        The :class:`~companion.train.History` of ``d_loss`` and ``g_loss``.
    """
    if not isinstance(getattr(gan, "discriminator", None), SymmetricDiscriminator):
        raise TypeError("gan must be a companion.gan.GAN with a SymmetricDiscriminator")
    check_positive_int(n_disc, "n_disc")
    g_opt = adam(gan.generator.parameters(), lr=lr, betas=betas)
    d_opt = adam(gan.discriminator.parameters(), lr=lr, betas=betas)
    gan.generator.train()
    return fit_adversarial(
        lambda real: bgan_step(gan.generator, gan.discriminator, real, gan.latent_dim, d_opt, g_opt, gamma=gamma),
        data.flatten(1), n_steps=n_steps, batch_size=batch_size, n_batches=n_disc, generator=generator,
        callback=callback, progress=progress, log_every=log_every, desc=desc,
        state={"model": gan, "g_opt": g_opt, "d_opt": d_opt})
