"""TLS at the edge (issue 16): the committed nginx configuration
(compose/nginx/exam-edge.conf) in front of a running mesh's gateway, as
compose runs it, proven end to end over https with a certificate the client
verifies.

A throwaway self-signed certificate (openssl, in a temp folder) is the site's
certificate and the client's only trusted authority: nothing here turns
verification off. nginx runs as a process of this test (its own prefix,
pid, logs and temp folders in the temp folder, `daemon off`), on two free
loopback ports standing in for 443 and 80; only those ports, the
certificate's paths and the gateway's address are replaced in the committed
file. The gateway runs with the flags compose gives it (--secure-cookies,
--trust-forwarded-for).

Through nginx: the handshake (TLS 1.2+, HTTP/2 offered), a candidate's login
and registration, HSTS on the answers, plain http redirected to https (on
the TLS port and on the "80" server), /metrics kept inside, an ops sign-in
whose cookie is Secure with the browser's https Origin accepted, the staff
live board's WebSocket over wss:// with its first message, and a WebSocket
from another origin refused. nginx's error log must have no warning.

nginx and openssl come from scripts/setup (nginx-light, openssl): missing,
the test fails, it does not skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import requests

from meshkit import REPO, Mesh, free_ports, running, wait_until

EDGE_CONF = REPO / "compose" / "nginx" / "exam-edge.conf"
HSTS = "max-age=31536000"


class EdgeMesh(Mesh):
    """The gateway as compose runs it behind the edge; staff passwords hashed
    fast (sign-ins in milliseconds)."""

    extra_args = ("--arg", "gateway=--secure-cookies", "--arg", "gateway=--trust-forwarded-for",
                  "--arg", "gateway=--scrypt-n", "--arg", "gateway=4096")


def tool(name: str) -> str:
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
    if not path:
        pytest.fail(f"{name} is not installed: scripts/setup installs it (apt: nginx-light, openssl)", pytrace=False)
    return path


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1 and localhost, valid a day."""
    crt, key = folder / "site.crt", folder / "site.key"
    subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=exam-edge-test", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True, text=True)
    return crt, key


def edge_config(crt: Path, key: Path, https_port: int, http_port: int, gateway: str) -> str:
    """The committed configuration with only the deployment's values replaced;
    each replacement must match (a changed file fails here, loudly)."""
    text = EDGE_CONF.read_text(encoding="utf-8")
    subs = [
        (r"listen \[::\]:(443|80)[^;]*;\n", "", 2),                           # loopback only
        (r"listen 443 ssl http2 default_server;", f"listen 127.0.0.1:{https_port} ssl http2 default_server;", 1),
        (r"listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;", 1),
        (r"ssl_certificate +/etc/exam/tls/site\.crt;", f"ssl_certificate {crt};", 1),
        (r"ssl_certificate_key +/etc/exam/tls/site\.key;", f"ssl_certificate_key {key};", 1),
        (r"set \$exam_gateway http://gateway:8080;", f"set $exam_gateway http://{gateway};", 1),
    ]
    for pattern, repl, count in subs:
        text, n = re.subn(pattern, repl, text)
        assert n == count, f"{EDGE_CONF}: '{pattern}' matched {n} times, not {count}"
    return text


