"""Real-NVP normalising flows (Dinh, Sohl-Dickstein & Bengio 2017) for vectors and images.

A flow is an invertible map ``y = f(x)`` with a tractable Jacobian; with a base density
``p_Y`` (here the standard normal) the change of variables gives the exact density

    log p(x) = log p_Y(f(x)) + log |det df/dx|.

:class:`RealNVP` stacks *affine couplings*: a binary mask ``m`` keeps half of the entries and
uses them to scale and shift the other half,

    y = m * x + (1 - m) * (x * exp(s(m * x)) + t(m * x)),

whose Jacobian is triangular with log-determinant ``sum (1 - m) * s``; the inverse needs
``s`` and ``t`` only at ``m * y = m * x``, never their inverses. The log-scale is bounded,
``s = scale * tanh(raw)``, which keeps early training stable. Masks alternate so every entry
is transformed: odd/even entries for vectors; for images a checkerboard over pixels and,
after a *squeeze* (2x2 blocks of pixels become 4x the channels), halves of the channels.

Normalisation is **ActNorm** (Kingma & Dhariwal 2018) rather than batch normalisation: a
per-feature (per-channel for images) affine map whose parameters are set by the first batch
it sees so that its output has zero mean and unit variance, then trained like any weight.
Unlike batch norm it treats every example alone, so the flow is the same function in
training and evaluation, it inverts exactly for a single example (sampling, the Jacobian
test), and it works with small batches.

Images use the multi-scale architecture of Real NVP with ``n_scales`` scales: each scale
applies ``n_blocks`` checkerboard couplings, then (except the last) squeezes, applies
``n_blocks`` channel couplings, and passes half of the channels on to the next scale while
the other half is final. The output ``y`` is rearranged to the input's shape ``(C, H, W)``
(undoing the squeezes), so ``f`` can serve as a feature map of the same dimension as the
data (as in adaptive density estimation, Lucas et al. 2019). ``H`` and ``W`` must be
divisible by ``2 ** (n_scales - 1)``.

The flow models *continuous* data. Discrete images must be dequantised outside the flow,
e.g. with :func:`uniform_dequantize`, and their log-likelihood corrected for the change of
units (see there); any other preprocessing (a logit transform, centring) is also up to the caller.

Chapter: ``book/preliminaries.md``; its experiments: ``companion/experiments/preliminaries.py``
(also used by the ELBO-surgery, LDE, ADE and comparison chapters).
"""

from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .checks import check_int, check_positive_int
from .distributed import batch_noise
from .likelihoods import standard_normal_log_prob, sum_except_batch, unit_to_levels
from .nets import MLP, activation_layer, check_shape
from .train import History, fit_likelihood

__all__ = [
    "ActNorm",
    "AffineCoupling",
    "Dequantized",
    "IAFPosterior",
    "IAFStep",
    "MaskedLinear",
    "RealNVP",
    "Standardized",
    "fit_flow",
    "squeeze",
    "uniform_dequantize",
    "unsqueeze",
]


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W) -> (B, 4C, H/2, W/2)``: each 2x2 block of pixels becomes 4 channels."""
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"squeeze needs even height and width; got {h}x{w}")
    x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`squeeze`: ``(B, 4C, H, W) -> (B, C, 2H, 2W)``."""
    b, c4, h, w = x.shape
    if c4 % 4:
        raise ValueError(f"unsqueeze needs a multiple of 4 channels; got {c4}")
    c = c4 // 4
    x = x.view(b, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c, 2 * h, 2 * w)


