"""Experiments of the chapter "The latent density estimator" (Yoo, Lee and Kwak).

* ``latent_density/beta`` — Fig. 2 / App. D: a VAE's reconstruction-vs-KL trade-off as beta
  varies (here: why a fixed prior costs reconstruction).
* ``latent_density/bars`` — Fig. 5: LDEs with K = 1, 10, 30, a GMMN and a scikit-learn GMM
  on the six bars with a gap; held-out log-likelihood and the fraction of samples in the gap.
* ``latent_density/gmmn_length`` — Fig. 5's GMMN trained far longer, scored along the way
  against the bars' quality bar.
* ``latent_density/patches`` — Table 1: log-likelihood of 8x8 natural-image patches for LDEs
  (K = 1, 10, 30, 100), a full-covariance GMM, a Real-NVP and zuko's MAF, over trials.
* ``latent_density/interpolation`` — Sec. 4.2 / App. B: AE vs IAE on digits and faces;
  interpolations within and across domains and the LDE log-likelihood along the path.
* ``latent_density/faces`` — Fig. 1 / Fig. 6 on ``faces``: AE, IAE and AAE reconstructions of
  test faces, and samples of AE + LDE, IAE + LDE and the AAE.
* ``latent_density/parzen`` — Table 2: Parzen log-likelihood on the digits test split for
  AE+LDE and IAE+LDE (latent size 8) against a VAE and IML with a GMM base.
* ``latent_density/baselines`` — Table 2 / Figs. 7, 8, 12: the AAE and GMMN + AE rows on
  digits, with the digits quality bar, AAE samples and interpolations.

``beta`` lives here; the others in modules of one idea each, whose public names are
importable from here too: the LDE as a density estimator (``bars``, ``patches``) in
:mod:`companion.experiments.latent_density_estimators`, the GMMN's long run (``gmmn_length``) in
:mod:`companion.experiments.latent_density_gmmn`, autoencoders with an LDE on their
codes (``interpolation``, ``faces``) in :mod:`companion.experiments.latent_density_autoencoders`,
and Table 2 (``parzen``, ``baselines``) in :mod:`companion.experiments.latent_density_parzen`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch.nn import functional as F

import companion
from companion import data
from companion.checks import check_nonnegative_int, check_positive_int
from companion.config import ExperimentConfig
from companion.evidence import verdict
from companion.experiments.latent_density_autoencoders import (  # noqa: F401  (the chapter imports them from here)
    INTERPOLATION_MODELS,
    INTERPOLATION_PATHS,
    AutoencoderLDEConfig,
    FacesConfig,
    FacesResult,
    InterpolationConfig,
    InterpolationResult,
    path_dip,
    plot_faces,
    plot_interpolation,
    run_faces,
    run_interpolation,
)
from companion.experiments.latent_density_estimators import (  # noqa: F401  (the chapter imports them from here)
    PAPER_TABLE1,
    BarsConfig,
    BarsResult,
    PatchesConfig,
    PatchesResult,
    gap_comparison,
    meets_bars_bar,
    patches_table,
    plot_bars,
    plot_patches,
    run_bars,
    run_patches,
    seed_runs,
)
from companion.experiments.latent_density_gmmn import (  # noqa: F401  (the chapter imports them from here)
    GMMN_CONSTANT_RATE_RECORD,
    GMMN_LENGTH_RECORD,
    GMMNLengthConfig,
    GMMNLengthResult,
    gmmn_length_summary,
    plot_gmmn_length,
    run_gmmn_length,
)
from companion.experiments.latent_density_parzen import (  # noqa: F401  (the chapter imports them from here)
    PAPER_TABLE2_MNIST,
    BaselinesConfig,
    BaselinesResult,
    ParzenConfig,
    ParzenResult,
    baselines_rows,
    parzen_metrics,
    parzen_table,
    plot_baselines,
    plot_parzen,
    run_baselines,
    run_parzen,
    table2_verdicts,
)
from companion.plots import image_grid
from companion.reproduce import register
from companion.vae import VAE, fit_vae
from companion.workers import map_in_workers

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib
    from matplotlib.figure import Figure


@dataclasses.dataclass
class BetaConfig(ExperimentConfig):
    """Fig. 2 / App. D: the VAE's trade-off between reconstruction and KL as beta varies."""

    betas: Tuple[float, ...] = (0.0, 0.3, 1.0, 3.0)
    latent_dim: int = 2
    n_steps: int = 800
    batch_size: int = 128
    seed: int = 0
    n_seeds: int = 5  # seeds seed, seed + 1, ...; every beta trains from each (paired)
    SCALES = {"smoke": {"betas": (0.0, 1.0), "n_steps": 30, "n_seeds": 3}, "paper": {"n_steps": 30_000}}


