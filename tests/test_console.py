"""The web console end to end in headless Chromium (Debian's, driven by Playwright): a call streamed into the
running service shows on the live board, its alert arrives without a reload and is acknowledged, the
flagged-call list filters to it, the detail page plays and seeks, and the CSV export carries the alert.
Screenshots of the three pages go to tests/artifacts/ (ignored by git)."""

from __future__ import annotations

import csv
import io
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from callguard.v1 import callguard_pb2 as pb
from playwright.sync_api import Browser, Page, expect, sync_playwright

from service.client import StreamOptions, requests_for
from tests.test_dynamics import build_timed_call
from tests.test_escalation import _switch_call

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
CALL_ID = "console-angry-24"


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (make test does it too)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, errors  # no script errors on any page


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_supervisor_and_qa_flow_in_the_browser(page: Page, server, stub, ravdess) -> None:
    base = f"http://127.0.0.1:{server.http_port}"
    call, switch_s = _switch_call(ravdess, "ravdess_24", "angry", agent="ravdess_18")
    metadata = {"agent": "alice", "queue": "billing", "customer_id": "C-1042"}
    # Paced at 8x real time, so the call is in progress while the board watches it.
    options = StreamOptions(call_id=CALL_ID, language="en", metadata=metadata, realtime=True, speed=8.0)
    events: list[pb.CallEvent] = []
    streamer = threading.Thread(target=lambda: events.extend(stub.StreamCall(requests_for(call.audio, options))))

    # ---- live board: the call appears, then its alert, without a reload --------------------------------
    page.goto(base + "/")
    page.evaluate("window.__sameDocument = true")
    streamer.start()
    row = page.locator(f'#calls tr[data-call="{CALL_ID}"]')
    expect(row).to_be_visible(timeout=20_000)
    expect(row).to_contain_text("alice")
    expect(row.locator("svg polyline").first).to_be_attached(timeout=20_000)  # sparklines drawn
    card = page.locator(".alert", has_text=CALL_ID).filter(has_text="ANGER_SUSTAINED")
    expect(card).to_be_visible(timeout=60_000)
    assert page.evaluate("window.__sameDocument") is True  # it arrived over the event stream, not a reload
    expect(card).to_contain_text("dB vs. baseline")
    _shot(page, "live")
    streamer.join(timeout=120)
    assert not streamer.is_alive() and events and events[-1].WhichOneof("event") == "ended"
    raised = [e.escalation for e in events if e.WhichOneof("event") == "escalation"]
    anger_id = next(a.alert_id for a in raised if "ANGER_SUSTAINED" in a.reasons)

    # ---- acknowledge with a note -------------------------------------------------------------------
    page.fill("#me", "sup-maria")
    page.locator("#me").dispatch_event("change")
    card = page.locator(f'.alert[data-alert="{anger_id}"]')
    card.locator(".note").fill("took over the call")
    card.locator(".ack-btn").click()
    expect(card).to_have_count(0, timeout=5_000)
    stored = stub.GetCall(pb.GetCallRequest(call_id=CALL_ID)).alerts
    acked = next(a for a in stored if a.alert_id == anger_id)
    assert acked.status == pb.ACKNOWLEDGED and acked.acknowledged_by == "sup-maria"
    assert acked.acknowledgement_note == "took over the call"

    # ---- flagged calls: the filters narrow the list to this call --------------------------------------
    page.goto(base + "/calls")
    page.fill("input[name=q]", CALL_ID)
    page.select_option("select[name=min_level]", "HIGH")
    page.select_option("select[name=reason]", "ANGER_SUSTAINED")
    page.fill("input[name=agent]", "alice")
    page.click("button[type=submit]")
    listed = page.locator(f'#list tr[data-call="{CALL_ID}"]')
    expect(listed).to_be_visible()
    expect(page.locator("#list tbody tr")).to_have_count(1)
    expect(listed).to_contain_text("HIGH")
    page.select_option("select[name=reason]", "THREAT_PHRASE")  # no threat was said in this call
    page.click("button[type=submit]")
    expect(page.locator("#list tbody")).to_contain_text("No calls match")
    page.select_option("select[name=reason]", "ANGER_SUSTAINED")
    page.click("button[type=submit]")
    expect(listed).to_be_visible()
    _shot(page, "calls")

    # ---- CSV export of the filtered list ---------------------------------------------------------------
    with page.expect_download() as download:
        page.click("#csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    mine = [r for r in rows if r["alert_id"] == anger_id]
    assert len(mine) == 1 and {r["call_id"] for r in rows} == {CALL_ID}
    assert mine[0]["customer_id"] == "C-1042" and mine[0]["emotion"] == "anger"
    assert mine[0]["acknowledged_by"] == "sup-maria" and mine[0]["note"] == "took over the call"
    # the alert says what raised (or last upgraded) it: the utterance rule (what was said and how it sounded)
    # or the windows' rule beside it (prosody against the customer's calm start)
    trigger = mine[0]["trigger"]
    assert mine[0]["suggested_action"]
    if trigger.startswith("words and voice: anger"):
        assert 'said "' in trigger and "voice: anger" in trigger
    else:
        assert trigger.startswith("prosody: anger") and "dB vs. baseline" in trigger

    # ---- call detail: plays, seeks from the transcript and from alert markers --------------------------
    listed.locator("a").click()
    page.wait_for_url(f"**/calls/{CALL_ID}")
    expect(page.locator(".line").first).to_be_visible()
    # the shouted lines carry their utterance's judgement: the strongest emotion, with words and voice behind it
    judged = page.locator(".line .judged.anger").first
    expect(judged).to_be_visible()
    assert "voice anger" in judged.get_attribute("title") and "words anger" in judged.get_attribute("title")
    expect(page.locator("#analysis tbody")).to_contain_text("sup-maria")
    page.click("#play")
    page.wait_for_function("document.getElementById('audio').currentTime > 0.5", timeout=10_000)
    page.click("#play")  # pause
    line = page.locator(".line").nth(6)
    start = float(line.get_attribute("data-start"))
    line.click()
    now = page.evaluate("document.getElementById('audio').currentTime")
    assert start - 0.05 <= now <= start + 1.0, (start, now)
    page.click("#play")
    marker = page.locator("#lane-alerts .marker").first
    marker.click()
    t_marker = float(marker.get_attribute("data-t"))
    now = page.evaluate("document.getElementById('audio').currentTime")
    assert switch_s - 1.0 <= t_marker and t_marker - 0.05 <= now <= t_marker + 1.0, (t_marker, now)
    page.click("button[data-solo='0']")  # customer only: playback goes on through Web Audio
    page.wait_for_function(f"document.getElementById('audio').currentTime > {now + 0.3}", timeout=10_000)
    page.click("#play")
    expect(page.locator("#emotion-chart canvas")).to_be_visible()
    _shot(page, "call")


def test_console_signs_in_with_a_token_when_auth_is_required(browser: Browser, deps, tmp_path) -> None:
    from service.auth import AccessRole, create_token
    from tests.servers import own_server

    running, mine = own_server(deps, deps.settings.replace(require_auth=True, data_dir=tmp_path))
    try:
        token, _ = create_token(mine.store, AccessRole.SUPERVISOR, "sup-kim")
        context = browser.new_context()
        page = context.new_page()
        base = f"http://127.0.0.1:{running.http_port}"
        page.goto(base + "/")
        box = page.locator("#signin")
        expect(box.locator("#token")).to_be_visible()  # the API said 401: the page asks for a token
        box.locator("#token").fill("cg_wrong_token")
        box.locator("#signin-btn").click()
        expect(box.locator("#token")).to_have_attribute("placeholder", re.compile("not valid"))
        box.locator("#token").fill(token)
        box.locator("#signin-btn").click()
        expect(box).to_contain_text("sup-kim (supervisor)")
        expect(page.locator("#me")).to_have_value("sup-kim")
        expect(page.locator("#call-count")).to_have_text("(0)")  # the live board loads now
        page.goto(base + "/calls")  # a supervisor may not list stored calls
        expect(page.locator("#list tbody")).to_contain_text("may not list stored calls")
        context.close()
    finally:
        running.stop(grace_s=2)
        mine.store.close()


def test_live_board_separates_ended_calls_and_shows_the_viewers_zone(browser: Browser, deps, tmp_path) -> None:
    """One live call and two ended calls, each with an open alert: the live call's alert is under "live calls",
    the call that ended just now is apart and marked "call ended", the one that ended hours ago has aged out of
    the live view (counted, with a link to the flagged-calls list). Times show the viewer's zone."""
    import sqlite3
    import time

    import grpc
    from callguard.v1 import callguard_pb2_grpc as pb_grpc

    from service.audio.formats import Encoding
    from service.audio.wavfile import from_float
    from service.domain import Role
    from service.escalation.alerts import Alert
    from service.escalation.policy import Level
    from tests.servers import own_server

    running, mine = own_server(deps, deps.settings.replace(data_dir=tmp_path, live_board_ended_s=1800.0))
    quiet = from_float(np.zeros((8000 * 2, 2), np.float32), 8000, Encoding.MULAW)  # 2 s, stored, no speech
    live_audio = from_float(np.zeros((8000 * 90, 2), np.float32), 8000, Encoding.MULAW)
    stop = threading.Event()

    def alert(call_id: str, level: Level, evidence: str) -> Alert:
        now = time.time()
        raised = Alert(
            call_id, 0, Role.CUSTOMER, "ANGER_SUSTAINED", level, 12.0, 8.0, 12.0, evidence, "take over the call",
            queue="billing", agent="alice", raised_at=now, updated_at=now,
        )  # fmt: skip
        mine.alerts.publish(raised)
        return raised

    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.CallMonitorStub(channel)
            for call_id in ("board-ended-now", "board-ended-long-ago"):
                options = StreamOptions(call_id=call_id, language="en", metadata={"agent": "alice"})
                list(stub.StreamCall(requests_for(quiet, options), timeout=60))
            ended_now = alert("board-ended-now", Level.HIGH, "anger 0.81 for 4 s of speech")
            alert("board-ended-long-ago", Level.MEDIUM, "anger 0.66 for 3 s of speech")
            with sqlite3.connect(mine.settings.db_path) as db:  # as if it had ended two hours ago
                db.execute(
                    "UPDATE calls SET ended_at = ? WHERE call_id = ?", (time.time() - 7200, "board-ended-long-ago")
                )

            def requests():  # a live call: paced in real time until the test is done
                options = StreamOptions(call_id="board-live", language="en", realtime=True)
                for request in requests_for(live_audio, options):
                    if stop.is_set():
                        return
                    yield request

            streamer = threading.Thread(target=lambda: list(stub.StreamCall(requests(), timeout=120)), daemon=True)
            streamer.start()
            deadline = time.monotonic() + 20
            while stub.ListCalls(pb.ListCallsRequest(status=pb.ACTIVE)).calls == []:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            live = alert("board-live", Level.HIGH, "anger 0.88 for 5 s of speech")

            context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="Asia/Shanghai")
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{running.http_port}/")
            live_card = page.locator(f'#alerts .alert[data-alert="{live.alert_id}"]')
            expect(live_card).to_be_visible(timeout=10_000)
            expect(live_card).not_to_contain_text("call ended")
            expect(live_card).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\+8"))
            ended_card = page.locator(f'#ended-alerts .alert[data-alert="{ended_now.alert_id}"]')
            expect(ended_card).to_be_visible(timeout=10_000)
            expect(ended_card).to_contain_text("call ended just now")
            expect(page.locator("#alerts")).not_to_contain_text("board-ended")
            expect(page.locator("#aged-out")).to_contain_text("1 more open alert of calls that ended over 30 min ago")
            expect(page.locator("#aged-out a")).to_have_attribute("href", re.compile("unacknowledged=true"))
            expect(page.locator("#calls tbody tr")).to_have_count(1)
            _shot(page, "live-board-live-and-ended")
            # a supervisor is typing a note when the call ends: the card moves to "ended calls", the note stays
            live_card.locator(".note").fill("customer hung up, calling back")
            stop.set()  # the live call hangs up: its stream ends before the channel closes
            streamer.join(timeout=60)
            moved = page.locator(f'#ended-alerts .alert[data-alert="{live.alert_id}"]')
            expect(moved).to_be_visible(timeout=15_000)
            expect(moved.locator(".note")).to_have_value("customer hung up, calling back")
            expect(moved.locator(".note")).to_be_focused()
            page.goto(f"http://127.0.0.1:{running.http_port}/calls?min_level=")
            expect(page.locator("#list thead")).to_contain_text("Started (GMT+8, Asia/Shanghai)")
            expect(page.locator(".filters")).to_contain_text("days and times in GMT+8, Asia/Shanghai")
            started = page.locator('#list tr[data-call="board-ended-now"] td').first
            expect(started).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\+8$"))
            context.close()
            assert not errors, errors
    finally:
        stop.set()
        running.stop(grace_s=2)
        mine.store.close()


