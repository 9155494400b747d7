"""Issue 23, routing slice: three Switchboard instances joined through one redis-server (Debian's, started
here on a free loopback port). A publish on any instance reaches the subscribers of every instance, on
every protocol, in order; an instance receives only the topics its subscribers want; request/reply
crosses instances. docs/redis.md maps each point to its test."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import nats
import pytest

from interop import wait_for
from interop import free_port, is_message, listening, open_ws, run, unique
from mqtt_client import V5, V311, Paho
from nats_support import ping_responder


@pytest.fixture
def redis_server(tmp_path: Path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (scripts/test installs Debian's redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}", port
    proc.terminate()
    proc.wait(5)


def redis_command(port: int, *args: str) -> bytes:
    """One command over a raw socket (RESP2 inline arrays), the reply's raw bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        body = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        s.sendall(body.encode())
        time.sleep(0.1)
        return s.recv(65536)


@pytest.fixture
def cluster(make_server, redis_server):
    url, _ = redis_server
    return [make_server({}, args=["--engine", url]) for _ in range(3)]


def test_a_publish_on_one_instance_reaches_every_protocol_on_the_others(cluster):
    a, b, c = cluster
    topic = f"chat/{unique()}"

    async def body():
        ws_b = await open_ws(b.ws_url)
        await ws_b.subscribe(topic)
        mqtt_c = Paho(c.mqtt_port, V5)
        mqtt_c.subscribe("chat/#", qos=1)
        nc_b = await nats.connect(b.nats_url)
        sub = await nc_b.subscribe(topic.replace("/", "."))
        await nc_b.flush()
        await asyncio.sleep(0.3)  # the instances' Redis subscriptions are confirmed
        # Published over MQTT on A: 20 messages, in order, everywhere.
        mqtt_a = Paho(a.mqtt_port, V311)
        for n in range(20):
            mqtt_a.publish(topic, json.dumps({"n": n}), qos=1)
        got_ws = [m["data"]["n"] for m in await ws_b.messages(topic, 20)]
        got_nats = [json.loads((await sub.next_msg(timeout=5)).data)["n"] for _ in range(20)]
        got_mqtt = [json.loads(m.payload)["n"] for m in await asyncio.to_thread(mqtt_c.get_many, 20)]
        assert got_ws == got_nats == got_mqtt == list(range(20)), (got_ws, got_nats, got_mqtt)
        # Published over HTTP on C reaches the WebSocket on B; none comes back twice.
        r = await asyncio.to_thread(c.post, "/api/publish", json={"channel": topic, "data": {"n": 99}})
        assert r.status_code == 200, r.text
        assert (await ws_b.message(topic))["data"] == {"n": 99}
        await asyncio.sleep(0.3)
        assert not ws_b.pending(lambda f: f.get("type") == "message" and f.get("channel") == topic), ws_b.pending()
        mqtt_a.disconnect()
        mqtt_c.disconnect()
        await nc_b.close()
        await ws_b.close()

    run(body())


def test_an_instance_asks_redis_only_for_what_its_subscribers_want(cluster, redis_server):
    a, b, _ = cluster
    _, port = redis_server
    topic = f"sensors/{unique()}/temp"
    watcher = Paho(b.mqtt_port, V5)
    watcher.subscribe("sensors/+/temp", qos=0)
    exact = Paho(b.mqtt_port, V5)
    exact.subscribe(topic, qos=0)
    channels = wait_for(lambda: b"switchboard:" + topic.encode() in redis_command(port, "PUBSUB", "CHANNELS", "*"))
    assert channels, redis_command(port, "PUBSUB", "CHANNELS", "*")
    assert int(redis_command(port, "PUBSUB", "NUMPAT").split(b"\r\n")[0][1:]) >= 1
    # A glob can match more than the filter: the bus matches again, so sensors/x/y/temp is not delivered.
    publisher = Paho(a.mqtt_port, V5)
    publisher.publish(f"sensors/{unique()}/deeper/temp", "no", qos=1)
    publisher.publish(topic, "yes", qos=1)
    assert watcher.get().payload == b"yes"
    assert exact.get().payload == b"yes"
    assert watcher.nothing(0.5)
    # When the last local subscriber goes, so does the instance's Redis subscription.
    exact.disconnect()
    gone = wait_for(lambda: b"switchboard:" + topic.encode() not in redis_command(port, "PUBSUB", "CHANNELS", "*"))
    assert gone
    for client in (watcher, publisher):
        client.disconnect()


