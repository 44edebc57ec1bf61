# SPDX-License-Identifier: Apache-2.0
"""The outbound fetch (common/src/fetch.c) against a real HTTPS server on loopback.

Drives tests/integration/progs/bf_fetch_tool (built into $BADGEFLOW_BUILD_DIR/tests) the
way the transcoder, notifier and analytics use bf_fetch: the happy path, size and time
caps, then the SSRF guard: every spelling of loopback refused under the default policy
(and accepted when a test policy allows loopback, so the refusal is the guard's doing),
redirects to private, link-local and non-https targets refused even when the first hop
was allowed. The server is Python's http.server behind ssl, with a throw-away CA made by
tests/data/tls/make.sh. Needs no stack; runs in about 15 s.

    /usr/bin/python3 -m pytest tests/integration/test_fetch_ssrf.py
"""

import hashlib
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BADGEFLOW_BUILD_DIR", ROOT / "build"))
TOOL = Path(os.environ.get("BF_FETCH_TOOL", BUILD / "tests" / "bf_fetch_tool"))
MAKE_CERTS = ROOT / "tests" / "data" / "tls" / "make.sh"

BODY = bytes((i * 7 + i // 251) % 256 for i in range(300_000))
BODY_SHA = hashlib.sha256(BODY).hexdigest()
HUGE = 50 << 20
STALL_S = 20


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bf-test"

    def log_message(self, fmt, *args):  # keep pytest output clean; record instead
        self.server.seen.append(self.path)

    def _send(self, status, body=b"", ctype="application/octet-stream", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location, status=302):
        self._send(status, b"moved", "text/plain", [("Location", location)])

    def _stream(self, total, with_length):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if with_length:
            self.send_header("Content-Length", str(total))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = b"\0" * 65536
        try:
            for _ in range(total // len(chunk)):
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def _stall(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        self.server.stop.wait(STALL_S)
        self.close_connection = True

    def do_GET(self):
        base = f"https://127.0.0.1:{self.server.server_port}"
        path = self.path.split("?")[0]
        routes = {
            "/file": lambda: self._send(200, BODY),
            "/redirect-file": lambda: self._redirect(f"{base}/file"),
            "/redirect-loopback-http": lambda: self._redirect(
                f"http://127.0.0.1:{self.server.server_port}/file"),
            "/redirect-private": lambda: self._redirect("https://10.255.255.1/x"),
            "/redirect-private-http": lambda: self._redirect("http://10.255.255.1/x"),
            "/redirect-metadata": lambda: self._redirect(
                "https://169.254.169.254/latest/meta-data/", 307),
            "/redirect-mapped": lambda: self._redirect("https://[::ffff:10.0.0.1]/x"),
            "/redirect-decimal-private": lambda: self._redirect("https://167772161/x"),
            "/redirect-ftp": lambda: self._redirect("ftp://127.0.0.1/x"),
            "/redirect-file-scheme": lambda: self._redirect("file:///etc/passwd"),
            "/redirect-loop": lambda: self._redirect(f"{base}/redirect-loop"),
            "/redirect-other-host": lambda: self._redirect(
                f"https://localhost:{self.server.server_port}/auth-seen"),
            "/auth-seen": lambda: self._send(
                200, json.dumps({"authorization": self.headers.get("Authorization")}).encode(),
                "application/json"),
            "/huge": lambda: self._stream(HUGE, True),
            "/huge-nolen": lambda: self._stream(HUGE, False),
            "/slow": self._stall,
            "/500": lambda: self._send(500, b"boom", "text/plain"),
            "/404": lambda: self._send(404, b"nope", "text/plain"),
        }
        routes.get(path, lambda: self._send(404, b"no route", "text/plain"))()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        base = f"https://127.0.0.1:{self.server.server_port}"
        if self.path == "/echo":
            answer = {"body": body.decode(), "x_test": self.headers.get("X-Test"),
                      "expect": self.headers.get("Expect")}
            self._send(200, json.dumps(answer).encode(), "application/json")
        elif self.path == "/redirect":
            self._redirect(f"{base}/echo", 307)
        elif self.path == "/huge":
            self._send(200, b"x" * (1 << 20))
        else:
            self._send(500, b"boom", "text/plain")


class TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, context, family=socket.AF_INET):
        self.address_family = family
        self.seen = []
        self.stop = threading.Event()
        super().__init__(addr, Handler)
        self.socket = context.wrap_socket(self.socket, server_side=True)


def start(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    if not TOOL.exists():
        pytest.skip(f"{TOOL} is not built (set BADGEFLOW_BUILD_DIR)")
    tls = tmp_path_factory.mktemp("tls")
    subprocess.run(["sh", str(MAKE_CERTS), str(tls)], check=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls / "server.pem", tls / "server.key")
    v4 = start(TLSServer(("127.0.0.1", 0), ctx))
    port = v4.server_port
    try:  # the same port on ::1, so [::1] can succeed when loopback is allowed
        v6 = start(TLSServer(("::1", port), ctx, socket.AF_INET6))
    except OSError:
        v6 = None
    yield {"port": port, "ca": str(tls / "ca.pem"), "v4": v4, "v6": v6,
           "dir": tmp_path_factory.mktemp("dest")}
    for s in (v4, v6):
        if s:
            s.stop.set()
            s.shutdown()
            s.server_close()


def fetch(srv, url, *opts, cmd="get", extra=None, timeout=30):
    """Run bf_fetch_tool; returns (parsed JSON, destination path, seconds taken)."""
    dest = srv["dir"] / f"out-{uuid.uuid4().hex}"
    args = [str(TOOL), cmd, *opts, url, extra if cmd == "post" else str(dest)]
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - t0
    assert p.returncode in (0, 1), p.stderr
    out = json.loads(p.stdout)
    assert (p.returncode == 0) == (out["code"] == "BF_OK"), out
    return out, dest, took


def no_part_files(srv):
    return not [p for p in os.listdir(srv["dir"]) if ".part." in p]


def url(srv, path, host="127.0.0.1"):
    return f"https://{host}:{srv['port']}{path}"


def loopback_ok(srv):
    return ["--allow-loopback", "--ca", srv["ca"]]


# ---- the happy path and the caps (a test policy that allows loopback) -------------------

def test_happy_path_bytes_and_sha256(srv):
    out, dest, _ = fetch(srv, url(srv, "/file"), *loopback_ok(srv), "--sha256", BODY_SHA.upper())
    assert out["code"] == "BF_OK", out
    assert out["status"] == 200
    assert out["bytes"] == len(BODY)
    assert out["sha256"] == BODY_SHA
    assert out["content_type"] == "application/octet-stream"
    assert dest.read_bytes() == BODY
    assert no_part_files(srv)


def test_redirect_within_policy_is_followed(srv):
    out, dest, _ = fetch(srv, url(srv, "/redirect-file"), *loopback_ok(srv))
    assert out["code"] == "BF_OK", out
    assert out["effective_url"] == url(srv, "/file")
    assert dest.read_bytes() == BODY


def test_environment_proxy_is_ignored(srv):
    env = dict(os.environ, https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               ALL_PROXY="http://127.0.0.1:9", all_proxy="http://127.0.0.1:9")
    dest = srv["dir"] / "via-proxy"
    p = subprocess.run([str(TOOL), "get", *loopback_ok(srv), url(srv, "/file"), str(dest)],
                       capture_output=True, text=True, timeout=30, env=env)
    assert json.loads(p.stdout)["code"] == "BF_OK", p.stdout
    assert dest.read_bytes() == BODY


def test_credentials_not_sent_to_another_host(srv):
    out, dest, _ = fetch(srv, f"https://user:secret@127.0.0.1:{srv['port']}/redirect-other-host",
                         *loopback_ok(srv))
    assert out["code"] == "BF_OK", out
    assert out["effective_url"].startswith("https://localhost:")
    assert json.loads(dest.read_bytes()) == {"authorization": None}
    # control: the first host does get them
    out, dest, _ = fetch(srv, f"https://user:secret@127.0.0.1:{srv['port']}/auth-seen",
                         *loopback_ok(srv))
    assert json.loads(dest.read_bytes()) == {"authorization": "Basic dXNlcjpzZWNyZXQ="}


def test_checksum_mismatch_leaves_nothing(srv):
    out, dest, _ = fetch(srv, url(srv, "/file"), *loopback_ok(srv), "--sha256", "0" * 64)
    assert out["code"] == "BF_EINVAL"
    assert "checksum mismatch" in out["msg"] and BODY_SHA in out["msg"]
    assert not dest.exists() and no_part_files(srv)


@pytest.mark.parametrize("path", ["/huge", "/huge-nolen"])
def test_size_cap(srv, path):
    out, dest, took = fetch(srv, url(srv, path), *loopback_ok(srv), "--max-bytes", str(1 << 20))
    assert out["code"] == "BF_ETOOBIG", out
    assert out["msg"] == "larger than 1048576 bytes"
    assert not dest.exists() and no_part_files(srv)
    assert took < 10


def test_stall_timeout(srv):
    out, dest, took = fetch(srv, url(srv, "/slow"), *loopback_ok(srv), "--stall-ms", "1000")
    assert out["code"] == "BF_ETIMEOUT", out
    assert "stalled" in out["msg"]
    assert 0.9 < took < 6
    assert not dest.exists() and no_part_files(srv)


def test_total_timeout(srv):
    out, dest, took = fetch(srv, url(srv, "/slow"), *loopback_ok(srv),
                            "--timeout-ms", "1500", "--stall-ms", "30000")
    assert out["code"] == "BF_ETIMEOUT", out
    assert "timed out" in out["msg"]
    assert 1.4 < took < 6
    assert not dest.exists()


@pytest.mark.parametrize("path,code,status", [("/500", "BF_ETRANSIENT", 500),
                                              ("/404", "BF_ENOTFOUND", 404)])
def test_http_errors(srv, path, code, status):
    out, dest, _ = fetch(srv, url(srv, path), *loopback_ok(srv))
    assert (out["code"], out["status"]) == (code, status), out
    assert out["msg"] == f"HTTP {status}"
    assert not dest.exists() and no_part_files(srv)


def test_untrusted_certificate_is_refused(srv):
    out, _, _ = fetch(srv, url(srv, "/file"), "--allow-loopback")
    assert out["code"] == "BF_EDENIED", out
    assert out["msg"].startswith("refused: TLS:")


# ---- the guard: every loopback spelling ------------------------------------------------

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "2130706433", "0x7f000001", "0177.0.0.1",
                  "127.1", "[::ffff:127.0.0.1]"]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_refused_by_default(srv, host):
    token = uuid.uuid4().hex
    # --ca is given: without the guard this fetch would succeed (see the next test)
    out, dest, took = fetch(srv, url(srv, f"/file?t={token}", host), "--ca", srv["ca"])
    assert out["code"] == "BF_EDENIED", out
    assert out["msg"].startswith("refused: ") and "is a loopback address" in out["msg"], out
    assert not dest.exists()
    assert took < 5
    seen = srv["v4"].seen + (srv["v6"].seen if srv["v6"] else [])
    assert not [p for p in seen if token in p], "the server was reached"


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_spellings_work_when_allowed(srv, host):
    """Control: the same URLs succeed under a test policy, so the refusal above is the guard."""
    if host == "[::1]" and not srv["v6"]:
        pytest.skip("no ::1 on this machine")
    out, dest, _ = fetch(srv, url(srv, "/file", host), *loopback_ok(srv))
    assert out["code"] == "BF_OK", out
    assert out["sha256"] == BODY_SHA and dest.read_bytes() == BODY


# ---- the guard after redirects (the first hop allowed) ---------------------------------

@pytest.mark.parametrize("path,opts,msg", [
    ("/redirect-private", [], "refused: 10.255.255.1 is a private address"),
    ("/redirect-private-http", ["--allow-http"], "refused: 10.255.255.1 is a private address"),
    ("/redirect-decimal-private", [], "refused: 10.0.0.1 is a private address"),
    ("/redirect-mapped", [], "refused: ::ffff:10.0.0.1 is a private address"),
    ("/redirect-metadata", [], "refused: 169.254.169.254 is a link-local address"),
    ("/redirect-private-http", [], "refused: redirect to a scheme not allowed (https only)"),
    ("/redirect-loopback-http", [], "refused: redirect to a scheme not allowed (https only)"),
    ("/redirect-ftp", ["--allow-http"], "refused: redirect to a scheme not allowed"),
    ("/redirect-file-scheme", [], "refused: redirect to a scheme not allowed"),
    ("/redirect-loop", [], "refused: more than 5 redirects"),
])
def test_redirect_refused(srv, path, opts, msg):
    out, dest, took = fetch(srv, url(srv, path), *loopback_ok(srv), *opts)
    assert out["code"] == "BF_EDENIED", out
    assert out["msg"].startswith(msg), out
    assert not dest.exists() and no_part_files(srv)
    assert took < 5


# ---- POST (webhooks, LRS) --------------------------------------------------------------

def test_post_happy_path(srv):
    out, _, _ = fetch(srv, url(srv, "/echo"), *loopback_ok(srv), "-H", "X-Test: yes",
                      cmd="post", extra="hello")
    assert out["code"] == "BF_OK" and out["status"] == 200, out
    assert json.loads(out["body"]) == {"body": "hello", "x_test": "yes", "expect": None}
    assert out["content_type"] == "application/json"


def test_post_server_error_is_returned_not_failed(srv):
    out, _, _ = fetch(srv, url(srv, "/500"), *loopback_ok(srv), cmd="post", extra="x")
    assert out["code"] == "BF_OK" and out["status"] == 500 and out["body"] == "boom", out


def test_post_redirect_not_followed(srv):
    out, _, _ = fetch(srv, url(srv, "/redirect"), *loopback_ok(srv), cmd="post", extra="x")
    assert out["code"] == "BF_EDENIED" and out["status"] == 307, out
    assert out["location"] == url(srv, "/echo")
    assert out["msg"] == f"redirect not followed: HTTP 307 to {url(srv, '/echo')}"


def test_post_response_cap(srv):
    out, _, _ = fetch(srv, url(srv, "/huge"), *loopback_ok(srv), "--max-response", "65536",
                      cmd="post", extra="x")
    assert out["code"] == "BF_ETOOBIG", out
    assert out["msg"] == "larger than 65536 bytes"


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "2130706433"])
def test_post_loopback_refused_by_default(srv, host):
    out, _, _ = fetch(srv, url(srv, "/echo", host), "--ca", srv["ca"], cmd="post", extra="x")
    assert out["code"] == "BF_EDENIED" and "is a loopback address" in out["msg"], out
