"""The GANs of the primer chapter (``book/preliminaries.md``), after Lucas (2020), ch. 2.

* ``preliminaries/gan_ring`` — a non-saturating GAN on the ring: the modes it covers
  (``mode_coverage`` on 2,500 samples) along training, and its discriminator's logit, an
  estimate of the log density ratio ``log p_data / p_model``.
* ``preliminaries/gan_digits`` — a non-saturating GAN on ``digits`` and the quality bar every
  digits GAN of the book meets before a chapter compares against it
  (:func:`companion.metrics.classifier_quality_bar`): on 1,000 samples the digit classifier
  sees every class at least 3% of the time, and the Fréchet distance in its features is
  within twice that of a VAE trained for the same number of steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List

import numpy as np
import torch

import companion
from companion.checks import check_positive_int
from companion.config import ExperimentConfig
from companion.data import load, toy_centers
from companion.experiments.feature_classifier import train_feature_net
from companion.experiments.preliminaries import RING_BOUNDS, RingConfig, _ring_quality, _square
from companion.gan import GAN, MLPDiscriminator, MLPGenerator, fit_gan
from companion.metrics import classifier_frechet, classifier_quality_bar, mean_std
from companion.plots import image_grid, scatter_2d, set_style
from companion.reproduce import register
from companion.train import adam
from companion.vae import VAE, fit_vae

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib
    from matplotlib.figure import Figure

__all__ = [
    "GANDigitsConfig",
    "GANDigitsResult",
    "GANRingConfig",
    "GANRingResult",
    "plot_gan_digits",
    "plot_gan_ring",
    "run_gan_digits",
    "run_gan_ring",
]

# ========================================================================================
# 1. GAN on the ring
# ========================================================================================


@dataclass
class GANRingConfig(RingConfig):
    """A non-saturating GAN on ``ring`` with MLP players (book-scale defaults)."""

    latent_dim: int = 2
    hidden: int = 128
    n_layers: int = 3
    n_steps: int = 1500
    eval_every: int = 100
    lr: float = 1e-3
    resolution: int = 120
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


def plot_gan_ring(result: GANRingResult) -> Figure:
    """GAN samples, the discriminator's logit over the plane, and the modes covered along training."""
    import matplotlib.pyplot as plt

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
    check_positive_int(cfg.n_steps, "n_steps")
    check_positive_int(cfg.eval_every, "eval_every")
    companion.seed_everything(cfg.seed)
    dev = companion.device()
    train = load("ring", "train").to(dev)
    gan = GAN(MLPGenerator(cfg.latent_dim, (2,), hidden=cfg.hidden, n_layers=cfg.n_layers),
              MLPDiscriminator((2,), hidden=cfg.hidden, n_layers=cfg.n_layers)).to(dev)
    betas = (0.5, 0.999)
    d_opt = adam(gan.discriminator.parameters(), lr=cfg.lr, betas=betas)
    g_opt = adam(gan.generator.parameters(), lr=cfg.lr, betas=betas)
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
# 2. GAN on digits, and the quality bar of the book's digits GANs
# ========================================================================================


@dataclass
class GANDigitsConfig(ExperimentConfig):
    """A GAN and its reference VAE on ``digits``, the same budget for both (book-scale defaults).

    The generator is the decoder of the implicit-MLE chapter (``latent_dim -> hidden -> 64``,
    sigmoid output), the discriminator one hidden layer of ``disc_hidden`` units; the settings
    are those that ``implicit_mle/gan_sweep`` picks. The VAE (Bernoulli likelihood, scored on its
    decoder means) has the same decoder and trains for the same ``n_steps`` of ``batch_size``.
    """

    latent_dim: int = 16
    hidden: int = 48
    disc_hidden: int = 128
    n_steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    vae_lr: float = 2e-3
    n_seeds: int = 5  # the book's minimum for a comparison (GAN against VAE); one seed trains in seconds
    n_bar_samples: int = 1000
    min_class_share: float = 0.03
    classifier_steps: int = 400
    n_show: int = 36
    seed: int = 0
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {"latent_dim": 4, "n_steps": 20, "n_seeds": 2, "n_bar_samples": 200, "classifier_steps": 40,
                  "n_show": 16},
        "paper": {"n_steps": 10_000, "n_seeds": 10},
    }


@dataclass
class GANDigitsResult:
    """What :func:`run_gan_digits` returns (arrays on the CPU)."""

    gan_samples: np.ndarray  # (n_show, 1, 8, 8), first seed
    vae_samples: np.ndarray  # (n_show, 1, 8, 8) decoder means, first seed
    class_shares: Dict[str, np.ndarray]  # "GAN" / "VAE" -> (n_seeds, 10)
    metrics: Dict[str, Any] = field(default_factory=dict)


