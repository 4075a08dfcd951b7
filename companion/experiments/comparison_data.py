"""What the comparison chapter compares and on what: the models' names (:data:`MODELS`), the data sets'
footing (:class:`DatasetSpec`, :func:`load_split`), what each model's likelihood number is
(:func:`likelihood_kind`), the fitted model every builder returns (:class:`FittedModel`) and the fixed
feature spaces of the Fréchet distances (:func:`feature_space`). The settings
(:mod:`.comparison_configs`), the builders (:mod:`.comparison_models`, :mod:`.comparison_gans`) and the runs
(:mod:`.comparison`) all read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Tuple

import numpy as np
import torch
from torch import nn

from companion import data as datasets
from companion.experiments.feature_classifier import train_feature_net

if TYPE_CHECKING:  # only the type: the settings are read, never built, here
    from companion.experiments.comparison_configs import ComparisonConfig


#: Every model of the comparison, in the order of the tables.
MODELS = ("vae", "iml", "ae+lde", "iae+lde", "agave", "v-ade", "av-ade", "gan", "bgan", "m-bgan", "real-nvp")

#: The GANs (samples only): the models held to the GAN bar before they are ranked; they train their seeds
#: at once (:func:`companion.experiments.comparison_gans.fit_gans`).
GAN_MODELS = ("gan", "bgan", "m-bgan")

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
        sample_fn: ``n -> (n, *shape)`` draws from the model on the data's scale (the footing of
            :func:`load_split`): with the decoder's noise where the model has one.
        log_prob_fn: ``x -> (batch,)`` log-likelihood in nats on the dataset's footing (of the
            discrete pixels for images, of the continuous vectors otherwise), or ``None``.
        kind: ``"exact"``, ``"bound"`` or ``"none"`` (see :func:`likelihood_kind`).
        how: a few words on what the likelihood number is (or why there is none).
        seconds: wall-clock seconds of training.
        extra_params: free parameters outside ``modules`` (a GMM base's weights, means and covariances).
        mean_fn: ``n -> (n, *shape)`` the decoder's means instead of draws, for the models whose
            samples add a decoder's noise to a mean (the VAE, V-ADE, AV-ADE); ``None`` otherwise.
    """

    name: str
    modules: nn.Module
    sample_fn: Callable[[int], torch.Tensor]
    log_prob_fn: Optional[Callable[[torch.Tensor], torch.Tensor]]
    kind: str
    how: str
    seconds: float = 0.0
    extra_params: int = 0
    mean_fn: Optional[Callable[[int], torch.Tensor]] = None

    @property
    def n_params(self) -> int:
        """Trained parameters: every entry of every network's parameters, plus ``extra_params``."""
        return sum(p.numel() for p in self.modules.parameters()) + self.extra_params

    @torch.no_grad()
    def sample(self, n: int, batch_size: int = 1000, mean: bool = False) -> torch.Tensor:
        """``n`` draws on the data's scale, on the CPU, ``batch_size`` at a time (decoder means with ``mean=True``)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}")
        if mean and self.mean_fn is None:
            raise ValueError(f"{self.name} has no decoder mean apart from its draws")
        fn = self.mean_fn if mean else self.sample_fn
        self.modules.eval()
        return torch.cat([fn(min(batch_size, n - i)).float().cpu() for i in range(0, n, batch_size)])

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
        classifier: the classifier whose penultimate layer the features are (for the GAN bar), or ``None``.
    """

    name: str
    description: str
    features: Callable[[torch.Tensor], torch.Tensor]
    classifier: Optional[torch.nn.Module] = None


def _pca_space(dataset: str, n_components: int, train: torch.Tensor, n_reference: int) -> FeatureSpace:
    flat = train.flatten(1).double()
    # at most half as many components as reference (test) examples: a Gaussian fitted to n points
    # in k >= n dimensions has a singular covariance, and its Fréchet distance is mostly noise
    k = min(n_components, flat.shape[0] - 1, flat.shape[1], n_reference // 2)
    mean = flat.mean(0)
    # the right singular vectors of the centred training split (deterministic: no randomness)
    _, _, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    # fix each component's sign (an SVD's signs are arbitrary): its largest entry is positive
    signs = torch.sign(vh[:k].gather(1, vh[:k].abs().argmax(1, keepdim=True)))
    basis = (vh[:k] * signs).T.contiguous()

    def features(x: torch.Tensor) -> torch.Tensor:
        return (x.detach().cpu().flatten(1).double() - mean) @ basis

    return FeatureSpace("pca", f"the first {k} principal components of the {dataset} training split", features)


def feature_space(dataset: str, cfg: "ComparisonConfig") -> FeatureSpace:
    """The fixed feature space of the Fréchet distance on ``dataset``.

    ``digits`` and ``cifar10``: the penultimate layer of the small classifier of the ADE
    chapter (:func:`companion.experiments.feature_classifier.train_feature_net`), trained once
    on the training labels with seed 0 for ``cfg.feature_steps`` steps. Every other dataset (no
    labels, or none used): the first ``cfg.pca_components`` principal components of its
    training split, and at most half as many as there are test examples (7 for the 15 test
    faces), so that the test features' covariance has full rank. Both are fixed before any
    model is trained and shared by all models and seeds.
    """
    spec = dataset_spec(dataset)
    if dataset in ("digits", "cifar10"):
        net, accuracy = train_feature_net(cfg.feature_steps, seed=0, device=torch.device("cpu"), dataset=dataset)
        net.eval()

        def features(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return torch.cat([net.features(b.float()) for b in x.detach().cpu().split(1000)]).double()

        return FeatureSpace("classifier", f"the penultimate layer (64 units) of a {dataset} classifier "
                            f"trained once with seed 0 (validation accuracy {accuracy:.2f})", features, net)
    train = load_split(dataset, "train", cfg.n_train)
    if spec.family == "toys":
        return FeatureSpace("identity", "the 2-D points themselves", lambda x: x.detach().cpu().flatten(1).double())
    return _pca_space(dataset, cfg.pca_components, train, len(load_split(dataset, "test", cfg.n_test)))
