"""Table 2 of the latent-density paper: Parzen log-likelihood of generators on digits.

* ``latent_density/parzen`` — AE+LDE and IAE+LDE (latent size 8) against a VAE and IML with
  a GMM base.
* ``latent_density/baselines`` — the rows it lacks: the AAE and GMMN + AE, with the digits
  quality bar, AAE samples and interpolations (Figs. 7, 8, 12).

Both follow Table 2's protocol (:func:`parzen_metrics`: a Parzen window on each model's
samples, bandwidth chosen on the validation split). The chapter imports them from
:mod:`companion.experiments.latent_density`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import numpy as np
import torch

import companion
from companion import data
from companion.evidence import format_spread, summarize, verdict
from companion.experiments.feature_classifier import train_feature_net
from companion.experiments.latent_density_autoencoders import AutoencoderLDEConfig, _fit_aae, _train_ae_and_lde
from companion.experiments.latent_density_estimators import seed_runs
from companion.iml import Autoencoder, GMMBase, TwoStageModel
from companion.lde import GMMN, fit_gmmn, fit_incremental_autoencoder, make_autoencoder
from companion.metrics import classifier_frechet, classifier_quality_bar, parzen_log_prob, select_parzen_sigma
from companion.plots import image_grid
from companion.reproduce import register
from companion.vae import VAE, fit_vae
from companion.workers import map_in_workers

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib
    from matplotlib.figure import Figure

#: Table 2 of the paper: Parzen log-likelihood on MNIST (10K samples) with standard errors.
PAPER_TABLE2_MNIST = {
    "GMMN + AE": (282, 2),
    "AAE": (340, 2),
    "eVAE": (337, 2),
    "AE + LDE": (326, 2),
    "IAE + LDE": (326, 2),
}


@dataclasses.dataclass
class ParzenConfig(AutoencoderLDEConfig):
    """Table 2: Parzen log-likelihood on the digits test split, latent size 8."""

    latent_dim: int = 8
    vae_steps: int = 1200
    iml_components: int = 10
    n_parzen_samples: int = 10_000
    n_seeds: int = 5
    SCALES = {
        "smoke": {"ae_steps": 40, "lde_steps": 20, "vae_steps": 40, "n_parzen_samples": 500, "lde_components": 5,
                  "iml_components": 2, "n_seeds": 2},
        "paper": {"ae_steps": 30_000, "lde_steps": 20_000, "lde_lr": 2e-4, "vae_steps": 30_000, "iml_components": 30},
    }


def parzen_metrics(generated: Dict[str, torch.Tensor], valid: torch.Tensor, test: torch.Tensor) -> Dict[str, float]:
    """Per model: the Parzen log-likelihood of ``test`` (mean, its standard error) under a window on the
    model's samples, with the bandwidth chosen on ``valid`` (Table 2's protocol)."""
    metrics: Dict[str, float] = {}
    for name, s in generated.items():
        sigma, _ = select_parzen_sigma(s, valid)
        values = parzen_log_prob(s, test, sigma)
        metrics[f"parzen_ll/{name}"] = float(values.mean())
        metrics[f"std_error/{name}"] = float(values.std() / math.sqrt(len(values)))
        metrics[f"sigma/{name}"] = float(sigma)
    return metrics


def _digits_splits() -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The train, validation and test splits of ``digits``."""
    return tuple(data.load("digits", s) for s in ("train", "valid", "test"))


def _bernoulli_vae(train: torch.Tensor, cfg: ParzenConfig):
    """The reference VAE of Table 2: a Bernoulli decoder, the experiment's latent size and budget."""
    vae = VAE(tuple(train.shape[1:]), latent_dim=cfg.latent_dim, likelihood="bernoulli").to(companion.device())
    fit_vae(vae, train, n_steps=cfg.vae_steps, batch_size=cfg.ae_batch_size)
    return vae


@dataclasses.dataclass
class ParzenResult:
    """What :func:`run_parzen` returns: 16 samples per generator of the first seed (arrays on the CPU), and
    every seed's ``parzen_ll``, ``std_error`` and ``sigma`` of each generator (:func:`parzen_metrics`) in ``runs``."""

    samples: Dict[str, np.ndarray]  # a few samples per model (the first seed), for the figure
    metrics: Dict[str, object]  # means over seeds and the verdicts
    runs: Dict[str, List[float]] = dataclasses.field(default_factory=dict)  # "parzen_ll/VAE" -> one per seed


