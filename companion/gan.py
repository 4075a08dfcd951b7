"""Generative adversarial networks: losses, small networks, a training step and a trainer.

Two games are implemented:

* the **non-saturating** GAN (Goodfellow et al. 2014): the discriminator minimises
  ``E_real softplus(-D(x)) + E_fake softplus(D(G(z)))`` (the binary cross-entropy on logits)
  and the generator minimises ``E_fake softplus(-D(G(z)))`` (it maximises ``log D`` rather than
  minimising ``log(1 - D)``, which saturates early in training);
* **WGAN-GP** (Gulrajani et al. 2017): the critic minimises ``E_fake C - E_real C`` plus
  ``gp_weight`` times the two-sided penalty ``E (||grad C(x_hat)|| - 1)^2`` on random
  interpolates ``x_hat`` of real and fake points; the generator minimises ``-E_fake C``.

A :class:`GAN` pairs a generator with a discriminator and follows the package's protocol for
sample-only models: :meth:`GAN.sample` (there is no ``log_prob``). :func:`gan_step` is one
training step of either game; :func:`fit_gan` runs it with :func:`companion.train.train_loop`.

Chapter: ``book/preliminaries.md``; its experiments: ``companion/experiments/preliminaries.py``
(also used by the IML, ELBO-surgery, ADE and comparison chapters).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.nn import functional as F

from .checks import check_positive_int
from .distributed import batch_noise
from .nets import MLP, ConvDecoder, ConvEncoder, activation_layer, check_shape
from .replicas import ensemble_container
from .train import Callback, History, adam, fit_adversarial

__all__ = [
    "GAN",
    "LOSSES",
    "ConvDiscriminator",
    "ConvGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "discriminator_loss",
    "fit_gan",
    "gan_step",
    "generator_loss",
    "gradient_penalty",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
]

#: The games :func:`gan_step` knows.
LOSSES = ("ns", "wgan-gp")


def _check_scores(scores: torch.Tensor, name: str) -> torch.Tensor:
    if not torch.is_tensor(scores):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(scores).__name__}")
    if scores.dim() != 1 or scores.shape[0] == 0:
        raise ValueError(f"{name} must have shape (batch,) with batch >= 1; got {tuple(scores.shape)}")
    return scores


# -- losses ------------------------------------------------------------------------------------
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's cross-entropy: ``mean softplus(-real_logits) + mean softplus(fake_logits)``.

    Equal to ``-mean log D(x) - mean log(1 - D(G(z)))`` with ``D = sigmoid(logit)``; each
    argument has shape ``(batch,)`` (the two batches may differ in size).
    """
    _check_scores(real_logits, "real_logits")
    _check_scores(fake_logits, "fake_logits")
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``mean softplus(-fake_logits) = -mean log D(G(z))``."""
    _check_scores(fake_logits, "fake_logits")
    return F.softplus(-fake_logits).mean()


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN critic loss ``mean C(fake) - mean C(real)`` (without the gradient penalty)."""
    _check_scores(real_scores, "real_scores")
    _check_scores(fake_scores, "fake_scores")
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN generator loss ``-mean C(fake)``."""
    _check_scores(fake_scores, "fake_scores")
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """The two-sided gradient penalty ``mean_i (||grad_x C(x_hat_i)||_2 - 1)^2`` of WGAN-GP.

    ``x_hat_i = e_i real_i + (1 - e_i) fake_i`` with ``e_i ~ U(0, 1)`` per example. ``real`` and
    ``fake`` are detached (the penalty trains the critic only); the result keeps the graph
    through the critic's parameters (``create_graph=True``), so it can be back-propagated.

    Args:
        critic: maps a batch ``(batch, ...)`` to scores ``(batch,)``.
        real: real examples ``(batch, ...)``.
        fake: generated examples of the same shape.
        generator: a ``torch.Generator`` for the interpolation weights (a random-number
            generator, not the GAN's generator network).

    Returns:
        A scalar tensor (zero for a critic whose gradient has unit norm everywhere).
    """
    for value, name in ((real, "real"), (fake, "fake")):
        if not torch.is_tensor(value):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
        if not value.is_floating_point() or value.dim() < 2:
            raise ValueError(
                f"{name} must be a floating-point batch (batch, ...); got {value.dtype} {tuple(value.shape)}"
            )
        if not torch.isfinite(value).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape; got {tuple(real.shape)} and {tuple(fake.shape)}")
    real, fake = real.detach(), fake.detach()
    weights_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    # draw the weights on the random-number generator's device, then move them to the data
    rng_device = generator.device if generator is not None else real.device
    e = batch_noise(torch.rand, weights_shape, generator=generator, dtype=real.dtype, device=rng_device).to(real.device)
    x_hat = (e * real + (1 - e) * fake).requires_grad_(True)
    scores = critic(x_hat)
    _check_scores(scores, "critic(x_hat)")
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(dim=1)
    return (norms - 1.0).pow(2).mean()


# -- networks ----------------------------------------------------------------------------------
class MLPGenerator(nn.Module):
    """``z (batch, latent_dim) -> x (batch, *out_shape)`` through an :class:`~companion.nets.MLP`.

    Args:
        latent_dim: the dimension of the noise ``z``.
        out_shape: the shape of one sample, e.g. ``(2,)`` or ``(1, 8, 8)``.
        hidden, n_layers, activation: the MLP.
        out_activation: optional output activation (``"sigmoid"`` for data in ``[0, 1]``).
    """

    def __init__(
        self,
        latent_dim: int,
        out_shape: Sequence[int],
        hidden: Union[int, Sequence[int]] = 128,
        n_layers: Optional[int] = 3,
        activation: str = "relu",
        out_activation: Optional[str] = None,
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.out_shape = check_shape(out_shape, "out_shape")
        self.net = MLP(latent_dim, math.prod(self.out_shape), hidden, n_layers, activation, out_activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.net(z).view(z.shape[0], *self.out_shape)


@ensemble_container
class MLPDiscriminator(nn.Module):
    """``x (batch, *in_shape) -> logits (batch,)`` through an :class:`~companion.nets.MLP`.

    Any leading dimensions are kept (``(..., *in_shape) -> (...)``), so the replicas of
    :mod:`companion.replicas` stack it.

    Leaky ReLU by default (a common choice for discriminators: no dead units). ``dropout``
    adds dropout after every hidden activation (a regulariser for a discriminator that would
    otherwise memorise a small training set; active in ``train()`` mode only).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden: Union[int, Sequence[int]] = 128,
        n_layers: Optional[int] = 3,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_shape = check_shape(in_shape, "in_shape")
        self.net = MLP(math.prod(self.in_shape), 1, hidden, n_layers, activation, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        n_dims = len(self.in_shape)
        if x.dim() <= n_dims or tuple(x.shape[-n_dims:]) != self.in_shape:
            expected = ", ".join(map(str, self.in_shape))
            raise ValueError(f"expected inputs of shape (batch, {expected}); got {tuple(x.shape)}")
        return self.net(x.flatten(-n_dims)).squeeze(-1)


class ConvGenerator(nn.Module):
    """``z -> images (batch, C, H, W)`` with a :class:`~companion.nets.ConvDecoder`.

    ``out_activation`` defaults to ``"sigmoid"`` (the book's images lie in ``[0, 1]``).
    """

    def __init__(
        self,
        latent_dim: int,
        out_shape: Sequence[int],
        channels: Sequence[int] = (64, 32),
        activation: str = "relu",
        out_activation: Optional[str] = "sigmoid",
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.out_shape = check_shape(out_shape, "out_shape", image=True)
        self.net = ConvDecoder(latent_dim, self.out_shape, channels, activation=activation)
        self.out_activation = activation_layer(out_activation) if out_activation is not None else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.out_activation(self.net(z))


class ConvDiscriminator(nn.Module):
    """``images (batch, C, H, W) -> logits (batch,)`` with a :class:`~companion.nets.ConvEncoder`."""

    def __init__(
        self, in_shape: Sequence[int], channels: Sequence[int] = (32, 64), activation: str = "leaky_relu"
    ) -> None:
        super().__init__()
        self.in_shape = check_shape(in_shape, "in_shape", image=True)
        self.net = ConvEncoder(self.in_shape, 1, channels, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.net(x).squeeze(1)


# -- the model ---------------------------------------------------------------------------------
class GAN(nn.Module):
    """A generator ``G`` with noise ``z ~ N(0, I)`` and its discriminator (or critic) ``D``.

    Args:
        generator: a module mapping ``(batch, latent_dim)`` noise to samples.
        discriminator: a module mapping samples to scores ``(batch,)``.
        latent_dim: the noise dimension (default: ``generator.latent_dim``).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, latent_dim: Optional[int] = None) -> None:
        super().__init__()
        latent_dim = getattr(generator, "latent_dim", None) if latent_dim is None else latent_dim
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError("latent_dim must be a positive int (or an attribute latent_dim of the generator)")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim

    def _device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def sample_latent(self, n: int) -> torch.Tensor:
        """``n`` noise vectors ``z ~ N(0, I)`` on the generator's device."""
        check_positive_int(n, "n")
        # torchrun, sharded fit: this share's rows of the global batch's noise
        return batch_noise(torch.randn, (n, self.latent_dim), device=self._device())

    def generate(self, n: int) -> torch.Tensor:
        """``n`` samples ``G(z)`` *with* the graph to the generator (for training)."""
        return self.generator(self.sample_latent(n))

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` samples ``G(z), z ~ N(0, I)`` (no gradient)."""
        return self.generate(n)


# -- training ----------------------------------------------------------------------------------
def _default_gp_weight(loss: str, gp_weight: Optional[float]) -> float:
    if gp_weight is None:
        return 10.0 if loss == "wgan-gp" else 0.0
    if isinstance(gp_weight, bool) or not isinstance(gp_weight, (int, float)) or not gp_weight >= 0:
        raise ValueError(f"gp_weight must be a number >= 0; got {gp_weight!r}")
    return float(gp_weight)


def _discriminator_update(gan: GAN, real: torch.Tensor, d_optimizer: torch.optim.Optimizer, loss: str,
                          gp_weight: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """One discriminator update of :func:`gan_step` on ``real`` against fresh samples: ``(d_loss, gp)``."""
    if not torch.is_tensor(real) or real.dim() < 2 or not real.is_floating_point():
        raise ValueError("every real batch must be a floating-point tensor (batch, ...)")
    with torch.no_grad():
        fake = gan.generate(real.shape[0])
    real_scores, fake_scores = gan.discriminator(real), gan.discriminator(fake)
    if loss == "ns":
        d_loss = discriminator_loss(real_scores, fake_scores)
    else:
        d_loss = wasserstein_critic_loss(real_scores, fake_scores)
    gp = gradient_penalty(gan.discriminator, real, fake) if gp_weight > 0 else torch.zeros(())
    d_optimizer.zero_grad(set_to_none=True)
    (d_loss + gp_weight * gp).backward()
    d_optimizer.step()
    return d_loss, gp


def gan_step(
    gan: GAN,
    real_batch: Union[torch.Tensor, Sequence[torch.Tensor]],
    d_optimizer: torch.optim.Optimizer,
    g_optimizer: torch.optim.Optimizer,
    loss: str = "ns",
    n_critic: int = 1,
    gp_weight: Optional[float] = None,
) -> Dict[str, float]:
    """One training step: ``n_critic`` discriminator updates, then one generator update.

    Args:
        gan: the model.
        real_batch: a batch of real data, used for every discriminator update, or a sequence
            of ``n_critic`` batches (one per update).
        d_optimizer: optimizer of ``gan.discriminator``'s parameters.
        g_optimizer: optimizer of ``gan.generator``'s parameters.
        loss: ``"ns"`` (non-saturating) or ``"wgan-gp"``.
        n_critic: discriminator updates per generator update (5 is usual for WGAN-GP).
        gp_weight: weight of :func:`gradient_penalty` in the discriminator loss; ``None``
            means 10 for ``"wgan-gp"`` and 0 for ``"ns"`` (a positive value adds the same
            penalty to the non-saturating game, as in Lucas et al. 2019). On the 2-D toys a
            weight of 0.1 to 1 (Gulrajani et al. used 0.1 there) learns faster than 10.

    Returns:
        ``{"d_loss", "g_loss", "gp"}`` as floats (the last discriminator update's values).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}")
    check_positive_int(n_critic, "n_critic")
    weight = _default_gp_weight(loss, gp_weight)
    batches = [real_batch] * n_critic if torch.is_tensor(real_batch) else list(real_batch)
    if len(batches) != n_critic:
        raise ValueError(
            f"real_batch must be a tensor or a sequence of n_critic={n_critic} tensors; got {len(batches)}"
        )

    gan.discriminator.requires_grad_(True)
    for real in batches:
        d_loss, gp = _discriminator_update(gan, real, d_optimizer, loss, weight)

    # The generator step: freeze D so no gradient is accumulated in its parameters.
    gan.discriminator.requires_grad_(False)
    fake_scores = gan.discriminator(gan.generate(batches[-1].shape[0]))
    g_loss = generator_loss(fake_scores) if loss == "ns" else wasserstein_generator_loss(fake_scores)
    g_optimizer.zero_grad(set_to_none=True)
    g_loss.backward()
    g_optimizer.step()
    gan.discriminator.requires_grad_(True)
    return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach()), "gp": float(gp.detach())}


def _default_adam(player: nn.Module, loss: str, lr: Optional[float],
                  betas: Optional[Tuple[float, float]]) -> torch.optim.Optimizer:
    """Adam for one player of :func:`fit_gan`, with the game's default ``lr`` and ``betas`` where not given."""
    if lr is None:
        lr = 1e-3 if loss == "ns" else 1e-4
    if betas is None:
        betas = (0.5, 0.999) if loss == "ns" else (0.5, 0.9)
    return adam(player.parameters(), lr=lr, betas=betas)


def _check_fit_gan_arguments(gan: GAN, data: torch.Tensor, loss: str, state: Optional[Mapping[str, Any]]) -> None:
    """:func:`fit_gan`'s input checks: a :class:`GAN`, a known loss, finite floating-point data
    ``(N, ...)`` and a mapping (or None) for ``state``."""
    if not isinstance(gan, GAN):
        raise TypeError(f"gan must be a GAN; got {type(gan).__name__}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}")
    if not torch.is_tensor(data) or data.dim() < 2 or not data.is_floating_point():
        raise ValueError("data must be a floating-point tensor (N, ...)")
    if not torch.isfinite(data).all():
        raise ValueError("data contains NaN or infinite values")
    if state is not None and not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping of names to checkpointable objects; got {type(state).__name__}")


def fit_gan(
    gan: GAN,
    data: torch.Tensor,
    *,
    n_steps: int = 2000,
    batch_size: int = 128,
    lr: Optional[float] = None,
    d_optimizer: Optional[torch.optim.Optimizer] = None,
    g_optimizer: Optional[torch.optim.Optimizer] = None,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    loss: str = "ns",
    betas: Optional[Tuple[float, float]] = None,
    n_critic: int = 1,
    gp_weight: Optional[float] = None,
    log_every: int = 10,
    desc: str = "GAN",
    state: Optional[Mapping[str, Any]] = None,
) -> History:
    """Train ``gan`` on ``data`` for ``n_steps`` generator updates with :func:`gan_step`, in
    the package's alternating-update loop (:func:`companion.train.fit_adversarial`).

    Args:
        gan: the model (trained in place).
        data: real examples ``(N, ...)``; moved to the generator's device.
        n_steps: generator updates (each preceded by ``n_critic`` discriminator updates on
            fresh minibatches).
        lr, betas: Adam settings for both players when the optimizers are not given; default
            ``lr=1e-3, betas=(0.5, 0.999)`` for ``"ns"`` (the MLP GAN of the ring in 2,000 steps,
            about 20 s on one CPU core), ``lr=1e-4, betas=(0.5, 0.9)`` for ``"wgan-gp"``
            (Gulrajani et al. 2017; use ``n_critic=5``; it learns the ring more slowly).
        d_optimizer, g_optimizer: optimizers to use instead (one per player).
        loss, n_critic, gp_weight: see :func:`gan_step`.
        batch_size, generator, callback, progress, log_every, desc: the package's fit keywords.
        state: more objects the steps change (what ``callback`` updates, say a
            :class:`~companion.weight_average.WeightAverage`), checkpointed with the players and
            their optimizers (:func:`companion.train.train_loop`).

    Returns:
        The :class:`~companion.train.History` of ``d_loss``, ``g_loss`` and ``gp``.
    """
    _check_fit_gan_arguments(gan, data, loss, state)
    data = data.to(gan._device())
    if d_optimizer is None:
        d_optimizer = _default_adam(gan.discriminator, loss, lr, betas)
    if g_optimizer is None:
        g_optimizer = _default_adam(gan.generator, loss, lr, betas)
    gan.train()
    return fit_adversarial(
        lambda real: gan_step(gan, real, d_optimizer, g_optimizer, loss=loss, n_critic=n_critic, gp_weight=gp_weight),
        data, n_steps=n_steps, batch_size=batch_size, n_batches=n_critic, generator=generator, callback=callback,
        progress=progress, log_every=log_every, desc=desc, shard=True,  # torchrun: each process a share
        state={**(state or {}), "model": gan, "d_optimizer": d_optimizer, "g_optimizer": g_optimizer})
