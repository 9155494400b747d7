"""Store faults (issue 26) on the embedded SQLite store, with stock clients and the real binary:
- A full database (`limits.max_store_bytes`, SQLite's `max_page_count`: a commit past it fails with
  SQLITE_FULL as on a full disk): MQTT 5 publishes are refused (PUBACK 0x80), an MQTT 3.1.1 publish is not
  acknowledged (the publisher is disconnected), the failed commits show in /metrics — nothing is
  acknowledged that is not stored. Once the fault clears (the bound raised: a restart) every acknowledged
  message reaches the persistent subscriber it was owed to, in order, and durable work is taken again.
- A damaged database file: moved aside at start (`switchboard.sqlite.corrupt-<time>`), the server starts
  on a new one and says so, and new history starts in a new epoch.
- A disk that fills while the server runs (the data directory on a small tmpfs, filled by a ballast file):
  `/readyz` 503 and `switchboard_store_degraded` 1 until space is freed; each protocol refuses durable work
  with its own answer (MQTT 5 PUBACK 0x80, 3.1.1 disconnect, AMQP basic.nack, JetStream PubAck error, Kafka
  REST per-record error, HTTP 503) while QoS 0 traffic goes on; ready again once the ballast is deleted, and
  after a restart everything acknowledged before, during and after the fault is there.
- A database the server cannot write (the server run as `nobody` — root writes through file permissions —
  on a data directory, or a database file, it may not write): the server refuses to start and says why;
  the database is neither moved aside nor changed, and once the permissions are fixed every acknowledged
  message is there.
- A file system that turns read-only while the server runs (ext4 on a loop device, `errors=remount-ro`, an
  error reported through ext4's test hook): durable work refused with each protocol's code, degraded until a
  restart after `e2fsck` (the kernel keeps it read-only until it is unmounted), nothing acknowledged lost.
docs/reliability.md "Store faults" holds the table."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import nats
import pika
import pika.exceptions
import pytest
import requests
from nats.js.errors import APIError

from amqp_support import connect as amqp_connect
from amqp_support import get_all
from interop import DEFAULT_CONFIG, Server, unique
from mqtt_client import V5, V311, Paho
from test_storage_crash import persistent

PAYLOAD = 2048


def fill(pub: Paho, topic: str, start: int, limit: int = 5000) -> tuple[list[str], int | None]:
    """Publishes QoS 1 until one is refused; returns the acknowledged ones and the refused index."""
    acknowledged: list[str] = []
    for i in range(start, start + limit):
        name = f"m{i}"
        info = pub.client.publish(topic, name.encode() + b" " + b"x" * PAYLOAD, qos=1)
        info.wait_for_publish(10.0)
        if not pub.accepted(info):
            return acknowledged, i
        acknowledged.append(name)
    return acknowledged, None


def drain(srv, cid: str, acknowledged: list[str]) -> None:
    """Resumes persistent session `cid` and reads until every acknowledged message arrived (each payload is
    its name, a space and padding): none missing, in publication order."""
    sub = persistent(srv.mqtt_port, V5, cid)
    assert sub.session_present
    received: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(received) < len(acknowledged):
        try:
            received.append(sub.get(timeout=1.0).payload.split(b" ", 1)[0].decode())
        except Exception:
            pass
    sub.disconnect()
    assert received == acknowledged, (len(received), len(acknowledged), [m for m in acknowledged if m not in received][:5])


def assert_311_publish_refused(srv, topic: str, fault: str) -> None:
    """MQTT 3.1.1 has no refusal code: the publisher is disconnected, its message not acknowledged."""
    old = Paho(srv.mqtt_port, V311)
    info = old.client.publish(topic, b"m-old " + b"x" * PAYLOAD, qos=1)
    info.wait_for_publish(5.0)
    assert not info.is_published(), f"a 3.1.1 publish was acknowledged {fault}"


def assert_qos0_goes_on(srv) -> None:
    """Non-durable traffic is untouched by a store fault: MQTT QoS 0 between two clients."""
    live = unique("live/")
    listener = Paho(srv.mqtt_port, V5)
    listener.subscribe(live, qos=0)
    talker = Paho(srv.mqtt_port, V5)
    talker.client.publish(live, b"still here", qos=0)
    assert listener.get(timeout=5.0).payload == b"still here"
    listener.disconnect()
    talker.disconnect()


def test_a_full_database_refuses_durable_work_then_takes_it_again_once_the_fault_clears(make_server):
    srv = make_server({"limits": {"max_store_bytes": 1 << 20}})
    topic, cid = unique("owed/"), unique("sub")
    sub = persistent(srv.mqtt_port, V5, cid)  # offline and owed every QoS 1 message: each one is stored
    sub.subscribe(topic, qos=1)
    sub.disconnect()

    pub = Paho(srv.mqtt_port, V5)
    acknowledged, refused = fill(pub, topic, 0)
    assert refused is not None and len(acknowledged) > 50, (len(acknowledged), refused)
    code = pub.publish_codes.get(max(pub.publish_codes))
    deadline = time.monotonic() + 5  # the store's statistics reach /metrics once a second
    while not re.search(r"^switchboard_store_failed_commits_total [1-9]", srv.http("GET", "/metrics").text, re.M):
        assert time.monotonic() < deadline, "no failed commit in /metrics"
        time.sleep(0.2)
    assert_311_publish_refused(srv, topic, "while the store was full")
    pub.disconnect()

    # The fault cleared (the bound raised, as after freeing disk space): every acknowledged message is
    # there, in order, and durable work is taken again.
    srv.stop()
    srv.config["limits"]["max_store_bytes"] = 0
    srv.start()
    drain(srv, cid, acknowledged)
    pub = Paho(srv.mqtt_port, V5)
    more = [f"m{10000 + i}" for i in range(10)]
    for name in more:
        info = pub.client.publish(topic, name.encode() + b" " + b"x" * PAYLOAD, qos=1)
        info.wait_for_publish(10.0)
        assert pub.accepted(info), pub.publish_codes.get(info.mid)
    pub.disconnect()
    drain(srv, cid, more)
    health = srv.get("/healthz").json()
    assert health["status"] == "ok", health
    assert code is not None and getattr(code, "is_failure", False), code


def test_a_damaged_database_is_moved_aside_and_the_server_starts_on_a_new_one(make_server):
    srv = make_server({"history": [{"filter": "ledger/#", "count": 100, "durable": True}]})
    channel = unique("ledger/")
    first = srv.publish(channel, {"n": 1})
    srv.stop()
    data = srv.data_dir
    database = data / "switchboard.sqlite"
    with open(database, "r+b") as file:  # the header and the first pages overwritten
        file.seek(0)
        file.write(b"\x00garbage" * 4096)
    for suffix in ("-wal", "-shm"):
        (data / f"switchboard.sqlite{suffix}").unlink(missing_ok=True)
    srv.start()
    aside = list(data.glob("switchboard.sqlite.corrupt-*"))
    assert aside, sorted(p.name for p in data.iterdir())
    assert "failed its integrity check" in srv.tail(200), srv.tail(40)
    after = srv.publish(channel, {"n": 2})
    assert after["epoch"] != first["epoch"] and after["offset"] == 1, (first, after)
    assert srv.get("/healthz").json()["status"] == "ok"


class UnprivilegedServer(Server):
    """The server run as `nobody`, whom file permissions bind (the tests run as root, who writes through
    them)."""

    def command(self) -> list[str]:
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *super().command()]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
@pytest.mark.parametrize("unwritable", ["directory", "file"])
def test_a_database_the_server_cannot_write_is_refused_at_start_and_kept_intact(unwritable):
    # A directory `nobody` can reach (pytest's tmp_path is root's alone); removed at the end.
    work = Path(tempfile.mkdtemp(prefix="sb-readonly-"))
    os.chmod(work, 0o755)
    try:
        config = {"history": [{"filter": "ledger/#", "count": 100, "durable": True}]}
        srv = Server(work, config).start()
        channel, topic, cid = unique("ledger/"), unique("owed/"), unique("sub")
        answered = [srv.publish(channel, {"n": n}) for n in range(3)]
        sub = persistent(srv.mqtt_port, V5, cid)
        sub.subscribe(topic, qos=1)
        sub.disconnect()
        pub = Paho(srv.mqtt_port, V5)
        info = pub.client.publish(topic, b"owed", qos=1)
        info.wait_for_publish(10.0)
        assert pub.accepted(info)
        pub.disconnect()
        srv.stop()

        database = srv.data_dir / "switchboard.sqlite"
        files = sorted(srv.data_dir.iterdir())
        if unwritable == "directory":
            os.chmod(srv.data_dir, 0o555)
        else:
            os.chmod(srv.data_dir, 0o777)  # the -wal and -shm files could be made; the database not written
        for path in files:
            os.chmod(path, 0o444)
        digest = hashlib.sha256(database.read_bytes()).hexdigest()

        nobody = UnprivilegedServer(work, config)
        nobody.port, nobody.ports = srv.port, srv.ports
        with pytest.raises(RuntimeError, match="exited with 1 during startup"):
            nobody.start()
        log = nobody.tail(200)
        assert "cannot be written" in log and "check their owner and permissions" in log, log
        assert "failed its integrity check" not in log, log
        # Intact and in place: not moved aside as if it were damaged, not changed.
        assert not list(srv.data_dir.glob("switchboard.sqlite.corrupt-*")), sorted(p.name for p in srv.data_dir.iterdir())
        assert hashlib.sha256(database.read_bytes()).hexdigest() == digest

        # Permissions fixed: everything acknowledged is there, in its epoch.
        os.chmod(srv.data_dir, 0o755)
        for path in srv.data_dir.iterdir():
            os.chmod(path, 0o644)
        srv.start()
        history = srv.get(f"/api/history?channel={channel}&limit=100").json()["messages"]
        assert [(m["offset"], m["epoch"]) for m in history] == [(a["offset"], a["epoch"]) for a in answered]
        sub = persistent(srv.mqtt_port, V5, cid)
        assert sub.session_present
        assert sub.get(timeout=5.0).payload == b"owed"
        sub.disconnect()
        srv.stop()
    finally:
        for root, dirs, _ in os.walk(work):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def small_disk(path: Path, size: str):
    """A size-limited tmpfs mounted on `path` (a real full file system: writes fail with ENOSPC, SQLite's
    SQLITE_FULL), unmounted at the end."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_disk(directory: Path) -> Path:
    """Writes a ballast file in `directory` until the file system is full; returns it."""
    ballast = directory / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (65536, 4096, 512):  # what a bigger write could not take
            chunk = b"\0" * size
            while True:
                try:
                    os.write(fd, chunk)
                except OSError:
                    break
    finally:
        os.close(fd)
    return ballast


