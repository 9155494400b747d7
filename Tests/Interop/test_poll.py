"""HTTP long polling (/poll) with plain `requests`: cursors, holding, 204 timeouts bounded by
config, ETag/If-None-Match, reset, no loss or duplicates, ordering, filters, bad input."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from interop import open_ws, run, unique


def poll(server, channel, cursor=None, timeout=0, **params):
    query = {"channel": channel, "timeout": timeout, **params}
    if cursor is not None:
        query["cursor"] = cursor
    return server.get("/poll", params=query, timeout=timeout + 10)


def publish(server, channel, payload, **extra):
    r = server.post("/api/publish", json={"channel": channel, "data": payload, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def test_answers_at_once_with_messages_after_the_cursor(server):
    channel = f"chat/{unique()}"
    first = publish(server, channel, {"n": 1})
    publish(server, channel, {"n": 2})
    publish(server, channel, {"n": 3}, event="task.created")
    r = poll(server, channel, cursor=f"{first['epoch']}-1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [m["data"] for m in body["messages"]] == [{"n": 2}, {"n": 3}]
    assert [m["event"] for m in body["messages"]] == ["message", "task.created"]
    assert [m["offset"] for m in body["messages"]] == [2, 3]
    assert body["cursor"] == f"{first['epoch']}-3"
    assert r.headers["etag"] == f"\"{first['epoch']}-3\""
    assert "reset" not in body


def test_holds_until_a_message_arrives(server):
    channel = f"chat/{unique()}"
    start = poll(server, channel)  # no cursor: 204 at once (timeout=0) with the current position
    assert start.status_code == 204 and start.headers["etag"].endswith('-0"'), start.headers
    cursor = start.headers["etag"].strip('"')
    result = {}

    def waiter():
        began = time.monotonic()
        result["r"] = poll(server, channel, cursor=cursor, timeout=10)
        result["took"] = time.monotonic() - began

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.5)
    publish(server, channel, {"late": True})
    thread.join(12)
    r = result["r"]
    assert r.status_code == 200, r.text
    assert [m["data"] for m in r.json()["messages"]] == [{"late": True}]
    assert 0.4 < result["took"] < 5


def test_timeout_is_204_and_bounded_by_config(make_server):
    srv = make_server({"sse": {"poll_max_timeout_seconds": 1}})
    channel = f"chat/{unique()}"
    began = time.monotonic()
    r = poll(srv, channel, timeout=30)
    took = time.monotonic() - began
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert r.headers["etag"].startswith('"') and r.headers["cache-control"] == "no-store"
    assert 0.8 < took < 3, took


def test_if_none_match_works_as_cursor(server):
    channel = f"chat/{unique()}"
    first = publish(server, channel, {"n": 1})
    publish(server, channel, {"n": 2})
    r = server.get("/poll", params={"channel": channel, "timeout": 0}, headers={"If-None-Match": f"\"{first['epoch']}-1\""})
    assert r.status_code == 200 and [m["data"] for m in r.json()["messages"]] == [{"n": 2}]
    again = server.get("/poll", params={"channel": channel, "timeout": 0}, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 204


def test_cursor_outside_window_answers_reset(make_server):
    srv = make_server({"history": [{"filter": "small/#", "count": 2}]})
    channel = f"small/{unique()}"
    first = publish(srv, channel, {"n": 1})
    for n in range(2, 6):
        publish(srv, channel, {"n": n})
    r = poll(srv, channel, cursor=f"{first['epoch']}-1")
    body = r.json()
    assert r.status_code == 200 and body["messages"] == []
    assert body["reset"] == [
        {"channel": channel, "reason": "out_of_window", "requested": {"offset": 1, "epoch": first["epoch"]},
         "current": {"offset": 5, "epoch": first["epoch"]}}
    ]
    assert body["cursor"] == f"{first['epoch']}-5"
    other = poll(srv, channel, cursor="elsewhere-3").json()
    assert other["reset"][0]["reason"] == "epoch_changed"


def test_nothing_lost_or_duplicated_between_polls(server):
    channel = f"chat/{unique()}"
    cursor = poll(server, channel).headers["etag"].strip('"')
    total = 60

    def publisher():
        for n in range(total):
            publish(server, channel, {"n": n})
            if n % 7 == 0:
                time.sleep(0.01)

    thread = threading.Thread(target=publisher)
    thread.start()
    seen = []
    deadline = time.monotonic() + 20
    while len(seen) < total and time.monotonic() < deadline:
        r = poll(server, channel, cursor=cursor, timeout=2)
        if r.status_code == 200:
            seen += [m["data"]["n"] for m in r.json()["messages"]]
            cursor = r.json()["cursor"]
    thread.join(10)
    assert seen == list(range(total))


def test_many_pending_polls_are_answered_in_order(server):
    """Several polls pipelined on one connection are answered in the order they were sent, each
    when its own channel has something (HTTP/1.1 pipelining, RFC 9112 §9.3.2)."""
    a, b = f"chat/{unique()}", f"chat/{unique()}"
    ca = poll(server, a).headers["etag"].strip('"')
    cb = poll(server, b).headers["etag"].strip('"')
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"GET /poll?channel={a}&cursor={ca}&timeout=10 HTTP/1.1\r\nHost: x\r\n\r\n"
            f"GET /poll?channel={b}&cursor={cb}&timeout=10 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        time.sleep(0.3)
        publish(server, b, {"to": "b"})  # b's message first: its answer still waits for a's
        time.sleep(0.3)
        publish(server, a, {"to": "a"})
        data = b""
        deadline = time.monotonic() + 8
        while data.count(b"HTTP/1.1 200") < 2 and time.monotonic() < deadline:
            data += sock.recv(65536)
    first, second = data.index(b'"to": "a"'), data.index(b'"to": "b"')
    assert first < second, data


def test_a_malformed_request_behind_a_pending_poll_is_answered_400_in_its_turn(server):
    """Garbage pipelined behind a poll that is still waiting: the poll is answered first (when its
    channel gets a message), then 400 with Connection: close, then the connection ends."""
    channel = f"chat/{unique()}"
    cursor = poll(server, channel).headers["etag"].strip('"')
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"GET /poll?channel={channel}&cursor={cursor}&timeout=10 HTTP/1.1\r\nHost: x\r\n\r\n"
            "NOT HTTP AT ALL\r\n\r\n".encode()
        )
        time.sleep(0.3)
        publish(server, channel, {"n": 1})
        data = b""
        while chunk := sock.recv(65536):  # until the server closes
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data
    assert b'"n": 1' in data or b'"n":1' in data, data
    tail = data[data.index(b"HTTP/1.1 400") :]
    assert b"connection: close" in tail.lower(), data


def test_concurrent_polls_of_one_client_each_get_the_message(server):
    channel = f"chat/{unique()}"
    cursor = poll(server, channel).headers["etag"].strip('"')
    answers = []

    def waiter():
        answers.append(poll(server, channel, cursor=cursor, timeout=10))

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    publish(server, channel, {"x": 1})
    for t in threads:
        t.join(12)
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert all([m["data"] for m in r.json()["messages"]] == [{"x": 1}] for r in answers)


def test_event_and_match_filters(server):
    channel = f"chat/{unique()}"
    first = publish(server, channel, {"n": 0})
    publish(server, channel, {"n": 1}, event="a")
    publish(server, channel, {"n": 2}, event="b", properties={"repo": "x"})
    publish(server, channel, {"n": 3}, event="b", properties={"repo": "y"})
    r = poll(server, channel, cursor=f"{first['epoch']}-1", event="b", match="repo:y")
    assert [m["data"] for m in r.json()["messages"]] == [{"n": 3}]


def test_websocket_publish_reaches_a_held_poll(server):
    channel = f"chat/{unique()}"
    cursor = poll(server, channel).headers["etag"].strip('"')
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("r", poll(server, channel, cursor=cursor, timeout=10)))
    thread.start()
    time.sleep(0.4)

    async def ws_publish():
        ws = await open_ws(server.ws_url)
        try:
            await ws.expect({"type": "publish", "channel": channel, "data": [1, 2], "event": "from.ws"}, "published")
        finally:
            await ws.close()

    run(ws_publish())
    thread.join(12)
    messages = result["r"].json()["messages"]
    assert [(m["event"], m["data"]) for m in messages] == [("from.ws", [1, 2])]


def test_channel_without_history_delivers_live_only(server):
    channel = f"nohistory/{unique()}"
    r = poll(server, channel)
    assert r.status_code == 204 and r.headers["etag"] == '""'
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("r", poll(server, channel, timeout=10)))
    thread.start()
    time.sleep(0.4)
    publish(server, channel, "live")
    thread.join(12)
    assert [m["data"] for m in result["r"].json()["messages"]] == ["live"]


def test_admin_drop_answers_a_held_poll(server):
    channel = f"chat/{unique()}"
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("r", poll(server, channel, timeout=20)))
    thread.start()
    deadline = time.monotonic() + 5
    ids = []
    while not ids and time.monotonic() < deadline:
        ids = [c["id"] for c in server.get("/api/connections").json()["connections"]
               if c["protocol"] == "poll" and c["subscriptions"] == [channel]]
        time.sleep(0.05)
    assert ids
    assert server.http("DELETE", f"/api/connections/{ids[0]}").status_code == 204
    thread.join(5)
    assert result["r"].status_code == 204


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"channel": "a/+"},  # polling needs concrete channels
        {"channel": "a", "cursor": "nope!"},
        {"channel": "a", "cursor": "e-1.e-2"},
        {"channel": "a", "timeout": "-3"},
        {"channel": "a", "timeout": "soon"},
        {"channel": "a", "event": ""},
    ],
)
def test_bad_input_is_400_json(server, params):
    r = server.get("/poll", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "bad_request"
