"""Experiments of the primer chapter (``book/preliminaries.md``) on the ring, after Lucas (2020), ch. 2.

* ``preliminaries/realnvp_ring`` — a Real-NVP fitted by maximum likelihood on the 8-Gaussian
  ring: its density, its samples, its held-out log-likelihood beside a single Gaussian and
  the true mixture, and its mode coverage.
* ``preliminaries/flow_grid`` — thesis Fig. 2.5: a regular grid pushed through the ring's
  Real-NVP, data to latent and latent to data.

The reference densities of the ring (:func:`ring_log_prob`, :func:`gaussian_fit_log_prob`) and
its figure helpers live here too. The chapter's other experiments have a module each:
``preliminaries_gans.py`` (the GAN on the ring, the GAN on digits and the quality bar),
``preliminaries_vae.py`` (the VAE on digits), ``preliminaries_evaluation.py`` (Parzen windows,
the Fréchet distance of real subsets); its exercise checks are in ``preliminaries_exercises.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Tuple

import numpy as np
import torch

import companion
from companion.checks import check_int, check_tensor
from companion.config import ExperimentConfig
from companion.data import load, toy_centers, toy_std
from companion.flows import RealNVP, fit_flow
from companion.metrics import mode_coverage
from companion.plots import density_2d, scatter_2d, set_style
from companion.reproduce import register
from companion.train import cosine_schedule

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FlowGridConfig",
    "FlowGridResult",
    "LOG_DENSITY_FLOOR",
    "RING_BOUNDS",
    "RealNVPRingConfig",
    "RealNVPRingResult",
    "RingConfig",
    "flow_grid_from",
    "gaussian_fit_log_prob",
    "plot_flow_grid",
    "plot_realnvp_ring",
    "ring_log_prob",
    "run_flow_grid",
    "run_realnvp_ring",
]

#: The square drawn in the ring figures: the unit circle with a margin.
RING_BOUNDS = 1.5
#: The floor of the log-density drawn in the flow figure (nats).
LOG_DENSITY_FLOOR = -6.0


# ========================================================================================
# Reference densities for the ring
# ========================================================================================


def ring_log_prob(x: torch.Tensor) -> torch.Tensor:
    """The exact log-density (nats) of the ``ring`` mixture at the rows of ``x`` ``(N, 2)``.

    Eight equally weighted isotropic Gaussians with std :func:`companion.data.toy_std`
    centred on :func:`companion.data.toy_centers`: the best held-out log-likelihood any
    model of the ring can reach on average.
    """
    x = _check_points(x, "x")
    dtype = torch.float32 if x.device.type == "mps" else torch.float64  # MPS has no float64
    centers = toy_centers("ring").to(x.device, dtype)
    var = toy_std("ring") ** 2
    # explicit differences, not torch.cdist: its matrix-product shortcut loses the small
    # squared distances (~var = 1e-4) that decide the density near a mode
    sq = (x.to(dtype)[:, None, :] - centers[None]).pow(2).sum(dim=-1)
    log_comp = -sq / (2 * var) - math.log(2 * math.pi * var)
    return (torch.logsumexp(log_comp, dim=1) - math.log(centers.shape[0])).to(x.dtype)


def gaussian_fit_log_prob(train: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Log-density (nats) at the rows of ``x`` of the maximum-likelihood Gaussian of ``train``.

    The baseline "model" of the flow experiment: one full-covariance Gaussian, fitted in
    closed form (sample mean and biased covariance).
    """
    train = _check_points(train, "train")
    x = _check_points(x, "x")
    if train.shape[1] != x.shape[1] or train.shape[0] < 2:
        raise ValueError(f"train must have >= 2 rows and the width of x; got {tuple(train.shape)} and {tuple(x.shape)}")
    train64, x64 = train.double(), x.double().to(train.device)
    mean = train64.mean(dim=0)
    cov = torch.cov(train64.T, correction=0)
    dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
    return dist.log_prob(x64).to(x.dtype)


def _check_points(x: object, name: str) -> torch.Tensor:
    """``x`` if it is a finite floating-point ``(N, d)`` tensor with ``N >= 1``."""
    check_tensor(x, name, shape=(None, None))
    if x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, d) with N >= 1; got {tuple(x.shape)}")
    return x


# ========================================================================================
# 1. Real-NVP on the ring
# ========================================================================================


@dataclass
class RingConfig(ExperimentConfig):
    """What the experiments on ``ring`` share: their minibatch size, the sample size of the
    mode-coverage protocol (:func:`companion.metrics.mode_coverage`) and the seed."""

    batch_size: int = 256
    n_samples: int = 2500  # the mode-coverage protocol's sample size
    seed: int = 0


@dataclass
class RealNVPRingConfig(RingConfig):
    """A Real-NVP on ``ring`` (book-scale defaults)."""

    n_blocks: int = 8
    hidden: int = 64
    n_layers: int = 2
    n_steps: int = 1200
    lr: float = 2e-3
    resolution: int = 150
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {"n_blocks": 4, "hidden": 32, "n_steps": 150, "resolution": 60},
        "paper": {"n_blocks": 12, "hidden": 256, "n_steps": 20_000, "resolution": 300},
    }


