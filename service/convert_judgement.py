"""Utterance judgements to protobuf (the UtteranceEmotion message); the rest of the translation is convert.py."""

from __future__ import annotations

import math

from callguard.v1 import callguard_pb2 as pb

from service.judgement.results import UtteranceJudgement


def utterance_pb(channel: int, role_pb: int, j: UtteranceJudgement) -> pb.UtteranceEmotion:
    """`role_pb`: the channel's role as its proto enum value (convert.ROLE_PB)."""
    v = j.voice
    voice = pb.VoiceEvidence(
        source=v.source, anger=v.anger, sad=v.sad, neutral=v.neutral, other=v.other,
        encoder_window_s=v.encoder_window_s,
    )  # fmt: skip
    for name in ("windows_anger", "windows_sad", "pitch_st_vs_baseline", "loudness_db_vs_baseline"):
        value = getattr(v, name)
        if not math.isnan(value):
            setattr(voice, name, value)
    msg = pb.UtteranceEmotion(
        channel=channel,
        role=role_pb,
        start_s=j.start_s,
        end_s=j.end_s,
        speech_s=j.speech_s,
        text=j.text,
        language=j.language,
        anger=j.anger,
        disappointment=j.disappointment,
        anxiety=j.anxiety,
        confusion=j.confusion,
        neutral=j.neutral,
        voice=voice,
        voice_anger=j.score("voice_anger"),
        voice_disappointment=j.score("voice_disappointment"),
    )
    if j.words is not None:
        w = j.words
        msg.words.CopyFrom(
            pb.WordsEvidence(
                language=w.language, anger=w.anger, disappointment=w.disappointment, anxiety=w.anxiety,
                confusion=w.confusion, neutral=w.neutral,
                drivers=[pb.WordsDriver(emotion=k, phrases=list(p)) for k, p in w.drivers.items()],
            )
        )  # fmt: skip
    return msg
