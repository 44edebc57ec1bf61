# SPDX-License-Identifier: Apache-2.0
"""The assessor's side (blind assignments, scores → score.submitted, release →
assignment.release_requested) and the admin API (tenants, assessors, keys, webhooks)."""

import json
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gw_helpers import KEK, gateway, gw_prefix, submission_body, tenants  # noqa: F401
from test_gateway_submissions import event_validator, problem, read_events


def assign(tenants, sid):
    asg = str(uuid.uuid4())
    tenants.db.execute("INSERT INTO assignments (id, tenant_id, submission_id, assessor_id,"
                       " fencing_token, due_at) VALUES (%s, %s, %s, %s, 1,"
                       " now() + interval '7 days')", (asg, tenants.a, sid, f"as-{tenants.a}"))
    return asg


SCORES = {"criteria": [
    {"criterion_id": "co-construction", "level_id": "proficient", "feedback": "Good."},
    {"criterion_id": "alignment-to-student-outcomes", "level_id": "developing",
     "feedback": "Show how the team will check."},
    {"criterion_id": "reflection", "level_id": "proficient"}],
    "overall_feedback": "Clear meeting."}


def rubric(gateway, key):
    st, _, c = gateway.request("GET", "/v1/credentials/cl.cultivating-a-shared-purpose", key=key)
    assert st == 200
    return c["definition"]["rubric"]["criteria"]


def test_assessor_lists_blind_assignments_scores_and_releases(gateway, tenants, stack,
                                                                gw_prefix):
    kd, ka = tenants.keys[(tenants.a, "district")], tenants.keys[(tenants.a, "assessor")]
    for sid in ("as-1", "as-2"):
        assert gateway.request("POST", "/v1/submissions", submission_body(sid), key=kd)[0] == 202
    a1, a2 = assign(tenants, "as-1"), assign(tenants, "as-2")
    tenants.db.execute("INSERT INTO renditions (tenant_id, submission_id, item_id, name,"
                       " storage_key, content_type, width, height, bytes, sha256) VALUES"
                       " (%s, 'as-1', 'clip-1', '720p', 'a/as-1/clip-1/720p.mp4', 'video/mp4',"
                       " 1280, 720, 1000, %s)", (tenants.a, "ab" * 32))
    st, _, lst = gateway.request("GET", "/v1/assignments", key=ka)
    assert st == 200 and {a1, a2} <= {x["assignment_id"] for x in lst["items"]}
    text = json.dumps(lst)
    assert "edu-1" not in text and "Maya" not in text and "educator" not in text  # blind
    st, _, one = gateway.request("GET", f"/v1/assignments/{a1}", key=ka)
    assert st == 200 and one["credential_id"] == "cl.cultivating-a-shared-purpose"
    assert one["evidence"][0]["renditions"][0]["name"] == "720p"
    assert "educator" not in json.dumps(one) and "Maya" not in json.dumps(one)
    # the levels are checked against the rubric, naming the criterion
    crits = [c["id"] for c in rubric(gateway, ka)]
    bad = {"criteria": [{"criterion_id": crits[0], "level_id": "stellar"}]}
    problem(gateway.request("POST", f"/v1/assignments/{a1}/scores", bad, key=ka), 422)
    problem(gateway.request("POST", f"/v1/assignments/{a1}/scores", {"criteria": "x"}, key=ka),
            422, "/criteria")
    scores = {"criteria": [{"criterion_id": c["id"], "level_id": c["passing_level"],
                            "feedback": "ok"} for c in rubric(gateway, ka)],
              "overall_feedback": "Clear meeting."}
    st, _, s = gateway.request("POST", f"/v1/assignments/{a1}/scores", scores, key=ka)
    assert st == 202, s
    assert gateway.request("POST", f"/v1/assignments/{a1}/scores", scores, key=ka)[2] == s
    other = dict(scores, overall_feedback="changed my mind")
    problem(gateway.request("POST", f"/v1/assignments/{a1}/scores", other, key=ka), 409)
    st, _, rel = gateway.request("POST", f"/v1/assignments/{a2}/release",
                                 {"reason": "declined", "note": "I coached this teacher."},
                                 key=ka)
    assert st == 202, rel
    problem(gateway.request("POST", f"/v1/assignments/{a2}/release", {"reason": "bored"},
                            key=ka), 422, "/reason")
    msgs = read_events(stack, gw_prefix + "scores",
                       lambda got: any(json.loads(m.value())["score_id"] == s["score_id"]
                                       for m in got))
    data = [json.loads(m.value()) for m in msgs if json.loads(m.value())["score_id"] ==
            s["score_id"]]
    assert len(data) == 1 and data[0]["assignment_id"] == a1
    event_validator("org.badgeflow.score.submitted.v1").validate(data[0])
    msgs = read_events(stack, gw_prefix + "routing",
                       lambda got: any(json.loads(m.value())["assignment_id"] == a2
                                       for m in got))
    rel = [json.loads(m.value()) for m in msgs if json.loads(m.value())["assignment_id"] == a2]
    assert len(rel) == 1 and rel[0]["reason"] == "declined"
    event_validator("org.badgeflow.assignment.release_requested.v1").validate(rel[0])
    # a closed assignment takes nothing more
    tenants.db.execute("UPDATE assignments SET state = 'completed', closed_at = now()"
                       " WHERE id = %s", (a2,))
    problem(gateway.request("POST", f"/v1/assignments/{a2}/release", {}, key=ka), 409)


