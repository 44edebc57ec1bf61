# SPDX-License-Identifier: Apache-2.0
"""The router's rules against the real stack: eligibility and conflicts of interest each
refuse the wrong assessor, blind assignment events, the assignment life-cycle, bad input to
the DLQ, and roster changes without a restart.

    /usr/bin/python3 -m pytest tests/integration/router/test_router_rules.py
"""

import json

import pytest

from conftest import header_dict, wait_for
from router_helpers import (CRED, CRED2, CRED_CONT, CRED_STACK, EDUCATOR_PII, RELEASE, ROUTING,
                            SCORED, TOPICS, World, assignments, events, ready, routing,
                            start_router)


@pytest.fixture
def world(db, stack):
    w = World(db, stack)
    yield w
    w.cleanup()


def test_eligibility_and_conflicts_refuse_the_wrong_assessor(world, db, stack, kafka, daemons):
    kafka.create_topics(TOPICS)
    state = world.tenant("state")
    other_state = world.tenant("state")
    dist = world.tenant("district", parent=state)
    edu = world.educator(dist, school="sch1", district=dist)
    good = world.assessor(state)                                  # state serves its districts
    by_stack = world.assessor(dist, creds=(), stacks=(CRED_STACK,))  # whole stack, no district
    bad = {
        "inactive": world.assessor(state, active=False),
        "unqualified": world.assessor(state, creds=(CRED2,)),
        "other tenant": world.assessor(other_state),
        "the educator": world.assessor(state, educator=(dist, edu)),
        "blocked pair": world.assessor(state),
        "same district": world.assessor(dist, district=dist),
        "same school": world.assessor(dist, district=dist, school="sch1"),
        "no capacity": world.assessor(state, max_open=0),
        "scored attempt 1": world.assessor(state),
    }
    db.execute("INSERT INTO conflict_blocks (assessor_id, tenant_id, educator_id)"
               " VALUES (%s, %s, %s)", (bad["blocked pair"], dist, edu))
    # attempt 1 was scored (and decided not yet) by an assessor: not again on attempt 2
    [first] = world.submissions(dist, edu, 1, state="decided")
    db.execute("INSERT INTO assignments (id, tenant_id, submission_id, assessor_id, state,"
               " fencing_token, due_at, closed_at) VALUES (gen_random_uuid(), %s, %s, %s,"
               " 'completed', 1, now(), now())", (dist, first, bad["scored attempt 1"]))
    subs = world.submissions(dist, edu, 12, attempt=2, prev=first)
    router = start_router(daemons, kafka, stack)
    router.wait_ready()
    for s in subs:
        ready(kafka, dist, s, attempt=2, prev=first)
    kafka.flush()
    wait_for(lambda: len(assignments(db, [dist], "open")) == 12, 60, what="12 assignments")
    # a newcomer (load 0, the best pick) that a tie-break request excludes: not chosen
    bad["excluded"] = world.assessor(state)
    routing(kafka, ROUTING, {"submission_id": subs[0], "tenant_id": dist, "reason": "tie_break",
                             "exclude_assessor_ids": [bad["excluded"]]})
    kafka.flush()
    wait_for(lambda: len(assignments(db, [dist], "open")) == 13, 60, what="the tie-break")
    got = {a for s, a, _, _, _ in assignments(db, [dist]) if s in subs}
    assert got == {good, by_stack}, f"assigned {got}; wrong: {[k for k, v in bad.items() if v in got]}"
    # balanced: lowest load first, so both eligible assessors share the work
    rows = db.query("SELECT assessor_id, count(*) FROM assignments WHERE tenant_id = %s"
                    " AND submission_id = ANY(%s) GROUP BY 1", (dist, subs))
    assert sorted(n for _, n in rows) == [6, 7], rows


def test_tenant_settings_allow_same_district(world, db, stack, kafka, daemons):
    kafka.create_topics(TOPICS)
    dist = world.tenant("district", settings={"allow_same_district_assessor": True})
    edu = world.educator(dist, school="sch1", district=dist)
    same_district = world.assessor(dist, district=dist, school="sch2")
    world.assessor(dist, district=dist, school="sch1")  # same school: still refused
    [sub] = world.submissions(dist, edu, 1)
    router = start_router(daemons, kafka, stack)
    router.wait_ready()
    ready(kafka, dist, sub)
    kafka.flush()
    wait_for(lambda: assignments(db, [dist], "open"), 60, what="an assignment")
    assert [a for _, a, _, _, _ in assignments(db, [dist])] == [same_district]


def test_continuity_prefers_the_earlier_assessor(world, db, stack, kafka, daemons):
    kafka.create_topics(TOPICS)
    state = world.tenant("state")
    dist = world.tenant("district", parent=state)
    edu = world.educator(dist, district=dist)
    earlier = world.assessor(state, creds=(CRED_CONT,))
    for _ in range(3):
        world.assessor(state, creds=(CRED_CONT,))
    [first] = world.submissions(dist, edu, 1, cred=CRED_CONT, state="decided")
    db.execute("INSERT INTO assignments (id, tenant_id, submission_id, assessor_id, state,"
               " fencing_token, due_at, closed_at) VALUES (gen_random_uuid(), %s, %s, %s,"
               " 'completed', 1, now(), now())", (dist, first, earlier))
    [sub] = world.submissions(dist, edu, 1, cred=CRED_CONT, attempt=2, prev=first)
    router = start_router(daemons, kafka, stack)
    router.wait_ready()
    ready(kafka, dist, sub, cred=CRED_CONT, version=world.version(CRED_CONT), attempt=2,
          prev=first)
    kafka.flush()
    wait_for(lambda: assignments(db, [dist], "open"), 60, what="an assignment")
    assert assignments(db, [dist], "open")[0][1] == earlier


