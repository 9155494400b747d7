"""Durable topic logs across several instances on one PostgreSQL database (issue 24,
`shared_instances=true`; docs/storage.md "Durable topic logs are shared"), with native WebSocket clients,
paho-mqtt and HTTP against two `switchboard serve --durable-history` processes:

- a log is appended to by one instance at a time (its writer claim): publishes alternating between the
  instances get offsets 1…N in publish order, one epoch, none twice;
- each instance's copy follows the other's appends (a notification, a fresh read), so a client recovering
  on B gets exactly what it missed, A's publishes with A's offsets, in order, once;
- an MQTT QoS 1 publish to the log is acknowledged only once the holder stored it;
- after `kill -9` of the holder the other continues its offsets.
"""

from __future__ import annotations

import asyncio
import time

from interop import run, unique, ws_clients
from mqtt_client import V5, Paho
from test_storage_crash import kill9
from test_storage_postgres import PostgresServer, postgres  # noqa: F401  (the fixture)

HISTORY = "ledger/#=1000"


def shared(make_server, postgres: PostgresServer):  # noqa: F811
    url = postgres.url + "&shared_instances=true"
    args = ["--storage", url, "--durable-history", HISTORY]
    return make_server(args=args), make_server(args=args)


async def recovered(ws, channel: str, offset: int, epoch: str, count: int, timeout: float = 10.0) -> dict:
    """The reply to a `recover` from `offset` once it holds `count` messages (B's copy follows A's appends
    a notification's round trip after they committed)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = await ws.subscribe(channel, recover={"offset": offset, "epoch": epoch})
        assert reply["recovered"] is True, reply
        if len(reply["messages"]) >= count or time.monotonic() > deadline:
            return reply
        await ws.expect({"type": "unsubscribe", "channel": channel}, "unsubscribed")
        await asyncio.sleep(0.05)


def test_publishes_alternating_between_instances_get_offsets_once_and_recover_on_either(make_server, postgres):  # noqa: F811
    a, b = shared(make_server, postgres)
    channel = unique("ledger/")

    async def body():
        async with ws_clients(a.ws_url) as on_a, ws_clients(b.ws_url) as on_b:
            published = []
            for i in range(20):
                ws = on_a if i % 2 == 0 else on_b
                published.append(await ws.publish(channel, {"n": i}))
            epoch = published[0]["epoch"]
            assert all(p["epoch"] == epoch for p in published), published
            # Each publish waited for the claim and read the tail fresh: offsets in publish order.
            assert [p["offset"] for p in published] == list(range(1, 21)), published

            # A client that saw up to offset 7 recovers on B, then on A: exactly what it missed, in order.
            async with ws_clients(b.ws_url) as client:
                reply = await recovered(client, channel, 7, epoch, 13)
                assert [(m["offset"], m["data"]["n"]) for m in reply["messages"]] == [(o, o - 1) for o in range(8, 21)]
            # A's copy follows B's last publish.
            async with ws_clients(a.ws_url) as client:
                reply = await recovered(client, channel, 0, epoch, 20)
                assert [m["data"]["n"] for m in reply["messages"]] == list(range(20))

            # Both at once: every publish gets its own offset, none lost.
            async def burst(ws, tag):
                return [(await ws.publish(channel, {"n": f"{tag}{i}"}))["offset"] for i in range(10)]

            offsets_a, offsets_b = await asyncio.gather(burst(on_a, "a"), burst(on_b, "b"))
            assert sorted(offsets_a + offsets_b) == list(range(21, 41))
            async with ws_clients(b.ws_url) as client:
                reply = await recovered(client, channel, 20, epoch, 20)
                got = [(m["offset"], m["data"]["n"]) for m in reply["messages"]]
                assert [offset for offset, _ in got] == list(range(21, 41))
                expected = {o: f"a{i}" for i, o in enumerate(offsets_a)} | {o: f"b{i}" for i, o in enumerate(offsets_b)}
                assert got == sorted(expected.items())

    run(body())


def test_mqtt_qos1_to_a_shared_log_is_acknowledged_once_stored_by_the_holder(make_server, postgres):  # noqa: F811
    a, b = shared(make_server, postgres)
    channel = unique("ledger/")
    on_a, on_b = Paho(a.mqtt_port, V5), Paho(b.mqtt_port, V5)
    for i in range(10):
        (on_a if i % 2 == 0 else on_b).publish(channel, f"m{i}", qos=1)  # returns once acknowledged
    on_a.disconnect()
    on_b.disconnect()

    # Every acknowledged publish is in the log, numbered once, in order, on both instances (the one that
    # did not publish last follows a notification's round trip later).
    for server in (a, b):
        deadline = time.monotonic() + 10
        while True:
            history = server.http("GET", "/api/history", params={"channel": channel, "limit": 100}).json()
            messages = history["messages"]
            if len(messages) >= 10 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert [m["offset"] for m in messages] == list(range(1, 11)), history
        assert [m["text"] for m in messages] == [f"m{i}" for i in range(10)], history


def test_after_kill9_of_the_holder_the_other_continues_the_offsets(make_server, postgres):  # noqa: F811
    """The holder dies with the log's claim: the database lets go of it with its connection, and the other
    instance, reading the tail fresh, continues after everything the dead one acknowledged."""
    a, b = shared(make_server, postgres)
    channel = unique("ledger/")
    positions = [a.publish(channel, {"n": i}) for i in range(10)]
    epoch = positions[0]["epoch"]
    assert [p["offset"] for p in positions] == list(range(1, 11))
    kill9(a)
    after = [b.publish(channel, {"n": 10 + i}) for i in range(5)]
    assert after == [{"offset": 11 + i, "epoch": epoch} for i in range(5)]

    async def body():
        async with ws_clients(b.ws_url) as client:
            reply = await client.subscribe(channel, recover={"offset": 0, "epoch": epoch})
            assert reply["recovered"] is True, reply
            assert [(m["offset"], m["data"]["n"]) for m in reply["messages"]] == [(o, o - 1) for o in range(1, 16)]

    run(body())
