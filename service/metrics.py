"""Prometheus metrics (served at /metrics on the HTTP port). Names start with `callguard_`.

Process-wide, like the process they describe; the session, servicer and web app update them where the
thing happens, so a dashboard shows load, lag, shedding, alerts and errors without reading logs."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

CALLS_ACTIVE = Gauge("callguard_calls_active", "Calls streaming now")
CALLS_ENDED = Counter("callguard_calls_ended_total", "Calls ended, by final status", ["status"])
AUDIO_SECONDS = Counter("callguard_audio_seconds_total", "Seconds of call audio received and stored")
LAG_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60)
TRANSCRIPT_LAG = Histogram(
    "callguard_transcript_lag_seconds",
    "Call time received minus the end of a final transcript segment when it is sent",
    buckets=LAG_BUCKETS,
)
ANALYSIS_LAG = Histogram(
    "callguard_analysis_lag_seconds",
    "Call time received minus call time analysed (VAD, emotion), per analysis step",
    buckets=LAG_BUCKETS,
)
ALERTS = Counter("callguard_alerts_total", "Alerts raised or upgraded, by level and reason", ["level", "reason"])
SHED = Counter("callguard_shed_total", "Work dropped to stay real time (audio is still stored)", ["kind"])
DECODES = Counter(
    "callguard_decodes_total",
    "Utterances decoded, by Whisper window (the short one while transcription is behind)",
    ["window"],
)
SEGMENTS_DROPPED = Counter(
    "callguard_transcript_segments_dropped_total", "Decoded text not shown because it looked like a hallucination"
)
SHED_SECONDS = Counter("callguard_shed_audio_seconds_total", "Seconds of audio not analysed or transcribed", ["kind"])
ERRORS = Counter("callguard_errors_total", "Requests answered with an error, by API and status", ["api", "status"])


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