def test_life_cycle_blind_events_and_double_scoring(world, db, stack, kafka, daemons):
    kafka.create_topics(TOPICS)
    state = world.tenant("state")
    dist = world.tenant("district", parent=state)
    edu = world.educator(dist, school="school-secret-77", district=dist)
    people = [world.assessor(state, creds=(CRED2,)) for _ in range(4)]
    [sub] = world.submissions(dist, edu, 1, cred=CRED2)
    router = start_router(daemons, kafka, stack)
    router.wait_ready()
    ready(kafka, dist, sub, cred=CRED2, version=world.version(CRED2))
    kafka.flush()
    # double scoring: two primaries, two different assessors; in_review
    wait_for(lambda: len(assignments(db, [dist], "open")) == 2, 60, what="two assignments")
    assert db.scalar("SELECT state FROM submissions WHERE tenant_id = %s AND id = %s",
                     (dist, sub)) == "in_review"
    created = events(kafka, "org.badgeflow.assignment.created.v1", lambda e: len(e) >= 2)
    assert len(created) == 2 and len({d["assessor_id"] for _, d in created}) == 2
    for _, d in created:  # blind: no educator anywhere in the event
        text = json.dumps(d)
        assert edu not in text and all(p not in text for p in EDUCATOR_PII), text
        assert d["role"] == "primary" and d["evidence"] and d["fencing_token"] > 0
    (a1, p1), (a2, p2) = [(d["assignment_id"], d["assessor_id"]) for _, d in created]
    # one score in: completed; the other assessor declines: released, someone else takes it
    routing(kafka, SCORED, {"assignment_id": a1, "submission_id": sub, "tenant_id": dist,
                            "assessor_id": p1, "score_id": "c8e1f7a2-3b4d-4e6f-8a9b-1c2d3e4f5a6b"})
    routing(kafka, RELEASE, {"assignment_id": a2, "submission_id": sub, "tenant_id": dist,
                             "assessor_id": p2, "reason": "declined"})
    kafka.flush()
    wait_for(lambda: len(assignments(db, [dist])) == 3, 60, what="a replacement")
    rows = {r[4]: r for r in assignments(db, [dist])}
    assert rows[a1][3] == "completed" and rows[a2][3] == "declined"
    [new] = [r for r in rows.values() if r[4] not in (a1, a2)]
    assert new[1] not in (p1, p2) and new[3] == "open" and new[2] == "primary"
    # a tie-break asked for: one more, a fourth assessor, role tie_break
    routing(kafka, ROUTING, {"submission_id": sub, "tenant_id": dist, "reason": "tie_break",
                             "exclude_assessor_ids": [p1]})
    kafka.flush()
    wait_for(lambda: len(assignments(db, [dist])) == 4, 60, what="the tie-break")
    tb = [r for r in assignments(db, [dist]) if r[2] == "tie_break"]
    assert len(tb) == 1 and tb[0][1] not in (p1, p2, new[1]) and tb[0][1] in people
    done = events(kafka, "org.badgeflow.assignment.completed.v1", lambda e: e)
    rel = events(kafka, "org.badgeflow.assignment.released.v1", lambda e: e)
    assert done[0][1]["assignment_id"] == a1 and rel[0][1]["reason"] == "declined"


def test_bad_input_is_dead_lettered(world, db, stack, kafka, daemons):
    kafka.create_topics(TOPICS)
    dist = world.tenant("district")
    edu = world.educator(dist)
    world.assessor(dist)
    [decided] = world.submissions(dist, edu, 1, state="decided")
    [good] = world.submissions(dist, edu, 1)
    router = start_router(daemons, kafka, stack)
    router.wait_ready()
    ready(kafka, dist, "no-such-submission")
    ready(kafka, dist, good, cred="pl.no-such-credential")
    routing(kafka, ROUTING, {"submission_id": decided, "tenant_id": dist, "reason": "tie_break",
                             "exclude_assessor_ids": []})
    ready(kafka, dist, good)  # a good record after the poison ones is routed
    kafka.flush()
    wait_for(lambda: assignments(db, [dist], "open"), 60, what="the good one routed")
    dlq = kafka.consume("submissions.ready.dlq", lambda got: len(got) >= 2, 60)
    reasons = sorted(header_dict(m)["dlq_reason"] for m in dlq)
    assert any("unknown submission" in r for r in reasons), reasons
    assert any("unknown credential" in r for r in reasons), reasons
    rdlq = kafka.consume("routing.dlq", lambda got: got, 60)
    assert "decided" in header_dict(rdlq[0])["dlq_reason"]


def test_nobody_eligible_waits_then_a_new_qualification_routes_it(world, db, stack, kafka,
                                                                 daemons):
    kafka.create_topics(TOPICS)
    dist = world.tenant("district")
    edu = world.educator(dist)
    aid = world.assessor(dist, creds=(CRED2,))  # certified for something else
    [sub] = world.submissions(dist, edu, 1)
    router = start_router(daemons, kafka, stack)
    router.wait_ready()
    ready(kafka, dist, sub)
    kafka.flush()
    wait_for(lambda: [x for x in router.codes("BF_ROUTER_NO_ASSESSOR")
                      if x.get("credential_id") == CRED], 60, what="the no-assessor log line")
    status, body = router.http("/metrics")
    assert f'badgeflow_router_no_eligible_total{{credential="{CRED}"}}' in body
    assert not assignments(db, [dist])
    # the roster changes (no restart): the waiting item is routed by the retry pass
    db.execute("INSERT INTO assessor_qualifications (assessor_id, credential_id) VALUES (%s, %s)",
               (aid, CRED))
    wait_for(lambda: assignments(db, [dist], "open"), 30, what="routing after the new qualification")
