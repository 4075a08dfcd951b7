"""ELBO surgery, where q(z) misses p(z): decoded prior latents of low aggregate posterior.

* ``elbo_surgery/low_posterior`` — Sec. 3.3 / App. A: low-posterior samples, scored by the
  VAE's own ELBO.
* ``elbo_surgery/low_posterior_analysis`` — Figs. 10-12, 14, 15: low-posterior samples beside
  their nearest neighbours in the data, pixel and per-example-KL histograms, a t-SNE of the
  latents behind them, and the samples against the number of prior draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Dict, List, Tuple

import numpy as np
import torch

from companion import surgery
from companion.checks import check_positive_int
from companion.evidence import bootstrap_difference, verdict
from companion.experiments.elbo_surgery_shared import VAEStudyConfig, posteriors, to_numpy
from companion.plots import image_grid
from companion.reproduce import register
from companion.workers import map_in_workers

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from matplotlib.figure import Figure

# ========================================================================================
# 5. Sec. 3.3 / App. A: low-posterior samples
# ========================================================================================


@dataclass
class LowPosteriorConfig(VAEStudyConfig):
    """Decode prior latents that the aggregate posterior of a ``digits`` VAE (``vae``) misses."""

    n_candidates: int = 20_000
    n_show: int = 32
    #: VAEs trained from ``seed``, ``seed + 1``, ...: their mean ELBOs are compared over the seeds;
    #: the first gives the samples and the histograms (a VAE costs seconds).
    n_seeds: int = 5
    SCALES: ClassVar = {
        "smoke": {**VAEStudyConfig.SCALES["smoke"], "n_candidates": 1000, "n_show": 16, "n_seeds": 2},
        "paper": {**VAEStudyConfig.SCALES["paper"], "n_candidates": 1_000_000, "n_show": 100, "n_seeds": 3},
    }


@dataclass
class LowPosteriorResult:
    """What :func:`run_low_posterior` returns, the pictures and per-image values of the first VAE:
    ``n_show`` decoded mean images of the prior latents of lowest q(z) (``low_samples``) and of
    ordinary prior draws, the log q(z) of their latents, and the VAE's ELBO (nats per image) of
    both, of ``4 * n_show`` training examples (``data_elbo``) and of their decoded posterior means
    (``reconstruction_elbo``)."""

    low_samples: np.ndarray
    ordinary_samples: np.ndarray
    low_log_q: np.ndarray
    ordinary_log_q: np.ndarray
    low_elbo: np.ndarray
    ordinary_elbo: np.ndarray
    data_elbo: np.ndarray
    reconstruction_elbo: np.ndarray
    metrics: Dict[str, float] = field(default_factory=dict)
    #: every ``mean_*`` metric per VAE, one value per seed (the first is the pictures' VAE)
    per_seed: Dict[str, List[float]] = field(default_factory=dict)


@register("elbo_surgery/low_posterior", config=LowPosteriorConfig, plot=lambda r: plot_low_posterior(r),
          description="Sec. 3.3 / App. A: samples decoded from latents with low aggregate posterior")
def run_low_posterior(cfg: LowPosteriorConfig) -> LowPosteriorResult:
    """Decode the prior latents of lowest q(z) and score them with the VAE's own ELBO.

    Decoded images are mean images (grey values), which a Bernoulli ELBO scores differently
    from the data; the like-for-like reference is therefore ``reconstruction_elbo``, the ELBO
    of the decoded means of training examples (their posterior means, decoded), beside the
    ELBO of ordinary prior samples' means and of the data itself.

    The first VAE (``cfg.seed``, the chapter's, trained in this process and cached) gives the
    samples, the per-image scores and ``metrics``; the other ``n_seeds - 1`` are one-thread
    worker jobs (:func:`companion.workers.map_in_workers`) that return their mean scores.
    ``metrics`` also holds the verdict, over the seeds and paired by VAE, on "the VAE rates its
    low-posterior samples higher than the decoded means of its training data" (1 holds, -1
    does not hold, 0 cannot tell; :func:`companion.evidence.verdict`).
    """
    check_positive_int(cfg.n_seeds, "n_seeds")
    result = _low_posterior_run(cfg, cfg.seed)
    others = map_in_workers(lambda seed: _low_posterior_run(cfg, seed).metrics,
                            [(cfg.seed + j,) for j in range(1, cfg.n_seeds)])
    result.per_seed = {key: [m[key] for m in [result.metrics, *others]] for key in result.metrics}
    low, reconstruction = result.per_seed["mean_elbo_low"], result.per_seed["mean_elbo_reconstruction"]
    if cfg.n_seeds > 1:
        diff = bootstrap_difference(low, reconstruction, paired=True)
        result.metrics.update({
            "low_minus_reconstruction_elbo": diff.estimate, "low_minus_reconstruction_elbo_low": diff.low,
            "low_minus_reconstruction_elbo_high": diff.high,
            "low_vs_reconstruction_elbo_verdict": {"holds": 1.0, "does not hold": -1.0}.get(
                verdict(low, reconstruction, paired=True), 0.0)})
    result.metrics["n_seeds"] = cfg.n_seeds
    return result


def _low_posterior_run(cfg: LowPosteriorConfig, seed: int) -> LowPosteriorResult:
    """:func:`run_low_posterior` for the VAE trained from ``seed`` alone."""
    vae, x = cfg.vae.trained(seed)
    mu, logvar = posteriors(vae, x)
    g = torch.Generator().manual_seed(seed)
    z_low, log_q_low = surgery.low_posterior_latents(mu, logvar, cfg.n_candidates, cfg.n_show, generator=g)
    z_ord = torch.randn(cfg.n_show, cfg.vae.latent_dim, generator=g).to(mu)
    log_q_ord = surgery.aggregate_posterior_log_prob(z_ord, mu, logvar)
    # The ELBOs draw their posterior noise from the global generator: seed it here (and leave the
    # caller's state as it was), so the scores do not depend on what ran before, a cached VAE included.
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        low = vae.likelihood_mean(vae.decode(z_low))
        ordinary = vae.likelihood_mean(vae.decode(z_ord))
        # The model's own verdict on the decoded images: their ELBO (nats per image).
        low_elbo = vae.elbo(low).elbo
        ordinary_elbo = vae.elbo(ordinary).elbo
        data_elbo = vae.elbo(x[: 4 * cfg.n_show]).elbo
        # Like for like: training examples, passed through the same decode-the-mean route.
        reconstructed = vae.likelihood_mean(vae.decode(vae.encode(x[: 4 * cfg.n_show])[0]))
        reconstruction_elbo = vae.elbo(reconstructed).elbo
    metrics = {
        "mean_log_q_low": float(log_q_low.mean()),
        "mean_log_q_ordinary": float(log_q_ord.mean()),
        "mean_elbo_low": float(low_elbo.mean()),
        "mean_elbo_ordinary": float(ordinary_elbo.mean()),
        "mean_elbo_data": float(data_elbo.mean()),
        "mean_elbo_reconstruction": float(reconstruction_elbo.mean()),
        "mean_ink_low": float(low.mean()),
        "mean_ink_ordinary": float(ordinary.mean()),
        "mean_ink_data": float(x.mean()),
    }
    c = to_numpy
    return LowPosteriorResult(c(low), c(ordinary), c(log_q_low), c(log_q_ord), c(low_elbo), c(ordinary_elbo),
                              c(data_elbo), c(reconstruction_elbo), metrics)


def plot_low_posterior(result: LowPosteriorResult) -> Figure:
    """Ordinary and low-posterior samples side by side, and histograms of the VAE's ELBO of the
    training data, of their decoded means and of both kinds of sample."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1, 1.2]})
    nrow = int(math.ceil(math.sqrt(len(result.low_samples))))
    image_grid(result.ordinary_samples, nrow=nrow, ax=axes[0], title="ordinary samples")
    image_grid(result.low_samples, nrow=nrow, ax=axes[1], title="low-posterior samples")
    bins = 20
    axes[2].hist(result.data_elbo, bins=bins, alpha=0.6, density=True, label="training data")
    axes[2].hist(result.reconstruction_elbo, bins=bins, alpha=0.6, density=True, label="decoded means of training data")
    axes[2].hist(result.ordinary_elbo, bins=bins, alpha=0.6, density=True, label="ordinary samples")
    axes[2].hist(result.low_elbo, bins=bins, alpha=0.6, density=True, label="low-posterior samples")
    axes[2].set_xlabel("ELBO under the VAE (nats)")
    axes[2].legend(fontsize=8)
    return fig


