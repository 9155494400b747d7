"""HTTP API on the same port: /api/*, health, readiness, metrics, errors."""

from __future__ import annotations

import asyncio
import json

import pytest

from interop import is_message, run, unique, ws_clients


def _error(r, status, code=None):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:300]}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body.get("error"), dict), body
    assert isinstance(body["error"].get("code"), str) and isinstance(body["error"].get("message"), str), body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body


# ---------------------------------------------------------------- health


def test_healthz(server):
    r = server.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text


def test_readyz(server):
    r = server.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}, r.text


def test_metrics(server):
    server.publish(f"chat/{unique()}", 1)
    r = server.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    names = {
        line.split("{")[0].split(" ")[0]
        for line in r.text.splitlines()
        if line and not line.startswith("#")
    }
    ours = sorted(n for n in names if n.startswith("switchboard_"))
    assert ours, f"no switchboard_ metrics in:\n{r.text[:1000]}"
    assert any(line.startswith("# TYPE switchboard_") for line in r.text.splitlines()), r.text[:1000]
    print("metrics:", ours)


# ---------------------------------------------------------------- publish


def test_publish_history_channel(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as sub:
            s = await sub.subscribe(ch)
            r = await server.ahttp("POST", "/api/publish", json={"channel": ch, "data": {"from": "http"}})
            assert r.status_code == 200, r.text
            out = r.json()
            assert out == {"offset": 1, "epoch": s["epoch"]}, out
            push = await sub.message(ch)
            assert push["data"] == {"from": "http"} and push["offset"] == 1, push

    run(body())


def test_publish_plain_channel_returns_empty_object(server):
    ch = f"news/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as sub:
            await sub.subscribe(ch)
            r = await server.ahttp("POST", "/api/publish", json={"channel": ch, "data": [1, 2]})
            assert r.status_code == 200 and r.json() == {}, r.text
            assert (await sub.message(ch))["data"] == [1, 2]

    run(body())


@pytest.mark.parametrize(
    "payload",
    [
        {"data": 1},                          # missing channel
        {"channel": "", "data": 1},            # invalid channel
        {"channel": "chat/x/#", "data": 1},    # wildcard
        {"channel": "chat/+/x", "data": 1},    # wildcard
        {"channel": 5, "data": 1},             # wrong type
    ],
)
def test_publish_bad_request(server, payload):
    _error(server.post("/api/publish", json=payload), 400, "bad_request")


def test_publish_invalid_json_body(server):
    r = server.post("/api/publish", data=b"{nope", headers={"Content-Type": "application/json"})
    _error(r, 400, "bad_request")


def test_publish_body_too_large(make_server):
    srv = make_server({"limits": {"max_body_bytes": 1024}})
    r = srv.post("/api/publish", json={"channel": "chat/big", "data": "x" * 4096})
    _error(r, 413, "too_large")
    # a small one still works
    assert srv.post("/api/publish", json={"channel": "chat/small", "data": "x"}).status_code == 200


# ---------------------------------------------------------------- broadcast


def test_broadcast(server):
    u = unique()
    chans = [f"chat/{u}/a", f"chat/{u}/b", f"news/{u}/c"]

    async def body():
        async with ws_clients(server.ws_url) as sub:
            await sub.subscribe(f"chat/{u}/#")
            await sub.subscribe(f"news/{u}/#")
            r = await server.ahttp(
                "POST", "/api/broadcast", json={"channels": chans + [f"chat/{u}/#"], "data": {"b": True}}
            )
            assert r.status_code == 200, r.text
            results = r.json()["results"]
            assert [x["channel"] for x in results] == chans + [f"chat/{u}/#"], results
            a, b, c, bad = results
            assert a["offset"] == 1 and isinstance(a["epoch"], str) and "error" not in a, a
            assert b["offset"] == 1 and isinstance(b["epoch"], str) and "error" not in b, b
            assert "offset" not in c and "error" not in c, c
            assert bad["error"]["code"] == "bad_request" and isinstance(bad["error"]["message"], str), bad
            for ch in chans:
                assert (await sub.message(ch))["data"] == {"b": True}

    run(body())


def test_broadcast_missing_channels(server):
    _error(server.post("/api/broadcast", json={"data": 1}), 400, "bad_request")


# ---------------------------------------------------------------- history


def test_history_http(server):
    ch = f"chat/{unique()}"
    replies = [server.publish(ch, {"i": i}) for i in range(1, 8)]
    epoch = replies[0]["epoch"]

    r = server.get("/api/history", params={"channel": ch, "limit": 3})
    assert r.status_code == 200, r.text
    h = r.json()
    assert h["channel"] == ch and h["offset"] == 7 and h["epoch"] == epoch, h
    assert [m["offset"] for m in h["messages"]] == [5, 6, 7], h
    assert [m["data"] for m in h["messages"]] == [{"i": 5}, {"i": 6}, {"i": 7}], h

    r = server.get("/api/history", params={"channel": ch, "limit": 100, "offset": 4, "epoch": epoch})
    assert r.status_code == 200, r.text
    h = r.json()
    assert [m["offset"] for m in h["messages"]] == [5, 6, 7], h
    assert h.get("recovered", True) is True, h

    r = server.get("/api/history", params={"channel": ch, "limit": 100, "offset": 4, "epoch": "wrong"})
    assert r.status_code == 200, r.text
    h = r.json()
    assert h.get("recovered") is False and h["messages"] == [], h


def test_history_http_not_kept(server):
    _error(server.get("/api/history", params={"channel": f"news/{unique()}", "limit": 3}), 404, "not_found")


def test_history_http_missing_channel(server):
    _error(server.get("/api/history"), 400, "bad_request")


# ---------------------------------------------------------------- presence / channels / connections


def test_presence_http(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            me = (await ws.expect({"type": "connect", "name": "http-presence"}, "connected"))["client"]
            await ws.subscribe(ch)
            r = await server.ahttp("GET", "/api/presence", params={"channel": ch})
            assert r.status_code == 200, r.text
            p = r.json()
            assert p["channel"] == ch, p
            entry = [c for c in p["clients"] if c["client"] == me]
            assert entry, p
            e = entry[0]
            assert e["name"] == "http-presence" and e["protocol"] == "websocket" and e["user"] is None, e
            assert e["remote"] == f"127.0.0.1:{ws.local_port}", e

    run(body())


def test_presence_http_not_enabled(server):
    _error(server.get("/api/presence", params={"channel": f"news/{unique()}"}), 404, "not_found")


def test_channels(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (a, b):
            await a.subscribe(ch)
            await b.subscribe(ch)
            r = await server.ahttp("GET", "/api/channels")
            assert r.status_code == 200, r.text
            rows = [c for c in r.json()["channels"] if c["channel"] == ch]
            assert rows == [{"channel": ch, "subscribers": 2}], rows
            await b.expect({"type": "unsubscribe", "channel": ch}, "unsubscribed")
            rows = [c for c in (await server.ahttp("GET", "/api/channels")).json()["channels"] if c["channel"] == ch]
            assert rows == [{"channel": ch, "subscribers": 1}], rows

    run(body())


def test_connections(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            me = (await ws.expect({"type": "connect", "name": "conn-list"}, "connected"))["client"]
            await ws.subscribe(ch)
            r = await server.ahttp("GET", "/api/connections")
            assert r.status_code == 200, r.text
            rows = [c for c in r.json()["connections"] if c["id"] == me]
            assert len(rows) == 1, r.json()
            c = rows[0]
            assert c["protocol"] == "websocket" and c["name"] == "conn-list" and c["user"] is None, c
            assert c["remote"] == f"127.0.0.1:{ws.local_port}", c
            assert isinstance(c["connected_at"], str), c
            subs = [s if isinstance(s, str) else s.get("channel") for s in c["subscriptions"]]
            assert subs == [ch], c

    run(body())


def test_delete_connection_closes_websocket(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (ws, watcher):
            me = (await ws.expect({"type": "connect"}, "connected"))["client"]
            await ws.subscribe(ch)
            await watcher.subscribe(ch)
            r = await server.ahttp("DELETE", f"/api/connections/{me}")
            assert r.status_code == 204, r.text
            code = await ws.wait_closed(5)
            print("close code after DELETE:", code, ws.close_reason)
            # The kick is asynchronous (204: the close is under way): the entry goes when the server side of
            # the connection has closed, which may come just after the client has read the close frame.
            for _ in range(50):
                r = await server.ahttp("GET", "/api/connections")
                if me not in {c["id"] for c in r.json()["connections"]}:
                    break
                await asyncio.sleep(0.05)
            assert me not in {c["id"] for c in r.json()["connections"]}
            # presence: the kicked client leaves
            await watcher.wait(
                lambda f: f.get("type") == "leave" and f.get("channel") == ch
                and f.get("client", {}).get("client") == me, 5, "leave of the kicked client"
            )

    run(body())


def test_delete_unknown_connection(server):
    _error(server.http("DELETE", f"/api/connections/{unique('nobody')}"), 404, "not_found")


# ---------------------------------------------------------------- routing errors


def test_unknown_path_is_json_404(server):
    _error(server.get(f"/api/{unique('nope')}"), 404, "not_found")


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/api/publish"), ("PUT", "/api/publish"), ("POST", "/api/channels"), ("DELETE", "/api/history")],
)
def test_wrong_method_is_json_405(server, method, path):
    _error(server.http(method, path), 405)


# ---------------------------------------------------------------- api key


def test_api_key(make_server):
    srv = make_server({"api_key": "s3cret"})
    ch = f"chat/{unique()}"
    body = {"channel": ch, "data": 1}
    _error(srv.post("/api/publish", json=body), 401, "unauthorized")
    _error(srv.post("/api/publish", json=body, headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    _error(srv.post("/api/publish", json=body, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    _error(srv.get("/api/channels"), 401, "unauthorized")
    _error(srv.get("/api/connections"), 401, "unauthorized")
    assert srv.post("/api/publish", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert srv.post("/api/publish", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
    assert srv.get("/api/channels", headers={"X-API-Key": "s3cret"}).status_code == 200
    # health and metrics are not under /api
    assert srv.get("/healthz").status_code == 200
    assert srv.get("/readyz").status_code == 200
    assert srv.get("/metrics").status_code == 200


def test_api_key_does_not_apply_to_websocket(make_server):
    srv = make_server({"api_key": "s3cret"})

    async def body():
        async with ws_clients(srv.ws_url) as ws:
            assert (await ws.request({"type": "ping"}))["type"] == "pong"

    run(body())


def test_http_publish_reaches_websocket_recover(server):
    """HTTP-published messages land in the same log WS recovers from."""
    ch = f"chat/{unique()}"
    first = server.publish(ch, "a")

    async def body():
        async with ws_clients(server.ws_url) as ws:
            server.publish(ch, "b")
            s = await ws.subscribe(ch, recover={"offset": first["offset"], "epoch": first["epoch"]})
            assert s["recovered"] is True and [m["data"] for m in s["messages"]] == ["b"], s
            await asyncio.sleep(0.1)
            assert ws.pending(is_message(ch)) == []

    run(body())



def test_text_and_binary_payloads_reach_websocket_subscribers(server):
    """The payload rule end to end: HTTP publishes text and raw bytes; a WebSocket subscriber gets
    "text" and "binary" (base64), and a declared text payload that looks like JSON stays text."""
    import asyncio
    import base64

    from interop import unique, ws_clients

    ch = f"news/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 1) as sub:
            await sub.subscribe(ch)
            forms = [{"text": "héllo\nworld"}, {"text": "42"}, {"binary": base64.b64encode(b"\xff\x00\x01").decode()}]
            for form in forms:
                response = server.post("/api/publish", json={"channel": ch, **form})
                assert response.status_code == 200, response.text
            first = await sub.message(ch)
            second = await sub.message(ch)
            third = await sub.message(ch)
            assert first["text"] == "héllo\nworld" and "data" not in first, first
            assert second["text"] == "42" and "data" not in second, second
            assert base64.b64decode(third["binary"]) == b"\xff\x00\x01", third

    asyncio.run(asyncio.wait_for(body(), 20))


def test_publish_needs_exactly_one_payload_form(server):
    from interop import unique

    response = server.post("/api/publish", json={"channel": f"news/{unique()}", "data": 1, "text": "x"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request", response.text
    response = server.post("/api/publish", json={"channel": f"news/{unique()}", "binary": "%%%"})
    assert response.status_code == 400, response.text
