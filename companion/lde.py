"""The latent density estimator (LDE) and incremental latent learning (Yoo, Lee and Kwak).

An autoencoder trained without a prior has codes ``z = f(x)`` whose distribution nobody
chose. The paper makes it generative in two steps: it *estimates* that distribution with an
autoregressive density model, the LDE, and it trains the autoencoder so that the codes mean
something, by letting the active part of the latent vector grow during training (the
incremental autoencoder, IAE). This module holds:

* :func:`receptive_field_layers` — ``ceil(log_s D)``, the number of dilated layers;
* :class:`LatentDensityEstimator` — dilated causal 1-D convolutions over the latent
  dimensions (with the padding vector ``p`` and the mask vector ``m``) and a mixture density
  network head: ``log_prob(z)`` is exact and ``sample(n)`` runs over the dimensions in turn;
* :func:`fit_lde` — maximum likelihood with the paper's optimiser (Adam, lr 2e-4, betas (0.5, 0.999));
* :class:`IncrementalAutoencoder`, :func:`make_autoencoder`, :func:`fit_incremental_autoencoder` — a
  deterministic autoencoder whose masked latent dimensions are zero and get no gradient (in
  :mod:`companion.incremental_autoencoder`, re-exported here);
* :class:`GMMN`, :func:`mmd2`, :func:`fit_gmmn` — the moment-matching generator that the
  paper compares with in its Fig. 5 (in :mod:`companion.gmmn`, re-exported here);
* :func:`check_receptive_field_formula`, :func:`check_causality` — auto-checks for the
  chapter's exercises.

Chapter: ``book/latent_density.md``; its experiments: ``companion/experiments/latent_density.py``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.nn import functional as F

from .checks import check_nonnegative_int, check_positive, check_positive_int, check_tensor
from .gmmn import GMMN, fit_gmmn, mmd2
from .incremental_autoencoder import (
    PAPER_AE_LR,
    PAPER_BETAS,
    IncrementalAutoencoder,
    fit_incremental_autoencoder,
    make_autoencoder,
)
from .train import Callback, History, adam, fit_likelihood

__all__ = [
    "GMMN",
    "IncrementalAutoencoder",
    "LatentDensityEstimator",
    "PAPER_AE_LR",
    "PAPER_BETAS",
    "PAPER_LDE_LR",
    "check_causality",
    "check_receptive_field_formula",
    "dilated_causal_conv",
    "fit_incremental_autoencoder",
    "fit_gmmn",
    "fit_lde",
    "make_autoencoder",
    "mmd2",
    "receptive_field_layers",
]

#: The paper's learning rate of the LDE (Appendix A: Adam with betas ``PAPER_BETAS``).
PAPER_LDE_LR = 2e-4

_LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- the LDE


def receptive_field_layers(dim: int, filter_size: int = 2) -> int:
    """The number of dilated causal layers, ``ceil(log_s D)``, that let ``h_D`` see all of ``z_<D``.

    Layer ``l = 0, 1, ...`` has filter size ``s`` and dilation ``s**l``; ``L`` such layers see
    ``1 + sum_l (s - 1) s**l = s**L`` inputs, so ``L`` is the smallest integer with
    ``s**L >= D``. Computed with integers, so ``D = 8, s = 2`` gives exactly 3.

    >>> receptive_field_layers(4, 2), receptive_field_layers(100, 2), receptive_field_layers(63, 3)
    (2, 7, 4)
    """
    dim = check_positive_int(dim, "dim")
    filter_size = check_positive_int(filter_size, "filter_size")
    if filter_size < 2:
        raise ValueError(f"filter_size must be >= 2 (a size-1 filter never widens the view); got {filter_size}")
    layers, seen = 0, 1
    while seen < dim:
        seen *= filter_size
        layers += 1
    return layers


def dilated_causal_conv(conv: nn.Conv1d, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``leaky_relu`` of a causal dilated convolution of ``x`` ``(length, batch, C_in)``, stored positions first.

    Output ``t`` is ``bias[t] + sum_k W_k x[t - (s - 1 - k) d]`` for the filter size ``s`` and
    dilation ``d`` of the unpadded ``nn.Conv1d`` ``conv``; a tap that would read before
    ``x[0]`` reads zero instead, and ``bias`` ``(length, 1, C_out)``, one row per position,
    replaces ``conv.bias``. The result has the shape of ``x`` with ``C_out`` channels.

    Why this form: on a CPU, ``conv1d`` with dilation runs far below the speed of a matrix
    product. With positions first, the input of tap ``k`` shifted by ``r`` positions is the
    contiguous slice ``x[: length - r]``, a ``(rows, C_in)`` matrix, and its output is the
    contiguous slice ``out[r:]``, so each tap is one BLAS product written in place.
    """
    (dilation,), size = conv.dilation, conv.kernel_size[0]
    length, batch, c_in = x.shape
    # the unshifted tap (k = s - 1) covers every output: it allocates ``out``
    out = torch.mm(x.reshape(-1, c_in), conv.weight[:, :, size - 1].T).view(length, batch, conv.out_channels)
    out.add_(bias)
    for k in range(size - 1):
        shift = (size - 1 - k) * dilation
        if shift < length:
            out[shift:].view(-1, conv.out_channels).addmm_(
                x[: length - shift].reshape(-1, c_in), conv.weight[:, :, k].T
            )
    return F.leaky_relu(out, 0.2, inplace=True)


