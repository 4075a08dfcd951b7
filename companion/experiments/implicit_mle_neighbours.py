"""Fig. 4 of the implicit-MLE chapter: nearest neighbours.

* ``implicit_mle/nearest_neighbours`` — Fig. 4: nearest generated neighbours of test digits
  for the four methods, random VAE samples, IML samples grouped by mixture component, and
  the quality bar of the GAN baselines.

The faces (Table 1's CelebA column, Fig. 5), which use the panels of this module:
``implicit_mle_faces.py``.

The baselines and their bar: ``implicit_mle_baselines.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

import companion
from companion.checks import check_tensor
from companion.experiments.implicit_mle_baselines import (
    METHODS,
    DigitsBaselinesConfig,
    _fit_baselines,
    _prefit_baselines,
    _QualityBars,
    _splits,
    iml_claims,
)
from companion.metrics import mean_std
from companion.plots import image_grid, set_style
from companion.reproduce import register

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec

    from companion.iml import TwoStageModel


@torch.no_grad()
def nearest_samples(queries: torch.Tensor, samples: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """For each query image, the sample nearest in Euclidean pixel distance, and that distance.

    Args:
        queries: (Q, *shape) images, e.g. test images.
        samples: (N, *shape) generated images of the same shape.

    Returns:
        ``(nearest, distance)``: the nearest samples ``(Q, *shape)`` and their distances ``(Q,)``.
    """
    check_tensor(queries, "queries", finite=False, floating=False)
    check_tensor(samples, "samples", finite=False, floating=False)
    if queries.dim() < 2 or samples.dim() < 2 or len(queries) == 0 or len(samples) == 0:
        raise ValueError(
            f"queries and samples must be non-empty batches; got {tuple(queries.shape)}, {tuple(samples.shape)}"
        )
    if queries.shape[1:] != samples.shape[1:]:
        raise ValueError(f"queries and samples must have the same image shape; got {tuple(queries.shape[1:])} "
                         f"and {tuple(samples.shape[1:])}")
    q, s = queries.flatten(1).double(), samples.flatten(1).to(queries.device).double()
    dist = torch.cdist(q, s)
    best = dist.argmin(1)
    return samples.to(queries.device)[best], dist[torch.arange(len(q)), best].float()


def _sample_pools(models: Dict[str, Any], methods: Tuple[str, ...], n: int, shape: Tuple[int, ...],
                  seed: int) -> Dict[str, torch.Tensor]:
    """``n`` samples of each method's model after seeding ``seed``, as images of ``shape`` clipped to [0, 1]."""
    companion.seed_everything(seed)
    with torch.no_grad():
        return {m: models[m].sample(n).detach().reshape(n, *shape).clamp(0, 1) for m in methods}


def _component_samples(model: TwoStageModel, n_per_component: int) -> np.ndarray:
    """IML samples grouped by the GMM component they come from: (n_components, n, *shape)."""
    with torch.no_grad():
        return np.stack([model.autoencoder.decode(model.base.sample(n_per_component, component=c)).cpu().numpy()
                         for c in range(model.base.n_components)])


@dataclass
class NearestNeighboursConfig(DigitsBaselinesConfig):
    """Fig. 4 on ``digits``: nearest generated neighbours of test digits for the four methods,
    random VAE samples, and IML samples grouped by mixture component.

    The methods, their settings and their budget are those of ``implicit_mle/parzen_sweep`` at
    one latent size, and so are the models: in a process that ran the sweep first (the chapter),
    they are the sweep's models of the same seeds, not trained again (see ``_fit_baselines``).
    Every GAN is checked against the quality bar of the chapter's digits
    baselines (:func:`companion.metrics.classifier_quality_bar`): on ``n_bar_samples`` samples,
    the ADE chapter's digit classifier sees every class at least ``min_class_share`` of the
    time, and the Fréchet distance in its features is within twice the VAE's.
    """

    latent_dim: int = 16
    n_seeds: int = 5
    n_samples: int = 1000  # the pool the neighbours are searched in
    n_queries: int = 10
    n_per_component: int = 6
    SCALES: ClassVar = {
        "smoke": {"latent_dim": 4, "n_components": 3, "ae_steps": 40, "vae_steps": 40, "gan_steps": 20,
                  "wgan_steps": 10, "n_seeds": 2, "n_samples": 200, "n_queries": 4, "n_per_component": 3,
                  "n_bar_samples": 200, "classifier_steps": 40},
        "paper": {"dataset": "mnist", "latent_dim": 20, "hidden": 600, "n_components": 30, "ae_steps": 30_000,
                  "vae_steps": 30_000, "gan_steps": 30_000, "wgan_steps": 30_000, "lr": 1e-3, "gan_lr": 2e-4,
                  "wgan_lr": 2e-4, "gan_disc_hidden": 600, "wgan_disc_hidden": 600, "batch_size": 128,
                  "n_samples": 10_000},
    }


