"""Experiments of the chapter on adaptive density estimation (Lucas et al. 2019; thesis ch. 5).

* ``adaptive_density/ablation`` — Table 1 / Fig. 5 on the 8x8 ``digits`` (17 grey levels): the
  five models of the ablation over seeds, bits/dim (an upper bound, on held-out digits) and a
  Fréchet distance in the features of a small digit classifier, with samples.

The chapter's other experiments: ``adaptive_density/fig4`` in :mod:`.adaptive_density_ring`,
``adaptive_density/refinements`` and ``adaptive_density/flow_depth`` in :mod:`.adaptive_density_extra`,
``adaptive_density/sample_quality`` in :mod:`.adaptive_density_quality` (the refinements and the sample-quality
runs share this module's fits, :func:`prefit`); the plain GAN rows train as replicas in
:mod:`.adaptive_density_gans`.

The models are tiny MLPs so that ``book`` scale runs on a 2-core CPU in minutes. ``paper``
scale moves the ablation (and ``adaptive_density/flow_depth`` in :mod:`.adaptive_density_extra`,
which shares its configuration) to CIFAR-10
(downloaded by :func:`companion.data.load`) with convolutional networks close to App. A.2:
an ELU convolutional VAE of SNGAN-like widths, a leaky-ReLU convolutional discriminator and a
single-scale Real-NVP ``f_psi`` with 3 blocks of 2 layers. :class:`~companion.ade.ADE` builds
MLPs only, so :func:`_ade_from` swaps in the convolutional VAE and discriminator after
construction. It reports bits/dim, the Fréchet distance in a small CIFAR-10 classifier's
features, and the Inception score and FID through :func:`companion.metrics.inception_metrics`
when its optional backend and weights are available (``pip install torchmetrics[image]``,
with a network); otherwise the result records why they are missing. It needs a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

import companion
from companion import data as datasets
from companion.ade import ADE, ADVERSARIAL_MODES, FLOW_MODES, MODES, build_ade, fit_ade
from companion.checks import check_adam_betas, check_in_interval
from companion.config import ExperimentConfig
from companion.evidence import verdict
from companion.experiments.adaptive_density_gans import train_plain_gans
from companion.experiments.feature_classifier import DATASETS, train_feature_net
from companion.flows import RealNVP
from companion.gan import GAN, ConvDiscriminator, fit_gan
from companion.metrics import frechet_distance, inception_metrics, mean_std
from companion.plots import image_grid, pyplot
from companion.replicas import check_seeds
from companion.reproduce import register
from companion.runs import set_rng_state
from companion.shared_fits import fit_once, fit_once_in_workers
from companion.train import History, adam
from companion.vae import VAE, fit_vae
from companion.weight_average import WeightAverage

if TYPE_CHECKING:  # for the annotations only: importing the module stays cheap
    from matplotlib.figure import Figure
    from pandas import DataFrame

#: The paper's Table 1 (CIFAR-10): bits/dim, IS, FID ([7.0] for the GAN is approximate).
PAPER_TABLE1 = {
    "gan": {"bpd": 7.0, "IS": 6.8, "FID": 31.4},
    "vae": {"bpd": 4.4, "IS": 2.0, "FID": 171.0},
    "v-ade": {"bpd": 3.5, "IS": 3.0, "FID": 112.0},
    "av-gde": {"bpd": 4.4, "IS": 5.1, "FID": 58.6},
    "av-ade": {"bpd": 3.9, "IS": 7.1, "FID": 28.0},
}


# ========================================================================================
# Table 1: the ablation on digits
# ========================================================================================


def _held_out_digits(device: torch.device) -> torch.Tensor:
    return torch.cat([datasets.load("digits", "valid"), datasets.load("digits", "test")]).to(device)


def _held_out(dataset: str, device: torch.device) -> torch.Tensor:
    """The images bits/dim is measured on: valid + test digits (500), or the CIFAR-10 test set."""
    return _held_out_digits(device) if dataset == "digits" else datasets.load(dataset, "test").to(device)


def _evaluate(model: ADE, held_out: torch.Tensor, feature_net: nn.Module, n_eval_samples: int,
              eval_batch_size: int = 250) -> Dict[str, float]:
    model.eval()
    with torch.no_grad():
        bpd = torch.cat([model.bits_per_dim(chunk, n_samples=n_eval_samples)
                         for chunk in held_out.split(eval_batch_size)])
        samples = torch.cat([model.sample(len(chunk)) for chunk in held_out.split(1000)])
        fd = frechet_distance(torch.cat([feature_net.features(c) for c in samples.split(1000)]),
                              torch.cat([feature_net.features(c) for c in held_out.split(1000)]))
    return {"bpd": float(bpd.mean()), "fd": fd}


def _fit_and_score(model: ADE, cfg: "AblationConfig", train: torch.Tensor, held_out: torch.Tensor,
                   feature_net: nn.Module, desc: str) -> Dict[str, float]:
    """Train ``model`` with the budget of ``cfg`` (:func:`fit_ade`), then :func:`_evaluate` it."""
    fit_ade(model, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr,
            n_inference_steps=cfg.n_inference_steps, desc=desc)
    return _evaluate(model, held_out, feature_net, cfg.n_eval_samples, cfg.eval_batch_size)


#: The fields of an :class:`AblationConfig` that decide an ADE fit of :func:`fitted_ade` (networks and budget).
_ADE_FIT_FIELDS = ("dataset", "architecture", "latent_dim", "hidden", "flow_blocks", "flow_scales", "flow_hidden",
                   "flow_layers", "disc_hidden", "adv_weight", "channels", "disc_channels", "n_steps",
                   "n_inference_steps", "batch_size", "lr")
#: The fields that decide a fit of :func:`fitted_plain_gan` (the GAN row's recipe, its inference network).
_PLAIN_GAN_FIELDS = ("dataset", "gan_latent_dim", "gan_hidden", "gan_layers", "adv_weight", "batch_size", "gan_steps",
                     "gan_lr", "gan_decay_step", "gan_decay", "gan_betas", "gan_disc_dropout", "gan_spectral_norm",
                     "gan_average", "n_inference_steps", "lr")


def _shared_item(key: tuple, seed: int, fit: Callable[[], ADE]) -> Tuple[tuple, Callable[[], ADE]]:
    """The ``(key, fit)`` pair of :func:`companion.shared_fits.fit_once` for ``fit()`` after
    ``seed_everything(seed)``."""

    def seeded_fit() -> ADE:
        companion.seed_everything(seed)
        return fit()

    return ("adaptive_density",) + key, seeded_fit


def _shared_fit(item: Tuple[tuple, Callable[[], ADE]]) -> Tuple[ADE, float]:
    """The fit of an item of :func:`_shared_item`, once a process per key (:func:`companion.shared_fits.fit_once`;
    :func:`prefit` runs many at once); returns the model and the seconds the fit took."""
    return fit_once(*item)


def prefit(items: List[Tuple[tuple, Callable[[], ADE]]]) -> None:
    """Train the shared fits of ``items`` (:func:`ade_fit_item`, :func:`plain_gan_fit_item`) two at a time in
    one-thread worker processes (:func:`companion.shared_fits.fit_once_in_workers`), before an experiment asks for them
    one by one: each is the fit it would have run, on one thread, wherever it runs."""
    fit_once_in_workers(items)


def fitted_ade(cfg: "AblationConfig", mode: str, seed: int, train: torch.Tensor, desc: str) -> ADE:
    """The ADE of ``mode`` built for ``cfg`` after ``seed_everything(seed)`` and trained by :func:`fit_ade` with
    the budget of ``cfg``, on ``train``'s device.

    The chapter's experiments that train the same model share it: within one process the fit of a
    given mode, seed, device and networks-and-budget fields of ``cfg`` (:data:`_ADE_FIT_FIELDS`) runs
    once.
    """
    return _shared_fit(ade_fit_item(cfg, mode, seed, train, desc))[0]


def ade_fit_item(cfg: "AblationConfig", mode: str, seed: int, train: torch.Tensor,
                 desc: str) -> Tuple[tuple, Callable[[], ADE]]:
    """The shared fit of :func:`fitted_ade` as a ``(key, fit)`` pair, for :func:`prefit`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    return trained_ade_item(cfg, ("ade", mode), lambda: _ade_from(cfg, mode), seed, train, desc)


