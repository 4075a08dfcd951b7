"""ELBO surgery, the terms of eq. 5: exactly on probabilistic PCA, and estimated for trained VAEs.

* ``elbo_surgery/linear_gaussian`` — the exact case: probabilistic PCA, where every term of
  eq. 5 is closed form; the Monte Carlo estimators against it.
* ``elbo_surgery/marginal_kl`` — Fig. 1: average KL = marginal KL + mutual information for
  VAEs on ``digits``, ``faces`` and ``patches``, with Gaussian and Real-NVP posteriors; the
  minibatch estimate beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Dict, List, Tuple

import numpy as np
import torch

from companion import surgery
from companion.checks import check_nonnegative_int, check_positive_int
from companion.config import ExperimentConfig
from companion.evidence import verdict
from companion.experiments.elbo_surgery_shared import posteriors, train_flow_vae, train_vae
from companion.reproduce import register
from companion.workers import map_in_workers

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from matplotlib.figure import Figure


def _minibatch_mi(mu: torch.Tensor, logvar: torch.Tensor, batch_size: int, n_batches: int,
                  generator: torch.Generator) -> float:
    """The mutual information estimated as training code often does: from B posteriors (the mean over
    ``n_batches`` random minibatches of ``batch_size`` rows of ``mu``, ``logvar``)."""
    values = []
    for _ in range(n_batches):
        rows = torch.randperm(mu.shape[0], generator=generator)[:batch_size].to(mu.device)
        values.append(float(surgery.mutual_information(mu[rows], logvar[rows], 10 * batch_size, generator=generator)))
    return float(np.mean(values))


# ========================================================================================
# 1. The exact case: probabilistic PCA
# ========================================================================================


@dataclass
class LinearGaussianConfig(ExperimentConfig):
    """Gaussian data, a probabilistic-PCA decoder and its exact (or a mis-scaled) posterior."""

    data_dim: int = 10
    latent_dim: int = 4
    n_data: int = 5000
    n_z: int = 5000
    variance_scales: Tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)
    seed: int = 0
    SCALES: ClassVar = {"smoke": {"n_data": 1000, "n_z": 1000}, "paper": {"n_data": 50_000, "n_z": 50_000}}


@dataclass
class LinearGaussianResult:
    """What :func:`run_linear_gaussian` returns: per term of eq. 5 (``average_kl``, ``marginal_kl``,
    ``mutual_information``), its closed-form value (``exact``) and Monte Carlo estimate
    (``estimated``) in nats, one per entry of ``variance_scales``; ``log_n`` is log N, the cap on
    the mutual information."""

    variance_scales: np.ndarray
    exact: Dict[str, np.ndarray]
    estimated: Dict[str, np.ndarray]
    log_n: float
    metrics: Dict[str, float] = field(default_factory=dict)


def ppca_posterior(
    x: torch.Tensor, latent_dim: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Maximum-likelihood probabilistic PCA (Tipping & Bishop) and its exact posterior.

    With W = U_k (L_k - s2 I)^(1/2), the posterior q(z|x) = N(A (x - m), diag(s2 / L_k)),
    A = diag(L_k)^(-1) (L_k - s2 I)^(1/2) U_k^T, is diagonal.

    Returns:
        ``(A, bias, posterior_var, mean, cov)`` for :func:`companion.surgery.linear_gaussian_surgery`,
        in float64, of shapes ``(k, D)``, ``(k,)``, ``(k,)``, ``(D,)`` and ``(D, D)`` (k = ``latent_dim``).
    """
    mean = x.mean(0)
    cov = torch.cov(x.T, correction=0)
    eigvals, eigvecs = torch.linalg.eigh(cov.double())
    eigvals, eigvecs = eigvals.flip(0), eigvecs.flip(1)
    noise = eigvals[latent_dim:].mean()
    lam, u = eigvals[:latent_dim], eigvecs[:, :latent_dim]
    weight = (torch.sqrt(lam - noise) / lam)[:, None] * u.T
    return weight, -weight @ mean.double(), noise / lam, mean.double(), cov.double()


@register("elbo_surgery/linear_gaussian", config=LinearGaussianConfig, plot=lambda r: plot_linear_gaussian(r),
          description="eq. 5 in closed form on probabilistic PCA, and the estimators against it")
