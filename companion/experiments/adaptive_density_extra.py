"""More experiments of the chapter on adaptive density estimation (thesis Secs. 5.5-5.6, App. A).

* ``adaptive_density/refinements`` — Table 2 of the paper / Table 5.2 of the thesis on
  ``digits``: AV-ADE and the GAN with a residual discriminator (rd), a wide generator (wg)
  and two scales in ``f_psi`` (s2), over seeds. The paper's fourth refinement, an IAF
  posterior (iaf), is not in the package and is left out.
* ``adaptive_density/sample_quality`` — Table 3 / Table 5.3, Fig. 6 / Fig. 5.6, Table 5.6,
  Fig. 5.11 and Fig. A.8 on ``digits``, from one set of runs: AV-ADE beside the comparison
  chapter's likelihood and adversarial models (its VAE, Real-NVP and V-ADE, built by
  :func:`companion.experiments.comparison.fit_model`) and a GAN that meets the digits quality
  bar; bits/dim, the Fréchet distance in the digit classifier's features, GAN-train and a
  GAN-test proxy (Shmelkov et al. 2018), precision-recall curves (Sajjadi et al. 2018, with
  :func:`companion.metrics.prd_curve`) and AV-ADE reconstructions.
* ``adaptive_density/flow_depth`` — Sec. 5.7 / Fig. 5.12: the number of scales and blocks of
  ``f_psi`` against bits/dim and the Fréchet distance on ``digits`` (V-ADE at book scale,
  AV-ADE at paper scale, on CIFAR-10 like the ablation).

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
from companion.config import ExperimentConfig
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
from companion.experiments.feature_classifier import FeatureNet, fit_classifier, train_feature_net
from companion.metrics import frechet_distance, mean_std, prd_curve, prd_f_beta
from companion.plots import pyplot
from companion.reproduce import register
from companion.vae import VAE
from companion.workers import map_in_workers

from ..checks import check_positive_int

if TYPE_CHECKING:  # for the annotations only: importing the module stays cheap
    from matplotlib.figure import Figure
    from pandas import DataFrame

    from companion.experiments.comparison_models import FittedModel

#: Table 5.2 of the thesis (CIFAR-10): bits/dim ([] from an inference network), IS, FID.
PAPER_TABLE2 = {
    "gan": (7.0, 6.8, 31.4), "gan (rd)": (6.9, 7.4, 24.0), "av-ade": (3.9, 7.1, 28.0),
    "av-ade (rd)": (3.8, 7.5, 26.0), "av-ade (wg, rd)": (3.8, 8.2, 17.2), "av-ade (iaf, rd)": (3.7, 8.1, 18.6),
    "av-ade (s2)": (3.5, 6.9, 28.9),
}
#: Fig. 5.12 (a) of the thesis (AV-ADE on CIFAR-10): (scales, blocks) -> bits/dim, IS, FID.
PAPER_FLOW_DEPTH = {(1, 2): (3.77, 7.9, 20.1), (2, 2): (3.48, 6.9, 27.7), (2, 4): (3.46, 6.9, 28.9),
                    (3, 3): (3.49, 6.5, 31.7)}
#: Table 5.6 of the thesis (CIFAR-10, class-conditional models): GAN-test and GAN-train accuracy (%).
PAPER_TABLE56 = {"gan": (71.8, 29.7), "av-ade": (76.9, 73.4), "dcgan (Shmelkov et al.)": (58.2, 65.0)}
#: Table 5.3 of the thesis (CIFAR-10), the rows with a counterpart here: bits/dim, IS, FID (None: not reported).
PAPER_TABLE3 = {"av-ade (wg, rd)": (3.8, 8.2, 17.2), "av-ade (s2)": (3.5, 6.9, 28.9), "FlowGAN (H)": (4.2, 3.9, None),
                "NVP": (3.5, 4.5, None), "VAE-IAF": (3.1, 3.8, None), "SNGAN": (None, 7.4, 29.3)}


# ========================================================================================
# The digits quality bar, GAN-train and GAN-test
# ========================================================================================


def _check_images(samples: torch.Tensor, name: str) -> torch.Tensor:
    if not torch.is_tensor(samples) or samples.dim() != 4 or tuple(samples.shape[1:]) != (1, 8, 8):
        raise ValueError(
            f"{name} must be a tensor of 8x8 digits (N, 1, 8, 8); got {getattr(samples, 'shape', samples)!r}"
        )
    if not torch.isfinite(samples).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return samples


def gan_train_test(samples: torch.Tensor, feature_net: nn.Module, test_x: torch.Tensor, test_y: torch.Tensor,
                   n_steps: int = 300, confidence: float = 0.9, seed: int = 0) -> Dict[str, float]:
    """GAN-train and a GAN-test proxy (Shmelkov et al. 2018) for an *unconditional* digits model.

    The thesis' models are class-conditional: GAN-test is the accuracy of a classifier trained
    on real images on samples of a given class, GAN-train the accuracy on real test images of a
    classifier trained on samples. Without conditioning the sample's class is unknown, so here

    * ``gan_train``: a fresh :class:`FeatureNet` is trained for ``n_steps`` on the samples
      labelled by ``feature_net`` and tested on ``(test_x, test_y)``: high only if the samples
      cover every class with realistic variety;
    * ``gan_test``: the share of samples that ``feature_net`` assigns to one class with
      probability at least ``confidence``: high when samples look like some digit.

    Returns:
        ``{"gan_train": accuracy, "gan_test": share}``, both in [0, 1].
    """
    _check_images(samples, "samples")
    _check_images(test_x, "test_x")
    if not torch.is_tensor(test_y) or test_y.shape != (len(test_x),):
        raise ValueError(f"test_y must be a tensor of {len(test_x)} labels; got {getattr(test_y, 'shape', test_y)!r}")
    check_positive_int(n_steps, "n_steps")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}")
    dev = next(feature_net.parameters()).device
    x = samples.to(dev).clamp(0, 1)
    feature_net.eval()
    with torch.no_grad():
        probs = feature_net(x).softmax(1)
    labels = probs.argmax(1)
    companion.seed_everything(seed)
    net = fit_classifier(FeatureNet().to(dev), x, labels, n_steps, desc="GAN-train classifier", disable_progress=True)
    with torch.no_grad():
        accuracy = float((net(test_x.to(dev)).argmax(1) == test_y.to(dev)).float().mean())
    return {"gan_train": accuracy, "gan_test": float((probs.max(1).values >= confidence).float().mean())}


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
    """The fit of ``variant`` with ``seed`` as a ``(key, fit)`` pair of :func:`companion.runs.fit_once`: the
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
    vae_fd = []
    for item in vae_items.values():  # fit_once leaves the random state the fit left: the draws below repeat
        vae = _shared_fit(item)[0].eval()
        with torch.no_grad():
            vae_fd.append(frechet_distance(feature_net.features(vae.sample(cfg.n_bar_samples)[: len(held_out)]),
                                           feature_net.features(held_out)))
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
    return RefinementsResult(list(cfg.variants), bpd, fd, shares, samples, metrics)


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
    from companion.plots import image_grid

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
# 2. Table 5.3, Fig. 5.6, Table 5.6, Fig. 5.11, Fig. A.8: sample quality against coverage
# ========================================================================================

