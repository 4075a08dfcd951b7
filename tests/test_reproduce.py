"""The experiment registry and the command line."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

from companion import reproduce as rep
from companion.config import ExperimentConfig


@dataclasses.dataclass
class LineConfig(ExperimentConfig):
    slope: float = 2.0
    SCALES = {"smoke": {"slope": 1.0}}


@dataclasses.dataclass
class LineResult:
    y: np.ndarray
    metrics: dict
    runs: dict = dataclasses.field(default_factory=dict)
    curves: object = None


def run_line(cfg: LineConfig) -> LineResult:
    y = cfg.slope * np.arange(4.0)
    return LineResult(y, {"last": y[-1], "nan": float("nan"), "arr": y}, runs={"line": {"y": list(y)}})


def plot_line(result: LineResult):
    fig, ax = plt.subplots()
    ax.plot(result.y)
    return fig


@pytest.fixture
def registry(monkeypatch):
    rep.experiments()  # discover the real ones first, then work on a copy
    monkeypatch.setattr(rep, "_REGISTRY", dict(rep._REGISTRY))
    rep.register("test/line", config=LineConfig, plot=plot_line, description="a line")(run_line)
    return rep._REGISTRY


def test_reproduce_writes_figure_and_metrics(registry, tmp_path):
    paths = rep.reproduce("test/line", scale="smoke", out=tmp_path)
    assert paths["figure"].read_bytes()[:4] == b"\x89PNG"
    payload = json.loads(paths["metrics"].read_text())
    assert payload["config"] == {"scale": "smoke", "slope": 1.0}
    assert payload["metrics"] == {"last": 3.0, "nan": None, "arr": [0.0, 1.0, 2.0, 3.0]}
    assert payload["runs"] == {"line": {"y": [0.0, 1.0, 2.0, 3.0]}}  # the per-seed values, for merging runs
    assert "curves" not in payload  # not a dict: left out
    assert (
        json.loads(rep.reproduce("test/line", scale="book", out=tmp_path, slope=5.0)["metrics"].read_text())["metrics"][
            "last"
        ]
        == 15.0
    )


def test_unknown_ids_are_reported_with_the_known_ones(registry, tmp_path):
    with pytest.raises(KeyError, match="test/line"):
        rep.reproduce("test/nothing", out=tmp_path)


def test_register_checks_its_arguments(registry):
    with pytest.raises(ValueError, match="chapter/name"):
        rep.register("no-slash", config=LineConfig, plot=plot_line)
    with pytest.raises(TypeError, match="ExperimentConfig"):
        rep.register("a/b", config=dict, plot=plot_line)
    with pytest.raises(ValueError, match="twice"):
        rep.register("test/line", config=LineConfig, plot=plot_line)(lambda cfg: None)


def test_to_jsonable_handles_tensors_and_non_finite_values():
    import torch

    assert rep.to_jsonable({"t": torch.tensor([1.0, float("inf")]), "n": np.float32(0.5), 3: (1, 2)}) == {
        "t": [1.0, None], "n": 0.5, "3": [1, 2]}


def test_cli_lists_and_rejects_unknown_ids(tmp_path):
    listed = subprocess.run([sys.executable, "-m", "companion", "list"], capture_output=True, text=True)
    assert listed.returncode == 0
    bad = subprocess.run([sys.executable, "-m", "companion", "reproduce", "nope/nothing", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown experiment" in bad.stderr
    empty = subprocess.run([sys.executable, "-m", "companion", "reproduce"], capture_output=True, text=True)
    assert empty.returncode != 0 and "--all" in empty.stderr


def test_cli_set_overrides_a_field_and_checks_its_form(registry, tmp_path, capsys):
    from companion.__main__ import main

    assert main(["reproduce", "test/line", "--scale", "smoke", "--set", "slope=3.0", "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "test" / "line.json").read_text())
    assert written["config"]["slope"] == 3.0 and written["metrics"]["last"] == 9.0
    assert "test/line:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["reproduce", "test/line", "--set", "slope", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["reproduce", "test/line", "--checkpoint-every", "-1", "--out", str(tmp_path)])
