"""The README's list of every figure and table of the source papers.

The section "## Every figure and table of the papers" has one table per paper, with the
columns ``| Paper item | What it shows | Reproduced by | Status |``. These tests parse it
and check it against the experiment registry: every id it names is registered, every
registered experiment (outside ``comparison/``, which reproduces no paper) is listed, every
status has one of the allowed forms, and no paper item is listed twice. When the papers'
text extractions are at hand, they also check that no captioned figure or table is missing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import pytest

from companion import reproduce as rep

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Every figure and table of the papers"
COLUMNS = ["Paper item", "What it shows", "Reproduced by", "Status"]

# Statuses that claim an experiment, and those that must not name one.
WITH_EXPERIMENT = [
    r"reproduced \(book scale\)",
    r"partly reproduced \(book scale\): \S.*",
    r"not reproduced at book scale: \S.*",
    r"paper-scale config present, not run",
]
WITHOUT_EXPERIMENT = [r"not yet", r"diagram"]
NO_EXPERIMENT_CELL = "—"

# A word of each paper's heading, and the start of its text extraction's file name.
PAPERS = {"Subakan": "000", "Yoo": "001", "Rosca": "002", "Lucas, Shmelkov": "003", "thesis": "004"}
ID = re.compile(r"`([^`]+)`")


@dataclass
class Row:
    paper: str
    item: str
    shows: str
    reproduced_by: str
    status: str

    @property
    def ids(self) -> List[str]:
        return ID.findall(self.reproduced_by)


def section_text(readme: str) -> str:
    """The text of the section, from its heading to the next ``## `` heading."""
    start = readme.find("\n" + SECTION + "\n")
    if start < 0:
        raise ValueError(f"README has no section {SECTION!r}")
    body = readme[start + len(SECTION) + 2:]
    end = body.find("\n## ")
    return body if end < 0 else body[:end]


def parse_tables(readme: str) -> Dict[str, List[Row]]:
    """Each ``### `` heading of the section with the rows of the table under it."""
    tables: Dict[str, List[Row]] = {}
    paper: Optional[str] = None
    for line in section_text(readme).splitlines():
        if line.startswith("### "):
            paper = line[4:].strip()
            tables[paper] = []
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if paper is None:
                raise ValueError(f"table row before any paper heading: {line!r}")
            if len(cells) != len(COLUMNS):
                raise ValueError(f"row with {len(cells)} cells, expected {len(COLUMNS)}: {line!r}")
            if cells == COLUMNS or set("".join(cells)) <= set("-: "):
                continue  # the header and the separator
            tables[paper].append(Row(paper, *cells))
    return tables


def all_rows(tables: Dict[str, List[Row]]) -> List[Row]:
    return [row for rows in tables.values() for row in rows]


def status_problems(rows: Iterable[Row]) -> List[str]:
    """Rows whose status is not one of the allowed forms, or disagrees with the ids."""
    problems = []
    for row in rows:
        claims = any(re.fullmatch(p, row.status) for p in WITH_EXPERIMENT)
        empty = any(re.fullmatch(p, row.status) for p in WITHOUT_EXPERIMENT)
        where = f"{row.paper}, {row.item}"
        if not (claims or empty):
            problems.append(f"{where}: status {row.status!r} is not an allowed form")
        elif claims and not row.ids:
            problems.append(f"{where}: status {row.status!r} names no experiment")
        elif empty and row.reproduced_by != NO_EXPERIMENT_CELL:
            problems.append(f"{where}: status {row.status!r} but 'Reproduced by' is {row.reproduced_by!r}")
        if row.status == "diagram" and "nothing to reproduce" not in row.shows:
            problems.append(f"{where}: a diagram row must say 'nothing to reproduce'")
    return problems


def id_problems(rows: Iterable[Row], registered: Iterable[str]) -> List[str]:
    """Ids named in the list that the registry does not know."""
    known = set(registered)
    return [f"{row.paper}, {row.item}: {i!r} is not registered" for row in rows for i in row.ids if i not in known]


def coverage_problems(rows: Iterable[Row], registered: Iterable[str]) -> List[str]:
    """Registered experiments (outside ``comparison/``) that the list never names."""
    named = {i for row in rows for i in row.ids}
    return [f"{i} is not listed" for i in sorted(registered) if not i.startswith("comparison/") and i not in named]


def duplicate_problems(tables: Dict[str, List[Row]]) -> List[str]:
    """Paper items listed more than once in the same paper's table."""
    problems = []
    for paper, rows in tables.items():
        seen = set()
        for row in rows:
            if row.item in seen:
                problems.append(f"{paper}: {row.item!r} is listed twice")
            seen.add(row.item)
    return problems


def caption_labels(text: str) -> List[str]:
    """'Fig. N' / 'Table N' for every 'Figure N:' / 'Table N:' caption of an extracted paper."""
    labels: List[str] = []
    for m in re.finditer(r"(Figure|Table) ((?:[A-Z]|\d+)(?:\.\d+)?):", text):
        label = ("Fig. " if m.group(1) == "Figure" else "Table ") + m.group(2)
        if label not in labels:
            labels.append(label)
    return labels


def missing_items(labels: Iterable[str], rows: Iterable[Row]) -> List[str]:
    """Caption labels that no row covers ('Fig. 3' is covered by 'Fig. 3 (left)' too)."""
    items = [row.item for row in rows]
    return [label for label in labels
            if not any(item == label or item.startswith((label + " ", label + ",")) for item in items)]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tables(readme) -> Dict[str, List[Row]]:
    return parse_tables(readme)