#: How the sample-quality experiment names its models (the comparison chapter's ids, and our GAN).
SAMPLE_QUALITY_NAMES = {"vae": "VAE (discretized logistic)", "real-nvp": "Real-NVP", "v-ade": "V-ADE",
                        "av-ade": "AV-ADE", "gan": "GAN"}


@dataclass
class SampleQualityConfig(ExperimentConfig):
    """AV-ADE beside the comparison chapter's models on digits, scored for coverage and quality.

    Every model trains ``n_steps`` steps, the GAN's ``gan_steps`` (a test keeps them equal). The likelihood
    models are the comparison chapter's (:func:`~companion.experiments.comparison.fit_model`, its settings at
    the same scale); the ADEs have its networks and are trained as the ablation trains them (the same
    models to the last bit), so at book scale they are the ablation's AV-ADE fits, trained once in the
    chapter. The GAN is the ablation's GAN row, the recipe of the chapter's sweeps for the digits bar
    (:func:`companion.metrics.classifier_quality_bar`): a generator with a 32-dimensional noise, width 256
    and one hidden layer, trained as the package's plain GAN with Adam at ``gan_lr`` (betas ``gan_betas``)
    for ``gan_steps`` steps, the rate times ``gan_decay`` from step ``gan_decay_step`` on, dropout
    ``gan_disc_dropout`` and (``gan_spectral_norm``) spectral normalisation in its discriminator, and the
    moving average of its weights (decay ``gan_average``) as the final generator
    (:func:`~companion.experiments.adaptive_density.fitted_plain_gan`: in the chapter, the ablation's models
    themselves).
    """

    # V-ADE's samples and bits/dim are in the ablation already; paper scale adds it here
    models: Tuple[str, ...] = ("vae", "real-nvp", "av-ade", "gan")
    seeds: Tuple[int, ...] = (0, 1, 2, 3, 4)
    # every model the GAN's budget (gan_steps), as in the ablation; AV-ADE's fits are then the ablation's
    n_steps: int = 2000
    gan_steps: int = 2000
    gan_lr: float = 5e-4
    gan_latent_dim: int = 32
    gan_hidden: int = 256
    gan_decay_step: int = 1500
    gan_decay: float = 0.2
    gan_betas: Tuple[float, float] = (0.0, 0.9)
    gan_disc_dropout: float = 0.5
    gan_spectral_norm: bool = True
    gan_average: float = 0.99
    gan_inference_steps: int = 200  # the inference network of the ablation's GAN row (not scored here)
    n_samples: int = 1000
    feature_steps: int = 400
    classifier_steps: int = 200  # GAN-train's classifier
    prd_clusters: int = 20
    prd_runs: int = 3  # clusterings averaged (the paper: 10, at paper scale)
    n_reconstructions: int = 12
    SCALES: ClassVar = {
        "smoke": {"models": ("vae", "av-ade", "gan"), "seeds": (0,), "n_steps": 20, "gan_steps": 20,
                  "gan_decay_step": 10, "gan_inference_steps": 10,
                  "n_samples": 200, "feature_steps": 30, "classifier_steps": 20, "prd_clusters": 5, "prd_runs": 1,
                  "n_reconstructions": 4},
        # the comparison chapter's paper-scale networks, on digits (the classifier needs the digits' labels),
        # every model with the GAN's 20,000 steps, five seeds
        "paper": {"models": ("vae", "real-nvp", "v-ade", "av-ade", "gan"), "seeds": (0, 1, 2, 3, 4),
                  "n_steps": 20_000, "gan_steps": 20_000, "feature_steps": 2000,
                  "classifier_steps": 2000, "prd_runs": 10},
    }


