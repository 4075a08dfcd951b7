"""The notebooks of ``make notebooks`` show a reader what the HTML book shows.

Checked on the notebooks as built now from the chapters (the ``built_notebooks`` fixture;
tests/test_book.py checks that the committed ones are the same):

* no markdown cell holds MyST that only Sphinx understands (directives, roles, ``:pyobject:``);
* the source of every object a chapter literalincludes appears in its notebook;
* every theorem, lemma, ... and proof of a chapter is there with its bold, numbered title;
* every exercise is a heading, and every solution is collapsed in ``<details>``;
* citations read "(Author, year)" and a references list ends the chapter where it cites;
* a glued value (myst-nb's ``{glue:text}`` and the other glue roles and directives) reads
  "[`key`]", with one note after the title, in a tiny chapter built here both ways (the
  HTML build still warns about glue keys it cannot find), and in every chapter that glues.

Executing the notebooks is tests/test_notebooks.py's job; rendering one in a browser,
tests/test_browser.py's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import MYST_FRONT_MATTER
from sphinx.pycode import ModuleAnalyzer

ROOT = Path(__file__).resolve().parents[1]
MYST_SYNTAX = ["```{", ":::{", "{cite}`", "{cite:", "{eq}`", "{prf:", "{doc}`", "{ref}`", "{numref}`",
               ":pyobject:", "{literalinclude}", "{solution", "{exercise", "{bibliography", "{glue"]
GLUE_NOTE = "Numbers shown as \\[`name`\\] are computed by this notebook's cells"



def chapters():
    return sorted(
        p for p in (ROOT / "book").glob("*.md")
        if not p.name.startswith("_") and p.read_text().startswith("---\njupytext:")
    )


def markdown_cells(built: Path, source: Path) -> list[str]:
    notebook = json.loads((built / f"{source.stem}.ipynb").read_text())
    return [cell["source"] for cell in notebook["cells"] if cell["cell_type"] == "markdown"]


def literalincludes(source: Path) -> list[tuple[Path, str]]:
    """(file, object) of every ``{literalinclude}`` with ``:pyobject:`` of a chapter."""
    found = []
    for path, options in re.findall(r"```\{literalinclude\}\s+(\S+)\n((?::[^\n]*\n)*)", source.read_text()):
        name = re.search(r":pyobject:\s*(\S+)", options)
        assert name, f"{source.name} includes {path} without :pyobject: (this test reads only whole objects)"
        found.append(((source.parent / path).resolve(), name.group(1)))
    return found


def object_source(path: Path, name: str) -> str:
    """The source text of ``name`` (``func``, ``Class`` or ``Class.method``) in ``path``, as Sphinx cuts it."""
    tags = ModuleAnalyzer.for_file(str(path), "").find_tags()
    assert name in tags, f"{path.name} has no object {name}"
    _, start, end = tags[name]
    lines = path.read_text().splitlines()[start - 1:end - 1]
    return "\n".join(lines).strip()


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.stem)
def test_no_markdown_cell_holds_myst_syntax(source: Path, built_notebooks: Path) -> None:
    for text in markdown_cells(built_notebooks, source):
        for syntax in MYST_SYNTAX:
            assert syntax not in text and syntax.replace("`", "\\`") not in text, (
                f"{source.stem}.ipynb shows raw MyST {syntax!r} in:\n{text[:600]}"
            )


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.stem)
def test_every_literalincluded_object_is_shown(source: Path, built_notebooks: Path) -> None:
    text = "\n".join(markdown_cells(built_notebooks, source))
    for path, name in literalincludes(source):
        code = object_source(path, name)
        assert code and code in text, f"{source.stem}.ipynb does not show {name} of {path.name}"


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.stem)
def test_theorems_and_proofs_have_titles(source: Path, built_notebooks: Path) -> None:
    kinds = re.findall(r"^(?:```|:::)\{prf:(\w+)\}", source.read_text(), re.M)
    cells = markdown_cells(built_notebooks, source)
    for kind in set(kinds) - {"proof"}:
        titled = [c for c in cells if re.search(rf"\*\*{kind.title()}( \d+)?\*\*", c)]
        assert len(titled) == kinds.count(kind), (
            f"{source.stem}.ipynb has {len(titled)} bold {kind} titles for {kinds.count(kind)} {{prf:{kind}}} blocks"
        )
    proofs = [c for c in cells if re.match(r"\*Proof[^*]*\.\* ", c)]
    assert len(proofs) == kinds.count("proof"), f"{source.stem}.ipynb: {len(proofs)} proofs for {kinds.count('proof')}"


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.stem)
def test_exercises_are_headed_and_solutions_collapsed(source: Path, built_notebooks: Path) -> None:
    text = source.read_text()
    exercises = len(re.findall(r"^```\{exercise\}", text, re.M))
    solutions = len(re.findall(r"^```\{solution(?:-start)?\}", text, re.M))
    cells = markdown_cells(built_notebooks, source)
    headed = [c for c in cells if re.search(r"^#+ Exercise \d+", c, re.M)]
    collapsed = [
        c for c in cells if c.startswith("<details>\n<summary>Solution to Exercise") and c.endswith("</details>")
    ]
    assert len(headed) == exercises, f"{source.stem}.ipynb heads {len(headed)} of {exercises} exercises"
    assert len(collapsed) == solutions, f"{source.stem}.ipynb collapses {len(collapsed)} of {solutions} solutions"


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.stem)
def test_citations_read_author_year_with_references_at_the_end(source: Path, built_notebooks: Path) -> None:
    if "{cite" not in source.read_text():
        pytest.skip(f"{source.name} cites nothing")
    cells = markdown_cells(built_notebooks, source)
    text = "\n".join(cells)
    assert re.search(r"\(\[[A-Z][^\]]*, \d{4}[a-z]?\]\(#[\w-]+\)", text), (
        f"{source.stem}.ipynb has no '(Author, year)' citation"
    )
    last_section = max(i for i, c in enumerate(cells) if c.lstrip().startswith("#"))
    assert cells[last_section].startswith("## References"), f"{source.stem}.ipynb does not end with its references"
    assert re.search(r"\d{4}", cells[last_section]), f"the references of {source.stem}.ipynb are empty"
    # every citation links to an entry of that list
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', cells[last_section]))
    for target in re.findall(r"\(\[[A-Z][^\]]*, \d{4}[a-z]?\]\(#([\w-]+)\)", text):
        assert target in anchors, f"{source.stem}.ipynb cites #{target}, which is not in its references"


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.stem)
def test_glued_values_read_as_placeholders_with_one_note(source: Path, built_notebooks: Path) -> None:
    keys = re.findall(r"\{glue(?::\w+)?\}`(?:[^`:]*::)?([\w.-]+)", source.read_text())
    if not keys:
        pytest.skip(f"{source.name} glues nothing")
    cells = markdown_cells(built_notebooks, source)
    text = "\n".join(cells)
    for key in keys:
        assert f"\\[`{key}`\\]" in text, f"{source.stem}.ipynb does not show the placeholder of {key!r}"
    assert text.count(GLUE_NOTE) == 1, f"{source.stem}.ipynb should say once what the placeholders are"
    assert cells[0].startswith("# ") and GLUE_NOTE in cells[0], f"{source.stem}.ipynb: the note is not after the title"


GLUE_CHAPTER = MYST_FRONT_MATTER + """
# Glued

