"""Translation between protobuf messages and domain objects (and nothing else)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from callguard.v1 import callguard_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from service import events as ev
from service.audio.formats import AudioFormat, Encoding
from service.convert_judgement import utterance_pb
from service.domain import (
    CallOrder,
    CallQuery,
    CallRecord,
    CallSpec,
    CallStatus,
    Role,
    check_call_id,
    check_metadata,
    default_roles,
    resolve_languages,
)
from service.dynamics.conversation import Dynamics, from_dict
from service.emotion import EmotionEstimate
from service.errors import InvalidInput
from service.escalation.alerts import Alert, AlertFilter
from service.escalation.coaching import CoachingMoment
from service.escalation.outcome import Outcome
from service.escalation.policy import Level
from service.judgement.results import UtteranceJudgement
from service.transcription.results import Segment

_ENCODINGS = {pb.LINEAR16: Encoding.LINEAR16, pb.MULAW: Encoding.MULAW, pb.ALAW: Encoding.ALAW}
_ROLES = {pb.CUSTOMER: Role.CUSTOMER, pb.AGENT: Role.AGENT}
_STATUSES = {
    pb.ACTIVE: CallStatus.ACTIVE,
    pb.COMPLETED: CallStatus.COMPLETED,
    pb.INCOMPLETE: CallStatus.INCOMPLETE,
}
_ENCODING_PB = {v: k for k, v in _ENCODINGS.items()}
ROLE_PB = {v: k for k, v in _ROLES.items()}
STATUS_PB = {v: k for k, v in _STATUSES.items()}


def call_spec(config: pb.CallConfig, *, call_id: str, allowed_languages: tuple[str, ...]) -> CallSpec:
    """Validate a CallConfig; `call_id` is the client's or a freshly assigned one."""
    if config.encoding not in _ENCODINGS:
        raise InvalidInput(f"encoding {config.encoding} is not supported: set LINEAR16 (1), MULAW (2) or ALAW (3)")
    fmt = AudioFormat(_ENCODINGS[config.encoding], config.sample_rate_hz, config.channel_count)
    if config.channel_roles:
        if len(config.channel_roles) != fmt.channel_count:
            raise InvalidInput(
                f"channel_roles has {len(config.channel_roles)} entries for {fmt.channel_count} channel(s); "
                "give one role per channel or none"
            )
        unknown = [r for r in config.channel_roles if r not in _ROLES]
        if unknown:
            raise InvalidInput(f"channel_roles contains {unknown[0]}: use CUSTOMER (1) or AGENT (2)")
        roles = roles_from_pb(config.channel_roles)
    else:
        roles = default_roles(fmt.channel_count)
    return CallSpec(
        call_id=check_call_id(call_id),
        format=fmt,
        roles=roles,
        language=config.language or "auto",
        languages=resolve_languages(config.language, allowed_languages),
        metadata=check_metadata(dict(config.metadata)),
        interim_results=config.interim_results,
        resume=config.resume,
    )


def roles_from_pb(roles: Iterable[int]) -> tuple[Role, ...]:
    return tuple(_ROLES[r] for r in roles)


def status_from_pb(status: int) -> CallStatus | None:
    if status == pb.CALL_STATUS_UNSPECIFIED:
        return None
    if status not in _STATUSES:
        raise InvalidInput(f"status {status} is not a CallStatus")
    return _STATUSES[status]


_ORDERS = {pb.CallOrder.Value(o.value): o for o in CallOrder}
MAX_QUERY_TEXT = 200


