"""The incremental autoencoder (IAE) of the latent-density chapter (Yoo, Lee and Kwak).

A deterministic autoencoder whose latent vector is used from the front: only its first
``active_dims`` coordinates are passed to the decoder, and during training that part grows
until every dimension is active, so that the first coordinates carry the coarse content of
the data. With ``incremental=False`` it is the paper's plain AE. This module holds
:class:`IncrementalAutoencoder`, :func:`make_autoencoder` (the networks of
:mod:`companion.nets`) and :func:`fit_incremental_autoencoder` (the paper's Adam settings).

Chapter: ``book/latent_density.md`` (its method module :mod:`companion.lde` re-exports
everything here).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from .checks import check_positive_int, check_tensor
from .nets import MLP, ConvDecoder, ConvEncoder, check_shape
from .train import Callback, History, adam, minibatches, progress_disabled, run_callback, train_loop

__all__ = ["PAPER_AE_LR", "PAPER_BETAS", "IncrementalAutoencoder", "fit_incremental_autoencoder", "make_autoencoder"]

#: The paper's optimizer settings (Appendix A): Adam with these betas (for the LDE too) and,
#: for the autoencoders, this learning rate.
PAPER_BETAS = (0.5, 0.999)
PAPER_AE_LR = 1e-3


class IncrementalAutoencoder(nn.Module):
    """A deterministic autoencoder whose latent vector is used from the front, a growing part at a time.

    Only the first ``active_dims`` coordinates of ``z = f(x)`` are used; the others are set
    to zero with ``torch.where`` (so they get exactly zero gradient and even a non-finite
    encoder output there cannot leak). With ``incremental=False`` it is the paper's plain AE
    (all dimensions active from the start).

    Args:
        encoder: maps a batch of data to ``(batch, latent_dim)``.
        decoder: maps ``(batch, latent_dim)`` back to data (its output is used as is).
        latent_dim: the latent dimension ``D``.
        start_dims: the active dimensions at the start of incremental training.
        incremental: grow the active part during :func:`fit_incremental_autoencoder` (the IAE) or not (the AE).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        start_dims: int = 1,
        incremental: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(encoder, nn.Module) or not isinstance(decoder, nn.Module):
            raise TypeError("encoder and decoder must be nn.Modules")
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.start_dims = check_positive_int(start_dims, "start_dims")
        if self.start_dims > self.latent_dim:
            raise ValueError(f"start_dims must be <= latent_dim={self.latent_dim}; got {start_dims}")
        self.incremental = bool(incremental)
        self.register_buffer("active", torch.ones(self.latent_dim, dtype=torch.bool))

    @property
    def active_dims(self) -> int:
        """How many leading latent dimensions are in use."""
        return int(self.active.sum())

    def set_active_dims(self, k: int) -> None:
        """Use the first ``k`` latent dimensions (``1 <= k <= latent_dim``)."""
        k = check_positive_int(k, "k")
        if k > self.latent_dim:
            raise ValueError(f"k must be <= latent_dim={self.latent_dim}; got {k}")
        self.active.copy_(torch.arange(self.latent_dim, device=self.active.device) < k)

    def active_dims_at(self, step: int, n_steps: int, growth_fraction: float = 0.5) -> int:
        """The schedule (the book's; the paper gives none): the first ``growth_fraction`` of training
        is split into ``latent_dim - start_dims + 1`` equal stages with ``k = start_dims, ...,
        latent_dim``; the last stage, with every dimension active, begins at a fraction
        ``(latent_dim - start_dims) / (latent_dim - start_dims + 1)`` of that part and lasts to the
        end of training (always ``latent_dim`` for the plain AE)."""
        if not self.incremental:
            return self.latent_dim
        if not 0 < growth_fraction <= 1:
            raise ValueError(f"growth_fraction must lie in (0, 1]; got {growth_fraction!r}")
        n_stages = self.latent_dim - self.start_dims + 1
        stage = int(n_stages * step / max(1.0, growth_fraction * n_steps))
        return min(self.latent_dim, self.start_dims + stage)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``(batch, latent_dim)`` with the inactive dimensions exactly zero."""
        z = self.encoder(x)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"the encoder must return (batch, {self.latent_dim}); got {tuple(z.shape)}")
        return torch.where(self.active, z, torch.zeros_like(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Data from codes ``(batch, latent_dim)``."""
        check_tensor(z, "z", shape=(None, self.latent_dim))
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``g(f(x))``."""
        return self.decoder(self.encode(x))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared reconstruction error (the paper's ``L_MSE``; no prior term)."""
        return F.mse_loss(self(x), x)