# ========================================================================================
# 1. Figs. 10-12, 14, 15: what the low-posterior samples are
# ========================================================================================


@dataclass
class LowPosteriorAnalysisConfig(LowPosteriorConfig):
    """The VAE and the low-posterior samples of ``elbo_surgery/low_posterior`` (the same
    settings, so one model serves both: its first, ``seed``) and what they are made of."""

    n_seeds: int = 1  # the analysis studies one VAE

    num_z_values: Tuple[int, ...] = (100, 1000, 20_000)
    n_per_num_z: int = 8
    tsne_prior: int = 1000
    tsne_perplexity: float = 30.0
    SCALES: ClassVar = {
        "smoke": {**LowPosteriorConfig.SCALES["smoke"], "n_seeds": 1, "num_z_values": (50, 1000), "n_per_num_z": 4,
                  "tsne_prior": 150, "tsne_perplexity": 10.0},
        "paper": {**LowPosteriorConfig.SCALES["paper"], "n_seeds": 1,
                  "num_z_values": (100, 1000, 10_000, 100_000, 1_000_000),
                  "tsne_prior": 10_000},
    }


@dataclass
class LowPosteriorAnalysisResult:
    """What :func:`run_low_posterior_analysis` returns: ``n_show`` low-posterior samples (decoded
    means), their nearest training examples in l2 over pixels (``neighbours``) and as many random
    training examples; per set (``"data"``, ``"neighbours"``, ``"low-posterior samples"``) all its
    pixel values (``pixels``) and its per-example KL[q(z|x) || p(z)] in nats (``kl``)."""

    low: np.ndarray
    neighbours: np.ndarray
    random_data: np.ndarray
    pixels: Dict[str, np.ndarray]
    kl: Dict[str, np.ndarray]
    tsne: np.ndarray  # (tsne_prior + n_show, 2); the last n_show rows are the low-posterior latents
    n_show: int
    num_z_values: List[int]
    by_num_z: np.ndarray  # (len(num_z_values), n_per_num_z, *shape)
    metrics: Dict[str, float] = field(default_factory=dict)


