"""The coursework (assignments/*.md, built and graded by tools/assignments.py with otter-grader).

Each assignment is built once (a module fixture), then a handful of notebooks is graded in one
run per assignment: the reference solutions (full marks), the untouched student notebook (zero),
the solutions with one answer broken (exactly that question's points lost), and, for one
assignment, a notebook that raises and one that never ends (graded with a message, without
stopping the others). Grading starts a kernel per notebook, so this module takes a minute or two.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import assignments  # noqa: E402

sys.path.pop(0)

NAMES = [source.stem for source in assignments.sources()]
METHOD_CHAPTERS = ["implicit_mle", "latent_density", "elbo_surgery", "agave", "symmetric_discriminators",
                   "adaptive_density"]
TIMEOUT = 60  # seconds per notebook; the looping notebook uses the short one below
LOOP_TIMEOUT = 25


def test_one_assignment_per_method_chapter() -> None:
    assert sorted(NAMES) == sorted(METHOD_CHAPTERS)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Every assignment built into a temporary folder (student notebooks under student/)."""
    out = tmp_path_factory.mktemp("assignments")
    assignments.build(out / "bundles", out / "student")
    return out


def solution_cells(name: str) -> list[str]:
    """The reference solutions of ``name``: the code between otter's solution markers."""
    text = (assignments.SOURCES / f"{name}.md").read_text()
    found = re.findall(r"```\{raw-cell\}\n# BEGIN SOLUTION\n```\n\n```\{code-cell\} ipython3\n(.*?)```", text, re.S)
    assert found, f"{name}.md has no solution cells"
    return found


def hidden_tests(name: str) -> list[str]:
    text = (assignments.SOURCES / f"{name}.md").read_text()
    found = re.findall(r'""" # END TEST CONFIG\n(.*?)```', text, re.S)
    assert found, f"{name}.md has no hidden tests"
    return found


@pytest.mark.parametrize("name", NAMES)
def test_committed_student_notebooks_are_what_the_build_makes(built: Path, name: str) -> None:
    # Colab opens the committed notebook: it must be the current build (run `make assignments`)
    for path in sorted((built / "student" / name).rglob("*")):
        if path.is_file():
            committed = assignments.STUDENT / name / path.relative_to(built / "student" / name)
            assert committed.exists(), f"{committed} is missing: run `make assignments`"
            assert committed.read_text() == path.read_text(), f"{committed} is stale: run `make assignments`"


@pytest.mark.parametrize("name", NAMES)
def test_student_notebooks_hold_no_solution_and_no_hidden_test(built: Path, name: str) -> None:
    folder = built / "student" / name
    text = "\n".join(p.read_text() for p in folder.rglob("*") if p.is_file())
    for cell in solution_cells(name):
        for line in cell.splitlines():
            body = line.split("# SOLUTION")[0].strip()
            if line.endswith("# SOLUTION"):  # `x = answer  # SOLUTION`: the answer after the `=` is gone
                body = body.split(" = ", 1)[1]
            if body and "SOLUTION" not in body and not body.startswith("def "):
                assert json.dumps(body)[1:-1] not in text and body not in text, (
                    f"{name}: the solution line {body!r} leaked"
                )
    for test in hidden_tests(name):
        for line in test.strip().splitlines():
            if len(line.strip()) > 25:  # long enough not to be a common line such as `import torch`
                assert line.strip() not in text and json.dumps(line.strip())[1:-1] not in text, (
                    f"{name}: hidden test line {line!r} leaked"
                )
    assert "hidden': True" not in text and '"hidden": true' not in text


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_opens_on_colab_with_the_chapters_install_cell(name: str) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    import companion

    notebook = nbformat.read(assignments.STUDENT / name / f"{name}.ipynb", as_version=4)
    first_code = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "google.colab" in first_code
    distribution = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert f"{distribution} @ git+{config['repository']['url'].rstrip('/')}@v{companion.__version__}" in first_code
    raw = config["repository"]["url"].replace("https://github.com/", "https://raw.githubusercontent.com/")
    assert f"{raw}/{config['repository']['branch']}/assignments/student/{name}/tests/" in first_code


