"""Every result number in a chapter's prose is glued from an executed cell.

The rule (issue 14, section 2): a number that the book's own runs produced is inserted in
the prose with myst-nb's ``{glue:text}`` role, or appears in a table or figure that a cell
prints or draws, so that the text and the outputs of one build always agree. Numbers quoted
from the papers stay literal and are attributed.

What the test can see is a *result sentence*: a sentence of the markdown prose (code cells,
math, inline code and roles left out) that holds a result marker

    our, ours, we measured, we find, we found, we get, we got, we saw, we observed,
    we obtained, in this run, the book's run, at book scale, book-scale run, here

together with a literal number. Such a number fails the test unless it is

* a year (1900-2029, written without a thousands separator);
* a numbered reference: Fig./Figure/Table/Eq./Equation/Section/Chapter/Theorem/Lemma/
  Appendix/Algorithm/Exercise N;
* part of a name: attached to letters (``L2``, ``2D``, ``k30``, ``CIFAR-10``, ``1st``), or an
  image size such as ``16×16``;
* in a sentence that attributes its numbers to a source: it holds "paper", "reports",
  "reported", "published", "thesis" or a ``{cite}`` role.

A markdown table is checked column by column: the cells of a column whose header holds a
marker (e.g. "ours, book scale") must not hold literal numbers; print such a table from a
cell instead.

Run the rule on another copy of the book with ``GLUE_CHECK_BOOK=/path/to/book``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = Path(os.environ.get("GLUE_CHECK_BOOK", ROOT / "book"))

MARKERS = re.compile(
    r"\b(?:our|ours|we (?:measured|find|found|get|got|saw|observed|obtained)|in this run"
    r"|the book's run|at book[- ]scale|book[- ]scale runs?|here)\b",
    re.IGNORECASE,
)
ATTRIBUTION = re.compile(r"\b(?:papers?|reports|reported|published|thesis)\b|\{cite[:\w]*\}", re.IGNORECASE)
REFERENCE = re.compile(
    r"\b(?:Figs?|Figures?|Tables?|Eqs?|Equations?|Sections?|Chapters?|Theorems?|Lemmas?|Appendix"
    r"|Algorithms?|Exercises?|Propositions?|Definitions?|Corollary|§)\.?\s*\(?\d+(?:\.\d+)*(?:\)|[a-z]\b)?",
)
NUMBER = re.compile(r"(?<![\w.,])(?<![A-Za-z]-)\d+(?:[.,]\d+)*(?![\w])")
YEAR = re.compile(r"^(?:19\d\d|20[0-2]\d)$")
ABBREVIATIONS = re.compile(r"\b(e\.g|i\.e|vs|cf|et al|resp|approx|Figs?|Eqs?|No)\.", re.IGNORECASE)
SIZE = re.compile(r"\d+(?:\s*×\s*\d+)+")  # an image or patch size such as 16×16 names the data

# Fenced blocks whose body is not prose.
NON_PROSE_FENCES = {"code-cell", "code", "code-block", "literalinclude", "math", "raw", "python",
                    "bash", "text", "sh", "console", "shell", "", "glue:figure", "glue"}


def _fence_name(info: str) -> str:
    info = info.strip()
    match = re.match(r"\{([\w:-]+)\}", info)
    if match:
        return match.group(1)
    return info.split()[0] if info else ""


def prose_blocks(text: str) -> list[str]:
    """The prose of a MyST chapter as blocks (paragraphs, list items, table rows).

    Front matter, code cells, code listings, math blocks, comments and HTML are dropped;
    admonitions and other directives whose body is prose are kept (without their options).
    """
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        text = text[end + 5:] if end != -1 else text
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"\$\$.*?\$\$", " MATH ", text, flags=re.DOTALL)

    blocks: list[str] = []
    current: list[str] = []
    skip_until: str | None = None

    def flush() -> None:
        if current:
            blocks.append(" ".join(current))
            current.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if skip_until is not None:
            if stripped == skip_until:
                skip_until = None
            continue
        fence = re.match(r"^(`{3,}|:{3,})(.*)$", stripped)
        if fence:
            flush()
            marks, info = fence.groups()
            if info.strip() and _fence_name(info) not in NON_PROSE_FENCES:
                continue  # opening of a prose directive: its body is read as prose
            if not info.strip():
                continue  # a bare fence closes a prose directive
            skip_until = marks
            continue
        if (not stripped or stripped.startswith(("#", "%", "+++", "<")) or re.match(r"^:[\w-]+:", stripped)):
            flush()
            continue
        if stripped.startswith("|"):
            flush()
            blocks.append(stripped)
            continue
        if re.match(r"^(?:[-*+]|\d+[.)])\s", stripped):
            flush()
            stripped = re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", stripped)
        current.append(stripped)
    flush()
    return blocks


def _clean(text: str) -> tuple[str, bool]:
    """``text`` with math, roles, inline code, links and references blanked out.

    Returns the cleaned text and whether it attributes its numbers to a source (a cite role).
    """
    cited = bool(re.search(r"\{cite[:\w]*\}`", text))
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ROLE ", text)
    # Inline code: a plain word may be a marker ("at `book` scale"), anything else is code.
    text = re.sub(r"`([A-Za-z_ -]+)`", r"\1", text)
    text = re.sub(r"`[^`]*`", " CODE ", text)
    text = re.sub(r"(?<!\\)\$[^$]+\$", " MATH ", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = REFERENCE.sub(" REF ", text)
    text = SIZE.sub(" SIZE ", text)
    text = text.replace("**", "").replace("*", "")
    return text, cited


def sentences(block: str) -> list[str]:
    """Split a prose block into sentences (abbreviations such as "e.g." do not end one)."""
    protected = ABBREVIATIONS.sub(lambda m: m.group(0).replace(".", "\0"), block)
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z(\"'\[{$`0-9])", protected)
    return [p.replace("\0", ".") for p in parts if p.strip()]


def unglued_numbers_in_sentence(sentence: str) -> list[str]:
    """The literal numbers of ``sentence`` that the rule forbids (empty when it passes)."""
    text, cited = _clean(sentence)
    if not MARKERS.search(text):
        return []
    if cited or ATTRIBUTION.search(text):
        return []
    return [n for n in NUMBER.findall(text) if not YEAR.match(n)]


def _table_violations(rows: list[str]) -> list[str]:
    def split(row: str) -> list[str]:
        return [c.strip() for c in row.strip().strip("|").split("|")]

    header = split(rows[0])
    body = [split(r) for r in rows[1:] if not re.match(r"^\|[\s:|-]+\|?$", r.strip())]
    marked = [i for i, h in enumerate(header) if MARKERS.search(_clean(h)[0]) and not ATTRIBUTION.search(h)]
    problems = []
    for cells in body:
        for i in marked:
            if i < len(cells):
                text, _ = _clean(cells[i])
                numbers = [n for n in NUMBER.findall(text) if not YEAR.match(n)]
                if numbers:
                    problems.append(f"table column {header[i]!r}: {cells[i]!r} holds {numbers}")
    return problems


def violations(text: str) -> list[str]:
    """Every result sentence of a chapter's text that holds an unglued number, with the numbers."""
    problems: list[str] = []
    table: list[str] = []
    for block in prose_blocks(text) + [""]:
        if block.startswith("|"):
            table.append(block)
            continue
        if table:
            problems += _table_violations(table)
            table = []
        for sentence in sentences(block):
            numbers = unglued_numbers_in_sentence(sentence)
            if numbers:
                problems.append(f"{sentence.strip()!r} holds unglued {numbers}")
    return problems


