"""Access control on a real server with --require-auth: tokens and roles on every RPC and HTTP route, the
console's session cookie, the audit log, TLS and mTLS, and the refusal to serve an open API on a network."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from callguard.v1 import callguard_pb2 as pb

from service.auth import GRANTS, AccessRole, Authenticator, Permission, Unauthenticated, create_token
from service.client import Connection, StreamOptions, connect, requests_for
from service.domain import Role
from service.errors import ConfigError
from service.escalation.alerts import Alert
from service.escalation.policy import Level
from service.server import check_exposure, create_server
from service.session_deps import SessionDeps
from service.storage import SqliteCallStore
from tests.calls import conversation, pick
from tests.servers import own_deps, own_server

SERVICE = pb.DESCRIPTOR.services_by_name["CallMonitor"]


@pytest.fixture(scope="module")
def secured(deps: SessionDeps, tmp_path_factory):
    """A second server sharing the loaded models, with auth required and its own database; and one token per role."""
    data_dir = tmp_path_factory.mktemp("secured")
    settings = deps.settings.replace(require_auth=True, data_dir=data_dir)
    own = own_deps(deps, settings)
    tokens = {role: create_token(own.store, role, f"test-{role.value}")[0] for role in AccessRole}
    running = create_server(settings, own)
    yield running, tokens, own
    running.stop(grace_s=5)
    own.store.close()


def _stub(running, token: str = ""):
    return connect(Connection(f"127.0.0.1:{running.port}", token))


def _call_every_rpc(stub) -> dict[str, grpc.StatusCode]:
    """The status each RPC answers with (OK when it got past access control to a real answer or real error)."""
    out = {}
    attempts = {
        "StreamCall": lambda: list(stub.StreamCall(iter([pb.StreamCallRequest(config=pb.CallConfig())]), timeout=10)),
        "ListCalls": lambda: stub.ListCalls(pb.ListCallsRequest(), timeout=10),
        "GetCall": lambda: stub.GetCall(pb.GetCallRequest(call_id="auth-none"), timeout=10),
        "GetCallAudio": lambda: list(stub.GetCallAudio(pb.GetCallAudioRequest(call_id="auth-none"), timeout=10)),
        "SubscribeAlerts": lambda: next(iter(stub.SubscribeAlerts(pb.SubscribeAlertsRequest(), timeout=1)), None),
        "AcknowledgeAlert": lambda: stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id="x", by="y"), timeout=10),
    }
    assert set(attempts) == {m.name for m in SERVICE.methods}  # every RPC of the service is covered
    for name, attempt in attempts.items():
        try:
            attempt()
            out[name] = grpc.StatusCode.OK
        except grpc.RpcError as err:
            out[name] = err.code()
    return out


def test_tokens_are_hashed_at_rest_and_revocable(tmp_path) -> None:
    store = SqliteCallStore(tmp_path / "db")
    token, record = create_token(store, AccessRole.QA, "qa-desk-3")
    raw = (tmp_path / "db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("db-*"))
    assert token.split("_", 2)[2].encode() not in raw and record.secret_sha256 in raw.decode(errors="ignore")
    auth = Authenticator(store, required=True)
    assert auth.authenticate(f"Bearer {token}").role is AccessRole.QA
    for bad in (None, "", "Bearer", f"Basic {token}", f"Bearer {token}x", "Bearer cg_nope_nope", "Bearer \x00"):
        with pytest.raises(Unauthenticated):
            auth.authenticate(bad)
    assert store.revoke_token(record.token_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate(f"Bearer {token}")
    store.close()


def test_every_rpc_checks_its_role(secured) -> None:
    running, tokens, _ = secured
    anonymous = _call_every_rpc(_stub(running))
    assert set(anonymous.values()) == {grpc.StatusCode.UNAUTHENTICATED}, anonymous
    assert set(_call_every_rpc(_stub(running, "cg_0000_forged")).values()) == {grpc.StatusCode.UNAUTHENTICATED}
    needed = {
        "StreamCall": Permission.STREAM,
        "ListCalls": Permission.LIST_CALLS,
        "GetCall": Permission.READ_CALL,
        "GetCallAudio": Permission.LISTEN,
        "SubscribeAlerts": Permission.ALERTS,
        "AcknowledgeAlert": Permission.ACKNOWLEDGE,
    }
    for role, token in tokens.items():
        got = _call_every_rpc(_stub(running, token))
        for rpc, permission in needed.items():
            if permission in GRANTS[role]:  # past the door: a real answer or a real input error
                assert got[rpc] not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), (role, rpc)
            else:
                assert got[rpc] == grpc.StatusCode.PERMISSION_DENIED, (role, rpc, got[rpc])


def _http(running, path: str, *, token: str = "", cookie: str = "", method: str = "GET", body=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{running.http_port}{path}", method=method, headers=headers or {})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if cookie:
        req.add_header("Cookie", cookie)
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_http_routes_check_roles_and_the_console_signs_in_with_a_cookie(secured) -> None:
    running, tokens, _ = secured
    routes = {
        "/api/live": Permission.LIVE,
        "/api/alerts": Permission.ALERTS,
        "/api/calls": Permission.LIST_CALLS,
        "/api/calls/none": Permission.READ_CALL,
        "/api/calls/none/timeline": Permission.READ_CALL,
        "/api/calls/none/audio.wav": Permission.LISTEN,
        "/api/analysis.csv": Permission.EXPORT,
        "/metrics": Permission.METRICS,
    }
    for path in routes:
        status, headers, _ = _http(running, path)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer", path
    for role, token in tokens.items():
        for path, permission in routes.items():
            status = _http(running, path, token=token)[0]
            assert status == (403 if permission not in GRANTS[role] else status) and status != 401, (role, path)
            if permission in GRANTS[role]:
                assert status in (200, 404), (role, path, status)
    # pages carry no data and load without a token; the API behind them does not
    assert _http(running, "/")[0] == 200 and _http(running, "/calls")[0] == 200
    status, headers, body = _http(running, "/api/session", method="POST", body={"token": tokens[AccessRole.QA]})
    assert status == 200 and json.loads(body)["role"] == "qa"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    jar = cookie.split(";")[0]
    assert _http(running, "/api/calls", cookie=jar)[0] == 200
    assert json.loads(_http(running, "/api/session", cookie=jar)[2])["name"] == "test-qa"
    assert _http(running, "/api/session", method="POST", body={"token": "cg_x_y"})[0] == 401
    metrics = _http(running, "/metrics", token=tokens[AccessRole.MONITOR])[2].decode()  # a scraper, no call data
    assert "callguard_errors_total" in metrics and 'api="http",status="401"' in metrics


def test_audit_log_records_reads_listens_exports_and_acknowledgements(secured, ravdess) -> None:
    running, tokens, deps = secured
    clips = pick(ravdess, speaker="ravdess_11", emotion="neutral", n=2)
    call = conversation([(0, clips[0]), (1, clips[1])])
    gateway = _stub(running, tokens[AccessRole.INGEST])
    options = StreamOptions(call_id="auth-audited", language="en", metadata={"queue": "q-audit"})
    list(gateway.StreamCall(requests_for(call.audio, options), timeout=300))
    qa = _stub(running, tokens[AccessRole.QA])
    qa.GetCall(pb.GetCallRequest(call_id="auth-audited"))
    list(qa.GetCallAudio(pb.GetCallAudioRequest(call_id="auth-audited")))
    assert _http(running, "/api/analysis.csv?call_id=auth-audited", token=tokens[AccessRole.QA])[0] == 200
    status, _, _ = _http(running, "/api/calls/auth-audited/audio.wav", token=tokens[AccessRole.SUPERVISOR])
    assert status == 200
    # a download that skips the first bytes is a listen too
    status, _, _ = _http(
        running, "/api/calls/auth-audited/audio.wav", token=tokens[AccessRole.ADMIN], headers={"Range": "bytes=44-"}
    )
    assert status == 206
    alert = Alert("auth-audited", 0, Role.CUSTOMER, "ANGER_SUSTAINED", Level.HIGH, 2.0, 1.0, 2.0, "anger 0.9", "soothe")
    deps.store.save_alert(alert)
    supervisor = _stub(running, tokens[AccessRole.SUPERVISOR])
    acked = supervisor.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=alert.alert_id, by="mallory"))
    assert acked.acknowledged_by == "mallory (token test-supervisor)"  # the token vouches, not the typed name
    entries = deps.store.list_audit(call_id="auth-audited")
    seen = {(e.action, e.role) for e in entries}
    assert {("read", "qa"), ("listen", "qa"), ("export", "qa"), ("listen", "supervisor"), ("listen", "admin")} <= seen
    assert ("acknowledge", "supervisor") in seen
    assert all("test-" in e.who for e in entries)
    out = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "audit", "--data-dir", str(deps.settings.data_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {e["action"] for e in json.loads(out.stdout) if e["call_id"] == "auth-audited"} >= {"read", "listen"}


def test_cli_takes_a_token(secured) -> None:
    running, tokens, _ = secured
    cmd = [sys.executable, "-m", "service.cli.main", "calls", "--server", f"127.0.0.1:{running.port}"]
    refused = subprocess.run(cmd, capture_output=True, text=True)
    assert refused.returncode == 2 and "UNAUTHENTICATED" in refused.stderr and "--token" in refused.stderr
    env = {"CALLGUARD_TOKEN": tokens[AccessRole.QA], "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "calls" in json.loads(ok.stdout)
    denied = subprocess.run([*cmd, "--token", tokens[AccessRole.INGEST]], capture_output=True, text=True)
    assert denied.returncode == 2 and "PERMISSION_DENIED" in denied.stderr


def test_an_open_api_is_refused_on_the_network_and_announced_on_loopback(deps, caplog) -> None:
    with pytest.raises(ConfigError, match="--require-auth"):
        check_exposure(deps.settings.replace(host="0.0.0.0"))
    check_exposure(deps.settings.replace(host="0.0.0.0", allow_open_network=True))
    check_exposure(deps.settings.replace(host="0.0.0.0", require_auth=True))
    caplog.clear()
    check_exposure(deps.settings.replace(host="127.0.0.1"))
    assert "AUTHENTICATION IS OFF" in caplog.text


def _certs(tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=callguard-test-ca")  # fmt: skip
    (tmp / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
        )
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    return {n: tmp / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


def test_tls_and_mtls(deps, tmp_path) -> None:
    c = _certs(tmp_path)
    settings = deps.settings.replace(
        data_dir=tmp_path / "var",
        tls_cert_file=str(c["server.pem"]),
        tls_key_file=str(c["server.key"]),
        tls_client_ca_file=str(c["ca.pem"]),
    )
    running, own = own_server(deps, settings)
    try:
        address = f"127.0.0.1:{running.port}"
        with_cert = Connection(address, "", str(c["ca.pem"]), str(c["client.pem"]), str(c["client.key"]))
        assert connect(with_cert).ListCalls(pb.ListCallsRequest(), timeout=10).calls == []
        forged = Connection(address, "cg_0000_forged", str(c["ca.pem"]), str(c["client.pem"]), str(c["client.key"]))
        with pytest.raises(grpc.RpcError) as checked:  # the token travels over TLS too (and is checked)
            connect(forged).ListCalls(pb.ListCallsRequest(), timeout=10)
        assert checked.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as no_cert:  # mTLS: a gateway without a certificate is turned away
            connect(Connection(address, "", str(c["ca.pem"]))).ListCalls(pb.ListCallsRequest(), timeout=10)
        assert no_cert.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError):  # plaintext to a TLS port
            connect(address).ListCalls(pb.ListCallsRequest(), timeout=5)
        context = ssl.create_default_context(cafile=str(c["ca.pem"]))
        with urllib.request.urlopen(f"https://127.0.0.1:{running.http_port}/api/calls", context=context) as res:
            assert res.status == 200 and json.loads(res.read())["calls"] == []
    finally:
        running.stop(grace_s=2)
        own.store.close()
