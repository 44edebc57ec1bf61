# SPDX-License-Identifier: Apache-2.0
"""The fault run, short: bench/pipeline/fault_run.py's code (imported) with 80 text-evidence
submissions through all seven daemons while the router, scorer and issuer are SIGKILLed and
started again, Redis is restarted empty and PostgreSQL is restarted; then the same invariants:
nothing lost or stuck, no assignment beyond the required count, one credential per earned
decision, no duplicate webhook effect, no assessor over capacity.

Restarts the stack's Redis and PostgreSQL (stack.sh stop-component/start-component), so the
other tests of the session must not be running at the same time (they are not: pytest runs
them in order). About two minutes.

    BADGEFLOW_STACK_ENV=... /usr/bin/python3 -m pytest tests/integration/pipeline/test_fault.py
"""
import pytest

import sys

from conftest import BUILD, ROOT

sys.path.insert(0, str(ROOT / "bench" / "pipeline"))
import fault_run  # noqa: E402
import harness  # noqa: E402


# This short variant kills daemons and restarts Redis and PostgreSQL; the full fault run
# (bench/pipeline/fault_run.py) also restarts the broker.
def test_faults_lose_nothing_and_duplicate_nothing(stack, db, tmp_path):
    st = harness.StackCtl(stack.env)
    n, violations, faults, quiet, _ = fault_run.run(
        st, BUILD, tmp_path / "work", submissions=80, duration=40, capacity=4,
        fault_interval=8, quiesce_timeout=150,
        schedule=["kill:router", "redis", "kill:scorer", "postgres", "kill:issuer"])
    harness.print_checked(n, violations)
    kinds = faults.kinds()
    assert kinds["sigkill"] >= 3 and kinds["redis"] >= 1 and kinds["postgres"] >= 1, faults.done
    assert quiet is not None, "the pipeline did not quiesce"
    assert n["submissions produced"] == n["submissions recorded"] == 80
    assert n["credentials"] == n["decided earned"] > 0
    assert n["capacity samples"] > 10
    assert violations == []
