"""The ring experiment of the chapter on adaptive density estimation (Lucas et al. 2019; thesis ch. 5).

* ``adaptive_density/fig4`` — Fig. 4 / Fig. 5.4 (and Figs. 2.9, 2.10 of the thesis): where maximum
  likelihood puts mass and where the adversarial loss removes it. Left, a 1-D mixture fitted by one
  Gaussian under the two KL directions; right, a 1-D latent variable model with an isotropic Gaussian
  decoder on the 2-D ``ring`` trained as VAE, GAN and AV-GDE (AV-ADE too at paper scale): densities,
  samples, modes covered and high-quality samples.

The GAN's decoder is trained as the package's plain GAN (``_fit_decoder_as_gan`` of
:mod:`.adaptive_density`), the seeds together as replicas (:mod:`.adaptive_density_gans`); every
model is a tiny MLP, so a seed costs seconds on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

import companion
from companion import data as datasets
from companion.ade import ADE, build_ade, fit_ade, fit_inference_network
from companion.config import ExperimentConfig
from companion.evidence import verdict
from companion.experiments.adaptive_density import _fit_decoder_as_gan
from companion.experiments.adaptive_density_gans import continuing_generator, train_decoders_as_gans
from companion.metrics import mean_std, mode_coverage
from companion.plots import pyplot
from companion.reproduce import register
from companion.workers import map_in_workers

if TYPE_CHECKING:  # for the annotations only: importing the module stays cheap
    from matplotlib.figure import Figure


@dataclass
class Fig4Config(ExperimentConfig):
    """The two KL directions in 1-D and three latent variable models on the 2-D ring."""

    modes: Tuple[str, ...] = ("vae", "gan", "av-gde")
    n_steps: int = 500
    batch_size: int = 128
    lr: float = 2e-3
    hidden: int = 64
    flow_blocks: int = 4
    flow_hidden: int = 32
    adv_weight: float = 1.0
    n_samples: int = 2500
    n_eval_samples: int = 32
    resolution: int = 60
    # the counts and NLLs are reported over these seeds (ten: a seed costs seconds); the figure shows the first
    seeds: Tuple[int, ...] = tuple(range(10))
    # The GAN. "plain": mu_theta and the discriminator trained as the package's plain GAN (non-saturating loss,
    # Adam at gan_lr, times gan_decay after gan_decay_step steps (0: never), batches of gan_batch_size as in
    # PacGAN), then the inference network around it for n_steps; "ade": L_Q with the gradient penalty and Adamax
    # (fit_ade) for n_steps, which at book scale collapses off the ring. The book-scale recipe is the one of a
    # ten-seed sweep (see the chapter) that met the ring bar: 4,000 steps, the rate divided by five after 2,500.
    gan_fit: str = "plain"
    gan_steps: int = 4000
    gan_lr: float = 1e-3
    gan_decay_step: int = 2500
    gan_decay: float = 0.2
    gan_batch_size: int = 100
    SCALES: ClassVar = {
        "smoke": {"n_steps": 30, "n_samples": 500, "resolution": 20, "n_eval_samples": 4, "seeds": (0, 1),
                  "gan_steps": 30},
        "paper": {"n_steps": 5000, "hidden": 128, "modes": ("vae", "gan", "av-gde", "av-ade"),
                  "seeds": tuple(range(10)), "gan_steps": 20_000, "gan_decay_step": 0},
    }


@dataclass
class Fig4Result:
    """What :func:`run_fig4` returns (arrays on the CPU).

    ``target_1d`` (the mixture ``p*``), ``forward_kl_fit`` and ``reverse_kl_fit`` are densities on ``grid_1d``, 1,001
    points of ``[-5, 5]``; ``data`` is the first 2,000 training points of the ring, ``(2000, 2)``. For the first seed,
    ``samples[mode]`` is ``(n_samples, 2)`` and ``log_density[mode]`` the ``(resolution, resolution)`` log-density
    (nats) on the square ``bounds`` = ``(x_min, x_max, y_min, y_max)``, one row per ``y``.
    """

    grid_1d: np.ndarray
    target_1d: np.ndarray
    forward_kl_fit: np.ndarray  # the single Gaussian minimising KL(p* || q): MLE
    reverse_kl_fit: np.ndarray  # the one minimising KL(q || p*): what L_Q does at the optimal discriminator
    data: np.ndarray
    samples: Dict[str, np.ndarray]
    log_density: Dict[str, np.ndarray]
    bounds: Tuple[float, float, float, float]
    # "{mode}_{key}": the first seed; _mean, _std: all; the bar and the verdict (words)
    metrics: Dict[str, Union[float, str]] = field(default_factory=dict)
    runs: Dict[str, Dict[str, List[float]]] = field(default_factory=dict)  # mode -> key -> one value per seed


#: The bar of a GAN on the ring: the modes it covers, on average over seeds (PacGAN's GAN: 6.3 of 8).
RING_BAR_MODES = 6.0


def _ring_model(cfg: Fig4Config, mode: str) -> ADE:
    """A model of Fig. 4 with a 1-D latent on the 2-D ring, untrained (its initialisation draws from the global
    generator)."""
    return build_ade((2,), mode=mode, latent_dim=1, hidden=cfg.hidden, flow_blocks=cfg.flow_blocks,
                     flow_hidden=cfg.flow_hidden, disc_hidden=cfg.hidden, adv_weight=cfg.adv_weight)


def _ring_gans(cfg: Fig4Config, seeds: Sequence[int], train: torch.Tensor) -> Iterator[ADE]:
    """The GAN of Fig. 4 for every seed (``cfg.gan_fit == "plain"``), the seeds trained together as replicas
    (:func:`~.adaptive_density_gans.train_decoders_as_gans`), each the run of its seed up to rounding; yields
    each seed's model after its inference network, with the global random state that seed's run leaves."""
    models, streams = [], []
    for seed in seeds:
        companion.seed_everything(seed)
        models.append(_ring_model(cfg, "gan").to(train.device))
        streams.append(continuing_generator())
    train_decoders_as_gans(models, streams, train.expand(len(models), *train.shape), n_steps=cfg.gan_steps,
                           batch_size=cfg.gan_batch_size, lr=cfg.gan_lr, decay_step=cfg.gan_decay_step,
                           decay=cfg.gan_decay, desc=f"ring (gan) x{len(models)}")
    for seed, model, stream in zip(seeds, models, streams):
        companion.seed_everything(seed)
        torch.set_rng_state(stream.get_state())  # the seed's own stream goes on
        fit_inference_network(model, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr)
        yield model


def _fit_ring_model(cfg: Fig4Config, mode: str, train: torch.Tensor, desc: str) -> ADE:
    """One model of Fig. 4 with a 1-D latent, trained on the ring (the GAN as ``cfg.gan_fit`` says)."""
    if cfg.gan_fit not in ("plain", "ade"):
        raise ValueError(f"gan_fit must be 'plain' or 'ade'; got {cfg.gan_fit!r}")
    model = _ring_model(cfg, mode).to(train.device)
    if mode == "gan" and cfg.gan_fit == "plain":
        _fit_decoder_as_gan(model, train, n_steps=cfg.gan_steps, batch_size=cfg.gan_batch_size, lr=cfg.gan_lr,
                            decay_step=cfg.gan_decay_step, decay=cfg.gan_decay, desc=desc)
        fit_inference_network(model, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr)
    else:
        fit_ade(model, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr, desc=desc)
    return model


def _two_kl_fits(grid: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Dict[str, float]]:
    """p* = 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2) fitted by one Gaussian under both KL directions."""
    def normal_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
        return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))

    target = 0.5 * normal_pdf(grid, -2, 0.5) + 0.5 * normal_pdf(grid, 2, 0.5)
    dx = grid[1] - grid[0]
    # KL(p* || q) is minimised by moment matching: mean 0, variance 0.25 + 4
    forward = normal_pdf(grid, 0.0, math.sqrt(4.25))
    # KL(q || p*) has no closed form: search means and scales on a grid (all at once)
    log_target = np.log(target + 1e-300)
    means, stds = np.linspace(-3, 3, 121), np.linspace(0.2, 3.0, 57)
    m, s = means[:, None, None], stds[None, :, None]
    log_q = -0.5 * ((grid - m) / s) ** 2 - np.log(s) - 0.5 * math.log(2 * math.pi)
    kls = np.sum(np.exp(log_q) * (log_q - log_target), axis=-1) * dx
    i, j = np.unravel_index(np.argmin(kls), kls.shape)
    best, best_kl = (float(means[i]), float(stds[j])), float(kls[i, j])
    reverse = normal_pdf(grid, *best)
    kl_forward_of_forward = float(np.sum(target * (log_target - np.log(forward + 1e-300))) * dx)
    kl_forward_of_reverse = float(np.sum(target * (log_target - np.log(reverse + 1e-300))) * dx)
    return target, forward, reverse, {
        "reverse_kl_mean": float(best[0]), "reverse_kl_std": float(best[1]), "reverse_kl_value": best_kl,
        "forward_kl_of_mle_fit": kl_forward_of_forward, "forward_kl_of_reverse_fit": kl_forward_of_reverse,
    }


@register("adaptive_density/fig4", config=Fig4Config, plot=lambda r: plot_fig4(r),
          description="Fig. 4: the two KL directions, and a factorised Gaussian decoder on the ring "
                      "with and without f_psi")
def run_fig4(cfg: Fig4Config) -> Fig4Result:
    """Fit one Gaussian to a two-mode 1-D mixture under both KL directions (:func:`_two_kl_fits`), and train each
    model of ``cfg.modes`` with a 1-D latent on the 2-D ``ring`` for every seed of ``cfg.seeds``.

    Each model is scored on ``cfg.n_samples`` samples (modes covered and share of high-quality samples,
    :func:`companion.metrics.mode_coverage`) and by its NLL on 1,000 test points (``cfg.n_eval_samples`` latent
    draws); the metrics add means and spreads over seeds, the GAN's seeds at :data:`RING_BAR_MODES` and the verdict
    on the VAE's test NLL against the GAN's. The first seed's samples and log-density make the figure.
    """
    grid = np.linspace(-5, 5, 1001)
    target, forward, reverse, metrics = _two_kl_fits(grid)
    dev = companion.device()
    train = datasets.load("ring", "train").to(dev)
    test = datasets.load("ring", "test").to(dev)
    bounds, grid_2d = _ring_grid(cfg.resolution, dev)
    jobs = _ring_jobs(cfg)
    results = map_in_workers(_ring_job(cfg, train, test, grid_2d), jobs)
    fitted = {(mode, seed): result for (mode, seeds), per_seed in zip(jobs, results)
              for seed, result in zip(seeds, per_seed)}
    samples, log_density, runs = _collect_ring_runs(cfg, fitted, metrics)
    _add_ring_statistics(metrics, runs)
    return Fig4Result(grid, target, forward, reverse, train[:2000].cpu().numpy(), samples, log_density, bounds, metrics,
                      runs)


#: A seed's model of :func:`run_fig4` scored: its scores, and for the first seed its samples and log-density.
_RingScores = Tuple[Dict[str, float], Optional[np.ndarray], Optional[np.ndarray]]


def _ring_grid(resolution: int, device: torch.device) -> Tuple[Tuple[float, float, float, float], torch.Tensor]:
    """The square of the figure's density panels, ``(x_min, x_max, y_min, y_max)``, and its ``resolution ** 2``
    points on ``device``, ``x`` varying fastest (one row of the image per ``y``)."""
    bounds = (-1.6, 1.6, -1.6, 1.6)
    xs = torch.linspace(bounds[0], bounds[1], resolution)
    ys = torch.linspace(bounds[2], bounds[3], resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return bounds, torch.stack([gx.flatten(), gy.flatten()], dim=1).to(device)


def _ring_jobs(cfg: Fig4Config) -> List[Tuple[str, Tuple[int, ...]]]:
    """The ``(mode, seeds)`` jobs of :func:`run_fig4`: with ``cfg.gan_fit == "plain"`` the GANs of every seed in one
    job (replicas) first, then every other model one seed a job, seed by seed."""
    together = cfg.gan_fit == "plain"  # the plain GANs of every seed train in one job (replicas)
    jobs = [("gan", tuple(cfg.seeds))] if together and "gan" in cfg.modes else []
    jobs += [(mode, (seed,)) for seed in cfg.seeds for mode in cfg.modes if not (together and mode == "gan")]
    return jobs


def _ring_job(cfg: Fig4Config, train: torch.Tensor, test: torch.Tensor,
              grid_2d: torch.Tensor) -> Callable[[str, Tuple[int, ...]], List[_RingScores]]:
    """What one job of :func:`run_fig4` does (:func:`companion.workers.map_in_workers`): ``job(mode, seeds)``
    trains the models of ``mode`` on ``train`` and scores each seed's on ``test`` (:data:`_RingScores`; the first
    seed's log-density on the points ``grid_2d``)."""
    centres, std = datasets.toy_centers("ring"), datasets.toy_std("ring")

    def score(seed: int, model: ADE) -> _RingScores:
        """A seed's trained model: its scores, and for the first seed the figure's panels."""
        model.eval()
        with torch.no_grad():
            x_s = model.sample(cfg.n_samples)
            nll = -model.log_prob(test[:1000], n_samples=cfg.n_eval_samples).mean().item()
        n_modes, quality = mode_coverage(x_s, centres, std)
        scores = {"test_nll": nll, "modes": n_modes, "high_quality": quality,
                  "sigma": model.log_sigma.detach().exp().item()}
        if seed != cfg.seeds[0]:
            return scores, None, None
        with torch.no_grad():  # the figure: the first seed's samples and density
            dens = torch.cat([model.log_prob(chunk, n_samples=cfg.n_eval_samples) for chunk in grid_2d.split(1200)])
        return scores, x_s.cpu().numpy(), dens.view(cfg.resolution, cfg.resolution).cpu().numpy()

    def fit_and_score(mode: str, seeds: Tuple[int, ...]) -> List[_RingScores]:
        """One job (companion.workers): the plain GANs of every seed at once, any other model one seed."""
        if mode == "gan" and cfg.gan_fit == "plain":
            return [score(seed, model) for seed, model in zip(seeds, _ring_gans(cfg, seeds, train))]
        companion.seed_everything(seeds[0])
        return [score(seeds[0], _fit_ring_model(cfg, mode, train, f"ring ({mode}, seed {seeds[0]})"))]

    return fit_and_score


