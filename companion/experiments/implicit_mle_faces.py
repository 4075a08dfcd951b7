"""Table 1's CelebA column and Fig. 5 of the implicit-MLE chapter, on ``faces``.

* ``implicit_mle/faces`` — Parzen scores of IML, the VAE and the GAN on the 70 training faces
  of ``faces`` over seeds, nearest neighbours of test faces, GAN samples and IML samples by
  component. Every model is checked against the book's faces bar, the one of the symmetric
  chapter's faces experiment
  (:func:`companion.experiments.symmetric_faces.faces_quality_bar`: Fréchet distance in the
  comparison chapter's faces PCA space within twice that of held-out faces, total variation
  within twice theirs, no copies of the training faces), and a baseline enters a comparison
  only where it meets the bar in every seed. A small sweep of the GAN (learning rate,
  discriminator width, steps) at one seed is part of the run and of its metrics.

The digits baselines and their fits: ``implicit_mle_baselines.py``; the panels:
``implicit_mle_neighbours.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Optional, Tuple

import numpy as np
import torch

import companion
from companion.config import ExperimentConfig
from companion.evidence import compare_phrase, format_spread, summarize, verdict
from companion.experiments.comparison_configs import ComparisonConfig
from companion.experiments.comparison_data import feature_space
from companion.experiments.implicit_mle_baselines import (
    _fit_baselines,
    _gan_fit,
    _make_gan_nets,
    _prefit_baselines,
    _splits,
)
from companion.experiments.implicit_mle_neighbours import (
    _component_samples,
    _neighbour_panels,
    _sample_pools,
    nearest_samples,
)
from companion.experiments.implicit_mle_parzen import _parzen_scores
from companion.experiments.symmetric_faces import faces_quality_bar, faces_references, faces_scores
from companion.metrics import mean_std
from companion.plots import set_style
from companion.reproduce import register

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib or pandas
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["FACE_METHODS", "FacesConfig", "FacesResult", "faces_bar_table", "faces_sweep_table", "plot_faces",
           "run_faces"]

FACE_METHODS = ("IML", "VAE", "GAN")

#: The chapter's claims on the faces, as pairs (a, b) read "a scores a higher Parzen log-likelihood than b".
FACE_CLAIMS = (("IML", "GAN"), ("IML", "VAE"))


@dataclass
class FacesConfig(ExperimentConfig):
    """Table 1's CelebA column and Fig. 5 on ``faces`` (70 training faces of 25x25).

    IML, VAE and GAN with the decoder ``K -> hidden -> 625`` over ``n_seeds`` seeds, each at
    most ``ae_steps`` (= ``vae_steps`` = ``gan_steps``) steps of ``batch_size`` faces; Parzen
    scores on the 15 test faces (bandwidth on the 15 validation faces), nearest generated
    neighbours of test faces, random GAN samples and IML samples by component. Every model is
    checked against the faces bar (``max_frechet_ratio``, ``max_tv_ratio``, ``min_copy_ratio``;
    Fréchet distances in the first ``pca_components`` principal components of the training
    faces, at most 7 for the 15 test faces). The GAN's ``gan_lr`` and ``gan_disc_hidden`` come
    from ``gan_sweep``, settings ``(learning rate, discriminator width, generator steps)``
    trained once at ``seed`` within the same step budget and scored by the bar (empty: no sweep).
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
    gan_disc_hidden: int = 128
    gan_sweep: Tuple[Tuple[float, int, int], ...] = ((5e-4, 128, 400), (1e-3, 128, 400), (5e-4, 256, 400),
                                                     (1e-3, 256, 400))
    n_seeds: int = 5
    n_samples: int = 1000
    n_per_component: int = 6
    pca_components: int = 16
    max_frechet_ratio: float = 2.0
    max_tv_ratio: float = 2.0
    min_copy_ratio: float = 0.5
    released_sigma: float = 0.2
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"latent_dim": 4, "hidden": 32, "n_components": 2, "ae_steps": 30, "vae_steps": 30,
                  "gan_steps": 20, "gan_disc_hidden": 32, "gan_sweep": ((1e-3, 32, 20),), "n_seeds": 2,
                  "n_samples": 100, "n_per_component": 3},
        "paper": {"dataset": "celeba", "latent_dim": 100, "hidden": 600, "n_components": 30,
                  "covariance_type": "full", "ae_steps": 30_000, "vae_steps": 30_000, "gan_steps": 30_000,
                  "batch_size": 128, "lr": 1e-3, "gan_lr": 2e-4, "gan_disc_hidden": 600, "gan_sweep": (),
                  "n_seeds": 3, "n_samples": 10_000},
    }


