"""The VAE of the primer chapter (``book/preliminaries.md``): its bounds and the blur of its mean.

* ``preliminaries/vae_digits`` — a VAE with a discretized logistic likelihood on the 17 grey
  levels of ``digits``: the ELBO and the importance-weighted bounds on the test split (nats),
  and the blur of the decoder mean against the noise of decoder samples
  (:func:`companion.metrics.total_variation`, the fraction of mid-grey pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Tuple

import numpy as np
import torch

import companion
from companion.checks import check_positive_int
from companion.config import ExperimentConfig
from companion.data import load
from companion.metrics import bits_per_dim, total_variation
from companion.plots import image_grid, set_style
from companion.reproduce import register
from companion.vae import VAE, fit_vae

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib
    from matplotlib.figure import Figure

__all__ = ["VAEDigitsConfig", "VAEDigitsResult", "plot_vae_digits", "run_vae_digits"]


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


def plot_vae_digits(result: VAEDigitsResult) -> Figure:
    """Test digits, decoder means and decoder draws, and the bounds against ``K``."""
    import matplotlib.pyplot as plt

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
    ``tv_data`` / ``tv_mean`` / ``tv_sample`` (:func:`companion.metrics.total_variation`) and
    ``midgrey_data`` / ``midgrey_mean`` / ``midgrey_sample`` (fraction of mid-grey pixels),
    and ``decoder_scale_levels``, the learned logistic scale in grey levels.
    """
    if not cfg.iwae_ks:
        raise ValueError(f"iwae_ks must hold positive ints; got {cfg.iwae_ks!r}")
    ks = sorted({check_positive_int(k, "iwae_ks") for k in cfg.iwae_ks})
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
        metrics = _bounds(cfg, vae, train, test, ks)
        shown, recon, means, draws, blur = _images_and_blur(cfg, vae, test)
    metrics.update(blur)
    to_np = lambda t: t.clamp(0, 1).cpu().numpy()  # noqa: E731
    return VAEDigitsResult(vae=vae, test_images=to_np(shown), reconstructions=to_np(recon),
                           sample_means=to_np(means), samples=to_np(draws), iwae_ks=ks,
                           iwae=[metrics[f"iwae_k{k}"] for k in ks], history=history, metrics=metrics)


def _bounds(cfg: VAEDigitsConfig, vae: Any, train: torch.Tensor, test: torch.Tensor, ks: List[int]) -> Dict[str, float]:
    """The test ELBO and its terms, the IWAE bound for every ``K`` of ``ks``, the train ELBO, bits/dim."""
    terms = vae.elbo(test, n_samples=cfg.elbo_samples)
    # The training ELBO with the same estimator as the test ELBO (all training images,
    # the same number of posterior draws, eval mode), so that the two compare like with like.
    train_elbo = float(vae.elbo(train, n_samples=cfg.elbo_samples).elbo.mean())
    bounds = [float(vae.log_prob(test, n_samples=k).mean()) for k in ks]
    elbo = float(terms.elbo.mean())
    return {
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
    }


def _images_and_blur(cfg: VAEDigitsConfig, vae: Any, test: torch.Tensor):
    """The images shown (test digits, reconstructions, decoder means and draws from the prior, in [0, 1])
    and the blur statistics of decoder means and draws over as many prior samples as test digits."""
    shown = test[: cfg.n_show]
    recon = vae.reconstruct(shown)
    params = vae.decode(torch.randn(cfg.n_show, cfg.latent_dim, device=test.device))
    means, draws = vae.likelihood_mean(params), vae.likelihood_sample(params)
    # blur statistics on a larger batch than the one shown
    params_many = vae.decode(torch.randn(len(test), cfg.latent_dim, device=test.device))
    means_many = vae.likelihood_mean(params_many)
    draws_many = vae.likelihood_sample(params_many)
    blur = {
        "tv_data": total_variation(test),
        "tv_mean": total_variation(means_many),
        "tv_sample": total_variation(draws_many),
        "midgrey_data": _mid_grey_fraction(test),
        "midgrey_mean": _mid_grey_fraction(means_many),
        "midgrey_sample": _mid_grey_fraction(draws_many),
    }
    return shown, recon, means, draws, blur
