"""Socket.IO v4 with the stock python-socketio client over each transport (polling, WebSocket, and the
default polling → WebSocket upgrade): connect, the hub vocabulary answered by acks, deliveries as events,
namespaces as channel prefixes, events to rooms, binary attachments both ways, and the same channels
reached from MQTT and the native WebSocket protocol (docs/protocols/socketio.md)."""

from __future__ import annotations

import asyncio

import pytest
import socketio

from interop import run, unique, ws_clients
from mqtt_client import V311, Paho
from socketio_support import TRANSPORTS, Stock

pytestmark = pytest.mark.switchboard_only


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_subscribe_publish_and_deliveries_over_each_transport(server, transport):
    channel = f"chat/{unique('room')}"

    async def body():
        async with Stock(server.http_url, TRANSPORTS[transport]) as a, Stock(server.http_url, TRANSPORTS[transport]) as b:
            await asyncio.sleep(0.3 if transport == "upgrade" else 0)  # let the upgrade finish
            subscribed = await b.subscribe(channel)
            assert subscribed["channel"] == channel and "offset" in subscribed and subscribed["messages"] == []
            published = await a.call("publish", {"channel": channel, "data": {"n": 1}})
            assert published["channel"] == channel and published["offset"] == subscribed["offset"] + 1, published
            namespace, event, args = await b.event("message")
            assert namespace == "/"
            envelope = args[0]
            assert envelope["type"] == "message" and envelope["channel"] == channel and envelope["data"] == {"n": 1}
            assert envelope["offset"] == published["offset"] and envelope["epoch"] == published["epoch"]
            # Recovery is on by default: the offset string is the last argument (socket.io 4.6+).
            assert args[-1] == f"{published['offset']}:{channel}"
            # A named event type arrives as that event.
            await a.call("publish", {"channel": channel, "data": "hi", "event": "greeting"})
            _, event, args = await b.event("greeting")
            assert args[0]["data"] == "hi" and args[0]["event"] == "greeting"
            if transport == "upgrade":
                assert a.transport == "websocket" and b.transport == "websocket"
            else:
                assert a.transport == transport

    run(body())


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_history_presence_unsubscribe_and_errors_answer_by_ack(server, transport):
    channel = f"chat/{unique('room')}"

    async def body():
        async with Stock(server.http_url, TRANSPORTS[transport]) as client:
            for n in range(3):
                await client.call("publish", {"channel": channel, "data": n})
            history = await client.call("history", {"channel": channel, "limit": 2})
            assert [m["data"] for m in history["messages"]] == [1, 2], history
            joined = await client.subscribe(channel, history=3)
            assert [m["data"] for m in joined["messages"]] == [0, 1, 2]
            presence = await client.call("presence", {"channel": channel})
            assert len(presence["clients"]) == 1 and presence["clients"][0]["protocol"] == "socketio", presence
            assert (await client.call("unsubscribe", channel)) == {"channel": channel}
            missing = await client.call("unsubscribe", channel)
            assert missing["error"]["code"] == "not_found"
            bad = await client.call("publish", {"channel": "a/+/b", "data": 1})
            assert bad["error"]["code"] == "bad_request"
            none = await client.call("subscribe", {})
            assert none["error"]["code"] == "bad_request"

    run(body())


def test_namespaces_are_channel_prefixes_and_share_one_session(server):
    room = unique("room")

    async def body():
        async with Stock(server.http_url, ["websocket"], namespaces=["/", "/chat"]) as client:
            answer = await client.subscribe(room, namespace="/chat")
            assert answer["channel"] == f"chat/{room}"
            await client.subscribe(f"chat/{room}")  # the same channel from the main namespace
            await server.apublish(f"chat/{room}", {"from": "http"})
            got = {(await client.event("message"))[0] for _ in range(2)}
            assert got == {"/", "/chat"}

    run(body())


