"""The conformance hubs (`signalr.conformance_mode`) that signalrcore's own integration suite runs against —
its ASP.NET Core test server's `ChatHub` and `AuthChatHub` — driven here by signalrcore itself, so the
mode stays correct between the suite's runs (docs/protocols/signalr.md §Conformance)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from signalr_support import CoreClient

pytestmark = pytest.mark.switchboard_only

TOKEN = "conformance-token"


@pytest.fixture
def hub_server(make_server):
    return make_server(
        {
            "anonymous": True,
            "tokens": {TOKEN: "test"},
            "signalr": {"conformance_mode": True, "conformance_token": TOKEN, "path_prefix": "/"},
        }
    )


def collect(client: CoreClient, target: str) -> tuple[list[Any], threading.Event]:
    got: list[Any] = []
    arrived = threading.Event()

    def on(args: Any) -> None:
        got.append(args)
        arrived.set()

    client.hub.on(target, on)
    return got, arrived


def test_chat_hub_broadcasts_errors_and_streams(hub_server):
    url = f"{hub_server.http_url}/chatHub"
    first = CoreClient(url).start()
    second = CoreClient(url, messagepack=True).start()
    try:
        received, arrived = collect(second, "ReceiveMessage")
        assert first.invoke("SendMessage", ["user", "hello"]).error is None
        assert arrived.wait(5) and received[0] == ["user", "hello"]
        # Too few arguments and an unknown method are completion errors; ThrowException fails as the
        # test server's method throws. (signalrcore hands error completions to on_error.)
        errors: list[str] = []
        failed = threading.Semaphore(0)
        first.hub.on_error(lambda completion: (errors.append(completion.error), failed.release()))
        for target, arguments in [("SendMessage", ["only one"]), ("ThrowException", ["x"]), ("NoSuchMethod", [])]:
            first.hub.send(target, arguments)
            assert failed.acquire(timeout=5), target
        assert "expects 2" in errors[0]
        assert errors[1].startswith("An unexpected error occurred invoking 'ThrowException'")
        assert errors[2] == "Unknown hub method 'NoSuchMethod'"
        # Counter(count, delay) streams 0..count-1, the first item at once (as ASP.NET Core's test hub
        # writes it). signalrcore's stream() sends the invocation before subscribe() installs the
        # callbacks, so that first item can arrive while nothing listens and the client drops it (seen
        # once in ~20 runs): the rest must be the stream's tail, in order, and complete.
        items: list[int] = []
        done = threading.Event()
        first.hub.stream("Counter", [5, 10]).subscribe(
            {"next": items.append, "complete": lambda _: done.set(), "error": lambda e: done.set()}
        )
        assert done.wait(5) and items in ([0, 1, 2, 3, 4], [1, 2, 3, 4])
    finally:
        first.stop()
        second.stop()


def test_upload_stream_and_disconnect_me(hub_server):
    from signalrcore.subject import Subject

    url = f"{hub_server.http_url}/chatHub"
    client = CoreClient(url).start()
    closed = threading.Event()
    client.hub.on_close(closed.set)
    try:
        received, arrived = collect(client, "ReceiveMessage")
        subject = Subject()
        client.hub.send("UploadStream", subject)
        for n in range(3):
            subject.next(str(n))
        subject.complete()
        # DisconnectMe tells everyone, then the server ends the connection with a Close message.
        client.hub.send("DisconnectMe", [])
        assert arrived.wait(5) and received[0][0].endswith(" Disconnected")
        assert closed.wait(20)
    finally:
        client.stop()


def test_auth_hub_and_the_login_route(hub_server):
    base = hub_server.http_url
    login = requests.post(f"{base}/users/authenticate", json={"username": "test", "password": "test"}, timeout=5)
    assert login.status_code == 200 and login.json()["token"] == TOKEN
    wrong = requests.post(f"{base}/users/authenticate", json={"username": "test", "password": "x"}, timeout=5)
    assert wrong.status_code == 400
    assert requests.get(f"{base}/health", timeout=5).status_code == 200
    # The [Authorize] hub: 401 without a user, the login's token works.
    assert requests.post(f"{base}/authHub/negotiate?negotiateVersion=1", timeout=5).status_code == 401
    client = CoreClient(f"{base}/authHub", token=TOKEN).start()
    try:
        received, arrived = collect(client, "ReceiveMessage")
        assert client.invoke("SendMessage", ["to all"]).error is None
        assert arrived.wait(5) and received[0] == ["to all"]
    finally:
        client.stop()


def test_upload_stream_completes_only_when_its_stream_does(hub_server):
    """UploadStream(stream) is answered after the client completes the stream, not before (signalrcore
    sends it without an invocation id, so the exchange is written out here)."""
    from interop import run
    from signalr_support import RawHub

    async def body():
        hub = RawHub(hub_server, "")
        hub.url = hub.url.replace("/hubs/switchboard", "/chatHub")
        async with hub:
            assert await hub.handshake() == {}
            await hub.send({"type": 1, "invocationId": "u", "target": "UploadStream", "arguments": [], "streamIds": ["s"]})
            for n in range(3):
                await hub.send({"type": 2, "invocationId": "s", "item": str(n)})
            # A probe's answer comes back while the stream is open: nothing for "u" may come before it.
            await hub.send({"type": 1, "invocationId": "probe", "target": "NoSuchMethod", "arguments": []})
            before = [await hub.next()]
            while before[-1].get("invocationId") != "probe":
                before.append(await hub.next())
            await hub.send({"type": 3, "invocationId": "s"})
            done = await hub.next_of_type(3)
            return before, done

    before, done = run(body())
    assert [m.get("invocationId") for m in before if m.get("type") == 3] == ["probe"]
    assert done == {"type": 3, "invocationId": "u"}
