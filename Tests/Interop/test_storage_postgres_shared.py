"""Several instances on one PostgreSQL database (issue 24, `shared_instances=true`): an MQTT persistent
session is owned by the instance its client is on, taken over across instances, and read fresh from the
database by its new owner. Two `switchboard serve` processes share one PostgreSQL server the test starts
(`PostgresServer` of test_storage_postgres.py), without the Redis engine.

- A persistent session made on A, offline, gets on B what was published on A while it was away.
- It also gets what was published on B while A held it (each instance logs every QoS 1/2 publish).
- A client connecting on B while the same client identifier is connected on A takes A's connection
  over (5.0: DISCONNECT 0x8E; 3.1.1: closed), with its session and its subscription.
- `kill -9` of A while its client is connected: the database lets go of A's sessions, and the client
  resumes on B at once.
- The shared log is trimmed below what any instance's session is owed, no further.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from interop import unique
from mqtt_client import V311, V5, VERSIONS, Paho
from test_storage_crash import kill9, persistent
from test_storage_postgres import PostgresServer, postgres  # noqa: F401  (the fixture)


def shared(make_server, postgres: PostgresServer):  # noqa: F811
    url = postgres.url + "&shared_instances=true"
    return make_server(args=["--storage", url]), make_server(args=["--storage", url])


@pytest.mark.parametrize("version", VERSIONS, ids=["3.1.1", "5.0"])
def test_offline_messages_published_on_either_instance_reach_the_session_on_the_other(
    make_server, postgres, version  # noqa: F811
):
    a, b = shared(make_server, postgres)
    topic = unique("shared/")
    cid = unique("sub")
    sub = persistent(a.mqtt_port, version, cid)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    on_a = Paho(a.mqtt_port, version)
    on_b = Paho(b.mqtt_port, version)
    for i in range(10):
        on_a.publish(topic, f"a{i}", qos=1)  # returns once acknowledged
        on_b.publish(topic, f"b{i}", qos=1)
    on_a.disconnect()
    on_b.disconnect()

    sub = persistent(b.mqtt_port, version, cid)
    assert sub.session_present
    got = [m.payload.decode() for m in sub.get_many(20)]
    assert sorted(got) == sorted([f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)])
    # Each instance's own messages in their order.
    assert [m for m in got if m[0] == "a"] == [f"a{i}" for i in range(10)]
    assert [m for m in got if m[0] == "b"] == [f"b{i}" for i in range(10)]
    assert sub.nothing(0.5)
    # Live on B now, and back on A with nothing owed twice.
    Paho(b.mqtt_port, version).publish(topic, "live", qos=1)
    assert sub.get().payload == b"live"
    sub.disconnect()
    sub = persistent(a.mqtt_port, version, cid)
    assert sub.session_present
    assert sub.nothing(0.5)
    sub.disconnect()


@pytest.mark.parametrize("version", VERSIONS, ids=["3.1.1", "5.0"])
def test_connecting_on_b_takes_over_the_client_on_a(make_server, postgres, version):  # noqa: F811
    a, b = shared(make_server, postgres)
    topic = unique("shared/")
    cid = unique("sub")
    first = persistent(a.mqtt_port, version, cid)
    first.subscribe(topic, qos=1)

    second = persistent(b.mqtt_port, version, cid)
    assert second.session_present
    assert first.disconnected.wait(5), "A's client was not disconnected"
    if version == V5:
        assert first.disconnect_reason.value == 0x8E, first.disconnect_reason  # Session taken over
    first.client.loop_stop()
    # The subscription came along: a message published on A reaches the client on B once B holds it.
    Paho(a.mqtt_port, version).publish(topic, "after", qos=1)
    second.disconnect()
    again = persistent(b.mqtt_port, version, cid)
    assert again.session_present
    assert again.get().payload == b"after"
    again.disconnect()


def test_kill9_of_the_owner_lets_the_client_resume_on_the_other(make_server, postgres):  # noqa: F811
    a, b = shared(make_server, postgres)
    topic = unique("shared/")
    cid = unique("sub")
    sub = persistent(a.mqtt_port, V5, cid)
    sub.subscribe(topic, qos=1)
    pub = Paho(a.mqtt_port, V5)
    pub.publish(topic, "before", qos=1)
    assert sub.get().payload == b"before"
    pub.abort()
    sub.client.loop_stop()
    kill9(a)

    Paho(b.mqtt_port, V5).publish(topic, "while-away", qos=1)
    started = time.monotonic()
    resumed = persistent(b.mqtt_port, V5, cid)
    assert resumed.session_present
    assert time.monotonic() - started < 3, "the dead instance's session was not let go of at once"
    assert resumed.get().payload == b"while-away"
    assert resumed.nothing(0.5)
    resumed.disconnect()


def test_a_session_another_instance_will_not_release_refuses_with_server_unavailable(
    make_server, postgres  # noqa: F811
):
    """The session's lock held by something that does not answer the takeover request (here a plain
    database connection): CONNACK 0x88 Server unavailable after the bounded wait, not a hang."""
    a, _b = shared(make_server, postgres)
    cid = unique("sub")
    # FNV-1a 64 of the client identifier, as `PostgresSessionOwnership.lockKey` computes it.
    key = 0xCBF29CE484222325
    for byte in cid.encode():
        key = ((key ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    if key >= 1 << 63:
        key -= 1 << 64
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    psql = prefix + [str(postgres.bin / "psql"), "-h", str(postgres.root), "-p", str(postgres.port),
                     "-U", "switchboard", "-d", "switchboard"]
    holder = subprocess.Popen(psql + ["-c", f"SELECT pg_advisory_lock({key})", "-c", "SELECT pg_sleep(30)"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while postgres.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                           f"AND classid = {unsigned >> 32} AND objid = {unsigned & 0xFFFFFFFF}") != "1":
            assert time.monotonic() < deadline, "the test's lock was not taken"
            time.sleep(0.1)
        refused = Paho(a.mqtt_port, V5, cid, clean=False, connect=False)
        refused.client.connect("127.0.0.1", a.mqtt_port, clean_start=False)
        refused.client.loop_start()
        assert refused.connack.wait(10), "no CONNACK"
        assert refused.reason_code.value == 0x88, refused.reason_code  # Server unavailable
        refused.client.loop_stop()
        old = Paho(a.mqtt_port, V311, cid, clean=False, connect=False)
        old.client.connect("127.0.0.1", a.mqtt_port)
        old.client.loop_start()
        assert old.connack.wait(10), "no CONNACK"
        # 3.1.1: return code 3, Server unavailable (paho reports it as 0x88).
        assert old.reason_code.value == 0x88, old.reason_code
        old.client.loop_stop()
    finally:
        holder.kill()
        holder.wait()


def test_the_shared_log_is_trimmed_below_what_any_instances_session_is_owed(make_server, postgres):  # noqa: F811
    """The session message log is trimmed every 10 s below what the sessions still owe (and 30 s old).
    Shared, an instance does not know what another's sessions owe: one instance at a time works it out
    from the shared tables. B's own session completes ten messages; A's offline session is owed ten more
    that B logs after them. After four trimming rounds the ten completed ones are gone, the ten owed are
    there for A's client."""
    a, b = shared(make_server, postgres)
    topic = unique("shared/")
    done_topic = unique("done/")
    cid = unique("sub")
    sub = persistent(a.mqtt_port, V5, cid)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    # B's own persistent session gets (and acknowledges) what B publishes to `done_topic` first.
    other = persistent(b.mqtt_port, V5, unique("other"))
    other.subscribe(done_topic, qos=1)
    pub = Paho(b.mqtt_port, V5)
    for i in range(10):
        pub.publish(done_topic, f"d{i}", qos=1)
    assert [m.payload.decode() for m in other.get_many(10)] == [f"d{i}" for i in range(10)]
    for i in range(10):
        pub.publish(topic, f"m{i}", qos=1)
    pub.disconnect()
    time.sleep(45)
    assert postgres.sql("SELECT topic FROM message_log GROUP BY topic") == topic
    assert int(postgres.sql("SELECT count(*) FROM message_log")) == 10
    sub = persistent(a.mqtt_port, V5, cid)
    assert sub.session_present
    assert [m.payload.decode() for m in sub.get_many(10)] == [f"m{i}" for i in range(10)]
    sub.disconnect()
    other.disconnect()


