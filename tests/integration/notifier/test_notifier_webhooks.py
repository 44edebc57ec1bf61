# SPDX-License-Identifier: Apache-2.0
"""The notifier against the real stack: events produced on Kafka become webhooks received by
a real HTTP server of the test, whose signatures are checked by an independent
implementation; retries keep the webhook-id; a hanging endpoint does not delay another one;
redirects, huge bodies and SSRF targets are refused; a SIGKILL after commit makes no second
delivery row; rotation signs with both secrets; a failing endpoint is disabled and its owner
told; replay re-sends with the same id.

    BADGEFLOW_BUILD_DIR=... /usr/bin/python3 -m pytest tests/integration/notifier
"""

import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "schemas"))
from conftest import wait_for  # noqa: E402
from notifier_helpers import (DECISION, NOTIFIER, WITHDRAWN, cli, hooks, new_secret,  # noqa: E402,F401
                              notifier_config, produce, start_notifier, tenants, verify,
                              wait_requests)

DISABLED = "org.badgeflow.webhook.endpoint_disabled.v1"


def deliveries(db, endpoint):
    return db.query("SELECT id::text, event_id, state, attempts FROM webhook_deliveries"
                    " WHERE endpoint_id = %s ORDER BY created_at", (endpoint,))


def attempts(db, delivery):
    return db.query("SELECT attempt, status, error FROM webhook_attempts WHERE delivery_id = %s"
                    " ORDER BY attempt", (delivery,))


# ---- deliveries, signing, retries ------------------------------------------------------


def test_signed_delivery_retried_after_500s_with_the_same_id(db, kafka, daemons, hooks, tenants):
    tenant = tenants.new()
    ep, secret = tenants.endpoint(tenant, hooks.url("fail2/a"), [DECISION])
    other, _ = tenants.endpoint(tenant, hooks.url("ok/other"), ["submission.withdrawn.v1"])
    start_notifier(daemons, kafka)
    ce_id = produce(kafka, "decisions", DECISION, tenant)

    got = wait_requests(hooks, "/fail2/a", 3)
    assert len({r["headers"]["webhook-id"] for r in got}) == 1, "one webhook-id across retries"
    for r in got:
        assert verify(secret, r["headers"], r["body"]), r["headers"]
        assert not verify(new_secret(), r["headers"], r["body"])
        assert r["headers"]["content-type"] == "application/json"
    body = json.loads(got[0]["body"])
    assert (body["specversion"], body["id"], body["type"]) == ("1.0", ce_id, DECISION)
    assert body["data"]["tenant_id"] == tenant and body["data"]["decision_id"]
    [(delivery, event_id, state, n)] = wait_for(
        lambda: [row for row in deliveries(db, ep) if row[2] == "delivered"], 10,
        what="delivered")
    assert (delivery, event_id, n) == (got[0]["headers"]["webhook-id"], ce_id, 3)
    assert [(a, s) for a, s, _ in attempts(db, delivery)] == [(1, 500), (2, 500), (3, 200)]
    # the filter: the other endpoint wants withdrawals only
    time.sleep(0.5)
    assert not hooks.got("/ok/other") and not deliveries(db, other)


def test_event_type_filter_short_names_and_every_type(db, kafka, daemons, hooks, tenants):
    tenant = tenants.new()
    short, s1 = tenants.endpoint(tenant, hooks.url("ok/short"), ["submission.withdrawn.v1"])
    every, s2 = tenants.endpoint(tenant, hooks.url("ok/every"))
    stranger = tenants.new()
    tenants.endpoint(stranger, hooks.url("ok/stranger"))
    start_notifier(daemons, kafka)
    produce(kafka, "submissions", WITHDRAWN, tenant)
    produce(kafka, "decisions", DECISION, tenant)
    assert len(wait_requests(hooks, "/ok/short", 1)) == 1
    assert len(wait_requests(hooks, "/ok/every", 2)) == 2
    assert all(verify(s2, r["headers"], r["body"]) for r in hooks.got("/ok/every"))
    time.sleep(0.5)
    assert len(hooks.got("/ok/short")) == 1, "a decision is not a withdrawal"
    assert not hooks.got("/ok/stranger"), "another tenant's endpoint got nothing"