#: The thesis' claims the chapter tests on the sample-quality runs: (a, b, measure, higher is better), each
#: "a is better than b" (Table 5.6: GAN-train, GAN-test; Fig. 5.11: recall, precision; Table 5.3: Fréchet, bits/dim).
SAMPLE_QUALITY_CLAIMS = (("av-ade", "gan", "gan_train", True), ("av-ade", "gan", "gan_test", True),
                         ("av-ade", "gan", "prd_recall", True), ("av-ade", "real-nvp", "prd_precision", True),
                         ("av-ade", "vae", "fd", False), ("av-ade", "real-nvp", "bpd", False))


def sample_quality_verdicts(scores: Dict[str, Dict[str, List[float]]], gan_at_bar: bool) -> Dict[str, str]:
    """The verdict (:func:`companion.evidence.verdict`, seeds not paired: the models differ) on every claim of
    :data:`SAMPLE_QUALITY_CLAIMS`, keyed ``"{a}_vs_{b}_{measure}_verdict"``; "not run" where a model or measure
    is missing, "not compared" for the GAN unless it met the digits bar in every seed (``gan_at_bar``)."""
    verdicts = {}
    for a, b, key, higher_is_better in SAMPLE_QUALITY_CLAIMS:
        name = f"{a}_vs_{b}_{key}_verdict"
        if key not in scores.get(a, {}) or key not in scores.get(b, {}):
            verdicts[name] = "not run"
        elif "gan" in (a, b) and not gan_at_bar:
            verdicts[name] = "not compared (the GAN is below the digits quality bar)"
        else:
            verdicts[name] = verdict(scores[a][key], scores[b][key], higher_is_better=higher_is_better)
    return verdicts