def test_request_reply_crosses_instances(cluster):
    a, b, _ = cluster

    async def body():
        # A NATS request on A, and a native WebSocket rpc on A, both answered by the responder on B.
        async with ping_responder(b.nats_url):
            requester = await nats.connect(a.nats_url)
            reply = await requester.request("svc.ping", b"1", timeout=5)
            assert reply.data == b"pong:1"
            ws = await open_ws(a.ws_url)
            answer_frame = await ws.expect({"type": "rpc", "channel": "svc/ping", "data": "2"}, "reply")
            assert answer_frame.get("text", answer_frame.get("data")) in ("pong:\"2\"", 'pong:"2"'), answer_frame
            await ws.close()
            await requester.close()

    run(body())


def test_an_instance_without_redis_does_not_start(make_server):
    port = free_port()  # nothing listens there
    with pytest.raises(RuntimeError) as failure:
        make_server({}, args=["--engine", f"redis://127.0.0.1:{port}"])
    # It exits (not hangs unhealthy), and says which engine it could not reach and why.
    assert "during startup" in str(failure.value), failure.value
    assert f"Error: engine redis://127.0.0.1:{port}: " in str(failure.value), failure.value
    assert "Connection refused" in str(failure.value), failure.value


def test_presence_spans_instances_and_an_instance_that_dies_leaves_it(cluster):
    a, b, c = cluster
    room = f"chat/{unique()}"  # the default configuration tracks presence on chat/#

    def present(server):
        r = server.get("/api/presence", params={"channel": room})
        assert r.status_code == 200, r.text
        return sorted(entry["protocol"] for entry in r.json()["clients"])

    async def body():
        ws = await open_ws(a.ws_url)
        await ws.subscribe(room)
        mqtt = Paho(b.mqtt_port, V5)
        mqtt.subscribe(room, qos=0)
        nc = await nats.connect(c.nats_url)
        await nc.subscribe(room.replace("/", "."))
        await nc.flush()
        # Every instance lists all three; A's WebSocket heard the others join.
        for server in (a, b, c):
            listed = await asyncio.to_thread(wait_for, lambda s=server: present(s) == ["mqtt", "nats", "websocket"])
            assert listed, (server.name, present(server))
        joins = await ws.wait(lambda f: f.get("type") == "join" and f["client"]["protocol"] == "mqtt", 5, "mqtt join")
        assert joins["channel"] == room
        # A client that leaves B leaves everywhere.
        mqtt.disconnect()
        left = await ws.wait(lambda f: f.get("type") == "leave" and f["client"]["protocol"] == "mqtt", 5, "mqtt leave")
        assert left["channel"] == room
        assert await asyncio.to_thread(wait_for, lambda: present(c) == ["nats", "websocket"]), present(c)
        await nc.close()
        await ws.close()

    run(body())


def test_an_instance_killed_leaves_presence_within_the_heartbeat_timeout(cluster):
    a, b, _ = cluster
    room = f"chat/{unique()}"
    mqtt = Paho(b.mqtt_port, V311)
    mqtt.subscribe(room)

    def present():
        return [e["protocol"] for e in a.get("/api/presence", params={"channel": room}).json()["clients"]]

    assert wait_for(lambda: present() == ["mqtt"]), present()
    b.proc.kill()  # kill -9: no goodbye
    b.proc.wait(5)
    started = time.monotonic()
    assert wait_for(lambda: present() == [], timeout=10), present()
    # Three heartbeats of two seconds, plus one beat of slack.
    assert time.monotonic() - started < 9
    mqtt.abort()


