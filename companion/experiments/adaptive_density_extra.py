"""More experiments of the chapter on adaptive density estimation (thesis ch. 5, App. A).

* ``adaptive_density/refinements`` — Table 2 of the paper / Table 5.2 of the thesis on
  ``digits``: AV-ADE and the GAN with a residual discriminator (rd), a wide generator (wg)
  and two scales in ``f_psi`` (s2), over seeds. The paper's fourth refinement, an IAF
  posterior (iaf), is not in the package and is left out.
* ``adaptive_density/flow_depth`` — Sec. 5.7 / Fig. 5.12: the number of scales and blocks of
  ``f_psi`` against bits/dim and the Fréchet distance on ``digits`` (V-ADE at book scale,
  AV-ADE at paper scale, on CIFAR-10 like the ablation).

The sample-quality runs (``adaptive_density/sample_quality``) are in :mod:`.adaptive_density_quality`.

The digits quality bar (:func:`companion.metrics.classifier_quality_bar`): on 1,000 samples every class of the digit
classifier gets at least 3%, and the Fréchet distance is within twice the VAE's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

import companion
from companion import data as datasets
from companion.ade import ADE, ResidualMLPDiscriminator
from companion.evidence import verdict
from companion.experiments.adaptive_density import (
    AblationConfig,
    _ade_from,
    _fit_and_score,
    _held_out,
    _held_out_digits,
    _inception_scores,
    _shared_fit,
    ade_fit_item,
    fitted_plain_gan,
    plain_gan_fit_item,
    prefit,
    trained_ade_item,
)
from companion.experiments.feature_classifier import train_feature_net
from companion.metrics import frechet_distance, mean_std
from companion.plots import image_grid, pyplot
from companion.reproduce import register
from companion.vae import VAE
from companion.workers import map_in_workers

if TYPE_CHECKING:  # for the annotations only: importing the module stays cheap
    from matplotlib.figure import Figure
    from pandas import DataFrame

#: Table 5.2 of the thesis (CIFAR-10): bits/dim ([] from an inference network), IS, FID.
PAPER_TABLE2 = {
    "gan": (7.0, 6.8, 31.4), "gan (rd)": (6.9, 7.4, 24.0), "av-ade": (3.9, 7.1, 28.0),
    "av-ade (rd)": (3.8, 7.5, 26.0), "av-ade (wg, rd)": (3.8, 8.2, 17.2), "av-ade (iaf, rd)": (3.7, 8.1, 18.6),
    "av-ade (s2)": (3.5, 6.9, 28.9),
}
#: Fig. 5.12 (a) of the thesis (AV-ADE on CIFAR-10): (scales, blocks) -> bits/dim, IS, FID.
PAPER_FLOW_DEPTH = {(1, 2): (3.77, 7.9, 20.1), (2, 2): (3.48, 6.9, 27.7), (2, 4): (3.46, 6.9, 28.9),
                    (3, 3): (3.49, 6.5, 31.7)}


# ========================================================================================
# 1. Table 2 / 5.2: the refinements
# ========================================================================================

#: The variants of Table 5.2 the book runs: (mode, residual discriminator, wide generator, scales of f_psi).
REFINEMENTS = {
    "gan": ("gan", False, False, 1), "gan (rd)": ("gan", True, False, 1),
    "av-ade": ("av-ade", False, False, 1), "av-ade (rd)": ("av-ade", True, False, 1),
    "av-ade (wg, rd)": ("av-ade", True, True, 1), "av-ade (s2)": ("av-ade", False, False, 2),
}


def refined_ade(cfg: AblationConfig, variant: str) -> ADE:
    """The ADE of the ablation's configuration with the refinements of ``variant`` (see :data:`REFINEMENTS`).

    (rd) swaps the discriminator for a :class:`~companion.ade.ResidualMLPDiscriminator` of the
    same width with two residual blocks; (wg) gives the decoder twice the hidden width (the
    encoder keeps its width); (s2) builds ``f_psi`` with two scales.
    """
    if variant not in REFINEMENTS:
        raise ValueError(f"variant must be one of {tuple(REFINEMENTS)}; got {variant!r}")
    mode, residual, wide, scales = REFINEMENTS[variant]
    model = _ade_from(cfg, mode, flow_scales=scales)
    if residual:
        model.discriminator = ResidualMLPDiscriminator(model.shape, hidden=cfg.disc_hidden, n_blocks=2)
    if wide:
        wide_vae = VAE(model.shape, cfg.latent_dim, likelihood="gaussian", hidden=2 * cfg.hidden)
        model.vae.decoder = wide_vae.decoder
    return model


def _plain_gan_row(cfg: AblationConfig, variant: str) -> bool:
    """Whether ``variant`` is a GAN row trained by the ablation's plain GAN recipe (``cfg.gan_fit == "plain"``)."""
    return REFINEMENTS[variant][0] == "gan" and cfg.gan_fit == "plain"


