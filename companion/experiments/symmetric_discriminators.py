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
:mod:`companion.experiments.symmetric_toys`, and its paper-scale run on a GPU, recorded seed by
seed, in :mod:`companion.experiments.symmetric_paper_record`; ``training_length`` (the same toy
GANs trained for longer, recorded in
:mod:`companion.experiments.symmetric_training_length_record`) in
:mod:`companion.experiments.symmetric_training_length`; ``cifar10`` (Sec. 4.5.2, Table 4.1) in
:mod:`companion.experiments.symmetric_cifar10`; ``digits_dynamics`` (Fig. 4.6) in
:mod:`companion.experiments.symmetric_discriminators_extra`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Dict, List, Tuple

import numpy as np
import torch
from torch import nn

import companion
from companion.config import ExperimentConfig
from companion.evidence import VERDICTS, bootstrap_difference, compare_phrase, format_spread, summarize, verdict
from companion.experiments.symmetric_cifar10 import (  # noqa: F401  (the chapter imports them from here)
    PAPER_TABLE_4_1,
    Cifar10Config,
    Cifar10Result,
    SNGANGenerator,
    cifar10_table,
    plot_cifar10,
    run_cifar10,
)
from companion.experiments.symmetric_mode_coverage import (  # noqa: F401  (the chapter imports them from here)
    BASELINE_SWEEP_RECORD,
    CONSTANT_RATE_RECORD,
    METHOD_NAMES,
    PACGAN_TABLE,
    RING_GAN_BAR,
    BaselineSweepConfig,
    BaselineSweepResult,
    ModeCoverageConfig,
    ModeCoverageResult,
    decay_effect_table,
    mode_coverage_comparisons,
    mode_coverage_table,
    plot_baseline_sweep,
    plot_mode_coverage,
    run_baseline_sweep,
    run_mode_coverage,
)
from companion.experiments.symmetric_toys import ToyGANConfig, _train_toy_replicas
from companion.plots import pyplot
from companion.replicas import GeneratorListState, Replicas, ensemble_container
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
from companion.train import adam, train_loop

if TYPE_CHECKING:  # only for annotations: importing the module stays cheap
    import pandas as pd
    from matplotlib.figure import Figure


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
    """What :func:`run_optimal_discriminator` returns.

    ``learned[B]`` and ``optimal[B]``: the trained ``D(y)`` and the exact ``D*(y)`` on the same ``n_test_sets`` test
    sets of size ``B``, shape ``(n_test_sets,)``. ``metrics``: the sums of :func:`_normalisation_check`, and per ``B``
    the mean Bernoulli KL of the trained, the optimal and the constant ``D = 1/2`` discriminator
    (``B{B}_loss_learned``, ``B{B}_loss_optimal``, ``B{B}_loss_constant``) and ``B{B}_mean_abs_gap``, mean |D - D*|.
    """

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
    """Train a 1-D :class:`SymmetricDiscriminator` per set size of ``cfg.batch_sizes`` and score it against ``D*``.

    Its sets mix draws of ``N(real_mean, 1)`` and ``N(fake_mean, fake_std**2)`` with batch smoothing ``cfg.gamma``
    (:func:`companion.symmetric.mix_batches`); on fresh test sets its ``D(y)`` is set beside the exact
    :func:`companion.symmetric.optimal_discriminator`. The metrics also hold :func:`_normalisation_check`.
    """
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
        opt = adam(disc.parameters(), lr=cfg.lr)

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


