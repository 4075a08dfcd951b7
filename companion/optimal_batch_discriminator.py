"""The optimal discriminator of mixed batches (thesis ch. 4, Prop. 1 and Sec. 4.7).

For a batch ``y`` of ``B`` elements, each real with the probability drawn by the mixing
prior, the discriminator that minimises the expected Bernoulli KL is the posterior mean of
the real fraction. This module computes it exactly:

* :func:`mixing_log_prior` — ``log P(beta)`` of a mixing vector with ``k`` ones, for a
  Beta(a, b) prior on the ratio (Sec. 4.7) or batch smoothing with ``gamma``;
* :func:`optimal_discriminator` — ``D*(y)`` of eqs. (4.6)-(4.7), by enumeration of the
  ``2^B`` mixing vectors or an exact ``O(B^2)`` recursion over their counts;
* :func:`batch_log_densities` — ``log p_balanced`` and ``log p_unbalanced`` (and their
  Beta(a, b) generalisations ``P(y)`` and ``Q(y)``) with ``D* = a / (a + b) * Q / P``.

Chapter: ``book/symmetric_discriminators.md`` (its method module :mod:`companion.symmetric`
re-exports everything here).
"""

from __future__ import annotations

import itertools
import math
from typing import Optional, Tuple

import torch

from .checks import check_in_interval, check_positive, check_positive_int, check_tensor

__all__ = ["batch_log_densities", "mixing_log_prior", "optimal_discriminator"]


def mixing_log_prior(
    batch_size: int, a: float = 1.0, b: float = 1.0, gamma: Optional[float] = None
) -> torch.Tensor:
    """``log P(beta)`` for one mixing vector with ``k`` ones, ``k = 0..B`` (float64, shape ``(B + 1,)``).

    With a Beta(a, b) prior on the ratio (Sec. 4.7, eq. 4.19),
    ``P(beta) = B(k + a, B - k + b) / B(a, b)``; with batch smoothing (``gamma`` given, ``p*``
    uniform on ``[0, gamma] U [1 - gamma, 1]``) the same integral runs over that set, which
    incomplete beta functions give in closed form. ``gamma = 0.5`` equals ``a = b = 1``.
    """
    check_positive_int(batch_size, "batch_size")
    k = torch.arange(batch_size + 1, dtype=torch.float64)
    if gamma is None:
        check_positive(a, "a"), check_positive(b, "b")
        return _log_beta(k + a, batch_size - k + b) - _log_beta(
            torch.tensor(float(a), dtype=torch.float64), torch.tensor(float(b), dtype=torch.float64)
        )
    gamma = check_in_interval(gamma, "gamma", 0.0, 0.5)
    if gamma == 0:  # p* is 0 or 1, each with probability 1/2
        prior = torch.full((batch_size + 1,), -math.inf, dtype=torch.float64)
        prior[0] = prior[-1] = math.log(0.5)
        return prior
    from scipy.special import betainc

    kk = k.numpy()
    lower = betainc(kk + 1, batch_size - kk + 1, gamma)  # mass of [0, gamma], regularised
    upper = betainc(batch_size - kk + 1, kk + 1, gamma)  # mass of [1 - gamma, 1], by symmetry
    total = torch.as_tensor(lower + upper, dtype=torch.float64)
    return _log_beta(k + 1, batch_size - k + 1) + torch.log(total) - math.log(2 * gamma)


