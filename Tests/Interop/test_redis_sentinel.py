"""Issue 23, Redis topologies. Sentinel: instances given `--engine redis-sentinel://…/mymaster` find the master
through the sentinels, and follow it when it fails over (a `SENTINEL FAILOVER`, or the master
`kill -9`ed). Debian's redis-server runs the master, a replica and a sentinel, each on a free loopback
port. Redis Cluster: refused at start. docs/redis.md ("Redis Sentinel", "Redis Cluster") maps each point
to its test."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from interop import wait_for
from interop import free_port, listening, open_ws, run, unique

MASTER_NAME = "sbmaster"



def cli(port: int, *args: str, flags: tuple[str, ...] = ()) -> str:
    """redis-cli's answer (raw, one element per line); empty when nothing listens."""
    done = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--raw", *flags, *args],
        capture_output=True, text=True, timeout=10)
    return done.stdout.strip()


class SentinelSetup:
    """A master, its replica and one sentinel (quorum 1) watching them. `secure`: every server speaks TLS
    only (a self-signed certificate for 127.0.0.1 made by openssl, its own root), the master and replica
    require MASTER_PASSWORD and the sentinel its own SENTINEL_PASSWORD."""

    MASTER_PASSWORD = "master-secret"
    SENTINEL_PASSWORD = "sentinel-secret"

    def __init__(self, tmp_path: Path, secure: bool = False):
        binary = shutil.which("redis-server")
        if binary is None or shutil.which("redis-cli") is None:
            pytest.fail("redis-server/redis-cli are not installed (scripts/test installs Debian's redis-server)")
        self.secure = secure
        self.procs: list[subprocess.Popen] = []
        self.master_port, self.replica_port, self.sentinel_port = free_port(), free_port(), free_port()
        self.certificate = tmp_path / "cert.pem"
        key = tmp_path / "key.pem"
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        sentinel_extra = ""
        if secure:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key),
                 "-out", str(self.certificate)], check=True, capture_output=True)
            tls = ["--tls-cert-file", str(self.certificate), "--tls-key-file", str(key),
                   "--tls-ca-cert-file", str(self.certificate), "--tls-auth-clients", "no", "--tls-replication", "yes"]
            common += [*tls, "--requirepass", self.MASTER_PASSWORD, "--masterauth", self.MASTER_PASSWORD]
            sentinel_extra = (
                f"tls-cert-file {self.certificate}\ntls-key-file {key}\ntls-ca-cert-file {self.certificate}\n"
                f"tls-auth-clients no\ntls-replication yes\nrequirepass {self.SENTINEL_PASSWORD}\n")
        for name, port, extra in (("master", self.master_port, []),
                                  ("replica", self.replica_port,
                                   ["--replicaof", "127.0.0.1", str(self.master_port)])):
            directory = tmp_path / name
            directory.mkdir()
            listen = ["--port", "0", "--tls-port", str(port)] if secure else ["--port", str(port)]
            self.procs.append(subprocess.Popen(
                [binary, *listen, "--dir", str(directory), *common, *extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.master = self.procs[0]
        conf = tmp_path / "sentinel.conf"
        listen = f"port 0\ntls-port {self.sentinel_port}\n" if secure else f"port {self.sentinel_port}\n"
        conf.write_text(
            f"{listen}bind 127.0.0.1\ndir {tmp_path}\n{sentinel_extra}"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 1\n"
            + (f"sentinel auth-pass {MASTER_NAME} {self.MASTER_PASSWORD}\n" if secure else "")
            + f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 5000\n")
        self.procs.append(subprocess.Popen(
            [binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in (self.master_port, self.replica_port, self.sentinel_port):
            assert wait_for(lambda p=port: listening(p), 10), f"redis on {port} did not start"
        # The replica is in sync and the sentinel knows it: a failover has somewhere to go.
        synced = wait_for(lambda: "master_link_status:up" in self.cli(self.replica_port, "INFO", "replication"), 15)
        assert synced, self.cli(self.replica_port, "INFO", "replication")
        known = wait_for(
            lambda: str(self.replica_port) in self.cli(self.sentinel_port, "SENTINEL", "REPLICAS", MASTER_NAME),
            20, 0.2)
        assert known, self.cli(self.sentinel_port, "SENTINEL", "REPLICAS", MASTER_NAME)

    def cli(self, port: int, *args: str) -> str:
        """`cli`, with TLS and the password of the server on `port` when secure."""
        if not self.secure:
            return cli(port, *args)
        password = self.SENTINEL_PASSWORD if port == self.sentinel_port else self.MASTER_PASSWORD
        return cli(port, *args, flags=("--tls", "--cacert", str(self.certificate), "-a", password,
                                       "--no-auth-warning"))

    def url(self, parameters: str = "") -> str:
        # The first sentinel is dead: the client asks the next one.
        scheme = "rediss-sentinel" if self.secure else "redis-sentinel"
        return f"{scheme}://127.0.0.1:{free_port()},127.0.0.1:{self.sentinel_port}/{MASTER_NAME}{parameters}"

    def master_port_now(self) -> int:
        lines = self.cli(self.sentinel_port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME).splitlines()
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


def _two_instances_follow_a_failover(a, b, setup: SentinelSetup) -> None:
    """Both instances ready; a publish on A reaches B's subscriber; after `SENTINEL FAILOVER` B's
    subscription is on the promoted replica, a publish on A reaches B through it (in order, no duplicate),
    both are ready, and nothing of theirs is left on the old master."""
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
        assert f"switchboard:{topic}" in setup.cli(setup.master_port, "PUBSUB", "CHANNELS", "*")
        old = setup.master_port
        assert setup.cli(setup.sentinel_port, "SENTINEL", "FAILOVER", MASTER_NAME) == "OK"
        moved = await asyncio.to_thread(wait_for, lambda: setup.master_port_now() == setup.replica_port, 20)
        assert moved, setup.master_port_now()
        # The instances heard +switch-master and moved: B's subscription is on the new master, and a
        # publish on A reaches B through it.
        resubscribed = await asyncio.to_thread(
            wait_for, lambda: f"switchboard:{topic}" in setup.cli(setup.replica_port, "PUBSUB", "CHANNELS", "*"), 10)
        assert resubscribed, setup.cli(setup.replica_port, "PUBSUB", "CHANNELS", "*")
        got = await _until_delivered(ws, topic, publish, 10)
        assert got == sorted(set(got)), got
        for server in (a, b):
            assert server.get("/readyz").status_code == 200, server.get("/readyz").text
        # Nothing of ours is left on the old master (now a replica).
        assert f"switchboard:{topic}" not in setup.cli(old, "PUBSUB", "CHANNELS", "*")
        await ws.close()

    run(body(), 60)


def test_instances_find_the_master_through_sentinel_and_follow_a_failover(make_server, sentinel):
    a = make_server({}, args=["--engine", sentinel.url()])
    b = make_server({}, args=["--engine", sentinel.url()])
    _two_instances_follow_a_failover(a, b, sentinel)


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


def test_sentinels_and_master_behind_passwords_and_tls(make_server, tmp_path):
    """`rediss-sentinel://`: TLS to the sentinels and the master, the roots from `ssl_ca_certs`; the
    sentinels' own password (`sentinel_password_file`) apart from the master's (`password_file`), neither
    in the URL. A failover is followed as over plain TCP."""
    setup = SentinelSetup(tmp_path, secure=True)
    try:
        master_password = tmp_path / "master-password"
        master_password.write_text(SentinelSetup.MASTER_PASSWORD + "\n")
        sentinel_password = tmp_path / "sentinel-password"
        sentinel_password.write_text(SentinelSetup.SENTINEL_PASSWORD + "\n")
        parameters = (f"?password_file={master_password}&sentinel_password_file={sentinel_password}"
                      f"&ssl_ca_certs={setup.certificate}")
        a = make_server({}, args=["--engine", setup.url(parameters)])
        b = make_server({}, args=["--engine", setup.url(parameters)])
        _two_instances_follow_a_failover(a, b, setup)
    finally:
        setup.stop()


def test_a_wrong_sentinel_password_or_a_missing_root_is_refused(make_server, tmp_path):
    """Without the sentinels' password, or without the private root, no sentinel gives the master: the
    instance does not start, and says why. A missing password file stops it before it dials anything."""
    setup = SentinelSetup(tmp_path, secure=True)
    try:
        password = tmp_path / "master-password"
        password.write_text(SentinelSetup.MASTER_PASSWORD + "\n")
        for parameters, why in (
                (f"?password_file={password}&ssl_ca_certs={setup.certificate}&sentinel_password=wrong",
                 "no sentinel gave master"),
                (f"?password_file={password}&sentinel_password={SentinelSetup.SENTINEL_PASSWORD}",
                 "no sentinel gave master"),
                (f"?password_file={tmp_path / 'missing'}&ssl_ca_certs={setup.certificate}",
                 "cannot read the password file")):
            with pytest.raises(RuntimeError) as failure:
                make_server({}, args=["--engine", setup.url(parameters)])
            # The server's own message (the log tail also shows the command line the test ran) names the
            # URL without the sentinels' password.
            error = [line for line in str(failure.value).splitlines() if line.startswith("Error: ")]
            assert error and why in error[-1], failure.value
            assert SentinelSetup.SENTINEL_PASSWORD not in error[-1] and "sentinel_password=***" in error[-1] \
                or "sentinel_password=" not in parameters, error
    finally:
        setup.stop()
