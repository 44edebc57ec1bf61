# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures of the integration tests: the real stack, the database, Kafka helpers
and a runner for the built daemons.

Run with Debian's Python (python3-psycopg2, python3-confluent-kafka, python3-pytest):
    /usr/bin/python3 -m pytest tests/integration
Given BADGEFLOW_STACK_ENV=path/to/stack.env (tests/run.sh sets it) the tests use that
running stack; otherwise the session starts one with deploy/local/stack.sh in a scratch
directory and stops it at the end. Binaries come from $BADGEFLOW_BUILD_DIR (default build/).

Fixtures:
    stack          the stack's addresses (session); .stop_component()/.start_component()
    db             a psycopg2 helper on the badgeflow database, migrated (session)
    kafka          Kafka helpers with a topic prefix of the test's own (function)
    daemons        starts daemons with a config file, captures their JSON logs (function)
Sections below keep them apart; add new fixtures in their own section.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psycopg2
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "demo"))
from driver import clean_env, read_env_file  # noqa: E402,F401 (the fixtures' helpers, shared)

BUILD = Path(os.environ.get("BADGEFLOW_BUILD_DIR", ROOT / "build"))
STACK_SH = ROOT / "deploy" / "local" / "stack.sh"
MIGRATIONS = ROOT / "db" / "migrations"


_catalogue_loaded = set()


