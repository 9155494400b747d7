"""Issue 8: one security model for every protocol. Static users (PBKDF2 hashes from `switchboard
hash-password`), HS256 JWTs, per-topic permissions with {user} substitution, and each protocol's own
refusal, driven by stock clients: paho-mqtt, nats-py, websockets, requests (docs/security.md has the table)."""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
import time

import nats
import pytest
import requests
from nats.errors import Error as NATSError
from websockets.exceptions import InvalidStatus

from interop import open_ws, run, unique, ws_clients
from mqtt_client import V5, V311, Paho, Raw, packet, s, vbi
from security_support import ISSUER, JWT_SECRET, hash_password, make_jwt

ALICE_PW = "alice-password"
ADMIN_PW = "admin-password"


@pytest.fixture(scope="module")
def security_config() -> dict:
    return {
        "security": {
            "users": [
                {"name": "alice", "password_hash": hash_password(ALICE_PW), "roles": ["reader"],
                 "publish": ["users/{user}/#"], "subscribe": ["users/{user}/#"]},
                {"name": "admin", "password_hash": hash_password(ADMIN_PW), "admin": True},
            ],
            "roles": {"reader": {"subscribe": ["news/#"]}},
            "jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}], "issuer": ISSUER},
        }
    }


@pytest.fixture
def secure(make_server, security_config):
    return make_server(security_config)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# ----------------------------------------------------------------------------- MQTT


def mqtt_connect_packet(cid: str, version: int, username: str | None, password: str | None,
                        will_topic: str | None = None) -> bytes:
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    flags |= 0x04 if will_topic is not None else 0
    body = s("MQTT") + bytes([version, flags]) + struct.pack("!H", 30)
    if version == 5:
        body += vbi(0)
    body += s(cid)
    if will_topic is not None:
        body += (vbi(0) if version == 5 else b"") + s(will_topic) + s("gone")
    if username is not None:
        body += s(username)
    if password is not None:
        body += s(password)
    return packet(0x10, body)


def test_mqtt_bad_password_is_refused_0x86_and_4(secure):
    refused = Paho(secure.mqtt_port, V5, username="alice", password="wrong", connect=False).connect(
        expect_success=False)
    assert refused.reason_code.value == 0x86, refused.reason_code
    raw = Raw(secure.mqtt_port)
    raw.send(mqtt_connect_packet("c311", 4, "alice", "wrong"))
    assert raw.expect(2) == b"\x00\x04", "3.1.1 CONNACK return code 4: bad user name or password"
    assert raw.closed()
    # No credentials at all: anonymous access is off once users are configured.
    anonymous = Paho(secure.mqtt_port, V5, connect=False).connect(expect_success=False)
    assert anonymous.reason_code.is_failure
    ok = Paho(secure.mqtt_port, V5, username="alice", password=ALICE_PW)
    ok.disconnect()


@pytest.mark.parametrize("version,refusal", [(V5, 0x87), (V311, 0x80)], ids=["5.0", "3.1.1"])
def test_mqtt_forbidden_subscribe_is_refused_in_suback(secure, version, refusal):
    alice = Paho(secure.mqtt_port, version, username="alice", password=ALICE_PW)
    try:
        codes = alice.subscribe("users/bob/#")
        assert [c.value for c in codes] == [refusal]
        assert [c.value for c in alice.subscribe("users/alice/#", qos=1)] == [1]
        assert [c.value for c in alice.subscribe("news/+")] == [0]  # from the role
        assert [c.value for c in alice.subscribe("#")] == [refusal]
    finally:
        alice.disconnect()


ACL_CONFIG = {"security": {"anonymous_permissions": {"acl": [
    {"permission": "deny", "action": "subscribe", "topics": ["test/nosubscribe"]},
    {"permission": "deny", "action": "all", "topics": ["secret/#"]},
    {"permission": "allow", "action": "all", "topics": ["#"]},
]}}}


