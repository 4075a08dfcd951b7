"""Permutation-equivariant layers and the symmetric (set) discriminator built from them.

The discriminator of a batch GAN (Lucas et al., 2018; thesis chapter 4) looks at a whole
*set* of samples and predicts the fraction of real ones. This module holds its network:

* :class:`EquivariantLinear` and :class:`EquivariantConv2d` — the permutation-equivariant
  layer ``phi(x)_b = x_b Lambda + rho(x) Gamma + c`` of eq. (4.12), where ``rho`` is the
  mean over the set, with the ``|B|/(|B|+1)`` and ``1/(|B|+1)`` re-weighting of Sec. 4.4.3
  (the activation is applied by the network that stacks the layers);
* :class:`SymmetricDiscriminator` — stacked equivariant layers whose per-element outputs
  ``o_b`` are reduced by the BGAN rule (average the logits, then the loss, eq. 4.13) or the
  M-BGAN rule (the loss of every element, then the average, eq. 4.14);
* :func:`bernoulli_kl` — the loss of eq. (4.3) between the true and the predicted ratio;
* :func:`check_layer_merge` — the auto-check of the chapter's exercise on stacked layers.

Shapes. A *set* (the thesis' batch) lies along one axis: dimension ``-2`` for vectors
``(..., B, features)`` and dimension ``-4`` for images ``(..., B, C, H, W)``; leading
dimensions index independent sets, which lets one forward pass treat many small sets.

Chapter: ``book/symmetric_discriminators.md`` (its method module :mod:`companion.symmetric`
re-exports everything here).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.autograd.function import FunctionCtx
from torch.nn import functional as F

from .checks import check_nonnegative_int, check_positive_int, check_tensor

__all__ = [
    "ACTIVATIONS",
    "EquivariantConv2d",
    "EquivariantLinear",
    "Maxout",
    "REDUCTIONS",
    "SymmetricDiscriminator",
    "bernoulli_kl",
    "check_layer_merge",
]

REDUCTIONS = ("bgan", "mbgan")


class EquivariantLinear(nn.Module):
    """The permutation-equivariant linear layer of eq. (4.12), for sets of vectors.

    For a set ``x = (x_1, ..., x_B)`` of row vectors (shape ``(..., B, in_features)``)::

        y_b = c + w_own * x_b Lambda + w_mix * rho(x) Gamma,    rho(x) = mean_b x_b,

    with ``w_own = B / (B + 1)`` and ``w_mix = 1 / (B + 1)`` (Sec. 4.4.3: at initialisation
    the set mean does not outweigh the element's own features), or ``w_own = w_mix = 1``
    with ``reweight=False``. Permuting the set permutes the outputs the same way; the
    set mean is the only interaction between elements.

    Args:
        in_features: size of each input vector.
        out_features: size of each output vector.
        bias: learn the bias ``c``.
        reweight: apply the ``B/(B+1)``, ``1/(B+1)`` weights.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, reweight: bool = True) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.reweight = bool(reweight)
        self.own = nn.Linear(in_features, out_features, bias=bias)  # Lambda (and c)
        self.mixing = nn.Linear(in_features, out_features, bias=False)  # Gamma

    def weights(self, set_size: int) -> Tuple[float, float]:
        """The factors ``(w_own, w_mix)`` applied to ``Lambda`` and ``Gamma`` for a set of this size."""
        if self.reweight:
            return set_size / (set_size + 1.0), 1.0 / (set_size + 1.0)
        return 1.0, 1.0

    def effective_weights(self, set_size: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(Lambda, Gamma, c)`` in the row-vector convention ``y_b = x_b Lambda + rho(x) Gamma + c``,
        with the re-weighting for a set of ``set_size`` elements folded in."""
        w_own, w_mix = self.weights(check_positive_int(set_size, "set_size"))
        bias = self.own.bias if self.own.bias is not None else self.own.weight.new_zeros(self.out_features)
        return w_own * self.own.weight.t(), w_mix * self.mixing.weight.t(), bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (..., B, in_features) -> (..., B, out_features)``: eq. (4.12) over the set axis ``-2``."""
        check_tensor(x, "x", finite=False, min_dim=2)
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"x must have shape (..., B, {self.in_features}); got {tuple(x.shape)}"
            )
        set_size = x.shape[-2]
        if set_size == 0:
            raise ValueError("x holds an empty set (B = 0)")
        w_own, w_mix = self.weights(set_size)
        # Scaling the (small) weight matrices is cheaper than scaling the outputs.
        own = F.linear(x, self.own.weight * w_own, self.own.bias)
        mixed = F.linear(x.mean(dim=-2, keepdim=True), self.mixing.weight * w_mix)
        return own + mixed

    def extra_repr(self) -> str:  # noqa: D102
        return f"{self.in_features}, {self.out_features}, reweight={self.reweight}"


