"""Shared test settings: quiet progress bars, one thread, a fixed scale."""

import os

# Set before torch is imported by any test module: tests must not fight over 2 cores,
# and progress bars only clutter the log.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("COMPANION_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test opened."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
