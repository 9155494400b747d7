"""Issue 21: collaboration sessions and consensus votes, on every protocol. A session's participants take
part from native WebSocket, SSE, MQTT and NATS: presence lists them all, the activity feed records their
joins, messages and ballots, a ballot cast from each protocol (HTTP, WebSocket RPC, an MQTT publish, a NATS
request) counts once, tallies stream live, the result reaches every protocol, and a restart keeps it.
docs/collaboration.md maps each point to its test."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import quote

import nats

from interop import wait_for
from interop import open_ws, run, unique
from mqtt_client import V5, V311, Paho
from nats_support import subscribed
from sse_client import sse

USERS = ["alice", "bob", "carol", "dave", "eve"]
CONFIG = {"api_key": "admin-key", "anonymous": True, "tokens": {f"{u}-token": u for u in USERS}}


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user}-token"}


def create_session(srv, owner: str = "alice", **body) -> dict:
    body.setdefault("participants", ["bob", "carol", "dave"])
    r = srv.post("/api/sessions", json={"title": "Release", **body}, headers=auth(owner))
    assert r.status_code == 200, r.text
    return r.json()


def test_sessions_over_http_follow_membership(make_server):
    srv = make_server(CONFIG)
    session = create_session(srv, title="Planning", participants=["bob", {"user": "carol", "weight": 2}])
    sid = session["id"]
    assert session["owner"] == "alice" and session["state"] == "open"
    assert session["participants"] == [{"user": "bob", "weight": 1}, {"user": "carol", "weight": 2}]
    # Participants see it; others neither list nor read it.
    assert [s["id"] for s in srv.get("/api/sessions", headers=auth("bob")).json()["items"]] == [sid]
    assert srv.get("/api/sessions", headers=auth("eve")).json()["items"] == []
    r = srv.get(f"/api/sessions/{sid}", headers=auth("eve"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied", r.text
    assert srv.get("/api/sessions/nope", headers=auth("bob")).status_code == 404
    # Without credentials (anonymous is on): nobody to take part as.
    assert srv.post("/api/sessions", json={"title": "x"}).status_code == 401
    # Only the owner (or an admin) changes and closes it.
    r = srv.http("PATCH", f"/api/sessions/{sid}", json={"title": "Renamed"}, headers=auth("bob"))
    assert r.status_code == 403, r.text
    r = srv.http("PATCH", f"/api/sessions/{sid}", json={"participants": ["bob", "dave"]}, headers=auth("alice"))
    assert r.status_code == 200 and [p["user"] for p in r.json()["participants"]] == ["bob", "dave"], r.text
    assert srv.get(f"/api/sessions/{sid}", headers=auth("carol")).status_code == 403
    r = srv.post(f"/api/sessions/{sid}", json={"id": sid}, headers=auth("alice"))
    assert r.status_code in (404, 405), r.text
    assert srv.post("/api/sessions", json={"id": sid}, headers=auth("alice")).status_code == 409
    bad = srv.post("/api/sessions", json={"id": "a/b"}, headers=auth("alice"))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request", bad.text
    # The API key is an admin: it sees every session and names owners.
    everyone = srv.get("/api/sessions", headers={"X-API-Key": "admin-key"}).json()["items"]
    assert sid in [s["id"] for s in everyone]
    r = srv.post("/api/sessions", json={"owner": "eve", "title": "Eve's"}, headers={"X-API-Key": "admin-key"})
    assert r.status_code == 200 and r.json()["owner"] == "eve", r.text
    r = srv.post(f"/api/sessions/{sid}/close", headers=auth("alice"))
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["closed"], r.text
    r = srv.post(f"/api/sessions/{sid}/votes", json={"question": "?", "options": ["a", "b"]}, headers=auth("bob"))
    assert r.status_code == 409, r.text


def test_votes_refuse_what_their_rules_refuse(make_server):
    srv = make_server(CONFIG)
    sid = create_session(srv)["id"]
    base = f"/api/sessions/{sid}/votes"
    for body, message in [
        ({"options": ["a", "b"]}, "question"),
        ({"question": "?", "options": ["a"]}, "options"),
        ({"question": "?", "options": ["a", "a"]}, "options"),
        ({"question": "?", "options": ["a", "b"], "rule": "plurality"}, "rule"),
        ({"question": "?", "options": ["a", "b"], "rule": "supermajority", "threshold": 0.4}, "threshold"),
        ({"question": "?", "options": ["a", "b"], "duration": -1}, "duration"),
        ({"question": "?", "options": ["a", "b"], "quorum": "two"}, "quorum"),
    ]:
        r = srv.post(base, json=body, headers=auth("bob"))
        assert r.status_code == 400 and message in r.json()["error"]["message"], (body, r.text)
    assert srv.post(base, json={"question": "?", "options": ["a", "b"]}, headers=auth("eve")).status_code == 403
    vote = srv.post(base, json={"question": "Ship?", "options": ["yes", "no"]}, headers=auth("bob")).json()
    cast = f"{base}/{vote['id']}/cast"
    assert srv.post(cast, json={"option": "maybe"}, headers=auth("bob")).status_code == 400
    assert srv.post(cast, json={"option": "yes"}, headers=auth("eve")).status_code == 403
    assert srv.post(cast, json={"option": "yes"}, headers=auth("bob")).status_code == 200
    # The same option again changes nothing; another one is refused (ballots are not changeable here).
    again = srv.post(cast, json={"option": "yes"}, headers=auth("bob"))
    assert again.status_code == 200 and again.json()["ballots"] == 1, again.text
    assert srv.post(cast, json={"option": "no"}, headers=auth("bob")).status_code == 409
    # Only the owner, whoever opened it, or an admin closes it; it ends on the ballots cast.
    assert srv.post(f"{base}/{vote['id']}/close", headers=auth("carol")).status_code == 403
    closed = srv.post(f"{base}/{vote['id']}/close", headers=auth("bob")).json()
    assert closed["state"] == "decided" and closed["result"]["outcome"] == "reached", closed
    assert closed["result"]["option"] == "yes" and closed["result"]["reason"] == "closed", closed
    assert srv.post(cast, json={"option": "no"}, headers=auth("carol")).status_code == 409


def test_a_session_across_protocols_votes_once_per_identity_and_survives_a_restart(make_server):
    srv = make_server(CONFIG)
    sid = create_session(srv)["id"]
    messages, activity = f"sessions/{sid}/messages", f"sessions/{sid}/activity"

    async def body():
        # alice on the native WebSocket, bob on SSE, carol on MQTT, dave on NATS: all four take part.
        alice = await open_ws(srv.ws_url + "?token=alice-token")
        await alice.expect({"type": "subscribe", "channel": messages}, "subscribed")
        await alice.expect({"type": "subscribe", "channel": f"sessions/{sid}/votes/+"}, "subscribed")
        sse_url = (f"{srv.http_url}/sse?token=bob-token&channel={quote(messages, safe='')}"
                   f"&channel={quote(f'sessions/{sid}/votes/+', safe='')}")
        async with sse(sse_url) as bob:
            await bob.position()
            carol = Paho(srv.mqtt_port, V5, username="carol", password="carol-token")
            carol.subscribe(messages, qos=1)
            carol.subscribe(f"sessions/{sid}/votes/+", qos=1)
            dave = await nats.connect(srv.nats_url, token="dave-token")
            results = await dave.subscribe(f"sessions.{sid}.votes.*")
            await dave.subscribe(f"sessions.{sid}.messages")
            await dave.flush()
            online = await asyncio.to_thread(
                wait_for, lambda: srv.get(f"/api/sessions/{sid}", headers=auth("bob")).json()["online"] == [
                    "alice", "bob", "carol", "dave"])
            assert online, srv.get(f"/api/sessions/{sid}", headers=auth("bob")).json()

            # A message from MQTT reaches the others and goes into the activity feed.
            carol.publish(messages, json.dumps({"text": "hi"}), qos=1)
            assert (await alice.message(messages))["data"] == {"text": "hi"}

            # alice opens a vote over WebSocket RPC.
            reply = await alice.expect(
                {"type": "rpc", "channel": "$sessions/open_vote",
                 "data": {"session": sid, "question": "Ship it?", "options": ["yes", "no"]}}, "reply")
            vote = reply["data"]
            assert vote["state"] == "open" and vote["rule"] == "majority", vote
            vid = vote["id"]
            cast_topic = f"sessions/{sid}/votes/{vid}/cast"
            # HTTP (alice), WebSocket RPC (bob's second connection), MQTT publish (carol, twice), NATS request.
            r = await asyncio.to_thread(
                srv.post, f"/api/sessions/{sid}/votes/{vid}/cast", json={"option": "yes"}, headers=auth("alice"))
            assert r.status_code == 200 and r.json()["ballots"] == 1, r.text
            bob_ws = await open_ws(srv.ws_url + "?token=bob-token")
            reply = await bob_ws.expect(
                {"type": "rpc", "channel": "$sessions/cast", "data": {"session": sid, "vote": vid, "option": "no"}},
                "reply")
            assert reply["data"]["ballots"] == 2, reply
            carol.publish(cast_topic, json.dumps({"option": "yes"}), qos=1)
            carol.publish(cast_topic, "yes", qos=1)
            tally = await alice.wait(
                lambda f: f.get("channel") == f"sessions/{sid}/votes/{vid}" and f["data"]["type"] == "tally"
                and f["data"]["vote"]["ballots"] == 3, 5, "a tally with carol's ballot")
            assert [t["votes"] for t in tally["data"]["vote"]["tally"]] == [2, 1], tally
            answer = await dave.request(f"sessions.{sid}.votes.{vid}.cast", b'{"option":"yes"}', timeout=5)
            decided = json.loads(answer.data)
            assert decided["ballots"] == 4 and decided["result"]["outcome"] == "reached", decided
            assert decided["result"]["option"] == "yes" and decided["result"]["reason"] == "rule", decided
            assert "voters" not in decided  # a ballot's answer is the tally, not the voter list
            state = (await asyncio.to_thread(
                srv.get, f"/api/sessions/{sid}/votes/{vid}", headers=auth("bob"))).json()
            assert sorted(v["user"] for v in state["voters"]) == ["alice", "bob", "carol", "dave"], state

            # The result reaches every protocol.
            result = await alice.wait(
                lambda f: f.get("channel") == f"sessions/{sid}/votes/{vid}" and f["data"]["type"] == "result", 5,
                "the result on WebSocket")
            assert result["data"]["vote"]["result"]["option"] == "yes"
            while True:
                event = await bob.next(timeout=5)
                if event.data.startswith("{") and json.loads(event.data).get("type") == "result":
                    break

            def mqtt_result():
                while True:
                    m = carol.get(timeout=5)
                    if m.topic == f"sessions/{sid}/votes/{vid}" and json.loads(m.payload)["type"] == "result":
                        return json.loads(m.payload)
            assert (await asyncio.to_thread(mqtt_result))["vote"]["result"]["outcome"] == "reached"
            while True:
                m = await results.next_msg(timeout=5)
                if json.loads(m.data)["type"] == "result":
                    break

            # Someone outside the session: the service refuses the RPC; publishing is refused by the
            # permission check (test_only_participants_use_a_sessions_channels).
            eve = await open_ws(srv.ws_url + "?token=eve-token")
            refused = await eve.expect(
                {"type": "rpc", "channel": "$sessions/cast", "data": {"session": sid, "vote": vid, "option": "no"}},
                "reply")
            assert refused["data"]["error"]["code"] == "permission_denied", refused
            await eve.close()

            # The activity feed has the joins, the message, the vote's life, with actors and protocols.
            feed = await alice.expect({"type": "history", "channel": activity, "limit": 100}, "history")
            entries = [m["data"] for m in feed["messages"]]
            joins = {(e["actor"], e["protocol"]) for e in entries if e["type"] == "join"}
            assert {("alice", "websocket"), ("bob", "sse"), ("carol", "mqtt"), ("dave", "nats")} <= joins, entries
            assert [e["actor"] for e in entries if e["type"] == "message"] == ["carol"], entries
            ballots = [(e["actor"], e["option"]) for e in entries if e["type"] == "vote_cast"]
            assert sorted(ballots) == [("alice", "yes"), ("bob", "no"), ("carol", "yes"), ("dave", "yes")], entries
            assert [e["outcome"] for e in entries if e["type"] == "vote_decided"] == ["reached"], entries
            await bob_ws.close()
            await alice.close()
            await dave.close()
            carol.disconnect()
        return vid

    vid = run(body(), 60)
    srv.stop()
    srv.start()
    vote = srv.get(f"/api/sessions/{sid}/votes/{vid}", headers=auth("carol")).json()
    assert vote["result"]["outcome"] == "reached" and vote["ballots"] == 4, vote
    assert srv.get(f"/api/sessions/{sid}", headers=auth("carol")).json()["title"] == "Release"


def test_a_deadline_decides_and_a_restart_keeps_the_result(make_server):
    srv = make_server(CONFIG)
    sid = create_session(srv, participants=["bob", "carol"])["id"]
    base = f"/api/sessions/{sid}/votes"
    quick = srv.post(base, json={"question": "Lunch?", "options": ["pizza", "soup"], "duration": 1, "quorum": 2},
                     headers=auth("bob")).json()
    slow = srv.post(base, json={"question": "Later?", "options": ["a", "b"], "duration": 3,
                                "changeable": True, "anonymous": True}, headers=auth("bob")).json()
    watcher = Paho(srv.mqtt_port, V311, username="carol", password="carol-token")
    watcher.subscribe(f"sessions/{sid}/votes/+", qos=1)
    assert srv.post(f"{base}/{quick['id']}/cast", json={"option": "soup"}, headers=auth("carol")).status_code == 200
    for user, option in [("bob", "a"), ("carol", "b"), ("carol", "a")]:
        r = srv.post(f"{base}/{slow['id']}/cast", json={"option": option}, headers=auth(user))
        assert r.status_code == 200, r.text
    # The deadline passes with one ballot of a quorum of two.
    deadline = time.monotonic() + 5
    result = None
    while result is None and time.monotonic() < deadline:
        m = watcher.get(timeout=5)
        payload = json.loads(m.payload)
        if payload["type"] == "result" and payload["vote"]["id"] == quick["id"]:
            result = payload["vote"]["result"]
    assert result and result["outcome"] == "no_quorum" and result["reason"] == "deadline", result
    anonymous = srv.get(f"{base}/{slow['id']}", headers=auth("bob")).json()
    assert "voters" not in anonymous and anonymous["state"] == "tallying", anonymous
    watcher.disconnect()
    # The server is down when the second deadline passes: it is decided at start, on the ballots kept.
    srv.stop()
    time.sleep(3)
    srv.start()
    expired = wait_for(lambda: srv.get(f"{base}/{slow['id']}", headers=auth("bob")).json()["result"])
    assert expired == {"outcome": "reached", "option": "a", "reason": "deadline",
                       "decided_at": expired["decided_at"]}, expired
    again = srv.get(f"{base}/{quick['id']}", headers=auth("bob")).json()
    assert again["state"] == "expired" and again["result"]["outcome"] == "no_quorum", again


def test_only_participants_use_a_sessions_channels(make_server):
    """Session membership is a rule input of every protocol's permission checks: outsiders cannot
    subscribe to, read, post to or vote on a session's channels, and a broad subscription (`#`) does not
    carry them; participants can, until the owner removes them."""
    srv = make_server(CONFIG)
    sid = create_session(srv, participants=["bob"])["id"]
    vid = srv.post(f"/api/sessions/{sid}/votes", json={"question": "?", "options": ["a", "b"]},
                   headers=auth("bob")).json()["id"]
    messages = f"sessions/{sid}/messages"

    # MQTT 5: SUBACK 0x87 and PUBACK 0x87 for eve; 3.1.1: SUBACK 0x80.
    eve = Paho(srv.mqtt_port, V5, username="eve", password="eve-token")
    assert [c.value for c in eve.subscribe(messages, qos=1)] == [0x87]
    assert [c.value for c in eve.subscribe("#", qos=0)] == [0]
    info = eve.client.publish(f"sessions/{sid}/votes/{vid}/cast", "a", qos=1)
    info.wait_for_publish(5)
    assert not eve.accepted(info) and eve.publish_codes[info.mid].value == 0x87
    eve311 = Paho(srv.mqtt_port, V311, username="eve", password="eve-token")
    assert [c.value for c in eve311.subscribe(messages, qos=1)] == [0x80]
    bob = Paho(srv.mqtt_port, V5, username="bob", password="bob-token")
    assert [c.value for c in bob.subscribe(messages, qos=1)] == [1]
    bob.publish(messages, "hello", qos=1)
    got = bob.get()
    assert (got.topic, got.payload) == (messages, b"hello")
    assert eve.nothing(0.5), "eve's '#' must not carry the session's messages"
    assert srv.get(f"/api/sessions/{sid}/votes/{vid}", headers=auth("bob")).json()["ballots"] == 0

    async def others():
        # Native WebSocket: subscribe and history refused, publish refused.
        ws = await open_ws(srv.ws_url + "?token=eve-token")
        await ws.expect_error({"type": "subscribe", "channel": messages}, "permission_denied")
        await ws.expect_error({"type": "history", "channel": messages}, "permission_denied")
        await ws.expect_error({"type": "publish", "channel": messages, "data": 1}, "permission_denied")
        await ws.close()
        # NATS: a permissions violation for the subscription.
        errors: list[Exception] = []

        async def on_error(e):
            errors.append(e)
        nc = await nats.connect(srv.nats_url, token="eve-token", error_cb=on_error)
        await nc.subscribe(f"sessions.{sid}.messages")
        await nc.flush()
        await asyncio.sleep(0.3)
        assert any("permissions violation" in str(e).lower() for e in errors), errors
        await nc.close()
    run(others())

    # The owner removes bob: his next post is refused.
    r = srv.http("PATCH", f"/api/sessions/{sid}", json={"participants": []}, headers=auth("alice"))
    assert r.status_code == 200, r.text
    info = bob.client.publish(messages, "still here?", qos=1)
    info.wait_for_publish(5)
    assert bob.publish_codes[info.mid].value == 0x87
    for client in (eve, eve311, bob):
        client.disconnect()


def test_ballots_published_over_amqp_and_stomp_count_for_their_users(make_server):
    """A publish to the cast channel from AMQP (`amq.topic`, routing key `sessions.<id>.votes.<vote>.cast`)
    and STOMP (`/topic/…`) is a ballot of the connection's user."""
    import pika

    from amqp_support import connect
    from stomp_support import Stock

    srv = make_server(CONFIG)
    sid = create_session(srv, participants=["carol", "dave"])["id"]
    vote = srv.post(f"/api/sessions/{sid}/votes", json={"question": "Pick", "options": ["red", "blue"],
                                                        "changeable": True}, headers=auth("carol")).json()
    key = f"sessions.{sid}.votes.{vote['id']}.cast"
    amqp = connect(srv, credentials=pika.PlainCredentials("carol", "carol-token"))
    amqp.channel().basic_publish("amq.topic", key, b'{"option":"red"}')
    with Stock(srv, "1.2", login="dave", passcode="dave-token") as stomp:
        stomp.send(f"/topic/{key}", b"blue", "text/plain")
        counted = wait_for(lambda: srv.get(f"/api/sessions/{sid}/votes/{vote['id']}",
                                           headers=auth("alice")).json()["ballots"] == 2)
    amqp.close()
    state = srv.get(f"/api/sessions/{sid}/votes/{vote['id']}", headers=auth("alice")).json()
    assert counted, state
    assert sorted((v["user"], v["option"]) for v in state["voters"]) == [("carol", "red"), ("dave", "blue")], state


