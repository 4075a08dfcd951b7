"""2-D GANs of the chapter in two network configurations, one run or every seed at once.

The mode-coverage experiments (Sec. 4.5.1, Fig. 4.3) and the batch-smoothing experiment
(Fig. 4.2) train GANs, BGANs and M-BGANs (and the mixup GAN) on the 2-D toys ``ring`` and
``grid``, in the thesis' network configuration (``"thesis"``: ReLU MLPs) or the PacGAN
benchmark's (``"pacgan"``: a batch-norm generator, maxout discriminators):

* :class:`ToyGANConfig` — the fields those experiments share;
* :func:`_train_toy` — one run, with the single-run game :func:`companion.symmetric.bgan_step`;
* :func:`_train_toy_replicas` — one run per seed, all at once as replicas, each replica
  drawing exactly what :func:`_train_toy` draws with its seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Tuple

import numpy as np
import torch
from torch import nn

import companion
from companion import data
from companion.config import ExperimentConfig
from companion.experiments.symmetric_replicas import (
    Mix,
    discriminator_update,
    generator_update,
    replica_mixer,
    replica_step,
)
from companion.gan import MLPDiscriminator, MLPGenerator, discriminator_loss, generator_loss
from companion.metrics import mode_coverage
from companion.replicas import GeneratorListState, Replicas, StackedMinibatches, ensemble_container, stacked_randn
from companion.symmetric import Maxout, SymmetricDiscriminator, bernoulli_kl, bgan_step, complementary_mixed_sets
from companion.train import _progress_disabled, adam, minibatches, train_loop

__all__ = ["POINTWISE_METHODS", "BatchNormMLPGenerator", "MaxoutDiscriminator", "ToyGANConfig"]


@dataclass
class ToyGANConfig(ExperimentConfig):
    """What every 2-D GAN run of the chapter needs: the budget, both network configurations
    (``thesis_*``: the thesis' ReLU MLPs; ``pacgan_*``: the PacGAN benchmark's networks) and
    the number of samples scored (book-scale defaults)."""

    latent_dim: int = 2
    batch_size: int = 100
    n_steps: int = 1500
    thesis_hidden: int = 32
    thesis_n_disc: int = 1
    thesis_lr: float = 3e-3
    pacgan_g_hidden: int = 64
    pacgan_d_hidden: int = 32
    pacgan_lr: float = 1e-3
    n_eval_samples: int = 2500
    mixup_alpha: float = 0.2  # the mixup GAN's Beta(alpha, alpha) (used when "mixup" is among the methods)


@ensemble_container  # forward acts on the last axis only, so replicas can stack its layers
class BatchNormMLPGenerator(nn.Module):
    """The PacGAN benchmark's generator: ReLU layers with batch normalisation."""

    def __init__(self, latent_dim: int, hidden: int, n_layers: int, out_dim: int = 2) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        layers: List[nn.Module] = []
        width = latent_dim
        for _ in range(n_layers):
            # no bias before batch norm: it is redundant (the norm subtracts it), and Adam
            # would turn its zero-up-to-rounding gradient into full steps of arbitrary sign
            layers += [nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Points ``(N, out_dim)`` from noise ``z`` of shape ``(N, latent_dim)`` (batch statistics in training)."""
        return self.net(z)


@ensemble_container
class MaxoutDiscriminator(nn.Module):
    """The PacGAN benchmark's pointwise discriminator: maxout layers, one logit per sample."""

    def __init__(self, in_dim: int, hidden: int, n_layers: int, pieces: int = 5) -> None:
        super().__init__()
        layers: List[nn.Module] = []
        width = in_dim
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden * pieces), Maxout(pieces)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per sample: points ``x`` of shape ``(..., in_dim)`` to logits of shape ``(...)``."""
        return self.net(x).squeeze(-1)


#: Methods whose discriminator judges one sample at a time (the GAN and the mixup GAN).
POINTWISE_METHODS = ("gan", "mixup")


def _networks(setup: str, method: str,
              cfg: ToyGANConfig) -> Tuple[nn.Module, nn.Module, float, Tuple[float, float], int]:
    """(generator, discriminator, lr, betas, discriminator steps) of a configuration."""
    if setup == "thesis":
        gen = MLPGenerator(cfg.latent_dim, (2,), hidden=cfg.thesis_hidden, n_layers=3, activation="relu")
        if method in POINTWISE_METHODS:
            disc = MLPDiscriminator((2,), hidden=cfg.thesis_hidden, n_layers=3, activation="relu")
        else:
            disc = SymmetricDiscriminator(2, (cfg.thesis_hidden,) * 3, reduction=method, activation="relu")
        return gen, disc, cfg.thesis_lr, (0.9, 0.999), cfg.thesis_n_disc
    if setup == "pacgan":
        gen = BatchNormMLPGenerator(cfg.latent_dim, cfg.pacgan_g_hidden, 4)
        if method in POINTWISE_METHODS:
            disc = MaxoutDiscriminator(2, cfg.pacgan_d_hidden, 3)
        else:
            disc = SymmetricDiscriminator(2, (cfg.pacgan_d_hidden,) * 3, reduction=method, activation="maxout")
        return gen, disc, cfg.pacgan_lr, (0.8, 0.999), 1
    raise ValueError(f"setup must be 'thesis' or 'pacgan'; got {setup!r}")


def _train_toy(setup: str, method: str, dataset: str, seed: int, cfg: ToyGANConfig, gamma: float,
               snapshot_steps: Tuple[int, ...] = ()) -> Dict[str, object]:
    """Train one 2-D GAN; returns its history, final samples and snapshots."""
    if method not in ("gan", "bgan", "mbgan"):
        raise ValueError(
            f"method must be 'gan', 'bgan' or 'mbgan' (the mixup GAN trains as replicas only); got {method!r}"
        )
    dev = companion.device()
    companion.seed_everything(seed)
    gen, disc, lr, betas, n_disc = _networks(setup, method, cfg)
    gen, disc = gen.to(dev), disc.to(dev)
    g_opt = adam(gen.parameters(), lr=lr, betas=betas)
    d_opt = adam(disc.parameters(), lr=lr, betas=betas)
    train = data.load(dataset).to(dev)
    batches = minibatches(train, cfg.batch_size, generator=torch.Generator().manual_seed(seed))
    rng = torch.Generator(device=dev).manual_seed(seed)
    snapshots: Dict[int, np.ndarray] = {}
    eval_rng = torch.Generator(device=dev).manual_seed(10_000 + seed)  # snapshots leave training's RNG alone

    def sample(n: int) -> np.ndarray:
        gen.eval()
        with torch.no_grad():
            out = gen(torch.randn(n, cfg.latent_dim, device=dev, generator=eval_rng)).cpu().numpy()
        gen.train()
        return out

    def step(i: int) -> Dict[str, float]:
        real = [next(batches) for _ in range(n_disc)]
        if method == "gan":
            for x in real:
                with torch.no_grad():
                    fake = gen(torch.randn(x.shape[0], cfg.latent_dim, device=dev))
                d_loss = discriminator_loss(disc(x), disc(fake))
                d_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                d_opt.step()
            disc.requires_grad_(False)
            g_loss = generator_loss(disc(gen(torch.randn(cfg.batch_size, cfg.latent_dim, device=dev))))
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
            disc.requires_grad_(True)
            out = {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach())}
        else:
            out = bgan_step(gen, disc, real, cfg.latent_dim, d_opt, g_opt, gamma=gamma, rng=rng)
        if i + 1 in snapshot_steps:
            snapshots[i + 1] = sample(500)
        return out

    history = train_loop(step, cfg.n_steps, desc=f"{setup} {method} {dataset} s{seed}", log_every=10)
    return {"history": history, "samples": sample(cfg.n_eval_samples), "snapshots": snapshots}


def _replica_players(setup: str, method: str, seeds: Tuple[int, ...], cfg: ToyGANConfig,
                     dev: torch.device) -> Tuple[Replicas, Replicas, torch.optim.Optimizer, torch.optim.Optimizer, int]:
    """The generator and discriminator replicas of one model and their optimizers, and the
    discriminator steps per generator step. The replicas are built in the order of a plain run
    (generator first), each from its own seed."""
    lr, betas, n_disc = _networks(setup, method, cfg)[2:]
    gen = Replicas(lambda: _networks(setup, method, cfg)[0], seeds, device=dev)
    disc = Replicas(lambda: _networks(setup, method, cfg)[1], seeds, device=dev)
    g_opt = adam(gen.parameters(), lr=lr, betas=betas)
    d_opt = adam(disc.parameters(), lr=lr, betas=betas)
    return gen, disc, g_opt, d_opt, n_disc


def _mixup_discriminator_loss(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                              rngs: List[np.random.Generator], alpha: float) -> torch.Tensor:
    """The mixup GAN's discriminator loss per replica (Zhang et al., 2018): D predicts
    ``lambda ~ Beta(alpha, alpha)`` on ``lambda x + (1 - lambda) G(z)``."""
    lam = torch.as_tensor(np.stack([g.beta(alpha, alpha, real.shape[1]) for g in rngs]), dtype=real.dtype,
                          device=real.device)
    mixed = lam.unsqueeze(-1) * real + (1 - lam.unsqueeze(-1)) * fake
    return bernoulli_kl(lam, disc(mixed)).mean(-1)


def _score_replicas(gen: Replicas, rngs: List[torch.Generator], cfg: ToyGANConfig,
                    dataset: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``cfg.n_eval_samples`` samples of every replica, its modes covered and its high-quality fraction."""
    gen.eval()
    with torch.no_grad():
        out = gen(stacked_randn(rngs, cfg.n_eval_samples, cfg.latent_dim, device=companion.device())).cpu()
    gen.train()
    centers, std = data.toy_centers(dataset), data.toy_std(dataset)
    scores = [mode_coverage(x, centers, std) for x in out]
    return out.numpy(), np.array([m for m, _ in scores]), np.array([q for _, q in scores])


