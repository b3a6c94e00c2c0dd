"""Markdown, the language of agents' answers, in the shapes the services take.

* ``to_mrkdwn``: Slack's own markup (``*bold*``, ``_italic_``, ``<url|text>``, ``•`` lists,
  no headings, ``&`` ``<`` ``>`` escaped outside links; code left alone).
* ``to_blocks``: Notion blocks (headings, lists, to-dos, quotes, code, dividers,
  paragraphs), with bold, italic, code and links kept as rich-text annotations, and
  every text item cut to Notion's 2000-character limit.
* ``blocks_text``: Notion blocks back to Markdown-like text.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["blocks_text", "fenced", "rich_text", "to_blocks", "to_mrkdwn"]

NOTION_TEXT_LIMIT = 2000
NOTION_ITEMS_LIMIT = 100  # rich-text items in one block


def fenced(text: str, language: str = "") -> str:
    """``text`` in a Markdown code fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}"


# -- Slack ----------------------------------------------------------------------------------

_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_BOLD = "\x00B"
_INLINE = [
    (re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)"), lambda m: f"<{m[2]}|{m[1] or m[2]}>"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), lambda m: f"<{m[2]}|{m[1]}>"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), lambda m: f"{_BOLD}{m[2]}{_BOLD}"),
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), lambda m: f"_{m[1]}_"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), lambda m: f"~{m[1]}~"),
]


def _mrkdwn_line(line: str) -> str:
    parts = re.split(r"(`[^`]*`)", line)  # inline code is kept as it is, only escaped
    for i, part in enumerate(parts):
        if i % 2:
            parts[i] = part.translate(_ESCAPE)
            continue
        text = part.translate(_ESCAPE)  # first, so the links made below keep their < >
        for pattern, replace in _INLINE:
            text = pattern.sub(replace, text)
        parts[i] = text.replace(_BOLD, "*")
    return "".join(parts)


