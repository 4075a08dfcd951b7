"""The models of the comparison chapter: one builder per model name, and :func:`fit_model`, which fits
any of them on the same budget (used by :mod:`companion.experiments.comparison`, which scores them).
The GANs' players and training live in :mod:`companion.experiments.comparison_gans`; the models' names,
the data sets' footing and :class:`~companion.experiments.comparison_data.FittedModel` in
:mod:`companion.experiments.comparison_data`.

The models (:data:`~companion.experiments.comparison_data.MODELS`) and what their likelihood number is
(:func:`~companion.experiments.comparison_data.likelihood_kind`):

===========  ===========================================  =======================================
name         package pieces                               likelihood reported
===========  ===========================================  =======================================
vae          :class:`companion.vae.VAE`                   IWAE lower bound (bound)
iml          :class:`companion.iml.TwoStageModel`, GMM    none: the density lives on the decoder's
                                                          K-dimensional surface
ae+lde       :mod:`companion.lde` autoencoder + LDE       none: exact density of the codes only
iae+lde      the same with the incremental autoencoder    none (same reason)
agave        :class:`companion.agave.AGAVE`               IWAE lower bound (bound); images only
v-ade        :class:`companion.ade.ADE` (``v-ade``)       IWAE bound (+ dequantisation on pixels)
av-ade       :class:`companion.ade.ADE` (``av-ade``)      IWAE bound (+ dequantisation on pixels)
gan          :class:`companion.gan.GAN` (non-saturating)  none (samples only)
bgan         :func:`companion.symmetric.bgan_step`        none (samples only)
m-bgan       the same with the M-BGAN reduction           none (samples only)
real-nvp     :class:`companion.flows.RealNVP`             exact density; on discrete pixels a
                                                          dequantisation bound
===========  ===========================================  =======================================

The budget rule: every network sees ``n_steps`` minibatches of ``batch_size`` examples (the same
number of passes over the data), except the GANs, which train with the recipe that meets the
book's bar on digits (``gan_steps`` and the other ``gan_*`` settings of the configuration, from
``preliminaries/gan_digits``); adversarial models make one discriminator update per generator
update; two-stage models spend ``n_steps`` on the autoencoder, then fit their base (EM for the
GMM, ``lde_steps`` steps for the LDE) on the codes. The wall-clock seconds of all of it are
reported, so a model that is cheap per step but needs a second stage pays for it there.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import TYPE_CHECKING, Callable, Dict

import torch
from torch import nn

import companion
from companion import data as datasets
from companion.ade import ADE, build_ade, fit_ade
from companion.agave import AGAVE, fit_agave
from companion.experiments.comparison_data import (
    DISPLAY_NAMES,
    MODELS,
    DatasetSpec,
    FittedModel,
    _likelihood_how,
    likelihood_kind,
    not_applicable_reason,
)
from companion.experiments.comparison_gans import fit_gans
from companion.flows import Dequantized, RealNVP, fit_flow, uniform_dequantize
from companion.iml import Autoencoder, GMMBase, TwoStageModel
from companion.lde import (
    IncrementalAutoencoder,
    LatentDensityEstimator,
    fit_incremental_autoencoder,
    fit_lde,
    make_autoencoder,
)
from companion.nets import MLP
from companion.vae import VAE, fit_vae

if TYPE_CHECKING:  # only the type: the settings are read, never built, here
    from companion.experiments.comparison_configs import ComparisonConfig

# -- one builder per model ---------------------------------------------------------------------


def _fit_vae(train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig) -> FittedModel:
    if spec.discrete:
        # the logistic scale starts at an eighth of the range (in levels), not at one level:
        # with 256 levels a unit scale makes the first steps' NLL huge
        model = VAE(spec.shape, cfg.latent_dim, likelihood="logistic", hidden=cfg.hidden, n_levels=spec.n_levels,
                    init_log_scale=math.log(spec.n_levels / 8))
    else:
        model = VAE(spec.shape, cfg.latent_dim, likelihood="gaussian", hidden=cfg.hidden,
                    init_log_scale=math.log(float(train.std())))
    model = model.to(train.device)
    fit_vae(model, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr, desc="VAE")
    # the model takes and returns the data's scale: its own methods, no conversion
    return FittedModel("vae", model, model.sample, partial(model.log_prob, n_samples=cfg.iw_samples),
                       likelihood_kind("vae", spec), _likelihood_how("vae", spec),
                       mean_fn=partial(model.sample, mean=True))


def _fit_iml(train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig) -> FittedModel:
    output = "sigmoid" if spec.discrete else "linear"
    model = TwoStageModel(Autoencoder(spec.shape, cfg.latent_dim, hidden=(cfg.hidden,), output=output),
                          GMMBase(cfg.gmm_components, random_state=cfg.seed)).to(train.device)
    model.fit(train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr)
    k, d = cfg.gmm_components, cfg.latent_dim
    gmm_params = (k - 1) + k * d + k * d * (d + 1) // 2  # weights, means, full covariances
    return FittedModel("iml", model, model.sample, None, "none", _likelihood_how("iml", spec), extra_params=gmm_params)


def _autoencoder(spec: DatasetSpec, cfg: ComparisonConfig, incremental: bool) -> nn.Module:
    """The LDE chapter's (incremental) autoencoder; with a linear output for data outside [0, 1]."""
    if spec.discrete:
        return make_autoencoder(spec.shape, cfg.latent_dim, incremental=incremental, hidden=cfg.hidden)
    # make_autoencoder ends in a sigmoid (data in [0, 1]); patches and toys need a linear output
    encoder = MLP(spec.n_dims, cfg.latent_dim, hidden=cfg.hidden, activation="leaky_relu")
    decoder = MLP(cfg.latent_dim, spec.n_dims, hidden=cfg.hidden, activation="leaky_relu")
    return IncrementalAutoencoder(encoder, decoder, cfg.latent_dim, incremental=incremental)


