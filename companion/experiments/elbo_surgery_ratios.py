"""ELBO surgery, learned estimates of a KL: classifiers (density ratios) and density models.

* ``elbo_surgery/density_ratio`` — Fig. 3 and Tables 1-2: the density-ratio estimate of the
  marginal KL against the Monte Carlo value and the lower bound, for several classifiers.
* ``elbo_surgery/density_models`` — Fig. 21: density models of q(z) (GMMs, the LDE, a Real-NVP).
* ``elbo_surgery/synthetic_gaussians`` — App. D: density-ratio estimation and minimisation
  of the KL between Gaussians as the dimension grows.
* ``elbo_surgery/classifier_updates`` — Fig. 20: the same with one and with five classifier
  updates per generator update.

The estimators are :mod:`companion.learned_kl`'s.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

import companion
from companion import learned_kl, surgery
from companion.checks import check_positive_int
from companion.config import ExperimentConfig
from companion.evidence import verdict
from companion.experiments.elbo_surgery_shared import SURGERY_VAE, VAEStudyConfig, posterior_samples, posteriors
from companion.flows import RealNVP
from companion.lde import LatentDensityEstimator
from companion.reproduce import register
from companion.train import adam
from companion.workers import map_in_workers

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from matplotlib.figure import Figure


@dataclass
class AggregatePosterior:
    """Samples of one trained VAE's q(z), with the references the learned estimates are read against.

    Attributes:
        q: ``samples_per_example`` draws of q(z|x_n) for every training example, stacked.
        generator: the generator that drew them; the experiment draws on from it.
        average_kl: the ELBO's KL term, in closed form.
        monte_carlo: KL[q(z) || p(z)] by Monte Carlo over the whole data set.
        lower_bound: average KL - log N, the bound eq. 5 puts on the marginal KL.
    """

    q: torch.Tensor
    generator: torch.Generator
    average_kl: float
    monte_carlo: float
    lower_bound: float

    def references(self) -> Dict[str, float]:
        """The fields of :class:`KLReferences`."""
        return {"monte_carlo": self.monte_carlo, "lower_bound": self.lower_bound, "average_kl": self.average_kl}


@dataclass
class AggregatePosteriorConfig(VAEStudyConfig):
    """One trained VAE (``vae``), ``n_z`` Monte Carlo latents for its marginal KL and
    ``samples_per_example`` draws of q(z|x_n) per training example for the learned estimates."""

    samples_per_example: int = 5
    n_z: int = 5000
    SCALES: ClassVar = {
        "smoke": {**VAEStudyConfig.SCALES["smoke"], "samples_per_example": 4, "n_z": 500},
        "paper": {**VAEStudyConfig.SCALES["paper"], "n_z": 100_000},
    }


def aggregate_posterior(cfg: AggregatePosteriorConfig) -> AggregatePosterior:
    """The trained VAE's q(z): its references, then its samples."""
    model, x = cfg.vae.trained(cfg.seed)
    mu, logvar = posteriors(model, x)
    g = torch.Generator().manual_seed(cfg.seed)
    average = float(surgery.average_kl(mu, logvar))
    monte_carlo = float(surgery.marginal_kl_mc(mu, logvar, cfg.n_z, generator=g))
    q = posterior_samples(mu, logvar, cfg.samples_per_example, g)
    return AggregatePosterior(q, g, average, monte_carlo, average - math.log(mu.shape[0]))


# ========================================================================================
# 3. Fig. 3 / Tables 1-2: the density-ratio trick underestimates the marginal KL
# ========================================================================================


@dataclass
class DensityRatioConfig(AggregatePosteriorConfig):
    """Classifiers of q(z) against p(z) for one VAE (``vae``) on ``digits``."""

    # (depth, width, activation noise, gradient penalty), as in the paper's tables
    classifiers: Tuple[Tuple[int, int, float, float], ...] = (
        (2, 128, 0.0, 0.0), (4, 128, 0.0, 0.0), (3, 32, 0.0, 0.0), (3, 128, 1.0, 0.0), (3, 128, 0.0, 1.0),
    )
    classifier_steps: int = 500
    lr: float = 5e-4
    SCALES: ClassVar = {
        "smoke": {**AggregatePosteriorConfig.SCALES["smoke"], "classifiers": ((2, 32, 0.0, 0.0), (2, 32, 1.0, 0.0)),
                  "classifier_steps": 60},
        "paper": {**AggregatePosteriorConfig.SCALES["paper"], "classifier_steps": 250_000,
                  "vae": dataclasses.replace(SURGERY_VAE["paper"], hidden=1000),
                  "classifiers": ((3, 5000, 0.0, 0.0), (4, 5000, 0.0, 0.0), (4, 5000, 1.0, 0.0), (4, 5000, 0.0, 1.0))},
    }


