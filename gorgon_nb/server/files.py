"""What JupyterLab can open of the files gorgon-nb names: a scheduled notebook, a job's
executed copy. The server's handlers and its feed give such a file's path under the
server's root, or why JupyterLab cannot open it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_core.paths import is_hidden

__all__ = ["ServerFiles"]


@dataclass(frozen=True)
class ServerFiles:
    """What JupyterLab can open: files under the server's root (``ServerApp.root_dir``), and
    in hidden folders only when its contents manager allows them (``allow_hidden``)."""

    root: Path
    allow_hidden: bool = False

    @classmethod
    def of(cls, serverapp: Any) -> ServerFiles:
        settings = serverapp.web_app.settings
        root = Path(os.path.expanduser(settings.get("server_root_dir") or os.getcwd())).resolve()
        return cls(root, bool(getattr(serverapp.contents_manager, "allow_hidden", False)))

    def locate(self, folder: str, relative: str | None) -> tuple[str | None, str | None]:
        """``folder/relative`` as a path JupyterLab opens, or None and why it cannot."""
        if not relative:
            return None, None
        path = (Path(folder) / relative).resolve()
        if not path.is_file():
            return None, f"{path} does not exist any more"
        if not path.is_relative_to(self.root):
            return None, f"{path} is outside JupyterLab's root folder {self.root}"
        shown = path.relative_to(self.root).as_posix()
        if not self.allow_hidden and is_hidden(str(path), str(self.root)):
            return None, (f"{shown} is in a hidden folder, which JupyterLab does not open unless started with "
                          "--ContentsManager.allow_hidden=True")
        return shown, None
