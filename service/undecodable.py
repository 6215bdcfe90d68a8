"""Requests that are not valid protobuf (e.g. invalid UTF-8 in a string field) become INVALID_ARGUMENT with a
clear message, instead of gRPC's generic INTERNAL "Exception deserializing request"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from callguard.v1 import callguard_pb2_grpc as pb_grpc
from google.protobuf.message import DecodeError

from service.errors import InvalidInput


class Undecodable:
    """Stands in for a request that failed to parse; the servicer turns it into InvalidInput."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def WhichOneof(self, _name: str) -> str:
        return "undecodable"


def require_decoded(request: object) -> None:
    """Raise InvalidInput if `request` is a stand-in for bytes that did not parse."""
    if isinstance(request, Undecodable):
        raise InvalidInput(
            f"the request is not a valid protobuf message ({request.error}); string fields must be valid UTF-8"
        )


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except (DecodeError, ValueError, UnicodeDecodeError) as exc:
            return Undecodable(exc)

    return parse


class _Collect:
    """Receives what the generated add_..._to_server registers, so the handlers can be wrapped first."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, _handlers: object) -> None:
        pass

    def add_registered_method_handlers(self, _service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.handlers = handlers


def add_servicer(servicer: pb_grpc.CallMonitorServicer, server: grpc.Server) -> None:
    """Like the generated add_CallMonitorServicer_to_server, with deserializers that never raise."""
    collected = _Collect()
    pb_grpc.add_CallMonitorServicer_to_server(servicer, collected)  # type: ignore[arg-type]
    handlers = {
        name: h._replace(request_deserializer=_tolerant(h.request_deserializer))  # type: ignore[attr-defined]
        for name, h in collected.handlers.items()
    }
    service = "callguard.v1.CallMonitor"
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)