def trained_ade_item(cfg: "AblationConfig", name: tuple, build: Callable[[], ADE], seed: int, train: torch.Tensor,
                     desc: str) -> Tuple[tuple, Callable[[], ADE]]:
    """``(key, fit)`` for :func:`prefit` and :func:`_shared_fit`: the ADE that ``build()`` makes after
    ``seed_everything(seed)``, trained by :func:`fit_ade` with the budget of ``cfg``; keyed by ``name``, the
    seed, the device and the fields of ``cfg`` that decide a fit (:data:`_ADE_FIT_FIELDS`).

    Raises:
        TypeError: if ``name`` is not a tuple or ``build`` is not callable.
    """
    if not isinstance(name, tuple) or not callable(build):
        raise TypeError(f"name must be a tuple and build a callable; got {name!r} and {type(build).__name__}")

    def fit() -> ADE:
        model = build().to(train.device)
        fit_ade(model, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                n_inference_steps=cfg.n_inference_steps, desc=desc)
        return model

    key = name + (seed, str(train.device)) + tuple(getattr(cfg, attribute) for attribute in _ADE_FIT_FIELDS)
    return _shared_item(key, seed, fit)


def _fit_decoder_as_gan(model: ADE, data: torch.Tensor, n_steps: int, batch_size: int, lr: float, decay_step: int,
                        decay: float, desc: str, betas: Tuple[float, float] = (0.5, 0.999),
                        average_decay: float = 0.0) -> History:
    """Train the decoder ``mu_theta`` and the discriminator of an ADE of mode ``gan`` as the package's
    plain GAN (:func:`companion.gan.fit_gan`: non-saturating loss, Adam at ``lr`` with ``betas``), the rate
    times ``decay`` from step ``decay_step`` on (0: never); returns the history, with ``lr``. With
    ``average_decay > 0`` the decoder ends with the exponential moving average of its weights along training
    (:class:`companion.weight_average.WeightAverage`) instead of its last weights."""
    gan = GAN(model.vae.decoder, model.discriminator, latent_dim=model.vae.latent_dim)
    optimizers = [adam(player.parameters(), lr=lr, betas=betas)
                  for player in (gan.discriminator, gan.generator)]
    average = WeightAverage(gan.generator, average_decay) if average_decay > 0 else None

    def decay_lr(step: int) -> Dict[str, float]:
        # at a constant rate the GANs of this chapter drift along training (the smallest digit class crosses
        # the 3% line, the ring's samples blur); a lower rate for the last steps keeps what they have found
        if step + 1 == decay_step:
            for optimizer in optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = lr * decay
        if average is not None:
            average.update(gan.generator)
        return {"lr": optimizers[1].param_groups[0]["lr"]}

    history = fit_gan(gan, data, n_steps=n_steps, batch_size=batch_size, loss="ns", d_optimizer=optimizers[0],
                      g_optimizer=optimizers[1], callback=decay_lr, desc=desc,
                      state=None if average is None else {"generator_average": average})
    if average is not None:
        average.copy_to(gan.generator)
    return history


