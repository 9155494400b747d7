"""SignalR's HTTP transports (TransportProtocols.md): Server-Sent Events and long polling, each paired with
HTTP POST for the client's messages — with the stock signalrcore client, and the protocol rules (statuses,
the first poll, replaced polls, poll and disconnect timeouts, DELETE, MessagePack over long polling, the
event framing) with raw HTTP requests (docs/protocols/signalr.md)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import msgpack
import pytest
import requests

from interop import unique
from mqtt_client import V311, Paho
from signalr_support import RS, CoreClient, hub_url

pytestmark = pytest.mark.switchboard_only

# signalrcore's long-polling client takes one message per poll answer and keeps the rest for the next
# answer, so a short poll timeout keeps what a batched answer carried flowing.
FAST_POLLS = {"signalr": {"long_poll_timeout_ms": 300}}


def negotiate(server: Any) -> str:
    answer = requests.post(hub_url(server) + "/negotiate?negotiateVersion=1", timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()["connectionToken"]


class LongPoll:
    """A long-polling connection driven by hand: POSTs send, GETs poll."""

    def __init__(self, server: Any) -> None:
        self.url = hub_url(server)
        self.token = negotiate(server)
        self.pending: list[Any] = []

    def get(self, timeout: float = 5.0) -> requests.Response:
        return requests.get(self.url, params={"id": self.token}, timeout=timeout)

    def post(self, body: str | bytes) -> requests.Response:
        return requests.post(self.url, params={"id": self.token}, data=body, timeout=5)

    def delete(self) -> requests.Response:
        return requests.delete(self.url, params={"id": self.token}, timeout=5)

    def start(self, protocol: str = "json") -> "LongPoll":
        first = self.get()
        assert first.status_code == 200 and first.content == b"", first
        assert self.post(json.dumps({"protocol": protocol, "version": 1}) + RS).status_code == 200
        assert self.next_json() == {}
        return self

    def next_json(self, deadline: float = 5.0) -> dict[str, Any]:
        end = time.monotonic() + deadline
        while not self.pending:
            answer = self.get(timeout=max(0.5, end - time.monotonic()))
            assert answer.status_code == 200, answer
            self.pending += [json.loads(part) for part in answer.text.split(RS) if part]
            assert time.monotonic() < end, "nothing arrived"
        return self.pending.pop(0)

    def invoke(self, target: str, *arguments: Any, invocation_id: str = "1") -> dict[str, Any]:
        message = {"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(arguments)}
        assert self.post(json.dumps(message) + RS).status_code == 200
        while True:
            answer = self.next_json()
            if answer.get("type") == 3 and answer.get("invocationId") == invocation_id:
                return answer


class EventStream:
    """A Server-Sent Events connection read by hand: the events' data, lines joined as EventSource does."""

    def __init__(self, server: Any) -> None:
        self.url = hub_url(server)
        self.token = negotiate(server)
        self.response = requests.get(
            self.url, params={"id": self.token}, headers={"Accept": "text/event-stream"}, stream=True, timeout=5
        )
        assert self.response.status_code == 200
        assert self.response.headers["Content-Type"] == "text/event-stream"
        self.lines = self.response.iter_lines(decode_unicode=False)

    def post(self, body: str) -> requests.Response:
        return requests.post(self.url, params={"id": self.token}, data=body, timeout=5)

    def next_data(self) -> str | None:
        """The next event's data (None when the stream ends)."""
        data: list[bytes] = []
        for line in self.lines:
            if line == b"":
                if data:
                    return b"\n".join(data).decode()
                continue
            if line.startswith(b"data: "):
                data.append(line[6:])
        return None

    def close(self) -> None:
        self.response.close()