def _layer_widths(channels: Union[int, Sequence[int]], n_layers: int, dim: int, filter_size: int) -> List[int]:
    """The widths of the ``n_layers`` dilated layers of a :class:`LatentDensityEstimator`."""
    if isinstance(channels, int) and not isinstance(channels, bool):
        return [check_positive_int(channels, "channels")] * n_layers
    try:
        widths = [check_positive_int(c, "channels") for c in channels]
    except TypeError:
        raise TypeError(f"channels must be an int or a sequence of positive ints; got {channels!r}") from None
    if len(widths) != n_layers:
        raise ValueError(
            f"channels must hold {n_layers} positive ints (one per dilated layer for dim={dim}, "
            f"filter_size={filter_size}); got {list(channels)}"
        )
    return widths


def _mixture_density_network(width: int, head_layers: int, head_channels: Optional[int],
                             n_components: int) -> Tuple[nn.Sequential, nn.Conv1d]:
    """The hidden 1x1 convolutions of the head and the last one, to ``K`` logits, means and log std devs."""
    head_width = width if head_channels is None else check_positive_int(head_channels, "head_channels")
    head: List[nn.Module] = []
    for _ in range(head_layers):
        head += [nn.Conv1d(width, head_width, 1), nn.LeakyReLU(0.2)]
        width = head_width
    return nn.Sequential(*head), nn.Conv1d(width, 3 * n_components, 1)


def _apply_head(head: nn.Sequential, h: torch.Tensor) -> torch.Tensor:
    """The hidden 1x1 convolutions of the head, as plain linear maps on the last axis of ``h``."""
    for layer in head:
        h = F.linear(h, layer.weight[:, :, 0], layer.bias) if isinstance(layer, nn.Conv1d) else layer(h)
    return h


#: The largest log standard deviation of a component, in standardised units (a scale of 100).
#: Fitted on standardised codes the network never comes near it, but when sampling wanders
#: where it was never trained, an unbounded log sd overflowed ``exp`` and made the codes inf/NaN.
MAX_LOG_SCALE = math.log(100.0)


def _soft_floor(log_sd: torch.Tensor, min_log_scale: float) -> torch.Tensor:
    """A soft floor, ``min + softplus(log_sd - min)`` (it keeps the gradient alive near the floor),
    and the hard ceiling :data:`MAX_LOG_SCALE`."""
    return torch.logaddexp(log_sd, log_sd.new_tensor(min_log_scale)).clamp(max=MAX_LOG_SCALE)


def _mixture_log_density(
    u: torch.Tensor, logits: torch.Tensor, mean: torch.Tensor, log_sd: torch.Tensor
) -> torch.Tensor:
    """``log sum_k w_k N(u; mean_k, sd_k) + log(2 pi) / 2`` with ``w = softmax(logits)``: parameters
    ``(K, positions)``, ``u`` ``(positions,)``, in one pass over ``K``."""
    x = (u - mean).mul_(torch.exp(-log_sd))
    # logsumexp_k(logit_k - log sd_k - x_k^2 / 2) - logsumexp_k(logit_k) - log(2 pi) / 2
    log_joint = (logits - log_sd).addcmul_(x, x, value=-0.5)
    return torch.logsumexp(log_joint, dim=0) - torch.logsumexp(logits, dim=0)