class EquivariantConv2d(nn.Module):
    """The permutation-equivariant layer of eq. (4.12) with convolutions (Sec. 4.4.3).

    For a set of images ``x`` of shape ``(B, C, H, W)`` (or ``(S, B, C, H, W)`` for ``S``
    independent sets)::

        y_b = w_own * conv(x_b, Lambda) + w_mix * conv(rho(x), Gamma) + c,

    where ``rho(x)`` is the mean image of the set. The second convolution runs on one
    image per set, so the layer costs little more than an ordinary convolution.

    Args:
        in_channels, out_channels, kernel_size, stride, padding: as in ``nn.Conv2d``
            (``padding=None`` keeps the size for odd kernels at stride 1).
        bias: learn the bias ``c``.
        reweight: apply the ``B/(B+1)``, ``1/(B+1)`` weights.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: Optional[int] = None,
        bias: bool = True,
        reweight: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_positive_int(kernel_size, "kernel_size")
        check_positive_int(stride, "stride")
        padding = kernel_size // 2 if padding is None else check_nonnegative_int(padding, "padding")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.reweight = bool(reweight)
        self.own = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.mixing = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)

    def weights(self, set_size: int) -> Tuple[float, float]:
        """The factors ``(w_own, w_mix)`` for a set of ``set_size`` images."""
        if self.reweight:
            return set_size / (set_size + 1.0), 1.0 / (set_size + 1.0)
        return 1.0, 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, H, W)`` or ``(S, B, C, H, W)`` -> the same with ``out_channels``: eq. (4.12) over the set."""
        check_tensor(x, "x", finite=False, min_dim=4)
        if x.dim() > 5 or x.shape[-3] != self.in_channels:
            raise ValueError(
                f"x must have shape (B, {self.in_channels}, H, W) or (S, B, {self.in_channels}, H, W); "
                f"got {tuple(x.shape)}"
            )
        set_dim = x.dim() - 4
        set_size = x.shape[set_dim]
        if set_size == 0:
            raise ValueError("x holds an empty set (B = 0)")
        w_own, w_mix = self.weights(set_size)
        # Cheap on purpose: the bias rides on the small per-set term (so its gradient is
        # reduced once), and a sum with the 1/B folded into the weights replaces the mean.
        own = F.conv2d(x.flatten(0, set_dim), self.own.weight * w_own, None, self.own.stride, self.own.padding)
        mixed = F.conv2d(x.sum(dim=set_dim), self.mixing.weight * (w_mix / set_size), self.own.bias,
                         self.mixing.stride, self.mixing.padding)
        if set_dim == 0:
            return own + mixed  # (B, C, H, W) + (1, C, H, W)
        return own.view(*x.shape[:2], *own.shape[1:]) + mixed.unsqueeze(1)

    def extra_repr(self) -> str:  # noqa: D102
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.own.kernel_size}, reweight={self.reweight}"


