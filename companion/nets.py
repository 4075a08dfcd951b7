"""Shared neural-network building blocks: an MLP and a small convolutional encoder/decoder.

Every model family of the book (``vae``, ``gan``, ``flows``) and every method module builds
its networks from these pieces, so that a change of architecture happens in one place.

* :class:`MLP` — fully connected layers with a chosen activation;
* :class:`ConvEncoder` — images ``(C, H, W)`` to a feature vector (stride-2 convolutions);
* :class:`ConvDecoder` — a vector back to an image of *exactly* ``(C, H, W)``;
* :func:`spectral_normalise` — spectral normalisation of a network's layers (a discriminator's), and
  :func:`remove_spectral_norm`, which keeps the normalised weights as plain ones after training.

The convolutional pair works for any image size, odd ones included (the 25x25 faces): the
encoder halves the size with ``ceil(n / 2)`` at every stage (25 -> 13 -> 7) and the decoder
retraces the same sizes in reverse, resizing to each stored size (7 -> 13 -> 25) before a
3x3 convolution. Everything is small enough to train on a laptop CPU.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.nn import functional as F

from .checks import check_in_interval, check_nonnegative_int, check_positive_int

__all__ = ["MLP", "ConvDecoder", "ConvEncoder", "Dropout", "activation_layer", "check_shape", "conv_sizes",
           "remove_spectral_norm", "spectral_normalise"]

ActivationSpec = Union[str, Callable[[], nn.Module]]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}


def activation_layer(activation: ActivationSpec) -> nn.Module:
    """Build a fresh activation module.

    Args:
        activation: a name (``"relu"``, ``"leaky_relu"`` (slope 0.2), ``"elu"``, ``"gelu"``,
            ``"silu"``, ``"tanh"``, ``"softplus"``, ``"sigmoid"``) or a callable without
            arguments that returns an ``nn.Module`` (for example ``nn.ReLU``).
    """
    if isinstance(activation, str):
        key = activation.strip().lower()
        if key not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
        return _ACTIVATIONS[key]()
    if callable(activation):
        module = activation()
        if not isinstance(module, nn.Module):
            raise TypeError("activation must return an nn.Module when called without arguments")
        return module
    raise TypeError(f"activation must be a name or a callable returning an nn.Module; got {activation!r}")


class Dropout(nn.Module):
    """Dropout: in training, each element is zeroed with probability ``p`` and the others are scaled
    by ``1 / (1 - p)``; in evaluation (and for ``p = 0``), the identity.

    The same operation as ``nn.Dropout``, with its mask drawn from one uniform draw per element
    (kept where ``u >= p``) instead of PyTorch's Bernoulli sampler, which on a CPU takes about three
    times as long (its forward and backward: ``benchmarks/dropout.py``). The book's discriminators
    with dropout are small MLPs, and with ``nn.Dropout`` the masks were a fifth of their training
    step. The masks come from the default generator of ``x``'s device, as ``nn.Dropout``'s do.

    Args:
        p: the probability of zeroing an element, in ``[0, 1)`` (a layer that drops every unit
            would cut the network off from its input).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_in_interval(p, "p", 0.0, 1.0)
        if self.p == 1.0:
            raise ValueError("p must be below 1: a layer that drops every unit cuts the network off from its input")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - documented on the class
        if not self.training or self.p == 0:
            return x
        keep = torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))  # 0 or 1 / (1 - p), in place
        return x * keep

    def extra_repr(self) -> str:  # noqa: D102
        return f"p={self.p}"


def check_shape(shape: Sequence[int], name: str = "shape", image: bool = False) -> Tuple[int, ...]:
    """Validate a data shape (without the batch dimension) and return it as a tuple.

    Args:
        shape: ``(d,)`` for vectors or ``(C, H, W)`` for images.
        name: the argument name used in error messages.
        image: require ``(C, H, W)``.
    """
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of positive ints; got {shape!r}") from None
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"{name} must be a non-empty tuple of positive ints; got {shape!r}")
    if image and len(shape) != 3:
        raise ValueError(f"{name} must be an image shape (C, H, W); got {shape!r}")
    return shape


def _widths(hidden: Union[int, Sequence[int]], n_layers: Optional[int]) -> List[int]:
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        check_positive_int(hidden, "hidden")
        depth = 2 if n_layers is None else check_nonnegative_int(n_layers, "n_layers")
        return [hidden] * depth
    try:
        widths = list(hidden)
    except TypeError:
        raise TypeError(f"hidden must be an int or a sequence of ints; got {hidden!r}") from None
    if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"hidden widths must be positive ints; got {hidden!r}")
    if n_layers is not None and n_layers != len(widths):
        raise ValueError(f"n_layers={n_layers} disagrees with the {len(widths)} widths in hidden={list(hidden)}")
    return widths


