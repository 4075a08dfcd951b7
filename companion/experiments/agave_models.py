"""The shared footing of the AGAVE chapter's experiments: one configuration, the data, and the
trained models, cached for the life of the process, with the scores several experiments use.

The experiments (:mod:`.agave`: the bounds; :mod:`.agave_extra`: the images) share models:
the main AGAVE appears in most of them, so it trains once. :func:`train_in_parallel` trains
the models an experiment needs in worker processes on a CPU. Images are in ``[0, 1]``, level
``k`` at ``k / (n_levels - 1)``, as :func:`companion.data.load` returns them and as every model
of the package takes them.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, List, Optional, Tuple

import numpy as np
import torch

import companion
from companion.agave import AGAVE, fit_agave
from companion.checks import check_seeds  # noqa: F401  (the AGAVE experiments import it from here)
from companion.config import ExperimentConfig
from companion.data import load
from companion.evidence import bootstrap_difference, verdict
from companion.iaf_vae import IAFVAE
from companion.metrics import bits_per_dim
from companion.pixelcnn import PixelCNN, fit_pixelcnn
from companion.plots import image_grid
from companion.vae import VAE, fit_vae
from companion.workers import map_in_workers, worker_count

if TYPE_CHECKING:  # for the annotations only: importing the module stays cheap
    from matplotlib.axes import Axes

    from companion.train import History

# ========================================================================================
# The shared configuration and data
# ========================================================================================


@dataclass
class AgaveConfig(ExperimentConfig):
    """Data, networks and training of every AGAVE experiment (book-scale defaults)."""

    dataset: str = "digits"
    n_levels: int = 17
    latent_dim: int = 16
    channels: Tuple[int, ...] = (16, 32)
    pixelcnn_channels: int = 32
    n_blocks: int = 4
    n_mixtures: int = 2
    lam: float = 2.0
    n_steps: int = 800
    batch_size: int = 32
    lr: float = 2e-3
    n_test: int = 250
    iw_samples: int = 20
    seed: int = 0
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {"latent_dim": 4, "channels": (8, 16), "pixelcnn_channels": 8, "n_blocks": 1,
                  "n_steps": 20, "batch_size": 16, "n_test": 32, "iw_samples": 2},
        "paper": {"dataset": "cifar10", "n_levels": 256, "latent_dim": 64, "channels": (64, 128, 256),
                  "pixelcnn_channels": 160, "n_blocks": 15, "n_mixtures": 10, "lam": 12.0,
                  "n_steps": 200_000, "batch_size": 64, "lr": 2e-3, "n_test": 10_000, "iw_samples": 150},
    }


def agave_scales(smoke: Dict[str, Any], paper: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The ``SCALES`` of an experiment's configuration: :class:`AgaveConfig`'s, with the experiment's own fields."""
    return {"smoke": {**AgaveConfig.SCALES["smoke"], **smoke}, "paper": {**AgaveConfig.SCALES["paper"], **paper}}


_DATA_CACHE: Dict[Tuple[str, str], torch.Tensor] = {}
_MODEL_CACHE: Dict[Tuple, Tuple[Dict[str, torch.Tensor], Any]] = {}


def images(cfg: AgaveConfig, split: str) -> torch.Tensor:
    """The split on the device (cached), in ``[0, 1]`` as the models take it; the test split cut to ``cfg.n_test``."""
    key = (cfg.dataset, split)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load(cfg.dataset, split)
    x = _DATA_CACHE[key].to(companion.device())
    return x[: cfg.n_test] if split == "test" else x


def test_split(cfg: AgaveConfig) -> Tuple[torch.Tensor, int]:
    """The test images (:func:`images`) and the dimensions of one, for bits/dim."""
    x = images(cfg, "test")
    return x, int(np.prod(x.shape[1:]))


# ========================================================================================
# The trained models, cached
# ========================================================================================


def _model_key(cfg: AgaveConfig, kind: str, overrides: Dict[str, Any], n_steps: int) -> Tuple:
    """What makes two trained models the same: the data, the networks, the training and the overrides."""
    return (kind, n_steps, cfg.dataset, cfg.n_levels, cfg.latent_dim, cfg.channels, cfg.pixelcnn_channels,
            cfg.n_blocks, cfg.n_mixtures, cfg.batch_size, cfg.lr, cfg.seed) + tuple(sorted(overrides.items()))