@pytest.mark.parametrize("transport", ["server_sent_events", "long_polling"], ids=["sse", "long-polling"])
def test_signalrcore_over_http_transports(make_server, transport):
    server = make_server(FAST_POLLS)
    channel = f"chat/{unique('http')}"
    client = CoreClient(hub_url(server), transport=transport).start()
    mqtt = Paho(server.mqtt_port, V311)
    try:
        assert client.invoke("JoinGroup", [channel]).error is None
        result = client.invoke("Publish", [channel, {"a": [1, 2]}])
        assert result.error is None and result.result["offset"] >= 1
        mqtt.publish(channel, b'{"from":"mqtt"}', 1)
        received = client.wait_received(2, timeout=10)
        assert [r[0]["data"] for r in received[:2]] == [{"a": [1, 2]}, {"from": "mqtt"}]
        assert client.invoke("LeaveGroup", [channel]).error is None
    finally:
        mqtt.disconnect()
        client.stop()


def test_requests_without_a_connection(server):
    url = hub_url(server)
    for method in ("get", "post", "delete"):
        missing = requests.request(method, url, timeout=5)
        assert missing.status_code == 400 and missing.text == "Connection ID required"
        unknown = requests.request(method, url, params={"id": "nonsense"}, timeout=5)
        assert unknown.status_code == 404 and unknown.text == "No Connection with that ID"


def test_long_polling_session_and_delete(server):
    channel = f"feed/{unique('lp')}"
    poll = LongPoll(server).start()
    assert poll.invoke("Subscribe", channel) == {"type": 3, "invocationId": "1"}
    assert poll.post(json.dumps({"type": 1, "target": "Publish", "arguments": [channel, {"n": 1}]}) + RS).ok
    delivery = poll.next_json()
    assert delivery["target"] == "Receive" and delivery["arguments"][0]["data"] == {"n": 1}
    # DELETE ends it: 202, the next poll hears 204, then the token names nothing.
    assert poll.delete().status_code == 202
    assert poll.get().status_code == 204
    assert poll.get().status_code == 404
    assert poll.post(json.dumps({"type": 6}) + RS).status_code == 404


def test_a_newer_poll_replaces_the_waiting_one(server):
    poll = LongPoll(server).start()
    answers: list[requests.Response] = []
    waiting = threading.Thread(target=lambda: answers.append(poll.get()))
    waiting.start()
    time.sleep(0.3)
    second: list[requests.Response] = []
    newer = threading.Thread(target=lambda: second.append(poll.get()))
    newer.start()
    waiting.join(5)
    assert answers and answers[0].status_code == 204
    # The newer poll gets what comes next.
    assert poll.post(json.dumps({"type": 1, "invocationId": "9", "target": "Presence", "arguments": ["chat/x"]}) + RS).ok
    newer.join(5)
    assert second and second[0].status_code == 200 and b'"invocationId":"9"' in second[0].content
    poll.delete()


def test_poll_timeout_and_disconnect_timeout(make_server):
    server = make_server({"signalr": {"long_poll_timeout_ms": 300, "disconnect_timeout_ms": 500}})
    poll = LongPoll(server).start()
    started = time.monotonic()
    held = poll.get()
    assert held.status_code == 200 and held.content == b""
    assert 0.2 < time.monotonic() - started < 3
    # No poll for longer than the disconnect timeout: the connection is gone.
    time.sleep(1.5)
    assert poll.post(json.dumps({"type": 6}) + RS).status_code == 404


def test_messagepack_over_long_polling(server):
    channel = f"feed/{unique('lpmp')}"
    poll = LongPoll(server).start("messagepack")
    body = msgpack.packb([1, {}, "1", "Subscribe", [channel]])
    assert poll.post(bytes([len(body)]) + body).status_code == 200
    body = msgpack.packb([1, {}, None, "Publish", [channel, {"k": "v"}]])
    assert poll.post(bytes([len(body)]) + body).status_code == 200
    messages: list[Any] = []
    deadline = time.monotonic() + 5
    while len(messages) < 2 and time.monotonic() < deadline:
        answer = poll.get()
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/octet-stream"
        data = answer.content
        while data:
            length, shift, index = 0, 0, 0
            while True:
                byte = data[index]
                length |= (byte & 0x7F) << shift
                index += 1
                shift += 7
                if byte < 0x80:
                    break
            messages.append(msgpack.unpackb(data[index : index + length], raw=False))
            data = data[index + length :]
    assert messages[0] == [3, {}, "1", 2]
    assert messages[1][3] == "Receive" and messages[1][4][0]["data"] == {"k": "v"}
    poll.delete()