def plot_optimal_discriminator(result: OptimalDiscriminatorResult) -> Figure:
    """One panel per set size: the trained ``D(y)`` against the exact ``D*(y)`` on the test sets, and the diagonal."""
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
    """Symmetric targets fitted by three architectures, each over ``seeds`` trained at once as
    replicas (book scale). ``seed`` draws the test sets (shared by every model and seed);
    replica s draws its initial weights and its training sets from seed s."""

    set_size: int = 8
    dim: int = 2
    hidden: int = 48
    n_steps: int = 450
    lr: float = 2e-3
    n_test_sets: int = 2000
    seeds: Tuple[int, ...] = tuple(range(10))
    SCALES: ClassVar = {
        "smoke": {"n_steps": 20, "hidden": 16, "n_test_sets": 200, "seeds": (0, 1, 2)},
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


@ensemble_container  # forward acts on trailing axes only, so replicas can stack its layers
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
        """Sets ``x`` of shape ``(..., B, dim)`` to ``n_out`` invariant outputs, shape ``(..., n_out)``."""
        return self.out(self.body(x)).mean(-2)


@ensemble_container  # forward acts on trailing axes only, so replicas can stack its layers
class DeepSets(nn.Module):
    """Zaheer et al. (2017): a pointwise network, one set mean, a network on the mean."""

    def __init__(self, dim: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, hidden))
        self.rho = nn.Sequential(nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sets ``x`` of shape ``(..., B, dim)`` to ``n_out`` invariant outputs, shape ``(..., n_out)``."""
        return self.rho(self.phi(x).mean(-2))


@ensemble_container  # forward acts on trailing axes only, so replicas can stack its layers
class PermutedMLP(nn.Module):
    """An MLP on the concatenated set, shown random orders in training (not invariant)."""

    def __init__(self, dim: int, set_size: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim * set_size, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sets ``x`` of shape ``(..., set_size, dim)``, flattened in their given order, to outputs ``(..., n_out)``."""
        return self.net(x.flatten(-2))


@dataclass
class UniversalityResult:
    """What :func:`run_universality` returns.

    ``errors``: mean squared errors on the standardised targets (each statistic less its mean, over its std, on a
    probe of 20,000 sets), so about 1 is the error of predicting the mean. ``n_params``: the parameters of one
    replica. ``invariance_error``: on the standardised scale, under one fixed reordering of the test sets' elements
    (0 up to rounding for the two invariant models). ``comparisons``: one row per target and pair (keys ``target``,
    ``a``, ``b``, ``difference``, ``low``, ``high``, ``verdict``, ``phrase``), from :func:`_universality_comparisons`.
    """

    errors: Dict[str, np.ndarray]  # per model: normalised test MSE per seed and target, shape (seeds, targets)
    n_params: Dict[str, int]
    invariance_error: Dict[str, float]  # per model: the largest change under reordering, over seeds and targets
    comparisons: List[Dict[str, object]] = field(default_factory=list)  # per target: model a against model b
    metrics: Dict[str, float] = field(default_factory=dict)


def _draw_sets(n: int, set_size: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    # a mixture of two scales, so that the statistics vary from set to set
    scale = torch.where(torch.rand(n, 1, 1, generator=gen) < 0.5, 0.5, 1.5)
    return scale * torch.randn(n, set_size, dim, generator=gen) + torch.randn(n, 1, dim, generator=gen)


def _universality_model(name: str, cfg: UniversalityConfig) -> nn.Module:
    n_out = len(TARGET_NAMES)
    if name == "equivariant stack":
        return EquivariantStack(cfg.dim, cfg.hidden, n_out)
    if name == "Deep Sets":
        return DeepSets(cfg.dim, cfg.hidden, n_out)
    return PermutedMLP(cfg.dim, cfg.set_size, cfg.hidden, n_out)


def _fit_universality_replicas(name: str, cfg: UniversalityConfig, mean: torch.Tensor, std: torch.Tensor,
                               test: torch.Tensor, test_y: torch.Tensor) -> Tuple[np.ndarray, int, float]:
    """One model over every seed at once: (errors (seeds, targets), parameters, invariance error)."""
    dev, n_rep = companion.device(), len(cfg.seeds)
    model = Replicas(lambda: _universality_model(name, cfg), cfg.seeds, device=dev)
    opt = adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.n_steps, 1))
    gens = [torch.Generator().manual_seed(1_000 + s) for s in cfg.seeds]  # each replica's training sets

    def step(i: int) -> Dict[str, torch.Tensor]:
        x = torch.stack([_draw_sets(cfg.sets_per_step, cfg.set_size, cfg.dim, g) for g in gens])
        y = (symmetric_targets(x) - mean) / std
        x = torch.stack([xs[:, torch.randperm(cfg.set_size, generator=g)] for xs, g in zip(x, gens)])  # for the MLP
        loss = (model(x.to(dev)) - y.to(dev)).pow(2).mean((-1, -2))
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # the sum: each replica's gradient is its own loss's
        opt.step()
        sched.step()
        return {"mse": loss.mean()}

    train_loop(step, cfg.n_steps, desc=f"{name} x{n_rep}", log_every=50,
               state={"model": model, "opt": opt, "sched": sched, "sets": GeneratorListState(gens)})
    order = torch.randperm(cfg.set_size, generator=torch.Generator().manual_seed(cfg.seed))
    with torch.no_grad():
        stacked = test.expand(n_rep, *test.shape).to(dev)
        pred, shuffled = model(stacked).cpu(), model(stacked[:, :, order]).cpu()
    n_params = sum(p[0].numel() for p in model.parameters())
    return (pred - test_y).pow(2).mean(1).numpy(), n_params, float((pred - shuffled).abs().max())


