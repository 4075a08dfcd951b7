"""Tests of companion.explorers: the slider, what it shows, its cache, its errors; the chapters' explorer cells."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from companion.explorers import explorer, render_png, snapshot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {1: (1.0, 0.0, 0.0), 2: (0.0, 1.0, 0.0), 3: (0.0, 0.0, 1.0), 0.5: (1.0, 1.0, 0.0)}


class ColourRender:
    """A render that draws one solid colour per value (so a PNG tells which value it shows) and logs its calls."""

    def __init__(self, height: float = 1.0):
        self.calls = []
        self.height = height

    def __call__(self, value):
        self.calls.append(value)
        fig = plt.figure(figsize=(2.0, self.height))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(np.full((4, 4, 3), COLOURS[value]), aspect="auto")
        ax.set_axis_off()
        return fig


def png_to_array(png: bytes) -> np.ndarray:
    return mpimg.imread(io.BytesIO(png), format="png")


def shown_colour(widget) -> np.ndarray:
    """The RGB colour at the centre of the image the explorer's output shows."""
    (out,) = widget.children[1].outputs
    assert out["output_type"] == "display_data"
    image = png_to_array(base64.b64decode(out["data"]["image/png"]))
    return image[image.shape[0] // 2, image.shape[1] // 2, :3]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_slider_holds_exactly_the_given_values_in_order():
    widget = explorer(ColourRender(), [3, 1, 2], description="K")
    slider = widget.children[0]
    assert type(slider).__name__ == "SelectionSlider"
    assert list(slider.options) == [("3", 3), ("1", 1), ("2", 2)]
    assert slider.description == "K"
    assert slider.value == 3  # the first value by default


def test_float_values_get_short_labels():
    widget = explorer(lambda v: ColourRender()(0.5), [0.1, 0.5], value=0.5)
    assert [label for label, _ in widget.children[0].options] == ["0.1", "0.5"]
    assert widget.children[0].value == 0.5


def test_a_numpy_array_of_values_becomes_python_values():
    widget = explorer(ColourRender(), np.array([1, 2, 3]))
    assert [value for _, value in widget.children[0].options] == [1, 2, 3]
    assert all(type(value) is int for _, value in widget.children[0].options)


def test_setting_the_slider_renders_that_value_and_shows_it():
    render = ColourRender()
    widget = explorer(render, [1, 2, 3])
    assert render.calls == [1]
    np.testing.assert_allclose(shown_colour(widget), COLOURS[1], atol=0.02)
    widget.children[0].value = 3
    assert render.calls == [1, 3]
    np.testing.assert_allclose(shown_colour(widget), COLOURS[3], atol=0.02)
    assert plt.get_fignums() == []  # every rendered figure was closed


def test_cached_values_are_not_rendered_again():
    render = ColourRender()
    widget = explorer(render, [1, 2, 3], value=2)
    slider = widget.children[0]
    for v in (1, 2, 1, 3, 2, 3):
        slider.value = v
        np.testing.assert_allclose(shown_colour(widget), COLOURS[v], atol=0.02)
    assert render.calls == [2, 1, 3]


def test_snapshot_stacks_the_renders_and_fills_a_shared_cache():
    render = ColourRender(height=1.0)
    cache = {}
    fig = snapshot(render, [1, 3], cache=cache, dpi=50)
    assert render.calls == [1, 3] and set(cache) == {1, 3}
    buffer = io.BytesIO()
    # the whole figure, whatever the house style (savefig.bbox "tight" would add a margin)
    with plt.rc_context({"savefig.bbox": "standard"}):
        fig.savefig(buffer, format="png", dpi=50)
    image = png_to_array(buffer.getvalue())
    heights = [png_to_array(cache[v]).shape[0] for v in (1, 3)]
    assert abs(image.shape[0] - sum(heights)) <= 2
    centre = image.shape[1] // 2
    np.testing.assert_allclose(image[heights[0] // 2, centre, :3], COLOURS[1], atol=0.02)
    np.testing.assert_allclose(image[heights[0] + heights[1] // 2, centre, :3], COLOURS[3], atol=0.02)
    plt.close(fig)
    # the explorer reuses what the snapshot drew
    widget = explorer(render, [1, 2, 3], cache=cache)
    widget.children[0].value = 3
    assert render.calls == [1, 3]
    widget.children[0].value = 2
    assert render.calls == [1, 3, 2]


def test_render_png_closes_the_figure_and_returns_png():
    png = render_png(ColourRender(), 2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == []


def test_a_failing_render_is_shown_and_retried():
    state = {"fail": True, "calls": 0}

    def render(value):
        state["calls"] += 1
        if value == 2 and state["fail"]:
            raise RuntimeError("boom at 2")
        return ColourRender()(value)

    widget = explorer(render, [1, 2])
    widget.children[0].value = 2
    (out,) = widget.children[1].outputs
    assert out["output_type"] == "stream" and "boom at 2" in out["text"]
    state["fail"] = False
    widget.children[0].value = 1
    widget.children[0].value = 2  # not cached after the failure: drawn again
    np.testing.assert_allclose(shown_colour(widget), COLOURS[2], atol=0.02)
    assert state["calls"] == 3


def test_a_failing_initial_render_raises():
    def render(value):
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError, match="broken"):
        explorer(render, [1, 2])


@pytest.mark.parametrize("values, error, match", [
    ([], ValueError, "at least one"),
    ((), ValueError, "at least one"),
    ([1, 2, 1], ValueError, "distinct"),
    ([1, 1.0], ValueError, "distinct"),
    ([0.1, 0.1000001], ValueError, "labels"),
    ("abc", TypeError, "sequence"),
    ({1, 2}, TypeError, "sequence"),
    ([[1], [2]], TypeError, "hashable"),
    (np.zeros((2, 2)), TypeError, "hashable"),
])
def test_bad_values_raise_clear_errors(values, error, match):
    with pytest.raises(error, match=match):
        explorer(ColourRender(), values)
    with pytest.raises(error, match=match):
        snapshot(ColourRender(), values)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match="render must be a callable"):
        explorer("not a function", [1, 2])
    with pytest.raises(TypeError, match="render must be a callable"):
        snapshot(None, [1, 2])
    with pytest.raises(ValueError, match="value must be one of"):
        explorer(ColourRender(), [1, 2], value=3)
    with pytest.raises(TypeError, match="description"):
        explorer(ColourRender(), [1, 2], description=5)
    with pytest.raises(ValueError, match="dpi"):
        explorer(ColourRender(), [1, 2], dpi=0)
    with pytest.raises(TypeError, match="format_value"):
        explorer(ColourRender(), [1, 2], format_value="{:g}")
    with pytest.raises(TypeError, match="cache"):
        explorer(ColourRender(), [1, 2], cache=[])
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        explorer(lambda v: np.zeros(3), [1, 2])
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        render_png(lambda v: None, 1)


def test_import_is_cheap():
    code = (
        "import sys, companion.explorers; print(any(m in sys.modules for m in ('ipywidgets', 'matplotlib', 'torch')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ------------------------------------------------------------------------------- the chapters

EXPLORER_CHAPTERS = ("implicit_mle", "agave", "symmetric_discriminators")


def _tags(cell) -> set:
    return set(cell.metadata.get("tags", []))


@pytest.mark.parametrize("name", EXPLORER_CHAPTERS)
def test_chapter_has_a_hidden_explorer_after_a_visible_figure(name):
    import jupytext

    cells = jupytext.read(ROOT / "book" / f"{name}.md").cells
    explorer_cells = [i for i, c in enumerate(cells) if c.cell_type == "code" and "explorer(" in c.source]
    assert explorer_cells, f"{name}.md has no explorer cell"
    for i in explorer_cells:
        assert "remove-cell" in _tags(cells[i]), f"the explorer cell of {name}.md must be tagged remove-cell"
        previous_code = next(c for c in reversed(cells[:i]) if c.cell_type == "code")
        assert not _tags(previous_code) & {"remove-cell", "remove-output"}, (
            f"the code cell before the explorer of {name}.md must be visible in the HTML")
        assert "snapshot(" in previous_code.source, (
            f"the code cell before the explorer of {name}.md must draw the static figure with snapshot(...)")
        previous_text = next(c for c in reversed(cells[:i]) if c.cell_type == "markdown")
        assert "live notebook" in previous_text.source and "explorer" in previous_text.source, (
            f"the explorer of {name}.md must be introduced by a sentence saying it opens in a live notebook")
