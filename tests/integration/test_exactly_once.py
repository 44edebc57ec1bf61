# SPDX-License-Identifier: Apache-2.0
"""Exactly-once effects of the daemon skeleton (common/src/daemon.c, inbox.c, outbox.c)
against the real stack, driven through tests/integration/progs/bf_testd: pings on test.in
become one row in test_effects and one pong on test.out each, whatever kills the daemon.

    /usr/bin/python3 -m pytest tests/integration/test_exactly_once.py
"""

import collections
import json
import random
import signal
import threading
import time

from conftest import ce_headers, header_dict, wait_for

PING = "org.badgeflow.test.ping.v1"
TOPICS = ["test.in", "test.in.dlq", "test.out"]


def ping(kafka, n, key=None, **data):
    """Produce one ping; returns its ce_id."""
    headers = ce_headers(PING, ce_subject=f"sub-{n}")
    ce_id = dict(headers)["ce_id"].decode()
    kafka.produce("test.in", {"n": n, "tenant_id": "t1", **data}, headers, key=key)
    return ce_id


def effects(db, ids):
    """{event_id: number of effect rows} for ids."""
    rows = db.query("SELECT event_id, count(*) FROM test_effects WHERE event_id = ANY(%s)"
                    " GROUP BY 1", (list(ids),))
    return dict(rows)


def pongs_by_ping(msgs):
    """{ping ce_id: set of pong ce_ids} of the pong messages msgs."""
    by_ping = collections.defaultdict(set)
    for m in msgs:
        by_ping[json.loads(m.value())["ping_id"]].add(header_dict(m)["ce_id"])
    return by_ping


def read_pongs(kafka, ids, timeout=60):
    """Read test.out until every ping of ids has a pong; returns {ping: {pong ce_ids}}."""
    wanted = set(ids)
    msgs = kafka.consume("test.out", lambda got: wanted <= set(pongs_by_ping(got)), timeout)
    by_ping = pongs_by_ping(msgs)
    missing = wanted - set(by_ping)
    assert not missing, f"{len(missing)} pings without a pong"
    return {k: v for k, v in by_ping.items() if k in wanted}


def assert_once(db, kafka, ids):
    """One effect row and exactly one pong event (one ce_id, maybe sent twice) per ping."""
    eff = effects(db, ids)
    assert len(eff) == len(ids) and set(eff.values()) == {1}, eff
    pongs = read_pongs(kafka, ids)
    extra = {p: c for p, c in pongs.items() if len(c) != 1}
    assert not extra, f"pings with more than one pong event: {extra}"


def stop(d, timeout=15):
    d.signal(signal.SIGTERM)
    assert d.wait(timeout) == 0, d.tail()


# ---- (1) SIGKILL between the effect's commit and the offset store ----------------------


def test_kill_after_commit_processes_each_event_once(db, kafka, daemons):
    kafka.create_topics(TOPICS)
    ids = [ping(kafka, n) for n in range(3)]
    kafka.flush()
    # One record per transaction, so that each run commits exactly one more (the batched
    # transaction has its own test below).
    faulty = daemons.config(kafka, daemon={"fault_point": "after_commit", "batch_max": 1})
    for run in range(len(ids)):
        d = daemons.start(faulty, name=f"faulty{run}")
        assert d.wait(90) == -signal.SIGKILL, d.tail()
        assert d.codes("BF_DAEMON_FAULT"), d.tail()
        # Each run commits one more ping's effect and dies before storing its offset;
        # the pings committed by earlier runs come again and the inbox drops them.
        assert sum(effects(db, ids).values()) == run + 1
    d = daemons.start(daemons.config(kafka), name="final")
    d.wait_ready()
    wait_for(lambda: db.scalar("SELECT count(*) FROM inbox WHERE consumer = %s AND"
                               " event_id = ANY(%s)", (f"testd-{kafka.prefix[:-1]}", ids)) == 3,
             30, what="inbox rows")
    assert_once(db, kafka, ids)
    stop(d)


def test_kill_after_effect_rolls_the_effect_back(db, kafka, daemons):
    kafka.create_topics(TOPICS)
    ids = [ping(kafka, 7)]
    kafka.flush()
    d = daemons.start(daemons.config(kafka, daemon={"fault_point": "after_effect"}), name="f")
    assert d.wait(90) == -signal.SIGKILL, d.tail()
    assert effects(db, ids) == {}
    d = daemons.start(daemons.config(kafka), name="final")
    wait_for(lambda: effects(db, ids) == {ids[0]: 1}, 60, what="the effect")
    assert_once(db, kafka, ids)
    stop(d)


