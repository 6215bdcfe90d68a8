"""Operations: retention purges old calls (audio and rows) but never live ones, Prometheus metrics move with
real calls, JSON logs carry the call id, admission beyond the limit gets RESOURCE_EXHAUSTED with a hint."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest
from callguard.v1 import callguard_pb2 as pb

from service import logs
from service.audio.formats import AudioFormat, Encoding
from service.domain import AuditEntry, CallRecord, CallStatus, Role
from service.errors import StorageUnavailable
from service.retention import DAY_S, purge
from service.storage import FileAudioStore, SqliteCallStore
from tests.calls import conversation, pick

FMT = AudioFormat(Encoding.MULAW, 8000, 1)


def test_retention_purges_old_calls_audio_and_rows_but_not_live_ones(tmp_path) -> None:
    store, audio = SqliteCallStore(tmp_path / "db"), FileAudioStore(tmp_path / "audio")
    now = time.time()
    for call_id, age_days, status in [
        ("old", 40, CallStatus.COMPLETED),
        ("old-live", 40, None),
        ("new", 2, CallStatus.COMPLETED),
    ]:
        store.create_call(CallRecord(call_id, now - age_days * DAY_S, FMT, (Role.CUSTOMER,), "en", {}))
        w = audio.open_writer(call_id)
        w.write(b"\x7f" * 800)
        w.close()
        if status:
            store.finish_call(call_id, status=status, end_reason="", audio_bytes=800, utterances_shed=0)
    store.add_audit(AuditEntry(now, "qa", "qa", "listen", "old"))
    orphan = audio.open_writer("orphan")  # left by a purge interrupted between rows and audio
    orphan.write(b"\x00")
    orphan.close()
    old_mtime = now - 40 * DAY_S
    os.utime(tmp_path / "audio" / "orphan.raw", (old_mtime, old_mtime))
    assert purge(store, audio, older_than_days=30, now=now) == ["old"]
    assert [r.call_id for r in store.list_calls(limit=10)] == ["new", "old-live"]
    assert set(audio.sizes()) == {"new", "old-live"}
    assert store.list_audit(call_id="old")  # the audit trail outlives the data it describes
    store.close()
    out = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "purge", "--older-than-days", "1", "--data-dir", str(tmp_path / "x"), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout) == {"purged": []}


def test_retention_keeps_the_audio_of_a_call_resumed_while_it_ran_and_of_calls_it_cannot_check(tmp_path) -> None:
    class ListedThenResumed(SqliteCallStore):
        """The call was finished when purge listed it and resumed (ACTIVE again) before purge deleted it."""

        def calls_started_before(self, before: float) -> list[str]:
            return ["resumed"]

    store, audio = ListedThenResumed(tmp_path / "db"), FileAudioStore(tmp_path / "audio")
    store.create_call(CallRecord("resumed", time.time() - 40 * DAY_S, FMT, (Role.CUSTOMER,), "en", {}))
    w = audio.open_writer("resumed")
    w.write(b"\x7f" * 800)
    w.close()
    assert purge(store, audio, older_than_days=30) == []
    assert store.get_call("resumed").status is CallStatus.ACTIVE and audio.sizes() == {"resumed": 800}

    class Locked(ListedThenResumed):
        def get_call(self, call_id: str):  # type: ignore[no-untyped-def]
            raise StorageUnavailable("the database is unavailable (database is locked); retry in a few seconds")

    old = time.time() - 40 * DAY_S
    os.utime(tmp_path / "audio" / "resumed.raw", (old, old))  # looks like an orphan, but its row cannot be read
    locked = Locked(tmp_path / "db")
    with pytest.raises(StorageUnavailable):
        purge(locked, audio, older_than_days=30)  # the scheduler logs it and retries; the audio stays
    assert audio.sizes() == {"resumed": 800}
    store.close()
    locked.close()


def test_metrics_follow_real_calls(stub, server, ravdess) -> None:
    clips = pick(ravdess, speaker="ravdess_13", emotion="neutral", n=2)
    call = conversation([(0, clips[0]), (1, clips[1])])
    from service.client import StreamOptions, requests_for

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics", timeout=10) as res:
            return res.read().decode()

    def value(text: str, name: str) -> float:
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith(name + " ") or line.startswith(name + "{")
        )

    before = scrape()
    list(stub.StreamCall(requests_for(call.audio, StreamOptions(call_id="metrics-1", language="en")), timeout=300))
    with pytest.raises(grpc.RpcError):
        stub.GetCall(pb.GetCallRequest(call_id="no-such-call"))
    after = scrape()
    assert value(after, "callguard_audio_seconds_total") - value(
        before, "callguard_audio_seconds_total"
    ) == pytest.approx(call.audio.duration_s, abs=0.05)
    assert value(after, "callguard_calls_ended_total") == value(before, "callguard_calls_ended_total") + 1
    assert value(after, "callguard_transcript_lag_seconds_count") > value(
        before, "callguard_transcript_lag_seconds_count"
    )
    assert value(after, "callguard_analysis_lag_seconds_count") > value(before, "callguard_analysis_lag_seconds_count")
    assert 'callguard_errors_total{api="grpc",status="NOT_FOUND"}' in after
    for name in ("callguard_calls_active", "callguard_alerts_total", "callguard_shed_total"):
        assert f"# TYPE {name}" in after


def test_json_logs_carry_the_call_id(capsys) -> None:
    logs.setup("json")
    try:
        token = logs.CALL_ID.set("call-42")
        logging.getLogger("service.test").warning("analysis fell behind by %d s", 3)
        logs.CALL_ID.reset(token)
        logging.getLogger("service.test").info("no call here")
    finally:
        logs.setup("text")
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert lines[0]["call_id"] == "call-42" and lines[0]["message"] == "analysis fell behind by 3 s"
    assert lines[0]["level"] == "WARNING" and lines[0]["ts"].endswith("Z")
    assert "call_id" not in lines[1]


def test_admission_limit_refuses_with_a_retry_hint(deps, tmp_path, ravdess) -> None:
    from tests.servers import own_server

    running, own = own_server(deps, deps.settings.replace(max_concurrent_calls=1, data_dir=tmp_path))
    try:
        from service.client import StreamOptions, connect, requests_for

        clips = pick(ravdess, speaker="ravdess_14", emotion="neutral", n=2)
        call = conversation([(0, clips[0]), (1, clips[1])])
        stub = connect(f"127.0.0.1:{running.port}")
        first = stub.StreamCall(requests_for(call.audio, StreamOptions(call_id="adm-1", realtime=True)))
        assert next(first).WhichOneof("event") == "accepted"
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.StreamCall(requests_for(call.audio, StreamOptions(call_id="adm-2"))))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "retry" in refused.value.details()
        assert dict(refused.value.trailing_metadata())["retry-after-s"] == "5"
        assert list(first)[-1].ended.status == pb.COMPLETED  # the admitted call is unaffected
    finally:
        running.stop(grace_s=5)
        own.store.close()


def test_a_client_that_stops_reading_cannot_grow_its_event_queue(deps, tmp_path, ravdess, monkeypatch) -> None:
    from service import convert, session
    from service import events as ev
    from service.client import StreamOptions, config_for
    from tests.servers import own_deps

    monkeypatch.setattr(session, "MAX_PENDING_EVENTS", 20)
    mine = own_deps(deps, deps.settings.replace(data_dir=tmp_path))
    clips = pick(ravdess, speaker="ravdess_22", emotion="neutral", n=4)
    call = conversation([(i % 2, c) for i, c in enumerate(clips)])
    spec = convert.call_spec(config_for(call.audio, StreamOptions(language="en")), call_id="slow-reader",
                             allowed_languages=("en",))  # fmt: skip
    live = session.CallSession(spec, mine, on_done=lambda _: None)
    step = call.audio.format.bytes_per_second // 50
    for offset in range(0, len(call.audio.data), step):  # the client sends everything and reads nothing
        live.ingest(call.audio.data[offset : offset + step])
    live.end_input(CallStatus.COMPLETED)
    assert live.wait_ended(timeout_s=120)
    queued = []
    while (stamped := live.next_event(timeout_s=0.1)) is not None:
        queued.append(stamped.event)
    kinds = [type(e).__name__ for e in queued]
    assert kinds.count("EmotionUpdate") + kinds.count("Progress") <= 20  # bounded
    assert "FinalTranscript" in kinds and isinstance(queued[-1], ev.Ended)  # what matters still arrives
    assert len(mine.store.emotions("slow-reader")) > kinds.count("EmotionUpdate")  # all stored anyway
    mine.store.close()