@dataclass
class NearestNeighboursResult:
    """What :func:`run_nearest_neighbours` returns: the first seed's pictures (arrays on the CPU), every seed's
    distances. ``vae_samples``: 36 VAE decoder means; ``component_samples`` and ``component_weights``
    ``(n_components,)``: IML samples by GMM component and the mixture weights, heaviest component first."""

    queries: np.ndarray  # (Q, *shape) test images
    neighbours: Dict[str, np.ndarray]  # method -> (Q, *shape), first seed
    vae_samples: np.ndarray
    component_samples: np.ndarray  # (n_components, n_per_component, *shape)
    component_weights: np.ndarray
    distances: Dict[str, np.ndarray]  # method -> (n_seeds,) mean nearest-sample distance of the test images
    metrics: Dict = field(default_factory=dict)


def _neighbour_panels(fig: Figure, grid: GridSpec, queries: np.ndarray, neighbours: Dict[str, np.ndarray], title: str,
                      samples: np.ndarray, samples_nrow: int, samples_title: str, components: np.ndarray) -> None:
    """The panels of Figs. 4 and 5: queries over their nearest samples per method (top row of ``grid``),
    random ``samples`` (bottom left) and IML samples by GMM component (bottom right)."""
    rows = np.concatenate([queries[None]] + [neighbours[m][None] for m in neighbours])
    image_grid(rows.reshape(-1, *queries.shape[1:]), nrow=len(queries), ax=fig.add_subplot(grid[0, :]), title=title)
    image_grid(np.clip(samples, 0, 1), nrow=samples_nrow, ax=fig.add_subplot(grid[1, 0]), title=samples_title)
    image_grid(components.reshape(-1, *components.shape[2:]), nrow=components.shape[1],
               ax=fig.add_subplot(grid[1, 1]), title="IML samples, one row per GMM component")


def plot_nearest_neighbours(result: NearestNeighboursResult) -> Figure:
    """Top: test digits and their nearest generated neighbours per method; bottom: VAE samples, IML by component."""
    import matplotlib.pyplot as plt

    set_style()
    methods = list(result.neighbours)
    fig = plt.figure(figsize=(12, 2.0 + 0.9 * (len(methods) + 1) + 3.2))
    grid = fig.add_gridspec(2, 2, height_ratios=[0.6 * (len(methods) + 1), 3.0])
    title = "top row: test images; below, their nearest samples: " + ", ".join(
        f"{m} ({np.mean(result.distances[m]):.2f})" for m in methods)
    _neighbour_panels(fig, grid, result.queries, result.neighbours, title, result.vae_samples,
                      int(np.ceil(np.sqrt(len(result.vae_samples)))), "random VAE samples (decoder means)",
                      result.component_samples)
    fig.tight_layout()
    return fig


