# SPDX-License-Identifier: Apache-2.0
"""The local stack script (deploy/local/stack.sh) against real servers.

Run with Debian's Python, which has psycopg2, redis and confluent_kafka:
    /usr/bin/python3 -m pytest tests/integration/test_stack.py
Needs deploy/local/install.sh to have run (packages and the Kafka jars).
The tests of the module share one stack and run in file order; each uses its own
scratch directory under /tmp, never the default one.
"""

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg2
import pytest
import redis
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "local" / "stack.sh"

ENV_KEYS = (
    "BADGEFLOW_KAFKA_BROKERS",
    "BADGEFLOW_POSTGRES_CONNINFO",
    "BADGEFLOW_REDIS_HOST",
    "BADGEFLOW_REDIS_PORT",
    "BADGEFLOW_STACK_DIR",
    "BADGEFLOW_STACK_PG_PORT",
    "BADGEFLOW_STACK_REDIS_PORT",
    "BADGEFLOW_STACK_KAFKA_PORT",
    "BADGEFLOW_STACK_KAFKA_CONTROLLER_PORT",
)


def make_scratch(prefix):
    """A fresh scratch dir under /tmp the postgres system user can enter."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o755)
    return path


def stack_env(scratch, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BADGEFLOW_STACK_")}
    env["BADGEFLOW_STACK_DIR"] = scratch
    env.update(extra)
    return env


def run_stack(env, *args, timeout=240):
    return subprocess.run(
        [str(STACK), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def ok(proc):
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def read_env_file(path):
    """Parses stack.env the way a shell would (KEY=value, quoted values)."""
    values = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, raw = line.partition("=")
        words = shlex.split(raw)
        assert len(words) <= 1, f"value of {key} is not one shell word: {raw!r}"
        values[key] = words[0] if words else ""
    return values


def servers_of(scratch):
    """{'postgres': [pids], 'redis': [...], 'kafka': [...]} of this scratch dir, from /proc.

    Postmaster: argv has its data dir (backends rename themselves); Redis: its working
    directory is the data dir; Kafka: the JVM's argv names the server.properties.
    Every other process touching the dir counts as 'other'.
    """
    found = {"postgres": [], "redis": [], "kafka": [], "other": []}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if int(pid) == os.getpid():
            continue
        if comm == "postgres" and f"{scratch}/pg/data" in argv:
            found["postgres"].append(int(pid))
        elif comm.startswith("redis-server") and cwd == f"{scratch}/redis/data":
            found["redis"].append(int(pid))
        elif comm == "java" and f"{scratch}/kafka/server.properties" in argv:
            found["kafka"].append(int(pid))
        elif any(scratch in a for a in argv) or cwd.startswith(scratch + "/"):
            found["other"].append(int(pid))
    return found


def one_of_each(scratch):
    found = servers_of(scratch)
    for name in ("postgres", "redis", "kafka"):
        assert len(found[name]) == 1, f"{name}: expected one server, found {found}"
    return {name: found[name][0] for name in ("postgres", "redis", "kafka")}


def listening(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", int(port))) == 0


def pg_select_1(conninfo):
    with psycopg2.connect(conninfo, connect_timeout=5) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT 1, current_user, current_database()")
            return cur.fetchone()


def kafka_brokers(brokers):
    admin = AdminClient({"bootstrap.servers": brokers})
    return admin, admin.list_topics(timeout=15)


@pytest.fixture(scope="module")
def stack():
    scratch = make_scratch("bf-stack-test-")
    env = stack_env(scratch)
    yield {"dir": scratch, "env": env}
    run_stack(env, "stop")
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def started(stack):
    ok(run_stack(stack["env"], "start"))
    stack["vals"] = read_env_file(Path(stack["dir"]) / "stack.env")
    return stack


def test_start_status_env_and_every_server_answers(started):
    status = run_stack(started["env"], "status")
    assert status.returncode == 0, status.stdout + status.stderr
    for name in ("postgres", "redis", "kafka"):
        assert f"{name}" in status.stdout and "down" not in status.stdout

    env_out = ok(run_stack(started["env"], "env")).stdout
    assert env_out == (Path(started["dir"]) / "stack.env").read_text()
    vals = started["vals"]
    for key in ENV_KEYS:
        assert vals.get(key), f"{key} missing from stack.env: {vals}"
    assert vals["BADGEFLOW_STACK_DIR"] == started["dir"]
    pg, rd, kf = (vals[f"BADGEFLOW_STACK_{n}_PORT"] for n in ("PG", "REDIS", "KAFKA"))
    assert vals["BADGEFLOW_KAFKA_BROKERS"] == f"127.0.0.1:{kf}"
    assert vals["BADGEFLOW_POSTGRES_CONNINFO"] == (
        f"host=127.0.0.1 port={pg} dbname=badgeflow user=badgeflow"
    )
    assert vals["BADGEFLOW_REDIS_HOST"] == "127.0.0.1"
    assert vals["BADGEFLOW_REDIS_PORT"] == rd

    assert pg_select_1(vals["BADGEFLOW_POSTGRES_CONNINFO"]) == (1, "badgeflow", "badgeflow")

    r = redis.Redis(host="127.0.0.1", port=int(rd), socket_timeout=5)
    assert r.ping() is True
    r.close()

    admin, md = kafka_brokers(vals["BADGEFLOW_KAFKA_BROKERS"])
    assert [(b.host, b.port) for b in md.brokers.values()] == [("127.0.0.1", int(kf))]
    # The controller works too: a topic can be created and written to.
    futures = admin.create_topics([NewTopic("stack-test", num_partitions=3, replication_factor=1)])
    futures["stack-test"].result(timeout=30)
    producer = Producer({"bootstrap.servers": vals["BADGEFLOW_KAFKA_BROKERS"], "acks": "all"})
    producer.produce("stack-test", key=b"k", value=b"v")
    assert producer.flush(30) == 0
    assert len(admin.list_topics(timeout=15).topics["stack-test"].partitions) == 3

    # Loopback only: every port of the stack is bound to 127.0.0.1.
    for port in (pg, rd, kf, vals["BADGEFLOW_STACK_KAFKA_CONTROLLER_PORT"]):
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                             text=True).stdout
        assert out.strip(), f"nothing listens on {port}"
        for line in out.splitlines():
            assert "127.0.0.1:" in line.split()[3], line


def test_start_again_keeps_the_same_servers(started):
    before = one_of_each(started["dir"])
    proc = ok(run_stack(started["env"], "start"))
    assert "already running" in proc.stdout
    assert one_of_each(started["dir"]) == before
    assert read_env_file(Path(started["dir"]) / "stack.env") == started["vals"]


def test_stop_and_start_component_postgres_same_port(started):
    vals, env = started["vals"], started["env"]
    others = {k: v for k, v in one_of_each(started["dir"]).items() if k != "postgres"}
    ok(run_stack(env, "stop-component", "postgres"))
    assert servers_of(started["dir"])["postgres"] == []
    with pytest.raises(psycopg2.OperationalError):
        pg_select_1(vals["BADGEFLOW_POSTGRES_CONNINFO"])
    status = run_stack(env, "status")
    assert status.returncode == 3
    assert any(l.split()[:2] == ["postgres", "down"] for l in status.stdout.splitlines())
    ok(run_stack(env, "stop-component", "postgres"))  # stopping twice is fine

    ok(run_stack(env, "start-component", "postgres"))
    assert pg_select_1(vals["BADGEFLOW_POSTGRES_CONNINFO"]) == (1, "badgeflow", "badgeflow")
    assert f"127.0.0.1:{vals['BADGEFLOW_STACK_PG_PORT']}" in ok(run_stack(env, "status")).stdout
    after = one_of_each(started["dir"])
    assert {k: v for k, v in after.items() if k != "postgres"} == others
    assert read_env_file(Path(started["dir"]) / "stack.env") == vals


def test_half_started_stack_is_restarted_cleanly(started):
    env = started["env"]
    before = one_of_each(started["dir"])
    ok(run_stack(env, "stop-component", "kafka"))
    proc = ok(run_stack(env, "start"))
    assert "half-started" in proc.stdout
    after = one_of_each(started["dir"])
    assert set(after.values()).isdisjoint(before.values()), (before, after)
    ok(run_stack(env, "status"))
    vals = read_env_file(Path(started["dir"]) / "stack.env")
    assert pg_select_1(vals["BADGEFLOW_POSTGRES_CONNINFO"])[0] == 1
    started["vals"] = vals


def test_stop_leaves_nothing_and_stopping_twice_is_fine(started):
    env, vals = started["env"], started["vals"]
    ok(run_stack(env, "stop"))
    assert servers_of(started["dir"]) == {"postgres": [], "redis": [], "kafka": [], "other": []}
    for key in ("PG", "REDIS", "KAFKA", "KAFKA_CONTROLLER"):
        port = vals[f"BADGEFLOW_STACK_{key}_PORT"]
        assert not listening(port), f"{key} port {port} still accepts connections"
    assert not list(Path(started["dir"]).rglob("*.pid"))
    ok(run_stack(env, "stop"))
    assert run_stack(env, "status").returncode == 3
    assert run_stack(env, "env").returncode != 0


@pytest.mark.parametrize("port_check", ["before-start", "midway"])
def test_port_in_use_fails_and_leaves_nothing_running(port_check):
    """A busy Redis port: start fails naming redis and the port, and nothing is left.

    'before-start' is caught by the script's port check before any server starts;
    'midway' skips that check, so PostgreSQL and Kafka are already starting when Redis
    fails to bind, and the script has to stop them again.
    """
    scratch = make_scratch("bf-stack-busy-")
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        extra = {"BADGEFLOW_STACK_REDIS_PORT": str(port)}
        if port_check == "midway":
            extra["BADGEFLOW_STACK_SKIP_PORT_CHECK"] = "1"
        env = stack_env(scratch, **extra)
        proc = run_stack(env, "start")
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out
        error = [l for l in proc.stderr.splitlines() if l.startswith("stack: error:")]
        assert error and "redis" in error[0] and str(port) in error[0], out
        if port_check == "midway":
            assert "postgres: up" in proc.stdout, out  # it really got that far
        assert servers_of(scratch) == {"postgres": [], "redis": [], "kafka": [], "other": []}
        assert not list(Path(scratch).rglob("*.pid")), out
        assert not (Path(scratch) / "stack.env").exists()
        status = run_stack(env, "status")
        assert status.returncode == 3
    finally:
        blocker.close()
        run_stack(stack_env(scratch), "stop")
        shutil.rmtree(scratch, ignore_errors=True)
