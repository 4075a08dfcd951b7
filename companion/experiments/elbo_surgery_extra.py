"""More experiments of the ELBO-surgery chapter (Rosca et al., 2018): the paper's appendix figures.

* ``elbo_surgery/low_posterior_analysis`` — Figs. 10-12, 14, 15: low-posterior samples beside
  their nearest neighbours in the data, pixel and per-example-KL histograms, a t-SNE of the
  latents behind them, and the samples against the number of prior draws.
* ``elbo_surgery/bounds_along_training`` — Figs. 4, 23, 24: what a VAE, an AAE, adversarial VB
  and VEEGAN report as their bound along training, the AAE's true ELBO beside its report, and
  the independent critic of adversarial VB against the VAE.
* ``elbo_surgery/classifier_updates`` — Fig. 20: App. D's synthetic Gaussians with one and
  with five classifier updates per generator update.
* ``elbo_surgery/many_latents`` — Figs. 5, 16, 17: VAEs and AAEs with many latents on
  ``digits`` and ``faces``: posterior means, latents in use, samples.
* ``elbo_surgery/pixel_likelihoods`` — Fig. 22: Bernoulli against discretised pixels.
* ``elbo_surgery/reconstructions_and_samples`` — Figs. 25-28: training reconstructions and
  samples of the VAE, the AAE and VGH++ on ``digits`` and ``faces``.

The module sits beside :mod:`companion.experiments.elbo_surgery` (which holds the chapter's
main experiments and the VAE they share) to keep each file readable.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import ClassVar, Dict, List, Tuple

import numpy as np
import torch

import companion
from companion import surgery
from companion.config import ExperimentConfig
from companion.experiments import elbo_surgery as base
from companion.metrics import classifier_frechet
from companion.reproduce import register


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


@functools.lru_cache(maxsize=2)
def digits_feature_net(n_steps: int = 400, seed: int = 0):
    """The adaptive-density chapter's digit classifier (cached per process): ``(net, accuracy)``."""
    from companion.experiments.adaptive_density import train_feature_net

    return train_feature_net(n_steps=n_steps, seed=seed, device=companion.device())


def frechet_to_held_out(samples: torch.Tensor, held_out: torch.Tensor, classifier_steps: int = 400) -> float:
    """:func:`companion.metrics.classifier_frechet` of digit ``samples`` to ``held_out`` in the
    features of the cached digit classifier (:func:`digits_feature_net`)."""
    net, _ = digits_feature_net(classifier_steps)
    return classifier_frechet(samples, net, held_out)


# ========================================================================================
# 1. Figs. 10-12, 14, 15: what the low-posterior samples are
# ========================================================================================


@dataclass
class LowPosteriorAnalysisConfig(ExperimentConfig):
    """The VAE of ``elbo_surgery/low_posterior`` (same settings, so one model serves both), its
    low-posterior samples and what they are made of."""

    dataset: str = "digits"
    latent_dim: int = 16
    hidden_vae: int = 256
    vae_steps: int = 1500
    max_examples: int = 10_000
    n_candidates: int = 20_000
    n_show: int = 32
    num_z_values: Tuple[int, ...] = (100, 1000, 20_000)
    n_per_num_z: int = 8
    tsne_prior: int = 1000
    tsne_perplexity: float = 30.0
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"vae_steps": 150, "max_examples": 2000, "latent_dim": 8, "n_candidates": 1000, "n_show": 16,
                  "num_z_values": (50, 1000), "n_per_num_z": 4, "tsne_prior": 150, "tsne_perplexity": 10.0},
        "paper": {"dataset": "mnist", "latent_dim": 50, "vae_steps": 100_000, "max_examples": 60_000,
                  "n_candidates": 1_000_000, "n_show": 100, "num_z_values": (100, 1000, 10_000, 100_000, 1_000_000),
                  "tsne_prior": 10_000},
    }


