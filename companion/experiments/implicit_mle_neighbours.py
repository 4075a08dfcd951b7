"""Figs. 4 and 5 and Table 1's CelebA column of the implicit-MLE chapter: nearest neighbours.

* ``implicit_mle/nearest_neighbours`` — Fig. 4: nearest generated neighbours of test digits
  for the four methods, random VAE samples, IML samples grouped by mixture component, and
  the quality bar of the GAN baselines.
* ``implicit_mle/faces`` — Table 1 (CelebA column) and Fig. 5 on ``faces``: Parzen scores of
  IML, VAE and GAN, nearest neighbours of test faces, GAN samples, IML samples by component.

The baselines and their bar: ``implicit_mle_baselines.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Tuple

import numpy as np
import torch

import companion
from companion.config import ExperimentConfig
from companion.metrics import mean_std
from companion.reproduce import register

from ..checks import check_positive_int, check_tensor
from .implicit_mle_baselines import METHODS, DigitsBaselinesConfig, _fit_baselines, _QualityBars, _splits
from .implicit_mle_parzen import _parzen_scores


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


def _component_samples(model, n_per_component: int) -> np.ndarray:
    """IML samples grouped by the GMM component they come from: (n_components, n, *shape)."""
    with torch.no_grad():
        return np.stack([model.autoencoder.decode(model.base.sample(n_per_component, component=c)).cpu().numpy()
                         for c in range(model.base.n_components)])


@dataclass
class NearestNeighboursConfig(DigitsBaselinesConfig):
    """Fig. 4 on ``digits``: nearest generated neighbours of test digits for the four methods,
    random VAE samples, and IML samples grouped by mixture component.

    The methods, their settings and their budget are those of ``implicit_mle/parzen_sweep`` at
    one latent size. Every GAN is checked against the quality bar of the chapter's digits
    baselines (:func:`companion.metrics.classifier_quality_bar`): on ``n_bar_samples`` samples,
    the ADE chapter's digit classifier sees every class at least ``min_class_share`` of the
    time, and the Fréchet distance in its features is within twice the VAE's.
    """

    latent_dim: int = 16
    n_seeds: int = 2
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
    queries: np.ndarray  # (Q, *shape) test images
    neighbours: Dict[str, np.ndarray]  # method -> (Q, *shape), first seed
    vae_samples: np.ndarray
    component_samples: np.ndarray  # (n_components, n_per_component, *shape)
    component_weights: np.ndarray
    distances: Dict[str, np.ndarray]  # method -> (n_seeds,) mean nearest-sample distance of the test images
    metrics: Dict = field(default_factory=dict)


def _neighbour_panels(fig, grid, queries: np.ndarray, neighbours: Dict[str, np.ndarray], title: str,
                      samples: np.ndarray, samples_nrow: int, samples_title: str, components: np.ndarray) -> None:
    """The panels of Figs. 4 and 5: queries over their nearest samples per method (top row of ``grid``),
    random ``samples`` (bottom left) and IML samples by GMM component (bottom right)."""
    from companion.plots import image_grid

    rows = np.concatenate([queries[None]] + [neighbours[m][None] for m in neighbours])
    image_grid(rows.reshape(-1, *queries.shape[1:]), nrow=len(queries), ax=fig.add_subplot(grid[0, :]), title=title)
    image_grid(np.clip(samples, 0, 1), nrow=samples_nrow, ax=fig.add_subplot(grid[1, 0]), title=samples_title)
    image_grid(components.reshape(-1, *components.shape[2:]), nrow=components.shape[1],
               ax=fig.add_subplot(grid[1, 1]), title="IML samples, one row per GMM component")


def plot_nearest_neighbours(result: NearestNeighboursResult):
    """Top: test digits and their nearest generated neighbours per method; bottom: VAE samples, IML by component."""
    import matplotlib.pyplot as plt

    from companion.plots import set_style

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
    for j in range(cfg.n_seeds):
        seed = cfg.seed + j
        models = {name: model for name, model, _ in _fit_baselines(
            x_train, METHODS, cfg.latent_dim, cfg.hidden, cfg.n_components, cfg.covariance_type, cfg.steps(),
            cfg.batch_size, cfg.lr, cfg.gan_lr, seed, cfg.gan_disc_hidden, cfg.wgan_lr, cfg.wgan_disc_hidden)}
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
    metrics = {
        "nearest_distance": {m: mean_std(distances[m].tolist()) for m in METHODS},
        "nearest_distance_per_seed": {m: distances[m].tolist() for m in METHODS},
        "quality_bar": {m: by_key[0] for m, by_key in bars.summaries().items()},
        "n_seeds": cfg.n_seeds,
        "n_samples": cfg.n_samples,
    }
    return NearestNeighboursResult(
        queries.cpu().numpy(), neighbours, vae_samples, components, weights, distances, metrics
    )


@dataclass
class FacesConfig(ExperimentConfig):
    """Table 1's CelebA column and Fig. 5 on ``faces`` (70 training faces of 25x25).

    IML, VAE and GAN with the decoder ``K -> hidden -> 625`` over ``n_seeds`` seeds; Parzen
    scores on the 15 test faces (bandwidth on the 15 validation faces), nearest generated
    neighbours of test faces, random GAN samples and IML samples by component. The GAN is a
    baseline only when it meets the bar (no digit classifier exists for faces): its Fréchet
    distance to the held-out faces, in the first ``n_pca`` principal components of the
    training faces, within twice the VAE's.
    """

    dataset: str = "faces"
    latent_dim: int = 8
    hidden: int = 128
    n_components: int = 3
    covariance_type: str = "diag"
    ae_steps: int = 400
    vae_steps: int = 400
    gan_steps: int = 400
    batch_size: int = 32
    lr: float = 2e-3
    gan_lr: float = 5e-4
    n_seeds: int = 3
    n_samples: int = 1000
    n_per_component: int = 6
    n_pca: int = 10
    released_sigma: float = 0.2
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"latent_dim": 4, "hidden": 32, "n_components": 2, "ae_steps": 30, "vae_steps": 30,
                  "gan_steps": 20, "n_seeds": 2, "n_samples": 100, "n_per_component": 3, "n_pca": 4},
        "paper": {"dataset": "celeba", "latent_dim": 100, "hidden": 600, "n_components": 30,
                  "covariance_type": "full", "ae_steps": 30_000, "vae_steps": 30_000, "gan_steps": 30_000,
                  "batch_size": 128, "lr": 1e-3, "gan_lr": 2e-4, "n_seeds": 3, "n_samples": 10_000},
    }


FACE_METHODS = ("IML", "VAE", "GAN")


@dataclass
class FacesResult:
    queries: np.ndarray
    neighbours: Dict[str, np.ndarray]
    gan_samples: np.ndarray
    component_samples: np.ndarray
    parzen: Dict[str, np.ndarray]  # method -> (n_seeds,)
    metrics: Dict = field(default_factory=dict)


def pca_frechet(train: torch.Tensor, a: torch.Tensor, b: torch.Tensor, n_components: int) -> float:
    """Fréchet distance between image sets ``a`` and ``b`` in the top principal components of ``train``."""
    from companion.metrics import frechet_distance

    check_positive_int(n_components, "n_components")
    flat = train.flatten(1).double().cpu()
    mean = flat.mean(0)
    _, _, v = torch.linalg.svd(flat - mean, full_matrices=False)
    basis = v[:n_components].T
    project = lambda x: ((x.flatten(1).double().cpu() - mean) @ basis).numpy()  # noqa: E731
    return frechet_distance(project(a), project(b))


def plot_faces(result: FacesResult):
    """Top: test faces and their nearest samples per method; bottom: GAN samples, IML samples by component."""
    import matplotlib.pyplot as plt

    from companion.plots import set_style

    set_style()
    methods = list(result.neighbours)
    fig = plt.figure(figsize=(12, 8))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.2, 1.6])
    parzen = result.metrics["parzen"]
    title = "top row: test faces; below, their nearest samples: " + ", ".join(
        f"{m} (Parzen {parzen[m]['mean']:.0f})" for m in methods)
    _neighbour_panels(fig, grid, result.queries, result.neighbours, title, result.gan_samples, 6,
                      "random GAN samples", result.component_samples)
    fig.tight_layout()
    return fig


@register("implicit_mle/faces", config=FacesConfig, plot=plot_faces,
          description="Table 1 (CelebA column) and Fig. 5 on faces: Parzen scores, nearest neighbours, samples")
def run_faces(cfg: FacesConfig) -> FacesResult:
    """Train IML, VAE and GAN on the faces over seeds; Parzen scores, nearest neighbours, the GAN's quality bar."""
    x_train, x_valid, x_test = _splits(cfg.dataset)
    dev = x_train.device
    d = int(np.prod(x_train.shape[1:]))
    steps = {"IML": cfg.ae_steps, "VAE": cfg.vae_steps, "GAN": cfg.gan_steps}
    held_out = torch.cat([x_valid, x_test])
    parzen = {m: np.zeros(cfg.n_seeds) for m in FACE_METHODS}
    released = {m: np.zeros(cfg.n_seeds) for m in FACE_METHODS}
    frechet = {m: np.zeros(cfg.n_seeds) for m in FACE_METHODS}
    nearest = {m: np.zeros(cfg.n_seeds) for m in FACE_METHODS}
    for j in range(cfg.n_seeds):
        seed = cfg.seed + j
        models = {name: model for name, model, _ in _fit_baselines(
            x_train, FACE_METHODS, cfg.latent_dim, cfg.hidden, cfg.n_components, cfg.covariance_type, steps,
            cfg.batch_size, cfg.lr, cfg.gan_lr, seed)}
        pools = _sample_pools(models, FACE_METHODS, cfg.n_samples, tuple(x_train.shape[1:]), seed)
        for m in FACE_METHODS:
            parzen[m][j], released[m][j], _ = _parzen_scores(pools[m].reshape(-1, d), x_valid.reshape(-1, d),
                                                             x_test.reshape(-1, d), cfg.released_sigma)
            frechet[m][j] = pca_frechet(x_train, pools[m], held_out, cfg.n_pca)
            nearest[m][j] = float(nearest_samples(x_test, pools[m])[1].mean())
        if j == 0:
            queries = x_test[:8]
            neighbours = {m: nearest_samples(queries, pools[m])[0].cpu().numpy() for m in FACE_METHODS}
            gan_samples = pools["GAN"][:36].cpu().numpy()
            components = _component_samples(models["IML"], cfg.n_per_component)
    g = torch.Generator().manual_seed(cfg.seed)
    ref = x_train[torch.randperm(len(x_train), generator=g).to(dev)].reshape(-1, d)
    ref_parzen, ref_released, _ = _parzen_scores(ref, x_valid.reshape(-1, d), x_test.reshape(-1, d), cfg.released_sigma)
    gan_meets = [bool(frechet["GAN"][j] <= 2 * frechet["VAE"][j]) for j in range(cfg.n_seeds)]
    metrics = {
        "parzen": {m: mean_std(parzen[m].tolist()) for m in FACE_METHODS},
        "released_convention": {m: mean_std(released[m].tolist()) for m in FACE_METHODS},
        "parzen_per_seed": {m: parzen[m].tolist() for m in FACE_METHODS},
        "pca_frechet": {m: mean_std(frechet[m].tolist()) for m in FACE_METHODS},
        "nearest_distance": {m: mean_std(nearest[m].tolist()) for m in FACE_METHODS},
        "gan_meets_bar_seeds": int(sum(gan_meets)),
        "training_faces_as_samples": {"parzen": ref_parzen, "released": ref_released},
        "paper_celeba": {"IML": -8183.0, "VAE": -10941.0, "GAN": -11879.0},
        "n_seeds": cfg.n_seeds,
        "n_samples": cfg.n_samples,
    }
    return FacesResult(queries.cpu().numpy(), neighbours, gan_samples, components, parzen, metrics)


# ========================================================================================
# 7. The small sweep that sets the digits GANs (issue: baselines meet a bar before they are compared)
