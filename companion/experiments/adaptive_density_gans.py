"""The plain GAN rows of the adaptive-density chapter, every seed at once.

The ablation's GAN row (shared with the sample-quality runs) and the refinements' GAN (rd) row
train one recipe (:func:`~companion.experiments.adaptive_density.fitted_plain_gan`) for five
seeds each. One run per seed spends most of its time on overhead: small MLPs, a spectral
normalisation and dropout masks at every call of the discriminator. Here the seeds train
together as replicas (:class:`companion.replicas.Replicas`): each seed's networks are built after
``seed_everything(seed)`` as its own run builds them, the players of all seeds are stacked, and
each seed draws its dequantisation of the training set, its minibatches, its noise and its
dropout masks from its own stream (the continuation of its build), in its own run's order. So
seed s's GAN is the run of that seed (:func:`plain_gan_model`
trained by ``_fit_decoder_as_gan``) up to rounding, whatever the other seeds are (a test holds
the two together), in a fraction of the time of one run per seed.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

import companion
from companion.ade import ADE, ResidualMLPDiscriminator, build_ade, fit_inference_network
from companion.checks import check_adam_betas
from companion.experiments.feature_classifier import DATASETS
from companion.experiments.symmetric_replicas import replica_gan_step
from companion.nets import MLP, remove_spectral_norm, spectral_normalise
from companion.replicas import Replicas, StackedMinibatches, check_seeds, stacked_randn
from companion.runs import rng_state
from companion.train import adam, train_loop

__all__ = ["continuing_generator", "plain_gan_model", "train_decoders_as_gans", "train_plain_gans"]


def continuing_generator() -> torch.Generator:
    """A CPU generator that continues the global stream from here: what a run would draw next."""
    stream = torch.Generator()
    stream.set_state(torch.get_rng_state())
    return stream


def plain_gan_model(cfg: Any, residual: bool = False) -> ADE:
    """The ADE of mode ``gan`` of the plain GAN recipe of an
    :class:`~companion.experiments.adaptive_density.AblationConfig` ``cfg``, as one seed's run builds it
    (draws from the global generator): its MLP VAE and discriminator (dropout ``cfg.gan_disc_dropout``);
    with ``residual`` the discriminator is then replaced by a :class:`~companion.ade.ResidualMLPDiscriminator`
    of the same width with two residual blocks (Table 5.2's (rd) row of the GAN), drawn after the generator
    so that a seed's generator starts where the plain row's does; spectrally normalised with
    ``cfg.gan_spectral_norm``."""
    shape, n_levels = DATASETS[cfg.dataset]
    model = build_ade(shape, mode="gan", latent_dim=cfg.gan_latent_dim, n_levels=n_levels, hidden=cfg.gan_hidden,
                      n_layers=cfg.gan_layers, disc_hidden=cfg.gan_hidden, init_log_sigma=-1.0,
                      disc_dropout=cfg.gan_disc_dropout, adv_weight=cfg.adv_weight)
    if residual:
        model.discriminator = ResidualMLPDiscriminator(shape, hidden=cfg.gan_hidden, n_blocks=2,
                                                       dropout=cfg.gan_disc_dropout)
    if cfg.gan_spectral_norm:
        spectral_normalise(model.discriminator)
    return model


def train_plain_gans(cfg: Any, seeds: Sequence[int], train: torch.Tensor, desc: str,
                     residual: bool = False) -> List[Tuple[ADE, Dict[str, Any]]]:
    """The plain GAN recipe of an :class:`~companion.experiments.adaptive_density.AblationConfig` ``cfg``
    for every seed of ``seeds`` at once, on the digit levels ``train``.

    Per seed: the model of :func:`plain_gan_model` (``residual``:
    the GAN (rd) row), its generator ``mu_theta`` and discriminator trained for ``cfg.gan_steps`` steps on
    one dequantisation of ``train`` (one discriminator update on a minibatch of ``cfg.batch_size`` against
    fresh samples, then one generator update, non-saturating loss, Adam at ``cfg.gan_lr`` with
    ``cfg.gan_betas``, the rate times ``cfg.gan_decay`` from step ``cfg.gan_decay_step`` on), the generator
    ending with the moving average of its weights (decay ``cfg.gan_average``, 0: its last weights), the
    discriminator with plain layers holding its normalised weights; then the inference network and
    ``sigma`` around the frozen generator for ``cfg.n_inference_steps`` steps.

    Returns:
        Per seed, in order: the trained ADE and the random state its run left
        (:func:`companion.runs.rng_state`).

    Raises:
        TypeError, ValueError: for bad ``seeds``, ``cfg.gan_betas`` or ``train``.
    """
    seeds = check_seeds(seeds)
    betas = check_adam_betas(cfg.gan_betas, "gan_betas")
    if not torch.is_tensor(train) or not train.is_floating_point():
        raise TypeError(f"train must be a floating-point tensor of digit levels; got {type(train).__name__}")
    models, streams = [], []
    for seed in seeds:
        companion.seed_everything(seed)
        models.append(plain_gan_model(cfg, residual).to(train.device))
        streams.append(continuing_generator())
    # one dequantisation of the training set per seed: the samples are continuous, so the real images must be too
    data = torch.stack([model.dequantize(train, generator=stream) for model, stream in zip(models, streams)])
    train_decoders_as_gans(models, streams, data, n_steps=cfg.gan_steps, batch_size=cfg.batch_size, lr=cfg.gan_lr,
                           betas=betas, decay_step=cfg.gan_decay_step, decay=cfg.gan_decay,
                           average_decay=cfg.gan_average, desc=f"{desc} x{len(seeds)}")
    fitted = []
    for seed, model, stream in zip(seeds, models, streams):
        # plain layers with the normalised weights: a parametrised network pickles only through its
        # state_dict, and the fit travels from its worker process whole
        remove_spectral_norm(model.discriminator)
        companion.seed_everything(seed)
        torch.set_rng_state(stream.get_state())  # the seed's own stream goes on
        fit_inference_network(model, train, n_steps=cfg.n_inference_steps, batch_size=cfg.batch_size, lr=cfg.lr)
        fitted.append((model, rng_state()))
    return fitted


def train_decoders_as_gans(models: Sequence[ADE], streams: Sequence[torch.Generator], data: torch.Tensor, *,
                           n_steps: int, batch_size: int, lr: float, betas: Tuple[float, float] = (0.5, 0.999),
                           decay_step: int = 0, decay: float = 1.0, average_decay: float = 0.0,
                           desc: str = "GANs") -> None:
    """Train the generator ``mu_theta`` (the VAE's MLP decoder) and the discriminator of every ADE of mode
    ``gan`` in ``models`` as the package's plain GAN, all at once as stacked replicas, and load the trained
    weights back into ``models``: what ``_fit_decoder_as_gan`` does for one model, in one run per model.

    Model j draws its minibatches of ``data[j]``, its noise and its dropout masks from ``streams[j]``, in
    the order of that one run (after the model was built and ``data[j]`` drawn): each step a discriminator
    update on a minibatch of ``batch_size`` against fresh samples, then a generator update on fresh ones
    (non-saturating loss, Adam at ``lr`` with ``betas``), the rate times ``decay`` from step ``decay_step``
    on (0: never); with ``average_decay > 0`` each generator ends with the moving average of its weights.

    Args:
        models: ADEs of mode ``gan`` with the same networks (MLP decoders), one per seed.
        streams: one CPU ``torch.Generator`` per model.
        data: the training data of each model, ``(len(models), N, *shape)``.

    Raises:
        ValueError: if the models are not GANs with MLP decoders, or ``streams`` or ``data`` do not give one
            per model.
    """
    models, decoders = _checked_gan_models(models, streams, data)
    betas = check_adam_betas(betas, "betas")
    device = data.device
    generators, discriminators = _stacked_players(models, decoders, streams, device)
    batches = StackedMinibatches(torch.arange(data.shape[1], device=device), batch_size, streams)
    replica_rows = torch.arange(len(models), device=device).unsqueeze(1)
    optimizers = [adam(player.parameters(), lr=lr, betas=betas) for player in (discriminators, generators)]
    average = [p.detach().clone() for p in generators.parameters()] if average_decay > 0 else None
    shape, latent_dim = models[0].shape, models[0].vae.latent_dim

    def generate(z: torch.Tensor) -> torch.Tensor:
        return generators(z).unflatten(-1, shape)

    def step(i: int) -> Dict[str, torch.Tensor]:
        d_loss, g_loss = replica_gan_step(
            generate, discriminators, optimizers[1], optimizers[0], data[replica_rows, next(batches)],
            lambda: stacked_randn(streams, batch_size, latent_dim, device=device), None, None)
        # at a constant rate the GANs drift along training; a lower rate for the last steps keeps what they found
        if i + 1 == decay_step:
            for optimizer in optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = lr * decay
        if average is not None:
            with torch.no_grad():
                for mean, weight in zip(average, generators.parameters()):
                    mean.lerp_(weight.detach(), 1.0 - average_decay)
        return {"d_loss": d_loss.mean().detach(), "g_loss": g_loss.mean().detach()}

    train_loop(step, n_steps, desc=desc, log_every=10)
    _load_trained_players(models, generators, discriminators, average)


def _checked_gan_models(models: Sequence[ADE], streams: Sequence[torch.Generator],
                        data: torch.Tensor) -> Tuple[List[ADE], List[MLP]]:
    """``models`` as a list and their generators (the MLPs of their decoders), after checking the arguments of
    :func:`train_decoders_as_gans`: ADEs of mode ``gan`` with MLP decoders, one stream and one ``data[j]`` per model.

    Raises:
        ValueError: as :func:`train_decoders_as_gans` says.
    """
    models = list(models)
    if not models or any(not isinstance(m, ADE) or m.mode != "gan" for m in models):
        raise ValueError("models must be a non-empty list of ADEs of mode 'gan'")
    decoders = [model.vae.decoder[0] for model in models]  # the MLP; the decoder's last layer only reshapes
    if not all(isinstance(decoder, MLP) for decoder in decoders):
        raise ValueError("the GANs' generators must be the VAE's MLP decoders")
    if len(streams) != len(models) or not torch.is_tensor(data) or data.shape[0] != len(models):
        raise ValueError(f"streams and data must give one per model ({len(models)}); got {len(streams)} streams "
                         f"and data of shape {tuple(getattr(data, 'shape', ()))}")
    return models, decoders


def _stacked_players(models: List[ADE], decoders: List[MLP], streams: Sequence[torch.Generator],
                     device: torch.device) -> Tuple[Replicas, Replicas]:
    """The generators ``decoders`` and the discriminators of ``models``, each kind stacked as replicas on ``device``
    (:class:`companion.replicas.Replicas`); discriminator j draws its dropout masks from ``streams[j]``."""
    seeds = list(range(len(models)))  # the replicas are built already; Replicas only reseeds before each
    built = iter(decoders)
    generators = Replicas(lambda: next(built), seeds, device=device, backend="ensemble")
    built = iter([model.discriminator for model in models])
    discriminators = Replicas(lambda: next(built), seeds, device=device, backend="ensemble")
    discriminators.use_generators(streams)  # the dropout masks
    return generators, discriminators


def _load_trained_players(models: List[ADE], generators: Replicas, discriminators: Replicas,
                          average: Optional[List[torch.Tensor]]) -> None:
    """Load the trained replicas back into ``models``: each generator with its averaged weights ``average`` (when
    not ``None``) or its last ones into the MLP of the model's decoder, each discriminator into the model's."""
    if average is not None:
        generators.load_state_dict({**dict(zip(generators.params, average)), **generators.buffers})
    # every replica's trained state first, then into the models (a replica is a copy of the first model's layers)
    trained = [(generators.module(j).state_dict(), discriminators.module(j).state_dict()) for j in range(len(models))]
    for model, (decoder_state, discriminator_state) in zip(models, trained):
        model.vae.decoder[0].load_state_dict(decoder_state)
        model.discriminator.load_state_dict(discriminator_state)
