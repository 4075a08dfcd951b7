"""Autoencoders made generative by an LDE on their codes: AE vs IAE (Sec. 4.2, Figs. 1 and 6).

* ``latent_density/interpolation`` — Sec. 4.2 / App. B: AE vs IAE on digits and faces;
  interpolations within and across domains and the LDE log-likelihood along the path.
* ``latent_density/faces`` — Fig. 1 / Fig. 6 on ``faces``: AE, IAE and AAE reconstructions of
  test faces, and samples of AE + LDE, IAE + LDE and the AAE.

:class:`AutoencoderLDEConfig` holds the fields of every experiment that trains an
autoencoder and then an LDE on its codes (these two and the Parzen experiments of
:mod:`companion.experiments.latent_density_parzen`). The chapter imports the experiments
from :mod:`companion.experiments.latent_density`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Dict, List, Tuple

import numpy as np
import torch
from torch.nn import functional as F

import companion
from companion import data
from companion.checks import check_nonnegative_int, check_positive_int
from companion.config import ExperimentConfig
from companion.evidence import verdict
from companion.experiments.latent_density_estimators import _lde, seed_runs
from companion.hybrids import VAEGANHybrid, fit_hybrid
from companion.lde import fit_incremental_autoencoder, fit_lde, make_autoencoder
from companion.metrics import total_variation
from companion.plots import image_grid
from companion.reproduce import register
from companion.workers import map_in_workers

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib
    from matplotlib.figure import Figure


@dataclasses.dataclass
class AutoencoderLDEConfig(ExperimentConfig):
    """An autoencoder (``ae_*``) with a code of ``latent_dim``, then an LDE (``lde_*``) fitted
    to its training codes (book-scale defaults)."""

    latent_dim: int = 16
    ae_hidden: int = 256
    ae_steps: int = 1200
    ae_batch_size: int = 128
    lde_components: int = 30
    lde_channels: int = 32
    lde_steps: int = 400
    lde_batch_size: int = 256
    lde_lr: float = 3e-3
    seed: int = 0


def _train_ae(x: torch.Tensor, latent_dim: int, incremental: bool, cfg: AutoencoderLDEConfig, desc: str):
    """An (incremental) autoencoder on ``x``."""
    ae = make_autoencoder(tuple(x.shape[1:]), latent_dim, incremental=incremental, hidden=cfg.ae_hidden).to(
        companion.device()
    )
    fit_incremental_autoencoder(ae, x, n_steps=cfg.ae_steps, batch_size=cfg.ae_batch_size, desc=desc)
    return ae


def _train_ae_and_lde(x: torch.Tensor, latent_dim: int, incremental: bool,
                      cfg: AutoencoderLDEConfig, desc: str):
    """An (incremental) autoencoder on ``x``, then an LDE on its training codes."""
    ae = _train_ae(x, latent_dim, incremental, cfg, desc)
    with torch.no_grad():
        codes = ae.encode(x.to(companion.device()))
    lde = _lde(latent_dim, cfg.lde_components, cfg.lde_channels, 1)
    fit_lde(
        lde, codes, n_steps=cfg.lde_steps, batch_size=cfg.lde_batch_size, lr=cfg.lde_lr, desc=f"LDE on {desc} codes"
    )
    return ae, lde


def _fit_aae(x: torch.Tensor, latent_dim: int, hidden: int, n_steps: int, batch_size: int, seed: int):
    """The adversarial autoencoder of :mod:`companion.hybrids` (Makhzani et al.), the paper's AAE baseline."""
    companion.seed_everything(seed)
    aae = VAEGANHybrid(tuple(x.shape[1:]), latent_dim, kind="aae", hidden=hidden).to(companion.device())
    fit_hybrid(aae, x.to(companion.device()), n_steps=n_steps, batch_size=batch_size, desc="AAE")
    return aae


# ============================================================================ 3. interpolation (Sec. 4.2)


@dataclasses.dataclass
class InterpolationConfig(AutoencoderLDEConfig):
    """Sec. 4.2 / App. B: AE vs IAE on two domains (digits and faces at 16x16), each trained from
    ``n_seeds`` seeds (``seed``, ``seed + 1``, ...)."""

    size: int = 16
    n_pairs: int = 20
    n_alphas: int = 11
    n_seeds: int = 5
    SCALES = {
        "smoke": {"ae_steps": 40, "lde_steps": 20, "n_pairs": 4, "lde_components": 5, "n_seeds": 3},
        "paper": {"latent_dim": 100, "ae_steps": 30_000, "lde_steps": 20_000, "lde_lr": 2e-4, "n_pairs": 100},
    }


