"""What the ELBO-surgery chapter's experiments share: the VAE per data set (trained once per
process), its posteriors, and the digit classifier that scores samples.

The experiments that study one trained VAE (``elbo_surgery/density_ratio``,
``density_models``, ``low_posterior``, ``low_posterior_analysis``) describe it with one typed
sub-config, :class:`SurgeryVAEConfig`; equal settings give the same cached model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar, Dict, Tuple

import numpy as np
import torch

import companion
from companion.checks import check_choice, check_nonnegative_int, check_positive_int
from companion.config import ExperimentConfig
from companion.data import load
from companion.experiments.feature_classifier import train_feature_net
from companion.flow_posterior import FlowPosteriorVAE
from companion.flows import RealNVP
from companion.metrics import classifier_frechet
from companion.train import fit_likelihood
from companion.vae import VAE, fit_vae

#: The likelihood each data set gets: grey images in [0, 1] use the Bernoulli
#: cross-entropy as the paper does; patches are real-valued.
LIKELIHOOD = {"digits": "bernoulli", "faces": "bernoulli", "patches": "gaussian", "mnist": "bernoulli"}


def _data_and_vae(dataset: str, latent_dim: int, hidden: int, max_examples: int):
    """The training data on :func:`companion.device` and a fresh VAE for it (seed first)."""
    dev = companion.device()
    x = load(dataset, "train")[:max_examples].to(dev)
    likelihood = LIKELIHOOD[dataset]
    # A Gaussian likelihood starts at the data's scale: starting at std 1 on patches whose
    # pixels vary by a few hundredths makes the KL term win and the posterior collapse.
    init_log_scale = float(x.std().log()) if likelihood == "gaussian" else 0.0
    vae = VAE(tuple(x.shape[1:]), latent_dim, likelihood=likelihood, hidden=hidden,
              init_log_scale=init_log_scale).to(dev)
    return x, vae


def _check_vae_settings(dataset: str, latent_dim: int, n_steps: int, hidden: int, max_examples: int,
                        seed: int) -> None:
    """Clear errors for settings of :func:`train_vae` and :func:`train_flow_vae`."""
    check_choice(dataset, "dataset", tuple(LIKELIHOOD))
    for value, name in ((latent_dim, "latent_dim"), (n_steps, "n_steps"), (hidden, "hidden"),
                        (max_examples, "max_examples")):
        check_positive_int(value, name)
    check_nonnegative_int(seed, "seed")


def train_vae(dataset: str, latent_dim: int, n_steps: int, hidden: int, max_examples: int,
              seed: int) -> Tuple[torch.nn.Module, torch.Tensor]:
    """A VAE trained from ``seed`` on (at most ``max_examples`` of) ``dataset``'s training split.

    Not cached: a job of :func:`companion.workers.map_in_workers` calls this, so that what a
    worker trains does not depend on what this process has cached. :func:`trained_vae` is the
    cached version.

    Returns:
        ``(vae, x)``: the trained model (eval mode) and the training data it saw, on
        :func:`companion.device`.

    Raises:
        ValueError: for an unknown ``dataset``, a setting that is not a positive int, or a
            negative ``seed``.
    """
    _check_vae_settings(dataset, latent_dim, n_steps, hidden, max_examples, seed)
    companion.seed_everything(seed)
    x, vae = _data_and_vae(dataset, latent_dim, hidden, max_examples)
    fit_vae(vae, x, n_steps=n_steps, batch_size=64, lr=1e-3, desc=f"VAE on {dataset}",
            generator=torch.Generator().manual_seed(seed))
    return vae.eval(), x


@functools.lru_cache(maxsize=8)
def trained_vae(dataset: str, latent_dim: int, n_steps: int, hidden: int, max_examples: int,
                seed: int) -> Tuple[torch.nn.Module, torch.Tensor]:
    """:func:`train_vae`, cached per process, so the chapter's experiments share the models.

    Returns:
        ``(vae, x)``: the trained model (eval mode) and the training data it saw, on
        :func:`companion.device`.
    """
    return train_vae(dataset, latent_dim, n_steps, hidden, max_examples, seed)


def train_flow_vae(dataset: str, latent_dim: int, n_steps: int, hidden: int, max_examples: int, seed: int,
                   flow_blocks: int, flow_hidden: int) -> Tuple[FlowPosteriorVAE, torch.Tensor]:
    """A :class:`companion.flow_posterior.FlowPosteriorVAE` trained like :func:`train_vae` (same data, initial
    encoder and decoder, minibatch order, optimiser), with a Real-NVP posterior of
    ``flow_blocks`` couplings of ``flow_hidden`` units. Not cached (see :func:`train_vae`).

    Returns:
        ``(model, x)`` with the model in eval mode.

    Raises:
        ValueError: as :func:`train_vae` does, and for ``flow_blocks`` or ``flow_hidden``
            that is not a positive int.
    """
    _check_vae_settings(dataset, latent_dim, n_steps, hidden, max_examples, seed)
    check_positive_int(flow_blocks, "flow_blocks")
    check_positive_int(flow_hidden, "flow_hidden")
    companion.seed_everything(seed)
    x, vae = _data_and_vae(dataset, latent_dim, hidden, max_examples)
    # No ActNorm: its data-dependent start would rescale u; without it g starts as the identity.
    flow = RealNVP((latent_dim,), n_blocks=flow_blocks, hidden=flow_hidden, actnorm=False)
    model = FlowPosteriorVAE(vae, flow).to(x.device)
    fit_likelihood(model, x, n_steps=n_steps, batch_size=64, lr=1e-3, generator=torch.Generator().manual_seed(seed),
                   desc=f"VAE with Real-NVP posterior on {dataset}")
    return model.eval(), x


@functools.lru_cache(maxsize=8)
def trained_flow_vae(dataset: str, latent_dim: int, n_steps: int, hidden: int, max_examples: int, seed: int,
                     flow_blocks: int, flow_hidden: int) -> Tuple[FlowPosteriorVAE, torch.Tensor]:
    """:func:`train_flow_vae`, cached per process.

    Returns:
        ``(model, x)`` with the model in eval mode.
    """
    return train_flow_vae(dataset, latent_dim, n_steps, hidden, max_examples, seed, flow_blocks, flow_hidden)


@torch.no_grad()
def posteriors(vae: torch.nn.Module, x: torch.Tensor, batch: int = 4096) -> Tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances of every row of ``x`` (``vae.encode`` over chunks of ``batch`` rows),
    each ``(len(x), latent_dim)``."""
    pieces = [vae.encode(chunk) for chunk in x.split(batch)]
    return torch.cat([p[0] for p in pieces]), torch.cat([p[1] for p in pieces])


