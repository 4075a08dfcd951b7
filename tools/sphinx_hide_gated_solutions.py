"""Sphinx extension of the student edition: hide gated solutions too.

sphinx-exercise 1.2's ``hide_solutions`` drops ``{solution}`` and ``{solution-start}``
directives but keeps the ``{solution-end}`` node and everything between the two (the
solution's code cells), which then also crashes the HTML writer ("unknown node type:
solution_end_node"). This extension, loaded only by the student edition, marks where each
gated solution starts and removes everything from there to its ``{solution-end}``.
"""

from __future__ import annotations

from docutils import nodes
from sphinx_exercise.directive import SolutionStartDirective
from sphinx_exercise.nodes import solution_end_node


class gated_solution_marker(nodes.Element):
    """Where a hidden gated solution starts; removed before anything is written."""


class HiddenSolutionStart(SolutionStartDirective):
    def run(self):
        super().run()  # keeps sphinx-exercise's check that starts and ends pair up
        return [gated_solution_marker()]


def remove_gated_solutions(app, doctree) -> None:
    for marker in list(doctree.findall(gated_solution_marker)):
        parent = marker.parent
        index = parent.index(marker)
        while index < len(parent.children):
            child = parent.children[index]
            parent.remove(child)
            if isinstance(child, solution_end_node):
                break
        else:
            raise ValueError(f"{app.env.docname}: a {{solution-start}} has no {{solution-end}} in the same section")


def setup(app):
    app.setup_extension("sphinx_exercise")
    app.add_node(gated_solution_marker)
    app.add_directive("solution-start", HiddenSolutionStart, override=True)
    app.connect("doctree-read", remove_gated_solutions)
    return {"parallel_read_safe": True}