@dataclass
class KLReferences:
    """The values a learned estimate of KL[q(z) || p(z)] is read against (see :class:`AggregatePosterior`)."""

    monte_carlo: float
    lower_bound: float
    average_kl: float


@dataclass
class DensityRatioResult(KLReferences):
    """What :func:`run_density_ratio` returns: the references and one row per classifier of
    ``classifiers``, with its ``depth``, ``width``, ``activation_noise``, ``gradient_penalty`` and
    its estimate ``kl`` of KL[q(z) || p(z)] in nats."""

    rows: List[Dict[str, float]]
    metrics: Dict[str, float] = field(default_factory=dict)


@register("elbo_surgery/density_ratio", config=DensityRatioConfig, plot=lambda r: plot_density_ratio(r),
          description="Fig. 3 / Tables 1-2: density-ratio estimates of KL[q(z)||p(z)] and their sensitivity")
def run_density_ratio(cfg: DensityRatioConfig) -> DensityRatioResult:
    """Train each classifier of ``cfg.classifiers`` to tell samples of the VAE's q(z) from as many
    draws of p(z) = N(0, I) and read its mean logit on held-out q samples as KL[q(z) || p(z)]
    (:func:`companion.learned_kl.density_ratio_kl`), beside the references of
    :func:`aggregate_posterior`. Every classifier starts from the global seed ``cfg.seed``."""
    posterior = aggregate_posterior(cfg)
    q, g = posterior.q, posterior.generator
    p = torch.randn(q.shape, generator=g).to(q)
    rows = []
    for depth, width, noise, penalty in cfg.classifiers:
        torch.manual_seed(cfg.seed)
        fit = learned_kl.density_ratio_kl(q, p, hidden=width, depth=depth, n_steps=cfg.classifier_steps, lr=cfg.lr,
                                          activation_noise=noise, gradient_penalty=penalty, generator=g)
        rows.append(
            {"depth": depth, "width": width, "activation_noise": noise, "gradient_penalty": penalty, "kl": fit.kl}
        )
    metrics = {
        **posterior.references(),
        **{
            f"ratio_{r['depth']}x{r['width']}_noise{r['activation_noise']}_gp{r['gradient_penalty']}": r["kl"]
            for r in rows
        },
    }
    return DensityRatioResult(**posterior.references(), rows=rows, metrics=metrics)


def _row_label(r: Dict[str, float]) -> str:
    """A classifier's row as a bar label: ``depth x width``, with ``noise`` and ``GP`` where used."""
    label = f"{int(r['depth'])} x {int(r['width'])}"
    if r["activation_noise"]:
        label += ", noise"
    if r["gradient_penalty"]:
        label += ", GP"
    return label


def plot_density_ratio(result: DensityRatioResult) -> Figure:
    """Fig. 3: a bar per classifier of its estimate (negative ones drawn at 0), against the Monte
    Carlo value of KL[q(z) || p(z)] and the lower bound average KL - log N."""
    values = [max(r["kl"], 0.0) for r in result.rows]
    return _plot_kl_estimates([_row_label(r) for r in result.rows], values, result.monte_carlo, result.lower_bound,
                              "density ratio (classifier)", "C3",
                              "The density-ratio trick underestimates the marginal KL", height=3.8)


