"""Issue 23, the admin API and metrics across instances: three Switchboard instances joined through one
redis-server (Debian's, started here on a free loopback port). `/api/connections` and `/api/channels` on
any instance answer for every instance, `DELETE /api/connections/:id` on any instance closes a connection
another holds, an instance killed is named unreachable and then dropped, credentials are checked as for
the local API (a forwarded marker never stands in for them), and `/metrics` shows the engine's health and
what it dropped while Redis was unreachable. docs/redis.md, "The admin API across instances", maps each
point to its test."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import threading
import time

import nats
import pytest

from interop import free_port, open_ws, run, unique, wait_for
from mqtt_client import V5, V311, Paho
from security_support import hash_password, make_jwt
from test_redis_scaleout import redis_server  # noqa: F401 (fixture)

ADMIN_PW = "admin-password"
ALICE_PW = "alice-password"
# What an instance adds when it asks another for its own part only (SessionForwarder.forwardedHeader).
LOCAL_ONLY = {"X-Switchboard-Forwarded": "1"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ADMIN = basic("admin", ADMIN_PW)


@pytest.fixture(scope="module")
def security_config() -> dict:
    # Clients may still connect anonymously; the API wants an admin (or its JWT) on every instance.
    return {
        "anonymous": True,
        "security": {
            "users": [
                {"name": "alice", "password_hash": hash_password(ALICE_PW)},
                {"name": "admin", "password_hash": hash_password(ADMIN_PW), "admin": True},
            ],
            "jwt": {"keys": [{"alg": "HS256", "secret": "interop-secret-0123456789abcdef-0123456789"}],
                    "issuer": "switchboard-interop"},
        }
    }


@pytest.fixture
def cluster(make_server, redis_server, security_config):
    url, _ = redis_server
    return [make_server(security_config, args=["--engine", url]) for _ in range(3)]


def instance_id(srv) -> str:
    r = srv.get("/api/connections", headers={**ADMIN, **LOCAL_ONLY})
    assert r.status_code == 200, r.text
    return r.json()["instance"]


def listing(srv, path: str = "/api/connections", headers: dict[str, str] | None = None) -> dict:
    r = srv.get(path, headers=headers or ADMIN, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def held(body: dict) -> set[tuple[str, str]]:
    return {(c["instance"], c["protocol"]) for c in body["connections"]}


def metric(srv, name: str) -> float | None:
    for line in srv.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_every_instance_lists_every_instances_connections_and_closes_any(cluster):
    a, b, c = cluster
    id_a, id_b, id_c = (instance_id(srv) for srv in cluster)
    assert len({id_a, id_b, id_c}) == 3
    topic = f"room/{unique()}"

    async def body():
        ws_a = await open_ws(a.ws_url)
        await ws_a.subscribe(topic)
        mqtt_b = Paho(b.mqtt_port, V5)
        mqtt_b.subscribe(topic, qos=0)
        nc_c = await nats.connect(c.nats_url)
        await nc_c.subscribe(topic.replace("/", "."))
        await nc_c.flush()
        victim = Paho(c.mqtt_port, V311)
        expected = {(id_a, "websocket"), (id_b, "mqtt"), (id_c, "nats"), (id_c, "mqtt")}
        # The instances know each other within a heartbeat (2 s); then every one lists all four.
        for srv in cluster:
            complete = await asyncio.to_thread(
                wait_for, lambda srv=srv: expected <= held(listing(srv)), 10)
            assert complete, listing(srv)
            answer = listing(srv)
            assert answer["count"] == len(answer["connections"])
            assert sorted(i["instance"] for i in answer["instances"]) == sorted([id_a, id_b, id_c])
            assert answer["unreachable"] == []
            for i in answer["instances"]:
                assert i["connections"] == sum(1 for x in answer["connections"] if x["instance"] == i["instance"])
            # The instance asked comes first.
            assert answer["instances"][0]["instance"] == instance_id(srv)
        # Subscribers of one channel on three instances and three protocols: 3 on any instance.
        for srv in cluster:
            channels = {ch["channel"]: ch["subscribers"] for ch in listing(srv, "/api/channels")["channels"]}
            assert channels.get(topic) == 3, channels
        # The cluster-wide gauge (each instance's count as of its last heartbeat) agrees with the lists.
        total = listing(a)["count"]
        assert await asyncio.to_thread(
            wait_for, lambda: metric(a, "switchboard_cluster_connections") == total, 10), metric(
                a, "switchboard_cluster_connections")
        assert metric(a, "switchboard_engine_degraded") == 0

        # C's MQTT connection, closed through A: the client is disconnected, and gone from every list.
        victim_id = next(x["id"] for x in listing(a)["connections"] if (x["instance"], x["protocol"]) == (id_c, "mqtt"))
        r = a.http("DELETE", f"/api/connections/{victim_id}", headers=ADMIN)
        assert r.status_code == 204, r.text
        assert await asyncio.to_thread(victim.disconnected.wait, 5), "C's client was not disconnected"
        assert await asyncio.to_thread(
            wait_for, lambda: victim_id not in {x["id"] for x in listing(b)["connections"]}, 5)
        # Nobody holds it now, nor an id never given: 404 from any instance.
        for srv in (a, b):
            r = srv.http("DELETE", f"/api/connections/{victim_id}", headers=ADMIN)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
        r = b.http("DELETE", "/api/connections/no-such-connection", headers=ADMIN)
        assert r.status_code == 404, r.text
        # One held by the instance asked is closed there, as without an engine.
        ws_id = next(x["id"] for x in listing(b)["connections"] if x["instance"] == id_a)
        assert a.http("DELETE", f"/api/connections/{ws_id}", headers=ADMIN).status_code == 204
        await ws_a.wait_closed()
        mqtt_b.disconnect()
        victim.abort()
        await nc_c.close()

    run(body(), timeout=90)


def test_a_killed_instance_is_named_unreachable_then_dropped(cluster):
    a, b, c = cluster
    id_a, id_b, id_c = (instance_id(srv) for srv in cluster)
    victim = Paho(c.mqtt_port, V311)
    for srv in (a, b):
        assert wait_for(lambda srv=srv: (id_c, "mqtt") in held(listing(srv)), 10), listing(srv)
    victim_id = next(x["id"] for x in listing(a)["connections"] if x["instance"] == id_c)
    c.proc.kill()  # kill -9: no goodbye
    c.proc.wait(5)
    # At once: C is still among the instances heard from lately, so it is asked, and named.
    started = time.monotonic()
    answer = listing(a)
    assert time.monotonic() - started < 3, "a dead instance held the answer up"
    assert id_c in {u["instance"] for u in answer["unreachable"]}, answer
    assert id_c not in {i["instance"] for i in answer["instances"]}
    assert id_c not in {x["instance"] for x in answer["connections"]}
    assert {i["instance"] for i in answer["instances"]} == {id_a, id_b}
    # Its connection may be there still: not 404 but 503, naming it.
    r = b.http("DELETE", f"/api/connections/{victim_id}", headers=ADMIN)
    assert r.status_code == 503 and id_c in r.json()["error"]["message"], r.text
    # Silent for three heartbeats (6 s), it is dropped: neither listed nor unreachable.
    # (Each instance forgets it on its own heartbeat: up to one heartbeat apart.)
    dropped = wait_for(
        lambda: all(id_c not in {u["instance"] for u in listing(srv)["unreachable"]} for srv in (a, b)), 12)
    assert dropped, (listing(a), listing(b))
    answer = listing(b)
    assert {i["instance"] for i in answer["instances"]} == {id_a, id_b} and answer["unreachable"] == []
    r = a.http("DELETE", f"/api/connections/{victim_id}", headers=ADMIN)
    assert r.status_code == 404, r.text
    victim.abort()


def test_the_admin_api_across_instances_needs_the_same_credentials(cluster):
    a, b, _ = cluster
    id_a, id_b = instance_id(a), instance_id(b)
    client = Paho(b.mqtt_port, V5)
    assert wait_for(lambda: (id_b, "mqtt") in held(listing(a)), 10), listing(a)
    routes = [("GET", "/api/connections"), ("GET", "/api/channels"), ("DELETE", "/api/connections/anything")]
    for method, path in routes:
        for marker in ({}, LOCAL_ONLY):
            # The marker asks for one instance's part; it never stands in for credentials.
            r = a.http(method, path, headers=marker)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", (method, path, marker, r.text)
            assert a.http(method, path, headers={**marker, **basic("admin", "wrong")}).status_code == 401
            assert a.http(method, path, headers={**marker, **basic("alice", ALICE_PW)}).status_code == 403
    # With the marker, an admin gets this instance's part only: B's client is not in A's part.
    part = listing(a, headers={**ADMIN, **LOCAL_ONLY})
    assert part["instance"] == id_a and "unreachable" not in part
    assert (id_b, "mqtt") not in held(part)
    part = listing(b, headers={**ADMIN, **LOCAL_ONLY})
    assert (id_b, "mqtt") in held(part) and {x["instance"] for x in part["connections"]} == {id_b}
    # The caller's own credentials travel to the others: an admin JWT works across as Basic does.
    token = make_jwt("ops", grants={"admin": True})
    assert (id_b, "mqtt") in held(listing(a, headers={"Authorization": f"Bearer {token}"}))
    client.disconnect()


class CuttableProxy:
    """A TCP relay to Redis that cuts every connection and refuses new ones, then relays again: Redis
    unreachable for one instance only, so the others stay subscribed and hear what it kept."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.open()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
                upstream.settimeout(None)
            except OSError:
                return
            with self.lock:
                self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
            self.listener.close()
            self.listener = None
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_metrics_show_redis_unreachable_and_the_oldest_kept_frames_dropped(make_server, redis_server):
    url, port = redis_server
    proxy = CuttableProxy(port)
    try:
        # A reaches Redis through the proxy and keeps at most 4 KiB while it cannot; B reaches it directly.
        a = make_server({}, args=["--engine", f"redis://127.0.0.1:{proxy.port}", "--engine-max-backlog-bytes", "4096"])
        b = make_server({}, args=["--engine", url])
        topic = f"kept/{unique()}"

        async def body():
            ws_b = await open_ws(b.ws_url)
            await ws_b.subscribe(topic)

            def probe_arrives() -> bool:
                a.post("/api/publish", json={"channel": topic, "data": {"n": -1}})
                return any(f.get("channel") == topic for f in ws_b.pending())

            assert await asyncio.to_thread(wait_for, probe_arrives, 10, 0.3), "A's publishes do not reach B"
            assert metric(a, "switchboard_engine_degraded") == 0
            assert metric(a, "switchboard_engine_frames_lost_total") == 0
            while ws_b.pending(lambda f: f.get("channel") == topic):
                await ws_b.message(topic)

            proxy.cut()
            assert await asyncio.to_thread(wait_for, lambda: metric(a, "switchboard_engine_degraded") == 1, 10)
            assert a.get("/readyz").status_code == 503
            # 40 publishes of ~450 bytes (~18 KiB) while cut off: served here, kept up to 4 KiB.
            for n in range(40):
                r = a.post("/api/publish", json={"channel": topic, "data": {"n": n, "pad": "x" * 400}})
                assert r.status_code == 200, r.text
            assert await asyncio.to_thread(
                wait_for, lambda: (metric(a, "switchboard_engine_frames_lost_total") or 0) > 0, 5)
            kept_bytes = metric(a, "switchboard_engine_backlog_bytes")
            kept_frames = metric(a, "switchboard_engine_backlog_frames")
            assert 0 < kept_bytes <= 4096 and kept_frames > 0, (kept_bytes, kept_frames)

            proxy.open()
            # Back (the client's backoff is capped at 5 s): joined, what was kept sent, the count kept.
            assert await asyncio.to_thread(
                wait_for, lambda: metric(a, "switchboard_engine_degraded") == 0, 15), a.get("/readyz").text
            assert metric(a, "switchboard_engine_backlog_bytes") == 0
            assert metric(a, "switchboard_engine_backlog_frames") == 0
            lost = metric(a, "switchboard_engine_frames_lost_total")
            got: list[int] = []
            with contextlib.suppress(AssertionError, TimeoutError):
                while True:
                    n = (await ws_b.message(topic, timeout=3))["data"]["n"]
                    if n >= 0:  # a late probe is not one of the 40
                        got.append(n)
            # B hears the newest ones A kept, in order, none missing between them: the oldest went.
            assert 0 < len(got) < 40 and got == list(range(40 - len(got), 40)), got
            assert lost >= 40 - len(got), (lost, got)
            await ws_b.close()

        run(body(), timeout=90)
    finally:
        proxy.cut()
