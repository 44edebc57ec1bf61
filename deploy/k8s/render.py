#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Render badgeflow's Kubernetes manifests into deploy/k8s/*.yaml.

    deploy/k8s/render.py            # write the manifests
    deploy/k8s/render.py --check    # exit 1 (and say which) if a written file is stale

Why a generator and not kustomize patches: the seven Deployments share everything but a
handful of structured differences (ports, secrets, volumes, resources, scaling), several
of which must agree with deploy/config/<svc>.conf (listen ports, the grace period above
daemon.shutdown_timeout, the brokers KEDA watches, maxReplicaCount <= kafka.partitions).
Here they are one table (SERVICES) and the configs are read, not copied; the output is
plain, fully expanded YAML that kubectl, kubeconform, Argo CD and tests/deploy read as
is, and it is committed, so nobody needs this script to deploy. The output is still a
kustomize base (kustomization.yaml): overlays set the image, namespace or resources.
tests/deploy/test_manifests.py fails when the committed files are not what this script
writes, so edit the table or the configs, never the output.

Needs only Debian's python3 and python3-yaml.
"""

import argparse
import hashlib
import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent
CONFIG_DIR = TOP / "deploy" / "config"

NAMESPACE = "badgeflow"
IMAGE = "badgeflow"  # kustomization.yaml's images: entry gives the registry and tag
IMAGE_TAG = "0.1.0"
UID = 10001  # the image's badgeflow user (deploy/docker/Dockerfile)
SECRET = "badgeflow-secrets"
CONFIGMAP = "badgeflow-config"

# Secret key -> the environment variable it becomes. The common ones go to every daemon
# and to the CLI; optional keys may be absent from the Secret.
COMMON_SECRETS = [
    ("BADGEFLOW_POSTGRES_CONNINFO", "postgres-conninfo", False),
    ("BADGEFLOW_KAFKA_EXTRA", "kafka-extra", True),
]

# One row per daemon. consumes: the topics its handler table subscribes to (short names,
# without kafka.topic_prefix); tests/deploy checks them against services/<svc>/*.c.
# lag: KEDA's lagThreshold (records per replica, per topic); min/max replicas (max is
# capped at kafka.partitions). resources: requests/limits of the daemon's container.
SERVICES = {
    "gateway": {
        "consumes": [],
        "secrets": [("BADGEFLOW_GATEWAY_SECRETS_KEK", "webhook-secrets-kek", False),
                    ("BADGEFLOW_REDIS_PASSWORD", "redis-password", True)],
        "api_port": True,  # [gateway] listen: the districts' API
        "volumes": [("uploads", "/var/lib/badgeflow/uploads", False)],
        "hpa": {"min": 2, "max": 8, "cpu": 70},
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                      "limits": {"cpu": "2", "memory": "1Gi"}},
    },
    "transcoder": {
        "consumes": ["submissions"],
        "secrets": [],
        "volumes": [("uploads", "/var/lib/badgeflow/uploads", True),
                    ("media", "/var/lib/badgeflow/media", False)],
        "scratch": ("/var/tmp/badgeflow-transcoder", "20Gi"),
        "scale": {"min": 1, "max": 6, "lag": 10},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
                      "limits": {"cpu": "4", "memory": "6Gi", "ephemeral-storage": "21Gi"}},
    },
    "router": {
        "consumes": ["submissions.ready", "routing"],
        "secrets": [("BADGEFLOW_REDIS_PASSWORD", "redis-password", True)],
        "scale": {"min": 1, "max": 6, "lag": 100},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi"}},
    },
    "scorer": {
        "consumes": ["scores"],
        "secrets": [],
        "scale": {"min": 1, "max": 6, "lag": 100},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi"}},
    },
    "issuer": {
        "consumes": ["decisions"],
        "secrets": [("BADGEFLOW_ISSUER_KEK", "issuer-kek", False)],
        "public": True,  # verification routes on [http] listen
        # Two at least: verifiers reach it from anywhere, at any time.
        "scale": {"min": 2, "max": 6, "lag": 50},
        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi"}},
    },
    "notifier": {
        "consumes": ["submissions", "evidence", "submissions.ready", "assignments",
                     "decisions", "credentials", "notifications"],
        "secrets": [("BADGEFLOW_NOTIFIER_SECRETS_KEK", "webhook-secrets-kek", False)],
        "scale": {"min": 1, "max": 6, "lag": 200},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi"}},
    },
    "analytics": {
        "consumes": ["submissions", "evidence", "submissions.ready", "assignments",
                     "scores", "decisions", "credentials"],
        "secrets": [("BADGEFLOW_ANALYTICS_PSEUDONYM_KEY", "analytics-pseudonym-key", False),
                    ("BADGEFLOW_ANALYTICS_LRS_PASSWORD", "analytics-lrs-password", True)],
        "scale": {"min": 1, "max": 6, "lag": 500},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi"}},
    },
}

# The Services: names that Kubernetes' service links could never turn into a
# BADGEFLOW_<section>_* variable (and enableServiceLinks is off anyway).
API_SERVICE = "badgeflow-api"  # the gateway's API
VERIFY_SERVICE = "badgeflow-verify"  # the issuer's public verification routes
VERIFY_PREFIXES = ["/credentials/", "/issuers/", "/status/"]

PVCS = {
    "uploads": ("badgeflow-uploads", "50Gi",
                "Evidence uploaded through the gateway (read-write) and read by the "
                "transcoder (read-only): ReadWriteMany storage when they may run on "
                "different nodes."),
    "media": ("badgeflow-media", "200Gi",
              "The transcoder's media store, shared by every transcoder instance."),
}

HEADER = ("# Generated by deploy/k8s/render.py from its SERVICES table and deploy/config/*.conf.\n"
          "# Do not edit: change those and run deploy/k8s/render.py (tests/deploy checks it).\n")

RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


# ---- the configs ------------------------------------------------------------------------

def read_conf(path):
    """INI as badgeflow reads it: {"section.key": "value"} (full-line comments only)."""
    out, section = {}, None
    for line in path.read_text().splitlines():
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if s.startswith("["):
            section = s[1:s.index("]")].strip()
            continue
        key, _, value = s.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[f"{section}.{key.strip()}"] = value
    return out


def duration_ms(text):
    """badgeflow's duration syntax: 250ms, 10s, 5m, 1h, 7d (a bare number is ms)."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", text.strip())
    if not m:
        raise ValueError(f"bad duration {text!r}")
    unit = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, None: 1}
    return int(m.group(1)) * unit[m.group(2)]