def test_state_endpoint_that_includes_districts_gets_their_events(db, kafka, daemons, hooks,
                                                                   tenants):
    state = tenants.new()
    district, other_district = tenants.new(parent=state), tenants.new(parent=state)
    whole, s_all = tenants.endpoint(state, hooks.url("ok/state-all"), include_districts=True)
    tenants.endpoint(state, hooks.url("ok/state-own"))
    _, s_d = tenants.endpoint(district, hooks.url("ok/district"))
    stranger = tenants.new()
    tenants.endpoint(stranger, hooks.url("ok/stranger-all"), include_districts=True)
    start_notifier(daemons, kafka)
    produce(kafka, "decisions", DECISION, district)
    produce(kafka, "decisions", DECISION, other_district)
    produce(kafka, "submissions", WITHDRAWN, state)
    got = wait_requests(hooks, "/ok/state-all", 3)
    assert sorted(json.loads(r["body"])["data"]["tenant_id"] for r in got) == sorted(
        [district, other_district, state])
    assert all(verify(s_all, r["headers"], r["body"]) for r in got)
    assert len(wait_requests(hooks, "/ok/district", 1)) == 1
    mine = hooks.got("/ok/district")[0]
    assert verify(s_d, mine["headers"], mine["body"])
    time.sleep(0.5)
    assert len(hooks.got("/ok/district")) == 1, "a district gets only its own events"
    assert [json.loads(r["body"])["data"]["tenant_id"] for r in hooks.got("/ok/state-own")] == \
        [state], "without include_districts a state endpoint gets only the state's events"
    assert not hooks.got("/ok/stranger-all"), "another state's endpoint got nothing"
    # one delivery row per endpoint and event, each under its endpoint's own tenant
    rows = db.query("SELECT tenant_id FROM webhook_deliveries WHERE endpoint_id = %s", (whole,))
    assert [r[0] for r in rows] == [state] * 3


# ---- isolation -------------------------------------------------------------------------


def test_hanging_endpoint_does_not_delay_another(db, kafka, daemons, hooks, tenants):
    slow, fast = tenants.new(), tenants.new()
    tenants.endpoint(slow, hooks.url("hang/x"), [DECISION])
    tenants.endpoint(fast, hooks.url("ok/fast"), [DECISION])
    start_notifier(daemons, kafka, timeout="5s")
    for _ in range(6):
        produce(kafka, "decisions", DECISION, slow)
    wait_requests(hooks, "/hang/x", 2)
    t0 = time.monotonic()
    produce(kafka, "decisions", DECISION, fast)
    got = wait_requests(hooks, "/ok/fast", 1, timeout=10)
    latency = got[0]["t"] - t0
    print(f"\nfast endpoint's webhook {latency * 1000:.0f} ms after its event, while the hanging"
          f" endpoint holds {hooks.in_flight.get('hang')} request(s) (timeout 5 s)")
    assert latency < 2.0, f"{latency:.2f}s: the hanging endpoint delayed another tenant"
    assert hooks.max_in_flight["hang"] <= 2, "per-endpoint cap (notifier.max_in_flight = 2)"


# ---- failure modes and SSRF ------------------------------------------------------------


def wait_attempt_errors(db, endpoint, timeout=20):
    def errors():
        rows = db.query("SELECT a.status, a.error FROM webhook_attempts a JOIN webhook_deliveries"
                        " d ON d.id = a.delivery_id WHERE d.endpoint_id = %s", (endpoint,))
        return rows if rows else None
    return wait_for(errors, timeout, interval=0.1, what=f"an attempt of {endpoint}")


def test_redirect_and_huge_body_are_refused_and_retried(db, kafka, daemons, hooks, tenants):
    tenant = tenants.new()
    red, _ = tenants.endpoint(tenant, hooks.url("redirect/r"), [DECISION])
    huge, _ = tenants.endpoint(tenant, hooks.url("huge/h"), [DECISION])
    d = start_notifier(daemons, kafka)
    produce(kafka, "decisions", DECISION, tenant)
    status, error = wait_attempt_errors(db, red)[0]
    assert status == 302 and "redirect not followed" in error and "10.0.0.1" in error, error
    _, error = wait_attempt_errors(db, huge)[0]
    assert "larger than" in error, error
    wait_for(lambda: len(hooks.got("/redirect/r")) >= 2, 20, what="a retry of the redirect")
    rows = db.query("SELECT state FROM webhook_deliveries WHERE endpoint_id IN (%s, %s)",
                    (red, huge))
    assert {r[0] for r in rows} <= {"failed", "pending"}, rows
    assert d.alive()


