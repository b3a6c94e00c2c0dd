"""The store sits below everything that uses it: it imports only the model layer, the
errors, the secret scrubber and its own modules, so none of the engine, the scheduler,
the displays or the server can be pulled in by opening a store."""

from __future__ import annotations

import ast
from pathlib import Path

import gorgon_nb.store

ALLOWED = ("gorgon_nb.model", "gorgon_nb.errors", "gorgon_nb.secrets", "gorgon_nb.store")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_store_imports_nothing_above_it() -> None:
    folder = Path(gorgon_nb.store.__file__).parent
    above = {f"{path.name}: {name}" for path in sorted(folder.glob("*.py")) for name in _imports(path)
             if name.startswith("gorgon_nb") and not name.startswith(ALLOWED)}
    assert above == set()

