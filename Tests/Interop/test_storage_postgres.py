"""The PostgreSQL store (issue 24) with the real binary and stock clients: `switchboard serve --storage
postgres://…` against a PostgreSQL server the test starts on a free loopback port, killed with SIGKILL
and restarted; whatever it acknowledged must be in the database.

- Durable history (HTTP publish, native WebSocket `recover`): every publish answered with an offset is
  in the log after the restart, same epoch, offsets continuing.
- MQTT (paho-mqtt): QoS 1 messages acknowledged to their publisher reach an offline persistent
  subscriber after the restart, in order.
- Both again through four rounds of publishing with a kill at a random moment.
- With the database down the server is `degraded` (`/healthz` 200 and `/readyz` 503, both saying why),
  refuses durable publishes (HTTP 503), and is healthy again soon after the database returns, without
  being restarted.
- The database stopped and started while MQTT QoS 1 and QoS 2 publishers and an AMQP publisher with
  confirms keep publishing: every acknowledged (or confirmed) message is delivered afterwards, in order,
  and every publisher gets an answer.
- `switchboard migrate-store` moves an embedded SQLite store into PostgreSQL: history resumes in the same
  epoch, retained messages and persistent sessions with what they are owed are there.
- TLS to the database (libpq's `sslmode` and `sslrootcert`): `verify-full` against the test CA stores
  through an encrypted connection (the database's `pg_stat_ssl` says so); a certificate from another CA
  refuses the start; `require` encrypts without verifying.
- MQTT QoS 2 and AMQP publisher confirms through repeated `kill -9`: nothing acknowledged is lost.

The PostgreSQL binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, or SWITCHBOARD_POSTGRES_BIN);
scripts/test installs the `postgresql` package when they are missing. PostgreSQL refuses to run as
root, so as root they run as the `postgres` user on a directory it owns.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from interop import free_port, run, switchboard_bin, unique, ws_clients
import pika

from amqp_support import connect as amqp_connect
from security_support import CertificateAuthority
from amqp_support import get_all as amqp_get_all
from mqtt_client import V5, Paho
from test_storage_crash import kill_during, persistent, receive_acknowledged, restart


def postgres_binaries() -> Path:
    configured = os.environ.get("SWITCHBOARD_POSTGRES_BIN")
    if configured:
        return Path(configured)
    root = Path("/usr/lib/postgresql")
    versions = sorted((int(p.name) for p in root.glob("*") if p.name.isdigit()), reverse=True) if root.exists() else []
    for version in versions:
        if (root / str(version) / "bin" / "pg_ctl").exists():
            return root / str(version) / "bin"
    pytest.fail("no PostgreSQL server binaries (apt-get install postgresql; scripts/test does)")


class PostgresServer:
    """initdb in `root`, pg_ctl start on a free loopback port, password (SCRAM) over TCP, trust on the
    server's own Unix socket (used only to create the database)."""

    def __init__(self, secrets: Path, tls: "CertificateAuthority | None" = None) -> None:
        self.bin = postgres_binaries()
        self.tls = tls
        # Not under pytest's tmp_path: its parents are private to root, and the server runs as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
        self.data = self.root / "data"
        self.password = uuid.uuid4().hex
        self.port = 0
        (self.root / "pwfile").write_text(self.password + "\n")
        if os.getuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.root / "pwfile", "postgres", "postgres")
        # The store reads the password from here (`?password_file=`), so it is in no command line.
        secrets.mkdir(parents=True, exist_ok=True)
        self.password_file = secrets / "postgres-password"
        self.password_file.write_text(self.password + "\n")
        if tls is not None:
            # The server's certificate and key, where the `postgres` user can read them (the key 0600).
            for source, name in ((tls.server_cert, "server.pem"), (tls.server_key, "server-key.pem")):
                shutil.copy(source, self.root / name)
                os.chmod(self.root / name, 0o600)
                if os.getuid() == 0:
                    shutil.chown(self.root / name, "postgres", "postgres")

    def _options(self) -> str:
        options = f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
        if self.tls is not None:
            options += f" -c ssl=on -c ssl_cert_file={self.root}/server.pem -c ssl_key_file={self.root}/server-key.pem"
        return options

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        # Output to a file, not a pipe: the server `pg_ctl` starts inherits the descriptors and would keep
        # a pipe open until it stops.
        with tempfile.TemporaryFile() as output:
            result = subprocess.run(
                prefix + list(args), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, timeout=120
            )
            if result.returncode != 0:
                output.seek(0)
                raise RuntimeError(f"{' '.join(args)} failed: {output.read().decode(errors='replace')}")

    def start(self) -> "PostgresServer":
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "switchboard", f"--pwfile={self.root}/pwfile",
            "--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync", "--encoding=UTF8", "--locale=C",
        )
        for _attempt in range(5):  # a port found free can be taken before the server binds it
            self.port = free_port()
            try:
                self._run(
                    str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                    "-t", "60", "-o", self._options(), "start",
                )
                break
            except RuntimeError:
                if _attempt == 4:
                    raise
        self._run(str(self.bin / "createdb"), "-h", str(self.root), "-p", str(self.port), "-U", "switchboard",
                  "switchboard")
        return self

    @property
    def url(self) -> str:
        return f"postgres://switchboard@127.0.0.1:{self.port}/switchboard?password_file={self.password_file}"

    def sql(self, query: str) -> str:
        """One query over the server's Unix socket (never TLS), as psql prints it unaligned."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        return subprocess.run(
            prefix + [str(self.bin / "psql"), "-h", str(self.root), "-p", str(self.port), "-U", "switchboard",
                      "-d", "switchboard", "-Atc", query],
            check=True, capture_output=True, text=True, timeout=30).stdout.strip()

    def pause(self) -> None:
        """Stops the database server (immediate: as a crash), keeping its data."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        """Starts it again on the same port and data."""
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
            "-o", self._options(), "start",
        )

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except RuntimeError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def postgres(tmp_path: Path):
    server = PostgresServer(tmp_path / "postgres").start()
    yield server
    server.stop()


def serve_on(make_server, postgres: PostgresServer):
    return make_server(args=["--storage", postgres.url, "--durable-history", "ledger/#=100000"])


def test_acknowledged_history_and_qos1_survive_kill9(make_server, postgres):
    srv = serve_on(make_server, postgres)
    assert "PostgreSQL" in srv.log_path.read_text(errors="replace")
    channel = unique("ledger/")
    positions = [srv.publish(channel, {"n": i}) for i in range(30)]
    epoch = positions[0]["epoch"]
    assert [p["offset"] for p in positions] == list(range(1, 31))

    topic = unique("crash/")
    cid = unique("sub")
    sub = persistent(srv.mqtt_port, V5, cid)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = Paho(srv.mqtt_port, V5)
    for i in range(20):
        pub.publish(topic, f"m{i}", qos=1)  # returns once acknowledged
    pub.abort()

    restart(srv)

    async def body():
        async with ws_clients(srv.ws_url) as ws:
            s = await ws.subscribe(channel, recover={"offset": 10, "epoch": epoch})
            assert s["recovered"] is True, s
            assert [m["data"]["n"] for m in s["messages"]] == list(range(10, 30)), s

    run(body())
    assert srv.publish(channel, {"n": 30}) == {"offset": 31, "epoch": epoch}
    sub = persistent(srv.mqtt_port, V5, cid)
    assert sub.session_present
    assert [m.payload.decode() for m in sub.get_many(20)] == [f"m{i}" for i in range(20)]
    assert sub.nothing(0.5)
    sub.disconnect()


def test_publishing_through_repeated_kill9_loses_nothing_acknowledged(make_server, postgres):
    """Rounds of HTTP publishes to durable history and MQTT QoS 1 publishes to a persistent session while
    the server is killed at a random moment: everything acknowledged is there afterwards, in order."""
    srv = serve_on(make_server, postgres)
    channel = unique("ledger/")
    topic = unique("crash/")
    cid = unique("sub")
    sub = persistent(srv.mqtt_port, V5, cid)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    answered: dict[int, int] = {}
    acknowledged: list[str] = []
    counter = 0

    def publish_until_killed(stop: threading.Event) -> None:
        nonlocal counter
        pub = None
        try:
            pub = Paho(srv.mqtt_port, V5)
            while not stop.is_set():
                value = counter
                counter += 1
                r = srv.post("/api/publish", json={"channel": channel, "data": {"n": value}}, timeout=2)
                if r.status_code != 200:
                    return
                answered[r.json()["offset"]] = value
                info = pub.client.publish(topic, f"m{value}", qos=1)
                info.wait_for_publish(2.0)
                if not info.is_published():
                    return
                acknowledged.append(f"m{value}")
        except Exception:  # the server went away mid-request: that one was not acknowledged
            return
        finally:
            if pub is not None:
                pub.client.loop_stop()
            counter += 1000

    kill_during(srv, publish_until_killed, rounds=4, seed=0x5057)
    assert len(answered) > 20 and len(acknowledged) > 20

    history = srv.get(f"/api/history?channel={channel}&limit=100000").json()
    kept = {m["offset"]: m["data"]["n"] for m in history["messages"]}
    for offset, value in answered.items():
        assert kept.get(offset) == value, f"offset {offset} lost or changed"
    assert sorted(kept) == list(range(1, len(kept) + 1)), "offsets are contiguous"
    assert len({m["epoch"] for m in history["messages"]}) == 1

    receive_acknowledged(srv, cid, acknowledged)


def test_migrate_store_moves_an_embedded_store_into_postgres(make_server, postgres):
    srv = make_server(args=["--durable-history", "ledger/#=100000"])
    channel = unique("ledger/")
    positions = [srv.publish(channel, {"n": i}) for i in range(12)]
    epoch = positions[0]["epoch"]
    retained_topic, topic, cid = unique("sensors/"), unique("owed/"), unique("sub")
    pub = Paho(srv.mqtt_port, V5)
    pub.publish(retained_topic, "21.5", qos=1, retain=True)
    sub = persistent(srv.mqtt_port, V5, cid)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    for i in range(5):
        pub.publish(topic, f"m{i}", qos=1)
    pub.disconnect()
    srv.stop()

    done = subprocess.run(
        [str(switchboard_bin()), "migrate-store", "--from", f"sqlite:{srv.data_dir}", "--to", postgres.url],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("copied "), done.stdout
    again = subprocess.run(
        [str(switchboard_bin()), "migrate-store", "--from", f"sqlite:{srv.data_dir}", "--to", postgres.url],
        capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "empty" in again.stderr, "a second copy into a filled store is refused"

    moved = serve_on(make_server, postgres)

    async def body():
        async with ws_clients(moved.ws_url) as ws:
            s = await ws.subscribe(channel, recover={"offset": 6, "epoch": epoch})
            assert s["recovered"] is True, s
            assert [m["data"]["n"] for m in s["messages"]] == list(range(6, 12)), s

    run(body())
    assert moved.publish(channel, {"n": 12}) == {"offset": 13, "epoch": epoch}
    reader = Paho(moved.mqtt_port, V5)
    reader.subscribe(retained_topic, qos=1)
    assert reader.get().payload == b"21.5"
    reader.disconnect()
    sub = persistent(moved.mqtt_port, V5, cid)
    assert sub.session_present
    assert [m.payload.decode() for m in sub.get_many(5)] == [f"m{i}" for i in range(5)]
    sub.disconnect()


def test_a_database_outage_makes_the_server_degraded_until_it_returns(make_server, postgres):
    srv = serve_on(make_server, postgres)
    channel = unique("ledger/")
    first = srv.publish(channel, {"n": 0})
    assert http_json(srv, "/healthz") == (200, {"status": "ok"})
    topic, cid = unique("owed/"), unique("sub")
    sub = persistent(srv.mqtt_port, V5, cid)  # an offline session that is owed QoS 1/2 messages
    sub.subscribe(topic, qos=2)
    sub.disconnect()
    pub = Paho(srv.mqtt_port, V5)
    postgres.pause()
    try:
        # Not stored, so not acknowledged: PUBACK 0x80 for QoS 1; PUBREC 0x80 for QoS 2, whose flow ends
        # there, so the PUBREL paho sends anyway is answered 0x92 (it read as delivered before).
        for qos in (1, 2):
            info = pub.client.publish(topic, f"q{qos}", qos=qos)
            info.wait_for_publish(5.0)
            assert info.is_published() and not pub.accepted(info), (qos, pub.publish_codes.get(info.mid))
        pub.disconnect()
        refused = srv.post("/api/publish", json={"channel": channel, "data": {"n": 1}})
        assert refused.status_code == 503, f"a durable publish is refused, not acknowledged: {refused.text}"
        status, body = http_json(srv, "/healthz")
        assert status == 200 and body["status"] == "degraded" and body["storage"], body
        status, body = http_json(srv, "/readyz")
        assert status == 503 and body["status"] == "degraded", body
        deadline = time.monotonic() + 5  # the store's statistics reach /metrics once a second
        while not re.search(r"^switchboard_store_degraded 1(\.0)?$", srv.http("GET", "/metrics").text, re.M):
            assert time.monotonic() < deadline, "switchboard_store_degraded is not 1"
            time.sleep(0.2)
    finally:
        postgres.resume()
    deadline = time.monotonic() + 20
    while http_json(srv, "/healthz")[1]["status"] != "ok":
        assert time.monotonic() < deadline, "still degraded 20 s after the database returned"
        time.sleep(0.2)
    assert http_json(srv, "/readyz") == (200, {"status": "ready"})
    # Taken again, in the same epoch: the refused publish's offset was taken back, so the log has no hole
    # and keeps the message acknowledged before the outage.
    after = srv.publish(channel, {"n": 2})
    assert after == {"offset": 2, "epoch": first["epoch"]}, (first, after)
    history = srv.get(f"/api/history?channel={channel}&limit=10").json()["messages"]
    assert [(m["offset"], m["data"]) for m in history] == [(1, {"n": 0}), (2, {"n": 2})], history


def http_json(srv, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(srv.http_url + path, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_database_restarted_under_load_loses_nothing_acknowledged(make_server, postgres):
    # An offline session keeps at most `mqtt.max_queued_messages` (1,000 by default, then drops and
    # counts, as mosquitto does): room for everything these five seconds publish.
    srv = make_server(
        {"mqtt": {"max_queued_messages": 100_000}}, args=["--storage", postgres.url])
    subscribers = {qos: (unique(f"load{qos}/"), unique("sub")) for qos in (1, 2)}
    for qos, (topic, cid) in subscribers.items():
        sub = persistent(srv.mqtt_port, V5, cid)
        sub.subscribe(topic, qos=qos)
        sub.disconnect()
    queue = unique("confirmed")
    with amqp_connect(srv) as conn:
        conn.channel().queue_declare(queue, durable=True)
    acknowledged: dict[int, list[str]] = {1: [], 2: []}
    confirmed: list[bytes] = []
    stop = threading.Event()

    def mqtt_publisher(qos: int) -> None:
        topic, _ = subscribers[qos]
        value = 0
        while not stop.is_set():
            pub = None
            try:
                pub = Paho(srv.mqtt_port, V5)
                while not stop.is_set():
                    info = pub.client.publish(topic, f"m{value}", qos=qos)
                    value += 1
                    info.wait_for_publish(2.0)
                    if not pub.accepted(info):
                        continue  # refused (PUBACK/PUBREC 0x80) while the database is down
                    acknowledged[qos].append(f"m{value - 1}")
            except Exception:
                time.sleep(0.1)
            finally:
                if pub is not None:
                    pub.client.loop_stop()

    def amqp_publisher() -> None:
        value = 0
        while not stop.is_set():
            try:
                with amqp_connect(srv) as conn:
                    ch = conn.channel()
                    ch.confirm_delivery()
                    while not stop.is_set():
                        body = f"c{value}".encode()
                        value += 1
                        ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
                        confirmed.append(body)  # basic_publish returns once confirmed, or raises
            except Exception:
                time.sleep(0.1)

    threads = [threading.Thread(target=mqtt_publisher, args=(qos,)) for qos in (1, 2)]
    threads.append(threading.Thread(target=amqp_publisher))
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    postgres.pause()
    time.sleep(1.5)
    postgres.resume()
    time.sleep(2.5)  # publishing goes on once the database is back
    stop.set()
    for thread in threads:
        thread.join(15)
    assert all(len(acknowledged[qos]) > 20 for qos in (1, 2)) and len(confirmed) > 20, (
        {qos: len(acknowledged[qos]) for qos in (1, 2)}, len(confirmed))

    assert not any(thread.is_alive() for thread in threads), "a publisher got no answer for 15 s"
    for qos, (_, cid) in subscribers.items():
        receive_acknowledged(srv, cid, acknowledged[qos])
    with amqp_connect(srv) as conn:
        bodies = amqp_get_all(conn.channel(), queue)
    missing = [b for b in confirmed if b not in set(bodies)]
    assert not missing, f"{len(missing)} confirmed messages lost, first {missing[:5]}"
    order = [b for b in bodies if b in set(confirmed)]
    assert order == confirmed, "confirmed messages out of order"


@pytest.fixture
def tls_postgres(tmp_path: Path):
    authority = CertificateAuthority(tmp_path / "ca")
    server = PostgresServer(tmp_path / "postgres", tls=authority).start()
    server.authority = authority
    yield server
    server.stop()


def test_a_verified_tls_connection_to_the_database(make_server, tls_postgres):
    url = f"{tls_postgres.url}&sslmode=verify-full&sslrootcert={tls_postgres.authority.ca_cert}"
    srv = make_server(args=["--storage", url, "--durable-history", "ledger/#=1000"])
    channel = unique("ledger/")
    positions = [srv.publish(channel, {"n": i}) for i in range(5)]
    encrypted = int(tls_postgres.sql("SELECT count(*) FROM pg_stat_ssl WHERE ssl"))
    assert encrypted >= 1, "the store's connection is not encrypted"
    restart(srv)
    history = srv.get(f"/api/history?channel={channel}&limit=10").json()
    assert [m["data"]["n"] for m in history["messages"]] == list(range(5))
    assert {m["epoch"] for m in history["messages"]} == {positions[0]["epoch"]}


def test_a_certificate_from_another_authority_refuses_the_start(make_server, tls_postgres, tmp_path):
    stranger = CertificateAuthority(tmp_path / "other-ca")
    url = f"{tls_postgres.url}&sslmode=verify-full&sslrootcert={stranger.ca_cert}"
    with pytest.raises(RuntimeError) as refused:
        make_server(args=["--storage", url])
    assert "certificate" in str(refused.value).lower(), refused.value
    # `require` encrypts without verifying, as libpq's does.
    srv = make_server(args=["--storage", f"{tls_postgres.url}&sslmode=require", "--durable-history", "ledger/#=10"])
    srv.publish(unique("ledger/"), {"n": 1})
    assert int(tls_postgres.sql("SELECT count(*) FROM pg_stat_ssl WHERE ssl")) >= 1


def test_qos2_publishing_through_repeated_kill9_loses_nothing_acknowledged(make_server, postgres):
    from test_storage_crash import qos_publishing_through_kill9

    qos_publishing_through_kill9(serve_on(make_server, postgres), 2, rounds=3, seed=0x0502)


def test_amqp_confirms_through_repeated_kill9_lose_nothing(make_server, postgres):
    from test_amqp_durability import confirmed_under_kill9

    srv = serve_on(make_server, postgres)
    confirmed_under_kill9(srv, rounds=3, seed=24)

