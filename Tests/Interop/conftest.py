"""Fixtures: a shared default server, a factory for servers with a custom
configuration, and failure reports that include the server log tail."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from interop import DEFAULT_CONFIG, Server, deep_merge, switchboard_bin


def pytest_report_header(config: pytest.Config) -> str:
    return f"switchboard binary: {switchboard_bin()}"


def _track(request: pytest.FixtureRequest, server: Server) -> None:
    servers = getattr(request.node, "_switchboard_servers", None)
    if servers is None:
        servers = []
        request.node._switchboard_servers = servers
    servers.append(server)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed:
        for server in getattr(item, "_switchboard_servers", []):
            state = "running" if server.alive() else f"exited with {server.proc.returncode if server.proc else None}"
            report.sections.append(
                (f"switchboard log tail [{server.name}, port {server.port}, {state}] {server.log_path}", server.tail())
            )
    return report


class _SharedServer:
    """The default-config server shared by tests that don't need their own
    configuration. Restarted if an earlier test crashed it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        self.server: Server | None = None

    def get(self) -> Server:
        if self.server is None or not self.server.alive():
            self.generation += 1
            self.server = Server(self.root / f"shared-{self.generation}", name=f"shared-{self.generation}").start()
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture(scope="session")
def _shared_server(tmp_path_factory: pytest.TempPathFactory):
    shared = _SharedServer(tmp_path_factory.mktemp("shared"))
    yield shared
    shared.stop()


@pytest.fixture
def server(request: pytest.FixtureRequest, _shared_server: _SharedServer) -> Server:
    """The shared server with the default configuration (history and presence on chat/#)."""
    srv = _shared_server.get()
    _track(request, srv)
    yield srv
    if not srv.alive():
        pytest.fail(f"the server died during this test (exit {srv.proc.returncode}); its log tail is in the report")


@pytest.fixture
def make_server(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Server]:
    """Start a dedicated server. `config` is deep-merged over the default
    configuration (pass replace=True to use it as is); `args` are extra CLI
    flags; `env` extra environment variables."""
    started: list[Server] = []

    def factory(
        config: dict[str, Any] | None = None,
        *,
        replace: bool = False,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        write_config: bool = True,
    ) -> Server:
        cfg = dict(config or {}) if replace else deep_merge(DEFAULT_CONFIG, config or {})
        name = f"custom-{len(started) + 1}"
        srv = Server(tmp_path / name, cfg, extra_args=args, env=env, name=name, write_config=write_config)
        _track(request, srv)
        started.append(srv)
        return srv.start()

    yield factory
    for srv in started:
        srv.stop()