@dataclass
class FacesResult:
    """What :func:`run_faces` returns: the first seed's pictures (arrays on the CPU), every seed's numbers.

    ``queries``: 8 test faces ``(8, *image)``; ``neighbours[method]``: the nearest of that method's
    ``n_samples`` samples to each query, same shape; ``gan_samples``: 36 GAN samples; ``component_samples``
    ``(n_components, n_per_component, *image)``: IML samples by GMM component.
    """

    queries: np.ndarray
    neighbours: Dict[str, np.ndarray]
    gan_samples: np.ndarray
    component_samples: np.ndarray
    parzen: Dict[str, np.ndarray]  # method -> (n_seeds,)
    bars: Dict[str, List[Dict[str, Any]]]  # method -> per seed: faces_quality_bar (empty off ``faces``)
    sweep: List[Dict[str, Any]]  # one row per GAN setting of the sweep
    metrics: Dict = field(default_factory=dict)


class _FacesBar:
    """The faces bar of the symmetric chapter on the comparison chapter's faces PCA space (only on ``faces``)."""

    def __init__(self, cfg: FacesConfig, train: torch.Tensor, valid: torch.Tensor, test: torch.Tensor) -> None:
        self.active = cfg.dataset == "faces"
        self.limits = {"max_frechet_ratio": cfg.max_frechet_ratio, "max_tv_ratio": cfg.max_tv_ratio,
                       "min_copy_ratio": cfg.min_copy_ratio}
        if self.active:
            self.features = feature_space("faces", ComparisonConfig(pca_components=cfg.pca_components)).features
            self.train, self.test = train.cpu(), test.cpu()
            self.references = faces_references(self.train, valid.cpu(), self.test, self.features)

    def __call__(self, samples: torch.Tensor) -> Optional[Dict[str, Any]]:
        """The bar's statistics and verdict of ``samples`` (``None`` off ``faces``)."""
        if not self.active:
            return None
        scores = faces_scores(samples.cpu(), self.train, self.test, self.features)
        return {**scores, **faces_quality_bar(scores, self.references, **self.limits)}


def _gan_sweep(cfg: FacesConfig, x_train: torch.Tensor, bar: _FacesBar) -> List[Dict[str, Any]]:
    """Each setting of ``cfg.gan_sweep`` trained once from ``cfg.seed`` and scored by the bar."""
    if cfg.gan_sweep and not bar.active:
        raise ValueError(f"the GAN sweep is scored by the faces bar: dataset must be 'faces'; got {cfg.dataset!r}")
    rows = []
    for lr, disc_hidden, steps in cfg.gan_sweep:
        if steps > cfg.ae_steps:
            raise ValueError(f"gan_sweep steps must be within the budget of ae_steps={cfg.ae_steps}; got {steps}")
        companion.seed_everything(cfg.seed)
        gen, disc = _make_gan_nets(cfg.latent_dim, cfg.hidden, tuple(x_train.shape[1:]), int(disc_hidden))
        gan = _gan_fit(gen.to(x_train.device), disc.to(x_train.device), x_train, cfg.latent_dim, int(steps),
                       cfg.batch_size, float(lr), wasserstein=False)
        with torch.no_grad():
            samples = gan.sample(cfg.n_samples).reshape(cfg.n_samples, *x_train.shape[1:]).clamp(0, 1)
        rows.append({"lr": float(lr), "disc_hidden": int(disc_hidden), "steps": int(steps), **bar(samples)})
    return rows


