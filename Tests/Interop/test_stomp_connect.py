"""STOMP CONNECT/STOMP (docs/protocols/stomp.md, as RabbitMQ's STOMP plugin): accept-version negotiation,
the CONNECTED headers, login through the server's authenticator (users, JWTs), heart-beats both ways,
and STOMP over WebSocket at /stomp with the v1x.stomp subprotocols. Checked against RabbitMQ 3.10 with
stomp_against_rabbitmq.sh; the `switchboard_only` tests need Switchboard."""

from __future__ import annotations

import re
import time

import pytest

import security_support
from security_support import ISSUER, JWT_SECRET, make_jwt
from stomp_support import ALICE, TRANSPORTS, VERSIONS, Raw, Stock, on_rabbitmq


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("accept,chosen", [
    ("1.0,1.1,1.2", "1.2"), ("1.2", "1.2"), ("1.1,1.0", "1.1"), ("1.0", "1.0"), ("1.1,2.0", "1.1"), (None, "1.0"),
])
def test_accept_version_picks_the_highest_common_version(server, transport, accept, chosen):
    raw = Raw(server, transport)
    try:
        connected = raw.connect(accept)
        assert connected["version"] == chosen, connected
        assert connected.get("session"), connected
        assert re.fullmatch(r"(Switchboard|RabbitMQ)/\S+", connected.get("server", "")), connected
        if chosen != "1.0":
            assert re.fullmatch(r"\d+,\d+", connected.get("heart-beat", "")), connected
    finally:
        raw.close()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stock_client_connects_with_its_version(server, version, transport):
    with Stock(server, version, transport) as client:
        assert client.connected.get("version", "1.0") == version, client.connected


def test_stomp_command_and_guest_login(server):
    raw = Raw(server)
    try:
        assert raw.connect("1.2", command="STOMP", login="guest", passcode="guest")["version"] == "1.2"
        assert raw.request("SEND", {"destination": "/topic/connect.check"}, "x")  # the session works
    finally:
        raw.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_common_version_is_an_error(server, transport):
    raw = Raw(server, transport)
    try:
        raw.send("CONNECT", {"accept-version": "2.0,3.1", "host": "/"})
        error = raw.expect("ERROR")
        assert "Supported versions are 1.0,1.1,1.2" in error.get("message", "") + error.text, error
        assert error.get("version") == "1.0,1.1,1.2", error  # STOMP 1.2 "Protocol Negotiation"
        if not on_rabbitmq(server):  # RabbitMQ leaves the socket open
            assert raw.wait_closed(), "the server closes after the version ERROR"
    finally:
        raw.close()


@pytest.mark.switchboard_only
def test_any_host_header_is_accepted(server):
    """RabbitMQ takes `host` as its virtual host (anything but `/` is refused); Switchboard has none."""
    for host in ("/", "example.org", "127.0.0.1"):
        raw = Raw(server)
        try:
            assert raw.connect("1.2", host=host)["version"] == "1.2"
        finally:
            raw.close()


# ----------------------------------------------------------------------------- login


@pytest.fixture(scope="module")
def users_config() -> dict:
    return {"security": {"users": [
        {"name": ALICE[0], "password_hash": security_support.hash_password(ALICE[1]), "admin": True}]}}


@pytest.mark.parametrize("version", VERSIONS)
def test_login_with_a_configured_user(make_server, users_config, version):
    srv = make_server(users_config)
    with Stock(srv, version, login=ALICE[0], passcode=ALICE[1]) as client:
        client.subscribe("/topic/login.ok", "s1")
        client.send("/topic/login.ok", "hi")
        assert client.message().body == b"hi"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wrong_password_is_refused(make_server, users_config, transport):
    srv = make_server(users_config)
    raw = Raw(srv, transport)
    try:
        raw.send("CONNECT", {"accept-version": "1.2", "host": "/", "login": ALICE[0], "passcode": "wrong"})
        error = raw.expect("ERROR")
        assert "access refused" in (error.get("message", "") + " " + error.text).lower(), error
        assert not any(f.command == "CONNECTED" for f in raw.seen)
        if not on_rabbitmq(srv):  # RabbitMQ leaves the socket open
            assert raw.wait_closed(), "the server closes after refusing the login"
    finally:
        raw.close()


