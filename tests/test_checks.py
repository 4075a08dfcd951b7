"""The shared input checks of companion.checks."""

import math

import pytest
import torch

from companion.checks import (
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    check_probability,
    check_tensor,
)


def test_ints():
    assert check_positive_int(3, "n") == 3 and check_nonnegative_int(0, "n") == 0
    for bad in (0, -1, True, 2.0, "3"):
        with pytest.raises(ValueError, match="n must be a positive int"):
            check_positive_int(bad, "n")
    for bad in (-1, False, 1.5):
        with pytest.raises(ValueError, match="k must be a non-negative int"):
            check_nonnegative_int(bad, "k")


def test_numbers():
    assert check_positive(0.5, "lr") == 0.5 and check_probability(1, "p") == 1.0
    for bad in (0, -1.0, math.inf, math.nan, True):
        with pytest.raises(ValueError, match="lr"):
            check_positive(bad, "lr")
    for bad in (-0.1, 1.1, math.nan, None):
        with pytest.raises(ValueError, match="p must be a probability"):
            check_probability(bad, "p")


def test_tensor():
    x = torch.zeros(3, 2)
    assert check_tensor(x, "x", shape=(None, 2)) is x
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 3\)"):
        check_tensor(x, "x", shape=(None, 3))
    with pytest.raises(TypeError, match="floating"):
        check_tensor(torch.zeros(2, dtype=torch.long), "x")
    with pytest.raises(ValueError, match="NaN"):
        check_tensor(torch.tensor([math.nan]), "x")
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_tensor([1.0], "x")
