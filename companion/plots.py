"""Figure helpers with one house style, shared by every chapter and by ``reproduce``.

* :func:`set_style` — the house style (seaborn ``whitegrid``, readable sizes, colour-blind
  safe palette); the other helpers apply it once per session;
* :func:`image_grid` — a batch of images in [0, 1] as one grid;
* :func:`scatter_2d` — 2-D samples, optionally with the mode centres of a toy mixture;
* :func:`density_2d` — a model's density on a 2-D grid, from its ``log_prob``;
* :func:`loss_curves` — the series of a :class:`companion.train.History`.

Every helper draws into ``ax`` when one is given and returns that Axes; without ``ax`` it
makes a new figure and returns the Figure (what the ``plot_<name>`` functions of the
experiments return). Nothing here calls ``plt.show()``: Jupyter shows the returned figure,
and scripts save it.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .checks import ArrayLike, check_float64_array, check_int, check_nonnegative_int, check_positive_int

if TYPE_CHECKING:  # the types only: importing this module (and the experiments that draw) loads no matplotlib
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .train import History

__all__ = ["PALETTE", "density_2d", "image_grid", "loss_curves", "pyplot", "scatter_2d", "set_style"]


#: The seaborn palette of the book (distinguishable with the common colour-vision deficiencies).
PALETTE = "colorblind"

_RC = {
    "figure.figsize": (6.0, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",
}

_style_applied = False


def set_style() -> None:
    """Apply the house style to matplotlib (safe to call any number of times).

    seaborn's ``whitegrid`` theme in the ``notebook`` context, the :data:`PALETTE` colour
    cycle, font sizes that stay readable in the HTML book, no top/right spines.
    """
    import seaborn as sns

    global _style_applied
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, rc=_RC)
    _style_applied = True


def pyplot() -> ModuleType:
    """``matplotlib.pyplot``, with the house style applied (for experiment modules that draw).

    Imported here, not at the top of a module, so that importing an experiment stays cheap.
    """
    import matplotlib.pyplot as plt

    set_style()
    return plt


def _ensure_style() -> None:
    # Applied once, so that a reader's own rcParams changes after that are not overwritten.
    if not _style_applied:
        set_style()


def _figure_and_axes(ax: Optional[Axes], figsize: Tuple[float, float]) -> Tuple[Figure, Axes, bool]:
    """The figure to draw on: ``ax``'s own, or a new one (third value: whether it is new)."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    _ensure_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax, True
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None; got {type(ax).__name__}")
    return ax.figure, ax, False


def _points_2d(value: ArrayLike, name: str) -> np.ndarray:
    array = check_float64_array(value, name)
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, 2) with N >= 1; got {array.shape}")
    return array


# ----------------------------------------------------------------------------- images


def _grid_array(images: np.ndarray, nrow: int, padding: int, pad_value: float) -> np.ndarray:
    """Tile (N, H, W, C) images into one (rows*(H+p)+p, cols*(W+p)+p, C) array."""
    n, h, w, c = images.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value)
    for i in range(n):
        r, q = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[top : top + h, left : left + w] = images[i]
    return grid


