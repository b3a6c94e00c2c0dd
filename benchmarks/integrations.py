"""What a GitHub, Notion or Slack step costs on top of the SDK call it makes.

The loopback ``ServiceServer`` answers the real SDKs. Measured, per call, one at a time:

- the SDK called directly (the floor): ``chat_postMessage`` / ``get_repo`` + ``get_contents``;
- the same call as a workflow step (``for_each`` over N items, ``max_parallel: 1``) in a
  run with a durable SQLite store: templates, events, and for a write its journal
  (noted before it is sent and after) and no approval (``auto_approve``).

    python benchmarks/integrations.py [--calls 200]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

TOKEN = "xoxb-benchmark-token"
GH_TOKEN = "ghp_benchmark_token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    calls = parser.parse_args().calls
    home = Path(tempfile.mkdtemp(prefix="gorgon-bench-"))
    os.environ.update(GORGON_HOME=str(home), SLACK_BOT_TOKEN=TOKEN, GITHUB_TOKEN=GH_TOKEN)

    from github import Auth, Github
    from slack_sdk import WebClient

    from gorgon_nb.config import load_config
    from gorgon_nb.runner import Runner
    from gorgon_nb.store import Store
    from gorgon_nb.testing import ServiceServer
    from gorgon_nb.workflow import Workflow

    with ServiceServer(tokens={"slack": TOKEN, "github": GH_TOKEN}) as svc:
        svc.slack.add_channel("C100", "general")
        svc.github.add_repo("octo/site", default_branch="main")
        svc.github.add_file("octo/site", "README.md", "hello\n")
        (home / "config.toml").write_text(f'[integrations.slack]\nbase_url = "{svc.slack_url}"\n'
                                          f'[integrations.github]\nbase_url = "{svc.github_url}"\n')
        slack = WebClient(token=TOKEN, base_url=svc.slack_url, retry_handlers=[])
        gh = Github(base_url=svc.github_url, auth=Auth.Token(GH_TOKEN), retry=None, lazy=True,
                    seconds_between_requests=None, seconds_between_writes=None)

        def direct_post() -> None:
            slack.chat_postMessage(channel="general", text="hi")

        def direct_read() -> None:
            gh.get_repo("octo/site").get_contents("README.md", ref="main")

        runner = Runner(load_config(), Store(home / "gorgon.db"))
        steps = {
            "slack post_message (write)": ("slack: post_message", "{channel: general, text: hi}", direct_post),
            "github read_file (read)": ("github: read_file", "{repo: octo/site, path: README.md, ref: main}",
                                        direct_read),
        }
        print(f"{calls} calls each, one at a time, loopback services")
        for name, (kind, params, direct) in steps.items():
            direct()  # warm up both paths
            started = time.perf_counter()
            for _ in range(calls):
                direct()
            floor = (time.perf_counter() - started) / calls
            text = (f"id: b\nsteps:\n  - id: each\n    {kind}\n    for_each: '{{{{ range({calls}) | list }}}}'\n"
                    f"    max_parallel: 1\n    auto_approve: true\n    with: {params}\n")
            workflow = Workflow.from_yaml(text)
            runner.run(Workflow.from_yaml(text.replace(f"range({calls})", "range(2)")))
            started = time.perf_counter()
            result = runner.run(workflow)
            per_step = (time.perf_counter() - started) / calls
            assert result.ok, result.error
            print(f"  {name:28} SDK {floor * 1000:6.2f} ms/call   as a step {per_step * 1000:6.2f} ms/call   "
                  f"overhead {(per_step - floor) * 1000:5.2f} ms ({per_step / floor:.2f}x)")


if __name__ == "__main__":
    main()
