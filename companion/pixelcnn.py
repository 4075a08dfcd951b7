"""PixelCNN: an autoregressive model of discrete images, optionally conditioned on an image.

The joint probability of an image is factorised in raster order (rows top to bottom,
pixels left to right),

    p(x | c) = prod_i prod_k p(x_{i,k} | x_{<i}, x_{i,<k}, c),

where ``i`` runs over pixels, ``k`` over colour channels and ``c`` is an optional
image-shaped conditioning input (in AGAVE, the output f(z) of a VAE decoder).

* :class:`MaskedConv2d` — a convolution whose kernel is zero on the current pixel and every
  later one (mask ``"A"``, the first layer) or on the later ones only (mask ``"B"``, every
  layer after the first), so that the network's output at pixel ``i`` sees only ``x_{<i}``.
* :class:`PixelCNN` — a mask-A convolution, a stack of gated or residual blocks with mask-B
  convolutions, and 1x1 convolutions that output, per pixel and channel, a mixture of
  discretized logistics (:mod:`companion.likelihoods`). Conditioning enters through a stack
  of ordinary (non-masked) convolutions on ``c``, one per layer, added to every layer: this
  keeps the model autoregressive in ``x`` because ``c`` does not depend on ``x``
  (thesis Sec. 3.4.1).
* Channels of one pixel are ordered too: the mean of channel ``k`` gets ``sum_{j<k} a_{kj}
  x_{i,j}`` added (PixelCNN++'s linear coupling, Salimans et al. 2017), so colours within a
  pixel are not independent. For grey images this does nothing.
* Sampling is ancestral: one network evaluation per pixel, ``H * W`` in all. Keep images
  small on a CPU.

Simplification: the stack is a single masked stack, so it has the "blind spot" of the
original PixelCNN (a few pixels up and to the right fall outside the receptive field); the
gated model of van den Oord et al. (2016) removes it with separate vertical and horizontal
stacks. Causality, which is what makes the probabilities correct, holds either way and is
tested with gradients.

Chapter: ``book/agave.md``; its experiments: ``companion/experiments/agave.py`` (introduced in the
preliminaries; the decoder of AGAVE).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from .checks import check_nonnegative_int, check_positive_int
from .likelihoods import (
    discretized_logistic_log_prob,
    discretized_logistic_mixture_log_prob,
    sample_discretized_logistic_mixture,
    unit_to_levels,
)
from .train import Callback, History, fit_likelihood

__all__ = [
    "MaskedConv2d",
    "PixelCNN",
    "PixelCNNBlock",
    "discretized_logistic_log_prob",
    "discretized_logistic_mixture_log_prob",
    "fit_pixelcnn",
    "image_levels",
]

# The discretized logistic's log-scale (in levels) is kept above this: a scale of e^-5
# levels already puts all but 1e-4 of the mass on one level.
MIN_LOG_SCALE = -5.0


def image_levels(x: torch.Tensor, shape: Sequence[int], n_levels: int, name: str = "x") -> torch.Tensor:
    """Check that ``x`` is a batch of images of ``shape`` in ``[0, 1]`` on the lattice ``k / (n_levels - 1)``;
    return its levels ``0 .. n_levels - 1`` as a float tensor (the edge of the PixelCNN family).

    Args:
        x: a float tensor ``(batch, C, H, W)``, as :func:`companion.data.load` returns images.
        shape: the expected ``(C, H, W)``.
        n_levels: the number of levels.
        name: the argument's name, for the error message.

    Raises:
        TypeError: if ``x`` is not a floating-point tensor.
        ValueError: for a wrong shape, values outside ``[0, 1]`` (integer levels, say) or between levels.
    """
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor of images in [0, 1]; got {type(x).__name__}")
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} must have shape (batch, {', '.join(map(str, shape))}); got {tuple(x.shape)}")
    return unit_to_levels(x, n_levels, name)


def _odd_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value % 2 == 0:
        raise ValueError(f"{name} must be an odd positive int; got {value!r}")
    return value


class MaskedConv2d(nn.Conv2d):
    """A 'same'-padded 2-D convolution that only looks at earlier pixels in raster order.

    With the kernel centred on pixel ``(r, s)``, the mask keeps the rows above ``r`` and, in
    row ``r``, the columns left of ``s``; mask ``"B"`` also keeps ``(r, s)`` itself. A first
    layer with mask ``"A"`` followed by any number of mask-``"B"`` layers (and 1x1 layers)
    gives outputs at pixel ``i`` that depend only on pixels ``< i``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: an odd int (square kernels).
        mask_type: ``"A"`` (excludes the centre) or ``"B"`` (includes it).
        bias: whether to add a bias.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str = "B", bias: bool = True
    ) -> None:
        kernel_size = _odd_positive_int(kernel_size, "kernel_size")
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B'; got {mask_type!r}")
        super().__init__(
            check_positive_int(in_channels, "in_channels"),
            check_positive_int(out_channels, "out_channels"),
            kernel_size,
            padding=kernel_size // 2,
            bias=bias,
        )
        self.mask_type = mask_type
        centre = kernel_size // 2
        mask = torch.ones(kernel_size, kernel_size)
        mask[centre, centre + (mask_type == "B"):] = 0  # the current pixel (A) and those right of it
        mask[centre + 1:, :] = 0  # every row below
        self.register_buffer("mask", mask[None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - documented on the class
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    def extra_repr(self) -> str:  # noqa: D102
        return super().extra_repr() + f", mask_type={self.mask_type!r}"


class PixelCNNBlock(nn.Module):
    """One residual layer of the PixelCNN: a mask-B convolution plus the conditioning.

    ``kind="gated"``: ``h + W_o(tanh(a) * sigmoid(b))`` with ``(a, b)`` the two halves of a
    masked convolution of ``h`` plus a 1x1 projection of the conditioning features (the gated
    activation of van den Oord et al. 2016). ``kind="residual"``: ``h + W_o(relu(conv(relu(h)) + cond))``.

    Args:
        channels: feature channels of the stack.
        kernel_size: odd size of the masked convolution.
        kind: ``"gated"`` or ``"residual"``.
        cond_channels: channels of the conditioning features (0 for none).
    """

    def __init__(self, channels: int, kernel_size: int = 3, kind: str = "gated", cond_channels: int = 0) -> None:
        super().__init__()
        if kind not in ("gated", "residual"):
            raise ValueError(f"kind must be 'gated' or 'residual'; got {kind!r}")
        self.kind = kind
        width = 2 * channels if kind == "gated" else channels
        self.conv = MaskedConv2d(channels, width, kernel_size, "B")
        self.cond = nn.Conv2d(cond_channels, width, 1) if cond_channels else None
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, h: torch.Tensor, cond: Optional[torch.Tensor] = None,  # noqa: D102 - documented on the class
                cond_term: Optional[torch.Tensor] = None) -> torch.Tensor:
        # cond_term: self.cond(cond) computed beforehand (sampling reuses it for every pixel)
        a = self.conv(h if self.kind == "gated" else F.relu(h))
        if self.cond is not None:
            a = a + (self.cond(cond) if cond_term is None else cond_term)
        if self.kind == "gated":
            t, s = a.chunk(2, dim=1)
            a = torch.tanh(t) * torch.sigmoid(s)
        else:
            a = F.relu(a)
        return h + self.out(a)


class PixelCNN(nn.Module):
    """A PixelCNN over discrete images with a discretized-logistic mixture output.

    It takes and returns images in ``[0, 1]`` on the lattice ``k / (n_levels - 1)`` (the
    package's one image scale, :data:`companion.protocol.IMAGE_SCALE`) and works in levels
    inside (:func:`image_levels`).

    Args:
        shape: the image shape ``(C, H, W)``.
        n_levels: levels per value (256 for 8-bit images, 17 for the book's digits).
        channels: feature channels of the masked stack.
        n_blocks: number of :class:`PixelCNNBlock` after the first (mask-A) layer.
        kind: ``"gated"`` or ``"residual"`` blocks.
        first_kernel: odd kernel size of the mask-A layer.
        kernel_size: odd kernel size of the mask-B layers.
        n_mixtures: components of the discretized-logistic mixture per value.
        cond_channels: channels of the image-shaped conditioning input (0: unconditional).
            The conditioning must have the image's height and width (upsample it first).

    The model follows the book's density protocol: :meth:`log_prob` is exact (in nats, of the
    discrete image) and :meth:`sample` draws images on the same lattice.
    """

    log_prob_is_bound = False

    def __init__(
        self,
        shape: Sequence[int],
        n_levels: int = 256,
        channels: int = 64,
        n_blocks: int = 5,
        kind: str = "gated",
        first_kernel: int = 5,
        kernel_size: int = 3,
        n_mixtures: int = 3,
        cond_channels: int = 0,
    ) -> None:
        super().__init__()
        if len(tuple(shape)) != 3:
            raise ValueError(f"shape must be (C, H, W); got {tuple(shape)!r}")
        self.shape = tuple(check_positive_int(s, "shape entries") for s in shape)
        if isinstance(n_levels, bool) or not isinstance(n_levels, int) or n_levels < 2:
            raise ValueError(f"n_levels must be an int >= 2; got {n_levels!r}")
        n_blocks = check_nonnegative_int(n_blocks, "n_blocks")
        self.n_levels = n_levels
        self.n_mixtures = check_positive_int(n_mixtures, "n_mixtures")
        self.cond_channels = cond_channels = check_nonnegative_int(cond_channels, "cond_channels")
        channels = check_positive_int(channels, "channels")
        c = self.shape[0]
        self.input = MaskedConv2d(c, channels, first_kernel, "A")
        self.blocks = nn.ModuleList(
            PixelCNNBlock(channels, kernel_size, kind, cond_channels=channels if cond_channels else 0)
            for _ in range(n_blocks)
        )
        if cond_channels:
            # The conditioning stream: ordinary convolutions, one per layer of the masked
            # stack; layer l of the stack receives the features of layer l of this stream.
            self.cond_input = nn.Conv2d(cond_channels, channels, 3, padding=1)
            self.cond_first = nn.Conv2d(channels, channels, 1)
            self.cond_stream = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(n_blocks))
        # Per value: K logits, K means, K log-scales; per pixel: K couplings a_{kj}, j < k.
        self.n_couplings = c * (c - 1) // 2
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv2d(channels, self.n_mixtures * (3 * c + self.n_couplings), 1),
        )
        # channels-last weights: on a CPU oneDNN runs this stack's convolutions (tens of channels on small
        # images) about 1.1-1.15x faster per training step in that layout (benchmarks/channels_last.py); only
        # the rounding differs
        self.to(memory_format=torch.channels_last)

    # -- the network -------------------------------------------------------------------
    def _check_cond(self, cond: Optional[torch.Tensor], batch: int) -> Optional[torch.Tensor]:
        if self.cond_channels == 0:
            if cond is not None:
                raise ValueError("this PixelCNN is unconditional (cond_channels=0); do not pass cond")
            return None
        if cond is None:
            raise ValueError(f"this PixelCNN is conditional: pass cond of shape (batch, {self.cond_channels}, H, W)")
        if not torch.is_tensor(cond):
            raise TypeError(f"cond must be a torch.Tensor; got {type(cond).__name__}")
        expected = (batch, self.cond_channels) + self.shape[1:]
        if tuple(cond.shape) != expected:
            raise ValueError(f"cond must have shape {expected}; got {tuple(cond.shape)}")
        if not torch.isfinite(cond).all():
            raise ValueError("cond contains NaN or infinite values")
        return cond

    def forward(self, x: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The raw output ``(batch, K * (3C + C(C-1)/2), H, W)`` for images ``x`` in ``[0, 1]``.

        The output at pixel ``i`` depends on ``x`` only through pixels ``< i``.
        """
        return self._output(image_levels(x, self.shape, self.n_levels), cond)

    def _output(self, x_levels: torch.Tensor, cond: Optional[torch.Tensor]) -> torch.Tensor:
        cond = self._check_cond(cond, x_levels.shape[0])
        return self.masked_stack(x_levels, None if cond is None else self.conditioning_terms(cond))

    def conditioning_terms(self, cond: torch.Tensor) -> List[torch.Tensor]:
        """What the conditioning adds to each layer of the masked stack (the input layer, then each block).

        The conditioning stream does not depend on ``x``, so sampling computes it once per image.
        """
        c = F.relu(self.cond_input(cond))
        terms = [self.cond_first(c)]
        for layer, block in enumerate(self.blocks):
            c = F.relu(self.cond_stream[layer](c))
            terms.append(block.cond(c))
        return terms

    def masked_stack(self, x: torch.Tensor, cond_terms: Optional[List[torch.Tensor]]) -> torch.Tensor:
        """The masked stack and the head on levels ``x``, given the conditioning's terms (or ``None``)."""
        h = self.input(2 * x / (self.n_levels - 1) - 1)  # levels to [-1, 1]
        if cond_terms is not None:
            h = h + cond_terms[0]
        for layer, block in enumerate(self.blocks):
            h = block(h, cond_term=None if cond_terms is None else cond_terms[layer + 1])
        return self.head(h)

    def _mixture(self, out: torch.Tensor, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-value mixture parameters ``(logits, means, log_scales)``, each ``(B, C, H, W, K)``.

        Means are in levels; the mean of channel ``k`` includes the coupling with the
        observed channels ``j < k`` of the same pixel.
        """
        b, _, h, w = out.shape
        c, k = self.shape[0], self.n_mixtures
        out = out.view(b, k, 3 * c + self.n_couplings, h, w).permute(0, 2, 3, 4, 1)  # (B, P, H, W, K)
        logits, raw_means, raw_scales = out[:, :c], out[:, c:2 * c], out[:, 2 * c:3 * c]
        half = (self.n_levels - 1) / 2
        means = (raw_means + 1) * half  # the network works in [-1, 1], the likelihood in levels
        if c > 1:
            coupling = torch.tanh(out[:, 3 * c:])  # (B, C(C-1)/2, H, W, K)
            extra = [torch.zeros_like(means[:, 0])]
            index = 0
            for ch in range(1, c):
                term = 0
                for prev in range(ch):
                    term = term + coupling[:, index] * (x[:, prev, :, :, None] - half)
                    index += 1
                extra.append(term)
            means = means + torch.stack(extra, dim=1)
        log_scales = (raw_scales + math.log(half)).clamp(min=MIN_LOG_SCALE)
        return logits, means, log_scales

    # -- the density protocol ----------------------------------------------------------
    def log_prob_elements(self, x: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Per-value ``log p(x_{i,k} | x_{<i}, x_{i,<k}, cond)`` in nats, shape ``(B, C, H, W)``."""
        levels = image_levels(x, self.shape, self.n_levels)
        logits, means, log_scales = self._mixture(self._output(levels, cond), levels)
        return discretized_logistic_mixture_log_prob(levels, logits, means, log_scales, self.n_levels)

    def log_prob(self, x: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Exact ``log p(x | cond)`` of each image, in nats, shape ``(batch,)``.

        Args:
            x: ``(batch, C, H, W)`` images in ``[0, 1]`` on the lattice ``k / (n_levels - 1)``.
            cond: ``(batch, cond_channels, H, W)`` if the model is conditional, else ``None``.

        Raises:
            ValueError: for values outside ``[0, 1]`` or between levels, wrong shapes, a missing
                or unexpected ``cond``.
        """
        return self.log_prob_elements(x, cond).flatten(1).sum(dim=1)

    @torch.no_grad()
    def sample(
        self, n: int, cond: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None
    ) -> torch.Tensor:
        """Draw ``n`` images by ancestral sampling, pixel by pixel (``H * W`` network passes).

        Args:
            n: number of images (must equal ``cond.shape[0]`` when conditional).
            cond: the conditioning images, or ``None`` for an unconditional model.
            generator: an optional torch generator for repeatable draws.

        Returns:
            Images ``(n, C, H, W)`` in ``[0, 1]`` on the lattice ``k / (n_levels - 1)``.
        """
        n = check_positive_int(n, "n")
        self._check_cond(cond, n)
        param = next(self.parameters())
        c, height, width = self.shape
        x = torch.zeros(n, c, height, width, device=param.device)
        terms = None if cond is None else self.conditioning_terms(cond)  # the same for every pixel: once
        for r in range(height):
            # Pixel (r, s) depends only on rows <= r (the masks hide every row below), so the
            # stack runs on those rows alone: the result is the same, at about half the cost.
            rows = None if terms is None else [t[:, :, :r + 1] for t in terms]
            for s in range(width):
                out = self.masked_stack(x[:, :, :r + 1], rows)[:, :, r:r + 1, s:s + 1]
                for ch in range(c):  # channels of a pixel in order: later means use earlier values
                    logits, means, log_scales = self._mixture(out, x[:, :, r:r + 1, s:s + 1])
                    x[:, ch, r, s] = sample_discretized_logistic_mixture(
                        logits[:, ch, 0, 0], means[:, ch, 0, 0], log_scales[:, ch, 0, 0], self.n_levels, generator
                    )
        return x / (self.n_levels - 1)


def fit_pixelcnn(
    model: PixelCNN,
    data: torch.Tensor,
    *,
    n_steps: int = 1000,
    batch_size: int = 32,
    lr: float = 2e-3,
    optimizer: Optional[torch.optim.Optimizer] = None,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    log_every: int = 10,
    desc: str = "PixelCNN",
) -> History:
    """Train an unconditional ``model`` on images ``data`` in ``[0, 1]`` by maximum likelihood
    (:func:`companion.train.fit_likelihood`; the keywords are the package's fit keywords).

    Records the training ``nll`` (nats per image, batch mean) in the returned
    :class:`~companion.train.History`.
    """
    if not isinstance(model, PixelCNN):
        raise TypeError(f"model must be a PixelCNN; got {type(model).__name__}")
    if model.cond_channels:
        raise ValueError("fit_pixelcnn trains unconditional models; this one has cond_channels > 0")
    device = next(model.parameters()).device
    image_levels(data, model.shape, model.n_levels, "data")  # checked once here, converted per batch
    data = data.to(device)
    return fit_likelihood(model, data, n_steps=n_steps, batch_size=batch_size, lr=lr, optimizer=optimizer,
                          generator=generator, callback=callback, progress=progress, log_every=log_every, desc=desc,
                          shard=True)  # torchrun: this process's share of each batch, DDP averages the gradients
