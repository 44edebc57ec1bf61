#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issuer benchmark (not a test): issue N credentials end to end through the real daemon on
the real stack (decision.made on Kafka → signed OpenBadgeCredential committed in PostgreSQL
→ credential.issued in the outbox) and print credentials/s beside the same run's raw OpenSSL
signing rate for the same algorithm (`openssl speed -seconds 3 ecdsap256` or rsa2048).

    BADGEFLOW_BUILD_DIR=build BADGEFLOW_STACK_ENV=/tmp/stack/stack.env \
        bench/issuer/bench_issuer.py [-n 2000] [--alg ES256|RS256]

Without BADGEFLOW_STACK_ENV it starts a stack with deploy/local/stack.sh and stops it after.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "tests" / "integration" / "issuer"))
import conftest as it  # noqa: E402
import issuer_fixtures as fx  # noqa: E402


def openssl_rate(alg):
    algo = "ecdsap256" if alg == "ES256" else "rsa2048"
    out = subprocess.run(["openssl", "speed", "-seconds", "3", algo], capture_output=True,
                         text=True, timeout=120).stdout
    line = [ln for ln in out.splitlines() if re.match(r"^\s*(256 bits ecdsa|rsa\s+2048)", ln)][-1]
    nums = re.findall(r"[\d.]+", line.split(")")[-1] if "ecdsa" in line else line)
    # columns: sign s, verify s, sign/s, verify/s
    return float(nums[-2]), line.strip()


def seed(db, kafka, cli, n, alg):
    w = fx.World(db, kafka, cli)
    w.cli.run("issuer", "key", "generate", "--tenant", w.tenant, "--alg", alg)
    edu = w.educator()
    decisions = [w.decision(edu, produce=False) for _ in range(n)]
    return w, decisions


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--alg", choices=["ES256", "RS256"], default="ES256")
    args = ap.parse_args()
    given = os.environ.get("BADGEFLOW_STACK_ENV")
    scratch = None
    if not given:
        scratch = tempfile.mkdtemp(prefix="bf-bench-issuer-")
        subprocess.run([str(it.STACK_SH), "start"], env=dict(os.environ,
                       BADGEFLOW_STACK_DIR=scratch), check=True, capture_output=True)
        given = f"{scratch}/stack.env"
    stack = it.Stack(it.read_env_file(given))
    try:
        run(stack, args)
    finally:
        if scratch:
            subprocess.run([str(it.STACK_SH), "stop"], env=dict(os.environ,
                           BADGEFLOW_STACK_DIR=scratch), capture_output=True)


def run(stack, args):
    it.migrate(stack)
    db = it.Db(stack.conninfo)
    kafka = it.Kafka(stack.brokers, f"bench{uuid.uuid4().hex[:8]}.")
    kafka.create_topics(fx.TOPICS)
    cli = fx.Cli(stack)
    cli.run("catalogue", "load")
    w, decisions = seed(db, kafka, cli, args.n, args.alg)
    tmp = Path(tempfile.mkdtemp(prefix="bf-bench-issuer-d-"))
    ds = it.Daemons(stack, tmp)
    port = fx.free_port()
    cfg = ds.config(kafka, name="issuer", http={"listen": f"127.0.0.1:{port}"},
                    issuer={"base_url": f"http://127.0.0.1:{port}", "kek": fx.KEK,
                            "alg": args.alg})
    d = ds.start(cfg, binary=it.BUILD / "services" / "issuer" / "badgeflow-issuer")
    try:
        d.wait_ready()
        for dec in decisions:
            kafka.produce("decisions", dec,
                          it.ce_headers(fx.DECISION, ce_subject=dec["submission_id"]),
                          key=dec["submission_id"].encode())
        kafka.flush()
        t0 = time.monotonic()
        first = None
        while True:
            n = db.scalar("SELECT count(*) FROM credentials WHERE tenant_id = %s", (w.tenant,))
            if n and first is None:
                first = time.monotonic()
            if n >= args.n:
                break
            time.sleep(0.05)
        t1 = time.monotonic()
        metrics = d.http("/metrics")[1]
        span = db.scalar("SELECT extract(epoch FROM max(issued_at) - min(issued_at))"
                         " FROM credentials WHERE tenant_id = %s", (w.tenant,))
    finally:
        ds.stop_all()
    rate = (args.n - 1) / float(span) if span else float("nan")
    hsum = re.search(r'^badgeflow_handler_seconds_sum\{topic="decisions"\} ([\d.e+-]+)', metrics, re.M)
    hcnt = re.search(r'^badgeflow_handler_seconds_count\{topic="decisions"\} (\d+)', metrics, re.M)
    per = float(hsum.group(1)) / int(hcnt.group(1)) if hsum and hcnt else float("nan")
    sign_rate, line = openssl_rate(args.alg)
    print(f"issuer benchmark: {args.n} credentials, {args.alg}, one daemon, one record per"
          f" PostgreSQL transaction")
    print(f"  credentials/s (first to last commit)  {rate:10.1f}   ({span:.2f} s)")
    print(f"  wall from first produce to last row   {t1 - t0:10.2f} s")
    print(f"  mean record transaction (handler+COMMIT) {per * 1000:8.2f} ms   (/metrics)")
    print(f"  load average                          {os.getloadavg()[0]:10.2f}")
    print(f"  openssl speed sign/s ({args.alg})        {sign_rate:10.1f}   [{line}]")
    print(f"  ratio issuer / raw signing            {rate / sign_rate:10.4f}")


if __name__ == "__main__":
    main()