@dataclasses.dataclass
class BetaResult:
    """What :func:`run_beta` returns: the first seed's pictures (arrays on the CPU), every seed's losses.

    Keyed by beta: ``codes`` ``(n_test, latent_dim)``, the posterior means of the test digits (``labels``
    ``(n_test,)``, their digit labels), and ``reconstructions`` of the first 8 test digits (``originals``).
    """

    betas: np.ndarray
    codes: Dict[float, np.ndarray]
    labels: np.ndarray
    reconstructions: Dict[float, np.ndarray]
    originals: np.ndarray
    metrics: Dict[str, object]  # means over seeds and the verdicts
    runs: Dict[str, List[float]] = dataclasses.field(default_factory=dict)  # "kl/beta=1.0" -> one per seed


def _beta_run(cfg: BetaConfig, train: torch.Tensor, test: torch.Tensor, beta: float, seed: int
              ) -> Tuple[np.ndarray, np.ndarray, Dict[str, float]]:
    """One VAE of ``run_beta`` (a job of :func:`companion.workers.map_in_workers`): trained from
    ``seed``; its test codes, first reconstructions and test losses."""
    device = companion.device()
    companion.seed_everything(seed)
    vae = VAE(tuple(train.shape[1:]), latent_dim=cfg.latent_dim, likelihood="bernoulli", beta=beta).to(device)
    fit_vae(vae, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, desc=f"VAE beta={beta}")
    vae.eval()
    with torch.no_grad():
        x = test.to(device)
        terms = vae.elbo(x)
        mu, _ = vae.encode(x)
        rec = vae.reconstruct(x)
    metrics = {f"reconstruction_nll/beta={beta}": float(-terms.reconstruction.mean()),
               f"kl/beta={beta}": float(terms.kl.mean()), f"mse/beta={beta}": float(F.mse_loss(rec, x))}
    return mu.cpu().numpy(), rec[:8].cpu().numpy(), metrics


def beta_verdicts(runs: Dict[str, List[float]], betas: Sequence[float]) -> Dict[str, str]:
    """The paired verdicts on the trade-off of Fig. 2, for each two neighbouring ``betas``: with the
    larger beta the KL term is smaller (``"kl falls/beta=a -> b"``) and the reconstruction term
    larger (``"reconstruction rises/beta=a -> b"``). The seeds are paired (every beta trains from the
    same seeds: the same initial weights and minibatches).

    Raises:
        ValueError: for fewer than two betas, betas not increasing, or a beta missing from ``runs``.
    """
    betas = [float(b) for b in betas]
    if len(betas) < 2 or any(b >= c for b, c in zip(betas, betas[1:])):
        raise ValueError(f"betas must be at least two increasing values; got {betas!r}")
    for beta in betas:
        for term in ("kl", "reconstruction_nll"):
            if f"{term}/beta={beta}" not in runs:
                raise ValueError(f"runs has no '{term}/beta={beta}'; it holds {sorted(runs)}")
    verdicts = {}
    for low, high in zip(betas, betas[1:]):
        verdicts[f"kl falls/beta={low} -> {high}"] = verdict(
            runs[f"kl/beta={high}"], runs[f"kl/beta={low}"], higher_is_better=False, paired=True)
        verdicts[f"reconstruction rises/beta={low} -> {high}"] = verdict(
            runs[f"reconstruction_nll/beta={high}"], runs[f"reconstruction_nll/beta={low}"], paired=True)
    return verdicts


@register("latent_density/beta", config=BetaConfig, plot=lambda r: plot_beta(r),
          description="Fig. 2 / App. D: VAE reconstruction vs KL as beta varies, on digits")
