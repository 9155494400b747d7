"""A real browser: Debian's headless Chromium (driven by selenium through Debian's chromedriver)
loads a page that uses EventSource. The server drops the stream (DELETE /api/connections/{id}),
messages are published while the browser is away, and after EventSource's own reconnect (with
Last-Event-ID) every message has arrived exactly once, in order."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from interop import unique

PAGE_DIR = Path(__file__).parent / "browser"


def _binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"none of {names} is installed: Tests/Interop/run.sh installs chromium and chromium-driver")


@pytest.fixture
def page_server():
    """Serves the test page from another origin than the switchboard server (so CORS is exercised)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(PAGE_DIR))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-proxy-server",
                 "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=_binary("chromedriver")), options=options)
    driver.set_script_timeout(10)
    driver.set_page_load_timeout(15)
    yield driver
    driver.quit()


def wait_for(driver, script: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    state = driver.execute_script("return {states: window.states, received: window.received}")
    raise AssertionError(f"timed out waiting for `{script}`; page state: {state}")


def test_eventsource_recovers_every_message_exactly_once(make_server, page_server, browser):
    srv = make_server({"sse": {"retry_ms": 300}})
    channel = f"chat/{unique()}"

    def publish(n: int) -> None:
        r = srv.post("/api/publish", json={"channel": channel, "data": {"n": n}})
        assert r.status_code == 200, r.text

    browser.get(f"{page_server}/eventsource.html?src={srv.http_url}/sse?channel={channel}")
    wait_for(browser, "return window.opens === 1")
    for n in range(3):
        publish(n)
    wait_for(browser, "return window.received.length === 3")

    ids = [c["id"] for c in srv.get("/api/connections").json()["connections"]
           if c["protocol"] == "sse" and c["subscriptions"] == [channel]]
    assert len(ids) == 1, ids
    assert srv.http("DELETE", f"/api/connections/{ids[0]}").status_code == 204
    wait_for(browser, "return window.errors >= 1")  # the browser saw the stream end
    for n in range(3, 8):  # published while the browser is away
        publish(n)
    wait_for(browser, "return window.opens === 2")  # EventSource reconnected by itself
    for n in range(8, 10):
        publish(n)
    received = wait_for(browser, "return window.received.length >= 10 && window.received")
    time.sleep(0.3)  # anything duplicated would arrive right behind
    received = browser.execute_script("return window.received")
    import json

    assert [json.loads(m["data"])["n"] for m in received] == list(range(10))
    assert received[-1]["id"].endswith("-a"), received  # offset 10 in base 36
    # The reconnect was a new stream (a new connection id) that resumed from Last-Event-ID.
    after = [c["id"] for c in srv.get("/api/connections").json()["connections"] if c["subscriptions"] == [channel]]
    assert len(after) == 1 and after != ids
