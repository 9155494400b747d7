"""Issue 8 over TLS: the same refusals on HTTPS/WSS, MQTT over TLS and NATS with TLS (INFO says
tls_required, the handshake follows), and mTLS with the client certificate's common name as the user.
The CA and certificates are made by the test itself (security_support.CertificateAuthority, openssl CLI)."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import nats
import pytest
from nats.errors import Error as NATSError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from interop import free_port, open_ws, run, ws_clients
from mqtt_client import V5, V311, Paho
from security_support import CertificateAuthority, make_jwt
from test_security import ADMIN_PW, ALICE_PW, basic, security_config  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> CertificateAuthority:
    authority = CertificateAuthority(tmp_path_factory.mktemp("ca"))
    authority.alice = authority.issue("alice", "alice", "extendedKeyUsage=clientAuth")
    return authority


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def tls_server(make_server, security_config, ca):
    https_port, mqtts_port = free_port(), free_port()
    srv = make_server({
        **security_config,
        "tls": {"cert_file": str(ca.server_cert), "key_file": str(ca.server_key), "client_ca_file": str(ca.ca_cert),
                "https_port": https_port, "mqtt_port": mqtts_port, "nats": True},
    })
    srv.https_port, srv.mqtts_port = https_port, mqtts_port
    wait_port(https_port)
    wait_port(mqtts_port)
    return srv


def paho_tls(srv, ca, version, **kwargs) -> Paho:
    client = Paho(srv.mqtts_port, version, connect=False, **kwargs)
    client.client.tls_set_context(ca.client_context())
    return client


def test_mqtt_over_tls_refusals(tls_server, ca):
    bad = paho_tls(tls_server, ca, V5, username="alice", password="wrong").connect(expect_success=False)
    assert bad.reason_code.value == 0x86
    for version, refusal in ((V5, 0x87), (V311, 0x80)):
        alice = paho_tls(tls_server, ca, version, username="alice", password=ALICE_PW).connect()
        try:
            assert [c.value for c in alice.subscribe("users/bob/#")] == [refusal]
            assert [c.value for c in alice.subscribe("users/alice/#")] == [0]
            alice.publish("users/alice/tls", b"over tls")
            assert alice.get().payload == b"over tls"
        finally:
            alice.disconnect()


def test_mqtt_mtls_certificate_common_name_is_the_user(tls_server, ca):
    client = Paho(tls_server.mqtts_port, V5, connect=False)
    client.client.tls_set_context(ca.client_context(ca.alice))
    client.connect()
    try:
        assert [c.value for c in client.subscribe("users/alice/#")] == [0]
        assert [c.value for c in client.subscribe("users/bob/#")] == [0x87]
    finally:
        client.disconnect()
    # Without a certificate and without credentials: refused.
    anonymous = paho_tls(tls_server, ca, V5).connect(expect_success=False)
    assert anonymous.reason_code.is_failure


def test_nats_tls_required_in_info_then_handshake(tls_server, ca):
    with socket.create_connection(("127.0.0.1", tls_server.nats_port), timeout=5) as sock:
        reader = sock.makefile("rb")
        line = reader.readline().decode()
        assert line.startswith("INFO ")
        info = json.loads(line[5:])
        assert info["tls_required"] is True and info["auth_required"] is True, info
        # Plain text after INFO: refused in nats-server's words.
        sock.sendall(b'CONNECT {"user":"alice","pass":"x"}\r\n')
        assert reader.readline() == b"-ERR 'Secure Connection - TLS Required'\r\n"
        assert reader.readline() == b""

    async def body():
        with pytest.raises(NATSError):
            await nats.connect(tls_server.nats_url, tls=ca.client_context(), user="alice", password="wrong",
                               allow_reconnect=False, connect_timeout=3)
        errors: list[Exception] = []

        async def on_error(e: Exception) -> None:
            errors.append(e)

        nc = await nats.connect(tls_server.nats_url, tls=ca.client_context(), user="alice", password=ALICE_PW,
                                allow_reconnect=False, error_cb=on_error, connect_timeout=3)
        try:
            await nc.subscribe("users.bob.x")
            sub = await nc.subscribe("users.alice.x")
            await nc.publish("users.alice.x", b"tls")
            assert (await sub.next_msg(timeout=3)).data == b"tls"
            assert any("permissions violation for subscription" in str(e) for e in errors), errors
        finally:
            await nc.close()

    run(body())


def test_https_sse_poll_and_wss_refusals(tls_server, ca):
    base = f"https://localhost:{tls_server.https_port}"
    verify = str(ca.ca_cert)
    get = tls_server.session.get
    assert get(base + "/poll?channel=users/alice/a&timeout=0", verify=verify, timeout=5).status_code == 401
    token = make_jwt("alice", grants={"sub": ["users/alice/#"]})
    r = get(base + "/poll?channel=users/bob/a&timeout=0", params={"token": token}, verify=verify, timeout=5)
    assert r.status_code == 403
    assert get(base + "/api/channels", headers=basic("admin", ADMIN_PW), verify=verify, timeout=5).status_code == 200

    async def body():
        url = f"wss://localhost:{tls_server.https_port}/ws"
        with pytest.raises(InvalidStatus) as info:
            await (await open_ws(url + "?token=bad", ssl=ca.client_context())).close()
        assert info.value.response.status_code == 401
        async with ws_clients(url, ssl=ca.client_context()) as ws:
            await ws.expect_error({"type": "connect", "token": make_jwt("u", expires_in=-5)}, "unauthorized")
            await ws.expect({"type": "connect", "token": token}, "connected")
            await ws.expect_error({"type": "subscribe", "channel": "users/bob/#"}, "permission_denied")
            await ws.expect({"type": "subscribe", "channel": "users/alice/#"}, "subscribed")

    run(body())


def test_https_mtls_certificate_is_the_identity(tls_server, ca):
    base = f"https://localhost:{tls_server.https_port}"
    cert = (str(ca.alice[0]), str(ca.alice[1]))
    get = tls_server.session.get
    ok = get(base + "/poll?channel=users/alice/a&timeout=0", cert=cert, verify=str(ca.ca_cert), timeout=5)
    assert ok.status_code in (200, 204), ok.text
    forbidden = get(base + "/poll?channel=users/bob/a&timeout=0", cert=cert, verify=str(ca.ca_cert), timeout=5)
    assert forbidden.status_code == 403

    async def body():
        url = f"wss://localhost:{tls_server.https_port}/ws"
        async with ws_clients(url, ssl=ca.client_context(ca.alice)) as ws:
            # Connected as alice by the certificate: no connect needed.
            await ws.expect({"type": "subscribe", "channel": "users/alice/#"}, "subscribed")
            await ws.expect_error({"type": "subscribe", "channel": "users/bob/#"}, "permission_denied")

    run(body())


def test_tls_listeners_from_the_frontend_sections(make_server, security_config, ca):
    """The generic spellings: `mqtt.tls_port` (here as `--tls-port mqtt=P`) and `nats.tls`."""
    mqtts_port = free_port()
    srv = make_server(
        {**security_config,
         "tls": {"cert_file": str(ca.server_cert), "key_file": str(ca.server_key), "client_ca_file": str(ca.ca_cert)},
         "nats": {"tls": True}},
        args=["--tls-port", f"mqtt={mqtts_port}"])
    srv.mqtts_port = mqtts_port
    wait_port(mqtts_port)
    alice = paho_tls(srv, ca, V5, username="alice", password=ALICE_PW).connect()
    try:
        assert [c.value for c in alice.subscribe("users/alice/#")] == [0]
    finally:
        alice.disconnect()
    with socket.create_connection(("127.0.0.1", srv.nats_port), timeout=5) as sock:
        info = json.loads(sock.makefile("rb").readline().decode()[5:])
        assert info["tls_required"] is True, info


def test_a_tls_port_without_a_certificate_is_refused_at_startup(tmp_path):
    import subprocess

    from interop import switchboard_bin

    p = subprocess.run(
        [str(switchboard_bin()), "serve", "--host", "127.0.0.1", "--port", "http=0", "--port", "mqtt=0",
         "--port", "nats=0", "--port", "amqp=0", "--tls-port", "mqtt=0", "--storage", "memory"],
        capture_output=True, text=True, timeout=15, cwd=tmp_path)
    assert p.returncode == 64 and "tls" in p.stderr, (p.returncode, p.stderr)


def test_deliveries_over_tls_are_encrypted_like_everything_else(tls_server, ca):
    """Deliveries take a fast path past the pipeline on plain connections; under TLS they must go through
    it (encrypted), on the native WebSocket, Server-Sent Events, Socket.IO and SignalR alike."""
    token = make_jwt("alice", grants={"sub": ["users/alice/#"], "pub": ["users/alice/#"]})
    channel = "users/alice/tls"
    base = f"https://localhost:{tls_server.https_port}"
    verify = str(ca.ca_cert)
    events = tls_server.session.get(
        base + "/sse", params={"channel": channel, "token": token}, stream=True, verify=verify, timeout=5
    )
    assert events.status_code == 200
    lines = events.iter_lines(chunk_size=1, decode_unicode=True)

    async def body():
        url = f"wss://localhost:{tls_server.https_port}/ws"
        async with ws_clients(url, ssl=ca.client_context()) as ws:
            await ws.expect({"type": "connect", "token": token}, "connected")
            await ws.expect({"type": "subscribe", "channel": channel}, "subscribed")
            hub = await connect(
                f"wss://localhost:{tls_server.https_port}/hubs/switchboard?access_token={token}",
                ssl=ca.client_context(),
                proxy=None,
            )
            await hub.send('{"protocol":"json","version":1}\x1e')
            assert await hub.recv() == "{}\x1e"
            await hub.send(
                '{"type":1,"invocationId":"1","target":"Subscribe","arguments":["%s"]}\x1e' % channel
            )
            assert await hub.recv() == '{"type":3,"invocationId":"1"}\x1e'
            await ws.expect({"type": "publish", "channel": channel, "data": {"n": 1}}, "published")
            signalr = json.loads((await asyncio.wait_for(hub.recv(), 5)).rstrip("\x1e"))
            await hub.close()
            return await ws.message(channel), signalr

    got, signalr = run(body())
    assert got["data"] == {"n": 1}
    assert signalr["target"] == "Receive" and signalr["arguments"][0]["data"] == {"n": 1}
    data = next(line for line in lines if line.startswith("data:"))
    events.close()
    assert '"n":1' in data.replace(" ", "")
