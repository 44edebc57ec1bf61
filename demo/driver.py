#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The demo's driver: one state agency's pilot, end to end, through all seven daemons.

demo/run.sh starts the stack, migrates, creates the topics and loads the catalogue, then runs
this. The driver
  1. sets up the world with the admin CLI: a state (nc-dpi), two districts (wake, durham),
     issuer keys, a pilot in wake (75 % reach target, 10 targeted educators), a dozen state
     assessors with qualifications, API keys, and a webhook endpoint for wake pointing at a
     small loopback receiver the driver runs;
  2. writes a config per daemon into the work directory and starts all seven, each with its
     own health port on 127.0.0.1, and waits for every /readyz;
  3. makes small real media (ffmpeg lavfi video with audio, an audio clip, PNG and JPEG
     images), a reflection and a hand-written PDF, uploads them through POST /v1/uploads and
     submits two dozen submissions against four credentials, each item built from the
     credential's evidence requirements as the gateway's catalogue endpoint reports them;
  4. plays scripted assessors that poll their assignments and score through the gateway
     (agree and earn, not yet with feedback, disagree on a double-scored credential so the
     scorer asks for a tie-break; one not-yet educator resubmits and earns);
  5. prints each journey, the decisions, the credentials, the pilot's metrics against its
     target, the webhooks received and where to look next.

tests/integration/pipeline/test_pipeline.py imports this module and asserts on the same run.

Debian's /usr/bin/python3 with python3-psycopg2 and python3-confluent-kafka only.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg2
from confluent_kafka import Consumer

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ["gateway", "transcoder", "router", "scorer", "issuer", "notifier", "analytics"]
TERMINAL = ("decided", "rejected", "withdrawn")

# The four credentials the demo submits to (between them: video, audio, images, documents,
# text; gp.speaking-publicly-about-practice is double scored).
CREDS = ["cl.cultivating-a-shared-purpose", "cl.building-relational-trust",
         "gp.amplifying-teacher-voice-through-social-media", "gp.speaking-publicly-about-practice"]

FIRST = ["Maya", "Jordan", "Priya", "Sam", "Alex", "Rosa", "Deshawn", "Mei", "Tomas", "Aisha",
         "Noah", "Grace", "Omar", "Lena", "Caleb", "Iris", "Mateo", "Hannah", "Kofi", "Zoe"]
LAST = ["Thompson", "Ellis", "Raman", "O'Neill", "Garcia", "Nguyen", "Okafor", "Bauer",
        "Lindqvist", "Patel", "Brooks", "Kim", "Haddad", "Novak", "Reyes", "Chen"]

REFLECTION = ("Before this cycle our team meetings were a list of announcements. I brought a "
              "protocol, asked colleagues to name what they wanted for our students, and we "
              "wrote it down together. Next time I will hand the facilitation to a colleague.")


