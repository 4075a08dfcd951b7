"""Adaptive density estimation (Lucas, Shmelkov, Alahari, Schmid & Verbeek 2019; thesis ch. 5).

A latent variable model ``p_theta(h) = int N(h; mu_theta(z), sigma^2 I) N(z; 0, I) dz`` with a
factorised (isotropic) Gaussian decoder is fitted not to the images ``x`` but to *features*
``h = f_psi(x)`` of an invertible Real-NVP ``f_psi``. The change of variables gives a density
on images,

    log p_{theta,psi}(x) = log p_theta(f_psi(x)) + log |det d f_psi(x) / dx|,

and samples are ``f_psi^{-1}(mu_theta(z))``, ``z ~ N(0, I)``. Two losses train it:

* ``L_C`` (coverage, eq. 4): minus the ELBO of ``f_psi(x)`` minus the log-determinant, an
  upper bound on ``-log p_{theta,psi}(x)`` (maximum likelihood);
* ``L_Q`` (quality, eq. 5): ``-E_z[ln D(x~) - ln(1 - D(x~))] = -E_z[logit D(x~)]`` for
  samples ``x~`` of the model, with a discriminator ``D`` trained by the usual cross-entropy
  plus the gradient penalty (App. A.2: coefficient 100, one discriminator step per step).

:class:`ADE` knows the five models of the paper's ablation (Table 1), which differ in which
loss trains which part:

=========  =========  =======  =========  ==============================================
mode       ``f_psi``  ``L_Q``  ``L_C``    trained parameters
=========  =========  =======  =========  ==============================================
gan        no         yes      no         decoder, discriminator (then an inference network)
vae        no         no       yes        encoder, decoder, sigma
v-ade      yes        no       yes        encoder, decoder, sigma, flow
av-gde     no         yes      yes        encoder, decoder, sigma, discriminator
av-ade     yes        yes      yes        encoder, decoder, sigma, flow, discriminator
=========  =========  =======  =========  ==============================================

As in App. A.2 the flow is trained by ``L_C`` only (``adversarial_flow=False``); the
adversarial gradient still flows *through* ``f_psi^{-1}`` to the decoder. A GAN has no density;
as in Sec. 5 of the paper it gets one by training an inference network and ``sigma`` "around"
the frozen generator (:func:`fit_inference_network`), which gives a bits/dim upper bound.

Discrete images (``n_levels`` grey levels, stored as ``level / (n_levels - 1)`` like
:func:`companion.data.load` does) are dequantised to ``(level + u) / n_levels`` with
``u ~ U[0, 1)``; :meth:`ADE.log_prob` then bounds the log-probability of the *discrete* image
(the ``- D log n_levels`` of the change of units included), see
:func:`companion.metrics.continuous_to_discrete_nll`.

Chapter: ``book/adaptive_density.md``; its experiments: ``companion/experiments/adaptive_density*.py``.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .checks import check_in_interval, check_nonnegative, check_nonnegative_int, check_positive_int
from .distributed import batch_noise
from .flows import RealNVP
from .gan import MLPDiscriminator, discriminator_loss, gradient_penalty
from .metrics import bits_per_dim as _bits_per_dim
from .metrics import continuous_to_discrete_nll
from .nets import Dropout, check_shape
from .replicas import ensemble_container
from .train import Callback, History, fit_adversarial
from .vae import VAE

__all__ = [
    "ADE",
    "ADVERSARIAL_MODES",
    "FLOW_MODES",
    "MODES",
    "ResidualMLPDiscriminator",
    "ade_step",
    "build_ade",
    "fit_ade",
    "fit_inference_network",
    "inference_step",
]

#: The models of the ablation (Table 1 of the paper).
MODES = ("gan", "vae", "v-ade", "av-gde", "av-ade")
#: The modes with a flow ``f_psi``, and those whose generator ``L_Q`` trains (with a discriminator).
FLOW_MODES = ("v-ade", "av-ade")
ADVERSARIAL_MODES = ("gan", "av-gde", "av-ade")
_LIKELIHOOD = ("vae", "v-ade", "av-gde", "av-ade")

#: The paper's weight of the adversarial loss (App. A.2) and the dimension it was tuned for
#: (CIFAR-10, 3 x 32 x 32); ``L_C`` grows with the dimension, so we keep the ratio.
PAPER_ADV_WEIGHT = 100.0
PAPER_N_DIMS = 3 * 32 * 32


def _check_ade_parts(shape: Sequence[int], mode: str, vae: VAE, flow: Optional[RealNVP],
                     discriminator: Optional[nn.Module], n_levels: Optional[int]) -> Tuple[int, ...]:
    """The checks of :class:`ADE`'s constructor: the parts fit the mode and the shape; returns the shape."""
    shape = check_shape(shape)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    if n_levels is not None and (isinstance(n_levels, bool) or not isinstance(n_levels, int) or n_levels < 2):
        raise ValueError(f"n_levels must be None (continuous data) or an int >= 2; got {n_levels!r}")
    if not isinstance(vae, VAE) or vae.shape != shape or vae.likelihood != "gaussian":
        raise TypeError(f"vae must be a companion.vae.VAE with the Gaussian likelihood on shape {shape}")
    if (flow is not None) != (mode in FLOW_MODES):
        raise ValueError(f"mode {mode!r} {'needs' if mode in FLOW_MODES else 'takes no'} flow")
    if flow is not None and (not isinstance(flow, RealNVP) or flow.shape != shape):
        raise TypeError(f"flow must be a companion.flows.RealNVP on shape {shape}")
    if (discriminator is not None) != (mode in ADVERSARIAL_MODES):
        raise ValueError(f"mode {mode!r} {'needs' if mode in ADVERSARIAL_MODES else 'takes no'} discriminator")
    return shape


