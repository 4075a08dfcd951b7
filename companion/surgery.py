"""ELBO surgery: how far the aggregate posterior q(z) is from the prior p(z).

Hoffman and Johnson's decomposition of the ELBO's KL term (Rosca et al. 2018, eq. 5),

    E_x KL[q(z|x) || p(z)] = KL[q(z) || p(z)] + I[x; z],    q(z) = (1/N) sum_n q(z|x_n),

splits the penalty a VAE pays into the *marginal KL* (how badly the aggregate posterior
misses the prior) and the *mutual information* between the data index and the code. This
module estimates every term from the posterior parameters of a Gaussian encoder, so it works
for any VAE that returns ``(mu, logvar)``:

* :func:`average_kl` — the left-hand side, in closed form;
* :func:`aggregate_posterior_log_prob` — log q(z) for the whole data set's mixture, in
  chunks on the tensors' device;
* :func:`marginal_kl_mc` — KL[q(z)||p(z)] by Monte Carlo (App. E.1, Alg. 2);
* :func:`mutual_information` — I[x; z], which can never exceed log N;
* :func:`marginal_kl_mc_flow`, :func:`average_kl_flow` — the same terms for flow posteriors
  z = g(u), u ~ N(mu_n, s_n^2), with a flow g shared by all examples (the information is
  unchanged by g);
* :func:`linear_gaussian_surgery` — all three terms in closed form for a linear-Gaussian
  encoder on Gaussian data (the exact case the estimators are checked against);
* :func:`low_posterior_latents` — prior samples where q(z) is smallest (App. A, Alg. 1);
* :func:`check_aggregate_log_prob` — the auto-check of the chapter's exercise.

The prior is the standard normal N(0, I) throughout, as in the paper. The same marginal KL
from a learned model (a classifier's logits, App. E.2, or a density model of q(z), App. E.3)
is in :mod:`companion.learned_kl`; the VAE with a flow posterior is
:class:`companion.flow_posterior.FlowPosteriorVAE`.

Chapter: ``book/elbo_surgery.md``; its experiments: ``companion/experiments/elbo_surgery.py``
(an index of the chapter's experiment modules).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from .checks import check_positive_int, check_tensor
from .logspace import logsumexp_rows_

__all__ = [
    "aggregate_posterior_log_prob",
    "check_aggregate_log_prob",
    "average_kl",
    "average_kl_flow",
    "gaussian_kl",
    "linear_gaussian_surgery",
    "low_posterior_latents",
    "marginal_kl_mc",
    "marginal_kl_mc_flow",
    "mutual_information",
    "standard_normal_log_prob",
]

LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------- input checks
def _check_matrix(name: str, value: Any) -> None:
    check_tensor(value, name, shape=(None, None))
    if value.numel() == 0:
        raise ValueError(f"{name} must have shape (N, latent_dim) with N, latent_dim >= 1; got {tuple(value.shape)}")


def _check_posteriors(mu: Any, logvar: Any) -> None:
    _check_matrix("mu", mu)
    _check_matrix("logvar", logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape; got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if mu.device != logvar.device:
        raise ValueError(f"mu and logvar must be on the same device; got {mu.device} and {logvar.device}")


def _check_generator(generator: Any) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")


def _randn(shape: Tuple[int, ...], like: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Standard normal noise on ``like``'s device, drawn from ``generator`` when given."""
    if generator is None:
        return torch.randn(shape, device=like.device, dtype=like.dtype)
    noise = torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype)
    return noise.to(like.device)


