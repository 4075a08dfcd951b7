"""Experiments of the comparison chapter: every method of the book on the same data and metrics.

No source paper compares these methods with each other. This module trains each of them, with
the package's own classes and fit functions, on the same splits and scores them the same way:

* ``comparison/images`` — ``digits`` (8x8, 17 grey levels) and ``faces`` (25x25, quantised to
  256 levels); MNIST and CIFAR-10 at ``paper`` scale. Bits/dim of the discrete pixels where a
  model has a likelihood, Parzen log-likelihood, a Fréchet distance in a fixed feature space,
  wall-clock training time and parameter count, and sample grids.
* ``comparison/patches`` — the 63-dimensional ``patches`` (BSDS300 at ``paper`` scale): test
  log-likelihood in nats of the continuous vectors, Parzen, Fréchet in a fixed PCA, time, size.
* ``comparison/mode_coverage`` — ``ring`` and ``grid``: modes covered and high-quality samples
  (:func:`companion.metrics.mode_coverage`), test log-likelihood where defined, time, size.

The models (:data:`MODELS`) and what their likelihood number is (:func:`likelihood_kind`):

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
number of passes over the data); adversarial models make one discriminator update per generator
update; two-stage models spend ``n_steps`` on the autoencoder, then fit their base (EM for the
GMM, ``lde_steps`` steps for the LDE) on the codes. The wall-clock seconds of all of it are
reported, so a model that is cheap per step but needs a second stage pays for it there.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

import companion
from companion import data as datasets
from companion.config import ExperimentConfig
from companion.reproduce import register
from companion.train import minibatches, train_loop

__all__ = [
    "DATASET_SPECS",
    "DISPLAY_NAMES",
    "MODELS",
    "DatasetSpec",
    "FeatureSpace",
    "FittedModel",
    "check_pareto_front",
    "comparison_table",
    "dataset_spec",
    "feature_space",
    "fit_model",
    "likelihood_kind",
    "load_split",
    "not_applicable_reason",
    "pareto_front",
    "plot_tradeoffs",
]

#: Every model of the comparison, in the order of the tables.
MODELS = ("vae", "iml", "ae+lde", "iae+lde", "agave", "v-ade", "av-ade", "gan", "bgan", "m-bgan", "real-nvp")

#: How the tables and figures name them.
DISPLAY_NAMES = {
    "vae": "VAE", "iml": "IML (GMM base)", "ae+lde": "AE + LDE", "iae+lde": "IAE + LDE", "agave": "AGAVE",
    "v-ade": "V-ADE", "av-ade": "AV-ADE", "gan": "GAN", "bgan": "BGAN", "m-bgan": "M-BGAN", "real-nvp": "Real-NVP",
}

#: The chapter of the book that derives each model (for the text's links).
CHAPTERS = {
    "vae": "preliminaries", "iml": "implicit_mle", "ae+lde": "latent_density", "iae+lde": "latent_density",
    "agave": "agave", "v-ade": "adaptive_density", "av-ade": "adaptive_density", "gan": "preliminaries",
    "bgan": "symmetric_discriminators", "m-bgan": "symmetric_discriminators", "real-nvp": "preliminaries",
}


# ========================================================================================
# Datasets: one footing per family
# ========================================================================================


@dataclass(frozen=True)
class DatasetSpec:
    """What the comparison needs to know about a dataset.

    Attributes:
        name: the name for :func:`companion.data.load`.
        shape: the shape of one example.
        n_levels: grey levels of discrete images (likelihoods are of the discrete pixels and
            reported in bits/dim), or ``None`` for continuous data (nats per example).
        family: ``"images"``, ``"vectors"`` (patches) or ``"toys"`` (the 2-D mixtures).
    """

    name: str
    shape: Tuple[int, ...]
    n_levels: Optional[int]
    family: str

    @property
    def n_dims(self) -> int:
        """Dimensions of one example."""
        return math.prod(self.shape)

    @property
    def discrete(self) -> bool:
        """Whether the likelihoods are of discrete pixels (bits/dim) or of continuous vectors (nats)."""
        return self.n_levels is not None


#: The datasets the experiments know. ``faces`` are quantised to 8 bits by :func:`load_split`
#: (the ``lfw_subset`` images hold averaged grey values that lie on no grid of levels).
DATASET_SPECS = {
    "digits": DatasetSpec("digits", (1, 8, 8), 17, "images"),
    "faces": DatasetSpec("faces", (1, 25, 25), 256, "images"),
    "mnist": DatasetSpec("mnist", (1, 28, 28), 256, "images"),
    "cifar10": DatasetSpec("cifar10", (3, 32, 32), 256, "images"),
    "patches": DatasetSpec("patches", (63,), None, "vectors"),
    "bsds300": DatasetSpec("bsds300", (63,), None, "vectors"),
    "ring": DatasetSpec("ring", (2,), None, "toys"),
    "grid": DatasetSpec("grid", (2,), None, "toys"),
}

#: Parzen bandwidths searched on the validation split, per family (the data's scales differ:
#: images in [0, 1], patches with a standard deviation of about 0.09, toys with modes of std 0.01-0.05).
PARZEN_GRIDS = {
    "images": np.logspace(-2, 0, 13).tolist(),
    "vectors": np.logspace(-3, -0.5, 13).tolist(),
    "toys": np.logspace(-3, 0, 13).tolist(),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``; raises ``ValueError`` for a dataset the comparison does not know."""
    if not isinstance(name, str) or name not in DATASET_SPECS:
        raise ValueError(f"dataset must be one of {tuple(DATASET_SPECS)}; got {name!r}")
    return DATASET_SPECS[name]


def load_split(name: str, split: str, limit: Optional[int] = None) -> torch.Tensor:
    """One split of ``name`` on the comparison's footing (on the CPU).

    Discrete images hold ``level / (n_levels - 1)``; ``faces`` are quantised to 256 levels
    first (``round(255 x) / 255``), so that every image model is scored on the same discrete
    pixels. ``limit`` keeps the first rows (the splits are already in random order).
    """
    spec = dataset_spec(name)
    x = datasets.load(name, split)
    if spec.discrete:
        x = datasets.to_levels(x, spec.n_levels).float() / (spec.n_levels - 1)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int or None; got {limit!r}")
        x = x[:limit]
    return x


