"""Benchmarks/peers/socketio-hub.py PORT — the python-socketio peer for the socketio-* scenarios.

python-socketio's AsyncServer on aiohttp (Engine.IO v4 polling and WebSocket at /socket.io/), one process
and one thread, on uvloop when it is installed. It speaks the part of Switchboard's Socket.IO vocabulary
(docs/protocols/socketio.md) the load generator uses, with the same shapes:

- `subscribe` "chan" or {"channel": "chan", "history": N} → enter_room(chan); ack
  {"channel", "offset", "epoch", "messages": [the last N deliveries]}
- `unsubscribe` "chan" or {"channel": "chan"} → leave_room(chan); ack {"channel"}
- `publish` {"channel", "data", "event"?} → emit(event or "message", {"type": "message", "channel",
  "data", "event"?, "offset", "epoch"}, to=chan); ack {"channel", "offset", "epoch"} when asked

Offsets count each channel's publishes and the last HISTORY deliveries of a channel are kept in memory,
so a subscriber can ask for history as on Switchboard. There is no connection state recovery (so no
trailing offset argument on deliveries) and no persistence. Run by Benchmarks/compare from the venv it
makes (Benchmarks/peers/requirements-socketio.txt).
"""

import collections
import sys

import socketio
from aiohttp import web

HISTORY = 1000
EPOCH = "socketio-peer"


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 28091
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    # The reference defaults (pingInterval 25 s, pingTimeout 20 s, maxHttpBufferSize 1 MB); CORS open as
    # Switchboard's default; no logging on the hot path.
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*", logger=False,
                               engineio_logger=False)
    app = web.Application()
    sio.attach(app, socketio_path="socket.io")
    offsets = collections.defaultdict(int)
    history = collections.defaultdict(lambda: collections.deque(maxlen=HISTORY))

    def channel_of(request):
        if isinstance(request, str):
            return request
        if isinstance(request, dict) and isinstance(request.get("channel"), str):
            return request["channel"]
        return None

    def refusal(code, message):
        return {"error": {"code": code, "message": message}}

    @sio.on("subscribe")
    async def subscribe(sid, request=None):
        channel = channel_of(request)
        if channel is None:
            return refusal("bad_request", "a channel is required")
        if channel in sio.rooms(sid):
            return refusal("already_subscribed", f"already subscribed to {channel}")
        await sio.enter_room(sid, channel)
        count = request.get("history", 0) if isinstance(request, dict) else 0
        messages = list(history[channel])[-count:] if isinstance(count, int) and count > 0 else []
        return {"channel": channel, "offset": offsets[channel], "epoch": EPOCH, "messages": messages}

    @sio.on("unsubscribe")
    async def unsubscribe(sid, request=None):
        channel = channel_of(request)
        if channel is None:
            return refusal("bad_request", "a channel is required")
        if channel not in sio.rooms(sid):
            return refusal("not_found", f"not subscribed to {channel}")
        await sio.leave_room(sid, channel)
        return {"channel": channel}

    @sio.on("publish")
    async def publish(sid, request=None):
        channel = channel_of(request)
        if channel is None or not isinstance(request, dict):
            return refusal("bad_request", "a channel is required")
        offsets[channel] += 1
        offset = offsets[channel]
        message = {"type": "message", "channel": channel, "data": request.get("data")}
        event = request.get("event")
        if isinstance(event, str):
            message["event"] = event
        message["offset"] = offset
        message["epoch"] = EPOCH
        history[channel].append(message)
        await sio.emit(event if isinstance(event, str) else "message", message, to=channel)
        # Returned to the client as the ack when it asked for one (python-socketio drops it otherwise).
        return {"channel": channel, "offset": offset, "epoch": EPOCH}

    # shutdown_timeout: compare stops the peer with SIGTERM once the tool has closed its connections.
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, shutdown_timeout=1)


if __name__ == "__main__":
    main()