def wait_for(condition, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(0.2)


async def js_connect(srv):
    return await nats.connect(srv.nats_url, connect_timeout=3, allow_reconnect=False)


def js_publish(srv, subject: str, payload: bytes):
    """One JetStream publish: the PubAck's sequence, or the APIError the server answered with."""

    async def body():
        nc = await js_connect(srv)
        try:
            return (await nc.jetstream().publish(subject, payload, timeout=5)).seq
        except APIError as error:
            return error
        finally:
            await nc.close()

    return asyncio.run(body())


def amqp_confirmed(srv, queue: str, body: bytes) -> bool:
    """Publishes one persistent message to durable `queue` with publisher confirms: True for basic.ack,
    False for basic.nack."""
    with amqp_connect(srv) as conn:
        ch = conn.channel()
        ch.queue_declare(queue, durable=True)
        ch.confirm_delivery()
        try:
            ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2), mandatory=True)
            return True
        except pika.exceptions.NackError:
            return False


def kafka_produce(srv, topic: str, value: str) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{srv.ports['kafka_rest']}/topics/{topic}",
        data=json.dumps({"records": [{"value": base64.b64encode(value.encode()).decode()}]}),
        headers={"Content-Type": "application/vnd.kafka.binary.v2+json"},
        timeout=10,
    )


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="needs root to mount a tmpfs")
def test_a_disk_that_fills_while_the_server_runs_degrades_it_until_space_is_freed(tmp_path):
    work = tmp_path / "srv"
    with small_disk(work / "data", "8m") as data:
        config = copy.deepcopy(DEFAULT_CONFIG)
        config["history"].append({"filter": "ledger/#", "count": 1000, "durable": True})
        srv = Server(work, config).start()
        try:
            _disk_fault_scenario(srv, data)
        finally:
            srv.stop()


