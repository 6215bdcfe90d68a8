"""What every call shares, built once by server.py: the settings, the stores, the models, the policy and the
alert hub, and the per-call options derived from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from features.model import EmotionModel
from service.dynamics.talk import DynamicsOptions
from service.emotion import EmotionOptions
from service.escalation.bus import AlertHub
from service.escalation.policy import PolicySource
from service.judgement.judge import UtteranceJudge
from service.settings import Settings
from service.storage import AudioStore, CallStore
from service.transcription.pool import TranscriptionPool
from service.transcription.utterances import UtteranceOptions
from service.transcription.vad import SileroModel
from service.transcription.whisper import DecodeOptions, Transcriber


@dataclass
class SessionDeps:
    """Resources every call shares; built once by server.py."""

    settings: Settings
    store: CallStore
    audio: AudioStore
    transcriber: Transcriber
    pool: TranscriptionPool
    vad_model: SileroModel
    emotion_model: EmotionModel
    policy: PolicySource
    alerts: AlertHub
    judge: UtteranceJudge | None = None  # words + voice per utterance (service/judgement); None: not judged

    @property
    def emotion_options(self) -> EmotionOptions:
        s = self.settings
        return EmotionOptions(window_s=s.emotion_window_s, hop_s=s.emotion_hop_s, baseline_windows=s.baseline_windows)

    @property
    def utterance_options(self) -> UtteranceOptions:
        s = self.settings
        return UtteranceOptions(
            threshold=s.vad_threshold,
            neg_threshold=s.vad_neg_threshold,
            min_silence_s=s.min_silence_s,
            min_speech_s=s.min_speech_s,
            speech_pad_s=s.speech_pad_s,
            max_utterance_s=s.max_utterance_s,
        )

    @property
    def dynamics_options(self) -> DynamicsOptions:
        s = self.settings
        return DynamicsOptions(
            interruption_overlap_s=s.interruption_overlap_s,
            dead_air_s=s.dead_air_s,
            hold_s=s.hold_s,
            update_every_s=s.dynamics_update_s,
        )

    @property
    def decode_options(self) -> DecodeOptions:
        s = self.settings
        return DecodeOptions(
            beam_size=s.beam_size,
            no_speech_threshold=s.no_speech_threshold,
            log_prob_threshold=s.log_prob_threshold,
            window_s=s.whisper_window_s,
        )
