"""SignalR hubs with the stock Python clients — pysignalr (asyncio) and signalrcore (threads), each with
the JSON and the MessagePack hub protocol over WebSockets: negotiate, the handshake, the hub's methods
answered by completions, deliveries as invocations of `Receive`, and the same channels reached from
MQTT and the native WebSocket protocol; then the protocol-level rules checked with a raw client
(docs/protocols/signalr.md)."""

from __future__ import annotations

import asyncio
import json

import pytest
import requests
from pysignalr.client import SignalRClient
from pysignalr.protocol.json import JSONProtocol
from pysignalr.protocol.messagepack import MessagepackProtocol

from interop import run, unique, ws_clients
from mqtt_client import V311, Paho
from security_support import ISSUER, JWT_SECRET, make_jwt
from signalr_support import RS, CoreClient, RawHub, hub_url

pytestmark = pytest.mark.switchboard_only

PROTOCOLS = {"json": JSONProtocol, "messagepack": MessagepackProtocol}


class PyClient:
    """pysignalr, running in the background, with every `Receive` (and other targets) queued."""

    def __init__(self, url: str, protocol: str, targets: tuple[str, ...] = ("Receive",), token: str | None = None):
        # pysignalr sends its access_token_factory's token only on the WebSocket, not to negotiate: the
        # header goes on both.
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.client = SignalRClient(url, protocol=PROTOCOLS[protocol](), headers=headers)
        self.received: asyncio.Queue = asyncio.Queue()
        self.opened = asyncio.Event()
        self.pending: asyncio.Future | None = None
        for target in targets:
            self.client.on(target, self._collector(target))

        async def on_open() -> None:
            self.opened.set()

        async def on_error(message) -> None:
            # pysignalr hands a completion with an error to the global callback, not the invocation's.
            if self.pending is not None and not self.pending.done():
                self.pending.set_result(message)

        self.client.on_open(on_open)
        self.client.on_error(on_error)

    def _collector(self, target: str):
        async def collect(args):
            await self.received.put((target, args))

        return collect

    async def __aenter__(self) -> "PyClient":
        self.task = asyncio.create_task(self.client.run())
        await asyncio.wait_for(self.opened.wait(), 5)
        return self

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, Exception):
            pass

    async def invoke(self, target: str, arguments: list) -> object:
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        self.pending = done

        async def on_invocation(message) -> None:
            if not done.done():
                done.set_result(message)

        await self.client.send(target, arguments, on_invocation=on_invocation)
        return await asyncio.wait_for(done, 5)

    async def receive(self) -> tuple[str, list]:
        return await asyncio.wait_for(self.received.get(), 5)


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_pysignalr_subscribes_publishes_and_receives(server, protocol):
    channel = f"chat/{unique('room')}"

    async def body():
        async with PyClient(hub_url(server), protocol, ("Receive", "greeting")) as a, PyClient(
            hub_url(server), protocol, ("Receive", "greeting")
        ) as b:
            subscribed = await b.invoke("Subscribe", [channel])
            assert subscribed.error is None and subscribed.result is None
            published = await a.invoke("Publish", [channel, {"n": 1, "s": "x"}])
            assert published.error is None
            # chat/# keeps history in the test server: the result is the message's position.
            assert published.result["offset"] >= 1 and published.result["epoch"], published.result
            target, args = await b.receive()
            assert target == "Receive"
            envelope = args[0]
            assert envelope["type"] == "message" and envelope["channel"] == channel
            assert envelope["data"] == {"n": 1, "s": "x"}
            assert envelope["offset"] == published.result["offset"]
            # A named event type arrives as an invocation of that client method.
            await a.invoke("Publish", [channel, "hi", "greeting"])
            target, args = await b.receive()
            assert target == "greeting" and args[0]["data"] == "hi" and args[0]["event"] == "greeting"
            # Unsubscribed: nothing more arrives.
            assert (await b.invoke("Unsubscribe", [channel])).error is None
            await a.invoke("Publish", [channel, 3])
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(b.received.get(), 0.5)

    run(body())


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_pysignalr_errors_are_completions(server, protocol):
    async def body():
        async with PyClient(hub_url(server), protocol) as client:
            unknown = await client.invoke("NoSuchMethod", [])
            assert unknown.error == "Unknown hub method 'NoSuchMethod'"
            missing = await client.invoke("Subscribe", [])
            assert "Invocation provides 0 argument(s) but target expects 1" in missing.error
            invalid = await client.invoke("Publish", ["a/+/b", 1])
            assert "HubException" in invalid.error and "a/+/b" in invalid.error
            # The connection still works after the errors.
            assert (await client.invoke("Subscribe", [f"chat/{unique()}"])).error is None

    run(body())