class _CurveState:
    """The coverage curve of :func:`_train_toy_replicas` as checkpointable state (it fills up during training)."""

    def __init__(self, curve: Dict[int, Tuple[np.ndarray, np.ndarray]]) -> None:
        self.curve = curve

    def state_dict(self) -> Dict[str, list]:
        return {"steps": list(self.curve), "values": [[a.tolist(), b.tolist()] for a, b in self.curve.values()]}

    def load_state_dict(self, state: Dict[str, list]) -> None:
        self.curve.clear()
        for step, (a, b) in zip(state["steps"], state["values"]):
            self.curve[int(step)] = (np.array(a), np.array(b))


class _NumpyGeneratorListState:
    """NumPy generators (the mixup GAN's Beta draws) as checkpointable state (their states as JSON text)."""

    def __init__(self, generators: List[np.random.Generator]) -> None:
        self.generators = generators

    def state_dict(self) -> Dict[str, List[str]]:
        return {"states": [json.dumps(g.bit_generator.state) for g in self.generators]}

    def load_state_dict(self, state: Dict[str, List[str]]) -> None:
        for g, saved in zip(self.generators, state["states"]):
            g.bit_generator.state = json.loads(saved)


def _log_evaluation(label: str, step: int, modes: np.ndarray, quality: np.ndarray) -> None:
    """One line per evaluation beside the progress bar (when bars are on), so that the log of a
    long run that is cut short still holds its coverage curve so far."""
    import sys

    if not _progress_disabled(None):
        print(f"\n{label} step {step}: modes {[int(m) for m in modes]}, high quality (%) "
              f"{[round(100 * float(q), 1) for q in quality]}", file=sys.stderr, flush=True)