def image_grid(
    images: ArrayLike,
    nrow: int = 8,
    ax: Optional[Axes] = None,
    title: Optional[str] = None,
    padding: int = 1,
    pad_value: float = 1.0,
) -> Union[Figure, Axes]:
    """Show a batch of images as one grid.

    Args:
        images: (N, C, H, W) with C = 1 (gray) or 3 (RGB), or (N, H, W) gray images, with
            values in [0, 1] (values outside are clamped); a tensor or an array.
        nrow: images per row of the grid (torchvision's ``make_grid`` convention).
        ax: the Axes to draw into; a new figure when ``None``.
        title: the title of the Axes.
        padding: pixels between images.
        pad_value: the gray level (in [0, 1]) of the padding.

    Returns:
        The new Figure, or ``ax`` when one was given.
    """
    array = check_float64_array(images, "images")
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise ValueError(
            f"images must have shape (N, C, H, W) with C in (1, 3), or (N, H, W); got {tuple(array.shape)}"
        )
    if array.shape[0] == 0 or array.shape[2] == 0 or array.shape[3] == 0:
        raise ValueError(f"images is empty (shape {tuple(array.shape)})")
    check_positive_int(nrow, "nrow")
    check_nonnegative_int(padding, "padding")
    if not 0.0 <= float(pad_value) <= 1.0:
        raise ValueError(f"pad_value must lie in [0, 1]; got {pad_value}")
    channels_last = np.clip(array, 0.0, 1.0).transpose(0, 2, 3, 1)
    grid = _grid_array(channels_last, int(nrow), int(padding), float(pad_value))
    width = min(10.0, 0.8 * min(nrow, array.shape[0]) + 0.4)
    fig, ax, created = _figure_and_axes(ax, (width, max(1.0, width * grid.shape[0] / grid.shape[1])))
    if grid.shape[2] == 1:
        ax.imshow(grid[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return fig if created else ax


# ----------------------------------------------------------------------------- 2-D data


def scatter_2d(
    points: ArrayLike,
    ax: Optional[Axes] = None,
    centers: Optional[ArrayLike] = None,
    title: Optional[str] = None,
    label: Optional[str] = None,
    color: Optional[str] = None,
    size: float = 4.0,
    alpha: float = 0.5,
) -> Union[Figure, Axes]:
    """Scatter plot of 2-D samples, optionally marking the mode centres of a toy mixture.

    Args:
        points: (N, 2) samples.
        ax: the Axes to draw into; a new figure when ``None``.
        centers: (K, 2) mode centres, drawn as black crosses above the points.
        title: the title of the Axes.
        label: legend label of the points (a legend is drawn when a label is given).
        color: colour of the points (the palette's next colour by default).
        size: marker area in points^2.
        alpha: marker opacity in [0, 1].

    Returns:
        The new Figure, or ``ax`` when one was given.
    """
    xy = _points_2d(points, "points")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1]; got {alpha}")
    if float(size) <= 0:
        raise ValueError(f"size must be positive; got {size}")
    mode_xy = None if centers is None else _points_2d(centers, "centers")
    fig, ax, created = _figure_and_axes(ax, (4.5, 4.5))
    ax.scatter(xy[:, 0], xy[:, 1], s=size, alpha=alpha, color=color, label=label, linewidths=0)
    if mode_xy is not None:
        ax.scatter(mode_xy[:, 0], mode_xy[:, 1], s=60, marker="x", color="black", linewidths=1.5,
                   label="modes" if label is not None else None, zorder=3)
    ax.set_aspect("equal", adjustable="datalim")
    if label is not None:
        ax.legend(loc="upper right")
    if title is not None:
        ax.set_title(title)
    return fig if created else ax


def _parse_bounds(bounds: Union[float, Sequence[float]]) -> Tuple[float, float, float, float]:
    if isinstance(bounds, bool):
        raise TypeError("bounds must be a positive number or (xmin, xmax, ymin, ymax)")
    if isinstance(bounds, (int, float, np.integer, np.floating)):
        b = float(bounds)
        if not (math.isfinite(b) and b > 0):
            raise ValueError(f"bounds as a number must be positive and finite; got {bounds}")
        return -b, b, -b, b
    try:
        values = tuple(float(v) for v in bounds)
    except TypeError as err:
        raise TypeError(
            f"bounds must be a positive number or (xmin, xmax, ymin, ymax); got {bounds!r}"
        ) from err
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"bounds must be four finite numbers (xmin, xmax, ymin, ymax); got {bounds!r}")
    xmin, xmax, ymin, ymax = values
    if not (xmin < xmax and ymin < ymax):
        raise ValueError(f"bounds must satisfy xmin < xmax and ymin < ymax; got {bounds!r}")
    return values


def _infer_device(fn: Callable) -> torch.device:
    """The device of the module behind ``fn`` (a Module or its bound method), else the CPU."""
    owner = fn if isinstance(fn, torch.nn.Module) else getattr(fn, "__self__", None)
    if isinstance(owner, torch.nn.Module):
        for tensor in list(owner.parameters()) + list(owner.buffers()):
            return tensor.device
    return torch.device("cpu")


def _log_density_on_grid(
    log_prob_fn: Callable[[torch.Tensor], torch.Tensor],
    bounds: Tuple[float, float, float, float],
    resolution: int,
    device: torch.device,
    batch_size: int,
) -> np.ndarray:
    """``log_prob_fn`` on a ``resolution`` x ``resolution`` grid, row ``i`` at the ``i``-th y, in float64."""
    xmin, xmax, ymin, ymax = bounds
    xs = torch.linspace(xmin, xmax, resolution)
    ys = torch.linspace(ymin, ymax, resolution)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # row i <-> ys[i], column j <-> xs[j]
    points = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1).to(device)
    values = []
    with torch.no_grad():
        for start in range(0, points.shape[0], batch_size):
            chunk = points[start : start + batch_size]
            out = log_prob_fn(chunk)
            if not torch.is_tensor(out):
                out = torch.as_tensor(np.asarray(out))
            if out.shape != (chunk.shape[0],):
                raise ValueError(
                    f"log_prob_fn must map an ({chunk.shape[0]}, 2) tensor to shape ({chunk.shape[0]},); "
                    f"got shape {tuple(out.shape)}"
                )
            values.append(out.detach().to("cpu", torch.float64))
    log_density = torch.cat(values).numpy().reshape(resolution, resolution)
    if np.isnan(log_density).any() or np.isposinf(log_density).any():
        raise ValueError("log_prob_fn returned NaN or +inf on the grid")
    return log_density


