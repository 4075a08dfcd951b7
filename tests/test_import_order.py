"""Every module of the package imports on its own, whichever is imported first.

Modules import one another (a chapter's index re-exports its figures and tables); a cycle among
them works when one of them is imported first and fails when a reader starts from another, so
each module is imported here in a process where no other module of the package is loaded yet.
"""

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