@dataclass
class SampleQualityResult:
    """What :func:`run_sample_quality` returns.

    ``scores[model][metric]`` holds one value per seed (``seconds`` of training, ``bpd`` where the model has a
    likelihood, ``fd``, ``min_class_share``, ``gan_train``, ``gan_test``, ``prd_recall``, ``prd_precision``, and
    ``reconstruction_error`` for AV-ADE). For the first seed: 36 samples per model, ``prd[model]`` its
    precision-recall curve and ``reconstructions``, AV-ADE's of the ``originals`` (the first ``n_reconstructions``
    held-out digits; zeros without AV-ADE). Images are ``(N, 1, 8, 8)`` in ``[0, 1]``.
    """

    models: List[str]
    scores: Dict[str, Dict[str, List[float]]]  # model -> metric -> per seed
    samples: Dict[str, np.ndarray]  # seed 0, 36 each
    prd: Dict[str, Tuple[np.ndarray, np.ndarray]]  # seed 0: (precision, recall)
    originals: np.ndarray
    reconstructions: np.ndarray  # AV-ADE, seed 0
    data_samples: np.ndarray
    metrics: Dict[str, Union[float, str]] = field(default_factory=dict)  # the verdicts are words


def _comparison_cfg(cfg: SampleQualityConfig, seed: int):
    """The comparison chapter's configuration at the same scale, on digits, with this experiment's steps and seed."""
    from companion.experiments.comparison import ImagesConfig

    base = ImagesConfig.for_scale(cfg.scale if cfg.scale in ("smoke", "book", "paper") else "book")
    return dataclasses.replace(base, datasets=("digits",), n_steps=cfg.n_steps, seed=seed)


def _ade_cfg(cfg: SampleQualityConfig, seed: int) -> AblationConfig:
    """The ablation's configuration that trains the comparison chapter's ADE (its networks, Adamax at 2e-3) for
    this experiment's steps: :func:`~companion.experiments.comparison.fit_model` would train the same model
    (the same to the last bit), and at book scale it is the ablation's own, so the chapter trains it once."""
    comparison_cfg = _comparison_cfg(cfg, seed)
    return AblationConfig(dataset="digits", architecture="mlp", latent_dim=comparison_cfg.latent_dim,
                          hidden=comparison_cfg.hidden, flow_blocks=comparison_cfg.ade_flow_blocks, flow_scales=1,
                          flow_hidden=comparison_cfg.ade_flow_hidden, flow_layers=1,
                          disc_hidden=comparison_cfg.hidden, n_steps=cfg.n_steps,
                          batch_size=comparison_cfg.batch_size, lr=2e-3)


def _ade_item(name: str, train: torch.Tensor, cfg: SampleQualityConfig, seed: int):
    """The shared fit (:func:`~companion.experiments.adaptive_density.ade_fit_item`) of the ADE ``name``."""
    return ade_fit_item(_ade_cfg(cfg, seed), name, seed, train, f"{name} (seed {seed})")