@pytest.mark.parametrize("messagepack", [False, True], ids=["json", "messagepack"])
def test_signalrcore_subscribes_publishes_and_receives(server, messagepack):
    channel = f"chat/{unique('core')}"
    client = CoreClient(hub_url(server), messagepack=messagepack).start()
    try:
        assert client.invoke("JoinGroup", [channel]).error is None
        result = client.invoke("Publish", [channel, {"a": [1, 2]}])
        assert result.error is None and result.result["offset"] >= 1
        received = client.wait_received(1)
        assert received[0][0]["channel"] == channel and received[0][0]["data"] == {"a": [1, 2]}
        assert client.invoke("LeaveGroup", [channel]).error is None
    finally:
        client.stop()


def test_signalr_mqtt_and_websocket_share_channels(server):
    topic = f"sensors/{unique('dev')}"

    async def body():
        mqtt = Paho(server.mqtt_port, V311)
        mqtt.subscribe(topic, qos=1)
        try:
            async with PyClient(hub_url(server), "messagepack") as hub, ws_clients(server.ws_url, 1) as ws:
                await hub.invoke("Subscribe", [topic])
                await ws.subscribe(topic)
                await hub.invoke("Publish", [topic, {"c": 21}])
                got_ws = await ws.message(topic)
                got_mqtt = await asyncio.to_thread(mqtt.get)
                await asyncio.to_thread(mqtt.publish, topic, b'{"from":"mqtt"}', 1)
                first = await hub.receive()
                second = await hub.receive()
        finally:
            mqtt.disconnect()
        return got_ws, got_mqtt, first, second

    got_ws, got_mqtt, first, second = run(body())
    assert got_ws["data"] == {"c": 21}
    assert got_mqtt.payload == b'{"c":21}'
    assert first[1][0]["data"] == {"c": 21} and second[1][0]["data"] == {"from": "mqtt"}


def test_negotiate_versions_and_tokens(server):
    url = hub_url(server) + "/negotiate"
    zero = requests.post(url, timeout=5).json()
    assert "connectionToken" not in zero and zero["negotiateVersion"] == 0 and zero["connectionId"]
    one = requests.post(url + "?negotiateVersion=1", timeout=5).json()
    assert one["negotiateVersion"] == 1 and one["connectionToken"] != one["connectionId"]
    assert one["availableTransports"] == [
        {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]},
        {"transport": "ServerSentEvents", "transferFormats": ["Text"]},
        {"transport": "LongPolling", "transferFormats": ["Text", "Binary"]},
    ]
    # A later version than the server's is answered with the server's.
    assert requests.post(url + "?negotiateVersion=7", timeout=5).json()["negotiateVersion"] == 1
    assert requests.post(url + "?negotiateVersion=x", timeout=5).status_code == 400
    # The token connects one transport; an unknown one is refused before the upgrade.
    assert requests.get(hub_url(server) + "?id=nonsense", headers={"Upgrade": "websocket"}, timeout=5).status_code in (
        400,
        404,
    )

    async def body():
        async with RawHub(server, f"?id={one['connectionToken']}") as hub:
            assert await hub.handshake() == {}
        with pytest.raises(Exception):
            async with RawHub(server, f"?id={one['connectionToken']}"):
                pass

    run(body())


