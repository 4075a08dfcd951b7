"""Where a chapter spends its time: execute it and print each cell's seconds and how busy the cores were.

The book's budget is 5 minutes a chapter at ``book`` scale on a quiet 2-core machine. Before
cutting a chapter's time, find the cells that cost it and ask of each whether the cores were
busy: a cell that keeps every core busy (worker jobs, replicas) is shortened only by less or
cheaper work; a cell that keeps one of two cores busy is shortened by running its jobs side by
side::

    PYTHONPATH=. python tools/chapter_times.py book/agave.md                  # book scale
    PYTHONPATH=. python tools/chapter_times.py book/agave.md --scale smoke --out agave.ipynb

It prints one row per cell that took at least ``--min-seconds`` (default 1), slowest first:
seconds, the machine's cores busy during the cell in percent (from ``/proc/stat``, so on Linux
only, and counting every program on the machine), and the cell's first line; then the total.
``--glue FILE`` writes the chapter's glued values as ``tools/metrics_table.py`` reads them, so
that a change meant to save time can show it changed no result::

    PYTHONPATH=<old checkout> python tools/chapter_times.py <old checkout>/book/agave.md --glue before.json
    PYTHONPATH=. python tools/chapter_times.py book/agave.md --glue after.json
    python tools/metrics_table.py compare before.json after.json

The chapter runs in a fresh kernel in its own folder, with ``COMPANION_SCALE`` set and the
progress bars off, as the book's build runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import nbformat

SCALES = ("smoke", "book", "paper")
_STAT = Path("/proc/stat")


@dataclass
class CellTime:
    """One executed code cell: its index among the notebook's cells, seconds, busy percent (or ``None``), first line."""

    index: int
    seconds: float
    busy: Optional[float]
    first_line: str


def cpu_counters(stat: Path = _STAT) -> Optional[Tuple[int, int]]:
    """``(busy, total)`` clock ticks of all cores since boot from ``/proc/stat``, or ``None`` where it is missing."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    fields = lines[0].split() if lines else []
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    ticks = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


def busy_percent(before: Optional[Tuple[int, int]], after: Optional[Tuple[int, int]]) -> Optional[float]:
    """The share of the cores' time that was busy between two :func:`cpu_counters` readings, in percent."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


def _seconds(cell: Dict[str, Any]) -> Optional[float]:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return None
    return (datetime.fromisoformat(end.replace("Z", "+00:00"))
            - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def cell_times(notebook: Any, busy: Optional[Dict[int, float]] = None) -> List[CellTime]:
    """The code cells of an executed notebook with their seconds (from the timing nbclient records), in order.

    Args:
        notebook: an executed notebook (``nbformat`` node or the same as a dict).
        busy: percent of the cores busy per cell index (:func:`execute`), where measured.
    """
    busy = busy or {}
    times = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        seconds = _seconds(cell)
        if seconds is None:
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        first = next((line.strip() for line in source.splitlines() if line.strip()), "")
        times.append(CellTime(index, seconds, busy.get(index), first))
    return times


def glued_values(notebook: Any) -> Dict[str, str]:
    """``{name: text}`` of every value the notebook glues (``myst_nb.glue``), as the book would show it."""
    values = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if not record:
                continue
            text = output.get("data", {}).get(record.get("mime_prefix", "") + "text/plain")
            if text is not None:
                values[record["name"]] = "".join(text) if isinstance(text, list) else text
    return values


def read_chapter(path: Path) -> Any:
    """A chapter as a notebook: a MyST ``.md`` source (through jupytext) or an ``.ipynb``."""
    if not path.is_file():
        raise FileNotFoundError(f"no chapter at {path}")
    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    if path.suffix != ".md":
        raise ValueError(f"a chapter is a .md or .ipynb file; got {path.name}")
    import jupytext

    return jupytext.read(path)


def execute(path: Path, scale: str = "book", timeout: int = 3600) -> Tuple[Any, Dict[int, float]]:
    """Execute the chapter at ``path`` in a fresh kernel in its folder; return it and the busy percent per cell.

    Raises:
        ValueError: for an unknown scale or a timeout below one second.
        nbclient.exceptions.CellExecutionError: a cell failed (its traceback says which).
    """
    from nbclient import NotebookClient

    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}; got {scale!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    notebook = read_chapter(path)
    busy: Dict[int, float] = {}
    started: Dict[int, Optional[Tuple[int, int]]] = {}

    def on_start(cell, cell_index):  # nbclient's hooks are called with these keywords
        started[cell_index] = cpu_counters()

    def on_done(cell, cell_index, **_):
        share = busy_percent(started.get(cell_index), cpu_counters())
        if share is not None:
            busy[cell_index] = share

    saved = {name: os.environ.get(name) for name in ("COMPANION_SCALE", "COMPANION_PROGRESS", "PYTHONPATH")}
    os.environ.update(COMPANION_SCALE=scale, COMPANION_PROGRESS="0")  # the kernel inherits them
    if os.environ.get("PYTHONPATH"):  # the kernel starts in the chapter's folder: "." would mean book/
        entries = os.environ["PYTHONPATH"].split(os.pathsep)
        os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(entry) for entry in entries)
    try:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=True,
                                resources={"metadata": {"path": str(path.resolve().parent)}},
                                on_cell_execute=on_start, on_cell_executed=on_done)
        client.execute()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return notebook, busy


def table(times: Sequence[CellTime], min_seconds: float = 1.0) -> List[str]:
    """The report's lines: the cells of at least ``min_seconds``, slowest first, then the total of all cells."""
    lines = [f"{'seconds':>8} {'busy %':>7} {'cell':>5}  first line"]
    for cell in sorted(times, key=lambda c: -c.seconds):
        if cell.seconds < min_seconds:
            continue
        busy = "n/a" if cell.busy is None else f"{cell.busy:.0f}"
        lines.append(f"{cell.seconds:8.1f} {busy:>7} {cell.index:>5}  {cell.first_line[:90]}")
    lines.append(f"{sum(c.seconds for c in times):8.1f} {'':>7} {'':>5}  all {len(times)} code cells")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", type=Path, help="book/<chapter>.md (or an .ipynb)")
    parser.add_argument("--scale", default="book", choices=SCALES)
    parser.add_argument("--min-seconds", type=float, default=1.0, help="leave out cells faster than this")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one cell may take")
    parser.add_argument("--out", type=Path, help="write the executed notebook here")
    parser.add_argument("--glue", type=Path, help="write the glued values here, for tools/metrics_table.py compare")
    args = parser.parse_args(argv)
    notebook, busy = execute(args.chapter, args.scale, args.timeout)
    print("\n".join(table(cell_times(notebook, busy), args.min_seconds)))
    if args.out is not None:
        nbformat.write(notebook, args.out)
    if args.glue is not None:
        args.glue.write_text(json.dumps({args.chapter.stem: {"metrics": glued_values(notebook)}}, indent=1,
                                        sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
