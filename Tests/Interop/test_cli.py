"""The switchboard CLI: publish and subscribe against a running server, and
serve's flag/env/file precedence."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import threading
import time

import pytest

from interop import Server, run, switchboard_bin, unique, ws_clients

CLI_TIMEOUT = 15


def _cli(*args, input=None, timeout=CLI_TIMEOUT):
    return subprocess.run(
        [str(switchboard_bin()), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _LineReader:
    """Reads a subprocess's stdout lines in a thread so reads can time out."""

    def __init__(self, proc):
        self.proc = proc
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        self.skipped: list = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout=5.0):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output line within {timeout}s") from None
        if line is None:
            raise AssertionError(f"subscriber exited ({self.proc.poll()}): {self.proc.stderr.read()[:500]}")
        return line

    def next_message(self, timeout=5.0):
        """The next printed push of type "message" (every line must be JSON;
        other pushes such as presence join/leave are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(max(0.05, deadline - time.monotonic()))
            try:
                obj = json.loads(line)
            except ValueError:
                raise AssertionError(f"subscriber printed a non-JSON line: {line!r}") from None
            if obj.get("type") == "message":
                return obj
            self.skipped.append(obj)


def _wait_subscribed(server, channel, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = server.get("/api/channels").json()["channels"]
        if any(r["channel"] == channel and r["subscribers"] >= 1 for r in rows):
            return
        time.sleep(0.1)
    raise AssertionError(f"CLI subscriber never appeared on {channel}")


# ---------------------------------------------------------------- publish


@pytest.mark.parametrize(
    "arg,expected",
    [('{"a":1,"b":[true,null]}', {"a": 1, "b": [True, None]}), ("42", 42), ("hello world", "hello world")],
    ids=["json-object", "json-number", "plain-text"],
)
def test_cli_publish(server, arg, expected):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as sub:
            await sub.subscribe(ch)
            p = await _acli("publish", ch, arg, "--url", server.http_url)
            assert p.returncode == 0, f"exit {p.returncode}\nstdout {p.stdout}\nstderr {p.stderr}"
            assert (await sub.message(ch))["data"] == expected

    run(body())


def test_cli_publish_from_stdin(server):
    ch = f"chat/{unique()}"

    async def body():
        async with ws_clients(server.ws_url) as sub:
            await sub.subscribe(ch)
            p = await _acli("publish", ch, "-", "--url", server.http_url, input='{"from":"stdin"}\n')
            assert p.returncode == 0, f"exit {p.returncode}\nstderr {p.stderr}"
            assert (await sub.message(ch))["data"] == {"from": "stdin"}

    run(body())


def test_cli_publish_api_key(make_server):
    srv = make_server({"api_key": "k1"})
    ch = f"chat/{unique()}"
    ok = _cli("publish", ch, "1", "--url", srv.http_url, "--api-key", "k1")
    assert ok.returncode == 0, ok.stderr
    denied = _cli("publish", ch, "2", "--url", srv.http_url)
    assert denied.returncode != 0, "publish without the API key must fail"
    h = srv.get("/api/history", params={"channel": ch, "limit": 10}, headers={"X-API-Key": "k1"}).json()
    assert [m["data"] for m in h["messages"]] == [1], h


def test_cli_publish_unreachable_server_fails():
    from interop import free_port

    p = _cli("publish", "chat/x", "1", "--url", f"http://127.0.0.1:{free_port()}")
    assert p.returncode != 0


async def _acli(*args, **kwargs):
    import asyncio

    return await asyncio.to_thread(_cli, *args, **kwargs)


# ---------------------------------------------------------------- subscribe


def _spawn_subscriber(server, *args):
    proc = subprocess.Popen(
        [str(switchboard_bin()), "subscribe", *args, "--url", server.ws_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    return proc, _LineReader(proc)


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def test_cli_subscribe_prints_json_lines(server):
    ch = f"chat/{unique()}"
    proc, out = _spawn_subscriber(server, ch)
    try:
        _wait_subscribed(server, ch)
        server.publish(ch, {"n": 1})
        server.publish(ch, "two")
        first = out.next_message()
        second = out.next_message()
        assert first["type"] == "message" and first["channel"] == ch and first["data"] == {"n": 1}, first
        assert first["offset"] == 1 and isinstance(first["epoch"], str), first
        assert second["data"] == "two" and second["offset"] == 2, second
    finally:
        _stop(proc)


def test_cli_subscribe_wildcard(server):
    root = unique("w")
    proc, out = _spawn_subscriber(server, f"{root}/#")
    try:
        _wait_subscribed(server, f"{root}/#")
        server.publish(f"{root}/a/b", [1])
        line = out.next_message()
        assert line["channel"] == f"{root}/a/b" and line["data"] == [1], line
    finally:
        _stop(proc)


def test_cli_subscribe_with_history(server):
    ch = f"chat/{unique()}"
    for i in range(5):
        server.publish(ch, i)
    proc, out = _spawn_subscriber(server, ch, "--history", "2")
    try:
        got = [out.next_message()["data"] for _ in range(2)]
        assert got == [3, 4], got
        _wait_subscribed(server, ch)
        server.publish(ch, 5)
        assert out.next_message()["data"] == 5
    finally:
        _stop(proc)


# ---------------------------------------------------------------- serve flags / env / file precedence


def test_serve_history_and_presence_flags(make_server):
    u = unique()
    srv = make_server(
        {}, replace=True, args=["--history", f"flag{u}/#=3,10m", "--presence", f"flag{u}/#"]
    )
    ch = f"flag{u}/room"
    for i in range(5):
        srv.publish(ch, i)
    h = srv.get("/api/history", params={"channel": ch, "limit": 100})
    assert h.status_code == 200, h.text
    assert [m["data"] for m in h.json()["messages"]] == [2, 3, 4], h.json()
    assert srv.get("/api/presence", params={"channel": ch}).status_code == 200
    # chat/# is not configured on this server
    assert srv.get("/api/history", params={"channel": "chat/x", "limit": 1}).status_code == 404


def test_serve_flag_beats_env_beats_file(make_server):
    # file says A, env says B, flag says C -> only C works
    srv = make_server({"api_key": "from-file"}, env={"SWITCHBOARD_API_KEY": "from-env"}, args=["--api-key", "from-flag"])
    for key, status in [("from-file", 401), ("from-env", 401), ("from-flag", 200)]:
        r = srv.get("/api/channels", headers={"X-API-Key": key})
        assert r.status_code == status, (key, r.status_code, r.text)


def test_serve_env_beats_file(make_server):
    srv = make_server({"api_key": "from-file"}, env={"SWITCHBOARD_API_KEY": "from-env"})
    assert srv.get("/api/channels", headers={"X-API-Key": "from-file"}).status_code == 401
    assert srv.get("/api/channels", headers={"X-API-Key": "from-env"}).status_code == 200


def _initial_environment(pid: int) -> bytes:
    """The environment the process was executed with, as /proc shows it. glibc's loader may cut
    GLIBC_TUNABLES apart in place (a NUL for each ':') once it has read it, so look for the bytes of one
    tunable, not for the whole value."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read()


