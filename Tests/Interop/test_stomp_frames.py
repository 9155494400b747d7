"""STOMP frame rules (STOMP 1.2 "Frames and Headers", as RabbitMQ's STOMP plugin): header escaping round
trips, the first of repeated headers wins, content-length bodies with NULs, content-type passes through,
the stomp.max_* limits, and malformed frames: ERROR (with receipt-id) and close, other sessions unharmed."""

from __future__ import annotations

import pytest

from interop import unique
from stomp_support import TRANSPORTS, Raw, Stock, encode, on_rabbitmq


def _pair(server, transport: str, version: str = "1.2") -> tuple[Raw, Raw]:
    sub, pub = Raw(server, transport), Raw(server, transport)
    sub.connect(version)
    pub.connect(version)
    return sub, pub


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("version,value", [
    ("1.2", "colon:newline\nback\\slash carriage\rreturn"),
    ("1.1", "colon:newline\nback\\slash"),
])
def test_header_escaping_round_trips(server, transport, version, value):
    sub, pub = _pair(server, transport, version)
    try:
        dest = f"/topic/{unique('esc')}"
        sub.request("SUBSCRIBE", {"destination": dest, "id": "s1"})
        pub.request("SEND", {"destination": dest, "x-odd": value, "x-plain": "ok"}, "b")
        msg = sub.message()
        assert msg["x-odd"] == value and msg["x-plain"] == "ok", msg
    finally:
        sub.close()
        pub.close()


def test_escaped_bytes_on_the_wire(server):
    sub, pub = _pair(server, "tcp")
    try:
        dest = f"/topic/{unique('wire')}"
        sub.request("SUBSCRIBE", {"destination": dest, "id": "s1"})
        pub.send_raw(b"SEND\ndestination:" + dest.encode() + b"\nreceipt:w\nx-esc:a\\cb\\nc\\\\d\\re\n\nbody\0")
        pub.expect("RECEIPT")
        assert sub.message()["x-esc"] == "a:b\nc\\d\re"
    finally:
        sub.close()
        pub.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_repeated_headers_first_wins(server, transport):
    sub, pub = _pair(server, transport)
    try:
        word = unique("rep")
        sub.request("SUBSCRIBE", {"destination": f"/topic/{word}.first", "id": "first"})
        sub.request("SUBSCRIBE", {"destination": f"/topic/{word}.second", "id": "second"})
        pub.request("SEND", [("destination", f"/topic/{word}.first"), ("destination", f"/topic/{word}.second"),
                             ("x-rep", "one"), ("x-rep", "two")], "r")
        msg = sub.message()
        assert msg["subscription"] == "first", msg
        assert [v for k, v in msg.header_list if k == "x-rep"][0] == "one", msg.header_list
        sub.nothing(0.2)
    finally:
        sub.close()
        pub.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binary_body_with_nuls_and_content_type(server, transport):
    if on_rabbitmq(server) and transport == "ws":
        pytest.skip("RabbitMQ's Web-STOMP sends this MESSAGE as a text frame that is not UTF-8 (ws_frame = text)")
    sub, pub = _pair(server, transport)
    body = b"\x00\x01binary\x00\xff\xfe" + bytes(range(256))
    try:
        dest = f"/queue/{unique('bin')}"
        sub.request("SUBSCRIBE", {"destination": dest, "id": "s1"})
        pub.request("SEND", {"destination": dest, "content-type": "application/octet-stream",
                             "content-length": str(len(body))}, body)
        msg = sub.message()
        assert msg.body == body
        assert msg["content-length"] == str(len(body)) and msg["content-type"] == "application/octet-stream"
    finally:
        sub.close()
        pub.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stock_client_binary_and_utf8(server, transport):
    dest = f"/topic/{unique('b')}"
    with Stock(server, "1.2", transport) as sub, Stock(server, "1.2", transport) as pub:
        sub.subscribe(dest, "s1")
        pub.send(dest, b"\x00nul\x00", content_type="application/x-bin")
        pub.send(dest, "h\u00e9llo \u4e2d \U0001f600".encode(), content_type="text/plain;charset=utf-8")
        first, second = sub.messages(2)
        assert first.body == b"\x00nul\x00" and first["content-type"] == "application/x-bin"
        assert second.body.decode() == "h\u00e9llo \u4e2d \U0001f600"
        assert second["content-type"] == "text/plain;charset=utf-8"