# ---- (1b) several records in one transaction (daemon.batch_max) ------------------------


def kill_a_batch(db, kafka, daemons, fault_point, n):
    """n pings on one partition (fetched together: one batch) to a daemon that dies at
    fault_point; returns their ids and the effects committed before the kill."""
    kafka.create_topics(TOPICS)
    ids = [ping(kafka, i, key=b"one-partition") for i in range(n)]
    kafka.flush()
    d = daemons.start(daemons.config(kafka, daemon={"fault_point": fault_point,
                                                    "batch_max": 32}), name="faulty")
    assert d.wait(90) == -signal.SIGKILL, d.tail()
    return ids, effects(db, ids)


def restart_and_assert_once(db, kafka, daemons, ids):
    d = daemons.start(daemons.config(kafka), name="final")
    wait_for(lambda: len(effects(db, ids)) == len(ids), 60, what="the effects")
    assert_once(db, kafka, ids)
    stop(d)


def test_kill_after_a_batch_commit_processes_each_event_once(db, kafka, daemons):
    ids, committed = kill_a_batch(db, kafka, daemons, "after_commit", 20)
    # The whole batch committed at once (more than one record), none twice; no offset was
    # stored, so every record comes again and the inbox drops those committed.
    assert len(committed) > 1 and set(committed.values()) == {1}, committed
    restart_and_assert_once(db, kafka, daemons, ids)


def test_kill_inside_a_batch_rolls_the_whole_batch_back(db, kafka, daemons):
    ids, committed = kill_a_batch(db, kafka, daemons, "after_effect", 10)
    assert committed == {}
    restart_and_assert_once(db, kafka, daemons, ids)


def test_a_poison_record_in_a_batch_is_dead_lettered_alone(db, kafka, daemons):
    kafka.create_topics(TOPICS)
    key = b"one-partition"
    before = [ping(kafka, n, key=key) for n in range(5)]
    bad = ping(kafka, 5, key=key, poison=True)  # refused by the handler, inside the batch
    after = [ping(kafka, n, key=key) for n in range(6, 11)]
    kafka.flush()
    d = daemons.start(daemons.config(kafka, log={"level": "debug"}, daemon={"batch_max": 32}))
    dlq = kafka.consume("test.in.dlq", lambda got: len(got) >= 1, timeout=60)
    assert [header_dict(m)["ce_id"] for m in dlq] == [bad]
    assert "poison" in header_dict(dlq[0])["dlq_reason"]
    good = before + after
    wait_for(lambda: len(effects(db, good)) == len(good), 60, interval=0.3, what="good effects")
    assert_once(db, kafka, good)
    assert effects(db, [bad]) == {}
    # The batch really was rolled back and redone one by one (not handled singly anyway).
    assert d.codes("BF_DAEMON_BATCH"), d.tail()
    assert len(d.codes("BF_DAEMON_DLQ")) == 1
    assert db.scalar("SELECT count(*) FROM inbox WHERE consumer = %s AND outcome ="
                     " 'dead_lettered'", (f"testd-{kafka.prefix[:-1]}",)) == 1
    stop(d)


# ---- (2) the outbox across SIGKILLs at random instants ----------------------------------


def test_outbox_loses_nothing_across_random_kills(db, kafka, daemons):
    n, kills = 500, 4
    kafka.create_topics(TOPICS)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    ids = []

    def produce():  # ~25 s of traffic: every kill lands while pings flow
        for i in range(n):
            ids.append(ping(kafka, i, key=f"k{i % 17}".encode()))
            time.sleep(0.05)
        kafka.flush()

    producer = threading.Thread(target=produce)
    producer.start()
    cfg = daemons.config(kafka)
    at_kill = []
    for run in range(kills):
        d = daemons.start(cfg, name=f"run{run}")
        d.wait_assigned()
        time.sleep(rng.uniform(0.2, 2.5))
        d.kill()
        at_kill.append(len(effects(db, list(ids))))
    producer.join()
    d = daemons.start(cfg, name="final")
    # after four kills the last member may wait out the dead members' sessions and a
    # rebalance or two before it owns every partition: minutes on a loaded 2-core machine
    wait_for(lambda: len(effects(db, ids)) == n, 300, interval=0.5, what=f"{n} effects")
    # The kills really came mid-stream: work was done before them and left after them.
    assert sum(0 < k < n for k in at_kill) >= 2, (seed, at_kill)
    eff = effects(db, ids)
    assert set(eff.values()) == {1}, f"seed {seed}: duplicated effects"
    pongs = read_pongs(kafka, ids, timeout=90)
    assert len(pongs) == n
    assert sum(len(c) for c in pongs.values()) == n, f"seed {seed}: pings with two pongs"
    stop(d)