def call_query(req: pb.ListCallsRequest) -> CallQuery:
    """Validate a ListCallsRequest's filters into the storage query."""
    if req.min_alert_level not in (0, 1, 2, 3):
        raise InvalidInput(f"min_alert_level {req.min_alert_level} is not LOW (1), MEDIUM (2) or HIGH (3)")
    if req.order not in _ORDERS:
        names = ", ".join(f"{o.value} ({pb.CallOrder.Value(o.value)})" for o in CallOrder)
        raise InvalidInput(f"order {req.order} is not one of {names}")
    if max(len(req.reason), len(req.agent), len(req.queue), len(req.text)) > MAX_QUERY_TEXT:
        raise InvalidInput(f"reason, agent, queue and text filters are at most {MAX_QUERY_TEXT} characters")
    return CallQuery(
        status=status_from_pb(req.status),
        started_from=req.started_from.ToNanoseconds() / 1e9 if req.HasField("started_from") else None,
        started_to=req.started_to.ToNanoseconds() / 1e9 if req.HasField("started_to") else None,
        min_alert_level=req.min_alert_level,
        reason=req.reason.strip().upper(),
        unacknowledged_only=req.unacknowledged_only,
        agent=req.agent,
        queue=req.queue,
        text=req.text.strip(),
        order=_ORDERS[req.order],
    )


def timestamp(unix_s: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(unix_s * 1e9))
    return ts


def segment_pb(channel: int, role: Role, seg: Segment) -> pb.TranscriptSegment:
    return pb.TranscriptSegment(
        channel=channel,
        role=ROLE_PB[role],
        start_s=seg.start_s,
        end_s=seg.end_s,
        text=seg.text,
        language=seg.language,
        language_probability=seg.language_probability,
        avg_logprob=seg.avg_logprob,
        words=[pb.Word(start_s=w.start_s, end_s=w.end_s, text=w.text, probability=w.probability) for w in seg.words],
        speech_rate_sps=seg.speech_rate_sps,
    )


def emotion_pb(channel: int, role: Role, e: EmotionEstimate) -> pb.EmotionUpdate:
    return pb.EmotionUpdate(
        channel=channel,
        role=ROLE_PB[role],
        start_s=e.start_s,
        end_s=e.end_s,
        anger=e.anger,
        disappointment=e.disappointment,
        neutral=e.neutral,
        other=e.other,
        prosody=pb.ProsodySummary(
            pitch_hz=e.pitch_hz,
            pitch_st_vs_baseline=e.pitch_st_vs_baseline,
            loudness_db_vs_baseline=e.loudness_db_vs_baseline,
            speech_rate_sps=e.speech_rate_sps,
            pause_ratio=e.pause_ratio,
            pitch_range_st=e.pitch_range_st,
        ),
        baseline_ready=e.baseline_ready,
    )


def summary_pb(rec: CallRecord) -> pb.CallSummary:
    msg = pb.CallSummary(
        call_id=rec.call_id,
        started_at=timestamp(rec.started_at),
        duration_s=rec.duration_s,
        channel_count=rec.format.channel_count,
        channel_roles=[ROLE_PB[r] for r in rec.roles],
        status=STATUS_PB[rec.status],
        end_reason=rec.end_reason,
        metadata=rec.metadata,
        encoding=_ENCODING_PB[rec.format.encoding],
        sample_rate_hz=rec.format.sample_rate_hz,
        audio_bytes=rec.audio_bytes,
        language=rec.language,
        segment_count=rec.segment_count,
        utterances_shed=rec.utterances_shed,
        segments_dropped=rec.segments_dropped,
        peak_anger=rec.peak_anger,
        peak_disappointment=rec.peak_disappointment,
        max_alert_level=rec.max_alert_level,
        alert_count=rec.alert_count,
        open_alert_count=rec.open_alert_count,
        alert_reasons=rec.alert_reasons,
        customer_talk_share=rec.customer_talk_share,
        agent_talk_share=rec.agent_talk_share,
        overtalk_s=rec.overtalk_s,
        interruptions=rec.interruptions,
        longest_silence_s=rec.longest_silence_s,
    )
    if rec.ended_at is not None:
        msg.ended_at.CopyFrom(timestamp(rec.ended_at))
    return msg