@pytest.fixture(scope="module")
def registered() -> List[str]:
    return list(rep.experiments())


# ------------------------------------------------------------------ the README's list


def test_one_table_per_paper(tables):
    assert len(tables) == len(PAPERS), list(tables)
    for word in PAPERS:
        matching = [paper for paper in tables if word in paper]
        assert len(matching) == 1, f"{word!r} should name exactly one paper heading, got {matching}"
        assert len(tables[matching[0]]) >= 7, f"{matching[0]} lists only {len(tables[matching[0]])} items"


def test_every_status_is_an_allowed_form(tables):
    assert status_problems(all_rows(tables)) == []


def test_every_named_id_is_registered(tables, registered):
    assert id_problems(all_rows(tables), registered) == []


def test_every_registered_experiment_is_listed(tables, registered):
    assert coverage_problems(all_rows(tables), registered) == []


def test_no_paper_item_is_listed_twice(tables):
    assert duplicate_problems(tables) == []


def test_the_reproduce_commands_name_registered_ids(readme, registered):
    commands = re.findall(r"-m companion reproduce (\S+) --scale (\S+)", section_text(readme))
    assert {scale for _, scale in commands} == {"book", "paper"}
    assert all(i in registered for i, _ in commands), commands


# the papers live beside the checkout (../shared/papers), not in the repository
PAPERS_DIR = Path(os.environ.get("COMPANION_PAPERS", ROOT.parent / "shared" / "papers"))


@pytest.mark.skipif(not PAPERS_DIR.is_dir(), reason="the papers' text extractions are not here")
@pytest.mark.parametrize("word", list(PAPERS))
def test_no_captioned_figure_or_table_is_missing(tables, word):
    (path,) = PAPERS_DIR.glob(PAPERS[word] + "_*.txt")
    text = path.read_text(encoding="utf-8")
    if PAPERS[word] == "004":  # the thesis: chapters 2-5 and Appendix A only
        text = text[text.index("# **Chapter 2**"): text.index("# Appendix B")]
    labels = caption_labels(text)
    assert len(labels) >= 7
    (paper,) = [p for p in tables if word in p]
    assert missing_items(labels, tables[paper]) == []


# ------------------------------------------------------- the checks catch broken lists


def _row(item="Fig. 1", ids="`a/b`", status="reproduced (book scale)", shows="something"):
    return Row("P", item, shows, ids, status)


def test_status_check_rejects_bad_forms():
    assert status_problems([_row()]) == []
    assert status_problems([_row(status="reproduced")])  # no "(book scale)"
    assert status_problems([_row(status="partly reproduced (book scale)")])  # no reason
    assert status_problems([_row(status="not reproduced at book scale: ")])  # empty reason
    assert status_problems([_row(status="done")])
    assert status_problems([_row(ids="—")])  # claims a reproduction without an id
    assert status_problems([_row(status="not yet")])  # no experiment, yet names one
    assert status_problems([_row(status="diagram", ids="—")])  # must say "nothing to reproduce"
    assert status_problems([_row(status="diagram", ids="—", shows="diagram, nothing to reproduce: x")]) == []


def test_id_and_coverage_checks_catch_unknown_and_missing_ids():
    rows = [_row(ids="`a/b`, `c/d`")]
    assert id_problems(rows, ["a/b", "c/d"]) == []
    assert id_problems(rows, ["a/b"]) == ["P, Fig. 1: 'c/d' is not registered"]
    assert coverage_problems(rows, ["a/b", "c/d", "comparison/all"]) == []
    assert coverage_problems(rows, ["a/b", "c/d", "e/f"]) == ["e/f is not listed"]


def test_duplicate_and_missing_item_checks():
    tables = {"P": [_row("Fig. 1"), _row("Fig. 3 (left)"), _row("Fig. 1")]}
    assert duplicate_problems(tables) == ["P: 'Fig. 1' is listed twice"]
    assert duplicate_problems({"P": tables["P"][:2], "Q": tables["P"][2:]}) == []
    assert missing_items(["Fig. 1", "Fig. 3", "Fig. 12", "Table 1"], tables["P"]) == ["Fig. 12", "Table 1"]
    text = "Figure 1: a. See Figure 1 and Table 2.1: b. Figure A.3: c. Figure 1: again."
    assert caption_labels(text) == ["Fig. 1", "Table 2.1", "Fig. A.3"]


def test_parser_reads_the_section_only_and_rejects_broken_rows(readme):
    rows = all_rows(parse_tables(readme))
    assert rows and all(row.item and row.status for row in rows)
    with pytest.raises(ValueError, match="no section"):
        parse_tables(readme.replace(SECTION, "## Something else"))
    broken = readme.replace("| Fig. 2 | Digits 0 and 1", "| Fig. 2 | extra | Digits 0 and 1", 1)
    assert broken != readme
    with pytest.raises(ValueError, match="cells"):
        parse_tables(broken)
    # A row removed from the README is caught by the coverage check.
    dropped = "\n".join(line for line in readme.splitlines() if "`preliminaries/vae_digits`" not in line)
    assert coverage_problems(all_rows(parse_tables(dropped)), rep.experiments()) == [
        "preliminaries/vae_digits is not listed"]
