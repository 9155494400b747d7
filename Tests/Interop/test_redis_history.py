"""Issue 23, history slice: three Switchboard instances and one redis-server (test_redis_scaleout's
fixtures). A topic's log is a Redis stream every instance sequences through, so a client that drops off
one instance and comes back on another recovers exactly what it missed, with stock clients: native
WebSocket `recover` (websockets), SSE `Last-Event-ID` (httpx-sse), and after `kill -9` of its instance.
docs/redis.md ("History across instances") maps each point to its test."""

from __future__ import annotations

import asyncio
import re
import subprocess

import pytest

from interop import is_message, open_ws, run, unique
from sse_client import sse
from test_redis_scaleout import cluster, redis_command, redis_server, wait_for  # noqa: F401 (fixtures)


def sse_url(server, channel: str) -> str:
    return f"{server.http_url}/sse?channel={channel}"


async def drop_and_miss_four(a, b, c, ch: str) -> str:
    """A WebSocket client on B subscribes to `ch`, gets 1–3 published on A (offsets 1–3, one epoch) and
    drops; 4 and 5 are published on A, 6 and 7 on C while it is away. Returns the log's epoch."""
    first = await open_ws(b.ws_url)
    s = await first.subscribe(ch)
    epoch = s["epoch"]
    assert s["offset"] == 0, s
    for n in range(1, 4):
        await a.apublish(ch, {"n": n})
    got = await first.messages(ch, 3)
    assert [m["data"]["n"] for m in got] == [1, 2, 3], got
    assert [m["offset"] for m in got] == [1, 2, 3] and {m["epoch"] for m in got} == {epoch}, got
    first.abort()
    for n, server in ((4, a), (5, a), (6, c), (7, c)):
        await server.apublish(ch, {"n": n})
    return epoch


def test_a_websocket_client_recovers_on_another_instance_exactly_what_it_missed(cluster):
    a, b, c = cluster
    ch = f"chat/{unique()}"

    async def body():
        epoch = await drop_and_miss_four(a, b, c, ch)
        second = await open_ws(c.ws_url)
        s = await second.subscribe(ch, recover={"offset": 3, "epoch": epoch})
        assert s["recovered"] is True, s
        assert s["epoch"] == epoch and s["offset"] == 7, s
        assert [m["offset"] for m in s["messages"]] == [4, 5, 6, 7], s
        assert [m["data"]["n"] for m in s["messages"]] == [4, 5, 6, 7], s
        # Then live, from any instance, continuing the same offsets, once.
        r = await b.apublish(ch, {"n": 8})
        assert r["offset"] == 8 and r["epoch"] == epoch, r
        live = await second.message(ch)
        assert live["data"] == {"n": 8} and live["offset"] == 8 and live["epoch"] == epoch, live
        await a.apublish(ch, {"n": 9})
        assert (await second.message(ch))["offset"] == 9
        await asyncio.sleep(0.3)
        assert second.pending(is_message(ch)) == [], f"duplicates after recovery: {second.pending()}"
        await second.close()

    run(body())


@pytest.mark.parametrize("kill9", [False, True], ids=["closed", "instance-killed"])
def test_an_sse_stream_resumes_on_another_instance_with_last_event_id(cluster, kill9):
    """An SSE stream on B resumes on C with `Last-Event-ID`: what A, C (and B, while alive) published meanwhile,
    at its ids, then live, with no duplicate and no reset — also when B was `kill -9`ed under the open stream."""
    a, b, c = cluster
    ch = f"chat/{unique()}"

    async def body():
        async with sse(sse_url(b, ch)) as stream:
            opening = await stream.position()
            assert opening.endswith("-0"), opening
            for n in range(1, 3):
                await a.apublish(ch, {"n": n})
            events = await stream.events(2, types={"message"})
            assert [e.json()["n"] for e in events] == [1, 2]
            last = events[-1].id
            if kill9:
                b.proc.kill()  # the stream's own instance, the stream still open
                b.proc.wait(5)
                await stream.wait_ended()
        assert last.endswith("-2"), last
        for n, server in ((3, a), (4, c), (5, a if kill9 else b)):
            await server.apublish(ch, {"n": n})
        async with sse(sse_url(c, ch), headers={"Last-Event-ID": last}) as stream:
            missed = await stream.events(3, types={"message"})
            assert [e.json()["n"] for e in missed] == [3, 4, 5], missed
            assert [e.id for e in missed] == [last[:-2] + f"-{n}" for n in (3, 4, 5)], missed
            await a.apublish(ch, {"n": 6})
            live = await stream.events(1, types={"message"})
            assert live[0].json() == {"n": 6} and live[0].id == last[:-2] + "-6", live
            await stream.nothing_more(0.5, types={"message", "reset"})

    run(body())


