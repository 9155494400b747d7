"""Wildcard recovery (issue 18): a WebSocket subscription on a filter that a one-partition stream covers
reads its history from the stream and resumes from a stream position after a drop, with every missed
message exactly once, in order, then live; the CLI's `subscribe 'chat/+' --history N` works the same way.
Without a covering stream, history on a filter is refused with a reason that names the fix."""

from __future__ import annotations

import asyncio
import time

import pytest

from interop import is_message, run, unique, ws_clients
from test_cli import _spawn_subscriber, _stop


def _stream(server, root: str, filters: list[str] | None = None, **fields) -> str:
    name = unique("wr")
    r = server.post("/api/streams", json={"name": name, "filters": filters or [f"{root}/#"], **fields})
    assert r.status_code == 201, r.text
    return name


def _wait_stored(server, name: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # Readable (stored) records: `last_offset` stops before the oldest one still being stored.
        if server.get(f"/api/streams/{name}").json()["state"]["partitions"][0]["last_offset"] >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"stream {name} did not reach {count} messages")


def _matching(messages, root):
    return [m for m in messages if m["channel"].startswith(f"{root}/")]


def test_subscribe_on_a_filter_with_history_reads_the_covering_stream(server):
    root = unique("room")
    name = _stream(server, root)

    async def body():
        async with ws_clients(server.ws_url, 2) as (pub, sub):
            for i in range(1, 7):
                # Two rooms the filter matches and one deeper topic it does not.
                await pub.publish(f"{root}/{'a' if i % 2 else 'b'}", {"i": i})
                await pub.publish(f"{root}/deep/{i}", {"skip": i})
            await asyncio.to_thread(_wait_stored, server, name, 12)
            s = await sub.subscribe(f"{root}/+", history=3)
            assert [m["data"] for m in s["messages"]] == [{"i": 4}, {"i": 5}, {"i": 6}], s
            epoch = s["epoch"]
            offsets = [m["offset"] for m in s["messages"]]
            assert offsets == sorted(offsets) and all(m["epoch"] == epoch for m in s["messages"]), s
            assert s["offset"] == 12, s
            # Live messages come from the stream, positioned in it, after the history.
            await pub.publish(f"{root}/a", {"i": 7})
            await pub.publish(f"{root}/deep/7", {"skip": 7})
            await pub.publish(f"{root}/b", {"i": 8})
            live = [await sub.message(f"{root}/a"), await sub.message(f"{root}/b")]
            assert [m["data"] for m in live] == [{"i": 7}, {"i": 8}], live
            assert [m["offset"] for m in live] == [13, 15] and live[0]["epoch"] == epoch, live
            await asyncio.sleep(0.2)
            assert sub.pending(lambda f: f.get("type") == "message") == [], sub.pending()

    run(body())


def test_a_dropped_wildcard_subscription_recovers_from_its_stream_position(server):
    root = unique("room")
    _stream(server, root)

    async def body():
        async with ws_clients(server.ws_url) as first:
            s = await first.subscribe(f"{root}/+", history=0)
            assert s["messages"] == [] and isinstance(s["epoch"], str), s
            for i in range(1, 4):
                await server.apublish(f"{root}/r{i % 2}", {"i": i})
            received = [await first.message(f"{root}/r{i % 2}") for i in range(1, 4)]
            assert [m["data"]["i"] for m in received] == [1, 2, 3], received
            last = received[-1]
            first.abort()

        for i in range(4, 304):
            await server.apublish(f"{root}/r{i % 2}", {"i": i})

        async with ws_clients(server.ws_url) as second:
            s = await second.subscribe(f"{root}/+", recover={"offset": last["offset"], "epoch": last["epoch"]})
            assert s["recovered"] is True and s["offset"] == last["offset"], s
            await server.apublish(f"{root}/r0", {"i": 304})
            got = []
            while len(got) < 301:
                frame = await second.wait(lambda f: f.get("type") == "message")
                got.append(frame)
            assert [m["data"]["i"] for m in got] == list(range(4, 305)), [m["data"] for m in got][:10]
            assert [m["offset"] for m in got] == list(range(last["offset"] + 1, last["offset"] + 302))
            await asyncio.sleep(0.2)
            assert second.pending(lambda f: f.get("type") == "message") == [], "duplicates after recovery"

            # A position from another epoch: not recovered, the newest `history` instead, then live.
            s = await second.subscribe(f"{root}/#", recover={"offset": 1, "epoch": "another"}, history=2)
            assert s["recovered"] is False and [m["data"]["i"] for m in s["messages"]] == [303, 304], s

    run(body())


def test_history_on_a_filter_no_stream_covers_is_refused_with_the_fix(server):
    root = unique("room")
    _stream(server, root, filters=[f"{root}/a/#"])

    async def body():
        async with ws_clients(server.ws_url) as ws:
            error = await ws.expect_error({"type": "subscribe", "channel": f"{root}/+", "history": 5}, "bad_request")
            assert "stream" in error["message"], error
            # Without history the filter subscribes as always, live from the bus.
            s = await ws.subscribe(f"{root}/+")
            assert "recovered" not in s, s

    run(body())


def test_deleting_the_stream_ends_the_subscription_that_follows_it(server):
    root = unique("room")
    name = _stream(server, root)

    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.subscribe(f"{root}/+", history=0)
            r = await asyncio.to_thread(server.http, "DELETE", f"/api/streams/{name}")
            assert r.status_code in (200, 204), r.text
            await server.apublish(f"{root}/x", 1)
            error = await ws.wait(lambda f: f.get("type") == "error", timeout=15)
            assert error["code"] == "unavailable" and f"{root}/+" in error["message"], error

    run(body())


