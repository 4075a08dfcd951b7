"""Shared test settings (quiet progress bars, one thread, a fixed scale) and the smoke build of the book."""

from __future__ import annotations

import os

# Set before torch is imported by any test module: tests must not fight over 2 cores,
# and progress bars only clutter the log.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("COMPANION_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

import math  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: opens the built book in headless Chromium")


def pytest_collection_modifyitems(config, items):
    """Start the book builds first and open the built book in the browser last.

    Under ``pytest -n 2`` the builds are the longest tests: started first, they run beside
    the rest of the suite, and the browser tests, which wait for the smoke build, find it done.
    """
    def rank(item):
        if item.get_closest_marker("build"):
            return 0
        return 2 if item.get_closest_marker("browser") else 1

    items.sort(key=rank)  # stable: the order within each group is kept


@pytest.fixture
def one_worker_and_two(monkeypatch):
    """``both(run, *args)``: ``run(*args)`` with one worker process and again with two
    (:mod:`companion.workers`), each time with nothing kept from an earlier fit
    (:func:`companion.shared_fits.fit_once`); returns the two results, to be compared number for number."""
    from companion import shared_fits, workers

    def both(run, *args):
        results = []
        for n in ("1", "2"):
            monkeypatch.setattr(shared_fits, "_FITTED", {})
            monkeypatch.setenv(workers.WORKERS_ENV, n)
            results.append(run(*args))
        return results

    return both


#: The front matter of a MyST notebook chapter (what jupytext reads before the first cell), for tests that
#: write a small chapter of their own.
MYST_FRONT_MATTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def timeless(numbers):
    """``numbers`` (nested dicts, lists, floats) without wall-clock seconds, which differ from run to run, and
    with NaN written as a word (NaN != NaN): what two runs of the same seeds must agree on."""
    if isinstance(numbers, dict):
        return {key: timeless(value) for key, value in numbers.items() if "seconds" not in str(key)}
    if isinstance(numbers, (list, tuple)):
        return [timeless(value) for value in numbers]
    return "nan" if isinstance(numbers, float) and math.isnan(numbers) else numbers


def build_book(config: dict, out: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``jupyter-book build`` on the repository with ``config`` (a parsed _config.yml) into ``out``.

    Sphinx warnings are errors (``-W -n --keep-going``). The HTML lands in ``out/_build/html``.
    """
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / "_config.yml"
    config_file.write_text(yaml.safe_dump(config))
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    assert jupyter_book, "jupyter-book is not installed next to this Python"
    return subprocess.run(
        [jupyter_book, "build", str(ROOT), "--config", str(config_file), "--path-output", str(out),
         "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=1800, env=env,
    )


def _build_smoke_book(out: Path) -> None:
    """Build the book with every chapter executed at smoke scale; leave 'ok' or the log in out/status."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    # "force" executes every chapter afresh and keeps no cache: a smoke run must never land in
    # the book-scale cache of `make book`, whose keys do not see COMPANION_SCALE.
    config["execute"]["execute_notebooks"] = "force"
    env = dict(os.environ, COMPANION_SCALE="smoke", COMPANION_PROGRESS="0")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend must draw the figures into the pages
    try:
        result = build_book(config, out, env)
    except subprocess.TimeoutExpired as error:  # written down, so that no other worker tries again
        (out / "status").write_text(f"the smoke build of the book ran out of time: {error}")
        return
    if result.returncode == 0:
        (out / "status").write_text("ok")
        return
    reports = sorted((out / "_build" / "html" / "reports").rglob("*.log"))
    details = "\n".join(f"--- {r.name}\n{r.read_text()[-3000:]}" for r in reports)
    (out / "status").write_text(
        f"the book executed at smoke scale does not build cleanly:\n{result.stdout[-8000:]}\n"
        f"{result.stderr[-4000:]}\n{details}"
    )


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> Path:
    """The HTML folder of the book built with -W and every chapter executed at smoke scale.

    Built once per test run: pytest-xdist workers share it through a lock on their common
    temporary folder, so the second worker waits for the first one's build instead of
    building again.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        out = tmp_path_factory.getbasetemp().parent / "smoke_book"
    else:
        out = tmp_path_factory.getbasetemp() / "smoke_book"
    from filelock import FileLock

    with FileLock(str(out) + ".lock"):
        if not (out / "status").exists():
            _build_smoke_book(out)
    status = (out / "status").read_text()
    if status != "ok":
        pytest.fail(status, pytrace=False)
    return out / "_build" / "html"


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test opened."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def _shared_folder(tmp_path_factory, name: str) -> Path:
    """A folder that every pytest-xdist worker of this run sees under the same name."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return tmp_path_factory.getbasetemp().parent / name
    return tmp_path_factory.getbasetemp() / name


@pytest.fixture(scope="session")
def built_notebooks(tmp_path_factory) -> Path:
    """The folder of the chapters' notebooks as ``make notebooks`` builds them now (nothing executed)."""
    out = _shared_folder(tmp_path_factory, "built_notebooks")
    from filelock import FileLock

    with FileLock(str(out) + ".lock"):
        if not (out / "status").exists():
            sys.path.insert(0, str(ROOT / "tools"))
            try:
                from build_notebooks import build
            finally:
                sys.path.pop(0)
            try:
                build(out)
                (out / "status").write_text("ok")
            except RuntimeError as error:
                (out / "status").write_text(str(error))
    status = (out / "status").read_text()
    if status != "ok":
        pytest.fail(status, pytrace=False)
    return out


@pytest.fixture(scope="session")
def installed_companion(tmp_path_factory) -> Path:
    """A folder holding the companion installed from this checkout as a reader's Colab has it.

    A regular (non-editable) install of the package alone, with ``pip install --target``:
    put first on PYTHONPATH, it hides the repository and any editable install, and the rest
    (torch, numpy, ...) comes from this Python's environment.
    """
    out = _shared_folder(tmp_path_factory, "installed_companion")
    from filelock import FileLock

    with FileLock(str(out) + ".lock"):
        if not (out / "status").exists():
            build_dir = out.parent / "installed_companion_build"
            shutil.rmtree(build_dir, ignore_errors=True)
            shutil.copytree(ROOT, build_dir, ignore=shutil.ignore_patterns(
                ".git", ".venv", "_build", "*.egg-info", "build", "__pycache__", ".pytest_cache", "book", "tests"))
            result = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                 "--no-index", "--target", str(out / "site"), str(build_dir)],
                capture_output=True, text=True, timeout=600,
            )
            (out / "status").write_text("ok" if result.returncode == 0 else
                                        f"pip could not install the companion:\n{result.stdout}\n{result.stderr}")
    status = (out / "status").read_text()
    if status != "ok":
        pytest.fail(status, pytrace=False)
    return out / "site"