def log(msg):
    print(msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env_file(path):
    """stack.env parsed the way a shell would."""
    values = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, raw = line.partition("=")
        words = shlex.split(raw)
        values[key] = words[0] if words else ""
    return values


def clean_env(**extra):
    """The environment without BADGEFLOW_* (which would override the config files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BADGEFLOW_")}
    env.update(extra)
    return env


# ---- the run's context ---------------------------------------------------------------------


class Ctx:
    """Where things are: the stack, the binaries, the work directory, names of this run.

    tag "" gives the demo's plain names (nc-dpi, wake, durham); a test passes a tag so that
    its tenants and topics do not meet another run's on a shared stack."""

    def __init__(self, stack_env, build, work, tag="", prefix="badgeflow.", k=5):
        # stack_env: the path of a stack.env, or its values already parsed
        self.stack = stack_env if isinstance(stack_env, dict) else read_env_file(stack_env)
        self.build = Path(build)
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.tag = tag
        self.prefix = prefix
        self.k = k
        sfx = f"-{tag}" if tag else ""
        self.state, self.wake, self.durham = f"nc-dpi{sfx}", f"wake{sfx}", f"durham{sfx}"
        self.pilot = f"wake-pilot{sfx}"
        self.cli_path = self.build / "tools" / "cli" / "badgeflow"
        # shared secrets of this run, generated with openssl as an operator would
        self.secrets_kek = openssl_hex32()
        self.issuer_kek = openssl_hex32()
        self.pseudonym_key = "demo-" + openssl_hex32()
        self.ports = {svc: free_port() for svc in SERVICES}
        self.api_port = free_port()
        self.upload_root = self.work / "uploads"

    @property
    def conninfo(self):
        return self.stack["BADGEFLOW_POSTGRES_CONNINFO"]

    @property
    def brokers(self):
        return self.stack["BADGEFLOW_KAFKA_BROKERS"]

    @property
    def issuer_base(self):
        return f"http://127.0.0.1:{self.ports['issuer']}"

    @property
    def api_base(self):
        return f"http://127.0.0.1:{self.api_port}"

    def cli(self, *args, check=True):
        env = clean_env(BADGEFLOW_POSTGRES_CONNINFO=self.conninfo,
                        BADGEFLOW_KAFKA_BROKERS=self.brokers,
                        BADGEFLOW_KAFKA_TOPIC_PREFIX=self.prefix,
                        BADGEFLOW_ISSUER_KEK=self.issuer_kek,
                        BADGEFLOW_NOTIFIER_SECRETS_KEK=self.secrets_kek)
        proc = subprocess.run([str(self.cli_path), *args], env=env, capture_output=True,
                              text=True, timeout=120)
        if check and proc.returncode != 0:
            raise RuntimeError(f"badgeflow {' '.join(args)}: {proc.stdout}{proc.stderr}")
        return proc.stdout.strip()

    def query(self, sql, params=None):
        with psycopg2.connect(self.conninfo, connect_timeout=5) as conn:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                rows = cur.fetchall() if cur.description else []
        conn.close()
        return rows


def openssl_hex32():
    return subprocess.run(["openssl", "rand", "-hex", "32"], capture_output=True, text=True,
                          check=True).stdout.strip()


# ---- the webhook receiver -----------------------------------------------------------------


class Receiver:
    """A plain-HTTP receiver on 127.0.0.1 for wake's webhooks; checks each Standard Webhooks
    signature with the endpoint's secret as it arrives."""

    def __init__(self):
        self.got = []  # dicts: id, ts, type, subject, valid, body
        self.lock = threading.Lock()
        self.secret = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                h = {k.lower(): v for k, v in self.headers.items()}
                outer.record(h, body)
                self.send_response(204)
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks/wake"

    def record(self, h, body):
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        entry = {"id": h.get("webhook-id"), "ts": h.get("webhook-timestamp"),
                 "type": doc.get("type"), "subject": doc.get("subject"),
                 "valid": verify_signature(self.secret, h, body), "body": body,
                 "at": time.time()}
        with self.lock:
            self.got.append(entry)

    def received(self):
        with self.lock:
            return list(self.got)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def verify_signature(secret, headers, body, tolerance=300):
    """Standard Webhooks: v1,base64(HMAC-SHA256(key, id.ts.body)), key = base64 after whsec_;
    any of the space-separated signatures may match; the timestamp within tolerance."""
    try:
        msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
        if abs(time.time() - int(ts)) > tolerance:
            return False
        key = base64.b64decode(secret[len("whsec_"):])
        mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
        expected = base64.b64encode(mac).decode()
        return any(v == "v1" and hmac.compare_digest(sig, expected)
                   for v, _, sig in (s.partition(",")
                                     for s in headers["webhook-signature"].split(" ")))
    except (KeyError, ValueError, TypeError):
        return False


# ---- the world: tenants, people, keys -----------------------------------------------------


class World:
    """What setup_world created: ids and keys."""

    def __init__(self):
        self.keys = {}          # "wake" | "durham" | "admin" -> API key
        self.assessor_keys = {}  # assessor id -> API key
        self.assessors = {}     # assessor id -> [credential ids]
        self.educators = {}     # (tenant, educator id) -> dict
        self.targeted = []      # educator ids targeted by the pilot
        self.webhook_id = None
        self.kids = {}


def setup_world(ctx, receiver, creds=None, capacity=6):
    """creds: the four credentials the assessors are qualified for (default CREDS: the two
    halves of the dozen each take a pair, the first of each half all four); capacity: each
    assessor's max_open (the benchmark and the fault run pass their own)."""
    creds_all = list(creds or CREDS)
    w = World()
    ctx.cli("tenant", "add", "--id", ctx.state, "--kind", "state",
            "--name", "North Carolina Department of Public Instruction")
    ctx.cli("tenant", "add", "--id", ctx.wake, "--kind", "district", "--name",
            "Wake County Public Schools", "--parent", ctx.state)
    ctx.cli("tenant", "add", "--id", ctx.durham, "--kind", "district", "--name",
            "Durham Public Schools", "--parent", ctx.state)
    for t in (ctx.state, ctx.wake, ctx.durham):
        w.kids[t] = ctx.cli("issuer", "key", "generate", "--tenant", t)

    # educators: 12 in wake (the first 10 targeted by the pilot), 8 in durham
    names = iter((f, l) for l in LAST for f in FIRST)
    for tenant, n, schools in ((ctx.wake, 12, 4), (ctx.durham, 8, 3)):
        for i in range(n):
            first, last = next(names)
            eid = f"{tenant.split('-')[0]}-edu-{i + 1:02d}"
            e = {"id": eid, "name": f"{first} {last}",
                 "email": f"{first.lower()}.{last.lower().replace(chr(39), '')}@{tenant}.example.org",
                 "school_id": f"{tenant}-sch-{i % schools + 1}", "district_id": tenant}
            w.educators[(tenant, eid)] = e
            ctx.cli("educator", "add", "--tenant", tenant, "--id", eid, "--name", e["name"],
                    "--email", e["email"], "--district", tenant, "--school", e["school_id"])
    w.targeted = [eid for (t, eid) in w.educators if t == ctx.wake][:10]
    today = date.today()
    args = ["pilot", "add", "--tenant", ctx.wake, "--id", ctx.pilot,
            "--name", "Wake collective leadership pilot",
            "--starts", str(today - timedelta(days=30)), "--ends", str(today + timedelta(days=150)),
            "--target-reach", "0.75"]
    for eid in w.targeted:
        args += ["--educator", eid]
    ctx.cli(*args)

    # a dozen state assessors: six for the collective-leadership pair, six for going-public,
    # the first of each six qualified for everything
    for i in range(12):
        aid = f"{ctx.state}-assessor-{i + 1:02d}"
        creds = creds_all[:2] if i < 6 else creds_all[2:]
        if i in (0, 6):
            creds = creds_all
        w.assessors[aid] = creds
        first, last = FIRST[(i * 7) % len(FIRST)], LAST[(i * 5 + 3) % len(LAST)]
        args = ["assessor", "add", "--tenant", ctx.state, "--id", aid, "--name",
                f"{first} {last}", "--capacity", str(capacity)]
        for c in creds:
            args += ["--credential", c]
        ctx.cli(*args)
        w.assessor_keys[aid] = ctx.cli("apikey", "add", "--tenant", ctx.state, "--role",
                                       "assessor", "--assessor", aid, "--label", f"demo {aid}")
    w.keys["wake"] = ctx.cli("apikey", "add", "--tenant", ctx.wake, "--role", "district",
                             "--label", "wake frontend")
    w.keys["durham"] = ctx.cli("apikey", "add", "--tenant", ctx.durham, "--role", "district",
                               "--label", "durham frontend")
    w.keys["admin"] = ctx.cli("apikey", "add", "--tenant", ctx.state, "--role", "admin",
                              "--label", "state admin")

    receiver.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    w.webhook_id = ctx.cli("webhook", "add", "--tenant", ctx.wake, "--url", receiver.url,
                           "--secret", receiver.secret).splitlines()[-1]
    return w


# ---- the daemons --------------------------------------------------------------------------


def daemon_config(ctx, svc):
    """{section: {key: value}} for one daemon on this stack."""
    group = f"badgeflow-{svc}" if not ctx.tag else f"{svc}-{ctx.tag}"
    cfg = {
        "log": {"level": "info"},
        "http": {"listen": f"127.0.0.1:{ctx.ports[svc]}"},
        "kafka": {"brokers": ctx.brokers, "topic_prefix": ctx.prefix, "group_id": group,
                  "session_timeout": "6s"},
        "postgres": {"conninfo": ctx.conninfo, "connect_timeout": "2s"},
        "daemon": {"retry_base": "50ms", "retry_max": "2s", "ready_interval": "500ms",
                   "shutdown_timeout": "10s"},
    }
    comments = {}
    if svc == "gateway":
        cfg["gateway"] = {"listen": f"127.0.0.1:{ctx.api_port}", "threads": "4",
                          "upload_root": str(ctx.upload_root), "max_upload": "64M",
                          # the scripted assessors and frontends poll hard: well above the
                          # production 20/s per key
                          "rate_per_s": "500", "rate_burst": "1000",
                          "rate_prefix": f"bf:gateway:rate:{ctx.tag}:" if ctx.tag
                          else "bf:gateway:rate:",
                          "public_base": ctx.issuer_base, "secrets_kek": ctx.secrets_kek}
    elif svc == "transcoder":
        cfg["transcoder"] = {"media_root": str(ctx.work / "media-store"),
                             "scratch_dir": str(ctx.work / "transcoder-scratch"),
                             "upload_root": str(ctx.upload_root), "jobs": "2", "threads": "1"}
    elif svc == "router":
        cfg["router"] = {"redis_prefix": f"bf:router:{ctx.tag}:" if ctx.tag else "bf:router:",
                         "retry_interval": "1s"}
    elif svc == "scorer":
        cfg["scorer"] = {"tie_break": "true"}
    elif svc == "issuer":
        cfg["issuer"] = {"base_url": ctx.issuer_base, "kek": ctx.issuer_kek,
                         "held_retry": "500ms"}
    elif svc == "notifier":
        cfg["notifier"] = {"secrets_kek": ctx.secrets_kek, "workers": "4",
                           "poll_interval": "100ms", "retry_base": "1s",
                           "allow_loopback": "true", "allow_http": "true"}
        comments["notifier"] = ("# DEMO ONLY: allow_loopback and allow_http let the notifier post to the\n"
                                "# driver's plain-HTTP receiver on 127.0.0.1. Never set them in production.")
    elif svc == "analytics":
        cfg["analytics"] = {"pseudonym_key": ctx.pseudonym_key, "k": str(ctx.k),
                            "debounce": "1s"}
    if svc in ("gateway", "router"):  # the rate limit's buckets; the router's state
        cfg["redis"] = {"host": ctx.stack["BADGEFLOW_REDIS_HOST"],
                        "port": ctx.stack["BADGEFLOW_REDIS_PORT"]}
    return cfg, comments


def write_config(path, cfg, comments):
    lines = [f"# generated by demo/driver.py for this run ({time.strftime('%Y-%m-%d %H:%M:%S')})"]
    for section, keys in cfg.items():
        if section in comments:
            lines.append(comments[section])
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in keys.items()]
        lines.append("")
    Path(path).write_text("\n".join(lines))
    os.chmod(path, 0o600)  # it holds the KEKs