#: How the prose names each model of the universality experiment.
_MODEL_PROSE = {"equivariant stack": "the equivariant stack", "Deep Sets": "Deep Sets",
                "permuted MLP": "the permuted MLP"}


def _universality_comparisons(errors: Dict[str, np.ndarray]) -> List[Dict[str, object]]:
    """Per target: the equivariant stack against Deep Sets, and the permuted MLP against the
    invariant network with the lower mean error; verdicts from the bootstrap interval over seeds."""
    rows = []
    for j, target in enumerate(TARGET_NAMES):
        best = min(MODEL_NAMES[:2], key=lambda name: errors[name][:, j].mean())
        for a, b in (("equivariant stack", "Deep Sets"), ("permuted MLP", best)):
            ea, eb = errors[a][:, j].tolist(), errors[b][:, j].tolist()
            diff = bootstrap_difference(ea, eb)
            rows.append({"target": target, "a": a, "b": b, "difference": diff.estimate, "low": diff.low,
                         "high": diff.high, "verdict": verdict(ea, eb, higher_is_better=False),
                         "phrase": compare_phrase(_MODEL_PROSE[a], ea, _MODEL_PROSE[b], eb, higher_is_better=False)})
    return rows


@register("symmetric_discriminators/universality", config=UniversalityConfig,
          plot=lambda r: plot_universality(r),
          description="Symmetric targets fitted by equivariant stacks, Deep Sets and a permuted MLP, over seeds")