def _fit(name: str, train: torch.Tensor, cfg: SampleQualityConfig, seed: int):
    """A trained model behind the comparison chapter's :class:`FittedModel` interface."""
    from companion.experiments.comparison import FittedModel, dataset_spec, fit_model
    from companion.experiments.comparison_models import ade_fitted_model

    if name in ("v-ade", "av-ade"):  # the ablation's fit where it has one (shared, trained once)
        model, seconds = _shared_fit(_ade_item(name, train, cfg, seed))
        fitted = ade_fitted_model(model, dataset_spec("digits"), _comparison_cfg(cfg, seed))
        fitted.seconds = seconds
        return fitted
    if name != "gan":
        return fit_model(name, train, dataset_spec("digits"), _comparison_cfg(cfg, seed))
    gan, seconds = fitted_plain_gan(_gan_cfg(cfg), seed, train, f"GAN (seed {seed})")
    return FittedModel("gan", gan, gan.sample, None, "none", "samples only", seconds=seconds)


def _gan_cfg(cfg: SampleQualityConfig) -> AblationConfig:
    """The ablation's configuration (its book-scale networks and budget) with this experiment's GAN recipe."""
    return AblationConfig(seeds=tuple(cfg.seeds), gan_latent_dim=cfg.gan_latent_dim, gan_hidden=cfg.gan_hidden,
                          gan_steps=cfg.gan_steps, gan_lr=cfg.gan_lr, gan_decay_step=cfg.gan_decay_step,
                          gan_decay=cfg.gan_decay,
                          gan_betas=cfg.gan_betas, gan_disc_dropout=cfg.gan_disc_dropout,
                          gan_spectral_norm=cfg.gan_spectral_norm, gan_average=cfg.gan_average,
                          n_inference_steps=cfg.gan_inference_steps)


def _quality_scores(model: FittedModel, cfg: SampleQualityConfig, seed: int, feature_net: nn.Module,
                    held_out: torch.Tensor,
                    held_labels: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, float], Tuple[np.ndarray, np.ndarray]]:
    """One fitted model's samples, its scores of this seed (training seconds, bits/dim where it has a
    likelihood, Fréchet distance, smallest class share, GAN-train/test, PRD summaries) and its PRD curve."""
    from companion.metrics import bits_per_dim

    values = {"seconds": model.seconds}  # training wall-clock, for the budget
    x = model.sample(cfg.n_samples).clamp(0, 1)
    if model.log_prob_fn is not None:
        values["bpd"] = float(bits_per_dim(-float(model.log_prob(held_out).mean()), 64))
    with torch.no_grad():
        real_features = feature_net.features(held_out)
        fake_features = feature_net.features(x[: len(held_out)])
        shares = np.bincount(feature_net(x).argmax(1).numpy(), minlength=10) / len(x)
    values["fd"] = frechet_distance(fake_features, real_features)
    values["min_class_share"] = float(shares.min())
    values.update(gan_train_test(x, feature_net, held_out, held_labels, cfg.classifier_steps, seed=seed))
    precision, recall = prd_curve(real_features, fake_features, cfg.prd_clusters, n_angles=201,
                                  n_runs=cfg.prd_runs, seed=seed)
    values["prd_recall"], values["prd_precision"] = prd_f_beta(precision, recall)
    return x, values, (precision, recall)


@register("adaptive_density/sample_quality", config=SampleQualityConfig, plot=lambda r: plot_sample_quality(r),
          description="Tables 5.3 and 5.6, Figs. 5.6, 5.11 and A.8 on digits: AV-ADE beside likelihood models "
                      "and a GAN, bits/dim, Fréchet, GAN-train/test, precision-recall, reconstructions")
