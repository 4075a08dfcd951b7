"""ruff over the repository (configured in pyproject.toml), so that ``make test`` lints."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_reports_no_problem():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert "No module named ruff" not in result.stderr, "ruff is missing: pip install -r requirements.txt"
    assert result.returncode == 0, f"ruff check . found problems:\n{result.stdout}{result.stderr}"
