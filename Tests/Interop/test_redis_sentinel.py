"""Issue 23, Redis topologies. Sentinel: instances given `--engine redis-sentinel://…/mymaster` find the master
through the sentinels, and follow it when it fails over (a `SENTINEL FAILOVER`, or the master
`kill -9`ed). Debian's redis-server runs the master, a replica and a sentinel, each on a free loopback
port. Redis Cluster: refused at start. docs/redis.md ("Redis Sentinel", "Redis Cluster") maps each point
to its test."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from interop import free_port, open_ws, run, unique

MASTER_NAME = "sbmaster"


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def wait_for(predicate, timeout: float = 5.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def cli(port: int, *args: str) -> str:
    """redis-cli's answer (raw, one element per line); empty when nothing listens."""
    done = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--raw", *args],
        capture_output=True, text=True, timeout=10)
    return done.stdout.strip()


class SentinelSetup:
    """A master, its replica and one sentinel (quorum 1) watching them."""

    def __init__(self, tmp_path: Path):
        binary = shutil.which("redis-server")
        if binary is None or shutil.which("redis-cli") is None:
            pytest.fail("redis-server/redis-cli are not installed (scripts/test installs Debian's redis-server)")
        self.procs: list[subprocess.Popen] = []
        self.master_port, self.replica_port, self.sentinel_port = free_port(), free_port(), free_port()
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        for name, port, extra in (("master", self.master_port, []),
                                  ("replica", self.replica_port,
                                   ["--replicaof", "127.0.0.1", str(self.master_port)])):
            directory = tmp_path / name
            directory.mkdir()
            self.procs.append(subprocess.Popen(
                [binary, "--port", str(port), "--dir", str(directory), *common, *extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.master = self.procs[0]
        conf = tmp_path / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 5000\n")
        self.procs.append(subprocess.Popen(
            [binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in (self.master_port, self.replica_port, self.sentinel_port):
            assert wait_for(lambda p=port: _listening(p), 10), f"redis on {port} did not start"
        # The replica is in sync and the sentinel knows it: a failover has somewhere to go.
        synced = wait_for(lambda: "master_link_status:up" in cli(self.replica_port, "INFO", "replication"), 15)
        assert synced, cli(self.replica_port, "INFO", "replication")
        known = wait_for(
            lambda: str(self.replica_port) in cli(self.sentinel_port, "SENTINEL", "REPLICAS", MASTER_NAME), 20, 0.2)
        assert known, cli(self.sentinel_port, "SENTINEL", "REPLICAS", MASTER_NAME)

    def url(self) -> str:
        # The first sentinel is dead: the client asks the next one.
        return f"redis-sentinel://127.0.0.1:{free_port()},127.0.0.1:{self.sentinel_port}/{MASTER_NAME}"

    def master_port_now(self) -> int:
        lines = cli(self.sentinel_port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME).splitlines()
        return int(lines[1]) if len(lines) == 2 else 0

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def sentinel(tmp_path: Path):
    setup = SentinelSetup(tmp_path)
    yield setup
    setup.stop()


def _publisher(server, topic: str):
    counter = {"n": 0}

    async def publish() -> int:
        counter["n"] += 1
        r = await asyncio.to_thread(server.post, "/api/publish", json={"channel": topic, "data": {"n": counter["n"]}})
        assert r.status_code == 200, r.text
        return counter["n"]

    return publish


async def _until_delivered(ws, topic: str, publish, timeout: float = 20) -> list[int]:
    """Publishes until one published now arrives; returns every number received, in arrival order."""
    deadline = time.monotonic() + timeout
    got: list[int] = []
    while time.monotonic() < deadline:
        n = await publish()
        try:
            while True:
                got.append((await ws.message(topic, timeout=1))["data"]["n"])
                if got[-1] == n:
                    return got
        except (asyncio.TimeoutError, TimeoutError):
            continue
    raise AssertionError(f"nothing published after the failover arrived; got {got}")


def test_instances_find_the_master_through_sentinel_and_follow_a_failover(make_server, sentinel):
    a = make_server({}, args=["--engine", sentinel.url()])
    b = make_server({}, args=["--engine", sentinel.url()])
    topic = f"ticks/{unique()}"
    for server in (a, b):
        assert server.get("/readyz").status_code == 200, server.get("/readyz").text

    async def body():
        ws = await open_ws(b.ws_url)
        await ws.subscribe(topic)
        await asyncio.sleep(0.3)
        publish = _publisher(a, topic)
        assert await _until_delivered(ws, topic, publish, 5) == [1]
        # Both instances are the master's clients, B subscribed to the topic's channel there.
        assert f"switchboard:{topic}" in cli(sentinel.master_port, "PUBSUB", "CHANNELS", "*")
        old = sentinel.master_port
        assert cli(sentinel.sentinel_port, "SENTINEL", "FAILOVER", MASTER_NAME) == "OK"
        moved = await asyncio.to_thread(wait_for, lambda: sentinel.master_port_now() == sentinel.replica_port, 20)
        assert moved, sentinel.master_port_now()
        # The instances heard +switch-master and moved: B's subscription is on the new master, and a
        # publish on A reaches B through it.
        resubscribed = await asyncio.to_thread(
            wait_for, lambda: f"switchboard:{topic}" in cli(sentinel.replica_port, "PUBSUB", "CHANNELS", "*"), 10)
        assert resubscribed, cli(sentinel.replica_port, "PUBSUB", "CHANNELS", "*")
        got = await _until_delivered(ws, topic, publish, 10)
        assert got == sorted(set(got)), got
        for server in (a, b):
            assert server.get("/readyz").status_code == 200, server.get("/readyz").text
        # Nothing of ours is left on the old master (now a replica).
        assert f"switchboard:{topic}" not in cli(old, "PUBSUB", "CHANNELS", "*")
        await ws.close()

    run(body(), 60)


def test_a_killed_master_degrades_then_the_promoted_replica_serves(make_server, sentinel):
    a = make_server({}, args=["--engine", sentinel.url()])
    b = make_server({}, args=["--engine", sentinel.url()])
    topic = f"ticks/{unique()}"

    async def body():
        ws = await open_ws(b.ws_url)
        await ws.subscribe(topic)
        await asyncio.sleep(0.3)
        publish = _publisher(a, topic)
        assert await _until_delivered(ws, topic, publish, 5) == [1]
        sentinel.master.kill()  # kill -9
        sentinel.master.wait(5)
        for server in (a, b):
            down = await asyncio.to_thread(wait_for, lambda s=server: s.get("/readyz").status_code == 503, 10)
            assert down, server.get("/readyz").text
            body_text = server.get("/readyz").text
            assert "engine" in server.get("/readyz").json() and MASTER_NAME in body_text, body_text
        for _ in range(3):
            await publish()  # served locally meanwhile, kept for when the engine is back
        # Sentinel sees the master down after 1 s and promotes the replica; the instances find it.
        for server in (a, b):
            back = await asyncio.to_thread(wait_for, lambda s=server: s.get("/readyz").status_code == 200, 30, 0.2)
            assert back, server.get("/readyz").text
        assert sentinel.master_port_now() == sentinel.replica_port
        got = [1] + await _until_delivered(ws, topic, publish, 15)
        assert got == sorted(set(got)), got
        await ws.close()

    run(body(), 90)


def test_a_redis_cluster_node_is_refused_at_start(make_server, tmp_path):
    """Redis Cluster is not supported (docs/redis.md, "Redis Cluster"): an instance given a cluster node
    does not start, and says why, rather than fail later on MOVED replies."""
    port = free_port()
    proc = subprocess.Popen(
        # The cluster bus gets a drawn port of its own: by default it is the port + 10,000, which a drawn
        # port above 55535 leaves no room for (redis-server then exits at once).
        [shutil.which("redis-server"), "--port", str(port), "--cluster-port", str(free_port()), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
         "--cluster-config-file", str(tmp_path / "nodes.conf"),
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _listening(port), 10), "redis-server did not start"
        with pytest.raises(RuntimeError) as failure:
            make_server({}, args=["--engine", f"redis://127.0.0.1:{port}"])
        assert "during startup" in str(failure.value), failure.value
        assert "Redis Cluster is not supported" in str(failure.value), failure.value
    finally:
        proc.kill()
        proc.wait(5)
