"""Interactive explorers of one knob, and their static stand-ins for the HTML book.

A chapter that wants the reader to turn a knob (the number of mixture components, a KL
weight, a batch-smoothing parameter) writes one function ``render(value) -> Figure`` and
hands it to

* :func:`explorer` — a slider over the knob's values above an output area that shows
  ``render(value)``. Figures are drawn only when a value is first chosen, kept as PNG, and
  shown again from that cache, so sliding back is instant. Needs ``ipywidgets`` and a live
  kernel (Jupyter, Colab); the book hides this cell (tag ``remove-cell``);
* :func:`snapshot` — the same ``render`` at a few values, stacked into one figure: what the
  static HTML shows in the explorer's place.

Both accept a shared ``cache`` (a dict), so the values drawn for the snapshot are instant in
the explorer. :func:`render_png` is the step they share. ``ipywidgets`` and ``matplotlib``
are imported inside the functions, so ``import companion.explorers`` stays cheap.
"""

from __future__ import annotations

import base64
import io
import traceback
from typing import TYPE_CHECKING, Any, Callable, Dict, Hashable, List, Optional, Sequence, Tuple

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = ["explorer", "render_png", "snapshot"]

#: ``render(value) -> matplotlib Figure``: draws the figure for one value of the knob.
Render = Callable[[Any], "Figure"]


def _format(value: Any) -> str:
    """The default label of a value: ``0.1`` for floats (``%g``), ``str`` otherwise."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _check_render(render: object) -> None:
    if not callable(render):
        raise TypeError(f"render must be a callable value -> matplotlib Figure; got {type(render).__name__}")


def _check_dpi(dpi: object) -> float:
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 10 <= dpi <= 1000:
        raise ValueError(f"dpi must be a number in [10, 1000]; got {dpi!r}")
    return float(dpi)


def _check_cache(cache: object) -> Dict[Hashable, bytes]:
    if cache is None:
        return {}
    if not isinstance(cache, dict):
        raise TypeError(f"cache must be a dict (value -> PNG bytes) or None; got {type(cache).__name__}")
    return cache


def _check_values(values: object, format_value: Callable[[Any], str]) -> List[Any]:
    """``values`` as a list, checked: a non-empty sequence of distinct hashable values with distinct labels."""
    if not callable(format_value):
        raise TypeError(f"format_value must be a callable value -> str; got {type(format_value).__name__}")
    if hasattr(values, "tolist") and not isinstance(values, Sequence):  # a NumPy array or a tensor
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(
            f"values must be a sequence (list, tuple or 1-D array) of knob values; got {type(values).__name__}"
        )
    values = list(values)
    if not values:
        raise ValueError("values must hold at least one knob value; got an empty sequence")
    seen: Dict[Any, int] = {}
    for i, value in enumerate(values):
        try:
            hash(value)
        except TypeError as err:
            raise TypeError(f"values[{i}] = {value!r} is not hashable (values are cache keys)") from err
        if value in seen:
            raise ValueError(f"values must be distinct; values[{seen[value]}] and values[{i}] are both {value!r}")
        seen[value] = i
    labels = [format_value(v) for v in values]
    if not all(isinstance(label, str) for label in labels):
        raise TypeError("format_value must return a str for every value")
    if len(set(labels)) != len(labels):
        raise ValueError(f"the labels of the values must be distinct (they name the slider's stops); got {labels}")
    return values


def render_png(render: Render, value: Any, dpi: float = 100) -> bytes:
    """Call ``render(value)``, save the figure as PNG bytes and close it.

    Closing matters in a notebook: a figure left open would be shown a second time, below
    the explorer, when the cell ends.

    Args:
        render: a callable ``value -> matplotlib.figure.Figure``.
        value: the knob value to draw.
        dpi: resolution of the PNG.

    Returns:
        The PNG file's bytes.

    Raises:
        TypeError: if ``render`` is not callable or does not return a Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    _check_render(render)
    dpi = _check_dpi(dpi)
    fig = render(value)
    if not isinstance(fig, Figure):
        raise TypeError(f"render({value!r}) must return a matplotlib Figure; got {type(fig).__name__}")
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _cached_png(render: Render, value: Any, cache: Dict[Hashable, bytes], dpi: float) -> bytes:
    if value not in cache:
        cache[value] = render_png(render, value, dpi)
    return cache[value]


