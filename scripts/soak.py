#!/usr/bin/env python3
"""Soak and churn runs against the real server (issue 26, docs/reliability.md "Soak and churn").

    soak.py churn  --connections N --seconds S [--workers W]
        W client processes keep N connections open between them across native WebSocket, SSE, MQTT,
        NATS, STOMP and AMQP, each connection doing its protocol's handshake and a subscribe, living a
        random short while and closing, replaced at once, for S seconds. Then every client closes and
        the server settles: its open file descriptors (/proc/PID/fd) must be back at the baseline and its
        RSS within 5 % of the baseline (taken after a short warm-up churn of the same N, so what the
        allocator keeps after a first peak of N connections is in the baseline, not counted as a leak).

    soak.py churn-compiled --connections N --seconds S
        The same churn with compiled clients: the load generator's `churn --lifetime`, one process per
        protocol (handshake only, no subscribe), at the same total connect rate. At 18,000 connections the
        Python clients' own event loops fell up to 19 s behind, so their 20 s handshake timeouts measured
        them; these read every answer as it comes. Same bars; a handshake not done in 20 s is a failure.

    soak.py fanout --connections N --seconds S [--workers W]
        N subscribers (NATS, MQTT, native WebSocket, in turn) on one topic; a publisher sends one message a
        second carrying its send time; every subscriber records each message's latency. Reports p50/p99/max
        latency, messages lost, and the server's RSS per connection (RSS with N subscribers less the
        baseline, over N). Bar: p99 < 100 ms (--p99-bar-ms), < 1 MB per connection, nothing lost.

    soak.py fanout-compiled --connections N --seconds S
        The same fan-out measured by compiled clients: the load generator (Benchmarks/LoadGenerator's
        switchboard-bench, SWITCHBOARD_BENCH or its release build) runs once per protocol at the same time
        (NATS, MQTT QoS 0, native WebSocket), each with N/3 subscribers on its own topic and a publisher of
        its protocol sending one message a second for S seconds. Its NIO clients read every message as it
        comes, so the latency is the server's (the Python clients of `fanout` read thousands of messages a
        second per process on the same two cores and add their own delay). Same bars, per protocol.

The server is SWITCHBOARD_BIN (default .build/debug/switchboard) on free ports, started through
Tests/Interop/interop.py (run with the interop venv's python: it needs `requests`). Every run is bounded
in connections and time; the server and every client process stay under 20,000 descriptors. Prints one
JSON line of results last (what scripts/reliability puts in docs/reliability.md); exits 1 if a bar fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "Interop"))

PROTOCOLS = ["ws", "sse", "mqtt", "nats", "stomp", "amqp"]
FANOUT_PROTOCOLS = ["nats", "mqtt", "ws"]
HANDSHAKE_TIMEOUT = 20.0

# --------------------------------------------------------------------------- wire helpers (client side)


def ws_frame(text: str, opcode: int = 1) -> bytes:
    """A masked frame (RFC 6455 §5.2), text by default."""
    payload = text.encode()
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        head += bytes([0x80 | len(payload)])
    else:
        head += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def mqtt_string(text: str) -> bytes:
    return struct.pack(">H", len(text)) + text.encode()


def mqtt_packet(first: int, body: bytes) -> bytes:
    length, encoded = len(body), b""
    while True:
        byte = length % 128
        length //= 128
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            return bytes([first]) + encoded + body


def mqtt_connect(client_id: str) -> bytes:
    return mqtt_packet(0x10, mqtt_string("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 0) + mqtt_string(client_id))


def mqtt_subscribe(topic: str) -> bytes:
    return mqtt_packet(0x82, struct.pack(">H", 1) + mqtt_string(topic) + bytes([0]))


def amqp_method(channel: int, class_id: int, method_id: int, arguments: bytes) -> bytes:
    payload = struct.pack(">HH", class_id, method_id) + arguments
    return struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce"


def shortstr(text: str) -> bytes:
    return bytes([len(text)]) + text.encode()


def longstr(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


async def read_amqp_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = await reader.readexactly(7)
    kind, _channel, size = struct.unpack(">BHI", header)
    payload = await reader.readexactly(size + 1)
    return kind, payload[:-1]


async def open_connection(protocol: str, ports: dict[str, int], topic: str, source: str):
    """Connects with `protocol`, does its handshake and subscribes to `topic`; returns the streams."""
    port = ports["http"] if protocol in ("ws", "sse") else ports[protocol]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0), limit=1 << 20)
    if protocol == "ws":
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head[:80]
        writer.write(ws_frame(json.dumps({"id": 1, "type": "subscribe", "channel": topic})))
        await ws_read(reader)  # subscribed
    elif protocol == "sse":
        writer.write(f"GET /sse?channel={topic} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:80]
    elif protocol == "mqtt":
        writer.write(mqtt_connect(f"c{random.getrandbits(48):x}"))
        ack = await reader.readexactly(4)
        assert ack[0] == 0x20 and ack[3] == 0, ack
        writer.write(mqtt_subscribe(topic))
        await reader.readexactly(5)  # SUBACK
    elif protocol == "nats":
        await reader.readuntil(b"\r\n")  # INFO
        writer.write(f"CONNECT {{\"verbose\":false}}\r\nSUB {topic.replace('/', '.')} 1\r\nPING\r\n".encode())
        line = await reader.readuntil(b"\r\n")
        assert line == b"PONG\r\n", line
    elif protocol == "stomp":
        writer.write(b"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\x00")
        frame = await reader.readuntil(b"\x00")
        assert frame.lstrip(b"\n").startswith(b"CONNECTED"), frame[:40]
        destination = "/topic/" + topic.replace("/", ".")
        writer.write(f"SUBSCRIBE\nid:1\ndestination:{destination}\nreceipt:r\n\n\x00".encode())
        frame = await reader.readuntil(b"\x00")
        assert frame.lstrip(b"\n").startswith(b"RECEIPT"), frame[:40]
    elif protocol == "amqp":
        writer.write(b"AMQP\x00\x00\x09\x01")
        await read_amqp_frame(reader)  # connection.start
        response = b"\x00guest\x00guest"
        writer.write(amqp_method(0, 10, 11, struct.pack(">I", 0) + shortstr("PLAIN") + longstr(response) + shortstr("en_US")))
        await read_amqp_frame(reader)  # connection.tune
        writer.write(amqp_method(0, 10, 31, struct.pack(">HIH", 1, 131072, 0)))
        writer.write(amqp_method(0, 10, 40, shortstr("/") + shortstr("") + b"\x00"))
        kind, payload = await read_amqp_frame(reader)
        assert payload[:4] == struct.pack(">HH", 10, 41), payload[:8]
    return reader, writer


async def ws_read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: its opcode and payload."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack(">H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack(">Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(length)


# --------------------------------------------------------------------------- workers (client processes)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# Connections a churn worker opens per second, on average: a connection lives a random 0.125–1.875 times the
# mean lifetime that gives this rate (at least 1.6 s, so 0.2–3 s), and the slots start at this rate.
CHURN_CONNECTS_PER_SECOND = 300


async def churn_worker(ports: dict[str, int], connections: int, seconds: float, source: str, index: int) -> dict:
    deadline = time.monotonic() + seconds
    mean_lifetime = max(1.6, connections / CHURN_CONNECTS_PER_SECOND)
    stats = {"opened": 0, "failed": 0, "errors": {}, "peak": 0, "max_loop_lag": 0.0}

    async def watch_lag() -> None:
        """How late this client's own event loop ran a 0.1 s sleep, at worst: a client that stalls past the
        server's handshake deadlines is closed by them, and that is the client's failure, not the server's."""
        while time.monotonic() < deadline:
            started = time.monotonic()
            await asyncio.sleep(0.1)
            stats["max_loop_lag"] = max(stats["max_loop_lag"], round(time.monotonic() - started - 0.1, 3))
    open_now = 0

    async def one_slot(slot: int) -> None:
        nonlocal open_now
        rng = random.Random(index * 1_000_003 + slot)
        while time.monotonic() < deadline:
            protocol = PROTOCOLS[(slot + stats["opened"]) % len(PROTOCOLS)]
            writer = None
            try:
                _, writer = await asyncio.wait_for(
                    open_connection(protocol, ports, f"churn/{rng.randrange(50)}", source), HANDSHAKE_TIMEOUT
                )
                stats["opened"] += 1
                open_now += 1
                stats["peak"] = max(stats["peak"], open_now)
                await asyncio.sleep(rng.uniform(0.125 * mean_lifetime, 1.875 * mean_lifetime))
                open_now -= 1
            except Exception as exc:  # noqa: BLE001 — counted and reported, never hidden
                stats["failed"] += 1
                key = f"{protocol}: {type(exc).__name__}: {str(exc)[:80]}"
                stats["errors"][key] = stats["errors"].get(key, 0) + 1
                await asyncio.sleep(0.5)
            finally:
                if writer is not None:
                    writer.close()

    # Start the slots at the churn's own rate rather than all at once (a connect storm is another test): the
    # count of connections held climbs to `connections` over one mean lifetime.
    tasks = [asyncio.create_task(watch_lag())]
    for slot in range(connections):
        tasks.append(asyncio.create_task(one_slot(slot)))
        if slot % 30 == 29:
            await asyncio.sleep(30 / CHURN_CONNECTS_PER_SECOND)
    await asyncio.gather(*tasks)
    return stats


