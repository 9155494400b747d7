"""Payload schemas (issue 21, "Message translation"): publishes on `sensors/#` must be JSON valid under a
draft 2020-12 schema. Each protocol's stock client sees its own refusal, naming the failing JSON Pointer,
and a valid publish still goes through; PyPI `jsonschema` is the oracle for which payloads are valid.
docs/topics.md "Payload schemas" is the table these tests check; docs/protocols/<p>.md points here."""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import time
from typing import Any

import jsonschema
import nats
import pytest
import requests
import stomp
from nats.js.errors import BadRequestError
from pika.exceptions import NackError

from amqp_support import connect as amqp_connect
from interop import open_ws, run, unique
from mqtt_client import V5, V311, Paho, Raw, client_id, connect_packet, publish_packet
from signalr_support import CoreClient, hub_url
from socketio_support import TRANSPORTS, Stock

# Non-trivial on purpose: $defs/$ref, a pattern, an enum, an exclusive bound, if/then, oneOf, uniqueItems,
# a closed nested object, additionalProperties false.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "coordinate": {"type": "number", "minimum": -180, "maximum": 180},
    },
    "type": "object",
    "required": ["id", "temp", "unit"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z]+-[0-9]+$"},
        "temp": {"type": "number", "minimum": -50, "exclusiveMaximum": 100},
        "unit": {"enum": ["C", "F"]},
        "tags": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True, "maxItems": 3},
        "at": {
            "type": "object",
            "required": ["lat", "lon"],
            "properties": {"lat": {"$ref": "#/$defs/coordinate"}, "lon": {"$ref": "#/$defs/coordinate"}},
            "additionalProperties": False,
        },
        "battery": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 100}, {"const": "mains"}]},
    },
    "if": {"properties": {"unit": {"const": "F"}}},
    "then": {"properties": {"temp": {"minimum": -58, "maximum": 99}}},
    "additionalProperties": False,
}

VALID = {"id": "dev-1", "temp": 21.5, "unit": "C"}
INVALID = {"id": "dev-1", "temp": 120, "unit": "C"}  # /temp: exclusiveMaximum

# Raw payloads (bytes), valid and not; the oracle decides which is which.
PAYLOADS: list[bytes] = [
    json.dumps(p).encode()
    for p in [
        VALID,
        {"id": "dev-2", "temp": -50, "unit": "F", "tags": ["a", "b"], "at": {"lat": 1.5, "lon": -3}},
        {"id": "dev-3", "temp": 99, "unit": "F", "battery": 100},
        {"id": "dev-4", "temp": 0, "unit": "C", "battery": "mains"},
        {"id": "dev-5", "temp": 99.999, "unit": "C", "tags": []},
        INVALID,
        {"id": "dev-1", "temp": 100, "unit": "C"},
        {"id": "dev-1", "temp": 99.5, "unit": "F"},
        {"id": "Dev-1", "temp": 1, "unit": "C"},
        {"id": "dev-1", "temp": 1, "unit": "K"},
        {"id": "dev-1", "temp": 1},
        {"id": "dev-1", "temp": "1", "unit": "C"},
        {"id": "dev-1", "temp": 1, "unit": "C", "extra": True},
        {"id": "dev-1", "temp": 1, "unit": "C", "tags": ["a", "a"]},
        {"id": "dev-1", "temp": 1, "unit": "C", "tags": ["a", "b", "c", "d"]},
        {"id": "dev-1", "temp": 1, "unit": "C", "tags": [""]},
        {"id": "dev-1", "temp": 1, "unit": "C", "at": {"lat": 200, "lon": 0}},
        {"id": "dev-1", "temp": 1, "unit": "C", "at": {"lat": 0}},
        {"id": "dev-1", "temp": 1, "unit": "C", "at": {"lat": 0, "lon": 0, "alt": 3}},
        {"id": "dev-1", "temp": 1, "unit": "C", "battery": 101},
        {"id": "dev-1", "temp": 1, "unit": "C", "battery": "solar"},
        {"id": "dev-1", "temp": 1, "unit": "C", "battery": 50.5},
        [VALID],
        "dev-1",
        None,
    ]
] + [b"not json", b"\xff\xfe", b"", b'{"id":"dev-1","temp":1,"unit":"C"} trailing', b' {"id":"dev-9","temp":2,"unit":"C"} ']

VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def oracle(payload: bytes) -> bool:
    """Whether the payload may be published: it is one JSON value (docs/topics.md's payload rule) and
    `jsonschema` finds it valid."""
    try:
        instance = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return False
    return VALIDATOR.is_valid(instance)