def run_sample_quality(cfg: SampleQualityConfig) -> SampleQualityResult:
    """Train every model of ``cfg.models`` for every seed of ``cfg.seeds`` on ``digits`` (:func:`_fit`) and score it
    on the CPU against the held-out digits (:func:`_quality_scores`): bits/dim, Fréchet distance, smallest class
    share, GAN-train and the GAN-test proxy (:func:`gan_train_test`), the precision-recall curve and its summaries,
    and AV-ADE's reconstructions. The training digits are scored the same way as a data row; the metrics add means
    and spreads over seeds, the GAN's seeds at the digits bar and :func:`sample_quality_verdicts`."""
    for name in cfg.models:
        if name not in SAMPLE_QUALITY_NAMES:
            raise ValueError(f"models must be among {tuple(SAMPLE_QUALITY_NAMES)}; got {name!r}")
    dev = torch.device("cpu")  # the comparison chapter's models are scored on the CPU
    train = datasets.load("digits", "train")
    held_out = _held_out_digits(dev)
    held_labels = torch.cat([datasets.load_labels("digits", "valid"), datasets.load_labels("digits", "test")])
    feature_net, accuracy = train_feature_net(cfg.feature_steps, device=dev)
    real_features = feature_net.features(held_out).detach()  # for the data row
    scores: Dict[str, Dict[str, List[float]]] = {m: {} for m in cfg.models}
    samples, prd = {}, {}
    originals = held_out[: cfg.n_reconstructions].numpy()
    reconstructions = np.zeros_like(originals)

    def fit_and_score(name: str, seed: int):
        """One job (companion.workers): a model's scores of one seed, its first 36 samples, its PRD curve and
        (AV-ADE) its reconstructions of the first held-out digits."""
        model = _fit(name, train, cfg, seed)
        x, values, curve = _quality_scores(model, cfg, seed, feature_net, held_out, held_labels)
        shown = None
        if name == "av-ade":
            ade = model.modules
            ade.eval()
            with torch.no_grad():
                shown = ade.reconstruct(held_out[: cfg.n_reconstructions]).numpy()
                values["reconstruction_error"] = float((ade.reconstruct(held_out) - held_out).abs().mean())
        return x[:36].numpy(), values, curve, shown

    # the ablation's GANs and ADEs (shared with it; already trained after the ablation): two fits at a time
    prefit(([plain_gan_fit_item(_gan_cfg(cfg), cfg.seeds, train, "GAN")] if "gan" in cfg.models else [])
           + [_ade_item(name, train, cfg, seed) for seed in cfg.seeds for name in cfg.models
              if name in ("v-ade", "av-ade")])
    jobs = [(name, seed) for seed in cfg.seeds for name in cfg.models]
    for (name, seed), (x, values, curve, shown) in zip(jobs, map_in_workers(fit_and_score, jobs)):
        for key, value in values.items():
            scores[name].setdefault(key, []).append(value)
        if seed == cfg.seeds[0]:
            samples[name], prd[name] = x, curve
            if shown is not None:
                reconstructions = shown
    # the bar: every GAN seed against the VAE of the same seed
    metrics: Dict[str, Union[float, str]] = {"classifier_accuracy": accuracy}
    if "gan" in cfg.models and "vae" in cfg.models:
        fd_gan, fd_vae = scores["gan"]["fd"], scores["vae"]["fd"]
        shares_gan = scores["gan"]["min_class_share"]
        meets = [s >= 0.03 and f <= 2 * v for s, f, v in zip(shares_gan, fd_gan, fd_vae)]
        metrics["gan_meets_bar_seeds"] = float(sum(meets))
    # the data as a model: real training digits scored the same way (the ceiling of each metric)
    real = train[: cfg.n_samples]
    data_row = gan_train_test(real, feature_net, held_out, held_labels, cfg.classifier_steps)
    with torch.no_grad():
        data_features = feature_net.features(real[: len(held_out)])
    metrics["data_fd"] = frechet_distance(data_features, real_features)
    metrics["data_gan_train"], metrics["data_gan_test"] = data_row["gan_train"], data_row["gan_test"]
    for name in cfg.models:
        for key, values in scores[name].items():
            stats = mean_std(values)
            metrics[f"{name}_{key}_mean"], metrics[f"{name}_{key}_std"] = stats["mean"], stats["std"]
    metrics.update(sample_quality_verdicts(scores, gan_at_bar=metrics.get("gan_meets_bar_seeds") == len(cfg.seeds)))
    return SampleQualityResult(list(cfg.models), scores, samples, prd, originals, reconstructions,
                               train[:36].numpy(), metrics)


