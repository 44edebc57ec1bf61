# SPDX-License-Identifier: Apache-2.0
"""deploy/ names only binaries, ports, config keys and topics that exist.

    /usr/bin/python3 -m pytest -q tests/deploy          # python3-pytest, python3-yaml

What it reads, and where the truth comes from:
  - services: the directories under services/ (a new one must be deployed everywhere);
  - config keys: config/<svc>.conf.example (the daemon's --print-config, kept current by
    CTest) and config/badgeflow.conf.example (the common keys; all the CLI knows);
  - ports, brokers, shutdown timeouts: deploy/config/<svc>.conf;
  - consumed topics: the handler tables in services/<svc>/*.c (`struct bf_event_handler
    NAME[] = {{"topic", type, fn}, ...}`): the daemon skeleton subscribes to exactly the
    distinct topics of that table (topics_collect in common/src/daemon.c), so the table,
    not the prose of docs/<svc>.md, is what the consumer group's lag is made of;
  - binaries: badgeflow, badgeflow-<svc> for each services/<svc>, and the other
    add_executable() targets of services/*/CMakeLists.txt (badgeflow-transcode-worker).
Only the --check-config part needs a build ($BADGEFLOW_BUILD_DIR, default build/); it is
skipped, saying so, when the binaries are not there. Everything else is static and fast.
"""

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

TOP = Path(__file__).resolve().parents[2]
DEPLOY = TOP / "deploy"
CONFIG = DEPLOY / "config"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
BUILD = Path(os.environ.get("BADGEFLOW_BUILD_DIR", TOP / "build"))
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when there

# BADGEFLOW_* variables the manifests may name that are not config keys.
NOT_CONFIG = {
    "BADGEFLOW_DATADIR": "the CLI's data directory (tools/cli/cli_util.c)",
    "BADGEFLOW_IMAGE": "a compose variable: the image to run",
    "BADGEFLOW_BUILD_DIR": "where the tests find the binaries",
}
# What the CLI (init, migrate steps) reads besides the common keys.
CLI_ENV = {"BADGEFLOW_DATADIR"}
# Packages of the debian:12 base image itself (the runtime stage need not list them).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}

# deploy/ files this test owns the checking of (deploy/local is another's).
OWN_DIRS = ["config", "docker", "compose", "k8s", "systemd"]


# ---- the truth: services, config examples, handler topics -----------------------------

@functools.lru_cache(maxsize=None)
def services():
    return sorted(p.name for p in (TOP / "services").iterdir() if p.is_dir())


@functools.lru_cache(maxsize=None)
def parse_example(path):
    """{'section.key': {'env': VAR, 'secret': bool, 'required': bool}} of a
    --print-config example."""
    keys, section, pending = {}, None, None
    for line in path.read_text().splitlines():
        s = line.strip()
        m = re.fullmatch(r"\[([a-z_]+)\]", s)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"# type: (.*); environment: (BADGEFLOW_[A-Z0-9_]+)$", s)
        if m:
            flags = [f.strip() for f in m.group(1).split(",")]
            pending = {"env": m.group(2), "secret": "secret" in flags,
                       "required": "required" in flags}
            continue
        m = re.match(r"#?([a-z0-9_]+) =", s)
        if m and pending and section:
            keys[f"{section}.{m.group(1)}"] = pending
            pending = None
    return keys


@functools.lru_cache(maxsize=None)
def example(svc):
    path = TOP / "config" / f"{svc}.conf.example"
    assert path.exists(), f"services/{svc} has no config/{svc}.conf.example"
    return parse_example(path)


@functools.lru_cache(maxsize=None)
def common_example():
    return parse_example(TOP / "config" / "badgeflow.conf.example")


def env_vars(keys):
    return {v["env"] for v in keys.values()}


@functools.lru_cache(maxsize=None)
def read_conf(path):
    """{'section.key': value} as badgeflow reads an INI file (full-line comments)."""
    out, section = {}, None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if s.startswith("["):
            section = s[1:s.index("]")].strip()
            continue
        key, eq, value = s.partition("=")
        assert eq and section, f"{path}:{n}: not 'key = value' inside a [section]"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[f"{section}.{key.strip()}"] = value
    return out


def duration_s(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", text.strip())
    assert m, f"bad duration {text!r}"
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 0.001}
    return int(m.group(1)) * unit[m.group(2)]


def conf(svc):
    c = dict(read_conf(CONFIG / f"{svc}.conf"))
    c.setdefault("kafka.topic_prefix", "badgeflow.")
    c.setdefault("kafka.partitions", "6")
    c.setdefault("daemon.shutdown_timeout", "10s")
    if not c.get("kafka.group_id"):
        c["kafka.group_id"] = f"badgeflow-{svc}"
    return c


def port(listen):
    return int(listen.rsplit(":", 1)[1])


@functools.lru_cache(maxsize=None)
def handler_topics(svc):
    """The distinct topics of the service's bf_event_handler table(s)."""
    topics = set()
    for src in sorted((TOP / "services" / svc).glob("*.c")):
        text = src.read_text(errors="replace")
        for body in re.findall(r"struct\s+bf_event_handler\s+\w+\s*\[\s*\]\s*=\s*\{(.*?)\};",
                               text, re.S):
            topics.update(re.findall(r'\{\s*"([A-Za-z0-9._-]+)"', body))
    return topics