def ordering_verdicts(runs: Dict[str, List[float]], pairs: List[Tuple[str, str]]) -> Dict[str, str]:
    """``{"A > B": verdict}`` on the Parzen log-likelihoods ``runs["parzen_ll/A"]`` of each pair
    (:func:`companion.evidence.verdict`: "holds" only when the difference's 95% bootstrap interval
    lies above zero)."""
    return {f"{a} > {b}": verdict(runs[f"parzen_ll/{a}"], runs[f"parzen_ll/{b}"]) for a, b in pairs}


@register("latent_density/parzen", config=ParzenConfig, plot=lambda r: plot_parzen(r),
          description="Table 2: Parzen log-likelihood on digits for AE+LDE, IAE+LDE, VAE, IML with a GMM base")
def run_parzen(cfg: ParzenConfig) -> ParzenResult:
    """Train the four generators for ``n_seeds`` seeds; Parzen windows on their samples, bandwidth
    chosen on validation; means over seeds and the verdicts of the ordering. Each fit (one model, one seed)
    seeds itself, so the fits run as independent jobs in worker processes
    (:func:`companion.workers.map_in_workers`): twenty jobs, the longer LDE fits first, keep two workers
    busier to the end than five jobs of four models each would."""
    train, valid, test = _digits_splits()
    iml = f"IML, GMM base (K={cfg.iml_components})"
    names = ("AE + LDE", "IAE + LDE", "VAE", iml)

    def one_fit(seed: int, name: str) -> Tuple[Dict[str, float], np.ndarray]:
        """One generator of one seed: its Parzen scores, and 16 of its samples."""
        samples = _parzen_samples(train, cfg, seed, name)
        return parzen_metrics({name: samples}, valid, test), samples[:16].numpy()

    seeds = [cfg.seed + i for i in range(cfg.n_seeds)]
    jobs = [(seed, name) for name in names for seed in seeds]
    fits = dict(zip(jobs, map_in_workers(one_fit, jobs)))
    runs = seed_runs([{key: value for name in names for key, value in fits[seed, name][0].items()} for seed in seeds])
    shown = {name: fits[seeds[0], name][1] for name in names}
    metrics: Dict[str, object] = {key: float(np.mean(values)) for key, values in runs.items()}
    pairs = [("AE + LDE", "IAE + LDE"), ("IAE + LDE", "AE + LDE"), ("AE + LDE", "VAE"), ("IAE + LDE", "VAE"),
             ("AE + LDE", iml), ("IAE + LDE", iml)]
    metrics.update({f"verdict/{k}": v for k, v in ordering_verdicts(runs, pairs).items()})
    return ParzenResult(shown, metrics, runs)


def _parzen_samples(train: torch.Tensor, cfg: ParzenConfig, seed: int, name: str) -> torch.Tensor:
    """``n_parzen_samples`` samples of the generator ``name`` of ``latent_density/parzen`` (``"AE + LDE"``,
    ``"IAE + LDE"``, ``"VAE"`` or the IML row), trained after ``seed_everything(seed)``."""
    companion.seed_everything(seed)
    n = cfg.n_parzen_samples
    if name in ("AE + LDE", "IAE + LDE"):
        ae, lde = _train_ae_and_lde(train, cfg.latent_dim, name == "IAE + LDE", cfg, name.split()[0])
        with torch.no_grad():
            return ae.decode(lde.sample(n)).cpu()
    if name == "VAE":  # the VAE's Bernoulli means, as in the Parzen literature
        return _bernoulli_vae(train, cfg).sample(n, mean=True).cpu()
    return _iml_samples(train, cfg, n, seed)


def _iml_samples(train: torch.Tensor, cfg: ParzenConfig, n: int, seed: int) -> torch.Tensor:
    """Samples of two-stage IML with a GMM base (companion.iml), the baseline of the IML chapter."""
    model = TwoStageModel(Autoencoder(tuple(train.shape[1:]), cfg.latent_dim, hidden=(cfg.ae_hidden,)),
                          GMMBase(cfg.iml_components, random_state=seed)).to(companion.device())
    model.fit(train.to(companion.device()), n_steps=cfg.ae_steps, batch_size=cfg.ae_batch_size)
    return model.sample(n).cpu()