def _log_beta(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.lgamma(x) + torch.lgamma(y) - torch.lgamma(x + y)


def _check_log_densities(log_p_real: torch.Tensor, log_p_fake: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    check_tensor(log_p_real, "log_p_real", finite=False, min_dim=1)
    check_tensor(log_p_fake, "log_p_fake", finite=False, min_dim=1)
    if log_p_real.shape != log_p_fake.shape:
        raise ValueError(
            f"log_p_real and log_p_fake must have the same shape (..., B); got "
            f"{tuple(log_p_real.shape)} and {tuple(log_p_fake.shape)}"
        )
    if log_p_real.shape[-1] == 0:
        raise ValueError("the batch is empty (B = 0)")
    if torch.isnan(log_p_real).any() or torch.isnan(log_p_fake).any():
        raise ValueError("log_p_real and log_p_fake must not contain NaN")
    return log_p_real.to(torch.float64), log_p_fake.to(torch.float64)


def _log_count_sums(log_p_real: torch.Tensor, log_p_fake: torch.Tensor, method: str) -> torch.Tensor:
    """``log sum_{beta: #beta = k} prod_b p1(y_b)^beta_b p2(y_b)^(1 - beta_b)`` for ``k = 0..B``."""
    batch_size = log_p_real.shape[-1]
    if method == "enumerate":
        betas = torch.tensor(list(itertools.product((0.0, 1.0), repeat=batch_size)), dtype=torch.float64,
                             device=log_p_real.device)  # (2^B, B)
        # select, not multiply: a log-density of -inf times a beta of 0 would be NaN
        terms = torch.where(betas.bool(), log_p_real.unsqueeze(-2), log_p_fake.unsqueeze(-2))
        log_terms = terms.sum(-1)  # (..., 2^B)
        counts = betas.sum(-1).long()
        out = torch.full(
            (*log_p_real.shape[:-1], batch_size + 1), -math.inf, dtype=torch.float64, device=log_p_real.device
        )
        for k in range(batch_size + 1):
            out[..., k] = torch.logsumexp(log_terms[..., counts == k], dim=-1)
        return out
    # Dynamic programming over the elements: S_k <- S_k p2(y_b) + S_{k-1} p1(y_b), in logs.
    out = torch.full((*log_p_real.shape[:-1], batch_size + 1), -math.inf, dtype=torch.float64, device=log_p_real.device)
    out[..., 0] = 0.0
    for i in range(batch_size):
        stay = out + log_p_fake[..., i : i + 1]
        move = torch.cat([torch.full_like(out[..., :1], -math.inf), out[..., :-1]], dim=-1) + log_p_real[..., i : i + 1]
        out = torch.logaddexp(stay, move)
    return out


def _resolve_method(method: str, batch_size: int) -> str:
    if method not in ("auto", "enumerate", "recursion"):
        raise ValueError(f"method must be 'auto', 'enumerate' or 'recursion'; got {method!r}")
    if method == "enumerate" and batch_size > 16:
        raise ValueError(f"method='enumerate' sums 2^B terms and is limited to B <= 16; got B = {batch_size}")
    if method == "auto":
        return "enumerate" if batch_size <= 8 else "recursion"
    return method


def optimal_discriminator(
    log_p_real: torch.Tensor,
    log_p_fake: torch.Tensor,
    a: float = 1.0,
    b: float = 1.0,
    gamma: Optional[float] = None,
    method: str = "auto",
) -> torch.Tensor:
    """The optimal batch discriminator ``D*(y) = E[#beta / B | y]`` (eqs. 4.6-4.7, 4.20-4.26).

    For a batch ``y = (y_1, ..., y_B)`` with ``log p1(y_b)`` (data) and ``log p2(y_b)``
    (generator) given, the posterior over the mixing vector is
    ``P(beta | y) ∝ prod_b p1(y_b)^beta_b p2(y_b)^(1 - beta_b) P(beta)``, and the minimiser
    of the expected Bernoulli KL (eq. 4.4) is the posterior mean of the real fraction.

    Args:
        log_p_real: ``log p1(y_b)``, shape ``(..., B)``.
        log_p_fake: ``log p2(y_b)``, same shape.
        a, b: the Beta(a, b) prior on the mixing ratio (``a = b = 1``: uniform, Prop. 1).
        gamma: if given, the batch-smoothing prior (``p*`` uniform on
            ``[0, gamma] U [1 - gamma, 1]``) replaces the Beta prior.
        method: ``"enumerate"`` sums over all ``2^B`` vectors ``beta`` (``B <= 16``),
            ``"recursion"`` groups them by ``#beta`` with an exact ``O(B^2)`` recursion;
            ``"auto"`` enumerates up to ``B = 8``.

    Returns:
        ``D*(y)``, shape ``(...)``, float64, invariant to permutations of the batch.
    """
    log_p_real, log_p_fake = _check_log_densities(log_p_real, log_p_fake)
    batch_size = log_p_real.shape[-1]
    method = _resolve_method(method, batch_size)
    log_prior = mixing_log_prior(batch_size, a, b, gamma).to(log_p_real.device)
    log_weights = _log_count_sums(log_p_real, log_p_fake, method) + log_prior  # log P(y, #beta = k)
    fraction = torch.arange(batch_size + 1, dtype=torch.float64, device=log_p_real.device) / batch_size
    posterior = torch.softmax(log_weights, dim=-1)
    return (posterior * fraction).sum(-1)


def batch_log_densities(
    log_p_real: torch.Tensor,
    log_p_fake: torch.Tensor,
    a: float = 1.0,
    b: float = 1.0,
    method: str = "auto",
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(log P(y), log Q(y))``: the two batch densities whose ratio is the optimal discriminator.

    ``P(y) = sum_beta P(y | beta) P(beta)`` is the density of mixed batches (eqs. 4.22-4.23)
    and ``Q(y) = sum_beta P(y | beta) Q(beta)`` with ``Q(beta) = (a + b) / a * #beta / B * P(beta)``
    (eqs. 4.24-4.25), so that ``D*(y) = a / (a + b) * Q(y) / P(y)`` (eq. 4.26). For ``a = b = 1``
    they are ``p_balanced`` and ``p_unbalanced`` of Prop. 1. Both integrate to one.

    Returns:
        Two float64 tensors of shape ``(...)``.
    """
    log_p_real, log_p_fake = _check_log_densities(log_p_real, log_p_fake)
    batch_size = log_p_real.shape[-1]
    method = _resolve_method(method, batch_size)
    log_prior = mixing_log_prior(batch_size, a, b).to(log_p_real.device)
    log_joint = _log_count_sums(log_p_real, log_p_fake, method) + log_prior
    k = torch.arange(batch_size + 1, dtype=torch.float64, device=log_p_real.device)
    log_q_factor = math.log((a + b) / a) + torch.log(k / batch_size)  # -inf at k = 0
    return torch.logsumexp(log_joint, dim=-1), torch.logsumexp(log_joint + log_q_factor, dim=-1)
