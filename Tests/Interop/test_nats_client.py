"""NATS with the stock nats-py client: pub/sub, wildcards, queue groups, request/reply, headers,
no-responders, auto-unsubscribe, drain, reconnect after a restart, echo, JetStream's account info."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from nats.errors import NoRespondersError, TimeoutError as NATSTimeoutError

from interop import run, unique, ws_clients
from nats_support import subscribed

TIMEOUT = 5.0


async def connect(server, **kwargs):
    kwargs.setdefault("connect_timeout", 3)
    kwargs.setdefault("allow_reconnect", False)
    return await nats.connect(server.nats_url, **kwargs)


def test_info_and_connect(server):
    async def body():
        nc = await connect(server, name="probe")
        try:
            info = nc._server_info
            assert info["headers"] is True
            assert info["proto"] == 1
            assert info["max_payload"] == 1048576
            assert nc.max_payload == 1048576
            assert info["server_id"]
            rows = (await server.ahttp("GET", "/api/connections")).json()["connections"]
            mine = [r for r in rows if r.get("protocol") == "nats" and r.get("name") == "probe"]
            assert len(mine) == 1, rows
        finally:
            await nc.close()

    run(body())


def test_publish_subscribe_in_order(server):
    async def body():
        subject = unique("s") + ".orders"
        sub_nc, pub_nc = await connect(server), await connect(server)
        try:
            sub = await sub_nc.subscribe(subject)
            await subscribed(server, sub_nc, subject)
            for i in range(200):
                await pub_nc.publish(subject, f"m{i}".encode())
            got = [(await sub.next_msg(timeout=TIMEOUT)).data.decode() for _ in range(200)]
            assert got == [f"m{i}" for i in range(200)]
        finally:
            await sub_nc.close()
            await pub_nc.close()

    run(body())


def test_wildcards(server):
    async def body():
        root = unique("w")
        nc = await connect(server)
        try:
            star = await nc.subscribe(f"{root}.*.temp")
            tail = await nc.subscribe(f"{root}.>")
            await subscribed(server, nc, f"{root}.*.temp")
            await subscribed(server, nc, f"{root}.>")
            await nc.publish(f"{root}.kitchen.temp", b"21")
            await nc.publish(f"{root}.kitchen.humidity", b"40")
            await nc.publish(f"{root}.a.b.c", b"deep")
            m = await star.next_msg(timeout=TIMEOUT)
            assert (m.subject, m.data) == (f"{root}.kitchen.temp", b"21")
            subjects = sorted([(await tail.next_msg(timeout=TIMEOUT)).subject for _ in range(3)])
            assert subjects == sorted([f"{root}.kitchen.temp", f"{root}.kitchen.humidity", f"{root}.a.b.c"])
            with pytest.raises(NATSTimeoutError):
                await star.next_msg(timeout=0.3)
        finally:
            await nc.close()

    run(body())


def test_queue_group_delivers_each_message_once(server):
    async def body():
        subject = unique("q") + ".jobs"
        members = [await connect(server) for _ in range(3)]
        pub = await connect(server)
        counts = [0, 0, 0]
        seen: list[str] = []
        try:
            for index, member in enumerate(members):

                async def handler(msg, index=index):
                    counts[index] += 1
                    seen.append(msg.data.decode())

                await member.subscribe(subject, queue="workers", cb=handler)
            await subscribed(server, members[0], subject, queue="workers", count=3)
            for i in range(300):
                await pub.publish(subject, f"j{i}".encode())
            await pub.flush()
            for _ in range(100):
                if len(seen) >= 300:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            assert sorted(seen) == sorted(f"j{i}" for i in range(300)), "each job exactly once"
            assert all(c > 0 for c in counts), counts
        finally:
            for nc in members + [pub]:
                await nc.close()

    run(body())


def test_request_reply(server):
    async def body():
        subject = unique("svc") + ".echo"
        responder, requester = await connect(server), await connect(server)
        try:

            async def handle(msg):
                await msg.respond(b"echo:" + msg.data)

            await responder.subscribe(subject, cb=handle)
            await subscribed(server, responder, subject)
            for i in range(20):
                reply = await requester.request(subject, f"r{i}".encode(), timeout=TIMEOUT)
                assert reply.data == f"echo:r{i}".encode()
        finally:
            await responder.close()
            await requester.close()

    run(body())


def test_no_responders(server):
    async def body():
        nc = await connect(server)
        try:
            with pytest.raises(NoRespondersError):
                await nc.request(unique("nobody") + ".here", b"?", timeout=TIMEOUT)
        finally:
            await nc.close()

    run(body())


def test_headers_round_trip(server):
    async def body():
        subject = unique("h") + ".x"
        nc = await connect(server)
        try:
            sub = await nc.subscribe(subject)
            await subscribed(server, nc, subject)
            await nc.publish(subject, b"body", headers={"Trace-Id": "abc", "Tenant": "t1"})
            msg = await sub.next_msg(timeout=TIMEOUT)
            assert msg.data == b"body"
            assert msg.headers == {"Trace-Id": "abc", "Tenant": "t1"}
        finally:
            await nc.close()

    run(body())


def test_auto_unsubscribe(server):
    async def body():
        subject = unique("u") + ".x"
        nc = await connect(server)
        try:
            sub = await nc.subscribe(subject)
            await sub.unsubscribe(limit=3)
            await nc.flush()
            for i in range(6):
                await nc.publish(subject, str(i).encode())
            got = [(await sub.next_msg(timeout=TIMEOUT)).data for _ in range(3)]
            assert got == [b"0", b"1", b"2"]
            await nc.flush()
            await asyncio.sleep(0.2)
            assert sub.pending_msgs == 0
            rows = (await server.ahttp("GET", "/api/channels")).json()["channels"]
            assert not any(subject.replace(".", "/") in json.dumps(r) for r in rows), rows
        finally:
            await nc.close()

    run(body())


def test_echo_off(server):
    async def body():
        subject = unique("e") + ".x"
        quiet = await connect(server, no_echo=True)
        other = await connect(server)
        try:
            sub = await quiet.subscribe(subject)
            await subscribed(server, quiet, subject)
            await quiet.publish(subject, b"own")
            await other.publish(subject, b"other")
            msg = await sub.next_msg(timeout=TIMEOUT)
            assert msg.data == b"other"
            with pytest.raises(NATSTimeoutError):
                await sub.next_msg(timeout=0.3)
        finally:
            await quiet.close()
            await other.close()

    run(body())


def test_drain_delivers_in_flight_messages(server):
    async def body():
        subject = unique("d") + ".x"
        nc, pub = await connect(server), await connect(server)
        got: list[bytes] = []
        try:

            async def handler(msg):
                await asyncio.sleep(0.001)
                got.append(msg.data)

            await nc.subscribe(subject, cb=handler)
            await subscribed(server, nc, subject)
            for i in range(100):
                await pub.publish(subject, str(i).encode())
            # nats-py's flush() writes its PING ahead of PUBs still in its pending buffer, so it is no barrier
            # here (the server-side barrier is test_pong_follows_delivery_to_every_subscriber): wait until
            # the callbacks have started, then drain must hand every message over before closing.
            await pub.flush()
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.01)
            await nc.drain()
            assert got == [str(i).encode() for i in range(100)]
            assert nc.is_closed
        finally:
            await pub.close()
            if not nc.is_closed:
                await nc.close()

    run(body())


def test_reconnect_after_server_restart(make_server):
    srv = make_server()

    async def body():
        subject = unique("r") + ".x"
        reconnected = asyncio.Event()

        async def on_reconnect():
            reconnected.set()

        nc = await nats.connect(
            srv.nats_url, allow_reconnect=True, reconnect_time_wait=0.2, max_reconnect_attempts=100,
            reconnected_cb=on_reconnect, connect_timeout=2,
        )
        try:
            sub = await nc.subscribe(subject)
            await subscribed(srv, nc, subject)
            await nc.publish(subject, b"before")
            assert (await sub.next_msg(timeout=TIMEOUT)).data == b"before"
            await asyncio.to_thread(srv.stop)
            await asyncio.to_thread(srv.start)
            await asyncio.wait_for(reconnected.wait(), 15)
            await subscribed(srv, nc, subject)  # the client resubscribes after reconnecting
            await nc.publish(subject, b"after")
            assert (await sub.next_msg(timeout=TIMEOUT)).data == b"after"
        finally:
            await nc.close()

    run(body(), timeout=60)


def test_jetstream_answers_account_info(server):
    """JetStream is on (test_jetstream.py covers it): the account info answers with its limits."""

    async def body():
        nc = await connect(server)
        try:
            info = await nc.jsm().account_info()
            assert info.limits.max_streams == -1
            # A request is counted once answered, as nats-server 2.9 does (a fresh one answers 0, then 1):
            # the second account info counts the first.
            again = await nc.jsm().account_info()
            assert again.api.total >= info.api.total + 1, (info.api, again.api)
        finally:
            await nc.close()

    run(body())


def test_nats_to_websocket_and_http_to_nats(server):
    async def body():
        root = unique("x")
        nc = await connect(server)
        try:
            async with ws_clients(server.ws_url) as ws:
                await ws.subscribe(f"{root}/sensor/+")
                sub = await nc.subscribe(f"{root}.cmd.>")
                await subscribed(server, nc, f"{root}.cmd.>")
                # NATS → WebSocket: JSON payload arrives as data, other UTF-8 as text.
                await nc.publish(f"{root}.sensor.t1", b'{"c":21.5}')
                msg = await ws.message(f"{root}/sensor/t1")
                assert msg["data"] == {"c": 21.5}
                await nc.publish(f"{root}.sensor.t2", b"plain words")
                msg = await ws.message(f"{root}/sensor/t2")
                assert msg["text"] == "plain words"
                # WebSocket and HTTP → NATS, with the content type as a header.
                await ws.publish(f"{root}/cmd/reboot", {"now": True})
                m = await sub.next_msg(timeout=TIMEOUT)
                assert m.subject == f"{root}.cmd.reboot"
                assert json.loads(m.data) == {"now": True}
                assert m.headers == {"Content-Type": "application/json"}
                await server.apublish(f"{root}/cmd/http", [1, 2])
                m = await sub.next_msg(timeout=TIMEOUT)
                assert (m.subject, json.loads(m.data)) == (f"{root}.cmd.http", [1, 2])
        finally:
            await nc.close()

    run(body())


def test_websocket_rpc_answered_by_nats_service(server):
    async def body():
        subject = unique("rpc") + ".add"
        nc = await connect(server)
        try:

            async def handle(msg):
                numbers = json.loads(msg.data)
                await msg.respond(json.dumps({"sum": sum(numbers)}).encode())

            await nc.subscribe(subject, cb=handle)
            await subscribed(server, nc, subject)
            async with ws_clients(server.ws_url) as ws:
                reply = await ws.expect(
                    {"type": "rpc", "id": 1, "channel": subject.replace(".", "/"), "data": [2, 3]}, "reply"
                )
                assert reply["data"] == {"sum": 5}
        finally:
            await nc.close()

    run(body())


def test_subject_escaping_round_trip(server):
    async def body():
        nc = await connect(server)
        root = unique("esc")
        try:
            async with ws_clients(server.ws_url) as ws:
                # A NATS token with '/' is one topic level: it reaches WebSocket as %2F …
                await ws.subscribe(f"{root}/a%2Fb")
                await nc.publish(f"{root}.a/b", b"1")
                assert (await ws.message(f"{root}/a%2Fb"))["data"] == 1
                # … and a topic level with '.' reaches NATS as %2E, and back.
                sub = await nc.subscribe(f"{root}.v1%2E2")
                await subscribed(server, nc, f"{root}.v1%2E2")
                await ws.publish(f"{root}/v1.2", 2)
                m = await sub.next_msg(timeout=TIMEOUT)
                assert (m.subject, m.data) == (f"{root}.v1%2E2", b"2")
        finally:
            await nc.close()

    run(body())


@pytest.mark.parametrize("path", ["/nats", ""], ids=["nats-path", "bare-url"])
def test_nats_over_websocket(server, path):
    async def body():
        subject = unique("ws") + ".x"
        over_ws = await nats.connect(f"ws://127.0.0.1:{server.port}{path}", allow_reconnect=False, connect_timeout=3)
        over_tcp = await connect(server)
        try:
            sub = await over_ws.subscribe(subject)
            await subscribed(server, over_ws, subject)
            for i in range(50):
                await over_tcp.publish(subject, f"t{i}".encode())
            got = [(await sub.next_msg(timeout=TIMEOUT)).data for _ in range(50)]
            assert got == [f"t{i}".encode() for i in range(50)]
            # A payload larger than one read, and request/reply across the two transports.

            async def handle(msg):
                await msg.respond(msg.data[::-1])

            await over_tcp.subscribe(subject + ".svc", cb=handle)
            await subscribed(server, over_tcp, subject + ".svc")
            big = bytes(range(256)) * 1024
            reply = await over_ws.request(subject + ".svc", big, timeout=TIMEOUT)
            assert reply.data == big[::-1]
            rows = (await server.ahttp("GET", "/api/connections")).json()["connections"]
            assert sum(1 for r in rows if r.get("protocol") == "nats") >= 2
        finally:
            await over_ws.close()
            await over_tcp.close()

    run(body())