@dataclass
class LowPosteriorAnalysisResult:
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

    vae, x = base.trained_vae(cfg.dataset, cfg.latent_dim, cfg.vae_steps, cfg.hidden_vae, cfg.max_examples, cfg.seed)
    mu, logvar = base.posteriors(vae, x)
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
            by_num_z.append(_np(vae.likelihood_mean(vae.decode(z_k))))
            mean_log_q[num_z] = float(lq_k.mean())
    z_prior = torch.randn(cfg.tsne_prior, cfg.latent_dim, generator=g)
    points = torch.cat([z_prior, z_low.cpu()]).numpy()
    perplexity = min(cfg.tsne_perplexity, (len(points) - 1) / 3)
    embedding = TSNE(2, perplexity=perplexity, init="pca", random_state=cfg.seed).fit_transform(points)
    # Where the low-posterior latents sit under the prior: the rank of |z| among prior draws.
    norms_prior = z_prior.norm(dim=1).numpy()
    norm_rank = (norms_prior[None, :] < z_low.cpu().norm(dim=1).numpy()[:, None]).mean(1)
    pixels = {"data": _np(x).ravel(), "neighbours": _np(neighbours).ravel(), "low-posterior samples": _np(low).ravel()}
    kl_np = {k: _np(v) for k, v in kl.items()}
    metrics = {
        "mean_log_q_low": float(log_q_low.mean()),
        "neighbour_distance": float(torch.cdist(low.flatten(1), flat).min(1).values.mean()),
        "data_neighbour_distance": float(d_data.min(1).values.mean()),
        "mean_norm_rank_low": float(norm_rank.mean()),
        **{f"mean_pixel_{k.split()[0]}": float(v.mean()) for k, v in pixels.items()},
        **{f"mean_kl_{k.split()[0]}": float(v.mean()) for k, v in kl_np.items()},
        **{f"mean_log_q_num_z_{k}": v for k, v in mean_log_q.items()},
    }
    return LowPosteriorAnalysisResult(_np(low), _np(neighbours), _np(random_data), pixels, kl_np, embedding,
                                      cfg.n_show, list(cfg.num_z_values), np.stack(by_num_z), metrics)


def plot_low_posterior_analysis(result: LowPosteriorAnalysisResult):
    import matplotlib.pyplot as plt

    from companion.plots import image_grid

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


# ========================================================================================
# 2. Figs. 4, 23, 24: bounds along training
# ========================================================================================

#: The models of experiment 2.
BOUND_MODELS = ("vae", "aae", "avb", "veegan")


@dataclass
class BoundsAlongTrainingConfig(ExperimentConfig):
    """A VAE, an AAE, adversarial VB (no adaptive contrast) and VEEGAN on ``digits``, each at
    every learning rate of ``learning_rates``; their reported bounds on validation data every
    ``eval_every`` steps; an independent critic on the final samples."""

    models: Tuple[str, ...] = BOUND_MODELS
    learning_rates: Tuple[float, ...] = (5e-4, 1e-3)
    latent_dim: int = 16
    hidden: int = 128
    n_steps: int = 600
    eval_every: int = 30
    critic_steps: int = 200
    n_samples: int = 250
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"learning_rates": (1e-3,), "n_steps": 30, "eval_every": 10, "critic_steps": 20, "hidden": 32,
                  "n_samples": 100},
        "paper": {"learning_rates": (1e-4, 3e-4, 5e-4, 1e-3), "n_steps": 100_000, "eval_every": 1000,
                  "critic_steps": 20_000, "n_samples": 10_000, "hidden": 1000, "latent_dim": 50},
    }


@dataclass
class BoundsAlongTrainingResult:
    steps: np.ndarray
    reported: Dict[str, Dict[float, np.ndarray]]  # model -> lr -> curve
    true_elbo: Dict[str, Dict[float, np.ndarray]]  # vae, aae only
    critic: Dict[str, List[float]]
    samples: Dict[str, np.ndarray]
    data_critic: float
    metrics: Dict[str, float] = field(default_factory=dict)


