"""Build the chapters' notebooks for Jupyter and Colab (``make notebooks``).

    python tools/build_notebooks.py            # write book/<chapter>.ipynb for every chapter
    python tools/build_notebooks.py --out DIR  # write them to DIR/<chapter>.ipynb instead

Runs ``jupyter-book build --builder custom --custom-builder notebooks`` with the book's own
``_config.yml`` (execution off: nothing is executed) and the ``notebooks`` builder of
``tools/sphinx_notebooks.py``, so the notebooks carry the numbers, references and
citations of the HTML book. The ``.md`` chapters stay the only source; the ``.ipynb`` next
to them are this command's output, committed so that Colab and the launch buttons open them.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def notebooks_config() -> dict:
    """The book's configuration with execution off and the ``notebooks`` builder loaded."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    config["sphinx"]["extra_extensions"].append("sphinx_notebooks")
    config["sphinx"]["local_extensions"] = {"sphinx_notebooks": str(ROOT / "tools")}
    config["sphinx"]["config"]["bibtex_reference_style"] = "author_year_round"  # "(Lucas, 2020)"
    return config


def build(out: Path) -> list[Path]:
    """Build every chapter's notebook into ``out`` (``out/<chapter>.ipynb``); return the files."""
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jupyter_book is None:
        raise RuntimeError("jupyter-book is not installed next to this Python: run `make setup`")
    with tempfile.TemporaryDirectory(prefix="notebooks-") as work:
        config_file = Path(work) / "_config.yml"
        config_file.write_text(yaml.safe_dump(notebooks_config()))
        result = subprocess.run(
            [jupyter_book, "build", str(ROOT), "--config", str(config_file), "--path-output", work,
             "--builder", "custom", "--custom-builder", "notebooks", "-W", "-n", "--keep-going"],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"the notebook build failed:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}")
        built = sorted((Path(work) / "_build" / "notebooks" / "book").glob("*.ipynb"))
        if not built:
            raise RuntimeError(f"the notebook build wrote no notebook:\n{result.stdout[-4000:]}")
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for notebook in built:
            target = out / notebook.name
            shutil.copyfile(notebook, target)
            written.append(target)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "book", help="folder for the notebooks (default: book/)")
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