def test_call_page_and_list_show_conversation_dynamics(page: Page, server, stub, ravdess, casia) -> None:
    """Talk shares, overtalk, the interruption and the silences of a call with known timing (test_dynamics):
    as lanes on the call page's time axis and as sortable columns of the call list."""
    audio, want = build_timed_call(ravdess, casia)
    options = StreamOptions(
        call_id="console-dynamics", language="auto", metadata={"agent": "bo"}, realtime=True, speed=4.0
    )
    events = list(stub.StreamCall(requests_for(audio, options)))
    final = [e.dynamics for e in events if e.WhichOneof("event") == "dynamics"][-1]
    assert len(final.interruptions) == 1 and not final.unanalysed
    base = f"http://127.0.0.1:{server.http_port}"

    page.goto(base + "/calls?min_level=&order=interruptions")
    mine = page.locator('#list tr[data-call="console-dynamics"]')
    expect(mine).to_be_visible()
    counts = [int(t) for t in page.locator("#list tbody tr td:nth-child(13)").all_inner_texts()]
    assert counts == sorted(counts, reverse=True) and counts[0] >= 1  # most interruptions first, on the server
    cells = mine.locator("td")
    customer, agent = (round(100 * s.talk_share) for s in final.speakers)
    expect(cells.nth(10)).to_have_text(f"{customer} / {agent}%")
    expect(cells.nth(11)).to_have_text(f"{final.overtalk_s:.1f} s")
    expect(cells.nth(12)).to_have_text("1")
    with page.expect_response(lambda r: "/api/calls?" in r.url and "order=longest_silence" in r.url):
        page.click("th[data-order=longest_silence]")  # sorts on the server: the longest silence first
    expect(page.locator("select[name=order]")).to_have_value("longest_silence")
    page.wait_for_function(  # the list is fetched again after the click: wait for the new order to render
        """() => { const v = [...document.querySelectorAll('#list tbody tr td:nth-child(14)')].map((td) => parseFloat(td.textContent));
                   return v.length > 0 && v.every((x, i) => i === 0 || v[i - 1] >= x); }"""
    )
    shown = [float(t.split()[0]) for t in page.locator("#list tbody tr td:nth-child(14)").all_inner_texts()]
    assert shown == sorted(shown, reverse=True) and shown[0] >= final.longest_silence_s - 0.05
    _shot(page, "calls-dynamics")

    page.goto(base + "/calls/console-dynamics")
    box = page.locator("#dynamics")
    expect(box).to_contain_text("customer talk")
    expect(box).to_contain_text("1 interruption")
    expect(box).to_contain_text(f"{final.longest_silence_s:.1f} s")
    pauses = final.speakers[0].pauses
    expect(box).to_contain_text(
        f"{pauses} pause{'' if pauses == 1 else 's'} in turn ({final.speakers[0].pauses_per_min:.1f}/min)"
    )
    lane = page.locator("#lane-talk")
    expect(lane.locator(".cut")).to_have_count(1)
    expect(lane.locator(".band.hold")).to_have_count(1)
    expect(lane.locator(".band.quiet")).to_have_count(len(final.silences) - 1)
    expect(lane.locator(".band.over")).to_have_count(len(final.overtalk))
    cut = lane.locator(".cut")
    assert "Agent talked over the customer" in cut.get_attribute("title")
    cut.click()  # seeks to where the agent cut in
    now = page.evaluate("document.getElementById('audio').currentTime")
    assert want["cut_in_s"] - 0.4 <= now <= want["cut_in_s"] + 1.0, now
    page.click("#play")
    _shot(page, "call-dynamics")