def _new_agave(cfg: AgaveConfig, **overrides: Any):
    x = images(cfg, "train")
    args = dict(n_levels=cfg.n_levels, latent_dim=cfg.latent_dim, lam=cfg.lam, channels=cfg.channels,
                pixelcnn_channels=cfg.pixelcnn_channels, n_blocks=cfg.n_blocks, n_mixtures=cfg.n_mixtures)
    args.update(overrides)
    return AGAVE(tuple(x.shape[1:]), **args).to(x.device)


def _new_model(kind: str, cfg: AgaveConfig, overrides: Dict[str, Any]):
    """An untrained model of ``kind`` for ``cfg``: ``"agave"`` (``overrides``: :class:`~companion.agave.AGAVE`
    arguments), ``"pixelcnn"`` (the PixelCNN alone), ``"vae"`` (the shared convolutional VAE) or
    ``"iaf_vae"`` (its networks with an IAF posterior; ``overrides``: :class:`~companion.iaf_vae.IAFVAE` arguments)."""
    shape = tuple(images(cfg, "train").shape[1:])
    if kind == "agave":
        return _new_agave(cfg, **overrides)
    if kind == "pixelcnn":
        model = PixelCNN(shape, cfg.n_levels, cfg.pixelcnn_channels, cfg.n_blocks, n_mixtures=cfg.n_mixtures)
    elif kind == "vae":
        model = VAE(shape, cfg.latent_dim, likelihood="logistic", architecture="conv", channels=cfg.channels,
                    n_levels=cfg.n_levels)
    elif kind == "iaf_vae":
        model = IAFVAE(shape, cfg.latent_dim, channels=cfg.channels, n_levels=cfg.n_levels, **overrides)
    else:
        raise ValueError(f"kind must be 'agave', 'pixelcnn', 'vae' or 'iaf_vae'; got {kind!r}")
    return model.to(companion.device())


def _fit_model(kind: str, cfg: AgaveConfig, overrides: Dict[str, Any], n_steps: int):
    """Build the model of ``kind`` (see :func:`_new_model`) seeded by ``cfg.seed``, train it, and
    return ``(model, history)``.

    The same function trains in this process and in the workers of :func:`train_in_parallel`,
    so a model is the same wherever it was trained (up to the floating-point effects of the
    number of threads).
    """
    x = images(cfg, "train")
    companion.seed_everything(cfg.seed)  # the initial weights and the minibatches
    model = _new_model(kind, cfg, overrides)
    if kind == "agave":
        label = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
        return model, fit_agave(model, x, n_steps=n_steps, batch_size=cfg.batch_size, lr=cfg.lr, desc=f"AGAVE {label}")
    if kind == "pixelcnn":
        return model, fit_pixelcnn(model, x, n_steps=n_steps, batch_size=cfg.batch_size, lr=cfg.lr)
    return model, fit_vae(
        model, x, n_steps=n_steps, batch_size=cfg.batch_size, lr=cfg.lr, desc=kind.replace("_", "-").upper()
    )


def trained(kind: str, cfg: AgaveConfig, overrides: Dict[str, Any], n_steps: int) -> Tuple[torch.nn.Module, History]:
    """The cached model of ``kind`` (trained here if no one trained it yet), as a fresh copy in eval mode."""
    key = _model_key(cfg, kind, overrides, n_steps)
    if key not in _MODEL_CACHE:
        model, history = _fit_model(kind, cfg, overrides, n_steps)
        _MODEL_CACHE[key] = (copy.deepcopy(model.state_dict()), history)
    else:
        companion.seed_everything(cfg.seed)
        model = _new_model(kind, cfg, overrides)
    state, history = _MODEL_CACHE[key]
    model.load_state_dict(state)
    return model.eval(), history


def _train_in_worker(kind: str, cfg: AgaveConfig, overrides: Dict[str, Any], n_steps: int):
    """Run in a worker process: train one model, return its CPU state and history."""
    model, history = _fit_model(kind, cfg, overrides, n_steps)
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}, history