class Edge:
    """nginx in its own prefix: started, ready when a verified handshake
    succeeds, stopped with SIGQUIT (graceful)."""

    def __init__(self, folder: Path, gateway: str):
        self.folder = folder
        self.crt, self.key = make_certificate(folder)
        self.https_port, self.http_port = free_ports(2)
        self.base = f"https://127.0.0.1:{self.https_port}"
        self.error_log = folder / "error.log"
        (folder / "site.conf").write_text(edge_config(self.crt, self.key, self.https_port, self.http_port, gateway))
        temp = "\n".join(f"    {k}_temp_path {folder / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        # What Debian's /etc/nginx/nginx.conf gives the included file, minus
        # the system paths: the error log at warn, so that any warning shows.
        (folder / "nginx.conf").write_text(f"""
worker_processes 1;
pid {folder / 'nginx.pid'};
error_log {self.error_log} warn;
events {{ worker_connections 256; }}
http {{
    access_log {folder / 'access.log'};
{temp}
    include {folder / 'site.conf'};
}}
""")
        self.proc: subprocess.Popen | None = None

    def context(self) -> ssl.SSLContext:
        """A client that trusts the throwaway certificate and nothing else."""
        ctx = ssl.create_default_context(cafile=str(self.crt))
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        return ctx

    def handshake(self) -> tuple[str, str | None, float]:
        """TLS version, ALPN protocol and the time of one verified handshake."""
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", self.https_port), timeout=5) as raw:
            with self.context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return s.version() or "", s.selected_alpn_protocol(), time.perf_counter() - started

    def start(self, timeout: float = 15) -> None:
        nginx = tool("nginx")
        cmd = [nginx, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"), "-e", str(self.error_log)]
        check = subprocess.run(cmd + ["-t"], capture_output=True, text=True)
        assert check.returncode == 0, f"nginx -t refused the edge configuration:\n{check.stderr}"
        self.proc = subprocess.Popen(cmd + ["-g", "daemon off;"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited ({self.proc.returncode}): {self.proc.stdout.read()}\n{self.log()}")
            return self.handshake()

        wait_until(f"nginx's TLS handshake on 127.0.0.1:{self.https_port}", ready, timeout=timeout, every=0.05)

    def stop(self, timeout: float = 15) -> int | None:
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGQUIT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            raise AssertionError(f"nginx did not stop within {timeout} s of SIGQUIT (killed its process group)")

    def log(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""


@contextmanager
def edge_in_front_of(mesh: Mesh, artifacts: Path) -> Iterator[Edge]:
    folder = Path(tempfile.mkdtemp(prefix="edge-tls-"))
    edge = Edge(folder, gateway=mesh.base_url.removeprefix("http://"))
    try:
        edge.start()
        yield edge
    finally:
        code = edge.stop()
        keep = artifacts / "edge"
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        for f in ("nginx.conf", "site.conf", "error.log", "access.log"):
            if (folder / f).exists():
                shutil.copy(folder / f, keep / f)
        shutil.rmtree(folder, ignore_errors=True)
        print(f"\nnginx stopped (exit {code}); its configuration and logs in {keep}")


def staff_code(mesh: Mesh, account: str) -> str:
    """A one-time code for `account` from `gateway staff codes --json` (the
    gateway creates the accounts from the plan soon after it starts)."""
    def ask():
        r = subprocess.run([str(mesh.bin / "gateway"), "staff", "codes", "--mesh", str(mesh.mesh_file), "--json"],
                           capture_output=True, text=True, timeout=20, cwd=REPO)
        assert r.returncode == 0, f"gateway staff codes: exit {r.returncode}: {r.stderr.strip()}"
        return next((a["code"] for a in json.loads(r.stdout) if a.get("id") == account and a.get("code")), None)
    return wait_until(f"a one-time code for {account}", ask, timeout=30, every=0.5)


def test_edge_tls(artifacts: Path):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with running(EdgeMesh(Path(tempfile.mkdtemp(prefix="edge-tls-mesh-"))), artifacts / "edge-mesh", "edge mesh") as mesh, \
            edge_in_front_of(mesh, artifacts) as edge:
        base = edge.base
        print(f"edge: {base} -> {mesh.base_url}")
        http = requests.Session()
        http.trust_env = False   # no proxy from the environment between the test and nginx
        http.verify = str(edge.crt)

        # 1. The handshake: verified against the throwaway certificate, TLS
        #    1.2 or 1.3, HTTP/2 offered by ALPN; a client that does not trust
        #    the certificate is refused (verification is really on).
        handshakes = sorted(edge.handshake()[2] for _ in range(5))
        version, alpn, _ = edge.handshake()
        assert version in ("TLSv1.2", "TLSv1.3"), version
        assert alpn == "h2", f"nginx did not offer HTTP/2: ALPN {alpn!r}"
        with pytest.raises(ssl.SSLCertVerificationError):
            with socket.create_connection(("127.0.0.1", edge.https_port), timeout=5) as raw:
                ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")
        print(f"  handshake {version} alpn {alpn}: median {handshakes[2] * 1000:.1f} ms")

        # 2. A candidate logs in and reads their registration, through nginx.
        c = mesh.candidates[0]
        started = time.perf_counter()
        r = http.post(base + "/api/v1/session", json={"phone": c.phone, "password": c.password}, timeout=15)
        login_s = time.perf_counter() - started
        assert r.status_code == 201, f"login through nginx: {r.status_code} {r.text[:300]}"
        assert r.headers.get("Strict-Transport-Security") == HSTS, r.headers
        token = r.json()["token"]
        started = time.perf_counter()
        me = http.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=15)
        me_s = time.perf_counter() - started
        assert me.status_code == 200, f"GET /api/v1/me through nginx: {me.status_code} {me.text[:300]}"
        assert me.json()["examNumber"] == c.exam_number and me.json()["name"] == c.name, me.json()
        # The gateway's own headers pass; HSTS also on its error answers.
        assert "script-src 'self'" in me.headers.get("Content-Security-Policy", ""), me.headers
        assert me.headers.get("Cache-Control") == "no-store", me.headers
        bad = http.get(base + "/api/v1/me", timeout=15)
        assert bad.status_code == 401 and bad.json()["code"] == "UNAUTHENTICATED", bad.text
        assert bad.headers.get("Strict-Transport-Security") == HSTS, bad.headers
        print(f"  candidate login {login_s * 1000:.0f} ms, registration {me_s * 1000:.0f} ms through nginx")

        # 3. Plain http: redirected to https, on the TLS port (497) and on "80".
        r = http.get(f"http://127.0.0.1:{edge.https_port}/api/v1/time", allow_redirects=False, timeout=5)
        assert r.status_code == 301 and r.headers["Location"] == f"{base}/api/v1/time", (r.status_code, r.headers)
        r = http.get(f"http://127.0.0.1:{edge.http_port}/staff/?x=1", allow_redirects=False, timeout=5)
        assert r.status_code == 301 and r.headers["Location"] == "https://127.0.0.1/staff/?x=1", (r.status_code, r.headers)

        # 4. /metrics stays inside, even for a client claiming to be loopback.
        r = http.get(base + "/metrics", headers={"X-Forwarded-For": "127.0.0.1"}, timeout=5)
        assert r.status_code == 404, (r.status_code, r.text[:200])

        # 5. Ops sign in as a browser on https://127.0.0.1:<port> would: the
        #    Origin check passes behind the proxy, the cookie is Secure.
        origin = base
        r = http.post(base + "/api/v1/staff/session", headers={"Origin": origin},
                      json={"id": "ops", "code": staff_code(mesh, "ops"), "newPassword": "edge-test-password-1"}, timeout=15)
        assert r.status_code == 201, f"ops sign-in through nginx: {r.status_code} {r.text[:300]}"
        cookie = r.headers.get("Set-Cookie", "")
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
        session = cookie.split(";", 1)[0]
        # A change from another site's page: refused by the same Origin rule.
        r = http.delete(base + "/api/v1/staff/session", timeout=15,
                        headers={"Origin": "https://evil.example", "Cookie": session, "X-CSRF-Token": r.json()["csrf"]})
        assert r.status_code == 403 and "Origin" in r.json()["message"], (r.status_code, r.text[:300])

        # 6. The live board's WebSocket over wss://, through nginx: the first
        #    message is the room's board. The gateway refuses the socket
        #    until it has read timing's plan (503 on the board's GET): wait
        #    for that first, with the session's cookie, through nginx.
        board = f"{base}/api/v1/staff/rooms/{mesh.room}/board?sitting=mock"
        wait_until("the room's board through nginx",
                   lambda: http.get(board, headers={"Cookie": session}, timeout=5).status_code == 200, timeout=30)
        live = f"wss://127.0.0.1:{edge.https_port}/api/v1/staff/live?room={mesh.room}&sitting=mock"
        ws_ctx = ssl.create_default_context(cafile=str(edge.crt))
        started = time.perf_counter()
        with connect(live, ssl=ws_ctx, origin=origin, additional_headers={"Cookie": session}, proxy=None,
                     open_timeout=10) as ws:
            first = json.loads(ws.recv(timeout=10))
            first_s = time.perf_counter() - started
            assert first["type"] == "board" and first["board"]["room"]["id"] == mesh.room, str(first)[:300]
            ws.send(json.dumps({"type": "ping"}))
            assert wait_until("the live board's pong", lambda: json.loads(ws.recv(timeout=10)).get("type") == "pong",
                              timeout=15, every=0)
        print(f"  wss live board: first message {first_s * 1000:.0f} ms after connecting")

        # 7. A WebSocket from another site's page is refused at the upgrade
        #    (no 101; the gateway's refusal reaches the client as HTTP/1.1 400
        #    without a body, through nginx as directly).
        with pytest.raises(InvalidStatus) as refused:
            with connect(live, ssl=ws_ctx, origin="https://evil.example", additional_headers={"Cookie": session},
                         proxy=None, open_timeout=10):
                pass
        assert refused.value.response.status_code in (400, 403), refused.value

    # 8. nginx said nothing worth a warning while it served all that.
    log = (artifacts / "edge" / "error.log").read_text(errors="replace")
    noisy = [line for line in log.splitlines() if re.search(r"\[(warn|error|crit|alert|emerg)\]", line)]
    assert not noisy, "nginx's error log:\n" + "\n".join(noisy)
