"""The exercise checks of the primer chapter (``book/preliminaries.md``): the reader calls them on an answer.

* :func:`check_optimal_discriminator` — a reader's optimal discriminator ``D*`` (and,
  optionally, Jensen–Shannon divergence) on finite distributions;
* :func:`check_bits_per_dim` — a reader's bits per dimension for a density fitted on
  dequantized data rescaled to [0, 1].
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from companion.metrics import bits_per_dim, continuous_to_discrete_nll

__all__ = ["check_bits_per_dim", "check_optimal_discriminator"]


def check_optimal_discriminator(
    optimal_discriminator: Callable[[np.ndarray, np.ndarray], np.ndarray],
    js_divergence: Optional[Callable[[np.ndarray, np.ndarray], float]] = None,
    seed: int = 0,
) -> bool:
    """Check a reader's optimal discriminator (and optionally Jensen–Shannon divergence).

    ``optimal_discriminator(p_data, p_model)`` receives two probability vectors over the
    same finite set and must return ``D*(x)`` for every ``x`` (where ``p_data + p_model > 0``;
    entries where both vanish are not checked). ``js_divergence(p, q)``, when given, must
    return the Jensen–Shannon divergence in nats. The check also verifies the identity
    ``V(D*) = 2 JS - log 4`` with the reader's ``D*``.

    Returns:
        ``True`` (and prints a confirmation) when every case passes.

    Raises:
        TypeError: if the arguments are not callables.
        AssertionError: naming the first failed case and what was expected.
    """
    if not callable(optimal_discriminator) or (js_divergence is not None and not callable(js_divergence)):
        raise TypeError("pass the functions themselves: check_optimal_discriminator(my_d_star, my_js)")
    rng = np.random.default_rng(seed)
    cases = [
        ("uniform vs uniform", np.full(4, 0.25), np.full(4, 0.25)),
        ("disjoint supports", np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.0, 0.0, 0.5, 0.5])),
        ("one dropped mode", np.array([0.25, 0.25, 0.25, 0.25]), np.array([1 / 3, 1 / 3, 1 / 3, 0.0])),
    ] + [(f"random case {i}", rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))) for i in range(5)]
    for name, p, q in cases:
        d = np.asarray(optimal_discriminator(p.copy(), q.copy()), dtype=float)
        assert d.shape == p.shape, f"{name}: D* must have one value per outcome, shape {p.shape}; got {d.shape}"
        support = (p + q) > 0
        expected = np.divide(p, p + q, out=np.zeros_like(p), where=support)
        assert np.allclose(d[support], expected[support], atol=1e-8), (
            f"{name}: p_data={p.round(3)}, p_model={q.round(3)}: expected D*={expected.round(4)}, got {d.round(4)}. "
            "Hint: maximise a log D + b log(1 - D) over D in [0, 1] for each outcome."
        )
        m = (p + q) / 2
        js_true = 0.5 * _kl(p, m) + 0.5 * _kl(q, m)
        with np.errstate(divide="ignore"):
            value = np.sum(p[support] * np.log(np.clip(d[support], 1e-300, None))) + np.sum(
                q[support] * np.log(np.clip(1 - d[support], 1e-300, None)))
        assert abs(value - (2 * js_true - math.log(4))) < 1e-6, f"{name}: V(D*) should equal 2 JS - log 4"
        if js_divergence is not None:
            js = float(js_divergence(p.copy(), q.copy()))
            assert abs(js - js_true) < 1e-6, (
                f"{name}: expected JS={js_true:.6f} nats, got {js:.6f}. Hint: JS = (KL(p||m) + KL(q||m)) / 2 "
                "with m = (p + q) / 2, and 0 log 0 = 0.")
    print(f"Correct: {len(cases)} cases passed" + (" (D* and JS)." if js_divergence is not None else " (D*)."))
    return True


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def check_bits_per_dim(answer: float, nll_nats: float, n_dims: int, n_levels: int) -> bool:
    """Check a reader's bits/dim for a density fitted on dequantized data rescaled to [0, 1].

    The data have ``n_levels`` levels per dimension, dequantized as ``(x + u) / n_levels``;
    the density's negative log-likelihood on that scale is ``nll_nats`` per example. The
    discrete data's bits/dim is ``(nll_nats + n_dims log n_levels) / (n_dims log 2)``
    (:func:`companion.metrics.continuous_to_discrete_nll`, then
    :func:`companion.metrics.bits_per_dim`).

    Returns:
        ``True`` (and prints a confirmation) when ``answer`` is right to 1e-3.

    Raises:
        TypeError: if ``answer`` is not a number.
        AssertionError: with a hint when it is wrong.
    """
    if isinstance(answer, bool) or not isinstance(answer, (int, float, np.integer, np.floating)):
        raise TypeError(f"answer must be a number (bits per dimension); got {type(answer).__name__}")
    expected = float(bits_per_dim(continuous_to_discrete_nll(nll_nats, n_dims, n_levels), n_dims))
    if abs(float(answer) - expected) > 1e-3:
        hints = []
        if abs(float(answer) - nll_nats / (n_dims * math.log(2))) < 1e-3:
            hints.append("you forgot the change of units: the density on [0, 1] is n_levels**D times "
                         "larger than on the scale of the levels")
        if abs(float(answer) - expected * math.log(2)) < 1e-3:
            hints.append("you gave nats per dimension; divide by log 2")
        raise AssertionError(f"expected {expected:.4f} bits/dim, got {float(answer):.4f}. "
                             + ("; ".join(hints) if hints else "Hint: bin width 1/n_levels."))
    print(f"Correct: {expected:.4f} bits/dim.")
    return True