```{code-cell} ipython3
from myst_nb import glue
glue("loss", 0.1234, display=False)
glue("table", "| a |", display=False)
```

The loss is {glue:text}`loss:.2f` nats ({glue}`loss`, {glue:any}`loss`, {glue:md}`table:myst`),
see {numref}`fig-glued` and {eq}`eq-glued`.

```{glue} loss
```

```{glue:md} table
:format: myst
```

```{glue:figure} loss
:name: fig-glued

The glued figure.
```

```{glue:math} loss
:label: eq-glued
```
"""


def _build_tiny_book(tmp_path: Path, builder: str) -> tuple[Path, str]:
    """Build GLUE_CHAPTER with ``builder`` (execution off); return the output folder and the warnings."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "conf.py").write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(ROOT / "tools")!r})
        extensions = ["myst_nb", "sphinx_notebooks"]
        nb_execution_mode = "off"
        myst_enable_extensions = ["dollarmath", "amsmath"]
        numfig = True
        root_doc = "glued"
        """))
    (src / "glued.md").write_text(GLUE_CHAPTER)
    out = tmp_path / builder
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", builder, "-n", "-q", "-E", str(src), str(out),
         "-d", str(tmp_path / f"doctrees-{builder}")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stderr


def test_a_glued_chapter_becomes_a_notebook_with_placeholders(tmp_path: Path) -> None:
    out, warnings = _build_tiny_book(tmp_path, "notebooks")
    assert warnings.strip() == "", f"the notebooks build warned:\n{warnings}"
    notebook = json.loads((out / "glued.ipynb").read_text())
    cells = [c["source"] for c in notebook["cells"] if c["cell_type"] == "markdown"]
    text = "\n".join(cells)
    assert cells[0].startswith("# Glued\n\n> **Note.** " + GLUE_NOTE), cells[0]
    assert text.count(GLUE_NOTE) == 1
    assert "The loss is \\[`loss`\\] nats (\\[`loss`\\], \\[`loss`\\], \\[`table`\\])" in text
    assert "see Fig. 1 and [(1)](#equation-eq-glued)" in text  # the figure and the math keep their numbers
    # the {glue}, {glue:md} and {glue:figure} directives, then {glue:math}
    assert "\n\n\\[`loss`\\]\n\n\\[`table`\\]\n\n\\[`loss`\\]\n\n*The glued figure.*\n\n" in text
    assert "$$\n[\\mathtt{loss}] \\tag{1}\n$$" in text
    assert "{glue" not in text and "0.12" not in text


def test_the_html_build_keeps_myst_nb_glue_and_its_warnings(tmp_path: Path) -> None:
    """The placeholders are the notebooks builder's alone: the HTML still says a key is missing."""
    out, warnings = _build_tiny_book(tmp_path, "html")
    assert "No key 'loss' found in glue data" in warnings, warnings
    assert "[`loss`]" not in (out / "glued.html").read_text()
