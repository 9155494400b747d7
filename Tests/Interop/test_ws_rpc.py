"""WebSocket /ws: request/reply (rpc, request, respond)."""

from __future__ import annotations

import asyncio
import time

from interop import run, unique, ws_clients


def _is_request(ch):
    return lambda f: f.get("type") == "request" and f.get("channel") == ch


async def _answer(responder, ch, transform, with_id=True):
    req = await responder.wait(_is_request(ch), 5, f"request on {ch}")
    assert isinstance(req.get("reply"), str) and req["reply"], req
    frame = {"type": "respond", "reply": req["reply"], "data": transform(req["data"])}
    if with_id:
        done = await responder.expect(frame, "responded")
        assert "reply" not in done or done["reply"] == req["reply"]
    else:
        await responder.send(frame)
    return req


def test_rpc_with_responder(server):
    ch = f"svc/{unique()}/echo"

    async def body():
        async with ws_clients(server.ws_url, 2) as (responder, caller):
            await responder.subscribe(ch)
            call = asyncio.ensure_future(
                caller.request({"id": 5, "type": "rpc", "channel": ch, "data": {"q": "ping"}, "timeout": 5000})
            )
            req = await _answer(responder, ch, lambda d: {"echo": d})
            assert req["data"] == {"q": "ping"}, req
            reply = await call
            assert reply == {"id": 5, "type": "reply", "data": {"echo": {"q": "ping"}}}, reply

    run(body())


def test_rpc_respond_without_id(server):
    ch = f"svc/{unique()}/upper"

    async def body():
        async with ws_clients(server.ws_url, 2) as (responder, caller):
            await responder.subscribe(ch)
            call = asyncio.ensure_future(caller.request({"type": "rpc", "channel": ch, "data": "abc", "timeout": 5000}))
            await _answer(responder, ch, lambda d: d.upper(), with_id=False)
            reply = await call
            assert reply["type"] == "reply" and reply["data"] == "ABC", reply

    run(body())


def test_rpc_to_wildcard_responder(server):
    root = f"svc/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (responder, caller):
            await responder.subscribe(f"{root}/+")
            call = asyncio.ensure_future(
                caller.request({"type": "rpc", "channel": f"{root}/sum", "data": [1, 2, 3], "timeout": 5000})
            )
            await _answer(responder, f"{root}/sum", lambda d: sum(d))
            assert (await call)["data"] == 6

    run(body())


def test_rpc_concurrent_calls_are_matched(server):
    ch = f"svc/{unique()}/double"
    n = 5

    async def body():
        async with ws_clients(server.ws_url, 2) as (responder, caller):
            await responder.subscribe(ch)
            calls = [
                asyncio.ensure_future(caller.request({"type": "rpc", "channel": ch, "data": i, "timeout": 5000}))
                for i in range(n)
            ]
            reqs = [await responder.wait(_is_request(ch), 5, "request") for _ in range(n)]
            # answer in reverse order
            for req in reversed(reqs):
                await responder.send({"type": "respond", "reply": req["reply"], "data": req["data"] * 2})
            replies = [await c for c in calls]
            assert [r["data"] for r in replies] == [i * 2 for i in range(n)], replies

    run(body())


def test_rpc_shared_group_reaches_one_member(server):
    ch = f"svc/{unique()}/work"
    group = unique("g")

    async def body():
        async with ws_clients(server.ws_url, 3) as (r1, r2, caller):
            await r1.subscribe(f"$share/{group}/{ch}")
            await r2.subscribe(f"$share/{group}/{ch}")
            call = asyncio.ensure_future(caller.request({"type": "rpc", "channel": ch, "data": 1, "timeout": 5000}))
            deadline = time.monotonic() + 5
            while not (r1.pending(_is_request(ch)) or r2.pending(_is_request(ch))):
                assert time.monotonic() < deadline, "no member received the request"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            got = len(r1.pending(_is_request(ch))) + len(r2.pending(_is_request(ch)))
            assert got == 1, (r1.inbox, r2.inbox)
            who = r1 if r1.pending(_is_request(ch)) else r2
            await _answer(who, ch, lambda d: d + 1)
            assert (await call)["data"] == 2

    run(body())


def test_rpc_no_responders_is_immediately_unavailable(server):
    ch = f"svc/{unique()}/nobody"

    async def body():
        async with ws_clients(server.ws_url) as caller:
            t0 = time.monotonic()
            err = await caller.expect_error(
                {"type": "rpc", "channel": ch, "data": 1, "timeout": 10000}, "unavailable", timeout=5
            )
            elapsed = time.monotonic() - t0
            assert elapsed < 2.0, f"'no responders' took {elapsed:.2f}s, must not wait for the timeout"
            assert "no responders" in err["message"].lower(), err

    run(body())


def test_rpc_timeout(server):
    ch = f"svc/{unique()}/silent"

    async def body():
        async with ws_clients(server.ws_url, 2) as (responder, caller):
            await responder.subscribe(ch)
            t0 = time.monotonic()
            await caller.expect_error({"type": "rpc", "channel": ch, "data": 1, "timeout": 600}, "timeout", timeout=8)
            elapsed = time.monotonic() - t0
            assert 0.5 <= elapsed < 5.0, f"timeout error after {elapsed:.2f}s for a 600 ms timeout"
            req = await responder.wait(_is_request(ch), 1, "request")
            # a late answer must not produce a second reply for the caller
            await responder.send({"type": "respond", "reply": req["reply"], "data": "late"})
            await asyncio.sleep(0.3)
            assert [f for f in caller.pending() if f.get("type") == "reply"] == [], caller.pending()

    run(body())


def test_rpc_on_wildcard_channel_is_bad_request(server):
    async def body():
        async with ws_clients(server.ws_url) as caller:
            await caller.expect_error(
                {"type": "rpc", "channel": f"svc/{unique()}/#", "data": 1, "timeout": 1000}, "bad_request"
            )

    run(body())