def uniform_dequantize(
    x_levels: torch.Tensor, n_levels: int = 256, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Turn integer levels ``0 .. n_levels - 1`` into continuous values ``(x + u) / n_levels`` in ``[0, 1)``.

    With ``u ~ U[0, 1)^D`` a continuous density ``p`` of the result gives a lower bound on the
    probability of the discrete data (Theis et al. 2016):
    ``log P(x) >= E_u[log p((x + u) / n_levels)] - D log(n_levels)`` for ``D`` dimensions, so
    report ``log p - D log(n_levels)`` in nats per example (or its bits per dimension).
    """
    if not torch.is_tensor(x_levels):
        raise TypeError(f"x_levels must be a torch.Tensor; got {type(x_levels).__name__}")
    check_int(n_levels, "n_levels", 2)
    x = x_levels.float() if not x_levels.is_floating_point() else x_levels
    if x.numel() and (
        not torch.isfinite(x).all() or x.min() < 0 or x.max() > n_levels - 1 or not torch.equal(x, x.round())
    ):
        raise ValueError(f"x_levels must hold integer levels 0..{n_levels - 1}")
    rng_device = generator.device if generator is not None else x.device
    # torchrun, sharded fit: this share's rows of the global batch's noise
    u = batch_noise(torch.rand, x.shape, generator=generator, dtype=x.dtype, device=rng_device).to(x.device)
    return (x + u) / n_levels


class ActNorm(nn.Module):
    """A per-feature affine map ``y = (x + bias) * exp(log_scale)`` with data-dependent init.

    The first forward pass (in any mode) sets ``bias = -mean`` and ``log_scale = -log std``
    of that batch (per feature for vectors ``(B, d)``, per channel for images
    ``(B, C, H, W)``), so its output has zero mean and unit variance; afterwards both are
    ordinary trained parameters. The ``initialized`` buffer is saved with the state dict.

    Args:
        n_features: ``d`` for vectors, ``C`` for images.
        image: whether the inputs are images ``(B, C, H, W)``.
        eps: added to the standard deviation at initialisation.
    """

    def __init__(self, n_features: int, image: bool = False, eps: float = 1e-6) -> None:
        super().__init__()
        shape = (1, n_features, 1, 1) if image else (1, n_features)
        self.image = image
        self.eps = eps
        self.bias = nn.Parameter(torch.zeros(shape))
        self.log_scale = nn.Parameter(torch.zeros(shape))
        self.register_buffer("initialized", torch.tensor(False))

    def _reduce_dims(self) -> Tuple[int, ...]:
        return (0, 2, 3) if self.image else (0,)

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Set the parameters from the batch ``x`` (at least 2 examples)."""
        n = x.shape[0] * (x.shape[2] * x.shape[3] if self.image else 1)
        if n < 2:
            raise ValueError(
                "ActNorm initialises itself from the first batch it sees and needs at least 2 values "
                "per feature; run the flow once on a batch of data (e.g. model.initialize(data)) first"
            )
        mean = x.mean(dim=self._reduce_dims(), keepdim=True)
        std = x.std(dim=self._reduce_dims(), keepdim=True, unbiased=False)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + self.eps))
        self.initialized.fill_(True)

    def _logdet(self, x: torch.Tensor) -> torch.Tensor:
        per_position = self.log_scale.sum()
        if self.image:
            per_position = per_position * (x.shape[2] * x.shape[3])
        return per_position.expand(x.shape[0])

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``x -> (y, log|det dy/dx|)`` with the log-determinant per example."""
        if not bool(self.initialized):
            self.initialize(x)
        return (x + self.bias) * torch.exp(self.log_scale), self._logdet(x)

    def inverse(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``y -> (x, log|det dx/dy|)``."""
        return y * torch.exp(-self.log_scale) - self.bias, -self._logdet(y)