def density_2d(
    log_prob_fn: Callable[[torch.Tensor], torch.Tensor],
    bounds: Union[float, Sequence[float]],
    ax: Optional[Axes] = None,
    resolution: int = 200,
    title: Optional[str] = None,
    log: bool = False,
    cmap: str = "viridis",
    device: Optional[Union[str, torch.device]] = None,
    batch_size: int = 16384,
) -> Union[Figure, Axes]:
    """Draw a model's density on a regular 2-D grid.

    Args:
        log_prob_fn: maps an (M, 2) float tensor to M log-densities (for example
            ``model.log_prob``); called without gradients, in batches.
        bounds: ``(xmin, xmax, ymin, ymax)``, or one number ``b`` for the square [-b, b]^2.
        ax: the Axes to draw into; a new figure when ``None``.
        resolution: grid points per axis (>= 2).
        title: the title of the Axes.
        log: draw the log-density instead of the density (``-inf`` shows as blank).
        cmap: matplotlib colour map.
        device: where the grid is sent; by default the device of the module behind
            ``log_prob_fn`` (when it is a Module or a method of one), else the CPU.
        batch_size: grid points per call of ``log_prob_fn``.

    Returns:
        The new Figure, or ``ax`` when one was given. The image's array holds the drawn
        values with row ``i`` at ``y = ymin + i * dy`` (``origin="lower"``).
    """
    if not callable(log_prob_fn):
        raise TypeError(f"log_prob_fn must be callable; got {type(log_prob_fn).__name__}")
    xmin, xmax, ymin, ymax = _parse_bounds(bounds)
    check_int(resolution, "resolution", 2)
    check_positive_int(batch_size, "batch_size")
    device = _infer_device(log_prob_fn) if device is None else torch.device(device)
    log_density = _log_density_on_grid(log_prob_fn, (xmin, xmax, ymin, ymax), resolution, device, batch_size)
    image = log_density if log else np.exp(log_density)
    if log:
        image = np.where(np.isneginf(image), np.nan, image)
    fig, ax, created = _figure_and_axes(ax, (4.5, 4.5))
    ax.imshow(image, origin="lower", extent=(xmin, xmax, ymin, ymax), cmap=cmap, aspect="equal",
              interpolation="bilinear")
    ax.grid(False)
    if title is not None:
        ax.set_title(title)
    return fig if created else ax


# ----------------------------------------------------------------------------- training


def loss_curves(
    history: History,
    names: Optional[Union[str, Sequence[str]]] = None,
    ax: Optional[Axes] = None,
    title: Optional[str] = None,
    smooth: int = 1,
    logy: bool = False,
) -> Union[Figure, Axes]:
    """Plot the recorded series of a :class:`companion.train.History` against the step.

    Args:
        history: the history (anything with ``names()``, ``steps(name)`` and ``[name]``).
        names: the series to draw (one name or several); all of them when ``None``.
        ax: the Axes to draw into; a new figure when ``None``.
        title: the title of the Axes.
        smooth: width of a trailing moving average (1 draws the raw values); the curve then
            starts at the ``smooth``-th recorded step.
        logy: logarithmic y axis (for positive losses).

    Returns:
        The new Figure, or ``ax`` when one was given; one line per series, labelled by name.
    """
    if not all(hasattr(history, attr) for attr in ("names", "steps", "__getitem__")):
        raise TypeError(f"history must be a companion.train.History; got {type(history).__name__}")
    available = list(history.names())
    if names is None:
        names = available
    elif isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError("history has no recorded series to plot" if not available else "names is empty")
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f"no series {missing} in the history; it has {available}")
    check_positive_int(smooth, "smooth")
    fig, ax, created = _figure_and_axes(ax, (6.0, 3.5))
    for name in names:
        steps = np.asarray(history.steps(name), dtype=float)
        values = np.asarray(history[name], dtype=float)
        if smooth > 1 and len(values) >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
            steps = steps[smooth - 1 :]
        ax.plot(steps, values, label=name, linewidth=1.5)
    ax.set_xlabel("step")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig if created else ax