def break_one_answer(notebook, name: str):
    """A copy of the reference notebook whose first answer cell raises nothing but answers wrong."""
    broken = copy.deepcopy(notebook)
    first_solution = solution_cells(name)[0].strip().splitlines()[0]
    for cell in broken.cells:
        if cell.cell_type == "code" and cell.source.startswith(first_solution):
            # run the right answer, then spoil every number or tensor it defined
            cell.source += (
                "\nfor _name in [k for k in dir() if not k.startswith('_')]:\n"
                "    if _name in {%s}:\n"
                "        globals()[_name] = (lambda f: (lambda *a, **k: f(*a, **k) * 1.5 + 0.1))(globals()[_name]) "
                "if callable(globals()[_name]) else globals()[_name] * 1.5 + 0.1\n"
            ) % ", ".join(repr(v) for v in defined_names(first_solution, cell.source))
            return broken
    raise AssertionError(f"{name}: no answer cell starts with {first_solution!r}")


def defined_names(first_line: str, source: str) -> list[str]:
    """The names an answer cell defines (its `def` or its assignments)."""
    names = re.findall(r"^def (\w+)", source, re.M) + re.findall(r"^(\w+) = ", source, re.M)
    return [n for n in names if n != "_name"]


@pytest.fixture(scope="module")
def graded(built: Path, tmp_path_factory) -> dict:
    """{assignment: {kind: row}} for the reference, untouched and one-wrong notebooks of every assignment."""
    results = {}
    for name in NAMES:
        folder = tmp_path_factory.mktemp(f"submissions_{name}")
        reference = nbformat.read(built / "bundles" / name / "solution.ipynb", as_version=4)
        nbformat.write(reference, folder / "reference.ipynb")
        nbformat.write(
            nbformat.read(built / "student" / name / f"{name}.ipynb", as_version=4), folder / "untouched.ipynb"
        )
        nbformat.write(break_one_answer(reference, name), folder / "one_wrong.ipynb")
        rows = assignments.grade(built / "bundles" / name / "autograder.zip", folder, folder / "scores.csv",
                                 timeout=TIMEOUT, jobs=2)
        results[name] = {Path(row["file"]).stem: row for row in rows}
        results[name]["csv"] = (folder / "scores.csv").read_text()
    return results


def max_points(built: Path, name: str) -> dict:
    import zipfile

    points = {}
    with zipfile.ZipFile(built / "bundles" / name / "autograder.zip") as archive:
        for member in archive.namelist():
            if member.startswith("tests/") and member.endswith(".py"):
                points[Path(member).stem] = float(
                    re.search(r"'points': ([\d.]+)", archive.read(member).decode()).group(1)
                )
    return points


@pytest.mark.parametrize("name", NAMES)
def test_reference_solutions_get_full_marks(built: Path, graded: dict, name: str) -> None:
    row = graded[name]["reference"]
    assert row["scores"] == max_points(built, name), row["message"]
    assert len(row["scores"]) >= 2, f"{name} has fewer than two graded questions"


@pytest.mark.parametrize("name", NAMES)
def test_untouched_student_notebook_gets_zero(graded: dict, name: str) -> None:
    row = graded[name]["untouched"]
    assert row["scores"] and row["total"] == 0, row


@pytest.mark.parametrize("name", NAMES)
def test_one_wrong_answer_loses_exactly_its_question(built: Path, graded: dict, name: str) -> None:
    row, full = graded[name]["one_wrong"], max_points(built, name)
    first = min(full, key=lambda q: (len(q), q))
    assert row["scores"] == {**full, first: 0.0}, row
    assert first in row["message"]


