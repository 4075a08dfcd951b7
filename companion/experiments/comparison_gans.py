"""The GANs of the comparison chapter (GAN, BGAN and M-BGAN), their players, and :func:`fit_gans`,
which trains every seed of one at once (used by :mod:`companion.experiments.comparison`, which
scores them, and by :func:`companion.experiments.comparison_models.fit_model`, which fits one seed
of any model).

On images and vectors the MLP players of the chapter's recipe train as replicas (:func:`_train_gan_replicas`),
the sweeps' convolutional ones one seed after the other in the package's plain loops (:func:`_fit_gan`,
:func:`_fit_bgan`); on the 2-D toys the seeds train as replicas with the PacGAN recipe of the
symmetric-discriminators chapter (:func:`fit_toy_gans`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Dict, List, Tuple

import torch
from torch import nn

import companion
from companion.experiments.comparison_data import (
    DISPLAY_NAMES,
    GAN_MODELS,
    DatasetSpec,
    FittedModel,
    _device_of,
    _likelihood_how,
)
from companion.experiments.symmetric_mode_coverage import ModeCoverageConfig as Recipe
from companion.experiments.symmetric_replicas import replica_gan_step, replica_mixer
from companion.experiments.symmetric_toys import _train_toy_replicas
from companion.gan import GAN, ConvDiscriminator, ConvGenerator, MLPDiscriminator, MLPGenerator, fit_gan
from companion.nets import remove_spectral_norm, spectral_normalise
from companion.replicas import Replicas, StackedMinibatches, stacked_randn
from companion.symmetric import SymmetricDiscriminator, complementary_mixed_sets, fit_bgan
from companion.train import adam, train_loop

if TYPE_CHECKING:  # only the type: the settings are read, never built, here
    from companion.experiments.comparison_configs import ComparisonConfig


class _PatchToImage(nn.Module):
    """63-dim patch vectors to ``(1, 8, 8)`` maps: the dropped pixel is minus the sum of the others."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.cat([x, -x.sum(1, keepdim=True)], 1).view(-1, 1, 8, 8)


