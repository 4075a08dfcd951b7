"""The figures of the comparison chapter: sample panels per model and metric-against-metric
trade-off plots with the Pareto front, the trade-off points they draw and the check of the
Pareto exercise (:mod:`companion.experiments.comparison` runs and scores)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from companion import data as datasets
from companion import plots
from companion.experiments.comparison_data import DISPLAY_NAMES, MODELS, dataset_spec
from companion.experiments.comparison_results import COLUMNS, ComparisonResult, meets_bar
from companion.metrics import pareto_front

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from matplotlib.figure import Figure


def tradeoff_points(result: ComparisonResult, dataset: str, x: str, y: str) -> Dict[str, Tuple[float, float]]:
    """``model -> (x, y)`` for two metrics of ``dataset``, oriented so that lower is better on both.

    Metrics where higher is better (log-likelihoods, modes) are negated. Models where either
    metric is undefined are left out, and so is a GAN below its bar (:func:`meets_bar` false): it
    is ranked nowhere, so it is on no Pareto front either.
    """
    if dataset not in result.rows:
        raise ValueError(f"dataset must be one of {result.datasets}; got {dataset!r}")
    lower = {key: low for key, _, low in COLUMNS[result.family]}
    for key in (x, y):
        if key not in lower:
            raise ValueError(f"metrics of the {result.family} family are {tuple(lower)}; got {key!r}")
    out = {}
    for model in result.models:
        row = result.rows[dataset][model]
        if row.get(x) is None or row.get(y) is None or meets_bar(result, dataset, model) is False:
            continue
        out[model] = tuple(float(row[k]) if lower[k] else -float(row[k]) for k in (x, y))
    return out


def tradeoff_spreads(result: ComparisonResult, dataset: str, x: str, y: str) -> Dict[str, Tuple[float, float]]:
    """``model -> (std of x, std of y)`` over seeds, for the models of :func:`tradeoff_points`."""
    out = {}
    for model in tradeoff_points(result, dataset, x, y):
        runs = result.runs[dataset][model]
        out[model] = tuple(float(np.std(runs[k], ddof=1)) if len(runs[k]) > 1 else 0.0 for k in (x, y))
    return out


def check_pareto_front(answer: Iterable[str], result: ComparisonResult, dataset: str,
                       x: str = "seconds", y: str = "frechet") -> bool:
    """Check the exercise: which models are on the Pareto front of ``x`` against ``y`` on ``dataset``?

    Args:
        answer: the reader's model names (as in :data:`MODELS`, e.g. ``["gan", "vae"]``).
        result: the comparison result the reader read the numbers from.
        dataset, x, y: the dataset and the two metrics (lower is better after orientation,
            see :func:`tradeoff_points`).

    Returns:
        Whether the answer is the front; prints a verdict with a hint.
    """
    if isinstance(answer, str) or not isinstance(answer, Iterable):
        raise TypeError("answer must be a list of model names, e.g. ['gan', 'vae']")
    answer = list(answer)
    unknown = [a for a in answer if a not in MODELS]
    if unknown:
        raise ValueError(f"unknown model names {unknown}; use the names of MODELS: {MODELS}")
    points = tradeoff_points(result, dataset, x, y)
    front = set(pareto_front(points))
    given = set(answer)
    if given == front:
        print("Correct.")
        return True
    missing, extra = sorted(front - given), sorted(given - front)
    if extra:
        dominated_by = {a: [b for b in points if b != a and all(pb <= pa for pa, pb in zip(points[a], points[b]))]
                        for a in extra if a in points}
        print(f"Not yet: {extra} are dominated (someone is at least as good on both): {dominated_by}.")
    if missing:
        print(f"Not yet: {len(missing)} model(s) that nobody beats on both metrics are missing.")
    return False


def _patch_images(x: np.ndarray) -> np.ndarray:
    """63-dim patches to 8x8 images: the dropped pixel is minus the sum of the others; each patch rescaled."""
    full = np.concatenate([x, -x.sum(axis=1, keepdims=True)], axis=1).reshape(-1, 1, 8, 8)
    low = full.min(axis=(1, 2, 3), keepdims=True)
    high = full.max(axis=(1, 2, 3), keepdims=True)
    return (full - low) / np.maximum(high - low, 1e-8)


def plot_samples(result: ComparisonResult) -> Figure:
    """Sample grids (images, patches) or scatter plots (toys): one row per dataset, one panel per model."""
    import matplotlib.pyplot as plt

    plots.set_style()
    names = ["data"] + result.models
    n_rows, n_cols = len(result.datasets), len(names)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.55 * n_cols, 1.8 * n_rows + 0.3), squeeze=False)
    for r, dataset in enumerate(result.datasets):
        spec = dataset_spec(dataset)
        for c, model in enumerate(names):
            ax = axes[r, c]
            label = "data" if model == "data" else DISPLAY_NAMES[model]
            if model not in result.samples[dataset]:
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=10, color="0.4")
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(label, fontsize=8)
                continue
            images = result.samples[dataset][model]
            if spec.family == "toys":
                centers = datasets.toy_centers(dataset).numpy()
                ax.scatter(centers[:, 0], centers[:, 1], s=8, color="k", marker="x")
                pts = np.clip(images, -6, 6)  # a diverged model's far-away points stay on the panel's edge
                ax.scatter(pts[:, 0], pts[:, 1], s=2, color="C3", alpha=0.5)
                lim = 1.5 if dataset == "ring" else 5.5
                ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_aspect("equal")
            else:
                if spec.family == "vectors":
                    images = _patch_images(images)
                side = int(math.isqrt(len(images)))
                plots.image_grid(np.clip(images[: side * side], 0, 1), nrow=side, ax=ax)
            if spec.family == "toys" and model != "data":
                row = result.rows[dataset][model]
                label += f"\n{row['modes']:.3g} modes (mean)"
            ax.set_title(label, fontsize=8)
        axes[r, 0].set_ylabel(dataset, fontsize=9)
    fig.tight_layout()
    return fig


def plot_tradeoffs(result: ComparisonResult, pairs: Optional[Sequence[Tuple[str, str]]] = None) -> Figure:
    """Metric against metric, one panel per (dataset, pair); the Pareto front of each panel is drawn.

    The default pairs: likelihood against Fréchet and training time against Fréchet (images,
    patches), modes against test log-likelihood and time against modes (toys).
    """
    import matplotlib.pyplot as plt

    plots.set_style()
    if pairs is None:
        pairs = {"images": (("bits_per_dim", "frechet"), ("seconds", "frechet")),
                 "vectors": (("test_ll", "frechet"), ("seconds", "frechet")),
                 "toys": (("test_ll", "modes"), ("seconds", "modes"))}[result.family]
    headers = {key: header for key, header, _ in COLUMNS[result.family]}
    panels = [(d, p) for d in result.datasets for p in pairs]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (dataset, (x, y)) in zip(axes[0], panels):
        points = tradeoff_points(result, dataset, x, y)
        lower = {key: low for key, _, low in COLUMNS[result.family]}
        sign = {k: 1.0 if lower[k] else -1.0 for k in (x, y)}
        front = pareto_front(points)
        spreads = tradeoff_spreads(result, dataset, x, y)
        for i, (model, (px, py)) in enumerate(points.items()):
            ax.errorbar(sign[x] * px, sign[y] * py, xerr=spreads[model][0], yerr=spreads[model][1], fmt="none",
                        ecolor=f"C{i % 10}", elinewidth=1, capsize=2, zorder=2)
            ax.scatter(sign[x] * px, sign[y] * py, s=40 if model in front else 18, color=f"C{i % 10}",
                       edgecolor="k" if model in front else "none", zorder=3)
            ax.annotate(DISPLAY_NAMES[model], (sign[x] * px, sign[y] * py), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        if len(front) > 1:
            ax.plot([sign[x] * points[m][0] for m in front], [sign[y] * points[m][1] for m in front],
                    ls="--", color="0.5", lw=1, zorder=1)
        if x == "seconds":
            from matplotlib.ticker import NullFormatter, ScalarFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())  # 3, 10, 30 rather than 3x10^0
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(headers[x])
        ax.set_ylabel(headers[y])
        ax.set_title(f"{dataset}: {len(points)} models, mean ± std over {result.n_seeds} seeds, front dashed",
                     fontsize=8)
    fig.tight_layout()
    return fig