def error_pointers(payload: bytes) -> set[str]:
    """Every instance location (JSON Pointer) jsonschema reports an error at, nested ones included."""
    pointers: set[str] = set()

    def pointer(parts) -> str:
        return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)

    def walk(errors):
        for error in errors:
            pointers.add(pointer(error.absolute_path))
            # jsonschema reports a member additionalProperties forbids at the object; the server names the
            # member itself.
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                pointers.update(pointer([*error.absolute_path, key]) for key in error.instance)
            walk(error.context or [])

    walk(VALIDATOR.iter_errors(json.loads(payload)))
    return pointers


@pytest.fixture
def srv(make_server, tmp_path):
    # The orders rule's schema is a file, as an operator would keep it.
    order_schema = tmp_path / "order.json"
    order_schema.write_text(json.dumps({"type": "object", "required": ["order"]}))
    return make_server({
        "payload_schemas": [
            {"filter": "sensors/#", "schema": SCHEMA},
            {"filter": "orders/+", "schema": str(order_schema)},
        ],
    })


def sensors(prefix: str = "s") -> str:
    return f"sensors/{unique(prefix)}"


def test_http_publish_agrees_with_jsonschema(srv):
    channel = sensors("http")
    for payload in PAYLOADS:
        expected = oracle(payload)
        try:
            body: dict[str, Any] = {"channel": channel, "data": json.loads(payload)}
        except (ValueError, UnicodeDecodeError):
            body = {"channel": channel, "binary": base64.b64encode(payload).decode()}
        r = srv.post("/api/publish", json=body)
        assert r.status_code == (200 if expected else 422), (payload, r.status_code, r.text)
        if not expected:
            error = r.json()["error"]
            assert error["code"] == "invalid_payload", error
            assert "sensors/#" in error["message"]
            if body.get("data") is not None or payload == b"null":
                pointer = error["message"].split('"')[1]
                assert pointer in error_pointers(payload), (payload, error["message"])
    # Declared text is not JSON, whatever it holds; other channels are not checked.
    r = srv.post("/api/publish", json={"channel": channel, "text": json.dumps(VALID)})
    assert r.status_code == 422 and "not JSON" in r.json()["error"]["message"]
    assert srv.post("/api/publish", json={"channel": f"other/{unique()}", "text": "free"}).status_code == 200
    # The file rule.
    assert srv.post("/api/publish", json={"channel": "orders/1", "data": {"order": 1}}).status_code == 200
    r = srv.post("/api/publish", json={"channel": "orders/1", "data": {}})
    assert r.status_code == 422 and "orders/+" in r.json()["error"]["message"]


def test_http_broadcast_refuses_per_channel(srv):
    good, bad = f"other/{unique()}", sensors()
    r = srv.post("/api/broadcast", json={"channels": [good, bad], "data": {"free": True}})
    assert r.status_code == 200, r.text
    body = r.text
    assert "invalid_payload" in body and good in body


def test_mqtt5_agrees_with_jsonschema_and_refuses_with_0x99(srv):
    topic = sensors("mqtt")
    sub = Paho(srv.mqtt_port, V5)
    pub = Paho(srv.mqtt_port, V5)
    try:
        sub.subscribe(topic, qos=1)
        for payload in PAYLOADS:
            info = pub.client.publish(topic, payload, qos=1)
            info.wait_for_publish(5)
            assert info.is_published()
            code = pub.publish_codes[info.mid]
            if oracle(payload):
                assert not code.is_failure, (payload, code)
                assert sub.get().payload == payload
            else:
                assert code.value == 0x99, (payload, code)
        sub.nothing()
        # QoS 2: PUBREC 0x99. (paho answers a failed PUBREC with a PUBREL anyway and reports the PUBCOMP's
        # 0x92, so the PUBREC is read off the wire.)
        raw = Raw(srv.mqtt_port)
        try:
            raw.send(connect_packet(client_id("raw")))
            raw.expect(2)
            raw.send(publish_packet(topic, json.dumps(INVALID).encode(), qos=2, pid=7))
            pubrec = raw.expect(5)
            assert pubrec[:3] == b"\x00\x07\x99", pubrec
            assert b'"/temp"' in pubrec
        finally:
            raw.close()
        # QoS 0 has no acknowledgement: DISCONNECT 0x99 naming the pointer.
        pub.client.publish(topic, json.dumps(INVALID), qos=0)
        assert pub.disconnected.wait(5), "no DISCONNECT"
        assert pub.disconnect_reason.value == 0x99
        assert '"/temp"' in getattr(pub.disconnect_properties, "ReasonString", "")
        sub.nothing()
    finally:
        sub.disconnect()
        pub.client.loop_stop()


