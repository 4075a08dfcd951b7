"""Mixed batches and permutation-invariant (symmetric) discriminators.

The discriminator of a batch GAN (Lucas et al., 2018; thesis chapter 4) looks at a whole
*set* of samples, some real and some generated, and predicts the fraction of real ones.
This module holds the pieces of that idea:

* :class:`EquivariantLinear` and :class:`EquivariantConv2d` — the permutation-equivariant
  layer ``phi(x)_b = x_b Lambda + rho(x) Gamma + c`` of eq. (4.12), where ``rho`` is the
  mean over the set, with the ``|B|/(|B|+1)`` and ``1/(|B|+1)`` re-weighting of Sec. 4.4.3
  (the activation is applied by the network that stacks the layers);
* :class:`SymmetricDiscriminator` — stacked equivariant layers whose per-element outputs
  ``o_b`` are reduced by the BGAN rule (average the logits, then the loss, eq. 4.13) or the
  M-BGAN rule (the loss of every element, then the average, eq. 4.14);
* :func:`mix_batches` — mixed batches with a mixing ratio ``p*`` uniform on
  ``[0, gamma] U [1 - gamma, 1]`` (batch smoothing; ``gamma = 0`` gives pure batches), and
  :func:`complementary_mixed_sets`, the pair ``m_beta``, ``m_{1-beta}`` that wastes no sample;
* :func:`bgan_step` — one training step of a batch GAN (BGAN or M-BGAN);
* :func:`bernoulli_kl` — the loss of eq. (4.3) between the true and the predicted ratio;
* :func:`optimal_discriminator` — the exact optimal discriminator ``D*(y)`` of eqs.
  (4.6)-(4.7), the posterior mean of the real fraction, for the uniform prior, any
  Beta(a, b) prior (Sec. 4.7) or batch smoothing with ``gamma``;
* :func:`batch_log_densities` — ``log p_balanced`` and ``log p_unbalanced`` (and their
  Beta(a, b) generalisations ``P(y)`` and ``Q(y)``) with ``D* = a / (a + b) * Q / P``;
* :class:`MinibatchDiscrimination` and :class:`MinibatchDiscriminator` — the baseline with
  hand-made batch statistics that Fig. 4.6 compares with (Salimans et al., 2016).

Shapes. A *set* (the thesis' batch) lies along one axis: dimension ``-2`` for vectors
``(..., B, features)`` and dimension ``-4`` for images ``(..., B, C, H, W)``; leading
dimensions index independent sets, which lets one forward pass treat many small sets.

Chapter: ``book/symmetric_discriminators.md``; its experiments: ``companion/experiments/symmetric_discriminators.py``.
"""

from __future__ import annotations

import itertools
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.nn import functional as F

from .checks import check_nonnegative_int, check_positive, check_positive_int
from .replicas import ensemble_container
from .train import Callback, History, fit_adversarial

__all__ = [
    "ACTIVATIONS",
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
    "fit_bgan",
    "complementary_mixed_sets",
    "check_layer_merge",
    "mix_batches",
    "mixing_log_prior",
    "optimal_discriminator",
]

REDUCTIONS = ("bgan", "mbgan")


def _check_tensor(x, name: str, min_dim: int) -> torch.Tensor:
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions; got shape {tuple(x.shape)}")
    return x