def _rank_trend(values: np.ndarray) -> float:
    """Spearman correlation of a curve's second half with time: +1 rises steadily, -1 falls."""
    half = np.asarray(values[len(values) // 2:], dtype=float)
    if len(half) < 3 or np.ptp(half) == 0:
        return 0.0
    ranks = np.argsort(np.argsort(half))
    return float(np.corrcoef(np.arange(len(half)), ranks)[0, 1])


def _train_with_bounds(kind: str, x: torch.Tensor, valid: torch.Tensor, cfg: BoundsAlongTrainingConfig, lr: float,
                       seed: int):
    """Train one model; return (reported curve, true-ELBO curve or None, sampler)."""
    from companion import hybrids
    from companion.train import minibatches
    from companion.vae import VAE

    companion.seed_everything(seed)
    shape, dev = tuple(x.shape[1:]), x.device
    batches = minibatches(x, 64, generator=torch.Generator().manual_seed(seed))
    if kind == "vae":
        model = VAE(shape, cfg.latent_dim, likelihood="bernoulli", hidden=cfg.hidden).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.9))

        def step():
            loss = -model.elbo(next(batches)).elbo.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def evaluate():
            with torch.no_grad():
                elbo = float(model.elbo(valid).elbo.mean())
            return elbo, elbo

        def sampler(n):
            return model.sample(n, mean=True)
    elif kind == "aae":
        model = hybrids.VAEGANHybrid(shape, cfg.latent_dim, kind="aae", hidden=cfg.hidden).to(dev)
        opts = hybrids.hybrid_optimizers(model, lr, lr)

        def step():
            hybrids.hybrid_step(model, next(batches), opts)

        def evaluate():
            e = hybrids.aae_bound_estimates(model, valid)
            return e["reported"], e["elbo"]

        sampler = model.sample
    elif kind in ("avb", "veegan"):
        cls = hybrids.AdversarialVB if kind == "avb" else hybrids.VEEGAN
        model = cls(shape, cfg.latent_dim, hidden=cfg.hidden).to(dev)
        opts = model.optimizers(lr)

        def step():
            model.train_step(next(batches), opts)

        def evaluate():
            return model.bound_estimates(valid)["reported"], None

        sampler = model.sample
    else:
        raise ValueError(f"models must be among {BOUND_MODELS}; got {kind!r}")
    reported, true = [], []
    for i in range(cfg.n_steps + 1):
        if i % cfg.eval_every == 0:
            r, t = evaluate()
            if not math.isfinite(r):
                raise FloatingPointError(f"{kind} at lr {lr}: the reported bound is {r} at step {i}")
            reported.append(r)
            true.append(t)
        if i < cfg.n_steps:
            step()
    return np.array(reported), (None if true[0] is None else np.array(true)), sampler


@register("elbo_surgery/bounds_along_training", config=BoundsAlongTrainingConfig,
          plot=lambda r: plot_bounds_along_training(r),
          description="Figs. 4, 23, 24: reported bounds of VAE, AAE, adversarial VB and VEEGAN along training")
def run_bounds_along_training(cfg: BoundsAlongTrainingConfig) -> BoundsAlongTrainingResult:
    """What each model would report as its lower bound, on validation digits, along training.

    The VAE reports its ELBO. The AAE replaces the KL by its code discriminator's estimate of
    the marginal KL (:func:`companion.hybrids.aae_bound_estimates`); its true ELBO is
    computed beside it. Adversarial VB reports ``E[log p(x|z) - T(x, z)]`` and VEEGAN minus
    its objective (:class:`companion.hybrids.AdversarialVB`, :class:`companion.hybrids.VEEGAN`).
    """
    from companion import hybrids
    from companion.data import load

    unknown = [m for m in cfg.models if m not in BOUND_MODELS]
    if unknown or not cfg.models:
        raise ValueError(f"models must be a non-empty subset of {BOUND_MODELS}; got {cfg.models!r}")
    dev = companion.device()
    x, valid, test = (load("digits", s).to(dev) for s in ("train", "valid", "test"))
    reported: Dict[str, Dict[float, np.ndarray]] = {}
    true: Dict[str, Dict[float, np.ndarray]] = {}
    critic: Dict[str, List[float]] = {}
    samples: Dict[str, np.ndarray] = {}
    metrics: Dict[str, float] = {}
    for kind in cfg.models:
        reported[kind], critic[kind] = {}, []
        for i, lr in enumerate(cfg.learning_rates):
            curve, elbo, sampler = _train_with_bounds(kind, x, valid, cfg, lr, cfg.seed + i)
            reported[kind][lr] = curve
            if elbo is not None:
                true.setdefault(kind, {})[lr] = elbo
                metrics[f"{kind}_lr{lr:g}_final_true_elbo"] = float(elbo[-1])
                metrics[f"{kind}_lr{lr:g}_final_gap"] = float(curve[-1] - elbo[-1])
            metrics[f"{kind}_lr{lr:g}_final_reported"] = float(curve[-1])
            metrics[f"{kind}_lr{lr:g}_trend"] = _rank_trend(curve)
            s = sampler(cfg.n_samples).detach()
            critic[kind].append(hybrids.independent_critic_score(s, valid, n_steps=cfg.critic_steps, lr=1e-3,
                                                                 seed=cfg.seed))
            metrics[f"{kind}_lr{lr:g}_critic"] = critic[kind][-1]
            if i == 0:
                samples[kind] = s[:32].cpu().numpy()
    data_critic = hybrids.independent_critic_score(test, valid, n_steps=cfg.critic_steps, lr=1e-3, seed=cfg.seed)
    metrics["test_data_critic"] = data_critic
    steps = np.arange(0, cfg.n_steps + 1, cfg.eval_every)
    return BoundsAlongTrainingResult(steps, reported, true, critic, samples, data_critic, metrics)


