"""The shared input checks of companion.checks."""

import math

import numpy as np
import pytest
import torch

from companion.checks import (
    ArgumentTypeError,
    check_adam_betas,
    check_choice,
    check_float64_array,
    check_in_interval,
    check_int,
    check_nonnegative,
    check_nonnegative_int,
    check_points,
    check_positive,
    check_positive_int,
    check_probability,
    check_real_array,
    check_same_width,
    check_seeds,
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


def test_seeds():
    assert check_seeds((0, 1, np.int64(2))) == (0, 1, 2) and check_seeds([3]) == (3,)
    for bad in ((), [], (0, 1.0), (True,), 3, "01", None):
        with pytest.raises(ValueError, match="training_seeds must be a non-empty tuple of ints"):
            check_seeds(bad, "training_seeds")


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


def test_interval_and_minimum_dimensions():
    assert check_in_interval(0.5, "gamma", 0, 0.5) == 0.5 and check_in_interval(np.float64(0), "gamma", 0, 0.5) == 0.0
    for bad in (-0.1, 0.6, math.nan, True, "0.2"):
        with pytest.raises(ValueError, match=r"gamma must be a number in \[0, 0.5\]"):
            check_in_interval(bad, "gamma", 0, 0.5)
    with pytest.raises(TypeError):
        check_in_interval(None, "gamma", 0, 0.5)
    x = torch.zeros(3, 2)
    assert check_tensor(x, "x", min_dim=2) is x
    with pytest.raises(ValueError, match=r"x must have at least 3 dimensions; got shape \(3, 2\)"):
        check_tensor(x, "x", min_dim=3)


def test_adam_betas_are_a_pair_in_the_unit_interval():
    assert check_adam_betas((0, 0.9), "gan_betas") == (0.0, 0.9)
    assert check_adam_betas([np.float32(0.5), 0.999]) == (0.5, pytest.approx(0.999))  # a list, read from JSON
    for bad in ((0.5,), (0.5, 0.9, 0.99), "ab", (0.5, 1.0), (-0.1, 0.9), (math.nan, 0.9), 0.5, None):
        with pytest.raises(ValueError, match=r"gan_betas must be a pair \(beta_1, beta_2\) of numbers in \[0, 1\)"):
            check_adam_betas(bad, "gan_betas")
    with pytest.raises(TypeError, match="betas must be a pair"):
        check_adam_betas((True, 0.9))


def test_a_one_element_tensor_or_array_counts_as_its_number():
    assert check_positive(torch.tensor(0.25), "sigma") == 0.25 and check_positive(np.array([2.0]), "s") == 2.0
    with pytest.raises(ValueError, match="sigma must be a positive finite number"):
        check_positive(torch.tensor(-1.0), "sigma")
    with pytest.raises(TypeError, match="sigma"):
        check_positive(torch.ones(2), "sigma")


def test_choice():
    assert check_choice("test", "split", ("train", "test")) == "test"
    with pytest.raises(ValueError, match="split must be one of train, test; got 'valid'"):
        check_choice("valid", "split", ("train", "test"))
    with pytest.raises(TypeError, match="split must be a str, one of train, test; got int"):
        check_choice(3, "split", ("train", "test"))


def test_arrays_of_real_numbers():
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert check_real_array(array, "a").tolist() == array.tolist()
    for bad in (torch.ones(2, dtype=torch.bool), np.ones(2, dtype=complex), [1.0, 2.0]):
        with pytest.raises(TypeError, match="a must"):
            check_real_array(bad, "a")
    got = check_float64_array(torch.tensor([[1.5, 2.0]]), "m", ndim=2)
    assert got.dtype == np.float64 and got.tolist() == [[1.5, 2.0]]
    with pytest.raises(ValueError, match="m must have 1 dimension"):
        check_float64_array(got, "m", ndim=1)
    with pytest.raises(ValueError, match="m is empty"):
        check_float64_array(np.zeros((0, 2)), "m", ndim=2)
    with pytest.raises(ValueError, match="NaN"):
        check_float64_array(np.array([math.nan]), "m")


def test_points_are_flattened_rows_in_double_precision():
    images = torch.rand(4, 1, 2, 3)
    points = check_points(images, "x")
    assert points.shape == (4, 6) and points.dtype == torch.float64
    assert torch.equal(points, images.reshape(4, 6).double())
    with pytest.raises(ValueError, match=r"x must have shape \(N, d\)"):
        check_points(torch.ones(3), "x")
    with pytest.raises(ValueError, match="at least 5 row"):
        check_points(images, "x", min_rows=5)
    with pytest.raises(ValueError, match="no dimensions per row"):
        check_points(torch.ones(3, 0), "x")
    with pytest.raises(ValueError, match="NaN"):
        check_points(torch.tensor([[math.inf]]), "x")
    check_same_width(points, points[:1], "a", "b")
    with pytest.raises(ValueError, match="a and b must have the same number of dimensions per row; got 6 and 5"):
        check_same_width(points, points[:, :5], "a", "b")
