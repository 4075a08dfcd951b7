"""The shared input checks of companion.checks."""

import math

import numpy as np
import pytest
import torch

from companion.checks import (
    ArgumentTypeError,
    check_int,
    check_nonnegative,
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


def test_int_with_a_lower_bound_and_numpy_values():
    assert check_int(2, "n_levels", 2) == 2 and type(check_positive_int(np.int64(3), "n")) is int
    with pytest.raises(ValueError, match=r"n_levels must be an int >= 2; got 1"):
        check_int(1, "n_levels", 2)
    # a wrong type is a TypeError, and a ValueError for callers written against the first checks
    for check in (
        lambda: check_int(2.0, "k", 0),
        lambda: check_positive_int("3", "n"),
        lambda: check_positive(None, "lr"),
    ):
        with pytest.raises(TypeError):
            check()
        with pytest.raises(ValueError):
            check()
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)
    assert check_positive(np.float32(0.5), "lr") == 0.5
    assert check_nonnegative(0, "weight") == 0.0
    for bad in (-1e-9, math.inf, True, "1"):
        with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
            check_nonnegative(bad, "weight")


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
    assert check_tensor(x, "x", min_dim=2) is x
    with pytest.raises(ValueError, match=r"x must have at least 3 dimensions; got shape \(3, 2\)"):
        check_tensor(x, "x", min_dim=3)
