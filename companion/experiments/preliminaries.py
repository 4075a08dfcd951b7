"""Experiments of the primer chapter (``book/preliminaries.md``), after Lucas (2020), ch. 2.

* ``preliminaries/realnvp_ring`` — a Real-NVP fitted by maximum likelihood on the 8-Gaussian
  ring: its density, its samples, its held-out log-likelihood beside a single Gaussian and
  the true mixture, and its mode coverage.
* ``preliminaries/gan_ring`` — a non-saturating GAN on the same ring: the modes it covers
  (``mode_coverage`` on 2,500 samples) along training, and its discriminator's logit, an
  estimate of the log density ratio ``log p_data / p_model``.
* ``preliminaries/vae_digits`` — a VAE with a discretized logistic likelihood on the 17 grey
  levels of ``digits``: the ELBO and the importance-weighted bounds on the test split (nats),
  and the blur of the decoder mean against the noise of decoder samples.
* ``preliminaries/parzen_bandwidth`` — the Parzen-window estimate of held-out log-likelihood
  on ``digits``: its sensitivity to the bandwidth and to the number of samples, and a model
  that beats the true distribution (k-means centroids; Theis et al. 2016).
* ``preliminaries/frechet_subsets`` — thesis Table 2.1: the Fréchet distance (and the
  Inception score's formula) of random subsets of the real digits, in a digit classifier's
  features, against the subset size.
* ``preliminaries/flow_grid`` — thesis Fig. 2.5: a regular grid pushed through the ring's
  Real-NVP, data to latent and latent to data.

The exercise checks of the chapter (:func:`check_optimal_discriminator`,
:func:`check_bits_per_dim`) live here too: the reader calls them on an answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple

import numpy as np
import torch

import companion
from companion.config import ExperimentConfig
from companion.reproduce import register

from ..checks import check_int

__all__ = [
    "FlowGridConfig",
    "FlowGridResult",
    "FrechetSubsetsConfig",
    "FrechetSubsetsResult",
    "classifier_score",
    "flow_grid_from",
    "plot_flow_grid",
    "plot_frechet_subsets",
    "run_flow_grid",
    "run_frechet_subsets",
    "GANRingConfig",
    "GANRingResult",
    "ParzenBandwidthConfig",
    "ParzenBandwidthResult",
    "RealNVPRingConfig",
    "RealNVPRingResult",
    "VAEDigitsConfig",
    "VAEDigitsResult",
    "check_bits_per_dim",
    "check_optimal_discriminator",
    "gaussian_fit_log_prob",
    "plot_gan_ring",
    "plot_parzen_bandwidth",
    "plot_realnvp_ring",
    "plot_vae_digits",
    "ring_log_prob",
    "run_gan_ring",
    "run_parzen_bandwidth",
    "run_realnvp_ring",
    "run_vae_digits",
    "total_variation",
]

#: The square drawn in the ring figures: the unit circle with a margin.
RING_BOUNDS = 1.5
#: The floor of the log-density drawn in the flow figure (nats).
LOG_DENSITY_FLOOR = -6.0


# ========================================================================================
# Reference densities for the ring
# ========================================================================================


def ring_log_prob(x: torch.Tensor) -> torch.Tensor:
    """The exact log-density (nats) of the ``ring`` mixture at the rows of ``x`` ``(N, 2)``.

    Eight equally weighted isotropic Gaussians with std :func:`companion.data.toy_std`
    centred on :func:`companion.data.toy_centers`: the best held-out log-likelihood any
    model of the ring can reach on average.
    """
    from companion.data import toy_centers, toy_std

    x = _check_points(x, "x")
    dtype = torch.float32 if x.device.type == "mps" else torch.float64  # MPS has no float64
    centers = toy_centers("ring").to(x.device, dtype)
    var = toy_std("ring") ** 2
    # explicit differences, not torch.cdist: its matrix-product shortcut loses the small
    # squared distances (~var = 1e-4) that decide the density near a mode
    sq = (x.to(dtype)[:, None, :] - centers[None]).pow(2).sum(dim=-1)
    log_comp = -sq / (2 * var) - math.log(2 * math.pi * var)
    return (torch.logsumexp(log_comp, dim=1) - math.log(centers.shape[0])).to(x.dtype)


def gaussian_fit_log_prob(train: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Log-density (nats) at the rows of ``x`` of the maximum-likelihood Gaussian of ``train``.

    The baseline "model" of the flow experiment: one full-covariance Gaussian, fitted in
    closed form (sample mean and biased covariance).
    """
    train = _check_points(train, "train")
    x = _check_points(x, "x")
    if train.shape[1] != x.shape[1] or train.shape[0] < 2:
        raise ValueError(f"train must have >= 2 rows and the width of x; got {tuple(train.shape)} and {tuple(x.shape)}")
    train64, x64 = train.double(), x.double().to(train.device)
    mean = train64.mean(dim=0)
    cov = torch.cov(train64.T, correction=0)
    dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
    return dist.log_prob(x64).to(x.dtype)


def _check_points(x: object, name: str) -> torch.Tensor:
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point torch.Tensor; got {type(x).__name__}")
    if x.dim() != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, d) with N >= 1; got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


# ========================================================================================
# 1. Real-NVP on the ring
# ========================================================================================


@dataclass
class RealNVPRingConfig(ExperimentConfig):
    """A Real-NVP on ``ring`` (book-scale defaults)."""

    n_blocks: int = 8
    hidden: int = 64
    n_layers: int = 2
    n_steps: int = 1200
    batch_size: int = 256
    lr: float = 2e-3
    n_samples: int = 2500  # the mode-coverage protocol's sample size
    resolution: int = 150
    seed: int = 0
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {"n_blocks": 4, "hidden": 32, "n_steps": 150, "resolution": 60},
        "paper": {"n_blocks": 12, "hidden": 256, "n_steps": 20_000, "resolution": 300},
    }