def test_history_reads_on_any_instance_see_every_instances_publishes(cluster):
    a, b, c = cluster
    ch = f"chat/{unique()}"
    # Reading makes the shared log (on demand, as on one instance); then each instance publishes.
    first = c.get("/api/history", params={"channel": ch}).json()
    assert first["offset"] == 0 and first["messages"] == [], first
    for n, server in ((1, a), (2, b), (3, c), (4, a)):
        server.publish(ch, {"n": n})
    for server in (a, b, c):
        read = server.get("/api/history", params={"channel": ch}).json()
        assert read["epoch"] == first["epoch"] and read["offset"] == 4, (server.name, read)
        assert [m["data"]["n"] for m in read["messages"]] == [1, 2, 3, 4], (server.name, read)
        after = server.get(
            "/api/history", params={"channel": ch, "offset": 2, "epoch": first["epoch"]}).json()
        assert after["recovered"] is True and [m["offset"] for m in after["messages"]] == [3, 4], after


def test_a_client_recovers_on_another_instance_after_kill9_of_its_own(cluster):
    a, b, c = cluster
    ch = f"chat/{unique()}"

    async def body():
        first = await open_ws(b.ws_url)
        s = await first.subscribe(ch)
        epoch = s["epoch"]
        await a.apublish(ch, {"n": 1})
        seen = await first.message(ch)
        assert seen["offset"] == 1
        b.proc.kill()  # kill -9 of the client's instance
        b.proc.wait(5)
        for n in (2, 3):
            await a.apublish(ch, {"n": n})
        await c.apublish(ch, {"n": 4})
        second = await open_ws(c.ws_url)
        s = await second.subscribe(ch, recover={"offset": 1, "epoch": epoch})
        assert s["recovered"] is True and [m["data"]["n"] for m in s["messages"]] == [2, 3, 4], s
        first.abort()
        await second.close()

    run(body())


def test_a_log_redis_lost_is_a_new_epoch_and_recovery_says_so(cluster, redis_server):
    a, b, c = cluster
    _, port = redis_server
    ch = f"chat/{unique()}"

    async def body():
        first = await open_ws(b.ws_url)
        s = await first.subscribe(ch)
        epoch = s["epoch"]
        await a.apublish(ch, {"n": 1})
        assert (await first.message(ch))["offset"] == 1
        first.abort()
        # Redis loses everything (a restart without persistence looks the same to the instances).
        assert redis_command(port, "FLUSHALL").startswith(b"+OK")
        await a.apublish(ch, {"n": 2})
        second = await open_ws(c.ws_url)
        s = await second.subscribe(ch, recover={"offset": 1, "epoch": epoch})
        assert s["recovered"] is False and s["epoch"] != epoch and s["messages"] == [], s
        await second.close()

    run(body())


