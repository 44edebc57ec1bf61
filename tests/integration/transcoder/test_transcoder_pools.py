# SPDX-License-Identifier: Apache-2.0
"""The transcoder's two pools of worker slots on the real stack: document and text jobs run in
their own slots (badgeflow-transcode-docworker), so a media job that holds every media slot
never holds up another submission's reflection.

    /usr/bin/python3 -m pytest tests/integration/transcoder/test_transcoder_pools.py
"""

import os
import signal

from conftest import wait_for
from tc_helpers import READY, outcomes, start_transcoder, worker_pids
from test_transcoder import (MEDIA, f, media, small_submission, video_submission,  # noqa: F401
                             world)


def test_a_stuck_media_job_does_not_hold_up_documents(world, kafka, daemons, tmp_path):
    d = start_transcoder(daemons, kafka, tmp_path, MEDIA, jobs="1", doc_jobs="1",
                         test_worker_delay="1s", worker_stall="60s")
    sub = video_submission(kafka, world, f("phone.mp4"))
    kafka.flush()
    pid = next(iter(wait_for(lambda: {p: k for p, k in worker_pids(d).items() if k == "video"}
                             or None, 60, what="the video's worker")))
    os.kill(pid, signal.SIGSTOP)  # the only media slot is taken, for as long as it likes
    try:
        others = [small_submission(kafka, world) for _ in range(3)]
        kafka.flush()
        got = outcomes(kafka, others, timeout=60)
        assert all(got[o][0] == READY for o in others), got
        # every document and text job ran in the document worker, one at a time
        starts = [x for x in d.codes("BF_TRANSCODER_JOB_START") if x["submission"] in others]
        assert len(starts) == 9 and {x["kind"] for x in starts} == {"document", "text"}
        assert list(worker_pids(d)) == [pid], "the media worker is still stuck"
    finally:
        os.kill(pid, signal.SIGCONT)
    assert outcomes(kafka, [sub], timeout=90)[sub][0] == READY
