"""Socket.IO connection state recovery as socket.io 4.6+ does it (docs/protocols/socketio.md): the
CONNECT answer carries a private id (`pid`), every event its offset as the last argument; a client that
lost its transport connects again with `auth: {pid, offset}` and gets back its socket id, its rooms and
every event it missed inside the history window, exactly once, then live events — whichever event loop
the new connection lands on. python-socketio's client does not implement recovery, so these tests speak
the protocol with a small raw client (socketio_support.Raw) over `websockets`."""

from __future__ import annotations

import asyncio

import pytest

from interop import run, unique
from socketio_support import Raw

pytestmark = pytest.mark.switchboard_only


@pytest.mark.parametrize("attempt", range(4))  # new connections land on either event loop
def test_recovery_after_a_dropped_transport_replays_missed_events_exactly_once(server, attempt):
    channel = f"chat/{unique('rec')}"
    other = f"chat/{unique('rec')}"

    async def body():
        first = await Raw.open(server.http_url)
        hello = await first.connect()
        assert set(hello) == {"sid", "pid"}, hello
        for name in (channel, other):
            joined = await first.call("subscribe", {"channel": name})
            assert joined[0]["channel"] == name
        await server.apublish(channel, {"n": 1})
        await server.apublish(other, {"n": 2})
        got = [await first.event(), await first.event()]
        assert [args[1]["data"] for args in got] == [{"n": 1}, {"n": 2}]
        last = got[-1][-1]
        await first.drop()
        await asyncio.sleep(0.2)
        # Missed while away, on both rooms, interleaved.
        for n in range(3, 7):
            await server.apublish(channel if n % 2 else other, {"n": n})

        second = await Raw.open(server.http_url)
        again = await second.connect(auth={"pid": hello["pid"], "offset": last})
        assert again == hello, "recovered: the same socket id and private id"
        missed = [await second.event() for _ in range(4)]
        by_channel = {name: [args[1]["data"]["n"] for args in missed if args[1]["channel"] == name]
                      for name in (channel, other)}
        assert by_channel == {channel: [3, 5], other: [4, 6]}, missed
        # Still in both rooms: live events follow, nothing is repeated.
        await server.apublish(channel, {"n": 7})
        live = await second.event()
        assert live[1]["data"] == {"n": 7}
        with pytest.raises(asyncio.TimeoutError):
            await second.event(timeout=0.3)
        await second.close()

    run(body())


def test_events_the_client_got_before_the_drop_are_not_sent_again(server):
    channel = f"chat/{unique('rec')}"

    async def body():
        first = await Raw.open(server.http_url)
        hello = await first.connect()
        await first.call("subscribe", channel)
        for n in range(5):
            await server.apublish(channel, {"n": n})
        got = [await first.event() for _ in range(5)]
        # The client read only the first three (say the rest were in flight): it resumes after the third.
        offset = got[2][-1]
        await first.drop()
        await asyncio.sleep(0.2)
        second = await Raw.open(server.http_url)
        assert (await second.connect(auth={"pid": hello["pid"], "offset": offset}))["sid"] == hello["sid"]
        replayed = [(await second.event())[1]["data"]["n"] for _ in range(2)]
        assert replayed == [3, 4]
        await second.close()

    run(body())


def test_unknown_offset_or_deliberate_disconnect_gives_a_new_socket(server):
    channel = f"chat/{unique('rec')}"

    async def body():
        first = await Raw.open(server.http_url)
        hello = await first.connect()
        await first.call("subscribe", channel)
        await first.drop()
        await asyncio.sleep(0.2)
        second = await Raw.open(server.http_url)
        fresh = await second.connect(auth={"pid": hello["pid"], "offset": "999:nowhere"})
        assert fresh["sid"] != hello["sid"] and fresh["pid"] != hello["pid"]
        # A socket that left on purpose (DISCONNECT) is not kept.
        await second.send("1")
        await asyncio.sleep(0.2)
        third = await Raw.open(server.http_url)
        again = await third.connect(auth={"pid": fresh["pid"], "offset": "1:" + channel})
        assert again["sid"] != fresh["sid"]
        for raw in (second, third):
            await raw.close()

    run(body())


def test_recovery_is_off_when_configured(make_server):
    server = make_server({"socketio": {"recovery_seconds": 0}})

    async def body():
        raw = await Raw.open(server.http_url)
        hello = await raw.connect()
        assert set(hello) == {"sid"}
        channel = f"chat/{unique('rec')}"
        await raw.call("subscribe", channel)
        await server.apublish(channel, 1)
        event = await raw.event()
        assert len(event) == 2, "no offset argument without recovery"
        await raw.close()

    run(body())
