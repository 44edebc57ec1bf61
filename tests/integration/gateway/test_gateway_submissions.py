# SPDX-License-Identifier: Apache-2.0
"""The gateway's submissions API on the real stack: auth, create → Kafka → status,
idempotency, problems naming the field, withdraw, resubmission after a not-yet."""

import json
import time
from pathlib import Path

import jsonschema
import pytest
from confluent_kafka import Consumer

from conftest import ROOT, header_dict, wait_for
from gw_helpers import CRED, gateway, gw_prefix, submission_body, tenants  # noqa: F401

SCHEMAS = ROOT / "schemas" / "events"


def problem(resp, status, pointer=None):
    st, h, b = resp
    assert st == status, (st, b)
    assert h["content-type"] == "application/problem+json", h
    assert b["status"] == status and b["type"].startswith("https://") and b["title"] and b["detail"]
    if pointer:
        assert any(e["pointer"] == pointer for e in b["errors"]), b
    return b


def event_validator(ce_type):
    name = ce_type.removeprefix("org.badgeflow.") + ".schema.json"
    store = {}
    for p in SCHEMAS.glob("*.schema.json"):
        s = json.loads(p.read_text())
        store[s.get("$id", p.name)] = s
    schema = json.loads((SCHEMAS / name).read_text())
    resolver = jsonschema.RefResolver(base_uri=schema.get("$id", ""), referrer=schema, store=store)
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