def test_events_to_rooms_reach_the_other_members_not_the_sender(server):
    room = unique("room")

    async def body():
        async with Stock(server.http_url, ["websocket"]) as alice, Stock(server.http_url, ["polling"]) as bob:
            await alice.subscribe(f"chat/{room}")
            await bob.subscribe(f"chat/{room}")
            reached = await alice.call("typing", ["alice", True])
            assert reached == {"rooms": 1}
            _, event, args = await bob.event("typing")
            assert args[0]["data"] == [["alice", True]] and args[0]["channel"] == f"chat/{room}"
            await alice.no_event("typing")

    run(body())


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_binary_attachments_both_ways(server, transport):
    channel = f"chat/{unique('bin')}"

    async def body():
        async with Stock(server.http_url, TRANSPORTS[transport]) as client, ws_clients(server.ws_url, 1) as ws:
            await client.subscribe(channel)
            await ws.subscribe(channel)
            blob = bytes(range(256))
            answer = await client.call("publish", {"channel": channel, "data": blob})
            assert "offset" in answer, answer
            pushed = await ws.message(channel)
            assert pushed["binary"] is not None
            # Back to Socket.IO as a binary attachment: python-socketio rebuilds the bytes.
            _, _, args = await client.event("message")
            assert args[0]["data"] == blob

    run(body())


def test_socketio_mqtt_and_websocket_share_channels(server):
    word = unique("dev")
    topic = f"sensors/{word}"

    async def body():
        mqtt = Paho(server.mqtt_port, V311)
        mqtt.subscribe(topic, qos=1)
        try:
            async with Stock(server.http_url, ["websocket"]) as client, ws_clients(server.ws_url, 1) as ws:
                await client.subscribe(topic)
                await ws.subscribe(topic)
                await client.call("publish", {"channel": topic, "data": {"c": 21}})
                got_ws = await ws.message(topic)
                got_mqtt = await asyncio.to_thread(mqtt.get)
                await asyncio.to_thread(mqtt.publish, topic, b'{"from":"mqtt"}', 1)
                _, _, first = await client.event("message")
                _, _, second = await client.event("message")
        finally:
            mqtt.disconnect()
        return got_ws, got_mqtt, first, second

    got_ws, got_mqtt, first, second = run(body())
    assert got_ws["data"] == {"c": 21}
    assert got_mqtt.payload == b'{"c":21}'
    assert first[0]["data"] == {"c": 21} and second[0]["data"] == {"from": "mqtt"}


def test_unknown_namespace_is_refused_with_connect_error(make_server):
    server = make_server({"socketio": {"namespaces": ["/", "/chat"]}})

    async def body():
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(server.http_url, namespaces=["/other"], transports=["websocket"], wait_timeout=3)
        await client.disconnect()

    run(body())


def test_rpc_both_ways_socketio_client_answers_by_ack_and_calls_a_websocket_responder(server):
    service = f"svc/{unique()}/double"
    other = f"svc/{unique()}/upper"

    async def body():
        async with Stock(server.http_url, ["websocket"]) as responder, ws_clients(server.ws_url, 2) as (caller, ws_responder):
            # A Socket.IO client serves requests: its handler's return value is the ack, the ack the reply.
            responder.client.on("message", lambda envelope, *_: {"double": envelope["data"] * 2})
            await responder.subscribe(service)
            reply = await caller.request({"type": "rpc", "channel": service, "data": 21, "timeout": 5000})
            assert reply["type"] == "reply" and reply["data"] == {"double": 42}, reply
            # And calls a native WebSocket responder.
            await ws_responder.subscribe(other)
            call = asyncio.ensure_future(responder.call("rpc", {"channel": other, "data": "abc", "timeout": 5000}))
            request = await ws_responder.wait(lambda f: f.get("type") == "request")
            await ws_responder.send({"type": "respond", "reply": request["reply"], "data": "ABC"})
            assert (await call) == {"data": "ABC"}
            nobody = await responder.call("rpc", {"channel": f"svc/{unique()}/none", "data": 1})
            assert nobody["error"]["code"] == "unavailable"

    run(body())
