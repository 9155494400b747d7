"""WebSocket /ws: handshake, subprotocol negotiation, origin check, connect/auth."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from websockets.exceptions import InvalidStatus

from interop import open_ws, run, unique, ws_clients

TOKENS = {"tok-alice": "alice", "tok-bob": "bob"}
AUTH_CONFIG = {"anonymous": False, "tokens": TOKENS}


def _json_error(exc: InvalidStatus) -> dict:
    body = exc.response.body or b""
    try:
        return json.loads(body)
    except ValueError:
        raise AssertionError(f"HTTP {exc.response.status_code} body is not JSON: {body!r:.300}") from None


# ---------------------------------------------------------------- subprotocols


def test_no_subprotocol_offered_is_accepted_as_v1(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            # The client offered nothing, so the server must not pick one (RFC 6455 §4.1).
            assert ws.subprotocol is None
            assert (await ws.request({"type": "ping"}))["type"] == "pong"

    run(body())


def test_offered_switchboard_v1_is_selected(server):
    async def body():
        async with ws_clients(server.ws_url, subprotocols=["switchboard.v1"]) as ws:
            assert ws.subprotocol == "switchboard.v1"
            assert (await ws.request({"type": "ping"}))["type"] == "pong"

    run(body())


def test_v1_selected_among_several_offers(server):
    async def body():
        async with ws_clients(server.ws_url, subprotocols=["mqtt", "switchboard.v1"]) as ws:
            assert ws.subprotocol == "switchboard.v1"

    run(body())


def test_unsupported_subprotocol_is_http_400(server):
    async def body():
        with pytest.raises(InvalidStatus) as info:
            ws = await open_ws(server.ws_url, subprotocols=["switchboard.v2", "chat"])
            await ws.close()
        assert info.value.response.status_code == 400
        err = _json_error(info.value)
        assert err["error"]["code"] == "bad_request", err
        assert "switchboard.v1" in err["error"]["message"], err

    run(body())


def test_x_version_states_the_protocol_version(server):
    """API versioning on upgrade (issue 20): `X-Version: 1` (or `v1`) is served; another version is
    refused before the upgrade with 426 and a body naming the versions served."""

    async def body():
        for served in ("1", "v1"):
            async with ws_clients(server.ws_url, additional_headers={"X-Version": served}) as ws:
                assert (await ws.request({"type": "ping"}))["type"] == "pong"
        with pytest.raises(InvalidStatus) as info:
            ws = await open_ws(server.ws_url, additional_headers={"X-Version": "2"})
            await ws.close()
        assert info.value.response.status_code == 426
        err = _json_error(info.value)
        assert err["error"]["code"] == "unsupported_version", err
        assert "versions served: 1" in err["error"]["message"], err

    run(body())


def test_origin_allowlist(make_server):
    srv = make_server({"allowed_origins": ["https://good.example"]})

    async def body():
        async with ws_clients(srv.ws_url, origin="https://good.example") as ws:
            assert (await ws.request({"type": "ping"}))["type"] == "pong"
        with pytest.raises(InvalidStatus) as info:
            ws = await open_ws(srv.ws_url, origin="https://evil.example")
            await ws.close()
        assert info.value.response.status_code == 403
        err = _json_error(info.value)
        assert isinstance(err["error"]["code"], str) and isinstance(err["error"]["message"], str), err

    run(body())


# ---------------------------------------------------------------- connect


def test_anonymous_needs_no_connect(server):
    ch = f"news/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.subscribe(ch)
            await ws.publish(ch, {"hello": 1})
            push = await ws.message(ch)
            assert push["data"] == {"hello": 1}

    run(body())


def test_connect_anonymous(server):
    async def body():
        async with ws_clients(server.ws_url, subprotocols=["switchboard.v1"]) as ws:
            reply = await ws.request({"id": 1, "type": "connect", "name": "anon-tester"})
            assert reply["type"] == "connected", reply
            assert reply["id"] == 1
            assert isinstance(reply["client"], str) and reply["client"], reply
            assert reply["version"] == "1", reply
            assert reply["ping"] == 25, reply  # default ping_interval_seconds

    run(body())


def test_connect_client_ids_are_distinct(server):
    async def body():
        async with ws_clients(server.ws_url, 2) as (a, b):
            ca = await a.expect({"type": "connect"}, "connected")
            cb = await b.expect({"type": "connect"}, "connected")
            assert ca["client"] != cb["client"]

    run(body())


def test_connect_with_token(make_server):
    srv = make_server(AUTH_CONFIG)
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(srv.ws_url) as ws:
            reply = await ws.expect({"type": "connect", "token": "tok-alice", "name": "Alice"}, "connected")
            await ws.subscribe(ch)
            presence = await ws.expect({"type": "presence", "channel": ch}, "presence")
            me = [c for c in presence["clients"] if c["client"] == reply["client"]]
            assert me and me[0]["user"] == "alice" and me[0]["name"] == "Alice", presence

    run(body())


def test_bad_token_is_unauthorized_then_requests_refused(make_server):
    srv = make_server(AUTH_CONFIG)
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(srv.ws_url) as ws:
            await ws.expect_error({"type": "connect", "token": "tok-mallory"}, "unauthorized")
            # still open; ping is allowed, everything else but connect is refused
            assert (await ws.request({"type": "ping"}))["type"] == "pong"
            await ws.expect_error({"type": "subscribe", "channel": ch}, "unauthorized")
            await ws.expect_error({"type": "publish", "channel": ch, "data": 1}, "unauthorized")
            # a later connect with a good token succeeds
            await ws.expect({"type": "connect", "token": "tok-bob"}, "connected")
            await ws.subscribe(ch)

    run(body())


def test_missing_token_when_not_anonymous(make_server):
    srv = make_server(AUTH_CONFIG)
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(srv.ws_url) as ws:
            # no connect at all
            await ws.expect_error({"type": "subscribe", "channel": ch}, "unauthorized")
            await ws.expect_error({"type": "publish", "channel": ch, "data": 1}, "unauthorized")
            # connect without a token
            await ws.expect_error({"type": "connect", "name": "nobody"}, "unauthorized")
            await ws.expect_error({"type": "history", "channel": ch, "limit": 1}, "unauthorized")

    run(body())


def test_unauthorized_client_receives_nothing(make_server):
    srv = make_server(AUTH_CONFIG)
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(srv.ws_url, 2) as (good, bad):
            await good.expect({"type": "connect", "token": "tok-alice"}, "connected")
            await bad.expect_error({"type": "subscribe", "channel": ch}, "unauthorized")
            await good.subscribe(ch)
            await good.publish(ch, "x")
            await good.message(ch)
            assert bad.pending(lambda f: f.get("type") == "message") == []

    run(body())


def test_bad_token_on_anonymous_server(server):
    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.expect_error({"type": "connect", "token": "no-such-token"}, "unauthorized")

    run(body())


def test_connected_at_in_presence_is_iso8601(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            me = (await ws.expect({"type": "connect"}, "connected"))["client"]
            await ws.subscribe(ch)
            presence = await ws.expect({"type": "presence", "channel": ch}, "presence")
            entry = next(c for c in presence["clients"] if c["client"] == me)
            at = dt.datetime.fromisoformat(entry["connected_at"])
            assert at.tzinfo is not None, entry
            assert abs((dt.datetime.now(dt.timezone.utc) - at).total_seconds()) < 120, entry

    run(body())
