"""Extra servers for tests that need their own settings: the loaded models are shared, storage is not."""

from __future__ import annotations

from service.escalation.bus import AlertHub, InProcessBus
from service.server import RunningServer, create_server
from service.session_deps import SessionDeps
from service.settings import Settings
from service.storage import CallStore, FileAudioStore, SqliteCallStore


def own_deps(deps: SessionDeps, settings: Settings, store: CallStore | None = None) -> SessionDeps:
    """`deps` with this settings' own database (or `store`), audio directory and alert hub (close `.store`
    when done)."""
    store = store or SqliteCallStore(settings.db_path)
    return SessionDeps(
        settings, store, FileAudioStore(settings.audio_dir), deps.transcriber, deps.pool, deps.vad_model,
        deps.emotion_model, deps.policy, AlertHub(store, InProcessBus()), deps.judge,
    )  # fmt: skip


def own_server(
    deps: SessionDeps, settings: Settings, store: CallStore | None = None
) -> tuple[RunningServer, SessionDeps]:
    mine = own_deps(deps, settings, store)
    return create_server(settings, mine), mine