def plot_bounds_along_training(result: BoundsAlongTrainingResult):
    import matplotlib.pyplot as plt

    from companion.plots import image_grid

    kinds = list(result.reported)
    fig = plt.figure(figsize=(3.2 * len(kinds), 6.2))
    grid = fig.add_gridspec(2, len(kinds), height_ratios=[1.2, 1])
    names = {"vae": "VAE: ELBO", "aae": "AAE: reported (classifier KL)", "avb": "adversarial VB: reported",
             "veegan": "VEEGAN: minus its objective"}
    for j, kind in enumerate(kinds):
        ax = fig.add_subplot(grid[0, j])
        for c, (lr, curve) in enumerate(result.reported[kind].items()):
            ax.plot(result.steps[: len(curve)], curve, color=f"C{c}", label=f"lr {lr:g}")
            if kind in result.true_elbo and kind != "vae":
                ax.plot(result.steps[: len(curve)], result.true_elbo[kind][lr], color=f"C{c}", ls="--",
                        label=f"true ELBO, lr {lr:g}")
        ax.set_title(names.get(kind, kind), fontsize=9)
        ax.set_xlabel("step")
        if j == 0:
            ax.set_ylabel("nats (validation digits)")
        ax.legend(fontsize=7)
        image_grid(result.samples[kind][:16], nrow=4, ax=fig.add_subplot(grid[1, j]),
                   title=f"{kind}: critic {np.median(result.critic[kind]):.2f} (data {result.data_critic:.2f})")
    fig.tight_layout()
    return fig


# ========================================================================================
# 3. Fig. 20: five classifier updates per generator update
# ========================================================================================


@dataclass
class ClassifierUpdatesConfig(ExperimentConfig):
    """``elbo_surgery/synthetic_gaussians`` run once per entry of ``updates`` (classifier
    updates per generator update), everything else equal (the same seeds)."""

    updates: Tuple[int, ...] = (1, 5)
    dims: Tuple[int, ...] = (100,)  # where one update fails; d = 1, 10 learn either way, d = 1000 is at paper scale
    hidden: int = 64
    depth: int = 3
    estimation_steps: int = 500
    learning_steps: int = 500
    n_samples: int = 5000
    lr_classifier: float = 1e-3
    seed: int = 0
    SCALES: ClassVar = {  # the scales of elbo_surgery/synthetic_gaussians, so its run can be reused
        "smoke": {"dims": (1, 10), "hidden": 32, "estimation_steps": 60, "learning_steps": 60, "n_samples": 2000},
        "paper": {"dims": (1, 10, 100, 1000), "hidden": 5000, "depth": 4, "estimation_steps": 1_000_000,
                  "learning_steps": 1_000_000, "n_samples": 1_000_000, "lr_classifier": 1e-4},
    }


@dataclass
class ClassifierUpdatesResult:
    updates: List[int]
    runs: Dict[int, object]  # updates -> SyntheticGaussiansResult
    metrics: Dict[str, float] = field(default_factory=dict)


@register("elbo_surgery/classifier_updates", config=ClassifierUpdatesConfig,
          plot=lambda r: plot_classifier_updates(r),
          description="Fig. 20: the synthetic Gaussians with five classifier updates per generator update")
