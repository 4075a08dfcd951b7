"""ELBO surgery, VAE-GAN hybrids (Sec. 6): scored by an independent critic, and what they report as a bound.

* ``elbo_surgery/hybrids`` — Sec. 6, Figs. 7-8: VAE, AAE, VGH, VGH++ and a GAN on ``digits``,
  scored by an independent WGAN-GP critic trained on validation data, over seeds (and a
  learning-rate sweep at ``paper`` scale); the GAN is checked against the digits quality bar.
* ``elbo_surgery/bounds_along_training`` — Figs. 4, 23, 24: what a VAE, an AAE, adversarial VB
  and VEEGAN report as their bound along training, the AAE's true ELBO beside its report, and
  the independent critic of adversarial VB against the VAE.

The models are :mod:`companion.hybrids`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch

import companion
from companion import hybrids
from companion.checks import check_positive_int
from companion.config import ExperimentConfig
from companion.data import load
from companion.evidence import verdict
from companion.experiments.elbo_surgery_shared import digits_feature_net, frechet_to_held_out
from companion.gan import GAN, MLPDiscriminator, MLPGenerator, fit_gan
from companion.metrics import classifier_quality_bar
from companion.plots import image_grid
from companion.reproduce import register
from companion.train import adam, minibatches
from companion.vae import VAE, fit_vae
from companion.workers import map_in_workers

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from matplotlib.figure import Figure

# ========================================================================================
# 7. Sec. 6: VAE, AAE, VGH, VGH++ and a GAN on digits, judged by an independent critic
# ========================================================================================


@dataclass
class HybridsConfig(ExperimentConfig):
    """Every model on ``digits`` at each learning rate of ``learning_rates`` over ``n_seeds``
    seeds (the paper: Figs. 7-8, a sweep, 100k steps).

    The GAN has its own loss, steps and learning rate (``gan_loss``, ``gan_n_critic``,
    ``gan_steps``, ``gan_lr``; a WGAN-GP, one of the paper's GAN baselines, chosen by a small
    sweep because the non-saturating GAN at these sizes drops digit classes) and must pass the book's
    digits quality bar before it is compared: on ``n_bar_samples`` samples the digit
    classifier of the adaptive-density chapter sees every class at least ``min_class_share``
    of the time, and the Fréchet distance in its features is within twice the VAE's.
    """

    models: Tuple[str, ...] = ("vae", "aae", "vgh", "vgh++", "gan")
    learning_rates: Tuple[float, ...] = (1e-3,)
    n_seeds: int = 5
    latent_dim: int = 16
    hidden: int = 128
    n_steps: int = 400
    gan_loss: str = "wgan-gp"
    gan_n_critic: int = 5
    gan_steps: int = 500
    gan_lr: float = 5e-4
    rec_weight: float = 10.0
    critic_steps: int = 200
    n_samples: int = 250
    n_bar_samples: int = 1000
    min_class_share: float = 0.03
    classifier_steps: int = 400  # the digit classifier of the quality bar
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"n_seeds": 2, "n_steps": 30, "gan_steps": 30, "critic_steps": 30, "hidden": 64, "n_samples": 200,
                  "n_bar_samples": 200, "classifier_steps": 40},
        "paper": {"learning_rates": (1e-4, 5e-4, 1e-3), "n_steps": 100_000, "gan_steps": 100_000, "gan_lr": 1e-4,
                  "critic_steps": 20_000, "n_samples": 10_000, "hidden": 1000},
    }


@dataclass
class HybridsResult:
    """What :func:`run_hybrids` returns: per model, the independent critic's score (higher is
    better) and the sample diversity of every run (learning rate by seed), 32 samples of its
    best-scoring run, and the same two numbers for the test digits; ``quality_bar`` holds the
    digits quality bar (:func:`companion.metrics.classifier_quality_bar`) of every VAE and GAN run
    (empty without VAE runs)."""

    scores: Dict[str, List[float]]  # model -> critic score per run (learning rate x seed)
    diversity: Dict[str, List[float]]
    samples: Dict[str, np.ndarray]
    data_diversity: float
    data_score: float
    quality_bar: Dict[str, List[Dict[str, object]]] = field(default_factory=dict)  # vae, gan -> per run
    metrics: Dict[str, float] = field(default_factory=dict)


def _train_sampler(kind: str, x: torch.Tensor, cfg: HybridsConfig, lr: float):
    """Train one model of experiment 7; return a function n -> samples in [0, 1]."""
    shape, dev = tuple(x.shape[1:]), x.device
    if kind == "vae":
        vae = VAE(shape, cfg.latent_dim, likelihood="bernoulli", hidden=cfg.hidden).to(dev)
        fit_vae(vae, x, n_steps=cfg.n_steps, lr=lr, desc="VAE")
        vae.eval()
        return lambda n: vae.sample(n, mean=True)
    if kind == "gan":
        gan = GAN(MLPGenerator(cfg.latent_dim, shape, cfg.hidden, 2, out_activation="sigmoid"),
                  MLPDiscriminator(shape, cfg.hidden, 2)).to(dev)
        fit_gan(gan, x, n_steps=cfg.gan_steps, batch_size=64, loss=cfg.gan_loss, n_critic=cfg.gan_n_critic,
                lr=cfg.gan_lr, betas=(0.5, 0.9), desc="GAN")
        return gan.sample
    model = hybrids.VAEGANHybrid(shape, cfg.latent_dim, kind=kind, hidden=cfg.hidden, rec_weight=cfg.rec_weight).to(dev)
    hybrids.fit_hybrid(model, x, n_steps=cfg.n_steps, lr=lr, disc_lr=lr)
    return model.sample


def _drawn_and_scored(sample: Callable[[int], torch.Tensor], valid: torch.Tensor,
                      cfg: Union["HybridsConfig", "BoundsAlongTrainingConfig"]) -> Tuple[torch.Tensor, float]:
    """``max(n_samples, n_bar_samples)`` samples of a trained model and the independent critic's
    score of the first ``n_samples`` (against ``valid``)."""
    drawn = sample(max(cfg.n_samples, cfg.n_bar_samples)).detach()
    return drawn, hybrids.independent_critic_score(drawn[: cfg.n_samples], valid, n_steps=cfg.critic_steps, lr=1e-3,
                                                   seed=cfg.seed)


def _scored_sampler(x: torch.Tensor, valid: torch.Tensor, cfg: HybridsConfig, kind: str, lr: float, seed: int):
    """One run of experiment 7 (a job of :func:`companion.workers.map_in_workers`): train it from
    ``seed``; its samples, their critic score and the diversity of the scored ones.

    Returns:
        ``(max(n_samples, n_bar_samples) samples, critic score, diversity)``.
    """
    companion.seed_everything(seed)
    drawn, score = _drawn_and_scored(_train_sampler(kind, x, cfg, lr), valid, cfg)
    return drawn, score, hybrids.sample_diversity(drawn[: cfg.n_samples])


@register("elbo_surgery/hybrids", config=HybridsConfig, plot=lambda r: plot_hybrids(r),
          description="Sec. 6 / Figs. 7-8: VAE, AAE, VGH, VGH++ and GAN on digits, independent critic, seeds")
def run_hybrids(cfg: HybridsConfig) -> HybridsResult:
    """Train every model of ``cfg.models`` on the training digits at every learning rate and seed,
    and score ``n_samples`` of its samples with an independent WGAN-GP critic trained against the
    validation digits (:func:`companion.hybrids.independent_critic_score`) and by their diversity
    (:func:`companion.hybrids.sample_diversity`); the test digits are scored alike as the reference.

    The VAE's and the GAN's runs are checked against the digits quality bar on ``n_bar_samples``
    samples, the VAE's mean Fréchet distance to the held-out digits being the reference. Every run
    seeds itself (``seed + 100 * lr index + seed index``) and trains in a worker process
    (:func:`companion.workers.map_in_workers`).
    """
    dev = companion.device()
    x, valid, test = (load("digits", s).to(dev) for s in ("train", "valid", "test"))
    held_out = torch.cat([valid, test])
    scores, diversity, samples = {}, {}, {}
    bar_samples: Dict[str, List[torch.Tensor]] = {"vae": [], "gan": []}
    # Every run is independent and seeded by its own seed: they train in worker processes.
    jobs = [(kind, lr, cfg.seed + 100 * i + s) for kind in cfg.models for i, lr in enumerate(cfg.learning_rates)
            for s in range(cfg.n_seeds)]
    runs = iter(map_in_workers(lambda *job: _scored_sampler(x, valid, cfg, *job), jobs))
    for kind in cfg.models:
        scores[kind], diversity[kind] = [], []
        for _ in range(len(cfg.learning_rates) * cfg.n_seeds):
            drawn, score, spread = next(runs)
            if kind in bar_samples:
                bar_samples[kind].append(drawn[: cfg.n_bar_samples])
            drawn = drawn[: cfg.n_samples]
            scores[kind].append(score)
            diversity[kind].append(spread)
            if len(scores[kind]) == 1 or scores[kind][-1] >= max(scores[kind][:-1]):
                samples[kind] = drawn[:32].cpu().numpy()
    data_score = hybrids.independent_critic_score(test, valid, n_steps=cfg.critic_steps, lr=1e-3, seed=cfg.seed)
    data_diversity = hybrids.sample_diversity(test)
    metrics = {"test_data_critic_score": data_score, "test_data_diversity": data_diversity}
    quality_bar: Dict[str, List[Dict[str, object]]] = {}
    if bar_samples["vae"]:
        # The bar's reference: the VAE's Fréchet distance, averaged over its runs.
        reference = float(np.mean([frechet_to_held_out(s, held_out, cfg.classifier_steps) for s in bar_samples["vae"]]))
        metrics["vae_mean_frechet"] = reference
        net, _ = digits_feature_net(cfg.classifier_steps)
        for kind, runs in bar_samples.items():
            quality_bar[kind] = [classifier_quality_bar(s, net, held_out, reference, cfg.min_class_share) for s in runs]
            if runs:
                metrics[f"{kind}_runs_meeting_bar"] = sum(b["meets_bar"] for b in quality_bar[kind])
                metrics[f"{kind}_mean_frechet"] = float(np.mean([b["frechet"] for b in quality_bar[kind]]))
                metrics[f"{kind}_min_class_share"] = float(min(min(b["class_shares"]) for b in quality_bar[kind]))
    for kind in cfg.models:
        metrics[f"{kind}_best_critic_score"] = float(max(scores[kind]))
        metrics[f"{kind}_median_critic_score"] = float(np.median(scores[kind]))
        metrics[f"{kind}_median_diversity"] = float(np.median(diversity[kind]))
    return HybridsResult(scores, diversity, samples, data_diversity, data_score, quality_bar, metrics)


def plot_hybrids(result: HybridsResult) -> Figure:
    """Figs. 7-8: box plots over the runs of each model's critic score (its best run a dot) and
    sample diversity, the test digits' values dotted, above 16 samples of each model's best run."""
    import matplotlib.pyplot as plt

    kinds = list(result.scores)
    fig = plt.figure(figsize=(11, 6))
    grid = fig.add_gridspec(2, len(kinds), height_ratios=[1.1, 1])
    ax_score = fig.add_subplot(grid[0, : len(kinds) // 2 + 1])
    ax_div = fig.add_subplot(grid[0, len(kinds) // 2 + 1:])
    ax_score.boxplot([result.scores[k] for k in kinds])
    for i, k in enumerate(kinds):
        ax_score.plot(i + 1, max(result.scores[k]), "ko")
    ax_score.set_xticks(range(1, len(kinds) + 1), kinds)
    ax_score.axhline(result.data_score, color="grey", ls=":", label="test data")
    ax_score.set_ylabel("independent critic (higher is better)")
    ax_score.legend(fontsize=8)
    ax_div.boxplot([result.diversity[k] for k in kinds])
    ax_div.set_xticks(range(1, len(kinds) + 1), kinds)
    ax_div.axhline(result.data_diversity, color="grey", ls=":", label="test data")
    ax_div.set_ylabel("sample diversity")
    for i, k in enumerate(kinds):
        image_grid(result.samples[k][:16], nrow=4, ax=fig.add_subplot(grid[1, i]), title=k)
    return fig


# ========================================================================================
# 2. Figs. 4, 23, 24: bounds along training
# ========================================================================================

#: The models of experiment 2.
BOUND_MODELS = ("vae", "aae", "avb", "veegan")


@dataclass
class BoundsAlongTrainingConfig(ExperimentConfig):
    """A VAE, an AAE, adversarial VB (no adaptive contrast) and VEEGAN on ``digits``, each at
    every learning rate of ``learning_rates``; their reported bounds on validation data every
    ``eval_every`` steps; an independent critic on the final samples.

    VEEGAN's discriminator learns at ``veegan_disc_lr_factor`` times the learning rate of its
    generator and reconstructor (the paper's Table 3 sweeps a tenth). Every model but the VAE
    is checked against the book's digits quality bar, as in ``elbo_surgery/hybrids``: on
    ``n_bar_samples`` samples the digit classifier sees every class at least
    ``min_class_share`` of the time, and the Fréchet distance in its features is within twice
    the VAE's (averaged over the VAE's runs).

    Fig. 24 ranks adversarial VB against the VAE by the independent critic, which takes more
    than one run: each model of ``critic_models`` is trained ``critic_seeds`` times per learning
    rate (the first run is the one whose curves are drawn; the others train the same way
    without evaluating their bounds along the way), and every run is scored by the critic
    and the quality bar. Fig. 4's claim that the AAE's report is no lower bound on its own
    ELBO rests on ``gap_seeds`` runs of the AAE per learning rate (each run's report and true
    ELBO at the end, paired).
    """

    models: Tuple[str, ...] = BOUND_MODELS
    learning_rates: Tuple[float, ...] = (5e-4, 1e-3)
    latent_dim: int = 16
    hidden: int = 128
    n_steps: int = 600
    eval_every: int = 30
    critic_steps: int = 200
    n_samples: int = 250
    veegan_disc_lr_factor: float = 0.1
    n_bar_samples: int = 1000
    min_class_share: float = 0.03
    classifier_steps: int = 400  # the digit classifier of the quality bar
    critic_models: Tuple[str, ...] = ("vae", "avb")  # Fig. 24: ranked by the critic over seeds
    critic_seeds: int = 10
    gap_seeds: int = 5  # Fig. 4: runs of the AAE per learning rate
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"learning_rates": (1e-3,), "n_steps": 30, "eval_every": 10, "critic_steps": 20, "hidden": 32,
                  "n_samples": 100, "n_bar_samples": 200, "classifier_steps": 40, "critic_seeds": 2,
                  "gap_seeds": 2},
        "paper": {"learning_rates": (1e-4, 3e-4, 5e-4, 1e-3), "n_steps": 100_000, "eval_every": 1000,
                  "critic_steps": 20_000, "n_samples": 10_000, "hidden": 1000, "latent_dim": 50},
    }

    def run_seeds(self, kind: str, lr_index: int) -> List[int]:
        """The seeds of ``kind`` at the ``lr_index``-th learning rate: ``seed + lr_index`` (the run
        with curves), then, for the models of ``critic_models`` (``critic_seeds`` runs) and the AAE
        (``gap_seeds`` runs), every ``len(learning_rates)``-th seed after it, so that no two runs
        of a model share a seed."""
        name = "critic_seeds" if kind in self.critic_models else "gap_seeds" if kind == "aae" else None
        n = getattr(self, name) if name else 1
        check_positive_int(n, name or "runs")
        return [self.seed + lr_index + j * len(self.learning_rates) for j in range(n)]


@dataclass
class BoundsAlongTrainingResult:
    """What :func:`run_bounds_along_training` returns. ``steps`` are the training steps at which the
    curves of ``reported`` and ``true_elbo`` (nats per validation digit, of the run with curves) were
    evaluated; ``samples`` are 32 samples of that run at the first learning rate; ``data_critic`` is
    the independent critic's score of the test digits, the reference for ``critic``."""

    steps: np.ndarray
    reported: Dict[str, Dict[float, np.ndarray]]  # model -> lr -> curve
    true_elbo: Dict[str, Dict[float, np.ndarray]]  # vae, aae only
    critic: Dict[str, List[float]]  # model -> the critic of the run with curves, per learning rate
    samples: Dict[str, np.ndarray]
    data_critic: float
    quality_bar: Dict[str, List[Dict[str, object]]] = field(default_factory=dict)  # model -> per run (lr)
    metrics: Dict[str, object] = field(default_factory=dict)
    critic_runs: Dict[str, Dict[float, List[float]]] = field(default_factory=dict)  # model -> lr -> per seed
    # model -> lr -> per seed: (reported bound, true ELBO or NaN) at the end of the run
    final_runs: Dict[str, Dict[float, List[Tuple[float, float]]]] = field(default_factory=dict)


