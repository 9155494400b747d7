"""RabbitMQ 3.10's STOMP plugin as the reference for the STOMP interop tests.

The STOMP tests (test_stomp_*.py) follow RabbitMQ's STOMP plugin, so they are first checked against it:
`Tests/Interop/stomp_against_rabbitmq.sh` starts a private RabbitMQ (its own node name, data, logs and
cookie under a temporary directory, every listener on a free loopback port, never the standard ones)
and runs those files with this module as a pytest plugin instead of conftest.py:

    pytest --noconftest -p stomp_rabbitmq Tests/Interop/test_stomp_*.py

Here `server` is a stand-in with the addresses the tests use (`stomp_port`, `stomp_ws_url`, `amqp_url`),
`make_server` returns the same broker where the test's configuration is one RabbitMQ can follow (users)
and skips otherwise, and tests marked `switchboard_only` (bridging to MQTT/NATS/WebSocket/SSE, settings
RabbitMQ does not have, JWTs) are skipped.

Run as a script it starts the broker and prints its ports until interrupted (for poking at it by hand):
    python Tests/Interop/stomp_rabbitmq.py
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from interop import listening

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQ_CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
BOOT_TIMEOUT = 120.0

# The one user the security tests configure (stomp_support.ALICE); created with rabbitmqctl.
USERS = {"alice": "alice-password"}


def _free_port(taken: list[int]) -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in taken:
            taken.append(port)
            return port



class RabbitMQ:
    """One private broker with the STOMP and Web-STOMP plugins (Benchmarks/compare starts its RabbitMQ the
    same way): node `sbtest-<random>@localhost`, AMQP, STOMP, Web-STOMP, Erlang distribution and epmd on
    free loopback ports, everything else under `directory`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = Path(directory or tempfile.mkdtemp(prefix="sbtest-rabbitmq-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        taken: list[int] = []
        self.amqp_port = _free_port(taken)
        self.stomp_port = _free_port(taken)
        self.web_stomp_port = _free_port(taken)
        self.dist_port = _free_port(taken)
        self.epmd_port = _free_port(taken)
        self.node = f"sbtest-{os.urandom(4).hex()}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        self.env = self._environment()

    def _environment(self) -> dict[str, str]:
        d = self.dir
        (d / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            "loopback_users = none\n"
            f"stomp.listeners.tcp.1 = 127.0.0.1:{self.stomp_port}\n"
            f"web_stomp.tcp.port = {self.web_stomp_port}\n"
            "web_stomp.tcp.ip = 127.0.0.1\n"
            # Switchboard serves STOMP over WebSocket at /stomp (RabbitMQ's default is /ws).
            "web_stomp.ws_path = /stomp\n"
        )
        (d / "enabled_plugins").write_text("[rabbitmq_stomp,rabbitmq_web_stomp].\n")
        (d / "rabbitmq-env.conf").write_text("")
        env = dict(os.environ)
        env.update({
            "HOME": str(d),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(d / "plugins-expand"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RUNNING_UNDER_SYSTEMD": "1",  # the launcher execs the VM, so SIGTERM stops it cleanly
            "ERL_CRASH_DUMP": str(d / "erl_crash.dump"),
        })
        return env

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RABBITMQ_CTL, "-n", self.node, *args], env=self.env, capture_output=True, text=True,
                              timeout=60, check=check)

    def start(self) -> "RabbitMQ":
        if not os.access(RABBITMQ_SERVER, os.X_OK):
            raise RuntimeError(f"{RABBITMQ_SERVER} missing: apt-get install rabbitmq-server")
        log = open(self.dir / "stdout.log", "ab")
        self.process = subprocess.Popen([RABBITMQ_SERVER], stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, env=self.env, cwd=str(self.dir),
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not (listening(self.stomp_port) and listening(self.web_stomp_port)):
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self.process.returncode}; see {self.dir}/log")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"RabbitMQ's STOMP listeners not up after {BOOT_TIMEOUT}s; see {self.dir}/log")
            time.sleep(0.2)
        self.ctl("await_startup", "--timeout", str(int(BOOT_TIMEOUT)))
        for name, password in USERS.items():
            self.ctl("add_user", name, password, check=False)
            self.ctl("set_permissions", "-p", "/", name, ".*", ".*", ".*")
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # The port mapper the VM started on a port of its own: nothing else uses it.
        subprocess.run(["epmd", "-port", str(self.epmd_port), "-kill"], env=self.env, capture_output=True, timeout=10)
        self.process = None

    def tail(self, max_lines: int = 60) -> str:
        logs = sorted((self.dir / "log").glob("*.log"))
        if not logs:
            return "<no RabbitMQ log>"
        return "\n".join(logs[0].read_text(errors="replace").splitlines()[-max_lines:])


class RabbitMQStandIn:
    """What the STOMP tests use of `interop.Server`, pointing at RabbitMQ."""

    rabbitmq = True
    name = "rabbitmq"

    def __init__(self, broker: RabbitMQ) -> None:
        self.broker = broker
        self.ports = {"stomp": broker.stomp_port, "amqp": broker.amqp_port}
        self.port = broker.web_stomp_port  # the "HTTP" port: RabbitMQ serves Web-STOMP on a port of its own
        self.log_path = broker.dir / "log"

    @property
    def stomp_port(self) -> int:
        return self.broker.stomp_port

    @property
    def amqp_port(self) -> int:
        return self.broker.amqp_port

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"

    @property
    def stomp_ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.broker.web_stomp_port}/stomp"

    def alive(self) -> bool:
        return self.broker.alive()

    def tail(self, max_lines: int = 60) -> str:
        return self.broker.tail(max_lines)