def run_beta(cfg: BetaConfig) -> BetaResult:
    """One VAE per beta and seed (2-D latent, Bernoulli decoder); test reconstruction, KL and MSE.

    Every VAE seeds itself, so they train as independent jobs in one-thread worker processes
    (:func:`companion.workers.map_in_workers`): the numbers are the same with one worker or two.
    The metrics are means over the seeds (``runs`` keeps every seed's), with the paired verdicts of
    :func:`beta_verdicts` (``verdict/<claim>``); the codes and reconstructions are the first seed's.

    Raises:
        ValueError: for ``n_seeds`` < 1, a negative ``seed`` or betas that are not increasing.
    """
    check_positive_int(cfg.n_seeds, "n_seeds")
    check_nonnegative_int(cfg.seed, "seed")
    betas = [float(b) for b in cfg.betas]
    if not betas or any(b < 0 for b in betas) or any(b >= c for b, c in zip(betas, betas[1:])):
        raise ValueError(f"betas must be increasing values >= 0; got {cfg.betas!r}")
    train, test = data.load("digits").to(companion.device()), data.load("digits", "test")
    labels = data.load_labels("digits", "test").numpy()
    seeds = [cfg.seed + i for i in range(cfg.n_seeds)]
    done = map_in_workers(lambda beta, seed: _beta_run(cfg, train, test, beta, seed),
                          [(beta, seed) for beta in betas for seed in seeds])
    codes, recons, per_seed = {}, {}, [{} for _ in seeds]
    for job, (code, rec, losses) in enumerate(done):
        beta, i = betas[job // len(seeds)], job % len(seeds)
        if i == 0:
            codes[beta], recons[beta] = code, rec
        per_seed[i].update(losses)
    runs = seed_runs(per_seed)
    metrics: Dict[str, object] = {key: float(np.mean(values)) for key, values in runs.items()}
    if len(betas) > 1:
        metrics.update({f"verdict/{claim}": word for claim, word in beta_verdicts(runs, betas).items()})
    metrics["n_seeds"] = float(cfg.n_seeds)
    return BetaResult(np.asarray(betas), codes, labels, recons, test[:8].numpy(), metrics, runs)


def plot_beta(result: BetaResult) -> Figure:
    """Top: test codes per beta, coloured by digit; bottom: reconstructions; right: the two losses."""
    import matplotlib.pyplot as plt

    betas = list(result.codes)
    fig = plt.figure(figsize=(2.6 * len(betas) + 3.5, 5.4))
    grid = fig.add_gridspec(2, len(betas) + 1, height_ratios=[2.2, 1])
    # one scale for every panel, so that the codes visibly shrink towards the prior's origin as beta grows
    codes = np.concatenate([result.codes[beta] for beta in betas])
    low, high = codes.min(axis=0), codes.max(axis=0)
    margin = 0.05 * (high - low + 1e-6)
    for col, beta in enumerate(betas):
        ax = fig.add_subplot(grid[0, col])
        ax.scatter(*result.codes[beta].T, c=result.labels, cmap="tab10", s=5)
        ax.set_xlim(low[0] - margin[0], high[0] + margin[0])
        ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
        ax.set_title(f"beta = {beta}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax = fig.add_subplot(grid[1, col])
        pairs = np.concatenate([result.originals[:4], result.reconstructions[beta][:4]])
        image_grid(pairs, nrow=4, ax=ax)
        ax.set_title("top: input, below: reconstruction" if col == 0 else "", fontsize=8)
    ax = fig.add_subplot(grid[:, -1])
    for term, marker, label in (("reconstruction_nll", "o", "reconstruction (nats)"), ("kl", "s", "KL (nats)")):
        values = [result.runs.get(f"{term}/beta={b}", [result.metrics[f"{term}/beta={b}"]]) for b in betas]
        spread = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
        ax.errorbar(betas, [np.mean(v) for v in values], yerr=spread, marker=marker, capsize=3, label=label)
    n_seeds = len(result.runs.get(f"kl/beta={betas[0]}", [0]))
    if n_seeds > 1:
        ax.set_title(f"mean ± std over {n_seeds} seeds; pictures: the first seed", fontsize=8)
    ax.set_xlabel("beta")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