@dataclass
class RealNVPRingResult:
    """What :func:`run_realnvp_ring` returns (arrays on the CPU)."""

    flow: Any
    train: np.ndarray
    samples: np.ndarray
    loss: List[float]
    metrics: Dict[str, float] = field(default_factory=dict)


def _square(ax) -> None:
    """Show the square [-RING_BOUNDS, RING_BOUNDS]^2 with equal axes."""
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlim(-RING_BOUNDS, RING_BOUNDS)
    ax.set_ylim(-RING_BOUNDS, RING_BOUNDS)


def _ring_quality(samples: torch.Tensor) -> Tuple[int, float]:
    from companion.data import toy_centers, toy_std
    from companion.metrics import mode_coverage

    return mode_coverage(samples, toy_centers("ring"), toy_std("ring"))


def plot_realnvp_ring(result: RealNVPRingResult):
    """Training data, the flow's log-density and its samples, side by side."""
    import matplotlib.pyplot as plt

    from companion.data import toy_centers
    from companion.plots import density_2d, scatter_2d, set_style

    set_style()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    centers = toy_centers("ring")
    scatter_2d(result.train[:2500], ax=axes[0], centers=centers, title="data (train split)")
    flow_device = next(result.flow.parameters()).device
    # clipped below: far from the ring the log-density plunges and would flatten the colours
    density_2d(lambda x: result.flow.log_prob(x).clamp(min=LOG_DENSITY_FLOOR), RING_BOUNDS, ax=axes[1],
               log=True, resolution=int(result.metrics.get("resolution", 150)), device=flow_device,
               title=f"Real-NVP log-density (clipped at {LOG_DENSITY_FLOOR:g})")
    m = result.metrics
    scatter_2d(result.samples, ax=axes[2], centers=centers, color="C1",
               title=f"samples: {m['modes_covered']}/8 modes, {100 * m['high_quality_fraction']:.0f}% high quality")
    for ax in axes:
        _square(ax)
    fig.tight_layout()
    return fig


@register("preliminaries/realnvp_ring", config=RealNVPRingConfig, plot=plot_realnvp_ring,
          description="Real-NVP on the ring: density, samples, held-out log-likelihood, mode coverage")
def run_realnvp_ring(cfg: RealNVPRingConfig) -> RealNVPRingResult:
    """Fit a Real-NVP on ``ring`` and score it on the test split.

    Metrics (nats per point, test split): ``test_log_likelihood`` of the flow,
    ``gaussian_test_log_likelihood`` of the best single Gaussian, ``true_test_log_likelihood``
    of the data's own mixture density (the ceiling), and the mode coverage of
    ``n_samples`` flow samples (``modes_covered`` out of 8, ``high_quality_fraction``).
    """
    from companion.data import load
    from companion.flows import RealNVP, fit_flow
    from companion.train import cosine_schedule

    companion.seed_everything(cfg.seed)
    dev = companion.device()
    train, test = load("ring", "train").to(dev), load("ring", "test").to(dev)
    flow = RealNVP((2,), n_blocks=cfg.n_blocks, hidden=cfg.hidden, n_layers=cfg.n_layers).to(dev)
    history = fit_flow(flow, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                       scheduler=cosine_schedule(cfg.n_steps), desc="Real-NVP (ring)",
                       shard=True)  # under torchrun: this process's share of each batch, DDP averages the gradients
    flow.eval()
    with torch.no_grad():
        test_ll = float(flow.log_prob(test).mean())
        samples = flow.sample(cfg.n_samples)
    modes, quality = _ring_quality(samples)
    metrics = {
        "test_log_likelihood": test_ll,
        "gaussian_test_log_likelihood": float(gaussian_fit_log_prob(train, test).mean()),
        "true_test_log_likelihood": float(ring_log_prob(test).mean()),
        "modes_covered": modes,
        "high_quality_fraction": quality,
        "final_train_nll": history.last("nll", 10),
        "resolution": cfg.resolution,
    }
    return RealNVPRingResult(flow=flow, train=train.cpu().numpy(), samples=samples.cpu().numpy(),
                             loss=list(history["nll"]), metrics=metrics)


# ========================================================================================
# 2. GAN on the ring
# ========================================================================================


@dataclass
class GANRingConfig(ExperimentConfig):
    """A non-saturating GAN on ``ring`` with MLP players (book-scale defaults)."""

    latent_dim: int = 2
    hidden: int = 128
    n_layers: int = 3
    n_steps: int = 1500
    eval_every: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    n_samples: int = 2500  # the mode-coverage protocol's sample size
    resolution: int = 120
    seed: int = 0
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {"hidden": 32, "n_layers": 2, "n_steps": 100, "eval_every": 50, "resolution": 40},
        "paper": {"hidden": 128, "n_layers": 3, "n_steps": 25_000, "eval_every": 500, "lr": 1e-4,
                  "batch_size": 500, "resolution": 200},
    }


@dataclass
class GANRingResult:
    """What :func:`run_gan_ring` returns (arrays on the CPU)."""

    gan: Any
    train: np.ndarray
    samples: np.ndarray
    steps: List[int]
    modes: List[int]
    quality: List[float]
    logit_grid: np.ndarray
    metrics: Dict[str, float] = field(default_factory=dict)