def _fit_plain_gan(cfg: "AblationConfig", seed: int, train: torch.Tensor, held_out: torch.Tensor,
                   feature_net: nn.Module, desc: str) -> Tuple[ADE, Dict[str, float]]:
    """The ablation's GAN row (:func:`fitted_plain_gan`), scored by :func:`_evaluate`."""
    model, _ = fitted_plain_gan(cfg, seed, train, desc)
    return model, _evaluate(model, held_out, feature_net, cfg.n_eval_samples, cfg.eval_batch_size)


def fitted_plain_gan(cfg: "AblationConfig", seed: int, train: torch.Tensor, desc: str,
                     residual: bool = False) -> Tuple[ADE, float]:
    """The ablation's GAN row with ``cfg.gan_fit == "plain"`` for ``seed``, and its share of the training
    seconds: an ADE of mode ``gan`` whose generator ``mu_theta`` is trained as a plain GAN (Adam at
    ``cfg.gan_lr`` with ``cfg.gan_betas``, times ``cfg.gan_decay`` from step ``cfg.gan_decay_step`` on,
    dropout ``cfg.gan_disc_dropout`` in the discriminator and, with ``cfg.gan_spectral_norm``, spectral
    normalisation of its layers, the generator's weights averaged with decay ``cfg.gan_average``) on the
    dequantised training images, then the inference network and ``sigma`` around it
    (:func:`companion.ade.fit_inference_network`) for the bits/dim bound; with ``residual`` the refinements'
    GAN (rd) row. The seeds of ``cfg.seeds`` train together as replicas (:func:`plain_gan_fit_item`; a seed
    outside them alone), each the run of its own seed; the fits are shared within a process (by seeds,
    device and :data:`_PLAIN_GAN_FIELDS`): the sample-quality runs score the ablation's GANs. Sets the global
    random state to what this seed's run left, as :func:`companion.shared_fits.fit_once` does for one fit."""
    seeds = tuple(cfg.seeds) if seed in cfg.seeds else (seed,)
    fitted, seconds = _shared_fit(plain_gan_fit_item(cfg, seeds, train, desc, residual=residual))
    model, state = fitted[seeds.index(seed)]
    set_rng_state(state)
    return model, seconds / len(seeds)


