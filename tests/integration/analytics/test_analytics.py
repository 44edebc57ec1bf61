# SPDX-License-Identifier: Apache-2.0
"""The analytics service against the real stack: a scripted pilot's whole life-cycle is produced
as the upstream services would (submission, ready, assignment, score, not-yet decision, a
resubmission earned, credential issued and revoked), then:
  * every statement validates with an independent xAPI validator (@learninglocker/xapi-validation,
    npm, in node/) and, when a Ralph LRS is installed (tests/integration/analytics/setup_lrs.sh),
    is accepted by it through the service's own forwarding;
  * ids are UUIDv5 of the source events and pseudonyms HMAC-SHA256, recomputed here in Python;
  * no name, e-mail, feedback text or internal id of the test data appears on the streams;
  * the pilot's metrics equal the figures computed by hand below (k = 2);
  * a replay of the same events into empty facts gives the same statement ids and metrics.

    BADGEFLOW_BUILD_DIR=/tmp/build-analytics /usr/bin/python3 -m pytest tests/integration/analytics
"""

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from conftest import BUILD, ROOT, ce_headers, header_dict, load_catalogue, wait_for

HERE = Path(__file__).resolve().parent
NS = uuid.UUID("5c0d3f4e-7b1a-5e2c-9d48-a61f0b3c7e95")
KEY = "test-pseudonym-key-0123456789abcdef"
CRED, STACK = "cl.cultivating-a-shared-purpose", "collective-leadership"
TOPICS = ["submissions", "evidence", "submissions.ready", "assignments", "scores", "decisions",
          "credentials", "analytics", "metrics.pilot"]
TOPICS += [t + ".dlq" for t in TOPICS[:7]]
D0 = 1790845200  # 2026-10-01T09:00:00Z: long enough ago for an open cycle to be stalled
H, DAY = 3600, 86400
NAMES = ["Maya Thompson", "Jordan Ellis", "Priya Raman", "Sam O'Neill"]
EMAILS = ["maya.thompson@example.org", "jordan.ellis@example.org", "priya.raman@example.org",
          "sam.oneill@example.org"]
FEEDBACK = ["FEEDBACK-SECRET-one: hold back your view", "FEEDBACK-SECRET-two: add a measure",
            "FEEDBACK-SECRET-three: well run"]
LRS_PYTHON = os.environ.get(
    "BADGEFLOW_RALPH_PYTHON",
    os.path.join(os.environ.get("BADGEFLOW_CACHE", os.path.expanduser("~/.cache/badgeflow")),
                 "ralph-venv", "bin", "python"))