@register("elbo_surgery/low_posterior_analysis", config=LowPosteriorAnalysisConfig,
          plot=lambda r: plot_low_posterior_analysis(r),
          description="Figs. 10-12, 14, 15: low-posterior samples, nearest neighbours, histograms, t-SNE, num_z")
def run_low_posterior_analysis(cfg: LowPosteriorAnalysisConfig) -> LowPosteriorAnalysisResult:
    """App. A's analysis of the low-posterior samples, on the chapter's VAE.

    Nearest neighbours are in l2 over pixels in the training set (Fig. 10); the pixel
    histograms (Fig. 11) and the per-example KL[q(z|x) || p(z)] (Fig. 12) compare the whole
    training set, the neighbours and the low-posterior samples (the decoded mean images,
    encoded again for their KL); the t-SNE (Fig. 14) embeds ``tsne_prior`` prior draws with
    the low-posterior latents; Fig. 15 repeats Alg. 1 with fewer prior draws.
    """
    from sklearn.manifold import TSNE

    vae, x = cfg.vae.trained(cfg.seed)
    mu, logvar = posteriors(vae, x)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    z_low, log_q_low = surgery.low_posterior_latents(mu, logvar, cfg.n_candidates, cfg.n_show, generator=g)
    with torch.no_grad():
        low = vae.likelihood_mean(vae.decode(z_low))
        flat = x.flatten(1)
        nearest = torch.cdist(low.flatten(1), flat).argmin(1)
        neighbours = x[nearest]
        random_data = x[torch.randperm(len(x), generator=g)[: cfg.n_show].to(x.device)]
        # Reference for the neighbour distances: random data to their nearest *other* example.
        d_data = torch.cdist(random_data.flatten(1), flat)
        d_data[d_data == 0] = float("inf")
        kl = {"data": surgery.gaussian_kl(mu, logvar),
              "neighbours": surgery.gaussian_kl(*vae.encode(neighbours)),
              "low-posterior samples": surgery.gaussian_kl(*vae.encode(low))}
        by_num_z = []
        mean_log_q = {}
        for num_z in cfg.num_z_values:
            z_k, lq_k = surgery.low_posterior_latents(mu, logvar, num_z, min(cfg.n_per_num_z, num_z), generator=g)
            by_num_z.append(to_numpy(vae.likelihood_mean(vae.decode(z_k))))
            mean_log_q[num_z] = float(lq_k.mean())
    z_prior = torch.randn(cfg.tsne_prior, cfg.vae.latent_dim, generator=g)
    points = torch.cat([z_prior, z_low.cpu()]).numpy()
    perplexity = min(cfg.tsne_perplexity, (len(points) - 1) / 3)
    embedding = TSNE(2, perplexity=perplexity, init="pca", random_state=cfg.seed).fit_transform(points)
    # Where the low-posterior latents sit under the prior: the rank of |z| among prior draws.
    norms_prior = z_prior.norm(dim=1).numpy()
    norm_rank = (norms_prior[None, :] < z_low.cpu().norm(dim=1).numpy()[:, None]).mean(1)
    pixels = {"data": to_numpy(x).ravel(), "neighbours": to_numpy(neighbours).ravel(),
              "low-posterior samples": to_numpy(low).ravel()}
    kl_np = {k: to_numpy(v) for k, v in kl.items()}
    metrics = {
        "mean_log_q_low": float(log_q_low.mean()),
        "neighbour_distance": float(torch.cdist(low.flatten(1), flat).min(1).values.mean()),
        "data_neighbour_distance": float(d_data.min(1).values.mean()),
        "mean_norm_rank_low": float(norm_rank.mean()),
        **{f"mean_pixel_{k.split()[0]}": float(v.mean()) for k, v in pixels.items()},
        **{f"mean_kl_{k.split()[0]}": float(v.mean()) for k, v in kl_np.items()},
        **{f"mean_log_q_num_z_{k}": v for k, v in mean_log_q.items()},
    }
    return LowPosteriorAnalysisResult(to_numpy(low), to_numpy(neighbours), to_numpy(random_data), pixels, kl_np,
                                      embedding, cfg.n_show, list(cfg.num_z_values), np.stack(by_num_z), metrics)