class _ReplicaSources(NamedTuple):
    """Each replica's own random sources in :func:`_train_toy_replicas`, drawn as :func:`_train_toy` draws them."""

    noise: List[torch.Generator]  # the generator's noise: the global stream a plain run draws from
    batches: StackedMinibatches  # each replica's minibatch order
    mixing: List[torch.Generator]  # the mixed batches' compositions (BGAN, M-BGAN)
    mixed_sets: Mix
    mixup_rngs: List[np.random.Generator]  # the mixup GAN's Beta draws
    eval_rngs: List[torch.Generator]  # the evaluation samples' noise


def _replica_sources(disc: Replicas, train: torch.Tensor, seeds: Tuple[int, ...], cfg: ToyGANConfig, gamma: float,
                     dev: torch.device) -> _ReplicaSources:
    """The random sources of the replicas of ``seeds`` (see :class:`_ReplicaSources`)."""
    mixing = [torch.Generator(device=dev).manual_seed(s) for s in seeds]
    return _ReplicaSources(
        noise=disc.continuation_generators(),
        batches=StackedMinibatches(train, cfg.batch_size, [torch.Generator().manual_seed(s) for s in seeds]),
        mixing=mixing,
        mixed_sets=replica_mixer(lambda r, f, g: complementary_mixed_sets(r, f, gamma, generator=g), mixing),
        mixup_rngs=[np.random.default_rng(s) for s in seeds],
        eval_rngs=[torch.Generator().manual_seed(10_000 + s) for s in seeds])