def plot_gan_ring(result: GANRingResult):
    """GAN samples, the discriminator's logit over the plane, and the modes covered along training."""
    import matplotlib.pyplot as plt

    from companion.data import toy_centers
    from companion.plots import scatter_2d, set_style

    set_style()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    centers = toy_centers("ring")
    m = result.metrics
    scatter_2d(result.samples, ax=axes[0], centers=centers, color="C1",
               title=f"GAN samples: {m['modes_covered']}/8 modes, {100 * m['high_quality_fraction']:.0f}% high quality")
    _square(axes[0])
    # far from the data the logit extrapolates to large values; clip the colours to the bulk
    limit = float(np.quantile(np.abs(result.logit_grid), 0.75)) or 1.0
    image = axes[1].imshow(result.logit_grid, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit,
                           extent=(-RING_BOUNDS, RING_BOUNDS, -RING_BOUNDS, RING_BOUNDS))
    axes[1].scatter(centers[:, 0], centers[:, 1], marker="x", color="black", s=40)
    axes[1].grid(False)
    axes[1].set_title(r"discriminator logit $\approx \log p^*/p_\theta$" + f" (clipped at ±{limit:.1f})")
    fig.colorbar(image, ax=axes[1], fraction=0.046)
    axes[2].plot(result.steps, result.modes, marker="o", label="modes covered")
    axes[2].set_ylim(-0.3, 8.3)
    axes[2].set_xlabel("generator step")
    axes[2].set_ylabel("modes covered (of 8)")
    twin = axes[2].twinx()
    twin.plot(result.steps, result.quality, color="C2", marker=".", label="high-quality fraction")
    twin.set_ylim(0, 1.02)
    twin.set_ylabel("high-quality fraction")
    twin.grid(False)
    lines = axes[2].get_lines() + twin.get_lines()
    axes[2].legend(lines, [line.get_label() for line in lines], loc="upper left")
    axes[2].set_title("coverage along training")
    fig.tight_layout()
    return fig


@register("preliminaries/gan_ring", config=GANRingConfig, plot=plot_gan_ring,
          description="Non-saturating GAN on the ring: mode coverage on 2,500 samples along training")
def run_gan_ring(cfg: GANRingConfig) -> GANRingResult:
    """Train a GAN on ``ring`` and measure its modes every ``eval_every`` generator steps.

    Metrics: ``modes_covered`` (0 to 8) and ``high_quality_fraction`` of ``n_samples`` final
    samples (the VEEGAN/PacGAN protocol, :func:`companion.metrics.mode_coverage`), and
    ``min_modes_covered`` / ``max_modes_covered`` over the evaluations after the first.
    """
    from companion.data import load
    from companion.gan import GAN, MLPDiscriminator, MLPGenerator, fit_gan

    if cfg.eval_every < 1 or cfg.n_steps < 1:
        raise ValueError("n_steps and eval_every must be positive")
    companion.seed_everything(cfg.seed)
    dev = companion.device()
    train = load("ring", "train").to(dev)
    gan = GAN(MLPGenerator(cfg.latent_dim, (2,), hidden=cfg.hidden, n_layers=cfg.n_layers),
              MLPDiscriminator((2,), hidden=cfg.hidden, n_layers=cfg.n_layers)).to(dev)
    betas = (0.5, 0.999)
    d_opt = torch.optim.Adam(gan.discriminator.parameters(), lr=cfg.lr, betas=betas)
    g_opt = torch.optim.Adam(gan.generator.parameters(), lr=cfg.lr, betas=betas)
    steps, modes, quality = [], [], []
    done = 0
    while done < cfg.n_steps:
        chunk = min(cfg.eval_every, cfg.n_steps - done)
        # the optimizers are passed in, so their state carries over between the chunks
        fit_gan(gan, train, n_steps=chunk, batch_size=cfg.batch_size, d_optimizer=d_opt,
                g_optimizer=g_opt, log_every=chunk, desc=f"GAN (ring) {done}/{cfg.n_steps}")
        done += chunk
        n_modes, hq = _ring_quality(gan.sample(cfg.n_samples))
        steps.append(done)
        modes.append(n_modes)
        quality.append(hq)
    gan.eval()
    samples = gan.sample(cfg.n_samples)
    n_modes, hq = _ring_quality(samples)
    axis = torch.linspace(-RING_BOUNDS, RING_BOUNDS, cfg.resolution)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    with torch.no_grad():
        logits = gan.discriminator(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(dev))
    later = modes[1:] if len(modes) > 1 else modes
    metrics = {
        "modes_covered": n_modes,
        "high_quality_fraction": hq,
        "min_modes_covered": int(min(later)),
        "max_modes_covered": int(max(later)),
    }
    return GANRingResult(gan=gan, train=train.cpu().numpy(), samples=samples.cpu().numpy(), steps=steps,
                         modes=modes, quality=quality,
                         logit_grid=logits.view(cfg.resolution, cfg.resolution).cpu().numpy(), metrics=metrics)


# ========================================================================================
# 3. VAE on digits: ELBO, IWAE, and the blur of the mean
# ========================================================================================


def total_variation(images: torch.Tensor) -> float:
    """Mean absolute difference between horizontally and vertically adjacent pixels.

    A crude sharpness/noise statistic of a batch ``(N, C, H, W)`` of images in [0, 1]: a
    blurry image has a small total variation, a noisy one a large one.
    """
    if not torch.is_tensor(images) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"images must be a float tensor (N, C, H, W); got {getattr(images, 'shape', type(images))}")
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return float((dx + dy) / 2)


def _mid_grey_fraction(images: torch.Tensor) -> float:
    """The fraction of pixels strictly between 0.25 and 0.75 (neither ink nor paper)."""
    return float(((images > 0.25) & (images < 0.75)).float().mean())


@dataclass
class VAEDigitsConfig(ExperimentConfig):
    """A VAE with a discretized logistic likelihood on ``digits`` (book-scale defaults)."""

    latent_dim: int = 8
    hidden: int = 256
    n_layers: int = 2
    n_steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    n_levels: int = 17  # digits holds the grey levels 0..16
    iwae_ks: Tuple[int, ...] = (1, 10, 100, 1000)
    elbo_samples: int = 100  # posterior draws for the ELBO's reconstruction term at test time
    n_show: int = 32
    seed: int = 0
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {"hidden": 64, "n_steps": 150, "iwae_ks": (1, 10, 50), "elbo_samples": 20, "n_show": 16},
        "paper": {"n_steps": 30_000, "iwae_ks": (1, 10, 100, 1000, 5000), "elbo_samples": 1000},
    }


@dataclass
class VAEDigitsResult:
    """What :func:`run_vae_digits` returns (images in [0, 1] on the CPU)."""

    vae: Any
    test_images: np.ndarray
    reconstructions: np.ndarray
    sample_means: np.ndarray
    samples: np.ndarray
    iwae_ks: List[int]
    iwae: List[float]
    history: Any
    metrics: Dict[str, float] = field(default_factory=dict)


