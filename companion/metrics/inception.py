"""The Inception score and FID in Inception-v3 features, through an optional backend.

``torchmetrics[image]`` or ``torch-fidelity``, imported lazily; either downloads its weights
on first use (``paper`` scale, with a network).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import torch

from ..checks import ArrayLike, check_choice, check_positive_int, check_real_array, check_tensor

__all__ = ["INCEPTION_BACKENDS", "inception_metrics"]


#: The optional backends of :func:`inception_metrics`, in the order ``backend="auto"`` tries them.
INCEPTION_BACKENDS = ("torchmetrics", "torch_fidelity")

_INCEPTION_HELP = (
    "Install one of them with `pip install torchmetrics[image]` (torchmetrics with torch-fidelity) "
    "or `pip install torch-fidelity`. The Inception-v3 weights are downloaded on first use, which "
    "needs a network (Colab works). Offline, the book's stand-in is "
    "companion.metrics.frechet_distance in the features of a small classifier trained on the same data."
)


def _check_images(images: ArrayLike, name: str, min_samples: int) -> torch.Tensor:
    """``images`` as a float32 CPU tensor (N, 3, H, W) with values in [0, 1]."""
    images = check_real_array(images, name)
    if images.dim() != 4 or images.shape[1] != 3:
        hint = (
            " (repeat grey images to 3 channels: x.repeat(1, 3, 1, 1))"
            if images.dim() == 4 and images.shape[1] == 1
            else ""
        )
        raise ValueError(f"{name} must have shape (N, 3, H, W) (RGB images){hint}; got {tuple(images.shape)}")
    if images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"{name} has an empty image size; got shape {tuple(images.shape)}")
    if images.shape[0] < min_samples:
        raise ValueError(
            f"{name} needs at least {min_samples} images; got {images.shape[0]} (FID needs a covariance "
            "and the Inception score one split per group; papers use 10,000-50,000)"
        )
    images = check_tensor(images.to("cpu", torch.float32), name)
    if float(images.min()) < 0.0 or float(images.max()) > 1.0:
        raise ValueError(
            f"{name} must lie in [0, 1]; got values in [{float(images.min()):.3g}, {float(images.max()):.3g}]"
        )
    return images


def _torchmetrics_inception(fake: torch.Tensor, real: torch.Tensor, batch_size: int, device: Union[str, torch.device],
                            splits: int) -> Tuple[float, float, float]:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore

    try:  # the constructors load (and on first use download) the Inception-v3 weights
        fid = FrechetInceptionDistance(feature=2048, normalize=True).to(device)
        isc = InceptionScore(normalize=True, splits=splits).to(device)
    except (ImportError, ModuleNotFoundError):
        raise
    except Exception as error:  # URLError, HTTPError, OSError, ... from the weight download
        raise _WeightsUnavailable(error) from error
    for images, is_real in ((real, True), (fake, False)):
        for chunk in images.split(batch_size):
            fid.update(chunk.to(device), real=is_real)
    for chunk in fake.split(batch_size):
        isc.update(chunk.to(device))
    is_mean, is_std = isc.compute()
    return float(is_mean), float(is_std), float(fid.compute())


def _torch_fidelity_inception(fake: torch.Tensor, real: torch.Tensor, batch_size: int,
                              device: Union[str, torch.device], splits: int) -> Tuple[float, float, float]:
    import torch_fidelity

    class _Uint8Images(torch.utils.data.Dataset):  # torch-fidelity reads uint8 (3, H, W) images
        def __init__(self, images: torch.Tensor) -> None:
            self.images = (images * 255).round().to(torch.uint8)

        def __len__(self) -> int:
            return self.images.shape[0]

        def __getitem__(self, i: int) -> torch.Tensor:
            return self.images[i]

    try:
        out = torch_fidelity.calculate_metrics(
            input1=_Uint8Images(fake), input2=_Uint8Images(real), isc=True, fid=True, isc_splits=splits,
            batch_size=batch_size, cuda=device.type == "cuda", verbose=False,
        )
    except OSError as error:  # the weight download happens inside calculate_metrics: URLError, HTTPError, ...
        raise _WeightsUnavailable(error) from error
    return (float(out["inception_score_mean"]), float(out["inception_score_std"]),
            float(out["frechet_inception_distance"]))


class _WeightsUnavailable(Exception):
    """The backend is installed but its Inception weights could not be loaded."""


def inception_metrics(
    fake_images: ArrayLike,
    real_images: ArrayLike,
    backend: str = "auto",
    batch_size: int = 100,
    device: Optional[Union[str, torch.device]] = None,
    splits: int = 10,
) -> dict:
    """The Inception score of ``fake_images`` and their FID to ``real_images``, in Inception-v3 features.

    The standard protocols: the Inception score (Salimans et al., 2016) ``exp E_x KL(p(y|x) || p(y))``
    with the ImageNet classes of Inception-v3, mean and standard deviation over ``splits``
    groups of the samples; FID (Heusel et al., 2017), :func:`frechet_distance` between
    Gaussians fitted to the 2048 pool features of Inception-v3 on the two sets. Images are
    resized to 299 x 299 by the backend. Papers use 50,000 samples for IS and 10,000-50,000
    for FID; fewer samples bias FID upwards, so compare numbers at equal sample sizes.

    The Inception network is **optional** and not a requirement of the book: the function
    imports a backend lazily, ``torchmetrics`` (``pip install torchmetrics[image]``, which
    brings ``torch-fidelity``) or ``torch_fidelity`` (``pip install torch-fidelity``). Either
    downloads the Inception-v3 weights on first use, which needs a network (Colab works).
    Offline, the book uses :func:`frechet_distance` in the features of a small classifier
    trained on the same data as a stand-in.

    Args:
        fake_images: model samples, (N, 3, H, W) with values in [0, 1]; a tensor or array.
        real_images: data, (M, 3, H, W) in [0, 1] (for CIFAR-10, the training set).
        backend: ``"torchmetrics"``, ``"torch_fidelity"`` or ``"auto"`` (the first one that imports).
        batch_size: images per forward pass of the Inception network.
        device: where the Inception network runs (default: CUDA when available, else the CPU).
        splits: groups of the Inception score (10 in the papers); ``N >= splits`` is required.

    Returns:
        ``{"inception_score": ..., "inception_score_std": ..., "fid": ..., "backend": name}``.

    Raises:
        TypeError, ValueError: for inputs that are not (N, 3, H, W) finite images in [0, 1],
            too few images, or bad options.
        RuntimeError: when no backend is installed or its Inception weights cannot be
            downloaded; the message says what to install and what the offline stand-in is.
    """
    check_choice(backend, "backend", INCEPTION_BACKENDS + ("auto",))
    splits = check_positive_int(splits, "splits")
    batch_size = check_positive_int(batch_size, "batch_size")
    fake = _check_images(fake_images, "fake_images", max(2, splits))
    real = _check_images(real_images, "real_images", 2)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    names = INCEPTION_BACKENDS if backend == "auto" else (backend,)
    return _first_backend(names, fake, real, batch_size, torch.device(device), splits)


def _first_backend(
    names: Sequence[str], fake: torch.Tensor, real: torch.Tensor, batch_size: int, device: torch.device, splits: int
) -> dict:
    """The metrics from the first of the backends ``names`` that imports; a ``RuntimeError`` if none does."""
    runners = {"torchmetrics": _torchmetrics_inception, "torch_fidelity": _torch_fidelity_inception}
    missing = []
    for name in names:
        try:
            is_mean, is_std, fid = runners[name](fake, real, batch_size, device, splits)
        except (ImportError, ModuleNotFoundError) as error:
            missing.append(f"{name} ({error})")
            continue
        except _WeightsUnavailable as error:
            raise RuntimeError(
                f"inception_metrics: the {name} backend is installed but could not load the Inception-v3 "
                f"weights ({type(error.__cause__).__name__}: {error.__cause__}). They are downloaded on first "
                f"use, which needs a network. {_INCEPTION_HELP}"
            ) from error.__cause__
        return {"inception_score": is_mean, "inception_score_std": is_std, "fid": fid, "backend": name}
    raise RuntimeError(
        "inception_metrics: no Inception backend is available (tried " + "; ".join(missing) + "). " + _INCEPTION_HELP
    )