SSRF_URLS = {
    "plain http": "http://{host}:{port}/ok/ssrf",
    "loopback": "https://127.0.0.1:{port}/ok/ssrf",
    "IPv6 loopback": "https://[::1]:{port}/ok/ssrf",
    "decimal-encoded 127.0.0.1": "https://2130706433:{port}/ok/ssrf",
    "IPv4-mapped IPv6 loopback": "https://[::ffff:127.0.0.1]:{port}/ok/ssrf",
    "private 10/8": "https://10.0.0.1/hook",
    "private 192.168/16": "https://192.168.1.1/hook",
    "link-local metadata": "https://169.254.169.254/latest/meta-data",
    "CGNAT": "https://100.64.0.1/hook",
}


def test_ssrf_targets_refused_with_the_default_policy(db, kafka, daemons, hooks, tenants):
    tenant = tenants.new()
    eps = {why: tenants.endpoint(tenant, url.format(host="127.0.0.1", port=hooks.port))[0]
           for why, url in SSRF_URLS.items()}
    d = start_notifier(daemons, kafka, allow_loopback="false", allow_http="false")
    produce(kafka, "decisions", DECISION, tenant)
    for why, ep in eps.items():
        status, error = wait_attempt_errors(db, ep)[0]
        assert status is None and ("refused" in error or "https only" in error), (why, error)
    assert not hooks.got("/"), "nothing reached the loopback server"
    assert d.alive()


# ---- exactly one delivery row across SIGKILL -------------------------------------------


def test_sigkill_after_commit_makes_one_delivery_per_event(db, kafka, daemons, hooks, tenants):
    tenant = tenants.new()
    ep, secret = tenants.endpoint(tenant, hooks.url("ok/once"), [DECISION])
    kafka.create_topics(["decisions"])
    ids = [produce(kafka, "decisions", DECISION, tenant) for _ in range(3)]
    for run in range(3):
        cfg = notifier_config(daemons, kafka)
        cfg["daemon"]["fault_point"] = "after_commit"
        d = daemons.start(cfg, binary=NOTIFIER, name=f"faulty{run}")
        assert d.wait(90) == -signal.SIGKILL, d.tail()
        assert d.codes("BF_DAEMON_FAULT")
    start_notifier(daemons, kafka, name="after")
    rows = wait_for(lambda: (r := deliveries(db, ep)) and len(r) == 3 and
                    all(x[2] == "delivered" for x in r) and r, 30, what="3 delivered")
    assert sorted(r[1] for r in rows) == sorted(ids), "one delivery row per event"
    got = hooks.got("/ok/once")
    assert {r["headers"]["webhook-id"] for r in got} == {r[0] for r in rows}
    assert all(verify(secret, r["headers"], r["body"]) for r in got)
    print(f"\n3 events, 3 SIGKILLs after commit: {len(rows)} delivery rows, {len(got)} requests")


# ---- rotation, disabling, replay -------------------------------------------------------


def test_rotation_signs_with_both_secrets_during_grace(db, kafka, daemons, hooks, tenants, stack):
    tenant = tenants.new()
    ep, old = tenants.endpoint(tenant, hooks.url("ok/rot"), [DECISION])
    new = new_secret()
    tenants.rotate(ep, new)
    start_notifier(daemons, kafka)
    produce(kafka, "decisions", DECISION, tenant)
    [r] = wait_requests(hooks, "/ok/rot", 1)
    sigs = r["headers"]["webhook-signature"].split(" ")
    assert len(sigs) == 2, sigs
    assert verify(new, r["headers"], r["body"]) and verify(old, r["headers"], r["body"])
    # grace over: only the new secret signs
    db.execute("UPDATE webhook_endpoints SET previous_secret_until = now() - interval '1s'"
               " WHERE id = %s", (ep,))
    produce(kafka, "decisions", DECISION, tenant)
    r2 = wait_requests(hooks, "/ok/rot", 2)[1]
    assert len(r2["headers"]["webhook-signature"].split(" ")) == 1
    assert verify(new, r2["headers"], r2["body"]) and not verify(old, r2["headers"], r2["body"])


