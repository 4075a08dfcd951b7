"""companion.logspace: the in-place, floored row-wise log-sum-exp."""

from __future__ import annotations

import math

import pytest
import torch

from companion.logspace import EXP_FLOOR, logsumexp_rows_


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logsumexp_rows_matches_torch_across_scales(dtype):
    # rows whose terms span from their largest down to ~1e4 below it: most exponents underflow
    g = torch.Generator().manual_seed(0)
    matrix = (torch.rand(50, 300, generator=g, dtype=torch.float64) * 1e4 - 5e3).to(dtype)
    matrix[:, :3] = matrix.amax(dim=1, keepdim=True) - torch.tensor([0.0, 0.5, 30.0], dtype=dtype)
    matrix[7, 10:] = -math.inf  # -inf entries beside finite ones
    expected = torch.logsumexp(matrix, dim=1)
    got = logsumexp_rows_(matrix.clone())
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)


def test_logsumexp_rows_floors_only_terms_below_its_resolution():
    # a term 59 below the largest counts (to float64's last digits), one far below does not change the sum
    row = torch.tensor([[0.0, -59.0], [0.0, -1e6]], dtype=torch.float64)
    got = logsumexp_rows_(row.clone())
    assert float(got[0]) == pytest.approx(math.log1p(math.exp(-59.0)), rel=1e-12)
    assert float(got[1]) == 0.0  # 1 + e^-60 is 1 in float64
    assert EXP_FLOOR < math.log(torch.finfo(torch.float64).eps) - 20  # far under float64's resolution


def test_logsumexp_rows_overwrites_its_input():
    matrix = torch.tensor([[1.0, 2.0, 3.0]])
    result = logsumexp_rows_(matrix)
    assert float(result) == pytest.approx(math.log(math.exp(1) + math.exp(2) + math.exp(3)), rel=1e-6)
    assert not torch.equal(matrix, torch.tensor([[1.0, 2.0, 3.0]]))  # documented: the matrix is overwritten


@pytest.mark.parametrize(
    "matrix, error, match",
    [
        ([[0.0, 1.0]], TypeError, "floating-point torch.Tensor"),
        (torch.zeros(2, 3, dtype=torch.int64), TypeError, "floating-point"),
        (torch.zeros(3), ValueError, "2-D"),
        (torch.zeros(2, 0), ValueError, "at least one column"),
        (torch.zeros(2, 3, requires_grad=True), ValueError, "torch.logsumexp"),
        (torch.tensor([[0.0, float("nan")]]), ValueError, "finite largest entry"),
        (torch.tensor([[0.0, math.inf]]), ValueError, "finite largest entry"),
        (torch.tensor([[0.0, 1.0], [-math.inf, -math.inf]]), ValueError, "finite largest entry"),
    ],
)
def test_logsumexp_rows_rejects_bad_input(matrix, error, match):
    kept = matrix.clone() if torch.is_tensor(matrix) and not matrix.requires_grad else None
    with pytest.raises(error, match=match):
        logsumexp_rows_(matrix)
    if kept is not None and kept.numel() and not torch.isnan(kept).any():
        assert torch.equal(matrix, kept)  # a refused matrix is left as it was