# --------------------------------------------------------------------------- pytest plugin


def pytest_configure(config: pytest.Config) -> None:
    # The security tests hash their passwords with the switchboard binary; RabbitMQ has the users already.
    import security_support

    security_support.hash_password = lambda password: "unused-on-rabbitmq"


def pytest_report_header(config: pytest.Config) -> str:
    return "STOMP tests against RabbitMQ 3.10 (stomp_rabbitmq.py stand-in for the server fixture)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="switchboard_only: not a RabbitMQ behaviour")
    for item in items:
        if item.get_closest_marker("switchboard_only"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    broker = getattr(item.config, "_stomp_rabbitmq", None)
    if report.failed and broker is not None:
        report.sections.append((f"RabbitMQ log tail {broker.dir}/log", broker.tail()))
    return report


class _Running(RabbitMQ):
    """A broker this module started earlier as a script (STOMP_RABBITMQ=<its directory>), for quick reruns."""

    def __init__(self, directory: str) -> None:
        self.dir = Path(directory)
        ports = dict(item.split("=") for item in (self.dir / "ports").read_text().split())
        self.amqp_port, self.stomp_port = int(ports["amqp"]), int(ports["stomp"])
        self.web_stomp_port = int(ports["web_stomp"])
        self.process = None

    def alive(self) -> bool:
        return listening(self.stomp_port)

    def stop(self) -> None:
        pass


@pytest.fixture(scope="session")
def _rabbitmq(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory):
    if os.environ.get("STOMP_RABBITMQ"):
        broker: RabbitMQ = _Running(os.environ["STOMP_RABBITMQ"])
    else:
        broker = RabbitMQ(tmp_path_factory.mktemp("rabbitmq")).start()
    pytestconfig._stomp_rabbitmq = broker
    yield broker
    broker.stop()


@pytest.fixture
def server(_rabbitmq: RabbitMQ) -> RabbitMQStandIn:
    yield RabbitMQStandIn(_rabbitmq)
    if not _rabbitmq.alive():
        pytest.fail("RabbitMQ died during this test")


@pytest.fixture
def make_server(_rabbitmq: RabbitMQ):
    def factory(config: dict[str, Any] | None = None, **_: Any) -> RabbitMQStandIn:
        config = config or {}
        if set(config) - {"security"} or set(config.get("security", {})) - {"users"}:
            pytest.skip(f"RabbitMQ cannot take this configuration: {sorted(config)}")
        return RabbitMQStandIn(_rabbitmq)

    return factory


def _stop_on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    # Handlers, not a blocked signal mask: the broker would inherit the mask and ignore SIGTERM.
    signal.signal(signal.SIGTERM, _stop_on_signal)
    broker = RabbitMQ().start()
    (broker.dir / "ports").write_text(
        f"amqp={broker.amqp_port} stomp={broker.stomp_port} web_stomp={broker.web_stomp_port}\n")
    print(f"RabbitMQ {broker.node}: amqp={broker.amqp_port} stomp={broker.stomp_port} "
          f"web-stomp=ws://127.0.0.1:{broker.web_stomp_port}/stomp dir={broker.dir}", flush=True)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
        shutil.rmtree(broker.dir, ignore_errors=True)
