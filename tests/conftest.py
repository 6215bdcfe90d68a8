"""Shared fixtures: the real server on an ephemeral port with the real model, and real speech from ../shared."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from callguard.v1 import callguard_pb2_grpc as pb_grpc

from features.corpus import Clip, read_labels, shared_data_dir
from service.server import RunningServer, build_deps, create_server
from service.session_deps import SessionDeps
from service.settings import Settings, load_settings
from tests.engines import Postgres, Redis

SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(
    not (SHARED / "ravdess" / "LABELS.csv").exists(),
    reason=f"real speech corpora not found at {SHARED} (set CALLGUARD_SHARED_DATA); a fresh clone has no ../shared",
)


@pytest.fixture(scope="session")
def ravdess() -> list[Clip]:
    if not (SHARED / "ravdess" / "LABELS.csv").exists():
        pytest.skip(f"RAVDESS not found under {SHARED}")
    return read_labels(SHARED / "ravdess" / "LABELS.csv")


@pytest.fixture(scope="session")
def casia() -> list[Clip]:
    if not (SHARED / "casia" / "LABELS.csv").exists():
        pytest.skip(f"CASIA not found under {SHARED}")
    return read_labels(SHARED / "casia" / "LABELS.csv")


@pytest.fixture(scope="session")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Tests stream calls at 8x real time while Whisper decodes on the same two cores. With the default 40 s of
    # analysis backlog a busy CI machine shed seconds of a call's audio (seen in CI: an outcome test read a
    # calmed customer as "not effective"), and shed analysis is what test_load_shedding measures, not these.
    return load_settings(env={}, port=0, http_port=0, data_dir=tmp_path_factory.mktemp("var"), analysis_queue_s=600.0)


@pytest.fixture(scope="session")
def deps(server_settings: Settings) -> Iterator[SessionDeps]:
    """The real model, loaded once for the whole run."""
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    built = build_deps(server_settings)
    yield built
    built.pool.close()
    built.store.close()


@pytest.fixture(scope="session")
def server(server_settings: Settings, deps: SessionDeps) -> Iterator[RunningServer]:
    running = create_server(server_settings, deps)
    yield running
    running.stop(grace_s=5)


@pytest.fixture(scope="session")
def address(server: RunningServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture()
def stub(address: str) -> Iterator[pb_grpc.CallMonitorStub]:
    with grpc.insecure_channel(address) as channel:
        yield pb_grpc.CallMonitorStub(channel)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A private PostgreSQL cluster for the whole run (make test installs Debian's postgresql)."""
    server = Postgres()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    server = Redis()
    yield server
    server.stop()
