"""Render a widget's ESM in headless Chromium with a stand-in for the anywidget model."""

from __future__ import annotations

import base64
import html as htmllib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

THEMES = Path(sys.prefix) / "share/jupyter/lab/themes/@jupyterlab"

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><style>{theme}</style><style>{css}</style>
<style>body {{ background: var(--jp-layout-color0, white); margin: 16px; }}</style></head>
<body class="jp-ThemedContainer"><div id="app"></div><pre id="report" hidden></pre>
<script>
// headless Chromium paints no frames while it dumps the DOM: animation frames become timers
window.requestAnimationFrame = (fn) => setTimeout(() => fn(performance.now()), 16);
window.cancelAnimationFrame = (id) => clearTimeout(id);
</script>
<script type="module">
class Model {{
  constructor(state) {{ this.state = state; this.handlers = {{}}; this.sent = []; }}
  get(name) {{ return this.state[name]; }}
  on(name, fn) {{ (this.handlers[name] ||= []).push(fn); }}
  off(name, fn) {{ this.handlers[name] = (this.handlers[name] || []).filter((f) => f !== fn); }}
  set(name, value) {{ this.state[name] = value; (this.handlers["change:" + name] || []).forEach((f) => f()); }}
  // messages: what the view sent to the kernel, and the kernel's answers to it
  send(content) {{ this.sent.push(content); }}
  receive(content) {{ (this.handlers["msg:custom"] || []).forEach((f) => f(content)); }}
}}
const model = new Model({state});
const frames = () => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
let report;
try {{
  {setup}
  const module = await import("data:text/javascript;base64,{esm}");
  const cleanup = module.default.render({{ model, el: document.getElementById("app") }});
  await frames();
  report = await (async () => {{ {after} }})();
  if (typeof cleanup === "function") cleanup();
}} catch (error) {{
  report = {{ error: String((error && error.stack) || error) }};
}}
document.getElementById("report").textContent = JSON.stringify(report ?? null);
</script></body></html>
"""


def chromium() -> str | None:
    return (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )


def page(
    esm: Path,
    css: Path,
    state: dict[str, Any],
    *,
    after: str = "",
    setup: str = "",
    theme: str = "light",
) -> str:
    """A page that renders ``esm``: ``setup`` runs first (stubs of ``fetch``, the page
    config, cookies), then the view is rendered, then ``after`` returns the report."""
    theme_file = THEMES / f"theme-{theme}-extension" / "index.css"
    return _PAGE.format(
        theme=theme_file.read_text() if theme_file.is_file() else "",
        css=css.read_text(),
        state=json.dumps(state).replace("</", "<\\/"),
        esm=base64.b64encode(esm.read_bytes()).decode(),
        after=after,
        setup=setup,
    )


def report(html: str) -> Any:
    """What the page's ``after`` script returned (it may use ``model``, ``frames()``, ``document``)."""
    dom = run(html)
    found = re.search(r'<pre id="report"[^>]*>(.*?)</pre>', dom, re.S)
    assert found is not None, f"the page did not run: {dom[-2000:]}"
    return json.loads(htmllib.unescape(found.group(1)))


def run(html: str, *, screenshot: Path | None = None, size: str = "1100,900") -> str:
    """The page's DOM after its scripts ran (or a screenshot of it)."""
    browser = chromium()
    assert browser is not None, "no chromium on PATH"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "page.html"
        path.write_text(html)
        args = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            f"--window-size={size}",
            f"--user-data-dir={tmp}/profile",
        ]
        args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        done = subprocess.run([*args, path.as_uri()], capture_output=True, text=True, timeout=120)
    return done.stdout