# ---- (3) poison records -----------------------------------------------------------------


def test_poison_records_reach_the_dlq_and_good_ones_go_on(db, kafka, daemons):
    kafka.create_topics(TOPICS)
    key = b"one-partition"  # all on one partition: the good ones come after the poison
    poison = [
        (b'{"n": 1,', ce_headers(PING), "value: invalid JSON"),
        (b'{"n": 2}', ce_headers(PING, ce_id=None), "ce_id: header is missing"),
        (b'{"n": 3}', ce_headers("org.badgeflow.test.nope.v1"),
         "unknown event type org.badgeflow.test.nope.v1 on topic"),
        (b'{"tenant_id": "t1"}', ce_headers(PING), "n: is required"),
        (b'{"n": 5, "poison": true}', ce_headers(PING), "poison"),
        (b'{"n": 6}', ce_headers(PING, ce_specversion="0.3"), "ce_specversion: must be 1.0"),
        (b'[6]', ce_headers(PING), "value: must be a JSON object"),
        (b'{"n": 7}', ce_headers(PING, content_type="text/plain"),
         "content-type: must be application/json"),
    ]
    for value, headers, _ in poison:
        kafka.produce("test.in", value, headers, key=key)
    good = [ping(kafka, 100 + i, key=key) for i in range(3)]
    kafka.flush()
    d = daemons.start(daemons.config(kafka))
    dlq = kafka.consume("test.in.dlq", lambda got: len(got) >= len(poison), timeout=60)
    assert len(dlq) == len(poison)
    for m, (value, headers, reason) in zip(sorted(dlq, key=lambda m: m.offset()), poison):
        h = header_dict(m)
        assert reason in h["dlq_reason"], (reason, h["dlq_reason"])
        assert m.value() == value and m.key() == key
        assert h["dlq_topic"] == kafka.topic("test.in")
        assert h["dlq_consumer"] == f"testd-{kafka.prefix[:-1]}"
        assert h["dlq_partition"].isdigit() and h["dlq_offset"].isdigit() and h["dlq_time"]
        for name, v in headers:  # the original headers travel with the copy
            assert h[name] == v.decode()
    # the dead-letter copies can be published before the good records behind them are handled
    wait_for(lambda: len(effects(db, good)) == len(good), 60, interval=0.3, what="good effects")
    assert_once(db, kafka, good)
    assert len(d.codes("BF_DAEMON_DLQ")) == len(poison)  # logged once each
    assert db.scalar("SELECT count(*) FROM inbox WHERE consumer = %s AND outcome ="
                     " 'dead_lettered'", (f"testd-{kafka.prefix[:-1]}",)) == len(poison)
    stop(d)


# ---- (4) SIGTERM -----------------------------------------------------------------------


def test_sigterm_finishes_the_record_in_hand_and_exits_0(db, kafka, daemons):
    kafka.create_topics(TOPICS)
    d = daemons.start(daemons.config(kafka))
    d.wait_ready()
    d.wait_assigned()
    ids = [ping(kafka, 1, sleep_ms=2000)]
    kafka.flush()
    time.sleep(0.8)  # the handler is sleeping with the record
    t0 = time.monotonic()
    stop(d, timeout=10)
    assert time.monotonic() - t0 < 6
    assert any("left the consumer group" in x["msg"] for x in d.codes("BF_KAFKA_CLOSE"))
    assert_once(db, kafka, ids)