class LatentDensityEstimator(nn.Module):
    """An autoregressive density ``p(z) = prod_i p(z_i | z_<i)`` with Gaussian-mixture conditionals.

    The conditioner is the paper's Fig. 4: the codes, shifted right behind a zero padding
    vector ``p`` of length ``P = s**L``, form channel 0 of a 1-D signal of length ``P + D``;
    channel 1 is the mask vector ``m`` (0 on the padding, 1 on the codes), so a code equal
    to 0 is not confused with padding. ``L = ceil(log_s D)`` *unpadded* dilated convolutions
    (filter size ``s``, dilation ``s**l``) shrink the signal by ``s**L - 1``; output ``i`` then
    sees inputs ``i .. i + P - 1``, which end at ``z_{i-1}``: the feature ``h_i`` depends on
    ``z_<i`` only and on all of it. A mixture density network (1x1 convolutions) turns ``h_i``
    into ``K`` logits, means and log standard deviations.

    The codes are standardised with the buffers ``loc`` and ``scale`` (set by :func:`fit_lde`
    from the training codes); ``log_prob`` includes the Jacobian ``-sum(log scale)``, so it
    is the density of ``z`` itself.

    Args:
        dim: the dimension ``D`` of the codes.
        n_components: the number ``K`` of Gaussians per conditional.
        filter_size: the filter size ``s`` of the dilated convolutions (>= 2).
        channels: the width of the dilated layers: an int (every layer) or one int per layer
            (``L`` of them). The paper's widths ``2**(l+3)`` for ``l = 1 .. L``
            (:meth:`paper_channels`) reach 1024 for ``D = 100``; the default 32 keeps ``log_prob``
            fast on a CPU.
        head_layers: hidden 1x1 convolutions of the mixture density network (the paper: 0,
            a single 1x1 convolution from ``h_i`` to the mixture parameters).
        head_channels: their width (default: the last dilated layer's width).
        min_log_scale: floor of the conditionals' log standard deviations (stability).
        chunk_positions: on a CPU, :meth:`conditional_log_prob` works through the batch in
            chunks of about this many positions (rows times ``D``) to stay in the cache; the
            result does not depend on it.
    """

    log_prob_is_bound = False

    def __init__(
        self,
        dim: int,
        n_components: int = 30,
        filter_size: int = 2,
        channels: Union[int, Sequence[int]] = 32,
        head_layers: int = 0,
        head_channels: Optional[int] = None,
        min_log_scale: float = -7.0,
        chunk_positions: int = 2**14,
    ) -> None:
        super().__init__()
        self.chunk_positions = check_positive_int(chunk_positions, "chunk_positions")
        self.dim = check_positive_int(dim, "dim")
        self.n_components = check_positive_int(n_components, "n_components")
        self.filter_size = check_positive_int(filter_size, "filter_size")
        self.n_layers = receptive_field_layers(self.dim, self.filter_size)
        self.padding = self.filter_size**self.n_layers  # length of p; equals the receptive field
        check_nonnegative_int(head_layers, "head_layers")
        if not math.isfinite(min_log_scale):
            raise ValueError(f"min_log_scale must be finite; got {min_log_scale!r}")
        self.min_log_scale = float(min_log_scale)
        widths = _layer_widths(channels, self.n_layers, self.dim, self.filter_size)
        self.dilated = nn.ModuleList(nn.Conv1d(c_in, c_out, kernel_size=self.filter_size,
                                               dilation=self.filter_size**layer)
                                     for layer, (c_in, c_out) in enumerate(zip([2] + widths[:-1], widths)))
        self.head, self.mdn = _mixture_density_network(widths[-1] if widths else 2, head_layers, head_channels,
                                                       self.n_components)
        self.register_buffer("loc", torch.zeros(self.dim))
        self.register_buffer("scale", torch.ones(self.dim))

    @staticmethod
    def paper_channels(dim: int, filter_size: int = 2) -> List[int]:
        """The paper's widths ``2**(l+3)`` for ``l = 1 .. L`` (Appendix A)."""
        return [2 ** (layer + 3) for layer in range(1, receptive_field_layers(dim, filter_size) + 1)]

    # -- the conditioner ------------------------------------------------------------------

    def padding_biases(self) -> List[torch.Tensor]:
        """Per dilated layer, the part of its pre-activation that comes from the padding: ``(D, 1, C)`` each.

        :meth:`features` runs every layer over ``D`` positions; the padding before them is the
        same for every sample. A convolution is linear, so a layer's output on ``[padding
        part, code part]`` is its output on ``[padding part, 0]``, computed here once for a
        batch of one (conv bias included), plus the bias-free convolution of ``[0, code
        part]``. The padding part shrinks by ``(s - 1) s**l`` per layer, from ``P - 1`` to 0.
        """
        const = self.loc.new_zeros(1, 2, self.padding - 1)  # (batch, channels, length); p = 0 and m = 0
        biases = []
        for conv in self.dilated:
            out = F.conv1d(F.pad(const, (0, self.dim)), conv.weight, conv.bias, dilation=conv.dilation)
            n_const = out.shape[2] - self.dim  # outputs that read the padding only
            biases.append(out[0, :, n_const:].T.unsqueeze(1).contiguous())  # contiguous: a fast broadcast add
            const = F.leaky_relu(out[:, :, :n_const], 0.2)
        return biases

    def features(self, u: torch.Tensor, biases: Optional[Sequence[torch.Tensor]] = None) -> torch.Tensor:
        """The causal features ``h`` of standardised codes ``u``: ``(batch, channels, D)``; ``h_i`` sees ``u_<i``.

        Equal to :meth:`features_full` (the literal Fig. 4) but cheaper. Of Fig. 4's signal,
        ``P`` padding entries and then ``z``, only the last padding entry and ``z_1 .. z_{D-1}``
        are kept, as positions ``0 .. D-1`` (``z_D`` is seen by no conditional). Every layer
        maps these ``D`` positions to ``D`` positions, and output ``j`` of the last layer is
        ``h_{j+1}``, which sees ``z_1 .. z_j``. The rest of the padding is the same for every
        sample: it enters through the per-position ``biases`` of :meth:`padding_biases`
        (computed here unless the caller passes them), so each layer costs ``D`` positions per
        sample instead of up to ``P + D``. The layers compute positions first,
        ``(D, batch, channels)``, for :func:`dilated_causal_conv`; the result is a view of that
        tensor, and ``.permute(2, 0, 1)`` gives it back without a copy.
        """
        x = u.new_zeros(self.dim, u.shape[0], 2)  # position 0: the last padding entry, p = 0 and m = 0
        x[1:, :, 0] = u.T[:-1]
        x[1:, :, 1] = 1.0  # the mask m is 1 on the codes, so a code equal to 0 is not padding
        for conv, bias in zip(self.dilated, self.padding_biases() if biases is None else biases):
            x = dilated_causal_conv(conv, x, bias)
        return x.permute(1, 2, 0)

    def features_full(self, u: torch.Tensor) -> torch.Tensor:
        """The same features computed literally as in Fig. 4 (slower; the reference for :meth:`features`).

        The signal is ``[p, z]`` with the mask ``[0, 1]`` in a second channel, length ``P + D``.
        ``L`` dilated convolutions without padding shrink it by ``s**L - 1 = P - 1``, leaving
        ``D + 1`` outputs; output ``i`` sees inputs ``i .. i + P - 1``, that is ``z_<i`` (1-based),
        and the last output, which sees all of ``z``, is dropped.
        """
        n = u.shape[0]
        signal = torch.cat([u.new_zeros(n, self.padding), u], dim=1)  # [p, z]
        mask = torch.cat([u.new_zeros(self.padding), u.new_ones(self.dim)]).expand(n, -1)  # m
        h = torch.stack([signal, mask], dim=1)
        for conv in self.dilated:
            h = F.leaky_relu(conv(h), 0.2)
        return h[:, :, : self.dim]

    def _mixture(self, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Unnormalised logits, means and floored log sds, ``(..., K)`` each, of features ``h`` ``(..., channels)``."""
        params = F.linear(_apply_head(self.head, h), self.mdn.weight[:, :, 0], self.mdn.bias)
        logits, mean, log_sd = params.unflatten(-1, (3, self.n_components)).unbind(dim=-2)
        return logits, mean, _soft_floor(log_sd, self.min_log_scale)

    def conditionals(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mixture parameters of every conditional ``p(z_i | z_<i)`` in the coordinates of ``z``.

        Returns:
            ``(log_weights, means, log_scales)``, each ``(batch, D, K)``; ``log_weights`` are
            normalised over ``K``.
        """
        z = check_tensor(z, "z", shape=(None, self.dim))
        h = self.features((z - self.loc) / self.scale).transpose(1, 2)
        logits, mean, log_sd = self._mixture(h)  # (batch, D, K) each
        log_w = torch.log_softmax(logits, dim=-1)
        scale = self.scale[:, None]
        return log_w, self.loc[:, None] + scale * mean, log_sd + torch.log(scale)

    # -- the protocol ---------------------------------------------------------------------

    def conditional_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z_i | z_<i)`` for every ``i``: a ``(batch, D)`` tensor (nats).

        On a CPU the batch goes through in chunks of about ``chunk_positions`` positions
        (rows times ``D``): the mixture parameters of 10,000 codes with ``D = 100`` and
        ``K = 30`` take 356 MB, those of a chunk (6 MB by default) stay in the cache. A GPU
        takes the batch whole.
        """
        z = check_tensor(z, "z", shape=(None, self.dim))
        u = (z - self.loc) / self.scale
        biases = self.padding_biases()  # the same for all chunks
        rows = max(1, self.chunk_positions // self.dim) if u.device.type == "cpu" else max(1, len(u))
        log_p = torch.cat([self._standard_conditional_log_prob(chunk, biases) for chunk in u.split(rows)])
        return log_p - (0.5 * _LOG_2PI + torch.log(self.scale))

    def _standard_conditional_log_prob(self, u: torch.Tensor, biases: Sequence[torch.Tensor]) -> torch.Tensor:
        """``log p(u_i | u_<i) + log(2 pi) / 2`` of standardised codes ``u``, ``(batch, D)``."""
        h = self.features(u, biases).permute(2, 0, 1)  # (D, batch, channels), contiguous
        h = _apply_head(self.head, h.reshape(-1, h.shape[2]))
        # the mixture density network transposed: (3K, positions), so that each of the K
        # logits, means and log sds is a contiguous row and the sums over K below run along
        # rows, not over 30 numbers at a time
        params = torch.addmm(self.mdn.bias[:, None], self.mdn.weight[:, :, 0], h.T)
        logits, mean, log_sd = params.view(3, self.n_components, -1).unbind(0)
        log_sd = _soft_floor(log_sd, self.min_log_scale)
        log_p = _mixture_log_density(u.T.reshape(-1), logits, mean, log_sd)  # u positions first, like h
        return log_p.view(self.dim, -1).T

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """The exact log-density ``sum_i log p(z_i | z_<i)`` of codes ``(batch, D)``, in nats."""
        return self.conditional_log_prob(z).sum(dim=1)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """Draw ``n`` codes: dimension by dimension (``D`` passes), all samples at once."""
        n = check_nonnegative_int(n, "n")
        u = self.loc.new_zeros(n, self.dim)
        for i in range(self.dim):
            logits, mean, log_sd = self._mixture(self.features(u)[:, :, i])  # the head at position i only
            k = torch.multinomial(torch.softmax(logits, dim=-1), 1)
            u[:, i] = mean.gather(1, k).squeeze(1) + log_sd.gather(1, k).squeeze(1).exp() * torch.randn_like(u[:, i])
        return self.loc + self.scale * u

    def set_standardization(self, codes: torch.Tensor, eps: float = 1e-6) -> None:
        """Set ``loc``/``scale`` to the mean and standard deviation of ``codes`` (per dimension)."""
        codes = check_tensor(codes, "codes", shape=(None, self.dim))
        if codes.shape[0] < 2:
            raise ValueError("codes must hold at least 2 rows to estimate a scale")
        self.loc.copy_(codes.mean(0))
        self.scale.copy_(codes.std(0).clamp_min(eps))


def fit_lde(
    model: LatentDensityEstimator,
    data: torch.Tensor,
    *,
    n_steps: int,
    batch_size: int = 256,
    lr: float = PAPER_LDE_LR,
    optimizer: Optional[torch.optim.Optimizer] = None,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    betas: Tuple[float, float] = PAPER_BETAS,
    standardize: bool = True,
    max_grad_norm: Optional[float] = 10.0,
    scheduler: Optional[Callable[[torch.optim.Optimizer], Any]] = None,
    desc: str = "LDE",
) -> History:
    """Fit an LDE by maximum likelihood (the paper's Eq. 4: mean NLL per dimension) with
    :func:`companion.train.fit_likelihood`.

    Args:
        model: the estimator (trained in place, on the device of its parameters; left in eval mode).
        data: training codes ``(N, D)``.
        lr, betas: Adam's settings (unless ``optimizer`` is given); the defaults are the
            paper's (2e-4, (0.5, 0.999)).
        standardize: set the model's ``loc``/``scale`` from ``data`` first.
        max_grad_norm: clip the gradient norm (``None``: no clipping).
        scheduler: ``scheduler(optimizer)`` builds a learning-rate schedule stepped every step
            (for example :func:`companion.train.cosine_schedule`; ``None``: a constant rate).
        n_steps, batch_size, optimizer, generator, callback, progress: the package's fit keywords.

    Returns:
        The :class:`~companion.train.History` with ``nll_per_dim`` (nats).
    """
    if not isinstance(model, LatentDensityEstimator):
        raise TypeError(f"model must be a LatentDensityEstimator; got {type(model).__name__}")
    device = next(model.parameters()).device
    data = check_tensor(data, "data", shape=(None, model.dim)).to(device)
    check_positive(lr, "lr")
    if standardize:
        model.set_standardization(data)
    if optimizer is None:
        optimizer = adam(model.parameters(), lr=lr, betas=tuple(betas))
    history = fit_likelihood(model, data, n_steps=n_steps, batch_size=batch_size, optimizer=optimizer,
                             generator=generator, callback=callback, progress=progress, scale=model.dim,
                             loss_name="nll_per_dim", max_grad_norm=max_grad_norm, scheduler=scheduler,
                             log_every=max(1, n_steps // 200), desc=desc)
    model.eval()
    return history


# ----------------------------------------------------------------------------- auto-checks


def check_receptive_field_formula(formula: Callable[[int, int], int], max_dim: int = 300) -> bool:
    """Check a reader's formula for the number of dilated layers ``L(D, s)``.

    ``formula(D, s)`` must give the *smallest* ``L`` whose ``s**L`` inputs cover ``D``
    positions, for every ``D`` up to ``max_dim`` and ``s`` in 2..5.

    Returns:
        ``True``; raises ``AssertionError`` naming the first ``(D, s)`` where it is wrong.
    """
    # check the defining property (the smallest L with s**L >= D) in integers, not a stored answer
    for s in range(2, 6):
        for dim in range(1, max_dim + 1):
            got = formula(dim, s)
            if isinstance(got, bool) or not hasattr(got, "__index__") or got < 0:
                raise AssertionError(f"for D={dim}, s={s} your formula gives {got!r}; expected a non-negative int")
            if s**got < dim:
                raise AssertionError(f"for D={dim}, s={s} your formula gives {got} layers, which see only "
                                     f"{s}**{got} = {s**got} < {dim} inputs")
            if got > 0 and s ** (got - 1) >= dim:
                raise AssertionError(f"for D={dim}, s={s} your formula gives {got} layers, but {got - 1} already see "
                                     f"{s}**{got - 1} = {s ** (got - 1)} >= {dim} inputs. Float logs can round the "
                                     "wrong way at exact powers.")
    return True


def check_causality(conditioner: Callable[[torch.Tensor], torch.Tensor], dim: int, n_trials: int = 3) -> bool:
    """Check that ``conditioner(z)`` (``(batch, dim) -> (batch, dim, ...)``) is autoregressive.

    The parameters of conditional ``i`` (output ``[:, i]``) must not depend on ``z_j`` for
    ``j >= i``, and (a sanity check that the test has teeth) must depend on some earlier
    coordinate for at least one ``i > 0``. The check differentiates every output row with
    respect to the input at random points.

    Returns:
        ``True``; raises ``AssertionError`` naming an offending ``(i, j)`` pair.
    """
    dim = check_positive_int(dim, "dim")
    depends_on_past = False
    for _ in range(n_trials):
        z = torch.randn(1, dim)
        for i in range(dim):
            z_ = z.clone().requires_grad_(True)
            out = conditioner(z_)
            if out.shape[:2] != (1, dim):
                raise AssertionError(f"conditioner must return (batch, {dim}, ...); got {tuple(out.shape)}")
            (grad,) = torch.autograd.grad(out[:, i].sum(), z_, allow_unused=True)
            if grad is None:
                continue
            # a coordinate the output does not depend on gets an exactly zero gradient
            leak = grad[0, i:] != 0
            if leak.any():
                j = i + int(torch.nonzero(leak)[0])
                raise AssertionError(f"the parameters of conditional {i} depend on z_{j} (j >= i): not causal")
            depends_on_past |= bool((grad[0, :i] != 0).any())
    if dim > 1 and not depends_on_past:
        raise AssertionError("no conditional depends on any earlier coordinate: the model is fully factorised")
    return True