def _refinement_item(cfg: AblationConfig, variant: str, seed: int, train: torch.Tensor):
    """The fit of ``variant`` with ``seed`` as a ``(key, fit)`` pair of :func:`companion.shared_fits.fit_once`: the
    plain mode is the ablation's model (:func:`ade_fit_item`, shared with it), a refined one its own fit.
    With ``cfg.gan_fit == "plain"`` the GAN rows take the ablation's plain GAN recipe, the recipe that meets
    the digits bar, every seed of ``cfg.seeds`` in one fit (:func:`plain_gan_fit_item`; the plain row is the
    ablation's GAN itself); with ``"ade"`` they are trained by L_Q like the ADEs, as in the thesis."""
    mode, residual, wide, scales = REFINEMENTS[variant]
    desc = f"{variant} (seed {seed})"
    if _plain_gan_row(cfg, variant):
        return plain_gan_fit_item(cfg, cfg.seeds, train, variant, residual=residual)
    if not residual and not wide and scales == cfg.flow_scales:
        return ade_fit_item(cfg, mode, seed, train, desc)
    return trained_ade_item(cfg, ("refined", variant), lambda: refined_ade(cfg, variant), seed, train, desc)


@dataclass
class RefinementsConfig(AblationConfig):
    """The variants of Table 5.2 on digits, with the ablation's networks and a fifth of its steps."""

    # the GAN rows take the ablation's plain GAN recipe at book scale (gan_fit="plain"): its generator trained
    # by L_Q is below the digits quality bar (see adaptive_density/ablation), so it would be no baseline there;
    # paper scale trains them by L_Q, as the thesis does
    variants: Tuple[str, ...] = ("gan", "gan (rd)", "av-ade", "av-ade (rd)", "av-ade (wg, rd)", "av-ade (s2)")
    seeds: Tuple[int, ...] = (0, 1, 2, 3, 4)
    # a fifth of the ablation's budget: five variants of five seeds at its 2,000 steps would not fit a chapter's minutes
    n_steps: int = 400
    n_bar_samples: int = 1000
    SCALES: ClassVar = {
        "smoke": {"variants": ("gan", "gan (rd)", "av-ade", "av-ade (wg, rd)"), "seeds": (0,), "n_steps": 20,
                  "n_inference_steps": 10, "n_eval_samples": 4, "feature_steps": 30, "n_bar_samples": 200,
                  "gan_steps": 20, "gan_decay_step": 10},
        # The package's residual networks are MLPs: paper scale trains them far longer, with more seeds,
        # on digits (CIFAR-10's residual convolutional networks of Table A.1 are not in the package).
        "paper": {"variants": tuple(REFINEMENTS), "seeds": (0, 1, 2, 3, 4), "n_steps": 20_000,
                  "n_inference_steps": 5000, "hidden": 512,
                  "disc_hidden": 512, "flow_blocks": 3, "flow_hidden": 64, "flow_layers": 2, "n_eval_samples": 100,
                  "feature_steps": 2000, "gan_fit": "ade"},
    }


@dataclass
class RefinementsResult:
    """What :func:`run_refinements` returns: per variant, one value per seed of bits/dim on the held-out digits
    (``bpd``), of the Fréchet distance of samples to them in the digit classifier's features (``fd``) and of the
    smallest class share of ``n_bar_samples`` samples (``min_class_share``); ``samples[variant]`` holds 36 samples of
    the first seed's model, ``(36, 1, 8, 8)`` in ``[0, 1]``."""

    variants: List[str]
    bpd: Dict[str, List[float]]
    fd: Dict[str, List[float]]
    min_class_share: Dict[str, List[float]]
    samples: Dict[str, np.ndarray]
    metrics: Dict[str, Union[float, str]] = field(default_factory=dict)  # the verdicts are words


