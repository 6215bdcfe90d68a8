"""The `callguard` command as people and scripts use it, against the running test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from service.audio.formats import Encoding
from service.audio.wavfile import from_float, read_wav, write_wav
from tests.calls import conversation, pick
from tests.terminal_shot import terminal_screenshot

CALLGUARD = [sys.executable, "-m", "service.cli.main"]


def callguard(*args: str, check: bool = True, tz: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", **({"TZ": tz} if tz else {})}
    done = subprocess.run([*CALLGUARD, *args], capture_output=True, text=True, timeout=300, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"callguard {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done


@pytest.fixture(scope="module")
def wav(tmp_path_factory, ravdess) -> Path:
    clips = pick(ravdess, speaker="ravdess_12", emotion="neutral", n=2)
    path = tmp_path_factory.mktemp("cli") / "call.wav"
    write_wav(path, conversation([(0, clips[0]), (1, clips[1])]).audio)
    return path


@pytest.fixture(scope="module")
def streamed(address, wav) -> str:
    out = callguard("stream", str(wav), "--server", address, "--call-id", "cli-call", "--meta", "agent_id=a9").stdout
    assert "call cli-call accepted" in out
    assert "customer" in out and "agent" in out and "door" in out.lower()
    assert "call ended: COMPLETED" in out
    return "cli-call"


def test_stream_json_is_one_event_per_line(address, wav) -> None:
    lines = callguard("stream", str(wav), "--server", address, "--json").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert "accepted" in events[0] and "ended" in events[-1]
    segments = [e["transcript"] for e in events if "transcript" in e]
    assert {s["channel"] for s in segments} == {0, 1} and all(s["words"] for s in segments)


def test_calls_and_show(address, streamed) -> None:
    table = callguard("calls", "--server", address).stdout
    assert table.splitlines()[0].startswith("CALL ID") and streamed in table
    listed = json.loads(callguard("calls", "--server", address, "--json").stdout)
    assert streamed in [c["call_id"] for c in listed["calls"]]
    shown = callguard("show", streamed, "--server", address).stdout
    assert "COMPLETED" in shown and "door" in shown.lower()
    head = shown.split("\n\n")[0].splitlines()  # the labelled rows, before the transcript
    labels = {line.split()[0]: line for line in head}
    value_at = {line.index(line.split()[1]) for line in labels.values()}  # every value starts in one column
    assert len(value_at) == 1 and labels["agent_id"].split()[1] == "a9" and labels["alerts"].split()[1] == "none"
    detail = json.loads(callguard("show", streamed, "--server", address, "--json").stdout)
    assert detail["summary"]["call_id"] == streamed and detail["segments"]


def test_audio_comes_back_exactly(address, streamed, wav, tmp_path) -> None:
    out = tmp_path / "back.wav"
    callguard("audio", streamed, "--server", address, "-o", str(out))
    assert read_wav(out) == read_wav(wav)


def test_errors_say_what_to_do(address, tmp_path) -> None:
    missing = callguard("show", "nope", "--server", address, check=False)
    assert missing.returncode == 2 and "NOT_FOUND" in missing.stderr and "callguard calls" in missing.stderr
    down = callguard("calls", "--server", "127.0.0.1:1", check=False)
    assert down.returncode == 2 and "is `callguard serve` running there?" in down.stderr
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    assert (
        "not a recording this tool can read" in callguard("stream", str(bad), "--server", address, check=False).stderr
    )


def test_serve_refuses_a_broken_model(tmp_path) -> None:
    (tmp_path / "model").mkdir()
    done = callguard(
        "serve", "--port", "0", "--data-dir", str(tmp_path / "var"), "--model", str(tmp_path / "model"), check=False
    )
    assert done.returncode == 2 and "not a complete faster-whisper model directory" in done.stderr


def test_serve_stops_cleanly_on_sigterm(tmp_path) -> None:
    import signal
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*CALLGUARD, "serve", "--port", str(port), "--http-port", "0", "--data-dir", str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "listening on" in line:
            break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "shutting down" in proc.stderr.read()
    assert (tmp_path / "callguard.db").exists()


WAV_HEADER_CASES = Path(__file__).resolve().parents[2] / "shared" / "cases" / "wav-header"


@pytest.mark.skipif(not WAV_HEADER_CASES.exists(), reason=f"real-world cases not found at {WAV_HEADER_CASES}")
def test_recording_with_zero_sizes_in_its_header_streams_whole(address) -> None:
    """A recorder killed before finalising the WAV header: the call is the whole file, as with a correct
    header, and the repair is said on stderr; never a silent, empty, completed call."""
    shown = {}
    for name in ("ok_pcm16_8k.wav", "crashed_recorder_zero.wav"):
        done = callguard("stream", str(WAV_HEADER_CASES / name), "--server", address, "--json")
        events = [json.loads(line) for line in done.stdout.splitlines()]
        ended = events[-1]["ended"]
        text = " ".join(e["transcript"]["text"] for e in events if "transcript" in e)
        shown[name] = (round(ended["duration_s"], 2), text)
        if name.startswith("crashed"):
            assert "read 126520 bytes to the end of the file" in done.stderr
    assert shown["crashed_recorder_zero.wav"] == shown["ok_pcm16_8k.wav"]
    assert shown["ok_pcm16_8k.wav"][0] == 7.91 and shown["ok_pcm16_8k.wav"][1].strip()


def test_recording_without_audio_is_refused(address, tmp_path) -> None:
    empty = tmp_path / "empty.wav"
    write_wav(empty, from_float(np.zeros((0, 1)), 8000, Encoding.LINEAR16))
    for args in (("stream", str(empty), "--server", address), ("analyze", str(empty))):
        done = callguard(*args, check=False)
        assert done.returncode == 2 and "holds no audio" in done.stderr, (args, done.stderr)


def test_an_alert_stands_out_in_stream_show_and_ack(address, ravdess, tmp_path) -> None:
    """A customer who turns angry, streamed from the command line: the alert is printed as it is raised,
    marked and distinct from transcript lines, with emotion lines hidden on request; `show` lists it with the
    peak scores and, once acknowledged, who did it; times carry their zone (here the viewer's, Shanghai)."""
    from tests.test_escalation import _switch_call

    call, switch_s = _switch_call(ravdess, "ravdess_21", "angry", agent="ravdess_20")
    wav = tmp_path / "angry.wav"
    write_wav(wav, call.audio)
    args = ("--call-id", "cli-angry-21", "--no-emotions", "--realtime", "--speed", "8")
    out = callguard("stream", str(wav), "--server", address, *args).stdout
    lines = out.splitlines()
    banners = [x for x in lines if "*** ALERT" in x]
    assert banners and all("ANGER_SUSTAINED" in x and "ch0 customer" in x for x in banners), out
    raised_at = float(banners[0].split("]")[0].strip("[ s"))
    assert raised_at >= switch_s  # raised after the customer turned angry, printed when it happened
    assert not [x for x in lines if "disappointment" in x and "***" not in x]  # --no-emotions
    assert any("[en]" in x for x in lines)  # transcripts stay
    assert lines[-1].startswith("alerts: 1: HIGH ANGER_SUSTAINED (customer,"), lines[-1]
    terminal_screenshot(out, "cli-stream-alert", command=f"callguard stream angry.wav {' '.join(args)}")

    shown = callguard("show", "cli-angry-21", "--server", address, tz="Asia/Shanghai").stdout
    assert "CST (+08:00)" in shown.splitlines()[2]  # started: local time, zone shown
    peak = next(x for x in shown.splitlines() if x.startswith("peak"))
    assert float(peak.split("anger ")[1].split(",")[0]) >= 0.5
    alerts = next(x for x in shown.splitlines() if x.startswith("alerts"))
    assert alerts.split(None, 1)[1] == "1 (highest HIGH, 1 open)", shown
    assert "*** ALERT HIGH ANGER_SUSTAINED" in shown and "OPEN since" in shown
    effect = next(x.strip() for x in shown.splitlines() if x.strip().startswith("effect:"))
    # the customer stays angry to the end of this call: the response did not calm them
    assert effect.startswith("effect: not effective (无效): anger 0."), effect
    alert_id = shown.split("callguard ack ")[1].split()[0]
    acked = callguard("ack", alert_id, "--by", "sup-lin", "--note", "called back", "--server", address).stdout
    assert "acknowledged by sup-lin: called back" in acked
    shown = callguard("show", "cli-angry-21", "--server", address).stdout
    assert "acknowledged by sup-lin at" in shown and "called back" in shown and "all acknowledged" in shown


def test_a_flac_recording_streams_and_other_files_say_how_to_convert(address, ravdess, tmp_path) -> None:
    clip = pick(ravdess, speaker="ravdess_12", emotion="neutral", n=1)[0]
    flac = tmp_path / "call.flac"
    sf.write(flac, clip.load(16000), 16000, format="FLAC")
    out = callguard("stream", str(flac), "--server", address, "--no-emotions").stdout
    assert "16000 Hz, 1 channel(s)" in out.splitlines()[0]
    assert "door" in out.lower() and "call ended: COMPLETED" in out
    junk = tmp_path / "notes.txt"
    junk.write_text("not a recording")
    refused = callguard("stream", str(junk), "--server", address, check=False)
    assert refused.returncode == 2 and "not a recording this tool can read" in refused.stderr
    assert "ffmpeg -i notes.txt" in refused.stderr
