# SPDX-License-Identifier: Apache-2.0
"""Helpers and fixtures of the notifier's integration tests: a real webhook receiver on loopback that
checks every signature with an independent Standard Webhooks implementation (Python's hmac,
hashlib, base64), tenants and endpoints registered through the `badgeflow` CLI, and a
notifier daemon on the real stack.
"""

import base64
import copy
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import BUILD, ROOT, ce_headers, clean_env, wait_for  # noqa: E402

KEK = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
NOTIFIER = BUILD / "services" / "notifier" / "badgeflow-notifier"
CLI = BUILD / "tools" / "cli" / "badgeflow"
EXAMPLES = ROOT / "schemas" / "events" / "examples"
TOLERANCE_S = 300


# ---- Standard Webhooks, independently ------------------------------------------------


def seal(secret):
    """The stored form of a secret, written here independently of the C code, as
    docs/gateway.md fixes it: 0x01 || nonce(12) || AES-256-GCM(KEK) of the text "whsec_..."
    || tag(16), no AAD."""
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(bytes.fromhex(KEK)).encrypt(nonce, secret.encode(), None)


def new_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret, msg_id, ts, body):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify(secret, headers, body):
    """True if one of the v1 signatures of headers is body's under secret (the spec's rules:
    id.timestamp.body, constant-time comparison, timestamp within 5 minutes)."""
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > TOLERANCE_S:
        return False
    expected = sign(secret, msg_id, ts, body)
    for item in headers["webhook-signature"].split(" "):
        version, _, sig = item.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


# ---- the receiver ----------------------------------------------------------------------


class Hooks:
    """A threaded HTTP server; the first path segment picks the behaviour:
    /ok/..., /fail<N>/... (500 for the first N requests of each webhook-id, then 200),
    /err/... (always 500), /hang/... (no answer for 20 s), /redirect/... (302 to a private
    address), /huge/... (200 with a 4 MiB body)."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.in_flight = {}
        self.max_in_flight = {}
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                hooks.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}/{path}"

    def handle(self, h):
        body = h.rfile.read(int(h.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in h.headers.items()}
        kind = h.path.split("/")[1]
        with self.lock:
            self.requests.append({"path": h.path, "headers": headers, "body": body,
                                  "t": time.monotonic()})
            seen = sum(1 for r in self.requests
                       if r["headers"].get("webhook-id") == headers.get("webhook-id"))
            self.in_flight[kind] = self.in_flight.get(kind, 0) + 1
            self.max_in_flight[kind] = max(self.max_in_flight.get(kind, 0), self.in_flight[kind])
        try:
            self.answer(h, kind, seen)
        except OSError:
            pass
        finally:
            with self.lock:
                self.in_flight[kind] -= 1

    def answer(self, h, kind, seen):
        status, extra, payload = 200, {}, b"ok"
        if kind.startswith("fail") and seen <= int(kind[4:]):
            status = 500
        elif kind == "err":
            status = 500
        elif kind == "hang":
            time.sleep(20)
        elif kind == "redirect":
            status, extra = 302, {"Location": "http://10.0.0.1/steal"}
        elif kind == "huge":
            payload = b"x" * (4 << 20)
        h.send_response(status)
        for k, v in extra.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def got(self, prefix):
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(prefix)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks():
    h = Hooks()
    yield h
    h.close()


# ---- tenants, endpoints, events --------------------------------------------------------


def cli(stack, *args):
    env = clean_env(BADGEFLOW_POSTGRES_CONNINFO=stack.conninfo,
                    BADGEFLOW_NOTIFIER_SECRETS_KEK=KEK)
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=30)


class Tenants:
    """Fresh tenants per test; their endpoints are disabled at the end so that a later test's
    notifier never works on this test's leftovers."""

    def __init__(self, stack, db):
        self.stack, self.db, self.ids = stack, db, []

    def new(self, parent=None):
        """A state agency, or a district of parent."""
        tid = f"t-{uuid.uuid4().hex[:10]}"
        self.db.execute("INSERT INTO tenants (id, kind, parent_id, name) VALUES (%s, %s, %s, %s)",
                        (tid, "district" if parent else "state", parent, f"Test {tid}"))
        self.ids.append(tid)
        return tid

    def endpoint(self, tenant, url, events=(), secret=None, max_in_flight=4,
                 include_districts=False):
        """Register by SQL with the secret sealed in Python, as the gateway's admin API would;
        returns (endpoint id, secret)."""
        secret = secret or new_secret()
        rows = self.db.query(
            "INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret_enc, max_in_flight,"
            " include_districts) VALUES (%s, %s, %s::text[], %s, %s, %s) RETURNING id::text",
            (tenant, url, list(events), seal(secret), max_in_flight, include_districts))
        return rows[0][0], secret

    def rotate(self, endpoint, secret, grace="1 hour"):
        self.db.execute("UPDATE webhook_endpoints SET previous_secret_enc = secret_enc,"
                        " secret_enc = %s, previous_secret_until = now() + %s::interval"
                        " WHERE id = %s", (seal(secret), grace, endpoint))

    def endpoint_cli(self, tenant, url, events=(), secret=None):
        """Register through `badgeflow webhook add`; returns (endpoint id, secret)."""
        secret = secret or new_secret()
        args = ["webhook", "add", "--tenant", tenant, "--url", url, "--secret", secret]
        if events:
            args += ["--events", ",".join(events)]
        p = cli(self.stack, *args)
        assert p.returncode == 0, p.stderr
        return p.stdout.split()[0], secret

    def close(self):
        if self.ids:
            self.db.execute("UPDATE webhook_endpoints SET disabled_at = now()"
                            " WHERE tenant_id = ANY(%s) AND disabled_at IS NULL", (self.ids,))


@pytest.fixture
def tenants(stack, db):
    t = Tenants(stack, db)
    yield t
    t.close()


def event(ce_type, tenant):
    """The schema example of ce_type for tenant, with fresh headers: (data, headers, ce_id)."""
    data = copy.deepcopy(json.loads((EXAMPLES / f"{ce_type[len('org.badgeflow.'):]}.json")
                                    .read_text()))
    data["tenant_id"] = tenant
    headers = ce_headers(ce_type, ce_subject=data.get("submission_id", tenant))
    return data, headers, dict(headers)["ce_id"].decode()


def produce(kafka, topic, ce_type, tenant):
    data, headers, ce_id = event(ce_type, tenant)
    kafka.produce(topic, data, headers, key=data.get("submission_id", tenant).encode())
    kafka.flush()
    return ce_id


DECISION = "org.badgeflow.decision.made.v1"
WITHDRAWN = "org.badgeflow.submission.withdrawn.v1"


def notifier_config(daemons, kafka, **notifier):
    keys = {"secrets_kek": KEK, "allow_loopback": "true", "allow_http": "true",
            "retry_base": "200ms", "retry_max": "1s", "timeout": "3s",
            "connect_timeout": "1s", "poll_interval": "50ms", "workers": "4",
            "max_in_flight": "2"}
    keys.update(notifier)
    return daemons.config(kafka, name="notifier", notifier=keys)


def start_notifier(daemons, kafka, name="notifier", **notifier):
    d = daemons.start(notifier_config(daemons, kafka, **notifier), binary=NOTIFIER, name=name)
    d.wait_ready()
    return d


def wait_requests(hooks, prefix, n, timeout=30):
    return wait_for(lambda: len(hooks.got(prefix)) >= n and hooks.got(prefix), timeout,
                    interval=0.05, what=f"{n} request(s) on {prefix}")