class Daemons:
    def __init__(self, ctx):
        self.ctx = ctx
        self.procs = {}

    def start_all(self):
        for svc in SERVICES:
            self.start(svc)

    def start(self, svc):
        """Start (or start again, after it died) one daemon from its generated config."""
        (self.ctx.work / "pids").mkdir(exist_ok=True)
        cfg, comments = daemon_config(self.ctx, svc)
        conf = self.ctx.work / f"{svc}.conf"
        write_config(conf, cfg, comments)
        binary = self.ctx.build / "services" / svc / f"badgeflow-{svc}"
        logf = open(self.ctx.work / f"{svc}.log", "ab")
        p = subprocess.Popen([str(binary), "--config", str(conf)], env=clean_env(),
                             stdout=subprocess.DEVNULL, stderr=logf, start_new_session=True)
        logf.close()
        self.procs[svc] = p
        (self.ctx.work / "pids" / f"{svc}.pid").write_text(f"{p.pid}\n")

    def wait_ready(self, timeout=90, services=None):
        deadline = time.monotonic() + timeout
        for svc in services or SERVICES:
            t0 = time.monotonic()
            while True:
                p = self.procs[svc]
                if p.poll() is not None:
                    raise RuntimeError(f"badgeflow-{svc} exited with {p.returncode}:\n"
                                       + tail(self.ctx.work / f"{svc}.log"))
                if http_status(self.ctx.ports[svc], "/readyz") == 200:
                    log(f"  {svc:<11} ready  http://127.0.0.1:{self.ctx.ports[svc]}/readyz"
                        f"  ({time.monotonic() - t0:.1f}s)")
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"badgeflow-{svc} not ready:\n"
                                       + tail(self.ctx.work / f"{svc}.log"))
                time.sleep(0.2)

    def dead(self):
        return [svc for svc, p in self.procs.items() if p.poll() is not None]

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for svc, p in self.procs.items():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            pid = self.ctx.work / "pids" / f"{svc}.pid"
            pid.unlink(missing_ok=True)