class MLP(nn.Sequential):
    """A multilayer perceptron ``in_features -> hidden ... -> out_features``.

    ``Linear`` layers with an activation after every hidden layer and none after the last
    (add ``out_activation`` for one). It acts on the last dimension, so inputs may have any
    leading dimensions.

    Args:
        in_features: input width.
        out_features: output width.
        hidden: the width of every hidden layer (an int, repeated ``n_layers`` times) or the
            list of widths (then ``n_layers`` may be left out).
        n_layers: number of hidden layers when ``hidden`` is an int (default 2; 0 gives a
            single linear map).
        activation: the hidden activation (see :func:`activation_layer`).
        out_activation: an optional activation after the last layer.
        zero_last: initialise the last layer to zero (the network then starts as the
            constant 0; flows use this to start as the identity).
        dropout: the probability of a :class:`Dropout` after every hidden activation (0: no
            dropout layers, so the layer indices are those of the plain MLP).

    >>> MLP(2, 3, hidden=16, n_layers=2)(torch.zeros(5, 2)).shape
    torch.Size([5, 3])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Union[int, Sequence[int]] = 64,
        n_layers: Optional[int] = None,
        activation: ActivationSpec = "relu",
        out_activation: Optional[ActivationSpec] = None,
        zero_last: bool = False,
        dropout: float = 0.0,
    ) -> None:
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        # below 1: a layer that drops every unit would cut the network off from its input
        dropout = check_in_interval(dropout, "dropout", 0.0, 0.99)
        widths = [in_features] + _widths(hidden, n_layers) + [out_features]
        layers: List[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(activation_layer(activation))
                if dropout > 0:
                    layers.append(Dropout(dropout))
        if zero_last:
            nn.init.zeros_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)
        if out_activation is not None:
            layers.append(activation_layer(out_activation))
        super().__init__(*layers)
        self.in_features = in_features
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - documented on the class
        if x.shape[-1] != self.in_features:
            raise ValueError(f"MLP expects inputs with last dimension {self.in_features}; got shape {tuple(x.shape)}")
        return super().forward(x)


def conv_sizes(size: int, n_stages: int) -> List[int]:
    """The spatial sizes of a stride-2 encoder: ``[size, ceil(size/2), ...]`` (``n_stages + 1`` values).

    >>> conv_sizes(25, 2)
    [25, 13, 7]

    Raises:
        TypeError, ValueError: if ``size`` is not a positive int or ``n_stages`` not a non-negative one.
    """
    sizes = [check_positive_int(size, "size")]
    n_stages = check_nonnegative_int(n_stages, "n_stages")
    for _ in range(n_stages):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def _channels(channels: Sequence[int]) -> List[int]:
    try:
        chans = list(channels)
    except TypeError:
        raise TypeError(f"channels must be a sequence of positive ints; got {channels!r}") from None
    if not chans or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in chans):
        raise ValueError(f"channels must be a non-empty sequence of positive ints; got {channels!r}")
    return chans


class ConvEncoder(nn.Module):
    """Images ``(batch, C, H, W)`` to features ``(batch, out_features)``.

    One 3x3 convolution with stride 2 per entry of ``channels`` (each halves the size,
    rounding up, so odd sizes work), then a linear layer on the flattened map.

    Args:
        shape: the image shape ``(C, H, W)``.
        out_features: the output width.
        channels: output channels of the successive convolutions.
        activation: the activation after every convolution.
    """

    def __init__(
        self,
        shape: Sequence[int],
        out_features: int,
        channels: Sequence[int] = (32, 64),
        activation: ActivationSpec = "relu",
    ) -> None:
        super().__init__()
        self.shape = check_shape(shape, "shape", image=True)
        self.out_features = check_positive_int(out_features, "out_features")
        chans = _channels(channels)
        c, h, w = self.shape
        layers: List[nn.Module] = []
        for c_in, c_out in zip([c] + chans[:-1], chans):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), activation_layer(activation)]
        self.convs = nn.Sequential(*layers)
        h_out, w_out = conv_sizes(h, len(chans))[-1], conv_sizes(w, len(chans))[-1]
        self.linear = nn.Linear(chans[-1] * h_out * w_out, self.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.dim() != 4 or tuple(x.shape[1:]) != self.shape:
            expected = ", ".join(map(str, self.shape))
            raise ValueError(f"ConvEncoder expects inputs of shape (batch, {expected}); got {tuple(x.shape)}")
        return self.linear(self.convs(x).flatten(1))


class ConvDecoder(nn.Module):
    """Vectors ``(batch, in_features)`` to images ``(batch, out_channels, H, W)``.

    A linear layer makes a small map of ``channels[0]`` channels at the encoder's smallest
    size; each stage then resizes (nearest neighbour) to the next larger size of the
    matching :class:`ConvEncoder` and applies a 3x3 convolution; a last 3x3 convolution gives
    ``out_channels`` channels at exactly ``(H, W)``. No output activation: the caller maps
    the output to what it needs (logits, means, ...).

    Args:
        in_features: the input width (a latent dimension).
        shape: the image shape ``(C, H, W)``.
        channels: channels of the successive stages, from the smallest map up (the reverse
            of the encoder's).
        out_channels: output channels (default ``C``; ask for more to output several
            parameters per pixel).
        activation: the activation after every hidden layer.
    """

    def __init__(
        self,
        in_features: int,
        shape: Sequence[int],
        channels: Sequence[int] = (64, 32),
        out_channels: Optional[int] = None,
        activation: ActivationSpec = "relu",
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.shape = check_shape(shape, "shape", image=True)
        c, h, w = self.shape
        self.out_channels = c if out_channels is None else check_positive_int(out_channels, "out_channels")
        chans = _channels(channels)
        n = len(chans)
        self._sizes = list(zip(conv_sizes(h, n)[::-1], conv_sizes(w, n)[::-1]))  # smallest first
        self.linear = nn.Sequential(
            nn.Linear(self.in_features, chans[0] * self._sizes[0][0] * self._sizes[0][1]),
            activation_layer(activation),
        )
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), activation_layer(activation))
            for c_in, c_out in zip(chans, chans[1:] + chans[-1:])
        )
        self.out = nn.Conv2d(chans[-1], self.out_channels, 3, padding=1)
        self._channels0 = chans[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if z.dim() != 2 or z.shape[1] != self.in_features:
            raise ValueError(f"ConvDecoder expects inputs of shape (batch, {self.in_features}); got {tuple(z.shape)}")
        h0, w0 = self._sizes[0]
        x = self.linear(z).view(z.shape[0], self._channels0, h0, w0)
        for stage, size in zip(self.stages, self._sizes[1:]):
            x = stage(F.interpolate(x, size=size, mode="nearest"))
        return self.out(x)


def spectral_normalise(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al., 2018) on every convolution and linear layer of ``module``, in place.

    Each such layer's weight becomes ``W / sigma(W)``, with ``sigma(W)`` the largest singular value of the
    weight as a matrix (a convolution's reshaped to ``(out_channels, in_channels * kernel)``), estimated by one
    power iteration per forward pass in ``train()`` mode (PyTorch's
    ``torch.nn.utils.parametrizations.spectral_norm``). Layers already parametrised are left as they are. For
    linear layers ``sigma`` is the operator norm, so a stack of them with 1-Lipschitz activations (and no
    dropout, which scales by ``1 / (1 - p)`` in training) is 1-Lipschitz up to that estimate; for
    convolutions the bound holds up to a factor set by the kernel size (Miyato et al.). Either way the
    discriminator's gradients stay bounded. A parametrised module pickles only through its ``state_dict``;
    call :func:`remove_spectral_norm` after training to keep plain layers.

    Returns:
        ``module`` itself.
    """
    from torch.nn.utils.parametrizations import spectral_norm

    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    for sub in list(module.modules()):
        if isinstance(sub, (nn.Conv2d, nn.Linear)) and not _has_weight_parametrization(sub):
            spectral_norm(sub)
    return module


def remove_spectral_norm(module: nn.Module) -> nn.Module:
    """Undo :func:`spectral_normalise` in place, keeping each layer's current normalised weight ``W / sigma(W)``
    as a plain weight (so the network computes what it computed in ``eval()`` mode, and pickles).

    Returns:
        ``module`` itself.
    """
    from torch.nn.utils import parametrize

    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    for sub in list(module.modules()):
        if _has_weight_parametrization(sub):
            training = sub.training
            sub.eval()  # the weight from the stored singular vectors, without a further power iteration
            with torch.no_grad():
                parametrize.remove_parametrizations(sub, "weight", leave_parametrized=True)
            sub.train(training)
    return module


def _has_weight_parametrization(module: nn.Module) -> bool:
    from torch.nn.utils import parametrize

    return parametrize.is_parametrized(module, "weight")