def _collect_ring_runs(cfg: Fig4Config, fitted: Dict[Tuple[str, int], _RingScores],
                       metrics: Dict[str, Union[float, str]]) -> Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray],
                                                                       Dict[str, Dict[str, List[float]]]]:
    """The scores of ``fitted`` (by mode and seed) as one series per mode and score, seed by seed, with the first
    seed's samples and log-density per mode; adds the first seed's scores to ``metrics`` (``"{mode}_{key}"``)."""
    samples, log_density = {}, {}
    runs: Dict[str, Dict[str, List[float]]] = {mode: {} for mode in cfg.modes}
    for seed, mode in [(seed, mode) for seed in cfg.seeds for mode in cfg.modes]:
        scores, x_s, dens = fitted[mode, seed]
        for key, value in scores.items():
            runs[mode].setdefault(key, []).append(float(value))
        if x_s is not None:
            samples[mode], log_density[mode] = x_s, dens
            metrics.update({f"{mode}_{key}": values[0] for key, values in runs[mode].items()})
    return samples, log_density, runs


def _add_ring_statistics(metrics: Dict[str, Union[float, str]], runs: Dict[str, Dict[str, List[float]]]) -> None:
    """Add to ``metrics`` the mean and spread over seeds of every series of ``runs``, the GAN's seeds at
    :data:`RING_BAR_MODES` and the verdict on the VAE's test NLL against the GAN's."""
    for mode, series in runs.items():
        for key, values in series.items():
            stats = mean_std(values)
            metrics[f"{mode}_{key}_mean"], metrics[f"{mode}_{key}_std"] = stats["mean"], stats["std"]
    if "gan" in runs:  # the bar of a ring GAN (PacGAN's benchmark): at least 6 of the 8 modes on average
        metrics["gan_meets_bar"] = float(metrics["gan_modes_mean"] >= RING_BAR_MODES)
        metrics["gan_bar_seeds"] = float(sum(n >= RING_BAR_MODES for n in runs["gan"]["modes"]))
    if "gan" in runs and "vae" in runs:  # the chapter's claim: the VAE's held-out NLL is below the GAN's
        metrics["vae_vs_gan_test_nll_verdict"] = (
            verdict(runs["vae"]["test_nll"], runs["gan"]["test_nll"], higher_is_better=False)
            if metrics["gan_meets_bar"] == 1 else "not compared (the GAN is below the ring bar)")


