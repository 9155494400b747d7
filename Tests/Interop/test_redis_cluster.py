"""Issue 23, Redis Cluster: three Switchboard instances on a real 3-primary Redis Cluster (Debian's
redis-server, cluster-enabled, started here on drawn loopback ports with drawn cluster-bus ports, joined with
CLUSTER MEET and given the slots with CLUSTER ADDSLOTSRANGE). Each instance is given a different node. A
publish on one instance reaches the subscribers of the others over sharded pub/sub (concrete filters) and
the interest table (wildcard filters), once and in order; history, recovery and presence cross instances;
a reshard of a topic's slot while publishing is followed. docs/redis.md ("Redis Cluster") maps each point to
its test."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import nats
import pytest

from interop import wait_for as interop_wait_for
from interop import free_port, is_message, listening, open_ws, run, unique
from mqtt_client import V5, V311, Paho
from nats_support import ping_responder
from test_redis_history import drop_and_miss_four


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: str) -> int:
    data = key.encode()
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    return crc16(data) & 0x3FFF


def wait_for(predicate, timeout: float = 10.0, step: float = 0.05):
    return interop_wait_for(predicate, timeout, step)


class RedisCluster:
    """`count` primaries sharing the slots, each with `replicas` replicas (`CLUSTER REPLICATE`; node
    `count + r * count + i` replicates primary `i`). With `tls`, TLS only: every node's port is a `tls-port`
    (`--port 0`), its cluster bus and replication over TLS too (`tls-cluster yes`, `tls-replication yes`), on a
    certificate for 127.0.0.1 that openssl makes here (its own root, `self.certificate`)."""

    def __init__(self, tmp_path: Path, count: int = 3, replicas: int = 0, tls: bool = False):
        total = count * (1 + replicas)
        self.count = count
        self.ports = [free_port() for _ in range(total)]
        self.bus_ports = [free_port() for _ in range(total)]
        self.procs = []
        self.commands = []
        self.tls_flags: list[str] = []
        listen_flag = "--port"
        tls_args: list[str] = []
        if tls:
            self.certificate = tmp_path / "cluster-cert.pem"
            key = tmp_path / "cluster-key.pem"
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key),
                 "-out", str(self.certificate)], check=True, capture_output=True)
            listen_flag = "--tls-port"
            tls_args = ["--port", "0", "--tls-cert-file", str(self.certificate), "--tls-key-file", str(key),
                        "--tls-ca-cert-file", str(self.certificate), "--tls-auth-clients", "no",
                        "--tls-cluster", "yes", "--tls-replication", "yes"]
            self.tls_flags = ["--tls", "--cacert", str(self.certificate)]
        for index, (port, bus) in enumerate(zip(self.ports, self.bus_ports)):
            directory = tmp_path / f"redis-{index}"
            directory.mkdir()
            self.commands.append(
                [shutil.which("redis-server"), listen_flag, str(port), *tls_args, "--cluster-port", str(bus),
                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                 "--dir", str(directory)])
            self.procs.append(subprocess.Popen(self.commands[-1], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports:
            assert wait_for(lambda p=port: listening(p)), "redis-server did not start"
        for index in range(total):
            # Distinct config epochs, as `redis-cli --cluster create` gives, so no epoch-collision bump
            # races a reshard or a failover the test makes.
            self.cli(index, "CLUSTER", "SET-CONFIG-EPOCH", str(index + 1))
        for index in range(count):
            first, last = 16384 * index // count, 16384 * (index + 1) // count - 1
            self.cli(index, "CLUSTER", "ADDSLOTSRANGE", str(first), str(last))
        for index in range(1, total):
            self.cli(0, "CLUSTER", "MEET", "127.0.0.1", str(self.ports[index]), str(self.bus_ports[index]))
        assert wait_for(lambda: all(f"cluster_known_nodes:{total}" in self.cli(i, "CLUSTER", "INFO")
                                    for i in range(total)), 20), "the nodes did not meet"
        for index in range(count, total):
            primary = self.node_id((index - count) % count)
            assert wait_for(lambda i=index, p=primary: self.cli(i, "CLUSTER", "REPLICATE", p).strip() == "OK", 10)
        assert wait_for(lambda: all("cluster_state:ok" in self.cli(i, "CLUSTER", "INFO") for i in range(total))
                        and all("master_link_status:up" in self.cli(i, "INFO", "replication")
                                for i in range(count, total)), 30), "the cluster did not form"

    def cli(self, index: int, *args: str) -> str:
        out = subprocess.run([shutil.which("redis-cli"), *self.tls_flags, "-p", str(self.ports[index]), *args],
                             capture_output=True, text=True, timeout=10)
        return out.stdout

    def url(self, *indices: int, before: str = "") -> str:
        """The engine URL with the nodes at `indices` as its seeds (`before`: hosts put first); with TLS,
        `rediss://` trusting the cluster's certificate."""
        hosts = ",".join([before] * bool(before) + [f"127.0.0.1:{self.ports[i]}" for i in indices])
        if self.tls_flags:
            return f"rediss://{hosts}/?ssl_ca_certs={self.certificate}"
        return f"redis://{hosts}"

    def node_id(self, index: int) -> str:
        return self.cli(index, "CLUSTER", "MYID").strip()

    def owner(self, slot: int) -> int:
        return slot * self.count // 16384 if not hasattr(self, "_moved") else self._moved.get(
            slot, slot * self.count // 16384)

    def reshard(self, slot: int, source: int, target: int, pause: float = 0.0) -> None:
        """`redis-cli --cluster reshard`'s steps for one slot (cluster spec, "Live reconfiguration"):
        IMPORTING on the target, MIGRATING on the source, MIGRATE every key, SETSLOT NODE everywhere."""
        source_id, target_id = self.node_id(source), self.node_id(target)
        self.cli(target, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id)
        self.cli(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id)
        time.sleep(pause)
        while True:
            keys = self.cli(source, "CLUSTER", "GETKEYSINSLOT", str(slot), "100").split()
            if not keys:
                break
            for key in keys:
                self.cli(source, "MIGRATE", "127.0.0.1", str(self.ports[target]), key, "0", "5000")
                time.sleep(pause / 4)
        for index in [target, source] + [i for i in range(len(self.ports)) if i not in (source, target)]:
            self.cli(index, "CLUSTER", "SETSLOT", str(slot), "NODE", target_id)
        self._moved = getattr(self, "_moved", {})
        self._moved[slot] = target

    def kill(self, index: int) -> None:
        self.procs[index].kill()
        self.procs[index].wait(5)

    def restart(self, index: int) -> None:
        """Starts the node again on its port with its nodes.conf: it rejoins with its slots, its data gone."""
        self.procs[index] = subprocess.Popen(self.commands[index], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: listening(self.ports[index])), "redis-server did not start again"

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def redis_cluster(tmp_path: Path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/test installs Debian's redis-server)")
    cluster = RedisCluster(tmp_path)
    yield cluster
    cluster.stop()


@pytest.fixture
def instances(make_server, redis_cluster):
    # Each instance is given another node: the others are found through CLUSTER SLOTS.
    return [make_server({}, args=["--engine", redis_cluster.url(index)]) for index in range(3)]


def channel_slot(topic: str) -> int:
    return key_slot("switchboard:{t:" + topic + "}")


def test_a_publish_reaches_concrete_and_wildcard_subscribers_on_the_others_once_in_order(instances, redis_cluster):
    a, b, c = instances
    topic = f"chat/{unique()}"

    async def body():
        ws_b = await open_ws(b.ws_url)
        await ws_b.subscribe(topic)
        # On C, a wildcard (the interest table, C's inbox) and the concrete topic (its shard channel): the
        # same message comes on both routes and is delivered once.
        mqtt_c = Paho(c.mqtt_port, V5)
        mqtt_c.subscribe("chat/#", qos=1)
        nc_c = await nats.connect(c.nats_url)
        exact_c = await nc_c.subscribe(topic.replace("/", "."))
        wild_c = await nc_c.subscribe("chat.*")
        await nc_c.flush()
        ws_b_wild = await open_ws(b.ws_url)
        await ws_b_wild.subscribe("chat/+")
        await asyncio.sleep(0.5)  # shard subscriptions confirmed, interest announced
        # The topic's shard channel is subscribed on the primary serving its slot, and only there.
        owner = redis_cluster.owner(channel_slot(topic))
        shard = "switchboard:{t:" + topic + "}"
        assert shard in redis_cluster.cli(owner, "PUBSUB", "SHARDCHANNELS"), redis_cluster.cli(owner, "PUBSUB", "SHARDCHANNELS")
        mqtt_a = Paho(a.mqtt_port, V311)
        for n in range(30):
            mqtt_a.publish(topic, json.dumps({"n": n}), qos=1)
        want = list(range(30))
        got_ws = [m["data"]["n"] for m in await ws_b.messages(topic, 30)]
        got_ws_wild = [m["data"]["n"] for m in await ws_b_wild.messages(topic, 30)]
        got_exact = [json.loads((await exact_c.next_msg(timeout=5)).data)["n"] for _ in range(30)]
        got_wild = [json.loads((await wild_c.next_msg(timeout=5)).data)["n"] for _ in range(30)]
        got_mqtt = [json.loads(m.payload)["n"] for m in await asyncio.to_thread(mqtt_c.get_many, 30)]
        assert got_ws == got_ws_wild == got_exact == got_wild == got_mqtt == want, (
            got_ws, got_ws_wild, got_exact, got_wild, got_mqtt)
        # Published over HTTP on C reaches B; nothing comes twice anywhere.
        r = await asyncio.to_thread(c.post, "/api/publish", json={"channel": topic, "data": {"n": 99}})
        assert r.status_code == 200, r.text
        assert (await ws_b.message(topic))["data"] == {"n": 99}
        assert (await ws_b_wild.message(topic))["data"] == {"n": 99}
        # C's own subscribers get C's publish locally.
        assert json.loads((await exact_c.next_msg(timeout=5)).data) == {"n": 99}
        assert json.loads((await wild_c.next_msg(timeout=5)).data) == {"n": 99}
        assert json.loads((await asyncio.to_thread(mqtt_c.get)).payload) == {"n": 99}
        await asyncio.sleep(0.5)
        assert not ws_b.pending(is_message(topic)) and not ws_b_wild.pending(is_message(topic))
        assert exact_c.pending_msgs == 0 and wild_c.pending_msgs == 0
        assert mqtt_c.nothing(0.2)
        # A topic no one here wants by name is not subscribed in Redis; a wildcard match still arrives.
        other = f"chat/{unique()}"
        await a.apublish(other, {"n": 1})
        assert (await ws_b_wild.message(other))["data"] == {"n": 1}
        assert "switchboard:{t:" + other + "}" not in "".join(
            redis_cluster.cli(i, "PUBSUB", "SHARDCHANNELS") for i in range(3))
        mqtt_a.disconnect()
        mqtt_c.disconnect()
        await nc_c.close()
        await ws_b.close()
        await ws_b_wild.close()

    run(body())


def test_history_and_recovery_cross_instances_on_the_cluster(instances, redis_cluster):
    a, b, c = instances
    ch = f"chat/{unique()}"

    async def body():
        epoch = await drop_and_miss_four(a, b, c, ch)
        # The log is a stream beside its hash, both in the topic's slot, on the primary serving it.
        owner = redis_cluster.owner(channel_slot(ch))
        assert redis_cluster.cli(owner, "XLEN", "switchboard.log:{t:" + ch + "}").strip() == "7"
        assert redis_cluster.cli(owner, "HGET", "switchboard.logmeta:{t:" + ch + "}", "seq").strip() == "7"
        second = await open_ws(c.ws_url)
        s = await second.subscribe(ch, recover={"offset": 3, "epoch": epoch})
        assert s["recovered"] is True and s["offset"] == 7, s
        assert [m["data"]["n"] for m in s["messages"]] == [4, 5, 6, 7], s
        r = await b.apublish(ch, {"n": 8})
        assert r["offset"] == 8 and r["epoch"] == epoch, r
        live = await second.message(ch)
        assert live["data"] == {"n": 8} and live["offset"] == 8, live
        await asyncio.sleep(0.3)
        assert second.pending(is_message(ch)) == [], second.pending()
        listed = (await asyncio.to_thread(a.get, "/api/history", params={"channel": ch})).json()
        assert [m["offset"] for m in listed["messages"]] == list(range(1, 9)), listed
        await second.close()

    run(body())


def test_presence_and_retained_cross_instances_on_the_cluster(instances):
    a, b, c = instances
    room = f"chat/{unique()}"

    def present(server):
        r = server.get("/api/presence", params={"channel": room})
        assert r.status_code == 200, r.text
        return sorted(entry["protocol"] for entry in r.json()["clients"])

    async def body():
        ws = await open_ws(a.ws_url)
        await ws.subscribe(room)
        mqtt = Paho(b.mqtt_port, V5)
        mqtt.subscribe(room, qos=0)
        for server in (a, b, c):
            assert await asyncio.to_thread(wait_for, lambda s=server: present(s) == ["mqtt", "websocket"]), present(server)
        mqtt.disconnect()
        await ws.wait(lambda f: f.get("type") == "leave" and f["client"]["protocol"] == "mqtt", 5, "mqtt leave")
        # A retained message set on B is given to a subscriber on C.
        retained_topic = f"status/{unique()}"
        setter = Paho(b.mqtt_port, V5)
        setter.publish(retained_topic, "on", qos=1, retain=True)
        setter.disconnect()
        await asyncio.sleep(0.5)
        reader = Paho(c.mqtt_port, V5)
        reader.subscribe(retained_topic, qos=1)
        assert reader.get().payload == b"on"
        reader.disconnect()
        await ws.close()

    run(body())


def test_a_reshard_of_a_topics_slot_while_publishing_is_followed(instances, redis_cluster):
    a, b, c = instances
    ch = f"chat/{unique()}"
    slot = channel_slot(ch)
    source = redis_cluster.owner(slot)
    target = (source + 1) % 3
    total = 150

    async def body():
        live = await open_ws(b.ws_url)
        s = await live.subscribe(ch)
        epoch = s["epoch"]
        wild = await open_ws(c.ws_url)
        await wild.subscribe("chat/#")
        await asyncio.sleep(0.5)
        mover = threading.Thread(target=redis_cluster.reshard, args=(slot, source, target, 0.2))
        acked = []
        for n in range(1, total + 1):
            if n == 30:
                mover.start()
            r = await a.apublish(ch, {"n": n})
            acked.append(r.get("offset"))
            await asyncio.sleep(0.01)
        await asyncio.to_thread(mover.join)
        # Every publish was acknowledged with its place in the one log, which moved whole.
        assert acked == list(range(1, total + 1)), acked
        assert redis_cluster.cli(target, "HGET", "switchboard.logmeta:{t:" + ch + "}", "seq").strip() == str(total)
        assert redis_cluster.cli(target, "EXISTS", "switchboard.log:{t:" + ch + "}").strip() == "1"
        assert "switchboard:{t:" + ch + "}" in redis_cluster.cli(target, "PUBSUB", "SHARDCHANNELS")
        # The connected subscribers: in order, no duplicate, nothing lost.
        got = [m["offset"] for m in await live.messages(ch, total, timeout=20)]
        assert got == list(range(1, total + 1)), got
        got_wild = [m["data"]["n"] for m in await wild.messages(ch, total, timeout=20)]
        assert got_wild == list(range(1, total + 1)), got_wild
        await asyncio.sleep(0.3)
        assert live.pending(is_message(ch)) == [] and wild.pending(is_message(ch)) == []
        # After the move, publishing goes on in the same epoch.
        r = await c.apublish(ch, {"n": total + 1})
        assert r["offset"] == total + 1 and r["epoch"] == epoch, r
        assert (await live.message(ch))["offset"] == total + 1
        await live.close()
        await wild.close()

    run(body())


def test_a_cluster_that_does_not_serve_every_slot_is_refused_at_start(make_server, tmp_path):
    """A cluster node whose cluster is not formed (no slots assigned) cannot carry the engine: `serve` stops
    at start and says why, rather than fail later on each command."""
    port = free_port()
    proc = subprocess.Popen(
        # The cluster bus gets a drawn port of its own: by default it is the port + 10,000, which a drawn
        # port above 55535 leaves no room for (redis-server then exits at once).
        [shutil.which("redis-server"), "--port", str(port), "--cluster-port", str(free_port()), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
         "--cluster-config-file", str(tmp_path / "nodes.conf"),
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: listening(port), 10), "redis-server did not start"
        with pytest.raises(RuntimeError) as failure:
            make_server({}, args=["--engine", f"redis://127.0.0.1:{port}"])
        assert "during startup" in str(failure.value), failure.value
        assert "CLUSTERDOWN: only 0 of 16384 slots are served" in str(failure.value), failure.value
    finally:
        proc.kill()
        proc.wait(5)


def test_request_reply_session_takeover_and_shared_groups_cross_instances_on_the_cluster(instances):
    a, b, c = instances

    async def body():
        # NATS request on A, answered by a responder on B (the reply inbox is a concrete shard channel).
        async with ping_responder(b.nats_url, settle=0.5):
            requester = await nats.connect(a.nats_url)
            for n in range(5):
                reply = await requester.request("svc.ping", str(n).encode(), timeout=5)
                assert reply.data == f"pong:{n}".encode()
            await requester.close()

    run(body())
    # [MQTT-3.1.4-3] across instances: the client identifier connecting on B ends its session on A.
    cid = f"sensor-{unique()}"
    first = Paho(a.mqtt_port, V5, cid)
    time.sleep(0.3)
    second = Paho(b.mqtt_port, V5, cid)
    assert first.disconnected.wait(5), "the first connection was not ended"
    assert first.disconnect_reason is not None and first.disconnect_reason.value == 0x8E, first.disconnect_reason
    second.disconnect()
    # A shared subscription with a wildcard, members on the three instances: each message to one member.
    base = f"jobs/{unique()}"
    members = [Paho(server.mqtt_port, V5) for server in (a, b, c)]
    for member in members:
        member.subscribe(f"$share/workers/{base}/+", qos=1)
    time.sleep(1.0)
    publisher = Paho(a.mqtt_port, V5)
    for n in range(60):
        publisher.publish(f"{base}/{n % 7}", str(n), qos=1)

    def drain(member):
        got = []
        while True:
            try:
                got.append(int(member.get(timeout=1.5).payload))
            except Exception:
                return got

    received = [drain(member) for member in members]
    assert sorted(n for got in received for n in got) == list(range(60)), received
    assert sum(1 for got in received if got) >= 2, received
    for client in members + [publisher]:
        client.disconnect()


def test_a_primary_down_degrades_the_instances_and_its_restart_is_followed(instances, redis_cluster):
    """A primary killed (no replica: the cluster is down): every instance says `degraded` and keeps serving
    its own clients; restarted empty, it gets the history functions again, the instances are ready and a
    topic in its slots works across instances in a new epoch."""
    a, b, c = instances
    ch = f"chat/{unique()}"
    victim = redis_cluster.owner(channel_slot(ch))

    async def body():
        ws = await open_ws(b.ws_url)
        first = await ws.subscribe(ch)
        await a.apublish(ch, {"n": 1})
        assert (await ws.message(ch))["offset"] == 1
        redis_cluster.kill(victim)
        victim_port = str(redis_cluster.ports[victim])

        def names_the_victim(server) -> bool:
            # An instance whose control channel was on the victim reports it unreachable, then fails the
            # channel over to a live node and reports the primary down at its next heartbeat: between the
            # two it may answer ready for a moment, so the reason is waited for, not read once.
            answer = server.get("/readyz")
            return answer.status_code == 503 and victim_port in answer.json().get("engine", "")

        for server in (a, b, c):
            down = await asyncio.to_thread(wait_for, lambda s=server: names_the_victim(s), 10)
            assert down, server.get("/readyz").text
        # B still serves its own clients.
        await b.apublish(ch, {"n": "local"})
        assert (await ws.message(ch))["data"] == {"n": "local"}
        redis_cluster.restart(victim)
        for server in (a, b, c):
            back = await asyncio.to_thread(wait_for, lambda s=server: s.get("/readyz").status_code == 200, 30)
            assert back, server.get("/readyz").text
        assert await asyncio.to_thread(
            wait_for, lambda: "cluster_state:ok" in redis_cluster.cli(victim, "CLUSTER", "INFO"), 20)
        # The node lost its data and functions: loaded again, the log starts a new epoch, across instances.
        assert "switchboard_history" in redis_cluster.cli(victim, "FUNCTION", "LIST")
        fresh = await open_ws(c.ws_url)
        s = await fresh.subscribe(ch)
        assert s["epoch"] != first["epoch"], (s, first)
        r = await a.apublish(ch, {"n": 2})
        assert r["epoch"] == s["epoch"] and r["offset"] == s["offset"] + 1, (r, s)
        assert (await fresh.message(ch))["data"] == {"n": 2}
        assert (await ws.message(ch, timeout=10))["data"] == {"n": 2}
        await fresh.close()
        await ws.close()

    run(body())


def _topic_on(cluster: RedisCluster, index: int, prefix: str) -> str:
    """A topic whose shard channel and log are in a slot the primary `index` serves."""
    while True:
        topic = f"{prefix}/{unique()}"
        if cluster.owner(channel_slot(topic)) == index:
            return topic


def _control_subscribers(cluster: RedisCluster, index: int) -> int:
    """How many connections hear the control channel through the node `index`."""
    out = cluster.cli(index, "PUBSUB", "NUMSUB", "switchboard.control").split()
    return int(out[1]) if len(out) == 2 else 0


def test_the_seed_killed_the_control_channel_moves_and_the_replica_takes_over(make_server, tmp_path):
    """Two instances given the same seeds, the first with nothing listening and the next the node that
    then carries both control connections: that primary `kill -9`ed, the control channel moves to a live
    node, the primary's replica takes its slots, both instances are ready again, and publishes, concrete
    and wildcard subscriptions and presence work across them, on a topic of the killed primary's slots too."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/test installs Debian's redis-server)")
    cluster = RedisCluster(tmp_path, replicas=1)
    try:
        url = cluster.url(0, 1, 2, before=f"127.0.0.1:{free_port()}")
        a = make_server({}, args=["--engine", url])
        b = make_server({}, args=["--engine", url])
        assert _control_subscribers(cluster, 0) == 2
        topic = _topic_on(cluster, 0, "chat")

        def present():
            r = a.get("/api/presence", params={"channel": topic})
            return sorted(entry["protocol"] for entry in r.json()["clients"]) if r.status_code == 200 else None

        async def body():
            exact = await open_ws(b.ws_url)
            await exact.subscribe(topic)
            wild = await open_ws(b.ws_url)
            await wild.subscribe("chat/#")
            await asyncio.sleep(0.5)
            await a.apublish(topic, {"n": 0})
            assert (await exact.message(topic))["data"] == {"n": 0}
            assert (await wild.message(topic))["data"] == {"n": 0}
            cluster.kill(0)
            # The replica of the killed primary is promoted (cluster-node-timeout 2 s), both instances ready.
            assert await asyncio.to_thread(
                wait_for, lambda: cluster.cli(3, "ROLE").startswith("master"), 30), cluster.cli(3, "ROLE")
            for server in (a, b):
                back = await asyncio.to_thread(wait_for, lambda s=server: s.get("/readyz").status_code == 200, 30)
                assert back, server.get("/readyz").text
            # Both control connections are on live nodes now.
            assert sum(_control_subscribers(cluster, i) for i in range(1, 6)) == 2
            # A wildcard subscribed after the move: its interest reaches A through the new control node.
            late = await open_ws(b.ws_url)
            await late.subscribe("chat/+")
            await asyncio.sleep(0.5)
            other = _topic_on(cluster, 1, "chat")
            for n in range(1, 11):
                await a.apublish(topic, {"n": n})
                await a.apublish(other, {"n": n})
            await asyncio.sleep(0.5)
            # Each publish once, in order, on the killed primary's slots (now the replica's) and elsewhere.
            for ws in (exact, wild, late):
                for channel in (topic, other) if ws is not exact else (topic,):
                    got = [m["data"]["n"] for m in await ws.messages(channel, 10, timeout=10)]
                    assert got == list(range(1, 11)), (channel, got)
            await asyncio.sleep(0.3)
            assert not any(ws.pending(is_message(topic)) for ws in (exact, wild, late))
            # Presence crosses too: B's subscriber is listed on A.
            assert await asyncio.to_thread(wait_for, lambda: "websocket" in (present() or []), 10), present()
            for ws in (exact, wild, late):
                await ws.close()

        run(body())
    finally:
        cluster.stop()


def test_a_tls_cluster_is_joined_with_rediss_and_routes_across_instances(make_server, tmp_path):
    """A TLS-only cluster (`tls-port`, `tls-cluster yes`, `tls-replication yes`, one replica per primary):
    instances given `rediss://` seeds with the root in `ssl_ca_certs` reach every primary over TLS (the
    map names TLS ports) and route concrete and wildcard subscriptions and history across instances."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/test installs Debian's redis-server)")
    cluster = RedisCluster(tmp_path, replicas=1, tls=True)
    try:
        a = make_server({}, args=["--engine", cluster.url(0, 3)])
        b = make_server({}, args=["--engine", cluster.url(1, 4)])
        topics = [_topic_on(cluster, index, "chat") for index in range(3)]

        async def body():
            ws = await open_ws(b.ws_url)
            subscribed = [await ws.subscribe(topic) for topic in topics]
            wild = await open_ws(b.ws_url)
            await wild.subscribe("chat/#")
            await asyncio.sleep(0.5)
            for n in range(1, 6):
                for topic in topics:
                    await a.apublish(topic, {"n": n})
            for topic, s in zip(topics, subscribed):
                got = await ws.messages(topic, 5)
                assert [m["data"]["n"] for m in got] == [1, 2, 3, 4, 5], got
                assert [m["offset"] for m in got] == [1, 2, 3, 4, 5] and {m["epoch"] for m in got} == {s["epoch"]}
                assert [m["data"]["n"] for m in await wild.messages(topic, 5)] == [1, 2, 3, 4, 5]
            # Each topic's log is on its own primary, written over TLS.
            for index, topic in enumerate(topics):
                assert cluster.cli(index, "XLEN", "switchboard.log:{t:" + topic + "}").strip() == "5"
            await ws.close()
            await wild.close()

        run(body())
        for server in (a, b):
            assert server.get("/readyz").status_code == 200, server.get("/readyz").text
    finally:
        cluster.stop()


def test_several_hosts_naming_a_redis_that_is_not_a_cluster_are_refused(make_server, tmp_path):
    """Seed nodes are a cluster's: a URL with several hosts whose live one is a plain Redis stops `serve` at
    start, naming it, rather than join instances through one of several unrelated servers."""
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: listening(port), 10), "redis-server did not start"
        with pytest.raises(RuntimeError) as failure:
            make_server({}, args=["--engine", f"redis://127.0.0.1:{free_port()},127.0.0.1:{port}"])
        assert f"127.0.0.1:{port} is not in cluster mode" in str(failure.value), failure.value
    finally:
        proc.kill()
        proc.wait(5)
