"""A real browser (Debian's headless Chromium through selenium) speaking Engine.IO v4 / Socket.IO v5 with
its own fetch and WebSocket (socket.io-client is not available here): long polling from a page on
another origin (CORS), the upgrade to WebSocket, events from MQTT and the HTTP API, then a dropped
WebSocket and a reconnect that recovers the socket and the events it missed."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from interop import unique
from mqtt_client import V311, Paho
from test_sse_browser import browser, page_server, wait_for  # noqa: F401 - its fixtures (it serves browser/) and poll

pytestmark = pytest.mark.switchboard_only


def test_browser_polls_upgrades_and_recovers(server, page_server, browser):
    channel = f"chat/{unique('page')}"
    browser.get(f"{page_server}/socketio.html?url={quote(server.http_url, safe='')}")
    browser.execute_async_script("window.start().then(arguments[0])")
    hello = browser.execute_script("return window.hello")
    assert set(hello) == {"sid", "pid"}
    answer = browser.execute_async_script(f"window.emit('subscribe', {{channel: '{channel}'}}).then(arguments[0])")
    assert answer["channel"] == channel
    # Over polling first.
    server.publish(channel, {"n": 1})
    event = wait_for(browser, "return window.events.find(e => e.event === 'message')")
    assert event["envelope"]["data"] == {"n": 1} and event["via"] == "polling"
    browser.execute_async_script("window.upgrade().then(arguments[0])")
    assert browser.execute_script("return window.transport") == "websocket"
    mqtt = Paho(server.mqtt_port, V311)
    try:
        mqtt.publish(channel, b'{"n":2}', qos=1)
    finally:
        mqtt.disconnect()
    event = wait_for(browser, "return window.events.filter(e => e.event === 'message')[1]")
    assert event["envelope"]["data"] == {"n": 2} and event["via"] == "websocket"
    # The WebSocket drops; two events are missed; the page reconnects with pid + offset.
    browser.execute_script("window.drop()")
    wait_for(browser, "return window.transport === null")
    import time
    time.sleep(0.3)
    server.publish(channel, {"n": 3})
    server.publish(channel, {"n": 4})
    again = browser.execute_async_script("window.reconnect().then(arguments[0])")
    assert again == hello, "the same socket"
    missed = wait_for(browser, "const m = window.events.filter(e => e.event === 'message'); return m.length >= 4 && m")
    assert [e["envelope"]["data"]["n"] for e in missed] == [1, 2, 3, 4]
