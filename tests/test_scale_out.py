"""Several service instances on real engines: PostgreSQL for calls, Redis for alert fan-out. Two
`callguard serve` processes share one database, one Redis and one audio directory; calls stream into both,
a supervisor on one instance sees every alert once, acknowledgements made on one are seen on the other, and
QA lists and replays every call from either."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import grpc
import pytest
import redis
from callguard.v1 import callguard_pb2 as pb
from callguard.v1 import callguard_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.audio.formats import AudioFormat, Encoding
from service.auth import Authenticator
from service.client import StreamOptions, fetch_audio, requests_for, stream_call
from service.domain import AuditEntry, CallRecord, CallStatus, Role
from service.escalation.alerts import Alert, AlertFilter, AlertStatus
from service.escalation.bus import AlertHub, AlreadyAcknowledged, InProcessBus
from service.escalation.policy import Level
from service.escalation.redis_bus import RedisBus
from service.retention import DAY_S
from service.storage import FileAudioStore, SqliteCallStore
from service.storage.postgres_store import PostgresCallStore
from tests.calls import conversation, pick
from tests.engines import Redis, free_port
from tests.test_escalation import _switch_call


def _alert(call_id: str, version: int = 1) -> Alert:
    return Alert(call_id, 0, Role.CUSTOMER, "ANGER_SUSTAINED", Level.HIGH, 1.0, 0.5, 1.0, "e", "a", version=version)


def test_redis_bus_fans_out_across_instances_and_survives_a_dropped_connection(redis_server) -> None:
    stream = f"test:{uuid.uuid4().hex}"
    a, b = RedisBus(redis_server.url, stream=stream), RedisBus(redis_server.url, stream=stream)
    try:
        sub = b.subscribe(AlertFilter())
        sent = time.monotonic()
        a.publish(_alert("x1"))
        got = sub.get(timeout_s=2)
        assert got is not None and got.call_id == "x1" and time.monotonic() - sent < 1.0
        # every client connection is cut (a Redis failover, a network blip); alerts raised meanwhile still arrive
        redis.Redis.from_url(redis_server.url).client_kill_filter(_type="normal", skipme=True)
        for n in range(3):
            a.publish(_alert(f"gap-{n}"))
        arrived = [sub.get(timeout_s=5) for _ in range(3)]
        assert [x.call_id for x in arrived if x] == ["gap-0", "gap-1", "gap-2"]
    finally:
        a.close()
        b.close()


def test_alerts_raised_while_redis_is_down_reach_every_instance_when_it_is_back() -> None:
    server = Redis()
    a, b = RedisBus(server.url), RedisBus(server.url)
    try:
        here, there = a.subscribe(AlertFilter()), b.subscribe(AlertFilter())
        server.stop()  # Redis goes away
        a.publish(_alert("during-outage"))
        got = here.get(timeout_s=1)
        assert got is not None and got.call_id == "during-outage"  # this instance's supervisors: at once
        server = Redis(port=server.port)  # Redis is back (empty: nothing was persisted)
        late = there.get(timeout_s=10)
        assert late is not None and late.call_id == "during-outage"  # the other instance's: when it is back
    finally:
        a.close()
        b.close()
        server.stop()


def _serve(env: dict, data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port), "--http-port", "-1", "--data-dir",
         str(data_dir)],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    with grpc.insecure_channel(address) as channel:
        while time.monotonic() < deadline:
            try:
                health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                if health.status == health_pb2.HealthCheckResponse.SERVING:
                    return proc, address
            except grpc.RpcError:
                time.sleep(0.3)
            assert proc.poll() is None, "an instance exited during start-up"
    proc.kill()
    raise RuntimeError("instance did not start")


@pytest.fixture(scope="module")
def two_instances(postgres, redis_server, tmp_path_factory):
    shared = tmp_path_factory.mktemp("shared-audio")  # the audio directory both instances mount
    env = {
        "CALLGUARD_DATABASE_URL": postgres.new_database(f"two_{uuid.uuid4().hex[:8]}"),
        "CALLGUARD_PUBSUB_URL": redis_server.url,
    }
    a = _serve({**env, "CALLGUARD_INSTANCE_ID": "instance-a"}, shared)
    b = _serve({**env, "CALLGUARD_INSTANCE_ID": "instance-b"}, shared)
    yield a[1], b[1]
    for proc, _ in (a, b):
        proc.terminate()
        proc.wait(timeout=60)


def test_two_instances_share_calls_and_alerts(two_instances, ravdess) -> None:
    address_a, address_b = two_instances
    channel_a, channel_b = grpc.insecure_channel(address_a), grpc.insecure_channel(address_b)
    stub_a, stub_b = pb_grpc.CallMonitorStub(channel_a), pb_grpc.CallMonitorStub(channel_b)
    received: list[pb.Alert] = []
    subscription = stub_b.SubscribeAlerts(pb.SubscribeAlertsRequest())  # the supervisor is on instance B

    def listen() -> None:
        try:
            for alert in subscription:
                received.append(alert)
        except grpc.RpcError:
            pass

    threading.Thread(target=listen, daemon=True).start()
    calls = {
        "scale-a": (stub_a, _switch_call(ravdess, "ravdess_17", "angry", agent="ravdess_18")[0]),
        "scale-b": (stub_b, _switch_call(ravdess, "ravdess_21", "angry", agent="ravdess_20")[0]),
    }
    raised: dict[str, list[pb.Alert]] = {}

    def stream(call_id: str) -> None:
        stub, call = calls[call_id]
        options = StreamOptions(call_id=call_id, language="en", realtime=True, speed=4.0, metadata={"queue": "q"})
        events = list(stub.StreamCall(requests_for(call.audio, options), timeout=600))
        raised[call_id] = [e.escalation for e in events if e.WhichOneof("event") == "escalation"]

    threads = [threading.Thread(target=stream, args=(call_id,)) for call_id in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    time.sleep(1.0)
    assert raised["scale-a"] and raised["scale-b"], raised  # both calls escalated, each on its own instance
    # the supervisor on B saw every alert of both instances, each version exactly once
    seen = [(a.alert_id, a.version) for a in received]
    assert len(seen) == len(set(seen))
    expected = {(a.alert_id, a.version) for alerts in raised.values() for a in alerts}
    assert expected <= set(seen), expected - set(seen)
    # an acknowledgement made on A, for an alert raised on B, reaches B's subscriber and B's store view
    target = raised["scale-b"][-1]
    acked = stub_a.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=target.alert_id, by="sup-on-a"))
    assert acked.status == pb.ACKNOWLEDGED
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not any(
        a.alert_id == target.alert_id and a.status == pb.ACKNOWLEDGED for a in received
    ):
        time.sleep(0.05)
    assert any(a.alert_id == target.alert_id and a.acknowledged_by == "sup-on-a" for a in received)
    stored = {a.alert_id: a for a in stub_b.GetCall(pb.GetCallRequest(call_id="scale-b")).alerts}
    assert stored[target.alert_id].status == pb.ACKNOWLEDGED
    # QA on either instance lists both calls and replays either call byte for byte
    for stub in (stub_a, stub_b):
        listed = {c.call_id for c in stub.ListCalls(pb.ListCallsRequest(queue="q")).calls}
        assert listed == {"scale-a", "scale-b"}
    _, audio = fetch_audio(stub_a, "scale-b")
    assert audio == calls["scale-b"][1].audio.data
    subscription.cancel()
    channel_a.close()
    channel_b.close()


def test_admin_commands_act_on_the_postgres_store_the_servers_use(postgres, tmp_path) -> None:
    """token, audit and purge with CALLGUARD_DATABASE_URL set: a token created on the command line lets a
    client into an instance on that database, and purge removes old rows there with their audio."""
    url = postgres.new_database(f"admin_{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "CALLGUARD_DATABASE_URL": url}

    def cli(*args: str) -> dict | list:
        out = subprocess.run(
            [sys.executable, "-m", "service.cli.main", *args, "--data-dir", str(tmp_path), "--json"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(out.stdout)

    created = cli("token", "create", "--role", "qa", "--name", "qa-on-pg")
    store = PostgresCallStore(url, pool_size=1)
    try:
        principal = Authenticator(store, required=True).authenticate(f"Bearer {created['token']}")
        assert (principal.name, principal.role.value) == ("qa-on-pg", "qa")
        assert [t["name"] for t in cli("token", "list")] == ["qa-on-pg"]
        fmt = AudioFormat(Encoding.MULAW, 8000, 1)
        store.create_call(CallRecord("old-pg", time.time() - 40 * DAY_S, fmt, (Role.CUSTOMER,), "en", {}))
        store.finish_call("old-pg", status=CallStatus.COMPLETED, end_reason="", audio_bytes=8, utterances_shed=0)
        audio = FileAudioStore(tmp_path / "audio")
        w = audio.open_writer("old-pg")
        w.write(b"\x7f" * 8)
        w.close()
        store.add_audit(AuditEntry(time.time(), "qa-on-pg", "qa", "listen", "old-pg", "console"))
        assert [e["action"] for e in cli("audit", "--call-id", "old-pg")] == ["listen"]
        assert cli("purge", "--older-than-days", "30") == {"purged": ["old-pg"]}
        assert store.calls_started_before(time.time()) == [] and audio.sizes() == {}
    finally:
        store.close()


def test_a_call_on_a_crashed_instance_is_resumed_on_another(postgres, tmp_path, ravdess) -> None:
    """Instance A is killed mid-call; once its lease runs out (3 s here), the gateway resumes the call on
    instance B with the same id, and the stored call is complete and byte-identical."""
    shared = tmp_path / "shared-audio"
    env = {"CALLGUARD_DATABASE_URL": postgres.new_database(f"lease_{uuid.uuid4().hex[:8]}"),
           "CALLGUARD_INSTANCE_LEASE_S": "3"}  # fmt: skip
    proc_a, address_a = _serve({**env, "CALLGUARD_INSTANCE_ID": "lease-a"}, shared)
    proc_b, address_b = _serve({**env, "CALLGUARD_INSTANCE_ID": "lease-b"}, shared)
    try:
        call = conversation([(0, c) for c in pick(ravdess, speaker="ravdess_15", emotion="neutral", n=4)])
        acked: list[int] = []
        options = StreamOptions(call_id="lease-call", language="en", realtime=True, speed=4.0)
        with grpc.insecure_channel(address_a) as ch:
            try:
                for e in pb_grpc.CallMonitorStub(ch).StreamCall(requests_for(call.audio, options), timeout=120):
                    if e.WhichOneof("event") == "progress":
                        acked.append(e.progress.bytes_stored)
                        if len(acked) == 3:
                            proc_a.kill()
            except grpc.RpcError:
                pass  # A died under it
        assert proc_a.wait(timeout=10) == -9 and acked
        with grpc.insecure_channel(address_b) as ch:
            stub = pb_grpc.CallMonitorStub(ch)
            resume = StreamOptions(call_id="lease-call", language="en", resume=True)
            deadline = time.monotonic() + 30
            while True:  # what a gateway does: ALREADY_EXISTS ("retry in a few seconds") until A's lease runs out
                try:
                    events = list(stream_call(stub, call.audio, resume, timeout_s=300))
                    break
                except grpc.RpcError as refused:
                    assert refused.code() == grpc.StatusCode.ALREADY_EXISTS and time.monotonic() < deadline
                    time.sleep(1.0)
            assert events[0].accepted.resumed_from_s * 8000 * 2 >= max(acked)  # every acknowledged byte was kept
            assert events[-1].ended.status == pb.COMPLETED
            assert fetch_audio(stub, "lease-call")[1] == call.audio.data  # nothing lost, nothing doubled
            assert stub.GetCall(pb.GetCallRequest(call_id="lease-call")).summary.status == pb.COMPLETED
    finally:
        for proc in (proc_a, proc_b):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=60)


def test_an_acknowledgement_racing_an_upgrade_on_another_instance_is_never_lost(tmp_path) -> None:
    """Instance B streams the call and upgrades its alert while a supervisor on instance A acknowledges it."""
    store = SqliteCallStore(tmp_path / "db")
    store.create_call(CallRecord("race", time.time(), AudioFormat(Encoding.MULAW, 8000, 1), (Role.CUSTOMER,), "en", {}))
    bus_a, bus_b = InProcessBus(), InProcessBus()  # the two instances' ends of the fan-out
    hub_a, hub_b = AlertHub(store, bus_a), AlertHub(store, bus_b)
    live = _alert("race")
    live.level = Level.MEDIUM
    hub_b.publish(live)  # version 1, stored

    class ReadJustBeforeTheUpgrade(SqliteCallStore):
        """A's first read of the alert happens just before B stores its upgrade to version 2."""

        stale: Alert | None = None

        def get_alert(self, alert_id: str) -> Alert | None:
            found, self.stale = self.stale or super().get_alert(alert_id), None
            return found

    racing = ReadJustBeforeTheUpgrade(tmp_path / "db")
    racing.stale = store.get_alert(live.alert_id)
    live.level, live.version = Level.HIGH, 2
    hub_b.publish(live)  # B's upgrade lands between A's read and A's write
    acked = AlertHub(racing, bus_a).acknowledge(live.alert_id, "sam", "called back")
    assert acked.version == 3 and acked.level is Level.HIGH  # made again on the upgraded alert
    stored = store.get_alert(live.alert_id)
    assert stored.status is AlertStatus.ACKNOWLEDGED and stored.acknowledged_by == "sam"
    # B hears of it (same version as its own copy or not) and its detector sees the alert closed
    bus_b.publish(acked)
    assert not live.is_open and live.acknowledged_by == "sam"
    # an upgrade B wrote before hearing of it cannot reopen the stored alert
    reopened = copy.copy(acked)
    reopened.status, reopened.version = AlertStatus.OPEN, 9
    assert store.save_alert(reopened) is False
    assert store.get_alert(live.alert_id).status is AlertStatus.ACKNOWLEDGED
    with pytest.raises(AlreadyAcknowledged):
        hub_a.acknowledge(live.alert_id, "kim", "")
    racing.close()
    store.close()