def test_event_stream_framing_and_refusals(server):
    channel = f"feed/{unique('sse')}"
    stream = EventStream(server)
    try:
        # A second receiver for the same connection is refused; DELETE is for long polling only.
        second = requests.get(stream.url, params={"id": stream.token}, timeout=5)
        assert second.status_code == 409
        delete = requests.delete(stream.url, params={"id": stream.token}, timeout=5)
        assert delete.status_code == 400
        assert stream.post(json.dumps({"protocol": "json", "version": 1}) + RS).ok
        assert stream.next_data() == "{}" + RS
        subscribe = {"type": 1, "invocationId": "1", "target": "Subscribe", "arguments": [channel]}
        assert stream.post(json.dumps(subscribe) + RS).ok
        assert json.loads(stream.next_data().rstrip(RS)) == {"type": 3, "invocationId": "1"}
        # A payload with line breaks (formatted JSON from MQTT) spans several data lines of one event.
        mqtt = Paho(server.mqtt_port, V311)
        try:
            mqtt.publish(channel, b'{\n  "pretty": true\r\n}', 1)
        finally:
            mqtt.disconnect()
        delivery = json.loads(stream.next_data().rstrip(RS))
        assert delivery["arguments"][0]["data"] == {"pretty": True}
    finally:
        stream.close()


def test_event_streams_refuse_messagepack(server):
    stream = EventStream(server)
    try:
        assert stream.post(json.dumps({"protocol": "messagepack", "version": 1}) + RS).ok
        answer = json.loads(stream.next_data().rstrip(RS))
        assert answer == {
            "error": "Cannot use the 'messagepack' protocol on the current transport. "
            "The transport does not support 'Binary' transfer format."
        }
        # Then the stream ends and the connection is gone.
        assert stream.next_data() is None
        assert stream.post(json.dumps({"type": 6}) + RS).status_code == 404
    finally:
        stream.close()


def test_user_targeting_reaches_every_connection_of_the_user(make_server):
    """A publish to `users/<id>` (here through the HTTP API) reaches each of that user's connections,
    whatever their transport, as ASP.NET Core's Clients.User does; another user's do not get it."""
    import asyncio

    from pysignalr.client import SignalRClient
    from security_support import ISSUER, JWT_SECRET, make_jwt

    server = make_server(
        {
            "api_key": "k3y",
            "security": {"jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}], "issuer": ISSUER}},
            "signalr": {"long_poll_timeout_ms": 300},
        }
    )
    alice, bob = make_jwt("alice"), make_jwt("bob")
    polling = CoreClient(hub_url(server), token=alice, transport="long_polling").start()
    other = CoreClient(hub_url(server), token=bob).start()

    async def body():
        received: asyncio.Queue = asyncio.Queue()
        opened = asyncio.Event()
        client = SignalRClient(hub_url(server), headers={"Authorization": f"Bearer {alice}"})

        async def on_receive(args):
            await received.put(args)

        async def on_open():
            opened.set()

        client.on("Receive", on_receive)
        client.on_open(on_open)
        task = asyncio.create_task(client.run())
        try:
            await asyncio.wait_for(opened.wait(), 5)
            answer = await asyncio.to_thread(
                requests.post,
                f"{server.http_url}/api/publish",
                json={"channel": "users/alice", "data": {"note": "for alice"}},
                headers={"X-API-Key": "k3y"},
                timeout=5,
            )
            assert answer.status_code == 200, answer.text
            return await asyncio.wait_for(received.get(), 5)
        finally:
            task.cancel()

    import asyncio as _asyncio

    try:
        on_websocket = _asyncio.run(body())
        on_polling = polling.wait_received(1, timeout=10)
        time.sleep(0.5)
        assert other.received == []
    finally:
        polling.stop()
        other.stop()
    assert on_websocket[0]["channel"] == "users/alice" and on_websocket[0]["data"] == {"note": "for alice"}
    assert on_polling[0][0]["data"] == {"note": "for alice"}