def retained_on(server, topic: str, version: int) -> str | None:
    """What a new subscriber on `server` gets as `topic`'s retained message (None: nothing)."""
    client = Paho(server.mqtt_port, version)
    try:
        client.subscribe(topic, qos=1)
        try:
            message = client.get(timeout=0.5)
        except Exception:  # noqa: BLE001  (queue.Empty: nothing retained)
            return None
        assert message.retain
        return message.payload.decode()
    finally:
        client.disconnect()


def retained_becomes(server, topic: str, version: int, expected: str | None, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := retained_on(server, topic, version)) != expected:
        assert time.monotonic() < deadline, f"retained on {topic}: {got!r}, never {expected!r}"
        time.sleep(0.1)


@pytest.mark.parametrize("version", VERSIONS, ids=["3.1.1", "5.0"])
def test_a_retained_message_set_or_cleared_on_one_instance_is_what_a_subscriber_on_the_other_gets(
    make_server, postgres, version  # noqa: F811
):
    """Retained messages live in the shared `retained` table; each change is announced
    (`switchboard_retained`) in the transaction that writes it, and every instance reads the topic's row
    again, so a new subscriber on either instance gets what the database holds [MQTT-3.3.1-6], and
    nothing once it is cleared [MQTT-3.3.1-10] (a zero-byte retained message, QoS 0 too)."""
    a, b = shared(make_server, postgres)
    topic = unique("shared-retained/")
    on_a = Paho(a.mqtt_port, version)
    on_b = Paho(b.mqtt_port, version)
    on_a.publish(topic, "v1", qos=1, retain=True)
    retained_becomes(b, topic, version, "v1")
    on_b.publish(topic, "v2", qos=1, retain=True)
    retained_becomes(a, topic, version, "v2")
    assert retained_on(b, topic, version) == "v2"
    on_a.publish(topic, "v3", qos=0, retain=True)
    retained_becomes(b, topic, version, "v3")
    on_b.publish(topic, b"", qos=0, retain=True)  # cleared on B
    retained_becomes(a, topic, version, None)
    assert retained_on(b, topic, version) is None
    assert postgres.sql(f"SELECT count(*) FROM retained WHERE topic = '{topic}'") == "0"
    on_a.disconnect()
    on_b.disconnect()