def test_scores_csv_has_a_column_per_question(built: Path, graded: dict) -> None:
    header = graded["agave"]["csv"].splitlines()[0].split(",")
    assert header == ["file", *sorted(max_points(built, "agave"), key=lambda q: (len(q), q)), "total", "message"]


def test_a_raising_or_endless_notebook_is_graded_with_a_message_and_stops_nothing(built: Path, tmp_path: Path) -> None:
    name = "adaptive_density"
    reference = nbformat.read(built / "bundles" / name / "solution.ipynb", as_version=4)
    for kind, code in [("raises", "raise RuntimeError('a bug of the student')"), ("loops", "while True:\n    pass")]:
        notebook = copy.deepcopy(reference)
        answer = next(
            i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and "digits_bits_per_dim" in c.source
        )
        notebook.cells.insert(answer + 1, nbformat.v4.new_code_cell(code))
        nbformat.write(notebook, tmp_path / f"{kind}.ipynb")
    deleted = copy.deepcopy(reference)
    deleted.cells = [c for c in deleted.cells if "def ml_sigma" not in c.source]  # a student deleted a cell
    nbformat.write(deleted, tmp_path / "deleted.ipynb")
    nbformat.write(reference, tmp_path / "reference.ipynb")
    start = time.monotonic()
    rows = {Path(r["file"]).stem: r for r in assignments.grade(built / "bundles" / name / "autograder.zip", tmp_path,
                                                               tmp_path / "scores.csv", timeout=LOOP_TIMEOUT, jobs=2)}
    assert time.monotonic() - start < 4 * LOOP_TIMEOUT
    full = max_points(built, name)
    assert rows["loops"]["total"] == 0 and "longer than" in rows["loops"]["message"]
    assert rows["raises"]["scores"] == full  # the error cell is reported by otter and the rest still runs
    assert rows["deleted"]["scores"] == {**full, "q3": 0.0} and "q3" in rows["deleted"]["message"]
    assert rows["reference"]["scores"] == full
    assert len((tmp_path / "scores.csv").read_text().splitlines()) == 5


def test_the_book_links_every_student_notebook_on_colab() -> None:
    # the preface is in both editions; the student edition is what a class reads
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].rstrip("/").removeprefix("https://github.com/")
    intro = (ROOT / "book" / "intro.md").read_text()
    for name in NAMES:
        link = (f"https://colab.research.google.com/github/{repo}/blob/{config['repository']['branch']}"
                f"/assignments/student/{name}/{name}.ipynb")
        assert link in intro, f"book/intro.md does not link {name} on Colab"
        assert (assignments.STUDENT / name / f"{name}.ipynb").exists()


@pytest.mark.parametrize("first_error, runs, graded", [(assignments.KERNEL_START_FAILURE, 2, True),
                                                       ("NameError: name 'x' is not defined", 1, False)])
def test_a_kernel_that_did_not_start_is_tried_once_more(monkeypatch, tmp_path: Path, first_error: str, runs: int,
                                                        graded: bool) -> None:
    """Two kernels started at once can collide; the notebook is then graded again, while a notebook
    that fails by itself is not run twice."""
    import subprocess

    calls = []

    def fake_otter(notebook, bundle, timeout, tmp):
        calls.append(notebook)
        if len(calls) == 1:
            return subprocess.CompletedProcess([], 1, "", f"RuntimeError: {first_error}\n")
        (Path(tmp) / "results.json").write_text(json.dumps({"tests": [{"name": "q1", "score": 2, "max_score": 2}]}))
        return subprocess.CompletedProcess([], 0, "", "")

    monkeypatch.setattr(assignments, "_run_otter", fake_otter)
    row = assignments.grade_one(tmp_path / "answer.ipynb", tmp_path, timeout=5)
    assert len(calls) == runs
    if graded:
        assert row["scores"] == {"q1": 2.0} and row["message"] == ""
    else:
        assert row["scores"] == {}
        assert row["message"].startswith("not graded: the grader failed (RuntimeError: NameError")