def test_handshake_refusals_and_protocol_errors(server):
    async def body():
        async with RawHub(server) as hub:
            answer = await hub.handshake("xml")
            assert answer == {"error": "The protocol 'xml' is not supported."}
        async with RawHub(server) as hub:
            answer = await hub.handshake("json", 2)
            assert "does not support version 2" in answer["error"]
        async with RawHub(server) as hub:
            await hub.send_raw("{not json" + RS)
            assert "error" in await hub.next()
        async with RawHub(server) as hub:
            assert await hub.handshake() == {}
            # Several messages in one frame, and one message over two frames.
            ping = json.dumps({"type": 6})
            await hub.send_raw(ping + RS + ping + RS + '{"type":1,"invocationId":"7",')
            await hub.send_raw('"target":"Subscribe","arguments":["chat/x"]}' + RS)
            completion = await hub.next_of_type(3)
            assert completion == {"type": 3, "invocationId": "7"}
            # An invocation without an id is not answered; a malformed message closes with an error.
            await hub.send({"type": 1, "target": "Subscribe", "arguments": ["chat/y"]})
            await hub.send_raw('{"type":1,"target":42}' + RS)
            close = await hub.next_of_type(7)
            assert close["error"], close

    run(body())


def test_keep_alive_pings_and_client_timeout(make_server):
    server = make_server({"signalr": {"keep_alive_ms": 200, "client_timeout_ms": 1000}})

    async def body():
        async with RawHub(server) as hub:
            assert await hub.handshake() == {}
            assert (await hub.next(2))["type"] == 6
            # Silent past the client timeout: the server closes with the reason.
            close = await hub.next_of_type(7, timeout=3)
            assert "timeout" in close["error"].lower()

    run(body())


def test_access_tokens_at_negotiate_and_on_the_websocket(make_server):
    secure = make_server(
        {
            "security": {
                "jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}], "issuer": ISSUER},
            }
        }
    )
    url = hub_url(secure) + "/negotiate?negotiateVersion=1"
    assert requests.post(url, timeout=5).status_code == 401
    assert requests.post(url + "&access_token=not-a-jwt", timeout=5).status_code == 401
    token = make_jwt("alice")
    assert requests.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200

    async def body():
        async with PyClient(hub_url(secure), "json", token=token) as client:
            assert (await client.invoke("Subscribe", [f"chat/{unique()}"])).error is None
        with pytest.raises(Exception):
            async with RawHub(secure):
                pass

    run(body())


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_history_stream_presence_and_rpc(server, protocol):
    channel = f"chat/{unique('hist')}"
    service = f"svc/{unique()}/upper"

    async def body():
        async with PyClient(hub_url(server), protocol) as client, ws_clients(server.ws_url, 1) as responder:
            for n in range(3):
                await client.invoke("Publish", [channel, n])
            # History is a server → client stream: items oldest first, then the completion.
            items: list = []
            done = asyncio.get_running_loop().create_future()

            async def on_next(item) -> None:
                items.append(item)

            async def on_complete(message) -> None:
                done.set_result(message)

            await client.client.stream("History", [channel, 2], on_next=on_next, on_complete=on_complete)
            await asyncio.wait_for(done, 5)
            data = [item[0]["data"] if isinstance(item, list) else item["data"] for item in items]
            assert data == [1, 2], items
            # Presence lists the group's members (chat/# tracks presence in the test server).
            await client.invoke("Subscribe", [channel])
            members = await client.invoke("Presence", [channel])
            assert members.error is None and len(members.result) == 1, members
            # Rpc: the first reply of a native WebSocket responder.
            await responder.subscribe(service)
            call = asyncio.ensure_future(client.invoke("Rpc", [service, "abc", 5000]))
            request = await responder.wait(lambda f: f.get("type") == "request")
            await responder.send({"type": "respond", "reply": request["reply"], "data": "ABC"})
            answer = await call
            assert answer.error is None and answer.result["data"] == "ABC", answer
            nobody = await client.invoke("Rpc", [f"svc/{unique()}/none", 1])
            assert "no responders" in nobody.error

    run(body())


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_pysignalr_client_stream_publishes_each_item(server, protocol):
    """pysignalr's client_stream sends PublishStream with no arguments: each item names its channel."""
    first, second = f"feed/{unique('up')}", f"feed/{unique('up')}"

    async def body():
        async with ws_clients(server.ws_url, 1) as ws, PyClient(hub_url(server), protocol) as client:
            await ws.subscribe(first)
            await ws.subscribe(second)
            async with client.client.client_stream("PublishStream") as stream:
                await stream.send({"channel": first, "data": {"n": 1}})
                await stream.send({"channel": second, "data": {"n": 2}, "event": "tick"})
                await stream.send({"no": "channel"})  # refused, skipped
                await stream.send({"channel": first, "data": [3]})
            return [await ws.message(first), await ws.message(second), await ws.message(first)]

    got = run(body())
    assert [m["data"] for m in got] == [{"n": 1}, {"n": 2}, [3]]
    assert got[1].get("event") == "tick"