def dynamics_pb(d: Dynamics, roles: tuple[Role, ...]) -> pb.ConversationDynamics:
    """service/dynamics/conversation.Dynamics -> the ConversationDynamics message (roles: one per channel)."""
    return pb.ConversationDynamics(
        duration_s=d.duration_s,
        speakers=[
            pb.SpeakerTalk(
                channel=s.channel,
                role=ROLE_PB[s.role],
                talk_s=s.talk_s,
                talk_share=s.talk_share,
                turns=s.turns,
                interruptions_made=s.interruptions_made,
                speech_rate=[pb.RatePoint(start_s=r.start_s, speech_rate_sps=r.speech_rate_sps) for r in s.speech_rate],
                pauses=s.pauses,
                pauses_per_min=s.pauses_per_min,
            )
            for s in d.speakers
        ],
        overtalk_s=d.overtalk_s,
        overtalk=[pb.TimeRange(start_s=a, end_s=b) for a, b in d.overtalk],
        interruptions=[
            pb.Interruption(
                by_channel=i.by_channel,
                by_role=ROLE_PB[roles[i.by_channel]],
                of_channel=i.of_channel,
                of_role=ROLE_PB[roles[i.of_channel]],
                start_s=i.start_s,
                overlap_s=i.overlap_s,
            )
            for i in d.interruptions
        ],
        silences=[pb.Silence(start_s=x.start_s, end_s=x.end_s, hold_like=x.hold_like) for x in d.silences],
        longest_silence_s=d.longest_silence_s,
        non_talk_s=d.non_talk_s,
        hold_s=d.hold_s,
        unanalysed=[pb.TimeRange(start_s=a, end_s=b) for a, b in d.unanalysed],
    )


def coaching_pb(m: CoachingMoment, roles: tuple[Role, ...]) -> pb.CoachingMoment:
    return pb.CoachingMoment(
        kind=m.kind, channel=m.channel, role=ROLE_PB[roles[m.channel]], t_s=m.t_s, evidence=m.evidence
    )


def outcome_pb(o: Outcome) -> pb.AlertOutcome:
    msg = pb.AlertOutcome(
        alert_id=o.alert_id,
        effect=pb.AlertOutcome.Effect.Value(o.effect.value),
        score_name=o.score_name,
        score_before=o.score_before,
        score_after=o.score_after,
        response_start_s=o.response_start_s,
        speech_after_s=o.speech_after_s,
        calmed=o.time_to_calm_s is not None,
        relapsed=o.relapsed_at_s is not None,
    )
    if o.time_to_calm_s is not None:
        msg.time_to_calm_s = o.time_to_calm_s
    if o.relapsed_at_s is not None:
        msg.relapsed_at_s = o.relapsed_at_s
    return msg


def alert_pb(a: Alert) -> pb.Alert:
    msg = pb.Alert(
        alert_id=a.alert_id,
        call_id=a.call_id,
        channel=a.channel,
        role=ROLE_PB[a.role],
        level=int(a.level),
        reasons=a.reasons,
        t_s=a.t_s,
        start_s=a.start_s,
        end_s=a.end_s,
        evidence=a.evidence,
        action=a.action,
        score_name=a.score_name,
        score=a.score,
        peak=a.peak,
        duration_s=a.duration_s,
        pitch_st_vs_baseline=a.pitch_st_vs_baseline,
        loudness_db_vs_baseline=a.loudness_db_vs_baseline,
        excerpt=a.excerpt,
        matched_phrase=a.matched_phrase,
        queue=a.queue,
        agent=a.agent,
        status=pb.AlertStatus.Value(a.status.value),
        raised_at=timestamp(a.raised_at),
        updated_at=timestamp(a.updated_at),
        acknowledged_by=a.acknowledged_by,
        acknowledgement_note=a.acknowledgement_note,
        version=a.version,
        page=a.page,
        words_class=a.words_class,
        words_score=a.words_score,
        words_phrase=a.words_phrase,
        voice_score=a.voice_score,
    )
    if a.acknowledged_at:
        msg.acknowledged_at.CopyFrom(timestamp(a.acknowledged_at))
    return msg


def alert_filter(req: pb.SubscribeAlertsRequest) -> AlertFilter:
    if req.min_level not in (0, 1, 2, 3):
        raise InvalidInput(f"min_level {req.min_level} is not LOW (1), MEDIUM (2) or HIGH (3)")
    return AlertFilter(
        call_id=req.call_id,
        queue=req.queue,
        agent=req.agent,
        min_level=Level(req.min_level or Level.LOW),
        include_unpaged=req.include_unpaged,
    )