@register(
    "adaptive_density/refinements",
    config=RefinementsConfig,
    plot=lambda r: plot_refinements(r),
    description="Table 2 / 5.2 on digits: AV-ADE and GAN with a residual discriminator, wide generator, two scales",
)
def run_refinements(cfg: RefinementsConfig) -> RefinementsResult:
    """Train every variant of ``cfg.variants`` (:data:`REFINEMENTS`) for every seed of ``cfg.seeds`` on ``digits``
    and score it on the held-out digits: bits/dim, Fréchet distance and smallest class share. The GAN rows are held
    to the digits quality bar against the ablation's VAE of the same seed (trained :func:`reference_vae_steps` steps);
    the metrics add means and spreads over seeds, each GAN row's seeds at the bar and :func:`refinement_verdicts`."""
    for variant in cfg.variants:
        if variant not in REFINEMENTS:
            raise ValueError(f"variants must be among {tuple(REFINEMENTS)}; got {variant!r}")
    dev = companion.device()
    train = datasets.load("digits", "train").to(dev)
    held_out = _held_out_digits(dev)
    feature_net, _ = train_feature_net(cfg.feature_steps, device=dev)
    bpd: Dict[str, List[float]] = {v: [] for v in cfg.variants}
    fd: Dict[str, List[float]] = {v: [] for v in cfg.variants}
    shares: Dict[str, List[float]] = {v: [] for v in cfg.variants}
    samples: Dict[str, np.ndarray] = {}
    items = {(seed, variant): _refinement_item(cfg, variant, seed, train) for seed in cfg.seeds
             for variant in cfg.variants}
    gan_rows = [v for v in cfg.variants if REFINEMENTS[v][0] == "gan"]
    # the GAN rows are held to the digits bar against the ablation's VAE of the same seed (shared with it): the VAE
    # trained the GAN rows' budget, the ablation's n_steps at book scale, not the 400 steps of the AV-ADE rows here
    vae_cfg = dataclasses.replace(cfg, n_steps=reference_vae_steps(cfg))
    vae_items = {seed: ade_fit_item(vae_cfg, "vae", seed, train, f"vae (seed {seed})") for seed in cfg.seeds} \
        if gan_rows else {}
    prefit(list(items.values()) + list(vae_items.values()))  # two fits at a time, each on one thread
    vae_fd = _reference_vae_fd(vae_items, feature_net, held_out, cfg.n_bar_samples)
    for seed in cfg.seeds:
        for variant in cfg.variants:
            if _plain_gan_row(cfg, variant):  # its seed's model of the fit of every seed
                model, _ = fitted_plain_gan(cfg, seed, train, variant, residual=REFINEMENTS[variant][1])
            else:
                model, _ = _shared_fit(items[seed, variant])
            model.eval()
            with torch.no_grad():
                bpd[variant].append(float(torch.cat([model.bits_per_dim(c, n_samples=cfg.n_eval_samples)
                                                     for c in held_out.split(cfg.eval_batch_size)]).mean()))
                x = model.sample(cfg.n_bar_samples)
                fd[variant].append(frechet_distance(feature_net.features(x[: len(held_out)]),
                                                    feature_net.features(held_out)))
                class_share = np.bincount(feature_net(x).argmax(1).cpu().numpy(), minlength=10) / len(x)
                shares[variant].append(float(class_share.min()))
            if seed == cfg.seeds[0]:
                samples[variant] = x[:36].cpu().numpy()
    metrics = _refinement_metrics(cfg, gan_rows, bpd, fd, shares, vae_fd)
    return RefinementsResult(list(cfg.variants), bpd, fd, shares, samples, metrics)


def _reference_vae_fd(vae_items: Dict[int, tuple], feature_net: nn.Module, held_out: torch.Tensor,
                      n_bar_samples: int) -> List[float]:
    """The Fréchet distance to ``held_out`` of ``n_bar_samples`` samples (as many as ``held_out`` has, at most) of
    each reference VAE of ``vae_items`` (shared fits, seed by seed), in ``feature_net``'s features."""
    vae_fd = []
    for item in vae_items.values():  # fit_once leaves the random state the fit left: the draws below repeat
        vae = _shared_fit(item)[0].eval()
        with torch.no_grad():
            vae_fd.append(frechet_distance(feature_net.features(vae.sample(n_bar_samples)[: len(held_out)]),
                                           feature_net.features(held_out)))
    return vae_fd