@dataclass
class RealNVPRingResult:
    """What :func:`run_realnvp_ring` returns (arrays on the CPU)."""

    flow: Any
    train: np.ndarray
    samples: np.ndarray
    loss: List[float]
    metrics: Dict[str, float] = field(default_factory=dict)


def _square(ax: Axes) -> None:
    """Show the square [-RING_BOUNDS, RING_BOUNDS]^2 with equal axes."""
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlim(-RING_BOUNDS, RING_BOUNDS)
    ax.set_ylim(-RING_BOUNDS, RING_BOUNDS)


def _ring_quality(samples: torch.Tensor) -> Tuple[int, float]:
    return mode_coverage(samples, toy_centers("ring"), toy_std("ring"))


def plot_realnvp_ring(result: RealNVPRingResult) -> Figure:
    """Training data, the flow's log-density and its samples, side by side."""
    import matplotlib.pyplot as plt

    set_style()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    centers = toy_centers("ring")
    scatter_2d(result.train[:2500], ax=axes[0], centers=centers, title="data (train split)")
    flow_device = next(result.flow.parameters()).device
    # clipped below: far from the ring the log-density plunges and would flatten the colours
    density_2d(lambda x: result.flow.log_prob(x).clamp(min=LOG_DENSITY_FLOOR), RING_BOUNDS, ax=axes[1],
               log=True, resolution=int(result.metrics.get("resolution", 150)), device=flow_device,
               title=f"Real-NVP log-density (clipped at {LOG_DENSITY_FLOOR:g})")
    m = result.metrics
    scatter_2d(result.samples, ax=axes[2], centers=centers, color="C1",
               title=f"samples: {m['modes_covered']}/8 modes, {100 * m['high_quality_fraction']:.0f}% high quality")
    for ax in axes:
        _square(ax)
    fig.tight_layout()
    return fig


@register("preliminaries/realnvp_ring", config=RealNVPRingConfig, plot=plot_realnvp_ring,
          description="Real-NVP on the ring: density, samples, held-out log-likelihood, mode coverage")
def run_realnvp_ring(cfg: RealNVPRingConfig) -> RealNVPRingResult:
    """Fit a Real-NVP on ``ring`` and score it on the test split.

    Metrics (nats per point, test split): ``test_log_likelihood`` of the flow,
    ``gaussian_test_log_likelihood`` of the best single Gaussian, ``true_test_log_likelihood``
    of the data's own mixture density (the ceiling), and the mode coverage of
    ``n_samples`` flow samples (``modes_covered`` out of 8, ``high_quality_fraction``).
    """
    companion.seed_everything(cfg.seed)
    dev = companion.device()
    train, test = load("ring", "train").to(dev), load("ring", "test").to(dev)
    flow = RealNVP((2,), n_blocks=cfg.n_blocks, hidden=cfg.hidden, n_layers=cfg.n_layers).to(dev)
    history = fit_flow(flow, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                       scheduler=cosine_schedule(cfg.n_steps), desc="Real-NVP (ring)",
                       shard=True)  # under torchrun: this process's share of each batch, DDP averages the gradients
    flow.eval()
    with torch.no_grad():
        test_ll = float(flow.log_prob(test).mean())
        samples = flow.sample(cfg.n_samples)
    modes, quality = _ring_quality(samples)
    metrics = {
        "test_log_likelihood": test_ll,
        "gaussian_test_log_likelihood": float(gaussian_fit_log_prob(train, test).mean()),
        "true_test_log_likelihood": float(ring_log_prob(test).mean()),
        "modes_covered": modes,
        "high_quality_fraction": quality,
        "final_train_nll": history.last("nll", 10),
        "resolution": cfg.resolution,
    }
    return RealNVPRingResult(flow=flow, train=train.cpu().numpy(), samples=samples.cpu().numpy(),
                             loss=list(history["nll"]), metrics=metrics)


# ========================================================================================
# 2. Thesis Fig. 2.5: the flow distorts the space
# ========================================================================================


@dataclass
class FlowGridConfig(RealNVPRingConfig):
    """Fig. 2.5 of the thesis: a regular grid pushed through the Real-NVP of the ring, both ways.

    The flow is the one of ``preliminaries/realnvp_ring`` (same fields, same scales); the
    grid has ``n_lines`` lines per direction, each drawn with ``n_points`` points.
    """

    n_lines: int = 17
    n_points: int = 300


