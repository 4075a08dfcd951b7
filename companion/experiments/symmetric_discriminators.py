"""Experiments of the chapter on mixed batches and symmetric discriminators (thesis ch. 4).

This module holds the experiments on the discriminator itself and on batch smoothing:

* ``symmetric_discriminators/optimal_discriminator`` — Prop. 1 checked: a symmetric
  discriminator trained on fixed 1-D distributions against the exact ``D*``, and the
  normalisation of ``p_balanced`` / ``p_unbalanced`` on a discrete example.
* ``symmetric_discriminators/universality`` — the universality theorem illustrated: symmetric
  targets fitted by stacked equivariant layers, a Deep-Sets network and a permuted MLP.
* ``symmetric_discriminators/gamma_losses`` — Fig. 4.2: the effect of batch smoothing
  ``gamma`` on the discriminator and generator losses.

The chapter's other experiments live in modules of their own, and their public names are
importable from here too: ``mode_coverage`` and ``baseline_sweep`` (Sec. 4.5.1, Fig. 4.3) in
:mod:`companion.experiments.symmetric_mode_coverage`, with the 2-D GAN training they share in
:mod:`companion.experiments.symmetric_toys`; ``cifar10`` (Sec. 4.5.2, Table 4.1) in
:mod:`companion.experiments.symmetric_cifar10`; ``digits_dynamics`` (Fig. 4.6) in
:mod:`companion.experiments.symmetric_discriminators_extra`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Dict, List, Tuple

import numpy as np
import torch
from torch import nn

import companion
from companion.config import ExperimentConfig
from companion.experiments.symmetric_cifar10 import (  # noqa: F401  (the chapter imports them from here)
    PAPER_TABLE_4_1,
    Cifar10Config,
    Cifar10Result,
    SNGANGenerator,
    cifar10_table,
    plot_cifar10,
    run_cifar10,
    spectral_normalise,
)
from companion.experiments.symmetric_mode_coverage import (  # noqa: F401  (the chapter imports them from here)
    BASELINE_SWEEP_RECORD,
    METHOD_NAMES,
    PACGAN_TABLE,
    RING_GAN_BAR,
    BaselineSweepConfig,
    BaselineSweepResult,
    ModeCoverageConfig,
    ModeCoverageResult,
    mode_coverage_comparisons,
    mode_coverage_table,
    plot_baseline_sweep,
    plot_mode_coverage,
    run_baseline_sweep,
    run_mode_coverage,
)
from companion.experiments.symmetric_toys import ToyGANConfig, _train_toy
from companion.plots import pyplot
from companion.reproduce import register
from companion.runs import GeneratorState
from companion.symmetric import (
    EquivariantLinear,
    SymmetricDiscriminator,
    batch_log_densities,
    bernoulli_kl,
    mix_batches,
    optimal_discriminator,
)
from companion.train import train_loop


@dataclass
class SetFitConfig(ExperimentConfig):
    """A network fitted on freshly drawn sets: ``n_steps`` Adam steps of ``sets_per_step`` sets
    at learning rate ``lr``, then scored on ``n_test_sets`` sets (book-scale defaults)."""

    n_steps: int = 300
    sets_per_step: int = 128
    lr: float = 3e-3
    n_test_sets: int = 4000
    seed: int = 0


# ========================================================================================
# 1. Prop. 1 checked numerically
# ========================================================================================


@dataclass
class OptimalDiscriminatorConfig(SetFitConfig):
    """A symmetric discriminator against the exact optimum on 1-D Gaussians (book scale)."""

    batch_sizes: Tuple[int, ...] = (1, 2, 4, 8)
    real_mean: float = 0.0
    fake_mean: float = 1.5
    fake_std: float = 0.7
    gamma: float = 0.5
    hidden: Tuple[int, ...] = (64, 64)
    SCALES: ClassVar = {
        "smoke": {"batch_sizes": (1, 4), "n_steps": 20, "sets_per_step": 32, "n_test_sets": 300, "hidden": (16,)},
        "paper": {"batch_sizes": (1, 2, 4, 8, 16), "n_steps": 5000, "hidden": (128, 128, 128), "n_test_sets": 20000},
    }


@dataclass
class OptimalDiscriminatorResult:
    batch_sizes: List[int]
    learned: Dict[int, np.ndarray]  # D(y) of the trained network on test sets
    optimal: Dict[int, np.ndarray]  # D*(y) on the same sets
    metrics: Dict[str, float] = field(default_factory=dict)


def _normalisation_check() -> Dict[str, float]:
    """Sum p_balanced and p_unbalanced (and the Beta(2, 3) versions) over every batch of a
    discrete example: 5 values, B = 3, so 125 batches; the sums must be 1."""
    p1 = torch.tensor([0.4, 0.3, 0.1, 0.1, 0.1], dtype=torch.float64)
    p2 = torch.tensor([0.05, 0.15, 0.2, 0.25, 0.35], dtype=torch.float64)
    grid = torch.cartesian_prod(*[torch.arange(5)] * 3)
    out = {}
    for tag, (a, b) in {"uniform": (1.0, 1.0), "beta_2_3": (2.0, 3.0)}.items():
        log_p, log_q = batch_log_densities(p1.log()[grid], p2.log()[grid], a=a, b=b)
        out[f"sum_p_balanced_{tag}"] = float(log_p.exp().sum())
        out[f"sum_p_unbalanced_{tag}"] = float(log_q.exp().sum())
    return out


@register("symmetric_discriminators/optimal_discriminator", config=OptimalDiscriminatorConfig,
          plot=lambda r: plot_optimal_discriminator(r),
          description="Prop. 1: a trained symmetric discriminator against the exact optimal one")
def run_optimal_discriminator(cfg: OptimalDiscriminatorConfig) -> OptimalDiscriminatorResult:
    from scipy.stats import norm

    dev = companion.device()
    metrics: Dict[str, float] = _normalisation_check()
    learned, optimal = {}, {}

    def draw(n_sets: int, set_size: int, gen: torch.Generator):
        real = cfg.real_mean + torch.randn(n_sets, set_size, 1, generator=gen)
        fake = cfg.fake_mean + cfg.fake_std * torch.randn(n_sets, set_size, 1, generator=gen)
        y, beta = mix_batches(real, fake, cfg.gamma, generator=gen, set_dim=1)
        return y, beta.mean(-1)

    for set_size in cfg.batch_sizes:
        companion.seed_everything(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed + set_size)
        disc = SymmetricDiscriminator(1, cfg.hidden, activation="tanh").to(dev)
        opt = torch.optim.Adam(disc.parameters(), lr=cfg.lr)

        def step(i: int) -> Dict[str, float]:
            y, t = draw(cfg.sets_per_step, set_size, gen)
            loss = disc.loss(y.to(dev), t.to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return {"loss": loss}

        train_loop(step, cfg.n_steps, desc=f"D, B={set_size}", log_every=50,
                   state={"disc": disc, "opt": opt, "sets": GeneratorState(gen)})
        y, t = draw(cfg.n_test_sets, set_size, gen)
        values = y[..., 0].double().numpy()
        d_star = optimal_discriminator(torch.as_tensor(norm.logpdf(values, cfg.real_mean)),
                                       torch.as_tensor(norm.logpdf(values, cfg.fake_mean, cfg.fake_std)),
                                       gamma=cfg.gamma)
        with torch.no_grad():
            d_learned = disc.predict_ratio(y.to(dev)).double().cpu()
        eps = 1e-6
        t = t.double()
        metrics[f"B{set_size}_loss_learned"] = float(bernoulli_kl(t, torch.logit(d_learned.clamp(eps, 1 - eps))).mean())
        metrics[f"B{set_size}_loss_optimal"] = float(bernoulli_kl(t, torch.logit(d_star.clamp(eps, 1 - eps))).mean())
        metrics[f"B{set_size}_loss_constant"] = float(bernoulli_kl(t, torch.zeros_like(t)).mean())
        metrics[f"B{set_size}_mean_abs_gap"] = float((d_learned - d_star).abs().mean())
        learned[set_size], optimal[set_size] = d_learned.numpy(), d_star.numpy()
    return OptimalDiscriminatorResult(list(cfg.batch_sizes), learned, optimal, metrics)


def plot_optimal_discriminator(result: OptimalDiscriminatorResult):
    plt = pyplot()
    n = len(result.batch_sizes)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, set_size in zip(axes[0], result.batch_sizes):
        ax.scatter(result.optimal[set_size], result.learned[set_size], s=3, alpha=0.3, linewidths=0)
        ax.plot([0, 1], [0, 1], color="black", lw=1)
        gap = result.metrics[f"B{set_size}_mean_abs_gap"]
        ax.set_title(f"B = {set_size}: mean |D - D*| = {gap:.3f}")
        ax.set_xlabel("optimal D*(y)")
        ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    axes[0, 0].set_ylabel("trained D(y)")
    fig.tight_layout()
    return fig


# ========================================================================================
# 2. The universality theorem illustrated
# ========================================================================================


@dataclass
class UniversalityConfig(SetFitConfig):
    """Symmetric targets fitted by three architectures (book scale)."""

    set_size: int = 8
    dim: int = 2
    hidden: int = 48
    n_steps: int = 450
    lr: float = 2e-3
    n_test_sets: int = 2000
    SCALES: ClassVar = {
        "smoke": {"n_steps": 20, "hidden": 16, "n_test_sets": 200},
        "paper": {"n_steps": 20000, "hidden": 128, "n_test_sets": 10000},
    }


TARGET_NAMES = ("mean", "std", "max", "mean pairwise distance", "second largest")


MODEL_NAMES = ("equivariant stack", "Deep Sets", "permuted MLP")


def symmetric_targets(x: torch.Tensor) -> torch.Tensor:
    """Five symmetric statistics of sets ``x`` of shape ``(S, B, d)``: the mean and std of the
    first coordinate, the max of the first coordinate, the mean pairwise distance, and the
    second largest first coordinate (a sorted statistic). Shape ``(S, 5)``."""
    first = x[..., 0]
    dist = torch.cdist(x, x)
    set_size = x.shape[-2]
    pairwise = dist.sum((-1, -2)) / (set_size * (set_size - 1))
    second = first.sort(dim=-1, descending=True).values[..., 1]
    return torch.stack([first.mean(-1), first.std(-1), first.amax(-1), pairwise, second], dim=-1)


class EquivariantStack(nn.Module):
    """Stacked equivariant layers (eq. 4.12), then the set mean (eq. 4.10)."""

    def __init__(self, dim: int, hidden: int, n_out: int, n_layers: int = 3) -> None:
        super().__init__()
        widths = [dim] + [hidden] * n_layers
        layers: List[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [EquivariantLinear(a, b), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        self.out = EquivariantLinear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x)).mean(-2)


class DeepSets(nn.Module):
    """Zaheer et al. (2017): a pointwise network, one set mean, a network on the mean."""

    def __init__(self, dim: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, hidden))
        self.rho = nn.Sequential(nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rho(self.phi(x).mean(-2))


class PermutedMLP(nn.Module):
    """An MLP on the concatenated set, shown random orders in training (not invariant)."""

    def __init__(self, dim: int, set_size: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim * set_size, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(-2))


@dataclass
class UniversalityResult:
    errors: Dict[str, np.ndarray]  # per model: normalised test MSE per target
    n_params: Dict[str, int]
    invariance_error: Dict[str, float]
    metrics: Dict[str, float] = field(default_factory=dict)


def _draw_sets(n: int, set_size: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    # a mixture of two scales, so that the statistics vary from set to set
    scale = torch.where(torch.rand(n, 1, 1, generator=gen) < 0.5, 0.5, 1.5)
    return scale * torch.randn(n, set_size, dim, generator=gen) + torch.randn(n, 1, dim, generator=gen)


@register("symmetric_discriminators/universality", config=UniversalityConfig,
          plot=lambda r: plot_universality(r),
          description="Symmetric targets fitted by equivariant stacks, Deep Sets and a permuted MLP")
def run_universality(cfg: UniversalityConfig) -> UniversalityResult:
    dev = companion.device()
    gen = torch.Generator().manual_seed(cfg.seed)
    probe = symmetric_targets(_draw_sets(20000, cfg.set_size, cfg.dim, gen))
    mean, std = probe.mean(0), probe.std(0)
    test = _draw_sets(cfg.n_test_sets, cfg.set_size, cfg.dim, gen)
    test_y = (symmetric_targets(test) - mean) / std
    n_out = len(TARGET_NAMES)
    errors, n_params, invariance = {}, {}, {}
    for name in MODEL_NAMES:
        companion.seed_everything(cfg.seed)
        if name == "equivariant stack":
            model = EquivariantStack(cfg.dim, cfg.hidden, n_out)
        elif name == "Deep Sets":
            model = DeepSets(cfg.dim, cfg.hidden, n_out)
        else:
            model = PermutedMLP(cfg.dim, cfg.set_size, cfg.hidden, n_out)
        model = model.to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.n_steps, 1))

        def step(i: int) -> Dict[str, float]:
            x = _draw_sets(cfg.sets_per_step, cfg.set_size, cfg.dim, gen)
            y = (symmetric_targets(x) - mean) / std
            x = x[:, torch.randperm(cfg.set_size, generator=gen)]  # matters only for the MLP
            loss = (model(x.to(dev)) - y.to(dev)).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            return {"mse": loss}

        train_loop(step, cfg.n_steps, desc=name, log_every=50,
                   state={"model": model, "opt": opt, "sched": sched, "sets": GeneratorState(gen)})
        with torch.no_grad():
            pred = model(test.to(dev)).cpu()
            shuffled = model(test[:, torch.randperm(cfg.set_size, generator=gen)].to(dev)).cpu()
        errors[name] = (pred - test_y).pow(2).mean(0).numpy()
        n_params[name] = sum(p.numel() for p in model.parameters())
        invariance[name] = float((pred - shuffled).abs().max())
    metrics: Dict[str, float] = {}
    for name in MODEL_NAMES:
        key = name.replace(" ", "_").replace("-", "_").lower()
        metrics[f"{key}_n_params"] = n_params[name]
        metrics[f"{key}_invariance_error"] = invariance[name]
        for target, err in zip(TARGET_NAMES, errors[name]):
            metrics[f"{key}_nmse_{target.replace(' ', '_')}"] = float(err)
    return UniversalityResult(errors, n_params, invariance, metrics)


def plot_universality(result: UniversalityResult):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / len(MODEL_NAMES)
    xs = np.arange(len(TARGET_NAMES))
    for i, name in enumerate(MODEL_NAMES):
        ax.bar(xs + (i - 1) * width, result.errors[name], width,
               label=f"{name} ({result.n_params[name]:,} parameters)")
    ax.set_xticks(xs, TARGET_NAMES)
    ax.set_yscale("log")
    ax.set_ylabel("test MSE / variance")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ========================================================================================
# 3. Fig. 4.2: the effect of gamma on the losses
# ========================================================================================


@dataclass
class GammaLossesConfig(ToyGANConfig):
    """BGAN on a 2-D toy with several batch-smoothing parameters (book scale)."""

    dataset: str = "grid"
    gammas: Tuple[float, ...] = (0.0, 0.1, 0.3, 0.5)
    n_steps: int = 300
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"n_steps": 10, "gammas": (0.0, 0.5), "thesis_hidden": 16},
        "paper": {"n_steps": 20000, "thesis_hidden": 512, "thesis_n_disc": 5, "thesis_lr": 1e-3},
    }


@dataclass
class GammaLossesResult:
    gammas: List[float]
    steps: Dict[float, np.ndarray]
    d_loss: Dict[float, np.ndarray]
    g_loss: Dict[float, np.ndarray]
    metrics: Dict[str, float] = field(default_factory=dict)


@register("symmetric_discriminators/gamma_losses", config=GammaLossesConfig,
          plot=lambda r: plot_gamma_losses(r),
          description="Fig. 4.2: batch smoothing gamma against the discriminator and generator losses")
def run_gamma_losses(cfg: GammaLossesConfig) -> GammaLossesResult:
    from companion import data
    from companion.metrics import mode_coverage

    steps, d_loss, g_loss, metrics = {}, {}, {}, {}
    for gamma in cfg.gammas:
        run = _train_toy("thesis", "bgan", cfg.dataset, cfg.seed, cfg, gamma)
        h = run["history"]
        steps[gamma] = np.asarray(h.steps("d_loss"))
        d_loss[gamma], g_loss[gamma] = np.asarray(h["d_loss"]), np.asarray(h["g_loss"])
        tail = max(1, len(h["d_loss"]) // 4)
        metrics[f"gamma_{gamma}_d_loss_last_quarter"] = float(np.mean(h["d_loss"][-tail:]))
        metrics[f"gamma_{gamma}_g_loss_last_quarter"] = float(np.mean(h["g_loss"][-tail:]))
        n_modes, hq = mode_coverage(run["samples"], data.toy_centers(cfg.dataset), data.toy_std(cfg.dataset))
        metrics[f"gamma_{gamma}_modes"] = n_modes
        metrics[f"gamma_{gamma}_high_quality_pct"] = 100 * hq
    return GammaLossesResult(list(cfg.gammas), steps, d_loss, g_loss, metrics)


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    width = max(1, min(width, len(values)))
    return np.convolve(values, np.ones(width) / width, mode="valid")


def plot_gamma_losses(result: GammaLossesResult):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    for gamma in result.gammas:
        width = max(1, len(result.steps[gamma]) // 10)
        for ax, series in zip(axes, (result.d_loss, result.g_loss)):
            ys = _smooth(series[gamma], width)
            ax.plot(result.steps[gamma][width - 1:], ys, label=f"gamma = {gamma}")
    axes[0].set_title("discriminator loss (Bernoulli KL)")
    axes[1].set_title("generator loss (-log D)")
    for ax in axes:
        ax.set_xlabel("generator step")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