def read_events(stack, topic, until, timeout=30):
    c = Consumer({"bootstrap.servers": stack.brokers, "group.id": f"it-{time.time_ns()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + timeout
    try:
        while not until(got) and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m)
    finally:
        c.close()
    return got


# ---- auth ----------------------------------------------------------------------------


def test_keys_missing_malformed_unknown_revoked_or_wrong_role_are_refused(gateway, tenants):
    for key in (None, "nonsense", "bfk000000000000." + "A" * 43):
        b = problem(gateway.request("GET", "/v1/submissions", key=key), 401)
        assert "API key" in b["detail"] or "Authorization" in b["detail"]
    st, h, _ = gateway.request("GET", "/v1/submissions", key=None)
    assert h["www-authenticate"].startswith("Bearer")
    st, _, b = gateway.request("GET", "/v1/submissions", headers={"Authorization": "Basic eDp5"})
    assert st == 401
    key = tenants.add_key(tenants.a, "district")
    assert gateway.request("GET", "/v1/submissions", key=key)[0] == 200
    admin = tenants.keys[(tenants.a, "admin")]
    prefix = key.split(".")[0]
    assert gateway.request("DELETE", f"/v1/admin/api-keys/{prefix}", key=admin)[0] == 200
    b = problem(gateway.request("GET", "/v1/submissions", key=key), 401)
    assert "revoked" in b["detail"]
    tenants.db.execute("UPDATE api_keys SET expires_at = now() - interval '1 s' WHERE prefix = %s",
                       (tenants.keys[(tenants.b, "district")].split(".")[0] + "x",))
    problem(gateway.request("GET", "/v1/assignments",
                            key=tenants.keys[(tenants.a, "district")]), 403)
    problem(gateway.request("POST", "/v1/submissions", submission_body("x"),
                            key=tenants.keys[(tenants.a, "assessor")]), 403)


# ---- create → Kafka → status -------------------------------------------------------------


def test_create_records_the_submission_emits_the_event_and_reports_status(gateway, tenants,
                                                                          stack, gw_prefix):
    key = tenants.keys[(tenants.a, "district")]
    st, h, b = gateway.request("POST", "/v1/submissions", submission_body("sub-full-1"), key=key)
    assert st == 202, b
    assert b["state"] == "received" and b["attempt"] == 1 and b["credential_version"] == 2
    assert h["location"] == "/v1/submissions/sub-full-1"
    row = tenants.db.query("SELECT state, event_id, source FROM submissions WHERE tenant_id = %s"
                           " AND id = 'sub-full-1'", (tenants.a,))
    assert row == [("received", b["event_id"], "/badgeflow/gateway")]
    msgs = read_events(stack, gw_prefix + "submissions",
                       lambda got: any(header_dict(m).get("ce_id") == b["event_id"] for m in got))
    m = [m for m in msgs if header_dict(m).get("ce_id") == b["event_id"]]
    assert len(m) == 1, "the submission.submitted event reached Kafka once"
    hd = header_dict(m[0])
    assert hd["ce_type"] == "org.badgeflow.submission.submitted.v1"
    assert hd["ce_source"] == "/badgeflow/gateway" and m[0].key() == b"sub-full-1"
    data = json.loads(m[0].value())
    event_validator(hd["ce_type"]).validate(data)
    assert data["tenant_id"] == tenants.a and data["credential_version"] == 2
    st, _, s = gateway.request("GET", "/v1/submissions/sub-full-1", key=key)
    assert st == 200 and s["state"] == "received" and s["decision"] is None
    assert [e["item_id"] for e in s["evidence"]] == ["clip-1", "plan", "reflection"]
    assert all(e["state"] == "pending" for e in s["evidence"])
    # what the transcoder and scorer record shows through: a failed item and a decision
    tenants.db.execute("UPDATE evidence_items SET state = 'failed', failure_code = 'too_long',"
                       " failure_reason = 'video longer than 20 minutes' WHERE tenant_id = %s"
                       " AND submission_id = 'sub-full-1' AND item_id = 'clip-1'", (tenants.a,))
    tenants.db.execute(
        "UPDATE submissions SET state = 'decided', outcome = 'not_yet' WHERE tenant_id = %s"
        " AND id = 'sub-full-1'", (tenants.a,))
    tenants.db.execute(
        "INSERT INTO decisions (id, tenant_id, submission_id, outcome, criteria, rule, attempt,"
        " attempts_left, decided_by) VALUES (gen_random_uuid(), %s, 'sub-full-1', 'not_yet',"
        " %s, '{}', 1, 2, 'scorer')",
        (tenants.a, json.dumps([{"criterion_id": "reflection", "level_id": "developing",
                                 "passing": False, "feedback": ["Say what you would change."]}])))
    st, _, s = gateway.request("GET", "/v1/submissions/sub-full-1", key=key)
    assert s["state"] == "decided" and s["outcome"] == "not_yet"
    assert s["evidence"][0]["failure_reason"] == "video longer than 20 minutes"
    assert s["decision"]["criteria"][0]["feedback"] == ["Say what you would change."]
    assert s["decision"]["attempts_left"] == 2
    st, _, lst = gateway.request("GET", "/v1/submissions?state=decided", key=key)
    assert st == 200 and "sub-full-1" in [x["submission_id"] for x in lst["items"]]


# ---- idempotency ------------------------------------------------------------------------


def test_create_is_idempotent_on_the_submission_id_and_the_idempotency_key(gateway, tenants):
    key = tenants.keys[(tenants.a, "district")]
    body = submission_body("sub-idem-1")
    first = gateway.request("POST", "/v1/submissions", body, key=key)
    again = gateway.request("POST", "/v1/submissions", body, key=key)
    assert first[0] == again[0] == 202 and first[2] == again[2]
    n = tenants.db.scalar("SELECT count(*) FROM outbox WHERE service = 'gateway' AND"
                          " convert_from(msg_key, 'UTF8') = 'sub-idem-1' AND convert_from(payload, 'UTF8') LIKE %s",
                          (f"%{tenants.a}%",))
    assert n == 1, "one event for two identical requests"
    other = submission_body("sub-idem-1", educator="edu-2")
    problem(gateway.request("POST", "/v1/submissions", other, key=key), 409)
    h = {"Idempotency-Key": "client-req-77"}
    one = gateway.request("POST", "/v1/submissions", submission_body("sub-idem-2"), key=key,
                          headers=h)
    two = gateway.request("POST", "/v1/submissions", submission_body("sub-idem-2"), key=key,
                          headers=h)
    assert one[0] == two[0] == 202 and one[2] == two[2]
    problem(gateway.request("POST", "/v1/submissions", submission_body("sub-idem-3"), key=key,
                            headers=h), 409)
    # the same id under another key of the same tenant but another body, no header: 409
    problem(gateway.request("POST", "/v1/submissions", submission_body("sub-idem-2", educator="z"),
                            key=key), 409)


# ---- problems ----------------------------------------------------------------------------


def test_bad_requests_get_precise_problems_and_write_nothing(gateway, tenants):
    key = tenants.keys[(tenants.a, "district")]
    before = tenants.db.scalar("SELECT count(*) FROM submissions WHERE tenant_id = %s",
                               (tenants.a,))
    b = problem(gateway.request("POST", "/v1/submissions", key=key, raw=b'{"submission_id": ',
                                headers={"Content-Type": "application/json"}), 400)
    assert "JSON" in b["title"]
    problem(gateway.request("POST", "/v1/submissions", key=key, raw=b"[1, 2]"), 400)
    problem(gateway.request("POST", "/v1/submissions", submission_body(12), key=key), 422,
            "/submission_id")
    bad = submission_body("p-1")
    bad["educator"]["id"] = ["not", "a", "string"]
    problem(gateway.request("POST", "/v1/submissions", bad, key=key), 422, "/educator/id")
    bad = submission_body("p-2")
    bad["evidence"][1]["uri"] = "ftp://example.org/x.pdf"
    problem(gateway.request("POST", "/v1/submissions", bad, key=key), 422, "/evidence/1/uri")
    b = problem(gateway.request("POST", "/v1/submissions",
                                submission_body("p-3", credential_id="cl.no-such-thing"), key=key),
                422, "/credential_id")
    assert "cl.no-such-thing" in b["detail"]
    bad = submission_body("p-4")
    bad["evidence"] = bad["evidence"][1:]  # no classroom video
    b = problem(gateway.request("POST", "/v1/submissions", bad, key=key), 422, "/evidence")
    assert "classroom-video" in b["detail"]
    bad = submission_body("p-5")
    bad["evidence"][0]["kind"] = "audio"  # audio where a video is required
    problem(gateway.request("POST", "/v1/submissions", bad, key=key), 422)
    problem(gateway.request("POST", "/v1/submissions", submission_body("p-6", tenant_id="x"),
                            key=key), 422, "/tenant_id")
    big = submission_body("p-7")
    big["evidence"][2]["text"] = "x" * 70000  # over max_body = 64k
    problem(gateway.request("POST", "/v1/submissions", big, key=key), 413)
    problem(gateway.request("GET", "/v1/nothing-here", key=key), 404)
    problem(gateway.request("PUT", "/v1/submissions", key=key), 405)
    after = tenants.db.scalar("SELECT count(*) FROM submissions WHERE tenant_id = %s",
                              (tenants.a,))
    assert after == before


def test_oversize_headers_are_refused(gateway, tenants):
    st, _, _ = gateway.request("GET", "/v1/stacks", key=tenants.keys[(tenants.a, "district")],
                               headers={"X-Padding": "p" * 40000})
    assert st in (413, 431)


# ---- withdraw and resubmit -----------------------------------------------------------


def decide(db, tenant, sid, outcome="not_yet"):
    db.execute("UPDATE submissions SET state = 'decided', outcome = %s WHERE tenant_id = %s"
               " AND id = %s", (outcome, tenant, sid))


def test_withdraw_then_nothing_more(gateway, tenants, stack, gw_prefix):
    key = tenants.keys[(tenants.a, "district")]
    assert gateway.request("POST", "/v1/submissions", submission_body("w-1"), key=key)[0] == 202
    st, _, b = gateway.request("POST", "/v1/submissions/w-1/withdraw",
                               {"reason": "wrong video"}, key=key)
    assert st == 202 and b["state"] == "withdrawn"
    assert gateway.request("GET", "/v1/submissions/w-1", key=key)[2]["withdrawn_reason"] == \
        "wrong video"
    problem(gateway.request("POST", "/v1/submissions/w-1/withdraw", {}, key=key), 409)
    problem(gateway.request("POST", "/v1/submissions/w-404/withdraw", {}, key=key), 404)
    n = tenants.db.scalar("SELECT count(*) FROM outbox WHERE service = 'gateway' AND headers::text"
                          " LIKE '%%submission.withdrawn%%' AND convert_from(payload, 'UTF8') LIKE %s",
                          (f'%"{tenants.a}"%',))
    assert n == 1


def test_resubmission_after_not_yet_links_attempts_and_stops_at_the_limit(gateway, tenants):
    key = tenants.keys[(tenants.a, "district")]
    assert gateway.request("POST", "/v1/submissions", submission_body("r-1"), key=key)[0] == 202
    problem(gateway.request("POST", "/v1/submissions/r-1/resubmissions",
                            submission_body("r-2"), key=key), 409)  # not decided yet
    decide(tenants.db, tenants.a, "r-1")
    problem(gateway.request("POST", "/v1/submissions/r-1/resubmissions",
                            submission_body("r-2", educator="someone-else"), key=key), 422,
            "/educator/id")
    st, _, b = gateway.request("POST", "/v1/submissions/r-1/resubmissions",
                               submission_body("r-2"), key=key)
    assert st == 202 and b["attempt"] == 2 and b["previous_submission_id"] == "r-1", b
    problem(gateway.request("POST", "/v1/submissions/r-1/resubmissions",
                            submission_body("r-2b"), key=key), 409)  # resubmitted already
    decide(tenants.db, tenants.a, "r-2")
    assert gateway.request("POST", "/v1/submissions/r-2/resubmissions",
                           submission_body("r-3"), key=key)[2]["attempt"] == 3
    decide(tenants.db, tenants.a, "r-3")
    b = problem(gateway.request("POST", "/v1/submissions/r-3/resubmissions",
                                submission_body("r-4"), key=key), 409)
    assert "attempts" in b["detail"]
    decide(tenants.db, tenants.a, "r-x", "earned")