def test_did_the_response_work_on_the_call_page_and_per_agent(page: Page, server, stub, ravdess) -> None:
    """An angry customer who calms down (agent li) and one who stays angry (agent wang), from real speech:
    the analysis table says effective / not effective with the numbers, the list sums it up per agent."""
    from tests.test_escalation import _stream
    from tests.test_outcome import _call

    for agent, calm_down in (("li", True), ("wang", False)):
        _stream(stub, _call(ravdess, calm_down=calm_down), f"console-outcome-{agent}", agent=agent, queue="aftersales")
    base = f"http://127.0.0.1:{server.http_port}"
    page.goto(base + "/calls?min_level=LOW&queue=aftersales")
    expect(page.locator("#list tbody tr")).to_have_count(2)
    agents = page.locator("#response table").first
    li, wang = agents.locator('tr[data-name="li"] td'), agents.locator('tr[data-name="wang"] td')
    expect(li.nth(2)).to_have_text("1")  # effective
    expect(li.nth(6)).to_have_text("100%")  # de-escalated
    expect(li.nth(7)).to_contain_text(" s")  # median time to calm
    expect(wang.nth(4)).to_have_text("1")  # not effective
    expect(wang.nth(6)).to_have_text("0%")
    expect(wang.nth(7)).to_have_text("—")
    queue = page.locator("#response table").nth(1).locator('tr[data-name="aftersales"] td')
    expect(queue.nth(1)).to_have_text("2")
    expect(queue.nth(6)).to_have_text("50%")
    _shot(page, "calls-response")

    page.goto(base + "/calls/console-outcome-li")
    effect = page.locator("#analysis td.effect").first
    expect(effect).to_contain_text("effective")
    expect(effect).to_contain_text("calm after")
    expect(effect).to_have_class(re.compile(r"\beffective\b"))
    page.goto(base + "/calls/console-outcome-wang")
    expect(page.locator("#analysis td.effect").first).to_have_class(re.compile(r"not-effective"))
    _shot(page, "call-response")
