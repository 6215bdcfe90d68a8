"""The `callguard` command as people and scripts use it, against the running test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from service.audio.formats import Encoding
from service.audio.wavfile import from_float, read_wav, write_wav
from tests.calls import conversation, pick

CALLGUARD = [sys.executable, "-m", "service.cli.main"]


def callguard(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
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
    assert "COMPLETED" in shown and "agent_id   a9" in shown and "door" in shown.lower()
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
    assert "not a RIFF/WAVE file" in callguard("stream", str(bad), "--server", address, check=False).stderr


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
