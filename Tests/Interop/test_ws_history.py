"""WebSocket /ws: history requests, subscribe with history, recovery after a drop."""

from __future__ import annotations

import asyncio

from interop import is_message, run, unique, ws_clients


async def _publish_n(ws, ch, start, end):
    replies = []
    for i in range(start, end):
        replies.append(await ws.publish(ch, {"i": i}))
    return replies


def _check_push_shape(m, ch, epoch):
    assert m.get("type") == "message" and m.get("channel") == ch, m
    assert m.get("epoch") == epoch, (m, epoch)
    assert isinstance(m.get("offset"), int), m


def test_history_limit(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            replies = await _publish_n(ws, ch, 1, 11)
            assert [r["offset"] for r in replies] == list(range(1, 11)), replies
            epoch = replies[0]["epoch"]
            h = await ws.expect({"type": "history", "channel": ch, "limit": 3}, "history")
            assert h["channel"] == ch and h["offset"] == 10 and h["epoch"] == epoch, h
            assert [m["offset"] for m in h["messages"]] == [8, 9, 10], h
            assert [m["data"] for m in h["messages"]] == [{"i": 8}, {"i": 9}, {"i": 10}], h
            for m in h["messages"]:
                _check_push_shape(m, ch, epoch)

            all_ = await ws.expect({"type": "history", "channel": ch, "limit": 50}, "history")
            assert [m["data"]["i"] for m in all_["messages"]] == list(range(1, 11)), all_

    run(body())


def test_history_since(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            replies = await _publish_n(ws, ch, 1, 11)
            epoch = replies[0]["epoch"]
            h = await ws.expect({"type": "history", "channel": ch, "since": {"offset": 6, "epoch": epoch}}, "history")
            assert [m["offset"] for m in h["messages"]] == [7, 8, 9, 10], h
            assert h["offset"] == 10 and h["epoch"] == epoch, h
            assert h.get("recovered", True) is True, h

            # since the newest offset -> nothing, still recovered
            h = await ws.expect({"type": "history", "channel": ch, "since": {"offset": 10, "epoch": epoch}}, "history")
            assert h["messages"] == [], h

    run(body())


def test_history_since_wrong_epoch(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            await _publish_n(ws, ch, 1, 4)
            h = await ws.expect(
                {"type": "history", "channel": ch, "since": {"offset": 1, "epoch": "not-the-epoch"}}, "history"
            )
            assert h.get("recovered") is False and h["messages"] == [], h

    run(body())


def test_history_on_empty_history_channel(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            h = await ws.expect({"type": "history", "channel": ch, "limit": 5}, "history")
            assert h["channel"] == ch and h["messages"] == [], h
            assert isinstance(h["epoch"], str) and h["epoch"], h

    run(body())


def test_history_not_kept_is_not_found(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error({"type": "history", "channel": f"news/{unique()}", "limit": 5}, "not_found")

    run(body())


def test_history_on_wildcard_is_bad_request(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error({"type": "history", "channel": f"chat/{unique()}/#", "limit": 5}, "bad_request")

    run(body())


def test_subscribe_with_history(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (pub, sub):
            replies = await _publish_n(pub, ch, 1, 8)
            epoch = replies[0]["epoch"]
            s = await sub.subscribe(ch, history=3)
            assert s["offset"] == 7 and s["epoch"] == epoch, s
            assert [m["data"]["i"] for m in s["messages"]] == [5, 6, 7], s
            for m in s["messages"]:
                _check_push_shape(m, ch, epoch)
            # the history is in the reply, not pushed again
            await pub.publish(ch, {"i": 8})
            live = await sub.message(ch)
            assert live["data"] == {"i": 8} and live["offset"] == 8, live
            await asyncio.sleep(0.2)
            assert sub.pending(is_message(ch)) == [], sub.pending()

    run(body())


def test_subscribe_with_history_on_wildcard_is_bad_request(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error({"type": "subscribe", "channel": f"chat/{unique()}/+", "history": 5}, "bad_request")

    run(body())


def test_recover_after_dropped_connection(server):
    """Subscribe, receive some, drop the socket, publish while away, reconnect
    with recover: every missed message exactly once, in order, then live."""
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as first:
            s = await first.subscribe(ch)
            epoch = s["epoch"]
            for i in range(1, 6):
                await server.apublish(ch, {"i": i})
            received = await first.messages(ch, 5)
            assert [m["data"]["i"] for m in received] == [1, 2, 3, 4, 5]
            last = received[-1]["offset"]
            assert last == 5 and received[-1]["epoch"] == epoch
            first.abort()

        for i in range(6, 11):
            r = await server.apublish(ch, {"i": i})
            assert r["offset"] == i and r["epoch"] == epoch, r

        async with ws_clients(server.ws_url) as second:
            s = await second.subscribe(ch, recover={"offset": last, "epoch": epoch})
            assert s["recovered"] is True, s
            assert s["epoch"] == epoch and s["offset"] == 10, s
            assert [m["offset"] for m in s["messages"]] == [6, 7, 8, 9, 10], s
            assert [m["data"]["i"] for m in s["messages"]] == [6, 7, 8, 9, 10], s
            for m in s["messages"]:
                _check_push_shape(m, ch, epoch)

            await server.apublish(ch, {"i": 11})
            live = await second.message(ch)
            assert live["data"] == {"i": 11} and live["offset"] == 11, live
            await asyncio.sleep(0.2)
            assert second.pending(is_message(ch)) == [], f"duplicates after recovery: {second.pending()}"

    run(body())


def test_recover_when_nothing_missed(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            r = await ws.publish(ch, 1)
            s = await ws.subscribe(ch, recover={"offset": r["offset"], "epoch": r["epoch"]})
            assert s["recovered"] is True and s["messages"] == [], s

    run(body())


def test_recover_wrong_epoch(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (pub, sub):
            await _publish_n(pub, ch, 1, 6)
            s = await sub.subscribe(ch, recover={"offset": 2, "epoch": "some-other-epoch"})
            assert s["recovered"] is False, s
            assert s["messages"] == [], s
            # still subscribed live
            await pub.publish(ch, {"i": 6})
            assert (await sub.message(ch))["data"] == {"i": 6}

    run(body())


def test_recover_wrong_epoch_with_history_fallback(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (pub, sub):
            await _publish_n(pub, ch, 1, 6)
            s = await sub.subscribe(ch, recover={"offset": 2, "epoch": "some-other-epoch"}, history=2)
            assert s["recovered"] is False, s
            assert [m["data"]["i"] for m in s["messages"]] == [4, 5], s

    run(body())


def test_recover_on_wildcard_is_bad_request(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error(
                {"type": "subscribe", "channel": f"chat/{unique()}/#", "recover": {"offset": 1, "epoch": "e"}},
                "bad_request",
            )

    run(body())


def test_recover_outside_window(make_server):
    """A history window of 5: recovering from an offset that fell out of it
    is recovered:false with the last N when history is asked."""
    srv = make_server({"history": [{"filter": "chat/#", "count": 5, "age_seconds": 600}]}, replace=False)

    async def body():
        ch = f"chat/{unique()}"
        async with ws_clients(srv.ws_url, 2) as (pub, sub):
            replies = await _publish_n(pub, ch, 1, 13)
            epoch = replies[0]["epoch"]
            h = await pub.expect({"type": "history", "channel": ch, "limit": 100}, "history")
            assert [m["offset"] for m in h["messages"]] == [8, 9, 10, 11, 12], h
            s = await sub.subscribe(ch, recover={"offset": 2, "epoch": epoch})
            assert s["recovered"] is False and s["messages"] == [], s
            await sub.expect({"type": "unsubscribe", "channel": ch}, "unsubscribed")
            s = await sub.subscribe(ch, recover={"offset": 2, "epoch": epoch}, history=3)
            assert s["recovered"] is False, s
            assert [m["offset"] for m in s["messages"]] == [10, 11, 12], s
            # offset 7 is exactly the window edge: 8..12 are all still there
            await sub.expect({"type": "unsubscribe", "channel": ch}, "unsubscribed")
            s = await sub.subscribe(ch, recover={"offset": 7, "epoch": epoch})
            assert s["recovered"] is True and [m["offset"] for m in s["messages"]] == [8, 9, 10, 11, 12], s

    run(body())


def test_recover_takes_precedence_over_history_when_recovered(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (pub, sub):
            replies = await _publish_n(pub, ch, 1, 6)
            epoch = replies[0]["epoch"]
            s = await sub.subscribe(ch, recover={"offset": 4, "epoch": epoch}, history=3)
            assert s["recovered"] is True, s
            assert [m["offset"] for m in s["messages"]] == [5], s

    run(body())


def test_history_age_bound(make_server):
    srv = make_server({"history": [{"filter": "chat/#", "count": 100, "age_seconds": 1}]})
    ch = f"chat/{unique()}"

    async def body():
        # A subscriber keeps the log (an unsubscribed log idle past its age is evicted: the test below).
        async with ws_clients(srv.ws_url, 2) as (ws, sub):
            await sub.subscribe(ch)
            await _publish_n(ws, ch, 1, 4)
            h = await ws.expect({"type": "history", "channel": ch, "limit": 100}, "history")
            assert len(h["messages"]) == 3, h
            await asyncio.sleep(2.5)
            await ws.publish(ch, {"i": 4})
            h = await ws.expect({"type": "history", "channel": ch, "limit": 100}, "history")
            assert [m["data"]["i"] for m in h["messages"]] == [4], f"messages older than age_seconds kept: {h}"
            assert h["offset"] == 4, h

    run(body())


def test_idle_log_is_evicted_into_a_new_epoch(make_server):
    """Issue 25: a log nobody subscribes to and nothing used within its age is evicted (checked every 5 s);
    the channel's next log starts a new epoch, and recovering from the old one is refused, never resumed."""
    srv = make_server({"history": [{"filter": "chat/#", "count": 100, "age_seconds": 1}]})
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(srv.ws_url) as ws:
            replies = await _publish_n(ws, ch, 1, 4)
            old = {"offset": replies[-1]["offset"], "epoch": replies[-1]["epoch"]}
            assert old["offset"] == 3, replies
            await asyncio.sleep(7)
            h = await ws.expect({"type": "history", "channel": ch, "limit": 100}, "history")
            assert h["offset"] == 0 and h["epoch"] != old["epoch"] and h["messages"] == [], h
            s = await ws.subscribe(ch, recover=old, history=10)
            assert s["recovered"] is False, s

    run(body())


def test_history_bytes_bound(make_server):
    srv = make_server({"history": [{"filter": "chat/#", "count": 100, "age_seconds": 600, "bytes": 1000}]})
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(srv.ws_url) as ws:
            for i in range(20):
                await ws.publish(ch, {"i": i, "pad": "p" * 200})
            h = await ws.expect({"type": "history", "channel": ch, "limit": 100}, "history")
            kept = [m["data"]["i"] for m in h["messages"]]
            assert kept, "the newest message must be kept"
            assert kept == list(range(20 - len(kept), 20)), kept
            assert len(kept) <= 5, f"{len(kept)} messages of >200 bytes kept under a 1000-byte bound"

    run(body())
