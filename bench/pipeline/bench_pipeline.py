#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The pipeline benchmark: N synthetic text-evidence submissions through all seven daemons
(produced at once onto <prefix>submissions as submission.submitted events; synthetic
assessors score through the gateway as soon as assignments appear), and in the same run the
reference: a bare consume-and-produce relay (confluent_kafka, one process per hop) through the
same number of Kafka hops on the same broker.

Hops a submission takes to reach credential.issued (topics in the chain, one stage between
each pair):
    submissions --transcoder--> submissions.ready --router--> assignments
    --(assessor over HTTP, gateway)--> scores --scorer--> decisions --issuer--> credentials
6 topics, so 5 consume-and-produce hops (K = 5; the assessor's HTTP step is counted as a hop,
the gateway producing onto scores). The relay pushes N records of the submission's size
through 6 topics by 5 relays.

Prints and writes bench/pipeline/RESULTS.md: sustained submissions/s end to end, p50/p99
submission-to-credential latency (submissions.received_at to credentials.issued_at, both
PostgreSQL's clock), per-stage throughput (submission_events), CPU seconds and peak RSS per
daemon (/proc/<pid>/stat, VmHWM), the relay's records/s, and the machine.

    bench/pipeline/bench_pipeline.py [--submissions 500] [--stack-env stack.env]
"""

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import driver, log  # noqa: E402

HERE = Path(__file__).resolve().parent
CHAIN = ["submissions", "submissions.ready", "assignments", "scores", "decisions", "credentials"]
CLK = os.sysconf("SC_CLK_TCK")


# ---- /proc ----------------------------------------------------------------------------------


def proc_usage(pid):
    """(cpu seconds user+system, peak RSS KiB) of pid, its reaped children (cutime, cstime) and
    its live children (the transcoder's workers are children)."""
    def one(p):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            cpu = sum(int(x) for x in fields[11:15]) / CLK  # utime stime cutime cstime
            hwm = 0
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
            return cpu, hwm
        except (OSError, ValueError, IndexError):
            return 0.0, 0
    cpu, hwm = one(pid)
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    for k in kids:
        c, h = one(k)
        cpu += c
        hwm = max(hwm, h)
    return cpu, hwm


# ---- the reference relay ---------------------------------------------------------------------


def _relay(brokers, src, dst, group, n, ready):
    from confluent_kafka import Consumer, Producer, TopicPartition
    c = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": True,
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10})
    md = c.list_topics(src, timeout=10)
    c.assign([TopicPartition(src, p, -2) for p in md.topics[src].partitions])
    p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 5})
    ready.set()
    done = 0
    while done < n:
        for m in c.consume(500, 0.1):
            if m.error():
                continue
            while True:
                try:
                    p.produce(dst, key=m.key(), value=m.value(), headers=m.headers())
                    break
                except BufferError:
                    p.poll(0.05)
            done += 1
        p.poll(0)
    p.flush(60)
    c.close()