def tail(path, n=15):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def http_status(port, path):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", path)
        s = c.getresponse().status
        c.close()
        return s
    except OSError:
        return None


# ---- the gateway API ----------------------------------------------------------------------


class Api:
    def __init__(self, port):
        self.port = port
        self.uploads = 0
        self.upload_bytes = 0

    def call(self, method, path, key=None, body=None, raw=None, ctype=None, retries=5):
        h = {}
        if key:
            h["Authorization"] = f"Bearer {key}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        elif raw is not None:
            h["Content-Type"] = ctype or "application/octet-stream"
        for attempt in range(retries):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                c.request(method, path, body=data, headers=h)
                r = c.getresponse()
                text = r.read().decode(errors="replace")
                status, retry_after = r.status, r.getheader("Retry-After")
            finally:
                c.close()
            if status == 429 and attempt + 1 < retries:
                time.sleep(float(retry_after or 1))
                continue
            break
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = text
        return status, doc

    def ok(self, method, path, key=None, body=None, raw=None, expect=(200, 201, 202)):
        status, doc = self.call(method, path, key=key, body=body, raw=raw)
        if status not in expect:
            raise RuntimeError(f"{method} {path}: {status} {json.dumps(doc)[:800]}")
        return doc


# ---- media --------------------------------------------------------------------------------