def plain_gan_fit_item(cfg: "AblationConfig", seeds: Sequence[int], train: torch.Tensor, desc: str,
                       residual: bool = False) -> Tuple[tuple, Callable[[], list]]:
    """The shared fit of :func:`fitted_plain_gan` for every seed of ``seeds`` as a ``(key, fit)`` pair, for
    :func:`prefit`: ``fit()`` trains them together (:func:`~.adaptive_density_gans.train_plain_gans`) and
    returns, per seed, the model and the random state its run left.

    With ``residual`` the discriminator is a :class:`~companion.ade.ResidualMLPDiscriminator` (see
    :func:`plain_gan_model`); the generator, its initialisation at each seed and the recipe stay the same.
    """
    if cfg.gan_fit != "plain" or cfg.architecture != "mlp":
        raise ValueError(f"the plain GAN recipe needs gan_fit='plain' and MLPs; got {cfg.gan_fit!r}, "
                         f"{cfg.architecture!r}")
    if not isinstance(residual, bool):
        raise TypeError(f"residual must be a bool; got {residual!r}")
    seeds = tuple(check_seeds(seeds))
    betas = check_adam_betas(cfg.gan_betas, "gan_betas")
    check_in_interval(cfg.gan_disc_dropout, "gan_disc_dropout", 0.0, 0.99)
    check_in_interval(cfg.gan_average, "gan_average", 0.0, 0.999999)
    if not isinstance(cfg.gan_spectral_norm, bool):
        raise TypeError(f"gan_spectral_norm must be a bool; got {cfg.gan_spectral_norm!r}")
    key = ("adaptive_density", "plain gan (rd)" if residual else "plain gan", seeds, str(train.device)) + tuple(
        betas if name == "gan_betas" else getattr(cfg, name) for name in _PLAIN_GAN_FIELDS)
    return key, lambda: train_plain_gans(cfg, seeds, train, desc, residual=residual)


def _inception_scores(model: ADE, real: torch.Tensor, n_samples: int, state: Dict[str, str]) -> Dict[str, float]:
    """IS and FID of ``n_samples`` samples against ``real`` (``{}`` when unavailable; ``state`` keeps why)."""
    if n_samples <= 0 or "unavailable" in state:
        return {}
    model.eval()
    with torch.no_grad():
        samples = torch.cat([model.sample(min(1000, n_samples - i)) for i in range(0, n_samples, 1000)])
    real = real[:n_samples]
    if samples.shape[1] == 1:  # grey images: Inception wants RGB
        samples, real = samples.repeat(1, 3, 1, 1), real.repeat(1, 3, 1, 1)
    try:
        out = inception_metrics(samples.cpu(), real.cpu())
    except RuntimeError as error:  # no backend or no weights (offline): record why, go on without
        state["unavailable"] = str(error)
        return {}
    return {"IS": out["inception_score"], "FID": out["fid"]}


