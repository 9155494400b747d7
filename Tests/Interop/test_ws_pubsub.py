"""WebSocket /ws: subscribe, publish, wildcards, shared groups, unsubscribe."""

from __future__ import annotations

import asyncio
from collections import Counter

from interop import is_message, run, unique, ws_clients

JSON_VALUES = [
    {"text": "hi", "n": 1, "nested": {"list": [1, 2.5, "x", None, True]}},
    [1, "two", {"three": 3}],
    "plain string with unicode \u00e9\u4e2d\U0001f600",
    42,
    -3.25,
    True,
    False,
    None,
]


def test_round_trip_history_channel(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (sub, pub):
            sreply = await sub.subscribe(ch)
            assert sreply["id"] is not None
            # history channel: offset/epoch present; "recovered" only answers a "recover" request
            assert sreply["offset"] in (0, None), f"empty log: last offset 0 (or null): {sreply}"
            assert isinstance(sreply["epoch"], str) and sreply["epoch"], sreply
            assert "recovered" not in sreply, sreply
            assert sreply.get("messages", []) == [], sreply

            published = await pub.publish(ch, {"hello": "world"})
            assert published["offset"] == 1, f"offsets start at 1 per epoch: {published}"
            assert published["epoch"] == sreply["epoch"], (published, sreply)

            push = await sub.message(ch)
            assert push == {
                "type": "message",
                "channel": ch,
                "data": {"hello": "world"},
                "offset": 1,
                "epoch": sreply["epoch"],
            }, push

    run(body())


def test_round_trip_plain_channel_has_no_offsets(server):
    ch = f"news/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (sub, pub):
            sreply = await sub.subscribe(ch)
            for key in ("offset", "epoch", "recovered"):
                assert key not in sreply, f"{key} only when the channel keeps history: {sreply}"
            published = await pub.publish(ch, "x")
            assert "offset" not in published and "epoch" not in published, published
            push = await sub.message(ch)
            assert push == {"type": "message", "channel": ch, "data": "x"}, push

    run(body())


def test_every_json_type_round_trips(server):
    ch = f"news/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (sub, pub):
            await sub.subscribe(ch)
            for value in JSON_VALUES:
                await pub.publish(ch, value)
            got = [m["data"] for m in await sub.messages(ch, len(JSON_VALUES))]
            assert got == JSON_VALUES

    run(body())


def test_publisher_receives_own_message_when_subscribed(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.subscribe(ch)
            await ws.publish(ch, "me")
            assert (await ws.message(ch))["data"] == "me"

    run(body())


def test_publish_without_id_still_delivers(server):
    ch = f"news/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (sub, pub):
            await sub.subscribe(ch)
            await pub.send({"type": "publish", "channel": ch, "data": {"k": 1}})
            assert (await sub.message(ch))["data"] == {"k": 1}

    run(body())


def test_order_is_preserved_per_publisher(server):
    ch = f"chat/{unique()}"
    n = 50

    async def body():
        async with ws_clients(server.ws_url, 2) as (sub, pub):
            await sub.subscribe(ch)
            for i in range(n):
                await pub.send({"type": "publish", "channel": ch, "data": i})
            msgs = await sub.messages(ch, n)
            assert [m["data"] for m in msgs] == list(range(n))
            assert [m["offset"] for m in msgs] == list(range(1, n + 1))

    run(body())


def test_single_level_wildcard(server):
    root = unique("w")

    async def body():
        async with ws_clients(server.ws_url, 2) as (sub, pub):
            await sub.subscribe(f"{root}/+/temp")
            await pub.publish(f"{root}/a/temp", 1)          # match
            await pub.publish(f"{root}/a/b/temp", 2)        # no: + is one level
            await pub.publish(f"{root}/a/humidity", 3)      # no
            await pub.publish(f"{root}/zz/temp", 4)         # match
            await sub.subscribe(f"{root}/barrier")
            await sub.barrier(pub, f"{root}/barrier")
            got = [(m["channel"], m["data"]) for m in sub.pending(lambda f: f.get("type") == "message")]
            assert got == [(f"{root}/a/temp", 1), (f"{root}/zz/temp", 4)], got

    run(body())


def test_multi_level_wildcard(server):
    root = unique("w")

    async def body():
        async with ws_clients(server.ws_url, 2) as (sub, pub):
            await sub.subscribe(f"{root}/x/#")
            await pub.publish(f"{root}/x/a", 1)
            await pub.publish(f"{root}/x/a/b/c", 2)
            await pub.publish(f"{root}/y/a", 3)   # no
            await pub.publish(f"{root}/x/z", 4)
            await sub.subscribe(f"{root}/barrier")
            await sub.barrier(pub, f"{root}/barrier")
            got = [(m["channel"], m["data"]) for m in sub.pending(lambda f: f.get("type") == "message")]
            assert got == [(f"{root}/x/a", 1), (f"{root}/x/a/b/c", 2), (f"{root}/x/z", 4)], got

    run(body())


def test_wildcard_on_history_channel_push_carries_offsets(server):
    root = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (sub, pub):
            await sub.subscribe(f"{root}/+")
            p = await pub.publish(f"{root}/one", "a")
            push = await sub.message(f"{root}/one")
            assert push["offset"] == p["offset"] == 1 and push["epoch"] == p["epoch"], (push, p)

    run(body())


def test_shared_group_delivers_each_message_to_exactly_one_member(server):
    root = unique("jobs")
    group = unique("g")
    n = 30

    async def body():
        async with ws_clients(server.ws_url, 5) as (m1, m2, m3, plain, pub):
            members = [m1, m2, m3]
            for m in members:
                await m.subscribe(f"$share/{group}/{root}/#")
            await plain.subscribe(f"{root}/#")
            for i in range(n):
                await pub.publish(f"{root}/q", i)

            # the plain subscriber sees everything once
            got_plain = [m["data"] for m in await plain.messages(f"{root}/q", n)]
            assert got_plain == list(range(n))

            async def total() -> int:
                return sum(len(m.pending(is_message(f"{root}/q"))) for m in members)

            deadline = asyncio.get_running_loop().time() + 5
            while await total() < n and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # any duplicate would show up by now
            per_member = [[f["data"] for f in m.pending(is_message(f"{root}/q"))] for m in members]
            counts = Counter(x for lst in per_member for x in lst)
            dupes = {k: v for k, v in counts.items() if v > 1}
            assert not dupes, f"delivered to more than one member: {dupes}; per member {per_member}"
            assert sorted(counts) == list(range(n)), f"missing: {set(range(n)) - set(counts)}; per member {per_member}"
            print("shared group distribution:", [len(x) for x in per_member])

    run(body())


def test_two_shared_groups_each_get_every_message(server):
    root = unique("jobs")
    ga, gb = unique("ga"), unique("gb")
    n = 12

    async def body():
        async with ws_clients(server.ws_url, 4) as (a1, a2, b1, pub):
            await a1.subscribe(f"$share/{ga}/{root}")
            await a2.subscribe(f"$share/{ga}/{root}")
            await b1.subscribe(f"$share/{gb}/{root}")
            for i in range(n):
                await pub.publish(root, i)
            assert [m["data"] for m in await b1.messages(root, n)] == list(range(n))
            deadline = asyncio.get_running_loop().time() + 5
            while len(a1.pending(is_message(root))) + len(a2.pending(is_message(root))) < n:
                assert asyncio.get_running_loop().time() < deadline, (a1.inbox, a2.inbox)
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            got = sorted(f["data"] for f in a1.pending(is_message(root)) + a2.pending(is_message(root)))
            assert got == list(range(n))

    run(body())


def test_shared_group_member_leaving(server):
    root = unique("jobs")
    group = unique("g")
    n = 10

    async def body():
        async with ws_clients(server.ws_url, 3) as (m1, m2, pub):
            shared = f"$share/{group}/{root}"
            await m1.subscribe(shared)
            await m2.subscribe(shared)
            await m1.expect({"type": "unsubscribe", "channel": shared}, "unsubscribed")
            for i in range(n):
                await pub.publish(root, i)
            assert [m["data"] for m in await m2.messages(root, n)] == list(range(n))
            assert m1.pending(is_message(root)) == []

    run(body())


def test_unsubscribe_stops_delivery(server):
    ch = f"chat/{unique()}"
    other = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (sub, pub):
            await sub.subscribe(ch)
            await sub.subscribe(other)
            await pub.publish(ch, "before")
            assert (await sub.message(ch))["data"] == "before"
            reply = await sub.expect({"type": "unsubscribe", "channel": ch}, "unsubscribed")
            assert reply["channel"] == ch
            await pub.publish(ch, "after")
            await sub.barrier(pub, other)
            await asyncio.sleep(0.2)
            assert sub.pending(is_message(ch)) == [], sub.pending()

    run(body())


def test_unsubscribe_wildcard(server):
    root = unique("w")

    async def body():
        async with ws_clients(server.ws_url, 2) as (sub, pub):
            await sub.subscribe(f"{root}/#")
            await sub.expect({"type": "unsubscribe", "channel": f"{root}/#"}, "unsubscribed")
            await sub.subscribe(f"{root}-barrier")
            await pub.publish(f"{root}/a", 1)
            await sub.barrier(pub, f"{root}-barrier")
            assert sub.pending(is_message(f"{root}/a")) == []

    run(body())


def test_resubscribe_after_unsubscribe(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.subscribe(ch)
            await ws.expect({"type": "unsubscribe", "channel": ch}, "unsubscribed")
            await ws.subscribe(ch)
            await ws.publish(ch, 7)
            assert (await ws.message(ch))["data"] == 7

    run(body())


def test_subscribers_on_other_connections_all_receive(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 4) as clients:
            *subs, pub = clients
            for s in subs:
                await s.subscribe(ch)
            await pub.publish(ch, "fan-out")
            for s in subs:
                assert (await s.message(ch))["data"] == "fan-out"

    run(body())


def test_many_subscribers_receive_everything_in_order(server):
    ch = f"chat/{unique()}"
    n_clients, n_msgs = 40, 20

    async def body():
        async with ws_clients(server.ws_url, n_clients + 1) as clients:
            *subs, pub = clients
            for s in subs:
                await s.subscribe(ch)
            for i in range(n_msgs):
                await pub.send({"type": "publish", "channel": ch, "data": i})
            for s in subs:
                got = [m["data"] for m in await s.messages(ch, n_msgs, timeout=10)]
                assert got == list(range(n_msgs))

    run(body(), timeout=60)


def test_large_message_under_default_frame_limit(server):
    ch = f"chat/{unique()}"
    blob = "b" * 60_000  # default max_frame_bytes is 65536

    async def body():
        async with ws_clients(server.ws_url, 2, compression=None) as (sub, pub):
            await sub.subscribe(ch)
            await pub.publish(ch, blob)
            assert (await sub.message(ch))["data"] == blob

    run(body())
