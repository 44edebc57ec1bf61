# SPDX-License-Identifier: Apache-2.0
"""The admin CLI against the real stack: what an operator types, and what it exits with.

Each test run gets a database of its own (so `migrate` really starts from nothing) and a
topic prefix of its own.
"""
import json
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest

from conftest import BUILD, ROOT, clean_env

sys.path.insert(0, str(ROOT / "tests" / "schemas"))
import bfschema  # noqa: E402

CLI = BUILD / "tools" / "cli" / "badgeflow"
CREDENTIAL = "cl.cultivating-a-shared-purpose"


@pytest.fixture(scope="module")
def cli_db(stack):
    """A fresh database, dropped afterwards; returns its conninfo."""
    name = f"bf_cli_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(stack.admin_conninfo)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name} OWNER badgeflow")
    conninfo = stack.conninfo.replace("dbname=badgeflow", f"dbname={name}")
    yield conninfo
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture(scope="module")
def run(stack, cli_db):
    prefix = f"cli{uuid.uuid4().hex[:8]}."
    env = clean_env(BADGEFLOW_POSTGRES_CONNINFO=cli_db, BADGEFLOW_KAFKA_BROKERS=stack.brokers,
                    BADGEFLOW_KAFKA_TOPIC_PREFIX=prefix, BADGEFLOW_KAFKA_PARTITIONS="2")

    def call(*args, code=0):
        proc = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == code, (f"badgeflow {' '.join(args)} exited "
                                         f"{proc.returncode}, not {code}:\n{proc.stdout}"
                                         f"\n{proc.stderr}")
        return proc
    call.prefix = prefix
    return call


def test_migrate_applies_once(run):
    migrations = sorted((ROOT / "db" / "migrations").glob("*.sql"))
    assert f"applied {len(migrations)} migration(s)" in run("migrate").stdout
    assert "up to date" in run("migrate").stdout


def test_catalogue_validate_load_show(run, tmp_path):
    assert "catalogue is valid: 5 stacks" in run("catalogue", "validate").stdout
    assert "20 new credential versions" in run("catalogue", "load").stdout
    assert "0 new credential versions, 20 unchanged" in run("catalogue", "load").stdout
    shown = run("catalogue", "show").stdout
    assert "collective-leadership: Collective Leadership" in shown
    assert f"{CREDENTIAL} v2: Cultivating a Shared Purpose" in shown

    # A changed version without a bump is refused, naming the credential.
    changed = tmp_path / "catalogue"
    changed.mkdir()
    src = ROOT / "config" / "catalogue" / "collective-leadership.json"
    doc = json.loads(src.read_text())
    doc["credentials"][0]["name"] += " (edited)"
    (changed / src.name).write_text(json.dumps(doc))
    proc = run("catalogue", "load", str(changed), code=4)
    assert "versions are immutable: bump version" in proc.stderr

    # A broken file stops validation with file and field.
    doc["credentials"][0]["rubric"]["criteria"][0]["passing_level"] = "nope"
    (changed / src.name).write_text(json.dumps(doc))
    proc = run("catalogue", "validate", str(changed), code=2)
    assert "collective-leadership.json: credentials[0].rubric.criteria[0].passing_level" \
        in proc.stderr


def test_people_and_keys(run):
    run("tenant", "add", "--id", "nc", "--kind", "state", "--name", "NC DPI")
    run("tenant", "add", "--id", "wake", "--kind", "district", "--parent", "nc",
        "--name", "Wake County")
    assert "exists already" in run("tenant", "add", "--id", "wake", "--kind", "district",
                                   "--name", "Wake", code=4).stderr
    assert "--kind must be state or district" in run(
        "tenant", "add", "--id", "x", "--kind", "county", "--name", "X", code=2).stderr
    assert "parent tenant 'nope' does not exist" in run(
        "tenant", "add", "--id", "y", "--kind", "district", "--parent", "nope", "--name", "Y",
        code=2).stderr
    run("assessor", "add", "--tenant", "nc", "--id", "a1", "--name", "Ada", "--capacity", "3",
        "--credential", CREDENTIAL, "--stack", "virtual-community-organizing")
    assert "stack 'vco' is not in the catalogue" in run(
        "assessor", "add", "--tenant", "nc", "--id", "a2", "--name", "Bo", "--stack", "vco",
        code=2).stderr
    run("pilot", "add", "--tenant", "wake", "--id", "fall", "--name", "Fall pilot", "--starts",
        "2026-09-01", "--ends", "2027-01-31", "--target-reach", "0.75", "--educator", "e1",
        "--educator", "e2", "--stack", "collective-leadership")
    assert "ends: 2026-01-31 is before starts" in run(
        "pilot", "add", "--tenant", "wake", "--id", "p2", "--name", "P", "--starts",
        "2026-09-01", "--ends", "2026-01-31", code=2).stderr
    key = run("apikey", "add", "--tenant", "wake", "--role", "district").stdout.strip()
    assert key.startswith("bfk") and len(key) == 59
    prefix = key.split(".")[0]
    run("apikey", "revoke", "--key", prefix)
    assert "revoked already" in run("apikey", "revoke", "--key", prefix, code=4).stderr
    assert "no API key" in run("apikey", "revoke", "--key", "bfk000000000000", code=3).stderr


def test_stored_key_is_only_a_hash(run, cli_db):
    key = run("apikey", "add", "--tenant", "nc", "--role", "admin").stdout.strip()
    with psycopg2.connect(cli_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT row_to_json(k)::text FROM api_keys k")
        rows = " ".join(r[0] for r in cur.fetchall())
    assert key not in rows and key.split(".")[1] not in rows


def test_submit_sample_produces_a_valid_event(run, stack, kafka):
    run("topics", "create")
    sub_id = run("submit-sample", "--tenant", "wake", "--credential", CREDENTIAL).stdout.strip()
    out = run("tail", "submissions", "--count", "1", "--idle", "20").stdout
    record = json.loads(out)
    assert record["key"] == sub_id
    headers = record["headers"]
    assert headers["ce_type"] == "org.badgeflow.submission.submitted.v1"
    bfschema.validate_record(record["topic"], record["key"], headers.items(),
                             json.dumps(record["data"]).encode(), prefix=run.prefix)


def test_usage_errors(run):
    assert "unknown command" in run("bogus", code=2).stderr
    assert "--id is required" in run("tenant", "add", "--kind", "state", code=2).stderr
    assert "usage: badgeflow" in run("--help").stdout
