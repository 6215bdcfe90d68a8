"""Soak: many simulated calls at real-time pace for many minutes against a fresh `callguard serve`, watching
for errors, growing lag and growing memory.

`--calls` (default 50) gateways each stream one built call after another, paced in real time, for
`--minutes` (default 10). Every 10 s it samples the server's resident memory and its Prometheus metrics.
It reports errors (RPC failures, calls not COMPLETED), how analysis lag and memory in the last third of the
run compare with the first third (both should be flat), and what was shed to stay real time.
Writes bench/results/soak.json; exits 1 if there were errors or growth.

    python -m bench.soak [--calls 50] [--minutes 10]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import psutil
from callguard.v1 import callguard_pb2 as pb
from callguard.v1 import callguard_pb2_grpc as pb_grpc

from bench.stream_load import free_port, make_calls
from service.client import StreamOptions, requests_for

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE_S = 10.0


def start(data_dir: str, calls: int) -> tuple:  # type: ignore[type-arg]
    import subprocess

    port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port), "--http-port", str(http_port),
         "--data-dir", data_dir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**__import__("os").environ, "CALLGUARD_MAX_CONCURRENT_CALLS": str(calls + 4)},
    )  # fmt: skip
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/metrics", timeout=2).close()
            return proc, f"127.0.0.1:{port}", base
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start within 120 s")


def metric(text: str, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def labelled(text: str, name: str, kind: str) -> float:
    return sum(float(x) for x in re.findall(rf'^{name}{{kind="{kind}"}} (\S+)$', text, re.M))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    calls = make_calls(8, 40.0, seed=7)
    errors: list[str] = []
    completed = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + args.minutes * 60
    with tempfile.TemporaryDirectory() as data_dir:
        proc, address, base = start(data_dir, args.calls)
        server = psutil.Process(proc.pid)

        def gateway(n: int) -> None:
            nonlocal completed
            i = 0
            with grpc.insecure_channel(address) as channel:
                stub = pb_grpc.CallMonitorStub(channel)
                time.sleep(n * 0.2)  # calls start spread out, as in a contact centre
                while time.monotonic() < stop_at:
                    audio = calls[(n + i) % len(calls)].audio
                    options = StreamOptions(call_id=f"soak-{n}-{i}", language="auto", realtime=True)
                    try:
                        events = list(stub.StreamCall(requests_for(audio, options), timeout=600))
                        ended = events[-1].ended if events and events[-1].WhichOneof("event") == "ended" else None
                        with lock:
                            if ended is None or ended.status != pb.COMPLETED:
                                errors.append(f"soak-{n}-{i}: ended {ended}")
                            else:
                                completed += 1
                    except grpc.RpcError as err:
                        with lock:
                            errors.append(f"soak-{n}-{i}: {err.code().name} {err.details()}")
                    i += 1

        threads = [threading.Thread(target=gateway, args=(n,), daemon=True) for n in range(args.calls)]
        for t in threads:
            t.start()
        samples = []
        started = time.monotonic()
        last = None
        while any(t.is_alive() for t in threads):
            time.sleep(SAMPLE_S)
            text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
            now = {
                "t_s": round(time.monotonic() - started, 1),
                "rss_mib": round(server.memory_info().rss / 2**20, 1),
                "lag_sum": metric(text, "callguard_analysis_lag_seconds_sum"),
                "lag_count": metric(text, "callguard_analysis_lag_seconds_count"),
                "active": metric(text, "callguard_calls_active"),
                "shed_transcription": labelled(text, "callguard_shed_total", "transcription"),
                "shed_analysis_s": labelled(text, "callguard_shed_audio_seconds_total", "analysis"),
            }
            if last is not None and now["lag_count"] > last["lag_count"]:
                now["lag_mean_s"] = round(
                    (now["lag_sum"] - last["lag_sum"]) / (now["lag_count"] - last["lag_count"]), 3
                )
            samples.append(now)
            last = now
            print(
                f"  {now['t_s']:6.0f} s: {now['active']:.0f} calls, RSS {now['rss_mib']} MiB, analysis lag "
                f"{now.get('lag_mean_s', 0):.2f} s, utterances shed {now['shed_transcription']:.0f}, "
                f"analysis shed {now['shed_analysis_s']:.1f} s, errors {len(errors)}",
                file=sys.stderr,
                flush=True,
            )
        proc.terminate()
        proc.wait(timeout=120)
    third = max(1, len(samples) // 3)
    early, late = samples[:third], samples[-third:]

    def mean(rows: list[dict], key: str) -> float:
        vals = [r[key] for r in rows if key in r]
        return round(sum(vals) / len(vals), 3) if vals else 0.0

    result = {
        "benchmark": "soak",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "calls": args.calls,
        "minutes": args.minutes,
        "calls_completed": completed,
        "errors": errors[:50],
        "error_count": len(errors),
        "rss_mib_first_third": mean(early, "rss_mib"),
        "rss_mib_last_third": mean(late, "rss_mib"),
        "analysis_lag_s_first_third": mean(early, "lag_mean_s"),
        "analysis_lag_s_last_third": mean(late, "lag_mean_s"),
        "utterances_shed": samples[-1]["shed_transcription"] if samples else 0,
        "analysis_shed_s": samples[-1]["shed_analysis_s"] if samples else 0,
        "samples": samples,
    }
    memory_growth = result["rss_mib_last_third"] > result["rss_mib_first_third"] * 1.10 + 20
    lag_growth = result["analysis_lag_s_last_third"] > result["analysis_lag_s_first_third"] * 1.5 + 0.5
    result["verdict"] = {"errors": len(errors) == 0, "memory_flat": not memory_growth, "lag_flat": not lag_growth}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\nsoak: {args.calls} concurrent calls for {args.minutes:g} min: {completed} calls completed, {len(errors)} errors; "
        f"RSS {result['rss_mib_first_third']} -> {result['rss_mib_last_third']} MiB; analysis lag "
        f"{result['analysis_lag_s_first_third']} -> {result['analysis_lag_s_last_third']} s; utterances shed "
        f"{result['utterances_shed']:.0f}, analysis shed {result['analysis_shed_s']:.1f} s; verdict {result['verdict']}; "
        f"written to {RESULTS / 'soak.json'}"
    )
    return 0 if all(result["verdict"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
