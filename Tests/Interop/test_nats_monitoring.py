"""Issue 27, NATS: nats-server's monitoring endpoints on `nats.monitor_port` (nats-server's `-m`),
`no_auth_user`, and lame-duck mode (SIGUSR2 and the admin API), driven by nats-py.

The interop harness gives every frontend's `port` a free port; the monitoring port is a second port of
the NATS frontend, off by default, so these tests set it themselves: `--set nats.monitor_port=<free>`."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

import nats
import pytest
import requests

from interop import free_port, run, unique
from nats_support import subscribed
from security_support import hash_password

TIMEOUT = 5.0
API_KEY = "monitoring-test-key"


def monitored(make_server, config=None, args=()):
    port = free_port()
    srv = make_server(config or {}, args=["--set", f"nats.monitor_port={port}", *args])
    srv.monitor_url = f"http://127.0.0.1:{port}"
    return srv


def get(srv, path: str) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(srv.monitor_url + path, timeout=TIMEOUT)


def test_monitoring_endpoints_with_nats_py_clients(make_server):
    srv = monitored(make_server)

    async def body():
        subject = unique("m")
        sub = await nats.connect(srv.nats_url, name="watcher", allow_reconnect=False)
        pub = await nats.connect(srv.nats_url, name="talker", allow_reconnect=False)
        try:
            received = []

            async def collect(msg):
                received.append(msg)

            await sub.subscribe(subject, cb=collect)
            await sub.subscribe(subject + ".*", queue="workers")
            await subscribed(srv, sub, subject)
            for payload in (b"one", b"two", b"three"):
                await pub.publish(subject, payload)
            await pub.flush()
            deadline = time.monotonic() + TIMEOUT
            while len(received) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)

            varz = (await asyncio.to_thread(get, srv, "/varz")).json()
            assert varz["server_id"].startswith("NSB")
            assert varz["port"] == srv.nats_port
            assert varz["connections"] == 2
            assert varz["in_msgs"] == 3 and varz["in_bytes"] == 11
            assert varz["out_msgs"] == 3 and varz["out_bytes"] == 11
            assert varz["subscriptions"] == 2
            assert varz["http_req_stats"]["/varz"] == 1
            for key in ("cluster", "gateway", "leaf", "jetstream"):
                assert varz[key] == {}

            connz = (await asyncio.to_thread(get, srv, "/connz?subs=1")).json()
            assert connz["num_connections"] == 2 and connz["total"] == 2
            by_name = {c["name"]: c for c in connz["connections"]}
            watcher, talker = by_name["watcher"], by_name["talker"]
            assert watcher["lang"] == "python3" and watcher["kind"] == "Client" and watcher["type"] == "nats"
            assert sorted(watcher["subscriptions_list"]) == sorted([subject, subject + ".*"])
            assert watcher["out_msgs"] == 3 and watcher["in_msgs"] == 0
            assert talker["in_msgs"] == 3 and talker["in_bytes"] == 11 and talker["subscriptions"] == 0
            assert "subscriptions_list" not in talker

            detail = (await asyncio.to_thread(get, srv, "/connz?subs=detail&sort=subs&limit=1")).json()
            assert detail["total"] == 2 and len(detail["connections"]) == 1
            subs = {s["subject"]: s for s in detail["connections"][0]["subscriptions_list_detail"]}
            assert subs[subject]["msgs"] == 3 and subs[subject + ".*"]["qgroup"] == "workers"

            subsz = (await asyncio.to_thread(get, srv, "/subsz?subs=1")).json()
            assert subsz["num_subscriptions"] == 2
            assert {s["subject"] for s in subsz["subscriptions_list"]} == {subject, subject + ".*"}
            routez = (await asyncio.to_thread(get, srv, "/routez")).json()
            assert routez["num_routes"] == 0 and routez["routes"] == []
            assert (await asyncio.to_thread(get, srv, "/healthz")).json() == {"status": "ok"}
            bad = await asyncio.to_thread(get, srv, "/connz?sort=bogus")
            assert bad.status_code == 400 and bad.text == "invalid sorting option: bogus"
        finally:
            await sub.close()
            await pub.close()
        # Closed connections leave /connz; their traffic stays in /varz.
        deadline = time.monotonic() + TIMEOUT
        while (await asyncio.to_thread(get, srv, "/connz")).json()["connections"]:
            assert time.monotonic() < deadline, "connections still listed after close"
            await asyncio.sleep(0.05)
        varz = (await asyncio.to_thread(get, srv, "/varz")).json()
        assert varz["in_msgs"] == 3 and varz["connections"] == 0 and varz["total_connections"] == 2

    run(body())


def test_monitoring_is_off_by_default(server):
    # No port of its own unless asked for, and nothing on the HTTP port either.
    assert server.get("/varz").status_code == 404


@pytest.fixture
def no_auth_server(make_server):
    return make_server(
        {
            "security": {
                "users": [
                    {"name": "bar", "password_hash": hash_password("bar"), "publish": ["public/#"],
                     "subscribe": ["public/#"]},
                    {"name": "guest", "password_hash": hash_password(unique("unused")), "publish": ["#"],
                     "subscribe": ["#"]},
                ]
            },
            "nats": {"no_auth_user": "guest"},
            "api_key": API_KEY,
        }
    )


def test_no_auth_user(no_auth_server):
    srv = no_auth_server

    async def body():
        errors: asyncio.Queue = asyncio.Queue()

        async def on_error(e):
            await errors.put(e)

        # Credentials still count: bar may not subscribe to foo.
        bar = await nats.connect(f"nats://bar:bar@127.0.0.1:{srv.nats_port}", error_cb=on_error,
                                 allow_reconnect=False)
        # No credentials: the client becomes guest, who may.
        anon = await nats.connect(srv.nats_url, allow_reconnect=False)
        try:
            await bar.subscribe("foo")
            await bar.flush()
            err = await asyncio.wait_for(errors.get(), TIMEOUT)
            assert str(err) == 'nats: permissions violation for subscription to "foo"'

            async def pong(msg):
                await msg.respond(b"pong")

            await anon.subscribe("foo", cb=pong)
            await anon.flush()
            # Subscribed? (nats_support.subscribed asks /api/channels without the key the API wants here.)
            deadline = time.monotonic() + TIMEOUT
            while True:
                rows = (await srv.ahttp("GET", "/api/channels", headers={"X-API-Key": API_KEY})).json()["channels"]
                if any(r["channel"] == "foo" for r in rows):
                    break
                assert time.monotonic() < deadline, rows
                await asyncio.sleep(0.02)
            reply = await anon.request("foo", b"ping", timeout=TIMEOUT)
            assert reply.data == b"pong"
        finally:
            await bar.close()
            await anon.close()

    run(body())


def test_no_auth_user_must_name_a_user(make_server):
    with pytest.raises(RuntimeError, match="no_auth_user"):
        make_server({"security": {"users": [{"name": "bar", "password_hash": hash_password("bar")}]},
                     "nats": {"no_auth_user": "nobody"}})


def lame_duck_server(make_server):
    return monitored(make_server, args=["--set", "nats.lame_duck_duration_seconds=3",
                                        "--set", "nats.lame_duck_grace_period_seconds=1"])


@pytest.mark.parametrize("trigger", ["SIGUSR2", "admin-api"])
def test_lame_duck_mode(make_server, trigger):
    srv = lame_duck_server(make_server)

    async def body():
        lame = asyncio.Event()
        gone = asyncio.Event()

        async def on_lame_duck():
            lame.set()

        async def on_disconnect():
            gone.set()

        clients = [
            await nats.connect(srv.nats_url, lame_duck_mode_cb=on_lame_duck, disconnected_cb=on_disconnect,
                               allow_reconnect=False)
        ]
        clients += [await nats.connect(srv.nats_url, allow_reconnect=False) for _ in range(2)]
        try:
            started = time.monotonic()
            if trigger == "SIGUSR2":
                srv.proc.send_signal(signal.SIGUSR2)
            else:
                r = await srv.ahttp("POST", "/api/nats/lame_duck")
                assert r.status_code == 202, r.text
            await asyncio.wait_for(lame.wait(), TIMEOUT)
            # Told, not yet closed: the grace period comes first.
            assert clients[0].is_connected
            # No new NATS clients (the port is closed) ...
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", srv.nats_port), timeout=1).close()
            # ... while the other protocols and the monitoring port serve on.
            assert srv.get("/healthz").status_code == 200
            await asyncio.wait_for(gone.wait(), 6)
            assert time.monotonic() - started >= 0.9
            deadline = time.monotonic() + 6
            while any(c.is_connected for c in clients):
                assert time.monotonic() < deadline, "clients still connected after the lame-duck duration"
                await asyncio.sleep(0.05)
            varz = (await asyncio.to_thread(get, srv, "/varz")).json()
            assert varz["connections"] == 0
        finally:
            for c in clients:
                await c.close()
        assert srv.alive()

    run(body())