def sample_quality_table(result: SampleQualityResult) -> DataFrame:
    """Table 5.3 and Table 5.6 on digits: one row per model, mean ± std over seeds."""
    import pandas as pd

    def cell(name: str, key: str, scale: float = 1.0, fmt: str = "{:.2f}") -> str:
        values = result.scores[name].get(key)
        if not values:
            return "-"
        stats = mean_std([scale * v for v in values])
        return f"{fmt.format(stats['mean'])} ± {fmt.format(stats['std'])}"

    rows = []
    for name in result.models:
        rows.append({
            "model": SAMPLE_QUALITY_NAMES[name],
            "bits/dim": cell(name, "bpd"),
            "Fréchet": cell(name, "fd", fmt="{:.1f}"),
            "GAN-train (%)": cell(name, "gan_train", 100, "{:.1f}"),
            "GAN-test proxy (%)": cell(name, "gan_test", 100, "{:.1f}"),
            "PRD F8 (recall)": cell(name, "prd_recall"),
            "PRD F1/8 (precision)": cell(name, "prd_precision"),
            "smallest class (%)": cell(name, "min_class_share", 100, "{:.1f}"),
            "training seconds": cell(name, "seconds", fmt="{:.1f}"),
        })
    m = result.metrics
    rows.append(
        {
            "model": "training digits",
            "bits/dim": "-",
            "Fréchet": f"{m['data_fd']:.1f}",
            "GAN-train (%)": f"{100 * m['data_gan_train']:.1f}",
            "GAN-test proxy (%)": f"{100 * m['data_gan_test']:.1f}",
            "PRD F8 (recall)": "-",
            "PRD F1/8 (precision)": "-",
            "smallest class (%)": "-",
            "training seconds": "-",
        }
    )
    return pd.DataFrame(rows).set_index("model")


def plot_sample_quality(result: SampleQualityResult) -> Figure:
    """Samples (Fig. 5.6), precision-recall curves (Fig. 5.11) and AV-ADE reconstructions (Fig. A.8)."""
    from companion.plots import image_grid

    plt = pyplot()
    models = result.models
    fig = plt.figure(figsize=(2.2 * (len(models) + 1), 5.6))
    grid = fig.add_gridspec(2, len(models) + 1)
    panels = [("training digits", result.data_samples)] + [(SAMPLE_QUALITY_NAMES[m], result.samples[m]) for m in models]
    for i, (title, images) in enumerate(panels):
        image_grid(images, nrow=6, ax=fig.add_subplot(grid[0, i]), title=title)
    ax = fig.add_subplot(grid[1, : max(1, (len(models) + 1) // 2)])
    for i, name in enumerate(models):
        precision, recall = result.prd[name]
        ax.plot(recall, precision, label=SAMPLE_QUALITY_NAMES[name], color=f"C{i}",
                linestyle=("-", "--", "-.", ":")[i % 4])  # colour and dash: legible in grey print too
    ax.set_xlabel("recall"), ax.set_ylabel("precision")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1.02)
    ax.set_title("precision-recall (Sajjadi et al.), first seed", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    if "av-ade" in models:
        pairs = np.stack([result.originals, result.reconstructions], axis=1).reshape(-1, *result.originals.shape[1:])
        image_grid(pairs, nrow=8,  # four digits and their reconstructions per row
                   ax=fig.add_subplot(grid[1, (len(models) + 1) // 2:]),
                   title="AV-ADE reconstructions: each digit, then its reconstruction")
    fig.tight_layout()
    return fig


# ========================================================================================
# 3. Sec. 5.7: scales and blocks of f_psi
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
