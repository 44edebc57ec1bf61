# SPDX-License-Identifier: Apache-2.0
"""The scorer against the real stack: the router's assignments are seeded by SQL, scores are
produced as real score.submitted events, and the emitted events are read back from Kafka and
checked with tests/schemas/bfschema.py.

    BADGEFLOW_BUILD_DIR=... /usr/bin/python3 -m pytest tests/integration/scorer
"""

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import BUILD, ROOT, ce_headers, clean_env, header_dict, wait_for

sys.path.insert(0, str(ROOT / "tests" / "schemas"))
from bfschema import validate_event  # noqa: E402

SCORER = BUILD / "services" / "scorer" / "badgeflow-scorer"
CRED = "gp.speaking-publicly-about-practice"  # 2 assessors, conjunctive, threshold 1
CRITERIA = ["message", "storytelling", "delivery", "call-to-action"]
TOPICS = ["scores", "scores.dlq", "routing", "decisions"]
SCORE = "org.badgeflow.score.submitted.v1"


@pytest.fixture(scope="module")
def catalogue(db, stack):
    proc = subprocess.run([str(BUILD / "tools" / "cli" / "badgeflow"), "catalogue", "load",
                           str(ROOT / "config" / "catalogue")],
                          env=clean_env(BADGEFLOW_POSTGRES_CONNINFO=stack.conninfo),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return db


def seed(db, assessors=3, open_assignments=2):
    """A tenant, an educator, assessors and a submission in_review with open assignments, as
    the router leaves them. Returns (tenant, submission, [assessor], [assignment])."""
    t = f"t{uuid.uuid4().hex[:10]}"
    sub = f"{t}-sub-1"
    db.execute("INSERT INTO tenants (id, kind, name) VALUES (%s, 'district', 'Test district')", (t,))
    db.execute("INSERT INTO educators (tenant_id, id) VALUES (%s, 'edu-1')", (t,))
    ids = [f"{t}-as{i}" for i in range(assessors)]
    for a in ids:
        db.execute("INSERT INTO assessors (id, tenant_id, name) VALUES (%s, %s, 'A')", (a, t))
    db.execute("INSERT INTO submissions (tenant_id, id, educator_id, credential_id,"
               " credential_version, state) VALUES (%s, %s, 'edu-1', %s, 1, 'in_review')",
               (t, sub, CRED))
    assignments = [assign(db, t, sub, a) for a in ids[:open_assignments]]
    return t, sub, ids, assignments


def assign(db, t, sub, assessor, role="primary", state="open"):
    aid = str(uuid.uuid4())
    closed = "now()" if state != "open" else "NULL"
    db.execute("INSERT INTO assignments (id, tenant_id, submission_id, assessor_id, role, state,"
               f" fencing_token, due_at, closed_at) VALUES (%s, %s, %s, %s, %s, %s, 1,"
               f" now() + interval '7 days', {closed})", (aid, t, sub, assessor, role, state))
    return aid


def score(kafka, t, sub, assessor, assignment, levels, ce_id=None, **extra):
    """Produce a score.submitted; levels: one level id per criterion (or a list of dicts)."""
    crit = levels if isinstance(levels[0], dict) else [
        {"criterion_id": c, "level_id": lv, **({} if lv in ("proficient", "exemplary")
                                                else {"feedback": f"{c}: work on it"})}
        for c, lv in zip(CRITERIA, levels)]
    data = {"score_id": str(uuid.uuid4()), "assignment_id": assignment, "submission_id": sub,
            "assessor_id": assessor, "tenant_id": t, "criteria": crit,
            "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
    headers = ce_headers(SCORE, ce_subject=sub, **({"ce_id": ce_id} if ce_id else {}))
    kafka.produce("scores", data, headers, key=sub.encode())
    kafka.flush()
    return dict(headers)["ce_id"].decode(), data


def start(daemons, kafka, **cfg):
    d = daemons.start(daemons.config(kafka, name="scorer", **cfg), binary=str(SCORER),
                      name=f"scorer{len(daemons.started)}")
    d.wait_ready()
    return d


def events(kafka, topic, ce_type, until, timeout=30):
    """Data of the ce_type events on topic, schema-checked, read until until(list)."""
    def pick(msgs):
        return [json.loads(m.value()) for m in msgs if header_dict(m).get("ce_type") == ce_type]
    msgs = kafka.consume(topic, lambda got: until(pick(got)), timeout)
    out = pick(msgs)
    for data in out:
        validate_event(ce_type, data)
    return out


def decisions(db, t, sub):
    return db.query("SELECT outcome, criteria, rule, superseded_at FROM decisions"
                    " WHERE tenant_id = %s AND submission_id = %s", (t, sub))


GOOD = ["proficient", "proficient", "exemplary", "proficient"]


def test_two_agreeing_scores_decide(catalogue, kafka, daemons):
    db = catalogue
    kafka.create_topics(TOPICS)
    t, sub, ass, asg = seed(db)
    start(daemons, kafka)
    score(kafka, t, sub, ass[0], asg[0], GOOD)
    wait_for(lambda: db.scalar("SELECT count(*) FROM scores WHERE tenant_id = %s", (t,)) == 1, 30)
    assert decisions(db, t, sub) == [], "decided with fewer scores than required"
    score(kafka, t, sub, ass[1], asg[1], ["proficient", "exemplary", "proficient", "proficient"])
    made = events(kafka, "decisions", "org.badgeflow.decision.made.v1", lambda e: len(e) >= 1)
    assert len(made) == 1 and made[0]["outcome"] == "earned", made
    d = made[0]
    assert d["rule"]["aggregation"] == "median_lower" and d["rule"]["passing"] == "conjunctive"
    assert [c["level_id"] for c in d["criteria"]] == ["proficient"] * 4  # lower medians
    assert d["attempt"] == 1 and d["attempts_left"] == 2 and d["final_attempt"] is False
    assert sorted(d["assessor_ids"]) == sorted(ass[:2])
    assert db.scalar("SELECT state || '/' || outcome FROM submissions WHERE tenant_id = %s"
                     " AND id = %s", (t, sub)) == "decided/earned"
    scored = events(kafka, "routing", "org.badgeflow.assignment.scored.v1", lambda e: len(e) >= 2)
    assert sorted(e["assignment_id"] for e in scored) == sorted(asg)
    assert db.scalar("SELECT count(*) FROM score_levels WHERE tenant_id = %s", (t,)) == 8
    n = db.scalar("SELECT n FROM agreement_stats WHERE tenant_id = %s AND criterion_id IS NULL"
                  " AND assessor_id IS NULL", (t,))
    assert n == 1


def test_disagreement_asks_for_a_third_and_decides_on_it(catalogue, kafka, daemons):
    db = catalogue
    kafka.create_topics(TOPICS)
    t, sub, ass, asg = seed(db)
    start(daemons, kafka)
    score(kafka, t, sub, ass[0], asg[0], GOOD)
    # not_yet vs exemplary on 'message': 3 levels apart, and a different outcome
    score(kafka, t, sub, ass[1], asg[1], ["not_yet", "proficient", "exemplary", "proficient"])
    req = events(kafka, "routing", "org.badgeflow.routing.requested.v1", lambda e: len(e) >= 1)
    assert len(req) == 1 and req[0]["reason"] == "tie_break"
    assert sorted(req[0]["exclude_assessor_ids"]) == sorted(ass[:2])
    assert decisions(db, t, sub) == []
    third = assign(db, t, sub, ass[2], role="tie_break")  # what the router does
    score(kafka, t, sub, ass[2], third, ["developing", "proficient", "proficient", "proficient"])
    made = events(kafka, "decisions", "org.badgeflow.decision.made.v1", lambda e: len(e) >= 1)
    assert len(made) == 1
    # message: median of not_yet, developing, proficient = developing: not yet
    assert made[0]["outcome"] == "not_yet"
    assert made[0]["criteria"][0]["level_id"] == "developing"
    assert len(made[0]["criteria"][0]["feedback"]) == 2  # both below-passing scores' feedback
    assert len(made[0]["assessor_ids"]) == 3


def test_duplicates_change_nothing(catalogue, kafka, daemons):
    db = catalogue
    kafka.create_topics(TOPICS)
    t, sub, ass, asg = seed(db)
    start(daemons, kafka)
    ce_id, data = score(kafka, t, sub, ass[0], asg[0], GOOD)
    # the same event again (same ce_id): the inbox drops it
    kafka.produce("scores", data, ce_headers(SCORE, ce_id=ce_id, ce_subject=sub), key=sub.encode())
    # the same assignment scored again under another event id: refused
    score(kafka, t, sub, ass[0], asg[0], ["not_yet"] * 4)
    rej = events(kafka, "decisions", "org.badgeflow.score.rejected.v1", lambda e: len(e) >= 1)
    assert len(rej) == 1 and rej[0]["reason_code"] == "assignment_completed", rej
    assert db.scalar("SELECT count(*) FROM scores WHERE tenant_id = %s", (t,)) == 1
    assert decisions(db, t, sub) == []
    dlq = kafka.consume("scores.dlq", lambda got: len(got) >= 1, 20)
    assert len(dlq) == 1 and "already scored" in header_dict(dlq[0])["dlq_reason"]


@pytest.mark.parametrize("case", ["unknown_assignment", "wrong_assessor", "unknown_criterion",
                                  "unknown_level", "duplicate_criterion", "missing_criterion",
                                  "feedback_required", "assignment_expired",
                                  "submission_decided"])
def test_bad_scores_are_refused_naming_the_field(catalogue, kafka, daemons, case):
    db = catalogue
    kafka.create_topics(TOPICS)
    t, sub, ass, asg = seed(db)
    good = [{"criterion_id": c, "level_id": "proficient"} for c in CRITERIA]
    args = {"assessor": ass[0], "assignment": asg[0], "levels": good}
    field = "assignment_id"
    if case == "unknown_assignment":
        args["assignment"] = str(uuid.uuid4())
    elif case == "wrong_assessor":
        args["assessor"], field = ass[1], "assessor_id"
    elif case == "unknown_criterion":
        args["levels"] = good[:3] + [{"criterion_id": "charisma", "level_id": "proficient"}]
        field = "criteria[3].criterion_id"
    elif case == "unknown_level":
        args["levels"] = [{"criterion_id": "message", "level_id": "great"}] + good[1:]
        field = "criteria[0].level_id"
    elif case == "duplicate_criterion":
        args["levels"] = good + [good[0]]
        field = "criteria[4].criterion_id"
    elif case == "missing_criterion":
        args["levels"], field = good[:3], "criteria"
    elif case == "feedback_required":
        args["levels"] = good[:1] + [{"criterion_id": "storytelling", "level_id": "developing"}] \
            + good[2:]
        field = "criteria[1].feedback"
    elif case == "assignment_expired":
        args["assignment"] = assign(db, t, sub, ass[2], state="expired")
        args["assessor"] = ass[2]
    elif case == "submission_decided":
        db.execute("UPDATE submissions SET state = 'decided', outcome = 'earned' WHERE"
                   " tenant_id = %s AND id = %s", (t, sub))
        field = "submission_id"
    start(daemons, kafka)
    score(kafka, t, sub, args["assessor"], args["assignment"], args["levels"])
    rej = events(kafka, "decisions", "org.badgeflow.score.rejected.v1", lambda e: len(e) >= 1)
    assert len(rej) == 1 and rej[0]["reason_code"] == case, rej
    assert rej[0]["field"] == field and field.split("[")[0] in rej[0]["reason"]
    assert db.scalar("SELECT count(*) FROM scores WHERE tenant_id = %s", (t,)) == 0
    assert db.scalar("SELECT count(*) FROM score_refusals WHERE tenant_id = %s AND"
                     " reason_code = %s", (t, case)) == 1


def test_kill_after_commit_gives_one_decision(catalogue, kafka, daemons):
    db = catalogue
    kafka.create_topics(TOPICS)
    t, sub, ass, asg = seed(db)
    score(kafka, t, sub, ass[0], asg[0], GOOD)
    score(kafka, t, sub, ass[1], asg[1], GOOD)
    cfg = daemons.config(kafka, name="scorer", daemon={"fault_point": "after_commit"})
    for run in range(2):  # each run commits one score then dies before the offset store
        d = daemons.start(cfg, binary=str(SCORER), name=f"faulty{run}")
        assert d.wait(90) == -signal.SIGKILL, d.tail()
    d = start(daemons, kafka)  # replays what was not stored: the inbox drops it
    wait_for(lambda: d.codes("BF_KAFKA_ASSIGN"), 30)
    time.sleep(3)
    assert len(decisions(db, t, sub)) == 1
    assert db.scalar("SELECT count(*) FROM scores WHERE tenant_id = %s", (t,)) == 2
    made = events(kafka, "decisions", "org.badgeflow.decision.made.v1", lambda e: len(e) >= 1)
    ids = {m["decision_id"] for m in made}
    assert len(ids) == 1, made


OVERRIDE = "org.badgeflow.decision.override_requested.v1"
MADE = "org.badgeflow.decision.made.v1"


def override(kafka, t, sub, outcome, decision_id=None, criteria=None, ce_id=None, data=None):
    """Produce a decision.override_requested as the gateway does; returns (ce_id, data)."""
    if data is None:
        data = {"submission_id": sub, "tenant_id": t, "reviewer_id": f"{t}-reviewer",
                "outcome": outcome, "reason": f"second look: {outcome}",
                "requested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if decision_id:
            data["overrides_decision_id"] = decision_id
        if criteria:
            data["criteria"] = criteria
    validate_event(OVERRIDE, data)
    headers = ce_headers(OVERRIDE, ce_subject=sub, **({"ce_id": ce_id} if ce_id else {}))
    kafka.produce("scores", data, headers, key=sub.encode())
    kafka.flush()
    return dict(headers)["ce_id"].decode(), data


def decision_rows(db, t, sub):
    return db.query("SELECT id::text, outcome, supersedes_id::text, superseded_at IS NOT NULL,"
                    " decided_by, reason, criteria FROM decisions WHERE tenant_id = %s AND"
                    " submission_id = %s ORDER BY decided_at, id", (t, sub))


def rater(db, t, assessor, criterion):
    return db.query("SELECT n, exact, adjacent FROM agreement_stats WHERE tenant_id = %s AND"
                    " assessor_id = %s AND criterion_id IS NOT DISTINCT FROM %s",
                    (t, assessor, criterion))


def test_override_supersedes_and_replay_changes_nothing(catalogue, kafka, daemons):
    db = catalogue
    kafka.create_topics(TOPICS)
    t, sub, ass, asg = seed(db)
    d = start(daemons, kafka)
    score(kafka, t, sub, ass[0], asg[0], GOOD)
    score(kafka, t, sub, ass[1], asg[1], GOOD)
    first = events(kafka, "decisions", MADE, lambda e: len(e) >= 1)[0]
    assert first["outcome"] == "earned"
    assert rater(db, t, ass[0], "message") == [(1, 1, 1)]  # proficient = the decision's

    # earned -> not_yet, lowering one criterion with the reviewer's feedback
    ce1, data1 = override(kafka, t, sub, "not_yet", first["decision_id"], [
        {"criterion_id": "message", "level_id": "developing", "feedback": "no clear claim"}])
    made = events(kafka, "decisions", MADE, lambda e: len(e) >= 2)
    second = made[1]
    assert second["outcome"] == "not_yet" and second["supersedes_decision_id"] == first["decision_id"]
    assert second["override"] == {"reviewer_id": f"{t}-reviewer", "reason": data1["reason"],
                                  "requested_at": data1["requested_at"]}
    assert second["rule"] == {"aggregation": "reviewer", "passing": "reviewer"}
    msg = second["criteria"][0]
    assert msg["level_id"] == "developing" and msg["passing"] is False
    assert msg["feedback"][-1] == "no clear claim"
    assert second["criteria"][1:] == first["criteria"][1:]  # not given: kept
    assert second["attempt"] == first["attempt"] and sorted(second["assessor_ids"]) == sorted(ass[:2])
    rows = decision_rows(db, t, sub)
    assert len(rows) == 2
    assert rows[0][:5] == (first["decision_id"], "earned", None, True, "scorer")
    assert rows[1][:6] == (second["decision_id"], "not_yet", first["decision_id"], False,
                           f"{t}-reviewer", data1["reason"])
    assert db.scalar("SELECT outcome FROM submissions WHERE tenant_id = %s AND id = %s",
                     (t, sub)) == "not_yet"
    # each assessor against the final levels: proficient vs developing, adjacent not exact
    assert rater(db, t, ass[0], "message") == [(1, 0, 1)]
    assert rater(db, t, ass[1], None) == [(1, 0, 1)]  # own outcome earned, final not_yet

    # the reverse, no levels given: the current ones are kept
    _, data2 = override(kafka, t, sub, "earned", second["decision_id"])
    made = events(kafka, "decisions", MADE, lambda e: len(e) >= 3)
    third = made[2]
    assert third["outcome"] == "earned" and third["supersedes_decision_id"] == second["decision_id"]
    assert third["criteria"] == second["criteria"]
    assert rater(db, t, ass[1], None) == [(1, 1, 1)]

    # replay of the first override (same ce_id): the inbox drops it; then the same request
    # under a new id: its decision is no longer current, refused naming the field
    override(kafka, t, sub, None, ce_id=ce1, data=data1)
    override(kafka, t, sub, None, data=data1)
    wait_for(lambda: db.scalar("SELECT count(*) FROM override_refusals WHERE tenant_id = %s",
                               (t,)) == 1, 30)
    assert db.query("SELECT reason_code, field FROM override_refusals WHERE tenant_id = %s",
                    (t,)) == [("decision_superseded", "overrides_decision_id")]
    rows = decision_rows(db, t, sub)
    assert len(rows) == 3 and [r[3] for r in rows] == [True, True, False]
    assert db.scalar("SELECT outcome FROM submissions WHERE tenant_id = %s AND id = %s",
                     (t, sub)) == "earned"
    time.sleep(1)
    assert len(events(kafka, "decisions", MADE, lambda e: len(e) >= 4, timeout=3)) == 3
    dlq = kafka.consume("scores.dlq", lambda got: len(got) >= 1, 20)
    assert len(dlq) == 1 and "overrides_decision_id" in header_dict(dlq[0])["dlq_reason"]
    assert d.codes("BF_SCORER_OVERRIDDEN") and d.codes("BF_SCORER_OVERRIDE_REFUSED")


def test_override_of_undecided_submission_is_refused(catalogue, kafka, daemons):
    db = catalogue
    kafka.create_topics(TOPICS)
    t, sub, _, _ = seed(db)
    start(daemons, kafka)
    override(kafka, t, sub, "earned")
    override(kafka, t, f"{t}-nope", "earned")
    wait_for(lambda: db.scalar("SELECT count(*) FROM override_refusals WHERE tenant_id = %s",
                               (t,)) == 2, 30)
    assert sorted(db.query("SELECT reason_code, field FROM override_refusals WHERE"
                           " tenant_id = %s", (t,))) == [
        ("submission_not_decided", "submission_id"), ("unknown_submission", "submission_id")]
    assert decisions(db, t, sub) == []
