"""Assemble the service: shared resources, the gRPC server (with health and reflection), start and stop.

`create_server(settings)` returns a started server and its port, so tests bind port 0 in-process;
`serve(settings)` is what `callguard serve` runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from callguard.v1 import callguard_pb2 as pb
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from features.model import EmotionModel, ModelIntegrityError
from features.prosody import FEATURE_RATE_HZ, describe
from features.text_emotion.model import TextModelError
from features.threads import one_blas_thread
from features.utterance_model import UtteranceModelError
from service.calls import CallManager
from service.errors import ConfigError, ModelError
from service.escalation.bus import AlertBus, AlertHub, InProcessBus
from service.escalation.policy import DEFAULT_POLICY_FILE, PolicyError, PolicySource
from service.judgement.judge import UtteranceJudge
from service.lease import InstanceLease
from service.reflection import enable_reflection
from service.retention import RetentionScheduler
from service.servicer import CallMonitorServicer
from service.session_deps import SessionDeps
from service.settings import Settings
from service.storage import FileAudioStore, open_store
from service.transcription.pool import TranscriptionPool
from service.transcription.vad import SileroModel
from service.transcription.whisper import Transcriber
from service.undecodable import add_servicer
from service.web.server import HttpServer

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["CallMonitor"].full_name


def build_deps(settings: Settings) -> SessionDeps:
    """Open storage (recovering calls a crash left active), load and warm up the models."""
    store = open_store(settings)
    audio = FileAudioStore(settings.audio_dir)
    recovered = store.recover_interrupted(audio.sizes())
    if recovered:
        log.warning("marked %d call(s) interrupted by the last shutdown as INCOMPLETE", len(recovered))
    started = time.monotonic()
    transcriber = Transcriber(
        settings.whisper_model,
        compute_type=settings.compute_type,
        cpu_threads=settings.effective_cpu_threads,
        workers=settings.effective_transcribe_workers,
    )
    transcriber.warm_up()
    log.info("loaded %s in %.1f s", transcriber.description, time.monotonic() - started)
    emotion_model = load_emotion_model()
    pool = TranscriptionPool(workers=settings.effective_transcribe_workers, queue_size=settings.transcribe_queue)
    try:
        policy = PolicySource(Path(settings.policy_file) if settings.policy_file else DEFAULT_POLICY_FILE)
    except PolicyError as exc:
        raise ConfigError(f"escalation policy: {exc}") from exc
    log.info("escalation policy from %s", policy.path)
    alerts = AlertHub(store, open_bus(settings))
    judge = load_judge(settings)
    return SessionDeps(settings, store, audio, transcriber, pool, SileroModel(), emotion_model, policy, alerts, judge)


def load_judge(settings: Settings) -> UtteranceJudge:
    """The utterance judgement's models (the utterance view of the voice, the zh and en words models),
    checksum-verified and warmed up once (the first TF-IDF transform and prosody pay for lazy set-up)."""
    started = time.monotonic()
    try:
        judge = UtteranceJudge.load(words_model=settings.words_model)
        judge.words("你好", "zh"), judge.words("hello", "en")
    except (UtteranceModelError, TextModelError, OSError, ValueError) as exc:
        raise ModelError(f"utterance judgement: {exc}") from exc
    log.info("loaded the words models (zh, en) and the utterance voice model in %.1f s", time.monotonic() - started)
    return judge


def open_bus(settings: Settings) -> AlertBus:
    """Redis when pubsub_url is set (alerts reach subscribers of every instance), else in-process."""
    if settings.pubsub_url:
        from service.escalation.redis_bus import RedisBus

        return RedisBus(settings.pubsub_url)
    return InProcessBus()


def load_emotion_model() -> EmotionModel:
    """The shipped emotion model, checksum-verified, with its speech encoder loaded; warms up the feature code
    (librosa compiles on first use) and the encoder, and limits BLAS to one thread (features/threads.py)."""
    one_blas_thread()
    try:
        model = EmotionModel.load()
        noise = np.random.default_rng(0).standard_normal(FEATURE_RATE_HZ).astype(np.float32) * 0.1
        describe(noise)
        model.encoder.embed(np.concatenate([noise, noise]))
    except (ModelIntegrityError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"emotion model: {exc}") from exc
    return model


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    manager: CallManager
    health: health.HealthServicer
    owns_deps: bool = True
    http: HttpServer | None = None
    retention: RetentionScheduler | None = None
    lease: InstanceLease | None = None

    @property
    def http_port(self) -> int | None:
        return self.http.port if self.http else None

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop taking calls, end streams, let sessions store what they received, release resources."""
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.retention:
            self.retention.stop()
        if self.lease:  # after the calls are stored (below) nothing renews it; the restart recovers the rest
            self.lease.stop()
        if self.http:
            self.http.stop()
        self.server.stop(grace_s).wait()
        self.manager.shutdown(timeout_s=grace_s)
        if self.manager.deps.alerts.store_unsaved():  # a last try for alerts a database fault held back
            log.error("stopping with alerts the database never took; they were published, not stored")
        if self.owns_deps:
            self.manager.deps.pool.close()
            self.manager.deps.store.close()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse to serve an open API beyond this machine; warn loudly when it is open on loopback."""
    if settings.require_auth:
        return
    if not is_loopback(settings.host) and not settings.allow_open_network:
        raise ConfigError(
            f"refusing to serve {settings.host} without authentication: anyone on the network could read calls. "
            "Use --require-auth (create tokens with `callguard token create --role ROLE`), or bind 127.0.0.1, or "
            "pass --allow-open-network if something in front of Callguard authenticates"
        )
    log.warning(
        "*** AUTHENTICATION IS OFF: anyone who can reach %s (gRPC %d, HTTP %d) has admin access to every call. "
        "Fine for a laptop; in production use --require-auth. ***",
        settings.host,
        settings.port,
        settings.http_port,
    )


def _grpc_port(server: grpc.Server, settings: Settings) -> int:
    address = f"{settings.host}:{settings.port}"
    if not settings.tls_cert_file:
        return server.add_insecure_port(address)
    ca = Path(settings.tls_client_ca_file).read_bytes() if settings.tls_client_ca_file else None
    creds = grpc.ssl_server_credentials(
        [(Path(settings.tls_key_file).read_bytes(), Path(settings.tls_cert_file).read_bytes())],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )
    return server.add_secure_port(address, creds)


def create_server(settings: Settings, deps: SessionDeps | None = None) -> RunningServer:
    """Start serving. Resources passed in as `deps` stay open after stop(); ones built here are closed."""
    check_exposure(settings)
    owns_deps = deps is None
    deps = deps or build_deps(settings)
    manager = CallManager(deps)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.max_concurrent_calls + 16, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
        ],
    )
    add_servicer(CallMonitorServicer(manager), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection((SERVICE_NAME, health.SERVICE_NAME), server)
    port = _grpc_port(server, settings)
    if port == 0:
        raise OSError(f"could not bind {settings.host}:{settings.port}: is another server using it?")
    http = HttpServer(deps, settings.host, settings.http_port) if settings.http_port >= 0 else None
    server.start()
    if http:
        http.start()
    lease = InstanceLease(deps.store, deps.audio, lease_s=settings.instance_lease_s, on_tick=deps.alerts.store_unsaved)
    lease.start()
    retention = None
    if settings.retention_days > 0:
        retention = RetentionScheduler(deps.store, deps.audio, days=settings.retention_days, interval_s=3600)
        retention.start()
    for name in ("", SERVICE_NAME):  # models are loaded and warmed up by now
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, manager, health_servicer, owns_deps, http, retention, lease)


def serve(settings: Settings) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before "listening": a signal right after it must not kill us
        signal.signal(sig, lambda *_: stop.set())
    running = create_server(settings)
    log.info(
        "Callguard listening on %s:%d (gRPC, health, reflection); data in %s",
        settings.host,
        running.port,
        settings.data_dir.resolve(),
    )
    if running.http_port is not None:
        log.info("web console: http://%s:%d/ (API docs at /docs)", settings.host, running.http_port)
    while not stop.wait(timeout=0.5):  # a bare wait() is not woken by signals on every platform
        pass
    log.info("shutting down: finishing calls in progress")
    running.stop()
