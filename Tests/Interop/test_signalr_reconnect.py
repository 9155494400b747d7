"""SignalR stateful reconnect (ASP.NET Core 8, HubProtocol.md §Stateful Reconnect) driven by hand over raw
WebSockets — neither Python client implements it (pysignalr 1.3.3 and signalrcore 1.0.2 ignore `Ack` and
`Sequence`), so this is the JavaScript and .NET clients' exchange written out: negotiate with
`useStatefulReconnect=true`, number the trackable messages, drop the socket without a close, reconnect with
the same token, and check that the server's `Sequence` and replay lose and repeat nothing
(docs/protocols/signalr.md)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import requests

from interop import run, unique
from signalr_support import RS, RawHub, hub_url

pytestmark = pytest.mark.switchboard_only


def negotiate(server: Any, stateful: bool = True) -> dict[str, Any]:
    query = "?negotiateVersion=1" + ("&useStatefulReconnect=true" if stateful else "")
    answer = requests.post(hub_url(server) + "/negotiate" + query, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def publish(server: Any, channel: str, data: Any) -> None:
    answer = requests.post(f"{server.http_url}/api/publish", json={"channel": channel, "data": data}, timeout=5)
    assert answer.status_code == 200, answer.text


async def drop(hub: RawHub) -> None:
    """Ends the TCP connection without a WebSocket close, as a network failure does."""
    hub.ws.transport.abort()
    await asyncio.sleep(0.2)


async def received_data(hub: RawHub, count: int) -> list[Any]:
    return [(await hub.next_of_type(1))["arguments"][0]["data"] for _ in range(count)]


def test_negotiate_grants_stateful_reconnect_only_when_asked(make_server, server):
    assert negotiate(server)["useStatefulReconnect"] is True
    assert "useStatefulReconnect" not in negotiate(server, stateful=False)
    off = make_server({"signalr": {"stateful_reconnect": False}})
    assert "useStatefulReconnect" not in negotiate(off)


def test_a_dropped_socket_resumes_with_nothing_lost_or_repeated(server):
    channel = f"feed/{unique('resume')}"
    token = negotiate(server)["connectionToken"]

    async def body():
        first = RawHub(server, f"?id={token}")
        await first.__aenter__()
        assert await first.handshake() == {}
        # Client message 1; server message 1 (the completion).
        assert await first.invoke("Subscribe", channel, invocation_id="1") == {"type": 3, "invocationId": "1"}
        publish(server, channel, "a")  # server message 2
        # The server acknowledges the client's message 1 on its own (on its next keep-alive tick, which
        # may come before or after "a": a loaded machine makes the HTTP publish the slower).
        seen: list[dict[str, Any]] = []
        while not (any(m.get("type") == 1 for m in seen) and any(m.get("type") == 8 for m in seen)):
            seen.append(await first.next(timeout=5))
        assert [m["arguments"][0]["data"] for m in seen if m.get("type") == 1] == ["a"]
        assert [m["sequenceId"] for m in seen if m.get("type") == 8] == [1]
        await first.send({"type": 8, "sequenceId": 1})  # only the completion: "a" is sent again
        await drop(first)
        publish(server, channel, "b")  # server messages 3 and 4, while the client is away
        publish(server, channel, "c")

        second = RawHub(server, f"?id={token}")
        await second.__aenter__()
        # No handshake on a reconnect: the server's Sequence, then every unacknowledged message in order.
        assert await second.next() == {"type": 9, "sequenceId": 2}
        assert await received_data(second, 3) == ["a", "b", "c"]
        # The client resends what the server may not have processed: its message 1 again is a duplicate.
        await second.send({"type": 9, "sequenceId": 1})
        await second.send({"type": 1, "invocationId": "1", "target": "Subscribe", "arguments": [channel]})
        await second.send({"type": 1, "invocationId": "2", "target": "Publish", "arguments": [channel, "d"]})
        seen = []
        while not any(m.get("type") == 8 for m in seen):
            seen.append(await second.next(timeout=3))
        completions = [m["invocationId"] for m in seen if m.get("type") == 3]
        deliveries = [m["arguments"][0]["data"] for m in seen if m.get("type") == 1]
        # Only the new invocation is answered; the duplicate Subscribe is not processed again.
        assert completions == ["2"] and deliveries == ["d"]
        assert [m["sequenceId"] for m in seen if m.get("type") == 8] == [2]
        await second.__aexit__(None, None, None)

    run(body())


def test_resume_ends_after_the_disconnect_timeout_or_a_close(make_server):
    server = make_server({"signalr": {"disconnect_timeout_ms": 500}})

    async def body():
        token = negotiate(server)["connectionToken"]
        async with RawHub(server, f"?id={token}") as hub:
            assert await hub.handshake() == {}
            await drop(hub)
        await asyncio.sleep(1.5)
        with pytest.raises(Exception, match="404"):
            async with RawHub(server, f"?id={token}"):
                pass
        # A clean close (the client stopped) ends the connection at once: nothing waits for it.
        token = negotiate(server)["connectionToken"]
        async with RawHub(server, f"?id={token}") as hub:
            assert await hub.handshake() == {}
        with pytest.raises(Exception, match="404"):
            async with RawHub(server, f"?id={token}"):
                pass

    run(body())


def test_too_much_while_away_cannot_resume(make_server):
    server = make_server({"signalr": {"stateful_reconnect_buffer_size": 4096}})
    channel = f"feed/{unique('full')}"

    async def body():
        token = negotiate(server)["connectionToken"]
        async with RawHub(server, f"?id={token}") as hub:
            assert await hub.handshake() == {}
            await hub.invoke("Subscribe", channel)
            await drop(hub)
        for n in range(100):
            publish(server, channel, "x" * 100)
        with pytest.raises(Exception, match="404"):
            async with RawHub(server, f"?id={token}"):
                pass

    run(body())


def test_a_sequence_past_what_arrived_is_a_protocol_error(server):
    async def body():
        token = negotiate(server)["connectionToken"]
        async with RawHub(server, f"?id={token}") as hub:
            assert await hub.handshake() == {}
            await hub.send({"type": 9, "sequenceId": 5})
            close = await hub.next_of_type(7)
            assert close["error"] == "Sequence ID greater than amount of messages we've received."

    run(body())
