"""The live progress table of ``gorgon run`` on a real terminal (a pseudo-terminal 80 columns wide)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

from test_cli import GORGON, REPO, env_without_keys

_ERASE = re.compile(r"(?:\x1b\[2K\x1b\[1A)+\x1b\[2K")  # how the live display takes back its last frame
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(home: Path, *args: str, columns: int = 80) -> str:
    """The terminal's text after the last redraw of the live table (the final frame and what follows)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**env_without_keys(), "GORGON_HOME": str(home), "TERM": "xterm-256color"}
    for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE"):
        env.pop(name, None)
    process = subprocess.Popen([str(GORGON), *args], cwd=REPO, env=env, stdin=follower, stdout=follower,
                               stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 0
    raw = b"".join(chunks).decode("utf-8", errors="replace")
    assert "Traceback" not in raw
    return _ESCAPE.sub("", _ERASE.split(raw)[-1]).replace("\r", "")


def test_a_loops_steps_have_their_agent_and_one_line_each(home: Path) -> None:
    (home / "config.toml").write_text("[offline]\ndelay = 0.002\n")
    screen = run_on_a_terminal(home, "run", "bug_fix_loop", "-v", "bug_report=x")
    lines = screen.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["step", "agent"])
    footer = next(i for i, line in enumerate(lines) if line.startswith("elapsed "))
    rows = [line.split() for line in lines[header + 1:footer]]
    assert all(len(line) <= 80 for line in lines[header:footer + 1]), lines[header:footer + 1]
    assert [row[:4] for row in rows[:4]] == [
        ["✓", "diagnose", "architect", "succeeded"],
        ["✓", "fix_and_verify", "loop", "succeeded"],
        ["✓", "fix_and_verify[1].fix", "builder", "succeeded"],
        ["✓", "fix_and_verify[1].verify", "tester", "succeeded"],
    ]
    assert rows[-1][:4] == ["✓", "change_note", "documenter", "succeeded"]
    assert len(rows) == footer - header - 1  # no row wrapped onto a second line
    assert all(len(row) >= 7 for row in rows)  # symbol, step, agent, status, elapsed, tokens, cost


def test_a_wide_terminal_shows_tokens_in_and_out(home: Path) -> None:
    screen = run_on_a_terminal(home, "run", "dev_plan_build_test_review", "-v", "feature_request=x", columns=140)
    assert re.search(r"^✓\s+plan\s+planner\s+succeeded\s+\S+\s+[\d,]+ in / [\d,]+ out\s+\$0", screen, re.M), screen