def test_catalogue_reads(gateway, tenants):
    key = tenants.keys[(tenants.a, "assessor")]
    st, _, stacks = gateway.request("GET", "/v1/stacks", key=key)
    assert st == 200 and len(stacks["items"]) >= 5
    st, _, one = gateway.request("GET", "/v1/stacks/collective-leadership", key=key)
    assert st == 200 and one["credentials"]
    st, _, c = gateway.request("GET", "/v1/credentials/cl.cultivating-a-shared-purpose?version=2",
                               key=key)
    assert st == 200 and c["definition"]["evidence"] and c["definition"]["rubric"]
    problem(gateway.request("GET", "/v1/credentials/cl.nope", key=key), 404)
    problem(gateway.request("GET", "/v1/credentials/cl.nope?version=x", key=key), 400,
            "/version")


def test_admin_manages_tenants_assessors_keys_and_webhooks(gateway, tenants):
    state_admin = tenants.keys[(tenants.state, "admin")]
    district_admin = tenants.keys[(tenants.a, "admin")]
    tid = "dc-" + uuid.uuid4().hex[:8]
    st, _, t = gateway.request("POST", "/v1/admin/tenants", {"id": tid, "name": "District C"},
                               key=state_admin)
    assert st == 201 and t["parent_id"] == tenants.state, t
    problem(gateway.request("POST", "/v1/admin/tenants", {"id": tid, "name": "again"},
                            key=state_admin), 409)
    problem(gateway.request("POST", "/v1/admin/tenants", {"id": "x" + tid, "name": "n"},
                            key=district_admin), 422)  # a district has no districts
    st, _, a = gateway.request("POST", "/v1/admin/assessors",
                               {"id": "as-" + tid, "name": "Jo", "tenant_id": tid,
                                "credentials": ["cl.cultivating-a-shared-purpose"]},
                               key=state_admin)
    assert st == 201, a
    problem(gateway.request("POST", "/v1/admin/assessors",
                            {"id": "as2-" + tid, "name": "Jo", "credentials": ["cl.nope"]},
                            key=state_admin), 422)
    st, _, k = gateway.request("POST", "/v1/admin/api-keys",
                               {"role": "assessor", "assessor_id": "as-" + tid, "tenant_id": tid},
                               key=state_admin)
    assert st == 201 and k["key"].startswith(k["prefix"] + "."), k
    assert gateway.request("GET", "/v1/assignments", key=k["key"])[0] == 200
    listed = gateway.request("GET", "/v1/admin/api-keys", key=state_admin)[2]
    assert k["prefix"] in json.dumps(listed) and k["key"] not in json.dumps(listed)
    assert gateway.request("DELETE", f"/v1/admin/api-keys/{k['id']}", key=state_admin)[0] == 200
    problem(gateway.request("GET", "/v1/assignments", key=k["key"]), 401)
    problem(gateway.request("DELETE", f"/v1/admin/api-keys/{k['id']}", key=state_admin), 409)
    problem(gateway.request("POST", "/v1/admin/webhook-endpoints", {"url": "gopher://x"},
                            key=district_admin), 422, "/url")
    st, _, hook = gateway.request("POST", "/v1/admin/webhook-endpoints",
                                  {"url": "https://hooks.example.org/a",
                                   "event_types": ["org.badgeflow.decision.made.v1"]},
                                  key=district_admin)
    assert st == 201 and hook["secret"].startswith("whsec_"), hook
    sealed = bytes(tenants.db.scalar("SELECT secret_enc FROM webhook_endpoints WHERE id = %s",
                                     (hook["id"],)))
    # the documented format, opened by an independent AES-GCM: 0x01 | nonce | ct | tag
    assert sealed[0] == 1
    plain = AESGCM(bytes.fromhex(KEK)).decrypt(sealed[1:13], sealed[13:], None)
    assert plain.decode() == hook["secret"]
    st, _, rot = gateway.request("POST", f"/v1/admin/webhook-endpoints/{hook['id']}/rotate-secret",
                                 key=district_admin)
    assert st == 200 and rot["secret"] != hook["secret"]
    row = tenants.db.query("SELECT previous_secret_enc, previous_secret_until > now()"
                           " FROM webhook_endpoints WHERE id = %s", (hook["id"],))[0]
    prev = bytes(row[0])
    assert row[1] and AESGCM(bytes.fromhex(KEK)).decrypt(prev[1:13], prev[13:], None).decode() \
        == hook["secret"]
    assert gateway.request("DELETE", f"/v1/admin/webhook-endpoints/{hook['id']}",
                           key=district_admin)[0] == 200
    # a state agency's endpoint may include its districts' events; a district's may not
    problem(gateway.request("POST", "/v1/admin/webhook-endpoints",
                            {"url": "https://hooks.example.org/d", "include_districts": True},
                            key=district_admin), 422, "/include_districts")
    problem(gateway.request("POST", "/v1/admin/webhook-endpoints",
                            {"url": "https://hooks.example.org/d", "include_districts": "yes"},
                            key=state_admin), 422, "/include_districts")
    st, _, whole = gateway.request("POST", "/v1/admin/webhook-endpoints",
                                   {"url": "https://hooks.example.org/state",
                                    "include_districts": True}, key=state_admin)
    assert st == 201 and whole["include_districts"] is True and whole["tenant_id"] == tenants.state
    listed = gateway.request("GET", "/v1/admin/webhook-endpoints", key=state_admin)[2]["items"]
    assert [h["include_districts"] for h in listed if h["id"] == whole["id"]] == [True]
    assert gateway.request("DELETE", f"/v1/admin/webhook-endpoints/{whole['id']}",
                           key=state_admin)[0] == 200
    problem(gateway.request("POST", "/v1/admin/tenants", {"id": "y", "name": "n"},
                            key=tenants.keys[(tenants.a, "district")]), 403)


def test_cli_whois_checks_a_key_as_the_gateway_does(stack, tenants):
    import subprocess

    from conftest import clean_env
    from gw_helpers import CLI
    import pytest
    env = clean_env(BADGEFLOW_POSTGRES_CONNINFO=stack.conninfo)
    helptext = subprocess.run([str(CLI), "--help"], env=env, capture_output=True, text=True,
                              timeout=30)
    if "gateway whois" not in helptext.stdout + helptext.stderr:
        pytest.skip("tools/cli/cli_main.c does not list the services' command tables yet")
    key = tenants.add_key(tenants.a, "assessor")
    out = subprocess.run([str(CLI), "gateway", "whois", "--key", key], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert f"tenant {tenants.a}, role assessor, assessor as-{tenants.a}" in out.stdout
    tenants.db.execute("UPDATE api_keys SET revoked_at = now() WHERE prefix = %s",
                       (key.split(".")[0],))
    out = subprocess.run([str(CLI), "gateway", "whois", "--key", key], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 3 and "revoked" in out.stderr
    out = subprocess.run([str(CLI), "gateway", "routes"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "/v1/submissions/{}/resubmissions" in out.stdout