def _fit_ae_lde(train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig, incremental: bool) -> FittedModel:
    name = "iae+lde" if incremental else "ae+lde"
    ae = _autoencoder(spec, cfg, incremental).to(train.device)
    fit_incremental_autoencoder(ae, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, desc=DISPLAY_NAMES[name])
    with torch.no_grad():
        codes = ae.encode(train)
    lde = LatentDensityEstimator(cfg.latent_dim, n_components=cfg.lde_components, channels=cfg.lde_channels,
                                 head_layers=1).to(train.device)
    fit_lde(lde, codes, n_steps=cfg.lde_steps, batch_size=256, lr=3e-3, desc=f"LDE on {DISPLAY_NAMES[name]} codes")
    modules = nn.ModuleDict({"autoencoder": ae, "lde": lde})

    def sample(n: int) -> torch.Tensor:
        return ae.decode(lde.sample(n))

    return FittedModel(name, modules, sample, None, "none", _likelihood_how(name, spec))


def _fit_agave(train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig) -> FittedModel:
    model = AGAVE(spec.shape, n_levels=spec.n_levels, latent_dim=cfg.latent_dim, lam=2.0,
                  channels=tuple(cfg.conv_channels), pixelcnn_channels=cfg.pixelcnn_channels,
                  n_blocks=cfg.pixelcnn_blocks, n_mixtures=2).to(train.device)
    fit_agave(model, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr, desc="AGAVE")
    return FittedModel("agave", model, model.sample, partial(model.log_prob, n_samples=cfg.iw_samples), "bound",
                       _likelihood_how("agave", spec))


def _fit_ade(train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig, mode: str) -> FittedModel:
    # ADE's flow needs H and W divisible by 2 ** (scales - 1); one scale fits every shape here
    model = build_ade(spec.shape, mode=mode, latent_dim=cfg.latent_dim, n_levels=spec.n_levels, hidden=cfg.hidden,
                flow_blocks=cfg.ade_flow_blocks, flow_scales=1, flow_hidden=cfg.ade_flow_hidden, flow_layers=1,
                disc_hidden=cfg.hidden, init_log_sigma=-1.0).to(train.device)
    # the ADE chapter's optimiser (Adamax, App. A.2 of the paper) at its learning rate
    fit_ade(model, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=2e-3, desc=mode.upper())
    return ade_fitted_model(model, spec, cfg)


