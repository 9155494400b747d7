"""STOMP on the one bus (DESIGN.md §2): a SEND to /topic/sensors.x is bus topic sensors/x, so it reaches
MQTT (sensors/x), NATS (sensors.x), WebSocket and SSE subscribers, and their publishes reach STOMP
subscribers of /topic/sensors.x. Switchboard only (RabbitMQ has no such bridges)."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest

from interop import run, unique, ws_clients
from mqtt_client import V311, Paho
from nats_support import subscribed
from sse_client import sse
from stomp_support import TRANSPORTS, Stock

pytestmark = pytest.mark.switchboard_only


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stomp_send_reaches_mqtt_nats_websocket_and_sse(server, transport):
    word = unique("dev")
    topic = f"sensors/{word}"

    async def body():
        nc = await nats.connect(server.nats_url)
        sub = await nc.subscribe(f"sensors.{word}")
        await subscribed(server, nc, f"sensors.{word}")
        mqtt = Paho(server.mqtt_port, V311)
        mqtt.subscribe(topic, qos=1)
        try:
            async with ws_clients(server.ws_url, 1) as ws, sse(f"{server.http_url}/sse?channel={topic}") as stream:
                await ws.subscribe(topic)
                await stream.next(skip_empty=False)  # the opening event: the stream is subscribed
                with Stock(server, "1.2", transport) as client:
                    await asyncio.to_thread(client.send, f"/topic/sensors.{word}", b'{"c":21}',
                                            "application/json", **{"x-unit": "celsius"})
                got_ws = await ws.message(topic)
                got_sse = await stream.next()
            got_nats = await sub.next_msg(timeout=5)
            got_mqtt = await asyncio.to_thread(mqtt.get)
        finally:
            mqtt.disconnect()
            await nc.close()
        return got_ws, got_sse, got_nats, got_mqtt

    got_ws, got_sse, got_nats, got_mqtt = run(body())
    assert got_ws["data"] == {"c": 21}, got_ws
    assert json.loads(got_sse.data) == {"c": 21} or json.loads(got_sse.data).get("data") == {"c": 21}, got_sse
    assert got_nats.subject == f"sensors.{word}" and got_nats.data == b'{"c":21}'
    assert got_mqtt.topic == topic and got_mqtt.payload == b'{"c":21}'


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_mqtt_nats_and_http_publishes_reach_stomp(server, version):
    word = unique("dev")
    with Stock(server, version) as client:
        client.subscribe(f"/topic/sensors.{word}.*", "s1")
        mqtt = Paho(server.mqtt_port, V311)
        mqtt.publish(f"sensors/{word}/mqtt", b"from mqtt", qos=1)
        mqtt.disconnect()

        async def nats_publish():
            nc = await nats.connect(server.nats_url)
            await nc.publish(f"sensors.{word}.nats", b"from nats")
            await nc.flush()
            await nc.close()

        run(nats_publish())
        server.publish(f"sensors/{word}/http", {"from": "http"})
        got = {m["destination"]: m.body for m in client.messages(3)}
    assert got[f"/topic/sensors.{word}.mqtt"] == b"from mqtt"
    assert got[f"/topic/sensors.{word}.nats"] == b"from nats"
    assert json.loads(got[f"/topic/sensors.{word}.http"]) == {"from": "http"}


def test_stomp_and_websocket_clients_talk_both_ways(server):
    word = unique("room")
    topic = f"chat/{word}"

    async def body():
        async with ws_clients(server.ws_url, 1) as ws:
            await ws.subscribe(topic)
            with Stock(server, "1.2", "ws") as client:
                await asyncio.to_thread(client.subscribe, f"/topic/chat.{word}", "s1")
                await ws.publish(topic, {"hello": "stomp"})
                from_ws = await asyncio.to_thread(client.message)
                await asyncio.to_thread(client.send, f"/topic/chat.{word}", b'{"hello":"ws"}', "application/json")
                pushes = [await ws.message(topic), await ws.message(topic)]
        return from_ws, pushes

    from_ws, pushes = run(body())
    assert json.loads(from_ws.body) == {"hello": "stomp"}
    assert {"hello": "ws"} in [p["data"] for p in pushes], pushes