def _compare(parzen: Dict[str, np.ndarray], bars: Dict[str, List[Dict[str, Any]]], a: str, b: str,
             names: Dict[str, str]) -> Dict[str, str]:
    """``a`` against ``b`` on the Parzen score, read only when ``b`` (the baseline) meets the bar in every seed."""
    if not bars[b] or not all(bar["meets_bar"] for bar in bars[b]):
        why = "could not be checked" if not bars[b] else "does not meet the faces bar in every seed"
        return {"verdict": "not compared", "phrase": f"{names[b]} is not compared with {names[a]}: it {why}"}
    return {"verdict": verdict(parzen[a].tolist(), parzen[b].tolist()),
            "phrase": compare_phrase(names[a], parzen[a].tolist(), names[b], parzen[b].tolist())}


def plot_faces(result: FacesResult) -> Figure:
    """Top: test faces and their nearest samples per method; bottom: GAN samples, IML samples by component."""
    import matplotlib.pyplot as plt

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
          description="Table 1 (CelebA column) and Fig. 5 on faces: Parzen scores, nearest neighbours, samples, "
                      "the faces bar and a small GAN sweep")
def run_faces(cfg: FacesConfig) -> FacesResult:
    """The GAN sweep, then IML, VAE and GAN over seeds: Parzen scores, nearest neighbours, the faces bar."""
    x_train, x_valid, x_test = _splits(cfg.dataset)
    d = int(np.prod(x_train.shape[1:]))
    bar = _FacesBar(cfg, x_train, x_valid, x_test)
    sweep = _gan_sweep(cfg, x_train, bar)
    steps = {"IML": cfg.ae_steps, "VAE": cfg.vae_steps, "GAN": cfg.gan_steps}
    parzen = {m: np.zeros(cfg.n_seeds) for m in FACE_METHODS}
    released = {m: np.zeros(cfg.n_seeds) for m in FACE_METHODS}
    nearest = {m: np.zeros(cfg.n_seeds) for m in FACE_METHODS}
    bars: Dict[str, List[Dict[str, Any]]] = {m: [] for m in FACE_METHODS}
    _prefit_baselines([(x_train, FACE_METHODS, cfg.latent_dim, cfg.hidden, cfg.n_components, cfg.covariance_type,
                        steps, cfg.batch_size, cfg.lr, cfg.gan_lr, cfg.seed + j, cfg.gan_disc_hidden)
                       for j in range(cfg.n_seeds)])
    for j in range(cfg.n_seeds):
        seed = cfg.seed + j
        models = {name: model for name, model, _ in _fit_baselines(
            x_train, FACE_METHODS, cfg.latent_dim, cfg.hidden, cfg.n_components, cfg.covariance_type, steps,
            cfg.batch_size, cfg.lr, cfg.gan_lr, seed, cfg.gan_disc_hidden)}
        pools = _sample_pools(models, FACE_METHODS, cfg.n_samples, tuple(x_train.shape[1:]), seed)
        for m in FACE_METHODS:
            parzen[m][j], released[m][j], _ = _parzen_scores(pools[m].reshape(-1, d), x_valid.reshape(-1, d),
                                                             x_test.reshape(-1, d), cfg.released_sigma)
            nearest[m][j] = float(nearest_samples(x_test, pools[m])[1].mean())
            if bar.active:
                bars[m].append(bar(pools[m]))
        if j == 0:
            queries = x_test[:8]
            neighbours = {m: nearest_samples(queries, pools[m])[0].cpu().numpy() for m in FACE_METHODS}
            gan_samples = pools["GAN"][:36].cpu().numpy()
            components = _component_samples(models["IML"], cfg.n_per_component)
    metrics = _faces_metrics(cfg, x_train, x_valid, x_test, parzen, released, nearest, bars, bar, sweep)
    return FacesResult(queries.cpu().numpy(), neighbours, gan_samples, components, parzen, bars, sweep, metrics)