def _refinement_metrics(cfg: RefinementsConfig, gan_rows: List[str], bpd: Dict[str, List[float]],
                        fd: Dict[str, List[float]], shares: Dict[str, List[float]],
                        vae_fd: List[float]) -> Dict[str, Union[float, str]]:
    """The metrics of :func:`run_refinements`: means and spreads over seeds per variant, each GAN row's seeds at the
    digits bar against the reference VAE's Fréchet distances ``vae_fd`` (and their mean and spread) and
    :func:`refinement_verdicts`."""
    metrics: Dict[str, Union[float, str]] = {}
    for variant in cfg.variants:
        for name, values in (("bpd", bpd[variant]), ("fd", fd[variant]), ("min_class_share", shares[variant])):
            stats = mean_std(values)
            metrics[f"{variant}_{name}_mean"], metrics[f"{variant}_{name}_std"] = stats["mean"], stats["std"]
    at_bar = {}
    for variant in gan_rows:
        seeds_at_bar = sum(share >= 0.03 and f <= 2 * v for share, f, v in zip(shares[variant], fd[variant], vae_fd))
        metrics[f"{variant}_meets_bar_seeds"] = float(seeds_at_bar)
        at_bar[variant] = seeds_at_bar == len(cfg.seeds)
    if vae_fd:
        stats = mean_std(vae_fd)
        metrics["vae_fd_mean"], metrics["vae_fd_std"] = stats["mean"], stats["std"]
    metrics.update(refinement_verdicts(bpd, fd, at_bar))
    return metrics


def reference_vae_steps(cfg: RefinementsConfig) -> int:
    """The training steps of the VAE that the refinements' GAN rows are held to the digits bar against: the GAN
    rows' own budget (``gan_steps`` for the plain recipe; the shared ``n_steps`` when they train by L_Q), so at book
    scale the ablation's VAE of the same seed, whose budget is the GAN's."""
    return cfg.gan_steps if cfg.gan_fit == "plain" else cfg.n_steps


def refinement_verdicts(bpd: Dict[str, List[float]], fd: Dict[str, List[float]],
                        at_bar: Optional[Dict[str, bool]] = None) -> Dict[str, str]:
    """The verdict on "the refined variant is better than its plain model" for every variant run beside its
    plain model (AV-ADE or the GAN), on bits/dim and on the Fréchet distance (lower is better), keyed
    ``"{variant}_vs_{plain}_{measure}_verdict"``. A variant and its plain model run on the same seeds and
    differ only in the refinement, so the seeds are paired (:func:`companion.evidence.verdict`).

    ``at_bar`` says, for the GAN rows, whether each met the digits quality bar in every seed; a GAN
    comparison with a row that did not (or is missing from ``at_bar``) reads "not compared".
    """
    if at_bar is not None and not isinstance(at_bar, dict):
        raise TypeError(f"at_bar must be a dict of variant -> bool or None; got {type(at_bar).__name__}")
    verdicts = {}
    for variant, (mode, residual, wide, scales) in REFINEMENTS.items():
        if variant == mode or variant not in bpd or mode not in bpd:
            continue
        below = mode == "gan" and at_bar is not None and not (at_bar.get(variant) and at_bar.get(mode))
        for measure, series in (("bpd", bpd), ("fd", fd)):
            verdicts[f"{variant}_vs_{mode}_{measure}_verdict"] = (
                "not compared (a GAN row is below the digits quality bar)" if below else
                verdict(series[variant], series[mode], higher_is_better=False, paired=True))
    return verdicts