def test_a_role_holder_casts_by_publish_and_the_ballot_is_stored_before_its_puback(make_server):
    """A participant admitted only by a role (a static user with role `ops`) casts over MQTT; each ballot
    is stored before its PUBACK, so the server killed with SIGKILL right after the PUBACKs keeps them all —
    and so does an AMQP confirm."""
    import os
    import signal

    import pika

    from amqp_support import connect
    from security_support import hash_password

    users = [{"name": f"ops{i}", "password_hash": hash_password("pw"), "roles": ["ops"]} for i in range(3)]
    srv = make_server({**CONFIG, "security": {"users": users, "roles": {"ops": {"publish": ["#"], "subscribe": ["#"]}}}})
    sid = create_session(srv, participants=[], roles=["ops"])["id"]
    vote = srv.post(f"/api/sessions/{sid}/votes", json={"question": "Deploy?", "options": ["yes", "no"]},
                    headers=auth("alice")).json()
    cast = f"sessions/{sid}/votes/{vote['id']}/cast"
    for i in range(2):
        client = Paho(srv.mqtt_port, V5 if i == 0 else V311, username=f"ops{i}", password="pw")
        client.publish(cast, '{"option":"yes"}', qos=1)  # returns once the PUBACK came
        client.disconnect()
    amqp = connect(srv, credentials=pika.PlainCredentials("ops2", "pw"))
    channel = amqp.channel()
    channel.confirm_delivery()
    channel.basic_publish("amq.topic", cast.replace("/", "."), b"no")  # returns once confirmed
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    srv.start()
    state = srv.get(f"/api/sessions/{sid}/votes/{vote['id']}", headers=auth("alice")).json()
    assert sorted((v["user"], v["option"]) for v in state["voters"]) == [
        ("ops0", "yes"), ("ops1", "yes"), ("ops2", "no")], state
