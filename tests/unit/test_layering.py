"""``app/`` is Qt-free: no module under it imports PySide6, shiboken6 or qasync.

Two independent checks: a scan of every module's source (direct imports, anywhere in the file)
and a real import of every module in a fresh interpreter whose import system refuses the Qt
packages (catches indirect imports through other packages). Only the command-line composition
root (``app/cli``) may reach into ``ui`` and only inside a function, so that importing it stays
Qt-free.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
FORBIDDEN = ("PySide6", "shiboken6", "qasync")


def imported_names(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(module, line, inside a function) of every import statement."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module, child.lineno, in_function))
            elif isinstance(child, ast.Call) and _is_dynamic_import(child):
                arg = child.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((arg.value, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def _is_dynamic_import(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in ("import_module", "__import__") and bool(call.args)


def violations(source: str, relative: str) -> list[str]:
    """Layering violations of one module's source."""
    out = []
    in_cli = relative.startswith("app/cli/")
    try:
        tree = ast.parse(source, relative)
    except SyntaxError as exc:
        return [f"{relative}:{exc.lineno} cannot be parsed: {exc.msg}"]
    for module, line, in_function in imported_names(tree):
        root = module.split(".")[0]
        if root in FORBIDDEN:
            out.append(f"{relative}:{line} imports {module}")
        elif root == "ui" and not (in_cli and in_function):
            out.append(f"{relative}:{line} imports {module} (only app/cli may, inside a function)")
    return out


def test_no_module_under_app_imports_qt_in_its_source():
    files = sorted(APP.rglob("*.py"))
    assert len(files) > 10  # the scan really sees the package
    problems = []
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        problems += violations(path.read_text(encoding="utf-8"), relative)
    assert problems == []


def test_the_source_check_catches_each_kind_of_violation():
    assert violations("import PySide6.QtCore\n", "app/x.py")
    assert violations("from qasync import QEventLoop\n", "app/x.py")
    assert violations("def f():\n    import shiboken6\n", "app/x.py")
    assert violations("import importlib\nimportlib.import_module('PySide6')\n", "app/x.py")
    assert violations("from ui.main import run\n", "app/cli/gui.py")  # top level: no
    assert not violations("def f():\n    from ui.main import run\n", "app/cli/gui.py")
    assert violations("def f():\n    from ui.main import run\n", "app/processes/x.py")
    assert not violations("import asyncio\nfrom app.errors import Text\n", "app/x.py")


_IMPORT_ALL = r"""
import importlib, importlib.abc, json, pkgutil, sys

FORBIDDEN = {"PySide6", "shiboken6", "qasync"}
offenders = []

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            offenders.append({"module": current, "imports": name})
            raise ImportError(f"{name} is forbidden under app/")
        return None

sys.meta_path.insert(0, Refuse())
current = "app"
import app
errors = {}
names = [m.name for m in pkgutil.walk_packages(app.__path__, "app.")]
for name in names:
    if name.rsplit(".", 1)[-1] == "__main__":
        continue
    current = name
    try:
        importlib.import_module(name)
    except Exception as exc:
        errors[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"count": len(names), "offenders": offenders, "errors": errors}))
"""


def test_importing_every_module_under_app_needs_no_qt():
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["count"] > 10
    assert report["offenders"] == [], report