@dataclass
class AblationConfig(ExperimentConfig):
    """The five models of Table 1 on 8x8 digits with tiny MLPs (book scale: a few minutes on a CPU)."""

    modes: Tuple[str, ...] = MODES
    seeds: Tuple[int, ...] = (0, 1, 2, 3, 4)
    # the GAN's budget (gan_steps): at 400 steps, a fifth of it, the ADEs had not finished learning and the GAN's
    # samples were ahead of AV-ADE's; with the same steps AV-ADE's Fréchet distance fell about ninefold
    n_steps: int = 2000
    n_inference_steps: int = 200
    batch_size: int = 64
    lr: float = 2e-3
    latent_dim: int = 8
    hidden: int = 128
    flow_blocks: int = 2
    flow_scales: int = 1
    flow_hidden: int = 16
    flow_layers: int = 1
    disc_hidden: int = 128
    adv_weight: Optional[float] = None  # None: the paper's 100 per 3072 dimensions
    n_eval_samples: int = 32
    feature_steps: int = 400
    # the data and the networks: "digits" with MLPs, or (paper) "cifar10" with convolutions
    dataset: str = "digits"
    architecture: str = "mlp"  # "conv": the VAE and discriminator of App. A.2 (approximately)
    channels: Tuple[int, ...] = (128, 256, 512)  # conv VAE encoder (decoder reversed), SNGAN-like widths
    disc_channels: Tuple[int, ...] = (64, 128, 256)  # conv discriminator
    eval_batch_size: int = 250  # held-out images per IWAE chunk (times n_eval_samples in memory)
    n_inception_samples: int = 0  # samples for IS/FID (0: skip; needs the optional backend)
    logistic_vae_reference: bool = True  # also train the discretized-logistic VAE (reference row)
    # The GAN row. "plain": its generator mu_theta (an MLP of gan_hidden units, gan_layers hidden layers, a
    # gan_latent_dim noise) is trained as the package's plain GAN (non-saturating loss, Adam at gan_lr,
    # gan_steps steps: companion.gan.fit_gan), then the inference network around it as in the paper; the
    # recipe of the chapter's sweeps for the digits bar (see the chapter): the rate drops to gan_lr * gan_decay
    # after gan_decay_step steps (0: never); Adam's betas gan_betas; dropout gan_disc_dropout after each of the
    # discriminator's hidden layers (without it, it appears to memorise the 1,297 training digits); spectral
    # normalisation of the discriminator's layers with gan_spectral_norm (companion.nets.spectral_normalise); the
    # generator ends with the moving average of its weights of decay gan_average (0: its last weights). "ade":
    # L_Q with the gradient penalty and Adamax (fit_ade) with the shared networks and budget, the paper's setting
    # (below the bar).
    gan_fit: str = "plain"
    gan_latent_dim: int = 32
    gan_hidden: int = 256
    gan_layers: int = 1
    gan_steps: int = 2000
    gan_lr: float = 5e-4
    gan_decay_step: int = 1500
    gan_decay: float = 0.2
    gan_betas: Tuple[float, float] = (0.0, 0.9)
    gan_disc_dropout: float = 0.5
    gan_spectral_norm: bool = True
    gan_average: float = 0.99
    SCALES: ClassVar = {
        "smoke": {"modes": ("vae", "av-ade"), "seeds": (0,), "n_steps": 20, "n_inference_steps": 10,
                  "n_eval_samples": 4, "feature_steps": 30, "gan_steps": 20, "gan_decay_step": 10},
        # CIFAR-10 as in the paper (App. A.2: Adamax 2e-3, batch 64, GP 100, f_psi 1 scale x 3 blocks x 2 layers)
        "paper": {"seeds": (0, 1, 2), "n_steps": 100_000, "n_inference_steps": 20_000, "hidden": 512,
                  "latent_dim": 128, "flow_blocks": 3, "flow_hidden": 64, "flow_layers": 2, "disc_hidden": 512,
                  "n_eval_samples": 100, "feature_steps": 5000, "dataset": "cifar10", "architecture": "conv",
                  "eval_batch_size": 20, "n_inception_samples": 10_000, "logistic_vae_reference": False,
                  "gan_fit": "ade"},
    }


@dataclass
class AblationResult:
    """What :func:`run_ablation` returns.

    ``bpd[mode]`` and ``fd[mode]`` hold one value per seed: bits/dim of the held-out images (an upper bound) and the
    Fréchet distance of as many samples to them in the feature classifier's features. ``samples[mode]`` holds 36
    samples of the first seed's model and ``data_samples`` 36 training images, ``(36, C, H, W)`` in ``[0, 1]``.
    """

    modes: List[str]
    bpd: Dict[str, List[float]]
    fd: Dict[str, List[float]]
    samples: Dict[str, np.ndarray]  # seed 0, in [0, 1]
    data_samples: np.ndarray
    metrics: Dict[str, Union[float, str]] = field(default_factory=dict)  # the verdicts are words
    dataset: str = "digits"
    notes: Dict[str, str] = field(default_factory=dict)  # e.g. why IS/FID are missing
    reference_bpd: List[float] = field(default_factory=list)  # the discretized-logistic VAE, per seed
    min_class_share: Dict[str, List[float]] = field(default_factory=dict)  # per seed, on 1,000 samples (the bar)


def _ade_from(cfg: AblationConfig, mode: str, flow_scales: Optional[int] = None,
              flow_blocks: Optional[int] = None) -> ADE:
    """The ADE of ``mode`` for ``cfg`` (MLPs, or with ``cfg.architecture == "conv"`` conv networks)."""
    if cfg.dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {tuple(DATASETS)}; got {cfg.dataset!r}")
    shape, n_levels = DATASETS[cfg.dataset]
    flow_blocks = cfg.flow_blocks if flow_blocks is None else flow_blocks
    flow_scales = cfg.flow_scales if flow_scales is None else flow_scales
    if cfg.architecture == "mlp":
        return build_ade(shape, mode=mode, latent_dim=cfg.latent_dim, n_levels=n_levels, hidden=cfg.hidden,
                         flow_blocks=flow_blocks, flow_scales=flow_scales, flow_hidden=cfg.flow_hidden,
                         flow_layers=cfg.flow_layers, disc_hidden=cfg.disc_hidden, init_log_sigma=-1.0,
                         adv_weight=cfg.adv_weight)
    if cfg.architecture != "conv":
        raise ValueError(f"architecture must be 'mlp' or 'conv'; got {cfg.architecture!r}")
    # the convolutional VAE and discriminator of App. A.2 (ELU generator, leaky-ReLU discriminator)
    vae = VAE(shape, cfg.latent_dim, likelihood="gaussian", architecture="conv", channels=tuple(cfg.channels),
              activation="elu", init_log_scale=-1.0)
    flow = RealNVP(shape, n_blocks=flow_blocks, hidden=cfg.flow_hidden, n_layers=cfg.flow_layers,
                   n_scales=flow_scales) if mode in FLOW_MODES else None
    disc = ConvDiscriminator(shape, channels=tuple(cfg.disc_channels)) if mode in ADVERSARIAL_MODES else None
    return ADE(shape, mode, vae, flow, disc, n_levels=n_levels, adv_weight=cfg.adv_weight)


