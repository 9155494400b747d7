"""Issue 20 in a real browser: Debian's headless Chromium follows a record collection the way
PocketBase's JS SDK does (EventSource on /api/realtime, PB_CONNECT, a cross-origin POST with the user's
token, a listener per subscription name) and receives the changes of the records its user may view, and
no others."""

from __future__ import annotations

import time

from interop import unique
from test_records import make_collection
from test_sse_browser import browser, page_server, wait_for  # noqa: F401 - pytest fixtures

CONFIG = {"api_key": "admin-key", "anonymous": True, "tokens": {"alice-token": "alice"}}


def test_a_browser_follows_the_records_it_may_view(make_server, page_server, browser):  # noqa: F811
    srv = make_server(CONFIG)
    admin = {"X-API-Key": "admin-key"}
    name = unique("notes")
    make_collection(srv, name, headers=admin, viewRule="owner = @request.auth.id")
    browser.get(f"{page_server}/pocketbase-realtime.html?base={srv.http_url}&sub={name}/*&token=alice-token")
    wait_for(browser, "return window.posted === 204")
    assert browser.execute_script("return window.states") == ["connect:true"]
    base = f"/api/collections/{name}/records"
    for owner in ("bob", "alice", "bob", "alice"):
        r = srv.post(base, json={"title": f"{owner}'s", "owner": owner}, headers=admin)
        assert r.status_code == 200, r.text
    wait_for(browser, "return window.received.length >= 2")
    time.sleep(0.5)  # bob's records, had they been sent, would have arrived by now
    received = browser.execute_script("return window.received")
    assert [(e["action"], e["record"]["owner"]) for e in received] == [("create", "alice"), ("create", "alice")]