class _ImageToPatch(nn.Module):
    """``(1, 8, 8)`` maps to 63-dim patch vectors, as the patches were made: mean removed, last pixel dropped."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        flat = x.flatten(1)
        return (flat - flat.mean(1, keepdim=True))[:, :-1]


def _patch_grid(spec: DatasetSpec) -> bool:
    """Whether ``spec`` holds 63-dim vectors of 8x8 patches (mean removed, one pixel dropped)."""
    return spec.family == "vectors" and spec.n_dims == 63


def _generator(spec: DatasetSpec, cfg: ComparisonConfig, flat: bool = False) -> nn.Module:
    """The GANs' generator: an MLP, or with ``gan_generator="conv"`` a small convolutional one
    (:class:`companion.gan.ConvGenerator`; on patches it draws an 8x8 map, made a patch vector)."""
    out_activation = "sigmoid" if spec.discrete else None  # images lie in [0, 1]
    if cfg.gan_generator == "conv":
        if _patch_grid(spec):
            gen = nn.Sequential(ConvGenerator(cfg.gan_latent_dim, (1, 8, 8), cfg.gan_conv_channels,
                                              out_activation=None), _ImageToPatch())
        else:
            gen = ConvGenerator(cfg.gan_latent_dim, spec.shape, cfg.gan_conv_channels, out_activation=out_activation)
            gen = nn.Sequential(gen, nn.Flatten()) if flat else gen
        gen.latent_dim = cfg.gan_latent_dim
        return gen
    shape = (spec.n_dims,) if flat else spec.shape
    return MLPGenerator(cfg.gan_latent_dim, shape, hidden=cfg.gan_hidden, n_layers=cfg.gan_layers,
                        out_activation=out_activation)


def _discriminator(spec: DatasetSpec, cfg: ComparisonConfig) -> nn.Module:
    """The GAN's pointwise discriminator: an MLP, or with ``gan_discriminator="conv"`` a small
    convolutional one (:class:`companion.gan.ConvDiscriminator`; on patches it sees the 8x8 map)."""
    if cfg.gan_discriminator == "conv":
        if _patch_grid(spec):
            disc = nn.Sequential(_PatchToImage(), ConvDiscriminator((1, 8, 8), cfg.gan_disc_conv_channels))
        else:
            disc = ConvDiscriminator(spec.shape, cfg.gan_disc_conv_channels)
    else:
        disc = MLPDiscriminator(spec.shape, hidden=cfg.gan_disc_hidden, n_layers=cfg.gan_layers)
    return spectral_normalise(disc) if cfg.gan_spectral_norm else disc


def _replicated_players(cfg: ComparisonConfig) -> bool:
    """Whether the GANs of images and vectors train as replicas: with MLP players (the chapter's recipe);
    the convolutional ones of the sweeps (``gan_generator``/``gan_discriminator`` ``"conv"``) train one seed
    at a time."""
    return cfg.gan_generator == "mlp" and cfg.gan_discriminator == "mlp"


def _replica_discriminator(model: str, spec: DatasetSpec, cfg: ComparisonConfig) -> nn.Module:
    """One seed's discriminator as the replicas stack it: the GAN's MLP on flat examples (a logit per
    example), or BGAN's and M-BGAN's set discriminator; spectrally normalised with ``gan_spectral_norm``."""
    if model == "gan":  # the MLP of MLPDiscriminator, its (..., 1) logits flattened to (...,)
        disc: nn.Module = nn.Sequential(MLPDiscriminator(spec.shape, hidden=cfg.gan_disc_hidden,
                                                         n_layers=cfg.gan_layers).net, nn.Flatten(-2))
    else:
        disc = SymmetricDiscriminator(spec.n_dims, (cfg.gan_disc_hidden,) * cfg.gan_layers,
                                      reduction="bgan" if model == "bgan" else "mbgan", activation="leaky_relu")
    return spectral_normalise(disc) if cfg.gan_spectral_norm else disc


def _train_gan_replicas(model: str, train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig,
                        seeds: Tuple[int, ...]) -> Tuple:
    """Every seed of a GAN, BGAN or M-BGAN of images or vectors at once (:class:`companion.replicas.Replicas`):
    ``gan_steps`` steps of one discriminator update and one generator update on minibatches of
    ``batch_size``, Adam with ``gan_lr`` and ``gan_betas`` for both players. The GAN plays the
    non-saturating game on single examples; BGAN and M-BGAN judge each minibatch as one set, mixed with
    its generated batch and complemented (:func:`companion.symmetric.complementary_mixed_sets`, mixing
    parameter ``bgan_gamma``). Replica j draws its weights, minibatches, noise and mixing from seed
    ``seeds[j]`` alone, so it is the run with that seed whatever the other replicas are.

    Returns the generator replicas (flat examples) and the discriminator replicas.
    """
    dev = train.device
    discs = Replicas(lambda: _replica_discriminator(model, spec, cfg), seeds, device=dev)
    gens = Replicas(lambda: _generator(spec, cfg, flat=True).net, seeds, device=dev)
    noise = gens.continuation_generators()  # each seed's stream after building its generator
    betas = tuple(cfg.gan_betas)
    d_opt = adam(discs.parameters(), lr=cfg.gan_lr, betas=betas)
    g_opt = adam(gens.parameters(), lr=cfg.gan_lr, betas=betas)
    batches = StackedMinibatches(train.flatten(1), cfg.batch_size, [torch.Generator().manual_seed(s) for s in seeds])
    gamma = cfg.bgan_gamma
    mix = replica_mixer(lambda real, fake, rng: complementary_mixed_sets(real, fake, gamma, generator=rng),
                        [torch.Generator(device=dev).manual_seed(s) for s in seeds])
    reduction = {"gan": None, "bgan": "bgan", "m-bgan": "mbgan"}[model]

    def step(i: int) -> Dict[str, torch.Tensor]:
        d_loss, g_loss = replica_gan_step(gens, discs, g_opt, d_opt, next(batches), lambda: stacked_randn(
            noise, cfg.batch_size, cfg.gan_latent_dim, device=dev), mix, reduction)
        return {"d_loss": d_loss.mean().detach(), "g_loss": g_loss.mean().detach()}

    train_loop(step, cfg.gan_steps, desc=f"{DISPLAY_NAMES[model]} x{len(seeds)}", log_every=10)
    return gens, discs


def _fit_gans_as_replicas(model: str, train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig,
                          seeds: Tuple[int, ...]) -> List[FittedModel]:
    """:func:`_train_gan_replicas`, each replica made a :class:`companion.gan.GAN` whose discriminator has
    plain layers with the normalised weights (so that the fit pickles); ``seconds`` is each seed's share."""
    start = time.perf_counter()
    gens, discs = _train_gan_replicas(model, train, spec, cfg, seeds)
    seconds = (time.perf_counter() - start) / len(seeds)
    fitted = []
    for j in range(len(seeds)):
        gen = MLPGenerator(cfg.gan_latent_dim, spec.shape, hidden=cfg.gan_hidden, n_layers=cfg.gan_layers,
                           out_activation="sigmoid" if spec.discrete else None)
        gen.net = gens.module(j)  # the same MLP, its flat output shaped as the examples
        # a fresh module for the trained weights: PyTorch's parametrised layers share their class with every
        # copy of them (Replicas.module copies its template), and removing a normalisation edits that class
        disc = _replica_discriminator(model, spec, cfg).to(train.device)
        disc.load_state_dict(discs.module(j).state_dict())
        remove_spectral_norm(disc)
        gan = GAN(gen, disc[0] if model == "gan" else disc, cfg.gan_latent_dim).eval()
        fitted.append(FittedModel(model, gan, gan.sample, None, "none", _likelihood_how(model, spec), seconds=seconds))
    return fitted


def fit_gans(model: str, train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig) -> List[FittedModel]:
    """Fit ``model`` (one of :data:`GAN_MODELS`) with each seed ``cfg.seed .. cfg.seed + cfg.n_seeds - 1``.

    On the toys every seed trains at once with the PacGAN recipe (:func:`fit_toy_gans`); on images and
    vectors with MLP players too, as replicas (:func:`_train_gan_replicas`); with the sweeps'
    convolutional players one seed after the other. Replica j is the run with seed ``cfg.seed + j`` on
    its own (it draws from that seed alone), so one seed's fit is the same however many are trained with it.

    Returns:
        One fitted model per seed, in order; ``seconds`` is each seed's share of the training time.

    Raises:
        ValueError: if ``model`` is not a GAN, or ``train`` is not a tensor of the dataset's shape.
    """
    if model not in GAN_MODELS:
        raise ValueError(f"model must be one of {GAN_MODELS}; got {model!r}")
    if not torch.is_tensor(train) or tuple(train.shape[1:]) != spec.shape:
        raise ValueError(f"train must be a tensor of shape (N, {', '.join(map(str, spec.shape))}); "
                         f"got {getattr(train, 'shape', type(train).__name__)}")
    seeds = tuple(cfg.seed + j for j in range(cfg.n_seeds))
    if spec.family == "toys":
        return fit_toy_gans(model, train, spec, cfg)
    if _replicated_players(cfg):
        return _fit_gans_as_replicas(model, train, spec, cfg, seeds)
    fitted = []
    for seed in seeds:
        companion.seed_everything(seed)
        start = time.perf_counter()
        fit = _fit_gan(train, spec, cfg) if model == "gan" else _fit_bgan(train, spec, cfg, model.replace("-", ""))
        fit.seconds = time.perf_counter() - start
        fitted.append(fit)
    return fitted


def _fit_gan(train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig) -> FittedModel:
    """A GAN of one seed in the package's plain loop, as the sweeps with a convolutional player
    (``gan_generator`` or ``gan_discriminator`` ``"conv"``) train it (:func:`fit_gans`)."""
    disc = _discriminator(spec, cfg)  # built first: the initialisations draw in this order
    gan = GAN(_generator(spec, cfg), disc, cfg.gan_latent_dim).to(train.device)
    fit_gan(gan, train, n_steps=cfg.gan_steps, batch_size=cfg.batch_size, loss="ns", lr=cfg.gan_lr,
            betas=tuple(cfg.gan_betas), desc="GAN")
    remove_spectral_norm(gan.discriminator)  # plain layers with the normalised weights: the fit pickles
    return FittedModel("gan", gan, gan.sample, None, "none", _likelihood_how("gan", spec))


def _fit_bgan(train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig, reduction: str) -> FittedModel:
    """BGAN or M-BGAN of one seed in the package's plain loop, as the sweeps with a convolutional player
    train it (:func:`fit_gans`)."""
    name = "bgan" if reduction == "bgan" else "m-bgan"
    # the set discriminator takes vectors: the generator makes flat examples, reshaped when sampled
    gen = _generator(spec, cfg, flat=True)  # built first: the initialisations draw in this order
    disc = SymmetricDiscriminator(spec.n_dims, (cfg.gan_disc_hidden,) * cfg.gan_layers, reduction=reduction,
                                  activation="leaky_relu")
    if cfg.gan_spectral_norm:
        spectral_normalise(disc)
    gan = GAN(gen, disc, cfg.gan_latent_dim).to(train.device)
    fit_bgan(gan, train, n_steps=cfg.gan_steps, batch_size=cfg.batch_size, lr=cfg.gan_lr, gamma=cfg.bgan_gamma,
             betas=tuple(cfg.gan_betas), desc=DISPLAY_NAMES[name])
    remove_spectral_norm(gan.discriminator)

    def sample(n: int) -> torch.Tensor:
        return gan.sample(n).view(n, *spec.shape)

    return FittedModel(name, gan, sample, None, "none", _likelihood_how(name, spec))


def _train_toy_gan_replicas(model: str, dataset: str, seeds: Tuple[int, ...], cfg: ComparisonConfig) -> Tuple:
    """Every seed of a toy GAN at once: the replica loop of the symmetric chapter
    (:func:`companion.experiments.symmetric_toys._train_toy_replicas`, PacGAN networks) at the
    comparison's widths, steps and learning rate, the rate decayed linearly to zero when
    ``cfg.gan_lr_decay``. Returns the generator and discriminator replicas."""
    method = model.replace("-", "")
    recipe = Recipe(datasets=(dataset,), methods=(method,), seeds=seeds, latent_dim=cfg.gan_latent_dim,
                    batch_size=cfg.gan_batch_size, n_steps=cfg.gan_steps, pacgan_g_hidden=cfg.gan_hidden,
                    pacgan_d_hidden=cfg.gan_disc_hidden, pacgan_lr=cfg.gan_lr, n_eval_samples=1, eval_steps=())
    trained = _train_toy_replicas("pacgan", method, dataset, seeds, recipe, cfg.bgan_gamma,
                                  lr_decay=cfg.gan_lr_decay)
    return trained["gen"], trained["disc"]


def fit_toy_gans(model: str, train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig) -> List[FittedModel]:
    """Every seed of a GAN on a 2-D toy at once, trained as replicas with the PacGAN recipe of the
    symmetric-discriminators chapter (its batch-norm generator and maxout or set discriminator,
    Adam with beta1 0.8): ``gan_hidden``/``gan_disc_hidden`` wide, ``gan_steps`` steps of
    ``gan_batch_size``, learning rate ``gan_lr``, decayed linearly to zero when ``gan_lr_decay``
    (:func:`_train_toy_gan_replicas`). Replica j is the plain run with seed ``cfg.seed + j``.

    Returns one fitted model per seed; ``seconds`` is each seed's share of the replicated run.
    """
    if model not in ("gan", "bgan", "m-bgan") or spec.family != "toys":
        raise ValueError(f"fit_toy_gans trains the GANs on the toys; got {model!r} on {spec.name!r}")
    seeds = tuple(cfg.seed + j for j in range(cfg.n_seeds))
    start = time.perf_counter()
    gens, discs = _train_toy_gan_replicas(model, spec.name, seeds, cfg)
    seconds = (time.perf_counter() - start) / len(seeds)
    fitted = []
    for j in range(len(seeds)):
        gen = gens.module(j).eval()
        networks = nn.ModuleDict({"generator": gen, "discriminator": discs.module(j)})

        def sample(n: int, gen: nn.Module = gen) -> torch.Tensor:
            return gen(torch.randn(n, cfg.gan_latent_dim, device=_device_of(gen)))

        fitted.append(FittedModel(model, networks, sample, None, "none", _likelihood_how(model, spec), seconds=seconds))
    return fitted