@register("adaptive_density/ablation", config=AblationConfig, plot=lambda r: plot_ablation(r),
          description="Table 1 / Fig. 5 on 8x8 digits: GAN, VAE, V-ADE, AV-GDE, AV-ADE over seeds")
def run_ablation(cfg: AblationConfig) -> AblationResult:
    """Train the models of Table 1 (``cfg.modes``) for every seed of ``cfg.seeds`` on ``cfg.dataset`` and score them
    on the held-out images (:func:`_held_out`).

    The ADEs train by :func:`fitted_ade`; the GAN row by the plain GAN recipe (:func:`fitted_plain_gan`) or by L_Q, as
    ``cfg.gan_fit`` says; with ``cfg.logistic_vae_reference`` a discretized-logistic VAE trains beside them
    (:func:`logistic_vae_reference`). Scores: bits/dim, the Fréchet distance in the feature classifier's features, on
    digits the smallest class share of 1,000 samples, and IS and FID with ``cfg.n_inception_samples``; the metrics
    (:func:`_ablation_metrics`) add means and spreads over seeds and the verdicts on :data:`TABLE1_ORDERINGS`.
    """
    if cfg.gan_fit not in ("plain", "ade"):
        raise ValueError(f"gan_fit must be 'plain' or 'ade'; got {cfg.gan_fit!r}")
    dev = companion.device()
    train = datasets.load(cfg.dataset, "train").to(dev)
    held_out = _held_out(cfg.dataset, dev)
    feature_net, accuracy = train_feature_net(cfg.feature_steps, device=dev, dataset=cfg.dataset)
    with torch.no_grad():
        data_fd = frechet_distance(torch.cat([feature_net.features(c) for c in train[: len(held_out)].split(1000)]),
                                   torch.cat([feature_net.features(c) for c in held_out.split(1000)]))
    bpd = {m: [] for m in cfg.modes}
    fd = {m: [] for m in cfg.modes}
    inception: Dict[str, Dict[str, List[float]]] = {m: {"IS": [], "FID": []} for m in cfg.modes}
    inception_state: Dict[str, str] = {}
    samples = {}
    reference_bpd: List[float] = []
    min_share: Dict[str, List[float]] = {m: [] for m in cfg.modes}
    # the reference VAEs train in the same batch of worker jobs as the models (an even count keeps both workers busy)
    references = ([_reference_item(cfg, train, held_out, seed) for seed in cfg.seeds]
                  if cfg.logistic_vae_reference else [])
    plain_gans = "gan" in cfg.modes and cfg.gan_fit == "plain"  # every seed of the GAN row in one job (replicas)
    prefit(([plain_gan_fit_item(cfg, cfg.seeds, train, "gan")] if plain_gans else [])
           + [ade_fit_item(cfg, mode, seed, train, f"{mode} (seed {seed})") for seed in cfg.seeds
              for mode in cfg.modes if not (mode == "gan" and plain_gans)] + references)
    reference_bpd = [_shared_fit(item)[0] for item in references]
    for seed in cfg.seeds:
        for mode in cfg.modes:
            companion.seed_everything(seed)
            if mode == "gan" and cfg.gan_fit == "plain":
                model, scores = _fit_plain_gan(cfg, seed, train, held_out, feature_net, f"{mode} (seed {seed})")
            else:
                model = fitted_ade(cfg, mode, seed, train, f"{mode} (seed {seed})")
                scores = _evaluate(model, held_out, feature_net, cfg.n_eval_samples, cfg.eval_batch_size)
            bpd[mode].append(scores["bpd"])
            fd[mode].append(scores["fd"])
            if cfg.dataset == "digits":  # the digits quality bar: the classes of 1,000 samples
                with torch.no_grad():
                    classes = feature_net(model.sample(1000)).argmax(1).cpu().numpy()
                min_share[mode].append(float(np.bincount(classes, minlength=10).min() / len(classes)))
            for name, value in _inception_scores(model, train, cfg.n_inception_samples, inception_state).items():
                inception[mode][name].append(value)
            if seed == cfg.seeds[0]:
                samples[mode] = model.sample(36).cpu().numpy()
    metrics, notes = _ablation_metrics(cfg, accuracy, data_fd, reference_bpd, bpd, fd, min_share, inception,
                                       inception_state)
    return AblationResult(list(cfg.modes), bpd, fd, samples, train[:36].cpu().numpy(), metrics, cfg.dataset, notes,
                          reference_bpd, min_share)