def snapshot(
    render: Render,
    values: Sequence[Any],
    cache: Optional[Dict[Hashable, bytes]] = None,
    dpi: float = 100,
    format_value: Callable[[Any], str] = _format,
) -> "Figure":
    """The static stand-in of an explorer: ``render`` at each of ``values``, stacked top to bottom.

    Each value's figure is drawn once (or taken from ``cache``) and placed as an image in
    one new figure, at its own size; ``render`` should say the value in its title.

    Args:
        render: a callable ``value -> matplotlib.figure.Figure``.
        values: the knob values to show, in order (distinct, hashable; a 1-D array is turned into a list).
        cache: a dict ``value -> PNG bytes`` shared with :func:`explorer`; filled here.
        dpi: resolution of each drawn figure (and of the returned one).
        format_value: the label of a value (checked for distinctness, as the explorer's).

    Returns:
        A new matplotlib Figure (registered with pyplot, so Jupyter shows it like the
        ``plot_<name>`` figures).
    """
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    import numpy as np

    _check_render(render)
    values = _check_values(values, format_value)
    cache = _check_cache(cache)
    dpi = _check_dpi(dpi)
    images = [mpimg.imread(io.BytesIO(_cached_png(render, v, cache, dpi)), format="png") for v in values]
    width = max(img.shape[1] for img in images)
    height = sum(img.shape[0] for img in images)
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    top = 1.0
    for img in images:
        h, w = img.shape[0] / height, img.shape[1] / width
        ax = fig.add_axes((0.5 * (1 - w), top - h, w, h))  # centred, at its own size
        ax.imshow(np.asarray(img), interpolation="none")
        ax.set_axis_off()
        top -= h
    return fig


def _png_output(png: bytes, label: str) -> Dict[str, Any]:
    """An nbformat display-data output that shows ``png``."""
    return {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": f"<figure: {label}>"},
        "metadata": {},
    }


def _figure_outputs(
    render: Render, chosen: Any, label: str, cache: Dict[Hashable, bytes], dpi: float, raise_errors: bool
) -> Tuple[Dict[str, Any], ...]:
    """The output area's contents for ``chosen``: its figure, or the traceback when ``render`` fails.

    With ``raise_errors`` a failure is raised instead (the initial value, so an error shows at once).
    """
    try:
        png = _cached_png(render, chosen, cache, dpi)
    except Exception:
        if raise_errors:
            raise
        text = f"render failed for {label}:\n{traceback.format_exc()}"
        return ({"output_type": "stream", "name": "stderr", "text": text},)
    return (_png_output(png, label),)


def explorer(
    render: Render,
    values: Sequence[Any],
    description: str = "value",
    value: Any = None,
    cache: Optional[Dict[Hashable, bytes]] = None,
    dpi: float = 100,
    format_value: Callable[[Any], str] = _format,
) -> "ipywidgets.VBox":
    """A slider over ``values`` above the figure ``render(value)`` for the chosen value.

    The figure for a value is drawn the first time it is chosen and cached (as PNG), so
    moving back to a value does not call ``render`` again. The initial value is drawn when
    the widget is built, so an error in ``render`` shows at once; an error for a later
    value is shown in the output area (and not cached, so choosing the value again retries).

    Args:
        render: a callable ``value -> matplotlib.figure.Figure`` (closed after it is drawn).
        values: the knob's values, in slider order (distinct, hashable; a 1-D array is turned into a list).
        description: the slider's label, e.g. ``"K"`` or ``"gamma"``.
        value: the initial value (one of ``values``); the first by default.
        cache: a dict ``value -> PNG bytes`` to share with :func:`snapshot`.
        dpi: resolution of the drawn figures.
        format_value: the label of each value on the slider.

    Returns:
        An ``ipywidgets.VBox`` whose ``children`` are the ``SelectionSlider`` and the
        ``Output`` that shows the figure. Display it as the last expression of a cell.
    """
    import ipywidgets

    _check_render(render)
    if not isinstance(description, str):
        raise TypeError(f"description must be a str; got {type(description).__name__}")
    values = _check_values(values, format_value)
    cache = _check_cache(cache)
    dpi = _check_dpi(dpi)
    if value is None:
        value = values[0]
    elif value not in values:
        raise ValueError(f"value must be one of values {values}; got {value!r}")
    labels = {v: format_value(v) for v in values}

    slider = ipywidgets.SelectionSlider(
        options=[(labels[v], v) for v in values], value=value, description=description,
        continuous_update=False,  # draw when the slider is released, not at every stop passed
        layout=ipywidgets.Layout(width="min(100%, 500px)"),
    )
    output = ipywidgets.Output()

    def show(chosen: Any, raise_errors: bool = False) -> None:
        label = f"{description} = {labels[chosen]}"
        output.outputs = _figure_outputs(render, chosen, label, cache, dpi, raise_errors)

    slider.observe(lambda change: show(change["new"]), names="value")
    show(value, raise_errors=True)
    return ipywidgets.VBox([slider, output])
