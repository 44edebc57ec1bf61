# SPDX-License-Identifier: Apache-2.0
"""The issuer against the real stack, verified by independent implementations: jose (npm) for
the VC-JWT against the served JWKS and status list, ajv (npm) and Python's jsonschema for
schemas/credentials/achievement-credential.schema.json, bfschema for the events produced.

    BADGEFLOW_BUILD_DIR=... /usr/bin/python3 -m pytest tests/integration/issuer
"""

import base64
import json
import signal
import sys
import urllib.error
import urllib.request
import zlib

import jsonschema

from conftest import ROOT, header_dict, wait_for
from issuer_fixtures import (CRED, SCHEMA, STACK, cli, issuer, node, world)  # noqa: F401

sys.path.insert(0, str(ROOT / "tests" / "schemas"))
from bfschema import validate_event  # noqa: E402


def get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, None, e.read()


def jwks_url(base, tenant):
    return f"{base}/issuers/{tenant}/jwks.json"


def events(kafka, ce_type, n, timeout=30):
    msgs = kafka.consume("credentials", lambda got: len(
        [m for m in got if header_dict(m)["ce_type"] == ce_type]) >= n, timeout)
    out = [json.loads(m.value()) for m in msgs if header_dict(m)["ce_type"] == ce_type]
    for e in out:
        validate_event(ce_type, e)
    return out


def check_schema(doc):
    jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()),
                                    format_checker=jsonschema.FormatChecker()).validate(doc)
    res = node("schema", schema_path=str(SCHEMA), doc=doc)
    assert res["valid"], res["errors"]


def tamper(jwt):
    h, p, s = jwt.split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    payload["name"] = "Forged"
    p2 = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"{h}.{p2}.{s}"


