"""Display objects of the magics: each has a readable ``text/plain`` and ``text/markdown`` form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gorgon_nb.model.text import markdown_table, text_table

__all__ = ["HELP", "Table", "Text"]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]
    title: str = ""
    footer: str = ""
    empty: str = "nothing to show"

    def _repr_markdown_(self) -> str:
        parts = [f"**{self.title}**"] if self.title else []
        parts.append(markdown_table(self.headers, self.rows) if self.rows else f"_{self.empty}_")
        if self.footer:
            parts.append(self.footer)
        return "\n\n".join(parts)

    def __repr__(self) -> str:
        parts = [self.title] if self.title else []
        parts.append(text_table(self.headers, self.rows) if self.rows else self.empty)
        if self.footer:
            parts.append(self.footer.replace("`", ""))
        return "\n\n".join(parts)


@dataclass
class Text:
    """Markdown text that also reads well as plain text."""

    markdown: str
    extra: dict[str, Any] = field(default_factory=dict)

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return self.markdown.replace("`", "").replace("**", "")


HELP = Text("""**gorgon-nb magics**

| magic | does |
|---|---|
| `%%gorgon [--name N] [-v KEY=VALUE]... [--model M] [--background] [--out VAR] [--define] [--allow-code]` | the cell is a workflow (YAML): check it, run it, show it live; `-v KEY` alone takes the notebook variable `KEY` |
| `%%gorgon agent ROLE [--model M] [--format markdown\\|code\\|json\\|text] [--insert] [--out VAR] [--tools T1,T2] [--allow-code]` | the cell is a prompt for one agent; `{{ name }}` pulls in a notebook variable; `--insert` puts the code in a new cell below; `--tools` lets it call tools |
| `%gorgon run NAME_OR_FILE [-v KEY=VALUE]... [--model M] [--background] [--out VAR] [--allow-code]` | run a workflow named in this notebook (`--name`), a file, or a bundled one |
| `%gorgon workflows` | workflows you can run |
| `%gorgon runs [-n N] [--widget]` | recent runs (`--widget`: with a cost chart) |
| `%gorgon show RUN` | one run, its steps and outputs |
| `%gorgon providers` | which LLM providers are set up, and how to set up the rest |
| `%gorgon tools [REF]` | the tools agents can call (each MCP server's too), which read and which write |
| `%gorgon approvals` / `%gorgon approve ID_OR_RUN [--reject] [-m COMMENT]` | what waits for a person; decide it (the run view's buttons do the same) |
| `%gorgon resume RUN [--max-usd X] [--max-tokens N] [--background]` | go on with a run whose kernel or process stopped; finished steps are kept |
| `%gorgon cancel RUN` | stop a run, here or in another process |
| `%gorgon replay RUN` / `%gorgon fork RUN --from STEP [-v KEY=VALUE]` | repeat a run from its record at no cost / run it again from a step on |
| `%gorgon schedule NOTEBOOK --cron "0 8 * * MON" \\| --every 15m \\| --at 2026-12-01T09:00 [--tz TZ] [-p KEY=VALUE]...` | run a notebook as a recurring job (options: `--retries`, `--timeout`, `--missed skip\\|catch-up`, `--overlap skip\\|queue`, `--keep`) |
| `%gorgon schedule WORKFLOW --every 1h [-v KEY=VALUE]... [--allow-code]` / `%gorgon schedule --from FILE` | run a workflow as a recurring job, with the same options; or import a Gorgon schedule file |
| `%gorgon schedules [pause\\|resume\\|delete\\|run SCHEDULE]` / `%gorgon jobs [cancel JOB]` | the schedules, and the jobs they ran |
| `%gorgon webhooks [deliveries [NAME] \\| replay DELIVERY]` | the webhooks, the deliveries they took; start a failed one again |
| `%gorgon help` | this |

The result of the last run is in `_gorgon` (and in `--out VAR`): `.outputs`, `.steps`, `.usage`, `.cost`.
A failed or interrupted run fails its cell with a short message; what finished is kept.""")
