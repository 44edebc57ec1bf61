#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The fault run: N text-evidence submissions through all seven daemons (produced straight
onto <prefix>submissions as submission.submitted events; scripted assessors score through
the gateway) while daemons are SIGKILLed at random and started again, Redis is restarted
empty, PostgreSQL is restarted and the Kafka broker is restarted; then, at quiescence, the
invariants are checked with SQL (bench/pipeline/harness.py: check_invariants):

  * no submission lost or stuck: every one produced is recorded and decided or rejected;
  * no assignment beyond the required count: per submission, primary assignments (open or
    completed) = the credential's assessors_required, at most one tie-break, no assessor
    twice;
  * no duplicate credential: exactly one per current earned decision, none otherwise; one
    decision per submission;
  * no duplicate webhook effect: webhook_deliveries unique per endpoint + event, one per
    (type, subject) for submitted/decided/issued; the receiver saw each event under one
    webhook-id (repeats with the same id allowed);
  * no assessor over capacity: open assignments per assessor <= max_open, sampled every
    second during the run and at the end.

Prints the counts it checked; exits 1 on any violation, 2 if the run did not quiesce.

    bench/pipeline/fault_run.py [--submissions 2000] [--duration 300] [--stack-env stack.env]

Without --stack-env it starts its own stack (deploy/local/stack.sh) in /tmp and stops it.
"""

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import log  # noqa: E402


def run(stack, build, work, submissions, duration, capacity=8, fault_interval=None, seed=1,
        schedule=None, quiesce_timeout=600):
    """The whole run; returns (counts, violations, faults, quiesced seconds or None).

    schedule: a list of fault names ('kill:<svc>', 'kill', 'redis', 'postgres', 'kafka') run
    in order, one per fault_interval; else a random mix that includes each kind."""
    rng = random.Random(seed)
    pipe = harness.Pipeline(stack, build, work, capacity=capacity, seed=seed)
    try:
        log("== world and daemons")
        pipe.start()
        faults = harness.Faults(pipe, rng)
        if schedule is None:
            schedule = ["kill", "kill", "redis", "kill", "postgres", "kill", "kafka", "kill"]
        interval = fault_interval or max(duration / (len(schedule) + 1), 3)
        rate = submissions / duration if duration else None
        log(f"== {submissions} submissions over ~{duration}s, a fault every {interval:.0f}s:"
            f" {', '.join(schedule)}")
        pipe.start_assessors()
        prod = threading.Thread(target=pipe.produce, args=(submissions, rate), daemon=True)
        t0 = time.monotonic()
        prod.start()
        i = 0
        next_fault = time.monotonic() + interval
        while prod.is_alive() or i < len(schedule):
            pipe.restart_dead_daemons()
            if time.monotonic() >= next_fault:
                kind = schedule[i % len(schedule)]
                i += 1
                try:
                    if kind.startswith("kill"):
                        faults.kill_daemon(kind.split(":", 1)[1] if ":" in kind else None)
                    else:
                        getattr(faults, f"restart_{kind}")()
                except Exception as e:
                    log(f"  fault {kind} failed: {e!r:.300}")
                next_fault = time.monotonic() + interval
                if i >= len(schedule) and not prod.is_alive():
                    break
                if i >= len(schedule):
                    # production still running: keep killing daemons until it ends
                    schedule = schedule + ["kill"]
            time.sleep(0.2)
        prod.join()
        log(f"== produced {len(pipe.produced)} in {time.monotonic() - t0:.0f}s; "
            f"faults: {faults.kinds()}; waiting for quiescence")
        quiet = pipe.wait_quiescent(quiesce_timeout)
        pipe.stop_assessors()
        if quiet is None:
            log(f"  NOT quiescent after {quiesce_timeout}s")
        else:
            log(f"  quiescent {quiet:.0f}s after the last submission was produced")
        n, v = harness.check_invariants(pipe)
        n["faults: SIGKILL / Redis / PostgreSQL / Kafka"] = " / ".join(
            str(x) for x in faults.kinds().values())
        if pipe.unexpected_exits:
            for e in pipe.unexpected_exits:
                log(f"  daemon exited on its own: {e}")
        if pipe.last_assessor_error:
            log(f"  assessor errors {pipe.assessor_errors} (retried); last: "
                f"{pipe.last_assessor_error}")
        return n, v, faults, quiet, pipe
    finally:
        pipe.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--submissions", type=int, default=2000)
    ap.add_argument("--duration", type=float, default=300,
                    help="seconds over which the submissions are produced (faults meanwhile)")
    ap.add_argument("--stack-env", default=os.environ.get("BADGEFLOW_STACK_ENV"))
    ap.add_argument("--build", default=os.environ.get("BADGEFLOW_BUILD_DIR",
                                                      harness.ROOT / "build"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--capacity", type=int, default=8, help="each assessor's max_open")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quiesce-timeout", type=float, default=900)
    args = ap.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="bf-fault-run-", dir="/tmp")
    stack = harness.StackCtl.open(args.stack_env)
    log(f"stack {stack.dir}; work {work}")
    try:
        n, v, faults, quiet, _ = run(stack, args.build, work, args.submissions, args.duration,
                                     capacity=args.capacity, seed=args.seed,
                                     quiesce_timeout=args.quiesce_timeout)
    finally:
        stack.stop()
    log("\nFAULTS")
    for t, what in faults.done:
        log(f"  {t}  {what}")
    harness.print_checked(n, v)
    if quiet is None:
        return 2
    return 1 if v else 0


if __name__ == "__main__":
    sys.exit(main())