def run_linear_gaussian(cfg: LinearGaussianConfig) -> LinearGaussianResult:
    """The three terms of eq. 5, exact and estimated, as the posterior variance is mis-scaled.

    Scale 1 is the exact posterior of the maximum-likelihood model: then q(z) = p(z) and the
    marginal KL is 0. Narrower posteriors (scale < 1, what VAEs tend to learn) leave gaps.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    spectrum = torch.logspace(0.5, -1.0, cfg.data_dim, dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(cfg.data_dim, cfg.data_dim, generator=g, dtype=torch.float64))
    x = (torch.randn(cfg.n_data, cfg.data_dim, generator=g, dtype=torch.float64) * spectrum.sqrt()) @ rotation.T
    weight, bias, posterior_var, mean, cov = ppca_posterior(x, cfg.latent_dim)
    names = ("average_kl", "marginal_kl", "mutual_information")
    exact = {k: [] for k in names}
    estimated = {k: [] for k in names}
    for scale in cfg.variance_scales:
        var = posterior_var * scale
        terms = surgery.linear_gaussian_surgery(weight, bias, var, mean, cov)
        mu = (x @ weight.T + bias).float()
        logvar = torch.log(var).float().expand(cfg.n_data, -1).contiguous()
        for k in names:
            exact[k].append(terms[k])
        estimated["average_kl"].append(float(surgery.average_kl(mu, logvar)))
        estimated["marginal_kl"].append(float(surgery.marginal_kl_mc(mu, logvar, cfg.n_z, generator=g)))
        estimated["mutual_information"].append(float(surgery.mutual_information(mu, logvar, cfg.n_z, generator=g)))
    exact_np = {k: np.array(v) for k, v in exact.items()}
    est_np = {k: np.array(v) for k, v in estimated.items()}
    metrics = {f"max_abs_error_{k}": float(np.abs(exact_np[k] - est_np[k]).max()) for k in names}
    metrics["identity_residual"] = float(
        np.abs(exact_np["average_kl"] - exact_np["marginal_kl"] - exact_np["mutual_information"]).max()
    )
    metrics["marginal_kl_at_exact_posterior"] = (
        float(exact_np["marginal_kl"][list(cfg.variance_scales).index(1.0)])
        if 1.0 in cfg.variance_scales
        else float("nan")
    )
    return LinearGaussianResult(np.array(cfg.variance_scales), exact_np, est_np, math.log(cfg.n_data), metrics)


def plot_linear_gaussian(result: LinearGaussianResult) -> Figure:
    """Each term of eq. 5, exact (lines) and estimated (dots), against the posterior-variance scale
    (log axis), with log N dotted."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    labels = {"average_kl": "average KL", "marginal_kl": "marginal KL", "mutual_information": "mutual information"}
    for (key, label), color in zip(labels.items(), ("C0", "C1", "C2")):
        ax.plot(result.variance_scales, result.exact[key], "-", color=color, label=f"{label} (exact)")
        ax.plot(result.variance_scales, result.estimated[key], "o", color=color, label=f"{label} (estimate)")
    ax.axhline(result.log_n, color="grey", ls=":", label="log N")
    ax.set_xscale("log")
    ax.set_xlabel("posterior variance / exact posterior variance")
    ax.set_ylabel("nats")
    ax.set_title("Probabilistic PCA: eq. 5 exactly and by Monte Carlo")
    ax.legend(fontsize=7, ncol=2, loc="center right")
    return fig


# ========================================================================================
# 2. Fig. 1: marginal KL and mutual information of trained VAEs
# ========================================================================================


@dataclass
class MarginalKLConfig(ExperimentConfig):
    """VAEs on the book's small image sets (the paper: ColorMNIST, CelebA, CIFAR-10, 160 latents),
    each with every posterior family in ``posteriors``: ``"gaussian"`` (diagonal) and
    ``"realnvp"`` (:class:`companion.surgery.FlowPosteriorVAE`, a Real-NVP of ``flow_blocks`` couplings with
    ``flow_hidden`` units applied to the Gaussian, trained for ``flow_steps`` steps), over
    ``n_seeds`` seeds (``seed``, ``seed + 1``, ...). The families of one seed start from the
    same encoder and decoder and see the same minibatches, so they compare paired by seed."""

    datasets: Tuple[str, ...] = ("digits", "faces", "patches")
    posteriors: Tuple[str, ...] = ("gaussian", "realnvp")
    latent_dim: int = 16
    hidden: int = 256
    n_steps: int = 1500
    flow_steps: int = 1500
    flow_blocks: int = 4
    flow_hidden: int = 32
    max_examples: int = 10_000
    n_z: int = 5000
    minibatch_size: int = 64
    n_seeds: int = 5
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"n_steps": 150, "flow_steps": 150, "n_z": 500, "max_examples": 2000, "latent_dim": 8, "n_seeds": 3},
        "paper": {"datasets": ("mnist", "patches"), "latent_dim": 160, "n_steps": 100_000, "flow_steps": 100_000,
                  "flow_hidden": 256, "max_examples": 60_000, "n_z": 100_000},
    }

    @property
    def seeds(self) -> List[int]:
        """The seeds of the runs: ``seed, seed + 1, ..., seed + n_seeds - 1``."""
        return [self.seed + s for s in range(self.n_seeds)]