def _disk_fault_scenario(srv: Server, data: Path) -> None:
    ledger, topic, cid = unique("ledger/"), unique("owed/"), unique("sub")
    queue, subject = unique("dq"), unique("js")
    stream = subject.upper()

    async def add_stream():
        nc = await js_connect(srv)
        await nc.jetstream().add_stream(name=stream, subjects=[f"{subject}.>"])
        await nc.close()

    asyncio.run(add_stream())
    sub = persistent(srv.mqtt_port, V5, cid)  # offline and owed every QoS 1 message: each one is stored
    sub.subscribe(topic, qos=1)
    sub.disconnect()

    # Before the fault: one acknowledged message of each kind.
    answered = [srv.publish(ledger, {"n": 0})]
    pub = Paho(srv.mqtt_port, V5)
    acknowledged, refused = fill(pub, topic, 0, limit=3)
    assert refused is None and len(acknowledged) == 3
    assert amqp_confirmed(srv, queue, b"a0")
    assert js_publish(srv, f"{subject}.x", b"j0") == 1
    assert kafka_produce(srv, "kt", "k0").status_code == 200

    # The disk fills while the server runs: durable work is refused until it is freed.
    ballast = fill_disk(data)
    more, refused = fill(pub, topic, 3)
    acknowledged += more
    assert refused is not None, "no MQTT 5 publish was refused on a full disk"
    code = pub.publish_codes.get(max(pub.publish_codes))
    assert getattr(code, "is_failure", False) and code.value == 0x80, code

    seen: list = []

    def degraded():
        ready = srv.http("GET", "/readyz")
        metrics = srv.http("GET", "/metrics").text
        seen[:] = [ready.status_code, ready.text, re.findall(r"^switchboard_store_degraded.*$", metrics, re.M)]
        # A requests.Response is falsy for a 503: answer its JSON.
        return ready.status_code == 503 and re.search(r"^switchboard_store_degraded 1(\.0)?$", metrics, re.M) and ready.json()

    ready = wait_for(degraded, lambda: f"/readyz and /metrics did not say degraded: {seen}")
    assert ready["status"] == "degraded" and "full" in ready["storage"], ready
    assert srv.get("/healthz").json()["status"] == "degraded"
    # Each protocol's own refusal, and nothing acknowledged that was not stored.
    late = srv.http("POST", "/api/publish", json={"channel": ledger, "data": {"n": 1}})
    assert late.status_code >= 500, late.text
    assert not amqp_confirmed(srv, queue, b"a-refused")
    refusal = js_publish(srv, f"{subject}.x", b"j-refused")
    assert isinstance(refusal, APIError), refusal
    # The proxy answers a produce per record (as Confluent's does): the record carries an error code and no
    # offset.
    produced = kafka_produce(srv, "kt", "k-refused")
    assert produced.status_code == 200, produced.text
    [entry] = produced.json()["offsets"]
    assert entry.get("offset") is None and entry["error_code"] == 50002 and "not stored" in entry["error"], entry
    assert_311_publish_refused(srv, topic, "on a full disk")
    assert_qos0_goes_on(srv)
    assert srv.http("GET", "/readyz").status_code == 503, "ready again while the disk is still full"

    # Space freed: the server is ready again without a restart and takes durable work.
    ballast.unlink()
    wait_for(lambda: srv.http("GET", "/readyz").status_code == 200, "not ready after the disk was freed")
    pub.disconnect()
    pub = Paho(srv.mqtt_port, V5)
    after, refused = fill(pub, topic, 20000, limit=3)
    assert refused is None, refused
    acknowledged += after
    pub.disconnect()
    answered.append(srv.publish(ledger, {"n": 2}))
    assert amqp_confirmed(srv, queue, b"a1")
    # The refused publish's sequence was taken before the commit failed; it stays a gap (as a deleted
    # message), never reused for another message.
    assert js_publish(srv, f"{subject}.x", b"j1") == 3
    assert kafka_produce(srv, "kt", "k1").status_code == 200

    # After a restart every acknowledged message is there, in order; none of the refused ones.
    srv.stop()
    srv.start()
    drain(srv, cid, acknowledged)
    history = srv.get(f"/api/history?channel={ledger}&limit=100").json()["messages"]
    assert [(m["offset"], m["epoch"], m["data"]) for m in history] == [
        (a["offset"], a["epoch"], {"n": n}) for a, n in zip(answered, (0, 2))
    ], (history, answered)
    with amqp_connect(srv) as conn:
        bodies = get_all(conn.channel(), queue)
    assert bodies == [b"a0", b"a1"], bodies

    async def stream_messages():
        nc = await js_connect(srv)
        info = await nc.jetstream().stream_info(stream)
        await nc.close()
        return info.state.messages

    assert asyncio.run(stream_messages()) == 2


