"""AMQP virtual hosts and RabbitMQ's configure/write/read permissions, with the stock pika client.

Each configured virtual host is a broker of its own (exchanges, queues, bindings, stored apart); its
`amq.topic` is the bus below the host's topic prefix, so topic permissions confine a tenant's AMQP clients as
they confine its MQTT ones. docs/protocols/amqp.md ("Virtual hosts and permissions") maps each case here."""

from __future__ import annotations

import time

import pika
import pika.exceptions
import pytest

from amqp_support import drain, get_all
from interop import DEFAULT_CONFIG, Server, deep_merge, unique
from mqtt_client import V311, Paho
from security_support import ISSUER, JWT_SECRET, hash_password, make_jwt
from test_storage_crash import kill9

PASSWORD = "s3cret-pw"


def connect(server, vhost: str = "/", user: str = "guest", password: str = "guest") -> pika.BlockingConnection:
    parameters = pika.ConnectionParameters(
        "127.0.0.1", server.amqp_port, vhost, pika.PlainCredentials(user, password), connection_attempts=1,
        socket_timeout=5)
    return pika.BlockingConnection(parameters)


def module_server(tmp_path_factory, name: str, config: dict):
    srv = Server(tmp_path_factory.mktemp(name), deep_merge(DEFAULT_CONFIG, config), name=name).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tenants(tmp_path_factory):
    yield from module_server(
        tmp_path_factory, "tenants",
        {"virtual_hosts": ["tenant-a", {"name": "/staging", "topic_prefix": "envs/staging"}]})


def test_each_virtual_host_is_a_broker_of_its_own(tenants):
    queue = unique("q")
    with connect(tenants) as root, connect(tenants, "tenant-a") as tenant:
        root_channel, tenant_channel = root.channel(), tenant.channel()
        root_channel.queue_declare(queue)
        tenant_channel.queue_declare(queue, arguments={"x-max-length": 5})  # same name, other arguments: no 406
        root_channel.basic_publish("", queue, b"for root")
        tenant_channel.basic_publish("", queue, b"for tenant")
        tenant_channel.queue_declare(queue, passive=True)  # a round trip: the publish arrived
        root_channel.queue_declare(queue, passive=True)
        assert get_all(root_channel, queue) == [b"for root"]
        assert get_all(tenant_channel, queue) == [b"for tenant"]
        listed = tenants.get("/api/queues").json()["queues"]
        assert {(q["vhost"], q["name"]) for q in listed} >= {("/", queue), ("tenant-a", queue)}
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            tenant.channel().queue_declare(unique("missing"), passive=True)
        assert refused.value.reply_code == 404 and "in vhost 'tenant-a'" in refused.value.reply_text


def test_an_unknown_virtual_host_is_refused_with_530(tenants):
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
        connect(tenants, "tenant-b")
    assert "NOT_ALLOWED - vhost tenant-b not found" in str(refused.value)


def test_amq_topic_of_a_virtual_host_is_the_bus_below_its_prefix(tenants):
    word = unique("dev")
    mqtt = Paho(tenants.mqtt_port, V311)
    try:
        mqtt.subscribe(f"envs/staging/out/{word}", qos=1)
        with connect(tenants, "/staging") as conn:
            ch = conn.channel()
            queue = ch.queue_declare("", exclusive=True).method.queue
            ch.queue_bind(queue, "amq.topic", f"sensors.{word}.*")
            time.sleep(0.2)
            mqtt.publish(f"envs/staging/sensors/{word}/t1", b"in staging", qos=1)
            mqtt.publish(f"sensors/{word}/t1", b"at the root", qos=1)  # another tree: not this host's
            got = drain(ch, queue, 2, timeout=2)
            ch.basic_publish("amq.topic", f"out.{word}", b"from staging")
        assert [(m.routing_key, body) for m, _, body in got] == [(f"sensors.{word}.t1", b"in staging")]
        message = mqtt.get()
        assert message.topic == f"envs/staging/out/{word}" and message.payload == b"from staging"
    finally:
        mqtt.disconnect()


def test_durable_state_of_a_virtual_host_survives_kill9(make_server):
    srv = make_server({"virtual_hosts": ["tenant-a"]})
    queue, exchange = unique("durable"), unique("dx")
    for vhost in ("/", "tenant-a"):
        with connect(srv, vhost) as conn:
            ch = conn.channel()
            ch.confirm_delivery()
            ch.exchange_declare(exchange, "direct", durable=True)
            ch.queue_declare(queue, durable=True)
            ch.queue_bind(queue, exchange, "k")
            ch.basic_publish(exchange, "k", f"kept in {vhost}".encode(), pika.BasicProperties(delivery_mode=2))
    kill9(srv)
    srv.start()
    for vhost in ("/", "tenant-a"):
        with connect(srv, vhost) as conn:
            ch = conn.channel()
            ch.basic_publish(exchange, "k", b"after", pika.BasicProperties(delivery_mode=2))
            ch.queue_declare(queue, passive=True)
            assert get_all(ch, queue) == [f"kept in {vhost}".encode(), b"after"], vhost


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    digest = hash_password(PASSWORD)
    own = {"configure": "^{user}-", "write": "^({user}-.*|amq\\.default)$", "read": "^{user}-"}
    yield from module_server(tmp_path_factory, "secured", {
        "anonymous": False,
        "virtual_hosts": ["tenant-a"],
        "security": {
            "users": [
                {"name": "alice", "password_hash": digest, "vhosts": {"/": own}},
                {"name": "bob", "password_hash": digest, "vhosts": {"tenant-a": {"configure": ".*", "write": ".*",
                                                                                 "read": ".*"}},
                 "publish": ["tenant-a/bob/#"]},
                {"name": "root", "password_hash": digest},
            ],
            "jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}], "issuer": ISSUER},
        },
    })


