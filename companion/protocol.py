"""The package's central convention as types: what a density model and a sampler are.

Every model of the book that defines a density follows :class:`DensityModel`; a model with
samples only (a GAN, a GMMN) follows :class:`Sampler`. Evaluation code (``companion.metrics``, the
comparison chapter) takes any object of these types, so methods are compared on the same
data with the same metrics::

    from companion.protocol import DensityModel
    assert isinstance(model, DensityModel)      # runtime-checkable: the three members exist
    nats = model.log_prob(x)                    # (batch,), exact or a lower bound
    x_new = model.sample(16)                    # (16, *event_shape)

The protocol in words:

* ``log_prob(x)`` returns one number per example, shape ``(batch,)``, in **nats**: the
  exact log-density (or log-probability, for discrete data) when ``log_prob_is_bound`` is
  false, a lower bound on it when true (the VAE's IWAE bound, AGAVE, ADE). Extra keyword
  arguments (``n_samples=`` of an importance-weighted bound) have defaults. Bad input
  raises ``TypeError``/``ValueError`` naming the argument.
* ``sample(n)`` returns ``n`` draws, shape ``(n, *event_shape)``, without gradient.
* ``log_prob_is_bound`` is a class attribute.

**Input scale.** Vectors are real tensors ``(batch, d)`` on the data's own scale. Images are
``(batch, C, H, W)`` floats in ``[0, 1]``, as :func:`companion.data.load` returns them: the one
scale of every image model (:data:`IMAGE_SCALE`). A model of discrete images takes them on
the lattice ``k / (n_levels - 1)`` and rejects integer levels and values between levels with
a ``ValueError``: the PixelCNN, AGAVE and the VAE with the discretized logistic turn them
into levels inside ``log_prob``/``forward``/their fit
(:func:`companion.likelihoods.unit_to_levels`), ADE with ``n_levels`` dequantises them. Each
returns its samples on the same lattice, so
``model.log_prob(model.sample(n))`` is always defined.

Names follow ``torch.distributions`` (``log_prob``, ``sample``) where they fit.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

__all__ = ["IMAGE_SCALE", "DensityModel", "Sampler", "is_density_model"]

#: The one input scale of image models: ``"unit"``, floats in ``[0, 1]`` with level ``k`` of
#: ``n_levels`` at ``k / (n_levels - 1)`` (the book's datasets as ``companion.data.load``
#: returns them). Models whose likelihood is over levels convert at their own edge.
IMAGE_SCALE = "unit"


@runtime_checkable
class Sampler(Protocol):
    """Anything that draws samples: ``sample(n) -> (n, *event_shape)`` (GANs, GMMNs)."""

    def sample(self, n: int) -> torch.Tensor:
        """``n`` draws of shape ``(n, *event_shape)``."""
        ...


@runtime_checkable
class DensityModel(Sampler, Protocol):
    """A model with a density: ``log_prob(x) -> (batch,)`` in nats, ``sample(n)``, and
    ``log_prob_is_bound`` (``True`` when ``log_prob`` is a lower bound, not exact)."""

    log_prob_is_bound: bool

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` (or a lower bound on it) per example, shape ``(batch,)``, in nats."""
        ...


def is_density_model(obj: object) -> bool:
    """Whether ``obj`` follows :class:`DensityModel` and says whether its ``log_prob`` is a bound.

    ``isinstance(obj, DensityModel)`` checks that the members exist; this also checks that
    ``log_prob_is_bound`` is a real ``bool`` (not a stray attribute of another type).
    """
    return isinstance(obj, DensityModel) and isinstance(getattr(obj, "log_prob_is_bound", None), bool)
