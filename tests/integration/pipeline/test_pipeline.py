# SPDX-License-Identifier: Apache-2.0
"""The whole pipeline: the demo's journey (demo/driver.py, imported: one copy of the logic)
through all seven daemons on the real stack, with assertions:

  * every submission reaches a terminal state, with the outcome its script called for; the
    double-scored disagreements got a tie-break assessor;
  * every earned decision has exactly one credential, and it verifies with an independent
    implementation (jose, tests/integration/issuer/node/verify.mjs) against the issuer's JWKS;
    no other submission has one;
  * every webhook that arrived is signed (Standard Webhooks HMAC with the endpoint's secret)
    and belongs to the endpoint's tenant; every decision and credential of that tenant
    arrived;
  * analytics statements exist for every step of the journey, and the pilot's metrics on
    metrics.pilot equal the journey's counts (k = 1: only zero counts are suppressed).

Runs against BADGEFLOW_STACK_ENV (tests/run.sh) with binaries from BADGEFLOW_BUILD_DIR, under
its own topic prefix, tenant ids and Redis prefix. About a minute.

    BADGEFLOW_STACK_ENV=... /usr/bin/python3 -m pytest tests/integration/pipeline
"""

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import BUILD, ROOT, wait_for

sys.path.insert(0, str(ROOT / "demo"))
import driver  # noqa: E402

NODE_DIR = ROOT / "tests" / "integration" / "issuer" / "node"


