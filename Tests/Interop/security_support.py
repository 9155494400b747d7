"""Helpers for the security tests: password hashes from the server binary, HS256 tokens made with the
standard library (RFC 7519), and a throwaway CA with server and client certificates made by the openssl
command line tool (no extra Python package)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import subprocess
import time
from pathlib import Path

from interop import switchboard_bin

JWT_SECRET = "interop-secret-0123456789abcdef-0123456789"
ISSUER = "switchboard-interop"


def hash_password(password: str) -> str:
    """`switchboard hash-password`, with few rounds so the suite stays fast."""
    out = subprocess.run(
        [str(switchboard_bin()), "hash-password", "--rounds", "1000"],
        input=password + "\n", capture_output=True, text=True, check=True, timeout=30,
    )
    return out.stdout.strip()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(sub: str | None, *, expires_in: float | None = 300, secret: str = JWT_SECRET, issuer: str | None = ISSUER,
             grants: dict | None = None, alg: str = "HS256", **claims) -> str:
    payload: dict = dict(claims)
    if sub is not None:
        payload["sub"] = sub
    if expires_in is not None:
        payload["exp"] = int(time.time() + expires_in)
    if issuer is not None:
        payload["iss"] = issuer
    if grants is not None:
        payload["switchboard"] = grants
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + _b64(json.dumps(payload).encode())
    signature = hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return signing_input + "." + _b64(signature)


class CertificateAuthority:
    """A CA, a server certificate for 127.0.0.1/localhost, and client certificates, all in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_cert = self.dir / "ca.pem"
        self.ca_key = self.dir / "ca-key.pem"
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "2", "-subj", "/CN=Switchboard Test CA")
        self.server_cert, self.server_key = self.issue("server", "localhost",
                                                       "subjectAltName=DNS:localhost,IP:127.0.0.1")

    def _openssl(self, *args) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)

    def issue(self, name: str, common_name: str, extension: str | None = None) -> tuple[Path, Path]:
        key, csr, cert = self.dir / f"{name}-key.pem", self.dir / f"{name}.csr", self.dir / f"{name}.pem"
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", key, "-out", csr, "-subj", f"/CN={common_name}")
        ext = self.dir / f"{name}.ext"
        ext.write_text((extension or "basicConstraints=CA:FALSE") + "\n")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key, "-CAcreateserial",
                      "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key

    def client_context(self, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        if cert is not None:
            context.load_cert_chain(str(cert[0]), str(cert[1]))
        return context
