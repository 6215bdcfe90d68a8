"""The call's timeline in SQL, shared by SQLite and PostgreSQL (a part of SqlCallStore): transcript segments,
the 3 s window emotion estimates, and the utterance judgements (words and voice)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from service.emotion import EmotionEstimate
from service.judgement.codec import judgement_from_json, judgement_to_json
from service.judgement.results import UtteranceJudgement
from service.transcription.results import Segment, Word


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class SqlTimeline:
    """Needs `_run(sql, args)` and `dialect` from the store it is part of."""

    dialect: Any

    def _run(self, sql: str, args: tuple | list = ()) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- transcript, emotions and judgements --------------------------------------------------------------------------
    def add_segment(self, call_id: str, channel: int, segment: Segment) -> None:
        words = [[w.start_s, w.end_s, w.text, w.probability] for w in segment.words]
        self._run(
            "INSERT INTO segments (call_id, channel, start_s, end_s, text, language, language_probability,"
            " avg_logprob, words) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                call_id,
                channel,
                segment.start_s,
                segment.end_s,
                segment.text,
                segment.language,
                segment.language_probability,
                segment.avg_logprob,
                json.dumps(words, ensure_ascii=False),
            ),
        )

    def segments(self, call_id: str) -> list[tuple[int, Segment]]:
        rows = self._run("SELECT * FROM segments WHERE call_id = ? ORDER BY start_s, channel, id", (call_id,))
        return [(r["channel"], _segment(r)) for r in rows.fetchall()]

    def add_emotion(self, call_id: str, channel: int, estimate: EmotionEstimate) -> None:
        self._run(
            "INSERT INTO emotions (call_id, channel, start_s, end_s, estimate) VALUES (?, ?, ?, ?, ?)",
            (call_id, channel, estimate.start_s, estimate.end_s, json.dumps(dataclasses.asdict(estimate))),
        )
        greatest = self.dialect.greatest
        self._run(
            f"UPDATE calls SET peak_anger = {greatest.format(a='peak_anger', b='?')},"
            f" peak_disappointment = {greatest.format(a='peak_disappointment', b='?')} WHERE call_id = ?",
            (estimate.anger, estimate.disappointment, call_id),
        )

    def emotions(self, call_id: str, *, since_s: float | None = None) -> list[tuple[int, EmotionEstimate]]:
        rows = self._run(
            "SELECT channel, estimate FROM emotions WHERE call_id = ? AND end_s > ? ORDER BY end_s, channel, id",
            (call_id, -1.0 if since_s is None else since_s),
        ).fetchall()
        return [(r["channel"], EmotionEstimate(**_json(r["estimate"]))) for r in rows]

    def add_judgement(self, call_id: str, channel: int, judgement: UtteranceJudgement) -> None:
        """Store an utterance judgement; the call's peaks follow the fused scores too (what the policy reads)."""
        self._run(
            "INSERT INTO judgements (call_id, channel, start_s, end_s, judgement) VALUES (?, ?, ?, ?, ?)",
            (call_id, channel, judgement.start_s, judgement.end_s,
             json.dumps(judgement_to_json(judgement), ensure_ascii=False)),
        )  # fmt: skip
        greatest = self.dialect.greatest
        self._run(
            f"UPDATE calls SET peak_anger = {greatest.format(a='peak_anger', b='?')},"
            f" peak_disappointment = {greatest.format(a='peak_disappointment', b='?')} WHERE call_id = ?",
            (judgement.anger, judgement.disappointment, call_id),
        )

    def judgements(self, call_id: str) -> list[tuple[int, UtteranceJudgement]]:
        rows = self._run(
            "SELECT channel, judgement FROM judgements WHERE call_id = ? ORDER BY end_s, channel, id", (call_id,)
        ).fetchall()
        return [(r["channel"], judgement_from_json(_json(r["judgement"]))) for r in rows]


def _segment(row: Any) -> Segment:
    return Segment(
        start_s=row["start_s"],
        end_s=row["end_s"],
        text=row["text"],
        language=row["language"],
        language_probability=row["language_probability"],
        avg_logprob=row["avg_logprob"],
        words=tuple(Word(*w) for w in _json(row["words"])),
    )
