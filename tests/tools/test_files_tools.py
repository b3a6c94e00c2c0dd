"""The files tools in a real folder, called by a model through the engine: reading,
searching, writing with a diff approved, and every way out of the workspace refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from toolbench import act

from gorgon_nb.config import Config
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import Approver
from gorgon_nb.tools.files import MAX_FILE_BYTES, SEARCH_LIMIT


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "app.py").write_text("def main():\n    print('hello')\n", encoding="utf-8")
    (folder / "README.md").write_text("# Demo\n\nSay hello.\n", encoding="utf-8")
    for hidden in (".git", "node_modules", ".venv"):
        (folder / hidden).mkdir()
        (folder / hidden / "inside.txt").write_text("hello from a skipped folder\n", encoding="utf-8")
    return folder


async def test_listing_reading_and_searching(runner: Runner, tmp_path: Path, ws: Path) -> None:
    acted = await act(runner, tmp_path, ["files"], [
        ("files.list_files", {}),
        ("files.list_files", {"pattern": "*.py"}),
        ("files.read_file", {"path": "src/app.py"}),
        ("files.search", {"pattern": r"hel+o"}),
    ])
    assert acted.result.ok, acted.result.error
    listing, python, text, found = acted.read
    assert listing.splitlines() == ["src/", "README.md (19 bytes)", "src/app.py (31 bytes)"]
    assert python == "src/app.py (31 bytes)"
    assert text == "def main():\n    print('hello')\n"
    assert found.splitlines() == ["README.md:3: Say hello.", "src/app.py:2:     print('hello')"]
    assert acted.approvals == []  # reading waits for no one
    offered = {spec.name for spec in acted.model.requests[0].tools}
    assert offered == {"files_list_files", "files_read_file", "files_search", "files_write_file", "files_edit_file"}


async def test_reading_a_range_of_lines_says_where_to_go_on(runner: Runner, tmp_path: Path, ws: Path) -> None:
    (ws / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 11)), encoding="utf-8")
    acted = await act(runner, tmp_path, ["files.read_file"], [("files.read_file", {"path": "long.txt", "offset": 3,
                                                                                   "limit": 2})])
    assert acted.read == ["line 3\nline 4\n\n[lines 3-4 of 10; read on with offset=5]"]


async def test_search_results_are_bounded(runner: Runner, tmp_path: Path, ws: Path) -> None:
    (ws / "many.txt").write_text("match\n" * (SEARCH_LIMIT + 7), encoding="utf-8")
    acted = await act(runner, tmp_path, ["files.search"], [("files.search", {"pattern": "^match$"})])
    lines = acted.read[0].splitlines()
    assert len(lines) == SEARCH_LIMIT + 1
    assert lines[-1] == "[7 more matches not shown; narrow the pattern or the path]"


@pytest.mark.parametrize(("path", "said"), [
    ("../secret.txt", "is outside the workspace"),
    ("src/../../secret.txt", "is outside the workspace"),
    ("ABSOLUTE", "is outside the workspace"),
    ("link/secret.txt", "is outside the workspace"),
    ("secret-link.txt", "is outside the workspace"),
])
async def test_no_way_out_of_the_workspace(runner: Runner, tmp_path: Path, ws: Path, path: str, said: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the launch codes\n", encoding="utf-8")
    os.symlink(tmp_path, ws / "link")
    os.symlink(secret, ws / "secret-link.txt")
    path = str(secret) if path == "ABSOLUTE" else path
    acted = await act(runner, tmp_path, ["files"], [
        ("files.read_file", {"path": path}),
        ("files.write_file", {"path": path, "content": "overwritten"}),
        ("files.edit_file", {"path": path, "old": "launch", "new": "lunch"}),
        ("files.list_files", {"path": path}),
    ], auto_approve=True)
    assert acted.result.ok, acted.result.error
    assert all(said in text and "give a path relative to the workspace" in text for text in acted.read), acted.read
    assert acted.errors == [True] * 4
    assert secret.read_text(encoding="utf-8") == "the launch codes\n"
    assert not any("launch codes" in text for text in acted.read)


async def test_listing_and_search_leave_out_links_that_point_outside(runner: Runner, tmp_path: Path,
                                                                      ws: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "hello.txt").write_text("hello from outside\n", encoding="utf-8")
    os.symlink(tmp_path / "outside", ws / "out")
    acted = await act(runner, tmp_path, ["files"], [("files.list_files", {}), ("files.search", {"pattern": "hello"})])
    listing, found = acted.read
    assert "out" not in listing and "outside" not in found and "skipped folder" not in found


async def test_binary_big_missing_and_folder_reads_are_refused_clearly(runner: Runner, tmp_path: Path,
                                                                      ws: Path) -> None:
    (ws / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (ws / "big.log").write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    (ws / "latin1.txt").write_bytes("café".encode("latin-1"))
    acted = await act(runner, tmp_path, ["files.read_file"], [
        ("files.read_file", {"path": "image.png"}),
        ("files.read_file", {"path": "big.log"}),
        ("files.read_file", {"path": "nothing.txt"}),
        ("files.read_file", {"path": "src"}),
        ("files.read_file", {"path": "latin1.txt"}),
        ("files.read_file", {"path": 7}),
    ])
    binary, big, missing, folder, latin, number = acted.read
    assert binary == "'image.png' is a binary file, not text, so it cannot be read as text"
    assert big.startswith(f"'big.log' is {MAX_FILE_BYTES + 1:,} bytes, more than the") and "search it" in big
    assert missing == "there is no file 'nothing.txt' in the workspace; list the files to see what there is"
    assert folder == "'src' is a folder, not a file; list it instead"
    assert latin.startswith("'latin1.txt' is not UTF-8 text")
    assert number == "'path' must be a string"
    assert acted.errors == [True] * 6


async def test_a_write_waits_for_approval_showing_the_diff(runner: Runner, store: Store, tmp_path: Path,
                                                            ws: Path) -> None:
    acted = await act(runner, tmp_path, ["files"], [
        ("files.write_file", {"path": "src/app.py", "content": "def main():\n    print('bonjour')\n"}),
        ("files.write_file", {"path": "docs/new.md", "content": "# New\n"}),
    ])
    assert acted.result.ok, acted.result.error
    assert len(acted.approvals) == 2
    (changed,) = [a for a in acted.approvals if "src/app.py" in a.preview]
    (created,) = [a for a in acted.approvals if "docs/new.md" in a.preview]
    assert "```diff\n--- a/src/app.py\n+++ b/src/app.py\n" in changed.preview
    assert "-    print('hello')\n+    print('bonjour')\n" in changed.preview
    assert "will overwrite `src/app.py`" in changed.preview
    assert "--- /dev/null\n+++ b/docs/new.md\n" in created.preview and "+# New\n" in created.preview
    assert (ws / "src" / "app.py").read_text(encoding="utf-8") == "def main():\n    print('bonjour')\n"
    assert (ws / "docs" / "new.md").read_text(encoding="utf-8") == "# New\n"
    assert acted.read == ["wrote 'src/app.py' (2 lines)", "created 'docs/new.md' (1 lines)"]
    records = store.tools.of_run(acted.result.run_id)
    assert [(r.tool, r.state, r.is_error) for r in records] == [("files.write_file", "done", False)] * 2


async def test_a_rejected_write_leaves_the_file_and_tells_the_model_why(runner: Runner, tmp_path: Path,
                                                                        ws: Path) -> None:
    acted = await act(runner, tmp_path, ["files.write_file"], [
        ("files.write_file", {"path": "src/app.py", "content": "gone\n"})], approve=False, comment="keep it")
    assert acted.result.ok, acted.result.error
    assert len(acted.approvals) == 1
    assert acted.read == ["this call was rejected by alice, who said: keep it. Do not repeat it as it was."]
    assert (ws / "src" / "app.py").read_text(encoding="utf-8") == "def main():\n    print('hello')\n"


async def test_edits_replace_one_exact_match(runner: Runner, tmp_path: Path, ws: Path) -> None:
    (ws / "twice.txt").write_text("a\na\n", encoding="utf-8")
    acted = await act(runner, tmp_path, ["files"], [
        ("files.edit_file", {"path": "src/app.py", "old": "'hello'", "new": "'hi'"}),
        ("files.edit_file", {"path": "src/app.py", "old": "absent", "new": "x"}),
        ("files.edit_file", {"path": "twice.txt", "old": "a", "new": "b"}),
    ], auto_approve=True)
    done, absent, twice = acted.read
    assert done == "edited 'src/app.py': replaced 1 line(s) with 1"
    assert (ws / "src" / "app.py").read_text(encoding="utf-8") == "def main():\n    print('hi')\n"
    assert absent.startswith("the text to replace was not found in 'src/app.py'")
    assert twice.startswith("the text to replace occurs 2 times in 'twice.txt'")
    assert (ws / "twice.txt").read_text(encoding="utf-8") == "a\na\n"
    assert acted.errors == [False, True, True]


async def test_an_edit_is_previewed_as_its_diff(runner: Runner, tmp_path: Path, ws: Path) -> None:
    acted = await act(runner, tmp_path, ["files.edit_file"], [
        ("files.edit_file", {"path": "README.md", "old": "Say hello.", "new": "Say ``` hello."})])
    (approval,) = acted.approvals
    assert "````diff\n--- a/README.md\n+++ b/README.md\n" in approval.preview  # a fence longer than the text's
    assert "-Say hello.\n+Say ``` hello.\n" in approval.preview


async def test_a_call_that_will_fail_says_so_in_its_approval(runner: Runner, tmp_path: Path, ws: Path) -> None:
    acted = await act(runner, tmp_path, ["files"], [
        ("files.edit_file", {"path": "README.md", "old": "Goodbye", "new": "Hello"})])
    (approval,) = acted.approvals
    assert approval.preview.startswith("`files.edit_file` will write nothing: the text to replace was not found in "
                                       "'README.md'")
    assert acted.errors == [True]


async def test_writing_the_same_content_twice_is_the_same(runner: Runner, tmp_path: Path, ws: Path) -> None:
    call = ("files.write_file", {"path": "same.txt", "content": "one\n"})
    acted = await act(runner, tmp_path, ["files.write_file"], [call], [call], auto_approve=True)
    assert acted.read == ["created 'same.txt' (1 lines)", "'same.txt' already had this content; nothing changed"]
    assert (ws / "same.txt").read_text(encoding="utf-8") == "one\n"


async def test_nothing_is_written_into_git(runner: Runner, tmp_path: Path, ws: Path) -> None:
    acted = await act(runner, tmp_path, ["files.write_file"], [
        ("files.write_file", {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\nrm -rf /\n"})],
        auto_approve=True)
    assert acted.read == ["'.git/hooks/pre-commit' is inside .git, which the file tools do not write (its hooks "
                          "would run code)"]
    assert not (ws / ".git" / "hooks").exists()


def test_an_unknown_files_tool_is_refused_before_the_run(runner: Runner, tmp_path: Path) -> None:
    from gorgon_nb.errors import WorkflowError
    from gorgon_nb.workflow import Workflow

    workflow = Workflow.from_yaml("id: t\nsteps:\n  - {id: a, llm: hi, tools: [files.read_fiel]}\n")
    with pytest.raises(WorkflowError) as caught:
        workflow.compile(runner.config)
    assert "the files tools have no 'read_fiel'; did you mean 'read_file'?" in str(caught.value)


async def test_the_offline_model_writes_the_file_its_prompt_names(runner: Runner, store: Store,
                                                                  tmp_path: Path) -> None:
    from gorgon_nb.workflow import Workflow

    path = tmp_path / "offline.gorgon.yaml"
    path.write_text("id: offline_writes\nsteps:\n  - id: write\n"
                    "    llm: 'Create it: files.write_file {\"path\": \"hello.py\", \"content\": \"print(1)\"}'\n"
                    "    tools: [files]\n    workspace: out\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    with Approver(store.path or Path(), approve=True) as person:
        result = await runner.arun(Workflow.from_file(path))
    assert result.ok, result.error
    (approval,) = person.seen
    assert "+print(1)" in approval.preview
    assert (tmp_path / "out" / "hello.py").read_text(encoding="utf-8") == "print(1)"
    assert "From the tools:" in result.outputs["write"] and "created 'hello.py'" in result.outputs["write"]


async def test_a_workspace_not_made_yet_is_empty_until_the_first_write(runner: Runner, tmp_path: Path) -> None:
    acted = await act(runner, tmp_path, ["files"], [("files.list_files", {})],
                      [("files.write_file", {"path": "a/b.txt", "content": "b\n"})], [("files.list_files", {})],
                      workspace="fresh", auto_approve=True)
    assert acted.read == ["the workspace is empty (its folder is made by the first file written)",
                          "created 'a/b.txt' (1 lines)", "a/\na/b.txt (2 bytes)"]


def test_the_listing_of_every_tool_shows_files_shell_and_python(config: Config) -> None:
    from gorgon_nb.tools.catalog import list_tools

    groups = {group.ref: group for group in list_tools(config)}
    assert [(t.name, t.writes) for t in groups["files"].tools] == [
        ("files.list_files", False), ("files.read_file", False), ("files.search", False),
        ("files.write_file", True), ("files.edit_file", True)]
    assert [(t.name, t.writes, t.runs_code) for t in groups["shell"].tools] == [("shell.run", True, True)]
    assert groups["python"].error is None and groups["python"].tools == []
    # listed without a token, saying what a step needs to use them
    github = groups["github"]
    assert github.error is None and "set GITHUB_TOKEN" in (github.note or "")
    assert ("github.create_issue", True) in [(t.name, t.writes) for t in github.tools]
