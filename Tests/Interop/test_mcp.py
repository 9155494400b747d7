"""Issue 20: the MCP server on `/mcp` (Streamable HTTP) and `switchboard mcp` (stdio), driven by the
reference Python client (PyPI `mcp`): every tool called, a change made through MCP broadcast to a native
WebSocket subscriber with `changed_by: "mcp"`, records as resources with an update notification, collection
rules applied to a non-admin token, and the stdio bridge against the same server. docs/protocols/mcp.md
maps each point to its test."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import httpx2
from mcp import ClientSession, types
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from interop import open_ws, run, switchboard_bin, unique

TOOLS = {
    "list_collections", "list_records", "get_record", "create_record", "update_record", "delete_record",
    "publish", "read_history", "read_presence", "list_channels",
}
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}, "owner": {"type": "string"}},
          "required": ["title"]}


@asynccontextmanager
async def mcp_session(url: str, token: str | None = None, notifications: list | None = None):
    """An initialized MCP session over Streamable HTTP; server notifications are appended to `notifications`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def on_message(message) -> None:
        if notifications is not None and not isinstance(message, Exception):
            notifications.append(message)

    # trust_env=False: loopback never goes through a proxy from the environment.
    async with httpx2.AsyncClient(headers=headers, trust_env=False, timeout=httpx2.Timeout(30, read=300)) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, *_):
            async with ClientSession(read, write, message_handler=on_message) as session:
                await session.initialize()
                yield session


async def call(session: ClientSession, tool: str, **arguments):
    """A tool's JSON answer; fails on a tool error."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, (tool, result.content)
    return json.loads(result.content[0].text)


async def refused(session: ClientSession, tool: str, **arguments) -> str:
    """A tool error's text."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, (tool, result.content)
    return result.content[0].text


def test_mcp_every_tool_and_the_broadcast(make_server):
    srv = make_server()
    name = unique("tasks")
    rules = {"listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": ""}
    assert srv.post("/api/collections", json={"name": name, "schema": SCHEMA, **rules}).status_code == 200
    channel = unique("chat/mcp")

    async def scenario():
        ws = await open_ws(srv.ws_url)
        try:
            await ws.subscribe(f"collections/{name}/+")
            await ws.subscribe(channel)
            async with mcp_session(srv.http_url) as session:
                tools = (await session.list_tools()).tools
                assert {t.name for t in tools} == TOOLS
                assert all(t.input_schema["type"] == "object" for t in tools)

                listed = await call(session, "list_collections")
                assert name in [c["name"] for c in listed["items"]]

                created = await call(session, "create_record", collection=name, record={"title": "from mcp"})
                assert created["title"] == "from mcp" and created["version"] == 1
                event = (await ws.message(f"collections/{name}/{created['id']}"))["data"]
                assert event["action"] == "create" and event["changed_by"] == "mcp", event
                assert event["record"]["id"] == created["id"]

                got = await call(session, "get_record", collection=name, id=created["id"])
                assert got == created
                page = await call(session, "list_records", collection=name, filter='title = "from mcp"',
                                  sort="-created", page=1, perPage=10)
                assert [r["id"] for r in page["items"]] == [created["id"]] and page["totalItems"] == 1

                updated = await call(session, "update_record", collection=name, id=created["id"],
                                     record={"title": "edited"}, if_match=1)
                assert updated["title"] == "edited" and updated["version"] == 2
                event = (await ws.message(f"collections/{name}/{created['id']}"))["data"]
                assert (event["action"], event["changed_by"]) == ("update", "mcp"), event
                text = await refused(session, "update_record", collection=name, id=created["id"],
                                     record={"title": "stale"}, if_match=1)
                assert "version 2" in text, text

                published = await call(session, "publish", channel=channel, data={"hello": "mcp"})
                assert published["channel"] == channel
                assert (await ws.message(channel))["data"] == {"hello": "mcp"}
                history = await call(session, "read_history", channel=channel, limit=5)
                assert [m["data"] for m in history["messages"]] == [{"hello": "mcp"}], history
                presence = await call(session, "read_presence", channel=channel)
                assert len(presence["clients"]) == 1 and presence["clients"][0]["protocol"] == "websocket"
                channels = await call(session, "list_channels")
                assert channel in [c["channel"] for c in channels["channels"]]

                assert (await call(session, "delete_record", collection=name, id=created["id"])) == {"deleted": True}
                event = (await ws.message(f"collections/{name}/{created['id']}"))["data"]
                assert (event["action"], event["changed_by"]) == ("delete", "mcp"), event
                assert "404" in await refused(session, "get_record", collection=name, id=created["id"])
                assert "Missing collection context" in await refused(session, "list_records", collection="nosuch")
                assert "required" in await refused(session, "get_record", collection=name)
        finally:
            await ws.close()

    run(scenario(), timeout=60)