def _ablation_metrics(cfg: AblationConfig, accuracy: float, data_fd: float, reference_bpd: List[float],
                      bpd: Dict[str, List[float]], fd: Dict[str, List[float]], min_share: Dict[str, List[float]],
                      inception: Dict[str, Dict[str, List[float]]],
                      inception_state: Dict[str, str]) -> Tuple[Dict[str, Union[float, str]], Dict[str, str]]:
    """The ablation's metrics (means and spreads over seeds, network sizes, the GAN's bar, the verdicts on
    :data:`TABLE1_ORDERINGS`) and notes."""
    metrics: Dict[str, Union[float, str]] = {"classifier_accuracy": accuracy, "data_fd": data_fd,
                                 "uniform_bpd": math.log2(DATASETS[cfg.dataset][1])}
    if reference_bpd:
        stats = mean_std(reference_bpd)
        metrics["logistic_vae_bpd_mean"], metrics["logistic_vae_bpd_std"] = stats["mean"], stats["std"]
    # The sizes of the networks, from a fresh AV-ADE (it holds all three).
    full = _ade_from(cfg, "av-ade")
    for part in ("vae", "flow", "discriminator"):
        metrics[f"params_{part}"] = float(sum(p.numel() for p in getattr(full, part).parameters()))
    if min_share.get("gan") and "vae" in cfg.modes:  # the bar, seed by seed against the VAE of the same seed
        metrics["gan_meets_bar_seeds"] = float(sum(share >= 0.03 and f <= 2 * v for share, f, v in
                                                   zip(min_share["gan"], fd["gan"], fd["vae"])))
    for mode in cfg.modes:
        series = [("bpd", bpd[mode]), ("fd", fd[mode]), ("min_class_share", min_share[mode])]
        series += [(k, v) for k, v in inception[mode].items() if v]
        series = [(k, v) for k, v in series if v]
        for name, values in series:
            stats = mean_std(values)
            metrics[f"{mode}_{name}_mean"], metrics[f"{mode}_{name}_std"] = stats["mean"], stats["std"]
    gan_at_bar = metrics.get("gan_meets_bar_seeds") == len(cfg.seeds)
    metrics.update({f"{a}_vs_{b}_{measure}_verdict": _table1_verdict(bpd, fd, a, b, measure, gan_at_bar)
                    for a, b, measure in TABLE1_ORDERINGS})
    notes = {}
    if cfg.n_inception_samples > 0:
        metrics["inception_available"] = float("unavailable" not in inception_state)
        if "unavailable" in inception_state:
            notes["inception"] = "IS/FID unavailable: " + inception_state["unavailable"]
    return metrics, notes


#: The orderings of Table 1 the chapter tests, each "a is better than b" on a measure (lower is better for both).
TABLE1_ORDERINGS = (("v-ade", "vae", "bpd"), ("av-ade", "av-gde", "bpd"), ("av-ade", "vae", "bpd"),
                    ("av-ade", "v-ade", "fd"), ("av-ade", "vae", "fd"), ("gan", "vae", "fd"), ("vae", "gan", "bpd"),
                    ("av-ade", "gan", "fd"))


def ablation_paired(a: str, b: str) -> bool:
    """Whether the ablation's runs of modes ``a`` and ``b`` pair seed by seed: two modes of the shared VAE start
    from the same networks at a seed (:func:`~companion.ade.build_ade` builds the VAE first), train on the same
    data and differ only in the parts the ablation compares; the plain GAN's generator is another network."""
    return "gan" not in (a, b)


def _table1_verdict(bpd: Dict[str, List[float]], fd: Dict[str, List[float]], a: str, b: str, measure: str,
                    gan_at_bar: bool) -> str:
    """:func:`companion.evidence.verdict` on "``a`` is better than ``b``" over the seeds (paired where
    :func:`ablation_paired` says so), or why there is none."""
    series = bpd if measure == "bpd" else fd
    if not series.get(a) or not series.get(b):
        return "not run"
    if "gan" in (a, b) and not gan_at_bar:
        return "not compared (the GAN is below the digits quality bar)"
    return verdict(series[a], series[b], higher_is_better=False, paired=ablation_paired(a, b))


