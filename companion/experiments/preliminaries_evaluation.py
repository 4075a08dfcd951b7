"""How the primer chapter (``book/preliminaries.md``) evaluates samples: Parzen windows and Fréchet.

* ``preliminaries/parzen_bandwidth`` — the Parzen-window estimate of held-out log-likelihood
  on ``digits``: its sensitivity to the bandwidth and to the number of samples, and a model
  that beats the true distribution (k-means centroids; Theis et al. 2016).
* ``preliminaries/frechet_subsets`` — thesis Table 2.1: the Fréchet distance (and the
  Inception score's formula, :func:`classifier_score`) of random subsets of the real digits,
  in a digit classifier's features, against the subset size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, List, Tuple

import numpy as np
import torch

import companion
from companion.checks import check_int, check_tensor
from companion.config import ExperimentConfig
from companion.data import load, load_labels
from companion.experiments.feature_classifier import train_feature_net
from companion.metrics import frechet_distance, parzen_log_likelihood, select_parzen_sigma
from companion.plots import set_style
from companion.reproduce import register

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib
    from matplotlib.figure import Figure

__all__ = [
    "FrechetSubsetsConfig",
    "FrechetSubsetsResult",
    "ParzenBandwidthConfig",
    "ParzenBandwidthResult",
    "classifier_score",
    "plot_frechet_subsets",
    "plot_parzen_bandwidth",
    "run_frechet_subsets",
    "run_parzen_bandwidth",
]

# ========================================================================================
# 1. Parzen windows: bandwidth, sample size, and a model that beats the truth
# ========================================================================================


@dataclass
class ParzenBandwidthConfig(ExperimentConfig):
    """Parzen-window log-likelihoods on ``digits`` (book-scale defaults)."""

    sigmas: Tuple[float, ...] = tuple(float(s) for s in np.logspace(-2, 0, 25))
    sample_sizes: Tuple[int, ...] = (30, 100, 300, 1297)
    n_init: int = 3  # k-means restarts
    seed: int = 0
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {"sigmas": tuple(float(s) for s in np.logspace(-2, 0, 9)), "sample_sizes": (30, 100), "n_init": 1},
        "paper": {"sigmas": tuple(float(s) for s in np.logspace(-2, 0, 41)), "n_init": 10},
    }


@dataclass
class ParzenBandwidthResult:
    """What :func:`run_parzen_bandwidth` returns.

    ``curves[name]`` holds the test log-likelihood for every bandwidth of ``sigmas``;
    ``by_size[name]`` the test log-likelihood at the validation-selected bandwidth for every
    entry of ``sample_sizes``, for ``"data"`` (real digits) and ``"kmeans"`` (centroids).
    """

    sigmas: List[float]
    sample_sizes: List[int]
    curves: Dict[str, List[float]]
    selected: Dict[str, float]
    by_size: Dict[str, List[float]]
    metrics: Dict[str, float] = field(default_factory=dict)


def plot_parzen_bandwidth(result: ParzenBandwidthResult) -> Figure:
    """Test Parzen log-likelihood against the bandwidth, and against the number of samples."""
    import matplotlib.pyplot as plt

    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, (name, values) in enumerate(result.curves.items()):
        axes[0].semilogx(result.sigmas, values, label=name, color=f"C{k}")
        sigma = result.selected[name]
        axes[0].axvline(sigma, color=f"C{k}", linestyle=":", linewidth=1)
    top = max(max(v) for v in result.curves.values())
    axes[0].set_ylim(top - 150, top + 15)
    axes[0].set_xlabel(r"bandwidth $\sigma$")
    axes[0].set_ylabel("test log-likelihood (nats)")
    axes[0].set_title("Parzen estimate vs bandwidth (dotted: chosen on valid)")
    axes[0].legend(loc="lower right")
    for k, name in enumerate(result.by_size):
        axes[1].semilogx(result.sample_sizes, result.by_size[name], marker="o", label=name, color=f"C{k}")
    axes[1].set_xlabel("number of samples N (data points or centroids)")
    axes[1].set_ylabel("test log-likelihood (nats)")
    axes[1].set_title("Parzen estimate vs number of samples")
    axes[1].legend(loc="lower right")
    fig.tight_layout()
    return fig


@register("preliminaries/parzen_bandwidth", config=ParzenBandwidthConfig, plot=plot_parzen_bandwidth,
          description="Parzen windows on digits: bandwidth sensitivity, sample size, k-means beats the data")
def run_parzen_bandwidth(cfg: ParzenBandwidthConfig) -> ParzenBandwidthResult:
    """Parzen-window estimates of the test log-likelihood of ``digits`` (64-D, values in [0, 1]).

    Two "models" are scored: real digits (the training split, i.e. exact samples of the
    data distribution) and k-means centroids of the training split (blurry averages, no
    digit among them). For each sample size ``N`` the first ``N`` training digits, or ``N``
    centroids, are the kernel centres; the bandwidth is chosen on the validation split
    among ``sigmas`` (:func:`companion.metrics.select_parzen_sigma`) and the test split is
    scored at that bandwidth.

    Metrics: ``data_ll`` / ``kmeans_ll`` at each size (``..._n<N>``), the bandwidths chosen
    at the largest size, and ``data_ll_half_sigma_drop`` / ``data_ll_double_sigma_drop`` (how
    many nats the estimate of the largest data sample loses when the chosen bandwidth is
    halved or doubled).
    """
    companion.seed_everything(cfg.seed)
    train = load("digits", "train").flatten(1)
    valid = load("digits", "valid").flatten(1)
    test = load("digits", "test").flatten(1)
    sizes = sorted({min(int(n), len(train)) for n in cfg.sample_sizes})
    if not sizes or sizes[0] < 2:
        raise ValueError(f"sample_sizes must hold ints >= 2; got {cfg.sample_sizes!r}")
    sigmas = [float(s) for s in cfg.sigmas]
    centres = _kernel_centres(train, cfg.n_init, cfg.seed)
    kinds = {"data": "real digits", "kmeans": "k-means centroids"}
    by_size, chosen = _scores_by_size(centres, kinds, sizes, sigmas, valid, test)
    # the bandwidth curves: all real digits, and the two models at the middle size
    mid = sizes[len(sizes) // 2] if len(sizes) > 2 else sizes[0]
    curve_sets = {f"real digits, N={sizes[-1]}": ("data", sizes[-1]),
                  f"real digits, N={mid}": ("data", mid),
                  f"k-means centroids, N={mid}": ("kmeans", mid)}
    curves = {name: [parzen_log_likelihood(centres(kind, n), test, s) for s in sigmas]
              for name, (kind, n) in curve_sets.items()}
    selected = {name: chosen[kind, n] for name, (kind, n) in curve_sets.items()}
    best = chosen["data", sizes[-1]]
    everything = centres("data", sizes[-1])
    at_best = parzen_log_likelihood(everything, test, best)
    metrics: Dict[str, float] = {}
    for kind, label in kinds.items():
        for n, value in zip(sizes, by_size[label]):
            metrics[f"{kind}_ll_n{n}"] = value
    metrics.update({
        "sigma_data": chosen["data", sizes[-1]],
        "sigma_kmeans_mid": chosen["kmeans", mid],
        "mid_size": mid,
        "data_ll_half_sigma_drop": at_best - parzen_log_likelihood(everything, test, best / 2),
        "data_ll_double_sigma_drop": at_best - parzen_log_likelihood(everything, test, 2 * best),
        "kmeans_minus_data_mid": float(by_size["k-means centroids"][sizes.index(mid)]
                                       - by_size["real digits"][sizes.index(mid)]),
    })
    return ParzenBandwidthResult(sigmas=sigmas, sample_sizes=sizes, curves=curves, selected=selected,
                                 by_size=by_size, metrics=metrics)


def _kernel_centres(train: torch.Tensor, n_init: int, seed: int) -> Callable[[str, int], torch.Tensor]:
    """``centres(kind, n)``: the kernel centres of ``n`` samples of a "model", ``kind`` ``"data"`` (the first
    ``n`` training digits of a random order, drawn now) or ``"kmeans"`` (``n`` k-means centroids)."""
    from sklearn.cluster import KMeans

    order = torch.randperm(len(train))

    def centres(kind: str, n: int) -> torch.Tensor:
        if kind == "data":
            return train[order[:n]]
        if n >= len(train):  # as many centroids as points: the points themselves
            return train
        km = KMeans(n_clusters=n, n_init=n_init, random_state=seed).fit(train.numpy())
        return torch.as_tensor(km.cluster_centers_, dtype=torch.float32)

    return centres


def _scores_by_size(centres: Callable[[str, int], torch.Tensor], kinds: Dict[str, str], sizes: List[int],
                    sigmas: List[float], valid: torch.Tensor,
                    test: torch.Tensor) -> Tuple[Dict[str, List[float]], Dict[Tuple[str, int], float]]:
    """For every kind and size: the bandwidth chosen on ``valid`` among ``sigmas``, and the test score there."""
    by_size: Dict[str, List[float]] = {label: [] for label in kinds.values()}
    chosen: Dict[Tuple[str, int], float] = {}
    for kind, label in kinds.items():
        for n in sizes:
            points = centres(kind, n)
            sigma, _ = select_parzen_sigma(points, valid, sigmas)
            chosen[kind, n] = sigma
            by_size[label].append(parzen_log_likelihood(points, test, sigma))
    return by_size, chosen


# ========================================================================================
# 2. Thesis Table 2.1: the Fréchet distance of random subsets of real data
# ========================================================================================


@dataclass
class FrechetSubsetsConfig(ExperimentConfig):
    """Table 2.1 of the thesis on ``digits``: scores of random subsets of the real training set.

    The thesis scores random subsets of CIFAR-10 (50k down to 2.5k images) with the
    Inception score and FID against the full set. Here the features are those of the small
    digit classifier of the adaptive-density chapter, and the subsets shrink from the
    1,297 training digits down to ``min(sizes)``; ``n_repeats`` draws per size give a spread.
    """

    sizes: Tuple[int, ...] = (1297, 650, 325, 160, 80)
    n_repeats: int = 10
    classifier_steps: int = 400
    seed: int = 0
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {"sizes": (1297, 160), "n_repeats": 2, "classifier_steps": 40},
        "paper": {"n_repeats": 50, "classifier_steps": 2000},
    }


@dataclass
class FrechetSubsetsResult:
    """What :func:`run_frechet_subsets` returns: the Fréchet distance and classifier score of each random subset
    of the training digits, per size of ``sizes`` (rows) and draw (columns), and the scores of the references."""

    sizes: List[int]
    frechet: np.ndarray  # (n_sizes, n_repeats): Fréchet distance to the full training set
    classifier_score: np.ndarray  # (n_sizes, n_repeats): the Inception score's formula, digit classifier
    references: Dict[str, Dict[str, float]]  # "test digits", "digits 0-4 only": their scores
    metrics: Dict[str, Any] = field(default_factory=dict)


def classifier_score(probs: torch.Tensor) -> float:
    """The Inception score's formula ``exp E_x KL(p(y|x) || p(y))`` for class probabilities ``probs`` (N, C).

    Raises:
        TypeError: when ``probs`` is not a floating-point tensor.
        ValueError: when ``probs`` is not a finite (N, C) matrix of N >= 1 rows that sum to one.
    """
    probs = check_tensor(probs, "probs", shape=(None, None)).double()
    if len(probs) < 1 or float(probs.min()) < 0 or not torch.allclose(
            probs.sum(1), torch.ones(len(probs), dtype=probs.dtype), atol=1e-4):
        raise ValueError("probs must hold N >= 1 non-negative rows that sum to one")
    marginal = probs.mean(0, keepdim=True)
    kl = (probs * (probs.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1)
    return float(kl.mean().exp())


def plot_frechet_subsets(result: FrechetSubsetsResult) -> Figure:
    """Fréchet distance and classifier score of random subsets against their size, with the references."""
    import matplotlib.pyplot as plt

    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    sizes = np.asarray(result.sizes)
    for ax, values, key, label in (
        (axes[0], result.frechet, "frechet", "Fréchet distance to all training digits"),
        (axes[1], result.classifier_score, "classifier_score", "classifier score (IS formula)"),
    ):
        ax.errorbar(
            sizes, values.mean(1), yerr=values.std(1), marker="o", capsize=3, label="random subsets of real digits"
        )
        for (name, ref), style in zip(result.references.items(), ("--", ":")):
            ax.axhline(ref[key], color="grey", linestyle=style, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("number of real training digits in the subset")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@register("preliminaries/frechet_subsets", config=FrechetSubsetsConfig, plot=plot_frechet_subsets,
          description="Thesis Table 2.1: Fréchet distance and classifier score of random subsets of the digits")
def run_frechet_subsets(cfg: FrechetSubsetsConfig) -> FrechetSubsetsResult:
    """Score random subsets of the training digits against the full set, in a digit classifier's features.

    References: the 250 test digits (a fresh sample of the same distribution) and the training
    digits 0 to 4 only (perfect quality, half of the classes dropped).
    """
    if not cfg.sizes:
        raise ValueError(f"sizes must hold integers >= 2; got {cfg.sizes!r}")
    for n in cfg.sizes:
        check_int(n, "sizes", 2)
    dev = companion.device()
    train, labels = load("digits", "train").to(dev), load_labels("digits", "train")
    if max(cfg.sizes) > len(train):
        raise ValueError(f"sizes must be at most {len(train)}, the number of training digits; got {cfg.sizes!r}")
    net, accuracy = train_feature_net(n_steps=cfg.classifier_steps, seed=cfg.seed, device=dev)
    with torch.no_grad():
        feats = net.features(train).cpu()
        probs = torch.softmax(net(train), 1).cpu()
        test = load("digits", "test").to(dev)
        test_feats, test_probs = net.features(test).cpu(), torch.softmax(net(test), 1).cpu()
    generator = torch.Generator().manual_seed(cfg.seed)
    frechet = np.zeros((len(cfg.sizes), cfg.n_repeats))
    score = np.zeros_like(frechet)
    for i, n in enumerate(cfg.sizes):
        for r in range(cfg.n_repeats):
            idx = torch.randperm(len(train), generator=generator)[:n]
            frechet[i, r] = frechet_distance(feats, feats[idx])
            score[i, r] = classifier_score(probs[idx])
    half = (labels < 5).cpu()
    references = {
        "the 250 test digits": {
            "frechet": frechet_distance(feats, test_feats),
            "classifier_score": classifier_score(test_probs),
        },
        "training digits 0-4 only": {
            "frechet": frechet_distance(feats, feats[half]),
            "classifier_score": classifier_score(probs[half]),
        },
    }
    metrics = {
        "classifier_accuracy": accuracy,
        "frechet": {
            int(n): {"mean": float(frechet[i].mean()), "std": float(frechet[i].std())} for i, n in enumerate(cfg.sizes)
        },
        "classifier_score": {
            int(n): {"mean": float(score[i].mean()), "std": float(score[i].std())} for i, n in enumerate(cfg.sizes)
        },
        "references": references,
        "paper_cifar10": {"sizes": [50_000, 10_000, 5_000, 2_500], "fid": [0.0, 2.10, 4.82, 10.48]},
    }
    return FrechetSubsetsResult(list(cfg.sizes), frechet, score, references, metrics)