def test_redis_restarted_under_load_degrades_then_resumes(make_server, tmp_path):
    """Redis goes away under publishers on three protocols (HTTP on a topic with history, MQTT and NATS on
    one without), all on A, with subscribers on A and B. docs/redis.md ("What it guarantees" under
    "Routing between instances" and "History across instances") says what that window costs, and this
    checks exactly that:
    - before: everything reaches B; during: A's own subscribers get everything (every instance keeps serving
      its own clients), each instance says `degraded` (engine) on /readyz (503) and /healthz (200); what B
      gets of the outage's publishes may be short (a kept frame can reach Redis before B resubscribed) but
      is, per publisher, in order and once; after both are ready again: everything reaches B, in order.
    - history: Redis came back without the log (a restart without persistence), so the topic's log is in a
      new epoch; a client resuming from the old epoch is told `recovered: false` with the new epoch, and
      what is published after continues that epoch's offsets."""
    binary = shutil.which("redis-server")
    port = free_port()

    def start_redis():
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: listening(port)), "redis-server did not start"
        return proc

    redis = start_redis()
    a = make_server({}, args=["--engine", f"redis://127.0.0.1:{port}"])
    b = make_server({}, args=["--engine", f"redis://127.0.0.1:{port}"])
    base = unique()
    history = f"chat/{base}"  # the default configuration keeps history on chat/#
    live = f"ticks/{base}"
    sent: dict[str, list[int]] = {"http": [], "mqtt": [], "nats": []}

    async def body():
        nonlocal redis
        ws_b = await open_ws(b.ws_url)
        epoch = (await ws_b.subscribe(history))["epoch"]
        ws_a = await open_ws(a.ws_url)
        await ws_a.subscribe(history)
        mqtt_b, mqtt_a = Paho(b.mqtt_port, V5), Paho(a.mqtt_port, V5)
        for subscriber in (mqtt_b, mqtt_a):
            subscriber.subscribe(f"{live}/#", qos=1)
        mqtt_pub = Paho(a.mqtt_port, V311)
        nc = await nats.connect(a.nats_url)
        await asyncio.sleep(0.5)  # B's Redis subscriptions are confirmed

        async def burst(count: int) -> list[dict]:
            """`count` publishes on each protocol, the three publishers at once; the HTTP answers."""
            answers: list[dict] = []

            async def http():
                for _ in range(count):
                    sent["http"].append(n := len(sent["http"]) + 1)
                    answers.append(await a.apublish(history, {"n": n}))

            async def mqtt():
                for _ in range(count):
                    sent["mqtt"].append(n := len(sent["mqtt"]) + 1)
                    await asyncio.to_thread(mqtt_pub.publish, f"{live}/mqtt", str(n), 1)

            async def nats_():
                for _ in range(count):
                    sent["nats"].append(n := len(sent["nats"]) + 1)
                    await nc.publish(f"{live}.nats".replace("/", "."), str(n).encode())
                    await nc.flush()
                    await asyncio.sleep(0.01)

            await asyncio.gather(http(), mqtt(), nats_())
            return answers

        got_b: dict[str, list[int]] = {"http": [], "mqtt": [], "nats": []}
        got_a: dict[str, list[int]] = {"http": [], "mqtt": [], "nats": []}

        async def collect(until: dict[str, int], into: dict, ws, mqtt, timeout: float) -> None:
            """Reads what `ws` and `mqtt` received until each publisher's `until` number arrived (or the
            time is up: what arrived is then checked by the caller)."""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for frame in ws.pending(is_message(history)):
                    ws.inbox.remove(frame)
                    into["http"].append(frame["data"]["n"])
                while not mqtt.messages.empty():
                    message = mqtt.messages.get_nowait()
                    into[message.topic.rsplit("/", 1)[1]].append(int(message.payload))
                if all((into[k][-1] if into[k] else 0) >= v for k, v in until.items()):
                    return
                await asyncio.sleep(0.05)

        # Before: everything reaches B (and A).
        before = await burst(5)
        assert {r["epoch"] for r in before} == {epoch}, before
        await collect({k: 5 for k in sent}, got_b, ws_b, mqtt_b, 10)
        await collect({k: 5 for k in sent}, got_a, ws_a, mqtt_a, 10)
        assert got_b == got_a == {k: [1, 2, 3, 4, 5] for k in sent}, (got_b, got_a)
        seen_offset = max(r["offset"] for r in before)

        # Redis goes: both instances degraded, A keeps serving its own subscribers.
        redis.kill()
        redis.wait(5)
        for server in (a, b):
            down = await asyncio.to_thread(wait_for, lambda s=server: s.get("/readyz").status_code == 503, 10)
            assert down, server.get("/readyz").text
            assert "engine" in server.get("/readyz").json(), server.get("/readyz").text
            health = server.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "degraded", health.text
        await burst(5)
        await collect({k: 10 for k in sent}, got_a, ws_a, mqtt_a, 10)
        assert got_a == {k: list(range(1, 11)) for k in sent}, got_a

        # Redis is back (empty): both ready again; after they resubscribed, everything reaches B.
        redis = start_redis()
        for server in (a, b):
            back = await asyncio.to_thread(wait_for, lambda s=server: s.get("/readyz").status_code == 200, 15)
            assert back, server.get("/readyz").text
        await asyncio.sleep(1.0)  # both resubscribed (and the kept frames went first)
        resumer = await open_ws(b.ws_url)
        resumed = await resumer.subscribe(history, recover={"offset": seen_offset, "epoch": epoch})
        assert resumed["recovered"] is False and resumed["epoch"] != epoch, resumed
        after = await burst(5)
        await collect({k: 15 for k in sent}, got_b, ws_b, mqtt_b, 10)
        for kind, numbers in got_b.items():
            assert numbers == sorted(set(numbers)), (kind, numbers)  # in order, once
            assert set(range(1, 6)) | set(range(11, 16)) <= set(numbers), (kind, numbers)  # nothing else lost
            assert set(numbers) <= set(range(1, 16)), (kind, numbers)
        # The log is the new epoch's: the resumer gets what followed live, at its offsets, once.
        assert {r["epoch"] for r in after} == {resumed["epoch"]}, after
        offsets = [r["offset"] for r in after]
        assert offsets == list(range(offsets[0], offsets[0] + 5)), after
        live_frames = await resumer.messages(history, 5)
        assert [(m["data"]["n"], m["offset"], m["epoch"]) for m in live_frames] == [
            (n, o, resumed["epoch"]) for n, o in zip(range(11, 16), offsets)], live_frames
        await asyncio.sleep(0.3)
        assert resumer.pending(is_message(history)) == [], resumer.pending()
        for client in (mqtt_b, mqtt_a, mqtt_pub):
            client.disconnect()
        await nc.close()
        for ws in (ws_a, ws_b, resumer):
            await ws.close()

    try:
        run(body(), 60)
    finally:
        redis.kill()