def _levels(x: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """Data in ``[0, 1]`` to float levels ``0 .. n_levels - 1``."""
    return torch.round(x * (spec.n_levels - 1))


def not_applicable_reason(model: str, spec: DatasetSpec) -> Optional[str]:
    """Why ``model`` does not apply to the dataset of ``spec`` (``None`` when it does)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}; got {model!r}")
    if model == "agave" and spec.family != "images":
        return ("AGAVE's decoder is a PixelCNN over discrete pixels on a 2-D grid; these are continuous "
                "vectors without a grid")
    return None


def likelihood_kind(model: str, spec: DatasetSpec) -> str:
    """What the likelihood number of ``model`` on ``spec`` is: ``"exact"``, ``"bound"`` or ``"none"``.

    ``bound`` means a lower bound on the log-likelihood (an upper bound on bits/dim): the IWAE
    bound of the latent variable models, and, for continuous densities scored on discrete
    pixels, the dequantisation bound of Theis et al. (2016). Real-NVP's density is exact, so on
    continuous data (patches, toys) its number is exact.
    """
    if not_applicable_reason(model, spec) is not None:
        return "none"
    if model in ("iml", "ae+lde", "iae+lde", "gan", "bgan", "m-bgan"):
        return "none"
    if model == "real-nvp":
        return "bound" if spec.discrete else "exact"
    return "bound"


_LIKELIHOOD_NOTES = {
    "iml": "no density of x: the decoder maps a K-dimensional base onto a K-dimensional surface",
    "ae+lde": "no density of x: the LDE's density is of the codes, the decoder is deterministic",
    "iae+lde": "no density of x: the LDE's density is of the codes, the decoder is deterministic",
    "gan": "samples only", "bgan": "samples only", "m-bgan": "samples only",
}


def _likelihood_how(model: str, spec: DatasetSpec) -> str:
    kind = likelihood_kind(model, spec)
    if kind == "none":
        return not_applicable_reason(model, spec) or _LIKELIHOOD_NOTES[model]
    if model == "real-nvp":
        return "exact density; on pixels, bounded by one uniform dequantisation" if spec.discrete else "exact density"
    if model in ("v-ade", "av-ade"):
        return "IWAE bound" + (" and dequantisation bound" if spec.discrete else "")
    return "IWAE bound" + (" of the discrete pixels (discretized logistic)" if spec.discrete else "")


# ========================================================================================
# Fitted models: one wrapper for everything the metrics need
# ========================================================================================


@dataclass
class FittedModel:
    """A trained model behind one interface.

    Attributes:
        name: one of :data:`MODELS`.
        modules: every trained network (for the parameter count and the device).
        sample_fn: ``n -> (n, *shape)`` samples on the data's scale (the footing of :func:`load_split`).
        log_prob_fn: ``x -> (batch,)`` log-likelihood in nats on the dataset's footing (of the
            discrete pixels for images, of the continuous vectors otherwise), or ``None``.
        kind: ``"exact"``, ``"bound"`` or ``"none"`` (see :func:`likelihood_kind`).
        how: a few words on what the likelihood number is (or why there is none).
        seconds: wall-clock seconds of training.
        extra_params: free parameters outside ``modules`` (a GMM base's weights, means and covariances).
    """

    name: str
    modules: nn.Module
    sample_fn: Callable[[int], torch.Tensor]
    log_prob_fn: Optional[Callable[[torch.Tensor], torch.Tensor]]
    kind: str
    how: str
    seconds: float = 0.0
    extra_params: int = 0

    @property
    def n_params(self) -> int:
        """Trained parameters: every entry of every network's parameters, plus ``extra_params``."""
        return sum(p.numel() for p in self.modules.parameters()) + self.extra_params

    @torch.no_grad()
    def sample(self, n: int, batch_size: int = 1000) -> torch.Tensor:
        """``n`` samples on the data's scale, on the CPU, drawn ``batch_size`` at a time."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}")
        self.modules.eval()
        return torch.cat([self.sample_fn(min(batch_size, n - i)).float().cpu() for i in range(0, n, batch_size)])

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
        """Per-example log-likelihood (nats) of ``x`` on the dataset's footing, on the CPU."""
        if self.log_prob_fn is None:
            raise RuntimeError(f"{self.name} has no likelihood: {self.how}")
        self.modules.eval()
        dev = _device_of(self.modules)
        return torch.cat([self.log_prob_fn(b.to(dev)).double().cpu() for b in x.split(batch_size)])


def _device_of(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


# -- one builder per model ---------------------------------------------------------------------


def _fit_vae(train: torch.Tensor, spec: DatasetSpec, cfg) -> FittedModel:
    from companion.vae import VAE, fit_vae

    dev = train.device
    if spec.discrete:
        # the logistic scale starts at an eighth of the range (in levels), not at one level:
        # with 256 levels a unit scale makes the first steps' NLL huge
        model = VAE(spec.shape, cfg.latent_dim, likelihood="logistic", hidden=cfg.hidden, n_levels=spec.n_levels,
                    init_log_scale=math.log(spec.n_levels / 8))
        x = _levels(train, spec)
    else:
        model = VAE(spec.shape, cfg.latent_dim, likelihood="gaussian", hidden=cfg.hidden,
                    init_log_scale=math.log(float(train.std())))
        x = train
    model = model.to(dev)
    fit_vae(model, x, cfg.n_steps, cfg.batch_size, cfg.lr, desc="VAE")
    if spec.discrete:
        def sample(n):
            return model.sample(n) / (spec.n_levels - 1)

        def log_prob(x):
            return model.log_prob(_levels(x, spec), n_samples=cfg.iw_samples)
    else:
        sample = model.sample

        def log_prob(x):
            return model.log_prob(x, n_samples=cfg.iw_samples)
    return FittedModel("vae", model, sample, log_prob, likelihood_kind("vae", spec), _likelihood_how("vae", spec))


def _fit_iml(train: torch.Tensor, spec: DatasetSpec, cfg) -> FittedModel:
    from companion.iml import Autoencoder, GMMBase, TwoStageModel

    output = "sigmoid" if spec.discrete else "linear"
    model = TwoStageModel(Autoencoder(spec.shape, cfg.latent_dim, hidden=(cfg.hidden,), output=output),
                          GMMBase(cfg.gmm_components, random_state=cfg.seed)).to(train.device)
    model.fit(train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr)
    k, d = cfg.gmm_components, cfg.latent_dim
    gmm_params = (k - 1) + k * d + k * d * (d + 1) // 2  # weights, means, full covariances
    return FittedModel("iml", model, model.sample, None, "none", _likelihood_how("iml", spec), extra_params=gmm_params)


def _autoencoder(spec: DatasetSpec, cfg, incremental: bool) -> nn.Module:
    """The LDE chapter's (incremental) autoencoder; with a linear output for data outside [0, 1]."""
    from companion.lde import IncrementalAutoencoder, make_autoencoder
    from companion.nets import MLP

    if spec.discrete:
        return make_autoencoder(spec.shape, cfg.latent_dim, incremental=incremental, hidden=cfg.hidden)
    # make_autoencoder ends in a sigmoid (data in [0, 1]); patches and toys need a linear output
    encoder = MLP(spec.n_dims, cfg.latent_dim, hidden=cfg.hidden, activation="leaky_relu")
    decoder = MLP(cfg.latent_dim, spec.n_dims, hidden=cfg.hidden, activation="leaky_relu")
    return IncrementalAutoencoder(encoder, decoder, cfg.latent_dim, incremental=incremental)


def _fit_ae_lde(train: torch.Tensor, spec: DatasetSpec, cfg, incremental: bool) -> FittedModel:
    from companion.lde import LatentDensityEstimator, fit_autoencoder, fit_lde

    name = "iae+lde" if incremental else "ae+lde"
    ae = _autoencoder(spec, cfg, incremental).to(train.device)
    fit_autoencoder(ae, train, cfg.n_steps, batch_size=cfg.batch_size, desc=DISPLAY_NAMES[name])
    with torch.no_grad():
        codes = ae.encode(train)
    lde = LatentDensityEstimator(cfg.latent_dim, n_components=cfg.lde_components, channels=cfg.lde_channels,
                                 head_layers=1).to(train.device)
    fit_lde(lde, codes, cfg.lde_steps, batch_size=256, lr=3e-3, desc=f"LDE on {DISPLAY_NAMES[name]} codes")
    modules = nn.ModuleDict({"autoencoder": ae, "lde": lde})

    def sample(n):
        return ae.decode(lde.sample(n))

    return FittedModel(name, modules, sample, None, "none", _likelihood_how(name, spec))


def _fit_agave(train: torch.Tensor, spec: DatasetSpec, cfg) -> FittedModel:
    from companion.agave import AGAVE, fit_agave

    model = AGAVE(spec.shape, n_levels=spec.n_levels, latent_dim=cfg.latent_dim, lam=2.0,
                  channels=tuple(cfg.conv_channels), pixelcnn_channels=cfg.pixelcnn_channels,
                  n_blocks=cfg.pixelcnn_blocks, n_mixtures=2).to(train.device)
    fit_agave(model, _levels(train, spec), cfg.n_steps, cfg.batch_size, cfg.lr, desc="AGAVE")

    def sample(n):
        return model.sample(n) / (spec.n_levels - 1)

    def log_prob(x):
        return model.log_prob(_levels(x, spec), n_samples=cfg.iw_samples)

    return FittedModel("agave", model, sample, log_prob, "bound", _likelihood_how("agave", spec))


def _fit_ade(train: torch.Tensor, spec: DatasetSpec, cfg, mode: str) -> FittedModel:
    from companion.ade import ADE, fit_ade

    # ADE's flow needs H and W divisible by 2 ** (scales - 1); one scale fits every shape here
    model = ADE(spec.shape, mode=mode, latent_dim=cfg.latent_dim, n_levels=spec.n_levels, hidden=cfg.hidden,
                flow_blocks=cfg.ade_flow_blocks, flow_scales=1, flow_hidden=cfg.ade_flow_hidden, flow_layers=1,
                disc_hidden=cfg.hidden, init_log_sigma=-1.0).to(train.device)
    # the ADE chapter's optimiser (Adamax, App. A.2 of the paper) at its learning rate
    fit_ade(model, train, cfg.n_steps, cfg.batch_size, lr=2e-3, desc=mode.upper())

    def log_prob(x):
        return model.log_prob(x, n_samples=cfg.iw_samples)

    return FittedModel(mode, model, model.sample, log_prob, "bound", _likelihood_how(mode, spec))


def _generator(spec: DatasetSpec, cfg, flat: bool = False) -> nn.Module:
    from companion.gan import MLPGenerator

    out_activation = "sigmoid" if spec.discrete else None  # images lie in [0, 1]
    shape = (spec.n_dims,) if flat else spec.shape
    return MLPGenerator(cfg.latent_dim, shape, hidden=cfg.hidden, n_layers=2, out_activation=out_activation)


def _fit_gan(train: torch.Tensor, spec: DatasetSpec, cfg) -> FittedModel:
    from companion.gan import GAN, MLPDiscriminator, fit_gan

    gan = GAN(_generator(spec, cfg), MLPDiscriminator(spec.shape, hidden=cfg.hidden, n_layers=2)).to(train.device)
    fit_gan(gan, train, cfg.n_steps, cfg.batch_size, loss="ns", lr=cfg.lr, desc="GAN")
    return FittedModel("gan", gan, gan.sample, None, "none", _likelihood_how("gan", spec))


def _fit_bgan(train: torch.Tensor, spec: DatasetSpec, cfg, reduction: str) -> FittedModel:
    from companion.symmetric import SymmetricDiscriminator, bgan_step

    name = "bgan" if reduction == "bgan" else "m-bgan"
    dev = train.device
    # the set discriminator takes vectors: the generator makes flat examples, reshaped when sampled
    gen = _generator(spec, cfg, flat=True).to(dev)
    disc = SymmetricDiscriminator(spec.n_dims, (cfg.hidden, cfg.hidden), reduction=reduction,
                                  activation="leaky_relu").to(dev)
    g_opt = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    batches = minibatches(train.flatten(1), cfg.batch_size)
    gen.train()
    train_loop(lambda i: bgan_step(gen, disc, [next(batches)], cfg.latent_dim, d_opt, g_opt, gamma=cfg.bgan_gamma),
               cfg.n_steps, desc=DISPLAY_NAMES[name], log_every=10,
               state={"gen": gen, "disc": disc, "g_opt": g_opt, "d_opt": d_opt, "batches": batches})

    def sample(n):
        return gen(torch.randn(n, cfg.latent_dim, device=dev)).view(n, *spec.shape)

    modules = nn.ModuleDict({"generator": gen, "discriminator": disc})
    return FittedModel(name, modules, sample, None, "none", _likelihood_how(name, spec))


def _fit_real_nvp(train: torch.Tensor, spec: DatasetSpec, cfg) -> FittedModel:
    from companion.flows import RealNVP, uniform_dequantize
    from companion.metrics import continuous_to_discrete_nll

    dev = train.device
    # Images: the multi-scale architecture's convolutional couplings (one scale fits every size
    # here). Their weight sharing matters: MLP couplings on the flattened pixels of the 70
    # training faces memorise them (test bits/dim several times the training ones). Vectors:
    # MLP couplings of width `hidden`.
    image = len(spec.shape) == 3
    shape = spec.shape if image else (spec.n_dims,)
    hidden = cfg.flow_hidden if image else cfg.hidden
    flow = RealNVP(shape, n_blocks=cfg.flow_blocks, hidden=hidden, n_layers=cfg.flow_layers).to(dev)
    if spec.discrete:
        levels = _levels(train, spec)

        def prepare(x_levels):  # fresh uniform noise each time: (level + u) / n_levels in [0, 1)
            return uniform_dequantize(x_levels, spec.n_levels)
    else:
        levels = train

        def prepare(x):
            return x
    flow.initialize(prepare(levels[:512]))
    optimiser = torch.optim.Adam(flow.parameters(), lr=cfg.lr)
    batches = minibatches(levels, cfg.batch_size)

    def step(i: int):
        loss = -flow.log_prob(prepare(next(batches))).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(flow.parameters(), 10.0)
        optimiser.step()
        return {"nll": loss.detach()}

    flow.train()
    train_loop(step, cfg.n_steps, desc="Real-NVP", log_every=10,
               state={"flow": flow, "optimiser": optimiser, "batches": batches})
    if spec.discrete:
        def log_prob(x):  # log p(y) - D log n_levels: a bound on log P(x) in expectation over u
            log_p = flow.log_prob(prepare(_levels(x, spec)))
            return -continuous_to_discrete_nll(-log_p, spec.n_dims, spec.n_levels)

        def sample(n):  # the bin of (level + u) / n_levels back to level / (n_levels - 1)
            y = flow.sample(n)
            return (torch.floor(y * spec.n_levels).clamp(0, spec.n_levels - 1)) / (spec.n_levels - 1)
    else:
        log_prob, sample = flow.log_prob, flow.sample
    return FittedModel("real-nvp", flow, sample, log_prob, likelihood_kind("real-nvp", spec),
                       _likelihood_how("real-nvp", spec))


_BUILDERS: Dict[str, Callable[[torch.Tensor, DatasetSpec, object], FittedModel]] = {
    "vae": _fit_vae,
    "iml": _fit_iml,
    "ae+lde": lambda t, s, c: _fit_ae_lde(t, s, c, incremental=False),
    "iae+lde": lambda t, s, c: _fit_ae_lde(t, s, c, incremental=True),
    "agave": _fit_agave,
    "v-ade": lambda t, s, c: _fit_ade(t, s, c, "v-ade"),
    "av-ade": lambda t, s, c: _fit_ade(t, s, c, "av-ade"),
    "gan": _fit_gan,
    "bgan": lambda t, s, c: _fit_bgan(t, s, c, "bgan"),
    "m-bgan": lambda t, s, c: _fit_bgan(t, s, c, "mbgan"),
    "real-nvp": _fit_real_nvp,
}


def fit_model(model: str, train: torch.Tensor, spec: DatasetSpec, cfg) -> FittedModel:
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


# ========================================================================================
# The fixed feature spaces of the Fréchet distance
# ========================================================================================


@dataclass
class FeatureSpace:
    """A fixed map from examples to features, and what it is.

    Attributes:
        name: ``"classifier"`` or ``"pca"``.
        description: a sentence for the text.
        features: ``(N, *shape) -> (N, k)`` on the CPU.
    """

    name: str
    description: str
    features: Callable[[torch.Tensor], torch.Tensor]


def _pca_space(dataset: str, n_components: int, train: torch.Tensor) -> FeatureSpace:
    flat = train.flatten(1).double()
    k = min(n_components, flat.shape[0] - 1, flat.shape[1])
    mean = flat.mean(0)
    # the right singular vectors of the centred training split (deterministic: no randomness)
    _, _, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    # fix each component's sign (an SVD's signs are arbitrary): its largest entry is positive
    signs = torch.sign(vh[:k].gather(1, vh[:k].abs().argmax(1, keepdim=True)))
    basis = (vh[:k] * signs).T.contiguous()

    def features(x: torch.Tensor) -> torch.Tensor:
        return (x.detach().cpu().flatten(1).double() - mean) @ basis

    return FeatureSpace("pca", f"the first {k} principal components of the {dataset} training split", features)


def feature_space(dataset: str, cfg) -> FeatureSpace:
    """The fixed feature space of the Fréchet distance on ``dataset``.

    ``digits`` and ``cifar10``: the penultimate layer of the small classifier of the ADE
    chapter (:func:`companion.experiments.adaptive_density.train_feature_net`), trained once
    on the training labels with seed 0 for ``cfg.feature_steps`` steps. Every other dataset (no
    labels, or none used): the first ``cfg.pca_components`` principal components of its
    training split. Both are fixed before any model is trained and shared by all models.
    """
    spec = dataset_spec(dataset)
    if dataset in ("digits", "cifar10"):
        from companion.experiments.adaptive_density import train_feature_net

        net, accuracy = train_feature_net(cfg.feature_steps, seed=0, device=torch.device("cpu"), dataset=dataset)
        net.eval()

        def features(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return torch.cat([net.features(b.float()) for b in x.detach().cpu().split(1000)]).double()

        return FeatureSpace("classifier", f"the penultimate layer (64 units) of a {dataset} classifier "
                            f"trained once with seed 0 (validation accuracy {accuracy:.2f})", features)
    train = load_split(dataset, "train", getattr(cfg, "n_train", None))
    if spec.family == "toys":
        return FeatureSpace("identity", "the 2-D points themselves", lambda x: x.detach().cpu().flatten(1).double())
    return _pca_space(dataset, cfg.pca_components, train)


# ========================================================================================
# Configurations
# ========================================================================================


@dataclass
class ComparisonConfig(ExperimentConfig):
    """The budget shared by every model (book-scale defaults) and the evaluation settings."""

    datasets: Tuple[str, ...] = ("digits", "faces")
    models: Tuple[str, ...] = MODELS
    n_steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    latent_dim: int = 8
    hidden: int = 128
    gmm_components: int = 10
    lde_components: int = 10
    lde_channels: int = 16
    lde_steps: int = 200
    conv_channels: Tuple[int, ...] = (16, 32)
    pixelcnn_channels: int = 16
    pixelcnn_blocks: int = 2
    flow_blocks: int = 4  # Real-NVP's coupling layers (per mask type for images)
    flow_hidden: int = 16  # channels of its convolutional couplings (images); vectors use MLPs of width `hidden`
    flow_layers: int = 1  # hidden layers of each coupling network
    ade_flow_blocks: int = 2
    ade_flow_hidden: int = 16
    bgan_gamma: float = 0.5
    iw_samples: int = 10
    n_train: Optional[int] = None  # None: the whole training split
    n_test: Optional[int] = None  # None: the whole test split (and validation split)
    n_samples: int = 1000  # samples per model for Parzen and the Fréchet distance
    n_samples_slow: int = 200  # the same for models that sample pixel by pixel (AGAVE) on big images
    feature_steps: int = 300
    pca_components: int = 16
    n_grid: int = 36
    skip: Tuple[str, ...] = ()  # "dataset/model" pairs left out at this scale for time (reported as skipped)
    seed: int = 0
    FAMILIES: ClassVar[Tuple[str, ...]] = ("images",)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if not self.datasets:
            raise ValueError("datasets must name at least one dataset")
        for name in self.datasets:
            spec = dataset_spec(name)
            if spec.family not in self.FAMILIES:
                raise ValueError(f"{type(self).__name__} takes datasets of the families {self.FAMILIES}; "
                                 f"{name!r} is in {spec.family!r}")
        if not self.models:
            raise ValueError("models must name at least one model")
        for name in self.models:
            if name not in MODELS:
                raise ValueError(f"models must be among {MODELS}; got {name!r}")
        for name in ("n_steps", "batch_size", "latent_dim", "hidden", "gmm_components", "lde_components",
                     "lde_channels", "lde_steps", "pixelcnn_channels", "pixelcnn_blocks", "flow_blocks",
                     "flow_hidden", "flow_layers", "ade_flow_blocks", "ade_flow_hidden", "iw_samples", "n_samples",
                     "n_samples_slow", "feature_steps", "pca_components", "n_grid"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        for entry in self.skip:
            if not isinstance(entry, str) or entry.count("/") != 1 or entry.split("/")[1] not in MODELS:
                raise ValueError(f"skip entries look like 'dataset/model' with a model of {MODELS}; got {entry!r}")
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
                raise ValueError(f"{name} must be None or an int >= 2; got {value!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a positive number; got {self.lr!r}")
        if not (isinstance(self.bgan_gamma, (int, float)) and 0 <= self.bgan_gamma <= 0.5):
            raise ValueError(f"bgan_gamma must lie in [0, 0.5]; got {self.bgan_gamma!r}")


_SMOKE = {"n_steps": 6, "lde_steps": 4, "hidden": 16, "latent_dim": 2, "gmm_components": 2, "lde_components": 2,
          "lde_channels": 4, "conv_channels": (4,), "pixelcnn_channels": 4, "pixelcnn_blocks": 1, "flow_blocks": 2,
          "flow_hidden": 4, "ade_flow_blocks": 1, "ade_flow_hidden": 4, "iw_samples": 2, "n_samples": 100,
          "n_samples_slow": 20, "feature_steps": 20, "pca_components": 4, "n_grid": 16}


@dataclass
class ImagesConfig(ComparisonConfig):
    """``comparison/images``: digits and faces (book), MNIST and CIFAR-10 (paper, downloaded).

    At book scale AGAVE is skipped on faces: its PixelCNN trains and samples 625 pixels one
    after the other, minutes on a CPU for this dataset alone.
    """

    skip: Tuple[str, ...] = ("faces/agave",)
    SCALES: ClassVar = {
        "smoke": dict(_SMOKE, datasets=("digits",), n_test=40),
        # paper: the real benchmarks (downloaded); wider networks, 10,000 samples for Parzen and Fréchet
        "paper": {"datasets": ("mnist", "cifar10"), "n_steps": 50_000, "batch_size": 64, "latent_dim": 64,
                  "hidden": 1024, "skip": (), "gmm_components": 30, "lde_components": 30, "lde_channels": 64,
                  "lde_steps": 20_000, "conv_channels": (64, 128, 256), "pixelcnn_channels": 128,
                  "pixelcnn_blocks": 10, "flow_blocks": 8, "flow_hidden": 64, "flow_layers": 2, "ade_flow_blocks": 3,
                  "ade_flow_hidden": 64, "iw_samples": 100, "n_samples": 10_000, "n_samples_slow": 10_000,
                  "feature_steps": 5000, "pca_components": 64},
    }


@dataclass
class PatchesConfig(ComparisonConfig):
    """``comparison/patches``: 63-dimensional natural-image patches (BSDS300 itself at paper scale)."""

    datasets: Tuple[str, ...] = ("patches",)
    n_train: Optional[int] = 20_000
    n_test: Optional[int] = 2000
    FAMILIES: ClassVar[Tuple[str, ...]] = ("vectors",)
    SCALES: ClassVar = {
        "smoke": dict(_SMOKE, n_train=1000, n_test=100),
        "paper": {"datasets": ("bsds300",), "n_train": 1_000_000, "n_test": 250_000, "n_steps": 100_000,
                  "batch_size": 256, "latent_dim": 32, "hidden": 512, "gmm_components": 30, "lde_components": 30,
                  "lde_channels": 64, "lde_steps": 20_000, "flow_blocks": 10, "flow_layers": 2,
                  "ade_flow_blocks": 4, "ade_flow_hidden": 128, "iw_samples": 100, "n_samples": 10_000,
                  "pca_components": 32},
    }


@dataclass
class ModeCoverageConfig(ComparisonConfig):
    """``comparison/mode_coverage``: the 2-D ring and grid, 2,500 samples per model (VEEGAN/PacGAN)."""

    datasets: Tuple[str, ...] = ("ring", "grid")
    latent_dim: int = 2
    hidden: int = 64
    n_steps: int = 500  # 2-D steps are cheap: more of them than for the images, the same for every model
    n_test: Optional[int] = 1000
    n_samples: int = 2500
    FAMILIES: ClassVar[Tuple[str, ...]] = ("toys",)
    SCALES: ClassVar = {
        "smoke": dict(_SMOKE, datasets=("ring",), n_test=100, n_samples=200),
        "paper": {"n_steps": 20_000, "hidden": 256, "n_test": 2500, "iw_samples": 100, "lde_steps": 5000},
    }


# ========================================================================================
# The runs
# ========================================================================================


@dataclass
class ComparisonResult:
    """Everything one comparison experiment measured.

    Attributes:
        datasets, models: what ran, in order.
        rows: ``dataset -> model -> {metric: value}``; a metric that is not defined holds ``None``.
        kinds: ``dataset -> model -> "exact" | "bound" | "none" | "n/a" | "skipped"``.
        notes: ``dataset -> model -> text``: what the likelihood is, or why the model is n/a.
        samples: ``dataset -> model -> (n_grid, *shape)`` samples on the data's scale (and ``"data"``).
        feature_spaces: ``dataset -> description`` of the Fréchet features.
        metrics: flat JSON numbers ``"<dataset>/<model>/<metric>"`` (NaN where not defined).
    """

    datasets: List[str]
    models: List[str]
    rows: Dict[str, Dict[str, Dict[str, Optional[float]]]]
    kinds: Dict[str, Dict[str, str]]
    notes: Dict[str, Dict[str, str]]
    samples: Dict[str, Dict[str, np.ndarray]]
    feature_spaces: Dict[str, str]
    metrics: Dict[str, float] = field(default_factory=dict)
    family: str = "images"


#: The metric columns, per family: (key, header, lower is better?).
COLUMNS = {
    "images": (("bits_per_dim", "bits/dim ↓", True), ("parzen_ll", "Parzen LL (nats) ↑", False),
               ("frechet", "Fréchet ↓", True), ("seconds", "train time (s)", True), ("n_params", "parameters", True)),
    "vectors": (("test_ll", "test LL (nats) ↑", False), ("parzen_ll", "Parzen LL (nats) ↑", False),
                ("frechet", "Fréchet ↓", True), ("seconds", "train time (s)", True), ("n_params", "parameters", True)),
    "toys": (("modes", "modes covered ↑", False), ("high_quality", "high-quality samples ↑", False),
             ("test_ll", "test LL (nats) ↑", False), ("seconds", "train time (s)", True),
             ("n_params", "parameters", True)),
}


def _n_samples(model: str, spec: DatasetSpec, cfg) -> int:
    slow = model == "agave" and spec.n_dims > 256  # 625 sequential PixelCNN passes per face
    return cfg.n_samples_slow if slow else cfg.n_samples


def _evaluate(fitted: FittedModel, spec: DatasetSpec, cfg, valid: torch.Tensor, test: torch.Tensor,
              space: Optional[FeatureSpace]) -> Tuple[Dict[str, Optional[float]], np.ndarray]:
    from companion.metrics import bits_per_dim

    row: Dict[str, Optional[float]] = {"seconds": fitted.seconds, "n_params": float(fitted.n_params)}
    if fitted.log_prob_fn is not None:
        mean_ll = float(fitted.log_prob(test).mean())
        if spec.discrete:
            row["bits_per_dim"] = float(bits_per_dim(-mean_ll, spec.n_dims))
        else:
            row["test_ll"] = mean_ll
    else:
        row["bits_per_dim" if spec.discrete else "test_ll"] = None
    samples = fitted.sample(_n_samples(fitted.name, spec, cfg))
    if not bool(torch.isfinite(samples).all()):  # a diverged generator: say so instead of crashing a metric
        samples = torch.nan_to_num(samples, nan=0.0, posinf=1e6, neginf=-1e6)
    row.update(_sample_scores(samples, spec, valid, test, space))
    return row, samples[: cfg.n_grid].numpy()


def _sample_scores(samples: torch.Tensor, spec: DatasetSpec, valid: torch.Tensor, test: torch.Tensor,
                   space: Optional[FeatureSpace]) -> Dict[str, Optional[float]]:
    """Modes covered (toys), or Parzen log-likelihood and Fréchet distance to the test split."""
    from companion.metrics import frechet_distance, mode_coverage, parzen_log_likelihood, select_parzen_sigma

    if spec.family == "toys":
        n_modes, quality = mode_coverage(samples, datasets.toy_centers(spec.name), datasets.toy_std(spec.name))
        return {"modes": float(n_modes), "high_quality": float(quality)}
    sigma, _ = select_parzen_sigma(samples, valid, sigmas=PARZEN_GRIDS[spec.family])
    return {"parzen_sigma": sigma, "parzen_ll": parzen_log_likelihood(samples, test, sigma),
            "frechet": frechet_distance(space.features(samples), space.features(test))}


def _data_row(spec: DatasetSpec, cfg, train: torch.Tensor, valid: torch.Tensor, test: torch.Tensor,
              space: Optional[FeatureSpace]) -> Dict[str, Optional[float]]:
    """The training split scored like a model's samples: what a perfect sampler of the data would get."""
    return _sample_scores(train[: cfg.n_samples], spec, valid, test, space)


def _run(cfg: ComparisonConfig) -> ComparisonResult:
    cfg.validate()
    dev = companion.device()
    family = dataset_spec(cfg.datasets[0]).family
    rows: Dict[str, Dict[str, Dict[str, Optional[float]]]] = {}
    kinds: Dict[str, Dict[str, str]] = {}
    notes: Dict[str, Dict[str, str]] = {}
    grids: Dict[str, Dict[str, np.ndarray]] = {}
    spaces: Dict[str, str] = {}
    for name in cfg.datasets:
        spec = dataset_spec(name)
        train = load_split(name, "train", cfg.n_train)
        valid = load_split(name, "valid", cfg.n_test)
        test = load_split(name, "test", cfg.n_test)
        space = None if spec.family == "toys" else feature_space(name, cfg)
        if space is not None:
            spaces[name] = space.description
        rows[name], kinds[name], notes[name] = {"data": _data_row(spec, cfg, train, valid, test, space)}, {}, {}
        grids[name] = {"data": train[: cfg.n_grid].numpy()}
        for model in cfg.models:
            reason, kind = not_applicable_reason(model, spec), "n/a"
            if reason is None and f"{name}/{model}" in cfg.skip:
                reason, kind = f"skipped at {cfg.scale} scale to keep the chapter inside its time budget", "skipped"
            if reason is not None:
                rows[name][model], kinds[name][model], notes[name][model] = {}, kind, reason
                continue
            fitted = fit_model(model, train.to(dev), spec, cfg)
            rows[name][model], grids[name][model] = _evaluate(fitted, spec, cfg, valid, test, space)
            kinds[name][model], notes[name][model] = fitted.kind, fitted.how
    metrics: Dict[str, float] = {}
    keys = [key for key, _, _ in COLUMNS[family]] + (["parzen_sigma"] if family != "toys" else [])
    for name in cfg.datasets:
        for model in ["data"] + list(cfg.models):
            for key in keys:
                if model == "data" and key in ("bits_per_dim", "test_ll", "seconds", "n_params"):
                    continue
                value = rows[name][model].get(key)
                metrics[f"{name}/{model}/{key}"] = float("nan") if value is None else float(value)
            if model != "data":
                metrics[f"{name}/{model}/likelihood_is_bound"] = {"bound": 1.0, "exact": 0.0}.get(
                    kinds[name][model], float("nan"))
    return ComparisonResult(list(cfg.datasets), list(cfg.models), rows, kinds, notes, grids, spaces, metrics, family)


@register("comparison/images", config=ImagesConfig, plot=lambda r: plot_samples(r),
          description="Every method on digits and faces: bits/dim, Parzen, Fréchet, time, size, samples")
def run_images(cfg: ImagesConfig) -> ComparisonResult:
    """Train every model on every image dataset of ``cfg`` and score it (see the module docstring)."""
    return _run(cfg)


@register("comparison/patches", config=PatchesConfig, plot=lambda r: plot_samples(r),
          description="Every method on 8x8 natural-image patches: test LL, Parzen, Fréchet (PCA), time, size")
def run_patches(cfg: PatchesConfig) -> ComparisonResult:
    """Train every model that applies on the patches and score it."""
    return _run(cfg)


@register("comparison/mode_coverage", config=ModeCoverageConfig, plot=lambda r: plot_samples(r),
          description="Every method on ring and grid: modes covered, high-quality samples, test LL, time, size")
def run_mode_coverage(cfg: ModeCoverageConfig) -> ComparisonResult:
    """Train every model that applies on the 2-D mixtures; mode coverage on 2,500 samples each."""
    return _run(cfg)


# ========================================================================================
# Tables, Pareto fronts, plots
# ========================================================================================


def comparison_table(result: ComparisonResult, dataset: Optional[str] = None):
    """A pandas DataFrame of one dataset's results (the first by default), models as rows.

    Undefined numbers read ``n/a``; the likelihood column says whether its number is exact or
    a bound. The ``data`` row scores the training split as if it were a model's samples.
    """
    import pandas as pd

    dataset = result.datasets[0] if dataset is None else dataset
    if dataset not in result.rows:
        raise ValueError(f"dataset must be one of {result.datasets}; got {dataset!r}")
    table = []
    for model in ["data"] + result.models:
        row = result.rows[dataset][model]
        entry = {"model": "data (training split)" if model == "data" else DISPLAY_NAMES[model]}
        for key, header, _ in COLUMNS[result.family]:
            value = row.get(key)
            if model == "data" and key in ("bits_per_dim", "test_ll", "seconds", "n_params"):
                entry[header] = ""
            elif value is None or (isinstance(value, float) and not math.isfinite(value)):
                entry[header] = "n/a"
            elif key == "n_params":
                entry[header] = f"{int(value):,}"
            elif key == "modes":
                entry[header] = f"{int(value)}"
            elif key == "high_quality":
                entry[header] = f"{100 * value:.0f}%"
            elif key == "seconds":
                entry[header] = f"{value:.1f}"
            else:
                entry[header] = f"{value:.2f}"
        if model != "data":
            entry["likelihood"] = result.kinds[dataset][model]
        else:
            entry["likelihood"] = ""
        table.append(entry)
    return pd.DataFrame(table).set_index("model")


def pareto_front(points: Mapping[str, Tuple[float, float]]) -> List[str]:
    """The names whose ``(x, y)`` no other point beats on both (lower is better on both axes).

    A point is *dominated* when another one is at least as good on both coordinates and
    strictly better on one. Points with a NaN coordinate are left out.

    Args:
        points: ``name -> (x, y)``.

    Returns:
        The non-dominated names, sorted by ``x``.
    """
    if not isinstance(points, Mapping):
        raise TypeError(f"points must be a mapping name -> (x, y); got {type(points).__name__}")
    clean = {}
    for name, value in points.items():
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            raise ValueError(f"points[{name!r}] must be a pair (x, y); got {value!r}")
        x, y = float(value[0]), float(value[1])
        if math.isfinite(x) and math.isfinite(y):
            clean[name] = (x, y)
    front = [a for a, (xa, ya) in clean.items()
             if not any(xb <= xa and yb <= ya and (xb < xa or yb < ya) for b, (xb, yb) in clean.items() if b != a)]
    return sorted(front, key=lambda name: clean[name])


def tradeoff_points(result: ComparisonResult, dataset: str, x: str, y: str) -> Dict[str, Tuple[float, float]]:
    """``model -> (x, y)`` for two metrics of ``dataset``, oriented so that lower is better on both.

    Metrics where higher is better (log-likelihoods, modes) are negated. Models where either
    metric is undefined are left out.
    """
    if dataset not in result.rows:
        raise ValueError(f"dataset must be one of {result.datasets}; got {dataset!r}")
    lower = {key: low for key, _, low in COLUMNS[result.family]}
    for key in (x, y):
        if key not in lower:
            raise ValueError(f"metrics of the {result.family} family are {tuple(lower)}; got {key!r}")
    out = {}
    for model in result.models:
        row = result.rows[dataset][model]
        if row.get(x) is None or row.get(y) is None:
            continue
        out[model] = tuple(float(row[k]) if lower[k] else -float(row[k]) for k in (x, y))
    return out


def check_pareto_front(answer: Iterable[str], result: ComparisonResult, dataset: str,
                       x: str = "seconds", y: str = "frechet") -> bool:
    """Check the exercise: which models are on the Pareto front of ``x`` against ``y`` on ``dataset``?

    Args:
        answer: the reader's model names (as in :data:`MODELS`, e.g. ``["gan", "vae"]``).
        result: the comparison result the reader read the numbers from.
        dataset, x, y: the dataset and the two metrics (lower is better after orientation,
            see :func:`tradeoff_points`).

    Returns:
        Whether the answer is the front; prints a verdict with a hint.
    """
    if isinstance(answer, str) or not isinstance(answer, Iterable):
        raise TypeError("answer must be a list of model names, e.g. ['gan', 'vae']")
    answer = list(answer)
    unknown = [a for a in answer if a not in MODELS]
    if unknown:
        raise ValueError(f"unknown model names {unknown}; use the names of MODELS: {MODELS}")
    points = tradeoff_points(result, dataset, x, y)
    front = set(pareto_front(points))
    given = set(answer)
    if given == front:
        print("Correct.")
        return True
    missing, extra = sorted(front - given), sorted(given - front)
    if extra:
        dominated_by = {a: [b for b in points if b != a and all(pb <= pa for pa, pb in zip(points[a], points[b]))]
                        for a in extra if a in points}
        print(f"Not yet: {extra} are dominated (someone is at least as good on both): {dominated_by}.")
    if missing:
        print(f"Not yet: {len(missing)} model(s) that nobody beats on both metrics are missing.")
    return False


def _patch_images(x: np.ndarray) -> np.ndarray:
    """63-dim patches to 8x8 images: the dropped pixel is minus the sum of the others; each patch rescaled."""
    full = np.concatenate([x, -x.sum(axis=1, keepdims=True)], axis=1).reshape(-1, 1, 8, 8)
    low = full.min(axis=(1, 2, 3), keepdims=True)
    high = full.max(axis=(1, 2, 3), keepdims=True)
    return (full - low) / np.maximum(high - low, 1e-8)


def plot_samples(result: ComparisonResult):
    """Sample grids (images, patches) or scatter plots (toys): one row per dataset, one panel per model."""
    import matplotlib.pyplot as plt

    from companion import plots

    plots.set_style()
    names = ["data"] + result.models
    n_rows, n_cols = len(result.datasets), len(names)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.55 * n_cols, 1.8 * n_rows + 0.3), squeeze=False)
    for r, dataset in enumerate(result.datasets):
        spec = dataset_spec(dataset)
        for c, model in enumerate(names):
            ax = axes[r, c]
            label = "data" if model == "data" else DISPLAY_NAMES[model]
            if model not in result.samples[dataset]:
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=10, color="0.4")
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(label, fontsize=8)
                continue
            images = result.samples[dataset][model]
            if spec.family == "toys":
                centers = datasets.toy_centers(dataset).numpy()
                ax.scatter(centers[:, 0], centers[:, 1], s=8, color="k", marker="x")
                pts = np.clip(images, -6, 6)  # a diverged model's far-away points stay on the panel's edge
                ax.scatter(pts[:, 0], pts[:, 1], s=2, color="C3", alpha=0.5)
                lim = 1.5 if dataset == "ring" else 5.5
                ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_aspect("equal")
            else:
                if spec.family == "vectors":
                    images = _patch_images(images)
                side = int(math.isqrt(len(images)))
                plots.image_grid(np.clip(images[: side * side], 0, 1), nrow=side, ax=ax)
            if spec.family == "toys" and model != "data":
                row = result.rows[dataset][model]
                label += f"\n{int(row['modes'])} modes"
            ax.set_title(label, fontsize=8)
        axes[r, 0].set_ylabel(dataset, fontsize=9)
    fig.tight_layout()
    return fig


def plot_tradeoffs(result: ComparisonResult, pairs: Optional[Sequence[Tuple[str, str]]] = None):
    """Metric against metric, one panel per (dataset, pair); the Pareto front of each panel is drawn.

    The default pairs: likelihood against Fréchet and training time against Fréchet (images,
    patches), modes against test log-likelihood and time against modes (toys).
    """
    import matplotlib.pyplot as plt

    from companion import plots

    plots.set_style()
    if pairs is None:
        pairs = {"images": (("bits_per_dim", "frechet"), ("seconds", "frechet")),
                 "vectors": (("test_ll", "frechet"), ("seconds", "frechet")),
                 "toys": (("test_ll", "modes"), ("seconds", "modes"))}[result.family]
    headers = {key: header for key, header, _ in COLUMNS[result.family]}
    panels = [(d, p) for d in result.datasets for p in pairs]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (dataset, (x, y)) in zip(axes[0], panels):
        points = tradeoff_points(result, dataset, x, y)
        lower = {key: low for key, _, low in COLUMNS[result.family]}
        sign = {k: 1.0 if lower[k] else -1.0 for k in (x, y)}
        front = pareto_front(points)
        for i, (model, (px, py)) in enumerate(points.items()):
            ax.scatter(sign[x] * px, sign[y] * py, s=40 if model in front else 18, color=f"C{i % 10}",
                       edgecolor="k" if model in front else "none", zorder=3)
            ax.annotate(DISPLAY_NAMES[model], (sign[x] * px, sign[y] * py), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        if len(front) > 1:
            ax.plot([sign[x] * points[m][0] for m in front], [sign[y] * points[m][1] for m in front],
                    ls="--", color="0.5", lw=1, zorder=1)
        if x == "seconds":
            from matplotlib.ticker import NullFormatter, ScalarFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())  # 3, 10, 30 rather than 3x10^0
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(headers[x])
        ax.set_ylabel(headers[y])
        ax.set_title(f"{dataset}: {len(points)} models, front dashed", fontsize=9)
    fig.tight_layout()
    return fig