class EquivariantLinear(nn.Module):
    """The permutation-equivariant linear layer of eq. (4.12), for sets of vectors.

    For a set ``x = (x_1, ..., x_B)`` of row vectors (shape ``(..., B, in_features)``)::

        y_b = c + w_own * x_b Lambda + w_mix * rho(x) Gamma,    rho(x) = mean_b x_b,

    with ``w_own = B / (B + 1)`` and ``w_mix = 1 / (B + 1)`` (Sec. 4.4.3: at initialisation
    the set mean does not outweigh the element's own features), or ``w_own = w_mix = 1``
    with ``reweight=False``. Permuting the set permutes the outputs the same way; the
    set mean is the only interaction between elements.

    Args:
        in_features: size of each input vector.
        out_features: size of each output vector.
        bias: learn the bias ``c``.
        reweight: apply the ``B/(B+1)``, ``1/(B+1)`` weights.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, reweight: bool = True) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.reweight = bool(reweight)
        self.own = nn.Linear(in_features, out_features, bias=bias)  # Lambda (and c)
        self.mixing = nn.Linear(in_features, out_features, bias=False)  # Gamma

    def weights(self, set_size: int) -> Tuple[float, float]:
        """The factors ``(w_own, w_mix)`` applied to ``Lambda`` and ``Gamma`` for a set of this size."""
        if self.reweight:
            return set_size / (set_size + 1.0), 1.0 / (set_size + 1.0)
        return 1.0, 1.0

    def effective_weights(self, set_size: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(Lambda, Gamma, c)`` in the row-vector convention ``y_b = x_b Lambda + rho(x) Gamma + c``,
        with the re-weighting for a set of ``set_size`` elements folded in."""
        w_own, w_mix = self.weights(check_positive_int(set_size, "set_size"))
        bias = self.own.bias if self.own.bias is not None else self.own.weight.new_zeros(self.out_features)
        return w_own * self.own.weight.t(), w_mix * self.mixing.weight.t(), bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_tensor(x, "x", 2)
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"x must have shape (..., B, {self.in_features}); got {tuple(x.shape)}"
            )
        set_size = x.shape[-2]
        if set_size == 0:
            raise ValueError("x holds an empty set (B = 0)")
        w_own, w_mix = self.weights(set_size)
        # Scaling the (small) weight matrices is cheaper than scaling the outputs.
        own = F.linear(x, self.own.weight * w_own, self.own.bias)
        mixed = F.linear(x.mean(dim=-2, keepdim=True), self.mixing.weight * w_mix)
        return own + mixed

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, reweight={self.reweight}"