def _sources_state(src: _ReplicaSources, method: str) -> Dict[str, object]:
    """The random sources as checkpointable state, so that ``--resume`` continues a killed run mid-loop
    (:mod:`companion.runs`)."""
    state: Dict[str, object] = {"batches": src.batches, "noise": GeneratorListState(src.noise),
                                "mixing": GeneratorListState(src.mixing),
                                "eval_rngs": GeneratorListState(src.eval_rngs)}
    if method == "mixup":
        state["mixup_rngs"] = _NumpyGeneratorListState(src.mixup_rngs)
    return state


def _train_toy_replicas(setup: str, method: str, dataset: str, seeds: Tuple[int, ...], cfg: ToyGANConfig,
                        gamma: float, eval_steps: Tuple[int, ...] = (), lr_decay: bool = False) -> Dict[str, object]:
    """Train one 2-D GAN per seed, all seeds at once with :class:`~companion.replicas.Replicas`.

    With ``lr_decay`` both players' learning rates fall linearly from the recipe's to zero over
    ``cfg.n_steps`` (the comparison chapter's toy GANs); without it they stay constant, as in
    PacGAN's recipe.

    Replica s draws its initial weights, minibatches, noise, mixing vectors and evaluation
    noise exactly as :func:`_train_toy` does with seed s (on a CPU the two agree to rounding;
    ``tests/test_experiments_symmetric_discriminators.py`` checks it). At every step of
    ``eval_steps`` (and at the end) each replica draws ``cfg.n_eval_samples`` samples and its
    modes covered and high-quality fraction are recorded.

    Returns:
        ``{"samples": (S, n, 2) final samples, "curve": {step: (modes (S,), hq (S,))}, "gen", "disc",
        "history"}``; the history holds the losses averaged over the replicas (``d_loss``, ``g_loss``)
        and replica k's own (``d_loss_k``, ``g_loss_k``) every 10 steps.
    """
    dev = companion.device()
    seeds = tuple(seeds)
    gen, disc, g_opt, d_opt, n_disc = _replica_players(setup, method, seeds, cfg, dev)
    src = _replica_sources(disc, data.load(dataset).to(dev), seeds, cfg, gamma, dev)
    reduction = None if method in POINTWISE_METHODS else method  # the mixup GAN's G plays the non-saturating game
    curve: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - i / cfg.n_steps)
                  for opt in (g_opt, d_opt)] if lr_decay else []

    def step(i: int) -> Dict[str, float]:
        for _ in range(n_disc):
            real = next(src.batches)
            with torch.no_grad():
                fake = gen(stacked_randn(src.noise, cfg.batch_size, cfg.latent_dim, device=dev))
            if method == "mixup":
                d_loss = replica_step(d_opt, _mixup_discriminator_loss(disc, real, fake, src.mixup_rngs,
                                                                       cfg.mixup_alpha))
            else:
                d_loss = discriminator_update(disc, d_opt, real, fake, src.mixed_sets, reduction)
        fake = gen(stacked_randn(src.noise, cfg.batch_size, cfg.latent_dim, device=dev))
        g_loss = generator_update(disc, g_opt, real, fake, src.mixed_sets, reduction)
        for scheduler in schedulers:
            scheduler.step()
        if i + 1 in eval_steps and i + 1 < cfg.n_steps:
            curve[i + 1] = _score_replicas(gen, src.eval_rngs, cfg, dataset)[1:]
            _log_evaluation(f"{setup} {method} {dataset}", i + 1, *curve[i + 1])
        out = {"d_loss": d_loss.mean(), "g_loss": g_loss.mean()}
        if i % 10 == 0 or i == cfg.n_steps - 1:  # the steps train_loop records: each replica's own losses
            out.update({f"{name}_{k}": v for name, losses in (("d_loss", d_loss), ("g_loss", g_loss))
                        for k, v in enumerate(losses.detach())})
        return out

    state = {"gen": gen, "disc": disc, "g_opt": g_opt, "d_opt": d_opt, "curve": _CurveState(curve),
             **_sources_state(src, method), **dict(zip(("g_scheduler", "d_scheduler"), schedulers))}
    history = train_loop(step, cfg.n_steps, desc=f"{setup} {method} {dataset} x{len(seeds)}", log_every=10,
                         state=state)
    samples, modes, quality = _score_replicas(gen, src.eval_rngs, cfg, dataset)
    curve[cfg.n_steps] = (modes, quality)
    return {"samples": samples, "curve": curve, "gen": gen, "disc": disc, "history": history}