def port_of(listen):
    return int(listen.rsplit(":", 1)[1])


def conf_of(svc):
    conf = read_conf(CONFIG_DIR / f"{svc}.conf")
    return {
        "text": (CONFIG_DIR / f"{svc}.conf").read_text(),
        "http_port": port_of(conf["http.listen"]),
        "api_port": port_of(conf["gateway.listen"]) if "gateway.listen" in conf else None,
        "shutdown_s": duration_ms(conf.get("daemon.shutdown_timeout", "10s")) // 1000,
        "brokers": conf.get("kafka.brokers", "127.0.0.1:9092"),
        "prefix": conf.get("kafka.topic_prefix", "badgeflow."),
        "partitions": int(conf.get("kafka.partitions", "6")),
        "group": conf.get("kafka.group_id") or f"badgeflow-{svc}",
    }


# ---- YAML -------------------------------------------------------------------------------

class Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):  # no &id001 / *id001: every object spelt out
        return True


def _str(dumper, data):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


Dumper.add_representer(str, _str)


def dump(docs):
    return HEADER + yaml.dump_all(docs, Dumper=Dumper, sort_keys=False, explicit_start=True,
                                  default_flow_style=False, width=200)


def labels(svc):
    return {"app.kubernetes.io/name": f"badgeflow-{svc}",
            "app.kubernetes.io/component": svc,
            "app.kubernetes.io/part-of": "badgeflow"}


def meta(name, svc=None, **extra):
    m = {"name": name, "namespace": NAMESPACE}
    m["labels"] = labels(svc) if svc else {"app.kubernetes.io/part-of": "badgeflow"}
    m.update(extra)
    return m


def secret_env(pairs):
    env = []
    for var, key, optional in pairs:
        ref = {"name": SECRET, "key": key}
        if optional:
            ref["optional"] = True
        env.append({"name": var, "valueFrom": {"secretKeyRef": ref}})
    return env


