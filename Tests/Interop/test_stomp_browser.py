"""A real browser: Debian's headless Chromium (selenium + Debian's chromedriver) opens
`new WebSocket(url, ["v12.stomp"])` to /stomp, speaks raw STOMP 1.2 text frames (CONNECT, SUBSCRIBE,
SEND), receives its own MESSAGE, and one published by another protocol (AMQP's amq.topic; on Switchboard
also the HTTP publish API)."""

from __future__ import annotations

from urllib.parse import quote

import pika
import pytest

from amqp_support import connect
from interop import unique
from stomp_support import ws_url
from test_sse_browser import browser, page_server, wait_for  # noqa: F401 - its fixtures (it serves browser/) and poll


def _open(browser, page_server, server, word: str) -> None:
    url = f"{page_server}/stomp.html?url={quote(ws_url(server), safe='')}&destination={quote(f'/topic/{word}.#', safe='')}"
    browser.get(url)
    wait_for(browser, "return window.subscribed")
    assert browser.execute_script("return window.states")[0] == "open:v12.stomp"
    assert browser.execute_script("return window.connected.version") == "1.2"


def test_browser_websocket_speaks_stomp(server, page_server, browser):
    word = unique("page")
    _open(browser, page_server, server, word)
    browser.execute_script(f"window.stompSend('/topic/{word}.self', 'hello from the page')")
    message = wait_for(browser, "return window.received.length >= 1 && window.received[0]")
    assert message["body"] == "hello from the page"
    assert message["headers"]["destination"] == f"/topic/{word}.self"
    assert message["headers"]["subscription"] == "page"
    with connect(server) as conn:
        conn.channel().basic_publish("amq.topic", f"{word}.amqp", b"from amqp",
                                     pika.BasicProperties(content_type="text/plain"))
    message = wait_for(browser, "return window.received.length >= 2 && window.received[1]")
    assert message["body"] == "from amqp" and message["headers"]["destination"] == f"/topic/{word}.amqp"


@pytest.mark.switchboard_only
def test_browser_receives_an_http_publish(server, page_server, browser):
    word = unique("page")
    _open(browser, page_server, server, word)
    server.publish(f"{word}/http", "from http")
    message = wait_for(browser, "return window.received.length >= 1 && window.received[0]")
    assert message["headers"]["destination"] == f"/topic/{word}.http"
    assert message["body"] in ('"from http"', "from http"), message
