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
