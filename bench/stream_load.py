"""Concurrency benchmark: N simultaneous real-time calls against a fresh `callguard serve` process.

For N = 1, 2, 4, 8 (by default) it streams N different stereo 8 kHz mu-law calls built from the shared
speech corpora, paced in real time as a gateway sends them, and measures:
  - transcript lag: wall-clock time from the moment the end of an utterance was sent to the moment its final
    segment reached the client (includes the 0.5 s of silence the endpointer waits for), p50 / p95 / max;
  - CPU seconds the server process used per second of call audio (all channels of all calls);
  - peak RSS of the server process;
  - utterances shed (not transcribed because transcription fell behind);
  - transcript accuracy: English WER (RAVDESS calls) and Mandarin CER (CASIA calls) of what the clients
    received, against the sentences spoken.
With `--compare-window W` every level is run twice, the second time with one fixed Whisper window of W s
(CALLGUARD_WHISPER_WINDOW_S and CALLGUARD_WHISPER_BUSY_WINDOW_S = W; 30 is the decode before the busy
window existed), and the ratios are reported.
Results are printed as a table and written to bench/results/stream_load.json.

    python -m bench.stream_load [--levels 1,2,4,8,12] [--call-s 30] [--compare-window 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import numpy as np
import psutil
from callguard.v1 import callguard_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from features.corpus import Clip, read_labels, shared_data_dir
from service.audio.wavfile import WavAudio
from service.client import StreamOptions, requests_for
from service.simulate import build_call, normalise_peak, sequential_turns
from tests.textmetrics import cer_zh, wer

RESULTS = Path(__file__).resolve().parent / "results"
RATE = 8000


@dataclass
class LevelResult:
    calls: int
    audio_s: float
    segments: int
    utterances_shed: int
    lag_p50_s: float
    lag_p95_s: float
    lag_max_s: float
    cpu_s_per_audio_s: float
    peak_rss_mib: float
    wall_s: float
    en_wer: float
    zh_cer: float


@dataclass
class BenchCall:
    audio: WavAudio
    language: str  # "en" or "zh"
    reference: dict[int, str]  # per channel: the sentences spoken, in order


def make_calls(n: int, call_s: float, seed: int = 0) -> list[BenchCall]:
    """n different conversations of about call_s seconds: customer and agent take turns (English or Mandarin)."""
    data = shared_data_dir()
    corpora = [read_labels(data / "ravdess" / "LABELS.csv"), read_labels(data / "casia" / "LABELS.csv")]
    rng = random.Random(seed)
    calls = []
    for i in range(n):
        clips: list[Clip] = corpora[i % 2]
        speakers = sorted({c.speaker for c in clips})
        customer, agent = rng.sample(speakers, 2)
        turns_spec, t, channel = [], 0.0, 0
        while t < call_s:
            pool = [c for c in clips if c.speaker == (customer if channel == 0 else agent)]
            clip = rng.choice(pool)
            audio = normalise_peak(clip.load(RATE))
            turns_spec.append((channel, audio, clip.sentence))
            t += len(audio) / RATE + 0.8
            channel = 1 - channel
        reference = {ch: " ".join(text for c, _, text in turns_spec if c == ch) for ch in (0, 1)}
        audio = build_call(sequential_turns(turns_spec, sample_rate_hz=RATE), sample_rate_hz=RATE)
        calls.append(BenchCall(audio, "en" if i % 2 == 0 else "zh", reference))
    return calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli.main",
            "serve",
            "--port",
            str(port),
            "--http-port",
            "-1",
            "--data-dir",
            data_dir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return proc, address
            except grpc.RpcError:
                time.sleep(0.5)
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
    raise RuntimeError("server did not become healthy within 120 s")


def run_level(n: int, calls: list[BenchCall], env: dict[str, str] | None = None) -> LevelResult:
    with tempfile.TemporaryDirectory() as data_dir:
        proc, address = start_server(data_dir, env)
        server = psutil.Process(proc.pid)
        cpu_before = server.cpu_times()
        lags: list[float] = []
        shed = segments = 0
        lock = threading.Lock()
        heard: list[dict[int, list[tuple[float, str]]]] = [{0: [], 1: []} for _ in range(n)]

        def one_call(i: int, audio: WavAudio, delay_s: float) -> None:
            nonlocal shed, segments
            time.sleep(delay_s)
            sent: list[tuple[float, float]] = []
            with grpc.insecure_channel(address) as channel:
                stub = pb_grpc.CallMonitorStub(channel)
                requests = requests_for(audio, StreamOptions(realtime=True), sent_log=sent)
                for event in stub.StreamCall(requests, timeout=600):
                    kind = event.WhichOneof("event")
                    now = time.monotonic()
                    if kind == "transcript":
                        end_s = event.transcript.end_s
                        heard[i][event.transcript.channel].append((event.transcript.start_s, event.transcript.text))
                        sent_at = next((wall for call_s, wall in sent if call_s >= end_s), None)
                        with lock:
                            segments += 1
                            if sent_at is not None:
                                lags.append(now - sent_at)
                    elif kind == "ended":
                        with lock:
                            shed += event.ended.utterances_shed

        started = time.monotonic()
        threads = [threading.Thread(target=one_call, args=(i, calls[i].audio, 0.37 * i)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
        cpu_after = server.cpu_times()
        with open(f"/proc/{proc.pid}/status") as f:
            hwm_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
        proc.terminate()
        proc.wait(timeout=60)
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    audio_s = sum(c.audio.duration_s for c in calls[:n])
    errors: dict[str, list[float]] = {"en": [], "zh": []}
    for call, got in zip(calls[:n], heard, strict=True):
        for ch, ref in call.reference.items():
            text = " ".join(t for _, t in sorted(got[ch]))
            errors[call.language].append(wer(ref, text) if call.language == "en" else cer_zh(ref, text))
    lag = np.array(lags) if lags else np.array([float("nan")])
    return LevelResult(
        calls=n,
        audio_s=round(audio_s, 1),
        segments=segments,
        utterances_shed=shed,
        lag_p50_s=round(float(np.percentile(lag, 50)), 2),
        lag_p95_s=round(float(np.percentile(lag, 95)), 2),
        lag_max_s=round(float(lag.max()), 2),
        cpu_s_per_audio_s=round(cpu / audio_s, 3),
        peak_rss_mib=round(hwm_kib / 1024, 1),
        wall_s=round(wall, 1),
        en_wer=round(float(np.mean(errors["en"])), 3) if errors["en"] else float("nan"),
        zh_cer=round(float(np.mean(errors["zh"])), 3) if errors["zh"] else float("nan"),
    )


def ratios(num: LevelResult, den: LevelResult, **fields: str) -> dict[str, float]:
    """{"<name>_ratio": num.<field> / den.<field>} for each name=field, to 2 decimals."""
    return {f"{name}_ratio": round(getattr(num, f) / getattr(den, f), 2) for name, f in fields.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,2,4,8,12", help="numbers of simultaneous calls (default 1,2,4,8,12)")
    parser.add_argument("--call-s", type=float, default=30.0, help="length of each call in seconds (default 30)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", default=str(RESULTS / "stream_load.json"), help="where to write the results")
    parser.add_argument(
        "--backend",
        choices=["embedded", "postgres+redis", "both"],
        default="embedded",
        help="SQLite + in-process alerts (default), PostgreSQL + Redis (started privately), or both side by side",
    )
    parser.add_argument(
        "--compare-window",
        type=float,
        default=0.0,
        help="also run every level with this one fixed Whisper window (30: the decode before the busy window) and report the ratios",
    )
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    if not (shared_data_dir() / "ravdess" / "LABELS.csv").exists():
        print(f"bench: speech corpora not found at {shared_data_dir()}; set CALLGUARD_SHARED_DATA", file=sys.stderr)
        return 2
    print(f"building {max(levels)} calls of ~{args.call_s:.0f} s from the shared corpora ...", file=sys.stderr)
    calls = make_calls(max(levels), args.call_s)
    backends = ["embedded", "postgres+redis"] if args.backend == "both" else [args.backend]
    reference = f"{backends[0]}, whisper window {args.compare_window:g} s"
    if args.compare_window:
        backends.append(reference)
    engines = None
    if "postgres+redis" in backends:
        from tests.engines import Postgres, Redis

        engines = Postgres(), Redis()
    results, by_backend = [], {}
    try:
        for backend in backends:
            for n in levels:
                env = None
                if backend == reference:
                    w = str(args.compare_window)  # one fixed window, loaded or not
                    env = {"CALLGUARD_WHISPER_WINDOW_S": w, "CALLGUARD_WHISPER_BUSY_WINDOW_S": w}
                if backend.startswith("postgres+redis"):
                    assert engines is not None
                    env = {
                        **(env or {}),
                        "CALLGUARD_DATABASE_URL": engines[0].new_database(f"bench_{n}_{int(time.time())}"),
                        "CALLGUARD_PUBSUB_URL": engines[1].url,
                    }
                print(f"{backend} N={n}: streaming {n} call(s) in real time ...", file=sys.stderr, flush=True)
                result = run_level(n, calls, env)
                by_backend.setdefault(backend, []).append(result)
                print(
                    f"{backend} N={n}: lag p50 {result.lag_p50_s:.2f} s, p95 {result.lag_p95_s:.2f} s, "
                    f"{result.cpu_s_per_audio_s:.3f} CPU-s/audio-s, RSS {result.peak_rss_mib:.0f} MiB, "
                    f"shed {result.utterances_shed}, en WER {result.en_wer}, zh CER {result.zh_cer}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        if engines:
            engines[0].stop()
            engines[1].stop()
    results = by_backend[backends[0]]
    report = {
        "benchmark": "stream_load",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "call_s": args.call_s,
        "backend": backends[0],
        "levels": [asdict(r) for r in results],
    }
    if args.compare_window:
        ref = by_backend[reference]
        report["reference"] = reference
        report["reference_levels"] = [asdict(r) for r in ref]
        report["vs_reference"] = [
            {
                "calls": a.calls,
                **ratios(a, b, cpu="cpu_s_per_audio_s", lag_p50="lag_p50_s", lag_p95="lag_p95_s"),
                "shed": [a.utterances_shed, b.utterances_shed],
                "en_wer": [a.en_wer, b.en_wer],
                "zh_cer": [a.zh_cer, b.zh_cer],
            }
            for a, b in zip(results, ref, strict=True)
        ]
    if "postgres+redis" in by_backend and backends[0] == "embedded":
        other = by_backend["postgres+redis"]
        report["postgres_redis_levels"] = [asdict(r) for r in other]
        report["postgres_redis_vs_embedded"] = [
            {"calls": a.calls, **ratios(b, a, cpu="cpu_s_per_audio_s", lag_p50="lag_p50_s", rss="peak_rss_mib")}
            for a, b in zip(results, other, strict=True)
        ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"\n{'calls':>5} {'audio s':>8} {'segs':>5} {'shed':>5} {'lag p50':>8} {'lag p95':>8} {'lag max':>8} "
            f"{'CPU-s/audio-s':>13} {'peak RSS':>9} {'en WER':>7} {'zh CER':>7}"
        )
        for name, rows in by_backend.items():
            print(name)
            for r in rows:
                print(
                    f"{r.calls:>5} {r.audio_s:>8.1f} {r.segments:>5} {r.utterances_shed:>5} {r.lag_p50_s:>7.2f}s "
                    f"{r.lag_p95_s:>7.2f}s {r.lag_max_s:>7.2f}s {r.cpu_s_per_audio_s:>13.3f} {r.peak_rss_mib:>6.0f} MiB "
                    f"{r.en_wer:>7.3f} {r.zh_cer:>7.3f}"
                )
        for row in report.get("vs_reference", []):
            print(
                f"vs {reference} at {row['calls']} call(s): CPU x{row['cpu_ratio']}, lag p50 x{row['lag_p50_ratio']}, "
                f"p95 x{row['lag_p95_ratio']}, shed {row['shed'][0]} vs {row['shed'][1]}, "
                f"en WER {row['en_wer'][0]} vs {row['en_wer'][1]}, zh CER {row['zh_cer'][0]} vs {row['zh_cer'][1]}"
            )
        for row in report.get("postgres_redis_vs_embedded", []):
            print(
                f"postgres+redis vs embedded at {row['calls']} call(s): CPU x{row['cpu_ratio']}, "
                f"lag p50 x{row['lag_p50_ratio']}, RSS x{row['rss_ratio']}"
            )
        print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
