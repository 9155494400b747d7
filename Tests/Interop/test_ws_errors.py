"""WebSocket /ws: ping/pong and every error path. After an error frame the
connection must stay open and usable."""

from __future__ import annotations

import pytest

from interop import run, unique, ws_clients


async def _still_usable(ws):
    pong = await ws.request({"type": "ping"})
    assert pong["type"] == "pong", pong
    assert not ws.closed


def test_ping_pong(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.send({"type": "ping"})
            pong = await ws.wait(lambda f: f.get("type") == "pong", 5, "pong")
            assert pong == {"type": "pong"}, pong
            reply = await ws.request({"id": 99, "type": "ping"})
            assert reply == {"id": 99, "type": "pong"}, reply

    run(body())


def test_invalid_json(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.send("{not json")
            err = await ws.wait(lambda f: f.get("type") == "error", 5, "error for invalid JSON")
            assert err["code"] == "bad_request", err
            assert isinstance(err["message"], str), err
            await _still_usable(ws)

    run(body())


@pytest.mark.parametrize("raw", ["[1, 2, 3]", "\"just a string\"", "42", "null"])
def test_json_that_is_not_an_object(server, raw):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.send(raw)
            err = await ws.wait(lambda f: f.get("type") == "error", 5, f"error for {raw}")
            assert err["code"] == "bad_request", err
            await _still_usable(ws)

    run(body())


def test_unknown_type(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            err = await ws.expect_error({"id": 4, "type": "frobnicate", "channel": "chat/x"}, "bad_request")
            assert err["id"] == 4
            await _still_usable(ws)

    run(body())


def test_missing_type(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error({"id": 8, "channel": "chat/x"}, "bad_request")
            await _still_usable(ws)

    run(body())


@pytest.mark.parametrize("kind", ["subscribe", "unsubscribe", "publish", "history", "presence", "rpc"])
def test_missing_channel(server, kind):
    frame = {"type": kind}
    if kind in ("publish", "rpc"):
        frame["data"] = 1

    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error(frame, "bad_request")
            await _still_usable(ws)

    run(body())


@pytest.mark.parametrize("channel", ["", "a/#/b", "a/b#", "a/+b/c", "$share/", "$share/g"])
def test_subscribe_invalid_channel(server, channel):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error({"type": "subscribe", "channel": channel}, "bad_request")
            await _still_usable(ws)

    run(body())


@pytest.mark.parametrize("channel", ["", "a/#/b"])
def test_publish_invalid_channel(server, channel):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error({"type": "publish", "channel": channel, "data": 1}, "bad_request")

    run(body())


def test_channel_of_wrong_type(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error({"type": "subscribe", "channel": 42}, "bad_request")
            await _still_usable(ws)

    run(body())


@pytest.mark.parametrize("suffix", ["+", "#", "+/x"])
def test_publish_to_wildcard(server, suffix):
    ch = f"chat/{unique()}/{suffix}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error({"id": 4, "type": "publish", "channel": ch, "data": 1}, "bad_request")
            await _still_usable(ws)

    run(body())


def test_subscribe_twice(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (ws, pub):
            await ws.subscribe(ch)
            await ws.expect_error({"type": "subscribe", "channel": ch}, "bad_request")
            # the original subscription is intact and not doubled
            await pub.publish(ch, "once")
            assert (await ws.message(ch))["data"] == "once"
            await ws.barrier(pub, ch)
            assert ws.pending(lambda f: f.get("type") == "message" and f.get("data") == "once") == []

    run(body())


def test_unsubscribe_unknown(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error({"type": "unsubscribe", "channel": f"chat/{unique()}"}, "not_found")
            await _still_usable(ws)

    run(body())


def test_binary_frame(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.send(b'{"type":"ping"}')
            err = await ws.wait(lambda f: f.get("type") in ("error", "pong"), 5, "error for binary frame")
            assert err.get("type") == "error" and err.get("code") == "bad_request", err
            await _still_usable(ws)

    run(body())


def test_error_does_not_affect_other_connections(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 2) as (good, bad):
            await good.subscribe(ch)
            await bad.send("\x00\xff garbage")
            await bad.send(b"\x00\x01\x02")
            await bad.wait(lambda f: f.get("type") == "error", 5, "error")
            await bad.publish(ch, "still fine")
            assert (await good.message(ch))["data"] == "still fine"

    run(body())


def test_frame_over_max_size_closes_1009(make_server):
    srv = make_server({"limits": {"max_frame_bytes": 1024}})
    ch = f"chat/{unique()}"

    async def body():
        # compression off so the frame on the wire really is over the limit
        async with ws_clients(srv.ws_url, compression=None) as ws:
            await ws.publish(ch, "x" * 800)  # under the limit: fine
            await ws.send({"type": "publish", "channel": ch, "data": "y" * 4096})
            code = await ws.wait_closed(5)
            assert code == 1009, f"close code {code} reason {ws.close_reason!r}"

    run(body())


def test_unknown_fields_are_ignored(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect({"type": "subscribe", "channel": ch, "x-extra": {"a": 1}}, "subscribed")

    run(body())
