"""Gmail's actions as tools: listed by ``gorgon tools``, typed from the actions' signatures,
reads that run freely and a send approved with the message as its preview."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from loopback import configure

from gorgon_nb.config import load_config
from gorgon_nb.runner import Runner
from gorgon_nb.testing import Approver, ScriptedModel, ServiceServer
from gorgon_nb.tools.catalog import list_tools
from gorgon_nb.workflow import Workflow

GORGON = str(Path(sys.executable).with_name("gorgon"))


def test_gorgon_tools_lists_the_gmail_set(home: Path, svc: ServiceServer) -> None:
    configure(home, svc)
    (group,) = list_tools(load_config(), "gmail")
    assert {(t.name, t.writes) for t in group.tools} == {
        ("gmail.list_messages", False), ("gmail.search", False), ("gmail.get_message", False),
        ("gmail.send_email", True), ("gmail.create_draft", True), ("gmail.add_label", True)}
    printed = subprocess.run([GORGON, "tools", "gmail", "--json"], capture_output=True, text=True, check=True,
                             env={"GORGON_HOME": str(home), "PATH": "/usr/bin:/bin"}).stdout
    (listed,) = json.loads(printed)
    assert "gmail.send_email" in {t["name"] for t in listed["tools"]}
    assert svc.requests_to("gmail") == []  # listing needs no mailbox


async def test_an_agent_reads_mail_and_sends_an_approved_reply(wired: Runner, svc: ServiceServer,
                                                               tmp_path: Path) -> None:
    message_id = svc.gmail.add_message("Ann Lee <ann@example.com>", "Can we meet?", "Tuesday at 10?")
    model = ScriptedModel(
        [("gmail.search", {"query": "meet", "limit": 5})],
        [("gmail.send_email", {"to": "ann@example.com", "subject": "Re: Can we meet?", "body": "Tuesday works."})],
        answer=lambda results: json.dumps([m.content for m in results]))
    wired.runtime.providers.register(model)
    workflow = Workflow.from_yaml("id: reply\nsteps:\n  - id: act\n    llm: Answer Ann.\n    tools: [gmail]\n")
    assert wired.store is not None and wired.store.path is not None
    with Approver(wired.store.path) as person:
        result = await wired.arun(workflow)
    assert result.ok, result.error
    specs = {spec.name: spec for spec in model.requests[0].tools}
    assert specs["gmail_send_email"].schema["required"] == ["to", "subject", "body"]
    assert specs["gmail_list_messages"].schema["properties"]["limit"]["type"] == "integer"
    found = json.loads(model.requests[1].messages[-1].content)
    assert [m["id"] for m in found] == [message_id]
    (approval,) = person.seen  # the read ran freely; the send waited
    assert approval.preview.startswith("**Send an email to ann@example.com: Re: Can we meet?**")
    assert "Tuesday works." in approval.preview
    (sent,) = svc.gmail.sent
    assert sent["Subject"] == "Re: Can we meet?" and sent.get_content() == "Tuesday works.\n"


async def test_a_rejected_send_tool_sends_nothing(wired: Runner, svc: ServiceServer) -> None:
    model = ScriptedModel([("gmail.send_email", {"to": "ann@example.com", "subject": "Hi", "body": "x"})])
    wired.runtime.providers.register(model)
    workflow = Workflow.from_yaml("id: reply\nsteps:\n  - id: act\n    llm: Write.\n    tools: [gmail.send_email]\n")
    assert wired.store is not None and wired.store.path is not None
    with Approver(wired.store.path, approve=False) as person:
        await wired.arun(workflow)
    assert len(person.seen) == 1 and svc.gmail.sent == [] and svc.writes("gmail") == []