def test_signalrcore_subject_streams_to_the_hub(server):
    from signalrcore.subject import Subject

    channel = f"feed/{unique('subj')}"
    mqtt = Paho(server.mqtt_port, V311)
    mqtt.subscribe(channel, qos=1)
    client = CoreClient(hub_url(server)).start()
    try:
        subject = Subject()
        client.hub.send("PublishStream", subject)
        for n in range(3):
            subject.next({"channel": channel, "data": {"n": n}})
        subject.complete()
        got = [json.loads(mqtt.get().payload) for _ in range(3)]
    finally:
        client.stop()
        mqtt.disconnect()
    assert got == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_publish_stream_to_one_channel_completes_with_counts(server):
    channel = f"feed/{unique('raw')}"

    async def body():
        async with ws_clients(server.ws_url, 1) as ws, RawHub(server) as hub:
            await ws.subscribe(channel)
            assert await hub.handshake() == {}
            await hub.send(
                {"type": 1, "invocationId": "5", "target": "PublishStream", "arguments": [channel], "streamIds": ["s"]}
            )
            for n in range(2):
                await hub.send({"type": 2, "invocationId": "s", "item": {"n": n}})
            # An item for a stream that is not open is ignored, as ASP.NET Core ignores it.
            await hub.send({"type": 2, "invocationId": "other", "item": 1})
            await hub.send({"type": 3, "invocationId": "s"})
            done = await hub.next_of_type(3)
            # Only PublishStream takes a stream; a second item after completion goes nowhere.
            await hub.send({"type": 1, "invocationId": "6", "target": "Publish", "arguments": [], "streamIds": ["t"]})
            refused = await hub.next_of_type(3)
            return done, refused, [await ws.message(channel), await ws.message(channel)]

    done, refused, got = run(body())
    assert done == {"type": 3, "invocationId": "5", "result": {"published": 2, "refused": 0}}
    assert refused["invocationId"] == "6" and "PublishStream" in refused["error"]
    assert [m["data"] for m in got] == [{"n": 0}, {"n": 1}]


def test_cancel_invocation_completes_a_waiting_rpc(server):
    """HubProtocol.md §Cancellation: a canceled in-progress invocation still gets its Completion (an
    error), and the reply that comes later is not sent; a cancel for nothing running is ignored."""
    service = f"svc/{unique('cancel')}"

    async def body():
        async with ws_clients(server.ws_url, 1) as responder, RawHub(server) as hub:
            await responder.subscribe(service)
            assert await hub.handshake() == {}
            await hub.send({"type": 5, "invocationId": "nothing"})
            await hub.send({"type": 1, "invocationId": "r1", "target": "Rpc", "arguments": [service, "x", 5000]})
            request = await responder.wait(lambda f: f.get("type") == "request")
            await hub.send({"type": 5, "invocationId": "r1"})
            canceled = await hub.next_of_type(3)
            await responder.send({"type": "respond", "reply": request["reply"], "data": "late"})
            await asyncio.sleep(0.2)
            await hub.send({"type": 1, "invocationId": "p1", "target": "Presence", "arguments": ["chat/x"]})
            seen = [await hub.next()]
            while seen[-1].get("invocationId") != "p1":
                seen.append(await hub.next())
            return canceled, seen

    canceled, seen = run(body())
    assert canceled == {"type": 3, "invocationId": "r1", "error": "Invocation canceled by the client."}
    assert [m.get("invocationId") for m in seen if m.get("type") == 3] == ["p1"]
