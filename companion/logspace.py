"""Sums of exponentials that stay fast where ``exp`` underflows.

On a CPU, ``exp`` of an argument whose result is denormal or zero (below about -87 in
float32, -708 in float64) leaves the vector kernel: on the machines this book is timed on it
ran 50 to 100 times slower per element, and products with such tiny values in a backward pass
are slow too. Sums of exponentials whose terms span many orders of magnitude (a log-sum-exp
over the components of a mixture, Gaussian kernels at a narrow bandwidth) put most of their
arguments there, for terms that cannot change the sum: a term below ``e^-60`` (about 1e-26)
times the largest is under the resolution of float32 (about ``e^-16``) and of float64 (about
``e^-36``) unless there are more than 1e10 of them. :data:`EXP_FLOOR` is where the package
floors those arguments.

Used by :func:`companion.gmmn.mmd2`, :func:`companion.surgery.aggregate_posterior_log_prob`
and the Parzen estimator (:mod:`companion.metrics.parzen`); ``benchmarks/logspace.py`` measures it.
"""

from __future__ import annotations

import torch

__all__ = ["EXP_FLOOR", "logsumexp_rows_"]

#: The floor of an exponent (absolute, or relative to the largest term of a sum): ``e^-60`` is about 1e-26.
EXP_FLOOR = -60.0


def logsumexp_rows_(matrix: torch.Tensor) -> torch.Tensor:
    """Row-wise ``log sum_j exp(matrix[i, j])``, computed in place: ``(rows, columns) -> (rows,)``.

    The matrix is overwritten (no copy of it is made; where no term is floored this costs what
    ``torch.logsumexp`` costs, ``benchmarks/logspace.py``). Each term more than ``-EXP_FLOOR``
    below its row's largest is raised to that level (:data:`EXP_FLOOR`), which changes a row's
    sum by less than 1e-26 of its largest term per such term and keeps ``exp`` on its fast path.
    Entries of ``-inf`` count as such terms; every row needs one finite entry at least.

    Raises:
        TypeError: if ``matrix`` is not a floating-point tensor.
        ValueError: if it is not 2-D with at least one column, requires a gradient (the in-place
            steps cannot be differentiated: use ``torch.logsumexp``), or a row holds NaN, ``+inf``
            or no finite entry.
    """
    if not torch.is_tensor(matrix) or not matrix.is_floating_point():
        raise TypeError(f"matrix must be a floating-point torch.Tensor; got {type(matrix).__name__}"
                        + (f" of dtype {matrix.dtype}" if torch.is_tensor(matrix) else ""))
    if matrix.dim() != 2 or matrix.shape[1] == 0:
        raise ValueError(f"matrix must be 2-D with at least one column; got shape {tuple(matrix.shape)}")
    if matrix.requires_grad:
        raise ValueError("matrix requires a gradient, which the in-place steps would lose; use torch.logsumexp")
    row_max = matrix.amax(dim=1, keepdim=True)
    if not bool(torch.isfinite(row_max).all()):
        raise ValueError("every row of matrix needs a finite largest entry (no NaN, no +inf, not all -inf)")
    return matrix.sub_(row_max).clamp_min_(EXP_FLOOR).exp_().sum(dim=1).log_().add_(row_max.squeeze(1))