def run_classifier_updates(cfg: ClassifierUpdatesConfig, reuse=None) -> ClassifierUpdatesResult:
    """Run ``elbo_surgery/synthetic_gaussians`` once per number of classifier updates.

    Args:
        cfg: the configuration.
        reuse: an optional result of :func:`companion.experiments.elbo_surgery.run_synthetic_gaussians`
            made with the same settings and one classifier update (the chapter's experiment 6);
            it stands in for the one-update run instead of training it again.
    """
    if not cfg.updates or any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in cfg.updates):
        raise ValueError(f"updates must be positive ints; got {cfg.updates!r}")
    runs = {}
    for u in cfg.updates:
        run_cfg = base.SyntheticGaussiansConfig(
            dims=cfg.dims, hidden=cfg.hidden, depth=cfg.depth, estimation_steps=cfg.estimation_steps,
            learning_steps=cfg.learning_steps, n_samples=cfg.n_samples, lr_classifier=cfg.lr_classifier, seed=cfg.seed,
            classifier_updates=u)
        if u == 1 and reuse is not None:
            # Each dimension's run is seeded by seed + d, so a run over more dimensions holds ours.
            if not isinstance(reuse, base.SyntheticGaussiansResult) or not set(cfg.dims) <= set(reuse.dims):
                raise ValueError("reuse must be a SyntheticGaussiansResult over (at least) the same dims")
            runs[u] = base.SyntheticGaussiansResult(
                list(cfg.dims), {d: reuse.true_kl[d] for d in cfg.dims}, {d: reuse.estimated_kl[d] for d in cfg.dims},
                {d: reuse.learning_curves[d] for d in cfg.dims})
            continue
        runs[u] = base.run_synthetic_gaussians(run_cfg)
    metrics = {f"updates{u}_d{d}_kl_after_learning": float(r.learning_curves[d][-1])
               for u, r in runs.items() for d in cfg.dims}
    metrics.update({f"d{d}_true_kl": float(runs[cfg.updates[0]].true_kl[d]) for d in cfg.dims})
    return ClassifierUpdatesResult(list(cfg.updates), runs, metrics)


def plot_classifier_updates(result: ClassifierUpdatesResult):
    import matplotlib.pyplot as plt

    dims = result.runs[result.updates[0]].dims
    fig, axes = plt.subplots(1, len(dims), figsize=(3.6 * len(dims), 3.3), squeeze=False)
    for ax, d in zip(axes[0], dims):
        for c, u in enumerate(result.updates):
            curve = result.runs[u].learning_curves[d]
            ax.plot(np.linspace(0, 1, len(curve)), curve, color=f"C{c}", label=f"{u} classifier update{'s' * (u > 1)}")
        ax.axhline(result.runs[result.updates[0]].true_kl[d], color="grey", ls=":", label="true KL at start")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_title(f"d = {d}")
        ax.set_xlabel("fraction of training")
    axes[0][0].set_ylabel("true KL (nats)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


# ========================================================================================
# 4. Figs. 5, 16, 17: VAEs and AAEs with many latents
# ========================================================================================


@dataclass
class ManyLatentsConfig(ExperimentConfig):
    """A VAE and an AAE with ``latent_dim`` latents (far more than the data need) per data set."""

    datasets: Tuple[str, ...] = ("digits", "faces")
    latent_dim: int = 200
    hidden: int = 128
    n_steps: int = 800
    vae_lr: float = 1e-3
    aae_lr: float = 5e-4
    active_threshold: float = 0.1
    n_show: int = 16
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"latent_dim": 32, "hidden": 32, "n_steps": 20, "n_show": 4},
        "paper": {"datasets": ("mnist", "celeba"), "latent_dim": 10_000, "hidden": 1000, "n_steps": 100_000},
    }


@dataclass
class ManyLatentsResult:
    datasets: List[str]
    means: Dict[str, Dict[str, np.ndarray]]  # dataset -> model -> (n_show, latent_dim) posterior means
    activity: Dict[str, Dict[str, np.ndarray]]  # dataset -> model -> per-latent variance of the means, sorted
    samples: Dict[str, Dict[str, np.ndarray]]
    data: Dict[str, np.ndarray]
    metrics: Dict[str, float] = field(default_factory=dict)


@register("elbo_surgery/many_latents", config=ManyLatentsConfig, plot=lambda r: plot_many_latents(r),
          description="Figs. 5, 16, 17: posterior means, latents in use and samples of VAEs and AAEs with many latents")