def to_mrkdwn(markdown: str) -> str:
    """Markdown as Slack mrkdwn."""
    out: list[str] = []
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            out.append("```")  # Slack would print a language tag
            continue
        if in_code:
            out.append(line.translate(_ESCAPE))
            continue
        if re.match(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$", line) and "|" in line:
            continue  # a table's separator row: Slack has no tables
        quote = re.match(r"^\s*>\s?", line)
        body = _mrkdwn_line(line[quote.end():] if quote else line)
        if heading := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", body):
            body = f"*{heading[1].replace('*', '')}*"
        body = re.sub(r"^(\s*)[-*+]\s+", r"\1• ", body)
        out.append(("> " if quote else "") + body)
    return "\n".join(out)


# -- Notion ---------------------------------------------------------------------------------

_RICH = re.compile(r"(`[^`\n]+`)|\[([^\]]+)\]\(([^)\s]+)\)|(\*\*|__)(?=\S)(.+?)(?<=\S)\4|"
                   r"(?<![\w*])[*_](?=\S)([^*_\n]+?)(?<=\S)[*_](?![\w*])")
_CODE_LANGUAGES = frozenset((
    "bash", "c", "c#", "c++", "css", "diff", "go", "html", "java", "javascript", "json", "kotlin", "markdown",
    "php", "plain text", "python", "r", "ruby", "rust", "scala", "shell", "sql", "swift", "typescript", "yaml"))


def _text_items(text: str, annotations: dict[str, bool] | None = None, link: str | None = None) -> list[dict[str, Any]]:
    items = []
    for start in range(0, max(len(text), 1), NOTION_TEXT_LIMIT):
        item: dict[str, Any] = {"type": "text", "text": {"content": text[start:start + NOTION_TEXT_LIMIT]}}
        if link:
            item["text"]["link"] = {"url": link}
        if annotations:
            item["annotations"] = annotations
        items.append(item)
    return items


def rich_text(text: str, inline: bool = True) -> list[dict[str, Any]]:
    """Notion rich text for ``text``; with ``inline``, Markdown emphasis, code and links become annotations."""
    if not inline:
        return _text_items(text)
    items: list[dict[str, Any]] = []
    position = 0
    for match in _RICH.finditer(text):
        if match.start() > position:
            items += _text_items(text[position:match.start()])
        code, label, url, _, bold, italic = match.groups()
        if code:
            items += _text_items(code[1:-1], {"code": True})
        elif label:
            items += _text_items(label, link=url)
        elif bold:
            items += _text_items(bold, {"bold": True})
        else:
            items += _text_items(italic, {"italic": True})
        position = match.end()
    if position < len(text) or not items:
        items += _text_items(text[position:])
    return items if len(items) <= NOTION_ITEMS_LIMIT else _text_items(text)  # too many spans: plain text


def _block(kind: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"object": "block", "type": kind, kind: {"rich_text": rich_text(text, kind != "code"), **extra}}


_LINE_BLOCKS = [
    (re.compile(r"^(#{1,3})\s+(.*)$"), lambda m: _block(f"heading_{len(m[1])}", m[2].strip())),
    (re.compile(r"^\s*[-*+]\s+\[( |x|X)\]\s+(.*)$"), lambda m: _block("to_do", m[2], checked=m[1] != " ")),
    (re.compile(r"^\s*[-*+]\s+(.*)$"), lambda m: _block("bulleted_list_item", m[1])),
    (re.compile(r"^\s*\d+[.)]\s+(.*)$"), lambda m: _block("numbered_list_item", m[1])),
    (re.compile(r"^\s*>\s?(.*)$"), lambda m: _block("quote", m[1])),
    (re.compile(r"^\s*(-{3,}|\*{3,}|_{3,})\s*$"), lambda m: {"object": "block", "type": "divider", "divider": {}}),
]


def to_blocks(markdown: str) -> list[dict[str, Any]]:
    """Markdown as a list of Notion blocks (lines of one paragraph are joined)."""
    blocks: list[dict[str, Any]] = []
    paragraph: list[str] = []
    code: list[str] | None = None
    language = ""

    def flush() -> None:
        if paragraph:
            blocks.append(_block("paragraph", "\n".join(paragraph)))
            paragraph.clear()

    for line in markdown.splitlines():
        if code is not None:
            if line.strip().startswith("```"):
                blocks.append(_block("code", "\n".join(code), language=language))
                code = None
            else:
                code.append(line)
            continue
        if line.strip().startswith("```"):
            flush()
            tag = line.strip()[3:].strip().lower()
            language = tag if tag in _CODE_LANGUAGES else "plain text"
            code = []
            continue
        if not line.strip():
            flush()
            continue
        for pattern, make in _LINE_BLOCKS:
            if match := pattern.match(line):
                flush()
                blocks.append(make(match))
                break
        else:
            paragraph.append(line)
    if code is not None:  # an unclosed fence keeps its text
        blocks.append(_block("code", "\n".join(code), language=language))
    flush()
    return blocks


def plain(items: list[dict[str, Any]] | None) -> str:
    """The text of a rich-text list, as the API returns it or as it is sent."""
    return "".join(item.get("plain_text") or (item.get("text") or {}).get("content", "") for item in items or [])


_PREFIX = {"heading_1": "# ", "heading_2": "## ", "heading_3": "### ", "bulleted_list_item": "- ",
           "numbered_list_item": "1. ", "quote": "> ", "callout": "> "}


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """Notion blocks as Markdown-like text: one line (or fenced code) per block."""
    lines = []
    for block in blocks:
        kind = block.get("type", "")
        data = block.get(kind) or {}
        text = plain(data.get("rich_text"))
        if kind == "code":
            lines.append(fenced(text, data.get("language", "")))
        elif kind == "to_do":
            lines.append(f"- [{'x' if data.get('checked') else ' '}] {text}")
        elif kind == "divider":
            lines.append("---")
        elif kind == "child_page":
            lines.append(f"[page] {data.get('title', '')}")
        elif kind == "child_database":
            lines.append(f"[database] {data.get('title', '')}")
        else:
            lines.append(_PREFIX.get(kind, "") + text)
    return "\n\n".join(lines)