# --------------------------------------------------------------------------- closed forms
def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension, in nats."""
    if not torch.is_tensor(z) or z.dim() < 1:
        raise TypeError("z must be a tensor with a last (latent) dimension")
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL[N(mu, diag(exp(logvar))) || N(0, I)] for each row, in nats (shape ``(N,)``)."""
    _check_posteriors(mu, logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def average_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The ELBO's KL term averaged over the data: (1/N) sum_n KL[q(z|x_n) || N(0, I)].

    Args:
        mu, logvar: posterior means and log-variances, shape ``(N, latent_dim)``.

    Returns:
        A 0-dim tensor in nats: the left-hand side of eq. 5.
    """
    return gaussian_kl(mu, logvar).mean()


# --------------------------------------------------------------------------- Monte Carlo
def aggregate_posterior_log_prob(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    chunk_size: int = 128,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """log q(z) for q(z) = (1/N) sum_n N(z; mu_n, diag(exp(logvar_n))), for every row of ``z``.

    The N x latent_dim work per latent is done as matrix products, using
    (z - mu)^2 / s^2 = z^2 / s^2 - 2 z mu / s^2 + mu^2 / s^2, over chunks of ``chunk_size``
    latents, followed by a logsumexp over all N components. ``dtype`` (float64 by default)
    keeps the cancellation in that expansion harmless; MPS has no float64, so float32 is
    used there.

    Args:
        z: latents, shape ``(M, latent_dim)``.
        mu, logvar: the N posteriors' parameters, shape ``(N, latent_dim)``.
        chunk_size: how many latents go through one matrix product (memory is
            ``chunk_size * N`` numbers).
        dtype: the floating-point type of the computation.

    Returns:
        ``(M,)`` tensor of log q(z), in the dtype of ``z``.
    """
    _check_posteriors(mu, logvar)
    _check_matrix("z", z)
    if z.shape[1] != mu.shape[1]:
        raise ValueError(f"z has latent_dim {z.shape[1]} but the posteriors have {mu.shape[1]}")
    check_positive_int(chunk_size, "chunk_size")
    if mu.device.type == "mps":
        dtype = torch.float32
    out_dtype = z.dtype
    z = z.to(device=mu.device, dtype=dtype)
    mu, logvar = mu.to(dtype), logvar.to(dtype)
    precision = torch.exp(-logvar)  # (N, d)
    weighted_mu = mu * precision  # (N, d)
    # Everything in log N(z; mu_n, s_n^2) that does not depend on z, one number per n.
    constant = -0.5 * ((mu * weighted_mu).sum(-1) + logvar.sum(-1) + mu.shape[1] * LOG_2PI)
    log_n = math.log(mu.shape[0])
    pieces = []
    for start in range(0, z.shape[0], chunk_size):
        zc = z[start : start + chunk_size]
        # log N(z; mu_n, s_n^2) for the chunk and every n: constant - z^2/(2 s^2) + z mu / s^2.
        log_components = torch.addmm(constant, zc.pow(2), precision.T, alpha=-0.5)
        log_components.addmm_(zc, weighted_mu.T)  # (chunk, N)
        # in place and floored where nothing needs a gradient: narrow posteriors put most terms far
        # below each row's largest, where exp is slow (companion.logspace)
        lse = torch.logsumexp(log_components, dim=1) if log_components.requires_grad else logsumexp_rows_(
            log_components)
        pieces.append(lse - log_n)
    return torch.cat(pieces).to(out_dtype)


def _sample_posteriors(
    mu: torch.Tensor, logvar: torch.Tensor, n_z: int, generator: Optional[torch.Generator]
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``n_z`` latents z_i ~ q(z|x_{n_i}), stratified over the data: every posterior gets
    the same number of samples, up to one. Returns ``(z, n_i)``. (``mu``, ``logvar``: checked by the caller.)"""
    check_positive_int(n_z, "n_z")
    _check_generator(generator)
    n = mu.shape[0]
    if generator is None:
        order = torch.randperm(n)
    else:
        order = torch.randperm(n, generator=generator, device=generator.device).cpu()
    index = order.repeat(n_z // n + 1)[:n_z].to(mu.device)
    eps = _randn((n_z, mu.shape[1]), mu, generator)
    return mu[index] + torch.exp(0.5 * logvar[index]) * eps, index


def marginal_kl_mc(mu: torch.Tensor, logvar: torch.Tensor, n_z: int, generator: Optional[torch.Generator] = None,
                   chunk_size: int = 128) -> torch.Tensor:
    """KL[q(z) || N(0, I)] by Monte Carlo over the whole data set (App. E.1, Alg. 2).

    Draws ``n_z`` latents z_i ~ q(z|x_i) (stratified over the N posteriors), evaluates the
    aggregate posterior log q(z_i) = logsumexp_n log q(z_i|x_n) - log N exactly over all N
    posteriors, and averages log q(z_i) - log p(z_i). Alg. 2 in the paper omits the
    ``- log N``; without it the estimate is too large by exactly log N.

    Args:
        mu, logvar: posterior parameters of the whole data set, shape ``(N, latent_dim)``.
        n_z: number of Monte Carlo latents.
        generator: optional ``torch.Generator`` for repeatable samples.
        chunk_size: see :func:`aggregate_posterior_log_prob`.

    Returns:
        A 0-dim tensor in nats.
    """
    _check_posteriors(mu, logvar)
    z, _ = _sample_posteriors(mu, logvar, n_z, generator)
    log_q = aggregate_posterior_log_prob(z, mu, logvar, chunk_size=chunk_size)
    return (log_q - standard_normal_log_prob(z)).mean()


def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, n_z: int, generator: Optional[torch.Generator] = None,
                       chunk_size: int = 128) -> torch.Tensor:
    """I[x; z] under q(x, z) = (1/N) q(z|x_n): the second term of eq. 5.

    Estimated from the same kind of samples as :func:`marginal_kl_mc`, term by term:
    mean_i [log q(z_i|x_{n_i}) - log q(z_i)]. Because the mixture q(z_i) contains the
    component q(z_i|x_{n_i}) with weight 1/N, every term is at most log N, so the estimate
    obeys the bound I <= log N exactly, not only on average. (Its expectation equals
    average KL - marginal KL.) Fed with a minibatch of B posteriors, the same estimator
    cannot exceed log B, which is why minibatch estimates understate the information.

    Returns:
        A 0-dim tensor in nats, in [.., log N] (it can dip below 0 by Monte Carlo noise
        only when the true value is near 0).
    """
    _check_posteriors(mu, logvar)
    z, index = _sample_posteriors(mu, logvar, n_z, generator)
    # Both terms in float64, so that rounding cannot push a term past log N.
    z64, m, lv = z.double(), mu[index].double(), logvar[index].double()
    log_q_given_x = -0.5 * (((z64 - m) ** 2) * torch.exp(-lv) + lv + LOG_2PI).sum(-1)
    log_q = aggregate_posterior_log_prob(z64, mu, logvar, chunk_size=chunk_size)
    return (log_q_given_x - log_q).mean().to(mu.dtype)


# --------------------------------------------------------------------------- flow posteriors
def _check_flow(flow: Any, latent_dim: int) -> None:
    if not isinstance(flow, nn.Module):
        raise TypeError(f"flow must be an nn.Module with forward(u) -> (z, logdet); got {type(flow).__name__}")
    shape = getattr(flow, "shape", None)
    if shape is not None and tuple(shape) != (latent_dim,):
        raise ValueError(
            f"flow must act on vectors of shape ({latent_dim},) like the posteriors; got shape {tuple(shape)}"
        )
    # An ActNorm that has not seen data would initialise itself on the Monte Carlo latents,
    # silently changing the posterior being measured.
    if any(not bool(b) for name, b in flow.named_buffers() if name.split(".")[-1] == "initialized"):
        raise ValueError("flow has uninitialised ActNorm layers; run it once on data (e.g. flow.initialize(u)) first")


def _push_through_flow(flow: nn.Module, u: torch.Tensor, batch: int = 4096) -> Tuple[torch.Tensor, torch.Tensor]:
    """``z = g(u)`` and ``log|det dz/du|`` in the flow's dtype and device, returned in float64 on ``u``'s device."""
    param = next(flow.parameters(), None)
    dtype = param.dtype if param is not None else u.dtype
    device = param.device if param is not None else u.device
    zs, logdets = [], []
    for chunk in u.split(batch):
        z, logdet = flow(chunk.to(device=device, dtype=dtype))
        if z.shape != chunk.shape or logdet.shape != (chunk.shape[0],):
            raise ValueError(
                f"flow(u) must return (z, logdet) of shapes {tuple(chunk.shape)} and ({chunk.shape[0]},); "
                f"got {tuple(z.shape)} and {tuple(logdet.shape)}"
            )
        zs.append(z)
        logdets.append(logdet)
    return torch.cat(zs).to(u.device, torch.float64), torch.cat(logdets).to(u.device, torch.float64)


@torch.no_grad()
def marginal_kl_mc_flow(mu: torch.Tensor, logvar: torch.Tensor, flow: nn.Module, n_z: int,
                        generator: Optional[torch.Generator] = None, chunk_size: int = 128) -> torch.Tensor:
    """KL[q(z) || N(0, I)] by Monte Carlo for flow posteriors z = g(u), u ~ N(mu_n, diag(exp(logvar_n))).

    A flow ``g`` shared by all examples maps the encoder's Gaussian to the posterior, so
    log q(z|x_n) = log N(u; mu_n, s_n^2) - log|det dg/du| with u = g^{-1}(z). The Jacobian
    term does not depend on n, so the aggregate posterior is the Gaussian mixture of
    :func:`aggregate_posterior_log_prob`, evaluated at u, minus the same term:

        log q(z) = log q_u(u) - log|det dg/du|.

    The estimate averages log q(z_i) - log p(z_i) over ``n_z`` latents drawn as in
    :func:`marginal_kl_mc` and pushed through ``g``. (The mutual information needs no flow
    version: it is invariant to an invertible map of z, and
    :func:`mutual_information` on ``(mu, logvar)`` is already the right estimate.) It is an
    evaluation: no gradient flows through it.

    Args:
        mu, logvar: the base Gaussians' parameters for the whole data set, shape ``(N, d)``.
        flow: an ``nn.Module`` with ``flow(u) -> (z, log|det dz/du|)`` on ``(B, d)``, such as
            :class:`companion.flows.RealNVP` with ``shape=(d,)`` (its ``forward`` direction).
        n_z: number of Monte Carlo latents.
        generator: optional ``torch.Generator`` for repeatable samples.
        chunk_size: see :func:`aggregate_posterior_log_prob`.

    Returns:
        A 0-dim tensor in nats, in the dtype of ``mu``. With the identity flow it equals
        :func:`marginal_kl_mc` for the same generator state.
    """
    _check_posteriors(mu, logvar)
    _check_flow(flow, mu.shape[1])
    u, _ = _sample_posteriors(mu, logvar, n_z, generator)
    z, logdet = _push_through_flow(flow, u)
    log_q_u = aggregate_posterior_log_prob(u.double(), mu, logvar, chunk_size=chunk_size)
    return (log_q_u - logdet - standard_normal_log_prob(z)).mean().to(mu.dtype)


@torch.no_grad()
def average_kl_flow(mu: torch.Tensor, logvar: torch.Tensor, flow: nn.Module, n_z: int,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """(1/N) sum_n KL[q(z|x_n) || N(0, I)] for flow posteriors z = g(u), u ~ N(mu_n, diag(exp(logvar_n))).

    No longer closed form. With the change of variables, and adding and subtracting
    log p(u),

        KL[q(z|x_n) || p] = KL[N(mu_n, s_n^2) || p] + E_u[log p(u) - log p(g(u)) - log|det dg/du|]:

    the Gaussian KL is exact (:func:`gaussian_kl`) and only the correction for the flow is
    estimated, from ``n_z`` latents drawn as in :func:`marginal_kl_mc` (every posterior
    equally often, up to one). The correction is exactly 0 for the identity flow and small
    for a flow near it, so its Monte Carlo noise is much smaller than that of the whole KL.
    No gradient flows through the estimate.

    Args:
        mu, logvar, flow, n_z, generator: as in :func:`marginal_kl_mc_flow`.

    Returns:
        A 0-dim tensor in nats, in the dtype of ``mu``: the left-hand side of eq. 5 for
        this posterior family.
    """
    _check_posteriors(mu, logvar)
    _check_flow(flow, mu.shape[1])
    u, _ = _sample_posteriors(mu, logvar, n_z, generator)
    z, logdet = _push_through_flow(flow, u)
    u = u.double()
    correction = standard_normal_log_prob(u) - standard_normal_log_prob(z) - logdet
    return (gaussian_kl(mu.double(), logvar.double()).mean() + correction.mean()).to(mu.dtype)


def linear_gaussian_surgery(
    weight: torch.Tensor,
    bias: torch.Tensor,
    posterior_var: torch.Tensor,
    data_mean: torch.Tensor,
    data_cov: torch.Tensor,
) -> Dict[str, float]:
    """Every term of eq. 5 in closed form for a linear-Gaussian encoder on Gaussian data.

    With data x ~ N(m, C) and encoder q(z|x) = N(W x + b, diag(s2)) (for example the exact
    posterior of probabilistic PCA), the aggregate posterior is Gaussian,
    q(z) = N(W m + b, W C W^T + diag(s2)), so that

    * average KL = 0.5 [tr S + |W m + b|^2 + tr(W C W^T) - k - log det S],
    * marginal KL = KL[N(W m + b, Sigma_q) || N(0, I)],
    * I[x; z] = 0.5 [log det Sigma_q - log det S]  (continuous data: no log N cap).

    Args:
        weight: ``(k, D)``; bias: ``(k,)``; posterior_var: ``(k,)`` positive;
        data_mean: ``(D,)``; data_cov: ``(D, D)`` symmetric positive definite.

    Returns:
        ``{"average_kl", "marginal_kl", "mutual_information"}`` in nats.
    """
    k, d = check_tensor(weight, "weight", shape=(None, None)).shape
    check_tensor(bias, "bias", shape=(k,))
    check_tensor(posterior_var, "posterior_var", shape=(k,))
    check_tensor(data_mean, "data_mean", shape=(d,))
    check_tensor(data_cov, "data_cov", shape=(d, d))
    if bool((posterior_var <= 0).any()):
        raise ValueError("posterior_var must be positive")
    w, c, s2 = weight.double(), data_cov.double(), posterior_var.double()
    mean_q = w @ data_mean.double() + bias.double()
    spread = w @ c @ w.T  # covariance of the posterior means
    cov_q = spread + torch.diag(s2)
    logdet_s = torch.log(s2).sum()
    logdet_q = torch.linalg.slogdet(cov_q)[1]
    average = 0.5 * (s2.sum() + mean_q @ mean_q + torch.trace(spread) - k - logdet_s)
    marginal = 0.5 * (torch.trace(cov_q) + mean_q @ mean_q - k - logdet_q)
    return {
        "average_kl": float(average),
        "marginal_kl": float(marginal),
        "mutual_information": float(0.5 * (logdet_q - logdet_s)),
    }


# --------------------------------------------------------------------------- where q(z) misses p(z)
def low_posterior_latents(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    n_candidates: int,
    n: int,
    generator: Optional[torch.Generator] = None,
    chunk_size: int = 128,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Prior samples on which the aggregate posterior is smallest (App. A, Alg. 1).

    Draws ``n_candidates`` latents from N(0, I), scores each by log q(z) over the whole data
    set, and keeps the ``n`` lowest. Decoding them gives the paper's "low posterior samples":
    latents the prior proposes but no training example encodes to.

    Returns:
        ``(z, log_q)``: the ``n`` latents, shape ``(n, d)``, and their log q(z), ascending.
    """
    _check_posteriors(mu, logvar)
    check_positive_int(n_candidates, "n_candidates")
    check_positive_int(n, "n")
    if n > n_candidates:
        raise ValueError(f"n ({n}) cannot exceed n_candidates ({n_candidates})")
    _check_generator(generator)
    candidates = _randn((n_candidates, mu.shape[1]), mu, generator)
    log_q = aggregate_posterior_log_prob(candidates, mu, logvar, chunk_size=chunk_size)
    lowest = torch.argsort(log_q)[:n]
    return candidates[lowest], log_q[lowest]


# --------------------------------------------------------------------------- exercise check
def check_aggregate_log_prob(fn: Any, n_trials: int = 3, tol: float = 1e-3) -> bool:
    """Auto-check for the chapter's exercise: does ``fn(z, mu, logvar)`` compute log q(z)?

    ``fn`` must return, for each row of ``z`` (shape ``(M, d)``), the log density of the
    mixture (1/N) sum_n N(z; mu_n, diag(exp(logvar_n))) (``mu``, ``logvar``: ``(N, d)``).
    It is compared with :func:`aggregate_posterior_log_prob` on random inputs, including
    narrow posteriors far from the origin, where a naive ``log(mean(exp(...)))`` underflows.

    Returns:
        ``True`` when every trial agrees to ``tol`` nats; otherwise raises ``AssertionError``
        saying which trial failed and by how much.
    """
    if not callable(fn):
        raise TypeError("fn must be callable as fn(z, mu, logvar)")
    g = torch.Generator().manual_seed(1234)
    cases = []
    for trial in range(n_trials):
        n, d = 50 + 20 * trial, 2 + trial
        cases.append((torch.randn(n, d, generator=g), 0.5 * torch.randn(n, d, generator=g)))
    cases.append((20.0 + torch.randn(40, 3, generator=g), torch.full((40, 3), math.log(1e-5))))  # underflow trap
    for i, (mu, logvar) in enumerate(cases):
        z = mu[:7] + 0.1 * torch.randn(7, mu.shape[1], generator=g)
        expected = aggregate_posterior_log_prob(z, mu, logvar)
        got = fn(z.clone(), mu.clone(), logvar.clone())
        if not torch.is_tensor(got) or got.shape != expected.shape:
            raise AssertionError(f"trial {i}: expected a tensor of shape {tuple(expected.shape)}; got {got!r}")
        error = float((got.double() - expected.double()).abs().max())
        if not error <= tol:
            raise AssertionError(f"trial {i}: largest error {error:.3g} nats (tolerance {tol})")
    return True
