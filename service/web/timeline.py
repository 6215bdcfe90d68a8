"""A call's emotion timeline per speaker, downsampled so an hour-long call still draws at once.

Each speaker's estimates are grouped into at most `max_points` equal stretches of call time. Anger and
disappointment keep each stretch's maximum (a short outburst must not vanish when zoomed out); pitch and
loudness relative to the speaker's baseline keep the mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from callguard.v1 import callguard_pb2 as pb

MAX_POINTS = 2000
DEFAULT_POINTS = 600


@dataclass
class Track:
    channel: int
    role: str
    t_s: list[float] = field(default_factory=list)  # middle of each estimate's window (or stretch)
    anger: list[float] = field(default_factory=list)
    disappointment: list[float] = field(default_factory=list)
    pitch_st: list[float] = field(default_factory=list)  # vs. the speaker's baseline
    loudness_db: list[float] = field(default_factory=list)


def timeline(emotions: list[pb.EmotionUpdate], max_points: int) -> list[Track]:
    by_channel: dict[int, list[pb.EmotionUpdate]] = {}
    for e in emotions:
        by_channel.setdefault(e.channel, []).append(e)
    return [_track(ch, rows, max_points) for ch, rows in sorted(by_channel.items())]


def _track(channel: int, rows: list[pb.EmotionUpdate], max_points: int) -> Track:
    t = np.array([(e.start_s + e.end_s) / 2 for e in rows])
    cols = {
        "anger": np.array([e.anger for e in rows]),
        "disappointment": np.array([e.disappointment for e in rows]),
        "pitch_st": np.array([e.prosody.pitch_st_vs_baseline for e in rows]),
        "loudness_db": np.array([e.prosody.loudness_db_vs_baseline for e in rows]),
    }
    track = Track(channel, pb.Role.Name(rows[0].role))
    if len(rows) > max_points:
        order = np.argsort(t, kind="stable")
        t = t[order]
        cols = {name: values[order] for name, values in cols.items()}
        edges = np.linspace(t[0], t[-1], max_points + 1)
        bucket = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, max_points - 1)
        _, starts, counts = np.unique(bucket, return_index=True, return_counts=True)  # buckets are contiguous
        t = np.add.reduceat(t, starts) / counts
        cols = {
            name: np.maximum.reduceat(v, starts)
            if name in ("anger", "disappointment")
            else np.add.reduceat(v, starts) / counts
            for name, v in cols.items()
        }
    track.t_s = [round(float(x), 2) for x in t]
    for name, values in cols.items():
        setattr(track, name, [round(float(x), 3) for x in values])
    return track