def parzen_table(result: ParzenResult) -> str:
    """A Markdown table: our Parzen numbers on digits (mean ± std over seeds) beside the paper's on MNIST."""
    rows = ["| method | ours: digits 8x8 (mean ± std over seeds) | paper: MNIST (± s.e.) |", "| --- | --- | --- |"]
    ours = [k.split("/", 1)[1] for k in result.metrics if k.startswith("parzen_ll/")]
    for name in ours + [n for n in PAPER_TABLE2_MNIST if n not in ours]:
        mine = format_spread(summarize(result.runs[f"parzen_ll/{name}"])) if name in ours else ""
        paper = PAPER_TABLE2_MNIST.get(name)
        rows.append(f"| {name} | {mine} | {'' if paper is None else f'{paper[0]} ± {paper[1]}'} |")
    return "\n".join(rows)


def plot_parzen(result: ParzenResult) -> Figure:
    """Samples of each generator with its Parzen log-likelihood."""
    import matplotlib.pyplot as plt

    names = list(result.samples)
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 3.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        image_grid(result.samples[name], nrow=4, ax=ax)
        ax.set_title(f"{name}\nParzen LL {result.metrics[f'parzen_ll/{name}']:.1f}", fontsize=9)
    fig.tight_layout()
    return fig


# ========================================================== 7. AAE and GMMN + AE (Table 2, Figs. 7, 8, 12)


@dataclasses.dataclass
class BaselinesConfig(ParzenConfig):
    """The Table 2 rows of ``latent_density/parzen`` that it lacks: the AAE and a GMMN on AE codes.

    Same data, latent size and Parzen protocol as ``latent_density/parzen`` (this config extends
    its fields); the AAE trains for ``aae_steps`` (as many as the autoencoders, ``ae_steps``, at
    ``book`` scale), the GMMN on the codes for its own ``gmmn_steps``, not the LDE's ``lde_steps``.
    One VAE (the first seed's) is trained again as the reference of the quality bar of every seed
    (the chapter's digits bar: each class >= ``min_class_share`` of 1,000 samples by the digit
    classifier, Fréchet distance in its features within twice the VAE's).
    """

    aae_steps: int = 1200
    gmmn_steps: int = 600
    gmmn_batch_size: int = 256
    n_interpolations: int = 4
    n_alphas: int = 8
    min_class_share: float = 0.03
    n_bar_samples: int = 1000
    classifier_steps: int = 400
    SCALES = {
        "smoke": {"ae_steps": 40, "vae_steps": 40, "aae_steps": 40, "gmmn_steps": 20, "n_parzen_samples": 500,
                  "n_bar_samples": 200, "classifier_steps": 40, "n_interpolations": 2, "n_seeds": 2},
        "paper": {"ae_steps": 30_000, "vae_steps": 30_000, "aae_steps": 30_000, "gmmn_steps": 10_000},
    }


@dataclasses.dataclass
class BaselinesResult:
    """What :func:`run_baselines` returns: the first seed's samples and AAE interpolations (arrays on the CPU),
    and every seed's Parzen scores and digits bar of the AAE and GMMN + AE in ``runs``."""

    samples: Dict[str, np.ndarray]  # "AAE" / "GMMN + AE" -> 16 samples
    consecutive: np.ndarray  # 16 consecutive AAE samples (Fig. 12)
    interpolations: np.ndarray  # (n_interpolations, n_alphas + 2, 1, 8, 8): ends are test digits (Fig. 7)
    metrics: Dict[str, object]  # means over seeds, each bar (met in k of n seeds) and the verdicts
    runs: Dict[str, List[float]] = dataclasses.field(default_factory=dict)  # "parzen_ll/AAE" -> one per seed


def _gmmn_on_ae_codes(train: torch.Tensor, cfg: BaselinesConfig, n: int) -> torch.Tensor:
    """``n`` samples of GMMN + AE: a plain autoencoder, a GMMN fitted to its training codes, the decoder."""
    device = companion.device()
    ae = make_autoencoder(tuple(train.shape[1:]), cfg.latent_dim, incremental=False, hidden=cfg.ae_hidden).to(device)
    fit_incremental_autoencoder(ae, train, n_steps=cfg.ae_steps, batch_size=cfg.ae_batch_size, desc="AE")
    with torch.no_grad():
        codes = ae.encode(train.to(device))
    gmmn = GMMN(cfg.latent_dim).to(device)
    fit_gmmn(gmmn, codes, n_steps=cfg.gmmn_steps, batch_size=cfg.gmmn_batch_size)
    with torch.no_grad():
        return ae.decode(gmmn.sample(n)).clamp(0, 1).cpu()