@dataclass
class FlowGridResult:
    """What :func:`flow_grid_from` (and :func:`run_flow_grid`) returns (arrays on the CPU): the grid lines
    ``(2 * n_lines, n_points, 2)`` in each space, the training points ``(N, 2)`` and their images in latent space,
    and ``metrics["stretch_ratio"]``, the largest over the smallest area scale ``|det df/dx|`` on the data grid."""

    data_lines: np.ndarray  # (2 * n_lines, n_points, 2): a regular grid in data space
    data_lines_to_latent: np.ndarray  # the same lines mapped by f: data -> latent
    latent_lines: np.ndarray  # a regular grid in latent space, [-3, 3]^2
    latent_lines_to_data: np.ndarray  # the same lines mapped by f^-1: latent -> data
    train: np.ndarray
    train_to_latent: np.ndarray
    metrics: Dict[str, float] = field(default_factory=dict)


def _grid_lines(half_width: float, n_lines: int, n_points: int) -> torch.Tensor:
    ticks = torch.linspace(-half_width, half_width, n_lines)
    along = torch.linspace(-half_width, half_width, n_points)
    vertical = torch.stack([ticks[:, None].expand(n_lines, n_points), along[None].expand(n_lines, n_points)], -1)
    return torch.cat([vertical, vertical.flip(-1)])  # (2 * n_lines, n_points, 2)


@torch.no_grad()
def flow_grid_from(flow: Any, train: np.ndarray, n_lines: int = 17, n_points: int = 300) -> FlowGridResult:
    """Push a regular grid through a trained 2-D flow: data grid -> latent, latent grid -> data.

    Args:
        flow: a 2-D flow with ``forward(x) -> (y, logdet)`` and ``inverse(y)`` (a
            :class:`companion.flows.RealNVP` on ``(2,)``).
        train: the training points (N, 2), also mapped to the latent space.
        n_lines, n_points: lines per direction and points per line (``>= 2`` each).

    Metrics: ``stretch_ratio``, the ratio of the largest to the smallest local area scale
    ``|det df/dx|`` over the data grid's points, a number for how unevenly the flow distorts.
    """
    check_int(n_lines, "n_lines", 2)
    check_int(n_points, "n_points", 2)
    train = np.asarray(train, dtype=np.float32)
    if train.ndim != 2 or train.shape[1] != 2:
        raise ValueError(f"train must be (N, 2) points; got shape {train.shape}")
    dev = next(flow.parameters()).device
    data_lines = _grid_lines(RING_BOUNDS, n_lines, n_points)
    latent_lines = _grid_lines(3.0, n_lines, n_points)
    flat = data_lines.reshape(-1, 2).to(dev)
    to_latent, logdet = flow(flat)
    to_data = flow.inverse(latent_lines.reshape(-1, 2).to(dev))
    train_latent, _ = flow(torch.as_tensor(train, device=dev))
    log_area = logdet.double().cpu()
    metrics = {"stretch_ratio": float((log_area.max() - log_area.min()).exp()),
               "n_lines": n_lines}
    return FlowGridResult(data_lines.numpy(), to_latent.reshape(data_lines.shape).cpu().numpy(),
                          latent_lines.numpy(), to_data.reshape(latent_lines.shape).cpu().numpy(),
                          train, train_latent.cpu().numpy(), metrics)


def plot_flow_grid(result: FlowGridResult) -> Figure:
    """Four panels, left to right: a data-space grid and its image in latent space, then a latent grid and its
    image in data space."""
    import matplotlib.pyplot as plt

    set_style()
    fig, axes = plt.subplots(1, 4, figsize=(15, 4))
    panels = ((result.data_lines, result.train, "data space x: a regular grid"),
              (result.data_lines_to_latent, result.train_to_latent, "latent space f(x): the same grid"),
              (result.latent_lines, result.train_to_latent, "latent space y: a regular grid"),
              (result.latent_lines_to_data, result.train, "data space f^-1(y): the same grid"))
    for ax, (lines, points, title) in zip(axes, panels):
        for line in lines:
            ax.plot(line[:, 0], line[:, 1], color="C0", linewidth=0.5, alpha=0.7)
        ax.scatter(points[:1500, 0], points[:1500, 1], s=2, color="C1", alpha=0.5, zorder=3)
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal", adjustable="box")
        ax.grid(False)
    for ax in axes[1:3]:
        ax.set_xlim(-4, 4)
        ax.set_ylim(-4, 4)
    for ax in (axes[0], axes[3]):
        ax.set_xlim(-RING_BOUNDS, RING_BOUNDS)
        ax.set_ylim(-RING_BOUNDS, RING_BOUNDS)
    fig.tight_layout()
    return fig


@register("preliminaries/flow_grid", config=FlowGridConfig, plot=plot_flow_grid,
          description="Thesis Fig. 2.5: a regular grid through the ring's Real-NVP, data -> latent and back")
def run_flow_grid(cfg: FlowGridConfig) -> FlowGridResult:
    """Train the ring's Real-NVP (as ``preliminaries/realnvp_ring``) and push grids through it both ways."""
    fitted = run_realnvp_ring(cfg)
    return flow_grid_from(fitted.flow, fitted.train, cfg.n_lines, cfg.n_points)
