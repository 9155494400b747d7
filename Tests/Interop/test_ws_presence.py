"""WebSocket /ws: presence queries and join/leave events."""

from __future__ import annotations

import re

from interop import run, unique, ws_clients

REMOTE = re.compile(r"^127\.0\.0\.1:(\d+)$")


def _event(kind, ch, client_id):
    return lambda f: (
        f.get("type") == kind and f.get("channel") == ch and isinstance(f.get("client"), dict)
        and f["client"].get("client") == client_id
    )


def _check_client_entry(entry, client_id, name, ws):
    assert entry["client"] == client_id, entry
    assert entry["name"] == name, entry
    assert entry["user"] is None, entry  # anonymous
    assert entry["protocol"] == "websocket", entry
    assert isinstance(entry["connected_at"], str), entry
    m = REMOTE.match(entry.get("remote", ""))
    assert m and int(m.group(1)) == ws.local_port, (entry, ws.local_port)


def test_presence_query(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 3) as (a, b, observer):
            ida = (await a.expect({"type": "connect", "name": "alice"}, "connected"))["client"]
            idb = (await b.expect({"type": "connect", "name": "bob"}, "connected"))["client"]
            await a.subscribe(ch)
            await b.subscribe(ch)
            p = await observer.request({"id": 6, "type": "presence", "channel": ch})
            assert p["type"] == "presence" and p["id"] == 6 and p["channel"] == ch, p
            by_id = {c["client"]: c for c in p["clients"]}
            assert set(by_id) == {ida, idb}, p
            _check_client_entry(by_id[ida], ida, "alice", a)
            _check_client_entry(by_id[idb], idb, "bob", b)

    run(body())


def test_presence_join_and_leave_on_unsubscribe(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (a, b):
            await a.expect({"type": "connect", "name": "a"}, "connected")
            idb = (await b.expect({"type": "connect", "name": "b"}, "connected"))["client"]
            await a.subscribe(ch)
            await b.subscribe(ch)
            join = await a.wait(_event("join", ch, idb), 5, "join of b")
            _check_client_entry(join["client"], idb, "b", b)
            await b.expect({"type": "unsubscribe", "channel": ch}, "unsubscribed")
            leave = await a.wait(_event("leave", ch, idb), 5, "leave of b")
            assert leave["client"]["client"] == idb
            p = await a.expect({"type": "presence", "channel": ch}, "presence")
            assert idb not in {c["client"] for c in p["clients"]}, p

    run(body())


def test_presence_leave_on_disconnect(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as a:
            await a.subscribe(ch)
            async with ws_clients(server.ws_url) as b:
                idb = (await b.expect({"type": "connect", "name": "b"}, "connected"))["client"]
                await b.subscribe(ch)
                await a.wait(_event("join", ch, idb), 5, "join of b")
                b.abort()  # abrupt drop, no closing handshake
            await a.wait(_event("leave", ch, idb), 5, "leave of b after drop")
            p = await a.expect({"type": "presence", "channel": ch}, "presence")
            assert idb not in {c["client"] for c in p["clients"]}, p

    run(body())


def test_presence_with_authenticated_user(make_server):
    srv = make_server({"anonymous": False, "tokens": {"tok-carol": "carol"}})
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(srv.ws_url) as ws:
            me = (await ws.expect({"type": "connect", "token": "tok-carol", "name": "C"}, "connected"))["client"]
            await ws.subscribe(ch)
            p = await ws.expect({"type": "presence", "channel": ch}, "presence")
            entry = next(c for c in p["clients"] if c["client"] == me)
            assert entry["user"] == "carol" and entry["name"] == "C", entry

    run(body())


def test_presence_not_enabled_is_not_found(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            ch = f"news/{unique()}"
            await ws.subscribe(ch)
            await ws.expect_error({"type": "presence", "channel": ch}, "not_found")

    run(body())


def test_no_presence_events_on_plain_channel(server):
    ch = f"news/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (a, b):
            await a.subscribe(ch)
            await b.subscribe(ch)
            await a.barrier(b, ch)
            assert [f for f in a.pending() if f.get("type") in ("join", "leave")] == []

    run(body())