def _rank_trend(values: np.ndarray) -> float:
    """Spearman correlation of a curve's second half with time: +1 rises steadily, -1 falls."""
    half = np.asarray(values[len(values) // 2:], dtype=float)
    if len(half) < 3 or np.ptp(half) == 0:
        return 0.0
    ranks = np.argsort(np.argsort(half))
    return float(np.corrcoef(np.arange(len(half)), ranks)[0, 1])


@dataclass
class _Trainee:
    """One model of experiment 2 ready to train: ``step()`` takes one training step,
    ``evaluate()`` returns its (reported bound, true ELBO or ``None``) on validation data, and
    ``sample(n)`` draws images."""

    step: Callable[[], None]
    evaluate: Callable[[], Tuple[float, Optional[float]]]
    sample: Callable[[int], torch.Tensor]


def _vae_trainee(kind: str, shape: Tuple[int, ...], cfg: BoundsAlongTrainingConfig, lr: float, batches: Iterator,
                 valid: torch.Tensor) -> _Trainee:
    """The VAE reports its ELBO, which is its true ELBO."""
    model = VAE(shape, cfg.latent_dim, likelihood="bernoulli", hidden=cfg.hidden).to(valid.device)
    opt = adam(model.parameters(), lr=lr, betas=(0.5, 0.9))

    def step():
        loss = -model.elbo(next(batches)).elbo.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def evaluate():
        with torch.no_grad():
            elbo = float(model.elbo(valid).elbo.mean())
        return elbo, elbo

    return _Trainee(step, evaluate, lambda n: model.sample(n, mean=True))


def _aae_trainee(kind: str, shape: Tuple[int, ...], cfg: BoundsAlongTrainingConfig, lr: float, batches: Iterator,
                 valid: torch.Tensor) -> _Trainee:
    """The AAE reports its classifier's bound; its true ELBO is computed beside it."""
    model = hybrids.VAEGANHybrid(shape, cfg.latent_dim, kind="aae", hidden=cfg.hidden).to(valid.device)
    opts = hybrids.hybrid_optimizers(model, lr, lr)

    def evaluate():
        e = hybrids.aae_bound_estimates(model, valid)
        return e["reported"], e["elbo"]

    return _Trainee(lambda: hybrids.hybrid_step(model, next(batches), opts), evaluate, model.sample)


def _adversarial_trainee(kind: str, shape: Tuple[int, ...], cfg: BoundsAlongTrainingConfig, lr: float,
                         batches: Iterator, valid: torch.Tensor) -> _Trainee:
    """Adversarial VB and VEEGAN report a classifier's estimate; they have no true ELBO to compare."""
    cls = hybrids.AdversarialVB if kind == "avb" else hybrids.VEEGAN
    model = cls(shape, cfg.latent_dim, hidden=cfg.hidden).to(valid.device)
    opts = model.optimizers(lr) if kind == "avb" else model.optimizers(lr, disc_lr=cfg.veegan_disc_lr_factor * lr)
    return _Trainee(lambda: model.train_step(next(batches), opts),
                    lambda: (model.bound_estimates(valid)["reported"], None), model.sample)


_TRAINEES = {"vae": _vae_trainee, "aae": _aae_trainee, "avb": _adversarial_trainee, "veegan": _adversarial_trainee}


def _train_with_bounds(kind: str, x: torch.Tensor, valid: torch.Tensor, cfg: BoundsAlongTrainingConfig, lr: float,
                       seed: int, track: bool = True):
    """Train one model, evaluating its bounds every ``cfg.eval_every`` steps (``track=False``:
    at the start and the end only, for the extra seeds scored by the critic).

    Returns:
        ``(reported curve, true-ELBO curve or None, sampler)``.
    """
    if kind not in _TRAINEES:
        raise ValueError(f"models must be among {BOUND_MODELS}; got {kind!r}")
    companion.seed_everything(seed)
    batches = minibatches(x, 64, generator=torch.Generator().manual_seed(seed))
    trainee = _TRAINEES[kind](kind, tuple(x.shape[1:]), cfg, lr, batches, valid)
    reported, true = [], []
    for i in range(cfg.n_steps + 1):
        if (i % cfg.eval_every == 0) if track else i in (0, cfg.n_steps):
            r, t = trainee.evaluate()
            if not math.isfinite(r):
                raise FloatingPointError(f"{kind} at lr {lr}: the reported bound is {r} at step {i}")
            reported.append(r)
            true.append(t)
        if i < cfg.n_steps:
            trainee.step()
    return np.array(reported), (None if true[0] is None else np.array(true)), trainee.sample


def _scored_run(x: torch.Tensor, valid: torch.Tensor, cfg: BoundsAlongTrainingConfig, kind: str, lr: float,
                seed: int, track: bool):
    """One run of experiment 2 (a job of :func:`companion.workers.map_in_workers`): train it
    (:func:`_train_with_bounds`); its samples and their critic score.

    Returns:
        ``(reported curve, true-ELBO curve or None, max(n_samples, n_bar_samples) samples, critic score)``.
    """
    curve, elbo, sampler = _train_with_bounds(kind, x, valid, cfg, lr, seed, track=track)
    return (curve, elbo, *_drawn_and_scored(sampler, valid, cfg))


@register("elbo_surgery/bounds_along_training", config=BoundsAlongTrainingConfig,
          plot=lambda r: plot_bounds_along_training(r),
          description="Figs. 4, 23, 24: reported bounds of VAE, AAE, adversarial VB and VEEGAN along training")
def run_bounds_along_training(cfg: BoundsAlongTrainingConfig) -> BoundsAlongTrainingResult:
    """What each model would report as its lower bound, on validation digits, along training.

    The VAE reports its ELBO. The AAE replaces the KL by its code discriminator's estimate of
    the marginal KL (:func:`companion.hybrids.aae_bound_estimates`); its true ELBO is
    computed beside it. Adversarial VB reports ``E[log p(x|z) - T(x, z)]`` and VEEGAN minus
    its objective (:class:`companion.hybrids.AdversarialVB`, :class:`companion.hybrids.VEEGAN`).
    """
    unknown = [m for m in cfg.models + cfg.critic_models if m not in BOUND_MODELS]
    if unknown or not cfg.models:
        raise ValueError(f"models and critic_models must be subsets of {BOUND_MODELS} (models non-empty); "
                         f"got {cfg.models!r} and {cfg.critic_models!r}")
    dev = companion.device()
    x, valid, test = (load("digits", s).to(dev) for s in ("train", "valid", "test"))
    reported: Dict[str, Dict[float, np.ndarray]] = {}
    true: Dict[str, Dict[float, np.ndarray]] = {}
    critic: Dict[str, List[float]] = {}
    critic_runs: Dict[str, Dict[float, List[float]]] = {}
    final_runs: Dict[str, Dict[float, List[Tuple[float, float]]]] = {}
    samples: Dict[str, np.ndarray] = {}
    bar_samples: Dict[str, List[torch.Tensor]] = {}
    metrics: Dict[str, object] = {}
    # Every run is independent and seeded by its own seed: they train in worker processes.
    jobs = [(kind, lr, seed, j == 0) for kind in cfg.models for i, lr in enumerate(cfg.learning_rates)
            for j, seed in enumerate(cfg.run_seeds(kind, i))]
    runs = iter(map_in_workers(lambda *job: _scored_run(x, valid, cfg, *job), jobs))
    for kind in cfg.models:
        reported[kind], critic[kind], critic_runs[kind], final_runs[kind], bar_samples[kind] = {}, [], {}, {}, []
        for i, lr in enumerate(cfg.learning_rates):
            critic_runs[kind][lr], final_runs[kind][lr] = [], []
            for j, _ in enumerate(cfg.run_seeds(kind, i)):
                curve, elbo, drawn, score = next(runs)
                final_runs[kind][lr].append((float(curve[-1]), float("nan") if elbo is None else float(elbo[-1])))
                bar_samples[kind].append(drawn[: cfg.n_bar_samples])
                s = drawn[: cfg.n_samples]
                critic_runs[kind][lr].append(score)
                if j == 0:
                    _record_curves(kind, lr, curve, elbo, reported, true, metrics)
                    critic[kind].append(critic_runs[kind][lr][0])
                    metrics[f"{kind}_lr{lr:g}_critic"] = critic[kind][-1]
                    if i == 0:
                        samples[kind] = s[:32].cpu().numpy()
    data_critic = hybrids.independent_critic_score(test, valid, n_steps=cfg.critic_steps, lr=1e-3, seed=cfg.seed)
    metrics["test_data_critic"] = data_critic
    quality_bar = _bounds_quality_bar(bar_samples, torch.cat([valid, test]), cfg, metrics)
    _critic_verdicts(critic_runs, cfg, metrics)
    _gap_verdicts(final_runs, cfg, metrics)
    steps = np.arange(0, cfg.n_steps + 1, cfg.eval_every)
    return BoundsAlongTrainingResult(steps, reported, true, critic, samples, data_critic, quality_bar, metrics,
                                     critic_runs, final_runs)


def _record_curves(kind: str, lr: float, curve: np.ndarray, elbo: Optional[np.ndarray], reported: dict,
                   true: dict, metrics: Dict[str, object]) -> None:
    """Store the curves of the run with curves and their end points, gap and trend in ``metrics``."""
    reported[kind][lr] = curve
    if elbo is not None:
        true.setdefault(kind, {})[lr] = elbo
        metrics[f"{kind}_lr{lr:g}_final_true_elbo"] = float(elbo[-1])
        metrics[f"{kind}_lr{lr:g}_final_gap"] = float(curve[-1] - elbo[-1])
    metrics[f"{kind}_lr{lr:g}_final_reported"] = float(curve[-1])
    metrics[f"{kind}_lr{lr:g}_trend"] = _rank_trend(curve)


def _critic_verdicts(critic_runs: Dict[str, Dict[float, List[float]]], cfg: BoundsAlongTrainingConfig,
                     metrics: Dict[str, object]) -> None:
    """Per learning rate, the critic over seeds of each model of ``critic_models`` and, for each later
    one against the first (Fig. 24: AVB against the VAE), :func:`companion.evidence.verdict` on "it
    scores higher" (independent groups: the models share the data order of a seed, not their weights)."""
    ranked = [k for k in cfg.critic_models if k in critic_runs]
    metrics["critic_seeds"] = cfg.critic_seeds
    for lr in cfg.learning_rates:
        for kind in ranked:
            metrics[f"{kind}_lr{lr:g}_critic_mean"] = float(np.mean(critic_runs[kind][lr]))
        for kind in ranked[1:]:
            metrics[f"{kind}_vs_{ranked[0]}_lr{lr:g}_critic_verdict"] = verdict(
                critic_runs[kind][lr], critic_runs[ranked[0]][lr])


def _gap_verdicts(final_runs: Dict[str, Dict[float, List[Tuple[float, float]]]], cfg: BoundsAlongTrainingConfig,
                  metrics: Dict[str, object]) -> None:
    """Fig. 4 per learning rate: :func:`companion.evidence.verdict` on "the AAE's report ends above
    its true ELBO", each run's report against its own true ELBO (paired), over the AAE's runs."""
    if "aae" not in final_runs:
        return
    metrics["gap_seeds"] = cfg.gap_seeds
    for lr, runs in final_runs["aae"].items():
        report, elbo = [r for r, _ in runs], [e for _, e in runs]
        metrics[f"aae_lr{lr:g}_mean_final_gap"] = float(np.mean(np.subtract(report, elbo)))
        metrics[f"aae_lr{lr:g}_report_above_elbo_verdict"] = verdict(report, elbo, paired=True)


def _bounds_quality_bar(bar_samples: Dict[str, List[torch.Tensor]], held_out: torch.Tensor,
                        cfg: BoundsAlongTrainingConfig, metrics: Dict[str, object]) -> Dict[str, List[dict]]:
    """The digits quality bar of every model but the VAE, whose mean Fréchet distance is the reference;
    adds each model's outcome (runs meeting the bar, of how many) to ``metrics``."""
    if not bar_samples.get("vae"):
        return {}
    reference = float(np.mean([frechet_to_held_out(s, held_out, cfg.classifier_steps) for s in bar_samples["vae"]]))
    metrics["vae_mean_frechet"] = reference
    net, _ = digits_feature_net(cfg.classifier_steps)
    quality_bar = {}
    for kind, runs in bar_samples.items():
        if kind == "vae":
            continue
        quality_bar[kind] = [classifier_quality_bar(s, net, held_out, reference, cfg.min_class_share) for s in runs]
        metrics[f"{kind}_runs_meeting_bar"] = sum(b["meets_bar"] for b in quality_bar[kind])
        metrics[f"{kind}_runs"] = len(runs)
        metrics[f"{kind}_mean_frechet"] = float(np.mean([b["frechet"] for b in quality_bar[kind]]))
        metrics[f"{kind}_min_class_share"] = float(min(b["min_class_share"] for b in quality_bar[kind]))
    return quality_bar


def plot_bounds_along_training(result: BoundsAlongTrainingResult) -> Figure:
    """Figs. 4, 23, 24: one column per model, its reported bound along training per learning rate
    (the AAE's true ELBO dashed beside it) above 16 of its samples, titled with its median critic
    score and the test digits'."""
    import matplotlib.pyplot as plt

    kinds = list(result.reported)
    fig = plt.figure(figsize=(3.2 * len(kinds), 6.2))
    grid = fig.add_gridspec(2, len(kinds), height_ratios=[1.2, 1])
    names = {"vae": "VAE: ELBO", "aae": "AAE: reported (classifier KL)", "avb": "adversarial VB: reported",
             "veegan": "VEEGAN: minus its objective"}
    for j, kind in enumerate(kinds):
        ax = fig.add_subplot(grid[0, j])
        for c, (lr, curve) in enumerate(result.reported[kind].items()):
            ax.plot(result.steps[: len(curve)], curve, color=f"C{c}", label=f"lr {lr:g}")
            if kind in result.true_elbo and kind != "vae":
                ax.plot(result.steps[: len(curve)], result.true_elbo[kind][lr], color=f"C{c}", ls="--",
                        label=f"true ELBO, lr {lr:g}")
        ax.set_title(names.get(kind, kind), fontsize=9)
        ax.set_xlabel("step")
        if j == 0:
            ax.set_ylabel("nats (validation digits)")
        ax.legend(fontsize=7)
        image_grid(result.samples[kind][:16], nrow=4, ax=fig.add_subplot(grid[1, j]),
                   title=f"{kind}: critic {np.median(result.critic[kind]):.2f} (data {result.data_critic:.2f})")
    fig.tight_layout()
    return fig
