"""Every experiment module imports on its own, whichever is imported first.

The chapters' modules import one another (a chapter's index re-exports its figures and tables);
a cycle among them works when the index is imported first and fails when a reader imports a
figure module first, so each module is imported here in a process where no other experiment
module is loaded yet.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

IMPORT_EACH_FIRST = """
import importlib, pkgutil, sys, traceback
import companion.experiments as package
names = sorted(f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__))
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m.startswith(package.__name__ + ".")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ":\\n" + traceback.format_exc(limit=3))
print(len(names), "modules")
sys.exit("\\n".join(failed) if failed else 0)
"""


def test_each_experiment_module_imports_first():
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH_FIRST], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"modules that fail when imported first:\n{result.stderr}"
    assert int(result.stdout.split()[0]) > 30  # the loop ran over the package