def test_long_poll_cursors_continue_on_any_instance(cluster):
    a, b, c = cluster
    ch = f"chat/{unique()}"

    start = b.poll(ch)  # no cursor: 204 with the current (shared) position
    assert start.status_code == 204 and start.headers["etag"].endswith('-0"'), start.headers
    cursor = start.headers["etag"].strip('"')
    a.publish(ch, {"n": 1})
    c.publish(ch, {"n": 2})
    # Each poll on another instance continues from the cursor the previous one gave: nothing lost or repeated.
    seen = []
    for server, published_before in ((c, None), (a, (b, 3)), (b, (a, 4))):
        if published_before is not None:
            publisher, n = published_before
            assert publisher.publish(ch, {"n": n})["offset"] == n
        r = server.poll(ch, cursor)
        assert r.status_code == 200, (server.name, r.status_code, r.text)
        body = r.json()
        assert "reset" not in body, body
        seen += [m["data"]["n"] for m in body["messages"]]
        cursor = body["cursor"]
    assert seen == [1, 2, 3, 4], seen
    assert a.poll(ch, cursor).status_code == 204


def _cli(port: int, *args: str) -> list[str]:
    """redis-cli's answer, one line per element (for replies without binary values)."""
    done = subprocess.run(["redis-cli", "-p", str(port), "--raw", *args], capture_output=True, text=True, timeout=10)
    return done.stdout.split("\n")[:-1]


def _drop_every_connection(port: int, servers) -> None:
    """Ends every instance's Redis connection, as a failover does; returns once all are ready again."""
    _cli(port, "CLIENT", "KILL", "TYPE", "normal")
    _cli(port, "CLIENT", "KILL", "TYPE", "pubsub")
    for server in servers:
        assert wait_for(lambda s=server: s.get("/readyz").status_code == 200, 10), server.get("/readyz").text


def test_a_log_that_lost_entries_an_instance_saw_is_a_new_epoch(cluster, redis_server):
    """A promoted replica that missed the master's newest writes, or a restart from an older snapshot,
    comes back with the log behind in the same epoch. The instances saw the lost offsets (the subscriber
    on B received them), so after reconnecting they give the log a new epoch: the next message is not
    numbered again with a lost offset under the old epoch, and a client resuming from a lost entry is told
    it was not recovered. A reconnect that lost nothing keeps the epoch."""
    a, b, c = cluster
    _, port = redis_server
    ch = f"chat/{unique()}"
    meta, stream = f"switchboard.logmeta:{ch}", f"switchboard.log:{ch}"

    async def body():
        live = await open_ws(b.ws_url)
        s = await live.subscribe(ch)
        epoch = s["epoch"]
        for n in range(1, 6):
            await a.apublish(ch, {"n": n})
            got = await live.message(ch)
            assert (got["offset"], got["epoch"]) == (n, epoch), got
        # Nothing lost: the epoch stays, numbering goes on.
        await asyncio.to_thread(_drop_every_connection, port, (a, b, c))
        await a.apublish(ch, {"n": 6})
        got = await live.message(ch)
        assert (got["offset"], got["epoch"]) == (6, epoch), got
        # Redis comes back without the two newest entries (what a replica that had not received them
        # holds once promoted): the stream and the hash's offset are set back, the epoch is the same.
        reply = redis_command(port, "XRANGE", stream, "-", "+")
        ids = [m.decode() for m in re.findall(rb"\$\d+\r\n(\d+-\d+)\r\n", reply)]
        assert [i.split("-")[1] for i in ids] == ["1", "2", "3", "4", "5", "6"], ids
        _cli(port, "XDEL", stream, ids[4], ids[5])
        _cli(port, "HSET", meta, "seq", "4")
        await asyncio.to_thread(_drop_every_connection, port, (a, b, c))
        assert await asyncio.to_thread(wait_for, lambda: _cli(port, "HGET", meta, "epoch") != [epoch], 5), \
            _cli(port, "HGET", meta, "epoch")
        await a.apublish(ch, {"n": 7})
        got = await live.message(ch)
        assert got["data"] == {"n": 7} and got["epoch"] != epoch and got["offset"] == 5, got
        # A client that had received entry 6 (lost) resumes on C: not recovered, told the new epoch.
        second = await open_ws(c.ws_url)
        s = await second.subscribe(ch, recover={"offset": 6, "epoch": epoch})
        assert s["recovered"] is False and s["epoch"] == got["epoch"], s
        await second.close()
        await live.close()

    run(body())
