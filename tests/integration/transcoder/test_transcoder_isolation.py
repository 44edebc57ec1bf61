# SPDX-License-Identifier: Apache-2.0
"""The transcoder's isolation on the real stack: a worker that blows its memory cap, one that
hangs (stopped: no progress) and one past its wall-clock deadline each fail only their own item,
with a reason a teacher can act on, while the daemon stays up and other jobs go on.

    /usr/bin/python3 -m pytest tests/integration/transcoder/test_transcoder_isolation.py
"""

import os
import signal
from pathlib import Path

import pytest

from conftest import wait_for
from tc_helpers import (READY, REJECTED, evidence_events, ff, outcomes, start_transcoder,
                        worker_pids)
from test_transcoder import (MEDIA, f, media, small_submission, video_submission,  # noqa: F401
                             world)

HD = "hd1080.mp4"


@pytest.fixture(scope="module")
def hd(media):  # noqa: F811 (the fixture imported above)
    """A 6 s 1080p30 clip with sound: big pictures to decode, seconds of work to do."""
    path = Path(media) / HD
    if not path.exists():
        tmp = path.with_suffix(".part.mp4")
        ff("-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=6", "-f", "lavfi", "-i",
           "sine=f=440:d=6", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
           "-shortest", str(tmp))
        tmp.rename(path)
    return path


def item_row(db, tenant, sub, item_id):
    return db.query("SELECT state, failure_code, failure_reason FROM evidence_items"
                    " WHERE tenant_id = %s AND submission_id = %s AND item_id = %s",
                    (tenant, sub, item_id))[0]


def failed_event(kafka, sub, item_id):
    evs = evidence_events(kafka, sub, 3)
    return [e[1] for e in evs if e[1]["item_id"] == item_id and e[0].endswith("failed.v1")][0]


def proc_state(pid):
    """The one-letter state of a process (T: stopped), or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_memory_blowup_fails_only_its_item(world, db, kafka, daemons, tmp_path, hd):
    # 400 MiB of address space: the worker's libraries take about 240 MiB, a document fetch
    # or a text fits, decoding 1080p into two x264 encoders does not.
    d = start_transcoder(daemons, kafka, tmp_path, MEDIA, worker_memory="400M",
                         max_duration="60s")
    big = video_submission(kafka, world, f(HD))
    other = small_submission(kafka, world)
    kafka.flush()
    out = outcomes(kafka, [big, other], timeout=120)
    assert out[other][0] == READY, out[other]
    typ, data = out[big]
    assert typ == REJECTED, data
    assert [(r["item_id"], r["code"]) for r in data["reasons"]] == [("v1", "worker_crashed")]
    assert "memory" in data["reasons"][0]["message"], data
    ev = failed_event(kafka, big, "v1")
    assert ev["reason_code"] == "worker_crashed" and "memory" in ev["reason"], ev
    state, code, reason = item_row(db, world, big, "v1")
    assert (state, code) == ("failed", "worker_crashed") and "lower resolution" in reason, reason
    assert item_row(db, world, big, "t1")[0] == "processed"
    assert d.alive() and d.http("/healthz")[0] == 200
    later = small_submission(kafka, world)  # still consuming
    kafka.flush()
    assert outcomes(kafka, [later], timeout=60)[later][0] == READY


def test_stopped_worker_is_killed_by_the_watchdog_while_others_go_on(world, db, kafka, daemons,
                                                                     tmp_path):
    d = start_transcoder(daemons, kafka, tmp_path, MEDIA, test_worker_delay="1s",
                         worker_stall="15s")
    sub = video_submission(kafka, world, f("phone.mp4"))
    kafka.flush()
    pid = next(iter(wait_for(lambda: {p: k for p, k in worker_pids(d).items() if k == "video"}
                             or None, 60, what="the video's worker")))
    os.kill(pid, signal.SIGSTOP)  # alive but silent: no byte on its progress pipe
    other = small_submission(kafka, world)
    kafka.flush()
    assert outcomes(kafka, [other], timeout=60)[other][0] == READY
    assert proc_state(pid) == "T", "the other jobs finished while the worker was still hung"
    typ, data = outcomes(kafka, [sub], timeout=60)[sub]
    assert typ == REJECTED, data
    # docs/transcoder.md: a kill fails the item (timeout), it is not retried
    assert [(r["item_id"], r["code"]) for r in data["reasons"]] == [("v1", "timeout")]
    assert "stopped making progress for 15 seconds" in data["reasons"][0]["message"], data
    assert failed_event(kafka, sub, "v1")["reason_code"] == "timeout"
    assert item_row(db, world, sub, "v1")[:2] == ("failed", "timeout")
    assert [x["why"] for x in d.codes("BF_TRANSCODER_KILL")] == ["stall"]
    starts = [x for x in d.codes("BF_TRANSCODER_JOB_START") if x["item"] == "v1"]
    assert len(starts) == 1, "not retried"
    assert proc_state(pid) is None and d.alive() and d.http("/healthz")[0] == 200


def test_wall_clock_deadline_names_the_limit(world, db, kafka, daemons, tmp_path, hd):
    d = start_transcoder(daemons, kafka, tmp_path, MEDIA, worker_deadline="2s",
                         max_duration="60s")
    sub = video_submission(kafka, world, f(HD))
    kafka.flush()
    typ, data = outcomes(kafka, [sub], timeout=90)[sub]
    assert typ == REJECTED, data
    assert [(r["item_id"], r["code"]) for r in data["reasons"]] == [("v1", "timeout")]
    assert "took longer than 2 seconds" in data["reasons"][0]["message"], data
    state, code, reason = item_row(db, world, sub, "v1")
    assert (state, code) == ("failed", "timeout") and "2 seconds" in reason
    assert [x["why"] for x in d.codes("BF_TRANSCODER_KILL")] == ["deadline"]
    assert item_row(db, world, sub, "t1")[0] == "processed" and d.alive()
