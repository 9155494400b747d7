"""MQTT ⇄ native WebSocket ⇄ HTTP publish on the same topics (payload rule of docs/topics.md), MQTT over
WebSocket at /mqtt, the admin API, and a mosquitto_pub/mosquitto_sub smoke test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from interop import run, unique, ws_clients
from mqtt_client import V5, V311, Paho, props
from paho.mqtt.packettypes import PacketTypes


def test_mqtt_publish_reaches_websocket_with_the_payload_rule(server):
    topic = f"bridge/{unique()}"

    async def body():
        async with ws_clients(server.ws_url, 1) as ws:
            await ws.subscribe(topic)
            pub = Paho(server.mqtt_port, V311)
            pub.publish(topic, json.dumps({"n": 1}).encode(), qos=1)
            pub.publish(topic, "plain text é".encode(), qos=1)
            pub.publish(topic, b"\xff\x00\x01", qos=1)
            pub5 = Paho(server.mqtt_port, V5)
            pub5.publish(topic, b'{"declared":"text"}', qos=1, properties=props(PacketTypes.PUBLISH, ContentType="text/plain"))
            got = await ws.messages(topic, 4)
            pub.disconnect()
            pub5.disconnect()
            return got

    got = run(body())
    assert got[0]["data"] == {"n": 1}
    assert got[1]["text"] == "plain text é"
    assert got[2]["binary"] == "/wAB"
    assert got[3]["text"] == '{"declared":"text"}', "a declared text/* content type wins"


def test_websocket_and_http_publishes_reach_mqtt(server):
    topic = f"bridge/{unique()}"
    sub = Paho(server.mqtt_port, V5)
    sub.subscribe(topic, qos=1)

    async def body():
        async with ws_clients(server.ws_url, 1) as ws:
            await ws.publish(topic, {"from": "ws"})

    run(body())
    message = sub.get()
    assert json.loads(message.payload) == {"from": "ws"} and message.qos == 0
    assert message.properties.ContentType == "application/json"
    server.publish(topic, {"from": "http"})
    assert json.loads(sub.get().payload) == {"from": "http"}
    sub.disconnect()


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_mqtt_over_websocket(server, version):
    topic = f"ws/{unique()}"
    over_ws = Paho(server.mqtt_port, version, transport="websockets", ws_port=server.port)
    over_ws.subscribe(topic, qos=2)
    tcp = Paho(server.mqtt_port, version)
    tcp.publish(topic, b"tcp to ws", qos=2)
    assert over_ws.get().payload == b"tcp to ws"
    over_ws.publish(topic, b"ws to ws", qos=1)
    assert over_ws.get().payload == b"ws to ws"
    over_ws.disconnect()
    tcp.disconnect()


def test_websocket_mqtt_needs_the_subprotocol(server):
    import requests

    r = requests.get(server.http_url + "/mqtt", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "chat"}, timeout=5)
    assert r.status_code == 400


def test_admin_api_lists_and_drops_mqtt_connections(server):
    client = Paho(server.mqtt_port, V5)
    client.subscribe(f"adm/{unique()}")
    listed = [c for c in server.get("/api/connections").json()["connections"] if c["name"] == client.cid]
    assert len(listed) == 1 and listed[0]["protocol"] == "mqtt" and len(listed[0]["subscriptions"]) == 1
    assert server.http("DELETE", f"/api/connections/{listed[0]['id']}").status_code in (200, 204)
    assert client.disconnected.wait(5)
    assert client.disconnect_reason == 0x98, client.disconnect_reason


def mosquitto_clients() -> str | None:
    if shutil.which("mosquitto_pub"):
        return shutil.which("mosquitto_pub")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    try:
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, timeout=240, capture_output=True)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "mosquitto-clients"], check=True, timeout=240,
                       capture_output=True)
    except (subprocess.SubprocessError, OSError):
        return None
    return shutil.which("mosquitto_pub")


def test_mosquitto_clients_smoke(server):
    if mosquitto_clients() is None:
        pytest.fail("mosquitto-clients is not installed and apt-get could not install it")
    topic = f"mosq/{unique()}"
    port = str(server.mqtt_port)
    for version in ("mqttv311", "mqttv5"):
        sub = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-V", version, "-t", topic, "-q", "1", "-C", "2",
             "-W", "10", "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        for payload in ("one", "two"):
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-V", version, "-t", topic, "-q", "2",
                            "-m", payload], check=True, timeout=10)
        out, err = sub.communicate(timeout=15)
        assert out.split("\n")[:2] == [f"{topic} one", f"{topic} two"], (out, err)
    # Retained, read back by a later subscriber.
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t", topic, "-r", "-m", "kept"], check=True,
                   timeout=10)
    out = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-t", topic, "-C", "1", "-W", "5"],
                         check=True, timeout=10, capture_output=True, text=True).stdout
    assert out.strip() == "kept"
