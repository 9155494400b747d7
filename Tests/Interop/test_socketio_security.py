"""Socket.IO through the one authenticator (docs/security.md): a JWT in the CONNECT's `auth.token`
(or a user's password in `auth.username`/`auth.password`), CONNECT_ERROR with `data.code` when refused,
and the user's topic permissions on every request; a malformed packet closes only its own session."""

from __future__ import annotations

import asyncio

import pytest
import socketio
import websockets

from interop import run, unique
from security_support import JWT_SECRET, ISSUER, hash_password, make_jwt
from socketio_support import Raw, Stock

pytestmark = pytest.mark.switchboard_only


@pytest.fixture
def secure(make_server):
    return make_server({"security": {
        "users": [{"name": "alice", "password_hash": hash_password("pw-alice"),
                   "publish": ["users/{user}/#"], "subscribe": ["users/{user}/#"]}],
        "jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}], "issuer": ISSUER},
    }})


def test_token_and_password_logins_and_permissions(secure):
    async def body():
        async with Stock(secure.http_url, ["websocket"], auth={"token": make_jwt("alice")}) as client:
            assert (await client.subscribe("users/alice/inbox"))["channel"] == "users/alice/inbox"
            presence = await client.call("presence", "users/alice/inbox")
            assert presence.get("error", {}).get("code") in (None, "not_found")
        # alice's own rules (users/{user}/#) apply to her password login.
        async with Stock(secure.http_url, ["polling"], auth={"username": "alice", "password": "pw-alice"}) as client:
            assert (await client.subscribe("users/alice/x"))["channel"] == "users/alice/x"
            denied = await client.call("subscribe", "users/bob/inbox")
            assert denied["error"]["code"] == "permission_denied"
            denied = await client.call("publish", {"channel": "news/x", "data": 1})
            assert denied["error"]["code"] == "permission_denied"
            await client.call("publish", {"channel": "users/alice/x", "data": "hi"})
            _, _, args = await client.event("message")
            assert args[0]["data"] == "hi"

    run(body())


@pytest.mark.parametrize("auth", [None, {"token": "not-a-jwt"}, {"username": "alice", "password": "wrong"}])
def test_refused_logins_get_connect_error(secure, auth):
    async def body():
        raw = await Raw.open(secure.http_url)
        await raw.send("0" + ("" if auth is None else __import__("json").dumps(auth)))
        answer = await raw.next()
        assert answer.startswith("4{"), answer
        error = __import__("json").loads(answer[1:])
        assert error["data"]["code"] == "unauthorized" and error["message"], error
        await raw.close()
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(secure.http_url, auth=auth, transports=["websocket"], wait_timeout=3)
        await client.disconnect()

    run(body())


@pytest.mark.parametrize("garbage", ["4abc", "42{}", '42abc["x"]', "7", "4" + "5999999-[\"x\"]"])
def test_a_malformed_packet_closes_only_its_session(server, garbage):
    channel = f"chat/{unique('err')}"

    async def body():
        async with Stock(server.http_url, ["websocket"]) as bystander:
            await bystander.subscribe(channel)
            raw = await Raw.open(server.http_url)
            await raw.connect()
            await raw.conn.send(garbage)
            await asyncio.wait_for(raw.closed.wait(), 5)
            await server.apublish(channel, "still here")
            _, _, args = await bystander.event("message")
            assert args[0]["data"] == "still here"

    run(body())


def test_unknown_sid_and_bad_queries_get_engine_io_errors(server):
    base = f"{server.http_url}/socket.io/"
    unknown = server.session.get(base, params={"EIO": "4", "transport": "polling", "sid": "nope"})
    assert unknown.status_code == 400 and unknown.json() == {"code": 1, "message": "Session ID unknown"}
    assert server.session.get(base, params={"EIO": "3", "transport": "polling"}).json()["code"] == 5
    assert server.session.get(base, params={"EIO": "4", "transport": "carrier-pigeon"}).json()["code"] == 0
    assert server.session.post(base, params={"EIO": "4", "transport": "polling"}).json()["code"] == 2
    # CORS for browser pages on other origins (allowed_origins is * by default).
    preflight = server.session.options(base, headers={"Origin": "https://app.example",
                                                      "Access-Control-Request-Method": "POST"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
