"""Grade 30 submissions of one assignment and print the time (target: under 5 minutes on 2 cores).

    python benchmarks/grading.py [ASSIGNMENT] [--n 30] [--jobs 2]

The submissions are copies of the reference solutions in which each answer is spoiled at random
(a number scaled, so the grader's hidden test fails) with probability 1/2; the script checks that
every copy gets exactly the points of the answers it kept, then prints the time.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import assignments  # noqa: E402

SPOIL = ("\nfor _name in {names}:\n"
         "    _value = globals()[_name]\n"
         "    globals()[_name] = (lambda f: lambda *a, **k: f(*a, **k) * 1.5 + 0.1)(_value) "
         "if callable(_value) else _value * 1.5 + 0.1\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", nargs="?", default="adaptive_density")
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    bundle_dir = assignments.BUILD / args.assignment
    if not (bundle_dir / "autograder.zip").exists():
        assignments.build()
    reference = nbformat.read(bundle_dir / "solution.ipynb", as_version=4)
    answers = [i for i, c in enumerate(reference.cells) if c.cell_type == "code" and "grader.check" in
               (reference.cells[i + 1].source if i + 1 < len(reference.cells) else "")]
    questions = [reference.cells[i + 1].source.split('"')[1] for i in answers]
    rng = random.Random(0)
    expected = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.n):
            notebook = nbformat.read(bundle_dir / "solution.ipynb", as_version=4)
            wrong = set()
            for i, question in zip(answers, questions):
                if rng.random() < 0.5:
                    import re

                    source = notebook.cells[i].source
                    names = re.findall(r"^def (\w+)", source, re.M) + re.findall(r"^(\w+) = ", source, re.M)
                    notebook.cells[i].source = source + SPOIL.format(names=names)
                    wrong.add(question)
            nbformat.write(notebook, Path(tmp) / f"student_{k:02d}.ipynb")
            expected[f"student_{k:02d}.ipynb"] = wrong
        start = time.perf_counter()
        rows = assignments.grade(bundle_dir / "autograder.zip", Path(tmp), Path(tmp) / "scores.csv", jobs=args.jobs)
        seconds = time.perf_counter() - start
    mismatches = [r["file"] for r in rows if {q for q, s in r["scores"].items() if s == 0} != expected[r["file"]]]
    print(f"graded {len(rows)} submissions of {args.assignment} with {args.jobs} jobs in {seconds:.0f} s "
          f"({seconds / len(rows):.1f} s per notebook); target: under 300 s")
    print(
        f"scores as expected for {len(rows) - len(mismatches)} of {len(rows)}"
        + (f"; not for {mismatches}" if mismatches else "")
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
