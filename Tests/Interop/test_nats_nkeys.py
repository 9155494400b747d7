"""Issue 27, NATS: NKey users and decentralised JWT credentials (operator → account → user), driven by
nats-py with `nkeys_seed=` and `user_credentials=`, keys and JWTs made here with the `nkeys` package.

nats-server's model: INFO carries a `nonce` when NKeys or trusted operators are configured; CONNECT
answers with `nkey` + `sig` (an NKey user) or `jwt` + `sig` (a user JWT); a refusal is
`-ERR 'Authorization Violation'` and close (docs/protocols/nats.md, "NKeys and JWT credentials")."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time

import nats
import nkeys
import pytest

from interop import run, unique
from security_support import JWT_SECRET, make_jwt

TIMEOUT = 5.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def keypair(prefix: int):
    return nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), prefix)))


def public(kp) -> str:
    return kp.public_key.decode()


def seed(kp) -> str:
    return kp.seed.decode()


def nats_jwt(signer, claims: dict, alg: str = "ed25519-nkey") -> str:
    """A NATS JWT as nats-io/jwt writes it: JSON claims, base64url, ed25519 over `header.payload`."""
    header = _b64(json.dumps({"typ": "JWT", "alg": alg}).encode())
    payload = _b64(json.dumps(claims).encode())
    return f"{header}.{payload}.{_b64(signer.sign(f'{header}.{payload}'.encode()))}"


def creds_file(path, user_jwt: str, user_kp) -> str:
    path.write_text(
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{seed(user_kp)}\n------END USER NKEY SEED------\n")
    return str(path)


class Operator:
    """An operator, one account it signed, and users that account issues."""

    def __init__(self) -> None:
        self.kp = keypair(nkeys.PREFIX_BYTE_OPERATOR)
        self.account = keypair(nkeys.PREFIX_BYTE_ACCOUNT)
        now = int(time.time())
        self.jwt = nats_jwt(self.kp, {"jti": unique("op"), "iat": now, "iss": public(self.kp),
                                      "sub": public(self.kp), "name": "op",
                                      "nats": {"type": "operator", "version": 2}})
        self.account_jwt = nats_jwt(self.kp, {"jti": unique("acc"), "iat": now, "iss": public(self.kp),
                                              "sub": public(self.account), "name": "acc",
                                              "nats": {"type": "account", "version": 2}})

    def user(self, *, signer=None, expires_in: float | None = None, **nats_claims):
        kp = keypair(nkeys.PREFIX_BYTE_USER)
        claims = {"jti": unique("u"), "iat": int(time.time()), "iss": public(signer or self.account),
                  "sub": public(kp), "name": "u", "nats": {"type": "user", "version": 2, **nats_claims}}
        if expires_in is not None:
            claims["exp"] = int(time.time() + expires_in)
        return nats_jwt(signer or self.account, claims), kp

    def security(self) -> dict:
        return {"trusted_operators": [self.jwt], "resolver_preload": {public(self.account): self.account_jwt}}


def raw_connect(srv, connect: dict) -> tuple[dict, bytes]:
    """INFO, then CONNECT + PING on a raw socket: (INFO, everything the server answered)."""
    with socket.create_connection(("127.0.0.1", srv.nats_port), timeout=TIMEOUT) as s:
        info = json.loads(s.recv(4096).decode().split(" ", 1)[1])
        s.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        answer = b""
        while True:
            try:
                chunk = s.recv(4096)
            except TimeoutError:
                break
            if not chunk:
                break
            answer += chunk
            if b"PONG" in answer:
                break
        return info, answer


def signed(kp, nonce: str) -> str:
    # nats.py sends padded standard base64; nats.go unpadded URL-safe: both are accepted.
    return base64.b64encode(kp.sign(nonce.encode())).decode()


# ----------------------------------------------------------------------------- NKey users


@pytest.fixture
def nkey_server(make_server, tmp_path):
    user = keypair(nkeys.PREFIX_BYTE_USER)
    seed_path = tmp_path / "user.nk"
    seed_path.write_text(seed(user) + "\n")
    srv = make_server({"security": {"users": [
        {"name": "device", "nkey": public(user),
         "publish": ["help", "_INBOX/#"], "subscribe": ["help", "_INBOX/#"],
         "acl": [{"permission": "deny", "action": "all", "topics": ["foo"]}]}]}})
    srv.user_kp, srv.seed_path = user, str(seed_path)
    return srv


def test_nkey_user_connects_with_its_seed_and_has_its_permissions(nkey_server):
    srv = nkey_server

    async def body():
        errors: asyncio.Queue = asyncio.Queue()

        async def on_error(e):
            await errors.put(e)

        for args in ({"nkeys_seed": srv.seed_path}, {"nkeys_seed_str": seed(srv.user_kp)}):
            nc = await nats.connect(srv.nats_url, error_cb=on_error, allow_reconnect=False, **args)
            try:
                async def help_handler(msg):
                    await msg.respond(b"OK!")

                await nc.subscribe("help", cb=help_handler)
                await nc.flush()
                assert (await nc.request("help", b"?", timeout=TIMEOUT)).data == b"OK!"
                # Denied by the user's rules: a permissions violation, and the connection stays.
                await nc.subscribe("foo")
                err = await asyncio.wait_for(errors.get(), TIMEOUT)
                assert 'permissions violation for subscription to "foo"' in str(err)
                assert (await nc.request("help", b"?", timeout=TIMEOUT)).data == b"OK!"
            finally:
                await nc.close()

    run(body())


def test_nkey_refusals_are_authorization_violations(nkey_server):
    srv = nkey_server
    info, answer = raw_connect(srv, {"verbose": False})
    assert info["auth_required"] is True
    nonce = info["nonce"]
    assert len(nonce) == 15  # 11 random bytes, base64url (nats-server's nonce)
    # No credentials at all.
    assert answer.startswith(b"-ERR 'Authorization Violation'\r\n"), answer
    # The right key, a signature of another nonce.
    info, answer = raw_connect(srv, {"nkey": public(srv.user_kp), "sig": signed(srv.user_kp, "not-the-nonce")})
    assert answer.startswith(b"-ERR 'Authorization Violation'\r\n"), answer
    # A key the server does not know, signing correctly.
    stranger = keypair(nkeys.PREFIX_BYTE_USER)
    with socket.create_connection(("127.0.0.1", srv.nats_port), timeout=TIMEOUT) as s:
        info = json.loads(s.recv(4096).decode().split(" ", 1)[1])
        connect = {"nkey": public(stranger), "sig": signed(stranger, info["nonce"])}
        s.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        assert s.recv(4096).startswith(b"-ERR 'Authorization Violation'\r\n")
        assert s.recv(4096) == b""  # closed
    # The right answer, unpadded URL-safe base64 (nats.go's form): accepted.
    with socket.create_connection(("127.0.0.1", srv.nats_port), timeout=TIMEOUT) as s:
        info = json.loads(s.recv(4096).decode().split(" ", 1)[1])
        sig = _b64(srv.user_kp.sign(info["nonce"].encode()))
        s.sendall(b"CONNECT " + json.dumps({"nkey": public(srv.user_kp), "sig": sig}).encode() + b"\r\nPING\r\n")
        assert s.recv(4096) == b"PONG\r\n"

    async def wrong_seed():
        other = keypair(nkeys.PREFIX_BYTE_USER)
        await nats.connect(srv.nats_url, nkeys_seed_str=seed(other), allow_reconnect=False,
                           max_reconnect_attempts=0, connect_timeout=TIMEOUT)

    with pytest.raises(Exception, match="(?i)authorization violation"):
        run(wrong_seed())


def test_no_nonce_without_nkeys_or_operators(server):
    with socket.create_connection(("127.0.0.1", server.nats_port), timeout=TIMEOUT) as s:
        info = json.loads(s.recv(4096).decode().split(" ", 1)[1])
    assert "nonce" not in info


# ----------------------------------------------------------------------------- decentralised JWT


@pytest.fixture
def operator_server(make_server):
    op = Operator()
    # This server's own JWTs (HS256) stay valid beside the operator's.
    srv = make_server({"security": {**op.security(), "jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}]}}})
    srv.operator = op
    return srv


def test_user_credentials_file_connects_with_the_jwt_permissions(operator_server, tmp_path):
    srv, op = operator_server, operator_server.operator
    user_jwt, user_kp = op.user(pub={"allow": ["help", "_INBOX.>"], "deny": ["help.secret"]},
                                sub={"allow": ["help", "_INBOX.>"]})

    async def body():
        errors: asyncio.Queue = asyncio.Queue()

        async def on_error(e):
            await errors.put(e)

        creds = creds_file(tmp_path / "user.creds", user_jwt, user_kp)
        (tmp_path / "u.jwt").write_text(user_jwt)
        (tmp_path / "u.nk").write_text(seed(user_kp))
        for credentials in (creds, (str(tmp_path / "u.jwt"), str(tmp_path / "u.nk"))):
            nc = await nats.connect(srv.nats_url, user_credentials=credentials, error_cb=on_error,
                                    allow_reconnect=False)
            try:
                async def help_handler(msg):
                    await msg.respond(b"OK!")

                await nc.subscribe("help", cb=help_handler)
                await nc.flush()
                assert (await nc.request("help", b"?", timeout=TIMEOUT)).data == b"OK!"
                await nc.publish("help.secret", b"x")
                err = await asyncio.wait_for(errors.get(), TIMEOUT)
                assert 'permissions violation for publish to "help.secret"' in str(err)
                await nc.subscribe("other")
                err = await asyncio.wait_for(errors.get(), TIMEOUT)
                assert 'permissions violation for subscription to "other"' in str(err)
            finally:
                await nc.close()

    run(body())


def test_jwt_refusals(operator_server):
    srv, op = operator_server, operator_server.operator

    def attempt(user_jwt: str, kp) -> bytes:
        with socket.create_connection(("127.0.0.1", srv.nats_port), timeout=TIMEOUT) as s:
            info = json.loads(s.recv(4096).decode().split(" ", 1)[1])
            connect = {"jwt": user_jwt, "sig": signed(kp, info["nonce"])}
            s.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
            return s.recv(4096)

    good, kp = op.user()
    assert attempt(good, kp) == b"PONG\r\n"
    # Signed by the wrong user key.
    assert attempt(good, keypair(nkeys.PREFIX_BYTE_USER)) == b"-ERR 'Authorization Violation'\r\n"
    # Expired.
    expired, kp = op.user(expires_in=-10)
    assert attempt(expired, kp) == b"-ERR 'Authorization Violation'\r\n"
    # Issued by an account no trusted operator signed.
    stranger = keypair(nkeys.PREFIX_BYTE_ACCOUNT)
    foreign, kp = op.user(signer=stranger)
    assert attempt(foreign, kp) == b"-ERR 'Authorization Violation'\r\n"
    # Claims changed after signing (a forgery).
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["nats"]["pub"] = {"allow": [">"]}
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    assert attempt(forged, kp) == b"-ERR 'Authorization Violation'\r\n"
    # No signature of the nonce at all.
    _, answer = raw_connect(srv, {"jwt": good})
    assert answer.startswith(b"-ERR 'Authorization Violation'\r\n"), answer


def test_jwt_expiry_closes_a_live_connection(operator_server, tmp_path):
    srv, op = operator_server, operator_server.operator
    user_jwt, user_kp = op.user(expires_in=2)

    async def body():
        closed = asyncio.Event()
        errors: list[Exception] = []

        async def on_error(e):
            errors.append(e)

        async def on_closed():
            closed.set()

        nc = await nats.connect(srv.nats_url, user_credentials=creds_file(tmp_path / "u.creds", user_jwt, user_kp),
                                error_cb=on_error, closed_cb=on_closed, allow_reconnect=False)
        await nc.flush()
        await asyncio.wait_for(closed.wait(), 8)
        # nats-py reports the -ERR as the connection's last error (error_cb is not always called).
        reported = [*errors, nc.last_error]
        assert any("user authentication expired" in str(e).lower() for e in reported), reported

    run(body())


def test_switchboard_jwt_in_the_jwt_field_still_works_beside_operators(operator_server):
    token = make_jwt("svc", grants={"pub": ["svc/#"], "sub": ["svc/#"]})
    _, answer = raw_connect(operator_server, {"jwt": token})
    assert answer == b"PONG\r\n"
    # and as auth_token, next to a NATS signature it does not need
    _, answer = raw_connect(operator_server, {"auth_token": token})
    assert answer == b"PONG\r\n"


def test_operator_configuration_mistakes_stop_the_server(make_server):
    op, rogue = Operator(), Operator()
    # An account JWT signed by an operator that is not trusted.
    with pytest.raises(RuntimeError, match="resolver_preload"):
        make_server({"security": {"trusted_operators": [op.jwt],
                                  "resolver_preload": {public(rogue.account): rogue.account_jwt}}})