def plot_fig4(result: Fig4Result) -> Figure:
    """Left, the mixture and its two single-Gaussian fits; then, per mode, the first seed's log-density (blue) and
    samples (red) on the ring, titled with the modes it covers and its share of good samples."""
    plt = pyplot()
    modes = list(result.samples)
    fig, axes = plt.subplots(1, 1 + len(modes), figsize=(3.4 * (1 + len(modes)), 3.3))
    ax = axes[0]
    ax.fill_between(result.grid_1d, result.target_1d, color="0.85", label="data $p^*$")
    ax.plot(result.grid_1d, result.forward_kl_fit, label=r"MLE: min KL$(p^*\|q)$")
    ax.plot(result.grid_1d, result.reverse_kl_fit, "--", label=r"GAN: min KL$(q\|p^*)$")
    ax.set_title("one Gaussian, two divergences")
    ax.legend(fontsize=7, loc="upper left")
    for ax, mode in zip(axes[1:], modes):
        dens = result.log_density[mode]
        dens = np.clip(dens, np.percentile(dens, 5), None)
        ax.imshow(dens, origin="lower", extent=result.bounds, cmap="Blues", aspect="equal")
        s = result.samples[mode][:600]
        ax.scatter(s[:, 0], s[:, 1], s=2, color="C3", alpha=0.6)
        ax.set_xlim(result.bounds[:2]), ax.set_ylim(result.bounds[2:])
        m = result.metrics
        ax.set_title(f"{mode.upper()}: {int(m[f'{mode}_modes'])} modes, "
                     f"{100 * m[f'{mode}_high_quality']:.0f}% good", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle("log-density (blue) and samples $f^{-1}(\\mu(z))$ (red) of a 1-D latent model on the ring", fontsize=9)
    fig.tight_layout()
    return fig
