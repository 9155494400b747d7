"""Issue 23, Socket.IO slice: connection state recovery on another instance (three Switchboard instances
and one redis-server, test_redis_scaleout's fixtures). A socket's recovery record lives in Redis under its
private id, taken once (GETDEL) by the instance the client comes back to, which reads the rooms' shared
logs: the client gets its socket back with exactly the events it missed, published on any instance —
after a dropped transport, and after `kill -9` of its instance (with several rooms with history too,
through vector offsets). python-socketio's client does not
implement recovery, so these speak the protocol with socketio_support.Raw, as test_socketio_recovery
does. docs/protocols/socketio.md ("Recovery on another instance") maps each point to its test."""

from __future__ import annotations

import asyncio

import pytest

from interop import run, unique
from socketio_support import Raw
from test_redis_scaleout import cluster, redis_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.switchboard_only


async def joined(server, channel: str) -> tuple[Raw, dict]:
    client = await Raw.open(server.http_url)
    hello = await client.connect()
    assert set(hello) == {"sid", "pid"}, hello
    answer = await client.call("subscribe", {"channel": channel})
    assert answer[0]["channel"] == channel, answer
    return client, hello


async def joined_with_one_event(server, channel: str) -> tuple[Raw, dict, str]:
    """A socket on `server` in `channel`, sent one event published there: the client, its CONNECT answer
    and the offset of that event (what it would recover from)."""
    client, hello = await joined(server, channel)
    await server.apublish(channel, {"n": 1})
    return client, hello, (await client.event())[-1]


async def no_more_events(client: Raw) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await client.event(timeout=0.4)


def test_a_socket_dropped_on_one_instance_recovers_on_another_with_exactly_what_it_missed(cluster):
    a, b, c = cluster
    channel = f"chat/{unique('sio')}"

    async def body():
        first, hello = await joined(a, channel)
        await c.apublish(channel, {"n": 1})
        got = await first.event()
        assert got[1]["data"] == {"n": 1}, got
        await first.drop()
        await asyncio.sleep(0.3)  # A notices the drop and leaves the record in Redis
        for n, server in ((2, c), (3, a), (4, b)):
            await server.apublish(channel, {"n": n})

        second = await Raw.open(b.http_url)
        again = await second.connect(auth={"pid": hello["pid"], "offset": got[-1]})
        assert again == hello, "recovered: the same socket id and private id"
        missed = [(await second.event())[1]["data"]["n"] for _ in range(3)]
        assert missed == [2, 3, 4]
        # Still in the room, live from any instance, nothing twice.
        await a.apublish(channel, {"n": 5})
        assert (await second.event())[1]["data"] == {"n": 5}
        await no_more_events(second)
        await second.close()

    run(body())


def test_a_record_is_used_once_even_when_two_instances_are_asked_at_once(cluster):
    a, b, c = cluster
    channel = f"chat/{unique('sio')}"

    async def body():
        first, hello, offset = await joined_with_one_event(a, channel)
        await first.drop()
        await asyncio.sleep(0.3)
        await a.apublish(channel, {"n": 2})
        clients = [await Raw.open(b.http_url), await Raw.open(c.http_url)]
        answers = await asyncio.gather(
            *(client.connect(auth={"pid": hello["pid"], "offset": offset}) for client in clients))
        recovered = [answer == hello for answer in answers]
        assert sorted(recovered) == [False, True], answers
        winner = clients[recovered.index(True)]
        assert (await winner.event())[1]["data"] == {"n": 2}
        for client in clients:
            await client.close()

    run(body())


def test_a_record_taken_elsewhere_is_not_brought_back_by_its_first_instance(cluster):
    """The client comes back on B while A has not yet noticed the drop (here: A's transport is still open):
    B takes the record, and the socket ends there on purpose; when A then notices its drop, its write
    replaces nothing (there is nothing left to replace), so the socket is not recovered a second time."""
    a, b, c = cluster
    channel = f"chat/{unique('sio')}"

    async def body():
        first, hello, offset = await joined_with_one_event(a, channel)
        second = await Raw.open(b.http_url)
        assert await second.connect(auth={"pid": hello["pid"], "offset": offset}) == hello
        await second.send("1")  # and ends it on purpose there: the socket and its record are gone
        await asyncio.sleep(0.3)
        await second.close()
        await first.drop()  # A notices only now, and keeps its record only if it is still there
        await asyncio.sleep(0.5)
        third = await Raw.open(c.http_url)
        answer = await third.connect(auth={"pid": hello["pid"], "offset": offset})
        assert answer["sid"] != hello["sid"], answer
        await third.close()

    run(body())