def minimal_pdf(title):
    """A one-page PDF written by hand, with a correct cross-reference table."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def make_media(ctx):
    """Small real files: a 4 s 320x240 H.264/AAC video, a 3 s AAC clip, a PNG, a JPEG, a PDF."""
    d = ctx.work / "samples"
    d.mkdir(exist_ok=True)
    ff = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    files = {"video": d / "classroom.mp4", "audio": d / "conversation.m4a",
             "png": d / "post.png", "jpeg": d / "photo.jpg", "pdf": d / "document.pdf"}
    runs = [
        ff + ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4",
              "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
              "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
              "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(files["video"])],
        ff + ["-f", "lavfi", "-i", "sine=frequency=330:duration=3", "-c:a", "aac",
              str(files["audio"])],
        ff + ["-f", "lavfi", "-i", "testsrc=size=320x240:duration=1", "-frames:v", "1",
              str(files["png"])],
        ff + ["-f", "lavfi", "-i", "smptebars=size=320x240:duration=1", "-frames:v", "1",
              str(files["jpeg"])],
    ]
    for cmd in runs:
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    files["pdf"].write_bytes(minimal_pdf("Team meeting agenda - demo document"))
    return files


# ---- the journey --------------------------------------------------------------------------


class Journey:
    """The scripted submissions and what happened to them."""

    def __init__(self):
        self.subs = {}        # submission id -> dict(tenant, educator, credential, plan, ...)
        self.order = []
        self.scored = set()   # assignment ids scored
        self.score_count = {}  # submission id -> scores given
        self.resubmitted = {}  # first attempt id -> resubmission id
        self.started = time.time()
        self.credentials = {}  # credential id -> definition (from the gateway)


def plan_submissions(ctx, w):
    """24 submissions: (tenant, educator, credential, plan). Plans: earn, not_yet,
    not_yet_resubmit (resubmits, then earns), disagree (double scored: tie-break)."""
    wake = [eid for (t, eid) in w.educators if t == ctx.wake]
    durham = [eid for (t, eid) in w.educators if t == ctx.durham]
    cl1, cl2, gp1, gp2 = CREDS
    rows = [
        # wake: 8 of the 10 targeted educators submit, plus 2 not targeted
        (ctx.wake, wake[0], cl1, "not_yet_resubmit"),
        (ctx.wake, wake[1], cl1, "earn"),
        (ctx.wake, wake[2], cl1, "earn"),
        (ctx.wake, wake[3], cl2, "earn"),
        (ctx.wake, wake[4], cl2, "not_yet"),
        (ctx.wake, wake[5], gp1, "earn"),
        (ctx.wake, wake[6], gp2, "earn"),
        (ctx.wake, wake[7], gp2, "disagree"),
        (ctx.wake, wake[1], cl2, "earn"),
        (ctx.wake, wake[2], gp1, "earn"),
        (ctx.wake, wake[3], gp2, "earn"),
        (ctx.wake, wake[5], cl1, "earn"),
        (ctx.wake, wake[10], cl1, "earn"),
        (ctx.wake, wake[11], cl2, "earn"),
        # durham
        (ctx.durham, durham[0], cl1, "earn"),
        (ctx.durham, durham[1], cl1, "not_yet"),
        (ctx.durham, durham[2], cl2, "earn"),
        (ctx.durham, durham[3], cl2, "earn"),
        (ctx.durham, durham[4], gp1, "earn"),
        (ctx.durham, durham[5], gp1, "not_yet"),
        (ctx.durham, durham[6], gp2, "disagree"),
        (ctx.durham, durham[7], gp2, "earn"),
        (ctx.durham, durham[0], gp2, "disagree"),
        (ctx.durham, durham[2], cl1, "earn"),
    ]
    return rows


def district_of(ctx, tenant):
    return "wake" if tenant == ctx.wake else "durham"


def upload(api, key, path):
    data = Path(path).read_bytes()
    api.uploads += 1
    api.upload_bytes += len(data)
    return api.ok("POST", "/v1/uploads", key=key, raw=data)


def build_evidence(api, key, definition, media):
    """One evidence item per required item of each requirement, from the credential's own
    requirements (optional requirements: one item when min_items is 0, to show them)."""
    items = []
    for req in definition["evidence"]:
        n = max(req.get("min_items", 1), 1)
        for i in range(n):
            item_id = f"{req['id']}-{i + 1}"
            kind = req["kind"]
            if kind == "text":
                items.append({"item_id": item_id, "kind": "text", "requirement": req["id"],
                              "text": REFLECTION})
                continue
            path = {"video": media["video"], "audio": media["audio"], "document": media["pdf"],
                    "image": media["png"] if i % 2 == 0 else media["jpeg"]}[kind]
            up = upload(api, key, path)
            items.append({"item_id": item_id, "kind": kind, "requirement": req["id"],
                          "uri": up["uri"], "sha256": up["sha256"],
                          "content_type": up["content_type"], "size": up["size"]})
    return items


def submit(ctx, api, w, j, media, tenant, educator, cred, plan, previous=None):
    key = w.keys[district_of(ctx, tenant)]
    n = len(j.order) + 1
    sid = f"{previous}-r2" if previous else f"{tenant}-sub-{n:03d}"
    e = w.educators[(tenant, educator)]
    body = {"submission_id": sid,
            "educator": {k: e[k] for k in ("id", "name", "email", "school_id", "district_id")},
            "credential_id": cred,
            "evidence": build_evidence(api, key, j.credentials[cred], media)}
    path = (f"/v1/submissions/{previous}/resubmissions" if previous else "/v1/submissions")
    api.ok("POST", path, key=key, body=body)
    j.subs[sid] = {"tenant": tenant, "educator": educator, "credential": cred, "plan": plan,
                   "previous": previous, "submitted": time.time()}
    j.order.append(sid)
    return sid


def rubric_levels(definition, plan_step):
    """Criteria for one score. plan_step: 'pass' (proficient, exemplary on the first),
    'fail' (the first required criterion, else the first, at developing: the passing rule
    fails), 'far' (the first criterion at not_yet: two levels from proficient)."""
    rubric = definition["rubric"]
    crits = rubric["criteria"]
    required = (rubric.get("passing_rule") or {}).get("required") or [crits[0]["id"]]
    out = []
    for i, c in enumerate(crits):
        ids = [lv["id"] for lv in c["levels"]]
        passing = c["passing_level"]
        level = passing
        if plan_step == "pass" and i == 0 and ids.index(passing) + 1 < len(ids):
            level = ids[ids.index(passing) + 1]
        if plan_step == "fail" and c["id"] == required[0]:
            level = ids[max(ids.index(passing) - 1, 0)]
        if plan_step == "far" and i == 0:
            level = ids[0]
        below = ids.index(level) < ids.index(passing)
        fb = (f"{c.get('name', c['id'])}: not yet at {passing}. Show it in the evidence: "
              f"name the step you took and what changed for students."
              if below else f"{c.get('name', c['id'])}: clear evidence at {level}.")
        out.append({"criterion_id": c["id"], "level_id": level, "feedback": fb})
    return out


def plan_step(plan, nth):
    """The nth score (0-based) a submission with this plan receives."""
    if plan == "disagree":
        return ["pass", "far", "pass"][min(nth, 2)]
    if plan in ("not_yet", "not_yet_resubmit"):
        return "fail"
    return "pass"


def assessor_round(api, w, j):
    """Every assessor polls its assignments once and scores what is open. Returns scores made."""
    made = 0
    for aid, key in w.assessor_keys.items():
        doc = api.ok("GET", "/v1/assignments", key=key)
        for a in doc["items"]:
            if a["state"] != "open" or a["assignment_id"] in j.scored:
                continue
            sub = j.subs.get(a["submission_id"])
            if sub is None:
                continue  # not ours (a shared stack)
            nth = j.score_count.get(a["submission_id"], 0)
            step = plan_step(sub["plan"], nth)
            crits = rubric_levels(j.credentials[sub["credential"]], step)
            overall = {"pass": "Well evidenced. Thank you for sharing your practice.",
                       "fail": "Not yet: see the criteria below; the video and reflection "
                               "are a strong start.",
                       "far": "The evidence does not yet show the first criterion."}[step]
            status, body = api.call("POST", f"/v1/assignments/{a['assignment_id']}/scores",
                                    key=key, body={"criteria": crits,
                                                   "overall_feedback": overall})
            if status not in (200, 202):
                raise RuntimeError(f"score {a['assignment_id']} by {aid}: {status} {body}")
            j.scored.add(a["assignment_id"])
            j.score_count[a["submission_id"]] = nth + 1
            sub.setdefault("scores", []).append((aid, a["role"], step))
            made += 1
    return made


def states(ctx, j):
    rows = ctx.query("SELECT id, state, outcome FROM submissions WHERE tenant_id IN (%s, %s)",
                     (ctx.wake, ctx.durham))
    return {sid: (st, out) for sid, st, out in rows if sid in j.subs}


def progress_line(ctx, j, st, webhooks):
    counts = {}
    for s, o in st.values():
        k = f"{s}:{o}" if o else s
        counts[k] = counts.get(k, 0) + 1
    creds = ctx.query("SELECT count(*) FROM credentials WHERE tenant_id IN (%s, %s)"
                      " AND kind = 'credential'", (ctx.wake, ctx.durham))[0][0]
    order = ["received", "processing", "ready", "in_review", "decided:not_yet",
             "decided:earned", "rejected", "withdrawn"]
    parts = [f"{k} {counts[k]}" for k in order if k in counts]
    log(f"  [{time.time() - j.started:5.1f}s] {len(st)} submissions: " + ", ".join(parts)
        + f" | credentials {creds} | webhooks {webhooks}")


def run_journey(ctx, api, w, receiver, daemons, media, timeout=300):
    j = Journey()
    for cred in CREDS:
        doc = api.ok("GET", f"/v1/credentials/{cred}", key=w.keys["wake"])
        j.credentials[cred] = doc["definition"]
    log(f"  evidence requirements read from GET /v1/credentials/{{id}} for {len(CREDS)} credentials")
    for tenant, edu, cred, plan in plan_submissions(ctx, w):
        submit(ctx, api, w, j, media, tenant, edu, cred, plan)
    log(f"  {len(j.order)} submissions posted, their {api.uploads} media files "
        f"({api.upload_bytes // 1024} KiB) uploaded through POST /v1/uploads first, "
        f"in {time.time() - j.started:.1f}s")

    deadline = time.monotonic() + timeout
    last = 0.0
    while True:
        dead = daemons.dead() if daemons else []
        if dead:
            raise RuntimeError(f"daemon(s) exited: {dead}:\n"
                               + "\n".join(tail(ctx.work / f"{s}.log") for s in dead))
        assessor_round(api, w, j)
        st = states(ctx, j)
        # the not-yet educator with the resubmit plan tries again, and then earns
        for sid, sub in list(j.subs.items()):
            if (sub["plan"] == "not_yet_resubmit" and sid not in j.resubmitted
                    and st.get(sid) == ("decided", "not_yet")):
                j.resubmitted[sid] = submit(ctx, api, w, j, media, sub["tenant"],
                                            sub["educator"], sub["credential"], "earn",
                                            previous=sid)
                log(f"  {sid} was not yet: the educator resubmitted as {j.resubmitted[sid]}")
        if time.monotonic() - last > 3:
            progress_line(ctx, j, st, len(receiver.received()))
            last = time.monotonic()
        done = all(st.get(s, ("",))[0] in TERMINAL for s in j.subs)
        if done and len(j.resubmitted) == sum(
                1 for s in j.subs.values() if s["plan"] == "not_yet_resubmit"):
            earned = [s for s, v in st.items() if v == ("decided", "earned")]
            n_cred = ctx.query("SELECT count(DISTINCT submission_id) FROM credentials"
                               " WHERE tenant_id IN (%s, %s) AND kind = 'credential'",
                               (ctx.wake, ctx.durham))[0][0]
            if n_cred >= len(earned):
                progress_line(ctx, j, st, len(receiver.received()))
                break
        if time.monotonic() > deadline:
            progress_line(ctx, j, st, len(receiver.received()))
            raise RuntimeError(f"not every submission finished in {timeout}s: "
                               + ", ".join(f"{s}={v}" for s, v in st.items()
                                           if v[0] not in TERMINAL))
        time.sleep(0.5)
    j.finished = time.time()
    return j


# ---- what happened ------------------------------------------------------------------------


def wait_quiet_webhooks(ctx, receiver, timeout=30):
    """Until every delivery queued for wake's endpoint has arrived (or timeout)."""
    def pending():
        return ctx.query("SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints e"
                         " ON e.id = d.endpoint_id WHERE e.tenant_id = %s"
                         " AND d.state <> 'delivered'", (ctx.wake,))[0][0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending() == 0:
            break
        time.sleep(0.5)
    return pending()


def pilot_metrics(ctx, timeout=30, want=None):
    """The last pilot.metrics record of the pilot on <prefix>metrics.pilot (compacted topic);
    waits until want(data) is true when given."""
    c = Consumer({"bootstrap.servers": ctx.brokers, "group.id": f"demo-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([ctx.prefix + "metrics.pilot"])
    last = None
    deadline = time.monotonic() + timeout
    idle_until = None
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                if last is not None and want is None:
                    if idle_until is None:
                        idle_until = time.monotonic() + 2
                    elif time.monotonic() > idle_until:
                        break
                continue
            if m.key() and m.key().decode() == ctx.pilot:
                last = json.loads(m.value())
                idle_until = None
                if want and want(last):
                    break
    finally:
        c.close()
    return last


def statements(ctx, tenants, timeout=20, want=None):
    """Statements on <prefix>analytics of the given tenants: list of (verb, data)."""
    c = Consumer({"bootstrap.servers": ctx.brokers, "group.id": f"demo-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([ctx.prefix + "analytics"])
    out = []
    deadline = time.monotonic() + timeout
    idle = 0
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                idle += 1
                if out and idle > 4 and (want is None or want(out)):
                    break
                continue
            idle = 0
            d = json.loads(m.value())
            if d.get("tenant_id") in tenants:
                out.append((d["statement"]["verb"]["display"]["en-US"], d))
    finally:
        c.close()
    return out


def expected_pilot(ctx, w, j):
    """The pilot's figures as the journey made them: wake submissions of targeted educators."""
    st = states(ctx, j)
    subs = [s for s, v in j.subs.items()
            if v["tenant"] == ctx.wake and v["educator"] in w.targeted]
    return {"targeted": len(w.targeted),
            "reached": len({j.subs[s]["educator"] for s in subs}),
            "submissions": len(subs),
            "earned": sum(1 for s in subs if st.get(s) == ("decided", "earned")),
            "not_yet": sum(1 for s in subs if st.get(s) == ("decided", "not_yet")),
            "resubmissions": sum(1 for s in subs if j.subs[s]["previous"]),
            "first_decided": sum(1 for s in subs if not j.subs[s]["previous"]),
            "first_earned": sum(1 for s in subs if not j.subs[s]["previous"]
                                and st.get(s) == ("decided", "earned"))}


def fmt_dt(seconds):
    return f"+{seconds:.1f}s"


def journeys(ctx, j):
    """{submission id: [(to_state, outcome, at)]} from submission_events."""
    rows = ctx.query("SELECT submission_id, to_state, outcome, at FROM submission_events"
                     " WHERE tenant_id IN (%s, %s) ORDER BY id", (ctx.wake, ctx.durham))
    out = {}
    for sid, to_state, outcome, at in rows:
        if sid in j.subs:
            out.setdefault(sid, []).append((to_state, outcome, at))
    return out


def print_report(ctx, api, w, j, receiver, metrics):
    hr = "-" * 100
    log(f"\n{hr}\nJOURNEYS (submission_events: state and time since the submission was recorded)\n{hr}")
    jr = journeys(ctx, j)
    for sid in j.order:
        sub = j.subs[sid]
        ev = jr.get(sid, [])
        t0 = ev[0][2] if ev else None
        steps = " -> ".join(
            f"{s}{'(' + o + ')' if o else ''} {fmt_dt((at - t0).total_seconds())}"
            for s, o, at in ev)
        log(f"{sid:<22} {sub['credential']:<48} script: {sub['plan']}")
        log(f"    {steps}")
        if sub.get("scores"):
            log("    scores: " + ", ".join(f"{aid.rsplit('-', 1)[-1]}:{role}:{step}"
                                          for aid, role, step in sub["scores"]))

    log(f"\n{hr}\nDECISIONS (GET /v1/submissions/{{id}}: levels per criterion, feedback)\n{hr}")
    creds = []
    for sid in j.order:
        sub = j.subs[sid]
        doc = api.ok("GET", f"/v1/submissions/{sid}", key=w.keys[district_of(ctx, sub["tenant"])])
        d = doc.get("decision") or {}
        log(f"{sid:<22} {d.get('outcome', doc['state']):<8} attempt {d.get('attempt')}, "
            f"{d.get('attempts_left')} left")
        for c in d.get("criteria", []):
            fb = c.get("feedback") or []
            fb = fb if isinstance(fb, list) else [fb]
            mark = "" if c.get("passing", True) else "  << below passing"
            log(f"    {c.get('criterion_id'):<32} {c.get('level_id'):<11}{mark}")
            if not c.get("passing", True):
                for f in fb:
                    log(f"        feedback: {f}")
        if doc.get("credential"):
            creds.append((sid, doc["credential"]))

    log(f"\n{hr}\nCREDENTIALS (Open Badges 3.0, VC-JWT; verify: the URL, the .jwt beside it, the issuer's JWKS)\n{hr}")
    for sid, c in creds:
        tenant = j.subs[sid]["tenant"]
        log(f"{sid:<22} {c['credential_id']}")
        log(f"    {ctx.api_base}{c['url']}  (307 -> {ctx.issuer_base}/credentials/{c['credential_id']})")
    log(f"    key sets: {ctx.issuer_base}/issuers/{ctx.wake}/jwks.json, "
        f"{ctx.issuer_base}/issuers/{ctx.durham}/jwks.json")
    stacks = ctx.query("SELECT count(*) FROM credentials WHERE tenant_id IN (%s, %s)"
                       " AND kind <> 'credential'", (ctx.wake, ctx.durham))[0][0]
    log(f"    stack credentials issued: {stacks}")

    log(f"\n{hr}\nPILOT {ctx.pilot} (last record on {ctx.prefix}metrics.pilot; k = {ctx.k})\n{hr}")
    if metrics:
        ratio = metrics.get("reach_ratio")
        log(f"  reach: {metrics.get('reached')} of {metrics.get('targeted')} targeted educators"
            f" = {ratio if ratio is not None else 'suppressed'}"
            f"   target {metrics.get('target_ratio')}   on target: {metrics.get('on_target')}")
        for k in ("submissions", "earned", "first_attempt_pass_rate", "not_yet_rate",
                  "resubmissions", "backlog", "stalled"):
            log(f"  {k:<24} {metrics.get(k)}")
        for k in ("time_to_decision", "time_to_earn", "assessor_turnaround"):
            log(f"  {k:<24} {metrics.get(k)}")
        log(f"  {'agreement':<24} {metrics.get('agreement')}")
        log(f"  suppressed (< k): {', '.join(metrics.get('suppressed') or []) or 'none'}")
    else:
        log("  no pilot.metrics record seen")

    got = receiver.received()
    log(f"\n{hr}\nWEBHOOKS received by {receiver.url} (wake's endpoint)\n{hr}")
    by_type = {}
    for g in got:
        by_type[g["type"]] = by_type.get(g["type"], 0) + 1
    for t, n in sorted(by_type.items()):
        log(f"  {n:4d}  {t}")
    bad = [g for g in got if not g["valid"]]
    log(f"  {len(got)} deliveries, {len({g['id'] for g in got})} distinct webhook-ids, "
        f"signatures valid: {len(got) - len(bad)}/{len(got)}")

    cli = ctx.cli_path
    log(f"\n{hr}\nWHERE TO LOOK NEXT\n{hr}")
    log(f"  stack addresses         {ctx.stack['BADGEFLOW_STACK_DIR']}/stack.env")
    log(f"  daemon configs and logs {ctx.work}/<service>.conf, <service>.log (JSON lines)")
    log(f"  tail a topic            BADGEFLOW_KAFKA_BROKERS={ctx.brokers} {cli} tail "
        f"decisions --count 5")
    log(f"                          (also: submissions, evidence, submissions.ready, assignments,"
        f" scores, credentials, analytics, metrics.pilot)")
    for svc in SERVICES:
        log(f"  {svc:<11} metrics      http://127.0.0.1:{ctx.ports[svc]}/metrics")
    log(f"  the API                 {ctx.api_base}/v1/...  (admin key: {w.keys['admin'][:15]}...)")
    log(f"  the database            psql \"{ctx.conninfo}\" -c 'SELECT * FROM submission_events'")


# ---- main ---------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack-env", default=os.environ.get("BADGEFLOW_STACK_ENV") or os.path.join(
        os.environ.get("BADGEFLOW_STACK_DIR", "/tmp/badgeflow-demo"), "stack.env"))
    ap.add_argument("--build", default=os.environ.get("BADGEFLOW_BUILD_DIR", ROOT / "build"))
    ap.add_argument("--work", default="/tmp/badgeflow-demo/work")
    ap.add_argument("--keep", action="store_true", help="leave the daemons running")
    args = ap.parse_args(argv)

    t0 = time.time()
    ctx = Ctx(args.stack_env, args.build, args.work)
    if ctx.query("SELECT 1 FROM tenants WHERE id = %s", (ctx.state,)):
        tag = time.strftime("%H%M%S")
        log(f"  {ctx.state} exists already (a kept stack): this run's tenants end in -{tag}")
        ctx = Ctx(args.stack_env, args.build, args.work, tag=tag)
        ctx.prefix = "badgeflow."
    receiver = Receiver()
    daemons = Daemons(ctx)
    try:
        log("\n== the state agency, districts, pilot, assessors, keys, webhook (badgeflow CLI)")
        w = setup_world(ctx, receiver)
        log(f"  {ctx.state} with {ctx.wake} and {ctx.durham}; pilot {ctx.pilot}: "
            f"{len(w.targeted)} targeted educators, reach target 75%")
        log(f"  {len(w.assessors)} state assessors; {len(w.assessor_keys) + 3} API keys; "
            f"issuer keys {', '.join(w.kids)}; webhook {w.webhook_id} -> {receiver.url}")
        log(f"\n== starting the seven daemons (configs and logs in {ctx.work})")
        daemons.start_all()
        daemons.wait_ready()
        log(f"  gateway API on {ctx.api_base}; issuer (verification) on {ctx.issuer_base}")
        log("\n== media (ffmpeg lavfi), uploads, submissions, scripted assessors")
        media = make_media(ctx)
        api = Api(ctx.api_port)
        j = run_journey(ctx, api, w, receiver, daemons, media)
        log(f"  every submission finished; {time.time() - j.started:.0f}s from the first post")
        pending = wait_quiet_webhooks(ctx, receiver)
        if pending:
            log(f"  {pending} webhook deliveries still pending")
        want = expected_pilot(ctx, w, j)
        metrics = pilot_metrics(ctx, timeout=30, want=lambda m: all(
            m.get(k) == v for k, v in want.items() if k in ("submissions", "earned")))
        print_report(ctx, api, w, j, receiver, metrics)
        log(f"\n  the demo took {time.time() - t0:.0f}s after the catalogue was loaded")
        if args.keep:
            log("  --keep: the daemons keep running; the webhook receiver ends with this script,"
                " so later deliveries to it fail and are retried")
        return 0
    finally:
        receiver.close()
        if not args.keep:
            daemons.stop_all()


if __name__ == "__main__":
    sys.exit(main())