@pytest.mark.parametrize("version,refusal", [(V5, 0x87), (V311, 0x80)], ids=["5.0", "3.1.1"])
def test_mqtt_acl_deny_rule_refuses_one_topic_and_filters_broader_subscriptions(make_server, version, refusal):
    """Ordered allow/deny rules (EMQX's ACL): a deny refuses the subscriptions it covers (SUBACK 0x87/0x80,
    what Paho's test_subscribe_failure expects), and a broader subscription never receives its topics."""
    srv = make_server(ACL_CONFIG)
    client = Paho(srv.mqtt_port, version)
    publisher = Paho(srv.mqtt_port, V5)
    try:
        assert [c.value for c in client.subscribe("test/nosubscribe")] == [refusal]
        assert [c.value for c in client.subscribe("secret/+")] == [refusal]
        assert [c.value for c in client.subscribe("#", qos=1)] == [1]
        publisher.publish("secret/plans", "hidden", qos=1)
        publisher.publish("test/nosubscribe", "hidden too", qos=1)
        publisher.publish("news/today", "visible", qos=1)
        message = client.get()
        assert (message.topic, message.payload) == ("news/today", b"visible")
        assert client.nothing(0.5), "a denied topic reached a broader subscription"
    finally:
        client.disconnect()
        publisher.disconnect()


def test_acl_deny_applies_to_nats_and_publishers_too(make_server):
    srv = make_server(ACL_CONFIG)

    async def body():
        nc = await nats.connect(srv.nats_url)
        got: list[str] = []

        async def collect(message):
            got.append(message.subject)

        await nc.subscribe(">", cb=collect)
        await nc.flush()
        await nc.publish("news.x", b"1")
        await nc.publish("secret.x", b"2")  # denied to publish: dropped (and denied to read)
        await nc.flush()
        await asyncio.sleep(0.3)
        await nc.close()
        return got

    assert run(body()) == ["news.x"]


def test_mqtt_forbidden_publish_puback_0x87_and_nothing_delivered(secure):
    watcher = Paho(secure.mqtt_port, V5, username="admin", password=ADMIN_PW)
    watcher.subscribe("users/#")
    raw = Raw(secure.mqtt_port)
    try:
        raw.send(mqtt_connect_packet("alice-raw", 5, "alice", ALICE_PW))
        assert raw.expect(2)[1] == 0
        # QoS 1 to someone else's tree: PUBACK with reason 0x87 Not Authorized.
        body = s("users/bob/x") + struct.pack("!H", 7) + vbi(0) + b"forbidden"
        raw.send(packet(0x32, body))
        ack = raw.expect(4)
        assert ack[:2] == b"\x00\x07" and ack[2] == 0x87, ack
        # Allowed: delivered.
        raw.send(packet(0x32, s("users/alice/x") + struct.pack("!H", 8) + vbi(0) + b"allowed"))
        ack = raw.expect(4)
        assert ack[:2] == b"\x00\x08" and ack[2:3] in (b"", b"\x00"), ack  # success (the code may be omitted)
        message = watcher.get()
        assert (message.topic, message.payload) == ("users/alice/x", b"allowed")
        watcher.nothing()
    finally:
        watcher.disconnect()


@pytest.mark.parametrize("version,refusal", [(5, 0x87), (4, 5)], ids=["5.0", "3.1.1"])
def test_mqtt_forbidden_will_topic_refuses_the_connect(secure, version, refusal):
    raw = Raw(secure.mqtt_port)
    raw.send(mqtt_connect_packet("alice-will", version, "alice", ALICE_PW, will_topic="users/bob/will"))
    assert raw.expect(2)[1] == refusal
    assert raw.closed()
    allowed = Raw(secure.mqtt_port)
    allowed.send(mqtt_connect_packet("alice-will-ok", version, "alice", ALICE_PW, will_topic="users/alice/will"))
    assert allowed.expect(2)[1] == 0