def plot_vae_digits(result: VAEDigitsResult):
    """Test digits, decoder means and decoder draws, and the bounds against ``K``."""
    import matplotlib.pyplot as plt

    from companion.plots import image_grid, set_style

    set_style()
    fig = plt.figure(figsize=(13, 6.5))
    grid = fig.add_gridspec(2, 3, width_ratios=[1, 1, 1.1])
    panels = [
        (result.test_images, "test digits"),
        (result.reconstructions, "reconstructions (decoder mean)"),
        (result.sample_means, r"prior samples: decoder mean (location)"),
        (result.samples, r"prior samples: draws from $p(x\mid z)$"),
    ]
    for k, (images, title) in enumerate(panels):
        image_grid(images, nrow=8 if len(images) >= 16 else 4, ax=fig.add_subplot(grid[k // 2, k % 2]), title=title)
    ax = fig.add_subplot(grid[:, 2])
    m = result.metrics
    ax.semilogx(result.iwae_ks, result.iwae, marker="o", label=r"IWAE bound $\mathcal{L}_K$")
    ax.axhline(m["elbo"], color="C3", linestyle="--", label="ELBO")
    ax.set_xlabel("importance samples K")
    ax.set_ylabel("test bound on log p(x) (nats)")
    ax.set_title("bounds on the test split")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


@register("preliminaries/vae_digits", config=VAEDigitsConfig, plot=plot_vae_digits,
          description="VAE on digits: ELBO vs IWAE bound on the test split, samples, the blur of the mean")
def run_vae_digits(cfg: VAEDigitsConfig) -> VAEDigitsResult:
    """Train a VAE on the grey levels of ``digits`` and bound its test log-likelihood.

    The likelihood is the discretized logistic over ``n_levels`` levels, so every number is
    (a bound on) the log-probability of the discrete test images in nats.

    Metrics: ``elbo`` (test mean, reconstruction averaged over ``elbo_samples`` draws),
    ``reconstruction`` and ``kl``, ``train_elbo`` (the same estimator on the training split)
    and ``train_minus_test_elbo``, ``n_steps`` and ``latent_dim`` (from the config), ``iwae_k<K>``
    for each ``K`` of ``iwae_ks``, ``iwae`` (the largest ``K``), ``iwae_minus_elbo``, ``iwae_bits_per_dim``,
    and the blur statistics
    ``tv_data`` / ``tv_mean`` / ``tv_sample`` (:func:`total_variation`) and
    ``midgrey_data`` / ``midgrey_mean`` / ``midgrey_sample`` (fraction of mid-grey pixels),
    and ``decoder_scale_levels``, the learned logistic scale in grey levels.
    """
    from companion.data import load
    from companion.metrics import bits_per_dim
    from companion.vae import VAE, fit_vae

    ks = sorted({int(k) for k in cfg.iwae_ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"iwae_ks must hold positive ints; got {cfg.iwae_ks!r}")
    companion.seed_everything(cfg.seed)
    dev = companion.device()
    train = load("digits", "train").to(dev)  # in [0, 1], level k at k / 16: the VAE takes it as it is
    test = load("digits", "test").to(dev)
    vae = VAE((1, 8, 8), latent_dim=cfg.latent_dim, likelihood="logistic", n_levels=cfg.n_levels,
              hidden=cfg.hidden, n_layers=cfg.n_layers).to(dev)
    history = fit_vae(vae, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                      desc="VAE (digits)")
    vae.eval()
    with torch.no_grad():
        terms = vae.elbo(test, n_samples=cfg.elbo_samples)
        # The training ELBO with the same estimator as the test ELBO (all training images,
        # the same number of posterior draws, eval mode), so that the two compare like with like.
        train_elbo = float(vae.elbo(train, n_samples=cfg.elbo_samples).elbo.mean())
        bounds = [float(vae.log_prob(test, n_samples=k).mean()) for k in ks]
        shown = test[: cfg.n_show]
        recon = vae.reconstruct(shown)
        z = torch.randn(cfg.n_show, cfg.latent_dim, device=dev)
        params = vae.decode(z)
        means = vae.likelihood_mean(params)
        draws = vae.likelihood_sample(params)
        # blur statistics on a larger batch than the one shown
        z_many = torch.randn(len(test), cfg.latent_dim, device=dev)
        params_many = vae.decode(z_many)
        means_many = vae.likelihood_mean(params_many)
        draws_many = vae.likelihood_sample(params_many)
    test01 = test
    elbo = float(terms.elbo.mean())
    metrics: Dict[str, float] = {
        "elbo": elbo,
        "reconstruction": float(terms.reconstruction.mean()),
        "kl": float(terms.kl.mean()),
        **{f"iwae_k{k}": b for k, b in zip(ks, bounds)},
        "iwae": bounds[-1],
        "iwae_k": ks[-1],
        "iwae_minus_elbo": bounds[-1] - elbo,
        "elbo_bits_per_dim": float(bits_per_dim(-elbo, 64)),
        "iwae_bits_per_dim": float(bits_per_dim(-bounds[-1], 64)),
        "train_elbo": train_elbo,
        "train_minus_test_elbo": train_elbo - elbo,
        "n_steps": cfg.n_steps,
        "latent_dim": cfg.latent_dim,
        "decoder_scale_levels": float(vae.log_scale.detach().exp()),
        "tv_data": total_variation(test01),
        "tv_mean": total_variation(means_many),
        "tv_sample": total_variation(draws_many),
        "midgrey_data": _mid_grey_fraction(test01),
        "midgrey_mean": _mid_grey_fraction(means_many),
        "midgrey_sample": _mid_grey_fraction(draws_many),
    }
    to_np = lambda t: t.clamp(0, 1).cpu().numpy()  # noqa: E731
    return VAEDigitsResult(vae=vae, test_images=to_np(shown), reconstructions=to_np(recon),
                           sample_means=to_np(means), samples=to_np(draws), iwae_ks=ks, iwae=bounds,
                           history=history, metrics=metrics)


# ========================================================================================
# 4. Parzen windows: bandwidth, sample size, and a model that beats the truth
# ========================================================================================


@dataclass
class ParzenBandwidthConfig(ExperimentConfig):
    """Parzen-window log-likelihoods on ``digits`` (book-scale defaults)."""

    sigmas: Tuple[float, ...] = tuple(float(s) for s in np.logspace(-2, 0, 25))
    sample_sizes: Tuple[int, ...] = (30, 100, 300, 1297)
    n_init: int = 3  # k-means restarts
    seed: int = 0
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {"sigmas": tuple(float(s) for s in np.logspace(-2, 0, 9)), "sample_sizes": (30, 100), "n_init": 1},
        "paper": {"sigmas": tuple(float(s) for s in np.logspace(-2, 0, 41)), "n_init": 10},
    }


@dataclass
class ParzenBandwidthResult:
    """What :func:`run_parzen_bandwidth` returns.

    ``curves[name]`` holds the test log-likelihood for every bandwidth of ``sigmas``;
    ``by_size[name]`` the test log-likelihood at the validation-selected bandwidth for every
    entry of ``sample_sizes``, for ``"data"`` (real digits) and ``"kmeans"`` (centroids).
    """

    sigmas: List[float]
    sample_sizes: List[int]
    curves: Dict[str, List[float]]
    selected: Dict[str, float]
    by_size: Dict[str, List[float]]
    metrics: Dict[str, float] = field(default_factory=dict)


def plot_parzen_bandwidth(result: ParzenBandwidthResult):
    """Test Parzen log-likelihood against the bandwidth, and against the number of samples."""
    import matplotlib.pyplot as plt

    from companion.plots import set_style

    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, (name, values) in enumerate(result.curves.items()):
        axes[0].semilogx(result.sigmas, values, label=name, color=f"C{k}")
        sigma = result.selected[name]
        axes[0].axvline(sigma, color=f"C{k}", linestyle=":", linewidth=1)
    top = max(max(v) for v in result.curves.values())
    axes[0].set_ylim(top - 150, top + 15)
    axes[0].set_xlabel(r"bandwidth $\sigma$")
    axes[0].set_ylabel("test log-likelihood (nats)")
    axes[0].set_title("Parzen estimate vs bandwidth (dotted: chosen on valid)")
    axes[0].legend(loc="lower right")
    for k, name in enumerate(result.by_size):
        axes[1].semilogx(result.sample_sizes, result.by_size[name], marker="o", label=name, color=f"C{k}")
    axes[1].set_xlabel("number of samples N (data points or centroids)")
    axes[1].set_ylabel("test log-likelihood (nats)")
    axes[1].set_title("Parzen estimate vs number of samples")
    axes[1].legend(loc="lower right")
    fig.tight_layout()
    return fig


@register("preliminaries/parzen_bandwidth", config=ParzenBandwidthConfig, plot=plot_parzen_bandwidth,
          description="Parzen windows on digits: bandwidth sensitivity, sample size, k-means beats the data")
def run_parzen_bandwidth(cfg: ParzenBandwidthConfig) -> ParzenBandwidthResult:
    """Parzen-window estimates of the test log-likelihood of ``digits`` (64-D, values in [0, 1]).

    Two "models" are scored: real digits (the training split, i.e. exact samples of the
    data distribution) and k-means centroids of the training split (blurry averages, no
    digit among them). For each sample size ``N`` the first ``N`` training digits, or ``N``
    centroids, are the kernel centres; the bandwidth is chosen on the validation split
    among ``sigmas`` (:func:`companion.metrics.select_parzen_sigma`) and the test split is
    scored at that bandwidth.

    Metrics: ``data_ll`` / ``kmeans_ll`` at each size (``..._n<N>``), the bandwidths chosen
    at the largest size, and ``data_ll_half_sigma_drop`` / ``data_ll_double_sigma_drop`` (how
    many nats the estimate of the largest data sample loses when the chosen bandwidth is
    halved or doubled).
    """
    from sklearn.cluster import KMeans

    from companion.data import load
    from companion.metrics import parzen_log_likelihood, select_parzen_sigma

    companion.seed_everything(cfg.seed)
    train = load("digits", "train").flatten(1)
    valid = load("digits", "valid").flatten(1)
    test = load("digits", "test").flatten(1)
    sizes = sorted({min(int(n), len(train)) for n in cfg.sample_sizes})
    if not sizes or sizes[0] < 2:
        raise ValueError(f"sample_sizes must hold ints >= 2; got {cfg.sample_sizes!r}")
    sigmas = [float(s) for s in cfg.sigmas]
    order = torch.randperm(len(train))

    def centres(kind: str, n: int) -> torch.Tensor:
        if kind == "data":
            return train[order[:n]]
        if n >= len(train):  # as many centroids as points: the points themselves
            return train
        km = KMeans(n_clusters=n, n_init=cfg.n_init, random_state=cfg.seed).fit(train.numpy())
        return torch.as_tensor(km.cluster_centers_, dtype=torch.float32)

    kinds = {"data": "real digits", "kmeans": "k-means centroids"}
    by_size: Dict[str, List[float]] = {label: [] for label in kinds.values()}
    chosen: Dict[Tuple[str, int], float] = {}
    for kind, label in kinds.items():
        for n in sizes:
            points = centres(kind, n)
            sigma, _ = select_parzen_sigma(points, valid, sigmas)
            chosen[kind, n] = sigma
            by_size[label].append(parzen_log_likelihood(points, test, sigma))
    # the bandwidth curves: all real digits, and the two models at the middle size
    mid = sizes[len(sizes) // 2] if len(sizes) > 2 else sizes[0]
    curve_sets = {f"real digits, N={sizes[-1]}": ("data", sizes[-1]),
                  f"real digits, N={mid}": ("data", mid),
                  f"k-means centroids, N={mid}": ("kmeans", mid)}
    curves: Dict[str, List[float]] = {}
    selected: Dict[str, float] = {}
    for name, (kind, n) in curve_sets.items():
        points = centres(kind, n)
        curves[name] = [parzen_log_likelihood(points, test, s) for s in sigmas]
        selected[name] = chosen[kind, n]
    best = chosen["data", sizes[-1]]
    everything = centres("data", sizes[-1])
    at_best = parzen_log_likelihood(everything, test, best)
    metrics: Dict[str, float] = {}
    for kind, label in kinds.items():
        for n, value in zip(sizes, by_size[label]):
            metrics[f"{kind}_ll_n{n}"] = value
    metrics.update({
        "sigma_data": chosen["data", sizes[-1]],
        "sigma_kmeans_mid": chosen["kmeans", mid],
        "mid_size": mid,
        "data_ll_half_sigma_drop": at_best - parzen_log_likelihood(everything, test, best / 2),
        "data_ll_double_sigma_drop": at_best - parzen_log_likelihood(everything, test, 2 * best),
        "kmeans_minus_data_mid": float(by_size["k-means centroids"][sizes.index(mid)]
                                       - by_size["real digits"][sizes.index(mid)]),
    })
    return ParzenBandwidthResult(sigmas=sigmas, sample_sizes=sizes, curves=curves, selected=selected,
                                 by_size=by_size, metrics=metrics)


# ========================================================================================
# Exercise checks (the reader calls these on an answer)
# ========================================================================================


def check_optimal_discriminator(
    optimal_discriminator: Callable[[np.ndarray, np.ndarray], np.ndarray],
    js_divergence: Optional[Callable[[np.ndarray, np.ndarray], float]] = None,
    seed: int = 0,
) -> bool:
    """Check a reader's optimal discriminator (and optionally Jensen–Shannon divergence).

    ``optimal_discriminator(p_data, p_model)`` receives two probability vectors over the
    same finite set and must return ``D*(x)`` for every ``x`` (where ``p_data + p_model > 0``;
    entries where both vanish are not checked). ``js_divergence(p, q)``, when given, must
    return the Jensen–Shannon divergence in nats. The check also verifies the identity
    ``V(D*) = 2 JS - log 4`` with the reader's ``D*``.

    Returns:
        ``True`` (and prints a confirmation) when every case passes.

    Raises:
        TypeError: if the arguments are not callables.
        AssertionError: naming the first failed case and what was expected.
    """
    if not callable(optimal_discriminator) or (js_divergence is not None and not callable(js_divergence)):
        raise TypeError("pass the functions themselves: check_optimal_discriminator(my_d_star, my_js)")
    rng = np.random.default_rng(seed)
    cases = [
        ("uniform vs uniform", np.full(4, 0.25), np.full(4, 0.25)),
        ("disjoint supports", np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.0, 0.0, 0.5, 0.5])),
        ("one dropped mode", np.array([0.25, 0.25, 0.25, 0.25]), np.array([1 / 3, 1 / 3, 1 / 3, 0.0])),
    ] + [(f"random case {i}", rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))) for i in range(5)]
    for name, p, q in cases:
        d = np.asarray(optimal_discriminator(p.copy(), q.copy()), dtype=float)
        assert d.shape == p.shape, f"{name}: D* must have one value per outcome, shape {p.shape}; got {d.shape}"
        support = (p + q) > 0
        expected = np.divide(p, p + q, out=np.zeros_like(p), where=support)
        assert np.allclose(d[support], expected[support], atol=1e-8), (
            f"{name}: p_data={p.round(3)}, p_model={q.round(3)}: expected D*={expected.round(4)}, got {d.round(4)}. "
            "Hint: maximise a log D + b log(1 - D) over D in [0, 1] for each outcome."
        )
        m = (p + q) / 2
        js_true = 0.5 * _kl(p, m) + 0.5 * _kl(q, m)
        with np.errstate(divide="ignore"):
            value = np.sum(p[support] * np.log(np.clip(d[support], 1e-300, None))) + np.sum(
                q[support] * np.log(np.clip(1 - d[support], 1e-300, None)))
        assert abs(value - (2 * js_true - math.log(4))) < 1e-6, f"{name}: V(D*) should equal 2 JS - log 4"
        if js_divergence is not None:
            js = float(js_divergence(p.copy(), q.copy()))
            assert abs(js - js_true) < 1e-6, (
                f"{name}: expected JS={js_true:.6f} nats, got {js:.6f}. Hint: JS = (KL(p||m) + KL(q||m)) / 2 "
                "with m = (p + q) / 2, and 0 log 0 = 0.")
    print(f"Correct: {len(cases)} cases passed" + (" (D* and JS)." if js_divergence is not None else " (D*)."))
    return True


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def check_bits_per_dim(answer: float, nll_nats: float, n_dims: int, n_levels: int) -> bool:
    """Check a reader's bits/dim for a density fitted on dequantized data rescaled to [0, 1].

    The data have ``n_levels`` levels per dimension, dequantized as ``(x + u) / n_levels``;
    the density's negative log-likelihood on that scale is ``nll_nats`` per example. The
    discrete data's bits/dim is ``(nll_nats + n_dims log n_levels) / (n_dims log 2)``
    (:func:`companion.metrics.continuous_to_discrete_nll`, then
    :func:`companion.metrics.bits_per_dim`).

    Returns:
        ``True`` (and prints a confirmation) when ``answer`` is right to 1e-3.

    Raises:
        TypeError: if ``answer`` is not a number.
        AssertionError: with a hint when it is wrong.
    """
    from companion.metrics import bits_per_dim, continuous_to_discrete_nll

    if isinstance(answer, bool) or not isinstance(answer, (int, float, np.integer, np.floating)):
        raise TypeError(f"answer must be a number (bits per dimension); got {type(answer).__name__}")
    expected = float(bits_per_dim(continuous_to_discrete_nll(nll_nats, n_dims, n_levels), n_dims))
    if abs(float(answer) - expected) > 1e-3:
        hints = []
        if abs(float(answer) - nll_nats / (n_dims * math.log(2))) < 1e-3:
            hints.append("you forgot the change of units: the density on [0, 1] is n_levels**D times "
                         "larger than on the scale of the levels")
        if abs(float(answer) - expected * math.log(2)) < 1e-3:
            hints.append("you gave nats per dimension; divide by log 2")
        raise AssertionError(f"expected {expected:.4f} bits/dim, got {float(answer):.4f}. "
                             + ("; ".join(hints) if hints else "Hint: bin width 1/n_levels."))
    print(f"Correct: {expected:.4f} bits/dim.")
    return True