def load_catalogue(stack):
    """The shipped catalogue in the stack's database, once per database per session."""
    if stack.conninfo in _catalogue_loaded:
        return
    env = clean_env(BADGEFLOW_POSTGRES_CONNINFO=stack.conninfo, BADGEFLOW_DATADIR=str(ROOT))
    proc = subprocess.run([str(BUILD / "tools" / "cli" / "badgeflow"), "catalogue", "load",
                           str(ROOT / "config" / "catalogue")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _catalogue_loaded.add(stack.conninfo)


def wait_for(cond, timeout, interval=0.1, what="condition"):
    """Poll cond() until it returns a truthy value (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---- the stack -------------------------------------------------------------------------


class Stack:
    """Addresses of a running stack (from its stack.env) and control of its servers."""

    def __init__(self, env):
        self.env = env
        self.dir = env["BADGEFLOW_STACK_DIR"]
        self.brokers = env["BADGEFLOW_KAFKA_BROKERS"]
        self.conninfo = env["BADGEFLOW_POSTGRES_CONNINFO"]
        self.admin_conninfo = env.get("BADGEFLOW_STACK_PG_ADMIN_CONNINFO", "")

    def _run(self, *args):
        env = dict(os.environ, BADGEFLOW_STACK_DIR=self.dir)
        proc = subprocess.run([str(STACK_SH), *args], env=env, capture_output=True, text=True,
                              timeout=240)
        assert proc.returncode == 0, f"stack.sh {args}: {proc.stdout}\n{proc.stderr}"

    def stop_component(self, name):
        self._run("stop-component", name)

    def start_component(self, name):
        self._run("start-component", name)


@pytest.fixture(scope="session")
def stack():
    given = os.environ.get("BADGEFLOW_STACK_ENV")
    if given:
        yield Stack(read_env_file(given))
        return
    scratch = tempfile.mkdtemp(prefix="bf-it-stack-", dir="/tmp")
    os.chmod(scratch, 0o755)
    env = dict(os.environ, BADGEFLOW_STACK_DIR=scratch)
    proc = subprocess.run([str(STACK_SH), "start"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"stack.sh start: {proc.stdout}\n{proc.stderr}"
    try:
        yield Stack(read_env_file(Path(scratch) / "stack.env"))
    finally:
        subprocess.run([str(STACK_SH), "stop"], env=env, capture_output=True, timeout=240)
        shutil.rmtree(scratch, ignore_errors=True)


# ---- the database ----------------------------------------------------------------------


class Db:
    """Short-lived psycopg2 connections (they survive a PostgreSQL restart between calls)."""

    def __init__(self, conninfo):
        self.conninfo = conninfo

    def query(self, sql, params=None):
        with psycopg2.connect(self.conninfo, connect_timeout=5) as conn:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                rows = cur.fetchall() if cur.description else []
        conn.close()
        return rows

    def execute(self, sql, params=None):
        self.query(sql, params)

    def scalar(self, sql, params=None):
        return self.query(sql, params)[0][0]


def migrate(stack, directory=MIGRATIONS):
    """Apply the migrations with bf_pg_migrate (through tests/integration/progs/bf_migrate)."""
    tool = BUILD / "tests" / "bf_migrate"
    env = clean_env(BADGEFLOW_POSTGRES_CONNINFO=stack.conninfo)
    proc = subprocess.run([str(tool), str(directory)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"bf_migrate: {proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def db(stack):
    migrate(stack)
    d = Db(stack.conninfo)
    # The test daemon's effect table lives in the tests, never in a migration.
    d.execute("CREATE TABLE IF NOT EXISTS test_effects (event_id text NOT NULL, n bigint NOT NULL,"
              " applied_at timestamptz NOT NULL DEFAULT now())")
    return d


# ---- Kafka -----------------------------------------------------------------------------


def ce_headers(ce_type, **overrides):
    """CloudEvents binary-mode headers as a list of (name, bytes); overrides by attribute
    name (ce_id=..., content_type=...), an override of None leaves that header out."""
    h = {
        "ce_specversion": "1.0",
        "ce_id": str(uuid.uuid4()),
        "ce_source": "/tests/integration",
        "ce_type": ce_type,
        "ce_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "content-type": "application/json",
        "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
    }
    h.update({k.replace("content_type", "content-type"): v for k, v in overrides.items()})
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in h.items() if v is not None]


def header_dict(msg):
    return {k: (v.decode(errors="replace") if v is not None else None)
            for k, v in (msg.headers() or [])}


class Kafka:
    """Kafka helpers under one topic prefix (each test has its own)."""

    def __init__(self, brokers, prefix):
        self.brokers = brokers
        self.prefix = prefix
        self.producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True,
                                  "linger.ms": 5})

    def topic(self, short):
        return self.prefix + short

    def create_topics(self, shorts, partitions=3):
        admin = AdminClient({"bootstrap.servers": self.brokers})
        futures = admin.create_topics(
            [NewTopic(self.topic(s), num_partitions=partitions, replication_factor=1)
             for s in shorts], operation_timeout=15)
        for fut in futures.values():
            fut.result()
        wait_for(lambda: all(self.topic(s) in admin.list_topics(timeout=5).topics
                             for s in shorts), 15, what="topics")

    def produce(self, short, value, headers, key=None):
        if isinstance(value, (dict, list)):
            value = json.dumps(value).encode()
        self.producer.produce(self.topic(short), value=value, key=key, headers=headers)
        self.producer.poll(0)

    def flush(self):
        assert self.producer.flush(30) == 0

    def consumer(self, group=None, **conf):
        c = Consumer({"bootstrap.servers": self.brokers,
                      "group.id": group or f"it-{uuid.uuid4().hex[:8]}",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})
        return c

    def consume(self, short, until, timeout=60):
        """Read the topic from the start until until(messages) is true; returns the messages
        (confluent_kafka Message objects with .value(), .headers(), ...)."""
        c = self.consumer()
        c.subscribe([self.topic(short)])
        got = []
        deadline = time.monotonic() + timeout
        try:
            while not until(got) and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is not None and not m.error():
                    got.append(m)
        finally:
            c.close()
        return got


@pytest.fixture
def kafka(stack):
    k = Kafka(stack.brokers, f"it{uuid.uuid4().hex[:10]}.")
    yield k
    k.producer.flush(10)


# ---- daemons ---------------------------------------------------------------------------


def write_config(path, sections):
    """INI from {"kafka": {"brokers": ...}, ...}."""
    lines = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in keys.items()]
        lines.append("")
    Path(path).write_text("\n".join(lines))


class Daemon:
    """One daemon process; its stderr (JSON lines) goes to a file read by logs()."""

    def __init__(self, binary, config, log_path, env):
        self.binary = binary
        self.config = config
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([str(binary), "--config", str(config)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.log)

    def logs(self):
        """Every JSON log line written so far (of every run sharing the log file)."""
        out = []
        for line in Path(self.log_path).read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out

    def codes(self, code):
        return [line for line in self.logs() if line.get("code") == code]

    def port(self):
        def find():
            lines = [line for line in self.codes("BF_DAEMON_HTTP") if line.get("port")]
            return int(lines[-1]["port"]) if lines and self.alive() else None
        return wait_for(find, 30, what="the daemon's HTTP port")

    def http(self, path):
        """(status, body) of GET path."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port()}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=60):
        def ready():
            assert self.alive(), f"daemon exited: {self.proc.returncode}\n{self.tail()}"
            return self.http("/readyz")[0] == 200
        wait_for(ready, timeout, interval=0.2, what="/readyz 200")

    def wait_assigned(self, timeout=60):
        wait_for(lambda: self.codes("BF_KAFKA_ASSIGN"), timeout, what="a partition assignment")

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)

    def tail(self, n=30):
        return "\n".join(json.dumps(x) for x in self.logs()[-n:])


class Daemons:
    """Starts daemons in the test's tmp dir; kills what is left at the end of the test."""

    def __init__(self, stack, tmp_path):
        self.stack = stack
        self.tmp = tmp_path
        self.started = []

    def config(self, kafka, name="testd", **sections):
        """A config for a daemon on this stack under kafka's topic prefix; sections override
        or add keys: config(kafka, daemon={"fault_point": "after_commit"})."""
        cfg = {
            "log": {"level": "info"},
            "http": {"listen": "127.0.0.1:0"},
            "kafka": {"brokers": self.stack.brokers, "topic_prefix": kafka.prefix,
                      "group_id": f"{name}-{kafka.prefix.rstrip('.')}",
                      "session_timeout": "6s"},
            "postgres": {"conninfo": self.stack.conninfo, "connect_timeout": "2s"},
            "daemon": {"retry_base": "50ms", "retry_max": "1s", "ready_interval": "500ms",
                       "shutdown_timeout": "10s"},
        }
        for section, keys in sections.items():
            cfg.setdefault(section, {}).update(keys)
        return cfg

    def start(self, config, binary="bf_testd", name=None, env=None):
        """Start binary (a name under $BUILD/tests, or a path) with config (a dict)."""
        name = name or Path(binary).name
        path = Path(binary) if "/" in str(binary) else BUILD / "tests" / binary
        conf = self.tmp / f"{name}.conf"
        write_config(conf, config)
        d = Daemon(path, conf, self.tmp / f"{name}.log", clean_env(**(env or {})))
        self.started.append(d)
        return d

    def stop_all(self):
        for d in self.started:
            d.kill()
            d.log.close()


@pytest.fixture
def daemons(stack, tmp_path):
    ds = Daemons(stack, tmp_path)
    yield ds
    ds.stop_all()