@contextmanager
def ext4_disk(path: Path, size_mb: int = 64):
    """An ext4 file system on a loop device mounted on `path` with `errors=remount-ro` (the default of most
    distributions' root file systems): after an error the kernel turns it read-only under the running
    server, as after a failing disk. Yields the image file (for `e2fsck`); unmounted and removed at the end.
    Skips the test where the sandbox does not allow it."""
    for tool in ("mount", "mkfs.ext4", "e2fsck", "findmnt"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    path.mkdir(parents=True, exist_ok=True)
    image = path.parent / f"{path.name}.ext4"
    with open(image, "wb") as f:
        f.truncate(size_mb << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    mounted = subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        image.unlink()
        pytest.skip(f"cannot mount an ext4 image on a loop device here: {mounted.stderr.strip()}")
    try:
        yield image
    finally:
        subprocess.run(["umount", str(path)], check=False, capture_output=True)
        image.unlink(missing_ok=True)


def trigger_ext4_error(path: Path) -> None:
    """Reports an error on the ext4 file system mounted on `path` through ext4's own test hook
    (`/sys/fs/ext4/<device>/trigger_fs_error`, what the kernel does when it meets a bad block or a failed
    journal write): with `errors=remount-ro` the journal is aborted and the file system is read-only from
    then on — writes and fsync fail with EROFS — until it is unmounted."""
    device = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(path)], capture_output=True, text=True,
                            check=True).stdout.strip().rsplit("/", 1)[-1]
    hook = Path(f"/sys/fs/ext4/{device}/trigger_fs_error")
    if not hook.exists():
        pytest.skip(f"this kernel has no {hook}")
    hook.write_text("switchboard test: the disk failed\n")
    probe = path / "probe"
    with pytest.raises(OSError):
        probe.write_bytes(b"x")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a file system")