def chapter_sources(book: Path = BOOK) -> list[Path]:
    """The jupytext chapters of ``book`` (templates, whose names start with '_', excluded)."""
    return sorted(
        p for p in book.glob("*.md")
        if not p.name.startswith("_") and p.read_text().startswith("---\njupytext:")
    )


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_result_numbers_in_the_prose_are_glued(source: Path) -> None:
    problems = violations(source.read_text())
    assert not problems, (
        f"{source.name}: result numbers in the prose that no cell produced (glue them with "
        "myst_nb.glue and {glue:text}, print them from a cell, or attribute them to the paper):\n  "
        + "\n  ".join(problems)
    )


# The rule itself, on planted text: it must catch an unglued result and pass what it exempts.

SAMPLE = """---
jupytext:
  formats: md:myst
---

# A chapter

```{code-cell} ipython3
glue("ll", 3.21, display=False)
our_score = 12.5  # code is not prose
```

{PLANTED}

Figure 3 shows our samples, as our Fig. 4.2 does. Our Table 2 and Eq. (3) agree. In our run the score was {glue:text}`ll:.2f` nats.
The paper reports 143 for our method's ancestor. Our setup follows {cite}`li2018implicit` (12.4).
We trained in 2024 as in Section 2 of our notes, and our $K = 20$ codes are 2D.
Ours is a CIFAR-10 model, e.g. one of our favourites.

$$
\\log p(x) = 7.5 \\quad \\text{(our bound)}
$$

| method | paper | ours |
| --- | --- | --- |
| IML | 143 | printed above |
"""


def test_rule_passes_glued_and_exempt_numbers() -> None:
    assert violations(SAMPLE.replace("{PLANTED}", "Nothing planted.")) == []


@pytest.mark.parametrize("planted", [
    "In our run the score was 3.2 nats.",
    "We measured 19.8 ± 0.5 for IML.",
    "At `book` scale the GAN dropped a mode in 3 seeds of 5.",
    "Here the LDE reaches −1.25 nats per pixel.",
])
def test_rule_catches_an_unglued_result(planted: str) -> None:
    problems = violations(SAMPLE.replace("{PLANTED}", planted))
    assert len(problems) == 1 and planted.split()[0] in problems[0], problems


def test_rule_checks_marked_table_columns() -> None:
    text = SAMPLE.replace("{PLANTED}", "").replace("| IML | 143 | printed above |", "| IML | 143 | 19.8 |")
    problems = violations(text)
    assert len(problems) == 1 and "19.8" in problems[0], problems


def test_rule_ignores_numbers_without_a_marker() -> None:
    assert violations(SAMPLE.replace("{PLANTED}", "A Gaussian has 2 parameters and 0.5 is a half.")) == []