def closed_by_broker(call) -> tuple[int, str]:
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        call()
    return refused.value.reply_code, refused.value.reply_text


def test_a_login_opens_only_the_virtual_hosts_it_has_permissions_in(secured):
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
        connect(secured, "/", "bob", PASSWORD)
    assert "NOT_ALLOWED - access to vhost '/' refused for user 'bob'" in str(refused.value)
    connect(secured, "tenant-a", "bob", PASSWORD).close()
    connect(secured, "tenant-a", "root", PASSWORD).close()  # no rule anywhere: every virtual host


def test_configure_write_and_read_are_checked_as_rabbitmq_checks_them(secured):
    with connect(secured, "/", "root", PASSWORD) as admin:
        admin.channel().queue_declare("shared-jobs")
    with connect(secured, "/", "alice", PASSWORD) as conn:
        ch = conn.channel()
        ch.queue_declare("alice-inbox")  # configure ^alice-
        ch.basic_publish("", "alice-inbox", b"to myself")  # write amq.default
        ch.queue_declare("alice-inbox", passive=True)
        assert get_all(ch, "alice-inbox") == [b"to myself"]  # read ^alice-
        code, text = closed_by_broker(lambda: conn.channel().queue_declare("bobs-queue"))
        assert (code, text) == (403, "ACCESS_REFUSED - access to queue 'bobs-queue' in vhost '/' refused for user 'alice'")
        code, text = closed_by_broker(lambda: conn.channel().basic_get("shared-jobs"))
        assert (code, text) == (403, "ACCESS_REFUSED - access to queue 'shared-jobs' in vhost '/' refused for user 'alice'")
        code, text = closed_by_broker(lambda: conn.channel().queue_bind("alice-inbox", "amq.direct", "k"))
        assert text == "ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' refused for user 'alice'"
        code, text = closed_by_broker(lambda: conn.channel().queue_purge("shared-jobs"))
        assert code == 403
        code, text = closed_by_broker(lambda: conn.channel().queue_delete("shared-jobs"))
        assert code == 403
        publisher = conn.channel()
        publisher.basic_publish("amq.fanout", "", b"not allowed")
        code, text = closed_by_broker(lambda: publisher.queue_declare("alice-inbox", passive=True))
        assert text == "ACCESS_REFUSED - access to exchange 'amq.fanout' in vhost '/' refused for user 'alice'"
        assert conn.is_open  # a refusal closes the channel, not the connection
    with connect(secured, "/", "root", PASSWORD) as admin:
        ch = admin.channel()
        assert ch.queue_declare("shared-jobs", passive=True).method.message_count == 0


def test_topic_permissions_apply_below_a_virtual_hosts_prefix(secured):
    with connect(secured, "tenant-a", "bob", PASSWORD) as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("amq.topic", "bob.status", b"mine")  # tenant-a/bob/status: granted
        code, text = closed_by_broker(lambda: ch.basic_publish("amq.topic", "alice.status", b"not mine"))
        assert code == 403 and "tenant-a/alice/status" in text


def test_a_tokens_grants_carry_virtual_host_permissions(secured):
    token = make_jwt("carol", grants={"vhosts": {"tenant-a": {"configure": "^carol\\.", "write": "^amq\\.default$",
                                                               "read": "^carol\\."}}})
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        connect(secured, "/", "carol", token)
    with connect(secured, "tenant-a", "carol", token) as conn:
        ch = conn.channel()
        ch.queue_declare("carol.work")
        code, _ = closed_by_broker(lambda: conn.channel().queue_declare("work"))
        assert code == 403


def test_stomp_queues_answer_to_the_same_permissions(secured):
    """STOMP's queues are the broker's in `/`: stomp.py as alice may use alice-* queues only."""
    from stomp_support import Stock

    with Stock(secured, login="alice", passcode=PASSWORD) as client:
        client.subscribe("/queue/alice-stomp", "mine")
        client.send("/queue/alice-stomp", "hello")
        assert client.message().body == b"hello"
        client.conn.subscribe("/amq/queue/shared-jobs", id="theirs")
        error = client.error()
        assert "access to queue 'shared-jobs' in vhost '/' refused for user 'alice'" in error.text + error.get(
            "message", ""), error
    with Stock(secured, login="alice", passcode=PASSWORD) as client:
        client.conn.send("/exchange/amq.fanout/x", "no")
        error = client.error()
        assert "access to exchange 'amq.fanout'" in error.text + error.get("message", ""), error
