"""Helpers for the AMQP interop tests: pika connections to a test server, draining a queue."""

from __future__ import annotations

import time
from typing import Any

import pika


def connect(server: Any, **params: Any) -> pika.BlockingConnection:
    parameters = pika.URLParameters(server.amqp_url)
    parameters.connection_attempts = 1
    parameters.socket_timeout = 5
    parameters.blocked_connection_timeout = 5
    for key, value in params.items():
        setattr(parameters, key, value)
    return pika.BlockingConnection(parameters)


def drain(channel: Any, queue: str, count: int, timeout: float = 5.0, ack: bool = True) -> list[tuple[Any, Any, bytes]]:
    """Consumes `count` messages from `queue` (acking them unless told not to)."""
    got: list[tuple[Any, Any, bytes]] = []
    deadline = time.monotonic() + timeout
    for method, properties, body in channel.consume(queue, inactivity_timeout=0.2):
        if method is not None:
            got.append((method, properties, body))
            if ack:
                channel.basic_ack(method.delivery_tag)
        if len(got) >= count or time.monotonic() > deadline:
            break
    channel.cancel()
    return got


def get_all(channel: Any, queue: str) -> list[bytes]:
    """Every ready message of `queue` through basic.get (auto-ack)."""
    bodies: list[bytes] = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body)


def pump(connection: pika.BlockingConnection, items: list, count: int, timeout: float = 5.0, quiet: float = 0.3) -> int:
    """Runs `connection`'s callbacks until `items` holds `count` entries (or `timeout`), then `quiet` seconds
    more so that one too many shows. `process_data_events(time_limit=…)` returns after the first batch of
    events, so a single call can miss a delivery written a moment later."""
    deadline = time.monotonic() + timeout
    while len(items) < count and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)
    end = time.monotonic() + quiet
    while (left := end - time.monotonic()) > 0:
        connection.process_data_events(time_limit=left)
    return len(items)