def run_many_latents(cfg: ManyLatentsConfig) -> ManyLatentsResult:
    """Train both models, then read their posteriors over the training set.

    A latent is *active* when the variance over the data of its posterior mean exceeds
    ``active_threshold`` (Burda et al. 2016 use 0.01; with hundreds of latents a fresh
    encoder's random weights already pass that, hence 0.1). The VAE pays a KL for every latent it uses, the AAE
    only for the marginal mismatch, so the paper expects sparse VAE codes and dense AAE codes
    with collapsed posterior variances (its Fig. 5).
    """
    from companion import hybrids
    from companion.data import load
    from companion.vae import VAE, fit_vae

    dev = companion.device()
    means, activity, samples, data = {}, {}, {}, {}
    metrics: Dict[str, float] = {}
    for name in cfg.datasets:
        x = load(name, "train").to(dev)
        shape = tuple(x.shape[1:])
        means[name], activity[name], samples[name] = {}, {}, {}
        data[name] = _np(x[: cfg.n_show])
        for kind in ("vae", "aae"):
            companion.seed_everything(cfg.seed)
            g = torch.Generator().manual_seed(cfg.seed)
            if kind == "vae":
                model = VAE(shape, cfg.latent_dim, likelihood="bernoulli", hidden=cfg.hidden).to(dev)
                fit_vae(model, x, n_steps=cfg.n_steps, lr=cfg.vae_lr, desc=f"VAE on {name}", generator=g)
                model.eval()
                sample = functools.partial(model.sample, mean=True)
            else:
                model = hybrids.VAEGANHybrid(shape, cfg.latent_dim, kind="aae", hidden=cfg.hidden).to(dev)
                hybrids.fit_hybrid(model, x, n_steps=cfg.n_steps, lr=cfg.aae_lr, disc_lr=cfg.aae_lr, generator=g,
                                   desc=f"AAE on {name}")
                sample = model.sample
            with torch.no_grad():
                mu, logvar = model.encode(x)
                samples[name][kind] = _np(sample(cfg.n_show))
            variance = mu.var(0)
            means[name][kind] = _np(mu[: cfg.n_show])
            activity[name][kind] = np.sort(_np(variance))[::-1].copy()
            metrics[f"{name}_{kind}_active_latents"] = int((variance > cfg.active_threshold).sum())
            metrics[f"{name}_{kind}_mean_posterior_std"] = float(torch.exp(0.5 * logvar).mean())
            metrics[f"{name}_{kind}_mean_abs_mean"] = float(mu.abs().mean())
            metrics[f"{name}_{kind}_average_kl"] = float(surgery.average_kl(mu, logvar))
    metrics["latent_dim"] = cfg.latent_dim
    return ManyLatentsResult(list(cfg.datasets), means, activity, samples, data, metrics)


def plot_many_latents(result: ManyLatentsResult):
    import matplotlib.pyplot as plt

    from companion.plots import image_grid

    fig, axes = plt.subplots(len(result.datasets), 6, figsize=(17, 3.2 * len(result.datasets)), squeeze=False,
                             gridspec_kw={"width_ratios": [1.3, 1.3, 1.1, 1, 1, 1]})
    for row, name in zip(axes, result.datasets):
        lim = max(np.abs(result.means[name][k]).max() for k in ("vae", "aae"))
        for ax, kind in zip(row[:2], ("vae", "aae")):
            ax.imshow(result.means[name][kind], aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"{name}: {kind.upper()} posterior means", fontsize=9)
            ax.set_xlabel("latent")
            ax.set_ylabel("example")
        for kind in ("vae", "aae"):
            row[2].plot(result.activity[name][kind], label=kind.upper())
        row[2].set_yscale("log")
        row[2].set_xlabel("latent, sorted")
        row[2].set_title("variance of the means over the data", fontsize=9)
        row[2].legend(fontsize=7)
        nrow = int(math.ceil(math.sqrt(len(result.data[name]))))
        image_grid(result.samples[name]["vae"], nrow=nrow, ax=row[3], title="VAE samples")
        image_grid(result.samples[name]["aae"], nrow=nrow, ax=row[4], title="AAE samples")
        image_grid(result.data[name], nrow=nrow, ax=row[5], title="data")
    fig.tight_layout()
    return fig


# ========================================================================================
# 5. Fig. 22: Bernoulli against discretised pixels
# ========================================================================================


@dataclass
class PixelLikelihoodsConfig(ExperimentConfig):
    """A Bernoulli VAE on ``digits`` beside the same VAE with a discretised logistic over the
    17 grey levels of ``digits`` (the book's stand-in for the paper's quantised normal),
    trained alike over ``n_seeds`` seeds."""

    latent_dim: int = 16
    hidden: int = 128
    n_steps: int = 800
    max_examples: int = 10_000
    n_levels: int = 17
    n_seeds: int = 3
    n_samples: int = 1000
    n_show: int = 16
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"latent_dim": 8, "n_steps": 40, "max_examples": 2000, "n_seeds": 2, "n_samples": 200, "n_show": 8},
        "paper": {"n_levels": 256, "latent_dim": 50, "n_steps": 100_000, "max_examples": 60_000, "n_seeds": 5,
                  "hidden": 1000},
    }


@dataclass
class PixelLikelihoodsResult:
    data: np.ndarray
    reconstructions: Dict[str, np.ndarray]
    samples: Dict[str, np.ndarray]
    per_seed: Dict[str, Dict[str, List[float]]]  # likelihood -> quantity -> values over seeds
    metrics: Dict[str, float] = field(default_factory=dict)


