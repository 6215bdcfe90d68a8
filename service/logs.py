"""Logging set-up: readable text for people, or one JSON object per line for log pipelines.

Threads working for one call (its reader, its analysis, a transcription job) set CALL_ID, and every record
they log carries it as `call_id`, so one call's story can be pulled out of a busy server's log."""

from __future__ import annotations

import contextvars
import json
import logging
import time

CALL_ID: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default="")


class _CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.call_id = CALL_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "call_id", ""):
            out["call_id"] = record.call_id
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup(log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_CallIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # it logs every utterance at INFO
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