# ========================================================================================
# 5. Thesis Table 2.1: the Fréchet distance of random subsets of real data
# ========================================================================================


@dataclass
class FrechetSubsetsConfig(ExperimentConfig):
    """Table 2.1 of the thesis on ``digits``: scores of random subsets of the real training set.

    The thesis scores random subsets of CIFAR-10 (50k down to 2.5k images) with the
    Inception score and FID against the full set. Here the features are those of the small
    digit classifier of the adaptive-density chapter, and the subsets shrink from the
    1,297 training digits down to ``min(sizes)``; ``n_repeats`` draws per size give a spread.
    """

    sizes: Tuple[int, ...] = (1297, 650, 325, 160, 80)
    n_repeats: int = 10
    classifier_steps: int = 400
    seed: int = 0
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {"sizes": (1297, 160), "n_repeats": 2, "classifier_steps": 40},
        "paper": {"n_repeats": 50, "classifier_steps": 2000},
    }


@dataclass
class FrechetSubsetsResult:
    sizes: List[int]
    frechet: np.ndarray  # (n_sizes, n_repeats): Fréchet distance to the full training set
    classifier_score: np.ndarray  # (n_sizes, n_repeats): the Inception score's formula, digit classifier
    references: Dict[str, Dict[str, float]]  # "test digits", "digits 0-4 only": their scores
    metrics: Dict[str, Any] = field(default_factory=dict)


