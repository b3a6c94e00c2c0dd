"""A run killed while Gmail sends: the resumed run never sends an email twice.

The run is a real ``gorgon run`` process, killed with SIGKILL while the loopback Gmail holds
its third request; the server's log is the witness of what was sent.
"""

from __future__ import annotations

from pathlib import Path

from loopback import configure, killed_on_third_write, until

from gorgon_nb.config import load_config
from gorgon_nb.model.run import RunStatus
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import ServiceServer

SEND = "/gmail/v1/users/me/messages/send"


def killed_mid_write(home: Path, svc: ServiceServer, tmp_path: Path, step: str, path: str,
                     items: str = "[one, two, three]") -> str:
    """Run a for_each of three Gmail writes in a process; kill it while the third is being sent."""
    configure(home, svc)
    workflow = tmp_path / "mail.yaml"
    workflow.write_text(f"id: mail\nsteps:\n  - id: each\n    for_each: {items}\n    max_parallel: 1\n"
                        f"    auto_approve: true\n{step}")
    return killed_on_third_write(home, svc, workflow, "gmail", path)


def test_an_email_cut_off_is_not_sent_again_and_the_sent_ones_are_reused(home: Path, svc: ServiceServer,
                                                                         tmp_path: Path) -> None:
    step = '    gmail: send_email\n    with: {to: ann@example.com, subject: "{{ item }}", body: Hello}\n'
    run_id = killed_mid_write(home, svc, tmp_path, step, SEND)
    until(lambda: len(svc.gmail.sent) == 3)  # the held third send is served once its wait is over
    with Store(home / "gorgon.db") as store:
        resumed = Runner(load_config(), store).resume(run_id)
    assert len([r for r in svc.requests_to("gmail") if r.path == SEND]) == 3
    assert [m["Subject"] for m in svc.gmail.sent] == ["one", "two", "three"]  # nothing was sent again
    assert resumed.status is RunStatus.FAILED
    error = resumed.steps["each"].error or ""
    assert "may or may not have happened" in error and f"gorgon fork {run_id} --from each" in error


def test_a_label_cut_off_is_added_again_and_the_done_ones_are_reused(home: Path, svc: ServiceServer,
                                                                     tmp_path: Path) -> None:
    svc.gmail.add_label("Done")
    ids = [svc.gmail.add_message("ann@example.com", subject, "x") for subject in ("one", "two", "three")]
    step = '    gmail: add_label\n    with: {id: "{{ item }}", label: Done}\n'
    run_id = killed_mid_write(home, svc, tmp_path, step, "/gmail/v1/users/me/messages/*/modify", str(ids))
    with Store(home / "gorgon.db") as store:
        resumed = Runner(load_config(), store).resume(run_id)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    modified = [r.path.split("/")[-2] for r in svc.requests_to("gmail") if r.path.endswith("/modify")]
    assert modified[:3] == [ids[0], ids[1], ids[2]] and modified[3:] == [ids[2]]  # only the cut-off one again
    assert all("Label_1" in svc.gmail.message(i)["labelIds"] for i in ids)
