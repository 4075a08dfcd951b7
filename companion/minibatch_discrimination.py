"""Minibatch discrimination (Salimans et al., 2016, Sec. 3.2): the baseline of Fig. 4.6.

A pointwise discriminator that sees hand-made batch statistics: an L1 kernel between the
projected features of every pair of samples of a minibatch, summed over the minibatch and
appended to each sample's features. The chapter compares it with the batch GANs, whose
set statistics are learned (:mod:`companion.equivariant`).

Chapter: ``book/symmetric_discriminators.md`` (its method module :mod:`companion.symmetric`
re-exports everything here).
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import check_positive, check_positive_int, check_tensor
from .nets import MLP
from .replicas import ensemble_container

__all__ = ["L1KernelSum", "MinibatchDiscrimination", "MinibatchDiscriminator"]


class L1KernelSum(nn.Module):
    """``m (..., N, kernels * kernel_dim) -> o (..., N, kernels)``, ``o_{i,b} = sum_j exp(-||m_{i,b} - m_{j,b}||_1)``.

    The parameter-free half of :class:`MinibatchDiscrimination` (the sum runs over dimension
    ``-2``, ``j = i`` included).
    """

    def __init__(self, kernels: int, kernel_dim: int) -> None:
        super().__init__()
        self.kernels = check_positive_int(kernels, "kernels")
        self.kernel_dim = check_positive_int(kernel_dim, "kernel_dim")

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        """``o_{i,b}`` for every sample ``i`` and kernel ``b`` (see the class), ``(..., N, kernels)``."""
        check_tensor(m, "m", finite=False, min_dim=2)
        if m.shape[-1] != self.kernels * self.kernel_dim:
            raise ValueError(f"m must have shape (..., N, {self.kernels * self.kernel_dim}); got {tuple(m.shape)}")
        m = m.unflatten(-1, (self.kernels, self.kernel_dim)).transpose(-2, -3)  # (..., B, N, C)
        l1 = torch.cdist(m, m, p=1.0)  # (..., B, N, N): ||M_i,b - M_j,b||_1, twice as fast as broadcasting
        return torch.exp(-l1).sum(-1).transpose(-1, -2)

    def extra_repr(self) -> str:  # noqa: D102
        return f"kernels={self.kernels}, kernel_dim={self.kernel_dim}"


@ensemble_container  # forward calls its children and acts on the last two axes, so replicas can stack it
class MinibatchDiscrimination(nn.Module):
    """The minibatch-discrimination layer of Salimans et al. (2016): batch statistics added to each sample's features.

    For features ``f_i`` (width ``A``) of the ``N`` samples of a minibatch, a learned tensor
    ``T`` of shape ``(A, kernels, kernel_dim)`` gives ``M_i = f_i T``, the closeness of two
    samples under kernel ``b`` is ``c_b(i, j) = exp(-||M_{i,b} - M_{j,b}||_1)`` and the layer
    returns ``[f_i, o_i]`` with ``o_{i,b} = sum_j c_b(i, j)`` (the sum runs over the whole
    minibatch, ``j = i`` included, as in the paper; that term adds the constant 1). A sample
    whose neighbours in the minibatch are all close gets large ``o_i``: a generator that
    collapses onto few points is easy to spot.

    Unlike a batch GAN's discriminator, the output is still one judgement per sample, and
    the statistic is fixed by hand (an L1 kernel), not learned. Real and generated samples
    are passed in separate minibatches, as in the paper.

    Args:
        in_features: ``A``, the width of the features.
        kernels: the number of kernels ``B``.
        kernel_dim: the width ``C`` of each kernel's projection.
        init_std: the standard deviation of ``T``'s normal initialisation.

    Shapes:
        ``(..., N, A) -> (..., N, A + kernels)``: the minibatch lies along dimension ``-2``,
        leading dimensions index independent minibatches.

    ``T`` is stored as the weight of a bias-free linear map (``projection.weight`` is ``T``
    flattened and transposed, ``(kernels * kernel_dim, A)``), so that
    :class:`~companion.replicas.Replicas` can stack it as a batched product.
    """

    def __init__(self, in_features: int, kernels: int = 16, kernel_dim: int = 4, init_std: float = 0.05) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.kernels = check_positive_int(kernels, "kernels")
        self.kernel_dim = check_positive_int(kernel_dim, "kernel_dim")
        check_positive(init_std, "init_std")
        self.projection = nn.Linear(self.in_features, self.kernels * self.kernel_dim, bias=False)
        nn.init.normal_(self.projection.weight, std=float(init_std))
        self.kernel = L1KernelSum(self.kernels, self.kernel_dim)

    @property
    def out_features(self) -> int:
        """The width of the output, ``in_features + kernels``."""
        return self.in_features + self.kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - documented on the class
        check_tensor(x, "x", finite=False, min_dim=2)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., N, {self.in_features}); got {tuple(x.shape)}")
        return torch.cat([x, self.kernel(self.projection(x))], dim=-1)

    def extra_repr(self) -> str:  # noqa: D102
        return f"{self.in_features}, kernels={self.kernels}, kernel_dim={self.kernel_dim}"


@ensemble_container
class MinibatchDiscriminator(nn.Module):
    """A pointwise discriminator with a minibatch-discrimination layer before its read-out.

    ``x (..., N, in_features) -> logits (..., N)``: an MLP of ``n_layers`` hidden layers of
    ``hidden`` units (leaky ReLU), then :class:`MinibatchDiscrimination` over the minibatch
    (dimension ``-2``), then a linear map to one logit per sample. It is trained with the
    ordinary GAN losses (:func:`companion.gan.discriminator_loss`), one call on the real
    minibatch and one on the generated one.
    """

    def __init__(self, in_features: int, hidden: int = 128, n_layers: int = 1, kernels: int = 16,
                 kernel_dim: int = 4) -> None:
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(hidden, "hidden")
        check_positive_int(n_layers, "n_layers")
        self.trunk = MLP(in_features, hidden, hidden, n_layers=n_layers - 1, activation="leaky_relu",
                         out_activation="leaky_relu")
        self.minibatch = MinibatchDiscrimination(hidden, kernels, kernel_dim)
        self.readout = nn.Linear(self.minibatch.out_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - documented on the class
        check_tensor(x, "x", finite=False, min_dim=2)
        return self.readout(self.minibatch(self.trunk(x))).squeeze(-1)