def cli_container(name, args, resources=None):
    """A step of the admin CLI (migrate, topics create, catalogue load)."""
    return {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/usr/bin/badgeflow", "--config", "/etc/badgeflow/badgeflow.conf"] + args,
        "env": secret_env(COMMON_SECRETS),
        "resources": resources or {"requests": {"cpu": "50m", "memory": "64Mi"},
                                   "limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": [{"name": "config", "mountPath": "/etc/badgeflow", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }


def pod_security():
    return {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"}}


def checksum(*texts):
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
    return h.hexdigest()[:16]


# ---- objects ------------------------------------------------------------------------------

def namespace():
    return [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": NAMESPACE,
                          "labels": {"app.kubernetes.io/part-of": "badgeflow",
                                     # the containers meet the "restricted" standard
                                     "pod-security.kubernetes.io/enforce": "restricted"}}}]


def configmap():
    data = {"badgeflow.conf": (CONFIG_DIR / "badgeflow.conf").read_text()}
    for svc in SERVICES:
        data[f"{svc}.conf"] = conf_of(svc)["text"]
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(CONFIGMAP), "data": data}]


def secret_example():
    ph = "CHANGE-ME"
    return [{
        "apiVersion": "v1", "kind": "Secret", "metadata": meta(SECRET), "type": "Opaque",
        "stringData": {
            "postgres-conninfo": ("host=postgres port=5432 dbname=badgeflow user=badgeflow "
                                  f"password={ph} sslmode=prefer"),
            "kafka-extra": "",
            "redis-password": ph,
            "issuer-kek": f"{ph}-64-hex-digits-openssl-rand-hex-32",
            "webhook-secrets-kek": f"{ph}-64-hex-digits-openssl-rand-hex-32",
            "analytics-pseudonym-key": f"{ph}-at-least-32-characters-openssl-rand-hex-32",
            "analytics-lrs-password": "",
        }}]


SECRET_EXAMPLE_HEADER = """\
# EXAMPLE ONLY - every value below is a PLACEHOLDER. Never commit real values.
# Create the real Secret out of band, e.g.:
#   kubectl -n badgeflow create secret generic badgeflow-secrets \\
#     --from-literal=postgres-conninfo='host=... dbname=badgeflow user=badgeflow password=...' \\
#     --from-literal=redis-password="$(openssl rand -hex 24)" \\
#     --from-literal=issuer-kek="$(openssl rand -hex 32)" \\
#     --from-literal=webhook-secrets-kek="$(openssl rand -hex 32)" \\
#     --from-literal=analytics-pseudonym-key="$(openssl rand -hex 32)"
# or from a secret manager (External Secrets, Sealed Secrets, SOPS) with these keys:
#   postgres-conninfo        libpq conninfo of the system of record, password included
#   kafka-extra              optional: librdkafka properties for SASL/TLS, name=value,...
#                            (e.g. security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512,
#                            sasl.username=...,sasl.password=...)
#   redis-password           optional: Redis AUTH (the router, the gateway's rate limit)
#   issuer-kek               64 hex digits: encrypts the signing keys at rest (the issuer)
#   webhook-secrets-kek      64 hex digits: seals webhook secrets (gateway AND notifier)
#   analytics-pseudonym-key  32+ characters: HMAC key of the analytics pseudonyms
#   analytics-lrs-password   optional: the LRS's basic-auth password
# This file is not part of kustomization.yaml.
"""


def storage():
    docs = []
    for _, (name, size, why) in PVCS.items():
        docs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": meta(name, annotations={"badgeflow.org/purpose": why}),
                     "spec": {"accessModes": ["ReadWriteMany"],
                              "resources": {"requests": {"storage": size}}}})
    return docs


def init_job():
    return [{
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": meta("badgeflow-init", annotations={
            "badgeflow.org/what": "badgeflow migrate; badgeflow topics create; "
                                  "badgeflow catalogue load (each safe to repeat)"}),
        "spec": {
            "backoffLimit": 10,
            # A Job's pod template cannot be changed: it removes itself a day after it
            # finished, so the next `kubectl apply` (an upgrade) runs it again.
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "badgeflow-init",
                                        "app.kubernetes.io/part-of": "badgeflow"}},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security(),
                    # In order, no shell: each step is a container of its own.
                    "initContainers": [cli_container("migrate", ["migrate"]),
                                       cli_container("topics", ["topics", "create"])],
                    "containers": [cli_container("catalogue", ["catalogue", "load"])],
                    "volumes": config_volumes(None),
                },
            },
        },
    }]