def test_mqtt5_puback_reason_string_names_the_pointer(srv):
    topic = sensors("mqtt")
    pub = Paho(srv.mqtt_port, V5)
    reasons: "queue.Queue[Any]" = queue.Queue()
    pub.client.on_publish = lambda c, u, mid, code, props: reasons.put((code, props))
    try:
        pub.client.publish(topic, json.dumps(INVALID), qos=1)
        code, props = reasons.get(timeout=5)
        assert code.value == 0x99
        assert '"/temp"' in props.ReasonString and "sensors/#" in props.ReasonString
    finally:
        pub.disconnect()


def test_mqtt311_closes_the_connection(srv):
    topic = sensors("old")
    sub = Paho(srv.mqtt_port, V311)
    sub.subscribe(topic, qos=1)
    pub = Paho(srv.mqtt_port, V311)
    try:
        pub.publish(topic, json.dumps(VALID), qos=1)
        assert json.loads(sub.get().payload) == VALID
        pub.client.publish(topic, json.dumps(INVALID), qos=1)
        assert pub.disconnected.wait(5), "3.1.1 has no reason codes: the connection closes"
        sub.nothing()
    finally:
        sub.disconnect()
        pub.client.loop_stop()


def test_nats_err_and_a_valid_publish_goes_through(srv):
    async def body():
        errors: list[Exception] = []

        async def on_error(e: Exception) -> None:
            errors.append(e)

        nc = await nats.connect(srv.nats_url, error_cb=on_error, allow_reconnect=False, connect_timeout=3)
        try:
            subject = sensors("nats").replace("/", ".")
            got = await nc.subscribe(subject)
            await nc.publish(subject, json.dumps(INVALID).encode())
            await nc.publish(subject, json.dumps(VALID).encode())
            await nc.flush()
            message = await got.next_msg(timeout=5)
            assert json.loads(message.data) == VALID
            with pytest.raises(nats.errors.TimeoutError):
                await got.next_msg(timeout=0.3)
            deadline = time.monotonic() + 5
            while not errors and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            # nats.py lower-cases -ERR texts; "permissions violation" is what keeps its connection open.
            assert errors and "permissions violation for publish" in str(errors[0]) and "/temp" in str(errors[0])
            assert nc.is_connected
        finally:
            await nc.close()

    run(body())


def test_jetstream_publish_gets_a_puback_error(srv):
    async def body():
        nc = await nats.connect(srv.nats_url, allow_reconnect=False, connect_timeout=3)
        js = nc.jetstream()
        name = unique("S")
        try:
            prefix = "sensors." + name
            await js.add_stream(name=name, subjects=[f"{prefix}.>"])
            ack = await js.publish(f"{prefix}.a", json.dumps(VALID).encode())
            assert ack.seq == 1
            with pytest.raises(BadRequestError) as refused:
                await js.publish(f"{prefix}.a", json.dumps(INVALID).encode())
            assert "/temp" in refused.value.description
            assert (await js.stream_info(name)).state.messages == 1
        finally:
            await nc.close()

    run(body())


def test_websocket_invalid_payload(srv):
    async def body():
        ws = await open_ws(srv.ws_url)
        try:
            channel = sensors("ws")
            await ws.subscribe(channel)
            error = await ws.expect_error({"type": "publish", "channel": channel, "data": INVALID}, "invalid_payload")
            assert '"/temp"' in error["message"], error
            await ws.publish(channel, VALID)
            assert (await ws.message(channel))["data"] == VALID
        finally:
            await ws.close()

    run(body())


def test_amqp_confirms_nack_and_mandatory_return(srv):
    routing_key = sensors("amqp").replace("/", ".")
    with amqp_connect(srv) as conn:
        ch = conn.channel()
        queue_name = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.queue_bind(queue_name, "amq.topic", routing_key)
        ch.confirm_delivery()
        with pytest.raises(NackError):
            ch.basic_publish("amq.topic", routing_key, json.dumps(INVALID).encode())
        ch.basic_publish("amq.topic", routing_key, json.dumps(VALID).encode())
        method, _, received = ch.basic_get(queue_name, auto_ack=True)
        assert json.loads(received) == VALID
        assert ch.basic_get(queue_name, auto_ack=True)[0] is None

        # Without confirms: a mandatory publish comes back as basic.return 406 naming the pointer.
        plain = conn.channel()
        returned: list[tuple[Any, bytes]] = []
        plain.add_on_return_callback(lambda channel, method, props, body: returned.append((method, body)))
        plain.basic_publish("amq.topic", routing_key, json.dumps(INVALID).encode(), mandatory=True)
        deadline = time.monotonic() + 5
        while not returned and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.1)
        assert returned, "no basic.return"
        method, body = returned[0]
        assert method.reply_code == 406 and "/temp" in method.reply_text, method
        assert json.loads(body) == INVALID
        assert plain.is_open and ch.is_open