def plot_low_posterior_analysis(result: LowPosteriorAnalysisResult) -> Figure:
    """Figs. 10-12, 14, 15: the low-posterior samples, their nearest neighbours and random data;
    pixel and per-example-KL histograms; the t-SNE of prior draws and low-posterior latents; the
    samples kept from each ``num_z`` prior draws, and their mean log q(z) against ``num_z``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(14, 6.8))
    nrow = int(math.ceil(math.sqrt(result.n_show)))
    image_grid(result.low, nrow=nrow, ax=axes[0, 0], title="low-posterior samples")
    image_grid(result.neighbours, nrow=nrow, ax=axes[0, 1], title="their nearest neighbours")
    image_grid(result.random_data, nrow=nrow, ax=axes[0, 2], title="random training data")
    bins = np.linspace(0, 1, 18)
    for name, values in result.pixels.items():
        axes[0, 3].hist(values, bins=bins, density=True, histtype="step", lw=2, label=name)
    axes[0, 3].set_yscale("log")
    axes[0, 3].set_xlabel("pixel value")
    axes[0, 3].set_title("pixel histograms (Fig. 11)")
    axes[0, 3].legend(fontsize=7)
    for name, values in result.kl.items():
        axes[1, 0].hist(values, bins=25, density=True, histtype="step", lw=2, label=name)
    axes[1, 0].set_xlabel("KL[q(z|x) || p(z)] (nats)")
    axes[1, 0].set_title("per-example KL (Fig. 12)")
    axes[1, 0].legend(fontsize=7)
    prior, low = result.tsne[: -result.n_show], result.tsne[-result.n_show:]
    axes[1, 1].scatter(prior[:, 0], prior[:, 1], s=3, color="grey", alpha=0.5, label="prior draws")
    axes[1, 1].scatter(low[:, 0], low[:, 1], s=14, color="C3", label="low-posterior latents")
    axes[1, 1].set_title("t-SNE of the latents (Fig. 14)")
    axes[1, 1].set_xticks([])
    axes[1, 1].set_yticks([])
    axes[1, 1].legend(fontsize=7)
    rows = result.by_num_z
    image_grid(rows.reshape(-1, *rows.shape[2:]), nrow=rows.shape[1], ax=axes[1, 2],
               title="Fig. 15, rows: num_z = " + ", ".join(f"{n:,}" for n in result.num_z_values))
    axes[1, 2].title.set_fontsize(8)
    axes[1, 3].plot(result.num_z_values, [result.metrics[f"mean_log_q_num_z_{n}"] for n in result.num_z_values], "o-")
    axes[1, 3].set_xscale("log")
    axes[1, 3].set_xlabel("num_z (prior draws)")
    axes[1, 3].set_ylabel("mean log q(z) of the kept latents")
    fig.tight_layout()
    return fig