def test_endpoint_failing_for_the_horizon_is_disabled_and_owner_told(db, kafka, daemons, hooks,
                                                                    tenants):
    from bfschema import validate_record
    tenant = tenants.new()
    bad, _ = tenants.endpoint(tenant, hooks.url("err/dead"), [DECISION])
    owner, secret = tenants.endpoint(tenant, hooks.url("ok/owner"), [DISABLED])
    start_notifier(daemons, kafka, retry_horizon="2s", retry_base="200ms", retry_max="500ms")
    produce(kafka, "decisions", DECISION, tenant)
    wait_for(lambda: db.scalar("SELECT disabled_at IS NOT NULL FROM webhook_endpoints"
                               " WHERE id = %s", (bad,)), 20, what="the endpoint disabled")
    msgs = kafka.consume("notifications", lambda got: len(got) >= 1, timeout=30)
    assert len(msgs) == 1
    data = validate_record(kafka.topic("notifications"), msgs[0].key(), msgs[0].headers(),
                           msgs[0].value(), prefix=kafka.prefix)
    assert data["endpoint_id"] == bad and data["last_status"] == 500
    assert data["failed_attempts"] >= 2 and data["reason"] == "HTTP 500"
    [r] = wait_requests(hooks, "/ok/owner", 1)
    assert verify(secret, r["headers"], r["body"])
    assert json.loads(r["body"])["data"]["endpoint_id"] == bad
    state = wait_for(lambda: db.scalar("SELECT state FROM webhook_deliveries WHERE endpoint_id"
                                       " = %s AND state = 'abandoned'", (bad,)), 10,
                     what="abandoned")
    assert state == "abandoned"
    n = len(hooks.got("/err/dead"))
    time.sleep(1)
    assert len(hooks.got("/err/dead")) == n, "a disabled endpoint gets nothing more"


def test_cli_add_rotate_and_replay(db, kafka, daemons, hooks, tenants, stack):
    """badgeflow webhook add / rotate-secret / replay (a replay: a new attempt, same id)."""
    tenant = tenants.new()
    ep, secret = tenants.endpoint_cli(tenant, hooks.url("ok/replay"), [DECISION])
    d = start_notifier(daemons, kafka)
    produce(kafka, "decisions", DECISION, tenant)
    [first] = wait_requests(hooks, "/ok/replay", 1)
    delivery = first["headers"]["webhook-id"]
    wait_for(lambda: deliveries(db, ep)[0][2] == "delivered", 10, what="delivered")
    p = cli(stack, "webhook", "replay", "--delivery", delivery)
    assert p.returncode == 0, p.stderr
    second = wait_requests(hooks, "/ok/replay", 2)[1]
    assert second["headers"]["webhook-id"] == delivery and second["body"] == first["body"]
    assert verify(secret, second["headers"], second["body"])
    p = cli(stack, "webhook", "replay", "--endpoint", ep, "--since", "2000-01-01T00:00:00Z",
            "--until", "2100-01-01T00:00:00Z")
    assert p.returncode == 0 and p.stdout.startswith("1 "), p.stdout
    wait_requests(hooks, "/ok/replay", 3)
    assert wait_for(lambda: deliveries(db, ep)[0][3] == 3, 10, what="3 attempts")
    assert cli(stack, "webhook", "replay", "--delivery", "not-a-uuid").returncode == 2
    # rotate-secret: the generated secret is printed once, and both sign during the grace
    p = cli(stack, "webhook", "rotate-secret", "--endpoint", ep, "--grace", "10m")
    assert p.returncode == 0, p.stderr
    new = p.stdout.split()[0]
    assert new.startswith("whsec_") and new != secret
    produce(kafka, "decisions", DECISION, tenant)
    last = wait_requests(hooks, "/ok/replay", 4)[3]
    assert verify(new, last["headers"], last["body"]) and verify(secret, last["headers"],
                                                                  last["body"])
    assert cli(stack, "webhook", "rotate-secret", "--endpoint", ep, "--secret",
               "short").returncode == 2
    # SIGTERM: workers finish, the daemon leaves cleanly (under ASan: no leak reported)
    d.signal(signal.SIGTERM)
    assert d.wait(30) == 0, d.tail()