def train_in_parallel(jobs: List[Tuple[str, AgaveConfig, Dict[str, Any]]], n_steps: Optional[int] = None,
                      min_steps: int = 200) -> int:
    """Train the models of ``jobs`` that are not cached yet, in parallel on a CPU, and cache them.

    Each job is ``(kind, cfg, overrides)`` as for :func:`_fit_model` (``overrides`` of an
    AGAVE must include ``lam``). The book's networks are small, so one training run keeps
    two CPU threads poorly busy: two processes of one thread each train two models in about
    the time of one. Workers are forked (so no script is imported again) and run one thread
    each, as PyTorch's data-loader workers do; they return the trained weights, which are
    those of training in this process with one thread. With :func:`companion.workers.worker_count` at 1, a
    single missing model, or runs shorter than
    ``min_steps`` (starting a worker costs seconds), nothing is started and the callers
    train as usual. Returns the number of models trained here.
    """
    missing, seen = [], set()
    for kind, cfg, overrides in jobs:
        steps = cfg.n_steps if n_steps is None else n_steps
        key = _model_key(cfg, kind, overrides, steps)
        if key not in _MODEL_CACHE and key not in seen:
            seen.add(key)
            missing.append((key, kind, cfg, dict(overrides), steps))
    workers = min(worker_count(), len(missing))
    if workers < 2 or max(steps for *_, steps in missing) < min_steps:
        return 0
    trained = map_in_workers(_train_in_worker, [job[1:] for job in missing], workers)
    for (key, *_), (state, history) in zip(missing, trained):
        _MODEL_CACHE[key] = ({k: v.to(companion.device()) for k, v in state.items()}, history)
    return len(missing)


def agave_job(cfg: AgaveConfig, **overrides: Any) -> Tuple[str, AgaveConfig, Dict[str, Any]]:
    """The :func:`train_in_parallel` job of ``trained_agave(cfg, **overrides)``."""
    return "agave", cfg, {"lam": cfg.lam, **overrides}


def trained_agave(cfg: AgaveConfig, n_steps: Optional[int] = None, **overrides: Any) -> Tuple[AGAVE, History]:
    """An AGAVE trained on ``cfg.dataset`` for ``n_steps`` (default ``cfg.n_steps``), and its history.

    ``overrides`` are :class:`~companion.agave.AGAVE` arguments (``lam``, ``aux_weight``,
    ``aux_levels``, ...). Cached by configuration: a second call returns a fresh copy of the
    same trained model without training again.
    """
    overrides.setdefault("lam", cfg.lam)
    return trained("agave", cfg, overrides, cfg.n_steps if n_steps is None else n_steps)


def trained_pixelcnn(cfg: AgaveConfig) -> Tuple[PixelCNN, History]:
    """The PixelCNN alone (same architecture as AGAVE's, no conditioning), trained and cached."""
    return trained("pixelcnn", cfg, {}, cfg.n_steps)


def trained_vae(cfg: AgaveConfig) -> Tuple[VAE, History]:
    """The shared VAE (:class:`companion.vae.VAE`, convolutional, discretized logistic), trained and cached."""
    return trained("vae", cfg, {}, cfg.n_steps)


# ========================================================================================
# Scores
# ========================================================================================


@torch.no_grad()
def test_terms(model: AGAVE, x: torch.Tensor, batch_size: int = 250) -> Dict[str, float]:
    """Test-set means of the three terms of eq. 3.13 (nats per image), one draw of ``z`` each."""
    sums: Dict[str, float] = {}
    for start in range(0, x.shape[0], batch_size):
        for name, value in model.terms(x[start:start + batch_size]).items():
            sums[name] = sums.get(name, 0.0) + float(value.sum())
    return {name: value / x.shape[0] for name, value in sums.items()}


@torch.no_grad()
def mismatch_penalty(model: AGAVE, x: torch.Tensor, batch_size: int = 250) -> float:
    """What the wrong conditioning costs: ``E[log p(x | f(mu(x))) - log p(x | f(mu(x')))]`` in nats.

    ``x'`` is another test image (a fixed shuffle). Zero when the PixelCNN ignores its
    conditioning; large when the PixelCNN relies on ``f(z)``. It is a penalty for a
    *mismatched* condition, not the value of conditioning: a PixelCNN that leans on ``f``
    can lose far more from the wrong ``f`` than it gains from the right one over a model
    that ignores ``u`` (between ideal models that gain is ``I(X; U) <= I(X; Z) <= E KL``; the
    bound's gain over a real PixelCNN alone is bounded by that PixelCNN's excess over the
    entropy, not by the KL).
    """
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        batch = x[start:start + batch_size]
        mu, _ = model.encode(batch)
        cond = model.condition(model.auxiliary_mean(mu))
        shuffled = torch.roll(cond, shifts=1, dims=0)
        total += float((model.pixelcnn.log_prob(batch, cond) - model.pixelcnn.log_prob(batch, shuffled)).sum())
    return total / x.shape[0]


