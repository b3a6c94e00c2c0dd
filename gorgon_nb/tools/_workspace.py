"""The workspace of the file tools: paths resolved inside it, text read from it, bounded.

Every path a model gives is resolved against the workspace, symlinks followed, and
refused when the real path lands outside it: ``..``, an absolute path elsewhere and a
link pointing out all end at the same check. The errors are the model's to read, so they
say what to give instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from gorgon_nb.errors import ToolError

__all__ = ["MAX_FILE_BYTES", "SKIPPED", "is_text", "read_text", "relative", "resolve", "walk"]

MAX_FILE_BYTES = 1_000_000  # larger files are not read whole: a model cannot use them anyway
# never listed nor searched: version control, installed packages and tools' caches
SKIPPED = frozenset({".git", "node_modules", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_SNIFF = 8192  # bytes looked at to tell binary from text


def resolve(workspace: Path, path: str) -> Path:
    """The real path of ``path`` (relative to the workspace, or absolute inside it), or a
    ``ToolError`` saying it is outside."""
    root = workspace.resolve()
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise ToolError(f"'{path}' is not a path; give one relative to the workspace, such as 'src/app.py'")
    given = Path(path)
    real = (given if given.is_absolute() else root / given).resolve()
    if not real.is_relative_to(root):
        raise ToolError(f"'{path}' is outside the workspace ({root}), and the file tools work only inside it; "
                        "give a path relative to the workspace, such as 'src/app.py'")
    return real


def relative(workspace: Path, path: Path) -> str:
    """``path`` as the model should name it: relative to the workspace, with forward slashes."""
    text = path.relative_to(workspace.resolve()).as_posix()
    return text if text != "." else "."


def read_text(path: Path, shown: str) -> str:
    """The text of a file, refusing folders, missing, binary, non-UTF-8 and oversized files."""
    if not path.exists():
        raise ToolError(f"there is no file '{shown}' in the workspace; list the files to see what there is")
    if path.is_dir():
        raise ToolError(f"'{shown}' is a folder, not a file; list it instead")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ToolError(f"'{shown}' is {size:,} bytes, more than the {MAX_FILE_BYTES:,} the file tools read; "
                        "search it for what you need instead")
    data = path.read_bytes()
    if b"\x00" in data[:_SNIFF]:
        raise ToolError(f"'{shown}' is a binary file, not text, so it cannot be read as text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"'{shown}' is not UTF-8 text (byte {exc.start} cannot be decoded), so it cannot be "
                        "read as text") from None


def is_text(path: Path) -> bool:
    """Whether a search should look into ``path``: a small enough file that is not binary."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return False
        with path.open("rb") as handle:
            return b"\x00" not in handle.read(_SNIFF)
    except OSError:
        return False


def walk(root: Path, top: Path) -> Iterator[tuple[Path, bool]]:
    """Every entry under ``top`` (``(path, is_folder)``), sorted, skipping ``SKIPPED``
    folders and links that lead out of ``root``."""
    real_root = root.resolve()
    for folder, dirs, files in os.walk(top, followlinks=False):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and _inside(here / d, real_root))
        for name in dirs:
            yield here / name, True
        for name in sorted(files):
            if _inside(here / name, real_root):
                yield here / name, False


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except OSError:
        return False