# ----------------------------------------------------------------------------- limits (Switchboard's settings)

LIMITS = {"stomp": {"max_header_bytes": 1024, "max_headers": 16, "max_body_bytes": 4096}}


@pytest.mark.switchboard_only
@pytest.mark.parametrize("case", ["header-bytes", "header-count", "body-bytes", "declared-length"])
def test_oversized_frames_are_refused_with_error_then_close(make_server, case):
    srv = make_server(LIMITS)
    bystander = Stock(srv)
    raw = Raw(srv)
    try:
        raw.connect("1.2")
        dest = f"/queue/{unique('lim')}"
        # Within every limit: fine.
        raw.request("SEND", {"destination": dest, "x-small": "y" * 100, **{f"h{i}": "v" for i in range(5)}}, b"z" * 1000)
        if case == "header-bytes":
            raw.send("SEND", {"destination": dest, "x-big": "y" * 4096}, "b")
        elif case == "header-count":
            raw.send("SEND", {"destination": dest, **{f"h{i}": "v" for i in range(64)}}, "b")
        elif case == "body-bytes":
            raw.send("SEND", {"destination": dest}, b"z" * 16384)
        else:  # a content-length beyond the limit is refused before the body is read
            raw.send_raw(b"SEND\ndestination:" + dest.encode() + b"\ncontent-length:100000000\n\n")
        raw.expect("ERROR")
        assert raw.wait_closed(), "the server closes after the ERROR"
        bystander.send("/topic/lim.other", "still served")
    finally:
        raw.close()
        bystander.disconnect()


# ----------------------------------------------------------------------------- malformed input

MALFORMED = {
    "header-without-colon": b"SEND\nreceipt:bad-1\ndestination:/queue/m\nno colon here\n\nx\0",
    "bad-escape": b"SEND\nreceipt:bad-1\ndestination:/queue/m\nx-h:tab\\there\n\nx\0",
    "bad-content-length": b"SEND\nreceipt:bad-1\ndestination:/queue/m\ncontent-length:ten\n\nx\0",
    "no-nul-after-content-length": b"SEND\nreceipt:bad-1\ndestination:/queue/m\ncontent-length:1\n\nxyz\0",
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_frame_closes_only_that_session(server, transport, case):
    dest = f"/topic/{unique('other')}"
    with Stock(server, "1.2", transport) as other:
        other.subscribe(dest, "s1")
        raw = Raw(server, transport)
        try:
            raw.connect("1.2")
            raw.send_raw(MALFORMED[case])
            assert raw.wait_closed(), f"still open after {case!r}"
            errors = [f for f in raw.seen if f.command == "ERROR"]
            if not on_rabbitmq(server):  # RabbitMQ closes without an ERROR frame
                assert errors, f"no ERROR before the close: {raw.seen}"
                assert errors[0].get("receipt-id") == "bad-1", errors[0]
                assert errors[0].get("message"), errors[0]
        finally:
            raw.close()
        other.send(dest, "unaffected")
        assert other.message().body == b"unaffected"


def test_unknown_command_is_an_error(server):
    raw = Raw(server)
    try:
        raw.connect("1.2")
        raw.send_raw(encode("FROB", {"receipt": "f1"}))
        error = raw.expect("ERROR")
        assert error.get("message"), error
    finally:
        raw.close()


def test_frame_before_connect_is_refused(server):
    raw = Raw(server)
    try:
        raw.send("SEND", {"destination": "/queue/x", "receipt": "early"}, "x")
        if not raw.wait_closed(1.0):  # RabbitMQ answers with an ERROR and stays open; either refuses it
            raw.expect("ERROR")
        assert not any(f.command == "RECEIPT" for f in raw.seen), raw.seen
    finally:
        raw.close()
