# SPDX-License-Identifier: Apache-2.0
"""Tenant scoping: keys of district A get 404 for every object of district B, on every
endpoint that names an object (the test checks it covers every such path of openapi.yaml)."""

import re
import uuid

import yaml

from conftest import ROOT
from gw_helpers import gateway, gw_prefix, submission_body, tenants  # noqa: F401

OPENAPI = ROOT / "docs" / "openapi.yaml"


def seed_b(gateway, tenants):
    """Objects of district B: submissions, an assignment, an API key, a webhook endpoint."""
    kb = tenants.keys[(tenants.b, "district")]
    assert gateway.request("POST", "/v1/submissions", submission_body("sb-1"), key=kb)[0] == 202
    assert gateway.request("POST", "/v1/submissions", submission_body("sb-2"), key=kb)[0] == 202
    tenants.db.execute("UPDATE submissions SET state = 'decided', outcome = 'not_yet'"
                       " WHERE tenant_id = %s AND id = 'sb-2'", (tenants.b,))
    asg = str(uuid.uuid4())
    tenants.db.execute("INSERT INTO assignments (id, tenant_id, submission_id, assessor_id,"
                       " fencing_token, due_at) VALUES (%s, %s, 'sb-1', %s, 1,"
                       " now() + interval '7 days')", (asg, tenants.b, f"as-{tenants.b}"))
    key_b = tenants.add_key(tenants.b, "district")
    st, _, hook = gateway.request("POST", "/v1/admin/webhook-endpoints",
                                  {"url": "https://hooks.example.org/b"},
                                  key=tenants.keys[(tenants.b, "admin")])
    assert st == 201, hook
    return {"submission": "sb-1", "decided": "sb-2", "assignment": asg,
            "apikey": key_b.split(".")[0], "hook": hook["id"]}


def cases(b):
    """(role of A's key, method, path, body) for every endpoint naming an object of B."""
    return [
        ("district", "GET", f"/v1/submissions/{b['submission']}", None),
        ("district", "POST", f"/v1/submissions/{b['submission']}/withdraw", {}),
        ("district", "POST", f"/v1/submissions/{b['decided']}/resubmissions",
         submission_body("sa-new")),
        ("assessor", "GET", f"/v1/assignments/{b['assignment']}", None),
        ("assessor", "POST", f"/v1/assignments/{b['assignment']}/scores",
         {"criteria": [{"criterion_id": "x", "level_id": "y"}]}),
        ("assessor", "POST", f"/v1/assignments/{b['assignment']}/release", {}),
        ("admin", "DELETE", f"/v1/admin/api-keys/{b['apikey']}", None),
        ("admin", "DELETE", f"/v1/admin/webhook-endpoints/{b['hook']}", None),
        ("admin", "POST", f"/v1/admin/webhook-endpoints/{b['hook']}/rotate-secret", None),
        ("admin", "POST", "/v1/admin/api-keys", {"role": "district", "tenant_id": "{B}"}),
        ("admin", "POST", "/v1/admin/assessors", {"id": "x-as", "name": "X", "tenant_id": "{B}"}),
        ("admin", "POST", "/v1/admin/webhook-endpoints",
         {"url": "https://hooks.example.org/a", "tenant_id": "{B}"}),
    ]


def test_a_key_of_district_a_gets_404_for_every_object_of_district_b(gateway, tenants):
    b = seed_b(gateway, tenants)
    covered = set()
    for role, method, path, body in cases(b):
        if isinstance(body, dict) and body.get("tenant_id") == "{B}":
            body = dict(body, tenant_id=tenants.b)
        st, h, resp = gateway.request(method, path, body, key=tenants.keys[(tenants.a, role)])
        assert st == 404, (method, path, st, resp)
        assert h["content-type"] == "application/problem+json"
        covered.add((method, re.sub(r"/(sb-\d|[0-9a-f-]{36}|bfk[0-9a-f]{12})(?=/|$)", "/{}",
                                    path)))
    # nothing of B was changed by those calls
    assert tenants.db.scalar("SELECT state FROM submissions WHERE tenant_id = %s AND id = 'sb-1'",
                             (tenants.b,)) == "received"
    assert tenants.db.scalar("SELECT count(*) FROM submissions WHERE id = 'sa-new'") == 0
    assert tenants.db.scalar("SELECT revoked_at IS NULL FROM api_keys WHERE prefix = %s",
                             (b["apikey"],))
    assert tenants.db.scalar("SELECT count(*) FROM webhook_endpoints WHERE id = %s",
                             (b["hook"],)) == 1
    # lists of A hold nothing of B
    lists = [("district", "/v1/submissions"), ("assessor", "/v1/assignments"),
             ("admin", "/v1/admin/api-keys"), ("admin", "/v1/admin/webhook-endpoints"),
             ("admin", "/v1/admin/assessors"), ("admin", "/v1/admin/tenants")]
    for role, path in lists:
        st, _, resp = gateway.request("GET", path, key=tenants.keys[(tenants.a, role)])
        assert st == 200, (path, resp)
        text = str(resp)
        assert tenants.b not in text and b["assignment"] not in text and b["hook"] not in text, path
    # every documented operation on an object is in the table above
    doc = yaml.safe_load(OPENAPI.read_text())
    for path, ops in doc["paths"].items():
        if "{" not in path or path.startswith("/v1/public") or path.startswith("/v1/stacks") \
                or path.startswith("/v1/credentials"):
            continue  # the catalogue is global; public routes carry no tenant
        for method in ops:
            if method in ("get", "post", "delete"):
                norm = re.sub(r"\{[^}]+\}", "{}", path)
                assert (method.upper(), norm) in covered, (method, path)