def classifier_score(probs: torch.Tensor) -> float:
    """The Inception score's formula ``exp E_x KL(p(y|x) || p(y))`` for class probabilities ``probs`` (N, C).

    Raises:
        ValueError: when ``probs`` is not a finite (N, C) matrix of rows that sum to one.
    """
    if not torch.is_tensor(probs) or probs.dim() != 2 or probs.shape[0] < 1:
        raise ValueError(
            f"probs must be a (N, C) tensor of class probabilities; got {getattr(probs, 'shape', probs)!r}"
        )
    probs = probs.double()
    if not bool(torch.isfinite(probs).all()) or float(probs.min()) < 0 or not torch.allclose(
            probs.sum(1), torch.ones(len(probs), dtype=probs.dtype), atol=1e-4):
        raise ValueError("probs must hold finite, non-negative rows that sum to one")
    marginal = probs.mean(0, keepdim=True)
    kl = (probs * (probs.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1)
    return float(kl.mean().exp())


def plot_frechet_subsets(result: FrechetSubsetsResult):
    """Fréchet distance and classifier score of random subsets against their size, with the references."""
    import matplotlib.pyplot as plt

    from companion.plots import set_style

    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    sizes = np.asarray(result.sizes)
    for ax, values, key, label in (
        (axes[0], result.frechet, "frechet", "Fréchet distance to all training digits"),
        (axes[1], result.classifier_score, "classifier_score", "classifier score (IS formula)"),
    ):
        ax.errorbar(
            sizes, values.mean(1), yerr=values.std(1), marker="o", capsize=3, label="random subsets of real digits"
        )
        for (name, ref), style in zip(result.references.items(), ("--", ":")):
            ax.axhline(ref[key], color="grey", linestyle=style, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("number of real training digits in the subset")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@register("preliminaries/frechet_subsets", config=FrechetSubsetsConfig, plot=plot_frechet_subsets,
          description="Thesis Table 2.1: Fréchet distance and classifier score of random subsets of the digits")
def run_frechet_subsets(cfg: FrechetSubsetsConfig) -> FrechetSubsetsResult:
    """Score random subsets of the training digits against the full set, in a digit classifier's features.

    References: the 250 test digits (a fresh sample of the same distribution) and the training
    digits 0 to 4 only (perfect quality, half of the classes dropped).
    """
    from companion.data import load, load_labels
    from companion.experiments.adaptive_density import train_feature_net
    from companion.metrics import frechet_distance

    if not cfg.sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 2 for n in cfg.sizes):
        raise ValueError(f"sizes must be integers >= 2; got {cfg.sizes!r}")
    dev = companion.device()
    train, labels = load("digits", "train").to(dev), load_labels("digits", "train")
    if max(cfg.sizes) > len(train):
        raise ValueError(f"sizes must be at most {len(train)}, the number of training digits; got {cfg.sizes!r}")
    net, accuracy = train_feature_net(n_steps=cfg.classifier_steps, seed=cfg.seed, device=dev)
    with torch.no_grad():
        feats = net.features(train).cpu()
        probs = torch.softmax(net(train), 1).cpu()
        test = load("digits", "test").to(dev)
        test_feats, test_probs = net.features(test).cpu(), torch.softmax(net(test), 1).cpu()
    generator = torch.Generator().manual_seed(cfg.seed)
    frechet = np.zeros((len(cfg.sizes), cfg.n_repeats))
    score = np.zeros_like(frechet)
    for i, n in enumerate(cfg.sizes):
        for r in range(cfg.n_repeats):
            idx = torch.randperm(len(train), generator=generator)[:n]
            frechet[i, r] = frechet_distance(feats, feats[idx])
            score[i, r] = classifier_score(probs[idx])
    half = (labels < 5).cpu()
    references = {
        "the 250 test digits": {
            "frechet": frechet_distance(feats, test_feats),
            "classifier_score": classifier_score(test_probs),
        },
        "training digits 0-4 only": {
            "frechet": frechet_distance(feats, feats[half]),
            "classifier_score": classifier_score(probs[half]),
        },
    }
    metrics = {
        "classifier_accuracy": accuracy,
        "frechet": {
            int(n): {"mean": float(frechet[i].mean()), "std": float(frechet[i].std())} for i, n in enumerate(cfg.sizes)
        },
        "classifier_score": {
            int(n): {"mean": float(score[i].mean()), "std": float(score[i].std())} for i, n in enumerate(cfg.sizes)
        },
        "references": references,
        "paper_cifar10": {"sizes": [50_000, 10_000, 5_000, 2_500], "fid": [0.0, 2.10, 4.82, 10.48]},
    }
    return FrechetSubsetsResult(list(cfg.sizes), frechet, score, references, metrics)


# ========================================================================================
# 6. Thesis Fig. 2.5: the flow distorts the space
# ========================================================================================


@dataclass
class FlowGridConfig(RealNVPRingConfig):
    """Fig. 2.5 of the thesis: a regular grid pushed through the Real-NVP of the ring, both ways.

    The flow is the one of ``preliminaries/realnvp_ring`` (same fields, same scales); the
    grid has ``n_lines`` lines per direction, each drawn with ``n_points`` points.
    """

    n_lines: int = 17
    n_points: int = 300


@dataclass
class FlowGridResult:
    data_lines: np.ndarray  # (2 * n_lines, n_points, 2): a regular grid in data space
    data_lines_to_latent: np.ndarray  # the same lines mapped by f: data -> latent
    latent_lines: np.ndarray  # a regular grid in latent space, [-3, 3]^2
    latent_lines_to_data: np.ndarray  # the same lines mapped by f^-1: latent -> data
    train: np.ndarray
    train_to_latent: np.ndarray
    metrics: Dict[str, float] = field(default_factory=dict)


def _grid_lines(half_width: float, n_lines: int, n_points: int) -> torch.Tensor:
    ticks = torch.linspace(-half_width, half_width, n_lines)
    along = torch.linspace(-half_width, half_width, n_points)
    vertical = torch.stack([ticks[:, None].expand(n_lines, n_points), along[None].expand(n_lines, n_points)], -1)
    return torch.cat([vertical, vertical.flip(-1)])  # (2 * n_lines, n_points, 2)


@torch.no_grad()
def flow_grid_from(flow: Any, train: np.ndarray, n_lines: int = 17, n_points: int = 300) -> FlowGridResult:
    """Push a regular grid through a trained 2-D flow: data grid -> latent, latent grid -> data.

    Args:
        flow: a 2-D flow with ``forward(x) -> (y, logdet)`` and ``inverse(y)`` (a
            :class:`companion.flows.RealNVP` on ``(2,)``).
        train: the training points (N, 2), also mapped to the latent space.
        n_lines, n_points: lines per direction and points per line (``>= 2`` each).

    Metrics: ``stretch_ratio``, the ratio of the largest to the smallest local area scale
    ``|det df/dx|`` over the data grid's points, a number for how unevenly the flow distorts.
    """
    check_int(n_lines, "n_lines", 2)
    check_int(n_points, "n_points", 2)
    train = np.asarray(train, dtype=np.float32)
    if train.ndim != 2 or train.shape[1] != 2:
        raise ValueError(f"train must be (N, 2) points; got shape {train.shape}")
    dev = next(flow.parameters()).device
    data_lines = _grid_lines(RING_BOUNDS, n_lines, n_points)
    latent_lines = _grid_lines(3.0, n_lines, n_points)
    flat = data_lines.reshape(-1, 2).to(dev)
    to_latent, logdet = flow(flat)
    to_data = flow.inverse(latent_lines.reshape(-1, 2).to(dev))
    train_latent, _ = flow(torch.as_tensor(train, device=dev))
    log_area = logdet.double().cpu()
    metrics = {"stretch_ratio": float((log_area.max() - log_area.min()).exp()),
               "n_lines": n_lines}
    return FlowGridResult(data_lines.numpy(), to_latent.reshape(data_lines.shape).cpu().numpy(),
                          latent_lines.numpy(), to_data.reshape(latent_lines.shape).cpu().numpy(),
                          train, train_latent.cpu().numpy(), metrics)


def plot_flow_grid(result: FlowGridResult):
    """Top: a data-space grid and its image in latent space; bottom: a latent grid and its image in data space."""
    import matplotlib.pyplot as plt

    from companion.plots import set_style

    set_style()
    fig, axes = plt.subplots(1, 4, figsize=(15, 4))
    panels = ((result.data_lines, result.train, "data space x: a regular grid"),
              (result.data_lines_to_latent, result.train_to_latent, "latent space f(x): the same grid"),
              (result.latent_lines, result.train_to_latent, "latent space y: a regular grid"),
              (result.latent_lines_to_data, result.train, "data space f^-1(y): the same grid"))
    for ax, (lines, points, title) in zip(axes, panels):
        for line in lines:
            ax.plot(line[:, 0], line[:, 1], color="C0", linewidth=0.5, alpha=0.7)
        ax.scatter(points[:1500, 0], points[:1500, 1], s=2, color="C1", alpha=0.5, zorder=3)
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal", adjustable="box")
        ax.grid(False)
    for ax in axes[1:3]:
        ax.set_xlim(-4, 4)
        ax.set_ylim(-4, 4)
    for ax in (axes[0], axes[3]):
        ax.set_xlim(-RING_BOUNDS, RING_BOUNDS)
        ax.set_ylim(-RING_BOUNDS, RING_BOUNDS)
    fig.tight_layout()
    return fig


@register("preliminaries/flow_grid", config=FlowGridConfig, plot=plot_flow_grid,
          description="Thesis Fig. 2.5: a regular grid through the ring's Real-NVP, data -> latent and back")
def run_flow_grid(cfg: FlowGridConfig) -> FlowGridResult:
    """Train the ring's Real-NVP (as ``preliminaries/realnvp_ring``) and push grids through it both ways."""
    fitted = run_realnvp_ring(cfg)
    return flow_grid_from(fitted.flow, fitted.train, cfg.n_lines, cfg.n_points)
