"""Issue 23, operations: three instances joined through one redis-server behind Debian's nginx, configured
with docs/examples/nginx-three-instances.conf itself (its upstream addresses and listen ports rewritten to
this test's loopback ports). nginx sends each request and each connection to the next instance, with no
session affinity; stock clients through it: websockets, httpx-sse, python-socketio on long polling (its
requests spread over the instances and are forwarded to the one holding the session), paho-mqtt, nats-py
and pika. docs/operations.md ("Behind nginx") shows the file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import nats
import pika
import pytest

from interop import free_port, listening, open_ws, run, unique
from mqtt_client import V5, Paho
from socketio_support import Stock
from sse_client import sse
from test_redis_polling import announced
from test_redis_scaleout import cluster, redis_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.switchboard_only

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "nginx-three-instances.conf"


def rewritten(example: str, instances: list, listen_ports: dict[str, int]) -> str:
    """The example with each `upstream switchboard_<protocol>`'s `10.0.0.N:PORT` made instance N's port for
    that protocol, and each `listen PORT;` a loopback port of `listen_ports` (the protocol its line passes to,
    else HTTP's)."""
    lines, protocol = [], "http"
    for line in example.splitlines():
        named = re.search(r"(?:upstream|proxy_pass) switchboard_(\w+)", line)
        protocol = named[1] if named else protocol
        line = re.sub(r"10\.0\.0\.([1-3]):\d+",
                      lambda m: f"127.0.0.1:{instance_port(instances[int(m[1]) - 1], protocol)}", line)
        line = re.sub(r"listen \d+;", lambda m: f"listen 127.0.0.1:{listen_ports[protocol]};", line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def instance_port(server, protocol: str) -> int:
    return server.port if protocol == "http" else server.ports[protocol]


class Nginx:
    """Debian's nginx running the example file, rewritten: `10.0.0.N:PORT` → instance N's port for that
    protocol, `listen PORT` → a free loopback port, logs and pid in `workdir`."""

    def __init__(self, workdir: Path, instances: list) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            pytest.fail("nginx is not installed (Tests/Interop/run.sh installs Debian's nginx)")
        self.ports = {protocol: free_port() for protocol in ("http", "mqtt", "nats", "amqp", "stomp")}
        text = rewritten(EXAMPLE.read_text(), instances, self.ports)
        # One worker, so each upstream's round robin is one sequence (1, 2, 3, 1, …) the test can count on;
        # every request and TCP session logged with the instance it went to.
        text = text.replace("worker_processes auto;", "worker_processes 1;", 1)
        text = text.replace("http {", "http {\n    log_format sent '$request_uri $upstream_addr';\n"
                            f"    access_log {workdir}/access.log sent;", 1)
        text = text.replace("stream {", "stream {\n    log_format sent '$server_port $upstream_addr';\n"
                            f"    access_log {workdir}/stream.log sent;", 1)
        self.workdir = workdir
        config = workdir / "nginx.conf"
        config.write_text(text)
        self.proc = subprocess.Popen(
            [binary, "-p", str(workdir), "-c", str(config),
             "-g", f"daemon off; pid {workdir}/nginx.pid; error_log {workdir}/error.log;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not all(listening(port) for port in self.ports.values()):
            assert self.proc.poll() is None, (workdir / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.05)
        # Each probe of a TCP port was a session nginx passed to an instance: wait until all four are logged,
        # so a test counting its own sessions starts after them.
        tcp = [str(port) for protocol, port in self.ports.items() if protocol != "http"]
        while not all(self.sent("stream.log", port) for port in tcp):
            assert time.monotonic() < deadline, "nginx did not log its probes' sessions"
            time.sleep(0.05)

    def sent(self, log: str, prefix: str) -> list[str]:
        """The instances the requests (URI starting with `prefix`) or TCP sessions (nginx's port `prefix`)
        logged in `log` went to."""
        path = self.workdir / log
        if not path.exists():
            return []
        return [line.split()[-1] for line in path.read_text().splitlines()
                if line.split()[0] == prefix or (prefix.startswith("/") and line.split()[0].startswith(prefix))]

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.ports['http']}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


@pytest.fixture
def nginx(cluster, redis_server, tmp_path):  # noqa: F811 (fixtures)
    announced(redis_server[1])
    proxy = Nginx(tmp_path, cluster)
    yield proxy
    proxy.stop()


def websocket_counts(instances) -> list[int]:
    """Each instance's own WebSocket connections: with an engine `/api/connections` lists every instance's,
    and the forwarded marker asks one for its own part (docs/redis.md, "The admin API across instances")."""
    own = {"X-Switchboard-Forwarded": "1"}
    return [sum(1 for c in server.get("/api/connections", headers=own).json()["connections"]
                if c["protocol"] == "websocket")
            for server in instances]


def test_websocket_and_sse_clients_through_nginx_reach_each_other_across_instances(cluster, nginx):
    ch = f"chat/{unique('lb')}"

    async def body():
        # Four WebSockets through nginx: one on each instance in turn, the fourth on the first again.
        sockets = [await open_ws(nginx.url("ws") + "/ws") for _ in range(4)]
        for ws in sockets[:3]:
            await ws.subscribe(ch)
        assert websocket_counts(cluster) == [2, 1, 1], websocket_counts(cluster)
        async with sse(f"{nginx.url()}/sse?channel={ch}") as stream:
            await stream.position()
            r = await sockets[3].publish(ch, {"n": 1})
            assert r["offset"] == 1, r
            for ws in sockets[:3]:
                assert (await ws.message(ch))["data"] == {"n": 1}
            # nginx passes the event on at once (proxy_buffering off).
            events = await stream.events(1, types={"message"})
            assert events[0].json() == {"n": 1} and events[0].id.endswith("-1"), events
        for ws in sockets:
            await ws.close()

    run(body())


def test_a_socketio_polling_client_through_nginx_is_served_by_every_instance(cluster, nginx):
    ch = f"chat/{unique('lb')}"
    a, b, c = cluster

    async def body():
        async with Stock(nginx.url(), ["polling"]) as client:
            assert (await client.subscribe(ch))["channel"] == ch
            for n, server in ((1, a), (2, b), (3, c)):
                await server.apublish(ch, {"n": n})
            got = [(await client.event("message"))[2][0]["data"]["n"] for _ in range(3)]
            assert sorted(got) == [1, 2, 3], got
            published = await client.call("publish", {"channel": ch, "data": {"n": 4}})
            assert published["channel"] == ch
            assert (await client.event("message"))[2][0]["data"] == {"n": 4}
            assert client.transport == "polling"

    run(body())
    # The session's requests went to every instance in turn: those reaching another than the session's
    # holder were forwarded to it (docs/redis.md, "Sessions across instances").
    polls = nginx.sent("access.log", "/socket.io/")
    assert len(polls) >= 6 and len(set(polls)) == 3, polls


def test_mqtt_nats_and_amqp_clients_through_nginx_stream(cluster, nginx):
    base = f"lb/{unique('tcp')}"
    mqtt_port = str(nginx.ports["mqtt"])
    # nginx's start-up probe (`listening`) was a TCP session too (logged before the fixture returned).
    probes = len(nginx.sent("stream.log", mqtt_port))
    subscriber = Paho(nginx.ports["mqtt"], V5)  # the next MQTT connection: one instance
    subscriber.subscribe(f"{base}/#", qos=1)
    time.sleep(0.5)  # the instance's interest reaches Redis
    publisher = Paho(nginx.ports["mqtt"], V5)  # the one after: the next instance
    publisher.publish(f"{base}/mqtt", json.dumps({"via": "mqtt"}), qos=1)

    async def publish_nats():
        nc = await nats.connect(f"nats://127.0.0.1:{nginx.ports['nats']}")
        await nc.publish(base.replace("/", ".") + ".nats", b'{"via":"nats"}')
        await nc.flush()
        await nc.close()

    run(publish_nats())
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", nginx.ports["amqp"]))
    channel = connection.channel()
    channel.basic_publish("amq.topic", base.replace("/", ".") + ".amqp", json.dumps({"via": "amqp"}).encode())
    connection.close()
    got = {subscriber.get().topic for _ in range(3)}
    assert got == {f"{base}/mqtt", f"{base}/nats", f"{base}/amqp"}, got
    for client in (subscriber, publisher):
        client.disconnect()
    # The two MQTT sessions went to two instances (nginx logs a TCP session when it ends).
    deadline = time.monotonic() + 5
    while len(nginx.sent("stream.log", mqtt_port)) < probes + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    sessions = nginx.sent("stream.log", mqtt_port)[probes:]
    assert len(sessions) == 2 and len(set(sessions)) == 2, sessions
