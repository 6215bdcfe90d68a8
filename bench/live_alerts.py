"""The live check of the escalation bench: angry calls streamed at real-time pace into a fresh `callguard
serve`, one supervisor subscribed; how long from the switch (and from the policy's decision) to the alert."""

from __future__ import annotations

import sys
import threading
import time

import grpc
import numpy as np
from callguard.v1 import callguard_pb2 as pb
from callguard.v1 import callguard_pb2_grpc as pb_grpc

from bench.stream_load import start_server
from service.client import StreamOptions, requests_for
from service.simulate import Turn, build_call

RATE = 8000


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def live_delays(calls: list[tuple[str, np.ndarray, float]]) -> dict:
    """Stream (speaker, customer audio, switch call time) calls at real-time pace, all at once, into a fresh
    server, with one supervisor subscribed; returns the delays to the first anger alert of each call."""
    import tempfile

    received: list[tuple[float, float, pb.Alert]] = []  # (monotonic, unix time, alert) on arrival
    switch_sent: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        proc, address = start_server(data_dir)
        try:
            channel = grpc.insecure_channel(address)
            subscription = pb_grpc.CallMonitorStub(channel).SubscribeAlerts(pb.SubscribeAlertsRequest())

            def listen() -> None:
                try:
                    for alert in subscription:
                        received.append((time.monotonic(), time.time(), alert))
                except grpc.RpcError:
                    pass  # cancelled at the end

            def one_call(call_id: str, audio: np.ndarray, switch_s: float, delay_s: float) -> None:
                time.sleep(delay_s)
                wav = build_call([Turn(0, 0.0, audio, "")], sample_rate_hz=RATE, band_limit=False)
                sent: list[tuple[float, float]] = []
                options = StreamOptions(call_id=call_id, language="auto", realtime=True)
                with grpc.insecure_channel(address) as ch:
                    for _ in pb_grpc.CallMonitorStub(ch).StreamCall(requests_for(wav, options, sent_log=sent)):
                        pass
                switch_sent[call_id] = next(wall for call_s, wall in sent if call_s > switch_s)

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            threads = [
                threading.Thread(target=one_call, args=(f"live-{speaker}", audio, switch_s, 0.37 * i))
                for i, (speaker, audio, switch_s) in enumerate(calls)
            ]
            for t in threads:
                t.start()
            for n, t in enumerate(threads, 1):
                t.join()
                print(f"  live call {n}/{len(threads)} done", file=sys.stderr, flush=True)
            time.sleep(1.0)
            subscription.cancel()
            channel.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    from_switch, from_decision, alerted = [], [], 0
    for speaker, _, switch_s in calls:
        call_id = f"live-{speaker}"
        mine = [
            (mono, unix, a)
            for mono, unix, a in received
            if a.call_id == call_id and "ANGER_SUSTAINED" in a.reasons and a.t_s >= switch_s
        ]
        if not mine:
            continue
        alerted += 1
        mono, unix, alert = mine[0]
        from_switch.append(mono - switch_sent[call_id])
        from_decision.append(unix - alert.updated_at.ToMicroseconds() / 1e6)
    decisions = [unix - a.updated_at.ToMicroseconds() / 1e6 for _, unix, a in received]
    return {
        "calls": len(calls),
        "calls_alerted": alerted,
        "alerts_received": len(received),
        "switch_to_subscriber_s": {"p50": pct(from_switch, 50), "p95": pct(from_switch, 95)},
        "decision_to_subscriber_s": {
            "p50": round(float(np.percentile(decisions, 50)), 3) if decisions else None,
            "p95": round(float(np.percentile(decisions, 95)), 3) if decisions else None,
            "max": round(max(decisions), 3) if decisions else None,
        },
        "first_anger_alert_decision_to_subscriber_s": [round(d, 3) for d in from_decision],
    }