def relay_reference(brokers, n, record, prefix):
    """N records of `record` bytes through len(CHAIN) topics by len(CHAIN) - 1 relay
    processes; returns (records/s from the first produce to the last record read, seconds)."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    topics = [prefix + t for t in CHAIN]
    admin = AdminClient({"bootstrap.servers": brokers})
    for f in admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1)
                                  for t in topics], operation_timeout=15).values():
        f.result()
    time.sleep(1)
    ctx = mp.get_context("spawn")
    procs, readies = [], []
    for i in range(len(topics) - 1):
        ev = ctx.Event()
        pr = ctx.Process(target=_relay, args=(brokers, topics[i], topics[i + 1],
                                              f"{prefix}relay{i}", n, ev), daemon=True)
        pr.start()
        procs.append(pr)
        readies.append(ev)
    for ev in readies:
        ev.wait(30)
    last = Consumer({"bootstrap.servers": brokers, "group.id": prefix + "sink",
                     "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    md = last.list_topics(topics[-1], timeout=10)
    last.assign([TopicPartition(topics[-1], p, -2) for p in md.topics[topics[-1]].partitions])
    prod = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 5})
    time.sleep(1)
    t0 = time.monotonic()
    for i in range(n):
        while True:
            try:
                prod.produce(topics[0], key=f"r{i}".encode(), value=record,
                             headers=[("ce_id", str(uuid.uuid4()).encode())])
                break
            except BufferError:
                prod.poll(0.05)
        prod.poll(0)
    prod.flush(60)
    got = 0
    deadline = time.monotonic() + 300
    while got < n and time.monotonic() < deadline:
        got += sum(1 for m in last.consume(500, 0.2) if not m.error())
    dt = time.monotonic() - t0
    last.close()
    for pr in procs:
        pr.join(10)
        if pr.is_alive():
            pr.terminate()
    admin.delete_topics(topics)
    if got < n:
        raise RuntimeError(f"relay: {got} of {n} records arrived")
    return n / dt, dt


# ---- the measurements -----------------------------------------------------------------------


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, round(p / 100 * (len(sorted_vals) - 1))))
    return sorted_vals[i]


def measure(pipe):
    ctx, tenants = pipe.ctx, pipe.tenants
    lat = sorted(r[0] for r in ctx.query(
        "SELECT extract(epoch FROM c.issued_at - s.received_at) FROM credentials c"
        " JOIN submissions s ON s.tenant_id = c.tenant_id AND s.id = c.submission_id"
        " WHERE c.tenant_id IN (%s, %s) AND c.kind = 'credential'", tenants))
    first, last_c, last_d = ctx.query(
        "SELECT min(s.received_at), max(c.issued_at), max(s.decided_at) FROM submissions s"
        " LEFT JOIN credentials c ON c.tenant_id = s.tenant_id AND c.submission_id = s.id"
        " WHERE s.tenant_id IN (%s, %s)", tenants)[0]
    span = (max(x for x in (last_c, last_d) if x) - first).total_seconds()
    stages = ctx.query(
        "SELECT to_state, count(*), min(at), max(at) FROM submission_events"
        " WHERE tenant_id IN (%s, %s) GROUP BY 1", tenants)
    st = {}
    for s, n, a, b in stages:
        st[s] = (n, (b - a).total_seconds())
    c_n, c_a, c_b = ctx.query("SELECT count(*), min(issued_at), max(issued_at) FROM credentials"
                              " WHERE tenant_id IN (%s, %s) AND kind = 'credential'", tenants)[0]
    st["credential issued"] = (c_n, (c_b - c_a).total_seconds() if c_n else 0)
    return lat, span, st


def machine():
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    free = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.rstrip()
    return model, nproc, free


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--submissions", type=int, default=500)
    ap.add_argument("--stack-env", default=os.environ.get("BADGEFLOW_STACK_ENV"))
    ap.add_argument("--build", default=os.environ.get("BADGEFLOW_BUILD_DIR",
                                                      harness.ROOT / "build"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--capacity", type=int, default=200, help="each assessor's max_open")
    ap.add_argument("--assessor-threads", type=int, default=4)
    ap.add_argument("--relay-records", type=int, default=None,
                    help="records through the reference relay (default: --submissions)")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args(argv)
    n = args.submissions
    work = args.work or tempfile.mkdtemp(prefix="bf-bench-pipe-", dir="/tmp")
    stack = harness.StackCtl.open(args.stack_env)
    log(f"stack {stack.dir}; work {work}")
    pipe = harness.Pipeline(stack, args.build, work, capacity=args.capacity,
                            plans={"earn": 1.0}, assessor_threads=args.assessor_threads)
    try:
        pipe.start()
        pids = {svc: p.pid for svc, p in pipe.daemons.procs.items()}
        before = {svc: proc_usage(pid) for svc, pid in pids.items()}
        pipe.start_assessors(sample_interval=2.0)
        log(f"== {n} submissions produced at once; assessors answering")
        t0 = time.time()
        pipe.produce(n)
        log(f"  produced in {time.time() - t0:.1f}s")
        quiet = pipe.wait_quiescent(args.timeout)
        wall = time.time() - t0
        after = {svc: proc_usage(pid) for svc, pid in pids.items()}
        pipe.stop_assessors()
        if quiet is None:
            raise SystemExit(f"not quiescent after {args.timeout}s")
        if pipe.daemons.dead():
            raise SystemExit(f"daemons died: {pipe.daemons.dead()}")
        lat, span, stages = measure(pipe)
        issued = pipe.ctx.query(
            "SELECT submission_id, extract(epoch FROM issued_at) FROM credentials"
            " WHERE tenant_id IN (%s, %s) AND kind = 'credential'", pipe.tenants)
        lat_p = sorted(float(at) - pipe.produced[sid] for sid, at in issued
                       if sid in pipe.produced)
        last_issued = max(float(at) for _, at in issued)
        c, creds = pipe.counts()
        sample = json.dumps({"submission_id": "wake-syn-000001", "tenant_id": "wake",
                             "evidence": pipe.items[(pipe.ctx.wake, harness.TEXT_CREDS[0])],
                             "educator": {"id": "x" * 20, "name": "y" * 20,
                                          "email": "z" * 30}}).encode()
        brokers = pipe.ctx.brokers
    finally:
        pipe.close()
    try:
        m = args.relay_records or n
        log(f"== reference relay: {m} records of {len(sample)} bytes"
            f" through {len(CHAIN)} topics ({len(CHAIN) - 1} hops)")
        relay_rate, relay_s = relay_reference(brokers, m, sample,
                                              f"relay{uuid.uuid4().hex[:6]}.")
    finally:
        stack.stop()

    model, nproc, free = machine()
    rate = creds / span if span else float("nan")
    rows = [("submissions", n), ("credentials issued", creds),
            ("states", ", ".join(f"{k} {v}" for k, v in sorted(c.items()))),
            ("sustained end to end (credentials / (last issued - first received))",
             f"{rate:.1f} submissions/s over {span:.1f} s"),
            ("sustained, first produce to last credential issued",
             f"{creds / (last_issued - t0):.1f} submissions/s over {last_issued - t0:.1f} s"),
            ("wall clock, first produce to quiescence", f"{wall:.1f} s"),
            ("latency produced -> credential issued, p50 / p99",
             f"{pct(lat_p, 50):.2f} s / {pct(lat_p, 99):.2f} s"),
            ("latency received -> credential issued, p50", f"{pct(lat, 50):.2f} s"),
            ("latency received -> credential issued, p99", f"{pct(lat, 99):.2f} s"),
            ("latency max", f"{lat[-1] if lat else float('nan'):.2f} s"),
            (f"reference: bare relay, {len(CHAIN) - 1} hops ({len(CHAIN)} topics), "
             f"{args.relay_records or n} records of {len(sample)} B",
             f"{relay_rate:.0f} records/s ({relay_s:.2f} s)"),
            ("pipeline / relay", f"{rate / relay_rate:.3f}")]
    order = ["received", "processing", "ready", "in_review", "decided", "credential issued"]
    stage_rows = [(s, stages[s][0], stages[s][1],
                   stages[s][0] / stages[s][1] if stages[s][1] else float("nan"))
                  for s in order if s in stages]
    daemon_rows = [(svc, after[svc][0] - before[svc][0], after[svc][0], after[svc][1] / 1024)
                   for svc in driver.SERVICES]

    out = ["# Pipeline benchmark", "",
           f"`bench/pipeline/bench_pipeline.py --submissions {n}` on {time.strftime('%Y-%m-%d')}.",
           "", f"Machine: {model}, nproc {nproc}; `free -g`:", "", "```", free, "```", "",
           "Stack: deploy/local/stack.sh (PostgreSQL, Redis, one Kafka broker on loopback) on "
           "the same machine as the seven daemons, the assessors (Python, "
           f"{args.assessor_threads} threads over 12 assessors, max_open {args.capacity}) and "
           "the producer. Submissions: text evidence (a document uploaded once and a reflection)"
           " against four text credentials (two single-scored, two double-scored), every one "
           "scored to earn; produced at once onto `submissions` as submission.submitted.",
           "", "| measure | value |", "| --- | --- |"]
    out += [f"| {a} | {b} |" for a, b in rows]
    out += ["", "Per stage (submission_events: rows entering the state; rate = rows / "
            "(last - first) of that state):", "", "| stage | rows | span s | per s |",
            "| --- | --- | --- | --- |"]
    out += [f"| {s} | {k} | {d:.1f} | {r:.1f} |" for s, k, d, r in stage_rows]
    out += ["", "Per daemon (/proc/<pid>/stat utime+stime, with live children; VmHWM):", "",
            "| daemon | CPU s during the run | CPU s since start | peak RSS MiB |",
            "| --- | --- | --- | --- |"]
    out += [f"| badgeflow-{s} | {d:.2f} | {t:.2f} | {m:.1f} |" for s, d, t, m in daemon_rows]
    out += ["", "Hops: submissions -> (transcoder) submissions.ready -> (router) assignments -> "
            "(assessor over HTTP, gateway) scores -> (scorer) decisions -> (issuer) credentials:"
            f" {len(CHAIN)} topics, {len(CHAIN) - 1} hops. The relay is {len(CHAIN) - 1} Python "
            "processes (confluent_kafka), each consuming one topic and producing to the next, "
            "idempotent producer, linger 5 ms; rate = records / (first produce to last record "
            "read at the end).", ""]
    text = "\n".join(out)
    Path(args.out).write_text(text)
    log("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