#: The posterior families of experiment 2.
POSTERIORS = ("gaussian", "realnvp")


@dataclass
class MarginalKLResult:
    """What :func:`run_marginal_kl` returns. A run's quantities, as ``table`` and ``runs`` key them
    (in nats): ``elbo``, ``average_kl``, ``marginal_kl``, ``mutual_information`` and its
    minibatch estimate ``minibatch_mutual_information``, ``sum_residual`` (average KL minus the two
    terms); ``n`` (training examples), ``log_n`` and ``log_batch`` (log of the minibatch size)."""

    datasets: List[str]
    posteriors: List[str]
    table: Dict[str, Dict[str, Dict[str, float]]]  # table[dataset][posterior][quantity]: the mean over seeds
    metrics: Dict[str, float] = field(default_factory=dict)
    seeds: List[int] = field(default_factory=list)
    runs: Dict[str, Dict[str, Dict[str, List[float]]]] = field(default_factory=dict)  # ...[quantity]: one per seed
    # dataset -> verdict on "the Real-NVP posterior has a smaller marginal KL than the Gaussian
    # one", paired by seed (companion.evidence.verdict); empty unless both families ran
    flow_verdicts: Dict[str, str] = field(default_factory=dict)


def _marginal_kl_run(cfg: MarginalKLConfig, dataset: str, family: str, seed: int) -> Dict[str, float]:
    """One run of Fig. 1 (a job of :func:`companion.workers.map_in_workers`): the VAE of
    ``family`` on ``dataset`` trained from ``seed``, and the terms of eq. 5 over its training data.

    The Monte Carlo draws come from a generator seeded with ``seed``, so the two families of a
    seed share them.
    """
    g = torch.Generator().manual_seed(seed)
    if family == "gaussian":
        vae, x = train_vae(dataset, cfg.latent_dim, cfg.n_steps, cfg.hidden, cfg.max_examples, seed)
        mu, logvar = posteriors(vae, x)
        with torch.no_grad():
            elbo = float(torch.cat([vae.elbo(c).elbo for c in x.split(2048)]).mean())
        average = float(surgery.average_kl(mu, logvar))
        marginal = float(surgery.marginal_kl_mc(mu, logvar, cfg.n_z, generator=g))
    else:
        model, x = train_flow_vae(dataset, cfg.latent_dim, cfg.flow_steps, cfg.hidden, cfg.max_examples, seed,
                                  cfg.flow_blocks, cfg.flow_hidden)
        mu, logvar = posteriors(model.vae, x)  # of the base Gaussian u
        with torch.no_grad():
            elbo = float(torch.cat([model.elbo(c)[0] for c in x.split(2048)]).mean())
        average = float(surgery.average_kl_flow(mu, logvar, model.flow, cfg.n_z, generator=g))
        marginal = float(surgery.marginal_kl_mc_flow(mu, logvar, model.flow, cfg.n_z, generator=g))
    row = {
        "n": float(x.shape[0]),
        "log_n": math.log(x.shape[0]),
        "elbo": elbo,
        "average_kl": average,
        "marginal_kl": marginal,
        "mutual_information": float(surgery.mutual_information(mu, logvar, cfg.n_z, generator=g)),
        "minibatch_mutual_information": _minibatch_mi(mu, logvar, cfg.minibatch_size, 5, g),
        "log_batch": math.log(cfg.minibatch_size),
    }
    row["sum_residual"] = row["average_kl"] - row["marginal_kl"] - row["mutual_information"]
    return row


@register("elbo_surgery/marginal_kl", config=MarginalKLConfig, plot=lambda r: plot_marginal_kl(r),
          description="Fig. 1: average KL = marginal KL + mutual information, Gaussian and Real-NVP posteriors")