def config_volumes(svc):
    items = [{"key": "badgeflow.conf", "path": "badgeflow.conf"}]
    if svc:
        items.insert(0, {"key": f"{svc}.conf", "path": f"{svc}.conf"})
    return [{"name": "config", "configMap": {"name": CONFIGMAP, "items": items}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]


def deployment(svc, row, conf):
    ports = [{"name": "http", "containerPort": conf["http_port"], "protocol": "TCP"}]
    if row.get("api_port"):
        ports.append({"name": "api", "containerPort": conf["api_port"], "protocol": "TCP"})
    mounts = [{"name": "config", "mountPath": "/etc/badgeflow", "readOnly": True},
              {"name": "tmp", "mountPath": "/tmp"}]
    volumes = config_volumes(svc)
    for name, path, ro in row.get("volumes", []):
        mounts.append({"name": name, "mountPath": path, "readOnly": ro})
        volumes.append({"name": name, "persistentVolumeClaim": {"claimName": PVCS[name][0],
                                                                "readOnly": ro}})
    if row.get("scratch"):
        path, size = row["scratch"]
        mounts.append({"name": "scratch", "mountPath": path})
        volumes.append({"name": "scratch", "emptyDir": {"sizeLimit": size}})
    container = {
        "name": svc,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": [f"/usr/bin/badgeflow-{svc}", "--config", f"/etc/badgeflow/{svc}.conf"],
        "ports": ports,
        "env": secret_env(COMMON_SECRETS + row["secrets"]),
        # /healthz answers while the HTTP thread runs; /readyz only while Kafka,
        # PostgreSQL (and Redis for the router) answer.
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                          "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"},
                           "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3},
        "resources": row["resources"],
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": mounts,
    }
    # No daemon starts against an older schema (migrate is idempotent and serialised by
    # an advisory lock). Not `catalogue load`: it retires what the files lack, and a
    # site may load its own catalogue; that stays the Job's (or the operator's) step.
    init = [cli_container("migrate", ["migrate"])]
    selector = {"app.kubernetes.io/name": f"badgeflow-{svc}"}
    spec = {
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": {
                "labels": labels(svc),
                "annotations": {
                    # a config change rolls the pods
                    "badgeflow.org/config-checksum": checksum(
                        conf["text"], (CONFIG_DIR / "badgeflow.conf").read_text()),
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(conf["http_port"]),
                    "prometheus.io/path": "/metrics",
                },
            },
            "spec": {
                "automountServiceAccountToken": False,
                # Service links would put <SERVICE>_SERVICE_HOST, <SERVICE>_PORT... in the
                # environment, and a BADGEFLOW_<section>_* a daemon does not know stops it.
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": conf["shutdown_s"] + 20,
                "securityContext": pod_security(),
                "topologySpreadConstraints": [{
                    "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector}}],
                "initContainers": init,
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    # replicas is left to KEDA / the HPA (1 until they act).
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta(f"badgeflow-{svc}", svc), "spec": spec}


def pdb(svc):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": meta(f"badgeflow-{svc}", svc),
            "spec": {"maxUnavailable": 1,
                     "selector": {"matchLabels": {"app.kubernetes.io/name": f"badgeflow-{svc}"}}}}


def service(name, svc, port_name, port):
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, svc),
            "spec": {"type": "ClusterIP",
                     "selector": {"app.kubernetes.io/name": f"badgeflow-{svc}"},
                     "ports": [{"name": port_name, "port": 80, "targetPort": port_name,
                                "protocol": "TCP"}]}}


def hpa(svc, h):
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": meta(f"badgeflow-{svc}", svc),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": f"badgeflow-{svc}"},
                     "minReplicas": h["min"], "maxReplicas": h["max"],
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu",
                         "target": {"type": "Utilization", "averageUtilization": h["cpu"]}}}]}}


def keda_brokers(brokers):
    """The daemons' kafka.brokers as the KEDA operator (in its own namespace) must
    write them: a short Service name ("kafka:9092") gets ".<namespace>.svc"."""
    out = []
    for b in brokers.split(","):
        host, port = b.strip().rsplit(":", 1)
        if "." not in host and host != "localhost":
            host = f"{host}.{NAMESPACE}.svc"
        out.append(f"{host}:{port}")
    return ",".join(out)