def _plot_kl_estimates(names: Sequence[str], values: Sequence[float], monte_carlo: float, lower_bound: float,
                       label: str, color: str, title: str, height: float) -> Figure:
    """Bars of KL[q(z)||p(z)] estimates against the Monte Carlo value and the eq.-5 lower bound."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, height))
    ax.barh(np.arange(len(values)), values, color=color, label=label)
    ax.axvline(monte_carlo, color="C1", label=f"Monte Carlo: {monte_carlo:.1f}")
    ax.axvline(lower_bound, color="k", ls="--", label=f"lower bound avg KL - log N: {lower_bound:.1f}")
    ax.set_yticks(np.arange(len(values)), names)
    ax.set_xlabel("estimate of KL[q(z) || p(z)] (nats)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


# ========================================================================================
# 4. Fig. 21: density models of q(z)
# ========================================================================================


@dataclass
class DensityModelsConfig(AggregatePosteriorConfig):
    """GMMs, the LDE and a Real-NVP fitted to samples of q(z) of one VAE (``vae``) on ``digits``."""

    gmm_components: Tuple[int, ...] = (1, 10, 30)
    lde_steps: int = 400
    SCALES: ClassVar = {
        "smoke": {**AggregatePosteriorConfig.SCALES["smoke"], "gmm_components": (1, 5), "lde_steps": 40},
        "paper": {**AggregatePosteriorConfig.SCALES["paper"], "gmm_components": (1, 10, 100, 500), "lde_steps": 50_000},
    }


@dataclass
class DensityModelsResult(KLReferences):
    """What :func:`run_density_models` returns: the references and ``estimates``, each density
    model's name (``"GMM (k)"``, ``"LDE (autoregressive)"``, ``"Real-NVP"``) to its estimate of
    KL[q(z) || p(z)] in nats."""

    estimates: Dict[str, float]
    metrics: Dict[str, float] = field(default_factory=dict)


@register("elbo_surgery/density_models", config=DensityModelsConfig, plot=lambda r: plot_density_models(r),
          description="Fig. 21: density-model estimates of KL[q(z)||p(z)] against the lower bound")
def run_density_models(cfg: DensityModelsConfig) -> DensityModelsResult:
    """Fit density models to samples of the VAE's q(z) (a GMM per entry of ``gmm_components``, the
    latent-density chapter's LDE and a Real-NVP, the last two for ``lde_steps`` steps) and read each
    as an estimate of KL[q(z) || p(z)] on held-out samples (:func:`companion.learned_kl.density_model_kl`),
    beside the references of :func:`aggregate_posterior`."""
    posterior = aggregate_posterior(cfg)
    q, g = posterior.q, posterior.generator
    estimates = {}
    for k in cfg.gmm_components:
        gmm = learned_kl.GaussianMixtureDensity(k, seed=cfg.seed)
        estimates[f"GMM ({k})"] = learned_kl.density_model_kl(q, gmm, generator=g).kl
    # The LDE of the latent-density chapter: an autoregressive model of q(z).
    torch.manual_seed(cfg.seed)
    lde = LatentDensityEstimator(cfg.vae.latent_dim, n_components=10, channels=32)
    lde.set_standardization(q)
    estimates["LDE (autoregressive)"] = learned_kl.density_model_kl(q, lde, n_steps=cfg.lde_steps, lr=1e-3,
                                                                    generator=g).kl
    torch.manual_seed(cfg.seed)
    flow = RealNVP((cfg.vae.latent_dim,), n_blocks=4, hidden=128)
    estimates["Real-NVP"] = learned_kl.density_model_kl(q, flow, n_steps=cfg.lde_steps, lr=1e-3, generator=g).kl
    metrics = {**posterior.references(), **{k.replace(" ", "_"): v for k, v in estimates.items()}}
    return DensityModelsResult(**posterior.references(), estimates=estimates, metrics=metrics)


def plot_density_models(result: DensityModelsResult) -> Figure:
    """Fig. 21: a bar per density model of its estimate, against the Monte Carlo value of
    KL[q(z) || p(z)] and the lower bound average KL - log N."""
    names = list(result.estimates)
    return _plot_kl_estimates(names, [result.estimates[n] for n in names], result.monte_carlo, result.lower_bound,
                              "density model of q(z)", "C4",
                              "Density models of q(z) underestimate the marginal KL", height=3.5)


# ========================================================================================
# 6. App. D: density ratios for estimation and for learning, as the dimension grows
# ========================================================================================


@dataclass
class GaussianKLConfig(ExperimentConfig):
    """Two Gaussians x = W^T z + b (z in R^{10 d}) per dimension d of ``dims``; a classifier that
    estimates, then a model that minimises, their KL, over ``n_seeds`` seeds (``seed``, ``seed + 1``,
    ...; seed s draws the two Gaussians, the classifier and the noise). The settings App. D's
    experiments share."""

    dims: Tuple[int, ...] = (1, 10, 100)
    hidden: int = 64
    depth: int = 3
    estimation_steps: int = 500
    learning_steps: int = 500
    n_samples: int = 5000
    batch_size: int = 256
    lr_classifier: float = 1e-3
    lr_model: float = 1e-3
    n_seeds: int = 5
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"dims": (1, 10), "hidden": 32, "estimation_steps": 60, "learning_steps": 60, "n_samples": 2000,
                  "n_seeds": 2},
        "paper": {"dims": (1, 10, 100, 1000), "hidden": 5000, "depth": 4, "estimation_steps": 1_000_000,
                  "learning_steps": 1_000_000, "n_samples": 1_000_000, "lr_classifier": 1e-4, "n_seeds": 10},
    }

    def seeds(self) -> List[int]:
        """The seeds of the runs, ``seed`` to ``seed + n_seeds - 1``."""
        check_positive_int(self.n_seeds, "n_seeds")
        return list(range(self.seed, self.seed + self.n_seeds))


@dataclass
class SyntheticGaussiansConfig(GaussianKLConfig):
    """:class:`GaussianKLConfig` with ``classifier_updates`` classifier steps per model step, over
    10 seeds at book scale (a run costs a few seconds)."""

    n_seeds: int = 10
    classifier_updates: int = 1  # Fig. 20: 5


@dataclass
class SyntheticGaussiansResult:
    """Per dimension, one entry per seed (in the order of ``seeds``): the true KL at the start, the
    classifier's estimate of it (NaN where it was not estimated), and the true KL along learning
    (``learning_curves[d]`` has one row per seed)."""

    dims: List[int]
    seeds: List[int]
    true_kl: Dict[int, np.ndarray]
    estimated_kl: Dict[int, np.ndarray]
    learning_curves: Dict[int, np.ndarray]
    metrics: Dict[str, object] = field(default_factory=dict)

    def kl_after_learning(self, d: int) -> np.ndarray:
        """The true KL at the end of learning, per seed."""
        return self.learning_curves[d][:, -1]


def _gaussian_kl_full(mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor, cov_b: torch.Tensor) -> float:
    """KL[N(mean_a, cov_a) || N(mean_b, cov_b)] in nats."""
    d = mean_a.shape[0]
    inv_b = torch.linalg.inv(cov_b)
    diff = mean_b - mean_a
    return float(0.5 * (torch.trace(inv_b @ cov_a) + diff @ inv_b @ diff - d
                        + torch.linalg.slogdet(cov_b)[1] - torch.linalg.slogdet(cov_a)[1]))


class _AffineGaussian(torch.nn.Module):
    """x = W^T z + b with z ~ N(0, I_k): a Gaussian N(b, W^T W) that can be learned."""

    def __init__(self, k: int, d: int, generator: torch.Generator):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(k, d, generator=generator) / math.sqrt(k))
        self.bias = torch.nn.Parameter(torch.randn(d, generator=generator))

    def forward(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.weight.shape[0], device=self.weight.device) @ self.weight + self.bias

    def moments(self):
        w = self.weight.detach().double()
        return self.bias.detach().double(), w.T @ w

    def frozen_sampler(self) -> Callable[[int], torch.Tensor]:
        """A sampler of this Gaussian as it is now, for draws that need no gradient (the classifier's):
        ``b + eps L^T`` with ``L L^T = W^T W``, the same N(b, W^T W) from d normals per sample, not k = 10 d
        (at d = 100 the k-dimensional draws and products were most of a run). Falls back to ``W^T z + b``
        where W^T W is numerically singular."""
        bias, covariance = self.moments()
        factor, info = torch.linalg.cholesky_ex(covariance)
        if int(info) != 0:
            def draw_k_normals(n: int) -> torch.Tensor:
                with torch.no_grad():
                    return self(n)
            return draw_k_normals
        factor, bias = factor.to(self.weight), bias.to(self.weight)
        return lambda n: torch.randn(n, factor.shape[0], device=factor.device) @ factor.T + bias


def _learn_by_ratio(cfg: SyntheticGaussiansConfig, model: _AffineGaussian, target: _AffineGaussian,
                    seed: int) -> np.ndarray:
    """The model minimises the classifier's estimate of KL[model || target] (the reverse-KL
    generator loss -log D/(1-D)), classifier and model in alternation; the true KL along the way."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    torch.manual_seed(seed)
    classifier = learned_kl.RatioClassifier(model.weight.shape[1], cfg.hidden, cfg.depth, 0.0, 0.0).to(
        model.weight.device)
    opt_c = adam(classifier.parameters(), lr=cfg.lr_classifier, betas=(0.5, 0.9))
    opt_m = adam(model.parameters(), lr=cfg.lr_model, betas=(0.5, 0.9))
    curve = [_gaussian_kl_full(*model.moments(), *target.moments())]
    draw_real = target.frozen_sampler()  # the target never changes
    for step in range(cfg.learning_steps):
        draw_fake = model.frozen_sampler()  # the model as it is at this step
        for _ in range(cfg.classifier_updates):
            fake, real = draw_fake(cfg.batch_size), draw_real(cfg.batch_size)
            logits = classifier(torch.cat([fake, real]))
            labels = torch.cat([torch.ones(cfg.batch_size), torch.zeros(cfg.batch_size)]).to(logits)
            loss_c = bce(logits, labels)
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
        loss_m = classifier(model(cfg.batch_size)).mean()  # logit = estimated log model/target
        opt_m.zero_grad()
        loss_m.backward()
        opt_m.step()
        if (step + 1) % max(1, cfg.learning_steps // 50) == 0:
            curve.append(_gaussian_kl_full(*model.moments(), *target.moments()))
    return np.array(curve)


def _gaussian_kl_run(cfg: SyntheticGaussiansConfig, d: int, seed: int, estimate: bool = True):
    """One seed at dimension ``d``: ``(true KL at start, classifier estimate or NaN, true KL along learning)``.

    Seed 0 is the run of the chapter's first version; the learning part does not depend on the
    estimation part (its random draws are seeded afresh), so ``estimate=False`` leaves it unchanged.
    """
    dev = companion.device()
    g = torch.Generator().manual_seed(1000 * seed + d)
    target = _AffineGaussian(10 * d, d, g).to(dev)
    model = _AffineGaussian(10 * d, d, g).to(dev)
    kl0 = _gaussian_kl_full(*model.moments(), *target.moments())  # KL[model || target]
    estimated = float("nan")
    if estimate:  # (a) Estimation: both fixed; a classifier's logit is read as log model/target.
        torch.manual_seed(seed)
        q, p = model.frozen_sampler()(cfg.n_samples), target.frozen_sampler()(cfg.n_samples)
        estimated = learned_kl.density_ratio_kl(
            q, p, hidden=cfg.hidden, depth=cfg.depth, n_steps=cfg.estimation_steps, lr=cfg.lr_classifier,
            batch_size=cfg.batch_size, generator=g).kl
    return kl0, estimated, _learn_by_ratio(cfg, model, target, seed)  # (b) Learning


def _synthetic_runs(cfg: SyntheticGaussiansConfig, estimate: bool = True) -> SyntheticGaussiansResult:
    """Every dimension and seed of ``cfg``, with the per-dimension verdicts in the metrics."""
    seeds = cfg.seeds()
    true_kl, estimated_kl, curves = {}, {}, {}
    # Each run is seeded by its seed and d alone: they run in worker processes.
    every_run = iter(map_in_workers(lambda d, s: _gaussian_kl_run(cfg, d, s, estimate),
                                    [(d, s) for d in cfg.dims for s in seeds]))
    for d in cfg.dims:
        runs = [next(every_run) for _ in seeds]
        true_kl[d] = np.array([r[0] for r in runs])
        estimated_kl[d] = np.array([r[1] for r in runs])
        curves[d] = np.stack([r[2] for r in runs])
    metrics: Dict[str, object] = {"n_seeds": len(seeds)}
    for d in cfg.dims:
        after = curves[d][:, -1]
        metrics[f"d{d}_true_kl"] = float(true_kl[d].mean())
        if estimate:
            metrics[f"d{d}_ratio_estimate"] = float(estimated_kl[d].mean())
        metrics[f"d{d}_kl_after_learning"] = float(after.mean())
        metrics[f"d{d}_kl_after_learning_std"] = float(after.std(ddof=1)) if len(after) > 1 else 0.0
        metrics[f"d{d}_seeds_kl_lowered"] = int((after < true_kl[d]).sum())
        # The claim "learning lowers the true KL at d": each seed's end against its own start (paired).
        metrics[f"d{d}_learning_lowers_kl_verdict"] = verdict(after, true_kl[d], higher_is_better=False, paired=True)
    return SyntheticGaussiansResult(list(cfg.dims), seeds, true_kl, estimated_kl, curves, metrics)


@register("elbo_surgery/synthetic_gaussians", config=SyntheticGaussiansConfig,
          plot=lambda r: plot_synthetic_gaussians(r),
          description="App. D: density-ratio estimation and minimisation of a Gaussian KL vs dimension, over seeds")
def run_synthetic_gaussians(cfg: SyntheticGaussiansConfig) -> SyntheticGaussiansResult:
    """App. D at each dimension of ``cfg.dims`` and each seed of ``cfg.seeds()``: a classifier
    estimates KL[model || target] with both fixed, then, from the same start, the model learns
    to minimise the estimate of a classifier that keeps training; the true KL is tracked.

    The metrics hold, per dimension, the means over seeds, how many seeds end below their
    start, and :func:`companion.evidence.verdict` on "learning lowers the true KL" (each seed's
    final true KL against its own starting one: a paired bootstrap over the seeds).
    """
    check_positive_int(cfg.classifier_updates, "classifier_updates")
    return _synthetic_runs(cfg)


def plot_synthetic_gaussians(result: SyntheticGaussiansResult) -> Figure:
    """App. D: one panel per dimension with every seed's true KL along learning (symlog axis), the
    mean true KL at the start dotted and the mean classifier estimate of it dashed (where estimated)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(result.dims), figsize=(3.6 * len(result.dims), 3.3), squeeze=False)
    for ax, d in zip(axes[0], result.dims):
        curves = result.learning_curves[d]
        steps = np.linspace(0, 1, curves.shape[1])
        for i, curve in enumerate(curves):
            label = "true KL while learning (a seed)" if i == 0 else None
            ax.plot(steps, curve, color="C0", alpha=0.6, lw=1, label=label)
        ax.axhline(result.true_kl[d].mean(), color="grey", ls=":", label="true KL at start (mean)")
        if np.isfinite(result.estimated_kl[d]).all():
            ax.axhline(result.estimated_kl[d].mean(), color="C3", ls="--", label="classifier estimate at start (mean)")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_title(f"d = {d} ({len(result.seeds)} seeds)")
        ax.set_xlabel("fraction of training")
    axes[0][0].set_ylabel("KL (nats)")
    axes[0][0].legend(fontsize=7)
    return fig


# ========================================================================================
# 3. Fig. 20: five classifier updates per generator update
# ========================================================================================


@dataclass
class ClassifierUpdatesConfig(GaussianKLConfig):
    """``elbo_surgery/synthetic_gaussians`` run once per entry of ``updates`` (classifier
    updates per generator update), everything else equal (the same settings, scales and seeds,
    so that run can be reused)."""

    dims: Tuple[int, ...] = (100,)  # where one update fails; d = 1, 10 learn either way, d = 1000 is at paper scale
    updates: Tuple[int, ...] = (1, 5)


@dataclass
class ClassifierUpdatesResult:
    """What :func:`run_classifier_updates` returns: ``runs[u]``, the runs over seeds with ``u``
    classifier updates per model update, for each ``u`` of ``updates``."""

    updates: List[int]
    runs: Dict[int, SyntheticGaussiansResult]  # updates -> the runs over seeds
    metrics: Dict[str, object] = field(default_factory=dict)


def _reused_runs(reuse: SyntheticGaussiansResult, cfg: ClassifierUpdatesConfig) -> SyntheticGaussiansResult:
    """The dimensions and seeds of ``cfg`` out of a one-update run over (at least) them."""
    # Each run is seeded by seed and d alone, so a run over more dimensions and seeds holds ours.
    if not isinstance(reuse, SyntheticGaussiansResult) or not set(cfg.dims) <= set(reuse.dims):
        raise ValueError("reuse must be a SyntheticGaussiansResult over (at least) the same dims")
    if not set(cfg.seeds()) <= set(reuse.seeds):
        raise ValueError(f"reuse must have (at least) the seeds {cfg.seeds()}; got {reuse.seeds}")
    rows = [reuse.seeds.index(s) for s in cfg.seeds()]
    return SyntheticGaussiansResult(
        list(cfg.dims), cfg.seeds(), {d: reuse.true_kl[d][rows] for d in cfg.dims},
        {d: reuse.estimated_kl[d][rows] for d in cfg.dims}, {d: reuse.learning_curves[d][rows] for d in cfg.dims})


@register("elbo_surgery/classifier_updates", config=ClassifierUpdatesConfig,
          plot=lambda r: plot_classifier_updates(r),
          description="Fig. 20: the synthetic Gaussians with five classifier updates per generator update, over seeds")
def run_classifier_updates(cfg: ClassifierUpdatesConfig,
                           reuse: Optional[SyntheticGaussiansResult] = None) -> ClassifierUpdatesResult:
    """Run ``elbo_surgery/synthetic_gaussians`` once per number of classifier updates, over the same seeds.

    Args:
        cfg: the configuration.
        reuse: an optional result of :func:`companion.experiments.elbo_surgery.run_synthetic_gaussians`
            made with the same settings, one classifier update and (at least) the same seeds (the
            chapter's experiment 6); it stands in for the one-update run instead of training it again.

    The metrics hold the mean final true KL per setting and, for each later setting against the
    first, :func:`companion.evidence.verdict` on "it ends with a lower true KL" over the seeds,
    paired (a seed draws the same Gaussians, initialisation and noise streams in every setting).
    The runs other than the reused one skip the classifier's estimation (it does not depend on
    the number of updates).
    """
    if not cfg.updates:
        raise ValueError("updates must name at least one number of classifier updates")
    for u in cfg.updates:
        check_positive_int(u, "updates")
    shared = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(GaussianKLConfig)}
    runs = {}
    for u in cfg.updates:
        if u == 1 and reuse is not None:
            runs[u] = _reused_runs(reuse, cfg)
        else:
            runs[u] = _synthetic_runs(SyntheticGaussiansConfig(**shared, classifier_updates=u), estimate=False)
    first = cfg.updates[0]
    metrics: Dict[str, object] = {"n_seeds": cfg.n_seeds}
    for d in cfg.dims:
        metrics[f"d{d}_true_kl"] = float(runs[first].true_kl[d].mean())
        for u, r in runs.items():
            metrics[f"updates{u}_d{d}_kl_after_learning"] = float(r.kl_after_learning(d).mean())
            if u != first:
                metrics[f"updates{u}_vs_{first}_d{d}_lower_kl_verdict"] = verdict(
                    r.kl_after_learning(d), runs[first].kl_after_learning(d), higher_is_better=False, paired=True)
    return ClassifierUpdatesResult(list(cfg.updates), runs, metrics)


def plot_classifier_updates(result: ClassifierUpdatesResult) -> Figure:
    """Fig. 20: one panel per dimension with every seed's true KL along learning (symlog axis), a
    colour per number of classifier updates, and the mean true KL at the start dotted."""
    import matplotlib.pyplot as plt

    dims = result.runs[result.updates[0]].dims
    fig, axes = plt.subplots(1, len(dims), figsize=(3.6 * len(dims), 3.3), squeeze=False)
    for ax, d in zip(axes[0], dims):
        for c, u in enumerate(result.updates):
            for i, curve in enumerate(result.runs[u].learning_curves[d]):
                ax.plot(np.linspace(0, 1, len(curve)), curve, color=f"C{c}", alpha=0.6, lw=1,
                        label=f"{u} classifier update{'s' * (u > 1)}" if i == 0 else None)
        ax.axhline(result.runs[result.updates[0]].true_kl[d].mean(), color="grey", ls=":",
                   label="true KL at start (mean)")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_title(f"d = {d} ({len(result.runs[result.updates[0]].seeds)} seeds)")
        ax.set_xlabel("fraction of training")
    axes[0][0].set_ylabel("true KL (nats)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
