"""Graceful shutdown: SIGTERM/SIGINT -> every WebSocket client gets close 1001, exit 0."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from interop import run, unique, ws_clients


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_closes_clients_1001_and_exits_0(make_server, sig):
    srv = make_server()
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(srv.ws_url, 3) as clients:
            for c in clients[:2]:
                await c.subscribe(ch)
            t0 = time.monotonic()
            srv.proc.send_signal(sig)
            for c in clients:
                code = await c.wait_closed(5)
                assert code == 1001, f"close code {code} reason {c.close_reason!r}"
            code = await asyncio.to_thread(srv.wait_exit, 5)
            assert code is not None, f"still running {time.monotonic() - t0:.1f}s after {sig.name}"
            assert code == 0, f"exit status {code} after {sig.name}"

    run(body())


def test_sigterm_with_every_protocol_connected_exits_cleanly(make_server):
    """Every repeated task and keep-alive sweeper is a service of the group, stopped before the loops:
    nothing is scheduled on a loop that has shut down (NIO's "Cannot schedule tasks" error)."""
    import socket

    from mqtt_client import V5, Paho

    srv = make_server()
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(srv.ws_url, 1) as ws:
            await ws.subscribe(ch)
            nats = socket.create_connection(("127.0.0.1", srv.nats_port), timeout=5)
            nats.recv(4096)
            nats.sendall(b'CONNECT {"verbose":false}\r\nSUB chat.x 1\r\nPING\r\n')
            assert b"PONG" in nats.recv(4096)
            mqtt = Paho(srv.mqtt_port, V5)
            mqtt.subscribe(ch)
            await asyncio.sleep(1.5)  # past a keep-alive sweep and a metrics report
            srv.terminate()
            code = await asyncio.to_thread(srv.wait_exit, 10)
            assert code == 0, f"exit status {code}"
            nats.close()

    run(body())
    log = srv.tail(200)
    assert "Cannot schedule tasks" not in log, log
    assert "already shut down" not in log, log
