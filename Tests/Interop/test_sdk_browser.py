"""Issue 22 in a real browser: Debian's headless Chromium loads a page that uses the built browser SDK
(Clients/js/dist/switchboard.js). The page stays subscribed while the server — with durable history for
the channel — is restarted gracefully and then killed with SIGKILL, each time restarted on the same data
directory. Every message published over HTTP (before, during and after the outages) reaches the page
exactly once, in offset order, through the SDK's reconnect and `recover`; the page's own publishes made
while the server was down wait in its offline queue and are delivered, and acknowledged, after the
reconnect."""

from __future__ import annotations

import functools
import http.server
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from interop import unique
from test_sse_browser import browser, wait_for  # noqa: F401 - pytest fixtures

REPO = Path(__file__).resolve().parents[2]
DURABLE = {"history": [{"filter": "sdk/#", "count": 10000, "durable": True}]}


@pytest.fixture
def sdk_page_server():
    """Serves the repository (the page under Tests/Interop/browser, the SDK under Clients/js/dist) from
    another origin than the switchboard server."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # noqa: D401 - keep pytest output clean
            pass

    handler = functools.partial(Quiet, directory=str(REPO))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def page_state(driver) -> dict:
    return driver.execute_script(
        "return {states: window.states, received: window.received, gaps: window.gaps, acks: window.acks,"
        " subscribed: window.subscribed, recovered: window.recovered, errors: window.errors}"
    )


def wait_page(driver, script: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for `{script}`; page state: {page_state(driver)}")


def test_sdk_page_survives_restart_and_kill9_and_receives_every_message_once(make_server, sdk_page_server, browser):  # noqa: F811
    srv = make_server(DURABLE)
    channel = unique("sdk/")
    published: list[int] = []  # every n published, by anyone

    def publish_http(*ns: int) -> None:
        for n in ns:
            srv.publish(channel, {"n": n})
            published.append(n)

    browser.get(f"{sdk_page_server}/Tests/Interop/browser/sdk.html?ws={srv.ws_url}&channel={channel}")
    wait_page(browser, "return window.subscribed && window.subscribed.length === 1")
    publish_http(*range(0, 5))
    wait_page(browser, "return window.received.length === 5")

    # 1. A graceful restart (SIGTERM: the server closes the page's socket with 1001).
    srv.terminate()
    assert srv.wait_exit(10) == 0
    wait_page(browser, "return window.states.includes('reconnecting')")
    browser.execute_script("window.publish(100); window.publish(101)")  # queued while the server is down
    assert browser.execute_script("return window.client.queuedPublishes") == 2
    srv.start()
    publish_http(*range(5, 10))  # maybe before the page is back: it must recover these
    wait_page(browser, "return window.subscribed.length === 2")
    wait_page(browser, "return window.acks.length === 2")
    published += [100, 101]
    publish_http(*range(10, 15))

    # 2. kill -9: no close frame, the page finds out from the dead TCP connection.
    wait_page(browser, f"return window.received.length === {len(published)}")
    seen_states = browser.execute_script("return window.states.length")
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    wait_page(browser, f"return window.states.slice({seen_states}).includes('reconnecting')")
    browser.execute_script("window.publish(102); window.publish(103)")
    assert browser.execute_script("return window.client.queuedPublishes") == 2
    srv.start()
    publish_http(*range(15, 20))
    wait_page(browser, "return window.subscribed.length === 3")
    wait_page(browser, "return window.acks.length === 4")
    published += [102, 103]
    publish_http(*range(20, 25))

    wait_page(browser, f"return window.received.length >= {len(published)}")
    time.sleep(0.5)  # a duplicate would arrive right behind
    state = page_state(browser)
    received = state["received"]
    # Exactly once, in log order: the offsets are 1..N without a hole or a repeat, in one epoch.
    assert [m["offset"] for m in received] == list(range(1, len(published) + 1)), state
    assert len({m["epoch"] for m in received}) == 1, state
    assert sorted(m["n"] for m in received) == sorted(published), state
    assert [m["n"] for m in received if m["n"] < 100] == list(range(25)), "HTTP publishes in order"
    assert [m["n"] for m in received if m["n"] >= 100] == [100, 101, 102, 103], "offline publishes in order"
    # Both resubscriptions recovered; nothing was reported lost.
    assert state["subscribed"] == ["first", "true", "true"], state
    assert state["gaps"] == [], state
    # The offline publishes were acknowledged with their place in the log.
    acks = {a["n"]: a for a in state["acks"]}
    assert all("error" not in a for a in acks.values()), state["acks"]
    offsets = {m["n"]: m["offset"] for m in received}
    assert all(acks[n]["offset"] == offsets[n] for n in (100, 101, 102, 103)), state["acks"]
    assert state["states"][:2] == ["connecting", "connected"], state["states"]
    assert state["states"][-1] == "connected", state["states"]
