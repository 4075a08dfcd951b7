"""Run every benchmark in this folder and print one table of their ratios.

Each benchmark is a script that measures our code against a baseline in the same run and
prints one line per figure of merit:

    RATIO <name> <value> <free text: what the ratio means and its target>

This runner executes each script (with `--quick`, where a script has it, unless `--full`
is given), collects those
lines, and prints them as a table. It exits non-zero when a script fails (a script fails
when a correctness check inside it fails, not when a speed target is missed: speed depends
on the machine).

Run: python benchmarks/run_all.py [--full]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="run each benchmark at full size")
    args = parser.parse_args()
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    rows, failed = [], []
    for script in scripts:
        quick = not args.full and "--quick" in script.read_text()
        command = [sys.executable, str(script)] + (["--quick"] if quick else [])
        print(f"running {script.name} ...", flush=True)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            failed.append(script.name)
            print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
        for line in result.stdout.splitlines():
            if line.startswith("RATIO "):
                _, name, value, *note = line.split(" ")
                rows.append((script.stem, name, value, " ".join(note)))
    width = max((len(r[1]) for r in rows), default=10)
    print(f"\n{'benchmark':<20}{'figure':<{width + 2}}{'ratio':>10}  meaning / target")
    for bench, name, value, note in rows:
        print(f"{bench:<20}{name:<{width + 2}}{value:>10}  {note}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
