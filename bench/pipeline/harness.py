# SPDX-License-Identifier: Apache-2.0
"""What the pipeline benchmark, the fault run and tests/integration/pipeline/test_fault.py
share: a stack (given or started here), the world and the seven daemons (demo/driver.py,
imported: one copy of that logic), synthetic text-evidence submissions produced straight onto
<prefix>submissions as submission.submitted events, scripted assessors answering through the
gateway (driver.assessor_round, in threads), a capacity sampler, faults, quiescence and the
invariants checked with SQL.

Debian's /usr/bin/python3 with python3-psycopg2 and python3-confluent-kafka only.
"""

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "demo"))
import driver  # noqa: E402

STACK_SH = ROOT / "deploy" / "local" / "stack.sh"

# Text-heavy credentials (a document and text; no media): two single-scored, two
# double-scored. driver.setup_world gives the first six assessors the first pair, the other
# six the second pair, the first of each six all four.
TEXT_CREDS = ["vco.facilitating-online-discussion", "lpl.designing-professional-learning",
              "gp.writing-for-public-audiences", "gp.engaging-policymakers"]


def log(msg):
    print(msg, flush=True)


# ---- the stack ----------------------------------------------------------------------------


class StackCtl:
    """A running stack (its stack.env values) and stack.sh stop-/start-component."""

    def __init__(self, env, owned=False):
        self.env = env
        self.dir = env["BADGEFLOW_STACK_DIR"]
        self.owned = owned

    def _sh(self, *args, timeout=300):
        proc = subprocess.run([str(STACK_SH), *args], capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ, BADGEFLOW_STACK_DIR=self.dir))
        if proc.returncode != 0:
            raise RuntimeError(f"stack.sh {' '.join(args)}: {proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def stop_component(self, name):
        self._sh("stop-component", name)

    def start_component(self, name):
        self._sh("start-component", name)

    def redis_cli(self, *args):
        return subprocess.run(["redis-cli", "-h", self.env["BADGEFLOW_REDIS_HOST"], "-p",
                               str(self.env["BADGEFLOW_REDIS_PORT"]), *args],
                              capture_output=True, text=True, timeout=10).stdout.strip()

    def stop(self):
        if self.owned:
            self._sh("stop")

    @classmethod
    def open(cls, stack_env=None):
        """The stack at stack_env, or a new one in a scratch directory (stopped by stop())."""
        if stack_env:
            return cls(driver.read_env_file(stack_env))
        scratch = tempfile.mkdtemp(prefix="bf-pipe-stack-", dir="/tmp")
        os.chmod(scratch, 0o755)
        proc = subprocess.run([str(STACK_SH), "start"], capture_output=True, text=True,
                              timeout=400, env=dict(os.environ, BADGEFLOW_STACK_DIR=scratch))
        if proc.returncode != 0:
            raise RuntimeError(f"stack.sh start: {proc.stdout}\n{proc.stderr}")
        return cls(driver.read_env_file(Path(scratch) / "stack.env"), owned=True)


# ---- the pipeline under load --------------------------------------------------------------


class Pipeline:
    """The world, the seven daemons, the producer of submissions and the assessors."""

    def __init__(self, stack, build, work, capacity=8, plans=None, assessor_threads=4,
                 seed=1):
        self.stack = stack
        tag = uuid.uuid4().hex[:6]
        self.ctx = driver.Ctx(stack.env, build, work, tag=tag, prefix=f"pipe{tag}.", k=5)
        self.capacity = capacity
        # plan -> weight; 'disagree' only bites on the double-scored credentials
        self.plans = plans or {"earn": 0.85, "not_yet": 0.10, "disagree": 0.05}
        self.rng = random.Random(seed)
        self.n_threads = assessor_threads
        self.produced = {}      # submission id -> time.time() of production
        self.stop_flag = threading.Event()
        self.threads = []
        self.assessor_errors = 0
        self.last_assessor_error = None
        self.cap_samples = 0
        self.cap_violations = []  # (time, assessor, open, max_open)
        self.cap_peak = {}        # assessor -> highest open count sampled
        self.unexpected_exits = []
        self.lock = threading.Lock()

    # -- set up
    def start(self):
        ctx = self.ctx
        ctx.cli("migrate")
        ctx.cli("catalogue", "load")
        ctx.cli("topics", "create")
        self.receiver = driver.Receiver()
        self.daemons = driver.Daemons(ctx)
        self.w = driver.setup_world(ctx, self.receiver, creds=TEXT_CREDS,
                                    capacity=self.capacity)
        self.daemons.start_all()
        self.daemons.wait_ready()
        self.api = driver.Api(ctx.api_port)
        self.j = driver.Journey()
        for cred in TEXT_CREDS:
            doc = self.api.ok("GET", f"/v1/credentials/{cred}", key=self.w.keys["wake"])
            self.j.credentials[cred] = doc["definition"]
        self.required = {c: d.get("assessors_required", 1) for c, d in self.j.credentials.items()}
        # one set of evidence items per tenant and credential, built by the driver from the
        # credential's requirements (documents uploaded once through POST /v1/uploads)
        pdf = ctx.work / "document.pdf"
        pdf.write_bytes(driver.minimal_pdf("Discussion protocol - synthetic document"))
        self.items = {}
        for tenant, who in ((ctx.wake, "wake"), (ctx.durham, "durham")):
            for cred in TEXT_CREDS:
                self.items[(tenant, cred)] = driver.build_evidence(
                    self.api, self.w.keys[who], self.j.credentials[cred],
                    dict.fromkeys(("video", "audio", "png", "jpeg", "pdf"), pdf))
        self.producer = Producer({"bootstrap.servers": ctx.brokers, "enable.idempotence": True,
                                  "linger.ms": 5, "message.timeout.ms": 600000})
        self.tenants = (ctx.wake, ctx.durham)

    # -- submissions
    def _plan(self, cred):
        r, acc = self.rng.random(), 0.0
        for plan, wgt in self.plans.items():
            acc += wgt
            if r < acc:
                break
        if plan == "disagree" and self.required[cred] < 2:
            plan = "earn"
        return plan

    def produce(self, n, rate=None):
        """n submission.submitted events (each a new educator, attempt 1) on <prefix>submissions,
        at rate per second (None: as fast as the producer takes them)."""
        ctx = self.ctx
        topic = ctx.prefix + "submissions"
        t0 = time.monotonic()
        base = len(self.produced)
        for i in range(n):
            k = base + i
            tenant = ctx.wake if k % 2 == 0 else ctx.durham
            cred = TEXT_CREDS[k % len(TEXT_CREDS)]
            sid = f"{tenant}-syn-{k + 1:06d}"
            eid = f"{tenant.split('-')[0]}-syn-edu-{k + 1:06d}"
            data = {"submission_id": sid, "tenant_id": tenant,
                    "educator": {"id": eid, "name": f"Synthetic Educator {k + 1}",
                                 "email": f"edu{k + 1}@{tenant}.example.org",
                                 "school_id": f"{tenant}-sch-{k % 5 + 1}",
                                 "district_id": tenant},
                    "credential_id": cred, "attempt": 1,
                    "evidence": self.items[(tenant, cred)],
                    "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            headers = [("ce_specversion", b"1.0"), ("ce_id", str(uuid.uuid4()).encode()),
                       ("ce_source", b"/bench/pipeline"),
                       ("ce_type", b"org.badgeflow.submission.submitted.v1"),
                       ("ce_time", data["submitted_at"].encode()), ("ce_subject", sid.encode()),
                       ("content-type", b"application/json"),
                       ("traceparent",
                        f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01".encode())]
            self.j.subs[sid] = {"tenant": tenant, "educator": eid, "credential": cred,
                                "plan": self._plan(cred), "previous": None,
                                "submitted": time.time()}
            while True:
                try:
                    self.producer.produce(topic, key=sid.encode(),
                                          value=json.dumps(data).encode(), headers=headers)
                    break
                except BufferError:
                    self.producer.poll(0.1)
            self.produced[sid] = time.time()
            self.producer.poll(0)
            if rate:
                ahead = (i + 1) / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        left = self.producer.flush(600)
        if left:
            raise RuntimeError(f"{left} submissions not acknowledged by Kafka")

    # -- assessors and the capacity sampler
    def _assessor_loop(self, keys):
        # one World per assessor: an error on one assessor's assignment (a 409 after a lease
        # was lost, the gateway down) does not keep the others of this thread from scoring
        worlds = []
        for aid, key in keys.items():
            one = driver.World()
            one.assessor_keys = {aid: key}
            worlds.append(one)
        while not self.stop_flag.is_set():
            made = 0
            for one in worlds:
                try:
                    made += driver.assessor_round(self.api, one, self.j)
                except Exception as e:  # gateway killed, PostgreSQL restarting, a 409
                    with self.lock:
                        self.assessor_errors += 1
                        self.last_assessor_error = repr(e)[:300]
                    time.sleep(0.2)
            if not made:
                time.sleep(0.1)

    def _capacity_loop(self, interval):
        while not self.stop_flag.is_set():
            self.check_capacity_once()
            self.stop_flag.wait(interval)

    def check_capacity_once(self):
        try:
            rows = self.ctx.query(
                "SELECT a.assessor_id, count(*), max(s.max_open) FROM assignments a"
                " JOIN assessors s ON s.id = a.assessor_id WHERE a.state = 'open'"
                " AND s.tenant_id = %s GROUP BY a.assessor_id", (self.ctx.state,))
        except Exception:
            return None  # PostgreSQL restarting
        with self.lock:
            self.cap_samples += 1
            for aid, n, mx in rows:
                self.cap_peak[aid] = max(self.cap_peak.get(aid, 0), n)
                if n > mx:
                    self.cap_violations.append((time.strftime("%H:%M:%S"), aid, n, mx))
        return rows

    def start_assessors(self, sample_interval=1.0):
        aids = sorted(self.w.assessor_keys)
        for t in range(self.n_threads):
            keys = {a: self.w.assessor_keys[a] for a in aids[t::self.n_threads]}
            th = threading.Thread(target=self._assessor_loop, args=(keys,), daemon=True)
            th.start()
            self.threads.append(th)
        th = threading.Thread(target=self._capacity_loop, args=(sample_interval,), daemon=True)
        th.start()
        self.threads.append(th)

    def stop_assessors(self):
        self.stop_flag.set()
        for th in self.threads:
            th.join(10)

    # -- state
    def counts(self):
        rows = self.ctx.query(
            "SELECT state, outcome, count(*) FROM submissions WHERE tenant_id IN (%s, %s)"
            " AND id LIKE %s GROUP BY 1, 2", (*self.tenants, "%-syn-%"))
        out = {}
        for st, oc, n in rows:
            out[f"{st}:{oc}" if oc else st] = n
        creds = self.ctx.query("SELECT count(*) FROM credentials WHERE tenant_id IN (%s, %s)"
                               " AND kind = 'credential'", self.tenants)[0][0]
        return out, creds

    def restart_dead_daemons(self):
        """A daemon that exited on its own (not by our SIGKILL) is recorded and started again."""
        for svc in self.daemons.dead():
            rc = self.daemons.procs[svc].returncode
            if rc != -signal.SIGKILL:
                self.unexpected_exits.append((time.strftime("%H:%M:%S"), svc, rc,
                                              driver.tail(self.ctx.work / f"{svc}.log", 5)))
            self.daemons.start(svc)

    def wait_quiescent(self, timeout, progress=5.0, during=None):
        """Until every produced submission is terminal, every earned decision has its
        credential, the outboxes are drained and no webhook is pending; returns seconds."""
        ctx = self.ctx
        t0 = time.monotonic()
        last = 0.0
        while True:
            if during:
                during()
            self.restart_dead_daemons()
            try:
                c, creds = self.counts()
                terminal = sum(v for k, v in c.items()
                               if k.split(":")[0] in driver.TERMINAL)
                earned = c.get("decided:earned", 0)
                unsent = ctx.query("SELECT count(*) FROM outbox WHERE sent_at IS NULL"
                                   " AND topic LIKE %s", (ctx.prefix + "%",))[0][0]
                pending = ctx.query(
                    "SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints e"
                    " ON e.id = d.endpoint_id WHERE e.tenant_id IN (%s, %s)"
                    " AND d.state IN ('pending', 'failed')", self.tenants)[0][0]
                open_a = ctx.query("SELECT count(*) FROM assignments WHERE tenant_id IN (%s, %s)"
                                   " AND state = 'open'", self.tenants)[0][0]
            except Exception as e:
                log(f"  (waiting: {e!r:.120})")
                time.sleep(1)
                continue
            if time.monotonic() - last > progress:
                log(f"  [{time.monotonic() - t0:5.0f}s] {len(self.produced)} produced: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
                    + f" | credentials {creds} | open assignments {open_a}"
                    f" | outbox unsent {unsent} | webhooks pending {pending}"
                    f" | assessor errors {self.assessor_errors}")
                last = time.monotonic()
            if (terminal == len(self.produced) and creds >= earned and unsent == 0
                    and pending == 0 and open_a == 0):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                return None
            time.sleep(0.5)

    def close(self):
        self.stop_flag.set()
        try:
            self.producer.flush(5)
        except Exception:
            pass
        self.receiver.close()
        self.daemons.stop_all()


# ---- faults -------------------------------------------------------------------------------


class Faults:
    """SIGKILL a daemon (and start it again), restart Redis empty, restart PostgreSQL,
    restart the Kafka broker. Each returns a line for the log; all are counted."""

    def __init__(self, pipe, rng=None):
        self.pipe = pipe
        self.rng = rng or random.Random(7)
        self.done = []  # (time, what)

    def _note(self, what):
        self.done.append((time.strftime("%H:%M:%S"), what))
        log(f"  FAULT {what}")

    def kill_daemon(self, svc=None):
        d = self.pipe.daemons
        svc = svc or self.rng.choice(driver.SERVICES)
        p = d.procs[svc]
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(10)
        time.sleep(self.rng.uniform(0.2, 1.5))
        d.start(svc)
        try:
            d.wait_ready(timeout=60, services=[svc])
        except RuntimeError as e:
            log(f"  {svc} not ready again in 60s: {e}")
        self._note(f"SIGKILL badgeflow-{svc} (pid {p.pid}), started again")

    def restart_redis(self):
        st = self.pipe.stack
        st.stop_component("redis")
        time.sleep(1)
        st.start_component("redis")
        size = st.redis_cli("dbsize")
        if size != "0":  # stack.sh's Redis saves nothing, but make sure it is empty
            st.redis_cli("flushall")
        self._note(f"Redis restarted empty (dbsize after start: {size})")

    def restart_postgres(self):
        st = self.pipe.stack
        st.stop_component("postgres")
        time.sleep(2)
        st.start_component("postgres")
        self._note("PostgreSQL restarted")

    def restart_kafka(self):
        st = self.pipe.stack
        st.stop_component("kafka")
        time.sleep(2)
        st.start_component("kafka")
        self._note("Kafka broker restarted")

    def kinds(self):
        return {k: sum(1 for _, w in self.done if w.startswith(p))
                for k, p in (("sigkill", "SIGKILL"), ("redis", "Redis"),
                             ("postgres", "PostgreSQL"), ("kafka", "Kafka"))}


# ---- the invariants -----------------------------------------------------------------------


def check_invariants(pipe):
    """SQL over this run's tenants. Returns (counts checked, violations: list of strings)."""
    ctx, tenants = pipe.ctx, pipe.tenants
    q = ctx.query
    v = []
    n = {}
    rows = q("SELECT id, credential_id, state, outcome FROM submissions"
             " WHERE tenant_id IN (%s, %s) AND id LIKE %s", (*tenants, "%-syn-%"))
    subs = {sid: (cred, st, oc) for sid, cred, st, oc in rows}
    lost = sorted(set(pipe.produced) - set(subs))
    stuck = sorted(s for s, (_, st, _) in subs.items() if st not in ("decided", "rejected"))
    n["submissions produced"] = len(pipe.produced)
    n["submissions recorded"] = len(subs)
    n["decided earned"] = sum(1 for _, st, oc in subs.values() if oc == "earned")
    n["decided not_yet"] = sum(1 for _, st, oc in subs.values() if oc == "not_yet")
    n["rejected"] = sum(1 for _, st, _ in subs.values() if st == "rejected")
    if lost:
        v.append(f"lost: {len(lost)} submissions never recorded, e.g. {lost[:5]}")
    if stuck:
        v.append(f"stuck: {len(stuck)} not decided/rejected, e.g. "
                 + ", ".join(f"{s}={subs[s][1]}" for s in stuck[:5]))

    # assignments: per submission and role, the live ones (open or completed)
    arows = q("SELECT submission_id, role, state, count(*) FROM assignments"
              " WHERE tenant_id IN (%s, %s) GROUP BY 1, 2, 3", tenants)
    live, other = {}, {}
    for sid, role, st, c in arows:
        if st in ("open", "completed"):
            live.setdefault(sid, {}).setdefault(role, 0)
            live[sid][role] += c
        else:
            other[st] = other.get(st, 0) + c
    n["assignments (open or completed)"] = sum(sum(r.values()) for r in live.values())
    n["tie-break assignments"] = sum(r.get("tie_break", 0) for r in live.values())
    n["assignments released/expired/declined"] = sum(other.values())
    bad_a = []
    for sid, (cred, st, oc) in subs.items():
        r = live.get(sid, {})
        req = pipe.required.get(cred, 1)
        if st == "decided" and r.get("primary", 0) != req:
            bad_a.append(f"{sid}: {r.get('primary', 0)} primary, credential requires {req}")
        elif st != "decided" and r.get("primary", 0) > req:
            bad_a.append(f"{sid} ({st}): {r.get('primary', 0)} primary > {req}")
        if r.get("tie_break", 0) > (1 if req >= 2 else 0):
            bad_a.append(f"{sid}: {r['tie_break']} tie-break assignments")
    dup_assessor = q("SELECT submission_id, assessor_id, count(*) FROM assignments"
                     " WHERE tenant_id IN (%s, %s) AND state IN ('open', 'completed')"
                     " GROUP BY 1, 2 HAVING count(*) > 1", tenants)
    bad_a += [f"{s}: assessor {a} holds {c} live assignments" for s, a, c in dup_assessor]
    n["submissions checked for assignment counts"] = len(subs)
    left_open = q("SELECT a.submission_id, a.assessor_id, a.role, s.state FROM assignments a"
                  " JOIN submissions s ON s.tenant_id = a.tenant_id AND s.id = a.submission_id"
                  " WHERE a.tenant_id IN (%s, %s) AND a.state = 'open'", tenants)
    n["assignments still open at the end"] = len(left_open)
    if left_open:
        v.append(f"open assignments left at the end: {len(left_open)}, e.g. {left_open[:5]}")
    if bad_a:
        v.append(f"assignments beyond the required count: {len(bad_a)}: " + "; ".join(bad_a[:8]))

    # decisions and credentials
    drows = q("SELECT submission_id, outcome, superseded_at IS NULL, id::text FROM decisions"
              " WHERE tenant_id IN (%s, %s)", tenants)
    dec = {}
    for sid, oc, current, did in drows:
        dec.setdefault(sid, []).append((oc, current, did))
    n["decisions"] = len(drows)
    multi = {s: d for s, d in dec.items() if len(d) > 1}
    if multi:
        v.append(f"more than one decision for {len(multi)} submissions (no overrides were made):"
                 f" {list(multi.items())[:3]}")
    crows = q("SELECT submission_id, decision_id::text, id::text FROM credentials"
              " WHERE tenant_id IN (%s, %s) AND kind = 'credential'", tenants)
    cred_by = {}
    for sid, did, cid in crows:
        cred_by.setdefault(sid, []).append((did, cid))
    n["credentials"] = len(crows)
    dup_c = {s: c for s, c in cred_by.items() if len(c) > 1}
    if dup_c:
        v.append(f"duplicate credentials for {len(dup_c)} submissions: {list(dup_c.items())[:3]}")
    earned_decisions = {did: sid for sid, ds in dec.items() for oc, cur, did in ds
                        if oc == "earned" and cur}
    missing = [s for d, s in earned_decisions.items()
               if not any(cd == d for cd, _ in cred_by.get(s, []))]
    if missing:
        v.append(f"earned decisions without a credential: {len(missing)}, e.g. {missing[:5]}")
    unearned = [s for s in cred_by if subs.get(s, ("", "", ""))[2] != "earned"]
    if unearned:
        v.append(f"credentials for submissions not earned: {unearned[:5]}")
    n["earned decisions checked for one credential"] = len(earned_decisions)

    # webhooks: one delivery row per endpoint and event; one effect per decision/credential
    dup_rows = q("SELECT d.endpoint_id::text, d.event_id, count(*) FROM webhook_deliveries d"
                 " WHERE d.tenant_id IN (%s, %s) GROUP BY 1, 2 HAVING count(*) > 1", tenants)
    if dup_rows:
        v.append(f"webhook_deliveries not unique per endpoint+event: {dup_rows[:5]}")
    wrows = q("SELECT d.endpoint_id::text, d.event_type, d.payload::jsonb ->> 'subject',"
              " count(*), array_agg(d.id::text), array_agg(d.event_id) FROM webhook_deliveries d"
              " WHERE d.tenant_id IN (%s, %s) AND (d.event_type LIKE '%%decision.made%%'"
              " OR d.event_type LIKE '%%credential.issued%%'"
              " OR d.event_type LIKE '%%submission.submitted%%') GROUP BY 1, 2, 3", tenants)
    n["webhook deliveries (rows)"] = q("SELECT count(*) FROM webhook_deliveries"
                                       " WHERE tenant_id IN (%s, %s)", tenants)[0][0]
    n["webhook effects checked (endpoint, type, subject)"] = len(wrows)
    dup_eff = [r for r in wrows if r[3] > 1]
    if dup_eff:
        v.append(f"duplicate webhook effects (one event delivered under several webhook-ids):"
                 f" {len(dup_eff)}, e.g. {dup_eff[:3]}")
    got = pipe.receiver.received()
    by_id = {}
    for g in got:
        by_id.setdefault(g["id"], set()).add(g["body"])
    n["webhooks received (wake's endpoint)"] = len(got)
    n["distinct webhook-ids received"] = len(by_id)
    n["repeated deliveries (same webhook-id)"] = len(got) - len(by_id)
    changed = [i for i, b in by_id.items() if len(b) > 1]
    if changed:
        v.append(f"a webhook-id delivered with different bodies: {changed[:5]}")
    eff = {}
    for g in got:
        if g["type"] and any(t in g["type"] for t in ("decision.made", "credential.issued",
                                                      "submission.submitted")):
            eff.setdefault((g["type"], g["subject"]), set()).add(g["id"])
    dup_recv = {k: ids for k, ids in eff.items() if len(ids) > 1}
    if dup_recv:
        v.append(f"receiver saw one event under several webhook-ids: {list(dup_recv.items())[:3]}")
    unsigned = [g["id"] for g in got if not g["valid"]]
    n["webhooks with a valid signature"] = len(got) - len(unsigned)

    # capacity: sampled during the run, and now
    pipe.check_capacity_once()
    n["capacity samples"] = pipe.cap_samples
    n["peak open assignments of one assessor"] = max(pipe.cap_peak.values(), default=0)
    n["max_open"] = pipe.capacity
    if pipe.cap_violations:
        v.append(f"assessor over capacity in {len(pipe.cap_violations)} samples:"
                 f" {pipe.cap_violations[:5]}")
    if pipe.unexpected_exits:
        n["daemon exits not caused by the run"] = len(pipe.unexpected_exits)
    return n, v


def print_checked(n, v):
    log("\nCHECKED")
    for k, val in n.items():
        log(f"  {k:<52} {val}")
    if v:
        log(f"\nVIOLATIONS ({len(v)})")
        for x in v:
            log(f"  - {x}")
    else:
        log("\nno violation")