class AffineCoupling(nn.Module):
    """An affine coupling ``y = m x + (1 - m)(x exp(s) + t)`` with ``(s, t)`` computed from ``m x``.

    Args:
        mask: a 0/1 tensor broadcastable to one example (with a leading batch dimension of 1),
            e.g. ``(1, d)``, ``(1, 1, H, W)`` (checkerboard) or ``(1, C, 1, 1)`` (channels);
            ones mark the entries that are kept and condition the others.
        net: maps ``m * x`` to the raw log-scales and shifts concatenated along dim 1
            (``2 d`` or ``2 C`` outputs); ideally zero-initialised at its last layer so the
            coupling starts as the identity.
        n_features: ``d`` or ``C`` (the size of dim 1 of an example).
        image: whether examples are images.

    The log-scale is ``s = scale * tanh(raw)`` with a learned per-feature ``scale`` (init 1).
    """

    def __init__(self, mask: torch.Tensor, net: nn.Module, n_features: int, image: bool = False) -> None:
        super().__init__()
        self.register_buffer("mask", mask.float())
        self.net = net
        self.scale = nn.Parameter(torch.ones((1, n_features, 1, 1) if image else (1, n_features)))

    def _scale_shift(self, kept: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raw, shift = self.net(kept).chunk(2, dim=1)
        free = 1.0 - self.mask
        return free * self.scale * torch.tanh(raw), free * shift

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``x -> (y, log|det dy/dx|)``."""
        log_s, t = self._scale_shift(x * self.mask)
        y = x * torch.exp(log_s) + t  # entries with mask 1 have log_s = t = 0: unchanged
        return y, sum_except_batch(log_s)

    def inverse(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``y -> (x, log|det dx/dy|)``."""
        log_s, t = self._scale_shift(y * self.mask)
        return (y - t) * torch.exp(-log_s), -sum_except_batch(log_s)


def _conv_net(channels: int, hidden: int, n_layers: int, activation: str) -> nn.Sequential:
    """3x3 convolutions ``channels -> hidden (x n_layers) -> 2 channels``, last one zero-initialised."""
    layers: List[nn.Module] = []
    c_in = channels
    for _ in range(n_layers):
        layers += [nn.Conv2d(c_in, hidden, 3, padding=1), activation_layer(activation)]
        c_in = hidden
    last = nn.Conv2d(c_in, 2 * channels, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    # channels-last weights: on a CPU, oneDNN runs these few-channel convolutions (their backward above all)
    # 1.5-1.75x faster on 25x25 images in this layout (benchmarks/channels_last.py); only the
    # rounding differs
    return nn.Sequential(*layers, last).to(memory_format=torch.channels_last)


def _checkerboard(h: int, w: int, parity: int) -> torch.Tensor:
    i = torch.arange(h).view(-1, 1)
    j = torch.arange(w).view(1, -1)
    return ((i + j + parity) % 2 == 0).float().view(1, 1, h, w)


def _channel_mask(c: int, parity: int) -> torch.Tensor:
    mask = torch.zeros(1, c, 1, 1)
    if parity == 0:
        mask[:, : c // 2] = 1
    else:
        mask[:, c // 2 :] = 1
    return mask


class _Steps(nn.ModuleList):
    """A sequence of invertible layers, each returning ``(output, logdet)``."""

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        logdet = x.new_zeros(x.shape[0])
        for layer in self:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logdet = y.new_zeros(y.shape[0])
        for layer in reversed(self):
            y, ld = layer.inverse(y)
            logdet = logdet + ld
        return y, logdet


class _ImageScale(nn.Module):
    """One scale of the multi-scale image flow (recursively holding the coarser ones)."""

    def __init__(self, shape: Tuple[int, int, int], n_blocks: int, hidden: int, n_layers: int,
                 n_scales: int, activation: str, actnorm: bool) -> None:
        super().__init__()
        c, h, w = shape
        self.checker = _Steps(_coupling_steps(
            [_checkerboard(h, w, i % 2) for i in range(n_blocks)], c, hidden, n_layers, activation, actnorm))
        self.next: Optional[_ImageScale] = None
        if n_scales > 1:
            self.channel = _Steps(_coupling_steps(
                [_channel_mask(4 * c, i % 2) for i in range(n_blocks)], 4 * c, hidden, n_layers, activation, actnorm))
            self.next = _ImageScale(
                (2 * c, h // 2, w // 2), n_blocks, hidden, n_layers, n_scales - 1, activation, actnorm
            )

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x, logdet = self.checker(x)
        if self.next is None:
            return x, logdet
        x, ld = self.channel(squeeze(x))
        c = x.shape[1] // 2
        rest, ld_next = self.next(x[:, c:])  # the first half of the channels is final here
        return unsqueeze(torch.cat([x[:, :c], rest], dim=1)), logdet + ld + ld_next

    def inverse(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logdet = y.new_zeros(y.shape[0])
        if self.next is not None:
            y = squeeze(y)
            c = y.shape[1] // 2
            rest, ld_next = self.next.inverse(y[:, c:])
            y, ld = self.channel.inverse(torch.cat([y[:, :c], rest], dim=1))
            y, logdet = unsqueeze(y), ld + ld_next
        x, ld = self.checker.inverse(y)
        return x, logdet + ld


def _coupling_steps(masks: Sequence[torch.Tensor], c: int, hidden: int, n_layers: int,
                    activation: str, actnorm: bool) -> List[nn.Module]:
    steps: List[nn.Module] = []
    for mask in masks:
        if actnorm:
            steps.append(ActNorm(c, image=True))
        steps.append(AffineCoupling(mask, _conv_net(c, hidden, n_layers, activation), c, image=True))
    return steps


class RealNVP(nn.Module):
    """A Real-NVP flow for vectors ``(d,)`` (``d >= 2``) or images ``(C, H, W)``.

    ``forward`` maps data to the latent (``x -> y``) and returns the log-determinant;
    ``log_prob`` is exact (``log_prob_is_bound = False``). Every coupling is preceded by an
    :class:`ActNorm`, initialised by the first forward pass: run the flow once on a batch of
    data (``model.initialize(data)`` or the first training step) before sampling from it.

    Args:
        shape: ``(d,)`` or ``(C, H, W)``.
        n_blocks: coupling layers (vectors), or coupling layers per mask type and scale (images).
        hidden: width of the coupling networks: MLP units for vectors (default 64), convolution
            channels for images (default 32).
        n_layers: hidden layers of each coupling network.
        n_scales: scales of the image architecture (1 = no squeeze); must be 1 for vectors.
        activation: hidden activation of the coupling networks.
        actnorm: put an :class:`ActNorm` before every coupling.
    """

    log_prob_is_bound = False

    def __init__(
        self,
        shape: Union[int, Sequence[int]],
        n_blocks: int = 4,
        hidden: Optional[int] = None,
        n_layers: int = 2,
        n_scales: int = 1,
        activation: str = "relu",
        actnorm: bool = True,
    ) -> None:
        super().__init__()
        self.shape = check_shape(shape)
        for value, name in ((n_blocks, "n_blocks"), (n_layers, "n_layers"), (n_scales, "n_scales")):
            check_positive_int(value, name)
        if hidden is not None:
            check_positive_int(hidden, "hidden")
        self.n_features = math.prod(self.shape)
        self.n_scales = n_scales
        if len(self.shape) == 1:
            d = self.shape[0]
            if d < 2:
                raise ValueError(f"a coupling flow needs at least 2 dimensions; got shape={self.shape}")
            if n_scales != 1:
                raise ValueError(f"n_scales must be 1 for vectors; got {n_scales}")
            hidden = 64 if hidden is None else hidden
            steps: List[nn.Module] = []
            for i in range(n_blocks):
                mask = ((torch.arange(d) + i) % 2 == 0).float().view(1, d)
                if actnorm:
                    steps.append(ActNorm(d))
                net = MLP(d, 2 * d, hidden, n_layers, activation, zero_last=True)
                steps.append(AffineCoupling(mask, net, d))
            self.body: nn.Module = _Steps(steps)
        elif len(self.shape) == 3:
            c, h, w = self.shape
            factor = 2 ** (n_scales - 1)
            if h % factor or w % factor:
                raise ValueError(
                    f"with n_scales={n_scales} the height and width must be divisible by {factor}; got {h}x{w}"
                )
            hidden = 32 if hidden is None else hidden
            self.body = _ImageScale(self.shape, n_blocks, hidden, n_layers, n_scales, activation, actnorm)
        else:
            raise ValueError(f"shape must be (d,) or (C, H, W); got {self.shape}")

    def _check(self, x: torch.Tensor, name: str) -> None:
        if not torch.is_tensor(x):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
        if x.dim() != len(self.shape) + 1 or tuple(x.shape[1:]) != self.shape:
            expected = ", ".join(map(str, self.shape))
            raise ValueError(f"{name} must have shape (batch, {expected}); got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinite values")

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Data to latent: ``x -> (y, log|det dy/dx|)``, ``y`` of the shape of ``x``, logdet ``(batch,)``."""
        self._check(x, "x")
        return self.body(x)

    def inverse(self, y: torch.Tensor,
                return_logdet: bool = False) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Latent to data: ``y -> x`` (and ``log|det dx/dy|`` per example with ``return_logdet``)."""
        self._check(y, "y")
        x, logdet = self.body.inverse(y)
        return (x, logdet) if return_logdet else x

    def base_log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """Log-density of the base distribution (standard normal) per example; override to change it."""
        return sum_except_batch(standard_normal_log_prob(y))

    def sample_base(self, n: int) -> torch.Tensor:
        """``n`` draws from the base distribution, shape ``(n, *shape)``; override with :meth:`base_log_prob`."""
        return torch.randn((n,) + self.shape, device=next(self.parameters()).device)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The exact ``log p(x) = base_log_prob(f(x)) + log|det df/dx|`` per example (nats)."""
        y, logdet = self.forward(x)
        return self.base_log_prob(y) + logdet

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` samples ``f^{-1}(y), y ~ base`` (no gradient; call :meth:`inverse` to back-propagate)."""
        check_positive_int(n, "n")
        return self.inverse(self.sample_base(n))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> "RealNVP":
        """(Re-)run the data-dependent initialisation of every ActNorm layer on the batch ``x``."""
        for module in self.modules():
            if isinstance(module, ActNorm):
                module.initialized.fill_(False)
        self.forward(x)
        return self


class Standardized(nn.Module):
    """A density model of ``x`` from one of ``(x - loc) / scale``: the change of variables
    ``log p(x) = log p_model((x - loc) / scale) - sum log scale``.

    Fitting a flow to standardised data this way keeps the reported density on the data's
    own scale (as the patch baselines of the LDE chapter need).

    Args:
        model: a density model (:mod:`companion.protocol`) of the standardised data.
        loc, scale: per-feature shift and (positive) scale, broadcastable to one example.
    """

    def __init__(self, model: nn.Module, loc: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        if not (torch.is_tensor(loc) and torch.is_tensor(scale)):
            raise TypeError("loc and scale must be tensors")
        if not bool((scale > 0).all()):
            raise ValueError("scale must be positive everywhere")
        self.model = model
        self.register_buffer("loc", loc)
        self.register_buffer("scale", scale)
        self.log_prob_is_bound = bool(getattr(model, "log_prob_is_bound", False))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` per example, in nats."""
        return self.model.log_prob((x - self.loc) / self.scale) - torch.log(self.scale).sum()

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` samples ``loc + scale * s`` with ``s`` a sample of the standardised model."""
        return self.loc + self.scale * self.model.sample(n)


class Dequantized(nn.Module):
    """A model of discrete images (in ``[0, 1]`` on the lattice ``k / (n_levels - 1)``, the
    package's one image scale) from a continuous density of their dequantisation.

    ``log_prob(x)`` maps ``x`` to its levels, adds fresh uniform noise
    (:func:`uniform_dequantize`: ``(level + u) / n_levels``) and returns
    ``log p((level + u) / n_levels) - D log n_levels``, a lower bound on ``log P(x)`` in
    expectation over ``u`` (Theis et al. 2016), so ``log_prob_is_bound`` is true.
    ``sample(n)`` draws from the continuous model and returns the level of the bin each value
    falls in, on the same lattice.

    Args:
        model: a density model (:mod:`companion.protocol`) of values in ``[0, 1)``, for
            example a :class:`RealNVP` fitted on ``uniform_dequantize`` of the levels.
        n_levels: the number of levels of the images.
    """

    log_prob_is_bound = True

    def __init__(self, model: nn.Module, n_levels: int) -> None:
        super().__init__()
        if not callable(getattr(model, "log_prob", None)) or not callable(getattr(model, "sample", None)):
            raise TypeError(f"model must have log_prob and sample methods; got {type(model).__name__}")
        self.model = model
        self.n_levels = check_int(n_levels, "n_levels", 2)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """A one-sample bound on ``log P(x)`` per example, in nats (fresh noise each call)."""
        levels = unit_to_levels(x, self.n_levels)
        n_dims = levels[0].numel()
        return self.model.log_prob(uniform_dequantize(levels, self.n_levels)) - n_dims * math.log(self.n_levels)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` images: the bin of each continuous value, as ``level / (n_levels - 1)``."""
        y = self.model.sample(n)
        return torch.floor(y * self.n_levels).clamp(0, self.n_levels - 1) / (self.n_levels - 1)


def fit_flow(flow: RealNVP, data: torch.Tensor, *, init_size: int = 1024, **fit: Any) -> History:
    """Maximum likelihood for a :class:`RealNVP`: ActNorm initialised on the data, then
    :func:`companion.train.fit_likelihood`, which gets the keywords ``fit``: ``n_steps`` and
    ``batch_size`` (required), ``lr``, ``optimizer``, ``generator``, ``callback``, ``progress``
    and its own (``transform``, ``scheduler``, ``max_grad_norm``, ``log_every``, ``desc``, ``shard``).

    The ActNorm layers are initialised on the first ``init_size`` rows of ``data`` (after
    ``transform``, for example the dequantisation of discrete data), so that every layer
    starts with zero-mean, unit-variance outputs.
    """
    if not isinstance(flow, RealNVP):
        raise TypeError(f"flow must be a RealNVP; got {type(flow).__name__}")
    check_positive_int(init_size, "init_size")
    transform = fit.get("transform")
    first = data[: min(len(data), init_size)]
    flow.initialize(first if transform is None else transform(first))
    return fit_likelihood(flow, data, **fit)


# ========================================================================================
# Inverse autoregressive flow (Kingma et al. 2016): a flexible VAE posterior
# ========================================================================================


def _degrees_mask(in_degrees: torch.Tensor, out_degrees: torch.Tensor, strict: bool) -> torch.Tensor:
    """The MADE mask ``(out, in)``: unit ``o`` sees input ``i`` when ``deg(i) < deg(o)`` (strict) or ``<=``."""
    if strict:
        return (in_degrees[None, :] < out_degrees[:, None]).float()
    return (in_degrees[None, :] <= out_degrees[:, None]).float()


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``mask`` of shape ``(out, in)`` (MADE)."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor) -> None:
        super().__init__(in_features, out_features)
        if not torch.is_tensor(mask) or tuple(mask.shape) != (out_features, in_features):
            raise ValueError(f"mask must be a tensor of shape ({out_features}, {in_features}); "
                             f"got {tuple(mask.shape) if torch.is_tensor(mask) else type(mask).__name__}")
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - documented on the class
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class IAFStep(nn.Module):
    """One step of inverse autoregressive flow, in the numerically stable form of Kingma et al. (2016).

    ``(m, s) = MADE(z, h)``, ``sigma = sigmoid(s)``, ``z' = sigma * z + (1 - sigma) * m``, where
    entry ``i`` of ``m`` and ``s`` depends on ``z`` only through entries ``< i`` (and on the
    context ``h`` freely). The Jacobian ``dz'/dz`` is triangular with diagonal ``sigma``, so
    ``log |det| = sum_i log sigma_i``, computed in one pass (the inverse would need ``d``
    passes, which a posterior never needs: it only samples and scores its own samples).

    Args:
        dim: the dimension of ``z`` (at least 1).
        hidden: the width of the MADE's hidden layer.
        context_dim: the dimension of the context ``h`` from the encoder (0 for none).
    """

    def __init__(self, dim: int, hidden: int = 64, context_dim: int = 0) -> None:
        super().__init__()
        for value, name, low in ((dim, "dim", 1), (hidden, "hidden", 1), (context_dim, "context_dim", 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
        self.dim, self.context_dim = dim, context_dim
        in_deg = torch.arange(1, dim + 1)
        hidden_deg = torch.arange(hidden) % max(dim - 1, 1) + 1  # 1 .. dim-1, cycled
        # Output i sees hidden units of degree < i, hence inputs < i; output 1 sees none of z.
        self.hidden = MaskedLinear(dim, hidden, _degrees_mask(in_deg, hidden_deg, strict=False))
        if dim == 1:
            self.hidden.mask.zero_()
        self.context = nn.Linear(context_dim, hidden) if context_dim else None
        out_mask = _degrees_mask(hidden_deg, in_deg, strict=True)
        self.mean = MaskedLinear(hidden, dim, out_mask)
        self.gate = MaskedLinear(hidden, dim, out_mask.clone())
        # sigma starts near sigmoid(2) ~ 0.88: close to the identity, so the flow starts as the Gaussian.
        nn.init.constant_(self.gate.bias, 2.0)
        nn.init.normal_(self.gate.weight, std=1e-3)

    def forward(self, z: torch.Tensor, h: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(z', log |det dz'/dz|)`` for ``z`` of shape ``(..., dim)`` and a context ``h`` of shape
        ``(..., context_dim)``."""
        if not torch.is_tensor(z) or z.shape[-1] != self.dim:
            raise ValueError(f"z must be a tensor of shape (..., {self.dim}); got "
                             f"{tuple(z.shape) if torch.is_tensor(z) else type(z).__name__}")
        a = self.hidden(z)
        if self.context is not None:
            if h is None or h.shape[-1] != self.context_dim:
                raise ValueError(f"h must be a tensor of shape (..., {self.context_dim}); got "
                                 f"{None if h is None else tuple(h.shape)}")
            a = a + self.context(h)
        a = nn.functional.elu(a)
        m, s = self.mean(a), self.gate(a)
        sigma = torch.sigmoid(s)
        return sigma * z + (1 - sigma) * m, nn.functional.logsigmoid(s).sum(dim=-1)


class IAFPosterior(nn.Module):
    """A Gaussian ``N(mu, diag(exp(logvar)))`` followed by ``n_flows`` :class:`IAFStep`, reversing
    the order between steps.

    :meth:`forward` turns standard normal noise into posterior draws and returns their exact
    ``log q(z | x)``: the Gaussian's log-density of the first draw minus the steps' log-determinants.
    """

    def __init__(self, latent_dim: int, context_dim: int = 0, n_flows: int = 2, hidden: int = 64) -> None:
        super().__init__()
        if isinstance(n_flows, bool) or not isinstance(n_flows, int) or n_flows < 0:
            raise ValueError(f"n_flows must be an int >= 0; got {n_flows!r}")
        self.latent_dim = latent_dim
        self.steps = nn.ModuleList(IAFStep(latent_dim, hidden, context_dim) for _ in range(n_flows))

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor,
                h: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Draws ``z`` and ``log q(z | x)`` from noise ``eps`` of shape ``(..., batch, latent_dim)``.

        ``mu``, ``logvar`` (and ``h``) have shape ``(batch, ...)`` and broadcast against ``eps``.
        """
        if mu.shape != logvar.shape or mu.shape[-1] != self.latent_dim:
            raise ValueError(f"mu and logvar must have shape (batch, {self.latent_dim}); "
                             f"got {tuple(mu.shape)} and {tuple(logvar.shape)}")
        if eps.shape[-2:] != mu.shape:
            raise ValueError(f"eps must have shape (..., {', '.join(map(str, mu.shape))}); got {tuple(eps.shape)}")
        z = mu + torch.exp(0.5 * logvar) * eps
        log_q = (standard_normal_log_prob(eps) - 0.5 * logvar).sum(dim=-1)
        if h is not None:
            h = h.expand(*eps.shape[:-1], h.shape[-1])
        for i, step in enumerate(self.steps):
            if i > 0:
                z = z.flip(-1)  # alternate the autoregressive order
            z, log_det = step(z, h)
            log_q = log_q - log_det
        if len(self.steps) % 2 == 0 and len(self.steps) > 0:
            z = z.flip(-1)  # an even number of flips: back to the original order (cosmetic)
        return z, log_q