@torch.no_grad()
def posterior_samples(
    mu: torch.Tensor, logvar: torch.Tensor, per_example: int, generator: torch.Generator
) -> torch.Tensor:
    """``per_example`` draws of q(z|x_n) for every n, stacked: samples of q(z)."""
    mu, logvar = mu.repeat(per_example, 1), logvar.repeat(per_example, 1)
    eps = torch.randn(mu.shape, generator=generator).to(mu)
    return mu + torch.exp(0.5 * logvar) * eps


@dataclass(frozen=True)
class SurgeryVAEConfig:
    """The chapter's VAE on one data set: the settings of :func:`trained_vae` (the seed is the
    experiment's). Frozen, so that a scale's preset cannot be changed through one config."""

    dataset: str = "digits"
    latent_dim: int = 16
    hidden: int = 256
    n_steps: int = 1500
    max_examples: int = 10_000

    def trained(self, seed: int) -> Tuple[torch.nn.Module, torch.Tensor]:
        """``(vae, x)``: :func:`trained_vae` with these settings."""
        return trained_vae(self.dataset, self.latent_dim, self.n_steps, self.hidden, self.max_examples, seed)


#: The VAE at each scale (``book`` is the dataclass defaults): the presets the experiments'
#: ``SCALES`` use.
SURGERY_VAE: Dict[str, SurgeryVAEConfig] = {
    "smoke": SurgeryVAEConfig(latent_dim=8, n_steps=150, max_examples=2000),
    "book": SurgeryVAEConfig(),
    "paper": SurgeryVAEConfig(dataset="mnist", latent_dim=50, n_steps=100_000, max_examples=60_000),
}


@dataclass
class VAEStudyConfig(ExperimentConfig):
    """Base of the configs of the experiments that study the chapter's trained VAE (``vae``,
    trained from ``seed``): their VAE presets per scale are :data:`SURGERY_VAE`'s."""

    vae: SurgeryVAEConfig = field(default_factory=SurgeryVAEConfig)
    seed: int = 0
    SCALES: ClassVar = {"smoke": {"vae": SURGERY_VAE["smoke"]}, "paper": {"vae": SURGERY_VAE["paper"]}}


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """``t`` as a NumPy array (detached, on the CPU), for the results."""
    return t.detach().cpu().numpy()


@functools.lru_cache(maxsize=2)
def digits_feature_net(n_steps: int = 400, seed: int = 0) -> Tuple[torch.nn.Module, float]:
    """The adaptive-density chapter's digit classifier (cached per process): ``(net, accuracy)``."""
    return train_feature_net(n_steps=n_steps, seed=seed, device=companion.device())


def frechet_to_held_out(samples: torch.Tensor, held_out: torch.Tensor, classifier_steps: int = 400) -> float:
    """:func:`companion.metrics.classifier_frechet` of digit ``samples`` to ``held_out`` in the
    features of the cached digit classifier (:func:`digits_feature_net`)."""
    net, _ = digits_feature_net(classifier_steps)
    return classifier_frechet(samples, net, held_out)
