"""The web console's JSON API over a real HTTP port of the running service: same data as gRPC, filters,
audio byte ranges, acknowledgements, CSV, errors."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from callguard.v1 import callguard_pb2 as pb
from google.protobuf.json_format import MessageToDict

from service.audio import g711
from service.audio.formats import AudioFormat, Encoding
from service.audio.wavfile import from_float
from service.client import StreamOptions, requests_for
from service.domain import Role
from service.escalation.alerts import Alert
from service.escalation.policy import Level
from service.web import analysis
from service.web.timeline import timeline
from service.web.wav_view import HEADER_BYTES, wav_header
from tests.calls import conversation, pick


def http(base: str, path: str, *, method: str = "GET", body: dict | None = None, headers: dict | None = None):
    """(status, headers, body bytes) of one real HTTP request; error statuses are returned, not raised."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.fixture(scope="module")
def base(server) -> str:
    assert server.http_port
    return f"http://127.0.0.1:{server.http_port}"


@pytest.fixture(scope="module")
def stored_call(stub_module_scope, ravdess) -> tuple[str, bytes]:
    """A short stereo call streamed through gRPC; returns its id and the bytes sent."""
    customer = pick(ravdess, speaker="ravdess_09", emotion="neutral", n=2)
    agent = pick(ravdess, speaker="ravdess_10", emotion="calm", n=1)
    call = conversation([(0, customer[0]), (1, agent[0]), (0, customer[1])])
    options = StreamOptions(call_id="web-api-1", language="en", metadata={"agent": "wendy", "queue": "web-q"})
    list(stub_module_scope.StreamCall(requests_for(call.audio, options), timeout=300))
    return "web-api-1", call.audio.data


@pytest.fixture(scope="module")
def stub_module_scope(address):
    import grpc
    from callguard.v1 import callguard_pb2_grpc as pb_grpc

    with grpc.insecure_channel(address) as channel:
        yield pb_grpc.CallMonitorStub(channel)


def _raise(deps, call_id: str, reason: str, level: Level, **extra) -> Alert:
    fields = {"queue": "web-q", "agent": "wendy", "raised_at": time.time(), "updated_at": time.time(), **extra}
    alert = Alert(call_id, 0, Role.CUSTOMER, reason, level, 3.0, 1.0, 3.0, "anger 0.8 for 2 s", "soothe", **fields)
    deps.alerts.publish(alert)
    return alert


