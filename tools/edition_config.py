"""Write a variant of _config.yml for another edition of the book.

    python tools/edition_config.py student OUT.yml   # exercise solutions hidden, for coursework
    python tools/edition_config.py noexec  OUT.yml   # execution off (the tests' Sphinx build)

The variant shares the execution cache of `make book` at the scale COMPANION_SCALE names
(default book), so the student edition does not execute the chapters again when the book has
just been built at that scale.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EDITIONS = ("student", "noexec")


def edition_config(edition: str) -> dict:
    """The configuration of ``edition`` (one of ``EDITIONS``)."""
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}; got {edition!r}")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    # share the execution cache of `make book` at the same scale (see the Makefile's BOOK_OUT)
    scale = os.environ.get("COMPANION_SCALE", "book")
    book_out = ROOT if scale == "book" else ROOT / "_build" / f"scale-{scale}"
    # jupyter-book 1.x reads `execute.cache` (its nb_execution_cache_path); other keys are ignored
    config["execute"]["cache"] = str(book_out / "_build" / ".jupyter_cache")
    if edition == "student":
        config["title"] = f"{config['title']} (student edition)"
        config["sphinx"]["config"]["hide_solutions"] = True
        # sphinx-exercise leaves gated solutions ({solution-start} ... {solution-end}) visible
        config["sphinx"]["extra_extensions"].append("sphinx_hide_gated_solutions")
        config["sphinx"]["local_extensions"] = {"sphinx_hide_gated_solutions": str(ROOT / "tools")}
    else:
        config["execute"]["execute_notebooks"] = "off"
    return config


def main(argv: list) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    edition, out = argv
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(yaml.safe_dump(edition_config(edition), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