def test_a_file_system_turned_read_only_while_the_server_runs_refuses_durable_work_and_loses_nothing(tmp_path):
    """The data directory's file system becomes read-only under the running server (ext4 with
    `errors=remount-ro` after an error). An administrator's `mount -o remount,ro` cannot do this: the kernel
    refuses it (EBUSY) while the server holds the database open for writing — so the kernel's own remount
    after an I/O error is the way it happens. Durable work is refused with each protocol's code and nothing
    unstored is acknowledged; the kernel keeps the file system read-only until it is unmounted, so recovery
    is a restart after `e2fsck`, with every message acknowledged before the fault there."""
    work = tmp_path / "srv"
    with ext4_disk(work / "data") as image:
        # The kernel refuses an administrator's read-only remount while the database is open for writing.
        config = copy.deepcopy(DEFAULT_CONFIG)
        config["history"].append({"filter": "ledger/#", "count": 1000, "durable": True})
        srv = Server(work, config).start()
        try:
            busy = subprocess.run(["mount", "-o", "remount,ro", str(work / "data")], capture_output=True, text=True)
            assert busy.returncode != 0, "the kernel remounted a file system with a database open for writing"
            _read_only_scenario(srv, work / "data", image)
        finally:
            srv.stop()


def _read_only_scenario(srv: Server, data: Path, image: Path) -> None:
    ledger, topic, cid, queue = unique("ledger/"), unique("owed/"), unique("sub"), unique("dq")
    sub = persistent(srv.mqtt_port, V5, cid)  # offline and owed every QoS 1 message: each one is stored
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    answered = [srv.publish(ledger, {"n": 0})]
    pub = Paho(srv.mqtt_port, V5)
    acknowledged, refused = fill(pub, topic, 0, limit=3)
    assert refused is None and len(acknowledged) == 3
    assert amqp_confirmed(srv, queue, b"a0")
    assert kafka_produce(srv, "kro", "k0").status_code == 200

    trigger_ext4_error(data)
    more, refused = fill(pub, topic, 3, limit=50)
    acknowledged += more
    assert refused is not None, "an MQTT 5 publish was acknowledged on a read-only file system"
    code = pub.publish_codes.get(max(pub.publish_codes))
    assert getattr(code, "is_failure", False) and code.value == 0x80, code
    seen: list = []

    def degraded():
        ready = srv.http("GET", "/readyz")
        seen[:] = [ready.status_code, ready.text]
        return ready.status_code == 503 and ready.json()

    ready = wait_for(degraded, lambda: f"/readyz did not say degraded: {seen}")
    assert ready["status"] == "degraded" and ready["storage"], ready
    late = srv.http("POST", "/api/publish", json={"channel": ledger, "data": {"n": 1}})
    assert late.status_code >= 500, late.text
    assert not amqp_confirmed(srv, queue, b"a-refused")
    [entry] = kafka_produce(srv, "kro", "k-refused").json()["offsets"]
    assert entry.get("offset") is None and entry["error_code"] == 50002, entry
    assert_311_publish_refused(srv, topic, "on a read-only file system")
    assert_qos0_goes_on(srv)
    pub.disconnect()
    time.sleep(2.5)  # the store's probes (every second) keep finding it read-only
    assert srv.http("GET", "/readyz").status_code == 503, "ready again while the file system is read-only"

    # Recovery: the file system back (unmounted, checked, mounted again), the server restarted on it.
    srv.stop()
    subprocess.run(["umount", str(data)], check=True)
    checked = subprocess.run(["e2fsck", "-fy", str(image)], capture_output=True, text=True)
    assert checked.returncode in (0, 1), checked.stdout + checked.stderr  # 1: errors corrected
    subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(data)], check=True)
    srv.start()
    drain(srv, cid, acknowledged)
    history = srv.get(f"/api/history?channel={ledger}&limit=100").json()["messages"]
    assert [(m["offset"], m["epoch"], m["data"]) for m in history] == [
        (answered[0]["offset"], answered[0]["epoch"], {"n": 0})], (history, answered)
    with amqp_connect(srv) as conn:
        bodies = get_all(conn.channel(), queue)
    assert bodies == [b"a0"], bodies
    # Durable work is taken again.
    assert srv.http("GET", "/readyz").status_code == 200
    assert amqp_confirmed(srv, queue, b"a1")
    assert srv.publish(ledger, {"n": 2})["offset"] == answered[0]["offset"] + 1
