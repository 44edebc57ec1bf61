# SPDX-License-Identifier: Apache-2.0
"""badgeflow-transcoder against the real stack: submissions with real (tiny, generated) media
reach submission.ready with renditions ffprobe agrees with; a hostile corpus ends item by item
in a clean evidence.failed with its reason and the submission rejected, the daemon alive;
SSRF attempts are refused; a worker killed with SIGKILL fails only its item.

    /usr/bin/python3 -m pytest tests/integration/transcoder
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import wait_for
from tc_helpers import (REJECTED, READY, TOPICS, WITHDRAWN, evidence_events, ffprobe, item,
                        load_catalogue, make_media, new_tenant, outcomes, start_transcoder,
                        submit, worker_pids)
from conftest import ce_headers

VIDEO_CRED = "cl.cultivating-a-shared-purpose"  # classroom-video, meeting-agenda, reflection
MEDIA = Path("/tmp/bf-it-transcoder-media")


@pytest.fixture(scope="module")
def media():
    return make_media(MEDIA)


@pytest.fixture
def world(db, stack, kafka, media):
    load_catalogue(stack)
    kafka.create_topics(TOPICS)
    return new_tenant(db)


def f(name):
    return f"file://{MEDIA}/{name}"


def video_submission(kafka, tenant, video_uri, **kw):
    return submit(kafka, tenant, VIDEO_CRED, [
        item("v1", "video", "classroom-video", video_uri),
        item("d1", "document", "meeting-agenda", f("plan.pdf")),
        item("t1", "text", "reflection", text="We agreed on a shared purpose. ✓"),
    ], **kw)


def small_submission(kafka, tenant):
    """A submission of a document and two texts: no media, quick jobs."""
    return submit(kafka, tenant, "vco.facilitating-online-discussion", [
        item("x1", "document", "discussion-export", f("plan.pdf")),
        item("x2", "text", "annotated-moves", text="moves"),
        item("x3", "text", "reflection", text="reflection")])


def store_path(tmp_path, rendition):
    return tmp_path / "store" / rendition["uri"]


def renditions(ready, item_id):
    ev = {e["item_id"]: e for e in ready["evidence"]}
    return {r["name"]: r for r in ev[item_id]["renditions"]}


def no_private_tags(probe):
    """No location or device tag in the container or any stream (blind review, privacy)."""
    tags = [probe["format"].get("tags", {})] + [s.get("tags", {}) for s in probe["streams"]]
    text = json.dumps(tags).lower()
    return "location" not in text and "gps" not in text and "apple" not in text


def test_media_submissions_reach_ready_with_checked_renditions(world, db, kafka, daemons,
                                                               tmp_path):
    d = start_transcoder(daemons, kafka, tmp_path, MEDIA)
    photos = [item(f"p{i}", "image", "environment-photos", f("gps.jpg")) for i in range(3)]
    s1 = submit(kafka, world, "pl.flexible-learning-environments", photos + [
        item("w1", "document", "week-plan", f("plan.pdf")),
        item("v1", "video", "classroom-video", f("phone.mp4")),
        item("t1", "text", "reflection", text="My reflection."),
    ])
    s2 = submit(kafka, world, "cl.building-relational-trust", [
        item("d1", "document", "trust-survey", f("survey.docx")),
        item("a1", "audio", "conversation-audio", f("talk.wav")),
        item("t1", "text", "reflection", text="Trust grew."),
    ])
    s3 = video_submission(kafka, world, f("hlg.mp4"))
    s4 = video_submission(kafka, world, f("odd.mkv"))
    kafka.flush()
    out = outcomes(kafka, [s1, s2, s3, s4], timeout=150)
    assert {k: v[0] for k, v in out.items()} == {s: READY for s in (s1, s2, s3, s4)}, out

    r = renditions(out[s1][1], "v1")
    assert set(r) == {"720p", "360p", "poster"}
    for name in ("720p", "360p"):
        path = store_path(tmp_path, r[name])
        p = ffprobe(path, "-show_streams", "-show_format")
        v = [s for s in p["streams"] if s["codec_type"] == "video"][0]
        a = [s for s in p["streams"] if s["codec_type"] == "audio"][0]
        # the phone clip is 320x240 turned 90 degrees: portrait, never upscaled
        assert (v["codec_name"], v["profile"], v["pix_fmt"]) == ("h264", "High", "yuv420p")
        assert (v["width"], v["height"]) == (240, 320) == (r[name]["width"], r[name]["height"])
        assert v.get("sample_aspect_ratio", "1:1") == "1:1"
        assert not v.get("side_data_list"), "rotation must be applied in pixels, not flagged"
        assert (a["codec_name"], a["sample_rate"], a["channels"]) == ("aac", "48000", 2)
        data = path.read_bytes()
        assert 0 < data.find(b"moov") < data.find(b"mdat"), "faststart: moov before mdat"
        assert no_private_tags(p), p["format"].get("tags")
    poster = ffprobe(store_path(tmp_path, r["poster"]), "-show_streams")["streams"][0]
    assert (poster["codec_name"], poster["width"], poster["height"]) == ("mjpeg", 240, 320)

    img = renditions(out[s1][1], "p0")["image"]
    path = store_path(tmp_path, img)
    frames = ffprobe(path, "-show_frames")["frames"][0]
    assert (frames["width"], frames["height"]) == (32, 64), "EXIF orientation 6 applied"
    assert b"Exif" not in path.read_bytes() and "GPS" not in json.dumps(frames)
    assert renditions(out[s1][1], "w1")["original"]["content_type"] == "application/pdf"
    txt = renditions(out[s1][1], "t1")["original"]
    assert store_path(tmp_path, txt).read_text() == "My reflection."

    audio = renditions(out[s2][1], "a1")["audio"]
    a = ffprobe(store_path(tmp_path, audio), "-show_streams")["streams"][0]
    assert (a["codec_name"], a["sample_rate"], a["channels"]) == ("aac", "48000", 2)
    assert renditions(out[s2][1], "d1")["original"]["content_type"].startswith(
        "application/vnd.openxmlformats-officedocument.wordprocessingml")

    hdr = ffprobe(store_path(tmp_path, renditions(out[s3][1], "v1")["720p"]),
                  "-show_streams")["streams"][0]
    assert (hdr["color_transfer"], hdr["color_primaries"], hdr["pix_fmt"]) == \
        ("bt709", "bt709", "yuv420p"), "HLG tone-mapped to SDR BT.709"
    odd = renditions(out[s4][1], "v1")["720p"]
    assert (odd["width"] % 2, odd["height"] % 2) == (0, 0) and odd["width"] <= 321

    rows = db.query("SELECT state FROM submissions WHERE tenant_id = %s AND id = %s", (world, s1))
    assert rows == [("ready",)]
    evs = evidence_events(kafka, s1, 6)
    assert sorted(e[1]["item_id"] for e in evs) == ["p0", "p1", "p2", "t1", "v1", "w1"]
    assert all(e[0].endswith("evidence.processed.v1") for e in evs)

    # a redelivered submission (new event id, same content) changes nothing
    jobs = db.scalar("SELECT count(*) FROM renditions WHERE tenant_id = %s", (world,))
    submit(kafka, world, "cl.building-relational-trust", [
        item("d1", "document", "trust-survey", f("survey.docx")),
        item("a1", "audio", "conversation-audio", f("talk.wav")),
        item("t1", "text", "reflection", text="Trust grew."),
    ], sub_id=s2)
    kafka.flush()
    time.sleep(3)
    assert db.scalar("SELECT count(*) FROM renditions WHERE tenant_id = %s", (world,)) == jobs
    assert len(d.codes("BF_TRANSCODER_JOB_START")) == 6 + 3 + 3 + 3
    assert d.alive()


HOSTILE = {
    "truncated.mp4": "unreadable",      # moov missing
    "playlist.mp4": "unreadable",       # an HLS playlist naming local files: hls not allowed
    "huge.mov": "resolution_too_high",  # declares 16000x16000
    "empty.mp4": "empty",
    "document.mp4": "unreadable",       # a PDF with a video's name
    "archive.mp4": "unreadable",        # a zip renamed .mp4
    "long.mp4": "too_long",             # 6 s against the 4 s cap of this daemon
    "talk.wav": "unreadable",           # sound only, not a video container we take
}


def test_hostile_corpus_fails_each_item_cleanly(world, db, kafka, daemons, tmp_path):
    d = start_transcoder(daemons, kafka, tmp_path, MEDIA)
    subs = {video_submission(kafka, world, f(name)): name for name in HOSTILE}
    fuzz = video_submission(kafka, world, f("fuzzed.mp4"))
    ssrf = {video_submission(kafka, world, uri): uri for uri in (
        "https://127.0.0.1:9/clip.mp4", "https://10.0.0.5/clip.mp4",
        "https://169.254.169.254/latest/meta-data", "file:///etc/passwd")}
    kafka.flush()
    out = outcomes(kafka, list(subs) + [fuzz] + list(ssrf), timeout=150)
    for sub, name in subs.items():
        typ, data = out[sub]
        assert typ == REJECTED, (name, data)
        assert [(r["item_id"], r["code"]) for r in data["reasons"]] == [("v1", HOSTILE[name])], \
            (name, data)
    long_reason = out[[s for s, n in subs.items() if n == "long.mp4"][0]][1]["reasons"][0]
    assert long_reason["message"] == "video longer than 4 seconds"
    huge = out[[s for s, n in subs.items() if n == "huge.mov"][0]][1]["reasons"][0]
    assert "16000x16000" in huge["message"]
    # a fuzzed container either still decodes or fails cleanly; never hangs or crashes us
    if out[fuzz][0] == REJECTED:
        assert out[fuzz][1]["reasons"][0]["code"] in ("unreadable", "worker_crashed")
    for sub, uri in ssrf.items():
        typ, data = out[sub]
        assert typ == REJECTED and data["reasons"][0]["code"] == "fetch_refused", (uri, data)
    rows = db.query("SELECT failure_code, failure_reason FROM evidence_items WHERE tenant_id = %s"
                    " AND state = 'failed'", (world,))
    assert len(rows) >= len(HOSTILE) + len(ssrf) and all(r[1] for r in rows)
    # the other items of a rejected submission were still processed
    assert db.scalar("SELECT count(*) FROM evidence_items WHERE tenant_id = %s AND item_id = 'd1'"
                     " AND state = 'processed'", (world,)) == len(subs) + len(ssrf) + 1
    assert d.alive() and d.http("/readyz")[0] == 200


def test_killed_worker_fails_only_its_item(world, db, kafka, daemons, tmp_path):
    d = start_transcoder(daemons, kafka, tmp_path, MEDIA, test_worker_delay="20s")
    sub = video_submission(kafka, world, f("phone.mp4"))
    kafka.flush()
    pids = wait_for(lambda: {p: k for p, k in worker_pids(d).items() if k == "video"} or None,
                    60, what="the video's worker")
    os.kill(next(iter(pids)), signal.SIGKILL)
    typ, data = outcomes(kafka, [sub], timeout=90)[sub]
    assert typ == REJECTED
    assert [(r["item_id"], r["code"]) for r in data["reasons"]] == [("v1", "worker_crashed")]
    failed = [e for e in evidence_events(kafka, sub, 3) if e[0].endswith("failed.v1")]
    assert [e[1]["reason_code"] for e in failed] == ["worker_crashed"]
    states = dict(db.query("SELECT item_id, state FROM evidence_items WHERE tenant_id = %s"
                           " AND submission_id = %s", (world, sub)))
    assert states == {"v1": "failed", "d1": "processed", "t1": "processed"}
    assert d.alive()


def test_catalogue_checks_and_withdrawal(world, db, kafka, daemons, tmp_path):
    start_transcoder(daemons, kafka, tmp_path, MEDIA, test_worker_delay="30s", jobs="1")
    unknown = submit(kafka, world, "zz.no-such-credential", [
        item("t1", "text", "reflection", text="x")])
    missing = submit(kafka, world, VIDEO_CRED, [item("t1", "text", "reflection", text="x")])
    withdrawn = video_submission(kafka, world, f("phone.mp4"))
    kafka.flush()
    out = outcomes(kafka, [unknown, missing], timeout=60)
    assert out[unknown][1]["reasons"][0]["code"] == "unknown_credential"
    assert out[missing][1]["reasons"][0]["code"] == "missing_evidence"
    assert "classroom-video" in out[missing][1]["reasons"][0]["message"]
    wait_for(lambda: db.query("SELECT state FROM submissions WHERE tenant_id = %s AND id = %s",
                              (world, withdrawn)) == [("processing",)], 30, what="processing")
    kafka.produce("submissions", {"submission_id": withdrawn, "tenant_id": world,
                                  "reason": "educator withdrew",
                                  "withdrawn_at": "2026-11-23T10:05:00Z"},
                  ce_headers(WITHDRAWN, ce_subject=withdrawn), key=withdrawn)
    kafka.flush()
    wait_for(lambda: db.query("SELECT state FROM submissions WHERE tenant_id = %s AND id = %s",
                              (world, withdrawn)) == [("withdrawn",)], 30, what="withdrawn")


def test_daemon_killed_mid_transcode_work_is_redone(world, db, kafka, daemons, tmp_path):
    d = start_transcoder(daemons, kafka, tmp_path, MEDIA, name="first", test_worker_delay="3s",
                         lease="3s")
    sub = video_submission(kafka, world, f("phone.mp4"))
    kafka.flush()
    wait_for(lambda: worker_pids(d) or None, 60, what="a worker")
    d.kill()  # SIGKILL: the worker dies with it (PR_SET_PDEATHSIG), its lease expires
    wait_for(lambda: not any(p.joinpath("cmdline").exists() and b"transcode-worker" in
                             p.joinpath("cmdline").read_bytes()
                             for p in Path("/proc").iterdir() if p.name.isdigit()
                             and str(tmp_path) in _cmd(p)), 15, what="orphan workers gone")
    keys = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert not [p for p in keys if p.suffix in (".mp4", ".jpg") and not _complete(p)]
    d2 = start_transcoder(daemons, kafka, tmp_path, MEDIA, name="second", lease="3s")
    typ, data = outcomes(kafka, [sub], timeout=120)[sub]
    assert typ == READY, data
    assert len(data["evidence"]) == 3 and d2.alive()


def _cmd(p):
    try:
        return p.joinpath("cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _complete(path):
    """A stored rendition decodes to the end (never a half-written file under a key)."""
    return subprocess.run(["ffprobe", "-v", "error", str(path)], capture_output=True).returncode == 0


def test_vfr_and_cover_art(world, kafka, daemons, tmp_path):
    start_transcoder(daemons, kafka, tmp_path, MEDIA)
    vfr = video_submission(kafka, world, f("vfr.mp4"))
    cover = submit(kafka, world, "cl.building-relational-trust", [
        item("d1", "document", "trust-survey", f("plan.pdf")),
        item("a1", "audio", "conversation-audio", f("cover.mp3")),
        item("t1", "text", "reflection", text="Cover art is not a video."),
    ])
    kafka.flush()
    out = outcomes(kafka, [vfr, cover], timeout=120)
    assert out[vfr][0] == READY and out[cover][0] == READY, out
    src = ffprobe(MEDIA / "vfr.mp4", "-show_frames", "-select_streams", "v")["frames"]
    dst = ffprobe(store_path(tmp_path, renditions(out[vfr][1], "v1")["720p"]), "-show_frames",
                  "-select_streams", "v")["frames"]
    # every frame kept at its own time: variable frame rate stays in sync
    assert len(dst) == len(src) == 60
    times = [round(float(x["pts_time"]), 2) for x in dst]
    assert times == [round(float(x["pts_time"]), 2) for x in src], times
    audio = renditions(out[cover][1], "a1")
    assert set(audio) == {"audio"}
    streams = ffprobe(store_path(tmp_path, audio["audio"]), "-show_streams")["streams"]
    assert [s["codec_type"] for s in streams] == ["audio"], "cover art dropped, sound kept"


def test_back_pressure_pauses_and_resumes(world, kafka, daemons, tmp_path):
    d = start_transcoder(daemons, kafka, tmp_path, MEDIA, jobs="1", backlog_pause="1",
                         test_worker_delay="2s")
    subs = [small_submission(kafka, world) for _ in range(2)]
    kafka.flush()
    wait_for(lambda: [x for x in d.codes("BF_TRANSCODER_PAUSE") if x["msg"] == "consumer paused"]
             or None, 60, what="the consumer paused")
    outcomes(kafka, subs, timeout=120)
    wait_for(lambda: [x for x in d.codes("BF_TRANSCODER_PAUSE")
                      if x["msg"] == "consumer resumed"] or None, 30, what="the consumer resumed")
    assert d.http("/metrics")[1].count("badgeflow_transcoder_jobs_total") >= 1
