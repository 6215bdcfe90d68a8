"""Runs the web console in the service process: uvicorn on its own thread, beside the gRPC server."""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn

from service.auth import Authenticator
from service.queries import Queries
from service.session_deps import SessionDeps
from service.web.app import create_app
from service.web.wav_view import WavView

log = logging.getLogger(__name__)


class HttpServer:
    def __init__(self, deps: SessionDeps, host: str, port: int) -> None:
        def audio_view(call_id: str) -> WavView:
            record = deps.store.get_call(call_id)  # CallNotFound for unknown (or unsafe) ids
            size = deps.audio.size(call_id)
            return WavView(call_id, record.format, size - size % record.format.frame_bytes, deps.audio)

        auth = Authenticator(deps.store, required=deps.settings.require_auth)
        self.app = create_app(
            Queries(deps),
            deps.alerts,
            auth,
            audio_view=audio_view,
            secure=bool(deps.settings.tls_cert_file),
            live_ended_s=deps.settings.live_board_ended_s,
        )
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise OSError(f"could not bind the web console to {host}:{port} ({exc}); set --http-port") from exc
        self._sock.listen(128)
        self.port: int = self._sock.getsockname()[1]
        tls = deps.settings
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=3,
            ssl_certfile=tls.tls_cert_file or None,
            ssl_keyfile=tls.tls_key_file or None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="http", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._server.started:
            raise RuntimeError("the web console did not start; see the log above")

    def stop(self) -> None:
        self.app.state.closing = True  # ends alert streams so the server can close
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