@pytest.mark.switchboard_only
def test_anonymous_is_refused_once_users_are_configured(make_server, users_config):
    """RabbitMQ logs a CONNECT without login in as its default user (guest)."""
    raw = Raw(make_server(users_config))
    try:
        raw.send("CONNECT", {"accept-version": "1.2", "host": "/"})
        raw.expect("ERROR")
        assert raw.wait_closed()
    finally:
        raw.close()


@pytest.mark.switchboard_only
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_jwt_as_passcode(make_server, transport):
    srv = make_server({"security": {"jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}], "issuer": ISSUER}}})
    token = make_jwt("carol", grants={"publish": ["#"], "subscribe": ["#"]})
    with Stock(srv, "1.2", transport, login="carol", passcode=token) as client:
        client.subscribe("/topic/jwt.ok", "s1")
        client.send("/topic/jwt.ok", "with a token")
        assert client.message().body == b"with a token"
    expired = make_jwt("carol", expires_in=-60)
    refused = Stock(srv, "1.2", transport, connect=False)
    try:
        assert refused.connect("carol", expired, expect_success=False).command == "ERROR"
    finally:
        refused.disconnect()


# ----------------------------------------------------------------------------- heart-beats


def _intervals(connected, cx: int, cy: int) -> tuple[int, int]:
    """(client→server, server→client) in ms as STOMP 1.2 "Heart-beating" negotiates them; 0 = none."""
    sx, sy = (int(v) for v in connected["heart-beat"].split(","))
    return (max(cx, sy) if cx and sy else 0), (max(sx, cy) if sx and cy else 0)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_sends_heart_beats_at_the_negotiated_interval(server, transport):
    raw = Raw(server, transport)
    try:
        _, down = _intervals(raw.connect("1.2", **{"heart-beat": "0,500"}), 0, 500)
        assert 0 < down <= 5000, f"the server offers heart-beats when asked: {raw.seen[0]}"
        start = time.monotonic()
        deadline = start + 3 * down / 1000 + 1.0
        while len(raw.heartbeats) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(raw.heartbeats) >= 2, f"{len(raw.heartbeats)} heart-beats in {deadline - start:.1f}s (interval {down} ms)"
    finally:
        raw.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_silent_client_is_disconnected_and_a_beating_one_is_not(server, transport):
    silent, beating = Raw(server, transport), Raw(server, transport)
    try:
        start = time.monotonic()
        up, _ = _intervals(silent.connect("1.2", **{"heart-beat": "500,0"}), 500, 0)
        assert 0 < up <= 5000, f"the server checks a client that promises heart-beats: {silent.seen[0]}"
        up2, _ = _intervals(beating.connect("1.2", **{"heart-beat": "500,0"}), 500, 0)
        # The beating client sends an EOL every half interval for as long as the silent one may live.
        limit = start + 4 * up / 1000 + 1.5
        while not silent.closed and time.monotonic() < limit:
            beating.send_raw(b"\n")
            time.sleep(up2 / 2000)
        elapsed = time.monotonic() - start
        assert silent.wait_closed(0.1), f"a silent client is still connected after {elapsed:.1f}s (interval {up} ms)"
        assert elapsed >= up / 1000, f"closed after {elapsed:.2f}s, before one interval ({up} ms)"
        assert beating.request("SEND", {"destination": "/topic/hb.alive"}, "x"), "the beating client is still served"
    finally:
        silent.close()
        beating.close()


@pytest.mark.parametrize("version,transport", [("1.1", "tcp"), ("1.2", "ws")])
def test_stock_client_heart_beats_keep_the_connection(server, version, transport):
    with Stock(server, version, transport, heartbeats=(500, 500)) as client:
        up, down = _intervals(client.connected, 500, 500)
        assert up and down, client.connected
        client.subscribe("/topic/hb.stock", "s1")
        time.sleep(2.5 * max(up, down) / 1000)  # outlive the timeout of a silent client (heart-beats flow meanwhile)
        client.send("/topic/hb.stock", "still here")
        assert client.message().body == b"still here"


# ----------------------------------------------------------------------------- WebSocket


@pytest.mark.parametrize("subprotocol", ["v12.stomp", "v11.stomp", "v10.stomp"])
def test_websocket_subprotocol_is_selected(server, subprotocol):
    raw = Raw(server, "ws", [subprotocol])
    try:
        assert raw.subprotocol == subprotocol
        assert raw.connect("1.0,1.1,1.2")["version"]
    finally:
        raw.close()