def _quality_bars(generated: Dict[str, torch.Tensor], vae_samples: torch.Tensor, held_out: torch.Tensor,
                  net: torch.nn.Module, cfg: BaselinesConfig) -> Dict[str, float]:
    """The digits bar of every generator of one seed, with the reference VAE's Fréchet distance
    (``meets_bar/<name>`` is 1.0 or 0.0)."""
    reference = classifier_frechet(vae_samples, net, held_out)
    metrics: Dict[str, float] = {"frechet/VAE": reference}
    for name, s in generated.items():
        bar = classifier_quality_bar(s[: cfg.n_bar_samples], net, held_out, reference, cfg.min_class_share)
        metrics[f"frechet/{name}"] = bar["frechet"]
        metrics[f"min_class_share/{name}"] = float(min(bar["class_shares"]))
        metrics[f"meets_bar/{name}"] = float(bar["meets_bar"])
    return metrics


def _interpolate_test_digits(aae: torch.nn.Module, test: torch.Tensor, cfg: BaselinesConfig) -> np.ndarray:
    """Fig. 7: decoded linear interpolations between the posterior means of pairs of test digits,
    the two digits at the ends, shape ``(n_interpolations, n_alphas + 2, C, H, W)``."""
    device = companion.device()
    g = torch.Generator().manual_seed(cfg.seed)
    pairs = torch.randperm(len(test), generator=g)[: 2 * cfg.n_interpolations].view(2, -1)
    a, b = test[pairs[0]].to(device), test[pairs[1]].to(device)
    with torch.no_grad():
        za, zb = aae.encode(a)[0], aae.encode(b)[0]
        path = [aae.decode((1 - t) * za + t * zb) for t in np.linspace(0, 1, cfg.n_alphas)]
    return torch.stack([a] + path + [b], 1).cpu().numpy()


@register("latent_density/baselines", config=BaselinesConfig, plot=lambda r: plot_baselines(r),
          description="Table 2 / Figs. 7, 8, 12: the AAE and GMMN + AE baselines on digits, with the quality bar")
def run_baselines(cfg: BaselinesConfig) -> BaselinesResult:
    """Train an AAE and a GMMN on autoencoder codes for ``n_seeds`` seeds; Parzen as in ``latent_density/parzen``;
    the quality bar of each seed against one reference VAE (the first seed's); the first seed's samples and
    interpolations. Each fit (one model, one seed) seeds itself, so the fits run as independent jobs in worker
    processes (:func:`companion.workers.map_in_workers`): ten jobs, the longer AAE fits first, keep two workers
    busier to the end than five jobs of both models would."""
    train, valid, test = _digits_splits()
    net, _ = train_feature_net(n_steps=cfg.classifier_steps, seed=cfg.seed, device=companion.device())
    companion.seed_everything(cfg.seed)  # one reference VAE for the bar of every seed
    vae_samples = _bernoulli_vae(train, cfg).sample(cfg.n_bar_samples, mean=True).cpu()
    names = ("AAE", "GMMN + AE")

    def one_fit(seed: int, name: str) -> Tuple[Dict[str, float], Dict[str, float], torch.Tensor, Optional[Tuple]]:
        """One model of one seed: its Parzen scores, its bar, its samples and, for the AAE, 16 more samples and
        its interpolations."""
        companion.seed_everything(seed)
        if name == "AAE":
            aae = _fit_aae(train, cfg.latent_dim, cfg.ae_hidden, cfg.aae_steps, cfg.ae_batch_size, seed)
            samples = aae.sample(cfg.n_parzen_samples).cpu()
            extra = (samples[16:32].numpy(), _interpolate_test_digits(aae, test, cfg))
        else:
            samples, extra = _gmmn_on_ae_codes(train, cfg, cfg.n_parzen_samples), None
        bar = _quality_bars({name: samples}, vae_samples, torch.cat([valid, test]), net, cfg)
        return parzen_metrics({name: samples}, valid, test), bar, samples, extra

    jobs = [(cfg.seed + i, name) for name in names for i in range(cfg.n_seeds)]
    fits = dict(zip(jobs, map_in_workers(one_fit, jobs)))
    per_seed = []
    for i in range(cfg.n_seeds):  # one seed's scores: both models' Parzen numbers, then both bars
        seed_fits = [fits[(cfg.seed + i, name)] for name in names]
        per_seed.append({key: value for part in (0, 1) for fit in seed_fits for key, value in fit[part].items()})
    first = [fits[(cfg.seed, name)] for name in names]
    shown = ({name: fit[2][:16].numpy() for name, fit in zip(names, first)},) + first[0][3]
    runs = seed_runs(per_seed)
    metrics: Dict[str, object] = {key: float(np.mean(values)) for key, values in runs.items()}
    for name in ("AAE", "GMMN + AE"):
        met = runs[f"meets_bar/{name}"]
        metrics[f"meets_bar/{name}"] = f"{int(sum(met))} of {len(met)} seeds"
    both_met = min(runs["meets_bar/AAE"] + runs["meets_bar/GMMN + AE"]) == 1
    metrics["verdict/AAE > GMMN + AE"] = (ordering_verdicts(runs, [("AAE", "GMMN + AE")])["AAE > GMMN + AE"]
                                          if both_met else "not compared (bar not met)")
    return BaselinesResult(*shown, metrics, runs)