def test_mqtt_3_1_1_forbidden_publish_is_acknowledged_and_dropped(secure):
    watcher = Paho(secure.mqtt_port, V5, username="admin", password=ADMIN_PW)
    watcher.subscribe("users/#")
    alice = Paho(secure.mqtt_port, V311, username="alice", password=ALICE_PW)
    try:
        alice.publish("users/bob/x", b"dropped", qos=1)  # PUBACK arrives (3.1.1 has no refusal code)
        alice.publish("users/alice/x", b"kept", qos=1)
        assert watcher.get().payload == b"kept"
        watcher.nothing()
    finally:
        alice.disconnect()
        watcher.disconnect()


def test_mqtt_jwt_in_the_password_with_claim_grants(secure):
    token = make_jwt("device-7", grants={"pub": ["devices/{user}/#"], "sub": ["devices/{user}/#"]})
    device = Paho(secure.mqtt_port, V5, username="token", password=token)
    try:
        assert [c.value for c in device.subscribe("devices/device-7/#")] == [0]
        assert [c.value for c in device.subscribe("devices/other/#")] == [0x87]
        device.publish("devices/device-7/t", b"1")
        assert device.get().payload == b"1"
    finally:
        device.disconnect()
    expired = Paho(secure.mqtt_port, V5, username="token", password=make_jwt("d", expires_in=-10), connect=False)
    assert expired.connect(expect_success=False).reason_code.value == 0x86


# ----------------------------------------------------------------------------- NATS


def test_nats_auth_error_and_permissions_violation(secure):
    async def body():
        with pytest.raises(NATSError):
            await nats.connect(secure.nats_url, user="alice", password="wrong", allow_reconnect=False,
                               connect_timeout=3)
        errors: list[Exception] = []

        async def on_error(e: Exception) -> None:
            errors.append(e)

        nc = await nats.connect(secure.nats_url, user="alice", password=ALICE_PW, allow_reconnect=False,
                                error_cb=on_error, connect_timeout=3)
        try:
            await nc.subscribe("users.bob.>")
            await nc.flush()
            await nc.publish("users.bob.x", b"no")
            ok = await nc.subscribe("users.alice.x")
            await nc.publish("users.alice.x", b"yes")
            assert (await ok.next_msg(timeout=3)).data == b"yes"
            texts = [str(e) for e in errors]
            assert 'nats: permissions violation for subscription to "users.bob.>"' in texts, texts
            assert 'nats: permissions violation for publish to "users.bob.x"' in texts, texts
            assert nc.is_connected, "a permissions violation does not close the connection"
        finally:
            await nc.close()

    run(body())


def test_nats_jwt_as_auth_token_and_expiry(secure):
    async def body():
        token = make_jwt("svc", expires_in=2, grants={"pub": ["svc/#"], "sub": ["svc/#"]})
        closed = asyncio.Event()
        errors: list[Exception] = []

        async def on_error(e: Exception) -> None:
            errors.append(e)

        async def on_closed() -> None:
            closed.set()

        nc = await nats.connect(secure.nats_url, token=token, allow_reconnect=False, error_cb=on_error,
                                closed_cb=on_closed, connect_timeout=3)
        sub = await nc.subscribe("svc.a")
        await nc.publish("svc.a", b"1")
        assert (await sub.next_msg(timeout=3)).data == b"1"
        # The token runs out: the server says so and closes.
        await asyncio.wait_for(closed.wait(), 8)
        assert any("user authentication expired" in str(e) for e in errors) or nc.last_error is not None

    run(body())


# ----------------------------------------------------------------------------- native WebSocket