def test_serve_runs_with_glibcs_thread_cache_enlarged(make_server):
    """`serve` executes itself again, once, in place (same PID) with glibc's per-thread cache of freed
    chunks at 1,024 a size (docs/operations.md, "Memory allocator"); a GLIBC_TUNABLES naming the count
    is the operator's and kept, other tunables are kept beside ours, and SWITCHBOARD_MALLOC_TUNING=off
    leaves the process as started."""
    ours = b"glibc.malloc.tcache_count=1024"
    tuned = make_server()
    assert ours in _initial_environment(tuned.proc.pid)
    kept = make_server(env={"GLIBC_TUNABLES": "glibc.malloc.tcache_count=64"})
    assert b"glibc.malloc.tcache_count=64" in _initial_environment(kept.proc.pid)
    assert ours not in _initial_environment(kept.proc.pid)
    beside = make_server(env={"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    environment = _initial_environment(beside.proc.pid)
    assert b"GLIBC_TUNABLES=glibc.malloc.arena_max=2" in environment and ours in environment
    off = make_server(env={"SWITCHBOARD_MALLOC_TUNING": "off"})
    assert ours not in _initial_environment(off.proc.pid)
    for srv in (tuned, kept, beside, off):
        srv.publish(f"alloc{unique()}/t", 1)  # each one serves


def test_a_drawn_port_taken_before_the_bind_is_drawn_again(tmp_path):
    """The harness itself (interop.Server.start): another process of a parallel run can take a drawn port
    between the draw and the server's bind, and the start then tries new ports instead of failing a test
    that has nothing to do with it."""
    srv = Server(tmp_path / "taken", extra_args=["--threads", "1"])
    taken = srv.ports["mqtt"]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        try:
            srv.start()
            assert srv.ports["mqtt"] != taken
            assert "Address already in use" in srv.tail(200)
            srv.publish(f"drawn{unique()}/t", 1)
        finally:
            srv.stop()


def test_serve_help_lists_options():
    p = _cli("serve", "--help")
    assert p.returncode == 0, p.stderr
    text = p.stdout + p.stderr
    for flag in ("--host", "--http-port", "--config", "--data-dir", "--history", "--presence", "--api-key", "--log-level"):
        assert flag in text, f"{flag} missing from serve --help"


def test_serve_history_flag_age_forms(make_server):
    u = unique()
    rules = [f"a{u}/#=5,600", f"b{u}/#=5,600s", f"c{u}/#=5,10m", f"d{u}/#=5,1h,1048576", f"e{u}/#=5"]
    args = []
    for r in rules:
        args += ["--history", r]
    srv = make_server({}, replace=True, args=args)
    for prefix in "abcde":
        ch = f"{prefix}{u}/x"
        for i in range(7):
            srv.publish(ch, i)
        h = srv.get("/api/history", params={"channel": ch, "limit": 100})
        assert h.status_code == 200, (ch, h.text)
        assert [m["data"] for m in h.json()["messages"]] == [2, 3, 4, 5, 6], (ch, h.json())