def _reference_item(cfg: AblationConfig, train: torch.Tensor, held_out: torch.Tensor,
                    seed: int) -> Tuple[tuple, Callable[[], float]]:
    """The :func:`logistic_vae_reference` of ``seed`` as a shared fit (:func:`prefit`, :func:`_shared_fit`)."""
    key = ("logistic_vae_reference", seed, str(train.device), len(train), len(held_out)) + tuple(
        getattr(cfg, field) for field in ("dataset", "latent_dim", "hidden", "n_steps", "batch_size", "n_eval_samples",
                                          "eval_batch_size"))
    return _shared_item(key, seed, lambda: logistic_vae_reference(cfg, train, held_out, seed))


def logistic_vae_reference(cfg: AblationConfig, train: torch.Tensor, held_out: torch.Tensor, seed: int) -> float:
    """Bits/dim of the shared VAE with a discretized-logistic likelihood, on the same data.

    The ablation's VAE is a continuous isotropic Gaussian on dequantised images; this one
    models the discrete levels directly (same latent size and hidden width, same steps and
    batch), so it separates what the flow repairs from what any discrete-aware likelihood
    repairs. Its importance-weighted bound uses ``cfg.n_eval_samples`` draws.
    """
    n_levels = DATASETS[cfg.dataset][1]
    companion.seed_everything(seed)
    vae = VAE(tuple(train.shape[1:]), cfg.latent_dim, likelihood="logistic", hidden=cfg.hidden,
              n_levels=n_levels).to(train.device)  # takes [0, 1] with level k at k / (n_levels - 1), as train is
    fit_vae(vae, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=1e-3,
            desc=f"discretized-logistic VAE (seed {seed})")
    vae.eval()
    with torch.no_grad():
        log_p = torch.cat([vae.log_prob(c, n_samples=cfg.n_eval_samples)
                           for c in held_out.split(cfg.eval_batch_size)])
    return float(-log_p.mean() / (held_out[0].numel() * math.log(2)))


def ablation_table(result: AblationResult) -> DataFrame:
    """Our numbers beside the paper's Table 1, as a pandas DataFrame."""
    import pandas as pd

    rows = []
    dataset = getattr(result, "dataset", "digits")
    for mode in result.modes:
        m, paper = result.metrics, PAPER_TABLE1[mode]
        row = {
            "model": mode.upper(),
            f"bits/dim (ours, {dataset})": f"{m[f'{mode}_bpd_mean']:.2f} ± {m[f'{mode}_bpd_std']:.2f}",
            "Fréchet (ours, classifier)": f"{m[f'{mode}_fd_mean']:.1f} ± {m[f'{mode}_fd_std']:.1f}",
        }
        if f"{mode}_FID_mean" in m:  # paper scale with the optional Inception backend
            row["FID (ours)"] = f"{m[f'{mode}_FID_mean']:.1f} ± {m[f'{mode}_FID_std']:.1f}"
            row["IS (ours)"] = f"{m[f'{mode}_IS_mean']:.2f} ± {m[f'{mode}_IS_std']:.2f}"
        row.update({
            "bits/dim (paper, CIFAR-10)": f"[{paper['bpd']}]" if mode == "gan" else paper["bpd"],
            "FID (paper)": paper["FID"],
            "IS (paper)": paper["IS"],
        })
        rows.append(row)
    if "logistic_vae_bpd_mean" in result.metrics:  # reference row: discrete levels, no flow, not in the paper
        m = result.metrics
        reference = {key: "-" for key in rows[0]} if rows else {}
        reference.update(
            {
                "model": "VAE, discretized logistic (reference)",
                f"bits/dim (ours, {dataset})": f"{m['logistic_vae_bpd_mean']:.2f} ± {m['logistic_vae_bpd_std']:.2f}",
            }
        )
        rows.append(reference)
    return pd.DataFrame(rows).set_index("model")


def plot_ablation(result: AblationResult) -> Figure:
    """Training images, then 36 samples of the first seed's model of every mode, each titled with its mean bits/dim
    and Fréchet distance over seeds (Fig. 5)."""
    plt = pyplot()
    panels = [("data", result.data_samples)] + [(m, result.samples[m]) for m in result.modes]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.6))
    for ax, (name, images) in zip(axes, panels):
        image_grid(images, nrow=6, ax=ax)
        if name == "data":
            ax.set_title(f"training {getattr(result, 'dataset', 'digits')}", fontsize=9)
        else:
            m = result.metrics
            ax.set_title(f"{name.upper()}\n{m[f'{name}_bpd_mean']:.2f} bits/dim, FD {m[f'{name}_fd_mean']:.1f}",
                         fontsize=9)
    fig.tight_layout()
    return fig