def test_ws_bad_and_expired_token(secure):
    async def body():
        async with ws_clients(secure.ws_url) as ws:
            err = await ws.expect_error({"type": "connect", "token": "not-a-jwt"}, "unauthorized")
            assert err["message"] == "malformed token", err
            err = await ws.expect_error({"type": "connect", "token": make_jwt("u", expires_in=-5)}, "unauthorized")
            assert err["message"] == "token expired", err
            forged = make_jwt("u", secret="another-secret-0123456789abcdef-0123456789")
            err = await ws.expect_error({"type": "connect", "token": forged}, "unauthorized")
            assert err["message"] == "invalid token signature", err
            await ws.expect_error({"type": "subscribe", "channel": "news/a"}, "unauthorized")
        # The token on the upgrade itself: a bad one is HTTP 401.
        with pytest.raises(InvalidStatus) as info:
            await (await open_ws(secure.ws_url + "?token=bad")).close()
        assert info.value.response.status_code == 401

    run(body())


def test_ws_connect_with_a_user_and_password(secure):
    """A page that signs in with a password (the dashboard) connects with it: requests sent right behind
    the `connect` wait for its answer (the password hash is checked off the event loop), then run as that
    user; a wrong password is `unauthorized` and leaves the connection unauthenticated."""
    async def body():
        async with ws_clients(secure.ws_url) as ws:
            err = await ws.expect_error({"type": "connect", "user": "alice", "password": "wrong"}, "unauthorized")
            assert err["message"] == "bad user name or password", err
            err = await ws.expect_error({"type": "connect", "user": "nobody", "password": ALICE_PW}, "unauthorized")
            assert err["message"] == "bad user name or password", err
            await ws.expect_error({"type": "subscribe", "channel": "users/alice/x"}, "unauthorized")
            # connect, then at once a subscribe the user may make and one it may not.
            await ws.send({"id": 10, "type": "connect", "user": "alice", "password": ALICE_PW, "name": "tab"})
            await ws.send({"id": 11, "type": "subscribe", "channel": "users/alice/x"})
            await ws.send({"id": 12, "type": "subscribe", "channel": "users/bob/x"})
            connected = await ws.wait(lambda f: f.get("id") == 10)
            assert connected["type"] == "connected", connected
            assert (await ws.wait(lambda f: f.get("id") == 11))["type"] == "subscribed"
            refused = await ws.wait(lambda f: f.get("id") == 12)
            assert refused["type"] == "error" and refused["code"] == "permission_denied", refused
        async with ws_clients(secure.ws_url) as ws:
            await ws.expect({"type": "connect", "user": "admin", "password": ADMIN_PW}, "connected")
            listed = secure.get("/api/connections", headers=basic("admin", ADMIN_PW)).json()["connections"]
            assert any(c["protocol"] == "websocket" and c["user"] == "admin" for c in listed), listed

    run(body())


def test_ws_permission_denied(secure):
    async def body():
        token = make_jwt("carol", grants={"pub": ["chat/{user}"], "sub": ["chat/#"]})
        async with ws_clients(secure.ws_url) as ws:
            connected = await ws.expect({"type": "connect", "token": token}, "connected")
            assert connected["expires"] > time.time()
            await ws.expect_error({"type": "subscribe", "channel": "private/x"}, "permission_denied")
            await ws.expect_error({"type": "subscribe", "channel": "#"}, "permission_denied")
            await ws.expect_error({"type": "publish", "channel": "chat/dave", "data": 1}, "permission_denied")
            await ws.expect_error({"type": "history", "channel": "private/x"}, "permission_denied")
            await ws.expect_error({"type": "rpc", "channel": "private/x", "data": 1}, "permission_denied")
            await ws.expect({"type": "subscribe", "channel": "chat/#"}, "subscribed")
            await ws.expect({"type": "publish", "channel": "chat/carol", "data": 2}, "published")
            assert (await ws.message("chat/carol"))["data"] == 2

    run(body())


