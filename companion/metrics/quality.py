"""The Fréchet distance in a small classifier's features, and the quality bar of a baseline.

The book's offline stand-in for FID, and the bar a baseline meets before a chapter compares
against it (every class covered, a Fréchet distance within twice a reference model's).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import torch

from ..checks import check_positive, check_probability, check_tensor
from .frechet import frechet_distance

__all__ = ["classifier_frechet", "classifier_quality_bar"]


def _check_classifier(classifier: object) -> torch.nn.Module:
    if not isinstance(classifier, torch.nn.Module) or not callable(getattr(classifier, "features", None)):
        raise TypeError(
            "classifier must be a torch.nn.Module with a features(x) method and class logits from forward(x), "
            "e.g. companion.experiments.feature_classifier.train_feature_net(...)[0]; "
            f"got {type(classifier).__name__}"
        )
    return classifier


def _check_image_pair(
    samples: object, reference: object, value_range: Optional[Tuple[float, float]]
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``samples`` and ``reference`` as batches of at least 2 images of one shape, clipped to ``value_range``."""
    images = {}
    for name, value in (("samples", samples), ("reference", reference)):
        value = check_tensor(value, name, shape=(None, None, None, None)).detach()
        if value.shape[0] < 2:
            raise ValueError(f"{name} must hold at least 2 images (N, C, H, W); got shape {tuple(value.shape)}")
        images[name] = value if value_range is None else value.clamp(*value_range)
    if images["samples"].shape[1:] != images["reference"].shape[1:]:
        raise ValueError(f"samples and reference must have the same image shape; got "
                         f"{tuple(images['samples'].shape[1:])} and {tuple(images['reference'].shape[1:])}")
    return images["samples"], images["reference"]


@torch.no_grad()
def _classifier_outputs(classifier: torch.nn.Module, images: torch.Tensor,
                        chunk: int = 1000) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """The classifier's features, predicted labels and number of classes for ``images``, computed in
    evaluation mode (dropout and batch norm as at test time; the classifier's mode is restored after)."""
    device = next(iter(classifier.parameters()), images).device
    was_training = classifier.training
    classifier.eval()
    feats, logits = [], []
    try:
        for part in images.split(chunk):
            part = part.to(device)
            feats.append(classifier.features(part).cpu())
            logits.append(classifier(part).cpu())
    finally:
        classifier.train(was_training)
    logits = torch.cat(logits)
    return torch.cat(feats), logits.argmax(1), logits.shape[1]


def classifier_frechet(
    samples: torch.Tensor,
    classifier: torch.nn.Module,
    reference: torch.Tensor,
    value_range: Optional[Tuple[float, float]] = (0.0, 1.0),
) -> float:
    """:func:`frechet_distance` between ``samples`` and ``reference`` images in ``classifier.features``.

    The book's offline stand-in for FID: the features of a small classifier trained on the
    same data (for ``digits``,
    :func:`companion.experiments.feature_classifier.train_feature_net`) in place of Inception's.

    Args:
        samples: generated images (N, C, H, W), at least 2.
        classifier: a module with ``features(x)`` (N, d) and class logits ``classifier(x)``.
        reference: real images of the same shape (held-out data), at least 2.
        value_range: samples and reference are clipped to it first (the data's range);
            ``None`` leaves them as they are.
    """
    classifier = _check_classifier(classifier)
    samples, reference = _check_image_pair(samples, reference, value_range)
    return frechet_distance(_classifier_outputs(classifier, samples)[0], _classifier_outputs(classifier, reference)[0])


def classifier_quality_bar(
    samples: torch.Tensor,
    classifier: torch.nn.Module,
    reference: torch.Tensor,
    reference_frechet: float,
    min_class_share: float = 0.03,
    max_frechet_ratio: float = 2.0,
    value_range: Optional[Tuple[float, float]] = (0.0, 1.0),
) -> Dict[str, object]:
    """The quality bar a baseline must meet before a chapter compares against it.

    Two conditions, read in a classifier's eyes: the samples **cover every class** (each of
    the classifier's classes gets at least ``min_class_share`` of the samples' predicted
    labels), and their :func:`classifier_frechet` to the ``reference`` images is at most
    ``max_frechet_ratio`` times ``reference_frechet`` (the same distance for a reference model,
    in the book the VAE). The book's bar for the ``digits`` GANs: 1,000 samples, each digit at
    least 3%, a Fréchet distance within twice the VAE's.

    Args:
        samples: generated images (N, C, H, W).
        classifier: a module with ``features(x)`` and class logits ``classifier(x)``.
        reference: held-out real images the Fréchet distance is measured against.
        reference_frechet: the reference model's :func:`classifier_frechet` (positive).
        min_class_share: the smallest share each class must get, in ``[0, 1]``.
        max_frechet_ratio: the largest Fréchet distance allowed, as a multiple of
            ``reference_frechet``.
        value_range: see :func:`classifier_frechet`.

    Returns:
        ``{"class_shares": [...], "min_class_share", "frechet", "reference_frechet",
        "frechet_ratio", "covers_classes", "within_frechet", "meets_bar"}`` (plain Python
        values, JSON-friendly); ``meets_bar`` is ``covers_classes and within_frechet``.
    """
    classifier = _check_classifier(classifier)
    reference_frechet = check_positive(reference_frechet, "reference_frechet")
    max_frechet_ratio = check_positive(max_frechet_ratio, "max_frechet_ratio")
    min_class_share = check_probability(min_class_share, "min_class_share")
    samples, reference = _check_image_pair(samples, reference, value_range)
    feats, labels, n_classes = _classifier_outputs(classifier, samples)
    shares = np.bincount(labels.numpy(), minlength=n_classes) / len(labels)
    fd = frechet_distance(feats, _classifier_outputs(classifier, reference)[0])
    covers, within = bool(shares.min() >= min_class_share), bool(fd <= max_frechet_ratio * reference_frechet)
    return {"class_shares": shares.tolist(), "min_class_share": float(shares.min()), "frechet": float(fd),
            "reference_frechet": reference_frechet, "frechet_ratio": float(fd / reference_frechet),
            "covers_classes": covers, "within_frechet": within, "meets_bar": covers and within}