#: The two autoencoders of ``latent_density/interpolation`` and whether each is incremental.
INTERPOLATION_MODELS = (("AE", False), ("IAE", True))
#: The two kinds of path: between two test digits, and from a test digit to a test face.
INTERPOLATION_PATHS = ("within", "across")


@dataclasses.dataclass
class InterpolationResult:
    """What :func:`run_interpolation` returns: the LDE log-likelihood (nats) along the paths, every seed's numbers.

    ``alphas`` ``(n_alphas,)`` run from 0 to 1; the dicts are keyed ``"<model>/<path>"`` (``"AE/within"``, ...).
    A row of ``images`` is the first seed's: a test image, 6 decoded points of the path, the other end.
    """

    alphas: np.ndarray
    images: Dict[str, np.ndarray]  # "AE/within" -> (n_alphas_shown, 1, H, W), the first seed's
    path_ll: Dict[str, np.ndarray]  # "AE/within" -> mean LDE log-likelihood per alpha, mean over seeds
    metrics: Dict[str, object]  # means over seeds and the verdicts
    runs: Dict[str, List[float]] = dataclasses.field(default_factory=dict)  # "dip/AE/across" -> one per seed
    path_ll_runs: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # "AE/within" -> (seeds, alphas)


def _two_domains(size: int, split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    def resize(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)

    return resize(data.load("digits", split)), resize(data.load("faces", split))


def path_dip(path_ll: np.ndarray) -> float:
    """How far the log-likelihood in the middle of a path (``alpha = 0.5``, the middle entry of an
    odd number of alphas) lies below the mean of its two ends: ``ll(mid) - (ll(0) + ll(1)) / 2``.

    Raises:
        ValueError: unless ``path_ll`` is one-dimensional with an odd number (at least 3) of finite values.
    """
    values = np.asarray(path_ll, dtype=float)
    if values.ndim != 1 or values.size < 3 or values.size % 2 == 0 or not np.isfinite(values).all():
        raise ValueError(f"path_ll must hold an odd number (>= 3) of finite values, one per alpha; got {path_ll!r}")
    return float(values[values.size // 2] - (values[0] + values[-1]) / 2)


def _interpolation_fit(cfg: InterpolationConfig, x: torch.Tensor, test_digits: torch.Tensor,
                       test_faces: torch.Tensor, seed: int, name: str
                       ) -> Tuple[Dict[str, float], Dict[str, np.ndarray], Dict[str, np.ndarray]]:
    """One model of one seed of ``latent_density/interpolation`` (a job of
    :func:`companion.workers.map_in_workers`): the seed's own test pairs, the AE or IAE ``name`` (+ LDE)
    trained after ``seed_everything(seed)``; its test error, the log-likelihood along each path and the
    decoded rows of the figure."""
    companion.seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    n = cfg.n_pairs
    pick = lambda m: torch.randint(0, m, (n,), generator=generator)  # noqa: E731
    pairs = {
        "within": (test_digits[pick(len(test_digits))], test_digits[pick(len(test_digits))]),
        "across": (test_digits[pick(len(test_digits))], test_faces[pick(len(test_faces))]),
    }
    alphas = np.linspace(0, 1, cfg.n_alphas)
    shown = np.linspace(0, 1, 6)
    device = companion.device()
    scores: Dict[str, float] = {}
    paths: Dict[str, np.ndarray] = {}
    images: Dict[str, np.ndarray] = {}
    ae, lde = _train_ae_and_lde(x, cfg.latent_dim, dict(INTERPOLATION_MODELS)[name], cfg, name)
    with torch.no_grad():
        test_all = torch.cat([test_digits, test_faces]).to(device)
        scores[f"test_mse/{name}"] = float(F.mse_loss(ae(test_all), test_all))
        for kind, (a, b) in pairs.items():
            za, zb = ae.encode(a.to(device)), ae.encode(b.to(device))
            path = np.asarray([lde.log_prob((1 - t) * za + t * zb).mean().item() for t in alphas])
            paths[f"{name}/{kind}"] = path
            scores[f"dip/{name}/{kind}"] = path_dip(path)
            row = [ae.decode((1 - t) * za[:1] + t * zb[:1]) for t in shown]
            images[f"{name}/{kind}"] = torch.cat([a[:1].to(device)] + row + [b[:1].to(device)]).cpu().numpy()
    return scores, paths, images


@register("latent_density/interpolation", config=InterpolationConfig, plot=lambda r: plot_interpolation(r),
          description="Sec. 4.2 / App. B: AE vs IAE interpolations within and across domains, LDE log-likelihood")
def run_interpolation(cfg: InterpolationConfig) -> InterpolationResult:
    """Train AE and IAE (+ LDE) on digits and faces for ``n_seeds`` seeds; interpolate between test codes.

    Each seed draws its own ``n_pairs`` test pairs per kind of path (two digits; a digit and a
    face), trains both autoencoders and their LDEs, and reads the mean LDE log-likelihood of
    ``z_alpha`` along the paths. Each model of each seed seeds itself and runs as an independent job in
    worker processes (:func:`companion.workers.map_in_workers`: ten jobs keep two workers busier to the end
    than five), so the numbers are the same with one worker or two.

    Metrics (means over seeds): ``test_mse/<model>`` (per pixel, test digits and faces),
    ``dip/<model>/<path>`` (:func:`path_dip`), and ``verdict/dip across < within/<model>``: the
    paired bootstrap verdict (:func:`companion.evidence.verdict`, seeds paired, as both paths of a
    seed go through the same model) on the paper's claim that the middle of a path across domains
    lies further below its ends than the middle of a path within a domain. ``runs`` keeps every
    seed's value; the pictures are the first seed's.

    Raises:
        ValueError: for ``n_seeds`` < 1, a negative ``seed``, ``n_pairs`` < 1 or fewer than 3 or an
            even number of ``n_alphas`` (the middle of the path must be one of them).
    """
    check_positive_int(cfg.n_seeds, "n_seeds")
    check_nonnegative_int(cfg.seed, "seed")
    check_positive_int(cfg.n_pairs, "n_pairs")
    if not isinstance(cfg.n_alphas, int) or cfg.n_alphas < 3 or cfg.n_alphas % 2 == 0:
        raise ValueError(f"n_alphas must be an odd int >= 3 (alpha = 0.5 is the middle one); got {cfg.n_alphas!r}")
    digits, faces = _two_domains(cfg.size, "train")
    # the faces are few (70): repeat them so that both domains weigh about the same
    x = torch.cat([digits, faces.repeat(max(1, len(digits) // (2 * len(faces))), 1, 1, 1)])
    test_digits, test_faces = _two_domains(cfg.size, "test")
    seeds = [cfg.seed + i for i in range(cfg.n_seeds)]
    jobs = [(seed, name) for name, _ in INTERPOLATION_MODELS for seed in seeds]
    fits = dict(zip(jobs, map_in_workers(functools.partial(_interpolation_fit, cfg, x, test_digits, test_faces),
                                         jobs)))
    # per seed, the models' scores, paths and rows together, in the order of INTERPOLATION_MODELS
    per_seed = [tuple({key: value for name, _ in INTERPOLATION_MODELS for key, value in fits[seed, name][part].items()}
                      for part in range(3)) for seed in seeds]
    runs = seed_runs([scores for scores, _, _ in per_seed])
    path_ll_runs = {key: np.stack([paths[key] for _, paths, _ in per_seed]) for key in per_seed[0][1]}
    metrics: Dict[str, object] = {key: float(np.mean(values)) for key, values in runs.items()}
    for name, _ in INTERPOLATION_MODELS:
        metrics[f"verdict/dip across < within/{name}"] = verdict(
            runs[f"dip/{name}/across"], runs[f"dip/{name}/within"], higher_is_better=False, paired=True)
    metrics["n_seeds"] = float(cfg.n_seeds)
    path_ll = {key: values.mean(axis=0) for key, values in path_ll_runs.items()}
    return InterpolationResult(np.linspace(0, 1, cfg.n_alphas), per_seed[0][2], path_ll, metrics, runs,
                               path_ll_runs)


def plot_interpolation(result: InterpolationResult) -> Figure:
    """Left: originals at both ends, decoded interpolations between; right: LDE log-likelihood along the path."""
    import matplotlib.pyplot as plt

    keys = list(result.images)
    fig = plt.figure(figsize=(11, 1.3 * len(keys) + 0.6))
    grid = fig.add_gridspec(len(keys), 2, width_ratios=[1.6, 1])
    for row, key in enumerate(keys):
        ax = fig.add_subplot(grid[row, 0])
        image_grid(result.images[key], nrow=len(result.images[key]), ax=ax)
        ax.set_title(f"{key}: original, decoded z_alpha for alpha = 0, 0.2, ..., 1, original (first seed)",
                     loc="left", fontsize=9)
    ax = fig.add_subplot(grid[:, 1])
    for key, values in result.path_ll.items():
        line, = ax.plot(result.alphas, values, marker="o", ms=3, label=key, ls="-" if key.endswith("within") else "--")
        seeds = result.path_ll_runs.get(key)
        if seeds is not None and len(seeds) > 1:  # one standard deviation over the seeds
            spread = seeds.std(axis=0, ddof=1)
            ax.fill_between(result.alphas, values - spread, values + spread, color=line.get_color(), alpha=0.15)
    ax.set_xlabel(r"$\alpha$ in $z_\alpha = (1-\alpha) z_0 + \alpha z_1$")
    n_seeds = len(next(iter(result.path_ll_runs.values()), [None]))
    ax.set_ylabel("LDE log-likelihood of $z_\\alpha$" + (f" (mean ± std, {n_seeds} seeds)" if n_seeds > 1 else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ============================================================================ 6. faces (Fig. 1, Fig. 6)


@dataclasses.dataclass
class FacesConfig(AutoencoderLDEConfig):
    """Fig. 1 and Fig. 6 on ``faces`` (70 training faces, 25x25): AE, IAE and AAE
    reconstructions of test faces, and samples of AE + LDE, IAE + LDE and the AAE."""

    ae_steps: int = 800  # 70 faces: a shorter run in smaller batches
    ae_batch_size: int = 32
    lde_components: int = 10
    lde_steps: int = 300
    lde_batch_size: int = 64
    aae_steps: int = 800
    n_show: int = 8
    n_seeds: int = 5
    SCALES = {
        "smoke": {"latent_dim": 4, "ae_hidden": 32, "ae_steps": 20, "lde_steps": 10, "lde_components": 3,
                  "aae_steps": 20, "n_show": 4, "n_seeds": 2},
        "paper": {"latent_dim": 100, "ae_steps": 30_000, "lde_steps": 20_000, "lde_lr": 2e-4, "aae_steps": 30_000},
    }


@dataclasses.dataclass
class FacesResult:
    """What :func:`run_faces` returns: the first seed's test faces, reconstructions and samples (arrays on the
    CPU), and every seed's ``test_mse/<model>`` and ``sharpness/<model>`` (``runs``; ``metrics``: their means)."""

    test_faces: np.ndarray  # (n_show, 1, 25, 25)
    reconstructions: Dict[str, np.ndarray]  # "AE" / "IAE" / "AAE" -> (n_show, 1, 25, 25)
    samples: Dict[str, np.ndarray]  # "AE + LDE" / "IAE + LDE" / "AAE" -> (2 n_show, 1, 25, 25)
    metrics: Dict[str, object]  # means over seeds and the verdicts
    runs: Dict[str, List[float]] = dataclasses.field(default_factory=dict)  # "sharpness/AAE" -> one per seed


def _faces_fit(cfg: FacesConfig, train: torch.Tensor, test: torch.Tensor, i: int,
               name: str) -> Tuple[Dict[str, float], Dict[str, np.ndarray], Dict[str, np.ndarray]]:
    """One model (``"AE"``, ``"IAE"`` or ``"AAE"``) of the ``i``-th seed of ``latent_density/faces``, trained
    on ``train`` after ``seed_everything(seed)``: its scores on ``test`` and ``n_show`` reconstructions; in
    the first seed also its samples for the figure (the AE and IAE through an LDE fitted to their codes)."""
    seed = cfg.seed + i
    companion.seed_everything(seed)
    samples = {}
    if name == "AAE":
        aae = _fit_aae(train, cfg.latent_dim, cfg.ae_hidden, cfg.aae_steps, cfg.ae_batch_size, seed)
        with torch.no_grad():
            out = aae.decode(aae.encode(test)[0])  # the posterior mean's decoding
            if i == 0:
                samples["AAE"] = aae.sample(2 * cfg.n_show).cpu().numpy()
    else:
        incremental = name == "IAE"
        if i == 0:
            ae, lde = _train_ae_and_lde(train, cfg.latent_dim, incremental, cfg, name)
            with torch.no_grad():
                samples[f"{name} + LDE"] = ae.decode(lde.sample(2 * cfg.n_show)).clamp(0, 1).cpu().numpy()
        else:
            ae = _train_ae(train, cfg.latent_dim, incremental, cfg, name)
        with torch.no_grad():
            out = ae(test).clamp(0, 1)
    scores = {f"test_mse/{name}": float(F.mse_loss(out, test)), f"sharpness/{name}": total_variation(out)}
    return scores, {name: out[: cfg.n_show].cpu().numpy()}, samples


@register("latent_density/faces", config=FacesConfig, plot=lambda r: plot_faces(r),
          description="Fig. 1 / Fig. 6 on faces: AE, IAE, AAE reconstructions and AE+LDE, IAE+LDE, AAE samples")
def run_faces(cfg: FacesConfig) -> FacesResult:
    """Train AE, IAE and an AAE on the training faces for ``n_seeds`` seeds; reconstruct test faces; the
    first seed also fits an LDE to the AE and IAE codes and draws the samples of the figure. Each model of each
    seed seeds itself, so they run as independent jobs in worker processes (:func:`companion.workers.map_in_workers`).

    Metrics: ``test_mse/<model>`` (per pixel) and ``sharpness/<model>``, the mean absolute
    difference of neighbouring pixels of the reconstructions (blur lowers it), means over seeds
    (``runs`` holds one value per seed), beside that of the test faces themselves
    (``sharpness/data``), and the verdicts on "the AAE is blurrier than the AE / the IAE".
    """
    device = companion.device()
    train, test = data.load("faces", "train"), data.load("faces", "test").to(device)
    names = ("AE", "IAE", "AAE")
    jobs = [(i, name) for name in names for i in range(cfg.n_seeds)]
    fits = dict(zip(jobs, map_in_workers(functools.partial(_faces_fit, cfg, train, test), jobs)))
    # per seed, the models' scores, reconstructions and samples together, in the order of names
    per_seed = [tuple({key: value for name in names for key, value in fits[i, name][part].items()}
                      for part in range(3)) for i in range(cfg.n_seeds)]
    runs = seed_runs([scores for scores, _, _ in per_seed])
    _, recon, samples = per_seed[0]
    metrics: Dict[str, object] = {key: float(np.mean(values)) for key, values in runs.items()}
    metrics["sharpness/data"] = total_variation(test)
    for other in ("AE", "IAE"):  # "the AAE is blurrier": its sharpness is the lower one
        metrics[f"verdict/sharpness AAE < {other}"] = verdict(runs["sharpness/AAE"], runs[f"sharpness/{other}"],
                                                             higher_is_better=False)
    return FacesResult(test[: cfg.n_show].cpu().numpy(), recon, samples, metrics, runs)


def plot_faces(result: FacesResult) -> Figure:
    """Left: test faces and their AE, IAE, AAE reconstructions (Fig. 6); right: samples per model (Fig. 1)."""
    import matplotlib.pyplot as plt

    n = len(result.test_faces)
    fig = plt.figure(figsize=(13, 4.2))
    grid = fig.add_gridspec(1, 1 + len(result.samples), width_ratios=[2] + [1] * len(result.samples))
    rows = np.concatenate([result.test_faces] + list(result.reconstructions.values()))
    m = result.metrics
    image_grid(
        rows,
        nrow=n,
        ax=fig.add_subplot(grid[0, 0]),
        title="rows: test faces, " + ", ".join(f"{k} (MSE {m[f'test_mse/{k}']:.4f})" for k in result.reconstructions),
    )
    for j, (name, images) in enumerate(result.samples.items()):
        image_grid(images, nrow=4, ax=fig.add_subplot(grid[0, 1 + j]), title=f"samples: {name}")
    fig.tight_layout()
    return fig
