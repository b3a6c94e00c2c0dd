"""Notion steps through notion-client against the loopback Notion."""

from __future__ import annotations

from loopback import run

from gorgon_nb.runner import Runner
from gorgon_nb.testing import ServiceServer


def test_query_a_database_with_a_filter(wired: Runner, svc: ServiceServer) -> None:
    result, asked = run(wired, """
  - id: doing
    notion: query_database
    with: {database_id: db-tasks, filter: {property: Status, select: {equals: In Progress}}, limit: 5}
""")
    assert result.ok, result.error
    assert asked == []
    (page,) = result.steps["doing"].output
    assert page["title"] == "Write docs"
    assert page["properties"] == {"Name": "Write docs", "Status": "In Progress", "Tags": [], "Type": None}
    query = next(r for r in svc.requests_to("notion") if r.path.endswith("/query"))
    assert query.method == "POST" and query.path == "/v1/data_sources/ds-db-tasks/query"
    assert query.body == {"filter": {"property": "Status", "select": {"equals": "In Progress"}}, "page_size": 5}
    assert query.headers["authorization"] == "Bearer ntn_loopback_token_2"


def test_a_row_is_created_from_plain_values_and_markdown(wired: Runner, svc: ServiceServer) -> None:
    long = "word " * 500  # 2500 characters: more than one rich-text item holds
    result, asked = run(wired, f"""
  - id: add
    notion: create_page
    with:
      database_id: db-tasks
      title: Plan the launch
      properties: {{Status: Doing, Tags: [launch, q3]}}
      content: |
        ## Steps
        - book the room
        - send **invites**

        {long}
""")
    assert result.ok, result.error
    (approval,) = asked
    assert approval.title == "Create Notion page: Plan the launch"
    assert "a new row in the database **Tasks**" in approval.preview
    assert "| Tags | ['launch', 'q3'] |" in approval.preview and "- send **invites**" in approval.preview
    (create,) = svc.writes()
    assert (create.method, create.path) == ("POST", "/v1/pages")
    assert create.body["parent"] == {"type": "data_source_id", "data_source_id": "ds-db-tasks"}
    assert create.body["properties"]["Status"] == {"select": {"name": "Doing"}}
    assert create.body["properties"]["Tags"] == {"multi_select": [{"name": "launch"}, {"name": "q3"}]}
    assert create.body["properties"]["Name"]["title"][0]["text"]["content"] == "Plan the launch"
    kinds = [block["type"] for block in create.body["children"]]
    assert kinds == ["heading_2", "bulleted_list_item", "bulleted_list_item", "paragraph"]
    invites = create.body["children"][2]["bulleted_list_item"]["rich_text"]
    assert invites[1] == {"type": "text", "text": {"content": "invites"}, "annotations": {"bold": True}}
    assert [len(item["text"]["content"]) for item in create.body["children"][3]["paragraph"]["rich_text"]] == \
        [2000, len(long) - 2000]
    page_id = result.steps["add"].output["id"]
    assert svc.notion.pages[page_id]["properties"]["Status"]["select"]["name"] == "Doing"


def test_long_content_is_sent_in_batches_of_a_hundred_blocks(wired: Runner, svc: ServiceServer) -> None:
    page = svc.notion.add_page(parent_database="db-tasks", properties={"Name": "Log"})
    result, _ = run(wired, f"""
  - id: log
    notion: append_blocks
    with: {{page_id: {page}, content: "{{{{ range(250) | map('string') | join('\\n\\n') }}}}"}}
""")
    assert result.ok, result.error
    batches = [len(r.body["children"]) for r in svc.writes()]
    assert batches == [100, 100, 50]
    assert all(r.path == f"/v1/blocks/{page}/children" and r.method == "PATCH" for r in svc.writes())
    assert len(result.steps["log"].output["block_ids"]) == 250


def test_update_read_search_and_get(wired: Runner, svc: ServiceServer) -> None:
    page = svc.notion.add_page(parent_database="db-tasks", properties={"Name": "Fix the build", "Status": "Todo"})
    result, asked = run(wired, f"""
  - {{id: done, notion: update_page, with: {{page_id: {page}, properties: {{Status: Done}}}}}}
  - {{id: note, notion: append_blocks, auto_approve: true, depends_on: done, with: {{page_id: {page}, content: "# Done\\n\\nAll green."}}}}
  - {{id: text, notion: read_page, depends_on: note, with: {{page_id: {page}}}}}
  - {{id: found, notion: search, with: {{query: fix the}}}}
  - {{id: got, notion: get_page, depends_on: done, with: {{page_id: {page}}}}}
""")
    assert result.ok, result.error
    assert [a.title for a in asked] == ["Update Notion page: Fix the build"]
    assert "| Status | Done |" in asked[0].preview
    update = next(r for r in svc.writes() if r.method == "PATCH" and r.path == f"/v1/pages/{page}")
    assert update.body == {"properties": {"Status": {"select": {"name": "Done"}}}}
    assert result.steps["text"].output == "# Done\n\nAll green."
    assert [p["title"] for p in result.steps["found"].output] == ["Fix the build"]
    assert result.steps["got"].output["properties"]["Status"] == "Done"


def test_rate_limit_then_success(wired: Runner, svc: ServiceServer) -> None:
    svc.fault("notion", "POST", "/v1/data_sources/*/query", status=429, headers={"Retry-After": "0"}, times=1)
    result, _ = run(wired, """
  - {id: rows, notion: query_database, retry: {attempts: 3, backoff: 0.01}, with: {database_id: db-tasks}}
""")
    assert result.ok, result.error
    assert len(result.steps["rows"].output) == 2
    assert len([r for r in svc.requests_to("notion") if r.path.endswith("/query")]) == 2


def test_a_page_not_shared_with_the_integration_says_so(wired: Runner, svc: ServiceServer) -> None:
    result, _ = run(wired, "  - {id: got, notion: get_page, with: {page_id: nowhere}}\n")
    assert not result.ok
    assert "share it with the integration" in (result.steps["got"].error or "")


def test_a_missing_capability_is_named(wired: Runner, svc: ServiceServer) -> None:
    svc.fault("notion", "POST", "/v1/pages", status=403)
    result, _ = run(wired, """
  - {id: add, notion: create_page, auto_approve: true, with: {database_id: db-tasks, title: X}}
""")
    assert "lacks a capability" in (result.steps["add"].error or "")


def test_text_is_cut_to_notions_limits() -> None:
    from gorgon_nb.integrations.text import rich_text

    styled = " ".join(f"**w{i}**" for i in range(150))  # 299 spans: more than a block may hold
    items = rich_text(styled)
    assert len(items) == 1 and items[0]["text"]["content"] == styled and "annotations" not in items[0]
    assert [len(i["text"]["content"]) for i in rich_text("x" * 4500)] == [2000, 2000, 500]