def itxt(png):
    """{keyword: text} of the PNG's iTXt chunks (CRC checked)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = {}, 8
    while pos < len(png):
        n = int.from_bytes(png[pos:pos + 4], "big")
        typ, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + n]
        assert zlib.crc32(typ + data) == int.from_bytes(png[pos + 8 + n:pos + 12 + n], "big")
        if typ == b"iTXt":
            key, rest = data.split(b"\0", 1)
            assert rest[:2] == b"\0\0"  # not compressed
            _lang, _tr, text = rest[2:].split(b"\0", 2)
            out[key.decode()] = text.decode()
        pos += 12 + n
    return out


# ---- (1) issue, verify, tamper, rotate, revoke, bake ------------------------------------


def test_issue_verify_rotate_revoke(world, issuer, kafka):
    kid1 = world.cli.run("issuer", "key", "generate", "--tenant", world.tenant).stdout.strip()
    d, base = issuer()
    d.wait_ready()
    edu = world.educator(email="ada@school.example")
    first = world.decision(edu)
    world.decision(edu, outcome="not_yet")  # recorded, no credential
    c1 = world.wait_credentials(1)[0]
    assert c1["kid"] == kid1
    doc = json.loads(c1["doc"])
    check_schema(doc)
    assert doc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    subj = doc["credentialSubject"]
    assert subj["identifier"][0]["identityHash"].startswith("sha256$")
    assert len(subj["result"]) == len(first["criteria"])
    ev = {e["name"]: e["id"] for e in doc["evidence"]}
    assert ev["classroom-video"] == "https://media.example/v1.mp4"
    assert ev["reflection"] == f"urn:badgeflow:evidence:{world.tenant}:{first['submission_id']}:r1"

    # the served JWT verifies with jose against the served JWKS, claims as OB 3.0 says
    status, ctype, body = get(f"{base}/credentials/{c1['id']}.jwt")
    assert status == 200 and body.decode() == c1["jwt"]
    v = node("verify", jwt=c1["jwt"], jwks_url=jwks_url(base, world.tenant))
    assert v["ok"], v
    assert v["header"]["alg"] == "ES256" and v["header"]["kid"].endswith("/keys/" + kid1)
    p = v["payload"]
    assert p["iss"] == doc["issuer"]["id"] and p["jti"] == doc["id"] == f"urn:uuid:{c1['id']}"
    assert p["sub"] == subj["id"] and "exp" not in p
    assert get(f"{base}/credentials/{c1['id']}")[0] == 200
    assert get(f"{base}/issuers/{world.tenant}")[0] == 200
    did = json.loads(get(f"{base}/issuers/{world.tenant}/did.json")[2])
    assert did["id"].startswith("did:web:127.0.0.1%3A") and did["verificationMethod"]

    # a tampered credential fails
    bad = node("verify", jwt=tamper(c1["jwt"]), jwks_url=jwks_url(base, world.tenant))
    assert not bad["ok"] and "signature" in bad["error"].lower()

    # replaying the decision under another ce_id issues nothing new
    world.produce(first)

    # rotate: the next credential has the new key; the old one still verifies
    kid2 = world.cli.run("issuer", "key", "rotate", "--tenant", world.tenant).stdout.strip()
    world.decision(edu, cred="cl.building-relational-trust")
    creds = world.wait_credentials(2)
    assert [c["kid"] for c in creds] == [kid1, kid2]
    for c in creds:
        assert node("verify", jwt=c["jwt"], jwks_url=jwks_url(base, world.tenant))["ok"]
    keys = world.cli.run("issuer", "key", "list", "--tenant", world.tenant).stdout
    assert "retired" in keys and "active" in keys

    # revoke the first: the bit is set in the signed, served status list
    surl = doc["credentialStatus"]["statusListCredential"]
    idx = int(doc["credentialStatus"]["statusListIndex"])
    assert node("status", status_url=surl, jwks_url=jwks_url(base, world.tenant),
                index=idx)["bit"] == 0
    world.cli.run("issuer", "revoke", "--credential", c1["id"], "--reason", "plagiarised video",
                  "--by", "admin-1")
    st = node("status", status_url=surl, jwks_url=jwks_url(base, world.tenant), index=idx)
    assert st["ok"] and st["bit"] == 1 and st["size"] >= 131072 and st["purpose"] == "revocation"
    other = int(json.loads(creds[1]["doc"])["credentialStatus"]["statusListIndex"])
    assert node("status", status_url=surl, jwks_url=jwks_url(base, world.tenant),
                index=other)["bit"] == 0
    again = world.cli.run("issuer", "revoke", "--credential", c1["id"], "--reason", "x",
                          check=False)
    assert again.returncode == 4, again.stderr

    issued = events(kafka, "org.badgeflow.credential.issued.v1", 2)
    revoked = events(kafka, "org.badgeflow.credential.revoked.v1", 1)
    assert sorted(e["credential_id"] for e in issued) == sorted(c["id"] for c in creds)
    assert revoked[0]["credential_id"] == c1["id"] and revoked[0]["status_list"]["index"] == idx
    assert len(world.credentials()) == 2  # the replay and the not_yet issued nothing

    # the baked PNG carries the JWT in iTXt "openbadgecredential"
    status, ctype, png = get(f"{base}/credentials/{creds[1]['id']}.png")
    assert status == 200 and ctype == "image/png"
    assert itxt(png)["openbadgecredential"] == creds[1]["jwt"]


# ---- (2) bad input: no key (held, then issued), unknown submission (DLQ) ----------------


def test_no_key_is_held_then_issued(world, issuer):
    d, base = issuer()
    d.wait_ready()
    edu = world.educator()
    dec = world.decision(edu)
    held = wait_for(lambda: world.db.query(
        "SELECT reason FROM issuer_held WHERE decision_id = %s", (dec["decision_id"],)), 30,
        what="a held decision")
    assert "no active ES256 key" in held[0][0]
    assert d.codes("BF_ISSUER_HELD") and not world.credentials()
    world.cli.run("issuer", "key", "generate", "--tenant", world.tenant, "--alg", "ES256")
    c = world.wait_credentials(1)[0]
    assert node("verify", jwt=c["jwt"], jwks_url=jwks_url(base, world.tenant))["ok"]
    assert not world.db.query("SELECT 1 FROM issuer_held WHERE decision_id = %s",
                              (dec["decision_id"],))


def test_unknown_submission_is_dead_lettered(world, issuer, kafka):
    world.cli.run("issuer", "key", "generate", "--tenant", world.tenant)
    d, _ = issuer()
    d.wait_ready()
    dec = world.decision(world.educator(), record=False)
    msgs = kafka.consume("decisions.dlq", lambda got: len(got) >= 1, 40)
    assert msgs, d.tail()
    assert "unknown submission" in header_dict(msgs[0])["dlq_reason"]
    assert json.loads(msgs[0].value())["decision_id"] == dec["decision_id"]
    assert not world.credentials()


# ---- (3) stacks ---------------------------------------------------------------------------


def test_stack_issued_once_after_last_component_and_revoked_with_it(world, issuer, kafka):
    world.cli.run("issuer", "key", "generate", "--tenant", world.tenant, "--alg", "RS256")
    d, base = issuer(issuer={"alg": "RS256"})
    d.wait_ready()
    edu = world.educator()
    comps = [r[0] for r in world.db.query(
        "SELECT id FROM catalogue_credentials WHERE stack_id = %s AND retired_at IS NULL"
        " ORDER BY position", (STACK,))]
    for cred in comps[:-1]:
        world.decision(edu, cred=cred)
    world.wait_credentials(len(comps) - 1, kind="credential")
    assert not world.credentials(kind="stack")
    last = world.decision(edu, cred=comps[-1])
    stack = world.wait_credentials(1, kind="stack")
    world.produce(last)  # a replay of the last component changes nothing
    world.decision(edu, cred=comps[0])  # earning a component again does not re-issue the stack
    world.wait_credentials(len(comps) + 2)
    assert len(world.credentials(kind="stack")) == 1
    doc = json.loads(stack[0]["doc"])
    check_schema(doc)
    parts = world.credentials(kind="credential")
    assert {e["id"].rsplit("/", 1)[1] for e in doc["evidence"]} <= {c["id"] for c in parts}
    assert len(doc["evidence"]) == len(comps)
    v = node("verify", jwt=stack[0]["jwt"], jwks_url=jwks_url(base, world.tenant))
    assert v["ok"] and v["header"]["alg"] == "RS256", v
    ev = [e for e in events(kafka, "org.badgeflow.credential.issued.v1", len(comps) + 2)
          if e["kind"] == "stack"]
    assert len(ev) == 1 and len(ev[0]["component_credential_ids"]) == len(comps)

    # revoking a component revokes the stack credential (revoked_by issuer)
    comp = next(c for c in parts if c["id"] in {e["id"].rsplit("/", 1)[1]
                                                for e in doc["evidence"]})
    world.cli.run("issuer", "revoke", "--credential", comp["id"], "--reason", "withdrawn")
    assert world.credentials(kind="stack")[0]["revoked"]
    idx = int(doc["credentialStatus"]["statusListIndex"])
    st = node("status", status_url=doc["credentialStatus"]["statusListCredential"],
              jwks_url=jwks_url(base, world.tenant), index=idx)
    assert st["bit"] == 1
    rev = events(kafka, "org.badgeflow.credential.revoked.v1", 2)
    assert {r["kind"] for r in rev} == {"credential", "stack"}
    assert [r["revoked_by"] for r in rev if r["kind"] == "stack"] == ["issuer"]


# ---- (4) SIGKILL mid-issue ------------------------------------------------------------------


def test_sigkill_mid_issue_leaves_one_credential(world, issuer):
    world.cli.run("issuer", "key", "generate", "--tenant", world.tenant)
    edu = world.educator()
    dec = world.decision(edu)
    # after_effect: signed and stored inside the transaction, killed before COMMIT
    d, _ = issuer(name="issuer-fault1", daemon={"fault_point": "after_effect"})
    assert d.wait(90) == -signal.SIGKILL, d.tail()
    assert not world.credentials()
    # after_commit: committed, killed before the offset store: the record comes again
    d, _ = issuer(name="issuer-fault2", daemon={"fault_point": "after_commit"})
    assert d.wait(90) == -signal.SIGKILL, d.tail()
    d, base = issuer(name="issuer-clean")
    d.wait_ready()
    world.produce(dec)  # and a replay under a new ce_id
    wait_for(lambda: d.codes("BF_KAFKA_ASSIGN"), 30, what="assignment")
    creds = world.wait_credentials(1)
    wait_for(lambda: world.db.scalar(
        "SELECT count(*) FROM inbox WHERE consumer = %s", (f"issuer-{world.kafka.prefix.rstrip('.')}",)) >= 2,
        30, what="both records applied")
    assert len(world.credentials()) == 1, creds
    assert node("verify", jwt=creds[0]["jwt"], jwks_url=jwks_url(base, world.tenant))["ok"]


# ---- (5) an override that replaces an earned decision revokes its credential ---------------


def test_override_to_not_yet_revokes_the_credential(world, issuer, kafka):
    world.cli.run("issuer", "key", "generate", "--tenant", world.tenant)
    d, base = issuer()
    d.wait_ready()
    first = world.decision(world.educator())
    cred = world.wait_credentials(1)[0]
    did = "0b5f4c3e-2d1a-4f6e-9c8b-7a6d5e4f3c2b"
    world.db.execute("UPDATE decisions SET superseded_at = now() WHERE id = %s",
                     (first["decision_id"],))
    world.db.execute(
        "INSERT INTO decisions (id, tenant_id, submission_id, outcome, criteria, rule, attempt,"
        " attempts_left, decided_by, supersedes_id, reason) SELECT %s, tenant_id, submission_id,"
        " 'not_yet', criteria, rule, 1, 2, 'rev-1', id, 'evidence not the educator''s'"
        " FROM decisions WHERE id = %s", (did, first["decision_id"]))
    override = dict(first, decision_id=did, outcome="not_yet",
                    supersedes_decision_id=first["decision_id"],
                    rule={"aggregation": "reviewer", "passing": "reviewer"},
                    override={"reviewer_id": "rev-1", "reason": "evidence not the educator's",
                              "requested_at": "2026-11-23T11:00:00Z"})
    validate_event("org.badgeflow.decision.made.v1", override)
    world.produce(override)
    wait_for(lambda: world.credentials()[0]["revoked"], 30, what="the credential revoked")
    rev = events(kafka, "org.badgeflow.credential.revoked.v1", 1)
    assert rev[0]["credential_id"] == cred["id"] and rev[0]["revoked_by"] == "rev-1"
    assert len(world.credentials()) == 1
