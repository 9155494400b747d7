"""Store faults (issue 26) on the embedded SQLite store, with stock clients and the real binary:
- A full database (`limits.max_store_bytes`, SQLite's `max_page_count`: a commit past it fails with
  SQLITE_FULL as on a full disk): MQTT 5 publishes are refused (PUBACK 0x80), an MQTT 3.1.1 publish is not
  acknowledged (the publisher is disconnected), the failed commits show in /metrics — nothing is
  acknowledged that is not stored. Once the fault clears (the bound raised: a restart) every acknowledged
  message reaches the persistent subscriber it was owed to, in order, and durable work is taken again.
- A damaged database file: moved aside at start (`switchboard.sqlite.corrupt-<time>`), the server starts
  on a new one and says so, and new history starts in a new epoch.
- A database the server cannot write (the server run as `nobody` — root writes through file permissions —
  on a data directory, or a database file, it may not write): the server refuses to start and says why;
  the database is neither moved aside nor changed, and once the permissions are fixed every acknowledged
  message is there.
docs/reliability.md "Store faults" holds the table."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from interop import Server, unique
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
    # MQTT 3.1.1 has no refusal code: the publisher is disconnected, its message not acknowledged.
    old = Paho(srv.mqtt_port, V311)
    info = old.client.publish(topic, b"m-old " + b"x" * PAYLOAD, qos=1)
    info.wait_for_publish(5.0)
    assert not info.is_published(), "a 3.1.1 publish was acknowledged while the store was full"
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
