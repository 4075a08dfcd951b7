"""Run registered experiments and write their metrics to JSON, or compare two such files.

A refactor that should change structure, not results, is checked with a table made by a
script, not typed by hand::

    # on the code before the change (a checkout of the old commit), then on the new code
    PYTHONPATH=. python tools/metrics_table.py run --scale smoke --out before.json
    PYTHONPATH=. python tools/metrics_table.py run --scale smoke --out after.json
    python tools/metrics_table.py compare before.json after.json

``run`` takes ``--only`` (ids or ``chapter/`` prefixes) to run a chosen list. ``compare``
prints one row per metric with both values and the relative difference, flags rows whose
relative difference exceeds ``--tol`` (default 1e-6) and exits with status 1 when any does,
so it can gate a merge.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple


def _flatten(value: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """Leaves of nested dicts and lists as ``("a.b[2]", value)`` pairs."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _selected(ids: Sequence[str], only: Optional[Sequence[str]]) -> List[str]:
    if not only:
        return list(ids)
    chosen = [i for i in ids if any(i == o or (o.endswith("/") and i.startswith(o)) for o in only)]
    unknown = [o for o in only if not any(i == o or (o.endswith("/") and i.startswith(o)) for i in ids)]
    if unknown:
        raise SystemExit(f"unknown experiment ids or prefixes: {unknown}; known: {list(ids)}")
    return chosen


def run(scale: str, out: Path, only: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run the experiments at ``scale`` and write ``{id: {"metrics", "seconds"} or {"error"}}``."""
    from companion.reproduce import experiments, to_jsonable

    known = experiments()
    table: Dict[str, Any] = {}
    for experiment_id in _selected(list(known), only):
        exp = known[experiment_id]
        cfg = exp.config.for_scale(scale)
        start = time.perf_counter()
        try:
            result = exp.run(cfg)
        except Exception as error:  # a failing experiment is a row of the table, not the end of it
            table[experiment_id] = {"error": f"{type(error).__name__}: {error}"}
        else:
            table[experiment_id] = {"metrics": to_jsonable(result.metrics), "seconds": time.perf_counter() - start}
        print(f"{experiment_id}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        out.write_text(json.dumps(table, indent=1, sort_keys=True))  # written as it goes
    return table


def _relative(a: Any, b: Any) -> float:
    """0 for equal values, the relative difference of two numbers, infinity for other pairs."""
    if a == b:
        return 0.0
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


#: metrics that measure the machine, not the model (left out of the comparison): a name with
#: one of these as a word (``seconds``, ``train_seconds.GAN.mean``, ``gan_seconds_mean``)
IGNORED = ("seconds",)


def _is_timing(key: str) -> bool:
    return any(word in IGNORED for word in re.split(r"[./\[\]_]", key))


def compare(before: Dict[str, Any], after: Dict[str, Any], tol: float = 1e-6) -> Tuple[List[str], int]:
    """The lines of a before/after table and the number of rows over ``tol`` (timings left out)."""
    lines = [f"{'experiment / metric':<70} {'before':>14} {'after':>14} {'rel. diff':>10}"]
    n_over = 0
    for experiment_id in sorted(set(before) | set(after)):
        old, new = before.get(experiment_id, {}), after.get(experiment_id, {})
        if "metrics" not in old or "metrics" not in new:
            lines.append(f"{experiment_id:<70} {str(old.get('error', 'missing'))[:14]:>14} "
                         f"{str(new.get('error', 'missing'))[:14]:>14} {'n/a':>10} !")
            n_over += 1
            continue
        a, b = dict(_flatten(old["metrics"])), dict(_flatten(new["metrics"]))
        for key in sorted(set(a) | set(b)):
            if _is_timing(key):
                continue
            rel = _relative(a.get(key), b.get(key))
            flag = "" if rel <= tol else " !"
            n_over += bool(flag)
            shown = f"{rel:.2e}"
            label = (experiment_id + " " + key)[:70]
            lines.append(f"{label:<70} {_short(a.get(key)):>14} {_short(b.get(key)):>14} {shown:>10}{flag}")
    return lines, n_over


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)[:14]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run experiments and write their metrics to JSON")
    p_run.add_argument("--scale", default="smoke", choices=["smoke", "book", "paper"])
    p_run.add_argument("--out", type=Path, required=True)
    p_run.add_argument("--only", nargs="*", help="experiment ids, or 'chapter/' prefixes")
    p_cmp = sub.add_parser("compare", help="print a before/after table of two JSON files")
    p_cmp.add_argument("before", type=Path)
    p_cmp.add_argument("after", type=Path)
    p_cmp.add_argument("--tol", type=float, default=1e-6, help="largest relative difference taken as equal")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.scale, args.out, args.only)
        return 0
    lines, n_over = compare(json.loads(args.before.read_text()), json.loads(args.after.read_text()), args.tol)
    print("\n".join(lines))
    print(f"\n{n_over} row(s) differ by more than {args.tol:g} (relative)")
    return 1 if n_over else 0


if __name__ == "__main__":
    sys.exit(main())
