"""Server-Sent Events (/sse) with the stock httpx-sse client: format, event types, recovery with
Last-Event-ID, reset, filters, presence, admin drop, CORS and bad input (docs/protocols/sse.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from urllib.parse import quote

import httpx
import pytest

from interop import open_ws, run, unique
from sse_client import SSEStream, connection_id, sse


def _error(r, status, code="bad_request"):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:300]}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body["error"]["code"] == code and isinstance(body["error"]["message"], str), body
    return body


def url(server, *channels, **params) -> str:
    query = "&".join([f"channel={quote(c, safe='')}" for c in channels] + [f"{k}={quote(str(v), safe='')}" for k, v in params.items()])
    return f"{server.http_url}/sse?{query}"


def publish(server, channel, payload=None, **extra):
    body = {"channel": channel, **extra}
    if payload is not None:
        body["data"] = payload
    r = server.post("/api/publish", json=body)
    assert r.status_code == 200, r.text
    return r.json()


# ------------------------------------------------------------------ format (§1)


def test_headers_retry_and_opening_position(server):
    channel = f"chat/{unique()}"

    async def body():
        async with sse(url(server, channel)) as stream:
            assert stream.status == 200
            headers = stream.response_headers
            assert headers["content-type"].startswith("text/event-stream")
            assert "no-cache" in headers["cache-control"]
            assert headers["x-accel-buffering"] == "no"
            assert headers["transfer-encoding"] == "chunked"
            opening = await stream.next(skip_empty=False)
            assert opening.retry == 2000 and opening.data == ""
            epoch, offset = opening.id.split("-")
            assert offset == "0" and epoch

    run(body())


def test_http_publish_reaches_sse_with_type_id_and_multiline_data(server):
    channel = f"chat/{unique()}"

    async def body():
        async with sse(url(server, channel)) as stream:
            await stream.position()
            first = await asyncio.to_thread(publish, server, channel, {"n": 1}, event="task.created")
            await asyncio.to_thread(publish, server, channel, None, text="line one\nline two\r\nline three")
            await asyncio.to_thread(publish, server, channel, {"n": 3})
            events = await stream.events(3, types={"task.created", "message"})
            assert [e.event for e in events] == ["task.created", "message", "message"]
            assert events[0].json() == {"n": 1}
            assert events[0].id == f"{first['epoch']}-1"
            # Every line break became a new data: line; the client joined them with LF.
            assert events[1].data == "line one\nline two\nline three"
            assert [e.id.split("-")[1] for e in events] == ["1", "2", "3"]

    run(body())


def test_websocket_publish_reaches_sse(server):
    channel = f"chat/{unique()}"

    async def body():
        async with sse(url(server, channel)) as stream:
            await stream.position()
            ws = await open_ws(server.ws_url)
            try:
                reply = await ws.expect(
                    {"type": "publish", "channel": channel, "data": {"from": "ws"}, "event": "ws.hello"}, "published"
                )
            finally:
                await ws.close()
            event = (await stream.events(1, types={"ws.hello"}))[0]
            assert event.json() == {"from": "ws"}
            assert event.id == f"{reply['epoch']}-{reply['offset']}"

    run(body())


def test_binary_payload_is_base64(server):
    channel = f"chat/{unique()}"

    async def body():
        async with sse(url(server, channel)) as stream:
            await stream.position()
            await asyncio.to_thread(publish, server, channel, None, binary="/wAQ")
            event = (await stream.events(1, types={"message"}))[0]
            assert event.data == "/wAQ"

    run(body())


# ------------------------------------------------------------------ recovery (§3)


def test_last_event_id_replays_missed_messages_exactly_once_then_live(server):
    channel = f"chat/{unique()}"

    async def body():
        async with sse(url(server, channel)) as stream:
            await stream.position()
            await asyncio.to_thread(publish, server, channel, {"n": 0})
            last = (await stream.events(1, types={"message"}))[0].id
        for n in range(1, 6):  # published while the client is away
            await asyncio.to_thread(publish, server, channel, {"n": n})
        async with sse(url(server, channel), headers={"Last-Event-ID": last}) as stream:
            missed = await stream.events(5, types={"message"})
            assert [e.json()["n"] for e in missed] == [1, 2, 3, 4, 5]
            await asyncio.to_thread(publish, server, channel, {"n": 6})
            live = await stream.events(1, types={"message"})
            assert live[0].json() == {"n": 6}
            assert live[0].id.endswith("-7")

    run(body())


def test_last_event_id_query_parameter(server):
    channel = f"chat/{unique()}"

    async def body():
        first = await asyncio.to_thread(publish, server, channel, {"n": 1})
        await asyncio.to_thread(publish, server, channel, {"n": 2})
        async with sse(url(server, channel, lastEventId=f"{first['epoch']}-1")) as stream:
            events = await stream.events(1, types={"message"})
            assert events[0].json() == {"n": 2}

    run(body())


def test_nothing_missed_gives_the_position_back(server):
    channel = f"chat/{unique()}"

    async def body():
        first = await asyncio.to_thread(publish, server, channel, {"n": 1})
        position = f"{first['epoch']}-1"
        async with sse(url(server, channel), headers={"Last-Event-ID": position}) as stream:
            assert await stream.position() == position

    run(body())


def test_unknown_epoch_gives_reset_then_live(server):
    channel = f"chat/{unique()}"

    async def body():
        published = await asyncio.to_thread(publish, server, channel, {"n": 1})
        async with sse(url(server, channel), headers={"Last-Event-ID": "gone1-5"}) as stream:
            reset = (await stream.events(1, types={"reset"}))[0]
            assert reset.json() == {
                "channel": channel,
                "reason": "epoch_changed",
                "requested": {"offset": 5, "epoch": "gone1"},
                "current": {"offset": 1, "epoch": published["epoch"]},
            }
            assert reset.id == f"{published['epoch']}-1"
            await asyncio.to_thread(publish, server, channel, {"n": 2})
            assert (await stream.events(1, types={"message"}))[0].json() == {"n": 2}

    run(body())


def test_position_outside_the_window_gives_reset(make_server):
    srv = make_server({"history": [{"filter": "small/#", "count": 3}]})
    channel = f"small/{unique()}"

    async def body():
        first = await asyncio.to_thread(publish, srv, channel, {"n": 1})
        for n in range(2, 11):
            await asyncio.to_thread(publish, srv, channel, {"n": n})
        async with sse(url(srv, channel), headers={"Last-Event-ID": f"{first['epoch']}-1"}) as stream:
            reset = (await stream.events(1, types={"reset", "message"}))[0]
            assert reset.event == "reset", reset
            assert reset.json()["reason"] == "out_of_window"
            assert reset.json()["current"] == {"offset": 10, "epoch": first["epoch"]}

    run(body())


def test_two_channels_resume_both_from_one_id(server):
    a, b = f"chat/{unique()}", f"chat/{unique()}"

    async def body():
        async with sse(url(server, a, b)) as stream:
            start = await stream.position()
            assert start.count(".") == 1
            await asyncio.to_thread(publish, server, a, {"a": 1})
            await asyncio.to_thread(publish, server, b, {"b": 1})
            events = await stream.events(2, types={"message"})
            last = events[-1].id
            assert [p.split("-")[1] for p in last.split(".")] == ["1", "1"]
        await asyncio.to_thread(publish, server, b, {"b": 2})
        await asyncio.to_thread(publish, server, a, {"a": 2})
        async with sse(url(server, a, b), headers={"Last-Event-ID": last}) as stream:
            events = await stream.events(2, types={"message"})
            assert sorted(json.dumps(e.json()) for e in events) == ['{"a": 2}', '{"b": 2}']

    run(body())


# ------------------------------------------------------------------ channels and filters (§2)


def test_wildcard_channel_without_ids(server):
    base = f"chat/{unique()}"

    async def body():
        async with sse(url(server, f"{base}/+")) as stream:
            await asyncio.sleep(0.1)
            await asyncio.to_thread(publish, server, f"{base}/x", {"x": 1})
            event = (await stream.events(1, types={"message"}))[0]
            assert event.json() == {"x": 1}

    run(body())


def test_event_type_filter(server):
    channel = f"chat/{unique()}"

    async def body():
        async with sse(url(server, channel, event="task.created")) as stream:
            await stream.position()
            await asyncio.to_thread(publish, server, channel, {"n": 1}, event="task.deleted")
            await asyncio.to_thread(publish, server, channel, {"n": 2})
            await asyncio.to_thread(publish, server, channel, {"n": 3}, event="task.created")
            event = await stream.next()
            assert event.event == "task.created" and event.json() == {"n": 3}

    run(body())


def test_property_match_filter(server):
    channel = f"chat/{unique()}"

    async def body():
        async with sse(url(server, channel, match="repo:switchboard")) as stream:
            await stream.position()
            await asyncio.to_thread(publish, server, channel, {"n": 1}, properties={"repo": "other"})
            await asyncio.to_thread(publish, server, channel, {"n": 2})
            await asyncio.to_thread(publish, server, channel, {"n": 3}, properties={"repo": "switchboard"})
            event = await stream.next()
            assert event.json() == {"n": 3}

    run(body())


# ------------------------------------------------------------------ connections, presence (§5)


def test_stream_is_listed_presence_tracked_and_dropped_by_admin(server):
    channel = f"chat/{unique()}"

    async def body():
        async with sse(url(server, channel)) as stream:
            await stream.position()
            cid = await connection_id(stream)
            listed = (await server.ahttp("GET", "/api/connections")).json()["connections"]
            mine = [c for c in listed if c["id"] == cid]
            assert mine and mine[0]["protocol"] == "sse" and mine[0]["subscriptions"] == [channel]
            presence = (await server.ahttp("GET", f"/api/presence?channel={channel}")).json()
            assert [c["client"] for c in presence["clients"]] == [cid]
            r = await server.ahttp("DELETE", f"/api/connections/{cid}")
            assert r.status_code == 204
            await stream.wait_ended()
            assert stream.error is None  # the body ended cleanly (last chunk), not a broken connection
            presence = (await server.ahttp("GET", f"/api/presence?channel={channel}")).json()
            assert presence["clients"] == []

    run(body())


def test_keep_alive_comment(make_server):
    srv = make_server({"sse": {"keep_alive_seconds": 1}})
    with httpx.Client(timeout=5, trust_env=False) as client:
        with client.stream("GET", f"{srv.http_url}/sse?channel=k") as response:
            seen = b""
            deadline = time.monotonic() + 4
            for chunk in response.iter_raw():
                seen += chunk
                if b": keep-alive\n\n" in seen or time.monotonic() > deadline:
                    break
            assert b": keep-alive\n\n" in seen, seen


def test_http_1_0_stream_is_delimited_by_close(server):
    channel = f"chat/{unique()}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET /sse?channel={channel} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while b"\n\n" not in data.partition(b"\r\n\r\n")[2]:
            data += sock.recv(4096)
        head, _, rest = data.partition(b"\r\n\r\n")
        assert b"transfer-encoding" not in head.lower() and b"connection: close" in head.lower(), head
        assert rest.startswith(b"retry: 2000\nid: "), rest


# ------------------------------------------------------------------ CORS (§6)


def test_cors_allowlist_and_preflight(make_server):
    srv = make_server({"sse": {"allowed_origins": ["https://app.example"]}})
    ok = srv.http(
        "OPTIONS",
        "/sse",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "last-event-id"},
    )
    assert ok.status_code == 204, ok.text
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "last-event-id" in ok.headers["access-control-allow-headers"].lower()
    assert "GET" in ok.headers["access-control-allow-methods"]
    _error(srv.http("OPTIONS", "/sse", headers={"Origin": "https://evil.example"}), 403, "permission_denied")
    _error(srv.get("/sse?channel=a", headers={"Origin": "https://evil.example"}), 403, "permission_denied")
    _error(srv.get("/poll?channel=a&timeout=0", headers={"Origin": "https://evil.example"}), 403, "permission_denied")

    async def body():
        async with sse(f"{srv.http_url}/sse?channel=a", headers={"Origin": "https://app.example"}) as stream:
            assert stream.status == 200
            assert stream.response_headers["access-control-allow-origin"] == "https://app.example"

    run(body())


# ------------------------------------------------------------------ bad input (§7)


@pytest.mark.parametrize(
    "query,header",
    [
        ("", None),  # no channel
        ("channel=a/b%23", None),  # '#' not a whole level
        ("channel=a&channel=a", None),
        ("channel=a&event=two%20words", None),
        ("channel=a&match=novalue", None),
        ("channel=a", "not-a-cursor!"),
        ("channel=a", "e-1.e-2"),  # two entries for one channel
        ("channel=a&lastEventId=%00", None),
    ],
)
def test_bad_input_is_400_json(server, query, header):
    headers = {"Last-Event-ID": header} if header else {}
    _error(server.get(f"/sse?{query}", headers=headers), 400)


def test_auth_required_when_anonymous_is_off(make_server):
    srv = make_server({"anonymous": False, "tokens": {"t-ann": "ann"}})
    _error(srv.get("/sse?channel=a"), 401, "unauthorized")
    _error(srv.get("/sse?channel=a&token=wrong"), 401, "unauthorized")

    async def body():
        async with sse(f"{srv.http_url}/sse?channel=a&token=t-ann") as stream:
            cid = await connection_id(stream)
            listed = (await srv.ahttp("GET", "/api/connections")).json()["connections"]
            assert [c["user"] for c in listed if c["id"] == cid] == ["ann"]

    run(body())


def test_server_shutdown_ends_streams(make_server):
    srv = make_server()

    async def body():
        stream = SSEStream(f"{srv.http_url}/sse?channel=a")
        try:
            await stream.wait_open()
            await stream.next(skip_empty=False)
            srv.terminate()
            await stream.wait_ended(timeout=5)
            assert srv.wait_exit(5) == 0
        finally:
            await stream.close()

    run(body())


def test_concrete_channel_beside_a_filter_resumes(server):
    base = f"chat/{unique()}"
    concrete = f"{base}/main"

    async def body():
        async with sse(url(server, concrete, f"{base}/+/x")) as stream:
            assert (await stream.position()).endswith("-0")
            await asyncio.to_thread(publish, server, concrete, {"n": 1})
            await asyncio.to_thread(publish, server, f"{base}/other/x", {"w": 1})
            events = await stream.events(2, types={"message"})
            last = [e.id for e in events if e.id][-1]
            assert last.endswith("-1"), events
        await asyncio.to_thread(publish, server, concrete, {"n": 2})
        async with sse(url(server, concrete, f"{base}/+/x"), headers={"Last-Event-ID": last}) as stream:
            assert (await stream.events(1, types={"message"}))[0].json() == {"n": 2}

    run(body())


def test_event_type_reaches_websocket_subscribers_and_history(server):
    channel = f"chat/{unique()}"

    async def body():
        ws = await open_ws(server.ws_url)
        try:
            await ws.expect({"type": "subscribe", "channel": channel}, "subscribed")
            await asyncio.to_thread(publish, server, channel, {"n": 1}, event="task.created")
            pushed = await ws.message(channel)
            assert pushed["event"] == "task.created" and pushed["data"] == {"n": 1}
        finally:
            await ws.close()
        history = (await server.ahttp("GET", f"/api/history?channel={channel}")).json()
        assert [m.get("event") for m in history["messages"]] == ["task.created"]

    run(body())


def test_head_answers_the_stream_headers_without_a_body(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"HEAD /sse?channel=a HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while b'{"status":"ok"}' not in data and time.monotonic() < deadline:
            data += sock.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head
    assert rest.startswith(b"HTTP/1.1 200"), rest  # no body, and the connection goes on


def test_shared_subscription_streams_split_the_messages(server):
    channel = f"chat/{unique()}"
    shared = f"$share/g/{channel}"

    async def body():
        async with sse(url(server, shared)) as one, sse(url(server, shared)) as two:
            await asyncio.sleep(0.2)
            for n in range(6):
                await asyncio.to_thread(publish, server, channel, {"n": n})
            got = []
            for stream in (one, two):
                with contextlib.suppress(asyncio.TimeoutError):
                    while True:
                        got.append((await stream.next(timeout=1.0)).json()["n"])
            assert sorted(got) == list(range(6))  # each message to one member of the group

    run(body())