@torch.no_grad()
def mean_log_prob(log_prob: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 250) -> float:
    """The test-set mean of ``log_prob(batch)`` (nats per image), computed batch by batch."""
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        total += float(log_prob(x[start:start + batch_size]).sum())
    return total / x.shape[0]


_IW_CACHE: Dict[Tuple, float] = {}


def iw_bpd(cfg: AgaveConfig, x: torch.Tensor, **overrides: Any) -> float:
    """The importance-weighted bound (``cfg.iw_samples`` draws) of :func:`trained_agave`'s model, in bits/dim.

    Cached per model, test split and number of draws: the main AGAVE appears in several
    experiments, and its bound costs seconds, not its training's minutes.
    """
    overrides.setdefault("lam", cfg.lam)
    key = _model_key(cfg, "agave", overrides, cfg.n_steps) + (tuple(x.shape), cfg.iw_samples)
    if key not in _IW_CACHE:
        model, _ = trained_agave(cfg, **overrides)
        companion.seed_everything(cfg.seed)
        log_p = mean_log_prob(lambda b: model.log_prob(b, n_samples=cfg.iw_samples), x)
        _IW_CACHE[key] = bpd(-log_p, int(np.prod(x.shape[1:])))
    return _IW_CACHE[key]


def paired_comparison(a: List[float], b: List[float]) -> Dict[str, Any]:
    """"``a`` is better than ``b``" on a test bound (bits/dim, lower is better), where ``a[i]`` and
    ``b[i]`` come from the same training seed (same initial weights and minibatches; only the
    compared setting differs): the mean difference, its paired 95% bootstrap interval and the
    verdict of :func:`companion.evidence.verdict`, for the experiment's JSON metrics."""
    diff = bootstrap_difference(a, b, paired=True)
    return {"difference": diff.estimate, "low": diff.low, "high": diff.high, "n_seeds": len(a),
            "verdict": verdict(a, b, higher_is_better=False, paired=True)}


def seeded(cfg: AgaveConfig, seed: int) -> AgaveConfig:
    """``cfg`` with another training seed (the model cache is keyed by it)."""
    return dataclasses.replace(cfg, seed=int(seed))


def bpd(nats: float, n_dims: int) -> float:
    """Nats per image to bits per dimension, as a float."""
    return float(bits_per_dim(nats, n_dims))


# ========================================================================================
# Drawing and showing images
# ========================================================================================


def show_images(ax: Axes, batch: torch.Tensor, nrow: int, title: str) -> None:
    """A grid of images in ``[0, 1]`` on ``ax``."""
    image_grid(batch.detach().float().cpu().clamp(0, 1), nrow=nrow, ax=ax, title=title)


def samples_given_z(model: AGAVE, n_z: int, n_per_z: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``n_z`` latents from the prior, each decoded to ``f(z)`` and ``n_per_z`` PixelCNN samples.

    Returns ``(f, x)`` with ``f`` of shape ``(n_z, ...)`` and ``x`` of shape ``(n_z, n_per_z, ...)``.
    """
    z = torch.randn(n_z, model.latent_dim, device=model.aux_log_scale.device)
    x, f = model.sample(n_z * n_per_z, z=z.repeat_interleave(n_per_z, dim=0), return_auxiliary=True)
    return f[::n_per_z], x.view(n_z, n_per_z, *x.shape[1:])


def upsample(f: torch.Tensor, shape: Tuple[int, ...]) -> torch.Tensor:
    """``f(z)`` at the size of ``x`` (nearest neighbour), for display."""
    if tuple(f.shape[-2:]) != tuple(shape[-2:]):
        f = torch.nn.functional.interpolate(f, size=shape[-2:], mode="nearest")
    if f.shape[1] != shape[0]:
        f = f.expand(-1, shape[0], -1, -1)
    return f

