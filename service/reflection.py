"""gRPC server reflection under both names tools ask for: grpc.reflection.v1 (current grpcurl, Postman and
grpc_cli try it first) and grpc.reflection.v1alpha (older tools).

grpcio-reflection ships only v1alpha (grpc/grpc issue #38576). The v1 schema is the v1alpha one under a new
package name, field for field (grpc/grpc-proto, grpc/reflection/v1/reflection.proto), so the same servicer
answers both: the v1 method is registered with the v1alpha message classes, which read and write the same
bytes. What a v1 client cannot get is the descriptor of the v1 reflection service itself (it is not in the
descriptor pool); every Callguard and health symbol resolves.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE_NAME = reflection.SERVICE_NAME


def enable_reflection(service_names: Sequence[str], server: grpc.Server) -> None:
    """Serve reflection for `service_names` (plus both reflection services) on `server`, v1 and v1alpha."""
    servicer = reflection.ReflectionServicer((*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME))
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.method_handlers_generic_handler(
        V1_SERVICE_NAME,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((v1,))
