"""Check that a release tag names the package's version: ``python tools/check_release_tag.py v0.1.0``.

The release workflow runs it on every tag ``v*``. The tag must be ``v`` + ``companion.__version__``
(the version the Colab cell of every chapter installs), and ``CITATION.cff`` must cite the same
version. Exits 1, saying what disagrees, otherwise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parents[1]


def package_version() -> str:
    """``companion.__version__``, read from the source without importing the package."""
    text = (ROOT / "companion" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, flags=re.MULTILINE)
    if match is None:
        raise RuntimeError("companion/__init__.py has no __version__ line")
    return match.group(1)


def citation_version() -> str:
    """The ``version:`` of CITATION.cff."""
    match = re.search(r"^version:\s*\"?([^\"\s]+)\"?\s*$", (ROOT / "CITATION.cff").read_text(), flags=re.MULTILINE)
    if match is None:
        raise RuntimeError("CITATION.cff has no version line")
    return match.group(1)


def problems(tag: str) -> List[str]:
    """What disagrees between ``tag``, ``companion.__version__`` and CITATION.cff (empty: all agree)."""
    version = package_version()
    found = []
    if tag != f"v{version}":
        found.append(f"the tag {tag!r} does not match companion.__version__ = {version!r} (expected 'v{version}')")
    if citation_version() != version:
        found.append(f"CITATION.cff cites version {citation_version()!r}, the package is {version!r}")
    return found


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python tools/check_release_tag.py vX.Y.Z", file=sys.stderr)
        return 2
    found = problems(argv[0])
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if not found:
        print(f"{argv[0]} matches companion.__version__ and CITATION.cff")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
