"""Web console on a long call: what the detail page fetches, against what it would cost without
downsampling and byte ranges, side by side over real HTTP from a fresh `callguard serve` process.

A data directory is filled with one stereo 8 kHz mu-law call of `--hours` (default 2) with an emotion estimate
per second per speaker, a transcript segment every 5 s and a few alerts, then the server is started on it.
Measured (median of `--repeat` requests): the full call JSON (every estimate) vs. the call without estimates
plus the downsampled timeline; the whole WAV vs. one 256 KiB range near its end (what a seek reads); the
flagged-call list filtered and sorted by peak anger. Writes bench/results/console.json.

    python -m bench.console [--hours 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from bench.stream_load import free_port
from service.audio.formats import AudioFormat, Encoding
from service.domain import CallRecord, CallStatus, Role
from service.emotion import EmotionEstimate
from service.escalation.alerts import Alert
from service.escalation.policy import Level
from service.storage import FileAudioStore, SqliteCallStore
from service.transcription.results import Segment

RESULTS = Path(__file__).resolve().parent / "results"
CALL_ID = "bench-long-call"


def fill(data_dir: Path, hours: float) -> int:
    """Store one long call; returns its audio bytes."""
    fmt = AudioFormat(Encoding.MULAW, 8000, 2)
    seconds = int(hours * 3600)
    store = SqliteCallStore(data_dir / "callguard.db")
    store.create_call(
        CallRecord(CALL_ID, time.time() - seconds, fmt, (Role.CUSTOMER, Role.AGENT), "en", {"agent": "a1"})
    )
    rng = np.random.default_rng(0)
    writer = FileAudioStore(data_dir / "audio").open_writer(CALL_ID)
    for _ in range(seconds // 60):
        writer.write(rng.integers(0, 256, fmt.bytes_per_second * 60, dtype=np.uint8).tobytes())
    audio_bytes = writer.close()
    for t in range(seconds):
        for ch in (0, 1):
            a = float(rng.beta(1.2, 8))
            est = EmotionEstimate(t, t + 3, a, 0.1, 0.6, 0.3 - a / 4, 180, 0.5, 2.0, 4.0, 0.2, 5.0, True)
            store.add_emotion(CALL_ID, ch, est)
        if t % 5 == 0:
            store.add_segment(CALL_ID, t % 2, Segment(t, t + 4, "words words words words words", "en", 0.9, -0.3, ()))
    for k in range(4):
        store.save_alert(
            Alert(CALL_ID, 0, Role.CUSTOMER, "ANGER_SUSTAINED", Level.HIGH, 600.0 * k, 600.0 * k - 4, 600.0 * k, "e", "a",
                  raised_at=time.time(), updated_at=time.time(), alert_id=f"bench-{k}")
        )  # fmt: skip
    store.finish_call(CALL_ID, status=CallStatus.COMPLETED, end_reason="", audio_bytes=audio_bytes, utterances_shed=0)
    store.close()
    return audio_bytes


def timed(url: str, repeat: int, headers: dict | None = None) -> tuple[float, int]:
    """(median seconds, bytes) of GET url."""
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=300) as res:
            size = len(res.read())
        times.append(time.perf_counter() - started)
    return statistics.median(times), size


def wait_http(url: str, proc) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the web console did not answer within 120 s")


def main(argv: list[str] | None = None) -> int:
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        print(f"storing a {args.hours:g} h call ...", file=sys.stderr, flush=True)
        audio_bytes = fill(data_dir, args.hours)
        port, http_port = free_port(), free_port()
        cmd = [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port), "--http-port", str(http_port)]
        proc = subprocess.Popen([*cmd, "--data-dir", str(data_dir)], stderr=subprocess.DEVNULL, env=dict(os.environ))
        base = f"http://127.0.0.1:{http_port}"
        try:
            wait_http(base + "/api/live", proc)
            print("measuring ...", file=sys.stderr, flush=True)
            call = f"{base}/api/calls/{CALL_ID}"
            full = timed(call, args.repeat)
            light = timed(call + "?emotions=false", args.repeat)
            tl = timed(call + "/timeline?max_points=800", args.repeat)
            wav_total = 44 + 2 * audio_bytes
            whole_wav = timed(call + "/audio.wav", max(1, args.repeat // 2))
            start = wav_total - 300_000
            seek = timed(call + "/audio.wav", args.repeat, {"Range": f"bytes={start}-{start + 256 * 1024 - 1}"})
            listing = timed(f"{base}/api/calls?min_level=HIGH&order=peak_anger&page_size=25", args.repeat)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    page_s, page_bytes = light[0] + tl[0], light[1] + tl[1]
    result = {
        "benchmark": "console",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "call_hours": args.hours,
        "emotion_estimates": int(args.hours * 3600) * 2,
        "detail_page_data": {"s": round(page_s, 3), "bytes": page_bytes},
        "full_call_json": {"s": round(full[0], 3), "bytes": full[1]},
        "detail_vs_full_time_ratio": round(full[0] / page_s, 1),
        "detail_vs_full_bytes_ratio": round(full[1] / page_bytes, 1),
        "seek_range_256k": {"s": round(seek[0], 4), "bytes": seek[1]},
        "whole_wav": {"s": round(whole_wav[0], 3), "bytes": whole_wav[1]},
        "whole_vs_seek_time_ratio": round(whole_wav[0] / seek[0], 1),
        "flagged_list_peak_anger": {"s": round(listing[0], 4)},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "console.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\nconsole on a {args.hours:g} h call ({result['emotion_estimates']} estimates): the detail page's data "
        f"{page_s * 1000:.0f} ms / {page_bytes / 1e6:.2f} MB vs. the full call JSON {full[0] * 1000:.0f} ms / "
        f"{full[1] / 1e6:.1f} MB ({result['detail_vs_full_time_ratio']}x faster, "
        f"{result['detail_vs_full_bytes_ratio']}x smaller); a seek (256 KiB range) {seek[0] * 1000:.1f} ms vs. the "
        f"whole {whole_wav[1] / 1e6:.0f} MB WAV {whole_wav[0]:.2f} s ({result['whole_vs_seek_time_ratio']}x); "
        f"flagged list by peak anger {listing[0] * 1000:.1f} ms; written to {RESULTS / 'console.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