def scaled_object(svc, row, conf):
    s = row["scale"]
    triggers = []
    for topic in row["consumes"]:
        triggers.append({"type": "kafka", "metadata": {
            "bootstrapServers": keda_brokers(conf["brokers"]),
            "consumerGroup": conf["group"],
            "topic": conf["prefix"] + topic,
            "lagThreshold": str(s["lag"]),
            # the daemons' auto.offset.reset
            "offsetResetPolicy": "earliest",
            "allowIdleConsumers": "false",
        }})
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": meta(f"badgeflow-{svc}", svc),
            "spec": {"scaleTargetRef": {"name": f"badgeflow-{svc}"},
                     # never to zero: every daemon also relays its outbox and runs timers
                     "minReplicaCount": s["min"],
                     # more consumers than partitions would sit idle
                     "maxReplicaCount": min(s["max"], conf["partitions"]),
                     "pollingInterval": 15,
                     "cooldownPeriod": 300,
                     "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                         "scaleDown": {"stabilizationWindowSeconds": 300,
                                       "policies": [{"type": "Pods", "value": 1,
                                                     "periodSeconds": 60}]}}}},
                     "triggers": triggers}}


def ingress_example():
    verify = [{"path": p, "pathType": "Prefix",
               "backend": {"service": {"name": VERIFY_SERVICE, "port": {"name": "http"}}}}
              for p in VERIFY_PREFIXES]
    return [{
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": meta("badgeflow"),
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["api.badges.example.org", "badges.example.org"],
                     "secretName": "badgeflow-tls"}],
            "rules": [
                {"host": "api.badges.example.org", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": API_SERVICE, "port": {"name": "api"}}}}]}},
                # Only the verification prefixes: /metrics shares the issuer's port.
                {"host": "badges.example.org", "http": {"paths": verify}},
            ],
        }}]


INGRESS_HEADER = """\
# EXAMPLE ONLY (not in kustomization.yaml): hosts, class and TLS secret are placeholders.
# The issuer's host must be the one in issuer.base_url (https://badges.example.org in
# deploy/config/issuer.conf) and must expose only the verification prefixes.
"""


def kustomization(files):
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namespace": NAMESPACE,
            "resources": files,
            "images": [{"name": IMAGE, "newName": IMAGE, "newTag": IMAGE_TAG}]}


# ---- all ----------------------------------------------------------------------------------

def render():
    """{file name: text} of every generated file."""
    missing = sorted(p.name for p in (TOP / "services").iterdir()
                     if p.is_dir() and p.name not in SERVICES)
    if missing:
        raise RuntimeError(f"services/{missing[0]} has no row in SERVICES: add one")
    out = {
        "namespace.yaml": dump(namespace()),
        "configmap.yaml": dump(configmap()),
        "storage.yaml": dump(storage()),
        "init-job.yaml": dump(init_job()),
    }
    scaled = []
    for svc, row in SERVICES.items():
        conf = conf_of(svc)
        docs = [deployment(svc, row, conf), pdb(svc)]
        if row.get("api_port"):
            docs.append(service(API_SERVICE, svc, "api", conf["api_port"]))
        if row.get("public"):
            docs.append(service(VERIFY_SERVICE, svc, "http", conf["http_port"]))
        if row.get("hpa"):
            docs.append(hpa(svc, row["hpa"]))
        if row["consumes"]:
            scaled.append(scaled_object(svc, row, conf))
        out[f"{svc}.yaml"] = dump(docs)
    out["keda.yaml"] = dump(scaled)
    resources = list(out)
    out["kustomization.yaml"] = dump([kustomization(resources)]).replace("---\n", "", 1)
    out["secret.example.yaml"] = SECRET_EXAMPLE_HEADER + dump(secret_example())
    out["ingress.example.yaml"] = INGRESS_HEADER + dump(ingress_example())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a committed file differs")
    ap.add_argument("--out", type=Path, default=HERE, help="directory (default: deploy/k8s)")
    args = ap.parse_args()
    stale = []
    try:
        files = render()
    except RuntimeError as e:
        print(f"render.py: {e}", file=sys.stderr)
        return 2
    for name, text in files.items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("deploy/k8s is stale (run deploy/k8s/render.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
