# SPDX-License-Identifier: Apache-2.0
"""Helpers and fixtures of the issuer's integration tests: seeded tenants, educators, submissions and
decisions, the CLI, the issuer daemon on a fixed port, and the independent verifier
(tests/integration/issuer/node: jose + ajv; `npm ci` there once)."""

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import BUILD, ROOT, ce_headers, clean_env, wait_for  # noqa: E402

NODE_DIR = Path(__file__).resolve().parent / "node"
SCHEMA = ROOT / "schemas" / "credentials" / "achievement-credential.schema.json"
KEK = "8c1f0e4a2b3d5c6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
DECISION = "org.badgeflow.decision.made.v1"
TOPICS = ["decisions", "decisions.dlq", "credentials"]
CRED = "cl.cultivating-a-shared-purpose"
STACK = "collective-leadership"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node(op, **req):
    """Run the independent verifier; returns its JSON answer."""
    if not (NODE_DIR / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       capture_output=True, timeout=180)
    proc = subprocess.run(["node", str(NODE_DIR / "verify.mjs"), json.dumps({"op": op, **req})],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


class Cli:
    """The admin CLI on the test stack (KEK from the environment, as operators would)."""

    def __init__(self, stack):
        self.env = clean_env(BADGEFLOW_POSTGRES_CONNINFO=stack.conninfo,
                             BADGEFLOW_KAFKA_BROKERS=stack.brokers,
                             BADGEFLOW_ISSUER_KEK=KEK)

    def run(self, *args, check=True, **env):
        proc = subprocess.run([str(BUILD / "tools" / "cli" / "badgeflow"), *args],
                              env=dict(self.env, **env), capture_output=True, text=True,
                              timeout=60)
        if check:
            assert proc.returncode == 0, f"badgeflow {args}: {proc.stdout}{proc.stderr}"
        return proc


@pytest.fixture(scope="session")
def cli(stack, db):
    c = Cli(stack)
    c.run("catalogue", "load")
    return c


class World:
    """One test's tenant, seeded by SQL, and its decisions produced on Kafka."""

    def __init__(self, db, kafka, cli):
        self.db, self.kafka = db, kafka
        self.cli = Cli.__new__(Cli)  # the session's CLI, under this test's topic prefix
        self.cli.env = dict(cli.env, BADGEFLOW_KAFKA_TOPIC_PREFIX=kafka.prefix)
        self.tenant = f"t{uuid.uuid4().hex[:10]}"
        db.execute("INSERT INTO tenants (id, kind, name) VALUES (%s, 'district', %s)",
                   (self.tenant, f"District {self.tenant}"))

    def educator(self, email=None):
        eid = f"edu-{uuid.uuid4().hex[:8]}"
        self.db.execute("INSERT INTO educators (tenant_id, id, name, email) VALUES (%s,%s,%s,%s)",
                        (self.tenant, eid, "Ada Teacher", email or f"{eid}@school.example"))
        return eid

    def criteria(self, cred):
        rows = self.db.query(
            "SELECT criterion_id, passing_level FROM rubric_criteria c JOIN catalogue_credentials"
            " k ON k.id = c.credential_id AND k.latest_version = c.version"
            " WHERE c.credential_id = %s ORDER BY 1", (cred,))
        return [{"criterion_id": c, "level_id": lvl, "passing": True, "feedback": []}
                for c, lvl in rows]

    def decision(self, educator, cred=CRED, outcome="earned", record=True, produce=True):
        """A decided submission with evidence and its decision row; produces decision.made."""
        sub, did = f"sub-{uuid.uuid4().hex[:10]}", str(uuid.uuid4())
        version = self.db.scalar("SELECT latest_version FROM catalogue_credentials WHERE id = %s",
                                 (cred,))
        crit = self.criteria(cred)
        if record:
            self.db.execute(
                "INSERT INTO submissions (tenant_id, id, educator_id, credential_id,"
                " credential_version, state, outcome) VALUES (%s,%s,%s,%s,%s,'decided',%s)",
                (self.tenant, sub, educator, cred, version, outcome))
            self.db.execute(
                "INSERT INTO evidence_items (tenant_id, submission_id, item_id, kind,"
                " requirement, source_uri, state) VALUES (%s,%s,'v1','video','classroom-video',"
                " 'https://media.example/v1.mp4','processed'),"
                " (%s,%s,'r1','text','reflection',NULL,'processed')",
                (self.tenant, sub, self.tenant, sub))
            self.db.execute(
                "INSERT INTO decisions (id, tenant_id, submission_id, outcome, criteria, rule,"
                " attempt, attempts_left, decided_by) VALUES (%s,%s,%s,%s,%s,%s,1,2,'scorer')",
                (did, self.tenant, sub, outcome, json.dumps(crit),
                 json.dumps({"aggregation": "median_lower", "passing": "conjunctive"})))
        data = {"decision_id": did, "submission_id": sub, "tenant_id": self.tenant,
                "educator_id": educator, "credential_id": cred, "credential_version": version,
                "outcome": outcome, "criteria": crit,
                "rule": {"aggregation": "median_lower", "passing": "conjunctive"},
                "attempt": 1, "attempts_allowed": 3, "attempts_left": 2, "final_attempt": False,
                "assessor_ids": ["a-1"], "decided_at": "2026-11-23T10:00:00Z"}
        if produce:
            self.produce(data)
        return data

    def produce(self, data, ce_id=None):
        headers = ce_headers(DECISION, ce_subject=data["submission_id"],
                             **({"ce_id": ce_id} if ce_id else {}))
        self.kafka.produce("decisions", data, headers, key=data["submission_id"].encode())
        self.kafka.flush()
        return dict(headers)["ce_id"].decode()

    def credentials(self, **where):
        cond = " AND ".join(f"{k} = %s" for k in where)
        sql = ("SELECT id::text, kind, kid, jwt, document::text, revoked_at IS NOT NULL,"
               " status_index FROM credentials WHERE tenant_id = %s"
               + (" AND " + cond if cond else "") + " ORDER BY issued_at")
        rows = self.db.query(sql, (self.tenant, *where.values()))
        return [dict(zip(["id", "kind", "kid", "jwt", "doc", "revoked", "index"], r))
                for r in rows]

    def wait_credentials(self, n, timeout=40, **where):
        return wait_for(lambda: (lambda c: c if len(c) >= n else None)(self.credentials(**where)),
                        timeout, interval=0.2, what=f"{n} credential(s) {where}")


@pytest.fixture
def world(db, kafka, cli):
    kafka.create_topics(TOPICS)
    return World(db, kafka, cli)


@pytest.fixture
def issuer(daemons, kafka, world):
    """Start function: issuer(**config overrides) → (daemon, base_url). Runs of one test share
    one port: base_url is part of every signed credential (kid URLs), as in production."""
    port = free_port()

    def start(name="issuer", **sections):
        base = f"http://127.0.0.1:{port}"
        own = {"base_url": base, "kek": KEK, "held_retry": "300ms",
               **sections.pop("issuer", {})}
        cfg = daemons.config(kafka, name=name, http={"listen": f"127.0.0.1:{port}"},
                             issuer=own, **sections)
        cfg["kafka"]["group_id"] = f"issuer-{kafka.prefix.rstrip('.')}"
        d = daemons.start(cfg, binary=BUILD / "services" / "issuer" / "badgeflow-issuer",
                          name=name)
        return d, base
    return start