def run_marginal_kl(cfg: MarginalKLConfig) -> MarginalKLResult:
    """Train a VAE per data set, posterior family and seed; split its KL term with eq. 5 over the whole data set.

    Gaussian posteriors use the closed-form average KL; Real-NVP posteriors z = g(u) use
    :func:`companion.surgery.average_kl_flow` and :func:`companion.surgery.marginal_kl_mc_flow`.
    The information (full data and minibatch) is computed on the base Gaussians u for both:
    it does not change under the bijection g.

    Every (data set, family, seed) run seeds itself, and they train in one-thread worker
    processes (:func:`companion.workers.map_in_workers`): the numbers are the same with one
    worker or two. ``runs`` keeps every seed's value, ``table`` their means, and
    ``flow_verdicts`` the paired verdict on "Real-NVP has the smaller marginal KL" per data set.

    Raises:
        ValueError: for unknown posterior families, no data sets, or ``n_seeds`` < 1.
    """
    unknown = [p for p in cfg.posteriors if p not in POSTERIORS]
    if unknown or not cfg.posteriors:
        raise ValueError(f"posteriors must be a non-empty subset of {POSTERIORS}; got {cfg.posteriors!r}")
    if not cfg.datasets:
        raise ValueError("datasets must name at least one data set")
    check_positive_int(cfg.n_seeds, "n_seeds")
    check_nonnegative_int(cfg.seed, "seed")
    jobs = [(name, family, seed) for name in cfg.datasets for family in cfg.posteriors for seed in cfg.seeds]
    rows = iter(map_in_workers(lambda *job: _marginal_kl_run(cfg, *job), jobs))
    runs: Dict[str, Dict[str, Dict[str, List[float]]]] = {}
    for name in cfg.datasets:
        runs[name] = {}
        for family in cfg.posteriors:
            per_seed = [next(rows) for _ in cfg.seeds]
            runs[name][family] = {k: [row[k] for row in per_seed] for k in per_seed[0]}
    table = {name: {family: {k: float(np.mean(v)) for k, v in by_quantity.items()}
                    for family, by_quantity in by_family.items()}
             for name, by_family in runs.items()}
    flow_verdicts = {}
    if set(POSTERIORS) <= set(cfg.posteriors):
        flow_verdicts = {name: verdict(runs[name]["realnvp"]["marginal_kl"], runs[name]["gaussian"]["marginal_kl"],
                                       higher_is_better=False, paired=True) for name in cfg.datasets}
    metrics = {f"{d}_{p}_{k}": v for d, rows_ in table.items() for p, row in rows_.items() for k, v in row.items()}
    metrics.update({f"{d}_{p}_marginal_kl_std": float(np.std(values["marginal_kl"], ddof=1)) if cfg.n_seeds > 1
                    else 0.0 for d, by_family in runs.items() for p, values in by_family.items()})
    metrics["n_seeds"] = float(cfg.n_seeds)
    return MarginalKLResult(list(cfg.datasets), list(cfg.posteriors), table, metrics, cfg.seeds, runs, flow_verdicts)


def plot_marginal_kl(result: MarginalKLResult) -> Figure:
    """Fig. 1: per data set and posterior family, a bar of KL[q(z) || p(z)] with I[x; z] stacked on
    it (means over seeds, the marginal KL's std as error bars), the average KL as a tick and log N
    dotted."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    names, families = result.datasets, result.posteriors
    width = 0.8 / len(families)
    hatches = {"gaussian": "", "realnvp": "//"}
    for j, family in enumerate(families):
        pos = np.arange(len(names)) - 0.4 + width * (j + 0.5)
        rows = [result.table[n][family] for n in names]
        marginal = np.array([r["marginal_kl"] for r in rows])
        info = np.array([r["mutual_information"] for r in rows])
        suffix = f" ({family})" if len(families) > 1 else ""
        ax.bar(pos, marginal, 0.9 * width, color="C1", hatch=hatches.get(family, ""), edgecolor="white",
               label="KL[q(z) || p(z)]" + suffix)
        ax.bar(pos, info, 0.9 * width, bottom=marginal, color="C2", hatch=hatches.get(family, ""), edgecolor="white",
               label="I[x; z]" + suffix)
        ax.scatter(pos, [r["average_kl"] for r in rows], color="k", marker="_", s=300 * width, zorder=3,
                   label="average KL" if j == 0 else None)
        spread = [np.std(result.runs[n][family]["marginal_kl"], ddof=1) if len(result.seeds) > 1 else 0.0
                  for n in names] if result.runs else None
        if spread is not None and any(s > 0 for s in spread):
            ax.errorbar(pos, marginal, yerr=spread, fmt="none", ecolor="0.25", capsize=3, zorder=4,
                        label=f"± std of KL[q(z) || p(z)] over {len(result.seeds)} seeds" if j == 0 else None)
    for p, n in enumerate(names):
        ax.plot([p - 0.42, p + 0.42], [result.table[n][families[0]]["log_n"]] * 2, ":", color="grey")
    ax.plot([], [], ":", color="grey", label="log N (cap on I)")
    n_of = {n: int(result.table[n][families[0]]["n"]) for n in names}
    ax.set_xticks(np.arange(len(names)), [f"{n}\n(N={n_of[n]})" for n in names])
    if len(families) > 1:
        ax.set_xlabel("bars, left to right: " + ", ".join(families) + " posteriors")
    ax.set_ylabel("nats")
    ax.set_ylim(top=1.4 * ax.get_ylim()[1])  # room for the legend
    n_seeds = len(result.seeds)
    ax.set_title("The ELBO's KL term, split by eq. 5" + (f" (means of {n_seeds} seeds)" if n_seeds > 1 else ""))
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    return fig