def test_mcp_records_as_resources_with_update_notifications(make_server):
    srv = make_server()
    name = unique("tasks")
    rules = {"listRule": "", "viewRule": "", "createRule": "", "updateRule": ""}
    assert srv.post("/api/collections", json={"name": name, "schema": SCHEMA, **rules}).status_code == 200
    record = srv.post(f"/api/collections/{name}/records", json={"title": "watched"}).json()
    uri = f"switchboard://collections/{name}/{record['id']}"

    async def scenario():
        notifications: list = []
        async with mcp_session(srv.http_url, notifications=notifications) as session:
            resources = (await session.list_resources()).resources
            assert uri in [str(r.uri) for r in resources]
            contents = (await session.read_resource(uri)).contents
            assert json.loads(contents[0].text)["title"] == "watched"
            await session.subscribe_resource(uri)
            # A change through the HTTP API reaches the MCP session as notifications/resources/updated.
            r = srv.http("PATCH", f"/api/collections/{name}/records/{record['id']}", json={"title": "changed"})
            assert r.status_code == 200, r.text
            for _ in range(100):
                if any(isinstance(n, types.ResourceUpdatedNotification) and str(n.params.uri) == uri
                       for n in notifications):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"no notifications/resources/updated for {uri}: {notifications}")
            assert json.loads((await session.read_resource(uri)).contents[0].text)["title"] == "changed"

    run(scenario(), timeout=60)


def test_mcp_collection_rules_apply_to_a_non_admin_token(make_server):
    srv = make_server({"api_key": "admin-key", "anonymous": True,
                       "tokens": {"alice-token": "alice", "bob-token": "bob"}})
    name = unique("notes")
    r = srv.post("/api/collections", headers={"X-API-Key": "admin-key"},
                 json={"name": name, "schema": SCHEMA, "listRule": "owner = @request.auth.id",
                       "viewRule": "owner = @request.auth.id", "createRule": "owner = @request.auth.id"})
    assert r.status_code == 200, r.text

    async def scenario():
        async with mcp_session(srv.http_url, token="alice-token") as alice:
            mine = await call(alice, "create_record", collection=name, record={"title": "a", "owner": "alice"})
            text = await refused(alice, "create_record", collection=name, record={"title": "f", "owner": "bob"})
            assert text.startswith("400"), text
            assert "Only superusers" in await refused(alice, "list_collections")
            page = await call(alice, "list_records", collection=name)
            assert [r["id"] for r in page["items"]] == [mine["id"]]
        async with mcp_session(srv.http_url, token="bob-token") as bob:
            assert (await call(bob, "list_records", collection=name))["items"] == []
            assert "404" in await refused(bob, "get_record", collection=name, id=mine["id"])
        # A token the authenticator refuses never reaches a session.
        async with httpx2.AsyncClient(trust_env=False) as http:
            answer = await http.post(
                f"{srv.http_url}/mcp", headers={"Authorization": "Bearer wrong",
                                                "Accept": "application/json, text/event-stream"},
                json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "t", "version": "1"}}})
            assert answer.status_code == 401, answer.text

    run(scenario(), timeout=60)


