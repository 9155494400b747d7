"""PocketBase-style realtime (/api/realtime) with httpx-sse: connect event with a client id,
POST to replace subscriptions, identity, inactivity drop, bad input."""

from __future__ import annotations

import asyncio

from interop import run, unique
from sse_client import sse


async def connect(stream):
    event = await stream.next()
    assert event.event == "PB_CONNECT" and event.id == event.json()["clientId"], event
    return event.json()["clientId"]


def publish(server, channel, payload, **extra):
    r = server.post("/api/publish", json={"channel": channel, "data": payload, **extra})
    assert r.status_code == 200, r.text


def test_subscriptions_are_replaced_by_post(server):
    base = unique("tasks")

    async def body():
        async with sse(f"{server.http_url}/api/realtime") as stream:
            client = await connect(stream)
            r = await server.ahttp("POST", "/api/realtime", json={"clientId": client, "subscriptions": [f"{base}/*"]})
            assert r.status_code == 204, r.text
            await asyncio.to_thread(publish, server, f"{base}/42", {"title": "one"}, event="task.created")
            event = await stream.next()
            assert event.event == "task.created"
            assert event.json() == {"channel": f"{base}/42", "event": "task.created", "data": {"title": "one"}}
            # Replace: only tasks/7 from now on.
            r = await server.ahttp("POST", "/api/realtime", json={"clientId": client, "subscriptions": [f"{base}/7"]})
            assert r.status_code == 204
            await asyncio.to_thread(publish, server, f"{base}/42", {"title": "ignored"})
            await asyncio.to_thread(publish, server, f"{base}/7", {"title": "seven"})
            event = await stream.next()
            assert event.json()["data"] == {"title": "seven"}
            listed = (await server.ahttp("GET", "/api/connections")).json()["connections"]
            mine = [c for c in listed if c["id"] == client]
            assert mine[0]["protocol"] == "realtime" and mine[0]["subscriptions"] == [f"{base}/7"]
            # An empty list unsubscribes from everything.
            r = await server.ahttp("POST", "/api/realtime", json={"clientId": client, "subscriptions": []})
            assert r.status_code == 204

    run(body())


def test_unknown_client_and_bad_bodies(server):
    r = server.post("/api/realtime", json={"clientId": "nobody", "subscriptions": ["a"]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    for bad in [b"not json", b'{"subscriptions":[]}', b'{"clientId":"x","subscriptions":"a"}',
                b'{"clientId":"x","subscriptions":[1]}', b'{"clientId":"x","subscriptions":["a/#/b"]}']:
        r = server.post("/api/realtime", data=bad, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "bad_request"


def test_subscriptions_take_the_clients_identity(make_server):
    srv = make_server({"anonymous": False, "tokens": {"t-ann": "ann", "t-bob": "bob"}})

    async def body():
        async with sse(f"{srv.http_url}/api/realtime?token=t-ann") as stream:
            client = await connect(stream)
            post = lambda token: srv.ahttp(  # noqa: E731
                "POST", "/api/realtime", json={"clientId": client, "subscriptions": ["x"]},
                headers={"Authorization": f"Bearer {token}"} if token else {})
            assert (await post(None)).status_code == 401
            assert (await post("t-bob")).status_code == 403
            assert (await post("t-ann")).status_code == 204
            listed = (await srv.ahttp("GET", "/api/connections")).json()["connections"]
            assert [c["user"] for c in listed if c["id"] == client] == ["ann"]

    run(body())


def test_inactive_client_is_dropped(make_server):
    srv = make_server({"sse": {"realtime_inactivity_seconds": 1}})

    async def body():
        async with sse(f"{srv.http_url}/api/realtime") as stream:
            client = await connect(stream)
            await stream.wait_ended(timeout=4)
            r = await srv.ahttp("POST", "/api/realtime", json={"clientId": client, "subscriptions": ["a"]})
            assert r.status_code == 404

    run(body())