def nearest_distance_claims(distances: Dict[str, Sequence[float]], quality_bar: Dict[str, Optional[Dict[str, Any]]],
                            n_seeds: int) -> Dict[str, Dict[str, str]]:
    """The claims "IML's samples are nearer to the test digits than B's", one per baseline B.

    Args:
        distances: ``{method: per-seed mean nearest-sample distance}`` (smaller is better).
        quality_bar: ``{method: bar summary or None}`` (``metrics["quality_bar"]``); a GAN is
            compared only when it meets the bar in all ``n_seeds`` seeds (the VAE is the bar's reference).
        n_seeds: the seeds behind each summary.

    Returns:
        ``{"IML_vs_<B>": {"verdict", "phrase"}}``, with the verdict ``"not compared"`` and a phrase that says
        why for a GAN below the bar (or unchecked), else :func:`companion.evidence.verdict` and
        :func:`companion.evidence.compare_phrase` on the distances.
    """
    if "IML" not in distances:
        raise ValueError(f"distances must hold IML's runs; got {sorted(distances)}")
    return iml_claims(dict(distances), quality_bar, n_seeds, higher_is_better=False, digits=2)


@register("implicit_mle/nearest_neighbours", config=NearestNeighboursConfig, plot=plot_nearest_neighbours,
          description="Fig. 4: nearest generated neighbours of test digits, VAE samples, IML samples by component")
def run_nearest_neighbours(cfg: NearestNeighboursConfig) -> NearestNeighboursResult:
    """Train the four methods at one latent size over seeds; search each test image's nearest sample."""
    x_train, x_valid, x_test = _splits(cfg.dataset)
    dev = x_train.device
    g = torch.Generator().manual_seed(cfg.seed)
    queries = x_test[torch.randperm(len(x_test), generator=g)[: cfg.n_queries].to(dev)]
    bars = _QualityBars(cfg, (0,), x_valid, x_test)
    distances = {m: np.zeros(cfg.n_seeds) for m in METHODS}
    neighbours: Dict[str, np.ndarray] = {}
    _prefit_baselines([(x_train, METHODS, cfg.latent_dim, cfg.hidden, cfg.n_components, cfg.covariance_type,
                        cfg.steps(), cfg.batch_size, cfg.lr, cfg.gan_lr, cfg.seed + j, cfg.gan_disc_hidden,
                        cfg.wgan_lr, cfg.wgan_disc_hidden, cfg.reg_covar) for j in range(cfg.n_seeds)])
    for j in range(cfg.n_seeds):
        seed = cfg.seed + j
        models = {name: model for name, model, _ in _fit_baselines(
            x_train, METHODS, cfg.latent_dim, cfg.hidden, cfg.n_components, cfg.covariance_type, cfg.steps(),
            cfg.batch_size, cfg.lr, cfg.gan_lr, seed, cfg.gan_disc_hidden, cfg.wgan_lr, cfg.wgan_disc_hidden,
            cfg.reg_covar)}
        pools = _sample_pools(models, METHODS, cfg.n_samples, tuple(x_train.shape[1:]), seed)
        for m in METHODS:
            near, dist = nearest_samples(x_test, pools[m])
            distances[m][j] = float(dist.mean())
            if j == 0:
                neighbours[m] = nearest_samples(queries, pools[m])[0].cpu().numpy()
        bars.record(0, pools)
        if j == 0:
            vae_samples = pools["VAE"][:36].cpu().numpy()
            iml = models["IML"]
            components = _component_samples(iml, cfg.n_per_component)
            order = np.argsort(-iml.base.weights.cpu().numpy())  # the heaviest components first
            components, weights = components[order], iml.base.weights.cpu().numpy()[order]
    quality_bar = {m: by_key[0] for m, by_key in bars.summaries().items()}
    metrics = {
        "nearest_distance": {m: mean_std(distances[m].tolist()) for m in METHODS},
        "nearest_distance_per_seed": {m: distances[m].tolist() for m in METHODS},
        "quality_bar": quality_bar,
        "claims": nearest_distance_claims(distances, quality_bar, cfg.n_seeds),
        "n_seeds": cfg.n_seeds,
        "n_samples": cfg.n_samples,
    }
    return NearestNeighboursResult(
        queries.cpu().numpy(), neighbours, vae_samples, components, weights, distances, metrics
    )