def test_sigterm_hands_every_partition_to_the_other_member(db, kafka, daemons):
    kafka.create_topics(TOPICS)
    cfg = daemons.config(kafka)
    group = cfg["kafka"]["group_id"]
    d = daemons.start(cfg)
    d.wait_ready()
    d.wait_assigned()
    other = kafka.consumer(group=group, **{"partition.assignment.strategy": "cooperative-sticky",
                                          "session.timeout.ms": 6000})
    other.subscribe([kafka.topic("test.in")])
    try:
        def assigned(n_min):
            other.poll(0.1)
            return len(other.assignment()) >= n_min
        wait_for(lambda: assigned(1), 30, interval=0, what="the second member's share")
        assert len(other.assignment()) < 3  # the daemon kept a share
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        wait_for(lambda: assigned(3), 5, interval=0, what="every partition after SIGTERM")
        handover = time.monotonic() - t0
        assert d.wait(10) == 0, d.tail()
        # Well under the 6 s session timeout: the daemon left the group, it did not vanish.
        assert handover < 4, handover
    finally:
        other.close()


# ---- (5) readiness across a PostgreSQL outage --------------------------------------------


def test_readyz_follows_postgres_and_nothing_is_lost(stack, db, kafka, daemons):
    kafka.create_topics(TOPICS)
    d = daemons.start(daemons.config(kafka))
    d.wait_ready()
    before = [ping(kafka, i) for i in range(5)]
    kafka.flush()
    wait_for(lambda: len(effects(db, before)) == 5, 30, what="effects before the outage")
    stack.stop_component("postgres")
    try:
        wait_for(lambda: d.http("/readyz")[0] == 503, 20, interval=0.2, what="/readyz 503")
        assert '"postgres":false' in d.http("/readyz")[1]
        assert d.http("/healthz")[0] == 200
        during = [ping(kafka, 100 + i) for i in range(20)]
        kafka.flush()
        wait_for(lambda: d.codes("BF_DAEMON_RETRY"), 20, what="a retry")
        assert d.alive()
    finally:
        stack.start_component("postgres")
    wait_for(lambda: d.http("/readyz")[0] == 200, 60, interval=0.2, what="/readyz 200 again")
    wait_for(lambda: len(effects(db, during)) == 20, 60, interval=0.5, what="effects after")
    assert_once(db, kafka, before + during)
    assert not d.codes("BF_DAEMON_DLQ")  # transient: retried, never dead-lettered
    metrics = d.http("/metrics")[1]
    assert "badgeflow_retries_total" in metrics and "badgeflow_applied_total" in metrics
    stop(d)


def test_readyz_follows_redis_when_the_service_needs_it(stack, db, kafka, daemons):
    kafka.create_topics(TOPICS)
    cfg = daemons.config(kafka, redis={"host": stack.env["BADGEFLOW_REDIS_HOST"],
                                       "port": stack.env["BADGEFLOW_REDIS_PORT"],
                                       "timeout": "500ms"})
    d = daemons.start(cfg, env={"BF_TESTD_REDIS": "1"})
    d.wait_ready()
    assert '"redis":true' in d.http("/readyz")[1]
    stack.stop_component("redis")
    try:
        wait_for(lambda: d.http("/readyz")[0] == 503, 20, interval=0.2, what="/readyz 503")
        assert '"redis":false' in d.http("/readyz")[1]
    finally:
        stack.start_component("redis")
    wait_for(lambda: d.http("/readyz")[0] == 200, 30, interval=0.2, what="/readyz 200 again")
    stop(d)


def test_kafka_outage_is_ridden_out_without_loss(stack, db, kafka, daemons):
    kafka.create_topics(TOPICS)
    d = daemons.start(daemons.config(kafka))
    d.wait_ready()
    before = [ping(kafka, i) for i in range(10)]
    kafka.flush()
    wait_for(lambda: len(effects(db, before)) >= 1, 30, what="the first effects")
    stack.stop_component("kafka")  # pongs may be in flight, pings unread
    try:
        wait_for(lambda: d.http("/readyz")[0] == 503, 20, interval=0.2, what="/readyz 503")
        assert '"kafka":false' in d.http("/readyz")[1]
        time.sleep(2)
        assert d.alive()
    finally:
        stack.start_component("kafka")
    wait_for(lambda: d.http("/readyz")[0] == 200, 90, interval=0.5, what="/readyz 200 again")
    after = [ping(kafka, 100 + i) for i in range(10)]
    kafka.flush()
    wait_for(lambda: len(effects(db, before + after)) == 20, 90, interval=0.5, what="effects")
    assert_once(db, kafka, before + after)
    assert not d.codes("BF_DAEMON_DLQ")
    stop(d)