def test_mcp_stdio_bridge(make_server):
    srv = make_server()
    name = unique("tasks")
    rules = {"listRule": "", "viewRule": "", "createRule": "", "updateRule": ""}
    assert srv.post("/api/collections", json={"name": name, "schema": SCHEMA, **rules}).status_code == 200

    async def scenario():
        params = StdioServerParameters(command=str(switchboard_bin()), args=["mcp", "--url", srv.http_url])
        ws = await open_ws(srv.ws_url)
        try:
            await ws.subscribe(f"collections/{name}/+")
            notifications: list = []

            async def on_message(message) -> None:
                notifications.append(message)

            async with stdio_client(params) as (read, write, *_):
                async with ClientSession(read, write, message_handler=on_message) as session:
                    await session.initialize()
                    assert {t.name for t in (await session.list_tools()).tools} == TOOLS
                    created = await call(session, "create_record", collection=name, record={"title": "via stdio"})
                    event = (await ws.message(f"collections/{name}/{created['id']}"))["data"]
                    assert (event["action"], event["changed_by"]) == ("create", "mcp"), event
                    assert (await call(session, "get_record", collection=name, id=created["id"])) == created
                    assert "404" in await refused(session, "get_record", collection=name, id="nosuch")
                    # The session's GET stream reaches standard output too.
                    uri = f"switchboard://collections/{name}/{created['id']}"
                    await session.subscribe_resource(uri)
                    r = srv.http("PATCH", f"/api/collections/{name}/records/{created['id']}", json={"title": "x"})
                    assert r.status_code == 200, r.text
                    for _ in range(100):
                        if any(isinstance(n, types.ResourceUpdatedNotification) for n in notifications):
                            break
                        await asyncio.sleep(0.05)
                    else:
                        raise AssertionError(f"no notifications/resources/updated over stdio: {notifications}")
        finally:
            await ws.close()

    run(scenario(), timeout=60)


def test_mcp_unsupported_methods_answer_method_not_found(make_server):
    """Raw Streamable HTTP: the session header from initialize, SSE answers, -32601 for what is not
    served, DELETE ending the session (404 after)."""
    srv = make_server()
    accept = {"Accept": "application/json, text/event-stream"}

    def messages(answer) -> list[dict]:
        assert answer.headers["content-type"].startswith("text/event-stream"), answer.headers
        return [json.loads(line[5:]) for line in answer.text.splitlines() if line.startswith("data:") and line[5:].strip()]

    async def scenario():
        async with httpx2.AsyncClient(trust_env=False, base_url=srv.http_url) as http:
            init = await http.post("/mcp", headers=accept, json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "raw", "version": "1"}}})
            assert init.status_code == 200, init.text
            session = {**accept, "Mcp-Session-Id": init.headers["mcp-session-id"],
                       "MCP-Protocol-Version": "2025-06-18"}
            result = messages(init)[0]["result"]
            assert result["capabilities"]["resources"]["subscribe"] is True and "tools" in result["capabilities"]
            note = await http.post("/mcp", headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            assert note.status_code == 202
            for index, method in enumerate(["prompts/list", "resources/templates/list", "completion/complete",
                                            "logging/setLevel"]):
                answer = await http.post("/mcp", headers=session,
                                         json={"jsonrpc": "2.0", "id": 10 + index, "method": method, "params": {}})
                assert messages(answer)[0]["error"]["code"] == -32601, (method, answer.text)
            assert (await http.delete("/mcp", headers=session)).status_code == 200
            gone = await http.post("/mcp", headers=session, json={"jsonrpc": "2.0", "id": 99, "method": "ping"})
            assert gone.status_code == 404

    run(scenario(), timeout=60)


def test_cli_watch_sees_a_change_made_through_mcp(make_server):
    """`switchboard watch collections/<c>/*` prints the change an MCP client made, with changed_by "mcp"."""
    import subprocess

    from test_cli import _LineReader, _stop
    from test_records import _wait_watching

    srv = make_server()
    name = unique("tasks")
    rules = {"listRule": "", "viewRule": "", "createRule": ""}
    assert srv.post("/api/collections", json={"name": name, **rules}).status_code == 200
    watch = subprocess.Popen([str(switchboard_bin()), "watch", f"collections/{name}/*", "--url", srv.ws_url,
                              "--count", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
    lines = _LineReader(watch)
    try:
        _wait_watching(srv, f"collections/{name}/+")

        async def create():
            async with mcp_session(srv.http_url) as session:
                return await call(session, "create_record", collection=name, record={"title": "via mcp"})

        created = run(create())
        seen = json.loads(lines.next(timeout=10))
        assert (seen["action"], seen["record"]["id"], seen["changed_by"]) == ("create", created["id"], "mcp"), seen
        assert watch.wait(timeout=10) == 0
    finally:
        _stop(watch)