def table2_verdicts(parzen: ParzenResult, baselines: BaselinesResult) -> Dict[str, str]:
    """The verdicts on the paper's Table 2 ordering, AAE > AE + LDE = IAE + LDE > GMMN + AE, from the seeds of
    both experiments: ``{"A > B": verdict}``, or ``"not compared (bar not met)"`` for a pair with a
    baseline that missed the digits quality bar in any seed."""
    if not isinstance(parzen, ParzenResult) or not isinstance(baselines, BaselinesResult):
        raise TypeError("parzen and baselines must be the results of run_parzen and run_baselines")
    runs = {**parzen.runs, **baselines.runs}
    pairs = [("AAE", "AE + LDE"), ("AAE", "IAE + LDE"), ("AE + LDE", "GMMN + AE"), ("IAE + LDE", "GMMN + AE"),
             ("AAE", "GMMN + AE")]
    verdicts = ordering_verdicts(runs, pairs)
    for a, b in pairs:
        if any(min(runs.get(f"meets_bar/{n}", [1.0])) < 1 for n in (a, b)):
            verdicts[f"{a} > {b}"] = "not compared (bar not met)"
    return verdicts


def baselines_rows(result: BaselinesResult) -> str:
    """The Markdown rows of Table 2 for the AAE and GMMN + AE (mean ± std over seeds), beside the paper's MNIST
    numbers."""
    rows = ["| method | ours: digits 8x8 (mean ± std over seeds) | meets the quality bar | paper: MNIST (± s.e.) |",
            "| --- | --- | --- | --- |"]
    for name in ("AAE", "GMMN + AE"):
        paper = PAPER_TABLE2_MNIST[name]
        rows.append(f"| {name} | {format_spread(summarize(result.runs[f'parzen_ll/{name}']))} | "
                    f"{result.metrics[f'meets_bar/{name}']} | {paper[0]} ± {paper[1]} |")
    return "\n".join(rows)


def plot_baselines(result: BaselinesResult) -> Figure:
    """AAE and GMMN + AE samples (Fig. 8), consecutive AAE samples (Fig. 12), AAE interpolations (Fig. 7)."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 3.6))
    grid = fig.add_gridspec(1, 4, width_ratios=[1, 1, 1, 2.4])
    for j, (name, images) in enumerate(result.samples.items()):
        image_grid(images, nrow=4, ax=fig.add_subplot(grid[0, j]),
                   title=f"{name}\nParzen LL {result.metrics[f'parzen_ll/{name}']:.1f}")
    image_grid(result.consecutive, nrow=4, ax=fig.add_subplot(grid[0, 2]), title="AAE, consecutive samples")
    inter = result.interpolations
    image_grid(inter.reshape(-1, *inter.shape[2:]), nrow=inter.shape[1], ax=fig.add_subplot(grid[0, 3]),
               title="AAE: test digit, interpolated codes, test digit")
    fig.tight_layout()
    return fig