def run_universality(cfg: UniversalityConfig) -> UniversalityResult:
    """Fit the five :func:`symmetric_targets` with each model of :data:`MODEL_NAMES`, every seed at once.

    The targets are standardised by a 20,000-set probe; every model and seed is scored on the same
    ``cfg.n_test_sets`` test sets, and the models are compared per target (:func:`_universality_comparisons`).
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    probe = symmetric_targets(_draw_sets(20000, cfg.set_size, cfg.dim, gen))
    mean, std = probe.mean(0), probe.std(0)
    test = _draw_sets(cfg.n_test_sets, cfg.set_size, cfg.dim, gen)
    test_y = (symmetric_targets(test) - mean) / std
    errors, n_params, invariance = {}, {}, {}
    for name in MODEL_NAMES:
        errors[name], n_params[name], invariance[name] = _fit_universality_replicas(name, cfg, mean, std, test,
                                                                                   test_y)
    comparisons = _universality_comparisons(errors)
    metrics: Dict[str, float] = {"n_seeds": len(cfg.seeds)}
    for name in MODEL_NAMES:
        key = name.replace(" ", "_").replace("-", "_").lower()
        metrics[f"{key}_n_params"] = n_params[name]
        metrics[f"{key}_invariance_error"] = invariance[name]
        for target, err in zip(TARGET_NAMES, errors[name].T):
            metrics[f"{key}_nmse_{target.replace(' ', '_')}"] = float(err.mean())
            metrics[f"{key}_nmse_{target.replace(' ', '_')}_std"] = float(err.std(ddof=1)) if len(err) > 1 else 0.0
    for row in comparisons:
        key = f"{row['a']}_vs_{row['b']}_{row['target']}".replace(" ", "_").replace("-", "_").lower()
        metrics[f"{key}_verdict"] = {VERDICTS[0]: 1.0, VERDICTS[1]: -1.0, VERDICTS[2]: 0.0}[row["verdict"]]
        metrics[f"{key}_difference"] = row["difference"]
    return UniversalityResult(errors, n_params, invariance, comparisons, metrics)


def universality_table(result: UniversalityResult) -> pd.DataFrame:
    """Per model: the normalised test error of each statistic (mean ± std over seeds), parameters, invariance."""
    import pandas as pd

    rows = []
    for name in MODEL_NAMES:
        row = {"model": name}
        for target, err in zip(TARGET_NAMES, result.errors[name].T):
            row[target] = format_spread(summarize(err.tolist()))
        rows.append({**row, "parameters": result.n_params[name],
                     "largest change when reordered": f"{result.invariance_error[name]:.2e}"})
    return pd.DataFrame(rows)


def universality_comparisons(result: UniversalityResult) -> pd.DataFrame:
    """The comparisons of :func:`run_universality` as a table: target, models, verdict and phrase."""
    import pandas as pd

    return pd.DataFrame([{"statistic": r["target"],
                          "claim": f"{_MODEL_PROSE[r['a']]} has a lower error than {_MODEL_PROSE[r['b']]}",
                          "verdict": r["verdict"], "evidence": r["phrase"]} for r in result.comparisons])


def plot_universality(result: UniversalityResult) -> Figure:
    """Bars of the normalised test error per statistic and model (mean ± std over seeds), on a log scale."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / len(MODEL_NAMES)
    xs = np.arange(len(TARGET_NAMES))
    for i, name in enumerate(MODEL_NAMES):
        errors = result.errors[name]
        ax.bar(xs + (i - 1) * width, errors.mean(0), width, yerr=errors.std(0, ddof=1) if len(errors) > 1 else None,
               capsize=2, label=f"{name} ({result.n_params[name]:,} parameters)")
    ax.set_xticks(xs, TARGET_NAMES)
    ax.set_yscale("log")
    ax.set_ylabel("test MSE / variance (mean ± std over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ========================================================================================
# 3. Fig. 4.2: the effect of gamma on the losses
# ========================================================================================


@dataclass
class GammaLossesConfig(ToyGANConfig):
    """BGAN on a 2-D toy with several batch-smoothing parameters, every seed of a ``gamma``
    trained at once as replicas (book scale)."""

    dataset: str = "grid"
    gammas: Tuple[float, ...] = (0.0, 0.1, 0.3, 0.5)
    n_steps: int = 300
    seeds: Tuple[int, ...] = tuple(range(10))
    SCALES: ClassVar = {
        "smoke": {"n_steps": 10, "gammas": (0.0, 0.5), "thesis_hidden": 16, "seeds": (0, 1, 2)},
        "paper": {"n_steps": 20000, "thesis_hidden": 512, "thesis_n_disc": 5, "thesis_lr": 1e-3},
    }


@dataclass
class GammaLossesResult:
    """What :func:`run_gamma_losses` returns.

    ``steps[gamma]``: the generator steps at which the losses were recorded (every 10 steps). ``g_loss_last_quarter``:
    per gamma and seed, the mean generator loss over the last quarter of the recorded values. ``comparisons``: the
    rows of :func:`_gamma_comparisons` (keys ``a``, ``b``, ``difference``, ``low``, ``high``, ``verdict``,
    ``phrase``). ``metrics`` also holds each gamma's final modes covered and high-quality percentage.
    """

    gammas: List[float]
    steps: Dict[float, np.ndarray]
    d_loss: Dict[float, np.ndarray]  # per gamma: the discriminator loss along training, mean over the seeds
    g_loss: Dict[float, np.ndarray]
    g_loss_last_quarter: Dict[float, List[float]] = field(default_factory=dict)  # per gamma: one value per seed
    comparisons: List[Dict[str, object]] = field(default_factory=list)  # the largest gamma against each other
    metrics: Dict[str, float] = field(default_factory=dict)


def _last_quarter(series: List[float]) -> float:
    return float(np.mean(series[-max(1, len(series) // 4):]))


def _gamma_comparisons(g_last: Dict[float, List[float]]) -> List[Dict[str, object]]:
    """Fig. 4.2's reading, "the larger gamma, the lower the generator loss": the largest gamma
    against every other one, verdicts from the bootstrap interval over the seeds."""
    top = max(g_last)
    rows = []
    for gamma in sorted(g_last):
        if gamma == top:
            continue
        diff = bootstrap_difference(g_last[top], g_last[gamma])
        rows.append({"a": top, "b": gamma, "difference": diff.estimate, "low": diff.low, "high": diff.high,
                     "verdict": verdict(g_last[top], g_last[gamma], higher_is_better=False),
                     "phrase": compare_phrase(f"γ = {top:g}", g_last[top], f"γ = {gamma:g}", g_last[gamma],
                                              higher_is_better=False)})
    return rows


@register("symmetric_discriminators/gamma_losses", config=GammaLossesConfig,
          plot=lambda r: plot_gamma_losses(r),
          description="Fig. 4.2: batch smoothing gamma against the discriminator and generator losses, over seeds")
def run_gamma_losses(cfg: GammaLossesConfig) -> GammaLossesResult:
    """Train BGAN (the thesis' networks) on ``cfg.dataset`` for each ``gamma`` of ``cfg.gammas``, seeds as replicas.

    Records both losses along training, and compares the largest gamma's generator loss over the last quarter of
    training with every other gamma's (:func:`_gamma_comparisons`).
    """
    steps, d_loss, g_loss, metrics = {}, {}, {}, {"n_seeds": len(cfg.seeds)}
    g_last: Dict[float, List[float]] = {}
    for gamma in cfg.gammas:
        run = _train_toy_replicas("thesis", "bgan", cfg.dataset, tuple(cfg.seeds), cfg, gamma)
        h = run["history"]
        steps[gamma] = np.asarray(h.steps("d_loss"))
        d_loss[gamma], g_loss[gamma] = np.asarray(h["d_loss"]), np.asarray(h["g_loss"])
        g_last[gamma] = [_last_quarter(h[f"g_loss_{k}"]) for k in range(len(cfg.seeds))]
        d_last = [_last_quarter(h[f"d_loss_{k}"]) for k in range(len(cfg.seeds))]
        modes, quality = run["curve"][cfg.n_steps]
        metrics.update({f"gamma_{gamma}_d_loss_last_quarter": float(np.mean(d_last)),
                        f"gamma_{gamma}_g_loss_last_quarter": float(np.mean(g_last[gamma])),
                        f"gamma_{gamma}_g_loss_last_quarter_std": summarize(g_last[gamma]).std,
                        f"gamma_{gamma}_modes": float(np.mean(modes)),
                        f"gamma_{gamma}_high_quality_pct": float(100 * np.mean(quality))})
    comparisons = _gamma_comparisons(g_last)
    for row in comparisons:
        metrics[f"gamma_{row['a']}_vs_{row['b']}_g_loss_difference"] = row["difference"]
        metrics[f"gamma_{row['a']}_vs_{row['b']}_verdict"] = {VERDICTS[0]: 1.0, VERDICTS[1]: -1.0,
                                                              VERDICTS[2]: 0.0}[row["verdict"]]
    return GammaLossesResult(list(cfg.gammas), steps, d_loss, g_loss, g_last, comparisons, metrics)


def gamma_losses_table(result: GammaLossesResult) -> pd.DataFrame:
    """Per gamma: the generator loss over the last quarter of training (mean ± std over seeds)
    and, for every gamma but the largest, the comparison with the largest."""
    import pandas as pd

    verdicts = {row["b"]: row for row in result.comparisons}
    return pd.DataFrame([{"gamma": gamma,
                          "G loss, last quarter": format_spread(summarize(result.g_loss_last_quarter[gamma])),
                          "D loss, last quarter": round(result.metrics[f"gamma_{gamma}_d_loss_last_quarter"], 3),
                          f"lower G loss at γ = {max(result.gammas):g}?": verdicts[gamma]["verdict"]
                          if gamma in verdicts else "—"} for gamma in result.gammas])


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    width = max(1, min(width, len(values)))
    return np.convolve(values, np.ones(width) / width, mode="valid")


def plot_gamma_losses(result: GammaLossesResult) -> Figure:
    """Fig. 4.2: the discriminator and generator losses along training per gamma (mean over the seeds, smoothed
    by a moving average over a tenth of the recorded steps)."""
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
        ax.set_xlabel("generator step (mean over the seeds)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
