"""Every frontend's ports, enable/disable and settings are set the same generic way — config section,
SWITCHBOARD_<FRONTEND>_<KEY>, --port / --disable / --set — with today's spellings still working; serve
--help and docs/operations.md list them from one source."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from interop import free_port, switchboard_bin
from mqtt_client import Raw, client_id, connect_packet, publish_packet

REPO = Path(__file__).resolve().parents[2]


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return False
    except OSError:
        return True


def _too_large_closes(srv) -> None:
    raw = Raw(srv.mqtt_port)
    raw.send(connect_packet(client_id(), version=5))
    assert raw.expect(2)[1] == 0  # CONNACK success
    raw.send(publish_packet("big", b"x" * 2000))
    assert raw.expect(14)[0] == 0x95  # DISCONNECT Packet too large
    assert raw.closed()


def test_disable_removes_a_frontend_and_its_websocket_endpoint(make_server):
    srv = make_server(args=["--disable", "nats"])
    assert _refused(srv.nats_port)
    assert srv.get("/nats").status_code == 404
    assert srv.get("/mqtt").status_code == 426  # MQTT is still there, waiting for an upgrade


def test_disabled_in_the_config_section(make_server):
    srv = make_server({"nats": {"enabled": False}})
    assert _refused(srv.nats_port)


def test_settings_from_environment_and_set_flag(make_server):
    _too_large_closes(make_server(env={"SWITCHBOARD_MQTT_MAX_PACKET_SIZE": "1024"}))
    _too_large_closes(make_server(args=["--set", "mqtt.max_packet_size=1024"]))


def test_legacy_spellings_still_work(tmp_path):
    http, mqtt, nats = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [str(switchboard_bin()), "serve", "--host", "127.0.0.1", "--http-port", str(http), "--mqtt-port", str(mqtt),
         "--nats-port", str(nats), "--sse-keep-alive", "5", "--storage", "memory",
         # The frontends without a legacy flag get any free port: never a protocol's default.
         "--port", "amqp=0", "--port", "stomp=0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (_refused(http) or _refused(mqtt) or _refused(nats)):
            time.sleep(0.1)
        assert not _refused(http) and not _refused(mqtt) and not _refused(nats)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_unknown_key_in_a_section_is_refused_with_the_keys():
    p = subprocess.run(
        [str(switchboard_bin()), "serve", "--host", "127.0.0.1", "--port", "http=0", "--set", "mqtt.max_packet_sise=1"],
        capture_output=True, text=True, timeout=15,
    )
    assert p.returncode == 64, (p.returncode, p.stderr)
    assert "max_packet_size" in p.stderr, p.stderr


def test_help_and_docs_list_every_frontend_key():
    help_text = subprocess.run(
        [str(switchboard_bin()), "serve", "--help"], capture_output=True, text=True, timeout=15
    ).stdout
    settings = subprocess.run(
        [str(switchboard_bin()), "settings"], capture_output=True, text=True, timeout=15
    ).stdout
    docs = (REPO / "docs" / "operations.md").read_text()
    assert settings and settings in docs
    for line in settings.splitlines():
        if line.startswith("| `"):
            key = line.split("`")[1]
            assert key in help_text, f"{key} missing from serve --help"
