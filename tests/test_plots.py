"""Tests of companion.plots: what the helpers draw, and the errors they raise."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from companion import plots  # noqa: E402
from companion.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_set_style_is_idempotent_and_sets_the_theme():
    plots.set_style()
    first = dict(matplotlib.rcParams)
    plots.set_style()
    assert dict(matplotlib.rcParams) == first
    assert matplotlib.rcParams["axes.grid"] is True  # seaborn's whitegrid
    assert matplotlib.rcParams["axes.spines.top"] is False


def test_image_grid_tiles_gray_images():
    images = torch.rand(10, 1, 8, 8)
    images[3] = 2.0  # clamped to 1
    fig = plots.image_grid(images, nrow=4, title="digits")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.images) == 1 and ax.get_title() == "digits"
    grid = ax.images[0].get_array()
    # 3 rows x 4 columns of 8x8 images with 1 pixel of padding around each.
    assert grid.shape == (3 * 9 + 1, 4 * 9 + 1)
    assert ax.images[0].get_cmap().name == "gray"
    np.testing.assert_allclose(grid[1:9, 1:9], images[0, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(grid[1:9, 1 + 3 * 9 : 9 + 3 * 9], 1.0)  # the clamped image
    np.testing.assert_allclose(grid[1 + 2 * 9 : 9 + 2 * 9, 1 + 2 * 9 :], 1.0)  # empty cells: padding


def test_image_grid_rgb_and_three_dimensional_input_and_given_axes():
    fig, axes = plt.subplots(1, 2)
    out = plots.image_grid(np.random.default_rng(0).random((4, 3, 5, 5)), nrow=2, ax=axes[0])
    assert out is axes[0]
    assert axes[0].images[0].get_array().shape == (2 * 6 + 1, 2 * 6 + 1, 3)
    plots.image_grid(torch.rand(6, 5, 5), nrow=6, ax=axes[1], padding=0)
    assert axes[1].images[0].get_array().shape == (5, 30)
    assert len(fig.axes) == 2


@pytest.mark.parametrize(
    "images, kwargs, error",
    [
        (torch.rand(4, 2, 5, 5), {}, ValueError),  # two channels
        (torch.rand(5, 5), {}, ValueError),  # no batch dimension
        (torch.rand(0, 1, 5, 5), {}, ValueError),
        (torch.full((2, 1, 3, 3), float("nan")), {}, ValueError),
        (torch.rand(4, 1, 5, 5), {"nrow": 0}, ValueError),
        (torch.rand(4, 1, 5, 5), {"ax": "not an axes"}, TypeError),
        ([[0.0, 1.0]], {}, TypeError),
    ],
)
def test_image_grid_rejects_bad_input(images, kwargs, error):
    with pytest.raises(error):
        plots.image_grid(images, **kwargs)


def test_scatter_2d_draws_points_and_centers():
    points = torch.randn(250, 2)
    angles = torch.arange(8) * 2 * math.pi / 8
    centers = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    fig = plots.scatter_2d(points, centers=centers, label="samples", title="ring")
    ax = fig.axes[0]
    assert len(ax.collections) == 2
    np.testing.assert_allclose(ax.collections[0].get_offsets(), points.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ax.collections[1].get_offsets(), centers.numpy(), rtol=1e-6)
    assert ax.get_legend() is not None and ax.get_title() == "ring"
    _, ax2 = plt.subplots()
    assert plots.scatter_2d(points.numpy(), ax=ax2) is ax2
    assert len(ax2.collections) == 1


@pytest.mark.parametrize(
    "points, kwargs",
    [
        (torch.randn(10, 3), {}),
        (torch.randn(10), {}),
        (torch.randn(0, 2), {}),
        (torch.randn(10, 2), {"centers": torch.randn(4, 3)}),
        (torch.randn(10, 2), {"alpha": 2.0}),
        (torch.tensor([[0.0, float("inf")]]), {}),
    ],
)
def test_scatter_2d_rejects_bad_shapes(points, kwargs):
    with pytest.raises(ValueError):
        plots.scatter_2d(points, **kwargs)


def _gaussian_log_prob(mean, std):
    dist = torch.distributions.Normal(torch.tensor(mean), torch.tensor(std))
    return lambda xy: dist.log_prob(xy).sum(dim=1)


def test_density_2d_draws_a_normalised_density_in_the_right_place():
    resolution = 201
    log_prob = _gaussian_log_prob([2.0, -1.0], [0.5, 0.7])
    fig = plots.density_2d(log_prob, bounds=(-1, 5, -5, 3), resolution=resolution)
    ax = fig.axes[0]
    assert len(ax.images) == 1
    image = np.asarray(ax.images[0].get_array())
    assert image.shape == (resolution, resolution)
    dx, dy = 6 / (resolution - 1), 8 / (resolution - 1)
    assert image.sum() * dx * dy == pytest.approx(1.0, abs=1e-3)  # the density integrates to one
    row, col = np.unravel_index(np.argmax(image), image.shape)  # row <-> y, column <-> x
    assert -1 + col * dx == pytest.approx(2.0, abs=dx) and -5 + row * dy == pytest.approx(-1.0, abs=dy)
    assert tuple(ax.images[0].get_extent()) == (-1, 5, -5, 3)


def test_density_2d_log_scale_batches_and_module_device():
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.loc = torch.nn.Parameter(torch.zeros(2))

        def log_prob(self, xy):
            assert xy.device == self.loc.device
            return torch.distributions.Normal(self.loc, 1.0).log_prob(xy).sum(dim=1)

    model = Model()
    _, ax = plt.subplots()
    out = plots.density_2d(model.log_prob, 3.0, ax=ax, resolution=30, log=True, batch_size=7)
    assert out is ax
    image = np.asarray(ax.images[0].get_array())
    grid = np.linspace(-3, 3, 30)
    expected = -np.log(2 * np.pi) - 0.5 * (grid[None, :] ** 2 + grid[:, None] ** 2)
    np.testing.assert_allclose(image, expected, rtol=1e-5)
    if torch.cuda.is_available():  # the grid follows the module to its device
        _, ax_cuda = plt.subplots()
        plots.density_2d(model.cuda().log_prob, 3.0, ax=ax_cuda, resolution=30, log=True)
        np.testing.assert_allclose(np.asarray(ax_cuda.images[0].get_array()), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "fn, bounds, kwargs, error",
    [
        (lambda xy: xy.sum(dim=1), (1, 0, 0, 1), {}, ValueError),  # xmin > xmax
        (lambda xy: xy.sum(dim=1), (0, 1, 0), {}, ValueError),
        (lambda xy: xy.sum(dim=1), -2.0, {}, ValueError),
        (lambda xy: xy.sum(dim=1), 2.0, {"resolution": 1}, ValueError),
        (lambda xy: xy, 2.0, {}, ValueError),  # returns (M, 2)
        (lambda xy: xy[:, 0] * float("nan"), 2.0, {}, ValueError),
        ("not callable", 2.0, {}, TypeError),
    ],
)
def test_density_2d_rejects_bad_input(fn, bounds, kwargs, error):
    with pytest.raises(error):
        plots.density_2d(fn, bounds, resolution=kwargs.pop("resolution", 10), **kwargs)
    assert plt.get_fignums() == []  # no figure left behind by a failed call


def _history():
    history = History()
    for step in range(5):
        history.record(step, loss=float(step), kl=10.0 - step)
    return history


def test_loss_curves_draws_one_line_per_series():
    fig = plots.loss_curves(_history(), title="training")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["loss", "kl"]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0, 1, 2, 3, 4])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [10, 9, 8, 7, 6])
    _, ax2 = plt.subplots()
    assert plots.loss_curves(_history(), names="kl", ax=ax2, smooth=3) is ax2
    assert len(ax2.lines) == 1
    # trailing mean over 3 values: (10+9+8)/3, (9+8+7)/3, (8+7+6)/3, at steps 2, 3, 4
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), [9.0, 8.0, 7.0])
    np.testing.assert_allclose(ax2.lines[0].get_xdata(), [2, 3, 4])


@pytest.mark.parametrize(
    "history, kwargs, error",
    [
        (_history(), {"names": ["missing"]}, ValueError),
        (_history(), {"names": []}, ValueError),
        (_history(), {"smooth": 0}, ValueError),
        (History(), {}, ValueError),
        ({"loss": [1.0, 2.0]}, {}, TypeError),
    ],
)
def test_loss_curves_rejects_bad_input(history, kwargs, error):
    with pytest.raises(error):
        plots.loss_curves(history, **kwargs)


def test_pyplot_applies_the_house_style():
    import matplotlib

    matplotlib.rcParams["savefig.bbox"] = "standard"
    plt = plots.pyplot()
    assert plt is matplotlib.pyplot
    assert matplotlib.rcParams["savefig.bbox"] == "tight"  # set by the house style