def call_pb(
    rec: CallRecord,
    segments: list[tuple[int, Segment]],
    emotions: list[tuple[int, EmotionEstimate]],
    alerts: list[Alert],
    outcomes: list[Outcome] | None = None,
    coaching: list[CoachingMoment] | None = None,
    judgements: list[tuple[int, UtteranceJudgement]] | None = None,
) -> pb.Call:
    call = pb.Call(
        summary=summary_pb(rec),
        segments=[segment_pb(ch, rec.roles[ch], seg) for ch, seg in segments],
        emotions=[emotion_pb(ch, rec.roles[ch], e) for ch, e in emotions],
        alerts=[alert_pb(a) for a in alerts],
        outcomes=[outcome_pb(o) for o in outcomes or []],
        coaching=[coaching_pb(m, rec.roles) for m in coaching or []],
        utterance_emotions=[utterance_pb(ch, ROLE_PB[rec.roles[ch]], j) for ch, j in judgements or []],
    )
    if rec.dynamics_json:
        call.dynamics.CopyFrom(dynamics_pb(from_dict(json.loads(rec.dynamics_json)), rec.roles))
    return call


def audio_format_pb(rec: CallRecord, total_bytes: int) -> pb.AudioFormat:
    return pb.AudioFormat(
        encoding=_ENCODING_PB[rec.format.encoding],
        sample_rate_hz=rec.format.sample_rate_hz,
        channel_count=rec.format.channel_count,
        total_bytes=total_bytes,
    )


def event_pb(call_id: str, stamped: ev.Stamped) -> pb.CallEvent:
    out = pb.CallEvent(call_id=call_id, call_time_s=stamped.call_time_s)
    e = stamped.event
    if isinstance(e, ev.Accepted):
        out.accepted.CopyFrom(
            pb.CallAccepted(call_id=e.call_id, languages=e.languages, resumed_from_s=e.resumed_from_s)
        )
    elif isinstance(e, ev.FinalTranscript):
        out.transcript.CopyFrom(segment_pb(e.channel, e.role, e.segment))
    elif isinstance(e, ev.InterimTranscript):
        out.interim.CopyFrom(
            pb.InterimTranscript(
                channel=e.channel,
                role=ROLE_PB[e.role],
                start_s=e.start_s,
                end_s=e.end_s,
                text=e.text,
                language=e.language,
            )
        )
    elif isinstance(e, ev.EmotionUpdate):
        out.emotion.CopyFrom(emotion_pb(e.channel, e.role, e.estimate))
    elif isinstance(e, ev.UtteranceEmotion):
        out.utterance_emotion.CopyFrom(utterance_pb(e.channel, ROLE_PB[e.role], e.judgement))
    elif isinstance(e, ev.Progress):
        out.progress.CopyFrom(pb.AudioProgress(bytes_stored=e.bytes_stored, audio_s=e.audio_s))
    elif isinstance(e, ev.Notice):
        out.notice.CopyFrom(
            pb.Notice(
                code=pb.Notice.Code.Value(e.code.value),
                channel=e.channel,
                start_s=e.start_s,
                end_s=e.end_s,
                message=e.message,
            )
        )
    elif isinstance(e, ev.Escalation):
        out.escalation.CopyFrom(alert_pb(e.alert))
    elif isinstance(e, ev.ConversationDynamics):
        out.dynamics.CopyFrom(dynamics_pb(e.dynamics, tuple(s.role for s in e.dynamics.speakers)))
    elif isinstance(e, ev.Ended):
        out.ended.CopyFrom(
            pb.CallEnded(
                status=STATUS_PB[e.status],
                duration_s=e.duration_s,
                segments=e.segments,
                utterances_shed=e.utterances_shed,
                segments_dropped=e.segments_dropped,
            )
        )
    else:
        raise TypeError(f"no CallEvent for {type(e).__name__}")
    return out
