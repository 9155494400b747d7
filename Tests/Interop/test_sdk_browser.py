"""Issue 22 in a real browser: Debian's headless Chromium loads a page that uses the built browser SDK
(Clients/js/dist/switchboard.js). The page stays subscribed while the server — with durable history for
the channel — is restarted gracefully and then killed with SIGKILL, each time restarted on the same data
directory. Every message published over HTTP (before, during and after the outages) reaches the page
exactly once, in offset order, through the SDK's reconnect and `recover`; the page's own publishes made
while the server was down wait in its offline queue and are delivered, and acknowledged, after the
reconnect.

A second page renders the React 18 hooks (React from Debian's node-react UMD builds): connection state and
latency, a channel's history then live messages, presence joins and leaves, a record and a collection kept
current by change events; after unmounting (once, then 20 mount/unmount cycles) no listener or
subscription is left, in the page or on the server. The JavaScript heap (after a full collection, through
the DevTools protocol) does not grow over 1,000 subscribe/unsubscribe cycles or 100 mount/unmount cycles.
With the server's WebSocket endpoint off, the SDK falls back to SSE and still recovers through a kill -9;
a wildcard subscription follows its stream through a kill -9; a short-lived JWT is refreshed in time."""

from __future__ import annotations

import http.server
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from interop import unique
from security_support import ISSUER, JWT_SECRET, make_jwt
from test_records import make_collection
from test_sse_browser import browser, wait_for  # noqa: F401 - pytest fixtures

REPO = Path(__file__).resolve().parents[2]
DURABLE = {"history": [{"filter": "sdk/#", "count": 10000, "durable": True}]}


class PageServer:
    """Serves the repository (pages under Tests/Interop/browser, the SDK under Clients/js/dist) and
    Debian's React UMD builds under /vendor/ from another origin than the switchboard server. With
    `api_target` set, /api/* is forwarded there, so a page can use the records API same-origin (the
    server's /api routes send no CORS headers)."""

    def __init__(self) -> None:
        self.api_target: str | None = None
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(REPO), **kwargs)

            def log_message(self, *args):
                pass

            def translate_path(self, path):
                for prefix, folder in VENDOR.items():
                    if path.startswith(prefix):
                        return str(folder / path[len(prefix):].split("?")[0])
                return super().translate_path(path)

            def _proxy(self) -> bool:
                if server.api_target is None or not self.path.startswith("/api/"):
                    return False
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type", "if-match")}
                r = requests.request(self.command, server.api_target + self.path, data=body, headers=headers, timeout=5)
                self.send_response(r.status_code)
                self.send_header("Content-Type", r.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)
                return True

            def do_GET(self):
                if not self._proxy():
                    super().do_GET()

            def do_POST(self):
                if not self._proxy():
                    self.send_error(405)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


VENDOR = {"/vendor/react/": Path("/usr/share/nodejs/react"), "/vendor/react-dom/": Path("/usr/share/nodejs/react-dom")}


@pytest.fixture
def sdk_page_server():
    server = PageServer()
    yield server
    server.close()


