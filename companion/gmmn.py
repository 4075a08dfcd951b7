"""The generative moment matching network (GMMN, Li et al., 2015) and the MMD it minimises.

The latent-density paper compares its LDE with this implicit model in Fig. 5 and fits it to
autoencoder codes as the "GMMN + AE" row of Table 2: uniform noise through an MLP, trained
so that the maximum mean discrepancy between its samples and the data is small. This module
holds :func:`mmd2`, :class:`GMMN` and :func:`fit_gmmn`.

Chapter: ``book/latent_density.md`` (its method module :mod:`companion.lde` re-exports
everything here).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence

import torch
from torch import nn

from .checks import check_nonnegative_int, check_positive, check_positive_int, check_tensor
from .logspace import EXP_FLOOR
from .nets import MLP
from .train import Callback, History, minimize

__all__ = ["GMMN", "fit_gmmn", "mmd2"]


def mmd2(
    x: torch.Tensor,
    y: torch.Tensor,
    bandwidths: Sequence[float] = (0.1, 0.3, 1.0, 3.0),
    unbiased: bool = True,
) -> torch.Tensor:
    """The squared maximum mean discrepancy between samples ``x`` and ``y``.

    Uses a sum of Gaussian kernels ``exp(-|a - b|^2 / (2 h^2))`` over ``bandwidths``. The
    unbiased estimate (default) leaves out the ``k(a, a)`` terms, whose presence would reward
    a generator for shrinking its spread; the biased one (a V-statistic) is exactly zero when
    ``x`` and ``y`` are the same sample. Each kernel's exponent is floored at
    :data:`companion.logspace.EXP_FLOOR` (a change below 1e-25 in every kernel value), which
    keeps ``exp`` on its fast path on a CPU at narrow bandwidths.
    """
    check_tensor(x, "x", shape=(None, None), finite=False)
    check_tensor(y, "y", shape=(None, x.shape[1]), finite=False)  # the same d as x
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError("x and y need at least 2 rows each")
    widths = [check_positive(h, "bandwidths") for h in bandwidths]
    if not widths:
        raise ValueError("bandwidths must hold at least one positive number")

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b).pow(2)
        return sum(torch.exp((d2 * (-0.5 / (h * h))).clamp_min_(EXP_FLOOR)) for h in widths)

    # three blocks, not the kernel matrix of [x; y]: k(y, x) would repeat k(x, y), and k(y, y) of
    # data without gradient needs no backward pass
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    n, m = x.shape[0], y.shape[0]
    if unbiased:
        within = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1)) + (k_yy.sum() - k_yy.diagonal().sum()) / (
            m * (m - 1)
        )
    else:
        within = k_xx.mean() + k_yy.mean()
    return within - 2 * k_xy.mean()


class GMMN(nn.Module):
    """A generative moment matching network: uniform noise through an MLP, trained on the MMD.

    The paper uses it (Li et al., 2015) as the implicit alternative to the LDE. Outputs are
    made in standardised coordinates and mapped back with the buffers ``loc``/``scale``.
    """

    def __init__(self, dim: int, noise_dim: int = 8, hidden: int = 128, n_layers: int = 2) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        self.noise_dim = check_positive_int(noise_dim, "noise_dim")
        self.generator = MLP(self.noise_dim, self.dim, hidden=hidden, n_layers=n_layers, activation="relu")
        self.register_buffer("loc", torch.zeros(self.dim))
        self.register_buffer("scale", torch.ones(self.dim))

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        """Map noise ``(batch, noise_dim)`` to samples ``(batch, dim)``."""
        return self.loc + self.scale * self.generator(noise)

    def sample(self, n: int) -> torch.Tensor:
        """``n`` samples (noise uniform on ``[-1, 1]**noise_dim``)."""
        n = check_nonnegative_int(n, "n")
        noise = torch.rand(n, self.noise_dim, device=self.loc.device) * 2 - 1
        return self(noise)


def fit_gmmn(
    model: GMMN,
    data: torch.Tensor,
    *,
    n_steps: int,
    batch_size: int = 512,
    lr: float = 1e-3,
    optimizer: Optional[torch.optim.Optimizer] = None,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    bandwidths: Sequence[float] = (0.05, 0.1, 0.3, 1.0, 3.0),
    desc: str = "GMMN",
    scheduler: Optional[Callable[[torch.optim.Optimizer], Any]] = None,
) -> History:
    """Train a :class:`GMMN` to minimise the MMD to ``data`` (bandwidths in standardised units)
    with :func:`companion.train.minimize`; records ``mmd2``. ``scheduler`` is passed on to it
    (``None``: a constant rate; :func:`companion.train.cosine_schedule` anneals it)."""
    if not isinstance(model, GMMN):
        raise TypeError(f"model must be a GMMN; got {type(model).__name__}")
    device = next(model.parameters()).device
    data = check_tensor(data, "data", shape=(None, model.dim)).to(device)
    model.loc.copy_(data.mean(0))
    model.scale.copy_(data.std(0).clamp_min(1e-6))

    def mmd(real: torch.Tensor) -> Dict[str, torch.Tensor]:
        noise = torch.rand(real.shape[0], model.noise_dim, device=device) * 2 - 1
        return {"mmd2": mmd2(model.generator(noise), real, bandwidths)}

    history = minimize(model, (data - model.loc) / model.scale, mmd, n_steps=n_steps, batch_size=batch_size, lr=lr,
                       optimizer=optimizer, generator=generator, callback=callback, progress=progress,
                       scheduler=scheduler, log_every=max(1, n_steps // 200), desc=desc)
    model.eval()
    return history