def test_a_socket_closed_on_purpose_is_not_recovered_elsewhere(cluster):
    a, b, _ = cluster
    channel = f"chat/{unique('sio')}"

    async def body():
        first, hello, offset = await joined_with_one_event(a, channel)
        await first.send("1")  # Socket.IO DISCONNECT: the socket ends, socket.io recovers no such socket
        await asyncio.sleep(0.3)
        await first.close()
        second = await Raw.open(b.http_url)
        answer = await second.connect(auth={"pid": hello["pid"], "offset": offset})
        assert answer["sid"] != hello["sid"], answer
        await second.close()

    run(body())


def test_a_socket_recovers_on_another_instance_after_kill9_of_its_own(cluster):
    a, b, c = cluster
    channel = f"chat/{unique('sio')}"

    async def body():
        first, hello = await joined(a, channel)
        for n in (1, 2):
            await c.apublish(channel, {"n": n})
        got = [await first.event() for _ in range(2)]
        assert [args[1]["data"]["n"] for args in got] == [1, 2]
        a.proc.kill()  # kill -9: A never sees the drop; the live record it kept stands in
        a.proc.wait(5)
        for n, server in ((3, c), (4, b)):
            await server.apublish(channel, {"n": n})
        second = await Raw.open(b.http_url)
        again = await second.connect(auth={"pid": hello["pid"], "offset": got[-1][-1]})
        assert again == hello, again
        assert [(await second.event())[1]["data"]["n"] for _ in range(2)] == [3, 4]
        await c.apublish(channel, {"n": 5})
        assert (await second.event())[1]["data"] == {"n": 5}
        await no_more_events(second)
        await second.close()

    run(body())


def test_after_kill9_a_socket_in_several_rooms_with_history_recovers_every_room(cluster):
    # With two or more rooms with history its events carry a vector offset (every room's last position,
    # docs/protocols/socketio.md): the last one the client got places every room after A dies.
    a, b, c = cluster
    rooms = [f"chat/{unique('sio')}" for _ in range(3)]
    late = f"chat/{unique('sio')}"

    def number(args):
        return (args[1]["channel"], args[1]["data"]["n"])

    async def body():
        first, hello = await joined(a, rooms[0])
        for room in rooms[1:]:
            await first.call("subscribe", {"channel": room})
        # Interleaved over the three rooms, from every instance: 9 events received.
        servers = (a, b, c)
        for n in range(9):
            await servers[n % 3].apublish(rooms[n % 3], {"n": n})
        got = [await first.event() for _ in range(9)]
        assert sorted(number(args) for args in got) == sorted((rooms[n % 3], n) for n in range(9)), got
        last = got[-1][-1]
        assert last.startswith("~"), last  # a vector offset
        # A room joined after the last event, with one event the client also got before the crash.
        await first.call("subscribe", {"channel": late})
        await b.apublish(late, {"n": 100})
        late_event = await first.event()
        assert number(late_event) == (late, 100)
        a.proc.kill()  # kill -9: only the live record is left
        a.proc.wait(5)
        for n, (server, room) in enumerate(((c, rooms[2]), (b, rooms[0]), (c, late), (b, rooms[1])), start=10):
            await server.apublish(room, {"n": n})

        second = await Raw.open(b.http_url)
        again = await second.connect(auth={"pid": hello["pid"], "offset": late_event[-1]})
        assert again == hello, again
        missed = sorted([number(await second.event()) for _ in range(4)])
        assert missed == sorted([(rooms[2], 10), (rooms[0], 11), (late, 12), (rooms[1], 13)]), missed
        await no_more_events(second)
        # Live afterwards, nothing twice.
        await c.apublish(rooms[1], {"n": 20})
        live = await second.event()
        assert number(live) == (rooms[1], 20)
        await second.close()

    run(body(), 45)


def test_after_kill9_a_room_joined_after_the_clients_last_event_resumes_from_its_join(cluster):
    # The client's last offset came before it joined the late room (the late room's event was lost in
    # flight): that room is replayed from its join, the others from the vector.
    a, b, c = cluster
    rooms = [f"chat/{unique('sio')}" for _ in range(2)]
    late = f"chat/{unique('sio')}"

    def number(args):
        return (args[1]["channel"], args[1]["data"]["n"])

    async def body():
        first, hello = await joined(a, rooms[0])
        await first.call("subscribe", {"channel": rooms[1]})
        for n in range(6):
            await (b if n % 2 else c).apublish(rooms[n % 2], {"n": n})
        got = [await first.event() for _ in range(6)]
        await first.call("subscribe", {"channel": late})
        await c.apublish(late, {"n": 50})
        assert number(await first.event()) == (late, 50)
        a.proc.kill()
        a.proc.wait(5)
        for n in (6, 7):
            await c.apublish(rooms[n % 2], {"n": n})
        second = await Raw.open(c.http_url)
        again = await second.connect(auth={"pid": hello["pid"], "offset": got[-1][-1]})
        assert again == hello, again
        missed = sorted([number(await second.event()) for _ in range(3)])
        assert missed == sorted([(late, 50), (rooms[0], 6), (rooms[1], 7)]), missed
        await no_more_events(second)
        await second.close()

    run(body(), 45)
