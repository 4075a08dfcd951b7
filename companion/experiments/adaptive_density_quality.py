"""The sample-quality runs of the chapter on adaptive density estimation (thesis ch. 5, App. A).

* ``adaptive_density/sample_quality`` — Table 3 / Table 5.3, Fig. 6 / Fig. 5.6, Table 5.6,
  Fig. 5.11 and Fig. A.8 on ``digits``, from one set of runs: AV-ADE beside the comparison
  chapter's likelihood and adversarial models (its VAE, Real-NVP and V-ADE, built by
  :func:`companion.experiments.comparison.fit_model`) and a GAN that meets the digits quality
  bar; bits/dim, the Fréchet distance in the digit classifier's features, GAN-train and a
  GAN-test proxy (Shmelkov et al. 2018, :func:`gan_train_test`), precision-recall curves (Sajjadi
  et al. 2018, with :func:`companion.metrics.prd_curve`) and AV-ADE reconstructions.

The ADEs and the GAN are the ablation's shared fits (:mod:`.adaptive_density`): at book scale they are the
ablation's own models, trained once in the chapter. The digits quality bar
(:func:`companion.metrics.classifier_quality_bar`): on 1,000 samples every class of the digit classifier gets at
least 3%, and the Fréchet distance is within twice the VAE's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

import companion
from companion import data as datasets
from companion.checks import check_positive_int
from companion.config import ExperimentConfig
from companion.evidence import verdict
from companion.experiments.adaptive_density import (
    AblationConfig,
    _held_out_digits,
    _shared_fit,
    ade_fit_item,
    fitted_plain_gan,
    plain_gan_fit_item,
    prefit,
)
from companion.experiments.comparison_configs import ImagesConfig
from companion.experiments.comparison_data import FittedModel, dataset_spec
from companion.experiments.comparison_models import ade_fitted_model, fit_model
from companion.experiments.feature_classifier import FeatureNet, fit_classifier, train_feature_net
from companion.metrics import bits_per_dim, frechet_distance, mean_std, prd_curve, prd_f_beta
from companion.plots import image_grid, pyplot
from companion.reproduce import register
from companion.workers import map_in_workers

if TYPE_CHECKING:  # for the annotations only: importing the module stays cheap
    from matplotlib.figure import Figure
    from pandas import DataFrame

#: Table 5.6 of the thesis (CIFAR-10, class-conditional models): GAN-test and GAN-train accuracy (%).
PAPER_TABLE56 = {"gan": (71.8, 29.7), "av-ade": (76.9, 73.4), "dcgan (Shmelkov et al.)": (58.2, 65.0)}
#: Table 5.3 of the thesis (CIFAR-10), the rows with a counterpart here: bits/dim, IS, FID (None: not reported).
PAPER_TABLE3 = {"av-ade (wg, rd)": (3.8, 8.2, 17.2), "av-ade (s2)": (3.5, 6.9, 28.9), "FlowGAN (H)": (4.2, 3.9, None),
                "NVP": (3.5, 4.5, None), "VAE-IAF": (3.1, 3.8, None), "SNGAN": (None, 7.4, 29.3)}


# ========================================================================================
# GAN-train and GAN-test
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
# Table 5.3, Fig. 5.6, Table 5.6, Fig. 5.11, Fig. A.8: sample quality against coverage
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
#: "a is better than b" (Table 5.6: GAN-train, GAN-test; Fig. 5.11: recall, precision; Table 5.3: Fréchet, on draws
#: and on the decoders' noise-free means, and bits/dim).
SAMPLE_QUALITY_CLAIMS = (("av-ade", "gan", "gan_train", True), ("av-ade", "gan", "gan_test", True),
                         ("av-ade", "gan", "prd_recall", True), ("av-ade", "real-nvp", "prd_precision", True),
                         ("av-ade", "vae", "fd", False), ("av-ade", "vae", "fd_means", False),
                         ("av-ade", "real-nvp", "bpd", False))


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
    likelihood, ``fd``, ``min_class_share``, ``gan_train``, ``gan_test``, ``prd_recall``, ``prd_precision``, all on
    draws; ``fd_means`` on the noise-free decoder means where the model has them (the VAE and the ADEs); and
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
    likelihood, Fréchet distance, smallest class share, GAN-train/test, PRD summaries, all on draws, and the
    Fréchet distance of its noise-free means where it has a decoder) and its PRD curve."""
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
    if model.mean_fn is not None:  # last, so that the draws' scores above take the random stream they took before
        values["fd_means"] = _means_frechet(model, cfg.n_samples, feature_net, real_features)
    return x, values, (precision, recall)