def test_ws_token_expiry_closes_unless_refreshed(secure):
    async def body():
        async with ws_clients(secure.ws_url, count=2) as (stale, fresh):
            await stale.expect({"type": "connect", "token": make_jwt("eve", expires_in=2)}, "connected")
            await fresh.expect({"type": "connect", "token": make_jwt("eve", expires_in=2)}, "connected")
            refreshed = await fresh.expect({"type": "refresh", "token": make_jwt("eve", expires_in=60)}, "refreshed")
            assert refreshed["expires"] > time.time() + 30
            await fresh.expect_error({"type": "refresh", "token": make_jwt("mallory")}, "unauthorized")
            assert await stale.wait_closed(timeout=8) == 1008
            assert stale.close_reason == "token expired"
            assert (await fresh.request({"type": "ping"}))["type"] == "pong"

    run(body())


# ----------------------------------------------------------------------------- SSE, long polling, HTTP API


def test_sse_and_poll_401_and_403(secure):
    get = secure.session.get
    url = secure.http_url
    for path in ("/sse?channel=users/alice/a", "/poll?channel=users/alice/a&timeout=0"):
        assert get(url + path, timeout=5).status_code == 401
        bad = get(url + path, headers={"Authorization": "Bearer nope"}, timeout=5)
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"
    token = make_jwt("alice", grants={"sub": ["users/alice/#"]})
    forbidden = get(url + "/poll?channel=users/bob/a&timeout=0", params={"token": token}, timeout=5)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "permission_denied"
    forbidden = get(url + "/sse?channel=users/bob/a", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert forbidden.status_code == 403
    assert get(url + "/poll?channel=users/alice/a&timeout=0", params={"token": token}, timeout=5).status_code in (200, 204)
    with get(url + "/sse?channel=users/alice/a", headers=basic("alice", ALICE_PW), stream=True, timeout=5) as r:
        assert r.status_code == 200


def test_api_needs_admin_or_key(secure):
    url = secure.http_url + "/api/channels"
    get = secure.session.get
    assert get(url, timeout=5).status_code == 401
    assert get(url, headers=basic("alice", ALICE_PW), timeout=5).status_code == 403
    assert get(url, headers=basic("admin", ADMIN_PW), timeout=5).status_code == 200
    assert get(url, headers=basic("admin", "wrong"), timeout=5).status_code == 401
    admin_token = make_jwt("ops", grants={"admin": True})
    assert get(url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=5).status_code == 200


def test_foreign_origin_is_refused(make_server, security_config):
    srv = make_server({**security_config, "allowed_origins": ["https://app.example"]})
    token = make_jwt("alice", grants={"sub": ["#"]})
    r = srv.session.get(srv.http_url + "/poll?channel=a&timeout=0", params={"token": token},
                        headers={"Origin": "https://evil.example"}, timeout=5)
    assert r.status_code == 403

    async def body():
        with pytest.raises(InvalidStatus) as info:
            await (await open_ws(srv.ws_url, origin="https://evil.example")).close()
        assert info.value.response.status_code == 403

    run(body())


def test_startup_log_says_whether_anonymous_is_on(server, secure):
    assert "anonymous access is ON" in server.log_path.read_text()
    assert "anonymous access is off" in secure.log_path.read_text()


def test_hash_password_output_is_not_the_password():
    hashed = hash_password("hunter2")
    assert hashed.startswith("pbkdf2-sha256$1000$") and "hunter2" not in hashed


def test_mqtt_token_expiry_disconnects_with_0x87(secure):
    client = Paho(secure.mqtt_port, V5, username="token", password=make_jwt("short", expires_in=2))
    assert client.disconnected.wait(8), "not disconnected when the token expired"
    assert client.disconnect_reason.value == 0x87, client.disconnect_reason
    client.client.loop_stop()


def test_sse_stream_ends_when_its_token_expires(secure):
    token = make_jwt("alice", expires_in=2, grants={"sub": ["users/alice/#"]})
    started = time.monotonic()
    with secure.session.get(secure.http_url + "/sse?channel=users/alice/a", params={"token": token}, stream=True,
                            timeout=10) as r:
        assert r.status_code == 200
        body = b"".join(r.iter_content(chunk_size=None))
    assert b": token expired" in body
    assert time.monotonic() - started < 8