async def fanout_worker(ports: dict[str, int], connections: int, seconds: float, source: str, index: int) -> dict:
    latencies: list[float] = []
    stats = {"subscribed": 0, "failed": 0, "errors": {}, "received": 0}
    ready_at = time.monotonic()

    async def subscriber(slot: int) -> None:
        protocol = FANOUT_PROTOCOLS[(index + slot) % len(FANOUT_PROTOCOLS)]
        try:
            reader, writer = await asyncio.wait_for(open_connection(protocol, ports, "fan/t", source), HANDSHAKE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001
            stats["failed"] += 1
            key = f"{protocol}: {type(exc).__name__}: {str(exc)[:80]}"
            stats["errors"][key] = stats["errors"].get(key, 0) + 1
            return
        stats["subscribed"] += 1
        end = ready_at + seconds + 30
        try:
            while time.monotonic() < end:
                remaining = end - time.monotonic()
                if protocol == "nats":
                    line = await asyncio.wait_for(reader.readuntil(b"\r\n"), remaining)
                    if line.startswith(b"PING"):
                        writer.write(b"PONG\r\n")
                        continue
                    if not line.startswith(b"MSG"):
                        continue
                    size = int(line.split()[-1])
                    payload = (await reader.readexactly(size + 2))[:-2]
                elif protocol == "mqtt":
                    first = (await asyncio.wait_for(reader.readexactly(1), remaining))[0]
                    length, shift = 0, 0
                    while True:
                        byte = (await reader.readexactly(1))[0]
                        length |= (byte & 0x7F) << shift
                        shift += 7
                        if not byte & 0x80:
                            break
                    body = await reader.readexactly(length)
                    if first >> 4 != 3:
                        continue
                    (topic_length,) = struct.unpack(">H", body[:2])
                    payload = body[2 + topic_length :]
                else:
                    opcode, frame = await asyncio.wait_for(ws_read(reader), remaining)
                    if opcode == 9:  # the server's ping wants a pong within its window
                        writer.write(ws_frame(frame.decode(errors="replace"), opcode=10))
                        continue
                    if opcode != 1:
                        continue
                    message = json.loads(frame)
                    if message.get("type") != "message":
                        continue
                    # A payload that is no JSON document (NATS sends bare bytes) comes as "text".
                    payload = str(message.get("data", message.get("text"))).encode()
                now = time.time_ns()
                if payload == b"end":
                    return
                latencies.append((now - int(payload)) / 1e6)
                stats["received"] += 1
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            key = f"{protocol}: {type(exc).__name__}"
            stats["errors"][key] = stats["errors"].get(key, 0) + 1
        finally:
            writer.close()

    tasks = []
    for slot in range(connections):
        tasks.append(asyncio.create_task(subscriber(slot)))
        if slot % 200 == 199:
            await asyncio.sleep(0.05)
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.gather(*tasks)
    latencies.sort()
    stats["latencies"] = latencies
    return stats


def worker_main(args: argparse.Namespace) -> None:
    raise_fd_limit()
    ports = json.loads(args.ports)
    work = churn_worker if args.mode == "churn" else fanout_worker
    result = asyncio.run(work(ports, args.connections, args.seconds, args.source, args.index))
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------- the server side


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def spawn_workers(mode: str, ports: dict[str, int], connections: int, seconds: float, workers: int) -> list:
    per = [connections // workers + (1 if i < connections % workers else 0) for i in range(workers)]
    procs = []
    for index, count in enumerate(per):
        command = [
            sys.executable, __file__, "worker", "--mode", mode, "--ports", json.dumps(ports), "--connections",
            str(count), "--seconds", str(seconds), "--source", f"127.0.0.{10 + index}", "--index", str(index),
        ]
        procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    return procs


def collect(procs: list, timeout: float) -> list[dict]:
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        results.append(json.loads(lines[-1]) if lines else {"failed": -1, "errors": {"worker exited": proc.returncode}})
    return results


def merge_errors(results: list[dict]) -> dict:
    errors: dict[str, int] = {}
    for result in results:
        for key, count in result.get("errors", {}).items():
            errors[key] = errors.get(key, 0) + count
    return errors


def settle(pid: int, baseline_fds: int, seconds: float) -> tuple[int, int]:
    """Waits up to `seconds` for the descriptors to come back to the baseline; then the RSS, once the server
    has had the time to give free memory back (it looks every 5 s: ServerApp's `MemoryReturn`)."""
    deadline = time.monotonic() + seconds
    while fd_count(pid) > baseline_fds and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(min(11.0, seconds))
    return fd_count(pid), rss_kib(pid)


def start_server(workdir: Path):
    from interop import Server  # the interop suite's managed server: free ports, health wait, log

    raise_fd_limit()
    # The handshake deadlines are a minute, not 10 s: a packet capture of a 6,000-connection churn showed every
    # connection the server closed first closed at 10 s, the server answering each client step within 9 ms and
    # the Python client taking seconds between steps (or 11 s before its first byte, when its event loop
    # stalled). Those are the clients' failures; the client's own 20 s handshake timeout still counts them.
    config = {
        "limits": {"max_connections": 19_000, "http_request_timeout_seconds": 60},
        "mqtt": {"connect_timeout_seconds": 60},
        "stomp": {"connect_timeout_seconds": 60},
        "amqp": {"handshake_timeout_seconds": 60},
        "history": [{"filter": "chat/#", "count": 100}],
    }
    server = Server(workdir, config=config).start()
    ports = {"http": server.port, **server.ports}
    return server, ports


def measure_churn(server, seconds: float, spawn, gather):
    """The churn's frame, whoever its clients are: a warm-up churn of the same size (a tenth of the run, 10–60 s,
    so the baseline holds what the allocator keeps after a first peak of connections: its high-water mark, not
    a leak), the baseline once the server settles, the run with the server's descriptors and RSS sampled every
    second, and both again once it settles after. `spawn(seconds)` starts the clients; `gather(procs, timeout)`
    collects what they report. Stops the server; returns (reports, fds, rss, alive, refusals)."""
    pid = server.proc.pid
    try:
        cold_fds, cold_rss = fd_count(pid), rss_kib(pid)
        gather(spawn(min(60.0, max(10.0, seconds / 10))), 300)
        baseline_fds, baseline_rss = settle(pid, cold_fds, 30)
        procs = spawn(seconds)
        peak_fds, peak_rss, started = 0, 0, time.monotonic()
        while any(proc.poll() is None for proc in procs):
            peak_fds, peak_rss = max(peak_fds, fd_count(pid)), max(peak_rss, rss_kib(pid))
            time.sleep(1.0)
            if time.monotonic() - started > seconds + 120:
                break
        reports = gather(procs, 60)
        after_fds, after_rss = settle(pid, baseline_fds, 60)
        alive = server.alive()
        refusals = refusal_counts(server) if alive else {}
    finally:
        server.stop()
    fds = {"cold": cold_fds, "baseline": baseline_fds, "peak": peak_fds, "after": after_fds}
    rss = {"cold": cold_rss, "baseline": baseline_rss, "peak": peak_rss, "after": after_rss}
    return reports, fds, rss, alive, refusals


def churn(args: argparse.Namespace) -> dict:
    server, ports = start_server(Path(tempfile.mkdtemp(prefix="sb-soak-")))
    results, fds, rss, alive, refusals = measure_churn(
        server, args.seconds, lambda seconds: spawn_workers("churn", ports, args.connections, seconds, args.workers),
        collect)
    baseline_fds, after_fds = fds["baseline"], fds["after"]
    baseline_rss, after_rss = rss["baseline"], rss["after"]
    opened = sum(r.get("opened", 0) for r in results)
    failed = sum(r.get("failed", 0) for r in results)
    rss_change = (after_rss - baseline_rss) / baseline_rss
    ok = alive and after_fds <= baseline_fds and abs(rss_change) <= 0.05 and failed <= opened * 0.001
    return {
        "test": "churn", "connections": args.connections, "seconds": args.seconds, "workers": args.workers,
        "opened": opened, "failed": failed, "errors": merge_errors(results),
        "peak_open_per_worker_sum": sum(r.get("peak", 0) for r in results),
        "client_max_loop_lag_s": max((r.get("max_loop_lag", 0) for r in results), default=0),
        "fds": fds, "rss_kib": rss,
        "rss_change_percent": round(rss_change * 100, 2), "server_alive": alive, "ok": ok,
        "server_refusals": refusals,
    }


# The compiled churn's clients: one load-generator process per protocol.
CHURN_COMPILED_PROTOCOLS = ["ws", "sse", "mqtt", "nats", "stomp", "amqp"]


def spawn_compiled_churn(bench: Path, ports: dict[str, int], connections: int, seconds: float) -> list:
    """One `switchboard-bench churn --lifetime` process per protocol, holding `connections` between them at the
    Python churn's total rate (five workers at CHURN_CONNECTS_PER_SECOND each), each connection living a random
    0.125–1.875 times the mean lifetime that gives that rate; the workers start at the same rate."""
    share = [connections // len(CHURN_COMPILED_PROTOCOLS) + (1 if i < connections % len(CHURN_COMPILED_PROTOCOLS) else 0)
             for i in range(len(CHURN_COMPILED_PROTOCOLS))]
    mean_lifetime = max(1.6, connections / (5 * CHURN_CONNECTS_PER_SECOND))
    procs = []
    for protocol, count in zip(CHURN_COMPILED_PROTOCOLS, share):
        port = ports["http"] if protocol in ("ws", "sse") else ports[protocol]
        procs.append(subprocess.Popen(
            [str(bench), "churn", "--protocol", protocol, "--connections", str(count), "--lifetime", str(mean_lifetime),
             "--rate", str(count / mean_lifetime), "--count", "1000000000", "--duration", str(seconds),
             "--channel", f"churn-{protocol}", "--port", str(port), "--threads", "1", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    return procs


def collect_compiled(procs: list, timeout: float) -> dict[str, dict]:
    reports = {}
    for protocol, proc in zip(CHURN_COMPILED_PROTOCOLS, procs):
        out, _ = proc.communicate(timeout=timeout)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        reports[protocol] = json.loads(lines[-1]) if lines else {"errors": 1, "last_error": f"no report ({proc.returncode})"}
    return reports


def churn_compiled(args: argparse.Namespace) -> dict:
    """`churn` with compiled clients (the load generator): the Python clients' own event loops fell up to 19 s
    behind at 18,000 connections, so their 20 s handshake timeouts measured the clients. Same server, same
    warm-up, baseline and bars; a handshake not done in 20 s is still a failure."""
    bench = bench_binary()
    server, ports = start_server(Path(tempfile.mkdtemp(prefix="sb-churn-compiled-")))
    reports, fds, rss, alive, refusals = measure_churn(
        server, args.seconds, lambda seconds: spawn_compiled_churn(bench, ports, args.connections, seconds),
        collect_compiled)
    baseline_fds, after_fds = fds["baseline"], fds["after"]
    baseline_rss, after_rss = rss["baseline"], rss["after"]
    per_protocol = {}
    for protocol, report in reports.items():
        latency = report.get("latency_microseconds") or {}
        per_protocol[protocol] = {
            "opened": round(report.get("connects_per_second", 0) * report.get("elapsed_seconds", 0)),
            "failed": report.get("errors", 0), "last_error": report.get("last_error"),
            "handshake_ms": {q: round(latency.get(q, -1000) / 1000, 2) for q in ("p50", "p99", "max")},
        }
    opened = sum(r["opened"] for r in per_protocol.values())
    failed = sum(r["failed"] for r in per_protocol.values())
    rss_change = (after_rss - baseline_rss) / baseline_rss
    ok = alive and after_fds <= baseline_fds and abs(rss_change) <= 0.05 and opened > 0 and failed <= opened * 0.001
    return {
        "test": "churn-compiled", "connections": args.connections, "seconds": args.seconds,
        "opened": opened, "failed": failed, "protocols": per_protocol,
        "fds": fds, "rss_kib": rss,
        "rss_change_percent": round(rss_change * 100, 2), "server_alive": alive, "ok": ok,
        "server_refusals": refusals,
    }


def refusal_counts(server) -> dict[str, float]:
    """The server's own count of connections it closed at the door (warm-up included), by reason: which
    limit a failed handshake met, if any."""
    counts: dict[str, float] = {}
    for line in server.get("/metrics").text.splitlines():
        if line.startswith(("switchboard_connection_limit_refusals_total", "switchboard_connections_refused_total")):
            name, _, value = line.rpartition(" ")
            counts[name] = counts.get(name, 0) + float(value)
    return counts


def fanout(args: argparse.Namespace) -> dict:
    import socket

    server, ports = start_server(Path(tempfile.mkdtemp(prefix="sb-fanout-")))
    pid = server.proc.pid
    try:
        baseline_rss = rss_kib(pid)
        procs = spawn_workers("fanout", ports, args.connections, args.seconds, args.workers)
        for proc in procs:  # every worker has started its subscribers
            proc.stdout.readline()
        # Until every subscription is in (or a minute passes): /api/channels counts them.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counts = server.get("/api/channels").json()
            total = sum(c.get("subscribers", 0) for c in counts.get("channels", []) if c.get("channel") == "fan/t")
            if total >= args.connections:
                break
            time.sleep(1.0)
        subscribed_rss = rss_kib(pid)
        publisher = socket.create_connection(("127.0.0.1", ports["nats"]))
        publisher.recv(4096)
        publisher.sendall(b'CONNECT {"verbose":false}\r\n')
        sent, peak_rss = 0, subscribed_rss
        start = time.monotonic()
        while time.monotonic() - start < args.seconds:
            payload = str(time.time_ns()).encode()
            publisher.sendall(b"PUB fan.t %d\r\n%s\r\n" % (len(payload), payload))
            sent += 1
            peak_rss = max(peak_rss, rss_kib(pid))
            time.sleep(max(0.0, start + sent - time.monotonic()))
        time.sleep(2.0)
        publisher.sendall(b"PUB fan.t 3\r\nend\r\n")
        results = collect(procs, 120)
        publisher.close()
        alive = server.alive()
    finally:
        server.stop()
    latencies = sorted(x for r in results for x in r.get("latencies", []))
    subscribed = sum(r.get("subscribed", 0) for r in results)
    received = sum(r.get("received", 0) for r in results)

    def quantile(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2) if latencies else -1

    per_connection = (subscribed_rss - baseline_rss) * 1024 / max(1, subscribed)
    lost = args.connections * sent - received
    ok = (
        alive and subscribed == args.connections and lost == 0 and 0 <= quantile(0.99) < args.p99_bar_ms
        and per_connection < 1 << 20
    )
    return {
        "test": "fanout", "connections": args.connections, "seconds": args.seconds, "workers": args.workers,
        "subscribed": subscribed, "sent": sent, "received": received, "lost": lost,
        "latency_ms": {"p50": quantile(0.5), "p99": quantile(0.99), "max": round(latencies[-1], 2) if latencies else -1},
        "rss_kib": {"baseline": baseline_rss, "subscribed": subscribed_rss, "peak": peak_rss},
        "rss_bytes_per_connection": round(per_connection), "p99_bar_ms": args.p99_bar_ms,
        "errors": merge_errors(results), "server_alive": alive,
        "ok": ok,
    }


def bench_binary() -> Path:
    path = Path(os.environ.get("SWITCHBOARD_BENCH", REPO / "Benchmarks/LoadGenerator/.build/release/switchboard-bench"))
    if not path.exists():
        subprocess.run(["swift", "build", "-c", "release", "--package-path", str(REPO / "Benchmarks/LoadGenerator")],
                       check=True, stdout=subprocess.DEVNULL)
    return path


def fanout_compiled(args: argparse.Namespace) -> dict:
    bench = bench_binary()
    server, ports = start_server(Path(tempfile.mkdtemp(prefix="sb-fanout-compiled-")))
    pid = server.proc.pid
    protocols = ["nats", "mqtt", "ws"]
    share = [args.connections // 3 + (1 if i < args.connections % 3 else 0) for i in range(3)]
    try:
        baseline_rss = rss_kib(pid)
        procs = []
        for protocol, subscribers in zip(protocols, share):
            port = ports["http"] if protocol == "ws" else ports[protocol]
            procs.append(subprocess.Popen(
                [str(bench), "fanout", "--protocol", protocol, "--subscribers", str(subscribers), "--publishers", "1",
                 "--rate", "1", "--count", str(int(args.seconds)), "--size", "64", "--duration", str(args.seconds + 60),
                 "--channel", f"soak-{protocol}", "--port", str(port), "--threads", "1", "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
        peak_rss = baseline_rss
        while any(proc.poll() is None for proc in procs):
            peak_rss = max(peak_rss, rss_kib(pid))
            time.sleep(0.5)
        reports = []
        for protocol, proc in zip(protocols, procs):
            lines = [line for line in proc.stdout.read().splitlines() if line.startswith("{")]
            reports.append((protocol, json.loads(lines[-1]) if lines else {"errors": 1, "last_error": "no report"}))
        alive = server.alive()
    finally:
        server.stop()
    per_protocol = {}
    for protocol, report in reports:
        latency = report.get("latency_microseconds") or {}
        per_protocol[protocol] = {
            "subscribers": report.get("subscribers", 0), "sent": report.get("sent", 0),
            "received": report.get("delivered", 0),
            "lost": report.get("expected_deliveries", 0) - report.get("delivered", 0),
            "latency_ms": {q: round(latency.get(q, -1000) / 1000, 2) for q in ("p50", "p99", "max")},
            "errors": report.get("errors", 0), "last_error": report.get("last_error"),
        }
    subscribed = sum(r["subscribers"] for r in per_protocol.values())
    lost = sum(r["lost"] for r in per_protocol.values())
    worst_p99 = max(r["latency_ms"]["p99"] for r in per_protocol.values())
    per_connection = (peak_rss - baseline_rss) * 1024 / max(1, subscribed)
    ok = (
        alive and subscribed == args.connections and lost == 0 and 0 <= worst_p99 < args.p99_bar_ms
        and per_connection < 1 << 20 and all(r["errors"] == 0 for r in per_protocol.values())
    )
    return {
        "test": "fanout-compiled", "connections": args.connections, "seconds": args.seconds,
        "subscribed": subscribed, "lost": lost, "protocols": per_protocol,
        "rss_kib": {"baseline": baseline_rss, "peak": peak_rss}, "rss_bytes_per_connection": round(per_connection),
        "p99_bar_ms": args.p99_bar_ms, "server_alive": alive, "ok": ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["churn", "churn-compiled", "fanout", "fanout-compiled", "worker"])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--p99-bar-ms", dest="p99_bar_ms", type=float, default=100, help="fan-out p99 bar (ms)")
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--source", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.mode == "worker":
        worker_args = argparse.ArgumentParser()
        worker_args.add_argument("worker")
        worker_args.add_argument("--mode")
        for name in ("--ports", "--source"):
            worker_args.add_argument(name)
        for name in ("--connections", "--index"):
            worker_args.add_argument(name, type=int)
        worker_args.add_argument("--seconds", type=float)
        worker_main(worker_args.parse_args())
        return
    # Each client process holds at most connections/workers sockets: keep it well under 20,000.
    args.workers = max(args.workers, -(-args.connections // 4000))
    result = {"churn": churn, "churn-compiled": churn_compiled, "fanout": fanout,
              "fanout-compiled": fanout_compiled}[args.mode](args)
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