@functools.lru_cache(maxsize=None)
def cmake_executables():
    names = set()
    for f in (TOP / "services").glob("*/CMakeLists.txt"):
        names.update(re.findall(r"add_executable\(\s*([A-Za-z0-9_-]+)", f.read_text()))
    return names


def binary_exists(name):
    if name == "badgeflow":
        return True
    if name.startswith("badgeflow-") and (TOP / "services" / name[len("badgeflow-"):]).is_dir():
        return True
    return name in cmake_executables()


# ---- the manifests ------------------------------------------------------------------------

def own_files(*suffixes):
    out = []
    for d in OWN_DIRS:
        out += [p for p in (DEPLOY / d).rglob("*") if p.is_file() and p.name.endswith(suffixes)]
    return sorted(out)


@functools.lru_cache(maxsize=None)
def load_all(path):
    return [d for d in yaml.load_all(path.read_text(), Loader=LOADER) if d is not None]


@functools.lru_cache(maxsize=None)
def compose():
    return yaml.load(COMPOSE.read_text(), Loader=LOADER)


@functools.lru_cache(maxsize=None)
def k8s_objects(include_examples=False):
    objs = []
    for p in sorted(K8S.glob("*.yaml")):
        if p.name == "kustomization.yaml":
            continue
        if p.name.endswith(".example.yaml") and not include_examples:
            continue
        objs += [(p.name, d) for d in load_all(p)]
    return objs


@functools.lru_cache(maxsize=None)
def k8s_kind(kind):
    return {d["metadata"]["name"]: d for _, d in k8s_objects() if d["kind"] == kind}


@functools.lru_cache(maxsize=None)
def pod_specs():
    """(owner, pod spec) of every Deployment and Job."""
    out = []
    for _, d in k8s_objects():
        if d["kind"] in ("Deployment", "Job"):
            out.append((f'{d["kind"]}/{d["metadata"]["name"]}', d["spec"]["template"]["spec"]))
    return out


def deployment(svc):
    deps = k8s_kind("Deployment")
    assert f"badgeflow-{svc}" in deps, f"deploy/k8s: no Deployment badgeflow-{svc}"
    return deps[f"badgeflow-{svc}"]


def main_container(svc):
    spec = deployment(svc)["spec"]["template"]["spec"]
    (c,) = [c for c in spec["containers"] if c["name"] == svc]
    return c


def unit_text(name):
    return (SYSTEMD / name).read_text()


def unit_values(text, key):
    return [m.group(1).strip() for m in re.finditer(rf"^{key}=(.*)$", text, re.M)]


def systemd_files():
    return sorted(p for p in SYSTEMD.rglob("*") if p.is_file())


# ---- parse --------------------------------------------------------------------------------

def test_every_yaml_parses():
    files = own_files(".yaml", ".yml")
    assert files, "no YAML under deploy/"
    for p in files:
        try:
            docs = load_all(p)
        except yaml.YAMLError as e:
            pytest.fail(f"{p.relative_to(TOP)}: {e}")
        assert docs, f"{p.relative_to(TOP)}: empty"
        if p.parent == K8S and p.name != "kustomization.yaml":
            for d in docs:
                assert {"apiVersion", "kind", "metadata"} <= set(d), f"{p.name}: {d}"


def test_k8s_manifests_are_what_render_writes():
    sys.path.insert(0, str(K8S))
    sys.dont_write_bytecode = True  # no __pycache__ in deploy/k8s
    try:
        import render
    finally:
        sys.path.pop(0)
    stale = [n for n, text in render.render().items()
             if not (K8S / n).exists() or (K8S / n).read_text() != text]
    assert not stale, f"deploy/k8s is stale, run deploy/k8s/render.py: {stale}"
    generated = set(render.render()) | {"render.py"}
    extra = {p.name for p in K8S.iterdir()} - generated - {"__pycache__"}
    assert not extra, f"deploy/k8s has files render.py does not write: {extra}"


