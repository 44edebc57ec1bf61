# SPDX-License-Identifier: Apache-2.0
"""Helpers of the router's integration tests: seed tenants, assessors, educators and
submissions by SQL (the upstream state), produce real submission.ready and routing events,
run badgeflow-router, and read assignments back from PostgreSQL and Kafka."""

import json
import os
import subprocess
import uuid
from pathlib import Path

from conftest import (BUILD, ROOT, ce_headers, clean_env, header_dict,  # noqa: F401
                      load_catalogue, wait_for)

ROUTER = BUILD / "services" / "router" / "badgeflow-router"
TOPICS = ["submissions.ready", "submissions.ready.dlq", "routing", "routing.dlq", "assignments"]
READY = "org.badgeflow.submission.ready.v1"
ROUTING = "org.badgeflow.routing.requested.v1"
SCORED = "org.badgeflow.assignment.scored.v1"
RELEASE = "org.badgeflow.assignment.release_requested.v1"
CRED = "pl.learner-profiles"          # one assessor, no continuity; stack personalized-learning
CRED_STACK = "personalized-learning"
CRED2 = "gp.writing-for-public-audiences"  # two assessors (double scoring)
CRED_CONT = "pl.personal-learning-paths"   # continuity on resubmission

EVIDENCE = json.loads((ROOT / "schemas" / "events" / "examples" /
                       "submission.ready.v1.json").read_text())["evidence"]
EDUCATOR_PII = ("Ada Lovelace-Secret", "ada.secret@example.org", "school-secret-77")



class World:
    """Tenants, people and submissions of one test, under ids of its own."""

    def __init__(self, db, stack):
        load_catalogue(stack)
        self.db = db
        self.tag = "t" + uuid.uuid4().hex[:8]
        self.tenants = []
        self.n = 0

    def _id(self, what):
        self.n += 1
        return f"{self.tag}-{what}{self.n}"

    def tenant(self, kind="district", parent=None, settings=None):
        tid = self._id(kind[0])
        self.db.execute("INSERT INTO tenants (id, kind, parent_id, name, settings)"
                        " VALUES (%s, %s, %s, %s, %s)",
                        (tid, kind, parent, tid, json.dumps(settings or {})))
        self.tenants.append(tid)
        return tid

    def assessor(self, tenant, creds=(CRED,), stacks=(), max_open=50, active=True,
                 school=None, district=None, educator=None):
        aid = self._id("a")
        et, ei = educator if educator else (None, None)
        self.db.execute(
            "INSERT INTO assessors (id, tenant_id, name, max_open, active, school_id,"
            " district_id, educator_tenant_id, educator_id) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (aid, tenant, "Assessor " + aid, max_open, active, school, district, et, ei))
        for c in creds:
            self.db.execute("INSERT INTO assessor_qualifications (assessor_id, credential_id)"
                            " VALUES (%s, %s)", (aid, c))
        for s in stacks:
            self.db.execute("INSERT INTO assessor_qualifications (assessor_id, stack_id)"
                            " VALUES (%s, %s)", (aid, s))
        return aid

    def educator(self, tenant, school=None, district=None):
        eid = self._id("e")
        self.db.execute("INSERT INTO educators (tenant_id, id, name, email, school_id,"
                        " district_id) VALUES (%s,%s,%s,%s,%s,%s)",
                        (tenant, eid, EDUCATOR_PII[0], EDUCATOR_PII[1], school, district))
        return eid

    def submissions(self, tenant, educator, n, cred=CRED, attempt=1, prev=None, state="ready"):
        """n ready submissions (one SQL statement); returns their ids."""
        base = self._id("s")
        ver = self.db.scalar("SELECT latest_version FROM catalogue_credentials WHERE id = %s",
                             (cred,))
        self.db.execute(
            "INSERT INTO submissions (tenant_id, id, educator_id, credential_id,"
            " credential_version, attempt, previous_submission_id, state, outcome)"
            " SELECT %s, %s || '-' || g, %s, %s, %s, %s, %s, %s, %s FROM generate_series(1, %s) g",
            (tenant, base, educator, cred, ver, attempt, prev, state,
             "not_yet" if state == "decided" else None, n))
        return [f"{base}-{i}" for i in range(1, n + 1)]

    def version(self, cred):
        return self.db.scalar("SELECT latest_version FROM catalogue_credentials WHERE id = %s",
                              (cred,))

    def cleanup(self):
        """Leave nothing waiting for the next test's router."""
        self.db.execute("UPDATE router_work SET need_primary = 0, need_tie_break = 0"
                        " WHERE tenant_id = ANY(%s)", (self.tenants,))
        self.db.execute("UPDATE assignments SET state = 'released', closed_at = now()"
                        " WHERE state = 'open' AND tenant_id = ANY(%s)", (self.tenants,))


def ready(kafka, tenant, sub, cred=CRED, version=1, attempt=1, prev=None, ce_id=None):
    data = {"submission_id": sub, "tenant_id": tenant, "credential_id": cred,
            "credential_version": version, "attempt": attempt, "evidence": EVIDENCE}
    if prev:
        data["previous_submission_id"] = prev
    headers = ce_headers(READY, ce_subject=sub, **({"ce_id": ce_id} if ce_id else {}))
    kafka.produce("submissions.ready", data, headers, key=sub.encode())
    return dict(headers)["ce_id"].decode()


def routing(kafka, ce_type, data):
    sub = data["submission_id"]
    kafka.produce("routing", data, ce_headers(ce_type, ce_subject=sub), key=sub.encode())


def start_router(daemons, kafka, stack, name="router", **router_keys):
    keys = {"redis_prefix": kafka.prefix + "r:", "retry_interval": "1s",
            "reconcile_interval": "1s", "expire_interval": "200ms", "claim_grace": "5s"}
    keys.update(router_keys)
    cfg = daemons.config(kafka, name="router",
                         redis={"host": stack.env["BADGEFLOW_REDIS_HOST"],
                                "port": stack.env["BADGEFLOW_REDIS_PORT"]},
                         router=keys)
    cfg["log"]["level"] = "info"
    return daemons.start(cfg, binary=str(ROUTER), name=name)


def redis_cli(stack, *args):
    out = subprocess.run(["redis-cli", "-h", stack.env["BADGEFLOW_REDIS_HOST"], "-p",
                          stack.env["BADGEFLOW_REDIS_PORT"], *args], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def assignments(db, tenants, state=None):
    """[(submission, assessor, role, state, id)] of tenants."""
    sql = ("SELECT submission_id, assessor_id, role, state, id::text FROM assignments"
           " WHERE tenant_id = ANY(%s)")
    params = [list(tenants)]
    if state:
        sql += " AND state = %s"
        params.append(state)
    return db.query(sql + " ORDER BY created_at, id", params)


def over_capacity(db, tenants):
    """Assessors of tenants with more open assignments than max_open (must stay empty)."""
    return db.query(
        "SELECT a.id, a.max_open, count(x.id) FROM assessors a"
        " JOIN assignments x ON x.assessor_id = a.id AND x.state = 'open'"
        " WHERE a.tenant_id = ANY(%s) GROUP BY a.id, a.max_open"
        " HAVING count(x.id) > a.max_open", (list(tenants),))


def events(kafka, ce_type, until, timeout=60):
    """[(headers, data)] of the assignment events of ce_type, read until until(them)."""
    def typed(msgs):
        return [(header_dict(m), json.loads(m.value())) for m in msgs
                if header_dict(m).get("ce_type") == ce_type]
    return typed(kafka.consume("assignments", until=lambda got: until(typed(got)),
                               timeout=timeout))