def refinements_table(result: RefinementsResult) -> DataFrame:
    """Our numbers (mean ± std over seeds) beside Table 5.2's, as a pandas DataFrame."""
    import pandas as pd

    rows = []
    for variant in result.variants:
        m, paper = result.metrics, PAPER_TABLE2[variant]
        rows.append({
            "model": variant.upper(),
            "bits/dim (ours, digits)": f"{m[f'{variant}_bpd_mean']:.2f} ± {m[f'{variant}_bpd_std']:.2f}",
            "Fréchet (ours)": f"{m[f'{variant}_fd_mean']:.1f} ± {m[f'{variant}_fd_std']:.1f}",
            "smallest class share (ours)": f"{100 * m[f'{variant}_min_class_share_mean']:.1f}%",
            "bits/dim (paper)": f"[{paper[0]}]" if variant.startswith("gan") else paper[0],
            "IS (paper)": paper[1], "FID (paper)": paper[2],
        })
    rows.append({"model": "AV-ADE (IAF, RD)", "bits/dim (ours, digits)": "not run (no IAF in the package)",
                 "Fréchet (ours)": "-", "smallest class share (ours)": "-", "bits/dim (paper)": 3.7,
                 "IS (paper)": 8.1, "FID (paper)": 18.6})
    return pd.DataFrame(rows).set_index("model")


def plot_refinements(result: RefinementsResult) -> Figure:
    """Training digits, then 36 samples of the first seed's model of every variant, each titled with its mean
    bits/dim and Fréchet distance over seeds."""
    plt = pyplot()
    variants = result.variants
    fig, axes = plt.subplots(1, len(variants) + 1, figsize=(2.2 * (len(variants) + 1), 2.7))
    image_grid(datasets.load("digits", "train")[:36].numpy(), nrow=6, ax=axes[0])
    axes[0].set_title("training digits", fontsize=8)
    for ax, variant in zip(axes[1:], variants):
        image_grid(result.samples[variant], nrow=6, ax=ax)
        m = result.metrics
        ax.set_title(f"{variant.upper()}\n{m[f'{variant}_bpd_mean']:.2f} bits/dim, FD {m[f'{variant}_fd_mean']:.0f}",
                     fontsize=8)
    fig.tight_layout()
    return fig


# ========================================================================================
# 2. Sec. 5.7: scales and blocks of f_psi
# ========================================================================================


@dataclass
class FlowDepthConfig(AblationConfig):
    """V-ADE (book) or AV-ADE (paper) on digits with several shapes of ``f_psi``, over seeds."""

    mode: str = "v-ade"
    architectures: Tuple[Tuple[int, int], ...] = ((1, 1), (1, 2), (2, 2))  # (scales, blocks)
    seeds: Tuple[int, ...] = (0, 1, 2, 3, 4)
    n_steps: int = 400  # a fifth of the ablation's budget, for three shapes of five seeds
    SCALES: ClassVar = {
        "smoke": {"architectures": ((1, 1), (2, 1)), "seeds": (0,), "n_steps": 20, "n_eval_samples": 4,
                  "feature_steps": 30},
        "paper": dict(AblationConfig.SCALES["paper"], mode="av-ade",
                      architectures=((1, 2), (2, 2), (2, 4), (3, 3))),
    }


#: The thesis' claims on the shape of f_psi (Sec. 5.7, Fig. 5.12) the chapter tests, each "the first shape is
#: better than the second" on a measure (lower is better for both): two scales against one, two blocks against one.
FLOW_DEPTH_CLAIMS = (("s2b2", "s1b2", "bpd"), ("s2b2", "s1b2", "fd"), ("s1b2", "s1b1", "bpd"),
                     ("s1b2", "s1b1", "fd"))


@dataclass
class FlowDepthResult:
    """What :func:`run_flow_depth` returns: for each shape of ``f_psi`` (``architectures``, ``(scales, blocks)``
    pairs), keyed ``"s{scales}b{blocks}"``, one value per seed of bits/dim (``bpd``) and of the Fréchet distance
    (``fd``) on the held-out images, and the flow's number of parameters (``n_params``)."""

    mode: str
    architectures: List[Tuple[int, int]]
    bpd: Dict[str, List[float]]
    fd: Dict[str, List[float]]
    n_params: Dict[str, int]
    metrics: Dict[str, Union[float, str]] = field(default_factory=dict)  # the verdicts are words
    dataset: str = "digits"


@register("adaptive_density/flow_depth", config=FlowDepthConfig, plot=lambda r: plot_flow_depth(r),
          description="Sec. 5.7: scales and blocks of f_psi against bits/dim and the Fréchet distance")