def _check_ade_data(x: torch.Tensor, shape: Tuple[int, ...], n_levels: Optional[int]) -> torch.Tensor:
    """See :meth:`ADE.check_data`."""
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor; got dtype {x.dtype}")
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"x must have shape (batch, {', '.join(map(str, shape))}); got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    if n_levels is not None:
        if x.min() < 0 or x.max() > 1:
            raise ValueError(
                f"x must lie in [0, 1] for discrete data; got values in [{x.min():.3g}, {x.max():.3g}]"
            )
        scaled = x * (n_levels - 1)
        if (scaled - scaled.round()).abs().max() > 1e-3:
            raise ValueError(f"x must hold the {n_levels} levels k / {n_levels - 1} "
                             "(as companion.data.load returns them); quantise it with companion.data.to_levels")
    return x


class ADE(nn.Module):
    """A VAE in the feature space of a Real-NVP ``f_psi``, with a discriminator (one of :data:`MODES`),
    built from its parts; :func:`build_ade` makes the default MLP parts.

    Args:
        shape: the shape of one example, ``(d,)`` or ``(C, H, W)``.
        mode: which model of the ablation (see the module docstring).
        vae: the VAE in feature space (:class:`~companion.vae.VAE` with the Gaussian
            likelihood; its learned ``log_scale`` is ``log sigma``).
        flow: the Real-NVP ``f_psi`` on ``shape``; required by the modes with a flow
            (``v-ade``, ``av-ade``), refused by the others.
        discriminator: a module mapping ``(batch, *shape)`` to logits ``(batch,)``; required by
            the adversarial modes (``gan``, ``av-gde``, ``av-ade``), refused by the others.
        n_levels: grey levels of discrete data (``x`` holds ``level / (n_levels - 1)``);
            ``None`` for continuous data (no dequantisation).
        adv_weight: the weight of ``L_Q`` against ``L_C``; ``None`` keeps the paper's 100 per
            3072 dimensions, ``100 * D / 3072``.
        gp_weight: the gradient-penalty coefficient (100 in the paper).
        adversarial_flow: let ``L_Q`` train ``f_psi`` too (the paper does not, App. A.2).
    """

    log_prob_is_bound = True

    def __init__(
        self,
        shape: Sequence[int],
        mode: str,
        vae: VAE,
        flow: Optional[RealNVP] = None,
        discriminator: Optional[nn.Module] = None,
        n_levels: Optional[int] = None,
        adv_weight: Optional[float] = None,
        gp_weight: float = 100.0,
        adversarial_flow: bool = False,
    ) -> None:
        super().__init__()
        self.shape = _check_ade_parts(shape, mode, vae, flow, discriminator, n_levels)
        self.mode = mode
        self.n_levels = n_levels
        self.n_dims = math.prod(self.shape)
        self.adv_weight = check_nonnegative(
            PAPER_ADV_WEIGHT * self.n_dims / PAPER_N_DIMS if adv_weight is None else adv_weight, "adv_weight")
        self.gp_weight = check_nonnegative(gp_weight, "gp_weight")
        self.adversarial_flow = bool(adversarial_flow)
        self.vae = vae
        self.flow: Optional[RealNVP] = flow
        self.discriminator: Optional[nn.Module] = discriminator

    # -- what the mode means -------------------------------------------------------------------
    @property
    def adversarial(self) -> bool:
        """Whether ``L_Q`` trains the generator."""
        return self.mode in ADVERSARIAL_MODES

    @property
    def likelihood_trained(self) -> bool:
        """Whether ``L_C`` trains the model (for ``gan`` only the inference network, afterwards)."""
        return self.mode in _LIKELIHOOD

    @property
    def log_sigma(self) -> torch.Tensor:
        """The learned ``log sigma`` of the isotropic Gaussian decoder (in feature units)."""
        return self.vae.log_scale

    def parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """The parameters by part: ``encoder``, ``decoder``, ``sigma``, ``flow``, ``discriminator``."""
        return {
            "encoder": list(self.vae.encoder.parameters()),
            "decoder": list(self.vae.decoder.parameters()),
            "sigma": [self.vae.log_scale],
            "flow": [] if self.flow is None else list(self.flow.parameters()),
            "discriminator": [] if self.discriminator is None else list(self.discriminator.parameters()),
        }

    def generator_parameters(self) -> List[nn.Parameter]:
        """Everything but the discriminator."""
        groups = self.parameter_groups()
        return groups["encoder"] + groups["decoder"] + groups["sigma"] + groups["flow"]

    def _device(self) -> torch.device:
        return self.vae.log_scale.device

    # -- data scales ---------------------------------------------------------------------------
    def check_data(self, x: torch.Tensor) -> torch.Tensor:
        """Validate a batch of data ``(batch, *shape)`` (on the level grid for discrete data)."""
        return _check_ade_data(x, self.shape, self.n_levels)

    def dequantize(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Data to the model's scale: ``(level + u) / n_levels``, ``u ~ U[0, 1)`` (identity if continuous),
        ``u`` drawn from ``generator`` (default: the default generator of ``x``'s device)."""
        self.check_data(x)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")
        if self.n_levels is None:
            return x
        levels = torch.round(x * (self.n_levels - 1))
        rng_device = levels.device if generator is None else generator.device
        u = batch_noise(torch.rand, levels.shape, dtype=levels.dtype, device=rng_device,
                        generator=generator).to(levels.device)  # torchrun: a share's rows
        return (levels + u) / self.n_levels

    def bin_centres(self, x: torch.Tensor) -> torch.Tensor:
        """Data to the model's scale without noise, ``(level + 1/2) / n_levels``."""
        self.check_data(x)
        if self.n_levels is None:
            return x
        return (torch.round(x * (self.n_levels - 1)) + 0.5) / self.n_levels

    def to_data_scale(self, y: torch.Tensor) -> torch.Tensor:
        """The model's scale back to the data's (``[0, 1]`` with levels at ``k / (n_levels - 1)``), clamped."""
        if self.n_levels is None:
            return y
        return ((y * self.n_levels - 0.5) / (self.n_levels - 1)).clamp(0.0, 1.0)

    # -- the model -----------------------------------------------------------------------------
    def features(self, y: torch.Tensor) -> tuple:
        """``h = f_psi(y)`` and ``log|det df/dy|`` per example (``y`` and zeros without a flow)."""
        if self.flow is None:
            return y, y.new_zeros(y.shape[0])
        return self.flow(y)

    def coverage_loss(self, y: torch.Tensor) -> torch.Tensor:
        """``L_C`` per example (eq. 4), for ``y`` on the model's scale: ``-ELBO(f(y)) - log|det|``."""
        h, logdet = self.features(y)
        return -(self.vae.elbo(h).elbo + logdet)

    def generate(self, n: int) -> torch.Tensor:
        """``n`` samples ``f_psi^{-1}(mu_theta(z))`` on the model's scale, *with* the graph (for ``L_Q``)."""
        check_positive_int(n, "n")
        z = batch_noise(torch.randn, (n, self.vae.latent_dim), device=self._device())  # torchrun: a share's rows
        mean = self.vae.decode(z)
        return mean if self.flow is None else self.flow.inverse(mean)

    def quality_loss(self, y_fake: torch.Tensor) -> torch.Tensor:
        """``L_Q`` (eq. 5): ``-mean[ln D - ln(1 - D)]`` = ``-mean logit D(y_fake)``."""
        if self.discriminator is None:
            raise RuntimeError(f"mode {self.mode!r} has no discriminator")
        return -self.discriminator(y_fake).mean()

    def log_density(self, y: torch.Tensor, n_samples: int = 100) -> torch.Tensor:
        """The importance-weighted bound on ``log p_{theta,psi}(y)`` on the model's (continuous) scale.

        The flow is deterministic, so the bound is the VAE's IWAE bound on ``f(y)`` plus the
        log-determinant (nats per example).
        """
        h, logdet = self.features(y)
        return self.vae.log_prob(h, n_samples=n_samples) + logdet

    def log_prob(self, x: torch.Tensor, n_samples: int = 100) -> torch.Tensor:
        """A lower bound on ``log P(x)`` per example, in nats.

        For discrete data it bounds the probability of the discrete image: one dequantisation
        ``y = (level + u) / n_levels`` and ``log p(y) - D log n_levels`` (in expectation over
        ``u`` and the importance samples a lower bound, Theis et al. 2016); for continuous data
        it bounds the density of ``x``. Wrap in ``torch.no_grad()`` for evaluation.
        """
        log_p = self.log_density(self.dequantize(x), n_samples)
        if self.n_levels is None:
            return log_p
        return -continuous_to_discrete_nll(-log_p, self.n_dims, self.n_levels, data_range=1.0)

    def bits_per_dim(self, x: torch.Tensor, n_samples: int = 100) -> torch.Tensor:
        """``-log_prob(x) / (D ln 2)`` per example: an upper bound on bits per dimension in expectation (over the
        dequantisation draw and the importance samples of :meth:`log_prob`)."""
        return _bits_per_dim(-self.log_prob(x, n_samples), self.n_dims)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` samples ``f_psi^{-1}(mu_theta(z))`` on the data's scale (no gradient, no decoder noise)."""
        return self.to_data_scale(self.generate(n))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions ``f_psi^{-1}(mu_theta(E[z | f_psi(x)]))`` on the data's scale (App. A.2.1).

        Each image is taken to the model's scale at its bin centres (no noise), encoded to the
        mean of ``q(z | f_psi(x))``, decoded to ``mu_theta`` and mapped back through
        ``f_psi^{-1}``. For ``gan`` the encoder is the inference network trained afterwards.
        """
        h, _ = self.features(self.bin_centres(x))
        mu, _ = self.vae.encode(h)
        mean = self.vae.decode(mu)
        return self.to_data_scale(mean if self.flow is None else self.flow.inverse(mean))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> "ADE":
        """Initialise the flow's ActNorm layers from a batch of data (a no-op without a flow)."""
        if self.flow is not None:
            self.flow.initialize(self.dequantize(x))
        return self


def build_ade(
    shape: Sequence[int],
    mode: str = "av-ade",
    latent_dim: int = 8,
    n_levels: Optional[int] = None,
    hidden: int = 128,
    n_layers: int = 2,
    flow_blocks: int = 2,
    flow_scales: int = 1,
    flow_hidden: Optional[int] = None,
    flow_layers: int = 2,
    disc_hidden: int = 128,
    disc_layers: int = 2,
    init_log_sigma: float = -2.0,
    disc_dropout: float = 0.0,
    **options: object,
) -> ADE:
    """An :class:`ADE` with the default parts: MLP VAE, Real-NVP (for the modes with a flow) and
    MLP discriminator (for the adversarial modes), built in that order.

    Args:
        hidden, n_layers: the MLP encoder and decoder of the VAE.
        flow_blocks, flow_scales, flow_hidden, flow_layers: the Real-NVP ``f_psi``
            (``n_blocks``, ``n_scales``, ``hidden``, ``n_layers`` of :class:`~companion.flows.RealNVP`).
        disc_hidden, disc_layers, disc_dropout: the MLP discriminator (``disc_dropout``: see
            :class:`~companion.gan.MLPDiscriminator`).
        init_log_sigma: initial ``log sigma`` of the isotropic decoder noise.
        shape, mode, n_levels, **options (``adv_weight``, ``gp_weight``, ``adversarial_flow``): see :class:`ADE`.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    shape = check_shape(shape)
    vae = VAE(shape, latent_dim, likelihood="gaussian", architecture="mlp", hidden=hidden, n_layers=n_layers,
              init_log_scale=float(init_log_sigma))
    flow = None
    if mode in FLOW_MODES:
        flow = RealNVP(shape, n_blocks=flow_blocks, hidden=flow_hidden, n_layers=flow_layers, n_scales=flow_scales)
    discriminator = (
        MLPDiscriminator(shape, hidden=disc_hidden, n_layers=disc_layers, dropout=disc_dropout)
        if mode in ADVERSARIAL_MODES else None
    )
    return ADE(shape, mode, vae, flow, discriminator, n_levels=n_levels, **options)


@ensemble_container
class ResidualMLPDiscriminator(nn.Module):
    """An MLP discriminator with residual blocks, the book's stand-in for the (rd) refinement.

    Table 5.2 of the thesis replaces the plain convolutional discriminator by a residual one
    (ResBlocks with ReLU, Table A.1, after Gulrajani et al. 2017). On flattened 8x8 digits the
    same idea is a linear map to ``hidden`` units followed by ``n_blocks`` blocks
    ``h + W_2 relu(W_1 relu(h))`` and a linear read-out to one logit. Any leading dimensions are
    kept (``(..., *in_shape) -> (...)``), so the replicas of :mod:`companion.replicas` stack it.

    Args:
        in_shape: the shape of one example.
        hidden: the width of the residual stream.
        n_blocks: residual blocks.
        dropout: the probability of a :class:`~companion.nets.Dropout` after every ReLU (0: none), as in
            :class:`~companion.gan.MLPDiscriminator`.
    """

    def __init__(self, in_shape: Sequence[int], hidden: int = 128, n_blocks: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_shape = check_shape(in_shape, "in_shape")
        check_positive_int(hidden, "hidden")
        check_positive_int(n_blocks, "n_blocks")
        dropout = check_in_interval(dropout, "dropout", 0.0, 0.99)

        def relu() -> List[nn.Module]:
            return [nn.ReLU(), Dropout(dropout)] if dropout > 0 else [nn.ReLU()]

        self.stem = nn.Linear(math.prod(self.in_shape), hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(*relu(), nn.Linear(hidden, hidden), *relu(), nn.Linear(hidden, hidden))
            for _ in range(n_blocks))
        self.head = nn.Sequential(*relu(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        n_dims = len(self.in_shape)
        if x.dim() <= n_dims or tuple(x.shape[-n_dims:]) != self.in_shape:
            raise ValueError(f"expected inputs of shape (batch, {', '.join(map(str, self.in_shape))}); "
                             f"got {tuple(x.shape)}")
        h = self.stem(x.flatten(-n_dims))
        for block in self.blocks:
            h = h + block(h)
        return self.head(h).squeeze(-1)


# -- training (App. A.3) -----------------------------------------------------------------------
def ade_step(
    model: ADE,
    x: torch.Tensor,
    gen_optimizer: torch.optim.Optimizer,
    disc_optimizer: Optional[torch.optim.Optimizer] = None,
) -> Dict[str, torch.Tensor]:
    """One step of coverage- and quality-driven training (Algorithm 1 of App. A.3).

    1. (adversarial modes) one discriminator step on real images, dequantised like the
       ones ``L_C`` sees (bin centres would be a lattice cue: the samples are continuous), against
       samples ``f^{-1}(mu(z))``: cross-entropy plus ``gp_weight`` times the gradient penalty;
    2. one generator step on ``L_C`` (likelihood modes, on dequantised images) plus
       ``adv_weight * L_Q`` (adversarial modes). ``L_Q``'s gradient is computed for the generator
       only: not for the discriminator, and, unless ``model.adversarial_flow``, not for the flow,
       so ``f_psi`` is trained by ``L_C`` alone.

    Returns:
        Batch means: ``loss`` (the generator's), ``L_C``, ``L_Q``, ``disc_loss``, ``sigma`` (those that apply).
    """
    if not isinstance(model, ADE):
        raise TypeError(f"model must be an ADE; got {type(model).__name__}")
    if model.adversarial and disc_optimizer is None:
        raise ValueError(f"mode {model.mode!r} is adversarial and needs a disc_optimizer")
    model.check_data(x)
    out: Dict[str, torch.Tensor] = {}
    if model.adversarial:
        real = model.dequantize(x)  # continuous, like the samples: the lattice is no cue
        fake = model.generate(x.shape[0])
        disc = model.discriminator
        d_loss = discriminator_loss(disc(real), disc(fake.detach()))
        penalty = gradient_penalty(disc, real, fake)
        disc_optimizer.zero_grad(set_to_none=True)
        (d_loss + model.gp_weight * penalty).backward()
        disc_optimizer.step()
        out["disc_loss"] = d_loss.detach()
    gen_optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=x.device)
    if model.adversarial:
        l_q = model.quality_loss(fake)
        # L_Q's gradient goes to the generator alone, and to f_psi only if adversarial_flow (App. A.2: else
        # f_psi is trained by the likelihood alone); the discriminator's would be cleared before its next step.
        # Not computing them is the same update, sooner.
        groups = model.parameter_groups()
        trained_by_l_q = groups["encoder"] + groups["decoder"] + groups["sigma"]
        if model.adversarial_flow:
            trained_by_l_q += groups["flow"]
        (model.adv_weight * l_q).backward(inputs=trained_by_l_q)
        total = total + model.adv_weight * l_q.detach()
        out["L_Q"] = l_q.detach()
    if model.likelihood_trained:
        l_c = model.coverage_loss(model.dequantize(x)).mean()
        l_c.backward()
        total = total + l_c.detach()
        out["L_C"] = l_c.detach()
    gen_optimizer.step()
    out["sigma"] = model.log_sigma.detach().exp()
    return {"loss": total, **out}


def inference_step(model: ADE, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> Dict[str, torch.Tensor]:
    """One step of ``L_C`` for the inference network and ``sigma`` only (the generator is frozen).

    ``optimizer`` must hold the encoder's parameters and ``log_sigma`` (see
    :func:`fit_inference_network`); gradients of the other parts are discarded.
    """
    if not isinstance(model, ADE):
        raise TypeError(f"model must be an ADE; got {type(model).__name__}")
    model.check_data(x)
    optimizer.zero_grad(set_to_none=True)
    l_c = model.coverage_loss(model.dequantize(x)).mean()
    l_c.backward()
    optimizer.step()
    model.zero_grad(set_to_none=True)
    return {"L_C": l_c.detach(), "sigma": model.log_sigma.detach().exp()}


def _adamax(params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    # App. A.2; the multi-tensor form: the same numbers as the per-parameter loop, in fewer calls
    return torch.optim.Adamax(params, lr=lr, betas=(0.9, 0.999), foreach=True)


def fit_ade(
    model: ADE,
    data: torch.Tensor,
    *,
    n_steps: int = 1000,
    batch_size: int = 64,
    lr: float = 2e-3,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    n_inference_steps: Optional[int] = None,
    log_every: int = 10,
    desc: Optional[str] = None,
) -> History:
    """Train ``model`` on ``data`` with :func:`ade_step` (Adamax, App. A.2) in the package's
    alternating-update loop (:func:`companion.train.fit_adversarial`).

    For ``mode="gan"`` the generator is then frozen and an inference network and ``sigma`` are
    trained around it for ``n_inference_steps`` (default ``n_steps``) steps, so that the GAN
    gets a likelihood bound (:func:`fit_inference_network`).

    Returns:
        The :class:`~companion.train.History` (the inference phase's series are prefixed ``inference_``).
    """
    if not isinstance(model, ADE):
        raise TypeError(f"model must be an ADE; got {type(model).__name__}")
    model.check_data(data)
    check_positive_int(batch_size, "batch_size")
    data = data.to(model._device())
    model.initialize(data[: min(len(data), 512)])
    gen_opt = _adamax(model.generator_parameters(), lr)
    disc_opt = _adamax(model.discriminator.parameters(), lr) if model.discriminator is not None else None
    model.train()
    state = {"model": model, "gen_opt": gen_opt}
    if disc_opt is not None:
        state["disc_opt"] = disc_opt
    history = fit_adversarial(lambda real: ade_step(model, real[0], gen_opt, disc_opt), data, n_steps=n_steps,
                              batch_size=batch_size, generator=generator, callback=callback, progress=progress,
                              log_every=log_every, desc=desc or f"ADE ({model.mode})", state=state,
                              shard=True)  # torchrun: each process a share of every batch
    if model.mode == "gan":
        n_inf = n_steps if n_inference_steps is None else n_inference_steps
        fit_inference_network(model, data, n_steps=n_inf, batch_size=batch_size, lr=lr, generator=generator,
                              progress=progress, log_every=log_every, history=history)
    return history


def fit_inference_network(
    model: ADE,
    data: torch.Tensor,
    *,
    n_steps: int,
    batch_size: int = 64,
    lr: float = 2e-3,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    log_every: int = 10,
    history: Optional[History] = None,
) -> History:
    """Train the encoder and ``sigma`` by ``L_C`` around a frozen generator (Sec. 5 of the paper).

    This turns a GAN (a decoder ``mu_theta``) into a latent variable model with a density
    and gives it a bits/dim upper bound. Records ``inference_L_C`` and ``inference_sigma``
    (appended to ``history`` when given).
    """
    if not isinstance(model, ADE):
        raise TypeError(f"model must be an ADE; got {type(model).__name__}")
    check_nonnegative_int(n_steps, "n_steps")
    model.check_data(data)
    data = data.to(model._device())
    groups = model.parameter_groups()
    optimizer = _adamax(groups["encoder"] + groups["sigma"], lr)
    model.train()

    def step(real: List[torch.Tensor]) -> Dict[str, torch.Tensor]:
        values = inference_step(model, real[0], optimizer)
        return {f"inference_{k}": v for k, v in values.items()}

    return fit_adversarial(step, data, n_steps=n_steps, batch_size=batch_size, generator=generator, callback=callback,
                           progress=progress, log_every=log_every, desc="inference network", history=history,
                           state={"model": model, "optimizer": optimizer}, shard=True)  # torchrun: shares
