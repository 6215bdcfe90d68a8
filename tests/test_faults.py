"""Faults: the server killed mid-call and restarted (then the call resumed), the disk filling up, the database
locked by another process. After each, every acknowledged byte is stored, the interrupted call is marked
INCOMPLETE, alerts already raised are still there, and the service serves again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from callguard.v1 import callguard_pb2 as pb
from callguard.v1 import callguard_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.audio.formats import AudioFormat, Encoding
from service.client import StreamOptions, fetch_audio, requests_for, stream_call
from service.domain import CallRecord, Role
from service.errors import StorageUnavailable
from service.escalation.alerts import Alert, AlertFilter, AlertStatus
from service.escalation.bus import AlertHub, InProcessBus
from service.escalation.policy import Level
from service.session_deps import SessionDeps
from service.storage import SqliteCallStore
from tests.calls import conversation, pick
from tests.servers import own_server
from tests.test_escalation import _switch_call


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(data_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port), "--http-port", "-1", "--data-dir",
         str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                if (
                    health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    return proc
            except grpc.RpcError:
                time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start")


@pytest.fixture(scope="module")
def long_call(ravdess):
    customer = pick(ravdess, speaker="ravdess_15", emotion="neutral", n=4)
    agent = pick(ravdess, speaker="ravdess_16", emotion="calm", n=4)
    return conversation(
        [x for pair in zip([(0, c) for c in customer], [(1, a) for a in agent], strict=True) for x in pair]
    )


def test_sigkill_mid_call_then_restart_and_resume(tmp_path, ravdess) -> None:
    port = _free_port()
    address = f"127.0.0.1:{port}"
    proc = _serve(tmp_path, port)
    acked: list[int] = []
    raised: list[pb.Alert] = []
    angry, _ = _switch_call(ravdess, "ravdess_17", "angry", agent="ravdess_18")
    sent = angry.audio.data
    options = StreamOptions(call_id="fault-kill", language="en", realtime=True, speed=4.0)
    killed = threading.Event()

    def stream() -> None:
        """Killed right after the first alert arrives: mid-call, with an alert and acknowledged audio."""
        try:
            with grpc.insecure_channel(address) as ch:
                for e in pb_grpc.CallMonitorStub(ch).StreamCall(requests_for(angry.audio, options)):
                    if e.WhichOneof("event") == "progress":
                        acked.append(e.progress.bytes_stored)
                    elif e.WhichOneof("event") == "escalation" and not killed.is_set():
                        raised.append(e.escalation)
                        proc.send_signal(signal.SIGKILL)
                        killed.set()
        except grpc.RpcError:
            pass  # the server died under it

    reader = threading.Thread(target=stream)
    reader.start()
    reader.join(timeout=120)
    assert killed.is_set() and proc.wait(timeout=10) == -signal.SIGKILL
    proc = _serve(tmp_path, port)  # restart on the same data
    try:
        with grpc.insecure_channel(address) as ch:
            stub = pb_grpc.CallMonitorStub(ch)
            before = stub.GetCall(pb.GetCallRequest(call_id="fault-kill"))
            summary = before.summary
            assert summary.status == pb.INCOMPLETE and "server stopped" in summary.end_reason
            assert raised[0].alert_id in {a.alert_id for a in before.alerts}  # the alert raised before the kill
            _, stored = fetch_audio(stub, "fault-kill")
            assert len(stored) >= max(acked) and stored == sent[: len(stored)]  # every acknowledged byte, exactly
            # the gateway resumes the call with the same id and sends the rest
            resume = StreamOptions(call_id="fault-kill", language="en", resume=True)
            events = list(stream_call(stub, angry.audio, resume, timeout_s=300))
            accepted = events[0].accepted
            assert accepted.resumed_from_s == pytest.approx(len(stored) // 2 / 8000, abs=1e-3)
            assert events[-1].ended.status == pb.COMPLETED
            _, whole = fetch_audio(stub, "fault-kill")
            assert whole == sent  # nothing lost, nothing doubled
            call = stub.GetCall(pb.GetCallRequest(call_id="fault-kill"))
            assert call.summary.status == pb.COMPLETED and call.segments
            late = [s for s in call.segments if s.start_s > accepted.resumed_from_s]
            assert late and all(s.end_s <= len(sent) / 2 / 8000 + 0.5 for s in late)  # times continue the call
            with pytest.raises(grpc.RpcError) as again:  # a completed call cannot be resumed
                list(stream_call(stub, angry.audio, resume, timeout_s=30))
            assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _own_server(deps: SessionDeps, data_dir: Path):
    running, own = own_server(deps, deps.settings.replace(data_dir=data_dir))
    return running, own.store


def test_disk_full_keeps_what_was_acknowledged_and_the_server_recovers(deps, tmp_path, long_call) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        running, store = _own_server(deps, mount / "var")
        try:
            filler = mount / "filler"
            free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
            filler.write_bytes(b"\0" * max(0, free - 100_000))  # leave ~100 kB: a few seconds of stereo G.711
            acked, codes = [], []
            with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
                stub = pb_grpc.CallMonitorStub(ch)
                options = StreamOptions(call_id="fault-disk", language="en", realtime=True, speed=8.0)
                try:
                    for e in stub.StreamCall(requests_for(long_call.audio, options), timeout=120):
                        if e.WhichOneof("event") == "progress":
                            acked.append(e.progress.bytes_stored)
                except grpc.RpcError as err:
                    codes.append(err.code())
                assert codes == [grpc.StatusCode.INTERNAL] and acked
                stored = (mount / "var" / "audio" / "fault-disk.raw").read_bytes()
                assert len(stored) >= max(acked) and stored == long_call.audio.data[: len(stored)]
                filler.unlink()  # an operator frees space: the service takes calls again, no restart
                short = StreamOptions(call_id="after-disk", language="en")
                events = list(stub.StreamCall(requests_for(long_call.audio, short), timeout=300))
                assert events[-1].ended.status == pb.COMPLETED
                assert stub.GetCall(pb.GetCallRequest(call_id="fault-disk")).summary.status == pb.INCOMPLETE
        finally:
            running.stop(grace_s=5)
            store.close()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_database_locked_by_another_process_delays_but_loses_nothing(deps, tmp_path, long_call) -> None:
    running, store = _own_server(deps, tmp_path / "var")
    try:
        locker = subprocess.Popen(
            [sys.executable, "-c",
             "import sqlite3, sys, time\n"
             f"db = sqlite3.connect({str(tmp_path / 'var' / 'callguard.db')!r}, isolation_level=None)\n"
             "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(4); db.execute('COMMIT')"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert locker.stdout and locker.stdout.readline().strip() == "locked"
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
            stub = pb_grpc.CallMonitorStub(ch)
            options = StreamOptions(call_id="fault-lock", language="en", realtime=True, speed=8.0)
            events = list(stub.StreamCall(requests_for(long_call.audio, options), timeout=300))
            assert locker.wait(timeout=30) == 0
            assert events[-1].ended.status == pb.COMPLETED
            _, stored = fetch_audio(stub, "fault-lock")
            assert stored == long_call.audio.data
            assert stub.GetCall(pb.GetCallRequest(call_id="fault-lock")).segments
        with sqlite3.connect(tmp_path / "var" / "callguard.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        running.stop(grace_s=5)
        store.close()


def _lock_database(path: Path) -> subprocess.Popen:
    """Another process holds an exclusive lock on the SQLite file until a line arrives on its stdin."""
    locker = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\n"
         f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
         "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.readline(); db.execute('COMMIT')"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert locker.stdout and locker.stdout.readline().strip() == "locked"
    return locker


def _unlock(locker: subprocess.Popen) -> None:
    assert locker.stdin
    locker.stdin.write("\n")
    locker.stdin.flush()
    assert locker.wait(timeout=30) == 0


def test_a_call_refused_by_an_unavailable_database_gets_unavailable_with_a_retry_hint(deps, tmp_path, ravdess) -> None:
    settings = deps.settings.replace(data_dir=tmp_path / "var")
    store = SqliteCallStore(settings.db_path, busy_timeout_s=0.5)
    running, _ = own_server(deps, settings, store)
    audio = conversation([(0, c) for c in pick(ravdess, speaker="ravdess_15", emotion="neutral", n=1)]).audio
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
            stub = pb_grpc.CallMonitorStub(ch)
            locker = _lock_database(settings.db_path)
            try:
                with pytest.raises(grpc.RpcError) as refused:
                    list(stub.StreamCall(requests_for(audio, StreamOptions(call_id="db-busy")), timeout=60))
            finally:
                _unlock(locker)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
            assert "retry" in refused.value.details()
            assert dict(refused.value.trailing_metadata() or ())["retry-after-s"] == "5"
            events = list(stub.StreamCall(requests_for(audio, StreamOptions(call_id="db-busy")), timeout=120))
            assert events[-1].ended.status == pb.COMPLETED  # the same call id, once the database is back
            assert fetch_audio(stub, "db-busy")[1] == audio.data
    finally:
        running.stop(grace_s=5)
        store.close()


def test_alerts_reach_supervisors_while_the_database_is_locked_and_are_stored_when_it_is_back(tmp_path) -> None:
    store = SqliteCallStore(tmp_path / "db", busy_timeout_s=0.2)
    store.create_call(
        CallRecord("db-alert", time.time(), AudioFormat(Encoding.MULAW, 8000, 1), (Role.CUSTOMER,), "en", {})
    )
    bus = InProcessBus()
    hub, supervisor = AlertHub(store, bus), bus.subscribe(AlertFilter())
    alert = Alert("db-alert", 0, Role.CUSTOMER, "ANGER_SUSTAINED", Level.HIGH, 9.0, 3.0, 9.0, "anger 0.9", "soothe")
    locker = _lock_database(tmp_path / "db")
    try:
        with pytest.raises(StorageUnavailable):
            hub.publish(alert)
        heard = supervisor.get(timeout_s=1.0)
        assert heard is not None and heard.alert_id == alert.alert_id  # published although not stored
        with pytest.raises(StorageUnavailable):  # an acknowledgement the database refuses is undone
            hub.acknowledge(alert.alert_id, "sam", "on it")
        assert alert.status is AlertStatus.OPEN and alert.acknowledged_by == "" and hub.unsaved() == 1
    finally:
        _unlock(locker)
    hub.forget_call("db-alert")  # the call ends: what the fault left unstored is stored now
    assert hub.unsaved() == 0 and store.get_alert(alert.alert_id).status is AlertStatus.OPEN
    acked = hub.acknowledge(alert.alert_id, "sam", "on it")
    assert store.get_alert(alert.alert_id).acknowledged_by == "sam" == acked.acknowledged_by
    store.close()
