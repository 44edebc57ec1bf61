#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Router benchmark (not a test): N ready submissions over M assessors through the real
badgeflow-router on the real stack. Prints assignments per second, p50/p99 Redis claim
latency (from the daemon's histogram), and, as the reference it should approach, the same
Redis's `redis-benchmark` rate for EVALSHA of the router's own claim script with the same
number of candidates.

    bench/router/bench_router.py [--n 2000] [--m 50] [--batch-max B] [--stack-env FILE]
                                 [--build DIR]

Without --stack-env it starts a stack with deploy/local/stack.sh and stops it at the end.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg2
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "demo"))
from driver import clean_env, read_env_file as env_file  # noqa: E402

CRED = "pl.learner-profiles"


def sql(conninfo, q, params=None, fetch=False):
    with psycopg2.connect(conninfo) as c, c.cursor() as cur:
        cur.execute(q, params)
        return cur.fetchall() if fetch else None


def seed(conninfo, build, n, m):
    subprocess.run([str(build / "tests" / "bf_migrate"), str(ROOT / "db" / "migrations")],
                   env=clean_env(BADGEFLOW_POSTGRES_CONNINFO=conninfo), check=True,
                   capture_output=True)
    subprocess.run([str(build / "tools" / "cli" / "badgeflow"), "catalogue", "load",
                    str(ROOT / "config" / "catalogue")],
                   env=clean_env(BADGEFLOW_POSTGRES_CONNINFO=conninfo), check=True,
                   capture_output=True)
    tag = "bench" + uuid.uuid4().hex[:6]
    ver = sql(conninfo, "SELECT latest_version FROM catalogue_credentials WHERE id = %s",
              (CRED,), True)[0][0]
    cap = (n + m - 1) // m
    sql(conninfo, "INSERT INTO tenants (id, kind, name) VALUES (%s, 'district', %s)", (tag, tag))
    sql(conninfo, "INSERT INTO educators (tenant_id, id) VALUES (%s, 'e1')", (tag,))
    sql(conninfo, "INSERT INTO assessors (id, tenant_id, name, max_open)"
        " SELECT %s || '-a' || g, %s, 'A', %s FROM generate_series(1, %s) g", (tag, tag, cap, m))
    sql(conninfo, "INSERT INTO assessor_qualifications (assessor_id, credential_id)"
        " SELECT id, %s FROM assessors WHERE tenant_id = %s", (CRED, tag))
    sql(conninfo, "INSERT INTO submissions (tenant_id, id, educator_id, credential_id,"
        " credential_version, state) SELECT %s, 's' || g, 'e1', %s, %s, 'ready'"
        " FROM generate_series(1, %s) g", (tag, CRED, ver, n))
    return tag, ver


def histogram_quantiles(text, name, qs):
    buckets = []
    for le, v in re.findall(rf'{name}_bucket\{{le="([^"]+)"\}} ([0-9.e+]+)', text):
        buckets.append((float("inf") if le == "+Inf" else float(le), float(v)))
    total = buckets[-1][1] if buckets else 0
    out = []
    for q in qs:
        want, prev_le, prev_c = q * total, 0.0, 0.0
        for le, c in buckets:
            if c >= want:  # linear inside the bucket, as Prometheus' histogram_quantile
                if le == float("inf"):
                    out.append(prev_le)
                else:
                    out.append(prev_le + (le - prev_le) * ((want - prev_c) / max(c - prev_c, 1)))
                break
            prev_le, prev_c = le, c
    return out, total