class _MaxOfPieces(torch.autograd.Function):
    """The maximum over the last dimension, whose backward passes the gradient to the maximal piece.

    ``torch.amax`` would give the same values and, without ties, the same gradients, but its
    backward also counts the ties (a sum over a boolean mask) to share the gradient among them.
    On the book's small discriminators that count was most of a training step's time. The
    pieces come out of a linear layer, so ties have probability zero; should one occur, every
    tied piece receives the whole gradient. The backward is built of differentiable operations,
    so gradient penalties (a second derivative) work through it.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, grouped: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        maximum = grouped.amax(dim=-1)
        ctx.save_for_backward(grouped, maximum)
        return maximum

    @staticmethod
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grouped, maximum = ctx.saved_tensors
        return (grouped == maximum.unsqueeze(-1)) * grad.unsqueeze(-1)


class Maxout(nn.Module):
    """Maxout units: the maximum over groups of ``pieces`` consecutive features (pointwise).

    The gradient reaches the maximal piece of each group (see :class:`_MaxOfPieces` for why
    this is not ``torch.amax``'s backward).
    """

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.pieces = check_positive_int(pieces, "pieces")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - documented on the class
        if x.shape[-1] % self.pieces:
            raise ValueError(f"the last dimension ({x.shape[-1]}) must be a multiple of pieces={self.pieces}")
        return _MaxOfPieces.apply(x.unflatten(-1, (x.shape[-1] // self.pieces, self.pieces)))


ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "maxout")


def _activation(name: str, pieces: int = 1) -> nn.Module:
    table = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.1), "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
             "maxout": lambda: Maxout(pieces)}
    if name not in table:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {name!r}")
    return table[name]()


class SymmetricDiscriminator(nn.Module):
    """A batch discriminator invariant to the order of the set (eqs. 4.10, 4.13, 4.14).

    Stacked equivariant layers compute one logit ``o_b`` per element of the set; the
    elements interact through the set means of every layer. The prediction of the real
    fraction and the losses reduce the logits in one of two ways:

    * ``reduction="bgan"``: average the logits, then squash: ``D(y) = sigmoid(mean_b o_b)``
      and the loss is ``KL(Bern(t) || Bern(D(y)))`` (eq. 4.13);
    * ``reduction="mbgan"``: the loss of every element against the set's target, then the
      average: ``mean_b KL(Bern(t) || Bern(sigmoid(o_b)))`` (eq. 4.14); the prediction is
      ``mean_b sigmoid(o_b)``.

    Args:
        in_shape: the size of a vector (an int; layers are :class:`EquivariantLinear`) or the
            shape ``(C, H, W)`` of an image (layers are :class:`EquivariantConv2d`, each
            followed by a stride-2 one, then a linear read-out).
        hidden: widths of the hidden layers (vectors) or channels of the stages (images).
        reduction: ``"bgan"`` or ``"mbgan"``.
        activation: ``"relu"``, ``"leaky_relu"``, ``"sigmoid"``, ``"tanh"`` or ``"maxout"``
            (vectors only: each hidden unit is the maximum of ``maxout_pieces`` equivariant
            linear units, as in the PacGAN benchmark's discriminator).
        reweight: use the ``B/(B+1)``, ``1/(B+1)`` re-weighting in every layer.
        maxout_pieces: pieces per maxout unit.
    """

    def __init__(
        self,
        in_shape: Union[int, Sequence[int]],
        hidden: Sequence[int] = (128, 128, 128),
        reduction: str = "bgan",
        activation: str = "relu",
        reweight: bool = True,
        maxout_pieces: int = 5,
    ) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
        pieces = check_positive_int(maxout_pieces, "maxout_pieces") if activation == "maxout" else 1
        hidden = tuple(check_positive_int(h, "hidden") for h in hidden)
        if not hidden:
            raise ValueError("hidden must be a non-empty sequence of positive ints; got ()")
        self.reduction = reduction
        layers = []
        if isinstance(in_shape, int) and not isinstance(in_shape, bool):
            self.in_shape: Tuple[int, ...] = (check_positive_int(in_shape, "in_shape"),)
            width = in_shape
            for h in hidden:
                layers += [EquivariantLinear(width, h * pieces, reweight=reweight), _activation(activation, pieces)]
                width = h
            self.features = nn.Sequential(*layers)
            self.flat_features = width
        elif isinstance(in_shape, Sequence) and len(in_shape) == 3:
            if activation == "maxout":
                raise ValueError("activation='maxout' is for vector inputs; use another activation for images")
            self.in_shape = tuple(check_positive_int(s, "in_shape") for s in in_shape)
            channels, height, width = self.in_shape
            for h in hidden:
                layers += [EquivariantConv2d(channels, h, 3, reweight=reweight), _activation(activation),
                           EquivariantConv2d(h, h, 4, stride=2, padding=1, reweight=reweight), _activation(activation)]
                channels, height, width = h, height // 2, width // 2
            if height < 1 or width < 1:
                raise ValueError(f"in_shape {tuple(in_shape)} is too small for {len(hidden)} stride-2 stages")
            self.features = nn.Sequential(*layers)
            self.flat_features = channels * height * width
        else:
            raise ValueError(f"in_shape must be an int (vectors) or a (C, H, W) tuple (images); got {in_shape!r}")
        self.readout = EquivariantLinear(self.flat_features, 1, reweight=reweight)

    def _sets(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", finite=False, min_dim=len(self.in_shape) + 1)
        if tuple(x.shape[-len(self.in_shape):]) != self.in_shape:
            raise ValueError(f"x must have shape (..., B, {', '.join(map(str, self.in_shape))}); got {tuple(x.shape)}")
        if x.shape[-len(self.in_shape) - 1] == 0:
            raise ValueError("x holds an empty set (B = 0)")
        if len(self.in_shape) == 3 and x.dim() > 5:
            raise ValueError(f"image sets must have shape (B, C, H, W) or (S, B, C, H, W); got {tuple(x.shape)}")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The per-element logits ``o_b``, shape ``(..., B)`` (permutation-equivariant)."""
        x = self._sets(x)
        h = self.features(x)
        if len(self.in_shape) == 3:
            h = h.flatten(start_dim=-3)
        return self.readout(h).squeeze(-1)

    def predict_ratio(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted fraction of real elements ``D(y)``, shape ``(...)`` (permutation-invariant)."""
        logits = self(x)
        if self.reduction == "bgan":
            return torch.sigmoid(logits.mean(dim=-1))
        return torch.sigmoid(logits).mean(dim=-1)

    def loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The discriminator loss (eq. 4.4 with eq. 4.13 or 4.14), averaged over the sets.

        Args:
            x: sets, shape ``(..., B, *in_shape)``.
            target: the true fraction of real elements of each set, shape ``(...)``, in [0, 1].
        """
        logits = self(x)
        target = torch.as_tensor(target, dtype=logits.dtype, device=logits.device)
        if target.shape != logits.shape[:-1]:
            raise ValueError(
                f"target must have shape {tuple(logits.shape[:-1])} (one ratio per set); got {tuple(target.shape)}"
            )
        if self.reduction == "bgan":
            return bernoulli_kl(target, logits.mean(dim=-1)).mean()
        return bernoulli_kl(target.unsqueeze(-1).expand_as(logits), logits).mean()

    def generator_loss(self, x: torch.Tensor) -> torch.Tensor:
        """The non-saturating generator loss, averaged over the sets.

        ``"bgan"``: ``-log D`` of eq. (4.5). ``"mbgan"``: its per-element counterpart
        ``mean_b -log sigmoid(o_b)`` (the thesis leaves M-BGAN's generator loss implicit), which by
        Jensen's inequality is at least ``-log`` of :meth:`predict_ratio`.
        """
        logits = self(x)
        if self.reduction == "bgan":
            return F.softplus(-logits.mean(dim=-1)).mean()
        return F.softplus(-logits).mean()


def bernoulli_kl(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``KL(Bern(u) || Bern(v))`` of eq. (4.3) with ``u = target`` and ``v = sigmoid(logits)``.

    Computed as the binary cross-entropy minus the entropy of ``Bern(u)``, which is stable
    for any logits and exactly zero when the prediction equals the target.

    Raises:
        ValueError: if ``target`` leaves [0, 1] or the shapes do not broadcast.
    """
    check_tensor(logits, "logits", finite=False)
    target = torch.as_tensor(target, dtype=logits.dtype, device=logits.device)
    if target.numel() and (target.min() < 0 or target.max() > 1):
        raise ValueError("target must lie in [0, 1]")
    try:
        target, logits = torch.broadcast_tensors(target, logits)
    except RuntimeError as err:
        raise ValueError(f"target {tuple(target.shape)} and logits {tuple(logits.shape)} do not broadcast") from err
    cross_entropy = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    entropy = -(torch.special.xlogy(target, target) + torch.special.xlogy(1 - target, 1 - target))
    return cross_entropy - entropy


def check_layer_merge(
    first: EquivariantLinear,
    second: EquivariantLinear,
    Lambda: torch.Tensor,
    Gamma: torch.Tensor,
    bias: torch.Tensor,
    set_size: int = 5,
    atol: float = 1e-5,
) -> bool:
    """Check an answer to the chapter's exercise: is ``second(first(x))`` one equivariant layer?

    Compares ``second(first(x))`` with ``x Lambda + rho(x) Gamma + bias`` (row vectors,
    re-weighting included) on random sets of ``set_size`` elements and prints the verdict.

    Returns:
        ``True`` if the answer is right (to ``atol``), else ``False``.
    """
    if not isinstance(first, EquivariantLinear) or not isinstance(second, EquivariantLinear):
        raise TypeError("first and second must be EquivariantLinear layers")
    if first.out_features != second.in_features:
        raise ValueError(f"first has {first.out_features} outputs but second has {second.in_features} inputs")
    check_positive_int(set_size, "set_size")
    shape = (first.in_features, second.out_features)
    for name, value, want in (("Lambda", Lambda, shape), ("Gamma", Gamma, shape), ("bias", bias, shape[1:])):
        check_tensor(value, name, finite=False, min_dim=len(want))
        if tuple(value.shape) != want:
            print(f"Not yet: {name} must have shape {want}; yours has {tuple(value.shape)}.")
            return False
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x = torch.randn(3, set_size, first.in_features, generator=gen, dtype=Lambda.dtype)
        want = second(first(x.to(first.own.weight.dtype)))
        got = x @ Lambda + x.mean(-2, keepdim=True) @ Gamma + bias
        error = (want - got.to(want.dtype)).abs().max().item()
    ok = error <= atol
    print(
        "Correct: the two layers are one equivariant layer."
        if ok
        else f"Not yet: the largest difference is {error:.3g}."
    )
    return ok