class EquivariantConv2d(nn.Module):
    """The permutation-equivariant layer of eq. (4.12) with convolutions (Sec. 4.4.3).

    For a set of images ``x`` of shape ``(B, C, H, W)`` (or ``(S, B, C, H, W)`` for ``S``
    independent sets)::

        y_b = w_own * conv(x_b, Lambda) + w_mix * conv(rho(x), Gamma) + c,

    where ``rho(x)`` is the mean image of the set. The second convolution runs on one
    image per set, so the layer costs little more than an ordinary convolution.

    Args:
        in_channels, out_channels, kernel_size, stride, padding: as in ``nn.Conv2d``
            (``padding=None`` keeps the size for odd kernels at stride 1).
        bias: learn the bias ``c``.
        reweight: apply the ``B/(B+1)``, ``1/(B+1)`` weights.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: Optional[int] = None,
        bias: bool = True,
        reweight: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_positive_int(kernel_size, "kernel_size")
        check_positive_int(stride, "stride")
        padding = kernel_size // 2 if padding is None else check_nonnegative_int(padding, "padding")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.reweight = bool(reweight)
        self.own = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.mixing = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)

    def weights(self, set_size: int) -> Tuple[float, float]:
        """The factors ``(w_own, w_mix)`` for a set of ``set_size`` images."""
        if self.reweight:
            return set_size / (set_size + 1.0), 1.0 / (set_size + 1.0)
        return 1.0, 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_tensor(x, "x", 4)
        if x.dim() > 5 or x.shape[-3] != self.in_channels:
            raise ValueError(
                f"x must have shape (B, {self.in_channels}, H, W) or (S, B, {self.in_channels}, H, W); "
                f"got {tuple(x.shape)}"
            )
        set_dim = x.dim() - 4
        set_size = x.shape[set_dim]
        if set_size == 0:
            raise ValueError("x holds an empty set (B = 0)")
        w_own, w_mix = self.weights(set_size)
        # Cheap on purpose: the bias rides on the small per-set term (so its gradient is
        # reduced once), and a sum with the 1/B folded into the weights replaces the mean.
        own = F.conv2d(x.flatten(0, set_dim), self.own.weight * w_own, None, self.own.stride, self.own.padding)
        mixed = F.conv2d(x.sum(dim=set_dim), self.mixing.weight * (w_mix / set_size), self.own.bias,
                         self.mixing.stride, self.mixing.padding)
        if set_dim == 0:
            return own + mixed  # (B, C, H, W) + (1, C, H, W)
        return own.view(*x.shape[:2], *own.shape[1:]) + mixed.unsqueeze(1)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.own.kernel_size}, reweight={self.reweight}"


class Maxout(nn.Module):
    """Maxout units: the maximum over groups of ``pieces`` consecutive features (pointwise)."""

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.pieces = check_positive_int(pieces, "pieces")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % self.pieces:
            raise ValueError(f"the last dimension ({x.shape[-1]}) must be a multiple of pieces={self.pieces}")
        return x.unflatten(-1, (x.shape[-1] // self.pieces, self.pieces)).amax(dim=-1)


ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "maxout")


def _activation(name: str, pieces: int = 1) -> nn.Module:
    table = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.1), "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
             "maxout": lambda: Maxout(pieces)}
    if name not in table:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {name!r}")
    return table[name]()


class SymmetricDiscriminator(nn.Module):
    """A batch discriminator invariant to the order of the set (eqs. 4.10, 4.13, 4.14).

    Stacked equivariant layers compute one logit ``o_b`` per element of the set; the
    elements interact through the set means of every layer. The prediction of the real
    fraction and the losses reduce the logits in one of two ways:

    * ``reduction="bgan"``: average the logits, then squash: ``D(y) = sigmoid(mean_b o_b)``
      and the loss is ``KL(Bern(t) || Bern(D(y)))`` (eq. 4.13);
    * ``reduction="mbgan"``: the loss of every element against the set's target, then the
      average: ``mean_b KL(Bern(t) || Bern(sigmoid(o_b)))`` (eq. 4.14); the prediction is
      ``mean_b sigmoid(o_b)``.

    Args:
        in_shape: the size of a vector (an int; layers are :class:`EquivariantLinear`) or the
            shape ``(C, H, W)`` of an image (layers are :class:`EquivariantConv2d`, each
            followed by a stride-2 one, then a linear read-out).
        hidden: widths of the hidden layers (vectors) or channels of the stages (images).
        reduction: ``"bgan"`` or ``"mbgan"``.
        activation: ``"relu"``, ``"leaky_relu"``, ``"sigmoid"``, ``"tanh"`` or ``"maxout"``
            (vectors only: each hidden unit is the maximum of ``maxout_pieces`` equivariant
            linear units, as in the PacGAN benchmark's discriminator).
        reweight: use the ``B/(B+1)``, ``1/(B+1)`` re-weighting in every layer.
        maxout_pieces: pieces per maxout unit.
    """

    def __init__(
        self,
        in_shape: Union[int, Sequence[int]],
        hidden: Sequence[int] = (128, 128, 128),
        reduction: str = "bgan",
        activation: str = "relu",
        reweight: bool = True,
        maxout_pieces: int = 5,
    ) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
        pieces = check_positive_int(maxout_pieces, "maxout_pieces") if activation == "maxout" else 1
        hidden = tuple(hidden)
        if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty sequence of positive ints; got {hidden!r}")
        self.reduction = reduction
        layers = []
        if isinstance(in_shape, int) and not isinstance(in_shape, bool):
            self.in_shape: Tuple[int, ...] = (check_positive_int(in_shape, "in_shape"),)
            width = in_shape
            for h in hidden:
                layers += [EquivariantLinear(width, h * pieces, reweight=reweight), _activation(activation, pieces)]
                width = h
            self.features = nn.Sequential(*layers)
            self.flat_features = width
        elif isinstance(in_shape, Sequence) and len(in_shape) == 3:
            if activation == "maxout":
                raise ValueError("activation='maxout' is for vector inputs; use another activation for images")
            self.in_shape = tuple(check_positive_int(s, "in_shape") for s in in_shape)
            channels, height, width = self.in_shape
            for h in hidden:
                layers += [EquivariantConv2d(channels, h, 3, reweight=reweight), _activation(activation),
                           EquivariantConv2d(h, h, 4, stride=2, padding=1, reweight=reweight), _activation(activation)]
                channels, height, width = h, height // 2, width // 2
            if height < 1 or width < 1:
                raise ValueError(f"in_shape {tuple(in_shape)} is too small for {len(hidden)} stride-2 stages")
            self.features = nn.Sequential(*layers)
            self.flat_features = channels * height * width
        else:
            raise ValueError(f"in_shape must be an int (vectors) or a (C, H, W) tuple (images); got {in_shape!r}")
        self.readout = EquivariantLinear(self.flat_features, 1, reweight=reweight)

    def _sets(self, x: torch.Tensor) -> torch.Tensor:
        _check_tensor(x, "x", len(self.in_shape) + 1)
        if tuple(x.shape[-len(self.in_shape):]) != self.in_shape:
            raise ValueError(f"x must have shape (..., B, {', '.join(map(str, self.in_shape))}); got {tuple(x.shape)}")
        if x.shape[-len(self.in_shape) - 1] == 0:
            raise ValueError("x holds an empty set (B = 0)")
        if len(self.in_shape) == 3 and x.dim() > 5:
            raise ValueError(f"image sets must have shape (B, C, H, W) or (S, B, C, H, W); got {tuple(x.shape)}")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The per-element logits ``o_b``, shape ``(..., B)`` (permutation-equivariant)."""
        x = self._sets(x)
        h = self.features(x)
        if len(self.in_shape) == 3:
            h = h.flatten(start_dim=-3)
        return self.readout(h).squeeze(-1)

    def predict_ratio(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted fraction of real elements ``D(y)``, shape ``(...)`` (permutation-invariant)."""
        logits = self(x)
        if self.reduction == "bgan":
            return torch.sigmoid(logits.mean(dim=-1))
        return torch.sigmoid(logits).mean(dim=-1)

    def loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The discriminator loss (eq. 4.4 with eq. 4.13 or 4.14), averaged over the sets.

        Args:
            x: sets, shape ``(..., B, *in_shape)``.
            target: the true fraction of real elements of each set, shape ``(...)``, in [0, 1].
        """
        logits = self(x)
        target = torch.as_tensor(target, dtype=logits.dtype, device=logits.device)
        if target.shape != logits.shape[:-1]:
            raise ValueError(
                f"target must have shape {tuple(logits.shape[:-1])} (one ratio per set); got {tuple(target.shape)}"
            )
        if self.reduction == "bgan":
            return bernoulli_kl(target, logits.mean(dim=-1)).mean()
        return bernoulli_kl(target.unsqueeze(-1).expand_as(logits), logits).mean()

    def generator_loss(self, x: torch.Tensor) -> torch.Tensor:
        """The non-saturating generator loss ``-log D`` of eq. (4.5), averaged over the sets."""
        logits = self(x)
        if self.reduction == "bgan":
            return F.softplus(-logits.mean(dim=-1)).mean()
        return F.softplus(-logits).mean()


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
    ``discriminator``); the generator minimises ``-log D`` on fresh mixed sets (eq. 4.5),
    whose gradient flows through the generated elements only.

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
    g_opt = torch.optim.Adam(gan.generator.parameters(), lr=lr, betas=betas)
    d_opt = torch.optim.Adam(gan.discriminator.parameters(), lr=lr, betas=betas)
    gan.generator.train()
    return fit_adversarial(
        lambda real: bgan_step(gan.generator, gan.discriminator, real, gan.latent_dim, d_opt, g_opt, gamma=gamma),
        data.flatten(1), n_steps=n_steps, batch_size=batch_size, n_batches=n_disc, generator=generator,
        callback=callback, progress=progress, log_every=log_every, desc=desc,
        state={"model": gan, "g_opt": g_opt, "d_opt": d_opt})


def bernoulli_kl(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``KL(Bern(u) || Bern(v))`` of eq. (4.3) with ``u = target`` and ``v = sigmoid(logits)``.

    Computed as the binary cross-entropy minus the entropy of ``Bern(u)``, which is stable
    for any logits and exactly zero when the prediction equals the target.

    Raises:
        ValueError: if ``target`` leaves [0, 1] or the shapes do not broadcast.
    """
    _check_tensor(logits, "logits", 0)
    target = torch.as_tensor(target, dtype=logits.dtype, device=logits.device)
    if target.numel() and (target.min() < 0 or target.max() > 1):
        raise ValueError("target must lie in [0, 1]")
    try:
        target, logits = torch.broadcast_tensors(target, logits)
    except RuntimeError as err:
        raise ValueError(f"target {tuple(target.shape)} and logits {tuple(logits.shape)} do not broadcast") from err
    cross_entropy = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    entropy = -(torch.special.xlogy(target, target) + torch.special.xlogy(1 - target, 1 - target))
    return cross_entropy - entropy


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
    _check_tensor(real, "real", 1)
    _check_tensor(fake, "fake", 1)
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape; got {tuple(real.shape)} and {tuple(fake.shape)}")
    if isinstance(set_dim, bool) or not isinstance(set_dim, int) or not 0 <= set_dim < real.dim():
        raise ValueError(f"set_dim must be an int in [0, {real.dim() - 1}]; got {set_dim!r}")
    if real.shape[set_dim] == 0 or real.numel() == 0:
        raise ValueError(f"real and fake hold an empty batch (shape {tuple(real.shape)})")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0.0 <= float(gamma) <= 0.5:
        raise ValueError(f"gamma must be a number in [0, 0.5]; got {gamma!r}")
    set_shape = real.shape[:set_dim]
    beta_shape = real.shape[: set_dim + 1]
    kwargs = dict(device=real.device, generator=generator)
    ratio = float(gamma) * torch.rand(set_shape, **kwargs)
    flip = torch.rand(set_shape, **kwargs) < 0.5
    ratio = torch.where(flip, 1.0 - ratio, ratio)
    beta = (torch.rand(beta_shape, **kwargs) < ratio.unsqueeze(-1)).to(real.dtype)
    mask = beta.reshape(*beta_shape, *([1] * (real.dim() - set_dim - 1)))
    return mask * real + (1 - mask) * fake, beta


def mixing_log_prior(
    batch_size: int, a: float = 1.0, b: float = 1.0, gamma: Optional[float] = None
) -> torch.Tensor:
    """``log P(beta)`` for one mixing vector with ``k`` ones, ``k = 0..B`` (float64, shape ``(B + 1,)``).

    With a Beta(a, b) prior on the ratio (Sec. 4.7, eq. 4.19),
    ``P(beta) = B(k + a, B - k + b) / B(a, b)``; with batch smoothing (``gamma`` given, ``p*``
    uniform on ``[0, gamma] U [1 - gamma, 1]``) the same integral runs over that set, which
    incomplete beta functions give in closed form. ``gamma = 0.5`` equals ``a = b = 1``.
    """
    check_positive_int(batch_size, "batch_size")
    k = torch.arange(batch_size + 1, dtype=torch.float64)
    if gamma is None:
        check_positive(a, "a"), check_positive(b, "b")
        return _log_beta(k + a, batch_size - k + b) - _log_beta(
            torch.tensor(float(a), dtype=torch.float64), torch.tensor(float(b), dtype=torch.float64)
        )
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0.0 <= float(gamma) <= 0.5:
        raise ValueError(f"gamma must be a number in [0, 0.5]; got {gamma!r}")
    if gamma == 0:  # p* is 0 or 1, each with probability 1/2
        prior = torch.full((batch_size + 1,), -math.inf, dtype=torch.float64)
        prior[0] = prior[-1] = math.log(0.5)
        return prior
    from scipy.special import betainc

    kk = k.numpy()
    lower = betainc(kk + 1, batch_size - kk + 1, gamma)  # mass of [0, gamma], regularised
    upper = betainc(batch_size - kk + 1, kk + 1, gamma)  # mass of [1 - gamma, 1], by symmetry
    total = torch.as_tensor(lower + upper, dtype=torch.float64)
    return _log_beta(k + 1, batch_size - k + 1) + torch.log(total) - math.log(2 * gamma)


def _log_beta(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.lgamma(x) + torch.lgamma(y) - torch.lgamma(x + y)


def _check_log_densities(log_p_real, log_p_fake) -> Tuple[torch.Tensor, torch.Tensor]:
    _check_tensor(log_p_real, "log_p_real", 1)
    _check_tensor(log_p_fake, "log_p_fake", 1)
    if log_p_real.shape != log_p_fake.shape:
        raise ValueError(
            f"log_p_real and log_p_fake must have the same shape (..., B); got "
            f"{tuple(log_p_real.shape)} and {tuple(log_p_fake.shape)}"
        )
    if log_p_real.shape[-1] == 0:
        raise ValueError("the batch is empty (B = 0)")
    if torch.isnan(log_p_real).any() or torch.isnan(log_p_fake).any():
        raise ValueError("log_p_real and log_p_fake must not contain NaN")
    return log_p_real.to(torch.float64), log_p_fake.to(torch.float64)


def _log_count_sums(log_p_real: torch.Tensor, log_p_fake: torch.Tensor, method: str) -> torch.Tensor:
    """``log sum_{beta: #beta = k} prod_b p1(y_b)^beta_b p2(y_b)^(1 - beta_b)`` for ``k = 0..B``."""
    batch_size = log_p_real.shape[-1]
    if method == "enumerate":
        betas = torch.tensor(list(itertools.product((0.0, 1.0), repeat=batch_size)), dtype=torch.float64,
                             device=log_p_real.device)  # (2^B, B)
        # select, not multiply: a log-density of -inf times a beta of 0 would be NaN
        terms = torch.where(betas.bool(), log_p_real.unsqueeze(-2), log_p_fake.unsqueeze(-2))
        log_terms = terms.sum(-1)  # (..., 2^B)
        counts = betas.sum(-1).long()
        out = torch.full(
            (*log_p_real.shape[:-1], batch_size + 1), -math.inf, dtype=torch.float64, device=log_p_real.device
        )
        for k in range(batch_size + 1):
            out[..., k] = torch.logsumexp(log_terms[..., counts == k], dim=-1)
        return out
    # Dynamic programming over the elements: S_k <- S_k p2(y_b) + S_{k-1} p1(y_b), in logs.
    out = torch.full((*log_p_real.shape[:-1], batch_size + 1), -math.inf, dtype=torch.float64, device=log_p_real.device)
    out[..., 0] = 0.0
    for i in range(batch_size):
        stay = out + log_p_fake[..., i : i + 1]
        move = torch.cat([torch.full_like(out[..., :1], -math.inf), out[..., :-1]], dim=-1) + log_p_real[..., i : i + 1]
        out = torch.logaddexp(stay, move)
    return out


def _resolve_method(method: str, batch_size: int) -> str:
    if method not in ("auto", "enumerate", "recursion"):
        raise ValueError(f"method must be 'auto', 'enumerate' or 'recursion'; got {method!r}")
    if method == "enumerate" and batch_size > 16:
        raise ValueError(f"method='enumerate' sums 2^B terms and is limited to B <= 16; got B = {batch_size}")
    if method == "auto":
        return "enumerate" if batch_size <= 8 else "recursion"
    return method


def optimal_discriminator(
    log_p_real: torch.Tensor,
    log_p_fake: torch.Tensor,
    a: float = 1.0,
    b: float = 1.0,
    gamma: Optional[float] = None,
    method: str = "auto",
) -> torch.Tensor:
    """The optimal batch discriminator ``D*(y) = E[#beta / B | y]`` (eqs. 4.6-4.7, 4.20-4.26).

    For a batch ``y = (y_1, ..., y_B)`` with ``log p1(y_b)`` (data) and ``log p2(y_b)``
    (generator) given, the posterior over the mixing vector is
    ``P(beta | y) ∝ prod_b p1(y_b)^beta_b p2(y_b)^(1 - beta_b) P(beta)``, and the minimiser
    of the expected Bernoulli KL (eq. 4.4) is the posterior mean of the real fraction.

    Args:
        log_p_real: ``log p1(y_b)``, shape ``(..., B)``.
        log_p_fake: ``log p2(y_b)``, same shape.
        a, b: the Beta(a, b) prior on the mixing ratio (``a = b = 1``: uniform, Prop. 1).
        gamma: if given, the batch-smoothing prior (``p*`` uniform on
            ``[0, gamma] U [1 - gamma, 1]``) replaces the Beta prior.
        method: ``"enumerate"`` sums over all ``2^B`` vectors ``beta`` (``B <= 16``),
            ``"recursion"`` groups them by ``#beta`` with an exact ``O(B^2)`` recursion;
            ``"auto"`` enumerates up to ``B = 8``.

    Returns:
        ``D*(y)``, shape ``(...)``, float64, invariant to permutations of the batch.
    """
    log_p_real, log_p_fake = _check_log_densities(log_p_real, log_p_fake)
    batch_size = log_p_real.shape[-1]
    method = _resolve_method(method, batch_size)
    log_prior = mixing_log_prior(batch_size, a, b, gamma).to(log_p_real.device)
    log_weights = _log_count_sums(log_p_real, log_p_fake, method) + log_prior  # log P(y, #beta = k)
    fraction = torch.arange(batch_size + 1, dtype=torch.float64, device=log_p_real.device) / batch_size
    posterior = torch.softmax(log_weights, dim=-1)
    return (posterior * fraction).sum(-1)


def batch_log_densities(
    log_p_real: torch.Tensor,
    log_p_fake: torch.Tensor,
    a: float = 1.0,
    b: float = 1.0,
    method: str = "auto",
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(log P(y), log Q(y))``: the two batch densities whose ratio is the optimal discriminator.

    ``P(y) = sum_beta P(y | beta) P(beta)`` is the density of mixed batches (eqs. 4.22-4.23)
    and ``Q(y) = sum_beta P(y | beta) Q(beta)`` with ``Q(beta) = (a + b) / a * #beta / B * P(beta)``
    (eqs. 4.24-4.25), so that ``D*(y) = a / (a + b) * Q(y) / P(y)`` (eq. 4.26). For ``a = b = 1``
    they are ``p_balanced`` and ``p_unbalanced`` of Prop. 1. Both integrate to one.

    Returns:
        Two float64 tensors of shape ``(...)``.
    """
    log_p_real, log_p_fake = _check_log_densities(log_p_real, log_p_fake)
    batch_size = log_p_real.shape[-1]
    method = _resolve_method(method, batch_size)
    log_prior = mixing_log_prior(batch_size, a, b).to(log_p_real.device)
    log_joint = _log_count_sums(log_p_real, log_p_fake, method) + log_prior
    k = torch.arange(batch_size + 1, dtype=torch.float64, device=log_p_real.device)
    log_q_factor = math.log((a + b) / a) + torch.log(k / batch_size)  # -inf at k = 0
    return torch.logsumexp(log_joint, dim=-1), torch.logsumexp(log_joint + log_q_factor, dim=-1)


def check_layer_merge(
    first: EquivariantLinear,
    second: EquivariantLinear,
    Lambda: torch.Tensor,
    Gamma: torch.Tensor,
    bias: torch.Tensor,
    set_size: int = 5,
    atol: float = 1e-5,
) -> bool:
    """Check an answer to the chapter's exercise: is ``second(first(x))`` one equivariant layer?

    Compares ``second(first(x))`` with ``x Lambda + rho(x) Gamma + bias`` (row vectors,
    re-weighting included) on random sets of ``set_size`` elements and prints the verdict.

    Returns:
        ``True`` if the answer is right (to ``atol``), else ``False``.
    """
    if not isinstance(first, EquivariantLinear) or not isinstance(second, EquivariantLinear):
        raise TypeError("first and second must be EquivariantLinear layers")
    if first.out_features != second.in_features:
        raise ValueError(f"first has {first.out_features} outputs but second has {second.in_features} inputs")
    check_positive_int(set_size, "set_size")
    shape = (first.in_features, second.out_features)
    for name, value, want in (("Lambda", Lambda, shape), ("Gamma", Gamma, shape), ("bias", bias, shape[1:])):
        _check_tensor(value, name, len(want))
        if tuple(value.shape) != want:
            print(f"Not yet: {name} must have shape {want}; yours has {tuple(value.shape)}.")
            return False
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x = torch.randn(3, set_size, first.in_features, generator=gen, dtype=Lambda.dtype)
        want = second(first(x.to(first.own.weight.dtype)))
        got = x @ Lambda + x.mean(-2, keepdim=True) @ Gamma + bias
        error = (want - got.to(want.dtype)).abs().max().item()
    ok = error <= atol
    print(
        "Correct: the two layers are one equivariant layer."
        if ok
        else f"Not yet: the largest difference is {error:.3g}."
    )
    return ok


# ----------------------------------------------------------------------------------------
# The baseline of Fig. 4.6: minibatch discrimination (Salimans et al., 2016, Sec. 3.2)
# ----------------------------------------------------------------------------------------


class L1KernelSum(nn.Module):
    """``m (..., N, kernels * kernel_dim) -> o (..., N, kernels)``, ``o_{i,b} = sum_j exp(-||m_{i,b} - m_{j,b}||_1)``.

    The parameter-free half of :class:`MinibatchDiscrimination` (the sum runs over dimension
    ``-2``, ``j = i`` included).
    """

    def __init__(self, kernels: int, kernel_dim: int) -> None:
        super().__init__()
        self.kernels = check_positive_int(kernels, "kernels")
        self.kernel_dim = check_positive_int(kernel_dim, "kernel_dim")

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        _check_tensor(m, "m", 2)
        if m.shape[-1] != self.kernels * self.kernel_dim:
            raise ValueError(f"m must have shape (..., N, {self.kernels * self.kernel_dim}); got {tuple(m.shape)}")
        m = m.unflatten(-1, (self.kernels, self.kernel_dim)).transpose(-2, -3)  # (..., B, N, C)
        l1 = torch.cdist(m, m, p=1.0)  # (..., B, N, N): ||M_i,b - M_j,b||_1, twice as fast as broadcasting
        return torch.exp(-l1).sum(-1).transpose(-1, -2)

    def extra_repr(self) -> str:
        return f"kernels={self.kernels}, kernel_dim={self.kernel_dim}"


@ensemble_container  # forward calls its children and acts on the last two axes, so replicas can stack it
class MinibatchDiscrimination(nn.Module):
    """The minibatch-discrimination layer of Salimans et al. (2016): batch statistics added to each sample's features.

    For features ``f_i`` (width ``A``) of the ``N`` samples of a minibatch, a learned tensor
    ``T`` of shape ``(A, kernels, kernel_dim)`` gives ``M_i = f_i T``, the closeness of two
    samples under kernel ``b`` is ``c_b(i, j) = exp(-||M_{i,b} - M_{j,b}||_1)`` and the layer
    returns ``[f_i, o_i]`` with ``o_{i,b} = sum_j c_b(i, j)`` (the sum runs over the whole
    minibatch, ``j = i`` included, as in the paper; that term adds the constant 1). A sample
    whose neighbours in the minibatch are all close gets large ``o_i``: a generator that
    collapses onto few points is easy to spot.

    Unlike a batch GAN's discriminator, the output is still one judgement per sample, and
    the statistic is fixed by hand (an L1 kernel), not learned. Real and generated samples
    are passed in separate minibatches, as in the paper.

    Args:
        in_features: ``A``, the width of the features.
        kernels: the number of kernels ``B``.
        kernel_dim: the width ``C`` of each kernel's projection.
        init_std: the standard deviation of ``T``'s normal initialisation.

    Shapes:
        ``(..., N, A) -> (..., N, A + kernels)``: the minibatch lies along dimension ``-2``,
        leading dimensions index independent minibatches.

    ``T`` is stored as the weight of a bias-free linear map (``projection.weight`` is ``T``
    flattened and transposed, ``(kernels * kernel_dim, A)``), so that
    :class:`~companion.replicas.Replicas` can stack it as a batched product.
    """

    def __init__(self, in_features: int, kernels: int = 16, kernel_dim: int = 4, init_std: float = 0.05) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.kernels = check_positive_int(kernels, "kernels")
        self.kernel_dim = check_positive_int(kernel_dim, "kernel_dim")
        check_positive(init_std, "init_std")
        self.projection = nn.Linear(self.in_features, self.kernels * self.kernel_dim, bias=False)
        nn.init.normal_(self.projection.weight, std=float(init_std))
        self.kernel = L1KernelSum(self.kernels, self.kernel_dim)

    @property
    def out_features(self) -> int:
        """The width of the output, ``in_features + kernels``."""
        return self.in_features + self.kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_tensor(x, "x", 2)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., N, {self.in_features}); got {tuple(x.shape)}")
        return torch.cat([x, self.kernel(self.projection(x))], dim=-1)

    def extra_repr(self) -> str:
        return f"{self.in_features}, kernels={self.kernels}, kernel_dim={self.kernel_dim}"


@ensemble_container
class MinibatchDiscriminator(nn.Module):
    """A pointwise discriminator with a minibatch-discrimination layer before its read-out.

    ``x (..., N, in_features) -> logits (..., N)``: an MLP of ``n_layers`` hidden layers of
    ``hidden`` units (leaky ReLU), then :class:`MinibatchDiscrimination` over the minibatch
    (dimension ``-2``), then a linear map to one logit per sample. It is trained with the
    ordinary GAN losses (:func:`companion.gan.discriminator_loss`), one call on the real
    minibatch and one on the generated one.
    """

    def __init__(self, in_features: int, hidden: int = 128, n_layers: int = 1, kernels: int = 16,
                 kernel_dim: int = 4) -> None:
        super().__init__()
        from .nets import MLP

        check_positive_int(in_features, "in_features")
        check_positive_int(hidden, "hidden")
        check_positive_int(n_layers, "n_layers")
        self.trunk = MLP(in_features, hidden, hidden, n_layers=n_layers - 1, activation="leaky_relu",
                         out_activation="leaky_relu")
        self.minibatch = MinibatchDiscrimination(hidden, kernels, kernel_dim)
        self.readout = nn.Linear(self.minibatch.out_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_tensor(x, "x", 2)
        return self.readout(self.minibatch(self.trunk(x))).squeeze(-1)
