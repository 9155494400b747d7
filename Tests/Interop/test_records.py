"""Issue 20: record collections with a PocketBase-shaped REST API (requests), access rules in PocketBase's
filter language evaluated for each caller, optimistic concurrency with If-Match, and every committed
change published on `collections/<c>/<id>` — seen by paho-mqtt, nats-py and a native WebSocket client
alike, in commit order, and kept in the topics' history. docs/records.md maps each point to its test."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import nats

from interop import open_ws, run, switchboard_bin, unique, ws_clients
from mqtt_client import V5, V311, Paho
from nats_support import subscribed
from sse_client import sse
from test_cli import _LineReader, _stop

TASK_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "done": {"type": "boolean"},
        "repository": {"type": "string"},
        "owner": {"type": "string"},
        "points": {"type": "number"},
    },
    "required": ["title"],
}


def make_collection(srv, name: str, headers: dict | None = None, **rules) -> dict:
    body = {"name": name, "schema": TASK_SCHEMA, **rules}
    r = srv.post("/api/collections", json=body, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()


def pb_error(r, status: int) -> dict:
    """PocketBase's error shape: {"status", "message", "data"}."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["status"] == status and isinstance(body["message"], str) and isinstance(body["data"], dict), body
    return body


def test_crud_listing_and_optimistic_concurrency(server):
    name = unique("tasks")
    made = make_collection(server, name, listRule="", viewRule="", createRule="", updateRule="", deleteRule="")
    assert made["name"] == name and made["listRule"] == "" and made["records"] == 0
    base = f"/api/collections/{name}/records"

    created = []
    for i, (repo, done) in enumerate([("core", False), ("web", False), ("core", True), ("core", False)]):
        r = server.post(base, json={"title": f"t{i}", "repository": repo, "done": done, "points": i * 1.5})
        assert r.status_code == 200, r.text
        created.append(r.json())
    first = created[0]
    assert len(first["id"]) == 15 and first["collectionName"] == name and first["version"] == 1
    assert first["created"].endswith("Z") and first["created"] == first["updated"]

    r = server.get(f"{base}/{first['id']}")
    assert r.status_code == 200 and r.json() == first and r.headers["ETag"] == '"1"'

    page = server.get(base, params={"filter": 'repository = "core" && done = false', "sort": "-title"}).json()
    assert [item["title"] for item in page["items"]] == ["t3", "t0"]
    assert (page["page"], page["perPage"], page["totalItems"], page["totalPages"]) == (1, 30, 2, 1)
    page = server.get(base, params={"filter": "(points > 1 || title ~ 't0') && repository != 'web'",
                                    "sort": "points", "perPage": 1, "page": 2}).json()
    assert [item["title"] for item in page["items"]] == ["t2"] and page["totalItems"] == 3 and page["totalPages"] == 3
    assert server.get(base, params={"skipTotal": "1"}).json()["totalItems"] == -1

    # A partial update keeps the other fields and moves the version; a stale If-Match is refused.
    url = f"{base}/{first['id']}"
    r = server.http("PATCH", url, json={"done": True}, headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["done"] is True and updated["title"] == "t0" and updated["version"] == 2
    assert updated["created"] == first["created"]
    body = pb_error(server.http("PATCH", url, json={"done": False}, headers={"If-Match": '"1"'}), 412)
    assert "version 2" in body["message"]
    assert server.get(url).json()["done"] is True, "nothing of the refused update was written"

    assert server.http("DELETE", url, headers={"If-Match": "2"}).status_code == 204
    pb_error(server.get(url), 404)
    assert server.get(f"/api/collections/{name}").json()["records"] == 3


def test_fields_pick_the_keys_of_every_answer(server):
    """PocketBase's `?fields=`: list items, a view, a create and an update keep only the keys named (`*` for
    the rest of a level), `:excerpt(max, withEllipsis?)` makes plain text of HTML; a bad modifier is a 400."""
    name = unique("tasks")
    make_collection(server, name, listRule="", viewRule="", createRule="", updateRule="")
    base = f"/api/collections/{name}/records"
    body = "<p>Hello <b>big</b>   world</p><script>alert(1)</script><p>and more</p>"
    r = server.post(base, params={"fields": "id,title"}, json={"title": body, "repository": "core", "points": 2})
    assert r.status_code == 200 and set(r.json()) == {"id", "title"} and r.json()["title"] == body, r.text
    rid = r.json()["id"]
    server.post(base, json={"title": "second", "repository": "web"})
    page = server.get(base, params={"fields": "id,repository", "sort": "created"}).json()
    assert page["totalItems"] == 2 and [sorted(item) for item in page["items"]] == [["id", "repository"]] * 2, page
    assert [item["repository"] for item in page["items"]] == ["core", "web"]
    view = server.get(f"{base}/{rid}", params={"fields": "title:excerpt(10,true),points"})
    assert view.status_code == 200 and view.json() == {"title": "Hello big...", "points": 2}, view.text
    assert view.headers["etag"] == '"1"'
    everything = server.get(f"{base}/{rid}", params={"fields": "*,title:excerpt(200)"}).json()
    assert everything["title"] == "Hello big world and more" and everything["repository"] == "core", everything
    assert {"id", "created", "updated", "version"} <= set(everything), everything
    updated = server.http("PATCH", f"{base}/{rid}", params={"fields": "version"}, json={"points": 3})
    assert updated.status_code == 200 and updated.json() == {"version": 2}, updated.text
    pb_error(server.get(base, params={"fields": "title:shout(1)"}), 400)
    pb_error(server.get(f"{base}/{rid}", params={"fields": "title:excerpt(0)"}), 400)
    # A refused create writes nothing.
    pb_error(server.post(base, params={"fields": "id:excerpt()"}, json={"title": "never"}), 400)
    assert server.get(base).json()["totalItems"] == 2


def test_a_batch_is_decided_in_order_and_stored_all_or_none(server):
    """PocketBase's `POST /api/batch`: creates, an upsert, updates and deletes across collections, each seeing
    the ones before it, answered `[{"body","status"}]` and published in order; a refused member (a schema
    violation, an unknown action) refuses the batch with `Batch transaction failed.` naming it, and nothing
    of the batch is stored or published."""
    tasks, notes = unique("tasks"), unique("notes")
    rules = dict(listRule="", viewRule="", createRule="", updateRule="", deleteRule="")
    make_collection(server, tasks, **rules)
    make_collection(server, notes, **rules)
    assert server.post(f"/api/collections/{notes}/records", json={"id": "old", "title": "o"}).status_code == 200

    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.subscribe(f"collections/{tasks}/+")
            await ws.subscribe(f"collections/{notes}/+")
            r = await server.ahttp("POST", "/api/batch", json={"requests": [
                {"method": "POST", "url": f"/api/collections/{tasks}/records?fields=id,title",
                 "body": {"id": "t1", "title": "a", "done": False}},
                {"method": "PATCH", "url": f"/api/collections/{tasks}/records/t1", "body": {"title": "b"}},
                {"method": "PUT", "url": f"/api/collections/{notes}/records", "body": {"id": "old", "title": "o2"}},
                {"method": "PUT", "url": f"/api/collections/{notes}/records", "body": {"id": "n1", "title": "n"}},
                {"method": "DELETE", "url": f"/api/collections/{notes}/records/old"},
            ]})
            assert r.status_code == 200, r.text
            results = r.json()
            assert [x["status"] for x in results] == [200, 200, 200, 200, 204], results
            assert results[0]["body"] == {"id": "t1", "title": "a"} and results[4]["body"] is None, results
            assert (results[1]["body"]["version"], results[2]["body"]["version"], results[3]["body"]["version"]) == (
                2, 2, 1), results
            events = [await ws.wait(lambda f: f.get("type") == "message", 5) for _ in range(5)]
            # Each collection's events in the batch's order (collections publish from their own loops).
            seen = {c: [(e["data"]["action"], e["data"]["record"]["id"], e["data"]["record"]["version"])
                        for e in events if e["channel"].startswith(f"collections/{c}/")] for c in (tasks, notes)}
            assert seen == {tasks: [("create", "t1", 1), ("update", "t1", 2)],
                            notes: [("update", "old", 2), ("create", "n1", 1), ("delete", "old", 2)]}, seen

            # Refused at its third member: nothing of it is stored or published.
            r = await server.ahttp("POST", "/api/batch", json={"requests": [
                {"method": "POST", "url": f"/api/collections/{tasks}/records", "body": {"id": "t2", "title": "c"}},
                {"method": "DELETE", "url": f"/api/collections/{tasks}/records/t1"},
                {"method": "PATCH", "url": f"/api/collections/{tasks}/records/t2", "body": {"title": ""}},
            ]})
            failed = pb_error(r, 400)
            assert failed["message"] == "Batch transaction failed.", failed
            item = failed["data"]["requests"]["2"]
            assert item["code"] == "batch_request_failed" and item["response"]["status"] == 400, failed
            r = await server.ahttp("POST", "/api/batch", json={"requests": [
                {"method": "POST", "url": f"/api/collections/{tasks}/records", "body": {"id": "t3", "title": "c"}},
                {"method": "GET", "url": f"/api/collections/{tasks}/records"},
            ]})
            assert pb_error(r, 400)["data"]["requests"]["1"]["code"] == "batch_request_failed"
            # A member's own If-Match: another version refuses the batch with that member's 412.
            r = await server.ahttp("POST", "/api/batch", json={"requests": [
                {"method": "POST", "url": f"/api/collections/{tasks}/records", "body": {"id": "t4", "title": "c"}},
                {"method": "PATCH", "url": f"/api/collections/{tasks}/records/t1", "body": {"title": "x"},
                 "headers": {"If-Match": '"1"'}},
            ]})
            assert pb_error(r, 400)["data"]["requests"]["1"]["response"]["status"] == 412, r.text
            r = await server.ahttp("POST", "/api/batch", json={"requests": [
                {"method": "DELETE", "url": f"/api/collections/{tasks}/records/t1", "headers": {"if-match": '"2"'}},
                {"method": "POST", "url": f"/api/collections/{tasks}/records", "body": {"id": "t1", "title": "again"}},
            ]})
            assert r.status_code == 200 and [x["status"] for x in r.json()] == [204, 200], r.text
            assert r.json()[1]["body"]["version"] == 1
            for _ in range(2):  # the delete and the create
                await ws.wait(lambda f: f.get("type") == "message", 5)
            pb_error(await server.ahttp("POST", "/api/batch", json={"requests": []}), 400)
            pb_error(await server.ahttp("POST", "/api/batch", data=b"{nope"), 400)
            ids = sorted(x["id"] for x in (await server.ahttp("GET", f"/api/collections/{tasks}/records")).json()["items"])
            assert ids == ["t1"], ids
            await asyncio.sleep(0.5)
            late = ws.pending(lambda f: f.get("type") == "message")
            assert late == [], late

    run(body())


def test_bad_input_gets_pocketbases_errors_and_writes_nothing(server):
    name = unique("tasks")
    make_collection(server, name, listRule="", viewRule="", createRule="", updateRule="")
    base = f"/api/collections/{name}/records"
    body = pb_error(server.post(base, json={"done": True}), 400)
    assert "title" in json.dumps(body["data"]), body
    body = pb_error(server.post(base, json={"title": 5}), 400)
    assert "title" in body["data"], body
    pb_error(server.post(base, data=b"{not json", headers={"Content-Type": "application/json"}), 400)
    pb_error(server.post(base, json=[1, 2]), 400)
    pb_error(server.get(base, params={"filter": "title = "}), 400)
    pb_error(server.get(base, params={"filter": "(title = 'a'"}), 400)
    pb_error(server.get(base, params={"sort": "nosuchfield"}), 400)
    pb_error(server.get(base, params={"filter": "nosuchfield = 1"}), 400)
    body = pb_error(server.get("/api/collections/nosuch/records"), 404)
    assert body["message"] == "Missing collection context."
    pb_error(server.get(f"{base}/nosuchid"), 404)
    pb_error(server.post(base, json={"title": "x", "id": "bad/id"}), 400)
    ok = server.post(base, json={"title": "x", "id": "mine123"})
    assert ok.status_code == 200 and ok.json()["id"] == "mine123"
    pb_error(server.post(base, json={"title": "again", "id": "mine123"}), 400)
    pb_error(server.post("/api/collections", json={"name": "bad name"}), 400)
    pb_error(server.post("/api/collections", json={"name": name}), 400)
    pb_error(server.post("/api/collections", json={"name": unique("r"), "listRule": "owner = "}), 400)
    assert server.get(base).json()["totalItems"] == 1, "only the one valid create was written"


def test_changes_reach_mqtt_nats_and_websocket_in_commit_order(server):
    name = unique("tasks")
    make_collection(server, name, listRule="", viewRule="", createRule="", updateRule="", deleteRule="")
    base = f"/api/collections/{name}/records"
    mqtt = Paho(server.mqtt_port, V311)
    mqtt.subscribe(f"collections/{name}/+", qos=1)

    async def body():
        nc = await nats.connect(server.nats_url, allow_reconnect=False, connect_timeout=3)
        try:
            sub = await nc.subscribe(f"collections.{name}.*")
            await subscribed(server, nc, f"collections.{name}.*")
            async with ws_clients(server.ws_url, 1) as ws:
                await ws.subscribe(f"collections/{name}/+")
                record = (await server.ahttp("POST", base, json={"title": "a", "repository": "core"})).json()
                url = f"{base}/{record['id']}"
                assert (await server.ahttp("PATCH", url, json={"title": "b"})).status_code == 200
                assert (await server.ahttp("DELETE", url)).status_code == 204
                frames = await ws.messages(f"collections/{name}/{record['id']}", 3)
                natsed = [json.loads((await sub.next_msg(timeout=5)).data) for _ in range(3)]
                return record, [f["data"] for f in frames], natsed
        finally:
            await nc.close()

    record, ws_events, nats_events = run(body())
    mqtt_events = [json.loads(m.payload) for m in mqtt.get_many(3)]
    mqtt.disconnect()
    for events in (ws_events, nats_events, mqtt_events):
        assert [e["action"] for e in events] == ["create", "update", "delete"], events
        assert [e["record"]["title"] for e in events] == ["a", "b", "b"]
        assert [e["record"]["version"] for e in events] == [1, 2, 2]
        assert all(e["changed_by"] == "api" and e["record"]["id"] == record["id"] for e in events)
    feed = wait_feed(server, name, 3)
    assert [m["data"]["action"] for m in feed["messages"]] == ["create", "update", "delete"], feed
    assert {m["subject"] for m in feed["messages"]} == {f"collections/{name}/{record['id']}"}


def wait_feed(srv, name: str, count: int) -> dict:
    """The collection's feed stream once it holds `count` stored events."""
    deadline = time.monotonic() + 10
    while True:
        feed = srv.get(f"/api/streams/collections.{name}/messages").json()
        if len(feed.get("messages", [])) >= count or time.monotonic() > deadline:
            return feed
        time.sleep(0.05)


def test_a_client_that_was_away_recovers_the_collections_changes(server):
    name = unique("tasks")
    make_collection(server, name, listRule="", viewRule="", createRule="", updateRule="")
    base = f"/api/collections/{name}/records"
    channel = f"collections/{name}/+"

    async def body():
        async with ws_clients(server.ws_url) as first:
            s = await first.subscribe(channel, history=0)
            record = (await server.ahttp("POST", base, json={"title": "seen"})).json()
            seen = await first.message(f"collections/{name}/{record['id']}")
            position = {"offset": seen["offset"], "epoch": seen["epoch"]}
            assert seen["epoch"] == s["epoch"], (seen, s)
        # While away: one record changes and another is created.
        await server.ahttp("PATCH", f"{base}/{record['id']}", json={"title": "changed"})
        other = (await server.ahttp("POST", base, json={"title": "new"})).json()
        await asyncio.to_thread(wait_feed, server, name, 3)
        async with ws_clients(server.ws_url) as again:
            s = await again.subscribe(channel, recover=position)
            assert s.get("recovered") is True, s
            # What was missed follows the answer, from the feed, in commit order.
            missed = [await again.message(f"collections/{name}/{record['id']}"),
                      await again.message(f"collections/{name}/{other['id']}")]
            got = [(m["data"]["action"], m["data"]["record"]["id"], m["offset"]) for m in missed]
            assert got == [("update", record["id"], 2), ("create", other["id"], 3)], missed

    run(body())


def test_records_survive_a_restart(make_server):
    srv = make_server()
    name = unique("tasks")
    make_collection(srv, name, listRule="", viewRule="", createRule="", updateRule="")
    ids = [srv.post(f"/api/collections/{name}/records", json={"title": f"r{i}", "points": 0.10}).json()["id"]
           for i in range(3)]
    srv.http("PATCH", f"/api/collections/{name}/records/{ids[0]}", json={"title": "changed"})
    srv.stop()
    srv.start()
    page = srv.get(f"/api/collections/{name}/records", params={"sort": "title"}).json()
    assert [(r["title"], r["version"]) for r in page["items"]] == [("changed", 2), ("r1", 1), ("r2", 1)]
    assert page["items"][0]["points"] == 0.10
    assert srv.get(f"/api/collections/{name}").json()["viewRule"] == ""


def test_rules_decide_per_caller(make_server):
    srv = make_server({"api_key": "admin-key", "anonymous": True,
                       "tokens": {"alice-token": "alice", "bob-token": "bob"}})
    admin = {"X-API-Key": "admin-key"}
    alice = {"Authorization": "Bearer alice-token"}
    bob = {"Authorization": "Bearer bob-token"}
    name = unique("notes")
    pb_error(srv.post("/api/collections", json={"name": name}, headers=alice), 403)
    make_collection(srv, name, headers=admin, listRule="owner = @request.auth.id",
                    viewRule="owner = @request.auth.id", createRule='@request.auth.id != "" && owner = @request.auth.id',
                    updateRule="owner = @request.auth.id")
    base = f"/api/collections/{name}/records"
    mine = srv.post(base, json={"title": "alice's", "owner": "alice"}, headers=alice)
    assert mine.status_code == 200, mine.text
    mine = mine.json()
    pb_error(srv.post(base, json={"title": "forged", "owner": "bob"}, headers=alice), 400)
    pb_error(srv.post(base, json={"title": "guest", "owner": ""}), 400)
    assert srv.post(base, json={"title": "bob's", "owner": "bob"}, headers=bob).status_code == 200

    assert [r["title"] for r in srv.get(base, headers=alice).json()["items"]] == ["alice's"]
    assert [r["title"] for r in srv.get(base, headers=bob).json()["items"]] == ["bob's"]
    assert srv.get(base).json()["items"] == [], "a guest's @request.auth.id is empty"
    assert srv.get(base, headers=admin).json()["totalItems"] == 2
    pb_error(srv.get(f"{base}/{mine['id']}", headers=bob), 404)
    pb_error(srv.http("PATCH", f"{base}/{mine['id']}", json={"title": "x"}, headers=bob), 404)
    assert srv.http("PATCH", f"{base}/{mine['id']}", json={"title": "edited"}, headers=alice).status_code == 200
    body = pb_error(srv.http("DELETE", f"{base}/{mine['id']}", headers=alice), 403)
    assert body["message"] == "Only superusers can perform this action."
    assert srv.http("DELETE", f"{base}/{mine['id']}", headers=admin).status_code == 204
    pb_error(srv.get(base, headers={"Authorization": "Bearer wrong"}), 401)


def test_change_events_reach_only_those_who_may_view_the_record(make_server):
    """The view rule is applied per subscriber, per event, on every protocol: alice's WebSocket, NATS and
    MQTT subscriptions on the whole collection get her records' changes and none of bob's; a guest gets
    nothing; an admin gets everything."""
    srv = make_server({"api_key": "admin-key", "anonymous": True,
                       "tokens": {"alice-token": "alice", "bob-token": "bob"}})
    admin = {"X-API-Key": "admin-key"}
    name = unique("notes")
    make_collection(srv, name, headers=admin, listRule="owner = @request.auth.id",
                    viewRule="owner = @request.auth.id", createRule="owner = @request.auth.id")
    base = f"/api/collections/{name}/records"
    channel = f"collections/{name}/+"
    mqtt_alice = Paho(srv.mqtt_port, V5, password="alice-token")
    mqtt_alice.subscribe(channel, qos=1)

    async def body():
        nc = await nats.connect(srv.nats_url, token="alice-token", allow_reconnect=False, connect_timeout=3)
        try:
            nsub = await nc.subscribe(f"collections.{name}.*")
            await nc.flush()
            for _ in range(100):  # subscribed (nats_support.subscribed asks /api/channels without the key)
                rows = (await srv.ahttp("GET", "/api/channels", headers=admin)).json()["channels"]
                if any(r["channel"] == channel for r in rows):
                    break
                await asyncio.sleep(0.02)
            alice = await open_ws(srv.ws_url + "?token=alice-token")
            guest = await open_ws(srv.ws_url)
            watcher = await open_ws(srv.ws_url + "?token=bob-token")
            try:
                for ws in (alice, guest, watcher):
                    await ws.subscribe(channel)
                for owner, token in (("bob", "bob-token"), ("alice", "alice-token"), ("bob", "bob-token")):
                    r = await srv.ahttp("POST", base, json={"title": f"{owner}'s", "owner": owner},
                                        headers={"Authorization": f"Bearer {token}"})
                    assert r.status_code == 200, r.text
                mine = await alice.wait(lambda f: f.get("type") == "message")
                theirs = [await watcher.wait(lambda f: f.get("type") == "message") for _ in range(2)]
                nats_mine = json.loads((await nsub.next_msg(timeout=5)).data)
                await asyncio.sleep(0.3)
                assert mine["data"]["record"]["owner"] == "alice"
                assert [f["data"]["record"]["owner"] for f in theirs] == ["bob", "bob"]
                assert nats_mine["record"]["owner"] == "alice"
                assert alice.pending(lambda f: f.get("type") == "message") == [], "bob's records reached alice"
                assert guest.pending(lambda f: f.get("type") == "message") == [], "a guest saw private records"
                assert nsub.pending_msgs == 0, "bob's records reached alice over NATS"
            finally:
                for ws in (alice, guest, watcher):
                    await ws.close()
        finally:
            await nc.close()

    run(body())
    got = [json.loads(m.payload)["record"]["owner"] for m in mqtt_alice.get_many(1)]
    assert got == ["alice"] and mqtt_alice.nothing(0.3), "MQTT: only alice's record"
    mqtt_alice.disconnect()


def test_pocketbase_realtime_follows_a_collection_with_its_view_rule(make_server):
    """PocketBase's realtime protocol on /api/realtime (httpx-sse): PB_CONNECT with the client id, a POST
    naming `notes/*` and one record, events named by the subscription with {action, record} — and only
    the records the POST's user may view (PocketBase's SDK opens the stream without credentials)."""
    srv = make_server({"api_key": "admin-key", "anonymous": True,
                       "tokens": {"alice-token": "alice", "bob-token": "bob"}})
    admin = {"X-API-Key": "admin-key"}
    name = unique("notes")
    make_collection(srv, name, headers=admin, viewRule="owner = @request.auth.id")
    base = f"/api/collections/{name}/records"

    async def body():
        async with sse(f"{srv.http_url}/api/realtime") as stream:
            event = await stream.next()
            assert event.event == "PB_CONNECT" and event.id == event.json()["clientId"], event
            client = event.json()["clientId"]
            first = (await srv.ahttp("POST", base, json={"title": "a", "owner": "alice"}, headers=admin)).json()
            r = await srv.ahttp("POST", "/api/realtime", headers={"Authorization": "Bearer alice-token"},
                                json={"clientId": client, "subscriptions": [f"{name}/*", f"{name}/{first['id']}"]})
            assert r.status_code == 204, r.text
            await srv.ahttp("POST", base, json={"title": "b", "owner": "bob"}, headers=admin)
            await srv.ahttp("PATCH", f"{base}/{first['id']}", json={"title": "a2"}, headers=admin)
            events = [await stream.next(), await stream.next()]
            assert sorted(e.event for e in events) == sorted([f"{name}/*", f"{name}/{first['id']}"]), events
            for e in events:
                assert e.json()["action"] == "update" and e.json()["record"]["title"] == "a2", e
            created = (await srv.ahttp("POST", base, json={"title": "c", "owner": "alice"}, headers=admin)).json()
            event = await stream.next()
            assert (event.event, event.json()["action"], event.json()["record"]["id"]) == (
                f"{name}/*", "create", created["id"]), event
            # PocketBase's `options`: their query and headers are @request.query/@request.headers to the rule.
            await srv.ahttp("PATCH", f"/api/collections/{name}", headers=admin,
                            json={"viewRule": "owner = @request.auth.id && @request.query.team = 'red'"})
            red = f"{name}/*?options=" + json.dumps({"query": {"team": "red"}})
            blue = f"{name}/*?options=" + json.dumps({"query": {"team": "blue"}})
            r = await srv.ahttp("POST", "/api/realtime", headers={"Authorization": "Bearer alice-token"},
                                json={"clientId": client, "subscriptions": [red, blue]})
            assert r.status_code == 204, r.text
            await srv.ahttp("POST", base, json={"title": "d", "owner": "alice"}, headers=admin)
            event = await stream.next()
            assert event.event == red and event.json()["record"]["title"] == "d", event
            # `fields` in the options' query picks the record's keys (a bad modifier refuses the POST).
            picked = f"{name}/*?options=" + json.dumps({"query": {"team": "red", "fields": "id,title:excerpt(3)"}})
            r = await srv.ahttp("POST", "/api/realtime", headers={"Authorization": "Bearer alice-token"},
                                json={"clientId": client, "subscriptions": [picked]})
            assert r.status_code == 204, r.text
            made = (await srv.ahttp("POST", base, json={"title": "<b>every</b>", "owner": "alice"},
                                    headers=admin)).json()
            event = await stream.next()
            assert event.event == picked and event.json()["action"] == "create", event
            assert event.json()["record"] == {"id": made["id"], "title": "eve"}, event
            bad = f"{name}/*?options=" + json.dumps({"query": {"fields": "title:excerpt(0)"}})
            r = await srv.ahttp("POST", "/api/realtime", headers={"Authorization": "Bearer alice-token"},
                                json={"clientId": client, "subscriptions": [bad]})
            assert r.status_code == 400, r.text
            # Bob may not take alice's client over.
            r = await srv.ahttp("POST", "/api/realtime", headers={"Authorization": "Bearer bob-token"},
                                json={"clientId": client, "subscriptions": [f"{name}/*"]})
            assert r.status_code == 403

    run(body())


def _cli(srv, *args: str, stdin: str | None = None) -> tuple[int, str]:
    proc = subprocess.run([str(switchboard_bin()), *args, "--url", srv.http_url], input=stdin, capture_output=True,
                          text=True, timeout=30)
    return proc.returncode, proc.stdout


def _watchers(srv, channel: str) -> list[dict]:
    return [c for c in srv.get("/api/connections").json()["connections"] if channel in c.get("subscriptions", [])]


def _wait_watching(srv, channel: str) -> None:
    """A subscription that follows a feed stream is not in the routing table (/api/channels); its
    connection lists it."""
    deadline = time.monotonic() + 10
    while not _watchers(srv, channel):
        assert time.monotonic() < deadline, f"nobody watches {channel}"
        time.sleep(0.05)


def test_cli_records_and_watch_with_recovery(server):
    """`switchboard records` does CRUD from the shell; `switchboard watch collections/<c>/*` prints each
    change as one JSON line and, when its connection is closed, reconnects and recovers what it missed,
    printing every change exactly once."""
    name = unique("tasks")
    code, out = _cli(server, "records", "collections",
                     json.dumps({"name": name, "listRule": "", "viewRule": "", "createRule": "", "updateRule": ""}))
    assert code == 0 and json.loads(out)["name"] == name, out
    watch = subprocess.Popen([str(switchboard_bin()), "watch", f"collections/{name}/*", "--url", server.ws_url,
                              "--count", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
    out_lines = _LineReader(watch)
    try:
        _wait_watching(server, f"collections/{name}/+")
        code, out = _cli(server, "records", "create", name, '{"title":"one","done":false}')
        assert code == 0, out
        first = json.loads(out)
        seen = json.loads(out_lines.next())
        assert (seen["action"], seen["record"]["id"]) == ("create", first["id"]), seen
        # Drop the watcher's connection; a change made meanwhile is recovered after it reconnects.
        watcher = _watchers(server, f"collections/{name}/+")
        assert len(watcher) == 1, watcher
        assert server.http("DELETE", f"/api/connections/{watcher[0]['id']}").status_code in (200, 204)
        code, out = _cli(server, "records", "update", name, first["id"], '{"done":true}', "--if-match", "1")
        assert code == 0 and json.loads(out)["version"] == 2, out
        code, out = _cli(server, "records", "update", name, first["id"], '{"done":false}', "--if-match", "1")
        assert code == 1 and json.loads(out)["status"] == 412, out
        code, out = _cli(server, "records", "create", name, "-", stdin='{"title":"two"}')
        assert code == 0, out
        got = [json.loads(out_lines.next(timeout=10)) for _ in range(2)]
        assert [(g["action"], g["record"]["version"]) for g in got] == [("update", 2), ("create", 1)], got
        assert watch.wait(timeout=10) == 0
    finally:
        _stop(watch)
    code, out = _cli(server, "records", "list", name, "--filter", "done = true && title ~ 'on'", "--sort", "-created")
    assert code == 0 and [r["title"] for r in json.loads(out)["items"]] == ["one"], out
    code, out = _cli(server, "records", "delete", name, first["id"])
    assert code == 0
    code, out = _cli(server, "records", "get", name, first["id"])
    assert code == 1 and json.loads(out)["status"] == 404


def test_collections_declared_in_the_config_file(make_server):
    name = unique("declared")
    srv = make_server({"collections": [{"name": name, "schema": TASK_SCHEMA, "listRule": "", "viewRule": "",
                                        "createRule": ""}]})
    made = srv.get(f"/api/collections/{name}").json()
    assert made["createRule"] == "" and made["deleteRule"] is None and made["schema"] == TASK_SCHEMA, made
    assert srv.post(f"/api/collections/{name}/records", json={"title": "from config"}).status_code == 200
    pb_error(srv.post(f"/api/collections/{name}/records", json={"title": ""}), 400)


def test_websocket_filters_a_change_feed_by_field(server):
    """A native WebSocket subscription with `filter` follows the changes of some records only (here one
    repository's); the same filter works on any JSON channel; a malformed filter is refused."""
    name = unique("tasks")
    make_collection(server, name, listRule="", viewRule="", createRule="", updateRule="")
    base = f"/api/collections/{name}/records"
    plain = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as ws:
            s = await ws.expect({"type": "subscribe", "channel": f"collections/{name}/+",
                                 "filter": 'repository = "core"'}, "subscribed")
            assert s["channel"] == f"collections/{name}/+", s
            await ws.expect({"type": "subscribe", "channel": plain, "filter": "n > 2 && tag ~ 'ok'"}, "subscribed")
            err = await ws.expect_error({"type": "subscribe", "channel": "chat/other", "filter": "n >"},
                                        "bad_request")
            assert "filter" in err["message"], err
            for repo in ("web", "core", "web", "core"):
                r = await server.ahttp("POST", base, json={"title": repo, "repository": repo})
                assert r.status_code == 200, r.text
            for n, tag in ((1, "ok"), (3, "nope"), (4, "ok!")):
                await server.apublish(plain, {"n": n, "tag": tag})
            got = [await ws.wait(lambda f: f.get("type") == "message") for _ in range(3)]
            await asyncio.sleep(0.3)
            assert ws.pending(lambda f: f.get("type") == "message") == [], "a filtered-out message arrived"
            records = [f["data"]["record"]["repository"] for f in got if f["channel"].startswith("collections/")]
            plains = [f["data"] for f in got if f["channel"] == plain]
            assert records == ["core", "core"] and plains == [{"n": 4, "tag": "ok!"}], got

    run(body())


def test_an_amqp_queue_takes_only_the_changes_its_binder_may_view(make_server):
    """pika: a queue bound to amq.topic with `collections.<c>.*` by alice receives her records' changes
    and none of bob's (the binder's identity is the queue's, to the view rule)."""
    import pika

    srv = make_server({"api_key": "admin-key", "anonymous": True,
                       "tokens": {"alice-token": "alice", "bob-token": "bob"}})
    admin = {"X-API-Key": "admin-key"}
    name = unique("notes")
    make_collection(srv, name, headers=admin, viewRule="owner = @request.auth.id")
    params = pika.ConnectionParameters("127.0.0.1", srv.amqp_port, "/", pika.PlainCredentials("", "alice-token"),
                                       connection_attempts=1, socket_timeout=5)
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, "amq.topic", routing_key=f"collections.{name}.*")
        for owner in ("bob", "alice", "bob"):
            r = srv.post(f"/api/collections/{name}/records", json={"title": owner, "owner": owner}, headers=admin)
            assert r.status_code == 200, r.text
        got = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(got) < 1:
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                time.sleep(0.05)
                continue
            got.append(json.loads(body))
        time.sleep(0.3)
        method, _, _ = channel.basic_get(queue, auto_ack=True)
        assert method is None, "bob's record reached alice's queue"
        assert [(g["action"], g["record"]["owner"]) for g in got] == [("create", "alice")], got
    finally:
        connection.close()


def test_sse_and_stomp_subscribers_get_only_what_they_may_view(make_server):
    """The same view rule on two more protocols: an SSE stream (`?token=`) and a stomp.py subscription on
    `/topic/collections.<c>.*`, each alice's, receive her record's change and not bob's."""
    from stomp_support import Stock

    srv = make_server({"api_key": "admin-key", "anonymous": True,
                       "tokens": {"alice-token": "alice", "bob-token": "bob"}})
    admin = {"X-API-Key": "admin-key"}
    name = unique("notes")
    make_collection(srv, name, headers=admin, viewRule="owner = @request.auth.id")
    stomp_client = Stock(srv, login="", passcode="alice-token")
    stomp_client.subscribe(f"/topic/collections.{name}.*", "s1")

    async def body():
        url = f"{srv.http_url}/sse?channel=collections/{name}/%2B&token=alice-token"
        async with sse(url) as stream:
            for owner in ("bob", "alice"):
                r = await srv.ahttp("POST", f"/api/collections/{name}/records", json={"title": owner, "owner": owner},
                                    headers=admin)
                assert r.status_code == 200, r.text
            event = await stream.next()
            return json.loads(event.data)

    pushed = run(body())
    assert pushed["record"]["owner"] == "alice", pushed
    frame = stomp_client.wait(lambda f: f.command == "MESSAGE", desc="MESSAGE")
    assert json.loads(frame.body)["record"]["owner"] == "alice", frame
    stomp_client.nothing()
    stomp_client.disconnect()


def test_rules_read_a_jwts_claims_as_request_auth(make_server):
    """@request.auth.* carries the JWT's own claims (here `team`), on REST and on change events."""
    from security_support import ISSUER, JWT_SECRET, make_jwt

    srv = make_server({"api_key": "admin-key",
                       "security": {"jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}], "issuer": ISSUER}}})
    admin = {"X-API-Key": "admin-key"}
    name = unique("boards")
    make_collection(srv, name, headers=admin, listRule="team = @request.auth.team",
                    viewRule="team = @request.auth.team")
    red = make_jwt("ann", team="red")
    for team in ("red", "blue", "red"):
        assert srv.post(f"/api/collections/{name}/records", json={"title": team, "team": team},
                        headers=admin).status_code == 200
    listed = srv.get(f"/api/collections/{name}/records", headers={"Authorization": f"Bearer {red}"}).json()
    assert [r["team"] for r in listed["items"]] == ["red", "red"], listed

    async def body():
        async with ws_clients(srv.ws_url + f"?token={red}") as ws:
            await ws.subscribe(f"collections/{name}/+")
            for team in ("blue", "red"):
                await srv.ahttp("POST", f"/api/collections/{name}/records", json={"title": team, "team": team},
                                headers=admin)
            got = await ws.wait(lambda f: f.get("type") == "message")
            await asyncio.sleep(0.3)
            assert got["data"]["record"]["team"] == "red"
            assert ws.pending(lambda f: f.get("type") == "message") == []

    run(body())


def test_long_poll_socketio_and_signalr_subscribers_get_only_what_they_may_view(make_server):
    """The view rule on the last three transports of a change feed: a `/poll` on `collections/<c>/+` (the
    feed stream covers the filter, so the poll has a cursor), a python-socketio room and a signalrcore
    `Subscribe`, each alice's, receive her record's change and not bob's."""
    from signalr_support import CoreClient, hub_url
    from socketio_support import Stock

    srv = make_server({"api_key": "admin-key", "anonymous": True,
                       "tokens": {"alice-token": "alice", "bob-token": "bob"}})
    admin = {"X-API-Key": "admin-key"}
    name = unique("notes")
    make_collection(srv, name, headers=admin, viewRule="owner = @request.auth.id")
    feed = f"collections/{name}/+"
    start = srv.get("/poll", params={"channel": feed, "timeout": 0, "token": "alice-token"})
    assert start.status_code == 204, start.text
    cursor = start.headers["etag"].strip('"')
    signalr = CoreClient(hub_url(srv), token="alice-token").start()

    async def body():
        async with Stock(srv.http_url, ["websocket"], auth={"token": "alice-token"}) as sio:
            await sio.subscribe(feed)
            assert signalr.invoke("Subscribe", [feed]).error is None
            for owner in ("bob", "alice"):
                r = await srv.ahttp("POST", f"/api/collections/{name}/records", json={"title": owner, "owner": owner},
                                    headers=admin)
                assert r.status_code == 200, r.text
            _, event, args = await asyncio.wait_for(sio.inbox.get(), 5)
            await asyncio.sleep(0.3)  # bob's change, had it been let through, would be here by now
            return event, args[0], sio.inbox.qsize()

    event, pushed, more = run(body())
    assert event == "message" and pushed["data"]["record"]["owner"] == "alice" and more == 0, (event, pushed, more)
    received = signalr.wait_received(1)
    time.sleep(0.3)
    assert [m[0]["data"]["record"]["owner"] for m in signalr.received] == ["alice"], signalr.received
    signalr.stop()
    polled = srv.get("/poll", params={"channel": feed, "timeout": 5, "cursor": cursor, "token": "alice-token"})
    assert polled.status_code == 200, polled.text
    assert [m["data"]["record"]["owner"] for m in polled.json()["messages"]] == ["alice"], polled.json()
    assert received