def test_call_json_is_the_grpc_call(base, stored_call, stub_module_scope) -> None:
    call_id, _ = stored_call
    status, _, body = http(base, f"/api/calls/{call_id}")
    assert status == 200
    grpc_call = stub_module_scope.GetCall(pb.GetCallRequest(call_id=call_id))
    expected = MessageToDict(grpc_call, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    assert json.loads(body) == expected
    assert expected["segments"] and expected["emotions"]  # a real transcript and real estimates
    status, _, body = http(base, f"/api/calls/{call_id}?emotions=false")
    assert status == 200 and json.loads(body)["emotions"] == [] and json.loads(body)["segments"]


def test_audio_is_served_as_pcm_wav_with_byte_ranges(base, stored_call) -> None:
    call_id, sent = stored_call
    fmt = AudioFormat(Encoding.MULAW, 8000, 2)
    expected = wav_header(fmt, 2 * len(sent)) + g711.mulaw_decode(sent).astype("<i2").tobytes()
    status, headers, whole = http(base, f"/api/calls/{call_id}/audio.wav")
    assert status == 200 and headers["Accept-Ranges"] == "bytes" and headers["Content-Type"] == "audio/wav"
    assert whole == expected and len(whole) == HEADER_BYTES + 2 * len(sent)
    for first, last in [(0, 10), (40, 47), (45, 45), (1001, 20000), (len(expected) - 7, len(expected) - 1)]:
        status, headers, part = http(
            base, f"/api/calls/{call_id}/audio.wav", headers={"Range": f"bytes={first}-{last}"}
        )
        assert status == 206 and part == expected[first : last + 1], (first, last)
        assert headers["Content-Range"] == f"bytes {first}-{last}/{len(expected)}"
    status, _, tail = http(base, f"/api/calls/{call_id}/audio.wav", headers={"Range": "bytes=-100"})
    assert status == 206 and tail == expected[-100:]
    status, headers, _ = http(base, f"/api/calls/{call_id}/audio.wav", headers={"Range": f"bytes={len(expected)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(expected)}"
    assert http(base, "/api/calls/no-such-call/audio.wav")[0] == 404
    assert http(base, "/api/calls/..%2F..%2Fetc%2Fpasswd/audio.wav")[0] in (404, 400)


def test_filters_and_sorting_match_grpc_list_calls(base, stored_call, stub_module_scope, deps) -> None:
    call_id, _ = stored_call
    _raise(deps, call_id, "THREAT_PHRASE", Level.HIGH, excerpt="I want to cancel my contract")
    status, _, body = http(base, "/api/calls?min_level=HIGH&reason=THREAT_PHRASE&queue=web-q&page_size=5")
    listed = json.loads(body)
    assert status == 200 and [c["call_id"] for c in listed["calls"]] == [call_id]
    summary = listed["calls"][0]
    assert summary["max_alert_level"] == "HIGH" and summary["open_alert_count"] >= 1
    assert "THREAT_PHRASE" in summary["alert_reasons"] and 0 < summary["peak_anger"] <= 1
    grpc_list = stub_module_scope.ListCalls(
        pb.ListCallsRequest(min_alert_level=pb.HIGH, reason="THREAT_PHRASE", queue="web-q", page_size=5)
    )
    assert listed == MessageToDict(
        grpc_list, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    assert json.loads(http(base, "/api/calls?agent=nobody")[2])["calls"] == []
    assert call_id in [c["call_id"] for c in json.loads(http(base, "/api/calls?q=WEB-API")[2])["calls"]]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert call_id in [c["call_id"] for c in json.loads(http(base, f"/api/calls?from={today}")[2])["calls"]]
    assert json.loads(http(base, f"/api/calls?to={today}&q=web-api")[2])["calls"] == []
    ordered = json.loads(http(base, "/api/calls?order=peak_anger&page_size=50")[2])["calls"]
    peaks = [c["peak_anger"] for c in ordered]
    assert peaks == sorted(peaks, reverse=True)
    for bad in ("min_level=URGENT", "order=loudest", "from=yesterday", "page_size=1000", "page_token=xyz"):
        status, _, body = http(base, f"/api/calls?{bad}")
        assert status == 400 and json.loads(body)["error"], bad


def test_acknowledge_over_http_and_its_errors(base, stored_call, deps) -> None:
    call_id, _ = stored_call
    alert = _raise(deps, call_id, "REPEAT_CONTACT", Level.MEDIUM)
    path = f"/api/alerts/{alert.alert_id}/acknowledge"
    assert http(base, path, method="POST", body={"by": "  ", "note": ""})[0] == 400
    status, _, body = http(base, path, method="POST", body={"by": "qa-lee", "note": "called back, refund issued"})
    acked = json.loads(body)
    assert status == 200 and acked["status"] == "ACKNOWLEDGED" and acked["acknowledged_by"] == "qa-lee"
    stored = deps.store.get_alert(alert.alert_id)
    assert stored is not None and stored.acknowledgement_note == "called back, refund issued"
    assert http(base, path, method="POST", body={"by": "qa-lee"})[0] == 409
    assert http(base, "/api/alerts/nope/acknowledge", method="POST", body={"by": "x"})[0] == 404
    assert alert.alert_id not in [
        a["alert_id"] for a in json.loads(http(base, "/api/alerts?open_only=true")[2])["alerts"]
    ]


def _sse_event(res) -> dict[str, str]:
    """The next server-sent event's fields (event, id, data, retry)."""
    fields: dict[str, str] = {}
    while (line := res.readline().decode()) != "\n" or not fields:
        if ": " in line:
            key, value = line.rstrip("\n").split(": ", 1)
            fields[key] = value
    return fields


def test_alert_stream_sends_a_snapshot_of_open_alerts_then_new_ones(base, stored_call, deps) -> None:
    """Each connection opens with the whole open set (the board replaces what it shows with it: what was
    acknowledged during a gap goes, what was raised appears), then numbered alert events as they come."""
    call_id, _ = stored_call
    before = _raise(deps, call_id, "DISAPPOINTMENT_SUSTAINED", Level.MEDIUM)
    url = f"{base}/api/alerts/stream?call_id={call_id}&min_level=MEDIUM"
    with urllib.request.urlopen(url, timeout=10) as res:
        assert res.headers["Content-Type"].startswith("text/event-stream")
        first = _sse_event(res)
        assert first["event"] == "snapshot" and first["retry"] == "2000" and first["id"].endswith("-0")
        snapshot = {a["alert_id"] for a in json.loads(first["data"])["alerts"]}
        assert snapshot == {a.alert_id for a in deps.store.list_alerts(call_id=call_id, open_only=True)}
        assert before.alert_id in snapshot
        sent_at = time.monotonic()
        later = _raise(deps, call_id, "AGENT_ANGER", Level.MEDIUM)
        got = _sse_event(res)
        assert got["event"] == "alert" and got["id"] == first["id"][:-2] + "-1"
        assert json.loads(got["data"])["alert_id"] == later.alert_id and time.monotonic() - sent_at < 1.0
    # acknowledged while nobody watched: the next connection's snapshot no longer has it
    assert http(base, f"/api/alerts/{before.alert_id}/acknowledge", method="POST", body={"by": "sup"})[0] == 200
    with urllib.request.urlopen(url, timeout=10) as res:
        again = {a["alert_id"] for a in json.loads(_sse_event(res)["data"])["alerts"]}
    assert before.alert_id not in again and later.alert_id in again


def test_timeline_downsamples_keeping_peaks(base, stored_call) -> None:
    call_id, _ = stored_call
    full = json.loads(http(base, f"/api/calls/{call_id}/timeline?max_points=2000")[2])
    assert {t["role"] for t in full["tracks"]} == {"CUSTOMER", "AGENT"}
    assert http(base, f"/api/calls/{call_id}/timeline?max_points=5")[0] == 400
    rng = np.random.default_rng(0)
    updates = [
        pb.EmotionUpdate(channel=0, role=pb.CUSTOMER, start_s=i, end_s=i + 3, anger=float(a), disappointment=0.1)
        for i, a in enumerate(rng.uniform(0, 0.4, 5000))
    ]
    updates[3210].anger = 0.97
    (track,) = timeline(updates, 300)
    assert len(track.t_s) <= 300 and max(track.anger) == pytest.approx(0.97)
    assert track.t_s == sorted(track.t_s)


def test_csv_export_neutralises_formulas_and_has_one_row_per_alert(base, stored_call, deps) -> None:
    call_id, _ = stored_call
    _raise(deps, call_id, "THREAT_PHRASE", Level.HIGH, excerpt="=HYPERLINK(evil)")
    status, headers, body = http(base, f"/api/analysis.csv?call_id={call_id}")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert list(rows[0]) == analysis.COLUMNS
    assert len(rows) == len(deps.store.list_alerts(call_id=call_id))
    assert all(not r["trigger"].startswith("=") for r in rows)
    assert any(r["emotion"] == "threat / complaint" and r["customer_id"] == "" for r in rows)
    everything = http(base, "/api/analysis.csv?queue=web-q&min_level=LOW")[2].decode()
    assert all(a.alert_id in everything for a in deps.store.list_alerts(call_id=call_id))


def _excel_reads(data: bytes) -> list[dict[str, str]]:
    """A CSV file as Excel on a Chinese Windows opens it: UTF-8 only when it starts with the byte-order mark,
    otherwise the ANSI code page (GBK, cp936). LibreOffice Calc also honours the mark."""
    bom = codecs.BOM_UTF8
    text = data[len(bom) :].decode("utf-8") if data.startswith(bom) else data.decode("gbk", errors="replace")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_export_opens_in_excel_with_chinese_names_and_zoned_times(base, stub_module_scope, deps) -> None:
    quiet = from_float(np.zeros((8000 * 2, 2), np.float32), 8000, Encoding.MULAW)
    meta = {"customer": "张三", "agent": "王芳", "queue": "售后"}
    options = StreamOptions(call_id="web-csv-zh", language="zh", metadata=meta)
    list(stub_module_scope.StreamCall(requests_for(quiet, options), timeout=60))
    _raise(deps, "web-csv-zh", "THREAT_PHRASE", Level.HIGH, excerpt="我要投诉你们领导", agent="王芳")
    status, headers, body = http(base, "/api/analysis.csv?call_id=web-csv-zh")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert body.startswith(codecs.BOM_UTF8)
    (row,) = _excel_reads(body)
    assert row["customer_id"] == "张三" and row["agent"] == "王芳" and "我要投诉你们领导" in row["trigger"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", row["raised_at"])  # ISO 8601, offset
    (no_mark,) = _excel_reads(body[len(codecs.BOM_UTF8) :])  # what Excel showed before: mojibake
    assert no_mark["customer_id"] != "张三"


def test_pages_docs_and_static_files_are_served(base) -> None:
    for path in ("/", "/calls", "/calls/anything", "/static/vendor/uplot/uPlot.iife.min.js"):
        assert http(base, path)[0] == 200, path
    docs = http(base, "/docs")[2].decode()
    assert "/static/swagger/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()  # works offline
    assert http(base, "/static/swagger/swagger-ui-bundle.js")[0] == 200
    spec = json.loads(http(base, "/openapi.json")[2])
    assert {"/api/calls", "/api/live", "/api/alerts/stream", "/api/analysis.csv"} <= set(spec["paths"])
