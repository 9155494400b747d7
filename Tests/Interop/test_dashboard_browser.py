"""Issue 22, the dashboard: `switchboard serve` serves the built SDK and the dashboard (embedded in the
binary, with ETags), and in Debian's headless Chromium the dashboard shows nothing until the API key is
typed, then counts connections per protocol live as a paho MQTT client and a nats-py client connect and
leave, kicks one, and follows the server through a restart (reconnect attempts, then connected). In the collaboration view, two browsers signed in as two participants of a session
see each other online, a vote opened in one appears in the other, a ballot cast in one updates the tally
in the other, and both show the result; leaving the view releases the session's subscriptions. With DASHBOARD_SCREENSHOTS=1 the run writes the screenshots
committed as docs/dashboard-operator.png and docs/dashboard-collaboration.png."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import nats
import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from mqtt_client import V5, Paho
from security_support import hash_password
from test_sse_browser import _binary, browser  # noqa: F401 - pytest fixture

REPO = Path(__file__).resolve().parents[2]
USERS = ["alice", "bob", "carol"]
CONFIG = {"api_key": "admin-key", "anonymous": True, "tokens": {f"{u}-token": u for u in USERS}}
PNG = b"\x89PNG\r\n\x1a\n"


def screenshot(driver, name: str, tmp_path: Path) -> None:
    """Into tmp_path always (checked to be a PNG); into docs/ when DASHBOARD_SCREENSHOTS=1."""
    folder = REPO / "docs" if os.environ.get("DASHBOARD_SCREENSHOTS") == "1" else tmp_path
    path = folder / f"dashboard-{name}.png"
    driver.set_window_size(1400, 1000)
    time.sleep(0.3)
    assert driver.save_screenshot(str(path))
    assert path.read_bytes().startswith(PNG)


def make_driver():
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-proxy-server",
                 "--no-first-run", "--disable-extensions", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=_binary("chromedriver")), options=options)
    driver.set_script_timeout(10)
    driver.set_page_load_timeout(15)
    return driver


@pytest.fixture
def second_browser():
    driver = make_driver()
    yield driver
    driver.quit()


def wait_js(driver, script: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    body = driver.execute_script("return document.body.innerText")
    raise AssertionError(f"timed out waiting for `{script}`; the page shows:\n{body}")


def sign_in(driver, srv, credential: str, user_token: str = "", hash: str = "") -> None:
    driver.get(f"{srv.http_url}/{hash}")
    wait_js(driver, "return document.querySelector('#login') !== null")
    driver.find_element(By.NAME, "credential").send_keys(credential)
    if user_token:
        driver.find_element(By.NAME, "userToken").send_keys(user_token)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()


def protocol_count(protocol: str) -> str:
    return f"var e = document.querySelector('[data-protocol=\"{protocol}\"] .count'); return e ? Number(e.textContent) : 0"


def test_the_server_serves_the_sdk_and_the_dashboard_with_etags(make_server):
    srv = make_server(CONFIG)
    expected = {
        "/": ("text/html", REPO / "Clients/js/dist/dashboard.html"),
        "/dashboard/dashboard.js": ("text/javascript", REPO / "Clients/js/dist/dashboard.js"),
        "/sdk/switchboard.js": ("text/javascript", REPO / "Clients/js/dist/switchboard.js"),
        "/sdk/switchboard.iife.js": ("text/javascript", REPO / "Clients/js/dist/switchboard.iife.js"),
        "/sdk/switchboard-react.js": ("text/javascript", REPO / "Clients/js/dist/switchboard-react.js"),
    }
    for path, (content_type, file) in expected.items():
        r = requests.get(srv.http_url + path, timeout=5)
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers["Content-Type"].startswith(content_type), (path, r.headers)
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.content == file.read_bytes(), path
        etag = r.headers["ETag"]
        assert etag.startswith('"') and etag.endswith('"')
        again = requests.get(srv.http_url + path, headers={"If-None-Match": etag}, timeout=5)
        assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag, path
        stale = requests.get(srv.http_url + path, headers={"If-None-Match": '"other"'}, timeout=5)
        assert stale.status_code == 200 and stale.content == r.content
        head = requests.head(srv.http_url + path, timeout=5)
        assert head.status_code == 200 and head.headers["ETag"] == etag
    # The page itself carries no data: everything comes from /api, which wants the key.
    assert requests.get(srv.http_url + "/api/connections", timeout=5).status_code == 401


def test_dashboard_counts_mqtt_and_nats_connections_live_and_shows_nothing_without_the_key(make_server, browser, tmp_path):  # noqa: F811
    srv = make_server(CONFIG)
    sign_in(browser, srv, "wrong-key")
    wait_js(browser, "var e = document.querySelector('#login-error'); return e && e.textContent.length > 0")
    assert browser.execute_script("return document.querySelector('#connections') === null && sessionStorage.length === 0")

    browser.find_element(By.NAME, "credential").clear()
    browser.find_element(By.NAME, "credential").send_keys("admin-key")
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    wait_js(browser, "return document.querySelector('#connections') !== null")
    # The dashboard's own WebSocket connection, with its status and latency.
    wait_js(browser, "return document.querySelector('#status').dataset.state === 'connected'")
    wait_js(browser, protocol_count("websocket") + " >= 1")
    wait_js(browser, "return document.querySelector('#latency') !== null")
    assert browser.execute_script(protocol_count("mqtt")) == 0
    assert browser.execute_script(protocol_count("nats")) == 0

    mqtt = Paho(srv.mqtt_port, V5, username="carol", password="carol-token")
    wait_js(browser, protocol_count("mqtt") + " === 1")

    loop = asyncio.new_event_loop()
    nc = loop.run_until_complete(nats.connect(srv.nats_url, token="bob-token"))
    try:
        wait_js(browser, protocol_count("nats") + " === 1")
        rows = browser.execute_script("return Array.from(document.querySelectorAll('#connections tbody tr')).map(r => r.innerText)")
        assert any("mqtt" in row and "carol" in row for row in rows), rows
        assert any("nats" in row and "bob" in row for row in rows), rows

        # Traffic shows in the live charts (counters are added to /metrics once a second); the NATS client
        # subscribes, so there are deliveries and a delivery latency too.
        received: list = []

        async def collect(msg):
            received.append(msg)

        loop.run_until_complete(nc.subscribe("demo.load", cb=collect))
        loop.run_until_complete(nc.flush())
        for n in range(20):
            srv.post("/api/publish", json={"channel": "demo/load", "data": n}, headers={"X-API-Key": "admin-key"})
        wait_js(browser, "return Array.from(document.querySelectorAll('[data-chart=\"messages / s\"] .legend')).some(e => /in: [1-9]/.test(e.textContent) || /in: 0\\.[0-9]*[1-9]/.test(e.textContent))")
        wait_js(browser, "return Array.from(document.querySelectorAll('[data-chart=\"delivery latency\"] .legend')).some(e => /mean: [0-9]/.test(e.textContent))")
        loop.run_until_complete(asyncio.sleep(0.2))
        assert len(received) == 20
        screenshot(browser, "operator", tmp_path)

        # Kick the MQTT client (admin): its count drops live.
        mqtt_id = next(c["id"] for c in srv.get("/api/connections", headers={"X-API-Key": "admin-key"}).json()["connections"] if c["protocol"] == "mqtt")
        browser.find_element(By.CSS_SELECTOR, f"button.kick[data-id='{mqtt_id}']").click()
        wait_js(browser, protocol_count("mqtt") + " === 0")
        assert mqtt.disconnected.wait(5)
        wait_js(browser, "return document.querySelector('#toasts').innerText.includes('closed connection')")
    finally:
        loop.run_until_complete(nc.close())
        loop.close()
        mqtt.client.loop_stop()
    wait_js(browser, protocol_count("nats") + " === 0")

    # The server goes away: the status shows the reconnect attempts with their countdown, then connected.
    srv.terminate()
    assert srv.wait_exit(10) == 0
    wait_js(browser, "var s = document.querySelector('#status'); return s.dataset.state !== 'connected' && /attempt [0-9]+/.test(s.innerText) && s.querySelector('progress') !== null")
    srv.start()
    wait_js(browser, "var s = document.querySelector('#status'); return s.dataset.state === 'connected' && !/attempt/.test(s.innerText)", timeout=30)
    wait_js(browser, protocol_count("websocket") + " >= 1")

    # A key that stops working (here: signed out) takes the page back to the login, data gone.
    browser.find_element(By.CSS_SELECTOR, "button.logout").click()
    wait_js(browser, "return document.querySelector('#login') !== null && document.querySelector('#connections') === null")
    # Only the alerts channel preference stays; no credential.
    assert browser.execute_script("return Object.keys(sessionStorage)") == ["switchboard.dashboard.toastChannel"]


def test_a_ballot_cast_in_one_browser_updates_the_tally_in_another(make_server, browser, second_browser, tmp_path):  # noqa: F811
    srv = make_server(CONFIG)
    r = srv.post("/api/sessions", json={"title": "Release 2.0", "participants": ["bob", "carol"]}, headers={"Authorization": "Bearer alice-token"})
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    srv.post("/api/publish", json={"channel": f"sessions/{sid}/messages", "data": {"text": "draft notes are up"}}, headers={"X-API-Key": "admin-key"})

    alice, bob = browser, second_browser
    sign_in(alice, srv, "admin-key", "alice-token", f"#collaboration/{sid}")
    sign_in(bob, srv, "admin-key", "bob-token", f"#collaboration/{sid}")
    for driver in (alice, bob):
        wait_js(driver, "return document.querySelector('#participants li[data-user=\"alice\"]') !== null")
        wait_js(driver, "return document.querySelector('#messages').innerText.includes('draft notes are up')")
    # Each sees the other online (presence on the session's message stream); carol is not there.
    wait_js(alice, "return document.querySelector('#participants li[data-user=\"bob\"]').dataset.online === 'true'")
    wait_js(bob, "return document.querySelector('#participants li[data-user=\"alice\"]').dataset.online === 'true'")
    assert alice.execute_script("return document.querySelector('#participants li[data-user=\"carol\"]').dataset.online") == "false"

    # Alice opens a vote from her page; Bob's page shows it.
    alice.find_element(By.CSS_SELECTOR, "#open-vote input[name=question]").send_keys("Ship 2.0 on Monday?")
    alice.find_element(By.CSS_SELECTOR, "#open-vote button").click()
    wait_js(bob, "return document.querySelector('#votes').innerText.includes('Ship 2.0 on Monday?')")

    def votes(driver, option: str) -> str:
        return f"var e = document.querySelector('#votes .option[data-option=\"{option}\"] .votes'); return e ? Number(e.textContent) : -1"

    # Bob votes in his browser: Alice's tally moves.
    bob.find_element(By.CSS_SELECTOR, "#votes .option[data-option='yes'] button.cast").click()
    wait_js(alice, votes(alice, "yes") + " === 1")
    assert alice.execute_script(votes(alice, "no")) == 0
    wait_js(alice, "return document.querySelector('#activity').innerText.includes('vote_cast')")
    # Alice's own ballot makes a majority of the three (alice, bob, carol): both pages show the result.
    alice.find_element(By.CSS_SELECTOR, "#votes .option[data-option='yes'] button.cast").click()
    for driver in (alice, bob):
        wait_js(driver, "var e = document.querySelector('#votes .result'); return e && e.innerText.startsWith('reached: yes')")
        wait_js(driver, votes(driver, "yes") + " === 2")
    wait_js(bob, "return document.querySelector('#toasts').innerText.includes('vote decided')")
    # Bob posts; Alice's stream shows it.
    bob.find_element(By.CSS_SELECTOR, "#post-message input").send_keys("shipping it")
    bob.find_element(By.CSS_SELECTOR, "#post-message button").click()
    wait_js(alice, "return document.querySelector('#messages').innerText.includes('shipping it')")
    screenshot(alice, "collaboration", tmp_path)

    # Leaving the session unmounts useCollaborationSession: its subscriptions are gone on the server.
    def alice_subscriptions() -> list:
        rows = srv.get("/api/connections", headers={"X-API-Key": "admin-key"}).json()["connections"]
        return [c["subscriptions"] for c in rows if c["protocol"] == "websocket" and c["user"] == "alice"]

    assert any(f"sessions/{sid}/votes/+" in subs for subs in alice_subscriptions())
    alice.execute_script("location.hash = '#operator'")
    wait_js(alice, "return document.querySelector('#connections') !== null")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(sid in s for subs in alice_subscriptions() for s in subs):
        time.sleep(0.05)
    assert alice_subscriptions() and not any(sid in s for subs in alice_subscriptions() for s in subs), alice_subscriptions()


def test_an_admin_user_signs_in_with_a_password_and_another_user_sees_nothing(make_server, browser):  # noqa: F811
    # Anonymous access off: the dashboard's live connection must sign in too, with the same password.
    srv = make_server({"anonymous": False, "security": {"users": [
        {"name": "root", "password_hash": hash_password("root-pw"), "admin": True},
        {"name": "alice", "password_hash": hash_password("alice-pw"), "publish": ["#"], "subscribe": ["#"]},
    ]}})

    def sign_in_user(user: str, password: str) -> None:
        browser.get(f"{srv.http_url}/")
        wait_js(browser, "return document.querySelector('#login') !== null")
        browser.find_element(By.NAME, "user").send_keys(user)
        browser.find_element(By.NAME, "password").send_keys(password)
        browser.find_element(By.CSS_SELECTOR, "#login button").click()

    # A user who is not an admin: the API refuses (403), the page shows only the refusal.
    sign_in_user("alice", "alice-pw")
    wait_js(browser, "var e = document.querySelector('#login-error'); return e && /admin/.test(e.textContent)")
    assert browser.execute_script("return document.querySelector('#connections') === null && sessionStorage.length === 0")

    sign_in_user("root", "root-pw")
    wait_js(browser, "return document.querySelector('#connections') !== null")
    # The live WebSocket connected as root (a `connect` with the user and password), not refused.
    wait_js(browser, "return document.querySelector('#status').dataset.state === 'connected'")
    admin = requests.get(srv.http_url + "/api/connections", auth=("root", "root-pw"), timeout=5).json()
    assert any(c.get("protocol") == "websocket" and c.get("user") == "root" for c in admin["connections"]), admin
    mqtt = Paho(srv.mqtt_port, V5, username="alice", password="alice-pw")
    try:
        wait_js(browser, protocol_count("mqtt") + " === 1")
        rows = browser.execute_script("return Array.from(document.querySelectorAll('#connections tbody tr')).map(r => r.innerText)")
        assert any("mqtt" in row and "alice" in row for row in rows), rows
    finally:
        mqtt.disconnect()
    wait_js(browser, protocol_count("mqtt") + " === 0")
