"""Every module of the package imports on its own, whichever is imported first, and names what it
takes from the package at its top.

Modules import one another (a chapter's index re-exports its figures and tables); a cycle among
them works when one of them is imported first and fails when a reader starts from another, so
each module is imported here in a process where no other module of the package is loaded yet.
An import hidden in a function is how such a cycle usually hides, and it hides from the reader what
the module depends on: the package imports itself at the top of each module, but for the few
places listed below, each with its reason.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

IMPORT_EACH_FIRST = """
import importlib, pkgutil, sys, traceback
import companion
names = sorted(info.name for info in pkgutil.walk_packages(companion.__path__, "companion."))
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m == "companion" or m.startswith("companion.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ":\\n" + traceback.format_exc(limit=3))
print(len(names), "modules")
sys.exit("\\n".join(failed) if failed else 0)
"""


def test_each_module_imports_first():
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH_FIRST], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"modules that fail when imported first:\n{result.stderr}"
    assert int(result.stdout.split()[0]) > 80  # the loop ran over the package, experiments and metrics included


#: The package's imports inside a function: (module, what it imports) and why it is not at the top.
IMPORTS_IN_FUNCTIONS = {
    ("companion/__main__.py", "companion.reproduce"): "after parsing: --help and bad arguments answer without torch",
    ("companion/__main__.py", "companion.distributed"): "torch, only once the arguments are good",
    ("companion/reproduce.py", "companion.experiments"): "every experiment module imports reproduce (to register)",
}


def imports_in_functions(relative: str, source: str):
    """``(relative, imported module)`` for each import of the package inside a function of the module at
    ``relative`` (its path from the repository's root) whose text is ``source``."""
    package = relative[: -len(".py")].replace("/", ".")
    package = package[: -len(".__init__")] if package.endswith(".__init__") else package.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                names = [alias.name for alias in inner.names]
            elif isinstance(inner, ast.ImportFrom) and inner.level == 0:
                names = [inner.module]
            elif isinstance(inner, ast.ImportFrom):
                base = package.rsplit(".", inner.level - 1)[0] if inner.level > 1 else package
                modules = [inner.module] if inner.module else [alias.name for alias in inner.names]
                names = [f"{base}.{module}" for module in modules]
            else:
                continue
            found.update((relative, name) for name in names if name.split(".")[0] == "companion")
    return found


def test_the_package_imports_itself_at_the_top_of_each_module():
    found = set()
    for path in sorted((ROOT / "companion").rglob("*.py")):
        found |= imports_in_functions(path.relative_to(ROOT).as_posix(), path.read_text())
    unlisted = sorted(found - set(IMPORTS_IN_FUNCTIONS))
    assert not unlisted, f"imports of the package in functions (move them to the top, or list them): {unlisted}"
    assert not set(IMPORTS_IN_FUNCTIONS) - found, "a listed import is no longer in a function: drop it from the list"


def test_the_import_check_sees_imports_in_functions_and_not_at_the_top():
    source = "from companion import data\n\ndef f():\n    from .. import train\n    from .x import y\n"
    assert imports_in_functions("companion/experiments/example.py", source) == {
        ("companion/experiments/example.py", "companion.train"),
        ("companion/experiments/example.py", "companion.experiments.x"),
    }
    assert imports_in_functions("companion/__init__.py", "def f():\n    from .runs import x\n") == {
        ("companion/__init__.py", "companion.runs"),
    }


def test_importing_every_experiment_loads_none_of_the_libraries_it_imports_when_used():
    """The experiment modules' promise ("importing this module does not import matplotlib", "or zuko"): listing
    the experiments (what ``python -m companion list`` does) stays cheap; the libraries load when they are used."""
    code = ("import sys; from companion.reproduce import experiments; experiments(); "
            "print(*[m for m in ('matplotlib', 'seaborn', 'pandas', 'zuko') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []
