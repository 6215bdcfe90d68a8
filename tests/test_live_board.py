"""The live board never goes deaf (issue 24): watched through the case's TCP proxy (`../shared/cases/
live-board-reconnect/proxy.py`, copied out: it writes its mode and log beside itself), the connection is
dropped or answered 502 while an alert is acknowledged and a new one raised; when the line comes back the
board, never reloaded, shows the new alert, no longer the acknowledged one, and says it is live again. The
same across a server restart."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
from callguard.v1 import callguard_pb2_grpc as pb_grpc
from playwright.sync_api import Browser, Page, expect

from service.audio.formats import Encoding
from service.audio.wavfile import from_float
from service.client import StreamOptions, requests_for
from service.domain import Role
from service.escalation.alerts import Alert
from service.escalation.policy import Level
from tests.conftest import SHARED
from tests.servers import own_server
from tests.test_console import browser  # noqa: F401  (the module's Chromium)

PROXY = SHARED.parent / "cases" / "live-board-reconnect" / "proxy.py"
needs_proxy = pytest.mark.skipif(not PROXY.exists(), reason=f"{PROXY} not found (a fresh clone has no cases)")
OUTAGE_S = 10.0  # the case's procedure holds 30 s; the board's behaviour does not depend on the length


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """The case's proxy in its own process, in front of `target`; `mode()` switches pass / drop / 502."""

    def __init__(self, folder: Path, target: int) -> None:
        self.folder = folder
        shutil.copy(PROXY, folder / "proxy.py")
        self.set("pass")
        self.port = _free_port()
        self.process = subprocess.Popen([sys.executable, str(folder / "proxy.py"), str(self.port), str(target)])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the proxy did not start"
                time.sleep(0.1)

    def set(self, mode: str) -> None:
        (self.folder / "mode").write_text(mode)

    def log(self) -> str:
        path = self.folder / "proxy.log"
        return path.read_text() if path.exists() else ""

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _alert(call_id: str, evidence: str) -> Alert:
    now = time.time()
    return Alert(
        call_id, 0, Role.CUSTOMER, "ANGER_SUSTAINED", Level.HIGH, 12.0, 8.0, 12.0, evidence, "take over the call",
        queue="billing", agent="alice", raised_at=now, updated_at=now,
    )  # fmt: skip


def _acknowledge(http_port: int, alert_id: str) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/api/alerts/{alert_id}/acknowledge",
        data=json.dumps({"by": "sup-li", "note": "handled by phone"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as res:
        assert res.status == 200


def _watch(browser: Browser, port: int) -> tuple[Page, list[str]]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"http://127.0.0.1:{port}/")
    return page, errors


def _card(page: Page, alert: Alert):
    return page.locator(f'.alert[data-alert="{alert.alert_id}"]')  # its call has ended: under "ended calls"


def _stored_call(grpc_port: int, call_id: str) -> None:
    """A short quiet call streamed in, so alerts have a call to belong to."""
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = pb_grpc.CallMonitorStub(channel)
        quiet = from_float(np.zeros((8000 * 2, 2), np.float32), 8000, Encoding.MULAW)
        list(stub.StreamCall(requests_for(quiet, StreamOptions(call_id=call_id, language="en")), timeout=60))


def _board_with_one_alert(browser: Browser, port: int, running, mine, call_id: str):  # noqa: F811
    """The board opened on `port` showing one open alert (OLD): (page, page errors, status line, OLD)."""
    _stored_call(running.port, call_id)
    old = _alert(call_id, "anger 0.81 for 4 s of speech")
    mine.alerts.publish(old)
    page, errors = _watch(browser, port)
    expect(_card(page, old)).to_be_visible(timeout=10_000)
    return page, errors, page.locator("#stream-state"), old


def _caught_up(page: Page, errors: list[str], old: Alert, new: Alert, timeout_ms: int) -> None:
    """Without a reload: NEW shown, OLD (acknowledged meanwhile) gone, the status live again."""
    expect(_card(page, new)).to_be_visible(timeout=timeout_ms)
    expect(_card(page, old)).to_have_count(0)
    expect(page.locator("#stream-state")).to_have_text("· live")
    page.context.close()
    assert not errors, errors


@needs_proxy
@pytest.mark.parametrize("mode", ["drop", "502"])
def test_the_live_board_catches_up_after_the_line_to_it_fails(browser: Browser, deps, tmp_path, mode) -> None:  # noqa: F811
    running, mine = own_server(deps, deps.settings.replace(data_dir=tmp_path))
    proxy = Proxy(tmp_path, running.http_port)
    try:
        page, errors, state, old = _board_with_one_alert(browser, proxy.port, running, mine, "board-reconnect")
        expect(state).to_have_text("· live")

        proxy.set(mode)
        expect(state).to_contain_text("not live", timeout=15_000)  # says so: not a board that looks alive
        _acknowledge(running.http_port, old.alert_id)  # past the proxy, as another supervisor would
        new = _alert("board-reconnect", "anger 0.92 for 6 s of speech")
        mine.alerts.publish(new)
        time.sleep(OUTAGE_S)
        expect(_card(page, new)).to_have_count(0)  # nothing reached the board while the line was down
        proxy.set("pass")
        _caught_up(page, errors, old, new, 10_000)
        assert ("answered 502" if mode == "502" else "drop new connection") in proxy.log()
    finally:
        proxy.close()
        running.stop(grace_s=2)
        mine.store.close()


@needs_proxy
def test_the_live_board_catches_up_across_a_server_restart(browser: Browser, deps, tmp_path) -> None:  # noqa: F811
    settings = deps.settings.replace(data_dir=tmp_path, http_port=_free_port())
    running, mine = own_server(deps, settings)
    proxy = Proxy(tmp_path, settings.http_port)
    try:
        page, errors, state, old = _board_with_one_alert(browser, proxy.port, running, mine, "board-restart")

        running.stop(grace_s=2)
        mine.store.close()
        expect(state).to_contain_text("not live", timeout=15_000)
        running, mine = own_server(deps, settings)  # the same database and port
        _acknowledge(settings.http_port, old.alert_id)
        new = _alert("board-restart", "anger 0.92 for 6 s of speech")
        mine.alerts.publish(new)
        # the old stream may hang on the proxy (its upstream gone): the board's watchdog (12 s) reopens it
        _caught_up(page, errors, old, new, 25_000)
    finally:
        proxy.close()
        running.stop(grace_s=2)
        mine.store.close()