def test_kustomization_lists_the_manifests_and_builds():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kust["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == {n for n in on_disk if not n.endswith(".example.yaml")}
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return  # the static part above is the check; kubectl is optional here
    r = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, f"kubectl kustomize deploy/k8s: {r.stderr}"
    kinds = {d["kind"] for d in yaml.safe_load_all(r.stdout) if d}
    assert {"Deployment", "ScaledObject", "Job", "ConfigMap"} <= kinds


# ---- binaries ---------------------------------------------------------------------------------

def named_binaries():
    """(where, binary) for every binary the Dockerfile, compose, k8s and systemd run."""
    out = []
    # Dockerfile: the CMD/ENTRYPOINT JSON arrays and every /usr/bin/badgeflow* path.
    text = DOCKERFILE.read_text()
    for m in re.finditer(r"^(?:CMD|ENTRYPOINT)\s+(\[.*\])", text, re.M):
        out.append(("Dockerfile", yaml.safe_load(m.group(1))[0]))
    out += [("Dockerfile", b) for b in re.findall(r"/usr/bin/(badgeflow[A-Za-z0-9_-]*)", text)]
    # compose: command/entrypoint; a shell script's lines are commands too.
    for name, s in compose()["services"].items():
        for key in ("command", "entrypoint"):
            cmd = s.get(key)
            if not cmd:
                continue
            words = cmd if isinstance(cmd, list) else cmd.split()
            for w in words:
                for line in str(w).splitlines():
                    first = line.split()[0] if line.split() else ""
                    if first.startswith("badgeflow") or first.startswith("/usr/bin/badgeflow"):
                        out.append((f"compose {name}", first.rsplit("/", 1)[-1]))
    # k8s: every container's command.
    for owner, spec in pod_specs():
        for c in spec.get("initContainers", []) + spec["containers"]:
            out.append((f"k8s {owner}", c["command"][0].rsplit("/", 1)[-1]))
    # systemd: Exec*= lines; badgeflow-%i for each instance that has a drop-in.
    for p in systemd_files():
        for line in re.findall(r"^Exec\w*=[-@:+!]*(\S+)", p.read_text(), re.M):
            b = line.rsplit("/", 1)[-1]
            if "%i" not in b:
                out.append((f"systemd {p.name}", b))
    for d in SYSTEMD.glob("badgeflow@*.service.d"):
        inst = d.name[len("badgeflow@"):-len(".service.d")]
        out.append((f"systemd {d.name}", f"badgeflow-{inst}"))
    return out


def test_every_named_binary_exists():
    named = named_binaries()
    assert named
    bad = [(w, b) for w, b in named if not binary_exists(b)]
    assert not bad, f"binaries that are no service, CLI or CMake target: {bad}"
    # the daemons and the CLI really are run somewhere
    names = {b for _, b in named}
    assert "badgeflow" in names
    for svc in services():
        assert f"badgeflow-{svc}" in names, f"nothing runs badgeflow-{svc}"


def test_systemd_template_runs_the_instance_binary():
    text = unit_text("badgeflow@.service")
    assert unit_values(text, "ExecStart") == [
        "/usr/bin/badgeflow-%i --config /etc/badgeflow/%i.conf"]
    for svc in services():
        assert (CONFIG / f"{svc}.conf").exists(), f"no deploy/config/{svc}.conf for badgeflow@{svc}"


# ---- every service everywhere ------------------------------------------------------------------

def test_every_service_is_deployed_everywhere():
    svcs = compose()["services"]
    cm = k8s_kind("ConfigMap")["badgeflow-config"]["data"]
    scaled = k8s_kind("ScaledObject")
    for svc in services():
        # compose
        assert svc in svcs, f"compose: no service {svc}"
        s = svcs[svc]
        assert s["command"] == [f"badgeflow-{svc}", "--config", f"/etc/badgeflow/{svc}.conf"]
        assert f"../config/{svc}.conf:/etc/badgeflow/{svc}.conf:ro" in s["volumes"]
        # k8s
        c = main_container(svc)
        assert c["command"] == [f"/usr/bin/badgeflow-{svc}", "--config",
                                f"/etc/badgeflow/{svc}.conf"]
        assert cm[f"{svc}.conf"] == (CONFIG / f"{svc}.conf").read_text()
        if handler_topics(svc):
            assert f"badgeflow-{svc}" in scaled, f"k8s: {svc} consumes but has no ScaledObject"
        else:
            assert f"badgeflow-{svc}" not in scaled, f"k8s: {svc} consumes nothing: no lag"
        assert f"badgeflow-{svc}" in k8s_kind("PodDisruptionBudget")
    assert cm["badgeflow.conf"] == (CONFIG / "badgeflow.conf").read_text()
    extra = set(k8s_kind("Deployment")) - {f"badgeflow-{s}" for s in services()}
    assert not extra, f"Deployments of no service: {extra}"


def test_state_paths_are_mounted_and_writable_where_needed():
    """Directories a config names exist in each deployment: volumes under a read-only
    root (compose, k8s), StateDirectory=/PrivateTmp= under ProtectSystem=strict."""
    svcs = compose()["services"]
    for svc in services():
        c = conf(svc)
        paths = {k: v for k, v in c.items()
                 if (k.endswith("_root") or k.endswith("_dir")) and v.startswith("/")}
        mounts = {m["mountPath"]: m for m in main_container(svc)["volumeMounts"]}
        cmounts = {v.split(":")[1]: v for v in svcs[svc].get("volumes", [])}
        dropin = SYSTEMD / f"badgeflow@{svc}.service.d"
        sd = "".join(p.read_text() for p in dropin.glob("*.conf")) if dropin.is_dir() else ""
        for key, path in paths.items():
            assert path in mounts, f"k8s {svc}: {key} = {path} is not mounted"
            assert path in cmounts, f"compose {svc}: {key} = {path} is not mounted"
            if path.startswith("/var/lib/badgeflow/"):
                owned = path[len("/var/lib/"):]
                # the owner writes it; others (the transcoder's upload_root) only read
                writes = not mounts[path].get("readOnly")
                assert writes == (not cmounts[path].endswith(":ro")), f"{svc} {path}"
                if writes:
                    assert f"StateDirectory={owned}" in sd, (
                        f"systemd badgeflow@{svc}: no StateDirectory={owned} for {key}")
            elif path.startswith(("/var/tmp/", "/tmp/")):
                assert "PrivateTmp=yes" in unit_text("badgeflow@.service")


# ---- config keys and environment variables --------------------------------------------------

def test_deploy_configs_use_only_known_keys():
    cli = common_example()
    for key in read_conf(CONFIG / "badgeflow.conf"):
        assert key in cli, f"deploy/config/badgeflow.conf: {key}: not a key the CLI knows"
    for svc in services():
        keys = example(svc)
        for key in read_conf(CONFIG / f"{svc}.conf"):
            assert key in keys, f"deploy/config/{svc}.conf: {key}: not in config/{svc}.conf.example"
    stray = {p.stem for p in CONFIG.glob("*.conf")} - set(services()) - {"badgeflow"}
    assert not stray, f"deploy/config has configs of no service: {stray}"


def test_no_secret_in_the_config_files():
    """Keys flagged secret are left to the environment (a conninfo without a password
    is not a secret)."""
    for svc in services():
        keys = example(svc)
        for key, value in read_conf(CONFIG / f"{svc}.conf").items():
            if not keys[key]["secret"] or not value:
                continue
            assert key == "postgres.conninfo" and "password" not in value, (
                f"deploy/config/{svc}.conf sets the secret {key}")


def _env_of_compose():
    """(service, {VAR: value}) of every compose service running the badgeflow image."""
    out = []
    for name, s in compose()["services"].items():
        if "badgeflow" not in str(s.get("image", "")):
            continue
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        out.append((name, env))
    return out


def cli_getenv():
    """Variables the CLI's commands read themselves (getenv in tools/cli)."""
    names = set()
    for f in (TOP / "tools" / "cli").glob("*.c"):
        names |= set(re.findall(r'getenv\("(BADGEFLOW_[A-Z0-9_]+)"\)', f.read_text()))
    return names


def _allowed_env(owner):
    """The variables a daemon (svc), the CLI's set-up steps (None) or the operator's CLI
    ("cli": its commands load a service's keys, e.g. the notifier's KEK) read."""
    if owner is None:
        return env_vars(common_example()) | CLI_ENV
    if owner == "cli":
        known = env_vars(common_example()) | CLI_ENV | cli_getenv()
        for svc in services():
            known |= env_vars(example(svc))
        return known
    return env_vars(example(owner))


def test_env_vars_named_in_manifests_are_config_keys():
    svcs = set(services())
    checked = 0
    # compose
    for name, env in _env_of_compose():
        owner = name if name in svcs or name == "cli" else None
        for var in env:
            if var.startswith("BADGEFLOW_"):
                checked += 1
                assert var in _allowed_env(owner), f"compose {name}: {var} is no config key"
    # k8s: daemons' containers; init containers and the Job run the CLI
    for owner_name, spec in pod_specs():
        for c in spec.get("initContainers", []) + spec["containers"]:
            owner = c["name"] if c["name"] in svcs else None
            for e in c.get("env", []):
                checked += 1
                assert e["name"] in _allowed_env(owner), f"k8s {owner_name}/{c['name']}: {e['name']}"
    # systemd: Environment= lines (template: the common keys; drop-ins: the instance's)
    for p in systemd_files():
        owner = None
        m = re.search(r"badgeflow@(\w+)\.service\.d", str(p))
        if m:
            owner = m.group(1)
        for var in re.findall(r"^Environment=\"?(BADGEFLOW_[A-Z0-9_]+)=", p.read_text(), re.M):
            checked += 1
            allowed = _allowed_env(owner) if owner else _allowed_env(None)
            assert var in allowed, f"systemd {p.name}: {var}"
    # Dockerfile ENV
    for var in re.findall(r"^ENV\s+(BADGEFLOW_[A-Z0-9_]+)=", DOCKERFILE.read_text(), re.M):
        checked += 1
        assert var in CLI_ENV, f"Dockerfile: ENV {var}"
    assert checked > 20


def test_every_badgeflow_variable_mentioned_exists():
    """Also the comments, the README and env.example: no misspelt variable anywhere."""
    known = set(NOT_CONFIG) | env_vars(common_example())
    for svc in services():
        known |= env_vars(example(svc))
    assert "BADGEFLOW_DATADIR" in (TOP / "tools" / "cli" / "cli_util.c").read_text()
    files = own_files(".yaml", ".conf", ".service", ".target", ".example", "Dockerfile",
                      ".py", ".sysusers") + [DEPLOY / "README.md"]
    for p in files:
        for var in set(re.findall(r"\bBADGEFLOW_[A-Z0-9_]*[A-Z0-9]\b", p.read_text())):
            assert var in known, f"{p.relative_to(TOP)}: {var} is no config key"


def test_required_and_secret_keys_reach_each_daemon():
    """A key that is required, or secret, and not set in deploy/config/<svc>.conf is
    given to the daemon by compose and k8s, from a secret, never as a literal."""
    cenv = dict(_env_of_compose())
    for svc in services():
        keys, set_in_file = example(svc), read_conf(CONFIG / f"{svc}.conf")
        kenv = {e["name"]: e for e in main_container(svc).get("env", [])}
        for key, k in keys.items():
            if not k["required"] or set_in_file.get(key):
                continue
            assert k["env"] in cenv[svc], f"compose {svc}: required {k['env']} missing"
            assert k["env"] in kenv, f"k8s {svc}: required {k['env']} missing"
            assert k["env"] in (CONFIG / f"{svc}.conf").read_text(), (
                f"deploy/config/{svc}.conf does not tell where {k['env']} comes from")
        for var, e in kenv.items():
            spec = next((k for k in keys.values() if k["env"] == var), None)
            if spec and spec["secret"]:
                assert "secretKeyRef" in e.get("valueFrom", {}), f"k8s {svc}: {var} literal"
        for var, value in cenv[svc].items():
            spec = next((k for k in keys.values() if k["env"] == var), None)
            if spec and spec["secret"]:
                assert "${" in str(value), f"compose {svc}: {var} is a literal, not from .env"


def test_kubernetes_service_links_cannot_inject_badgeflow_variables():
    """Service links would add <SERVICE>_SERVICE_HOST/_PORT...; one that reads as
    BADGEFLOW_<section>_<unknown key> stops a daemon."""
    sections = set()
    for svc in services():
        sections |= {k.split(".")[0].upper() for k in example(svc)}
    for owner, spec in pod_specs():
        assert spec.get("enableServiceLinks") is False, f"{owner}: enableServiceLinks"
    for name in k8s_kind("Service"):
        env = name.upper().replace("-", "_")
        for sec in sections:
            assert not env.startswith(f"BADGEFLOW_{sec}_") and env != f"BADGEFLOW_{sec}", (
                f"Service {name} would inject BADGEFLOW_{sec}_* variables")


# ---- --check-config against the build ------------------------------------------------------

def _clean_env(extra=None):
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    env.update(extra or {})
    return env


def _placeholder_env(svc):
    """Dummy values for required keys the config leaves to the environment (what the
    Secret supplies in production): 64 hex digits fit every one."""
    set_in_file = read_conf(CONFIG / f"{svc}.conf")
    return {k["env"]: "0123456789abcdef" * 4 for key, k in example(svc).items()
            if k["required"] and not set_in_file.get(key)}


def test_configs_pass_check_config():
    targets = {svc: BUILD / "services" / svc / f"badgeflow-{svc}" for svc in services()}
    cli = BUILD / "tools" / "cli" / "badgeflow"
    missing = [str(p) for p in [*targets.values(), cli] if not os.access(p, os.X_OK)]
    if len(missing) == len(targets) + 1:
        pytest.skip(f"not built: no binaries in {BUILD} (set BADGEFLOW_BUILD_DIR); "
                    "only the --check-config part is skipped, the keys were checked statically")
    for svc, binary in targets.items():
        if not os.access(binary, os.X_OK):
            continue  # a service being written: its keys were checked statically
        r = subprocess.run([str(binary), "--config", str(CONFIG / f"{svc}.conf"),
                            "--check-config"], env=_clean_env(_placeholder_env(svc)),
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, f"badgeflow-{svc} --check-config: {r.stdout}{r.stderr}"
    if os.access(cli, os.X_OK):
        # The CLI has no --check-config: any command loads (and validates) the config first.
        r = subprocess.run([str(cli), "--config", str(CONFIG / "badgeflow.conf"), "config",
                            "example"], env=_clean_env(), capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 0, f"badgeflow --config badgeflow.conf: {r.stderr}"


# ---- ports ------------------------------------------------------------------------------------

def test_ports_match_the_configs():
    svcs = compose()["services"]
    seen = {}
    for svc in services():
        c = conf(svc)
        http = port(c["http.listen"])
        assert c["http.listen"].startswith("0.0.0.0:"), f"{svc}: http.listen inside containers"
        assert http not in seen, f"{svc} and {seen.get(http)} share port {http} (systemd: one host)"
        seen[http] = svc
        api = port(c["gateway.listen"]) if "gateway.listen" in c else None
        if api:
            assert api not in seen
            seen[api] = svc
        # k8s: container ports, probes, annotations
        cont = main_container(svc)
        named = {p["name"]: p["containerPort"] for p in cont["ports"]}
        assert named["http"] == http
        if api:
            assert named["api"] == api
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = cont[probe]["httpGet"]
            assert get["path"] == path, f"k8s {svc} {probe}"
            assert named.get(get["port"], get["port"]) == http, f"k8s {svc} {probe} port"
        ann = deployment(svc)["spec"]["template"]["metadata"]["annotations"]
        assert ann["prometheus.io/port"] == str(http)
        # compose: the healthcheck and what is published
        test = " ".join(svcs[svc]["healthcheck"]["test"])
        assert f"127.0.0.1:{http}/healthz" in test, f"compose {svc} healthcheck: {test}"
        for p in svcs[svc].get("ports", []):
            target = int(str(p).rsplit(":", 1)[1])
            assert target in (http, api), f"compose {svc} publishes {target}"
            if target == http:
                assert svc == "issuer", f"compose publishes {svc}'s /metrics port"
        # Dockerfile documents it
        expose = re.search(r"^EXPOSE\s+(.*)$", DOCKERFILE.read_text(), re.M).group(1).split()
        assert str(http) in expose and (not api or str(api) in expose), f"EXPOSE {svc}"
    # k8s Services: their named targetPort is a port of a selected pod, and it is the
    # gateway's API or the issuer's public (http) port
    deps = k8s_kind("Deployment")
    for name, s in k8s_kind("Service").items():
        sel = s["spec"]["selector"]
        (dep,) = [d for d in deps.values()
                  if sel.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        svc = dep["metadata"]["labels"]["app.kubernetes.io/component"]
        named = {p["name"]: p["containerPort"] for p in main_container(svc)["ports"]}
        for p in s["spec"]["ports"]:
            assert p["targetPort"] in named, f"Service {name}: {p['targetPort']}"
    assert {"gateway", "issuer"} <= {
        d["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in deps.values()
        for s in k8s_kind("Service").values()
        if s["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()}


def test_issuer_public_routes_are_all_the_ingress_exposes():
    """/metrics shares the issuer's port: the example Ingress routes only the
    verification prefixes the issuer serves (its bf_http_route table)."""
    routes = set()
    for src in (TOP / "services" / "issuer").glob("*.c"):
        routes |= set(re.findall(r'\{"GET",\s*"(/[a-z]+/)"', src.read_text()))
    if not routes:
        pytest.skip("services/issuer serves no public routes yet")
    (ing,) = load_all(K8S / "ingress.example.yaml")
    paths = {p["path"]: p["backend"]["service"]["name"]
             for r in ing["spec"]["rules"] for p in r["http"]["paths"]}
    verify = {p for p, s in paths.items() if s == "badgeflow-verify"}
    assert verify == routes


# ---- scaling --------------------------------------------------------------------------------

def test_keda_scales_on_the_lag_of_the_consumed_topics():
    scaled = k8s_kind("ScaledObject")
    deps = k8s_kind("Deployment")
    for svc in services():
        topics = handler_topics(svc)
        if not topics:
            continue
        c = conf(svc)
        so = scaled[f"badgeflow-{svc}"]["spec"]
        assert so["scaleTargetRef"]["name"] in deps
        assert 1 <= so["minReplicaCount"] <= so["maxReplicaCount"]
        assert so["maxReplicaCount"] <= int(c["kafka.partitions"]), (
            f"{svc}: more replicas than partitions would sit idle")
        trig = [t["metadata"] for t in so["triggers"] if t["type"] == "kafka"]
        assert {t["topic"] for t in trig} == {c["kafka.topic_prefix"] + t for t in topics}, (
            f"{svc}: KEDA topics differ from the handler table {sorted(topics)}")
        for t in trig:
            assert t["consumerGroup"] == c["kafka.group_id"] == f"badgeflow-{svc}"
            assert int(t["lagThreshold"]) > 0
            brokers = [b.strip() for b in c["kafka.brokers"].split(",")]
            keda = t["bootstrapServers"].split(",")
            assert len(brokers) == len(keda)
            for b, k in zip(brokers, keda):
                host, p = b.rsplit(":", 1)
                assert k in (b, f"{host}.badgeflow.svc:{p}"), f"{svc}: {k} is not {b}"


def test_grace_periods_exceed_shutdown_timeout():
    svcs = compose()["services"]
    template = unit_text("badgeflow@.service")
    for svc in services():
        shutdown = duration_s(conf(svc)["daemon.shutdown_timeout"])
        spec = deployment(svc)["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] > shutdown, f"k8s {svc}"
        assert duration_s(svcs[svc]["stop_grace_period"]) > shutdown, f"compose {svc}"
        stop = unit_values(template, "TimeoutStopSec")[-1]
        dropin = SYSTEMD / f"badgeflow@{svc}.service.d"
        for p in sorted(dropin.glob("*.conf")) if dropin.is_dir() else []:
            stop = (unit_values(p.read_text(), "TimeoutStopSec") or [stop])[-1]
        assert duration_s(stop) > shutdown, f"systemd badgeflow@{svc}: TimeoutStopSec={stop}"


# ---- security ---------------------------------------------------------------------------------

def test_k8s_pods_are_locked_down():
    for owner, spec in pod_specs():
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0, owner
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", owner
        assert spec.get("automountServiceAccountToken") is False, owner
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            where = f"{owner}/{c['name']}"
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert sc.get("runAsNonRoot", psc["runAsNonRoot"]) is True, where
            assert c["resources"]["requests"] and c["resources"]["limits"], where
    uid = int(re.search(r"useradd .*--uid (\d+)", DOCKERFILE.read_text(), re.S).group(1))
    assert all(spec["securityContext"]["runAsUser"] == uid for _, spec in pod_specs())


def test_pdbs_select_their_deployments():
    deps = k8s_kind("Deployment")
    for name, pdb in k8s_kind("PodDisruptionBudget").items():
        labels = deps[name]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        # maxUnavailable (not minAvailable: 1) so a single replica can still be drained
        assert pdb["spec"].get("maxUnavailable") == 1


def test_secret_example_holds_only_placeholders_and_every_referenced_key():
    (secret,) = load_all(K8S / "secret.example.yaml")
    data = secret["stringData"]
    for key, value in data.items():
        assert value == "" or "CHANGE-ME" in value, f"secret.example.yaml: {key} looks real"
    for owner, spec in pod_specs():
        for c in spec.get("initContainers", []) + spec["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == secret["metadata"]["name"]
                    assert ref["key"] in data, f"{owner}: secret key {ref['key']}"
    assert "secret.example.yaml" not in yaml.safe_load(
        (K8S / "kustomization.yaml").read_text())["resources"]


# ---- compose ----------------------------------------------------------------------------------

def test_compose_stack_shape():
    svcs = compose()["services"]
    assert svcs["kafka"]["image"] == "apache/kafka:3.9.1"
    assert "broker,controller" in str(svcs["kafka"]["environment"]["KAFKA_PROCESS_ROLES"])
    assert svcs["postgres"]["image"].startswith("postgres:15")
    assert svcs["redis"]["image"].startswith("redis:7")
    init = " ".join(str(w) for w in svcs["init"]["command"])
    for step in ("migrate", "topics create", "catalogue load"):
        assert re.search(rf"badgeflow --config \S+ {step}", init), f"init: {step}"
    assert svcs["init"]["restart"] == "no"
    for svc in services():
        s = svcs[svc]
        deps = s["depends_on"]
        assert deps["init"]["condition"] == "service_completed_successfully"
        assert deps["kafka"]["condition"] == deps["postgres"]["condition"] == "service_healthy"
        if "redis" in conf(svc).get("redis.host", ""):
            assert deps["redis"]["condition"] == "service_healthy", svc
        assert s["read_only"] is True and s["cap_drop"] == ["ALL"], svc
        assert "no-new-privileges:true" in s["security_opt"], svc
        assert s["user"].split(":")[0] != "0"
        assert "/healthz" in " ".join(s["healthcheck"]["test"])
        # the brokers/hosts the config names are compose services
        for host in [b.rsplit(":", 1)[0] for b in conf(svc)["kafka.brokers"].split(",")]:
            assert host in svcs, f"{svc}: broker {host} is no compose service"
        pg = re.search(r"host=(\S+)", conf(svc)["postgres.conninfo"]).group(1)
        assert pg in svcs


# ---- Dockerfile -----------------------------------------------------------------------------

def _packages_txt_sections():
    """{heading: [packages]} of deploy/local/packages.txt; a heading is the first line
    of the comment block above a group of packages."""
    sections, current, in_comment = {}, None, False
    for line in (DEPLOY / "local" / "packages.txt").read_text().splitlines():
        if line.startswith("#"):
            if not in_comment:
                current = line[1:].strip()
            in_comment = True
            continue
        in_comment = False
        if line.strip():
            sections.setdefault(current, []).append(line.split("#")[0].strip())
    return sections


@functools.lru_cache(maxsize=None)
def _stage_packages(stage):
    text = DOCKERFILE.read_text()
    parts = re.split(r"^FROM\s+", text, flags=re.M)
    (block,) = [p for p in parts if re.match(rf"\S+\s+AS\s+{stage}\b", p)]
    m = re.search(r"apt-get install -y --no-install-recommends((?:\s*\\\n\s*[a-z0-9.+-]+)+)",
                  block)
    return set(re.findall(r"[a-z0-9][a-z0-9.+-]+", m.group(1)))


def test_dockerfile_stages():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG DEBIAN_IMAGE=debian:12$", text, re.M)
    assert len(re.findall(r"^FROM \$\{DEBIAN_IMAGE\} AS (build|runtime)$", text, re.M)) == 2
    build, runtime = _stage_packages("build"), _stage_packages("runtime")
    # The builder installs the build and C-library parts of packages.txt.
    secs = _packages_txt_sections()
    want = set(secs.get("build", [])) | {p for k, v in secs.items() if k and "C libraries" in k
                                         for p in v}
    assert want and want <= build, f"builder lacks {sorted(want - build)}"
    assert not {p for p in runtime if p.endswith("-dev")}, "runtime stage installs -dev"
    assert not runtime & {"build-essential", "cmake", "ninja-build", "gcc", "pkg-config"}
    assert "cmake --install" in text and "ninja" in text.lower()
    assert re.search(r"^USER 10001:10001$", text, re.M)
    # the CLI's data directory matches where the data is copied
    datadir = re.search(r"^ENV BADGEFLOW_DATADIR=(\S+)$", text, re.M).group(1)
    cli = " ".join(p.read_text() for p in (TOP / "tools" / "cli").glob("*.c"))
    for sub, src in (("db/migrations", "db/migrations/"), ("config/catalogue", "config/catalogue/")):
        assert f'"%s/{sub}"' in cli
        assert re.search(rf"^COPY {src} {datadir}/{sub}/$", text, re.M), sub
    # no shell wrapper as the entrypoint: the daemon is PID 1 and gets SIGTERM
    assert not re.search(r"^ENTRYPOINT", text, re.M)


def test_dockerignore_keeps_the_build_inputs():
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text().split("\n")
    pats = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    for must in ("build", "**/node_modules", ".git"):
        assert must in pats
    # nothing CMake adds is ignored
    root = (TOP / "CMakeLists.txt").read_text()
    for sub in re.findall(r"add_subdirectory\(([\w/]+)\)", root):
        assert sub not in pats and not any(sub.startswith(p.rstrip("/") + "/") for p in pats), sub
    assert not any(p in ("services", "common", "tools", "config", "db", "cmake") for p in pats)


def test_runtime_packages_cover_the_built_binaries():
    """With a build: every shared library the binaries need comes from a package of the
    runtime stage (or the base image). Maps NEEDED sonames through ldconfig and dpkg."""
    bins = [p for p in [BUILD / "tools" / "cli" / "badgeflow",
                        *(BUILD / "services").glob("*/badgeflow-*")] if os.access(p, os.X_OK)]
    if not bins or not shutil.which("readelf") or not shutil.which("dpkg"):
        pytest.skip(f"no binaries in {BUILD} (or no readelf/dpkg): runtime libraries unchecked")
    needed = set()
    for b in bins:
        out = subprocess.run(["readelf", "-d", str(b)], capture_output=True, text=True).stdout
        needed |= set(re.findall(r"\(NEEDED\).*\[(.+)\]", out))
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    paths = {}
    for soname, path in re.findall(r"^\s*(\S+) \(libc6,x86-64.*?\) => (\S+)$", cache, re.M):
        paths.setdefault(soname, path)
    if not paths:
        for soname, path in re.findall(r"^\s*(\S+) \(.*?\) => (\S+)$", cache, re.M):
            paths.setdefault(soname, path)
    def variants(path):
        real = os.path.realpath(path)
        out = {path, real}
        for p in (path, real):  # merged /usr: dpkg knows one of /lib/... and /usr/lib/...
            out.add(p[4:] if p.startswith("/usr/lib/") else "/usr" + p)
        return out

    wanted = {soname: variants(paths[soname]) for soname in needed if soname in paths}
    r = subprocess.run(["dpkg", "-S", *sorted(set().union(*wanted.values()))],
                       capture_output=True, text=True)
    owner_of = {}
    for line in r.stdout.splitlines():
        pkgs, sep, path = line.partition(": ")
        if sep and not line.startswith("diversion"):
            owner_of[path.strip()] = {p.split(":")[0] for p in pkgs.split(", ")}
    owners, unowned = set(), sorted(needed - set(wanted))
    for soname, cands in sorted(wanted.items()):
        found = set().union(*(owner_of.get(c, set()) for c in cands))
        owners |= found
        if not found:
            unowned.append(soname)
    assert not unowned, f"libraries of no Debian package: {unowned}"
    runtime = _stage_packages("runtime")
    missing = owners - runtime - BASE_PACKAGES
    assert not missing, f"runtime stage lacks {sorted(missing)} (needed by the binaries)"


# ---- systemd ----------------------------------------------------------------------------------

HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
             "PrivateDevices=yes", "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
             "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
             "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
             "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes",
             "LockPersonality=yes", "CapabilityBoundingSet="]


def test_systemd_units_shape():
    t = unit_text("badgeflow@.service")
    for line in HARDENING + ["Restart=on-failure", "KillSignal=SIGTERM", "User=badgeflow",
                             "EnvironmentFile=-/etc/badgeflow/%i.env", "WantedBy=badgeflow.target",
                             "PartOf=badgeflow.target"]:
        assert re.search(rf"^{re.escape(line)}$", t, re.M), f"badgeflow@.service: {line}"
    i = unit_text("badgeflow-init.service")
    assert "Type=oneshot" in i
    assert unit_values(i, "ExecStart") == [
        f"/usr/bin/badgeflow --config /etc/badgeflow/badgeflow.conf {step}"
        for step in ("migrate", "topics create", "catalogue load")]
    for line in HARDENING:
        assert re.search(rf"^{re.escape(line)}$", i, re.M), f"badgeflow-init.service: {line}"
    assert "Environment=BADGEFLOW_DATADIR=/usr/share/badgeflow" in i
    assert "WantedBy=multi-user.target" in unit_text("badgeflow.target")
    uid = re.search(r"^u badgeflow (\d+)", unit_text("badgeflow.sysusers"), re.M).group(1)
    assert f"--uid {uid}" in DOCKERFILE.read_text()


def _systemd_copy(tmp):
    """The units with /usr/bin/ pointing at stub executables, so verify can check them
    on a machine without badgeflow installed."""
    bindir, units = Path(tmp) / "bin", Path(tmp) / "units"
    bindir.mkdir()
    shutil.copytree(SYSTEMD, units)
    for name in ["badgeflow"] + [f"badgeflow-{s}" for s in services()]:
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o755)
    for p in units.rglob("*"):
        if p.is_file():
            p.write_text(p.read_text().replace("/usr/bin/", f"{bindir}/"))
    return units


def test_systemd_analyze_verify():
    sa = shutil.which("systemd-analyze")
    if not sa:
        pytest.skip("systemd-analyze is not installed (package systemd)")
    with tempfile.TemporaryDirectory() as tmp:
        units = _systemd_copy(tmp)
        names = [f"badgeflow@{s}.service" for s in services()]
        names += ["badgeflow-init.service", "badgeflow.target"]
        r = subprocess.run([sa, "verify", "--man=no", *[str(units / n) for n in names]],
                           capture_output=True, text=True, timeout=60)
        ours = [line for line in (r.stdout + r.stderr).splitlines()
                if "badgeflow" in line]
        if r.returncode != 0 and not ours and "Failed to" in r.stderr:
            pytest.skip(f"systemd-analyze verify cannot run here: {r.stderr.strip()}")
        assert r.returncode == 0 and not ours, "\n".join(ours) or r.stderr
        # the hardening adds up: systemd's own exposure score, 0 (best) .. 10
        r = subprocess.run([sa, "security", "--offline=yes", str(units / names[0])],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout)
        if m:
            assert float(m.group(1)) <= 2.0, r.stdout[-400:]


# ---- README -----------------------------------------------------------------------------------

def test_readme_ports_table_matches_the_configs():
    text = (DEPLOY / "README.md").read_text()
    for svc in services():
        c = conf(svc)
        rows = [line for line in text.splitlines()
                if line.startswith("|") and f"badgeflow-{svc}" in line]
        assert rows, f"deploy/README.md: no ports table row for badgeflow-{svc}"
        want = [str(port(c["http.listen"]))]
        if "gateway.listen" in c:
            want.append(str(port(c["gateway.listen"])))
        for p in want:
            assert any(p in r for r in rows), f"deploy/README.md: {svc} row lacks {p}"
