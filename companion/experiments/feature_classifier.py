"""The small image classifier whose features the book's Fréchet distances are measured in.

Every chapter that scores images by a Fréchet distance (Heusel et al. 2017) on ``digits`` uses the
penultimate layer of :class:`FeatureNet`, a small MLP classifier trained on the training digits,
in place of Inception's features, which need a network and 32x32 colour images; at ``paper``
scale on CIFAR-10 it is :class:`ConvFeatureNet`. :func:`train_feature_net` trains one and caches
it per process, so that a chapter's experiments share one classifier.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

import companion
from companion import data as datasets
from companion.nets import MLP, ConvEncoder
from companion.shared_fits import fit_once
from companion.train import adam, minibatches, train_loop

DIGIT_LEVELS = 17  # the digits hold counts 0..16
#: Image shape and grey levels of the data sets the classifier (and the ADE ablation) knows.
DATASETS = {"digits": ((1, 8, 8), DIGIT_LEVELS), "cifar10": ((3, 32, 32), 256)}


class FeatureNet(nn.Module):
    """A small digit classifier whose penultimate layer gives the features of the Fréchet distance."""

    def __init__(self, n_features: int = 64, hidden: int = 128, n_classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), MLP(64, n_features, hidden, 1, out_activation="relu"))
        self.head = nn.Linear(n_features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.head(self.body(x))


class ConvFeatureNet(nn.Module):
    """A small convolutional classifier (CIFAR-10 at ``paper`` scale) for the Fréchet distance."""

    def __init__(self, shape: Tuple[int, int, int] = (3, 32, 32), n_features: int = 128,
                 channels: Tuple[int, ...] = (64, 128, 256), n_classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvEncoder(shape, n_features, channels, "relu"), nn.ReLU())
        self.head = nn.Linear(n_features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.head(self.body(x))


def fit_classifier(net: nn.Module, x: torch.Tensor, labels: torch.Tensor, n_steps: int, desc: str,
                   disable_progress: Optional[bool] = None) -> nn.Module:
    """Train ``net`` to predict ``labels`` from images ``x`` (cross-entropy, Adam at 2e-3, batches of
    128, the global random state); returns it in eval mode."""
    opt = adam(net.parameters(), lr=2e-3)
    batches = minibatches(torch.arange(len(x), device=x.device), 128)

    def step(i: int):
        idx = next(batches)
        # a little pixel noise, so the features do not hinge on exact grey levels
        loss = nn.functional.cross_entropy(net(x[idx] + 0.05 * torch.randn_like(x[idx])), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    train_loop(step, n_steps, desc=desc, log_every=50, disable_progress=disable_progress,
               state={"net": net, "opt": opt, "batches": batches})
    return net.eval()


def train_feature_net(n_steps: int = 400, seed: int = 0, device: Optional[torch.device] = None,
                      dataset: str = "digits") -> Tuple[nn.Module, float]:
    """Train the feature classifier on the training images of ``dataset``; returns it and its validation accuracy.

    :class:`FeatureNet` (an MLP) for ``digits``, :class:`ConvFeatureNet` for ``cifar10``.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {tuple(DATASETS)}; got {dataset!r}")
    device = companion.device() if device is None else device

    def fit() -> Tuple[nn.Module, float]:
        companion.seed_everything(seed)
        x, y = datasets.load(dataset, "train").to(device), datasets.load_labels(dataset, "train").to(device)
        net = (FeatureNet() if dataset == "digits" else ConvFeatureNet(DATASETS[dataset][0])).to(device)
        fit_classifier(net, x, y, n_steps, desc="feature classifier")
        xv, yv = datasets.load(dataset, "valid").to(device), datasets.load_labels(dataset, "valid").to(device)
        with torch.no_grad():
            return net, float((net(xv).argmax(1) == yv).float().mean())

    # the chapters' experiments share one classifier: trained once per process (companion.shared_fits.fit_once)
    (net, accuracy), _ = fit_once(("feature classifier", n_steps, seed, str(device), dataset), fit)
    return net, accuracy