def _means_frechet(model: FittedModel, n: int, feature_net: nn.Module, real_features: torch.Tensor) -> float:
    """The Fréchet distance of ``n`` noise-free decoder means (``model.sample(n, mean=True)``, clipped to [0, 1])
    against the held-out digits' features: the thesis' kind of sample for the ADEs, ``f^{-1}(mu(z))``, and the
    ablation's, beside the draws the other scores read (the comparison chapter reports both kinds the same way)."""
    means = model.sample(n, mean=True).clamp(0, 1)
    with torch.no_grad():
        return frechet_distance(feature_net.features(means[: len(real_features)]), real_features)


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
    # the ablation's GANs and ADEs (shared with it; already trained after the ablation): two fits at a time
    prefit(([plain_gan_fit_item(_gan_cfg(cfg), cfg.seeds, train, "GAN")] if "gan" in cfg.models else [])
           + [_ade_item(name, train, cfg, seed) for seed in cfg.seeds for name in cfg.models
              if name in ("v-ade", "av-ade")])
    jobs = [(name, seed) for seed in cfg.seeds for name in cfg.models]
    job = _sample_quality_job(cfg, train, feature_net, held_out, held_labels)
    for (name, seed), (x, values, curve, shown) in zip(jobs, map_in_workers(job, jobs)):
        for key, value in values.items():
            scores[name].setdefault(key, []).append(value)
        if seed == cfg.seeds[0]:
            samples[name], prd[name] = x, curve
            if shown is not None:
                reconstructions = shown
    metrics = _sample_quality_metrics(cfg, scores, accuracy, train, feature_net, held_out, held_labels, real_features)
    return SampleQualityResult(list(cfg.models), scores, samples, prd, originals, reconstructions,
                               train[:36].numpy(), metrics)


#: What one job of :func:`run_sample_quality` returns: a model's first 36 samples, its scores of one seed, its PRD
#: curve ``(precision, recall)`` and (AV-ADE) its reconstructions of the first held-out digits, else ``None``.
_QualityJobResult = Tuple[np.ndarray, Dict[str, float], Tuple[np.ndarray, np.ndarray], Optional[np.ndarray]]


def _sample_quality_job(cfg: SampleQualityConfig, train: torch.Tensor, feature_net: nn.Module, held_out: torch.Tensor,
                        held_labels: torch.Tensor) -> Callable[[str, int], _QualityJobResult]:
    """What one job of :func:`run_sample_quality` does (:func:`companion.workers.map_in_workers`): ``job(name,
    seed)`` trains the model ``name`` of ``seed`` on ``train`` (:func:`_fit`) and scores it against ``held_out``
    (:func:`_quality_scores`), AV-ADE also by its reconstructions."""

    def fit_and_score(name: str, seed: int) -> _QualityJobResult:
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

    return fit_and_score


def _sample_quality_metrics(cfg: SampleQualityConfig, scores: Dict[str, Dict[str, List[float]]], accuracy: float,
                            train: torch.Tensor, feature_net: nn.Module, held_out: torch.Tensor,
                            held_labels: torch.Tensor, real_features: torch.Tensor) -> Dict[str, Union[float, str]]:
    """The metrics of :func:`run_sample_quality`: the classifier's ``accuracy``, the GAN's seeds at the digits bar,
    the data row (the first ``cfg.n_samples`` training digits scored as a model, against ``held_out`` and its
    features ``real_features``), means and spreads over seeds of every score and :func:`sample_quality_verdicts`."""
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
    return metrics


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
            "Fréchet (means)": cell(name, "fd_means", fmt="{:.1f}"),
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
            "Fréchet (means)": "-",
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
