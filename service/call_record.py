"""A call's stored record at the start and end of its stream: created, reopened to resume, or discarded when
it carried no audio. The database and the audio files are touched here, never the call's analysis."""

from __future__ import annotations

import logging
import time

from service import metrics
from service.domain import CallRecord, CallSpec, CallStatus
from service.errors import CallExists, InvalidInput
from service.session_deps import SessionDeps

log = logging.getLogger(__name__)


def create(spec: CallSpec, deps: SessionDeps) -> int:
    """A new ACTIVE call row; returns 0 (no stored audio to continue from). Raises CallExists."""
    deps.store.create_call(
        CallRecord(
            call_id=spec.call_id,
            started_at=time.time(),
            format=spec.format,
            roles=spec.roles,
            language=spec.language,
            metadata=spec.metadata,
        )
    )
    return 0


def reopen(spec: CallSpec, deps: SessionDeps) -> int:
    """Resume an interrupted call: same format, stored audio cut to whole sample frames (a crash can leave
    half a frame), status back to ACTIVE. Returns the stored bytes the new audio continues from."""
    record = deps.store.get_call(spec.call_id)  # CallNotFound: nothing to resume
    if record.status is CallStatus.ACTIVE and deps.store.recover_abandoned(
        deps.settings.instance_lease_s, deps.audio.size, call_id=spec.call_id
    ):  # its instance crashed (lease run out) and no other has noticed yet
        record = deps.store.get_call(spec.call_id)
    if record.status is not CallStatus.INCOMPLETE:
        raise CallExists(
            f"call {spec.call_id} is {record.status.value}; only an INCOMPLETE call can be resumed (one "
            "interrupted a moment ago may still be finishing: retry in a few seconds)"
        )
    if record.format != spec.format or record.roles != spec.roles:
        raise InvalidInput(
            f"call {spec.call_id} was {record.format.encoding.value} {record.format.sample_rate_hz} Hz "
            f"{record.format.channel_count} channel(s); resume it with the same format and roles"
        )
    frame = spec.format.frame_bytes
    whole = deps.audio.size(spec.call_id) // frame * frame
    if not deps.store.reopen_call(spec.call_id, audio_bytes=whole):  # claim it before touching it
        raise CallExists(f"call {spec.call_id} was resumed by another stream a moment ago")
    whole = deps.audio.truncate_to_frames(spec.call_id, frame)
    log.info("call %s resumed at %.2f s", spec.call_id, spec.format.duration_s(whole))
    return whole


def discard(call_id: str, reason: str, deps: SessionDeps) -> None:
    """A call that carried no audio (refused at its first frame, or closed before any) is not kept: a
    0-second row with no transcript would sit in every QA list. Counted (callguard_calls_ended_total
    {status="NOT_STORED"}) and logged with why it ended."""
    log.warning("call %s carried no audio (%s): not stored", call_id, reason or "closed")
    try:
        deps.store.delete_call(call_id)
        deps.audio.delete(call_id)
    except Exception as exc:  # a row left behind is only clutter; never fail the call's end over it
        metrics.ERRORS.labels("storage", type(exc).__name__).inc()
        log.error("call %s: could not remove the empty call: %s", call_id, exc)
