"""Build the coursework from assignments/*.md and grade submitted notebooks, with otter-grader.

    python tools/assignments.py build [--out _build/assignments]
    python tools/assignments.py grade ASSIGNMENT SUBMISSIONS_DIR [--out scores.csv] [--timeout 60] [--jobs 2]

`build` turns each master notebook (a jupytext MyST file with otter-assign markup: reference
solutions and hidden tests) into, through `otter assign`:
  * assignments/student/<name>/<name>.ipynb and tests/ (the public checks): what students get,
    committed so that Colab can open it from the repository;
  * <out>/<name>/autograder.zip: the grading bundle with the hidden tests, for `grade`, and
    <out>/<name>/solution.ipynb, the reference solutions as a notebook to hand in.

`grade` runs `otter run` (otter's grader without containers) on every notebook of a folder, each
in its own process with a time limit, `--jobs` at a time, and writes one CSV row per notebook:
the points of every question, the total, and a message when the notebook could not be graded
(a time-out, or an error of the grader). otter 7's own `otter grade` needs Docker; this is the
loop around `otter run` that grades without it.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "assignments"
STUDENT = SOURCES / "student"
BUILD = ROOT / "_build" / "assignments"


def sources() -> list[Path]:
    """The master notebooks, one per assignment."""
    return sorted(SOURCES.glob("*.md"))


def _otter(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "otter", *args], capture_output=True, text=True, **kwargs)


def _number_cells(path: Path) -> None:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for i, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{i}"
    nbformat.write(notebook, path)


def build_one(source: Path, out: Path, student_dir: Path) -> Path:
    """Build the student notebook (into ``student_dir/<name>``) and the grading bundle of ``source``.

    Returns:
        The path of the grading bundle, ``out/<name>/autograder.zip``.
    """
    name = source.stem
    with tempfile.TemporaryDirectory() as tmp:
        master = Path(tmp) / f"{name}.ipynb"
        subprocess.run([sys.executable, "-m", "jupytext", "-q", "--to", "ipynb", "-o", str(master), str(source)],
                       check=True)
        dist = Path(tmp) / "dist"
        result = _otter("assign", "--no-pdfs", str(master), str(dist), cwd=tmp)
        if result.returncode != 0:
            raise RuntimeError(f"otter assign failed on {source}:\n{result.stdout}\n{result.stderr}")
        student = student_dir / name
        shutil.rmtree(student, ignore_errors=True)
        shutil.copytree(dist / "student", student)
        _number_cells(student / f"{name}.ipynb")  # otter gives random cell ids: keep rebuilds identical
        (out / name).mkdir(parents=True, exist_ok=True)
        bundle = out / name / "autograder.zip"
        (zip_path,) = (dist / "autograder").glob("*.zip")  # its name carries a time stamp
        shutil.copyfile(zip_path, bundle)
        # the reference solutions, as a notebook a student would hand in (for checking the tests)
        shutil.copyfile(dist / "autograder" / f"{name}.ipynb", out / name / "solution.ipynb")
    return bundle


def build(out: Path = BUILD, student_dir: Path = STUDENT) -> list[Path]:
    """Build every assignment; return the grading bundles."""
    return [build_one(source, out, student_dir) for source in sources()]


def _kill_tree(pid: int) -> None:
    import psutil

    try:
        parent = psutil.Process(pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


#: What the grader prints when a notebook's kernel did not start (two kernels started at once can
#: collide on a port); the notebook is not at fault, so it is graded once more.
KERNEL_START_FAILURE = "Kernel died before replying to kernel_info"


def _run_otter(notebook: Path, bundle: Path, timeout: float, tmp: str) -> Optional[subprocess.CompletedProcess]:
    """``otter run`` of ``notebook`` with ``bundle``, its results in ``tmp``; ``None`` after ``timeout`` s."""
    command = [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(bundle.resolve()), "-o", tmp,
               str(notebook.resolve())]
    process = subprocess.Popen(command, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)  # the kernel runs in a session of its own: end it too
        process.communicate()
        return None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def grade_one(notebook: Path, bundle: Path, timeout: float) -> dict:
    """Grade one submitted notebook with ``otter run``; never raises. A run whose kernel did not
    start (:data:`KERNEL_START_FAILURE`) is tried once more.

    Returns:
        ``{"file": name, "scores": {question: points}, "total": points, "message": text}``;
        ``scores`` is empty when the notebook could not be graded (then ``message`` says why).
    """
    row = {"file": notebook.name, "scores": {}, "total": 0.0, "message": ""}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(2):
            result = _run_otter(notebook, bundle, timeout, tmp)
            if result is None:
                row["message"] = f"not graded: it ran longer than {timeout:g} s (an endless loop?)"
                return row
            if attempt == 0 and result.returncode != 0 and KERNEL_START_FAILURE in result.stderr + result.stdout:
                continue
            break
        results = Path(tmp) / "results.json"
        if result.returncode != 0 or not results.exists():
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            row["message"] = f"not graded: the grader failed ({tail[0][:200]})"
            return row
        tests = [t for t in json.loads(results.read_text())["tests"] if "max_score" in t]
    failed = []
    for test in tests:  # one entry per question, public and hidden test cases together
        row["scores"][test["name"]] = float(test["score"])
        if test["score"] < test["max_score"]:
            failed.append(test["name"])
    row["total"] = sum(row["scores"].values())
    if failed:
        row["message"] = "lost points on " + ", ".join(failed)
    return row


def questions(bundle: Path) -> list[str]:
    """The question names of a grading bundle, in order."""
    import zipfile

    with zipfile.ZipFile(bundle) as archive:
        names = [Path(n).stem for n in archive.namelist() if n.startswith("tests/") and n.endswith(".py")]
    return sorted(names, key=lambda q: (len(q), q))


def grade(bundle: Path, submissions: Path, out: Path, timeout: float = 60.0, jobs: int = 2) -> list[dict]:
    """Grade every ``*.ipynb`` of ``submissions`` against ``bundle``; write the CSV ``out``; return the rows."""
    if not bundle.exists():
        raise FileNotFoundError(f"no grading bundle {bundle}: run `make assignments` first")
    notebooks = sorted(submissions.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"no submitted notebooks (*.ipynb) in {submissions}")
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # each job waits on its own otter process
        rows = list(pool.map(lambda nb: grade_one(nb, bundle, timeout), notebooks))
    names = questions(bundle)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", *names, "total", "message"])
        for row in rows:
            writer.writerow([row["file"], *(row["scores"].get(q, 0.0) for q in names), row["total"], row["message"]])
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="student notebooks, public tests and grading bundles")
    b.add_argument("--out", type=Path, default=BUILD)
    g = commands.add_parser("grade", help="grade a folder of submitted notebooks into a CSV")
    g.add_argument("assignment", help=f"one of: {', '.join(s.stem for s in sources())}")
    g.add_argument("submissions", type=Path)
    g.add_argument("--bundles", type=Path, default=BUILD, help="where `build` wrote the grading bundles")
    g.add_argument("--out", type=Path, default=None, help="the CSV (default: SUBMISSIONS/scores.csv)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per notebook")
    g.add_argument("--jobs", type=int, default=2, help="notebooks graded at once")
    args = parser.parse_args(argv)
    if args.command == "build":
        for bundle in build(args.out):
            print(f"built {bundle}")
        print(f"student notebooks in {STUDENT}")
        return 0
    out = args.out or args.submissions / "scores.csv"
    rows = grade(args.bundles / args.assignment / "autograder.zip", args.submissions, out, args.timeout, args.jobs)
    print(f"graded {len(rows)} notebooks into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
