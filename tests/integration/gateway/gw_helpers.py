# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the gateway's integration tests: two districts under a state with keys of
every role, the catalogue loaded, and one badgeflow-gateway per module on the real stack.

Keys are minted here the way bf_admin_apikey_add does (bfk + 12 hex, ".", 43 base64url)
and stored by SQL as their SHA-256, so the tests depend on the gateway alone."""

import base64
import hashlib
import http.client
import json
import os
import secrets
import subprocess
import uuid

import pytest

from conftest import (BUILD, Daemon, clean_env, load_catalogue, wait_for,  # noqa: F401
                      write_config)

GATEWAY = BUILD / "services" / "gateway" / "badgeflow-gateway"
CLI = BUILD / "tools" / "cli" / "badgeflow"
KEK = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
CRED = "cl.cultivating-a-shared-purpose"


def mint_key():
    prefix = "bfk" + secrets.token_hex(6)
    key = prefix + "." + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return prefix, key


class Tenants:
    """A state with districts a and b; keys[(tenant, role)] for each."""

    def __init__(self, db):
        self.db = db
        tag = uuid.uuid4().hex[:8]
        self.state, self.a, self.b = f"st-{tag}", f"da-{tag}", f"db-{tag}"
        db.execute("INSERT INTO tenants (id, kind, name) VALUES (%s, 'state', 'State')",
                   (self.state,))
        for t in (self.a, self.b):
            db.execute("INSERT INTO tenants (id, kind, parent_id, name) VALUES"
                       " (%s, 'district', %s, %s)", (t, self.state, t))
            db.execute("INSERT INTO assessors (id, tenant_id, name) VALUES (%s, %s, 'A. Ssessor')",
                       (f"as-{t}", t))
        self.keys = {}
        for t in (self.state, self.a, self.b):
            for role in ("district", "admin", "assessor"):
                if role == "assessor" and t == self.state:
                    continue
                self.keys[(t, role)] = self.add_key(t, role)

    def add_key(self, tenant, role):
        prefix, key = mint_key()
        assessor = f"as-{tenant}" if role == "assessor" else None
        self.db.execute("INSERT INTO api_keys (tenant_id, role, assessor_id, prefix, key_hash)"
                        " VALUES (%s, %s, %s, %s, %s)",
                        (tenant, role, assessor, prefix, hashlib.sha256(key.encode()).hexdigest()))
        return key


class Gateway:
    """HTTP access to a running badgeflow-gateway."""

    def __init__(self, daemon, upload_root):
        self.daemon = daemon
        self.upload_root = upload_root
        lines = wait_for(lambda: daemon.codes("BF_GATEWAY_LISTEN") or
                         (None if daemon.alive() else pytest.fail(daemon.tail())), 60,
                         what="the gateway's API port")
        self.port = int(lines[-1]["port"])

    def request(self, method, path, body=None, key=None, headers=None, raw=None):
        """(status, headers dict (lower-case names), parsed JSON or text)."""
        h = dict(headers or {})
        if key:
            h["Authorization"] = f"Bearer {key}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            text = resp.read().decode(errors="replace")
            rh = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return resp.status, rh, parsed


def start_gateway(stack, tmp, prefix, **gateway_keys):
    upload_root = tmp / "uploads"
    gw = {"listen": "127.0.0.1:0", "threads": "4", "upload_root": str(upload_root),
          "secrets_kek": KEK, "rate_per_s": "1000", "rate_burst": "1000",
          "max_body": "64k", "max_upload": "1M", "public_base": "https://issuer.example.org",
          "rate_prefix": f"bf:{prefix}rate:"}  # gateways of one module share their buckets
    gw.update(gateway_keys)
    cfg = {
        "log": {"level": "info"},
        "http": {"listen": "127.0.0.1:0"},
        "kafka": {"brokers": stack.brokers, "topic_prefix": prefix},
        "postgres": {"conninfo": stack.conninfo, "connect_timeout": "2s"},
        "daemon": {"ready_interval": "500ms", "shutdown_timeout": "10s"},
        "redis": {"host": stack.env["BADGEFLOW_REDIS_HOST"],
                  "port": stack.env["BADGEFLOW_REDIS_PORT"]},
        "gateway": gw,
    }
    conf = tmp / "gateway.conf"
    write_config(conf, cfg)
    d = Daemon(GATEWAY, conf, tmp / "gateway.log", clean_env())
    return Gateway(d, upload_root)


@pytest.fixture(scope="module")
def tenants(db, stack):
    load_catalogue(stack)
    return Tenants(db)


@pytest.fixture(scope="module")
def gw_prefix():
    return f"itgw{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def gateway(stack, tenants, gw_prefix, tmp_path_factory):
    g = start_gateway(stack, tmp_path_factory.mktemp("gw"), gw_prefix)
    yield g
    g.daemon.kill()
    g.daemon.log.close()


def submission_body(sid, educator="edu-1", **over):
    body = {
        "submission_id": sid,
        "educator": {"id": educator, "name": "Maya Thompson", "email": "maya@example.org",
                     "school_id": "sch-1", "district_id": "d-1"},
        "credential_id": CRED,
        "evidence": [
            {"item_id": "clip-1", "kind": "video", "requirement": "classroom-video",
             "uri": "https://uploads.example.org/clip.mp4"},
            {"item_id": "plan", "kind": "document", "requirement": "meeting-agenda",
             "uri": "https://uploads.example.org/agenda.pdf"},
            {"item_id": "reflection", "kind": "text", "requirement": "reflection",
             "text": "We agreed on a shared purpose."},
        ],
    }
    body.update(over)
    return body