def test_stomp_error_with_receipt(srv):
    destination = "/topic/" + sensors("stomp").replace("/", ".")
    errors: "queue.Queue[Any]" = queue.Queue()
    messages: "queue.Queue[Any]" = queue.Queue()
    receipts: "queue.Queue[Any]" = queue.Queue()

    class Listener(stomp.ConnectionListener):
        def on_error(self, frame):
            errors.put(frame)

        def on_message(self, frame):
            messages.put(frame)

        def on_receipt(self, frame):
            receipts.put(frame.headers.get("receipt-id"))

    reader = stomp.Connection12([("127.0.0.1", srv.stomp_port)], vhost="/", auto_decode=False)
    reader.set_listener("l", Listener())
    reader.connect(wait=True)
    # Subscribed before the writer sends (another connection, maybe another event loop): the receipt says so.
    reader.subscribe(destination, id="1", headers={"receipt": "subscribed"})
    assert receipts.get(timeout=5) == "subscribed"
    writer = stomp.Connection12([("127.0.0.1", srv.stomp_port)], vhost="/", auto_decode=False)
    writer.set_listener("l", Listener())
    writer.connect(wait=True)
    try:
        writer.send(destination, json.dumps(VALID), content_type="application/json", headers={"receipt": "ok"})
        assert json.loads(messages.get(timeout=5).body) == VALID
        writer.send(destination, json.dumps(INVALID), content_type="application/json", headers={"receipt": "r-9"})
        error = errors.get(timeout=5)
        assert error.headers["message"] == "Invalid payload"
        assert error.headers["receipt-id"] == "r-9"
        assert b'"/temp"' in error.body
        with pytest.raises(queue.Empty):
            messages.get(timeout=0.3)
    finally:
        reader.disconnect()
        try:
            writer.disconnect()
        except Exception:
            pass  # closed by the server after the ERROR


def test_socketio_error_ack(srv):
    async def body():
        channel = sensors("sio")
        async with Stock(srv.http_url, TRANSPORTS["websocket"]) as client:
            await client.subscribe(channel)
            refused = await client.call("publish", {"channel": channel, "data": INVALID})
            assert refused["error"]["code"] == "invalid_payload" and '"/temp"' in refused["error"]["message"]
            published = await client.call("publish", {"channel": channel, "data": VALID})
            assert "error" not in published, published

    run(body())


def test_signalr_completion_with_error(srv):
    channel = sensors("hub")
    client = CoreClient(hub_url(srv)).start()
    try:
        # signalrcore hands a completion with an error to on_error, not to the invocation's callback.
        errors: "queue.Queue[Any]" = queue.Queue()
        client.hub.on_error(errors.put)
        assert client.invoke("JoinGroup", [channel]).error is None
        client.hub.send("Publish", [channel, INVALID])
        refused = errors.get(timeout=5)
        assert "HubException" in refused.error and '"/temp"' in refused.error, refused.error
        accepted = client.invoke("Publish", [channel, VALID])
        assert accepted.error is None
        received = client.wait_received(1)
        assert received[0][0]["data"] == VALID
    finally:
        client.stop()


def test_kafka_rest_per_record_error(srv):
    url = f"http://127.0.0.1:{srv.ports['kafka_rest']}"
    topic = "sensors." + unique("k")
    r = requests.post(
        f"{url}/topics/{topic}",
        data=json.dumps({"records": [{"value": VALID}, {"value": INVALID}, {"value": VALID}]}),
        headers={"Content-Type": "application/vnd.kafka.json.v2+json", "Accept": "application/vnd.kafka.v2+json"},
        timeout=10)
    assert r.status_code == 200, r.text
    offsets = r.json()["offsets"]
    assert [o.get("error_code") for o in offsets] == [None, 42206, None]
    assert '"/temp"' in offsets[1]["error"] and offsets[1]["offset"] is None
    assert offsets[0]["offset"] is not None and offsets[2]["offset"] is not None