@register("elbo_surgery/pixel_likelihoods", config=PixelLikelihoodsConfig,
          plot=lambda r: plot_pixel_likelihoods(r),
          description="Fig. 22: reconstructions, samples and KL of VAEs with Bernoulli and discretised pixels")
def run_pixel_likelihoods(cfg: PixelLikelihoodsConfig) -> PixelLikelihoodsResult:
    """Per seed and likelihood: the KL term, the reconstruction error of the decoded posterior
    means (mean squared, pixels in [0, 1]) and the Fréchet distance of decoded prior samples
    (mean images) to held-out digits in the digit classifier's features."""
    from companion.data import load, to_levels
    from companion.vae import VAE, fit_vae

    dev = companion.device()
    held_out = torch.cat([load("digits", "valid"), load("digits", "test")]).to(dev)
    per_seed: Dict[str, Dict[str, List[float]]] = {"bernoulli": {}, "logistic": {}}
    reconstructions, samples = {}, {}
    x_show = None
    for s in range(cfg.n_seeds):
        seed = cfg.seed + s
        vae_b, x = base.trained_vae("digits", cfg.latent_dim, cfg.n_steps, cfg.hidden, cfg.max_examples, seed)
        companion.seed_everything(seed)
        vae_l = VAE(tuple(x.shape[1:]), cfg.latent_dim, likelihood="logistic", hidden=cfg.hidden,
                    n_levels=cfg.n_levels).to(dev)
        # digits on the logistic's lattice k / (n_levels - 1): x itself at 17 levels, re-quantised at 256
        x_l = to_levels(x, cfg.n_levels).float() / (cfg.n_levels - 1)
        fit_vae(vae_l, x_l, n_steps=cfg.n_steps, batch_size=64, lr=1e-3,
                desc="VAE with discretised pixels", generator=torch.Generator().manual_seed(seed))
        vae_l.eval()
        x_show = x[: cfg.n_show]
        for name, vae, inputs in (("bernoulli", vae_b, x), ("logistic", vae_l, x_l)):
            with torch.no_grad():  # both take and return images in [0, 1]
                mu, logvar = base.posteriors(vae, inputs)
                rec = vae.likelihood_mean(vae.decode(mu))
                draws = torch.cat([vae.likelihood_mean(vae.decode(torch.randn(len(c), cfg.latent_dim, device=dev)))
                                   for c in torch.arange(cfg.n_samples).split(1000)])
            row = per_seed[name]
            row.setdefault("average_kl", []).append(float(surgery.average_kl(mu, logvar)))
            row.setdefault("reconstruction_mse", []).append(float((rec - x).pow(2).flatten(1).sum(1).mean()))
            row.setdefault("sample_frechet", []).append(frechet_to_held_out(draws, held_out))
            if s == 0:
                reconstructions[name] = _np(rec[: cfg.n_show])
                samples[name] = _np(draws[: cfg.n_show])
    metrics = {f"{k}_{q}_mean": float(np.mean(v)) for k, rows in per_seed.items() for q, v in rows.items()}
    metrics["n_seeds"] = cfg.n_seeds
    return PixelLikelihoodsResult(_np(x_show), reconstructions, samples, per_seed, metrics)


def plot_pixel_likelihoods(result: PixelLikelihoodsResult):
    import matplotlib.pyplot as plt

    from companion.plots import image_grid

    fig, axes = plt.subplots(1, 5, figsize=(14, 3.2))
    nrow = int(math.ceil(math.sqrt(len(result.data))))
    image_grid(result.data, nrow=nrow, ax=axes[0], title="training digits")
    names = {"bernoulli": "Bernoulli", "logistic": "discretised"}
    for j, (key, label) in enumerate(names.items()):
        image_grid(result.reconstructions[key], nrow=nrow, ax=axes[1 + j], title=f"{label}: reconstructions")
        image_grid(result.samples[key], nrow=nrow, ax=axes[3 + j], title=f"{label}: samples")
    fig.tight_layout()
    return fig


# ========================================================================================
# 6. Figs. 25-28: reconstructions and samples of every model, on digits and faces
# ========================================================================================

#: The models of experiment 6 (the paper's Figs. 25-26 show VAE, AAE and VGH++).
GALLERY_MODELS = ("vae", "aae", "vgh++")