def plot_gan_digits(result: GANDigitsResult) -> Figure:
    """GAN samples, VAE decoder means, and each model's class shares over seeds beside the 3% line."""
    import matplotlib.pyplot as plt

    set_style()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.4]})
    nrow = int(np.ceil(np.sqrt(len(result.gan_samples))))
    m = result.metrics
    image_grid(result.gan_samples, nrow=nrow, ax=axes[0],
               title=f"GAN samples (Fréchet {m['frechet_ratio']['mean']:.2f} x the VAE's)")
    image_grid(np.clip(result.vae_samples, 0, 1), nrow=nrow, ax=axes[1], title="VAE samples (decoder means)")
    classes = np.arange(result.class_shares["GAN"].shape[1])
    for offset, name in ((-0.2, "GAN"), (0.2, "VAE")):
        shares = 100 * result.class_shares[name]
        axes[2].bar(classes + offset, shares.mean(0), width=0.4, yerr=shares.std(0), capsize=2, label=name)
    axes[2].axhline(100 * m["min_class_share_required"], color="grey", linestyle="--", linewidth=1,
                    label="the bar: every class at least this")
    axes[2].set_xticks(classes)
    axes[2].set_xlabel("digit class (the classifier's label)")
    axes[2].set_ylabel("share of the samples (%)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


@register("preliminaries/gan_digits", config=GANDigitsConfig, plot=plot_gan_digits,
          description="A GAN on digits and the book's quality bar for digits baselines (classes covered, Fréchet)")
def run_gan_digits(cfg: GANDigitsConfig) -> GANDigitsResult:
    """Train a GAN and a VAE on ``digits`` over seeds; the GAN's quality bar against the VAE of the same seed."""
    dev = companion.device()
    x_train = load("digits", "train").to(dev)
    held_out = torch.cat([load("digits", "valid"), load("digits", "test")]).to(dev)
    shape = tuple(x_train.shape[1:])
    net, accuracy = train_feature_net(n_steps=cfg.classifier_steps, seed=cfg.seed, device=dev)
    bars: List[Dict[str, Any]] = []
    vae_shares, seconds = [], {"GAN": [], "VAE": []}
    for j in range(cfg.n_seeds):
        seed = cfg.seed + j
        companion.seed_everything(seed)
        start = time.perf_counter()
        vae = VAE(shape, cfg.latent_dim, likelihood="bernoulli", hidden=cfg.hidden, n_layers=1).to(dev)
        fit_vae(vae, x_train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.vae_lr)
        seconds["VAE"].append(time.perf_counter() - start)
        companion.seed_everything(seed)
        start = time.perf_counter()
        generator = MLPGenerator(cfg.latent_dim, shape, hidden=cfg.hidden, n_layers=1, out_activation="sigmoid")
        gan = GAN(generator, MLPDiscriminator(shape, hidden=cfg.disc_hidden, n_layers=1)).to(dev)
        fit_gan(gan, x_train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr, loss="ns", desc="GAN (digits)")
        seconds["GAN"].append(time.perf_counter() - start)
        with torch.no_grad():
            vae_samples = vae.sample(cfg.n_bar_samples, mean=True)
            gan_samples = gan.sample(cfg.n_bar_samples)
        reference = classifier_frechet(vae_samples, net, held_out)
        bars.append(classifier_quality_bar(gan_samples, net, held_out, reference, cfg.min_class_share))
        vae_shares.append(
            classifier_quality_bar(vae_samples, net, held_out, reference, cfg.min_class_share)["class_shares"]
        )
        if j == 0:
            shown = (gan_samples[: cfg.n_show].cpu().numpy(), vae_samples[: cfg.n_show].cpu().numpy())
    metrics = {
        "meets_bar_seeds": int(sum(b["meets_bar"] for b in bars)),
        "covers_classes_seeds": int(sum(b["covers_classes"] for b in bars)),
        "frechet": mean_std([b["frechet"] for b in bars]),
        "vae_frechet": mean_std([b["reference_frechet"] for b in bars]),
        "frechet_ratio": mean_std([b["frechet_ratio"] for b in bars]),
        "min_class_share": mean_std([b["min_class_share"] for b in bars]),
        "per_seed": bars,
        "min_class_share_required": cfg.min_class_share,
        "max_frechet_ratio": 2.0,
        "classifier_accuracy": accuracy,
        "train_seconds": {m: mean_std(v) for m, v in seconds.items()},
        "n_seeds": cfg.n_seeds,
        "n_steps": cfg.n_steps,
    }
    shares = {"GAN": np.array([b["class_shares"] for b in bars]), "VAE": np.array(vae_shares)}
    return GANDigitsResult(shown[0], shown[1], shares, metrics)