def test_an_expired_session_of_a_dead_instance_is_deleted_by_the_other(make_server, postgres):  # noqa: F811
    """No instance takes up the sessions in the database at start, so an offline session whose instance
    died would stay in `session` past its expiry. The trimming round (every 10 s, one instance at a time)
    also deletes the offline sessions past their expiry whose lock no instance holds, with their
    subscriptions: B deletes A's expired session after `kill -9` of A, and keeps A's unexpired one."""
    a, b = shared(make_server, postgres)
    short, lasting = unique("short"), unique("long")
    for cid, expiry in ((short, 1), (lasting, 3600)):
        client = Paho(a.mqtt_port, V5, cid, clean=False, session_expiry=expiry)
        client.subscribe(unique("shared/"), qos=1)
        client.disconnect()

    def stored(cid: str) -> str:
        return postgres.sql(f"SELECT count(*) FROM session WHERE client_id = '{cid}' AND disconnected_at > 0")

    deadline = time.monotonic() + 5
    while stored(short) != "1" or stored(lasting) != "1":
        assert time.monotonic() < deadline, "the disconnections were never stored"
        time.sleep(0.05)
    kill9(a)
    deadline = time.monotonic() + 25
    while postgres.sql(f"SELECT count(*) FROM session WHERE client_id = '{short}'") != "0":
        assert time.monotonic() < deadline, "B never deleted the expired session"
        time.sleep(0.5)
    assert postgres.sql(f"SELECT count(*) FROM session_subscription WHERE client_id = '{short}'") == "0"
    assert stored(lasting) == "1"
    assert postgres.sql(f"SELECT count(*) FROM session_subscription WHERE client_id = '{lasting}'") == "1"
    # Its client finds no session on B, as after any expiry.
    back = Paho(b.mqtt_port, V5, short, clean=False, session_expiry=60)
    assert back.session_present is False
    back.disconnect()