@dataclass
class ReconstructionsConfig(ExperimentConfig):
    """VAE, AAE and VGH++ (the paper's Figs. 25-26) on ``digits`` and ``faces``, one seed each."""

    datasets: Tuple[str, ...] = ("digits", "faces")
    models: Tuple[str, ...] = GALLERY_MODELS
    latent_dim: int = 16
    hidden: int = 128
    n_steps: int = 400
    vae_lr: float = 1e-3
    hybrid_lr: float = 5e-4
    rec_weight: float = 10.0
    n_show: int = 8
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"hidden": 32, "n_steps": 10, "n_show": 4},
        "paper": {"datasets": ("celeba", "cifar10"), "latent_dim": 100, "hidden": 1000, "n_steps": 200_000},
    }


@dataclass
class ReconstructionsResult:
    data: Dict[str, np.ndarray]
    reconstructions: Dict[str, Dict[str, np.ndarray]]
    samples: Dict[str, Dict[str, np.ndarray]]
    metrics: Dict[str, float] = field(default_factory=dict)


@register("elbo_surgery/reconstructions_and_samples", config=ReconstructionsConfig,
          plot=lambda r: plot_reconstructions_and_samples(r),
          description="Figs. 25-28: training reconstructions and samples of VAE, AAE and VGH++ on digits and faces")
def run_reconstructions_and_samples(cfg: ReconstructionsConfig) -> ReconstructionsResult:
    """Reconstructions decode the posterior mean; samples decode prior draws (mean images).
    The metric is the mean l1 reconstruction error per image on the training set."""
    from companion import hybrids
    from companion.data import load
    from companion.vae import VAE, fit_vae

    unknown = [m for m in cfg.models if m not in GALLERY_MODELS]
    if unknown or not cfg.models:
        raise ValueError(f"models must be a non-empty subset of {GALLERY_MODELS}; got {cfg.models!r}")
    dev = companion.device()
    data, recs, samples = {}, {}, {}
    metrics: Dict[str, float] = {}
    for name in cfg.datasets:
        x = load(name, "train").to(dev)
        shape = tuple(x.shape[1:])
        data[name], recs[name], samples[name] = _np(x[: cfg.n_show]), {}, {}
        for kind in cfg.models:
            companion.seed_everything(cfg.seed)
            g = torch.Generator().manual_seed(cfg.seed)
            if kind == "vae":
                model = VAE(shape, cfg.latent_dim, likelihood="bernoulli", hidden=cfg.hidden).to(dev)
                fit_vae(model, x, n_steps=cfg.n_steps, lr=cfg.vae_lr, desc=f"VAE on {name}", generator=g)
                model.eval()
                with torch.no_grad():
                    rec = model.likelihood_mean(model.decode(model.encode(x)[0]))
                    sample = model.sample(cfg.n_show, mean=True)
            else:
                model = hybrids.VAEGANHybrid(shape, cfg.latent_dim, kind=kind, hidden=cfg.hidden,
                                             rec_weight=cfg.rec_weight).to(dev)
                hybrids.fit_hybrid(model, x, n_steps=cfg.n_steps, lr=cfg.hybrid_lr, disc_lr=cfg.hybrid_lr,
                                   generator=g, desc=f"{kind.upper()} on {name}")
                with torch.no_grad():
                    rec = model.decode(model.encode(x)[0])
                    sample = model.sample(cfg.n_show)
            recs[name][kind] = _np(rec[: cfg.n_show])
            samples[name][kind] = _np(sample)
            metrics[f"{name}_{kind}_l1_reconstruction"] = float((rec - x).abs().flatten(1).sum(1).mean())
    return ReconstructionsResult(data, recs, samples, metrics)


def plot_reconstructions_and_samples(result: ReconstructionsResult):
    import matplotlib.pyplot as plt

    from companion.plots import image_grid

    names = list(result.data)
    kinds = list(result.reconstructions[names[0]])
    fig, axes = plt.subplots(len(names), 2, figsize=(11, 3.0 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        n = len(result.data[name])
        rec_rows = np.concatenate([result.data[name]] + [result.reconstructions[name][k] for k in kinds])
        image_grid(rec_rows, nrow=n, ax=row[0], title=f"{name}: data, then reconstructions of " + ", ".join(kinds))
        sample_rows = np.concatenate([result.samples[name][k] for k in kinds])
        image_grid(sample_rows, nrow=len(result.samples[name][kinds[0]]), ax=row[1],
                   title=f"{name}: samples, rows " + ", ".join(kinds))
    fig.tight_layout()
    return fig
