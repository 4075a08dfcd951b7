"""How long `import companion` takes, against the bare interpreter start measured in the same run.

Target: `python -c "import companion"` under 2 s on a 2-core CPU (torch is imported lazily,
so the top-level import should cost little more than the interpreter itself).

Run: python benchmarks/import_time.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall_time(code: str, repeats: int) -> float:
    """Median wall time of `python -c code` over `repeats` runs, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    bare = wall_time("pass", repeats)
    companion = wall_time("import companion", repeats)
    full = wall_time("import companion.train", repeats)  # what a chapter pays once torch is needed
    print(f"{'what':<28}{'seconds':>10}{'ratio to bare python':>24}")
    for name, seconds in [
        ("python -c pass", bare),
        ("import companion", companion),
        ("import companion.train (torch)", full),
    ]:
        print(f"{name:<28}{seconds:>10.3f}{seconds / bare:>24.2f}")
    ok = companion < 2.0
    print(
        f"RATIO import_companion_vs_bare_python {companion / bare:.2f} "
        f"target: import under 2 s -> {'met' if ok else 'MISSED'} ({companion:.2f} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