def run_flow_depth(cfg: FlowDepthConfig) -> FlowDepthResult:
    """Train ``cfg.mode`` with every shape ``(scales, blocks)`` of ``f_psi`` in ``cfg.architectures`` for every seed
    of ``cfg.seeds`` on ``cfg.dataset`` and score it on the held-out images (:func:`_fit_and_score`): bits/dim, the
    Fréchet distance and, with ``cfg.n_inception_samples``, IS and FID; the metrics add means and spreads over seeds,
    the flows' sizes and the paired verdicts on :data:`FLOW_DEPTH_CLAIMS`."""
    dev = companion.device()
    train = datasets.load(cfg.dataset, "train").to(dev)
    held_out = _held_out(cfg.dataset, dev)
    feature_net, _ = train_feature_net(cfg.feature_steps, device=dev, dataset=cfg.dataset)
    inception_state: Dict[str, str] = {}
    bpd, fd, n_params, inception = {}, {}, {}, {}

    def fit_and_score(scales: int, blocks: int, seed: int) -> Tuple[int, Dict[str, float], Dict[str, float]]:
        """One job (companion.workers): the flow's parameters, the scores and the IS/FID (paper scale) of a fit."""
        companion.seed_everything(seed)
        model = _ade_from(cfg, cfg.mode, flow_scales=scales, flow_blocks=blocks).to(dev)
        size = sum(p.numel() for p in model.flow.parameters())
        desc = f"{cfg.mode} s{scales}b{blocks} (seed {seed})"
        scores = _fit_and_score(model, cfg, train, held_out, feature_net, desc)
        return size, scores, _inception_scores(model, train, cfg.n_inception_samples, inception_state)

    jobs = [(scales, blocks, seed) for scales, blocks in cfg.architectures for seed in cfg.seeds]
    for (scales, blocks, _), (size, scores, extra) in zip(jobs, map_in_workers(fit_and_score, jobs)):
        key = f"s{scales}b{blocks}"
        n_params[key] = size
        bpd.setdefault(key, []).append(scores["bpd"])
        fd.setdefault(key, []).append(scores["fd"])
        for name, value in extra.items():
            inception.setdefault(f"{key}_{name}", []).append(value)
    metrics: Dict[str, Union[float, str]] = {}
    for key in bpd:
        for name, values in (("bpd", bpd[key]), ("fd", fd[key])):
            stats = mean_std(values)
            metrics[f"{key}_{name}_mean"], metrics[f"{key}_{name}_std"] = stats["mean"], stats["std"]
        metrics[f"{key}_flow_params"] = n_params[key]
    for a, b, measure in FLOW_DEPTH_CLAIMS:  # paired, as the ablation's modes: a seed's shapes share the VAE's start
        if a in bpd and b in bpd:
            series = bpd if measure == "bpd" else fd
            metrics[f"{a}_vs_{b}_{measure}_verdict"] = verdict(series[a], series[b], higher_is_better=False,
                                                               paired=True)
    for name, values in inception.items():  # paper scale with the optional Inception backend
        metrics[f"{name}_mean"] = mean_std(values)["mean"]
    return FlowDepthResult(cfg.mode, [tuple(a) for a in cfg.architectures], bpd, fd, n_params, metrics, cfg.dataset)


def plot_flow_depth(result: FlowDepthResult) -> Figure:
    """Bits/dim and Fréchet distance for each shape of ``f_psi``: a bar at the mean over seeds, a dot per seed."""
    plt = pyplot()
    keys = [f"s{s}b{b}" for s, b in result.architectures]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, values, label in (
        (axes[0], result.bpd, "bits/dim (held out) ↓"),
        (axes[1], result.fd, "Fréchet distance ↓"),
    ):
        means = [np.mean(values[k]) for k in keys]
        ax.bar(range(len(keys)), means, color="C0")
        for i, k in enumerate(keys):
            ax.scatter([i] * len(values[k]), values[k], color="k", s=8, zorder=3)
        ax.set_xticks(range(len(keys)), [f"{s} scale{'s' if s > 1 else ''}\n{b} block{'s' if b > 1 else ''}"
                                         for s, b in result.architectures], fontsize=8)
        ax.set_ylabel(label)
    if all(len(result.bpd[k]) > 0 for k in keys):
        lo = min(min(result.bpd[k]) for k in keys)
        axes[0].set_ylim(max(0.0, lo - 0.3), None)
    fig.suptitle(
        f"{result.mode.upper()} on {getattr(result, 'dataset', 'digits')}: the shape of $f_\\psi$", fontsize=10
    )
    fig.tight_layout()
    return fig