def _faces_metrics(cfg: FacesConfig, x_train: torch.Tensor, x_valid: torch.Tensor, x_test: torch.Tensor,
                   parzen: Dict[str, np.ndarray], released: Dict[str, np.ndarray], nearest: Dict[str, np.ndarray],
                   bars: Dict[str, List[Dict[str, Any]]], bar: _FacesBar, sweep: List[Dict[str, Any]]
                   ) -> Dict[str, Any]:
    """Means and spreads over seeds, the bar per method (seeds meeting it), the sweep and the claims' verdicts."""
    d = int(np.prod(x_train.shape[1:]))
    g = torch.Generator().manual_seed(cfg.seed)
    ref = x_train[torch.randperm(len(x_train), generator=g).to(x_train.device)].reshape(-1, d)
    ref_parzen, ref_released, _ = _parzen_scores(ref, x_valid.reshape(-1, d), x_test.reshape(-1, d), cfg.released_sigma)
    names = {"IML": "IML", "VAE": "the VAE", "GAN": "the GAN"}
    claims = {f"{a}_vs_{b}": _compare(parzen, bars, a, b, names) for a, b in FACE_CLAIMS}
    keys = ("frechet_ratio", "tv_ratio", "copy_ratio")
    return {
        "parzen": {m: mean_std(parzen[m].tolist()) for m in FACE_METHODS},
        "released_convention": {m: mean_std(released[m].tolist()) for m in FACE_METHODS},
        "parzen_per_seed": {m: parzen[m].tolist() for m in FACE_METHODS},
        "nearest_distance": {m: mean_std(nearest[m].tolist()) for m in FACE_METHODS},
        "bar": {m: ({"meets_bar_seeds": int(sum(b["meets_bar"] for b in bars[m])),
                     **{k: mean_std([b[k] for b in bars[m]]) for k in keys}} if bars[m] else None)
                for m in FACE_METHODS},
        "bar_references": bar.references if bar.active else None,
        "gan_meets_bar_seeds": int(sum(b["meets_bar"] for b in bars["GAN"])),
        "gan_sweep": [{k: r[k] for k in ("lr", "disc_hidden", "steps", *keys, "meets_bar")} for r in sweep],
        "claims": {k: v["verdict"] for k, v in claims.items()},
        "claim_phrases": {k: v["phrase"] for k, v in claims.items()},
        "training_faces_as_samples": {"parzen": ref_parzen, "released": ref_released},
        "paper_celeba": {"IML": -8183.0, "VAE": -10941.0, "GAN": -11879.0},
        "n_seeds": cfg.n_seeds,
        "n_samples": cfg.n_samples,
    }


def faces_bar_table(result: FacesResult) -> pd.DataFrame:
    """Per method: the faces bar's three ratios (mean ± std over seeds) and the seeds meeting it."""
    import pandas as pd

    rows = []
    for m, per_seed in result.bars.items():
        def spread(key: str) -> str:
            return format_spread(summarize([b[key] for b in per_seed]))

        rows.append({"method": m, "Fréchet / held-out's (≤ 2)": spread("frechet_ratio"),
                     "total variation / held-out's (≤ 2)": spread("tv_ratio"),
                     "nearest training face / held-out's (≥ 0.5)": spread("copy_ratio"),
                     "meets the bar": f"{sum(b['meets_bar'] for b in per_seed)} of {len(per_seed)} seeds"})
    return pd.DataFrame(rows).set_index("method")


def faces_sweep_table(result: FacesResult) -> pd.DataFrame:
    """The GAN sweep: one row per setting, its three ratios and whether it meets the bar."""
    import pandas as pd

    return pd.DataFrame([{"learning rate": r["lr"], "discriminator width": r["disc_hidden"], "steps": r["steps"],
                          "Fréchet / held-out's": round(r["frechet_ratio"], 2),
                          "total variation / held-out's": round(r["tv_ratio"], 2),
                          "nearest training face / held-out's": round(r["copy_ratio"], 2),
                          "meets the bar": "yes" if r["meets_bar"] else "no"} for r in result.sweep])
