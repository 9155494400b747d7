"""Issue 23, long-polling slice: Engine.IO (Socket.IO) and SignalR long-polling sessions are found by id
on any instance. Three Switchboard instances and one redis-server (test_redis_scaleout's fixtures) behind
a round-robin splitter that sends every request to the next instance (http_splitter.Splitter: no sticky
sessions): a request for a session another instance holds is forwarded there (its id names it), and a
session whose instance is gone earns the protocol's own "unknown session" answer. Stock clients:
python-socketio forced to polling, signalrcore on long polling. docs/redis.md ("Sessions across
instances") maps each point to its test."""

from __future__ import annotations

import json

import pytest
import requests

from http_splitter import Splitter
from interop import run, unique
from signalr_support import CoreClient
from socketio_support import Stock
from test_redis_scaleout import cluster, redis_command, redis_server, wait_for  # noqa: F401 (fixtures)

pytestmark = pytest.mark.switchboard_only


def announced(redis_port: int, count: int = 3) -> None:
    """Every instance has put its address in Redis (right after its HTTP listener bound)."""
    def addresses() -> bool:
        reply = redis_command(redis_port, "KEYS", "switchboard.record:instance:*")
        return reply.startswith(f"*{count}\r\n".encode())
    assert wait_for(addresses), "the instances did not announce their addresses"


def test_a_socketio_polling_client_works_through_a_round_robin_splitter(cluster, redis_server):
    a, b, c = cluster
    announced(redis_server[1])
    channel = f"chat/{unique('poll')}"

    async def body():
        with Splitter([a.port, b.port, c.port]) as splitter:
            async with Stock(splitter.http_url, ["polling"]) as client:
                subscribed = await client.subscribe(channel)
                assert subscribed["channel"] == channel, subscribed
                for n, server in ((1, a), (2, b), (3, c)):
                    await server.apublish(channel, {"n": n})
                got = [(await client.event("message"))[2][0]["data"]["n"] for _ in range(3)]
                # Redis keeps each publisher's order, not an order between instances (docs/redis.md).
                assert sorted(got) == [1, 2, 3], got
                published = await client.call("publish", {"channel": channel, "data": {"n": 4}})
                assert published["channel"] == channel
                assert (await client.event("message"))[2][0]["data"] == {"n": 4}
                assert client.transport == "polling"
            # The requests went to every instance.
            assert set(splitter.sent_to) == {0, 1, 2}, splitter.sent_to

    run(body())


def test_an_engineio_session_of_a_dead_instance_is_unknown(cluster, redis_server):
    a, b, _ = cluster
    announced(redis_server[1])
    opened = requests.get(f"{a.http_url}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=5)
    assert opened.status_code == 200 and opened.text.startswith("0"), opened.text
    sid = json.loads(opened.text[1:])["sid"]
    # Found through another instance while its own is alive: B forwards the poll to A.
    polled = requests.post(
        f"{b.http_url}/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid}, data="40", timeout=5)
    assert polled.status_code == 200 and polled.text == "ok", polled.text
    a.proc.kill()
    a.proc.wait(5)
    gone = requests.get(f"{b.http_url}/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid}, timeout=5)
    assert gone.status_code == 400 and gone.json() == {"code": 1, "message": "Session ID unknown"}, gone.text


def test_a_signalr_long_polling_client_works_through_a_round_robin_splitter(make_server, redis_server):
    url, _ = redis_server
    servers = [make_server({"signalr": {"long_poll_timeout_ms": 300}}, args=["--engine", url]) for _ in range(3)]
    announced(redis_server[1])
    channel = f"chat/{unique('lp')}"
    with Splitter([s.port for s in servers]) as splitter:
        client = CoreClient(f"{splitter.http_url}/hubs/switchboard", transport="long_polling").start()
        try:
            assert client.invoke("JoinGroup", [channel]).error is None
            servers[2].publish(channel, {"n": 1})
            result = client.invoke("Publish", [channel, {"n": 2}])
            assert result.error is None, result.error
            received = client.wait_received(2, timeout=10)
            assert sorted(r[0]["data"]["n"] for r in received[:2]) == [1, 2], received
        finally:
            client.stop()
        assert set(splitter.sent_to) == {0, 1, 2}, splitter.sent_to


def test_a_signalr_token_of_a_dead_instance_is_404(cluster, redis_server):
    a, b, _ = cluster
    announced(redis_server[1])
    negotiated = requests.post(f"{a.http_url}/hubs/switchboard/negotiate", params={"negotiateVersion": "1"}, timeout=5)
    token = negotiated.json()["connectionToken"]
    a.proc.kill()
    a.proc.wait(5)
    gone = requests.get(f"{b.http_url}/hubs/switchboard", params={"id": token}, timeout=5)
    assert gone.status_code == 404 and gone.text == "No Connection with that ID", gone.text