def ade_fitted_model(model: nn.Module, spec: DatasetSpec, cfg: ComparisonConfig) -> FittedModel:
    """A trained :class:`companion.ade.ADE` behind the :class:`FittedModel` interface, scored as this
    chapter scores its own ADEs: the bound with ``cfg.iw_samples`` draws, samples with the decoder's
    noise, means ``f^{-1}(mu(z))``.

    Raises:
        TypeError: if ``model`` is not an ADE.
    """
    if not isinstance(model, ADE):
        raise TypeError(f"model must be an ADE; got {type(model).__name__}")

    def log_prob(x: torch.Tensor) -> torch.Tensor:
        return model.log_prob(x, n_samples=cfg.iw_samples)

    def sample(n: int) -> torch.Tensor:
        # a draw of the VAE on the flow's features, with its noise, mapped back through the flow
        features = model.vae.sample(n)
        return model.to_data_scale(features if model.flow is None else model.flow.inverse(features))

    return FittedModel(model.mode, model, sample, log_prob, "bound", _likelihood_how(model.mode, spec),
                       mean_fn=model.sample)


def _fit_real_nvp(train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig) -> FittedModel:
    dev = train.device
    # Images: the multi-scale architecture's convolutional couplings (one scale fits every size
    # here). Their weight sharing matters: MLP couplings on the flattened pixels of the 70
    # training faces memorise them (test bits/dim several times the training ones). Vectors:
    # MLP couplings of width `hidden`.
    image = len(spec.shape) == 3
    shape = spec.shape if image else (spec.n_dims,)
    hidden = cfg.flow_hidden if image else cfg.hidden
    flow = RealNVP(shape, n_blocks=cfg.flow_blocks, hidden=hidden, n_layers=cfg.flow_layers).to(dev)
    if not spec.discrete:
        fit_flow(flow, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr, init_size=512,
                 max_grad_norm=10.0, desc="Real-NVP")
        model: nn.Module = flow
    else:  # fitted on fresh uniform noise each time, (level + u) / n_levels in [0, 1); scored as Dequantized
        fit_flow(flow, datasets.to_levels(train, spec.n_levels).float(), n_steps=cfg.n_steps,
                 batch_size=cfg.batch_size, lr=cfg.lr, init_size=512, max_grad_norm=10.0, desc="Real-NVP",
                 transform=lambda levels: uniform_dequantize(levels, spec.n_levels))
        model = Dequantized(flow, spec.n_levels)
    return FittedModel("real-nvp", flow, model.sample, model.log_prob, likelihood_kind("real-nvp", spec),
                       _likelihood_how("real-nvp", spec))


def _one_gan(model: str, train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig) -> FittedModel:
    """One seed's fit of a GAN, as :func:`~companion.experiments.comparison_gans.fit_gans` trains it among others."""
    import dataclasses

    return fit_gans(model, train, spec, dataclasses.replace(cfg, n_seeds=1))[0]


_BUILDERS: Dict[str, Callable[[torch.Tensor, DatasetSpec, object], FittedModel]] = {
    "vae": _fit_vae,
    "iml": _fit_iml,
    "ae+lde": lambda t, s, c: _fit_ae_lde(t, s, c, incremental=False),
    "iae+lde": lambda t, s, c: _fit_ae_lde(t, s, c, incremental=True),
    "agave": _fit_agave,
    "v-ade": lambda t, s, c: _fit_ade(t, s, c, "v-ade"),
    "av-ade": lambda t, s, c: _fit_ade(t, s, c, "av-ade"),
    "gan": partial(_one_gan, "gan"),
    "bgan": partial(_one_gan, "bgan"),
    "m-bgan": partial(_one_gan, "m-bgan"),
    "real-nvp": _fit_real_nvp,
}


def fit_model(model: str, train: torch.Tensor, spec: DatasetSpec, cfg: ComparisonConfig) -> FittedModel:
    """Train ``model`` on ``train`` (on the footing of :func:`load_split`) with the budget of ``cfg``.

    Seeds with ``cfg.seed`` first and records the wall-clock training time.

    Raises:
        ValueError: for an unknown model, or one that does not apply to the dataset.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}; got {model!r}")
    reason = not_applicable_reason(model, spec)
    if reason is not None:
        raise ValueError(f"{model} does not apply to {spec.name}: {reason}")
    if not torch.is_tensor(train) or tuple(train.shape[1:]) != spec.shape:
        raise ValueError(f"train must be a tensor of shape (N, {', '.join(map(str, spec.shape))}); "
                         f"got {getattr(train, 'shape', type(train).__name__)}")
    companion.seed_everything(cfg.seed)
    start = time.perf_counter()
    fitted = _BUILDERS[model](train, spec, cfg)
    fitted.seconds = time.perf_counter() - start
    return fitted