def test_retained_messages_are_shared_with_every_instance(make_server, redis_server):
    url, _ = redis_server
    a = make_server({}, args=["--engine", url])
    b = make_server({}, args=["--engine", url])
    topic = f"status/{unique()}"
    publisher = Paho(a.mqtt_port, V5)
    publisher.publish(topic, "online", qos=1, retain=True)

    def first_retained(server):
        client = Paho(server.mqtt_port, V311)
        client.subscribe(topic, qos=1)
        try:
            message = client.get(timeout=3)
            return (message.payload, message.retain)
        except Exception:
            return None
        finally:
            client.disconnect()

    # B had no subscriber when it was published, and still has it; so has an instance started after.
    assert wait_for(lambda: first_retained(b) == (b"online", True)), first_retained(b)
    c = make_server({}, args=["--engine", url])
    assert first_retained(c) == (b"online", True)
    # Cleared on B (an empty retained publish): gone everywhere.
    clearer = Paho(b.mqtt_port, V5)
    clearer.publish(topic, b"", qos=1, retain=True)
    assert wait_for(lambda: first_retained(a) is None and first_retained(c) is None, 8)
    publisher.disconnect()
    clearer.disconnect()


def test_an_mqtt_client_id_taken_on_another_instance_ends_the_first_session(cluster):
    """[MQTT-3.1.4-3] across instances: the client identifier connecting on B ends its connection on A,
    with DISCONNECT 0x8E Session taken over (5.0)."""
    a, b, _ = cluster
    cid = f"sensor-{unique()}"
    first = Paho(a.mqtt_port, V5, cid)
    time.sleep(0.3)
    second = Paho(b.mqtt_port, V5, cid)
    assert first.disconnected.wait(5), "the first connection was not ended"
    assert first.disconnect_reason is not None and first.disconnect_reason.value == 0x8E, first.disconnect_reason
    assert not second.disconnected.is_set()
    second.disconnect()


def test_a_shared_subscription_spread_over_instances_gets_each_message_once(cluster):
    """An MQTT shared subscription with members on several instances: one member, on one instance, gets
    each message — whether or not the publisher's instance has members of the group."""
    a, b, c = cluster
    topic = f"jobs/{unique()}"
    group = f"$share/workers/{topic}"
    members = [Paho(server.mqtt_port, V5) for server in (a, b, c)]
    for member in members:
        member.subscribe(group, qos=1)
    time.sleep(1.0)  # the group's members are announced
    publisher = Paho(a.mqtt_port, V5)
    for n in range(60):
        publisher.publish(topic, str(n), qos=1)

    def drain(member):
        got = []
        while True:
            try:
                got.append(int(member.get(timeout=1.5).payload))
            except Exception:
                return got

    received = [drain(member) for member in members]
    everything = sorted(n for got in received for n in got)
    assert everything == list(range(60)), received
    assert sum(1 for got in received if got) >= 2, received  # spread over instances
    # Without members on the publisher's instance: B and C share it.
    members[0].disconnect()
    time.sleep(1.0)
    for n in range(60, 100):
        publisher.publish(topic, str(n), qos=1)
    received = [drain(member) for member in members[1:]]
    assert sorted(n for got in received for n in got) == list(range(60, 100)), received
    for client in members[1:] + [publisher]:
        client.disconnect()
