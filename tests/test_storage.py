"""Call stores (every behaviour test runs on SQLite and on PostgreSQL) and the file audio store: migrations,
CRUD, queries, pagination, crash recovery per instance, tokens, audit, safe ids."""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid

import pytest

from service.audio.formats import AudioFormat, Encoding
from service.domain import CallOrder, CallQuery, CallRecord, CallStatus, Role
from service.emotion import EmotionEstimate
from service.errors import CallExists, CallNotFound, InvalidInput
from service.escalation.alerts import Alert, AlertStatus
from service.escalation.policy import Level
from service.storage import FileAudioStore, SqliteCallStore
from service.storage.postgres_store import MIGRATIONS as PG_MIGRATIONS
from service.storage.postgres_store import PostgresCallStore
from service.storage.sqlite_store import MIGRATIONS
from service.transcription.results import Segment, Word

FMT = AudioFormat(Encoding.MULAW, 8000, 2)


def record(call_id: str, started_at: float) -> CallRecord:
    return CallRecord(
        call_id, started_at, FMT, (Role.CUSTOMER, Role.AGENT), "auto", {"agent_id": "a1", "queue": "售后"}
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """The same tests against both engines; each gets a fresh database."""
    if request.param == "sqlite":
        s = SqliteCallStore(tmp_path / "db" / "callguard.db", owner="me")
    else:
        url = request.getfixturevalue("postgres").new_database(f"t_{uuid.uuid4().hex[:12]}")
        s = PostgresCallStore(url, owner="me", pool_size=2)
    yield s
    s.close()


def test_postgres_schema_is_migrated_once_by_instances_starting_together(postgres) -> None:
    url = postgres.new_database(f"t_{uuid.uuid4().hex[:12]}")
    import threading

    stores: list[PostgresCallStore] = []
    starts = [threading.Thread(target=lambda: stores.append(PostgresCallStore(url, pool_size=1))) for _ in range(3)]
    for t in starts:
        t.start()
    for t in starts:
        t.join()
    assert [s.schema_version for s in stores] == [len(PG_MIGRATIONS)] * 3
    for s in stores:
        s.close()


def test_schema_is_migrated_and_in_wal_mode(tmp_path) -> None:
    store = SqliteCallStore(tmp_path / "db" / "callguard.db")
    assert store.schema_version == len(MIGRATIONS)
    db = sqlite3.connect(tmp_path / "db" / "callguard.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    reopened = SqliteCallStore(tmp_path / "db" / "callguard.db")  # migrating again is a no-op
    assert reopened.schema_version == len(MIGRATIONS)
    reopened.close()


def test_call_lifecycle(store) -> None:
    store.create_call(record("c1", 100.0))
    with pytest.raises(CallExists):
        store.create_call(record("c1", 101.0))
    seg = Segment(1.0, 2.5, "我要投诉", "zh", 0.97, -0.3, (Word(1.0, 1.4, "我", 0.9), Word(1.4, 2.5, "要投诉", 0.8)))
    store.add_segment("c1", 0, seg)
    store.update_progress("c1", audio_bytes=16000, utterances_shed=1)
    rec = store.get_call("c1")
    assert rec.status is CallStatus.ACTIVE and rec.duration_s == 1.0 and rec.segment_count == 1
    assert rec.metadata == {"agent_id": "a1", "queue": "售后"} and rec.roles == (Role.CUSTOMER, Role.AGENT)
    store.finish_call("c1", status=CallStatus.COMPLETED, end_reason="", audio_bytes=32000, utterances_shed=1)
    rec = store.get_call("c1")
    assert rec.status is CallStatus.COMPLETED and rec.ended_at is not None and rec.duration_s == 2.0
    assert store.segments("c1") == [(0, seg)]
    with pytest.raises(CallNotFound):
        store.get_call("nope")


def test_list_is_newest_first_and_pages_without_gaps_or_repeats(store) -> None:
    for i in range(7):
        store.create_call(record(f"c{i}", 100.0 + (i // 2)))  # ties in started_at on purpose
    seen, after = [], None
    while True:
        page = store.list_calls(limit=3, after=after)
        if not page:
            break
        seen += [r.call_id for r in page]
        after = store.order_key(page[-1], CallOrder.NEWEST)
    assert sorted(seen) == [f"c{i}" for i in range(7)] and len(set(seen)) == 7
    assert seen[0] == "c6"
    store.finish_call("c3", status=CallStatus.COMPLETED, end_reason="", audio_bytes=0, utterances_shed=0)
    assert [r.call_id for r in store.list_calls(limit=10, query=CallQuery(status=CallStatus.COMPLETED))] == ["c3"]


def _estimate(t: float, anger: float, disappointment: float = 0.1) -> EmotionEstimate:
    return EmotionEstimate(t, t + 3, anger, disappointment, 0.5, 0.1, 180.0, 1.0, 3.0, 4.0, 0.2, 5.0, True)


def _alert(call_id: str, reason: str, level: Level, *, open_: bool = True) -> Alert:
    return Alert(
        call_id, 0, Role.CUSTOMER, reason, level, 10.0, 5.0, 10.0, "anger 0.8", "soothe",
        status=AlertStatus.OPEN if open_ else AlertStatus.ACKNOWLEDGED, raised_at=1.0, updated_at=1.0,
    )  # fmt: skip


def test_call_queries_filter_on_alerts_metadata_text_and_sort_by_peak_anger(store) -> None:
    for i, (agent, queue) in enumerate([("alice", "billing"), ("bob", "billing"), ("alice", "售后"), ("carol", "x_y")]):
        rec = record(f"q{i}", 100.0 + i)
        # gateways name the agent `agent` or `agent_id` (q3; q1 with an empty `agent`)
        who = {"agent_id": agent} if i == 3 else {"agent": "", "agent_id": agent} if i == 1 else {"agent": agent}
        rec.metadata = {**who, "queue": queue, "customer_id": f"cust-{i}"}
        store.create_call(rec)
    for call_id, angers in {"q0": [0.2, 0.9, 0.4], "q1": [0.3], "q2": [0.6, 0.7], "q3": []}.items():
        for t, a in enumerate(angers):
            store.add_emotion(call_id, 0, _estimate(float(t), a))
    store.save_alert(_alert("q0", "ANGER_SUSTAINED", Level.HIGH))
    store.save_alert(_alert("q2", "ANGER_SUSTAINED", Level.MEDIUM, open_=False))
    store.save_alert(_alert("q2", "THREAT_PHRASE", Level.HIGH, open_=False))
    store.add_segment("q1", 0, Segment(0.0, 1.0, "I want to CANCEL my contract", "en", 0.9, -0.2, ()))

    def ids(**kw) -> list[str]:
        return [r.call_id for r in store.list_calls(limit=10, query=CallQuery(**kw))]

    assert ids() == ["q3", "q2", "q1", "q0"]
    assert ids(order=CallOrder.PEAK_ANGER) == ["q0", "q2", "q1", "q3"]
    assert ids(min_alert_level=1) == ["q2", "q0"]
    assert ids(min_alert_level=3, reason="ANGER_SUSTAINED") == ["q0"]
    assert (
        ids(min_alert_level=3, reason="THREAT_PHRASE") == ["q2"]
        and ids(reason="THREAT_PHRASE", min_alert_level=3, unacknowledged_only=True) == []
    )
    assert ids(unacknowledged_only=True) == ["q0"]
    assert ids(agent="alice") == ["q2", "q0"] and ids(queue="售后") == ["q2"]
    assert ids(agent="carol") == ["q3"] and ids(agent="bob") == ["q1"] and ids(agent="") == ids()
    assert ids(started_from=101.0, started_to=103.0) == ["q2", "q1"]
    assert ids(text="cancel my") == ["q1"]  # transcript, case-insensitive
    assert ids(text="CUST-3") == ["q3"] and ids(text="x_y") == ["q3"] and ids(text="%") == []  # LIKE chars are literal
    q2 = store.get_call("q2")
    assert (q2.max_alert_level, q2.alert_count, q2.open_alert_count) == (3, 2, 0)
    assert q2.alert_reasons == ("ANGER_SUSTAINED", "THREAT_PHRASE") and q2.peak_anger == pytest.approx(0.7)
    # pages by peak anger without gaps or repeats
    seen, after = [], None
    while page := store.list_calls(limit=1, after=after, query=CallQuery(order=CallOrder.PEAK_ANGER)):
        seen.append(page[0].call_id)
        after = store.order_key(page[0], CallOrder.PEAK_ANGER)
    assert seen == ["q0", "q2", "q1", "q3"]


def test_tokens_audit_retention_and_resume(store) -> None:
    from service.auth import AccessRole, create_token
    from service.domain import AuditEntry

    _, token = create_token(store, AccessRole.SUPERVISOR, "sup-1")
    assert store.get_token(token.token_id) == token and [t.name for t in store.list_tokens()] == ["sup-1"]
    assert store.revoke_token(token.token_id) and not store.revoke_token(token.token_id)
    store.create_call(record("r1", 10.0))
    store.finish_call("r1", status=CallStatus.INCOMPLETE, end_reason="x", audio_bytes=8, utterances_shed=0)
    assert store.reopen_call("r1", audio_bytes=8) is True
    assert store.reopen_call("r1", audio_bytes=8) is False  # a second stream resuming it at the same time
    assert store.get_call("r1").status is CallStatus.ACTIVE and store.calls_started_before(100.0) == []
    me, store.owner = store.owner, "lost-its-lease"  # an instance that no longer owns the call
    store.finish_call("r1", status=CallStatus.INCOMPLETE, end_reason="late", audio_bytes=1, utterances_shed=0)
    store.update_progress("r1", audio_bytes=1, utterances_shed=0)
    store.owner = me
    assert store.get_call("r1").status is CallStatus.ACTIVE and store.get_call("r1").audio_bytes == 8
    store.finish_call("r1", status=CallStatus.COMPLETED, end_reason="", audio_bytes=8, utterances_shed=0)
    store.save_alert(_alert("r1", "ANGER_SUSTAINED", Level.HIGH))
    store.add_audit(AuditEntry(5.0, "qa", "qa", "listen", "r1", "console"))
    assert store.calls_started_before(100.0) == ["r1"]
    assert store.delete_call("r1") is True and store.delete_call("r1") is False
    with pytest.raises(CallNotFound):
        store.get_call("r1")
    assert store.list_alerts(call_id="r1") == [] and store.list_audit(call_id="r1")[0].action == "listen"


def test_alert_versions_never_go_back(store) -> None:
    store.create_call(record("v1", 1.0))
    alert = _alert("v1", "ANGER_SUSTAINED", Level.MEDIUM)
    assert store.save_alert(alert) is True
    newer = dataclasses.replace(alert, level=Level.HIGH, version=2)
    assert store.save_alert(newer) is True
    assert store.save_alert(alert) is False  # a late writer with the old version
    assert store.save_alert(newer) is False  # the same version again
    assert store.get_alert(alert.alert_id).level is Level.HIGH and store.get_alert("nope") is None
    acked = dataclasses.replace(newer, status=AlertStatus.ACKNOWLEDGED, acknowledged_by="sam", version=3)
    assert store.save_alert(acked) is True
    # an instance that upgraded before hearing of the acknowledgement cannot reopen it
    assert store.save_alert(dataclasses.replace(newer, version=4)) is False
    assert store.get_alert(alert.alert_id).acknowledged_by == "sam"


def test_sql_metacharacters_are_data(store) -> None:
    evil = CallRecord("c-evil", 1.0, FMT, (Role.CUSTOMER,), "auto", {"queue": "'); DROP TABLE calls; --"})
    store.create_call(evil)
    assert store.get_call("c-evil").metadata["queue"] == "'); DROP TABLE calls; --"


def test_recovery_marks_active_calls_incomplete_with_their_audio(store) -> None:
    store.create_call(record("live", 1.0))
    store.create_call(record("done", 2.0))
    store.finish_call("done", status=CallStatus.COMPLETED, end_reason="", audio_bytes=10, utterances_shed=0)
    other_owner, store.owner = store.owner, "another-instance"
    store.create_call(record("theirs", 3.0))  # streaming on another instance sharing the database
    store.owner = other_owner
    assert store.recover_interrupted({"live": 4000}) == ["live"]  # never another instance's calls
    assert store.get_call("theirs").status is CallStatus.ACTIVE
    rec = store.get_call("live")
    assert rec.status is CallStatus.INCOMPLETE and rec.audio_bytes == 4000 and "server stopped" in rec.end_reason
    assert store.get_call("done").status is CallStatus.COMPLETED


def test_calls_of_an_instance_whose_lease_ran_out_are_recovered_by_the_others(store) -> None:
    me = store.owner
    for owner, call_id, beat in [("crashed", "c1", 100.0), ("alive", "a1", None), ("never-leased", "n1", None)]:
        store.owner = owner  # instances sharing the database
        store.create_call(record(call_id, 1.0))
        if owner != "never-leased":
            store.heartbeat(now=beat)  # "alive" renews now; "crashed" last renewed long ago
    store.owner = me
    store.heartbeat()
    assert store.recover_abandoned(30.0, lambda call_id: 800, call_id="a1") == []
    assert store.recover_abandoned(30.0, lambda call_id: 800) == ["c1"]
    rec = store.get_call("c1")
    assert rec.status is CallStatus.INCOMPLETE and rec.audio_bytes == 800 and "crashed" in rec.end_reason
    assert store.get_call("a1").status is store.get_call("n1").status is CallStatus.ACTIVE
    assert store.recover_abandoned(30.0, lambda call_id: 800) == []  # once


def test_audio_store_appends_and_reads_back_exactly(tmp_path) -> None:
    audio = FileAudioStore(tmp_path / "audio")
    w = audio.open_writer("c1")
    payload = bytes(range(256)) * 100
    for i in range(0, len(payload), 160):
        w.write(payload[i : i + 160])
    assert w.sync() == len(payload)
    assert audio.size("c1") == len(payload)  # visible before close: a live call can be replayed
    assert w.close() == len(payload)
    assert b"".join(audio.read("c1", chunk_bytes=1000)) == payload
    assert b"".join(audio.read("c1", chunk_bytes=7, limit=20)) == payload[:20]
    assert audio.sizes() == {"c1": len(payload)}


@pytest.mark.parametrize("bad_id", ["../etc/passwd", "a/b", ".hidden", "", "x" * 65, "c1\x00", "c1\n"])
def test_audio_store_refuses_unsafe_call_ids(tmp_path, bad_id: str) -> None:
    with pytest.raises(InvalidInput, match="call_id"):
        FileAudioStore(tmp_path).open_writer(bad_id)


def test_migration_4_backfills_peak_scores_of_calls_stored_before_it(tmp_path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 3")
    db.execute(
        "INSERT INTO calls (call_id, started_at, status, encoding, sample_rate_hz, channel_count, roles, language,"
        " metadata) VALUES ('old', 1.0, 'COMPLETED', 'MULAW', 8000, 1, '[\"CUSTOMER\"]', 'auto', '{}')"
    )
    for anger in (0.3, 0.8):
        db.execute(
            "INSERT INTO emotions (call_id, channel, start_s, end_s, estimate) VALUES ('old', 0, 0, 3, ?)",
            (f'{{"anger": {anger}, "disappointment": 0.2}}',),
        )
    db.commit()
    db.close()
    store = SqliteCallStore(path)
    old = store.get_call("old")
    assert store.schema_version == len(MIGRATIONS)
    assert old.peak_anger == pytest.approx(0.8) and old.peak_disappointment == pytest.approx(0.2)
    store.close()


def test_conversation_dynamics_are_stored_and_every_list_order_sorts_and_pages(store) -> None:
    from service.dynamics.conversation import summarise
    from service.dynamics.talk import Spurt

    # (spurts) per call: q0 the most overtalk, q1 two interruptions, q2 the longest silence, q3 the agent talks most
    calls = {
        "q0": [Spurt(0, 0, 10), Spurt(1, 2, 9)],
        "q1": [Spurt(0, 0, 5), Spurt(1, 2, 4), Spurt(0, 10, 15), Spurt(1, 12, 14)],
        "q2": [Spurt(0, 0, 2), Spurt(1, 57, 59)],
        "q3": [Spurt(0, 0, 1), Spurt(1, 1.5, 20)],
    }
    for i, (call_id, spurts) in enumerate(calls.items()):
        store.create_call(record(call_id, 100.0 + i))
        store.save_dynamics(call_id, summarise(spurts, (Role.CUSTOMER, Role.AGENT), 60.0))
    got = store.get_call("q1")
    assert got.interruptions == 2 and got.overtalk_s == 4.0 and got.longest_silence_s == 45.0
    assert got.customer_talk_share == pytest.approx(10 / 14, abs=1e-3) and '"interruptions"' in got.dynamics_json
    expected = {
        CallOrder.OVERTALK: ["q0", "q1", "q3", "q2"],
        CallOrder.INTERRUPTIONS: ["q1", "q0", "q3", "q2"],
        CallOrder.LONGEST_SILENCE: ["q2", "q0", "q1", "q3"],
        CallOrder.AGENT_TALK_SHARE: ["q3", "q2", "q0", "q1"],
    }
    for order, want in expected.items():
        assert [r.call_id for r in store.list_calls(limit=10, query=CallQuery(order=order))] == want, order
        paged, after = [], None
        while page := store.list_calls(limit=1, after=after, query=CallQuery(order=order)):
            paged.append(page[0].call_id)
            after = store.order_key(page[0], order)
        assert paged == want, order


def test_utterance_judgements_are_stored_in_order_and_raise_the_call_peaks(store) -> None:
    from service.judgement.results import UtteranceJudgement, VoiceEvidence, WordsEvidence

    store.create_call(record("judged", 100.0))
    words = WordsEvidence("zh", 0.93, 0.1, 0.2, 0.05, 0.02, {"anger": ("破服务", "气死")})
    voice = VoiceEvidence("utterance", 0.55, 0.1, 0.3, 0.05, 0.4, 0.1, 3.1, 8.5, 210.0, 30.0)
    loud = UtteranceJudgement(5.0, 7.5, 2.5, "你们这什么破服务", "zh", 0.82, 0.1, 0.2, 0.05, 0.18, voice, words)
    shed = UtteranceJudgement(1.0, 2.0, 1.0, "", "", 0.2, 0.3, 0.0, 0.0, 0.7,
                              VoiceEvidence("windows", 0.2, 0.3, 0.5, 0.0))  # fmt: skip
    store.add_judgement("judged", 0, loud)
    store.add_judgement("judged", 1, shed)
    back = store.judgements("judged")
    assert [ch for ch, _ in back] == [1, 0]  # call-time order of their ends
    assert back[1][1] == loud and back[0][1].words is None and back[0][1].voice.source == "windows"
    rec = store.get_call("judged")
    assert rec.peak_anger == pytest.approx(0.82) and rec.peak_disappointment == pytest.approx(0.3)
    store.finish_call("judged", status=CallStatus.COMPLETED, end_reason="", audio_bytes=80000, utterances_shed=1)
    assert store.delete_call("judged") and store.judgements("judged") == []  # purged with its call