def page_state(driver) -> dict:
    return driver.execute_script(
        "return {states: window.states, transports: window.transports, received: window.received, gaps: window.gaps, acks: window.acks,"
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

    browser.get(f"{sdk_page_server.url}/Tests/Interop/browser/sdk.html?ws={srv.ws_url}&channel={channel}")
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


def test_react_hooks_render_live_data_and_clean_up_on_unmount(make_server, sdk_page_server, browser):  # noqa: F811
    srv = make_server()  # the default configuration: history and presence on chat/#
    sdk_page_server.api_target = srv.http_url
    channel = unique("chat/hooks-")
    presence = unique("chat/people-")
    collection = unique("tasks")
    make_collection(srv, collection)
    first = srv.post(f"/api/collections/{collection}/records", json={"title": "one"}).json()
    for n in range(5):
        srv.publish(channel, {"n": n})

    query = (f"ws={srv.ws_url}&http={sdk_page_server.url}&channel={channel}&presence={presence}"
             f"&collection={collection}&record={first['id']}")
    browser.get(f"{sdk_page_server.url}/Tests/Interop/browser/sdk-react.html?{query}")
    wait_page(browser, "return window.ready === true")
    browser.execute_script("window.mount()")

    # useSwitchboard: the connection and a measured latency.
    wait_page(browser, "return window.seen.status && window.seen.status.state === 'connected' && window.seen.status.latency !== undefined")
    # useChannel: the newest 3 from history, then live.
    wait_page(browser, "return window.seen.chat && window.seen.chat.ns.length === 3")
    srv.publish(channel, {"n": 5})
    chat = wait_page(browser, "return window.seen.chat.ns.length === 4 && window.seen.chat")
    assert chat["ns"] == [2, 3, 4, 5] and chat["sources"] == ["history"] * 3 + ["live"], chat
    # usePresence: this page, then another tab joining and leaving.
    wait_page(browser, "return JSON.stringify(window.seen.presence) === JSON.stringify(['hooks-page'])")
    browser.execute_script("window.joinOther()")
    wait_page(browser, "return JSON.stringify(window.seen.presence) === JSON.stringify(['hooks-page', 'other-tab'])")
    browser.execute_script("window.leaveOther()")
    wait_page(browser, "return JSON.stringify(window.seen.presence) === JSON.stringify(['hooks-page'])")
    # useRecord / useCollection: loaded through the records API, then kept current by change events.
    wait_page(browser, "return window.seen.record.record && window.seen.record.record.title === 'one'")
    wait_page(browser, "return window.seen.items && JSON.stringify(window.seen.items.titles) === JSON.stringify(['one'])")
    base = f"/api/collections/{collection}/records"
    assert srv.http("PATCH", f"{base}/{first['id']}", json={"title": "one, edited"}).status_code == 200
    second = srv.post(base, json={"title": "two"}).json()
    wait_page(browser, "return window.seen.record.record && window.seen.record.record.title === 'one, edited'")
    wait_page(browser, "return JSON.stringify(window.seen.items.titles) === JSON.stringify(['one, edited', 'two'])")
    assert srv.http("DELETE", f"{base}/{first['id']}").status_code == 204
    wait_page(browser, "return window.seen.record.record === null")
    wait_page(browser, "return JSON.stringify(window.seen.items.titles) === JSON.stringify(['two'])")
    assert second["title"] == "two"

    # Unmount: every listener and subscription the hooks made is gone, in the page and on the server.
    browser.execute_script("window.unmount()")
    leftovers = browser.execute_script("return window.leftovers()")
    assert leftovers == {"stateListeners": 0, "latencyListeners": 0, "subscriptions": []}, leftovers

    def page_subscriptions() -> list:
        conns = srv.get("/api/connections").json()["connections"]
        return [c["subscriptions"] for c in conns if c.get("name") == "hooks-page"]

    deadline = time.monotonic() + 10
    while page_subscriptions() != [[]] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert page_subscriptions() == [[]], srv.get("/api/connections").json()

    # Mount and unmount 20 times: still nothing left behind.
    renders = browser.execute_script(
        "let renders = 0; for (let i = 0; i < 20; i++) { window.mount(); renders += window.seen.renders; window.unmount(); }"
        " return renders")
    assert renders >= 20, renders
    time.sleep(0.3)
    assert browser.execute_script("return window.leftovers()") == leftovers
    while page_subscriptions() != [[]] and time.monotonic() < deadline + 10:
        time.sleep(0.05)
    assert page_subscriptions() == [[]], srv.get("/api/connections").json()


def test_sdk_falls_back_to_sse_where_websocket_is_unavailable_and_recovers_after_kill9(make_server, sdk_page_server, browser):  # noqa: F811
    """The server's WebSocket endpoint is off (as a proxy that blocks upgrades would make it): the SDK's
    attempts fail while /healthz answers, so it falls back to an EventSource on /sse, which resumes with
    Last-Event-ID after a kill -9 — every message once."""
    srv = make_server({**DURABLE, "websocket": {"enabled": False}})
    channel = unique("sdk/")
    browser.get(f"{sdk_page_server.url}/Tests/Interop/browser/sdk.html?ws={srv.ws_url}&channel={channel}")
    wait_page(browser, "return window.subscribed.length === 1")
    assert browser.execute_script("return window.transports") == ["sse"]
    for n in range(5):
        srv.publish(channel, {"n": n})
    wait_page(browser, "return window.received.length === 5")
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.start()
    for n in range(5, 10):
        srv.publish(channel, {"n": n})
    wait_page(browser, "return window.received.length >= 10")
    time.sleep(0.5)
    state = page_state(browser)
    assert [m["n"] for m in state["received"]] == list(range(10)), state
    assert [m["offset"] for m in state["received"]] == list(range(1, 11)), state
    assert state["gaps"] == [], state


def heap_used(driver) -> int:
    """JavaScript heap in use after a full garbage collection (Chrome DevTools Protocol)."""
    for _ in range(2):
        driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    return int(driver.execute_cdp_cmd("Runtime.getHeapUsage", {})["usedSize"])


def run_async(driver, script: str):
    return driver.execute_async_script(f"const done = arguments[arguments.length - 1]; {script}.then(() => done(true), (e) => done(String(e)))")


def test_no_heap_growth_after_1000_subscribe_cycles_and_100_mount_cycles(make_server, sdk_page_server, browser):  # noqa: F811
    srv = make_server()
    sdk_page_server.api_target = srv.http_url
    collection = unique("tasks")
    make_collection(srv, collection)
    record = srv.post(f"/api/collections/{collection}/records", json={"title": "one"}).json()
    query = (f"ws={srv.ws_url}&http={sdk_page_server.url}&channel={unique('chat/mem-')}&presence={unique('chat/mem-')}"
             f"&collection={collection}&record={record['id']}")
    browser.set_script_timeout(120)
    browser.get(f"{sdk_page_server.url}/Tests/Interop/browser/sdk-react.html?{query}")
    wait_page(browser, "return window.ready === true && window.client.state === 'connected'")

    # Warm up first: the heap grows over the first few hundred mounts and levels off (measured after
    # 10 mounts, four batches of 100: +280, +120, +67, +18 KB — V8's and React's development build's own
    # caches; no console output, no listener or subscription left), while a leak would grow by the same
    # amount every batch.
    assert run_async(browser, "window.subscribeCycles(100)") is True
    before = heap_used(browser)
    assert run_async(browser, "window.subscribeCycles(1000)") is True
    after_subscribes = heap_used(browser)
    assert run_async(browser, "window.mountCycles(300)") is True
    before_mounts = heap_used(browser)
    assert run_async(browser, "window.mountCycles(100)") is True
    after_mounts = heap_used(browser)
    print(f"heap: 1,000 subscribe cycles {before} -> {after_subscribes}; 100 mount cycles {before_mounts} -> {after_mounts}")
    # A leaked subscription (object, listeners, map entry) is well over 500 bytes and a mount makes four:
    # 1,000 cycles or 100 mounts of leaks would pass these allowances, which cover V8's own noise.
    assert after_subscribes - before < 200_000, (before, after_subscribes)
    assert after_mounts - before_mounts < 200_000, (before_mounts, after_mounts)
    assert browser.execute_script("return window.leftovers()") == {"stateListeners": 0, "latencyListeners": 0, "subscriptions": []}


def test_sdk_refreshes_its_token_before_it_expires_and_keeps_the_connection(make_server, sdk_page_server, browser):  # noqa: F811
    """A JWT that expires 4 s after it is issued: the server closes a connection whose token runs out
    (1008 `token expired`) unless a `refresh` came first. The page's `getToken` is asked again before the
    expiry, the SDK sends `refresh`, and the same connection keeps receiving."""
    srv = make_server({**DURABLE, "api_key": "admin-key",
                       "security": {"jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}], "issuer": ISSUER}}})
    admin = {"X-API-Key": "admin-key"}
    channel = unique("sdk/")
    browser.get(f"{sdk_page_server.url}/Tests/Interop/browser/sdk.html?ws={srv.ws_url}&channel={channel}&auth=1")
    wait_page(browser, "return window.tokenRequests === 1")
    issued = time.time()
    browser.execute_script("window.tokens.push(arguments[0])", make_jwt("eve", expires_in=4))
    wait_page(browser, "return window.subscribed.length === 1")
    client_id = browser.execute_script("return window.client.client")
    srv.publish(channel, {"n": 0}, headers=admin)
    wait_page(browser, "return window.received.length === 1")

    # Asked for the next token before the first expires; it is sent with `refresh`.
    browser.execute_script("window.tokens.push(arguments[0])", make_jwt("eve", expires_in=60))
    wait_page(browser, "return window.tokenRequests === 2 && window.refreshes.length === 1")
    assert time.time() - issued < 4, "refreshed before the first token expired"
    time.sleep(max(0.0, issued + 6 - time.time()))  # past the first token's expiry
    srv.publish(channel, {"n": 1}, headers=admin)
    wait_page(browser, "return window.received.length === 2")
    state = page_state(browser)
    assert state["states"] == ["connecting", "connected"], state
    assert browser.execute_script("return window.client.client") == client_id
    assert state["errors"] == [], state


def test_sdk_wildcard_subscription_follows_its_stream_through_kill9(make_server, sdk_page_server, browser):  # noqa: F811
    """A filter subscription (`room/+`) with `history: 0` follows the file stream that covers it: its
    messages carry the stream's positions, and after a kill -9 the SDK resumes from the newest one —
    every message of every room once, none of the rooms' siblings the filter does not match."""
    srv = make_server()
    root = unique("sdkw/")
    r = srv.post("/api/streams", json={"name": unique("sdkw"), "filters": [f"{root}/#"]})
    assert r.status_code == 201, r.text
    published: list[int] = []

    def publish(*ns: int) -> None:
        for n in ns:
            srv.publish(f"{root}/{'a' if n % 2 else 'b'}", {"n": n})
            srv.publish(f"{root}/deep/x", {"n": -1})  # in the stream, not matched by the filter
            published.append(n)

    browser.get(f"{sdk_page_server.url}/Tests/Interop/browser/sdk.html?ws={srv.ws_url}&channel={root}/%2B&history=0")
    wait_page(browser, "return window.subscribed.length === 1")
    publish(*range(0, 4))
    wait_page(browser, "return window.received.length === 4")
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.start()
    publish(*range(4, 10))  # while the page is away or coming back
    wait_page(browser, "return window.subscribed.length === 2")
    publish(*range(10, 12))
    wait_page(browser, "return window.received.length >= 12")
    time.sleep(0.5)
    state = page_state(browser)
    received = state["received"]
    assert [m["n"] for m in received] == published, state
    assert [m["offset"] for m in received] == list(range(1, 24, 2)), "stream positions, every other one is deep/x"
    assert state["subscribed"] == ["first", "true"] and state["gaps"] == [], state
