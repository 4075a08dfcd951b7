"""Sphinx builder ``notebooks``: each chapter as a Jupyter notebook that reads like the HTML book.

The chapters are MyST notebooks that only Sphinx understands (``{literalinclude}``,
``{prf:theorem}``, ``{cite}``, ``{eq}``, ``{exercise}``, ...). This builder writes every
chapter from the doctree Sphinx has already resolved for the HTML book, so numbers,
references and citations are the ones the HTML shows:

* the chapter's code cells stay code cells, with their metadata (tags such as
  ``parameters``), and cells the HTML removes (the hidden Colab install cell) are put back
  where they stand in the source, since a reader's notebook must run them;
* literalincluded code (the package's own source) becomes a fenced Python block;
* theorems, lemmas, definitions, ... become markdown with a bold title and their number; a
  proof starts with an italic *Proof.*;
* ``{eq}``, ``{prf:ref}``, ``{ref}`` and ``{doc}`` read as the text the HTML shows, linked
  within the notebook where the target is in it; citations read "(Lucas, 2020)";
* the bibliography becomes a references list; exercises are headed sections and their
  solutions are collapsed in ``<details>``;
* the book's MathJax macros (``_config.yml``) are expanded inside the math, so the math
  renders in Jupyter, Colab and on GitHub without a macro cell;
* a number the HTML pastes with myst-nb's glue (``{glue:text}`key:.2f```, ``{glue}``,
  ``{glue:md}``, the ``{glue:figure}`` ... directives) reads "[`key`]": nothing is executed
  here, so there is no value to paste; one note after the title says where the value comes
  from (the chapter's ``glue(...)`` calls).

Cell outputs (figures, tables) are left to execution. ``tools/build_notebooks.py`` runs
this builder through ``jupyter-book build --builder custom`` (``make notebooks``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from docutils import nodes
from myst_nb.ext.glue.directives import PasteFigureDirective, PasteMathDirective
from sphinx.builders import Builder
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinxcontrib.bibtex.plugin import register_plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

logger = logging.getLogger(__name__)

PROOF_NAMES = {
    "theorem", "lemma", "definition", "corollary", "proposition", "property", "remark",
    "conjecture", "axiom", "example", "criterion", "algorithm", "observation", "assumption",
    "notation",
}
ADMONITIONS = {
    "note": "Note", "tip": "Tip", "warning": "Warning", "important": "Important",
    "hint": "Hint", "caution": "Caution", "attention": "Attention", "danger": "Danger",
    "error": "Error", "seealso": "See also",
}


def _tagname(node) -> str:
    return type(node).__name__


def _escape(text: str) -> str:
    """Escape the characters that markdown (or MathJax, for ``$``) would read as markup."""
    text = text.replace("\\", "\\\\")
    for char in "*_`$<[]":
        text = text.replace(char, "\\" + char)
    return text


def _indent(text: str, prefix: str, first: str | None = None) -> str:
    lines = text.split("\n")
    first = prefix if first is None else first
    return "\n".join((first if i == 0 else prefix) + line if line else line for i, line in enumerate(lines))


def _fence(code: str, language: str = "python") -> str:
    ticks = "```"
    while ticks in code:
        ticks += "`"
    return f"{ticks}{language}\n{code.rstrip()}\n{ticks}"


def _placeholder_text(key: str) -> str:
    """The markdown a reader sees in place of a glued value: "[`key`]" (brackets escaped, never a link)."""
    return f"\\[`{key}`\\]"


GLUE_NOTE = (
    f"> **Note.** Numbers shown as {_placeholder_text('name')} are computed by this notebook's cells "
    "(the `glue(...)` calls); the HTML book shows them filled in."
)


def _is_glue_placeholder(node) -> bool:
    return isinstance(node, nodes.Element) and "glue-placeholder" in node.get("classes", [])


class ChapterWriter:
    """Turn one resolved doctree into a list of notebook cells (dicts of nbformat 4)."""

    def __init__(self, builder: "NotebookBuilder", docname: str, doctree: nodes.document):
        self.builder = builder
        self.docname = docname
        self.doctree = doctree
        self.env = builder.env
        self.fignumbers = self.env.toc_fignumbers.get(docname, {})
        self.cells: list[dict] = []
        self.markdown: list[str] = []
        macros = (builder.config.mathjax3_config or {}).get("tex", {}).get("macros", {})
        self.macros = {name: (body[0] if isinstance(body, list) else body) for name, body in macros.items()}
        # ids that some reference of this page points to: only those get an anchor
        self.wanted_ids = {ref["refid"] for ref in doctree.findall(nodes.reference) if "refid" in ref}
        # a page with glued values says once, after its title, what the placeholders are
        self.glue_note_pending = next(doctree.findall(_is_glue_placeholder), None) is not None

    # ---- cells -------------------------------------------------------------------------
    def flush(self) -> None:
        text = "\n\n".join(block for block in self.markdown if block.strip()).strip()
        if text:
            self.cells.append({"cell_type": "markdown", "metadata": {}, "source": text})
        self.markdown = []

    def code_cell(self, source: str, metadata: dict, index: int | None) -> None:
        self.flush()
        self.cells.append({"cell_type": "code", "metadata": metadata, "source": source.rstrip(),
                           "cell_index": index})

    # ---- walking the body ---------------------------------------------------------------
    def run(self) -> list[dict]:
        for child in self.doctree.children:
            self.block(child, depth=0, top=True)
        self.flush()
        if self.glue_note_pending:  # a page without a title: the note opens it
            self.cells.insert(0, {"cell_type": "markdown", "metadata": {}, "source": GLUE_NOTE})
        return self.cells

    def block(self, node, depth: int, top: bool = False) -> None:
        """Render a body element: code cells become cells, everything else markdown."""
        name = _tagname(node)
        if isinstance(node, nodes.section):
            self.flush()
            anchors = self.anchors(node)
            title = node.next_node(nodes.title)
            self.markdown.append(anchors + "#" * (depth + 1) + " " + self.inline(title))
            if self.glue_note_pending:
                self.markdown.append(GLUE_NOTE)
                self.glue_note_pending = False
            for child in node.children:
                if child is not title:
                    self.block(child, depth + 1, top=True)
            self.flush()
        elif isinstance(node, nodes.container) and "cell" in node["classes"] and top:
            self.code_cell(self.cell_source(node), self.cell_metadata(node), node.get("cell_index"))
        elif name.endswith("_node") and name[:-5] in PROOF_NAMES and top:
            self.flush()
            self.markdown.append(self.render(node, depth))
            self.flush()
        elif name in ("proof_node", "unenumerable_node", "exercise_enumerable_node", "exercise_unenumerable_node",
                      "solution_node") and top:
            self.flush()
            self.markdown.append(self.render(node, depth))
            self.flush()
        else:
            text = self.render(node, depth)
            if text.strip():
                self.markdown.append(text)

    def cell_source(self, cell) -> str:
        block = next(cell.findall(nodes.literal_block), None)
        return block.astext() if block is not None else ""

    def cell_metadata(self, cell) -> dict:
        metadata = cell.get("cell_metadata") or {}
        return dict(metadata)

    # ---- block-level markdown -----------------------------------------------------------
    def render(self, node, depth: int) -> str:
        name = _tagname(node)
        method = getattr(self, f"md_{name}", None)
        if method is not None:
            return method(node, depth)
        if name.endswith("_node") and name[:-5] in PROOF_NAMES:
            return self.md_prf(node, depth, name[:-5])
        if isinstance(node, nodes.Inline) or isinstance(node, nodes.Text):
            return self.inline(node)
        if isinstance(node, (nodes.Invisible, nodes.comment, nodes.raw)):
            return ""
        if isinstance(node, nodes.Admonition):
            return self.md_admonition(node, depth)
        # anything else (containers, sections inside directives, ...): its children in order
        return self.blocks(node.children, depth)

    def blocks(self, children, depth: int) -> str:
        parts = [self.render(child, depth) for child in children]
        return "\n\n".join(p for p in parts if p.strip())

    def anchors(self, node) -> str:
        ids = [i for i in node.get("ids", []) if i in self.wanted_ids]
        return "".join(f'<a id="{i}"></a>' for i in ids) + ("\n" if ids else "")

    def md_paragraph(self, node, depth):
        return self.anchors(node) + self.inline(node)

    def md_title(self, node, depth):
        return "**" + self.inline(node) + "**"

    def md_rubric(self, node, depth):
        return "**" + self.inline(node) + "**"

    def md_section(self, node, depth):  # a section inside a directive (theorem content, ...)
        title = node.next_node(nodes.title) if node.children and isinstance(node[0], nodes.title) else None
        parts = [] if title is None else ["#" * min(depth + 1, 6) + " " + self.inline(title)]
        parts.append(self.blocks([c for c in node.children if c is not title], depth + 1))
        return "\n\n".join(p for p in parts if p.strip())

    def md_container(self, node, depth):
        if "cell" in node["classes"]:  # a code cell inside a solution or an admonition: show it
            return _fence(self.cell_source(node))
        if "cell_output" in node["classes"]:
            return ""
        return self.blocks(node.children, depth)

    def md_literal_block(self, node, depth):
        language = node.get("language", "python")
        if language in ("none", "default", "ipython3", "ipython"):
            language = "python" if language.startswith("ipython") or node.get("source") else ""
        return _fence(node.astext(), language)

    def md_math_block(self, node, depth):
        latex = self.expand(node.astext().strip())
        anchors = ""
        if node.get("label"):
            number = self.equation_number(node)
            if number and "\\tag" not in latex:
                latex = f"{latex} \\tag{{{number}}}"
            anchors = "".join(f'<a id="{i}"></a>' for i in node.get("ids", []))
            anchors = anchors + "\n\n" if anchors else ""
        if node.get("nowrap"):
            return f"{anchors}$$\n{latex}\n$$"
        return f"{anchors}$$\n{latex}\n$$"

    def equation_number(self, node) -> str:
        """The equation's number as the HTML shows it (sphinx.util.math.get_node_equation_number)."""
        config = self.builder.config
        if config.math_numfig and config.numfig and "displaymath" in self.fignumbers:
            number = self.fignumbers["displaymath"].get(node["ids"][0], ())
            return ".".join(map(str, number))
        return str(node.get("number") or "")

    def md_bullet_list(self, node, depth):
        return "\n".join(_indent(self.blocks(item.children, depth), "  ", "- ") for item in node.children)

    def md_enumerated_list(self, node, depth):
        start = node.get("start", 1)
        lines = []
        for offset, item in enumerate(node.children):
            marker = f"{start + offset}. "
            lines.append(_indent(self.blocks(item.children, depth), " " * len(marker), marker))
        return "\n".join(lines)

    def md_definition_list(self, node, depth):
        parts = []
        for item in node.children:
            term = next(item.findall(nodes.term))
            definition = next(item.findall(nodes.definition))
            parts.append(f"**{self.inline(term)}**  \n" + self.blocks(definition.children, depth))
        return "\n\n".join(parts)

    def md_block_quote(self, node, depth):
        return _indent(self.blocks(node.children, depth), "> ")

    def md_table(self, node, depth):
        title = node.next_node(nodes.title)
        rows = []
        header_rows = 0
        for part in node.findall(lambda n: isinstance(n, (nodes.thead, nodes.tbody))):
            for row in part.children:
                rows.append([self.inline_blocks(entry).replace("|", "\\|") for entry in row.children])
            if isinstance(part, nodes.thead):
                header_rows = len(rows)
        if not rows:
            return ""
        width = max(len(r) for r in rows)
        rows = [r + [""] * (width - len(r)) for r in rows]
        header = rows[0] if header_rows else [""] * width
        body = rows[1:] if header_rows else rows
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * width]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        caption = f"**{self.inline(title)}**\n\n" if title is not None and title.parent is node else ""
        return caption + "\n".join(lines)

    def inline_blocks(self, node) -> str:
        return " ".join(self.inline(p) for p in node.children)

    def md_figure(self, node, depth):
        return self.blocks(node.children, depth)

    def md_caption(self, node, depth):
        return "*" + self.inline(node) + "*"

    def md_image(self, node, depth):
        return f"![{node.get('alt', '')}]({node['uri']})"

    def md_target(self, node, depth):
        return ""

    def md_admonition(self, node, depth):
        classes = node.get("classes", [])
        title_node = node.next_node(nodes.title) if node.children and isinstance(node[0], nodes.title) else None
        kind = next((ADMONITIONS[c] for c in [_tagname(node)] + classes if c in ADMONITIONS), "Note")
        title = self.inline(title_node) if title_node is not None else kind
        body = self.blocks([c for c in node.children if c is not title_node], depth)
        return _indent(f"**{title}**\n\n{body}", "> ").replace("\n\n", "\n>\n")

    def md_prf(self, node, depth, kind: str):
        number = ""
        label = node.get("label", "")
        if not node.get("nonumber") and label in self.fignumbers.get(kind, {}):
            number = " " + ".".join(map(str, self.fignumbers[kind][label]))
        title_node = node.next_node(nodes.title)
        title = self.inline(title_node).strip() if title_node is not None else ""
        if title.startswith("(") and title.endswith(")"):
            title = title[1:-1].strip()
        heading = f"**{kind.title()}{number}**" + (f" ({title})" if title else "")
        body = self.blocks([c for c in node.children if c is not title_node], depth)
        anchors = "".join(f'<a id="{i}"></a>' for i in node.get("ids", []))
        return f"{anchors}{heading}\n\n{body}"

    def md_unenumerable_node(self, node, depth):  # a {prf:...} block with :nonumber:
        return self.md_prf(node, depth, node.get("realtype") or node.get("type") or "note")

    def md_proof_node(self, node, depth):
        admonition = node.next_node(nodes.Admonition) or node
        title_node = (
            admonition.next_node(nodes.title)
            if admonition.children and isinstance(admonition[0], nodes.title)
            else None
        )
        title = self.inline(title_node).strip() if title_node is not None else "Proof"
        body = self.blocks([c for c in admonition.children if c is not title_node], depth)
        # sphinx-proof starts the first paragraph with "Proof. "; the title carries it here
        body = re.sub(r"^Proof\.\s*", "", body)
        titled = re.match(r"(Proof of [^\n]*)\n\n", body)  # a titled proof: its title is a paragraph
        if title_node is None and titled:
            title, body = titled.group(1), body[titled.end():]
        return f"*{title.rstrip('.')}.* {body}"

    def first_title(self, node):
        return next((c for c in node.children if isinstance(c, nodes.title)), None)

    def exercise_title(self, node) -> str:
        """"Exercise 26 (Two layers are one layer)", as the HTML heads the exercise."""
        title_node = self.first_title(node)
        subtitle = " ".join(self.inline(title_node).split()) if title_node is not None else ""
        if subtitle.startswith("Exercise"):  # unnumbered: sphinx-exercise wrote the whole title
            return subtitle
        label = node.get("label", "")
        numbers = self.fignumbers.get("exercise", {})
        title = "Exercise"
        if _tagname(node) == "exercise_enumerable_node" and label in numbers:
            title += " " + ".".join(map(str, numbers[label]))
        return f"{title} {subtitle}".strip()

    def md_exercise_enumerable_node(self, node, depth):
        title_node = self.first_title(node)
        content = [c for c in node.children if c is not title_node]
        anchors = "".join(f'<a id="{i}"></a>' for i in node.get("ids", []))
        heading = f"{'#' * min(depth + 1, 6)} {self.exercise_title(node)}"
        return f"{anchors}\n{heading}\n\n" + self.blocks(content, depth + 1)

    md_exercise_unenumerable_node = md_exercise_enumerable_node

    def md_solution_node(self, node, depth):
        title_node = self.first_title(node)
        summary = self.inline(title_node) if title_node is not None else "Solution"
        summary = " ".join(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", summary).split())  # no links in <summary>
        body = self.blocks([c for c in node.children if c is not title_node], depth + 1)
        return f"<details>\n<summary>{summary}</summary>\n\n{body}\n\n</details>"

    def md_citation(self, node, depth):
        label = node.next_node(nodes.label)
        text = self.blocks([c for c in node.children if c is not label], depth)
        anchors = "".join(f'<a id="{i}"></a>' for i in node.get("ids", []))
        return f"{anchors}{text}"

    # ---- inline markdown ------------------------------------------------------------------
    def inline(self, node) -> str:
        if node is None:
            return ""
        if isinstance(node, nodes.Text):
            return _escape(node.astext()).replace("\n", " ")
        name = _tagname(node)
        method = getattr(self, f"in_{name}", None)
        if method is not None:
            return method(node)
        return "".join(self.inline(child) for child in node.children)

    def in_emphasis(self, node):
        return "*" + "".join(self.inline(c) for c in node.children) + "*"

    def in_strong(self, node):
        return "**" + "".join(self.inline(c) for c in node.children) + "**"

    def in_literal(self, node):
        code = node.astext()
        ticks = "``" if "`" in code else "`"
        return f"{ticks}{code}{ticks}"

    def in_math(self, node):
        return "$" + self.expand(node.astext().strip()) + "$"

    def in_image(self, node):
        return self.md_image(node, 0)

    def in_footnote_reference(self, node):
        return "<sup>" + node.astext() + "</sup>"

    def in_reference(self, node):
        text = "".join(self.inline(c) for c in node.children)
        if "refuri" in node:
            uri = node["refuri"]
            if not re.match(r"[a-z]+:", uri):  # another chapter: its notebook sits next to this one
                uri = uri.replace(".html", ".ipynb")
            return f"[{text}]({uri})"
        if "refid" in node:
            return f"[{text}](#{node['refid']})"
        return text

    def in_inline(self, node):
        return "".join(self.inline(c) for c in node.children)

    def in_pending_xref(self, node):  # unresolved (should not happen): its text, never the role
        return "".join(self.inline(c) for c in node.children)

    def in_target(self, node):
        return ""

    def in_glue_placeholder(self, node):
        return _placeholder_text(node["key"])

    def expand(self, latex: str) -> str:
        """Replace the book's MathJax macros by their definitions."""
        for name, body in self.macros.items():
            latex = re.sub(r"\\" + name + r"(?![A-Za-z])", lambda _m, b=body: b, latex)
        return latex


def _cell_id(source: str, taken: set) -> str:
    base = hashlib.sha1(source.encode()).hexdigest()[:8]
    cell_id, n = base, 1
    while cell_id in taken:
        cell_id, n = f"{base}-{n}", n + 1
    taken.add(cell_id)
    return cell_id


def assemble(cells: list[dict], source_cells: list) -> dict:
    """The notebook of ``cells``, with the source's code cells that the HTML removed put back.

    A code cell of the source that the doctree does not hold (tagged ``remove-cell``, such as
    the Colab install cell) goes right before the first written code cell that follows it in
    the source, so the notebook runs every cell the chapter has, in order.
    """
    written = {c["cell_index"] for c in cells if c["cell_type"] == "code" and c.get("cell_index") is not None}
    missing = [
        (index, cell) for index, cell in enumerate(source_cells)
        if cell.cell_type == "code" and index not in written
    ]
    result: list[dict] = []
    for cell in cells:
        if cell["cell_type"] == "code" and cell.get("cell_index") is not None:
            while missing and missing[0][0] < cell["cell_index"]:
                index, source = missing.pop(0)
                result.append({"cell_type": "code", "metadata": dict(source.metadata),
                               "source": source.source.rstrip(), "cell_index": index})
        result.append(cell)
    taken: set = set()
    notebook_cells = []
    for cell in result:
        entry = {"cell_type": cell["cell_type"], "id": _cell_id(cell["source"], taken),
                 "metadata": cell["metadata"], "source": cell["source"]}
        if cell["cell_type"] == "code":
            entry.update(execution_count=None, outputs=[])
        notebook_cells.append(entry)
    return {
        "cells": notebook_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class NotebookBuilder(Builder):
    """Write each document that is a jupytext chapter as ``<docname>.ipynb``."""

    name = "notebooks"
    format = "ipynb"
    epilog = "The notebooks are in %(outdir)s."
    allow_parallel = False

    def get_outdated_docs(self):
        return self.env.found_docs

    def get_target_uri(self, docname: str, typ: str | None = None) -> str:
        return docname + ".html"  # rewritten to .ipynb where a link is written

    def prepare_writing(self, docnames) -> None:
        pass

    def write_doc(self, docname: str, doctree: nodes.document) -> None:
        import jupytext

        source = Path(self.env.doc2path(docname))
        if source.suffix != ".md" or not source.read_text().startswith("---\njupytext:"):
            return  # only the jupytext chapters are notebooks
        cells = ChapterWriter(self, docname, doctree).run()
        notebook = assemble(cells, jupytext.read(source).cells)
        out = Path(self.outdir) / f"{docname}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")

    def finish(self) -> None:
        pass


# ---- glue: placeholders where the HTML pastes a computed value ------------------------------
class glue_placeholder(nodes.Inline, nodes.TextElement):
    """Where the HTML book pastes the value glued under ``key``; the notebook shows the key."""


def _glue_key(text: str, formatted: bool) -> str:
    """The key of a glue role's text: ``[doc::]key[:format]`` (``formatted``: it may end in ``:format``)."""
    key = text.split("::", 1)[-1]
    return key.rsplit(":", 1)[0] if formatted and ":" in key else key


def _placeholder(rawtext: str, key: str) -> glue_placeholder:
    return glue_placeholder(rawtext, key, key=key, classes=["glue-placeholder"])


def glue_placeholder_role(formatted: bool):
    """A role for ``{glue}`` / ``{glue:any}`` (``formatted=False``) or ``{glue:text}`` / ``{glue:md}``."""

    def role(name, rawtext, text, lineno, inliner, options=None, content=()):
        return [_placeholder(rawtext, _glue_key(text, formatted))], []

    return role


class GluePlaceholderDirective(SphinxDirective):
    """``{glue}``, ``{glue:any}``, ``{glue:md}``: a paragraph holding the placeholder."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = False
    option_spec = {"doc": lambda arg: arg, "format": lambda arg: arg}

    def run(self):
        paragraph = nodes.paragraph("", "", _placeholder(self.arguments[0], self.arguments[0]))
        self.set_source_info(paragraph)
        return [paragraph]


class GluePlaceholderFigure(SphinxDirective):
    """``{glue:figure}``: a figure holding the placeholder, with its caption and name (so ``{numref}`` resolves)."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = PasteFigureDirective.option_spec

    def run(self):
        key = self.arguments[0]
        figure = nodes.figure("", nodes.paragraph("", "", _placeholder(key, key)))
        self.set_source_info(figure)
        self.add_name(figure)
        if self.content:
            holder = nodes.Element()
            self.state.nested_parse(self.content, self.content_offset, holder)
            if len(holder) and isinstance(holder[0], nodes.paragraph):
                figure += nodes.caption(holder[0].rawsource, "", *holder[0].children)
                holder = holder[1:]
            if len(holder):
                figure += nodes.legend("", *holder)
        return [figure]


class GluePlaceholderMath(PasteMathDirective):
    """``{glue:math}``: a math block showing the key, labelled and numbered as in the HTML."""

    def run(self):
        key = self.arguments[0]
        latex = "[\\mathtt{" + key.replace("_", "\\_") + "}]"
        node = nodes.math_block(latex, latex, nowrap=False, number=None,
                                label=self.options.get("label", self.options.get("name")),
                                classes=["pasted-math", "glue-placeholder"])
        self.add_name(node)
        self.set_source_info(node)
        return self.add_target(node)


def use_glue_placeholders(app) -> None:
    """In the notebooks build only, make the glue roles and directives write placeholders.

    Nothing is executed for the notebooks, so myst-nb has no glue data and would warn "No key
    ... found in glue data". The HTML build keeps myst-nb's own roles (and their warnings).
    """
    if app.builder.name != NotebookBuilder.name:
        return
    any_role, formatted_role = glue_placeholder_role(False), glue_placeholder_role(True)
    app.add_role("glue", any_role, override=True)
    app.add_directive("glue", GluePlaceholderDirective, override=True)
    domain = app.env.get_domain("glue")  # myst-nb's; its roles and directives are copied per build
    domain.roles.update({"": any_role, "any": any_role, "text": formatted_role, "md": formatted_role})
    domain.directives.update({"": GluePlaceholderDirective, "any": GluePlaceholderDirective,
                              "md": GluePlaceholderDirective, "figure": GluePlaceholderFigure,
                              "math": GluePlaceholderMath})


@dataclass
class RoundAuthorYearStyle(AuthorYearReferenceStyle):
    """The book's author-year citations in round brackets: "(Lucas, 2020)", "Lucas (2020)"."""

    bracket_parenthetical: BracketStyle = field(default_factory=lambda: BracketStyle(left="(", right=")"))
    bracket_textual: BracketStyle = field(default_factory=lambda: BracketStyle(left="(", right=")"))


def setup(app):
    # selected by tools/build_notebooks.py with bibtex_reference_style = "author_year_round"
    register_plugin("sphinxcontrib.bibtex.style.referencing", "author_year_round", RoundAuthorYearStyle)
    app.add_builder(NotebookBuilder)
    app.connect("builder-inited", use_glue_placeholders)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
