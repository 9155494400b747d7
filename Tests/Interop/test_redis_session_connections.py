"""Issue 23, the connections of a session held by another instance: an Engine.IO upgrade to WebSocket, a
SignalR WebSocket or Server-Sent Events stream, and a SignalR stateful reconnect that land on an instance
which did not negotiate the session are spliced to the instance that holds it (its id names it; the
request as it came, then bytes both ways). The holder gone: the protocol's own "unknown session" answer.
And `--engine-advertise`: the address the others use to reach an instance. Three Switchboard instances and
one redis-server (test_redis_scaleout's fixtures), behind http_splitter.Splitter where the tests choose
which instance gets which request. Stock clients: python-socketio (polling, then the upgrade), signalrcore
(WebSockets, SSE); stateful reconnect by hand as in test_signalr_reconnect (no Python client implements
it). docs/redis.md ("Sessions across instances") maps each point to its test."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import requests
from websockets.asyncio.client import connect

from http_splitter import Splitter
from interop import run, unique
from signalr_support import CoreClient, RawHub
from socketio_support import Stock
from test_redis_polling import announced
from test_redis_scaleout import cluster, redis_command, redis_server, wait_for  # noqa: F401 (fixtures)

pytestmark = pytest.mark.switchboard_only


def test_a_socketio_client_upgrades_to_websocket_on_another_instance(cluster, redis_server):
    a, b, c = cluster
    announced(redis_server[1])
    channel = f"chat/{unique('upgrade')}"

    # The handshake on A (index 0), the WebSocket upgrade on B, the other polls in turn.
    def pick(line: str) -> int | None:
        if "sid=" not in line:
            return 0
        return 1 if "transport=websocket" in line else None

    async def body():
        with Splitter([a.port, b.port, c.port], pick=pick) as splitter:
            async with Stock(splitter.http_url, ["polling", "websocket"]) as client:
                # python-engineio upgrades right after the handshake, in the background.
                for _ in range(100):
                    if client.transport == "websocket":
                        break
                    await asyncio.sleep(0.05)
                assert client.transport == "websocket"
                assert [index for _, index in splitter.upgrades] == [1], splitter.upgrades
                subscribed = await client.subscribe(channel)
                assert subscribed["channel"] == channel, subscribed
                await asyncio.sleep(0.3)  # A's Redis subscription for the channel is confirmed
                for n, server in ((1, a), (2, b), (3, c)):
                    await server.apublish(channel, {"n": n})
                got = [(await client.event("message"))[2][0]["data"]["n"] for _ in range(3)]
                # Three publishers: each one's order is kept, not an order between them.
                assert sorted(got) == [1, 2, 3]
                published = await client.call("publish", {"channel": channel, "data": {"n": 4}})
                assert published["channel"] == channel
                assert (await client.event("message"))[2][0]["data"] == {"n": 4}

    run(body())


def test_an_engineio_upgrade_is_spliced_to_its_instance_and_refused_once_it_is_gone(cluster, redis_server):
    a, b, _ = cluster
    announced(redis_server[1])
    opened = requests.get(f"{a.http_url}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=5)
    sid = json.loads(opened.text[1:])["sid"]
    url = f"{b.ws_url.replace('/ws', '/socket.io/')}?EIO=4&transport=websocket&sid={sid}"

    async def body():
        # B splices the upgrade to A: A's probe answer comes back (Engine.IO upgrade, protocol v4).
        async with connect(url, open_timeout=5) as ws:
            await ws.send("2probe")
            assert await asyncio.wait_for(ws.recv(), 5) == "3probe"
        second = requests.get(f"{a.http_url}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=5)
        gone_sid = json.loads(second.text[1:])["sid"]
        a.proc.kill()
        a.proc.wait(5)
        gone = f"{b.ws_url.replace('/ws', '/socket.io/')}?EIO=4&transport=websocket&sid={gone_sid}"
        with pytest.raises(Exception, match="400"):
            async with connect(gone, open_timeout=5):
                pass

    run(body())
    answer = requests.get(
        f"{b.http_url}/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid}, timeout=5)
    assert answer.status_code == 400 and answer.json() == {"code": 1, "message": "Session ID unknown"}


@pytest.mark.parametrize("transport", ["web_sockets", "server_sent_events"], ids=["websocket", "sse"])
def test_a_signalr_stream_on_another_instance_is_spliced_to_it(make_server, redis_server, transport):
    url, _ = redis_server
    servers = [make_server({"signalr": {"long_poll_timeout_ms": 300}}, args=["--engine", url]) for _ in range(3)]
    announced(redis_server[1])
    channel = f"chat/{unique('stream')}"

    # negotiate on the first instance, the WebSocket or event stream on the second, the POSTs in turn.
    def pick(line: str) -> int | None:
        if "/negotiate" in line:
            return 0
        return 1 if line.startswith("GET ") else None

    with Splitter([s.port for s in servers], pick=pick) as splitter:
        client = CoreClient(f"{splitter.http_url}/hubs/switchboard", transport=transport).start()
        try:
            assert client.invoke("JoinGroup", [channel]).error is None
            time.sleep(0.3)  # the holder's Redis subscription for the channel is confirmed
            servers[2].publish(channel, {"n": 1})
            result = client.invoke("Publish", [channel, {"n": 2}])
            assert result.error is None, result.error
            received = client.wait_received(2, timeout=10)
            # Two publishers on two instances: each one's order is kept, not an order between them.
            assert sorted(r[0]["data"]["n"] for r in received[:2]) == [1, 2], received
        finally:
            client.stop()
        # The stream went to another instance than the negotiate.
        assert splitter.sent_to[0] == 0 and 1 in splitter.sent_to, splitter.sent_to
        if transport == "web_sockets":
            assert [index for _, index in splitter.upgrades] == [1], splitter.upgrades


def negotiate_stateful(server: Any) -> str:
    answer = requests.post(
        f"{server.http_url}/hubs/switchboard/negotiate",
        params={"negotiateVersion": "1", "useStatefulReconnect": "true"}, timeout=5).json()
    assert answer["useStatefulReconnect"] is True
    return answer["connectionToken"]


async def drop(hub: RawHub) -> None:
    """Ends the TCP connection without a WebSocket close, as a network failure does."""
    hub.ws.transport.abort()
    await asyncio.sleep(0.2)


def test_signalr_stateful_reconnect_resumes_on_another_instance_while_its_own_lives(cluster, redis_server):
    # The connection and its unacknowledged messages stay on A; a reconnect that lands on B is spliced
    # to A, which answers Sequence and replays them — what C published meanwhile included.
    a, b, c = cluster
    announced(redis_server[1])
    channel = f"feed/{unique('resume')}"
    token = negotiate_stateful(a)

    async def body():
        first = RawHub(a, f"?id={token}")
        await first.__aenter__()
        assert await first.handshake() == {}
        assert await first.invoke("Subscribe", channel, invocation_id="1") == {"type": 3, "invocationId": "1"}
        await asyncio.sleep(0.3)  # A's Redis subscription for the channel is confirmed
        c.publish(channel, "a")
        seen: list[dict[str, Any]] = []
        while not (any(m.get("type") == 1 for m in seen) and any(m.get("type") == 8 for m in seen)):
            seen.append(await first.next(timeout=5))
        assert [m["arguments"][0]["data"] for m in seen if m.get("type") == 1] == ["a"]
        await first.send({"type": 8, "sequenceId": 1})  # only the completion: "a" is sent again
        await drop(first)
        c.publish(channel, "b")  # one publisher, so "b" and "c" keep their order
        c.publish(channel, "c")
        await asyncio.sleep(0.3)

        second = RawHub(b, f"?id={token}")
        await second.__aenter__()
        assert await second.next() == {"type": 9, "sequenceId": 2}
        assert [(await second.next_of_type(1))["arguments"][0]["data"] for _ in range(3)] == ["a", "b", "c"]
        await second.send({"type": 9, "sequenceId": 2})
        await second.send({"type": 1, "invocationId": "2", "target": "Publish", "arguments": [channel, "d"]})
        seen = []
        while not (any(m.get("type") == 3 for m in seen) and any(m.get("type") == 1 for m in seen)):
            seen.append(await second.next(timeout=5))
        assert [m["invocationId"] for m in seen if m.get("type") == 3] == ["2"]
        assert [m["arguments"][0]["data"] for m in seen if m.get("type") == 1] == ["d"]
        # Nothing comes twice: for a bounded window after the replay and the live message only pings and
        # acks arrive, no invocation ("a", "b", "c" replayed again, "d" delivered twice).
        extra: list[dict[str, Any]] = []
        quiet_until = time.monotonic() + 1.0
        while (left := quiet_until - time.monotonic()) > 0:
            try:
                extra.append(await second.next(timeout=left))
            except asyncio.TimeoutError:
                break
        assert [m for m in extra if m.get("type") == 1] == [], f"duplicates after the resume: {extra}"

        # Its instance gone, nothing holds the connection: B refuses the reconnect as ASP.NET Core does
        # (404: the client starts a new connection), it never resumes from a wrong position.
        await drop(second)
        a.proc.kill()
        a.proc.wait(5)
        with pytest.raises(Exception, match="404"):
            async with RawHub(b, f"?id={token}"):
                pass

    run(body())


def test_the_advertised_address_is_what_the_others_dial(make_server, redis_server):
    url, port = redis_server
    reachable = make_server({}, args=["--engine", url, "--engine-advertise", "localhost"])
    # An address nothing listens on: its sessions cannot be reached from the others.
    unreachable = make_server({}, args=["--engine", url], env={"SWITCHBOARD_ENGINE_ADVERTISE": "127.0.0.1:1"})
    other = make_server({}, args=["--engine", url])
    announced(port)

    def values() -> set[str]:
        keys = redis_command(port, "KEYS", "switchboard.record:instance:*").decode().split("\r\n")
        names = [k for k in keys if k.startswith("switchboard.record:instance:")]
        return {redis_command(port, "GET", n).decode().split("\r\n")[1] for n in names}

    assert wait_for(lambda: {f"localhost:{reachable.port}", "127.0.0.1:1"} <= values()), values()

    def session(server: Any) -> str:
        opened = requests.get(f"{server.http_url}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=5)
        return json.loads(opened.text[1:])["sid"]

    params = {"EIO": "4", "transport": "polling"}
    forwarded = requests.post(
        f"{other.http_url}/socket.io/", params={**params, "sid": session(reachable)}, data="40", timeout=5)
    assert forwarded.status_code == 200 and forwarded.text == "ok", forwarded.text
    lost = requests.post(
        f"{other.http_url}/socket.io/", params={**params, "sid": session(unreachable)}, data="40", timeout=5)
    assert lost.status_code == 400 and lost.json() == {"code": 1, "message": "Session ID unknown"}, lost.text