def ts(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def pseudonym(kind, tenant, ident):
    return hmac.new(KEY.encode(), f"{kind}/{tenant}/{ident}".encode(), hashlib.sha256).hexdigest()


def example(name):
    return json.loads((ROOT / "schemas/events/examples" / f"{name}.json").read_text())


class Scenario:
    """Produces the upstream events of the scripted pilot; remembers each ce_id."""

    def __init__(self, kafka, tenant):
        self.kafka, self.t = kafka, tenant
        self.ids = {}  # name -> ce_id

    def send(self, name, topic, ce_type, key, data):
        headers = ce_headers(ce_type, ce_subject=key)
        self.ids[name] = dict(headers)["ce_id"].decode()
        self.kafka.produce(topic, data, headers, key=key.encode())

    def submit(self, name, sub, edu, at, attempt=1, prev=None):
        d = example("submission.submitted.v1")
        d.update(submission_id=sub, tenant_id=self.t, credential_version=2, attempt=attempt,
                 pilot_id=f"{self.t}-pilot", submitted_at=ts(at))
        d["educator"] = {"id": f"{self.t}-{edu}", "email": EMAILS[edu], "name": NAMES[edu],
                         "school_id": "sch-1", "district_id": self.t}
        d.pop("previous_submission_id", None)
        if prev:
            d["previous_submission_id"] = prev
        self.send(name, "submissions", "org.badgeflow.submission.submitted.v1", sub, d)

    def ready(self, sub, attempt=1, prev=None):
        d = example("submission.ready.v1")
        d.update(submission_id=sub, tenant_id=self.t, attempt=attempt)
        d.pop("previous_submission_id", None)
        if prev:
            d["previous_submission_id"] = prev
        self.send(f"ready-{sub}", "submissions.ready", "org.badgeflow.submission.ready.v1", sub, d)

    def assign(self, sub, asg, assessor, at):
        d = example("assignment.created.v1")
        d.update(assignment_id=asg, submission_id=sub, tenant_id=self.t, assessor_id=assessor,
                 assigned_at=ts(at))
        self.send(f"assign-{sub}", "assignments", "org.badgeflow.assignment.created.v1", sub, d)

    def score(self, name, sub, asg, assessor, at, fb, levels):
        crits = ["co-construction", "alignment-to-student-outcomes", "reflection"]
        d = {"score_id": str(uuid.uuid4()), "assignment_id": asg, "submission_id": sub,
             "assessor_id": assessor, "tenant_id": self.t, "submitted_at": ts(at),
             "criteria": [{"criterion_id": c, "level_id": lv, "feedback": fb}
                          for c, lv in zip(crits, levels)], "overall_feedback": fb}
        self.send(name, "scores", "org.badgeflow.score.submitted.v1", sub, d)

    def decide(self, name, sub, edu, at, outcome, attempt, fb):
        d = example("decision.made.v1")
        passing = outcome == "earned"
        d.update(decision_id=str(uuid.uuid4()), submission_id=sub, tenant_id=self.t,
                 educator_id=f"{self.t}-{edu}", outcome=outcome, attempt=attempt,
                 attempts_left=3 - attempt, final_attempt=attempt == 3,
                 pilot_id=f"{self.t}-pilot", decided_at=ts(at), overall_feedback=[fb],
                 assessor_ids=["an-assessor-1"])
        for c in d["criteria"]:
            c.update(level_id="proficient" if passing else "developing", passing=passing,
                     feedback=[fb])
        self.send(name, "decisions", "org.badgeflow.decision.made.v1", sub, d)

    def issue(self, name, sub, edu, cred_uuid, at):
        d = example("credential.issued.v1")
        d.update(credential_id=cred_uuid, submission_id=sub, decision_id=str(uuid.uuid4()),
                 tenant_id=self.t, educator_id=f"{self.t}-{edu}", valid_from=ts(at))
        self.send(name, "credentials", "org.badgeflow.credential.issued.v1", sub, d)

    def revoke(self, name, sub, edu, cred_uuid, at):
        d = example("credential.revoked.v1")
        d.update(credential_id=cred_uuid, submission_id=sub, tenant_id=self.t,
                 educator_id=f"{self.t}-{edu}", revoked_at=ts(at))
        self.send(name, "credentials", "org.badgeflow.credential.revoked.v1", sub, d)

    def uid(self, n):
        """The n-th assignment or credential UUID of this tenant (tests share the database)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.t}/{n}"))

    def run(self):
        """e0: not yet, then earned on the resubmission, revoked; e1: earned at once;
        e2: submitted, never decided (backlog, stalled); e3: targeted, never submitted."""
        t, a1 = self.t, "an-assessor-1"
        self.submit("s1", f"{t}-s1", 0, D0)
        self.ready(f"{t}-s1")
        self.assign(f"{t}-s1", self.uid(1), a1, D0 + H)
        self.score("score1", f"{t}-s1", self.uid(1), a1, D0 + DAY, FEEDBACK[0],
                   ["proficient", "developing", "proficient"])
        self.decide("dec1", f"{t}-s1", 0, D0 + 2 * DAY, "not_yet", 1, FEEDBACK[0])
        self.submit("s2", f"{t}-s2", 0, D0 + 3 * DAY, attempt=2, prev=f"{t}-s1")
        self.assign(f"{t}-s2", self.uid(2), a1, D0 + 3 * DAY + H)
        self.score("score2", f"{t}-s2", self.uid(2), a1, D0 + 4 * DAY, FEEDBACK[1],
                   ["proficient"] * 3)
        self.decide("dec2", f"{t}-s2", 0, D0 + 5 * DAY, "earned", 2, FEEDBACK[1])
        self.issue("iss1", f"{t}-s2", 0, self.uid(11), D0 + 5 * DAY)
        self.revoke("rev1", f"{t}-s2", 0, self.uid(11), D0 + 6 * DAY)
        self.submit("s3", f"{t}-s3", 1, D0)
        self.assign(f"{t}-s3", self.uid(3), a1, D0 + H)
        self.score("score3", f"{t}-s3", self.uid(3), a1, D0 + 12 * H, FEEDBACK[2],
                   ["exemplary"] * 3)
        self.decide("dec3", f"{t}-s3", 1, D0 + DAY, "earned", 1, FEEDBACK[2])
        self.issue("iss3", f"{t}-s3", 1, self.uid(13), D0 + DAY)
        self.submit("s4", f"{t}-s4", 2, D0)
        self.kafka.flush()

    def expected_ids(self):
        """{statement id: (verb word, source name)} recomputed here, independently."""
        words = {"s": "submit", "score": "scored", "dec": None, "iss": "earned", "rev": "voided"}
        out = {}
        for name, ce_id in self.ids.items():
            if name.startswith("ready") or name.startswith("assign"):
                continue
            out[str(uuid.uuid5(NS, ce_id))] = name
            if name in ("s1", "s3", "s4"):
                out[str(uuid.uuid5(NS, ce_id + "/registered"))] = name + "/registered"
        del words
        return out


def seed(db, tenant):
    db.execute("INSERT INTO tenants (id, kind, name) VALUES (%s, 'district', 'Analytics test')",
               (tenant,))
    for i in range(4):
        db.execute("INSERT INTO educators (tenant_id, id, name, email) VALUES (%s, %s, %s, %s)",
                   (tenant, f"{tenant}-{i}", NAMES[i], EMAILS[i]))
    db.execute("INSERT INTO pilots (tenant_id, id, name, starts_on, ends_on, target_reach_ratio)"
               " VALUES (%s, %s, 'Fall pilot', '2026-09-01', '2027-01-31', 0.5)",
               (tenant, f"{tenant}-pilot"))
    for i in range(4):
        db.execute("INSERT INTO pilot_educators (tenant_id, pilot_id, educator_id)"
                   " VALUES (%s, %s, %s)", (tenant, f"{tenant}-pilot", f"{tenant}-{i}"))


def cli(stack, *args):
    """The badgeflow CLI on the stack's database: the finished process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BADGEFLOW_")}
    env["BADGEFLOW_POSTGRES_CONNINFO"] = stack.conninfo
    return subprocess.run([str(BUILD / "tools" / "cli" / "badgeflow"), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ralph(tmp_path):
    """A real Ralph LRS (filesystem backend) on loopback. deploy/local/install.sh installs it;
    without it the LRS check is skipped only outside CI."""
    if not Path(LRS_PYTHON).exists():
        assert not os.environ.get("CI"), f"no Ralph LRS at {LRS_PYTHON}: run deploy/local/install.sh"
        return None, None
    pw = subprocess.run([LRS_PYTHON, "-c", "import bcrypt;print(bcrypt.hashpw(b'lrspass',"
                         " bcrypt.gensalt()).decode())"], capture_output=True, text=True)
    (tmp_path / "auth.json").write_text(json.dumps([{
        "agent": {"mbox": "mailto:lrs@example.org", "objectType": "Agent"}, "scopes": ["all"],
        "hash": pw.stdout.strip(), "username": "lrs"}]))
    port = free_port()
    env = dict(os.environ, RALPH_AUTH_FILE=str(tmp_path / "auth.json"),
               RALPH_RUNSERVER_BACKEND="fs", RALPH_APP_DIR=str(tmp_path / "ralph"),
               RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH=str(tmp_path / "lrs"))
    proc = subprocess.Popen([LRS_PYTHON, str(HERE / "ralph_fs_lrs.py"), "127.0.0.1", str(port)],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "ralph.log", "wb"))

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False
    wait_for(up, 30, interval=0.3, what="the Ralph LRS")
    return proc, f"http://127.0.0.1:{port}/xAPI"


def analytics_config(daemons, kafka, group, lrs_url=None):
    a = {"pseudonym_key": KEY, "k": "2", "debounce": "300ms", "unknown_grace": "2m"}
    if lrs_url:
        a.update(lrs_url=lrs_url, lrs_user="lrs", lrs_password="lrspass", lrs_batch="5",
                 lrs_allow_loopback="true", lrs_allow_http="true")
    cfg = daemons.config(kafka, name="analytics", analytics=a)
    cfg["kafka"]["group_id"] = group
    return cfg


def read_statements(kafka, n, timeout=90):
    msgs = kafka.consume("analytics", lambda got: len(got) >= n, timeout)
    assert len(msgs) >= n, f"{len(msgs)} statements, wanted {n}"
    return msgs


def metrics_of(kafka, pilot, want=lambda m: True, timeout=60):
    def done(got):
        recs = [json.loads(m.value()) for m in got if m.key() == pilot.encode()]
        return recs and want(recs[-1])
    msgs = kafka.consume("metrics.pilot", done, timeout)
    recs = [json.loads(m.value()) for m in msgs if m.key() == pilot.encode()]
    assert recs and want(recs[-1]), f"metrics of {pilot}: {recs[-1:]}"
    return recs[-1]


def xapi_validate(statements):
    node = HERE / "node"
    if not (node / "node_modules").exists():
        subprocess.run(["npm", "ci", "--silent"], cwd=node, check=True, timeout=120)
    proc = subprocess.run(["node", str(node / "validate.js")], input=json.dumps(statements),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"xAPI validator: {proc.stdout}{proc.stderr}"


# Hand-computed figures of the scripted pilot (k = 2: counts of 0 or 1 are withheld).
#   targeted 4 (e0..e3); reached 3 (e0, e1, e2); reach 0.75 >= target 0.5
#   submissions 4 (s1..s4); earned 2 (s2, s3); decided 3 (s1 not yet, s2, s3)
#   not yet 1 -> rate withheld; first attempts decided 2 (s1, s3), earned 1 -> rate withheld
#   resubmissions 1 (s2) withheld; backlog 1 (s4) withheld; stalled 1 (e2) withheld
#   time to decision: s1 2d, s2 2d, s3 1d -> nearest-rank p50 2d, p90 2d
#   time to earn: s2 5d (from s1), s3 1d -> p50 1d, p90 5d
#   assessor turnaround: 23h, 23h, 11h -> p50 23h, p90 23h; no agreement statistics (0 pairs)
FIGURES = {
    "targeted": 4, "reached": 3, "reach_ratio": 0.75, "on_target": True, "submissions": 4,
    "earned": 2, "first_attempt_pass_rate": None, "not_yet_rate": None, "resubmissions": None,
    "time_to_decision": {"p50_s": 2 * DAY, "p90_s": 2 * DAY},
    "time_to_earn": {"p50_s": DAY, "p90_s": 5 * DAY},
    "assessor_turnaround": {"p50_s": 23 * H, "p90_s": 23 * H},
    "backlog": None, "stalled": None,
    "agreement": {"exact": None, "adjacent": None, "kappa": None, "alpha": None},
    "suppressed": ["first_attempt_pass_rate", "not_yet_rate", "resubmissions", "backlog",
                   "stalled", "agreement"],
}


def figures(rec):
    return {k: rec[k] for k in FIGURES}


def test_lifecycle_statements_metrics_and_replay(stack, db, kafka, daemons, tmp_path):
    tenant = f"an{uuid.uuid4().hex[:8]}"
    pilot = f"{tenant}-pilot"
    load_catalogue(stack)
    seed(db, tenant)
    kafka.create_topics(TOPICS)
    sc = Scenario(kafka, tenant)
    sc.run()
    lrs, lrs_url = start_ralph(tmp_path)
    try:
        d = daemons.start(analytics_config(daemons, kafka, f"an-{tenant}-1", lrs_url),
                          binary=BUILD / "services/analytics/badgeflow-analytics",
                          name="analytics1")
        d.wait_ready()
        expected = sc.expected_ids()
        msgs = read_statements(kafka, len(expected))
        data = [json.loads(m.value()) for m in msgs]
        stmts = [x["statement"] for x in data]

        # ids: UUIDv5 of the source events, each statement once
        assert sorted(s["id"] for s in stmts) == sorted(expected), d.tail()
        by_name = {expected[s["id"]]: s for s in stmts}
        verbs = {n: s["verb"]["id"].rsplit("/", 1)[1] for n, s in by_name.items()}
        assert verbs == {"s1/registered": "registered", "s1": "submit", "score1": "scored",
                         "dec1": "failed", "s2": "submit", "score2": "scored", "dec2": "passed",
                         "iss1": "earned", "rev1": "voided", "s3/registered": "registered",
                         "s3": "submit", "score3": "scored", "dec3": "passed", "iss3": "earned",
                         "s4/registered": "registered", "s4": "submit"}

        # pseudonyms: HMAC-SHA256 of tenant and id, the record key; one registration per cycle
        for m, x in zip(msgs, data):
            name = x["statement"]["actor"]["account"]["name"]
            assert m.key().decode() == name
            assert header_dict(m)["ce_type"] == "org.badgeflow.statement.recorded.v1"
        e0 = pseudonym("educator", tenant, f"{tenant}-0")
        assert by_name["s1"]["actor"]["account"]["name"] == e0
        assert by_name["score1"]["context"]["instructor"]["account"]["name"] == \
            pseudonym("assessor", "", "an-assessor-1")
        regs = {n: s.get("context", {}).get("registration") for n, s in by_name.items()}
        assert regs["s1"] == regs["s2"] == regs["dec2"] == regs["iss1"] != regs["s3"]
        assert by_name["dec1"]["result"]["success"] is False
        assert by_name["dec1"]["context"]["extensions"][
            "https://badgeflow.org/xapi/ext/attempts-left"] == 2
        assert by_name["dec2"]["result"]["success"] is True
        assert by_name["rev1"]["object"] == {"objectType": "StatementRef",
                                             "id": by_name["iss1"]["id"]}
        ctx = by_name["s1"]["context"]["contextActivities"]
        assert ctx["parent"][0]["id"].endswith(f"/stacks/{STACK}")
        assert ctx["grouping"][0]["id"].endswith(f"/pilots/{tenant}/{pilot}")

        # an independent xAPI validator accepts every statement
        xapi_validate(stmts)

        # nothing personal on the streams
        rec = metrics_of(kafka, pilot, lambda r: figures(r) == FIGURES)
        raw = b"".join(m.value() + (m.key() or b"") for m in msgs)
        raw += json.dumps(rec).encode()
        for secret in NAMES + EMAILS + FEEDBACK + [f"{tenant}-{i}" for i in range(4)] + \
                ["an-assessor-1", "sch-1"]:
            assert secret.encode() not in raw, secret

        # the by-credential and by-stack rows carry the same figures (one credential here)
        assert [r["credential_id"] for r in rec["by_credential"]] == [CRED]
        assert [r["stack_id"] for r in rec["by_stack"]] == [STACK]
        for row in rec["by_credential"] + rec["by_stack"]:
            assert {k: row.get(k) for k in FIGURES} == FIGURES
        # the SQL view agrees with the stream
        assert db.scalar("SELECT reached FROM analytics_pilot_metrics WHERE tenant_id = %s"
                         " AND dim = 'pilot'", (tenant,)) == 3

        # the LRS took every statement through the service's forwarding
        if lrs:
            wait_for(lambda: db.scalar(
                "SELECT count(*) FROM analytics_statements WHERE tenant_id = %s"
                " AND lrs_state = 'sent'", (tenant,)) == len(expected), 60,
                what="every statement accepted by the LRS")
            stored = [json.loads(line) for line in
                      (tmp_path / "lrs" / "fs_lrs.jsonl").read_text().splitlines()]
            assert sorted(s["id"] for s in stored) == sorted(expected)
        d.signal(signal.SIGTERM)
        assert d.wait(20) == 0, d.tail()

        # replay: empty facts, a new consumer group from the start of every topic
        for table in ["analytics_statements", "analytics_credentials", "analytics_assignments",
                      "analytics_submissions", "analytics_cycles", "analytics_pilot_emitted",
                      "analytics_pilot_dirty"]:
            db.execute(f"DELETE FROM {table} WHERE tenant_id = %s", (tenant,))
        d2 = daemons.start(analytics_config(daemons, kafka, f"an-{tenant}-2"),
                           binary=BUILD / "services/analytics/badgeflow-analytics",
                           name="analytics2")
        d2.wait_ready()
        again = read_statements(kafka, 2 * len(expected))
        second = [json.loads(m.value())["statement"] for m in again][len(expected):]
        first = {s["id"]: s for s in stmts}
        assert sorted(s["id"] for s in second) == sorted(first)
        for s in second:
            assert s == first[s["id"]]
        # the replay's metrics converge on the same figures (intermediate records may precede)
        rec2 = metrics_of(kafka, pilot, lambda r: r["computed_at"] != rec["computed_at"]
                          and figures(r) == FIGURES)
        assert figures(rec2) == figures(rec) == FIGURES
        assert rec2["by_credential"] == rec["by_credential"]
        d2.signal(signal.SIGTERM)
        assert d2.wait(20) == 0, d2.tail()
        check_rebuild(stack, db, tenant, pilot)
    finally:
        if lrs:
            lrs.terminate()
            lrs.wait(10)


def check_rebuild(stack, db, tenant, pilot):
    """`badgeflow analytics rebuild`: the published figures equal those recomputed from the
    stored facts; a tampered fact row (s3 decided three days later) is reported by field."""
    assert db.scalar("SELECT count(*) FROM analytics_pilot_dirty WHERE tenant_id = %s",
                     (tenant,)) == 0
    proc = cli(stack, "analytics", "rebuild", "--tenant", tenant)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [f"{tenant}/{pilot}: equal"], proc.stdout
    db.execute("UPDATE analytics_submissions SET decided_at = decided_at + interval '3 days'"
               " WHERE tenant_id = %s AND submission_id = %s", (tenant, f"{tenant}-s3"))
    proc = cli(stack, "analytics", "rebuild", "--tenant", tenant)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    # decision times 2d, 2d, 4d (p90); times to earn 5d, 4d (p50); and so the rows by credential
    # and by stack
    head, _, fields = proc.stdout.splitlines()[0].partition(": differs: ")
    assert head == f"{tenant}/{pilot}", proc.stdout
    assert sorted(fields.split(", ")) == ["by_credential", "by_stack", "time_to_decision",
                                          "time_to_earn"]
    assert "1 pilot(s) differ" in proc.stdout


def test_unknown_type_is_dead_lettered(stack, db, kafka, daemons):
    kafka.create_topics(TOPICS)
    kafka.produce("decisions", {"tenant_id": "x"}, ce_headers("org.badgeflow.decision.bogus.v1"))
    kafka.produce("submissions", {"tenant_id": "x"},
                  ce_headers("org.badgeflow.submission.submitted.v1"))
    kafka.flush()
    d = daemons.start(analytics_config(daemons, kafka, f"an-dlq-{uuid.uuid4().hex[:6]}"),
                      binary=BUILD / "services/analytics/badgeflow-analytics", name="analytics")
    d.wait_ready()
    for topic in ("decisions.dlq", "submissions.dlq"):
        got = kafka.consume(topic, lambda g: len(g) >= 1, 60)
        assert got and header_dict(got[0]).get("dlq_reason"), topic
    assert shutil.which("node")


class RefusingLrs:
    """A tiny LRS on loopback. Requests wait for the gate (so that statements pile up behind
    the first one); the first batch of two or more marks its second statement, and every
    batch holding the marked statement is answered 400; the others 200 with their ids. Each
    request's ids, status and xAPI version header are recorded."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading
        lrs = self
        self.marked, self.requests = None, []  # [(ids, status, version)]
        self.gate = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                lrs.gate.wait(60)
                ids = [st["id"] for st in body]
                if lrs.marked is None and len(ids) >= 2:
                    lrs.marked = ids[1]
                status = 400 if lrs.marked in ids else 200
                lrs.requests.append((ids, status, self.headers.get("X-Experience-API-Version")))
                out = json.dumps(ids if status == 200 else {"error": "refused"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/xAPI"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def test_lrs_refused_statement_is_split_out(stack, db, kafka, daemons):
    """A statement the LRS refuses inside a batch: the batch is split, every other statement
    is sent, the refused one alone is marked refused, and the stream is not held up."""
    tenant = f"an{uuid.uuid4().hex[:8]}"
    load_catalogue(stack)
    seed(db, tenant)
    kafka.create_topics(TOPICS)
    sc = Scenario(kafka, tenant)
    sc.run()
    expected = sc.expected_ids()
    lrs = RefusingLrs()
    try:
        cfg = analytics_config(daemons, kafka, f"an-{tenant}-lrs", lrs.url)
        cfg["analytics"]["lrs_timeout"] = "90s"
        d = daemons.start(cfg, binary=BUILD / "services/analytics/badgeflow-analytics",
                          name="analytics-lrs")
        d.wait_ready()
        read_statements(kafka, len(expected))  # the stream goes on while the LRS holds
        lrs.gate.set()

        def settled():
            rows = db.query("SELECT statement_id::text, lrs_state, lrs_error FROM"
                            " analytics_statements WHERE tenant_id = %s", (tenant,))
            return rows if all(r[1] != "pending" for r in rows) else None
        rows = wait_for(settled, 60, interval=0.3, what="every statement settled with the LRS")
        state = {r[0]: (r[1], r[2]) for r in rows}
        assert sorted(state) == sorted(expected)
        marked = lrs.marked
        assert marked in expected, lrs.requests
        assert state.pop(marked) == ("refused", "HTTP 400")
        assert set(state.values()) == {("sent", None)}, state
        sent = {i for ids, status, _ in lrs.requests if status == 200 for i in ids}
        assert sent == set(expected) - {marked}
        refused = [ids for ids, status, _ in lrs.requests if status == 400]
        assert len(refused[0]) >= 2 and [marked] in refused, lrs.requests  # split until alone
        assert all(v == "1.0.3" for _, _, v in lrs.requests)
        assert d.codes("BF_ANALYTICS_LRS_REFUSED")
    finally:
        lrs.stop()
