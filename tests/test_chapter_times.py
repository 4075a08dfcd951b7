"""tools/chapter_times.py: each cell's seconds and busy cores, and the glued values of an executed chapter."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest
from conftest import MYST_FRONT_MATTER

spec = importlib.util.spec_from_file_location(
    "chapter_times", Path(__file__).resolve().parents[1] / "tools" / "chapter_times.py"
)
chapter_times = importlib.util.module_from_spec(spec)
sys.modules["chapter_times"] = chapter_times  # its dataclass looks its module up
spec.loader.exec_module(chapter_times)

TINY = MYST_FRONT_MATTER + """
# A tiny chapter

```{code-cell} ipython3
import os, time
from myst_nb import glue
time.sleep(1.0)
glue("scale", os.environ["COMPANION_SCALE"] + " " + os.environ["COMPANION_PROGRESS"], display=False)
```

Some prose.

```{code-cell} ipython3
glue("folder", os.path.basename(os.getcwd()), display=False)
```
"""


def _cell(source, start, end, outputs=()):
    return {"cell_type": "code", "source": source, "outputs": list(outputs),
            "metadata": {"execution": {"iopub.execute_input": start, "shell.execute_reply": end}}}


def test_cpu_counters_and_busy_percent(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n")
    assert chapter_times.cpu_counters(stat) == (150, 1000)
    assert chapter_times.cpu_counters(tmp_path / "missing") is None
    stat.write_text("")
    assert chapter_times.cpu_counters(stat) is None
    assert chapter_times.busy_percent((150, 1000), (240, 1100)) == pytest.approx(90.0)
    assert chapter_times.busy_percent(None, (240, 1100)) is None
    assert chapter_times.busy_percent((150, 1000), (150, 1000)) is None  # no time passed


def test_cell_times_table_and_glue_from_an_executed_notebook():
    glued = {"output_type": "display_data", "metadata": {"scrapbook": {
        "name": "ag_kl", "mime_prefix": "application/papermill.record/"}},
        "data": {"application/papermill.record/text/plain": "'0.25 nats'"}}
    notebook = {"cells": [
        {"cell_type": "markdown", "source": "# Title", "metadata": {}},
        _cell(["\n", "x = fit()\n", "y = 2\n"], "2026-12-07T03:00:00.000000Z", "2026-12-07T03:01:30.500000Z", [glued]),
        _cell("plot(x)", "2026-12-07T03:01:31.000000Z", "2026-12-07T03:01:31.200000Z"),
        {"cell_type": "code", "source": "never run", "outputs": [], "metadata": {}},
    ]}
    times = chapter_times.cell_times(notebook, busy={1: 97.0})
    assert [(c.index, c.first_line, c.busy) for c in times] == [(1, "x = fit()", 97.0), (2, "plot(x)", None)]
    assert times[0].seconds == pytest.approx(90.5) and times[1].seconds == pytest.approx(0.2)
    lines = chapter_times.table(times, min_seconds=1.0)
    assert "x = fit()" in lines[1] and "97" in lines[1]
    assert not any("plot(x)" in line for line in lines)  # under min_seconds
    assert lines[-1].split()[0] == "90.7" and "all 2 code cells" in lines[-1]
    assert chapter_times.glued_values(notebook) == {"ag_kl": "'0.25 nats'"}


def test_bad_input_says_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="no chapter"):
        chapter_times.read_chapter(tmp_path / "missing.md")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"\.md or \.ipynb"):
        chapter_times.read_chapter(tmp_path / "notes.txt")
    (tmp_path / "tiny.md").write_text(TINY)
    with pytest.raises(ValueError, match="scale must be one of"):
        chapter_times.execute(tmp_path / "tiny.md", scale="huge")
    with pytest.raises(ValueError, match="timeout"):
        chapter_times.execute(tmp_path / "tiny.md", timeout=0)


def test_main_executes_a_chapter_in_its_folder_at_the_scale(tmp_path, capsys, monkeypatch):
    chapter = tmp_path / "chapterdir" / "tiny.md"
    chapter.parent.mkdir()
    chapter.write_text(TINY)
    monkeypatch.setenv("COMPANION_SCALE", "paper")
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    assert chapter_times.main([str(chapter), "--scale", "smoke", "--glue", str(tmp_path / "g.json"),
                               "--out", str(tmp_path / "run.ipynb")]) == 0
    report = capsys.readouterr().out.splitlines()
    assert report[1].split()[-3:] == ["import", "os,", "time"] and float(report[1].split()[0]) >= 1.0
    assert "all 2 code cells" in report[-1]
    import json

    glue = json.loads((tmp_path / "g.json").read_text())["tiny"]["metrics"]
    assert glue == {"scale": "'smoke 0'", "folder": "'chapterdir'"}  # the scale set, bars off, run in its folder
    assert (tmp_path / "run.ipynb").is_file()
    assert os.environ["COMPANION_SCALE"] == "paper"  # restored after the run