def make_autoencoder(
    shape: Sequence[int],
    latent_dim: int,
    incremental: bool = True,
    architecture: str = "mlp",
    hidden: int = 256,
    start_dims: int = 1,
) -> IncrementalAutoencoder:
    """An (incremental) autoencoder for data in ``[0, 1]`` built from :mod:`companion.nets`.

    Args:
        shape: the data shape without the batch dimension (``(d,)`` or ``(C, H, W)``).
        latent_dim: the latent dimension.
        incremental: the IAE (``True``) or the plain AE.
        architecture: ``"mlp"`` (any shape) or ``"conv"`` (images).
        hidden: width of the MLP's two hidden layers.
        start_dims: active dimensions at the start (IAE).
    """
    shape = check_shape(shape, "shape")
    size = math.prod(shape)
    if architecture == "mlp":
        encoder = nn.Sequential(nn.Flatten(), MLP(size, latent_dim, hidden=hidden, activation="leaky_relu"))
        decoder = nn.Sequential(
            MLP(latent_dim, size, hidden=hidden, activation="leaky_relu", out_activation="sigmoid"),
            nn.Unflatten(1, shape),
        )
    elif architecture == "conv":
        shape = check_shape(shape, "shape", image=True)
        encoder = ConvEncoder(shape, latent_dim, activation="leaky_relu")
        decoder = nn.Sequential(ConvDecoder(latent_dim, shape, activation="leaky_relu"), nn.Sigmoid())
    else:
        raise ValueError(f"architecture must be 'mlp' or 'conv'; got {architecture!r}")
    return IncrementalAutoencoder(encoder, decoder, latent_dim, start_dims=start_dims, incremental=incremental)


def fit_incremental_autoencoder(
    model: IncrementalAutoencoder,
    data: torch.Tensor,
    *,
    n_steps: int,
    batch_size: int = 128,
    lr: float = PAPER_AE_LR,
    optimizer: Optional[torch.optim.Optimizer] = None,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    betas: Tuple[float, float] = PAPER_BETAS,
    growth_fraction: float = 0.5,
    desc: str = "autoencoder",
) -> History:
    """Train an (incremental) autoencoder on the MSE with the paper's Adam settings (lr 1e-3,
    betas (0.5, 0.999)). (The plain autoencoder of the IML chapter has its own
    :func:`companion.iml.fit_autoencoder`: another loss, no growing code.)

    For the IAE the active part grows by :meth:`IncrementalAutoencoder.active_dims_at`, a
    function of the step, hence a loop of its own; at the end every dimension is active.

    Returns:
        The history with ``mse`` and ``active_dims``.
    """
    if not isinstance(model, IncrementalAutoencoder):
        raise TypeError(f"model must be an IncrementalAutoencoder; got {type(model).__name__}")
    check_tensor(data, "data")
    device = next(model.parameters()).device
    if optimizer is None:
        optimizer = adam(model.parameters(), lr=lr, betas=tuple(betas))
    batches = minibatches(data.to(device), batch_size, generator=generator)

    def step(i: int):
        k = model.active_dims_at(i, n_steps, growth_fraction)
        model.set_active_dims(k)
        loss = model.loss(next(batches))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"mse": loss.detach(), "active_dims": float(k), **run_callback(callback, i)}

    model.train()
    history = train_loop(step, n_steps, desc=desc, log_every=max(1, n_steps // 200),
                         disable_progress=progress_disabled(progress),
                         state={"model": model, "optimizer": optimizer, "batches": batches})
    model.set_active_dims(model.latent_dim)
    model.eval()
    return history