def node_verify(jwt, jwks_url):
    if not (NODE_DIR / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       capture_output=True, timeout=180)
    proc = subprocess.run(["node", str(NODE_DIR / "verify.mjs"),
                           json.dumps({"op": "verify", "jwt": jwt, "jwks_url": jwks_url})],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


class Run:
    pass


@pytest.fixture(scope="module")
def run(stack, db, tmp_path_factory):
    tag = uuid.uuid4().hex[:6]
    ctx = driver.Ctx(stack.env, BUILD, tmp_path_factory.mktemp("pipeline"), tag=tag,
                     prefix=f"itpipe{tag}.", k=1)
    ctx.cli("catalogue", "load")
    ctx.cli("topics", "create")
    receiver = driver.Receiver()
    daemons = driver.Daemons(ctx)
    try:
        w = driver.setup_world(ctx, receiver)
        daemons.start_all()
        daemons.wait_ready()
        media = driver.make_media(ctx)
        api = driver.Api(ctx.api_port)
        j = driver.run_journey(ctx, api, w, receiver, daemons, media, timeout=180)
        driver.wait_quiet_webhooks(ctx, receiver)
        r = Run()
        r.ctx, r.w, r.j, r.api, r.receiver, r.daemons = ctx, w, j, api, receiver, daemons
        r.states = driver.states(ctx, j)
        yield r
    finally:
        receiver.close()
        daemons.stop_all()


def test_every_submission_is_terminal_with_its_scripted_outcome(run):
    j, st = run.j, run.states
    assert len(j.subs) == 25  # 24 + one resubmission
    for sid, sub in j.subs.items():
        state, outcome = st[sid]
        assert state in driver.TERMINAL, (sid, state)
        want = {"earn": "earned", "disagree": "earned", "not_yet": "not_yet",
                "not_yet_resubmit": "not_yet"}[sub["plan"]]
        assert (state, outcome) == ("decided", want), (sid, sub["plan"], state, outcome)
    # the resubmission is attempt 2, linked to the first, and earned
    [(first, again)] = j.resubmitted.items()
    row = run.ctx.query("SELECT attempt, previous_submission_id FROM submissions"
                        " WHERE tenant_id = %s AND id = %s", (j.subs[first]["tenant"], again))
    assert row == [(2, first)] and st[again] == ("decided", "earned")


def test_each_state_change_a_record_caused_names_that_record(run):
    """The skeleton's inbox claim sets badgeflow.event_id: the transcoder's intake (received ->
    processing) names the submission.submitted event for every submission of the journey."""
    rows = run.ctx.query("SELECT e.submission_id, e.event_id FROM submission_events e"
                         " WHERE e.to_state = 'processing' AND e.submission_id = ANY(%s)",
                         (list(run.j.subs),))
    assert len(rows) == len(run.j.subs) and all(eid for _, eid in rows), rows


def test_scoring_follows_the_credentials_policy(run):
    ctx, j = run.ctx, run.j
    rows = ctx.query("SELECT submission_id, role, state FROM assignments"
                     " WHERE tenant_id IN (%s, %s)", (ctx.wake, ctx.durham))
    by_sub = {}
    for sid, role, state in rows:
        by_sub.setdefault(sid, []).append((role, state))
    for sid, sub in j.subs.items():
        required = j.credentials[sub["credential"]].get("assessors_required", 1)
        roles = sorted(r for r, _ in by_sub[sid])
        if sub["plan"] == "disagree":
            assert roles == ["primary", "primary", "tie_break"], (sid, roles)
        else:
            assert roles == ["primary"] * required, (sid, roles)
        assert all(s == "completed" for _, s in by_sub[sid]), (sid, by_sub[sid])


def test_every_earned_decision_has_one_credential_that_verifies(run):
    ctx, j, st = run.ctx, run.j, run.states
    creds = ctx.query("SELECT submission_id, id::text, tenant_id, jwt, decision_id::text"
                      " FROM credentials WHERE tenant_id IN (%s, %s) AND kind = 'credential'",
                      (ctx.wake, ctx.durham))
    by_sub = {}
    for sid, cid, tenant, jwt, did in creds:
        by_sub.setdefault(sid, []).append((cid, tenant, jwt, did))
    earned = [s for s, v in st.items() if v == ("decided", "earned")]
    assert sorted(by_sub) == sorted(earned)
    for sid in earned:
        assert len(by_sub[sid]) == 1, (sid, by_sub[sid])
        cid, tenant, jwt, did = by_sub[sid][0]
        dec = ctx.query("SELECT id::text FROM decisions WHERE tenant_id = %s AND"
                        " submission_id = %s AND outcome = 'earned'", (tenant, sid))
        assert [d for (d,) in dec] == [did]
        v = node_verify(jwt, f"{ctx.issuer_base}/issuers/{tenant}/jwks.json")
        assert v["ok"], (sid, v)
        assert v["payload"]["jti"] == f"urn:uuid:{cid}"
        assert v["payload"]["iss"] == f"{ctx.issuer_base}/issuers/{tenant}"
        # the status API links it, and the gateway's public route redirects to the issuer
        doc = run.api.ok("GET", f"/v1/submissions/{sid}",
                         key=run.w.keys[driver.district_of(ctx, tenant)])
        assert doc["credential"]["credential_id"] == cid
        status, _ = run.api.call("GET", doc["credential"]["url"], retries=1)
        assert status == 307


def test_every_webhook_arrived_signed_for_its_tenant(run):
    ctx, j, st = run.ctx, run.j, run.states
    every = run.receiver.received()
    assert every, "no webhook arrived"
    assert [g for g in every if not g["valid"]] == []
    got = list({g["id"]: g for g in every}.values())  # a retry repeats its webhook-id
    datas = [json.loads(g["body"])["data"] for g in got]
    assert {d["tenant_id"] for d in datas} == {ctx.wake}
    # the same webhook-id twice may only be a repeat of the same body
    seen = {}
    for g in every:
        assert seen.setdefault(g["id"], g["body"]) == g["body"]
    wake = [s for s, v in j.subs.items() if v["tenant"] == ctx.wake]
    def subs_of(ce_type):
        return [d["submission_id"] for g, d in zip(got, datas) if g["type"] == ce_type]
    decided = subs_of("org.badgeflow.decision.made.v1")
    issued = subs_of("org.badgeflow.credential.issued.v1")
    assert len(decided) == len(set(decided)) and len(issued) == len(set(issued))
    decided, issued = set(decided), set(issued)
    assert decided == set(wake)
    assert issued == {s for s in wake if st[s] == ("decided", "earned")}
    # nothing is left queued for the endpoint
    assert driver.wait_quiet_webhooks(ctx, run.receiver, timeout=1) == 0


def test_analytics_statements_cover_the_journey(run):
    ctx, j, st = run.ctx, run.j, run.states
    n_scores = sum(len(s.get("scores", [])) for s in j.subs.values())
    want = {"submitted": len(j.subs),
            "registered": len(j.subs) - len(j.resubmitted),
            "scored": n_scores,
            "passed": sum(1 for v in st.values() if v == ("decided", "earned")),
            "failed": sum(1 for v in st.values() if v == ("decided", "not_yet"))}
    want["earned"] = want["passed"]

    def counts(stmts):
        c = {}
        for verb, _ in stmts:
            c[verb] = c.get(verb, 0) + 1
        return c

    stmts = driver.statements(ctx, {ctx.wake, ctx.durham}, timeout=60,
                              want=lambda s: all(counts(s).get(k, 0) >= v
                                                 for k, v in want.items()))
    got = counts(stmts)
    assert {k: got.get(k, 0) for k in want} == want, got
    # pseudonymous: no educator's name or e-mail on the stream
    blob = json.dumps([d for _, d in stmts])
    for e in run.w.educators.values():
        assert e["email"] not in blob and e["name"] not in blob


def test_pilot_metrics_match_the_journey(run):
    ctx = run.ctx
    exp = driver.expected_pilot(ctx, run.w, run.j)
    m = driver.pilot_metrics(ctx, timeout=60, want=lambda m: all(
        m.get(k) == exp[k] for k in ("submissions", "earned", "resubmissions")))
    assert m is not None
    decided = exp["earned"] + exp["not_yet"]
    assert m["targeted"] == exp["targeted"] == 10
    assert m["reached"] == exp["reached"]
    assert m["reach_ratio"] == round(exp["reached"] / exp["targeted"], 4)
    assert m["target_ratio"] == 0.75
    assert m["on_target"] is (exp["reached"] / exp["targeted"] >= 0.75)
    assert m["submissions"] == exp["submissions"]
    assert m["earned"] == exp["earned"]
    assert m["resubmissions"] == exp["resubmissions"]
    assert m["not_yet_rate"] == round(exp["not_yet"] / decided, 4)
    assert m["first_attempt_pass_rate"] == round(exp["first_earned"] / exp["first_decided"], 4)
    # nothing is left in review: backlog 0, below k = 1, so suppressed
    assert m["backlog"] is None and "backlog" in m["suppressed"]
    assert m["suppression_k"] == 1