def test_cli_subscribe_on_a_filter_with_history(server):
    root = unique("chat")
    name = _stream(server, root)
    for i in range(5):
        server.publish(f"{root}/r{i}", i)
    _wait_stored(server, name, 5)
    proc, out = _spawn_subscriber(server, f"{root}/+", "--history", "2")
    try:
        got = [out.next_message()["data"] for _ in range(2)]
        assert got == [3, 4], got
        server.publish(f"{root}/new", 5)
        assert out.next_message()["data"] == 5
    finally:
        _stop(proc)


def test_sse_on_a_filter_a_stream_covers_resumes_with_last_event_id(server):
    """The same over SSE with httpx-sse: the filter's events carry ids (stream positions), and
    reconnecting with `Last-Event-ID` replays what was missed exactly once, then live."""
    from test_sse import publish, url
    from sse_client import sse

    root = unique("room")
    _stream(server, root)
    channel = f"{root}/+"

    async def body():
        async with sse(url(server, channel)) as stream:
            opening = await stream.position()
            await asyncio.to_thread(publish, server, f"{root}/a", {"n": 0})
            first = (await stream.events(1, types={"message"}))[0]
            assert first.json() == {"n": 0} and first.id != opening, (first, opening)
            last = first.id
        for n in range(1, 6):
            await asyncio.to_thread(publish, server, f"{root}/{'a' if n % 2 else 'b'}", {"n": n})
            await asyncio.to_thread(publish, server, f"{root}/deeper/x", {"skip": n})
        async with sse(url(server, channel), headers={"Last-Event-ID": last}) as stream:
            missed = await stream.events(5, types={"message"})
            assert [e.json()["n"] for e in missed] == [1, 2, 3, 4, 5], [e.data for e in missed]
            await asyncio.to_thread(publish, server, f"{root}/c", {"n": 6})
            live = await stream.events(1, types={"message"})
            assert live[0].json() == {"n": 6}
            epoch = last.split("-")[0]
            # Offset 12 of the stream (1 + five matching + five deeper records before it), in base 36.
            assert live[0].id == f"{epoch}-c", live[0].id

    run(body())


def test_socketio_room_on_a_filter_a_stream_covers_recovers_after_a_drop(server):
    """Socket.IO connection state recovery (socket.io 4.6's `auth: {pid, offset}`) for a room on a filter:
    the room follows the stream that covers it, so the events missed on every matching topic come back
    exactly once, in order, then live (raw client, as in test_socketio_recovery.py)."""
    from socketio_support import Raw

    root = unique("room")
    _stream(server, root)
    channel = f"{root}/+"

    async def body():
        first = await Raw.open(server.http_url)
        hello = await first.connect()
        joined = await first.call("subscribe", {"channel": channel})
        assert joined[0]["channel"] == channel and "epoch" in joined[0], joined
        await server.apublish(f"{root}/a", {"n": 1})
        got = await first.event()
        assert got[1]["data"] == {"n": 1}, got
        last = got[-1]
        await first.drop()
        await asyncio.sleep(0.2)
        for n in range(2, 6):
            await server.apublish(f"{root}/{'a' if n % 2 else 'b'}", {"n": n})
            await server.apublish(f"{root}/deep/x", {"skip": n})

        second = await Raw.open(server.http_url)
        again = await second.connect(auth={"pid": hello["pid"], "offset": last})
        assert again == hello, "recovered: the same socket id and private id"
        missed = [await second.event() for _ in range(4)]
        assert [args[1]["data"]["n"] for args in missed] == [2, 3, 4, 5], missed
        await server.apublish(f"{root}/c", {"n": 6})
        assert (await second.event())[1]["data"] == {"n": 6}
        with pytest.raises(asyncio.TimeoutError):
            await second.event(timeout=0.3)
        await second.close()

    run(body())


def test_long_polling_a_filter_a_stream_covers_loses_and_repeats_nothing(server):
    """`GET /poll` on a filter: the cursor is a stream position; polls chained on it while a publisher
    writes to several matching topics (and one the filter does not match) see each message once, in order."""
    import threading

    from test_poll import poll, publish

    root = unique("room")
    _stream(server, root)
    channel = f"{root}/+"
    first = poll(server, channel)
    assert first.status_code == 204, first.text
    cursor = first.headers["etag"].strip('"')
    total = 60

    def publisher():
        for n in range(total):
            publish(server, f"{root}/t{n % 3}", {"n": n})
            publish(server, f"{root}/deep/x", {"skip": n})

    thread = threading.Thread(target=publisher)
    thread.start()
    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < total and time.monotonic() < deadline:
        r = poll(server, channel, cursor=cursor, timeout=2)
        if r.status_code == 200:
            seen += [m["data"]["n"] for m in r.json()["messages"]]
            cursor = r.json()["cursor"]
    thread.join(10)
    assert seen == list(range(total))
    # A cursor from before: answered at once (timeout 0) with what the stream holds after it.
    again = poll(server, channel, cursor=first.headers["etag"].strip('"'))
    assert again.status_code == 200 and [m["data"]["n"] for m in again.json()["messages"]][:3] == [0, 1, 2]
    # A filter no stream covers is still refused.
    refused = poll(server, f"{unique('nostream')}/+")
    assert refused.status_code == 400 and "stream" in refused.text, refused.text