def redis_reference(host, port, m):
    """redis-benchmark EVALSHA of the router's claim script with m candidates."""
    src = (ROOT / "services" / "router" / "router_redis.c").read_text()
    body = src.split('.name = "router_claim"', 1)[1].split("};", 1)[0]
    lua = "".join(json.loads(s) for s in re.findall(r'("(?:[^"\\]|\\.)*")', body))
    cli = ["redis-cli", "-h", host, "-p", str(port)]
    sha = subprocess.run(cli + ["SCRIPT", "LOAD", lua], capture_output=True, text=True,
                         check=True).stdout.strip()
    p = "bench:ref:"
    subprocess.run(cli + ["SET", p + "gen", "g"], check=True, capture_output=True)
    args = ["EVALSHA", sha, "5", p + "gen", p + "load", p + "last", p + "lease", p + "fence",
            "g", "1", "id:__rand_int__", str(m)]
    for i in range(m):
        args += [f"a{i}", "1000000000", "1"]
    out = subprocess.run(["redis-benchmark", "-h", host, "-p", str(port), "-n", "20000", "-c",
                          "4", "-r", "1000000", "-q", *args],
                         capture_output=True, text=True, check=True).stdout
    subprocess.run(cli + ["EVAL", "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do"
                          " redis.call('DEL', k) end", "0", p + "*"], capture_output=True)
    rate = re.findall(r"([0-9.]+) requests per second", out)
    return float(rate[-1]) if rate else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="ready submissions")
    ap.add_argument("--m", type=int, default=50, help="assessors")
    ap.add_argument("--batch-max", type=int,
                    help="the daemon's daemon.batch_max (default: the daemon's own default)")
    ap.add_argument("--stack-env", help="a running stack's stack.env (default: start one)")
    ap.add_argument("--build", default=str(ROOT / "build"), help="build directory")
    a = ap.parse_args()
    build = Path(a.build)
    scratch = None
    if not a.stack_env:
        scratch = tempfile.mkdtemp(prefix="bf-bench-router-")
        subprocess.run([str(ROOT / "deploy" / "local" / "stack.sh"), "start"], check=True,
                       env=dict(os.environ, BADGEFLOW_STACK_DIR=scratch), capture_output=True)
        a.stack_env = os.path.join(scratch, "stack.env")
    env = env_file(a.stack_env)
    router = None
    try:
        conninfo, brokers = env["BADGEFLOW_POSTGRES_CONNINFO"], env["BADGEFLOW_KAFKA_BROKERS"]
        rhost, rport = env["BADGEFLOW_REDIS_HOST"], env["BADGEFLOW_REDIS_PORT"]
        tag, ver = seed(conninfo, build, a.n, a.m)
        prefix = tag + "."
        admin = AdminClient({"bootstrap.servers": brokers})
        for f in admin.create_topics([NewTopic(prefix + t, num_partitions=4, replication_factor=1)
                                      for t in ("submissions.ready", "routing", "assignments",
                                                "submissions.ready.dlq", "routing.dlq")
                                      ]).values():
            f.result()
        work = Path(tempfile.mkdtemp(prefix="bf-bench-router-run-"))
        conf = work / "router.conf"
        conf.write_text(f"[log]\nlevel = info\n[http]\nlisten = 127.0.0.1:0\n"
                        f"[kafka]\nbrokers = {brokers}\ntopic_prefix = {prefix}\n"
                        f"[postgres]\nconninfo = {conninfo}\n"
                        f"[redis]\nhost = {rhost}\nport = {rport}\n"
                        f"[router]\nredis_prefix = {prefix}r:\n"
                        + (f"[daemon]\nbatch_max = {a.batch_max}\n" if a.batch_max else ""))
        port_file = work / "router.log"
        router = subprocess.Popen([str(build / "services" / "router" / "badgeflow-router"),
                                   "--config", str(conf)], env=clean_env(),
                                  stderr=open(port_file, "w"))
        port = None
        for _ in range(300):
            for line in port_file.read_text().splitlines():
                if '"BF_DAEMON_HTTP"' in line and '"port"' in line:
                    port = json.loads(line)["port"]
            if port:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz").status == 200:
                        break
                except Exception:
                    pass
            time.sleep(0.1)
        evidence = json.loads((ROOT / "schemas" / "events" / "examples" /
                               "submission.ready.v1.json").read_text())["evidence"]
        prod = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
        for i in range(1, a.n + 1):
            sub = f"s{i}"
            data = {"submission_id": sub, "tenant_id": tag, "credential_id": CRED,
                    "credential_version": ver, "attempt": 1, "evidence": evidence}
            hdr = [("ce_specversion", b"1.0"), ("ce_id", str(uuid.uuid4()).encode()),
                   ("ce_source", b"/bench"), ("ce_type", b"org.badgeflow.submission.ready.v1"),
                   ("ce_time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode()),
                   ("content-type", b"application/json")]
            prod.produce(prefix + "submissions.ready", json.dumps(data).encode(),
                         key=sub.encode(), headers=hdr)
            prod.poll(0)
        prod.flush(60)
        t0 = time.monotonic()
        while True:
            # created_at is the time a transaction began, so the end is when the last row
            # became visible (seen within 50 ms), not the last created_at: a batch of records
            # in one transaction is timed to its commit.
            count, first, seen = sql(conninfo, "SELECT count(*), min(created_at),"
                                     " clock_timestamp() FROM assignments WHERE tenant_id = %s",
                                     (tag,), True)[0]
            if count >= a.n:
                break
            if time.monotonic() - t0 > 600:
                sys.exit("timed out waiting for the assignments")
            time.sleep(0.05)
        span = (seen - first).total_seconds()
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        (p50, p99), nclaims = histogram_quantiles(metrics, "badgeflow_router_claim_seconds",
                                                  (0.5, 0.99))
        ref = redis_reference(rhost, rport, a.m)
        over = sql(conninfo, "SELECT count(*) FROM (SELECT x.assessor_id FROM assignments x"
                   " JOIN assessors s ON s.id = x.assessor_id WHERE x.tenant_id = %s AND"
                   " x.state = 'open' GROUP BY 1, s.max_open HAVING count(*) > s.max_open) q",
                   (tag,), True)[0][0]
        print(f"router benchmark: {a.n} ready submissions over {a.m} assessors "
              f"({os.cpu_count()} cores, shared), daemon.batch_max "
              f"{a.batch_max or 'default'}")
        print(f"  assignments/s (first begun to last seen) : {a.n / span:10.1f}")
        print(f"  claims measured                          : {int(nclaims):10d}")
        print(f"  claim latency p50 / p99 (ms)             : {p50 * 1000:10.3f} / {p99 * 1000:.3f}")
        print(f"  reference: redis-benchmark EVALSHA claim : {ref:10.1f} /s "
              f"(same script, {a.m} candidates, 4 clients)")
        print(f"  ratio assignments/s : EVALSHA/s          : {a.n / span / ref:10.4f}")
        print(f"  assessors over capacity                  : {over:10d}")
    finally:
        if router:
            router.terminate()
            router.wait(30)
        if scratch:
            subprocess.run([str(ROOT / "deploy" / "local" / "stack.sh"), "stop"],
                           env=dict(os.environ, BADGEFLOW_STACK_DIR=scratch),
                           capture_output=True)


if __name__ == "__main__":
    main()
