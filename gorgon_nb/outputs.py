"""A step's output (what a model, a function or a service returned) as HTML, Markdown or
plain text, for the notebook displays and the sidebar, with every secret redacted.

gorgon-nb's own facts (statuses, durations, tables) are told by ``gorgon_nb.model.text``.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt

from gorgon_nb.secrets import redact

__all__ = ["output_html", "output_markdown", "output_text"]


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # html=False: raw HTML in a model's answer is shown as text, never run in the page
    return MarkdownIt("commonmark", {"html": False})


def _as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


# Every form of an output is scrubbed of secrets: a model that echoes a key shows it nowhere.

def output_html(value: Any) -> str:
    """A step's output as HTML: text as Markdown, anything else as indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return redact(_markdown().render(value))
    return f'<pre class="gorgon-json">{redact(html.escape(_as_json(value)))}</pre>'


def output_text(value: Any) -> str:
    if value is None:
        return ""
    return redact(value if isinstance(value, str) else _as_json(value))


def output_markdown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return redact(value)
    return f"```json\n{redact(_as_json(value))}\n```"

