# SPDX-License-Identifier: Apache-2.0
"""Helpers of the transcoder's integration tests: tiny media generated at test time (good and
hostile), seeded tenants and catalogue, real submission events, badgeflow-transcoder runs, and
ffprobe checks of what it stored."""

import io
import json
import os
import random
import shutil
import struct
import subprocess
import uuid
import zipfile
from pathlib import Path

from conftest import (BUILD, ROOT, ce_headers, clean_env, header_dict,  # noqa: F401
                      load_catalogue, wait_for)

TRANSCODER = BUILD / "services" / "transcoder" / "badgeflow-transcoder"
TOPICS = ["submissions", "submissions.dlq", "evidence", "submissions.ready"]
SUBMITTED = "org.badgeflow.submission.submitted.v1"
WITHDRAWN = "org.badgeflow.submission.withdrawn.v1"
READY = "org.badgeflow.submission.ready.v1"
REJECTED = "org.badgeflow.submission.rejected.v1"



def assert_valid(ce_type, data):
    """Validate an event the transcoder produced against its JSON Schema (an independent
    validator: Python's jsonschema, through tests/schemas/bfschema.py)."""
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "schemas"))
    import bfschema
    errors = list(bfschema.validator_for(ce_type).iter_errors(data))
    assert not errors, f"{ce_type}: {[e.message for e in errors]}\n{json.dumps(data)}"


def ff(*args):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   timeout=120)


def ffprobe(path, *what):
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *what, str(path)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


# ---- media ------------------------------------------------------------------------------


def set_rotation(path, degrees):
    """Write a display matrix into every video tkhd (what phones do); ffmpeg 5.1's CLI has no
    -display_rotation, so the matrix is patched in place."""
    b = bytearray(Path(path).read_bytes())
    a, bb, c, d = {90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}[degrees]
    i = 0
    while (i := b.find(b"tkhd", i + 1)) > 0:
        off = i + 8 + (32 if b[i + 4] == 1 else 20) + 16
        if struct.unpack_from(">I", b, off + 36)[0] == 0:
            continue  # an audio track: no picture to turn
        vals = [v & 0xFFFFFFFF for v in (a << 16, bb << 16, 0, c << 16, d << 16, 0, 0, 0,
                                         0x40000000)]
        struct.pack_into(">9I", b, off, *vals)
    Path(path).write_bytes(bytes(b))


def exif_jpeg(src, dst):
    """A JPEG with an EXIF APP1: Orientation 6 (turn 90 degrees) and a GPS position."""
    def ifd(entries, nxt=0):
        out = struct.pack("<H", len(entries))
        for tag, typ, count, val in entries:
            out += struct.pack("<HHI", tag, typ, count) + val
        return out + struct.pack("<I", nxt)
    gps_off = 8 + 2 + 2 * 12 + 4
    rat_off = gps_off + 2 + 2 * 12 + 4
    ifd0 = ifd([(0x112, 3, 1, struct.pack("<HH", 6, 0)), (0x8825, 4, 1, struct.pack("<I", gps_off))])
    gps = ifd([(1, 2, 2, b"N\0\0\0"), (2, 5, 3, struct.pack("<I", rat_off))])
    tiff = b"II*\0" + struct.pack("<I", 8) + ifd0 + gps + struct.pack("<6I", 48, 1, 51, 1, 29, 1)
    app1 = b"Exif\0\0" + tiff
    j = Path(src).read_bytes()
    Path(dst).write_bytes(j[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + j[2:])


def ooxml(path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    Path(path).write_bytes(buf.getvalue())


def mjpeg_huge(dst, tmp):
    """A MOV whose MJPEG frames and sample description declare 60000x60000 pixels."""
    src = tmp / "small_mjpeg.mov"
    ff("-f", "lavfi", "-i", "testsrc2=s=64x64:r=5:d=1", "-c:v", "mjpeg", str(src))
    b = bytearray(src.read_bytes())
    i = 0
    while (i := b.find(b"\xff\xc0", i + 1)) > 0:  # SOF0: len, precision, height, width
        struct.pack_into(">HH", b, i + 5, 16000, 16000)
    i = b.find(b"stsd")
    j = b.find(b"jpeg", i)  # VisualSampleEntry: width/height at +32 from the format tag
    struct.pack_into(">HH", b, j + 28, 16000, 16000)
    Path(dst).write_bytes(bytes(b))


def fuzzed(src, dst, seed=1234):
    """The faststart clip with a few hundred bytes of its header region overwritten."""
    b = bytearray(Path(src).read_bytes())
    rnd = random.Random(seed)
    for _ in range(300):
        b[rnd.randrange(32, min(len(b), 4000))] = rnd.randrange(256)
    Path(dst).write_bytes(bytes(b))


def make_media(root):
    """Every input the tests use, in root (the transcoder's upload root). Tiny: seconds of
    low-resolution video, so the suite stays fast on shared cores."""
    root = Path(root)
    if (root / ".done").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    lavfi_v = "testsrc2=s=320x240:r=30:d=2"
    ff("-f", "lavfi", "-i", lavfi_v, "-f", "lavfi", "-i", "sine=f=440:d=2", "-c:v", "libx264",
       "-preset", "ultrafast", "-c:a", "aac", "-metadata", "location=+48.8583+002.2945/",
       "-metadata", "com.apple.quicktime.make=Apple", "-shortest", str(root / "phone.mp4"))
    set_rotation(root / "phone.mp4", 90)
    ff("-i", str(root / "phone.mp4"), "-c", "copy", "-movflags", "+faststart",
       str(root / "faststart.mp4"))
    ff("-f", "lavfi", "-i", "sine=f=300:d=2", "-ac", "1", "-ar", "22050", str(root / "talk.wav"))
    ff("-f", "lavfi", "-i", "testsrc2=s=64x32", "-frames:v", "1", str(root / "plain.jpg"))
    exif_jpeg(root / "plain.jpg", root / "gps.jpg")
    ff("-f", "lavfi", "-i", "testsrc2=s=321x241:r=10:d=1", "-c:v", "libx264", "-preset",
       "ultrafast", str(root / "odd.mkv"))
    ff("-f", "lavfi", "-i", "testsrc2=s=64x64:r=10:d=6", "-c:v", "libx264", "-preset",
       "ultrafast", str(root / "long.mp4"))
    ff("-f", "lavfi", "-i", "testsrc2=s=128x72:r=10:d=1", "-vf",
       "format=yuv420p10le", "-c:v", "libx265", "-x265-params",
       "log-level=none:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
       "-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc",
       "-tag:v", "hvc1", str(root / "hlg.mp4"))
    # variable frame rate: 30 fps for a second, then a frame every 100 ms
    ff("-f", "lavfi", "-i", "testsrc2=s=160x120:r=30:d=2", "-vf",
       "setpts='if(lt(N,30),N/30/TB,(1+(N-30)/10)/TB)'", "-fps_mode", "vfr", "-c:v", "libx264",
       "-preset", "ultrafast", str(root / "vfr.mp4"))
    ff("-f", "lavfi", "-i", "sine=f=500:d=2", "-i", str(root / "plain.jpg"), "-map", "0",
       "-map", "1", "-c:a", "libmp3lame", "-c:v", "mjpeg", "-disposition:v", "attached_pic",
       str(root / "cover.mp3"))
    (root / "plan.pdf").write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    ooxml(root / "survey.docx")
    # hostile
    data = (root / "phone.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])  # moov is at the end
    (root / "playlist.mp4").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n"
                                       "file:///etc/passwd\n#EXT-X-ENDLIST\n")
    mjpeg_huge(root / "huge.mov", root)
    (root / "empty.mp4").write_bytes(b"")
    shutil.copy(root / "plan.pdf", root / "document.mp4")
    shutil.copy(root / "survey.docx", root / "archive.mp4")
    fuzzed(root / "faststart.mp4", root / "fuzzed.mp4")
    (root / ".done").write_text("ok")
    return root


# ---- seeds -------------------------------------------------------------------------------


def new_tenant(db):
    tid = "tc-" + uuid.uuid4().hex[:8]
    db.execute("INSERT INTO tenants (id, kind, name) VALUES (%s, 'district', %s)", (tid, tid))
    return tid


def item(item_id, kind, requirement, uri=None, text=None, **extra):
    it = {"item_id": item_id, "kind": kind, "requirement": requirement, **extra}
    if text is not None:
        it["text"] = text
    else:
        it["uri"] = uri
    return it


def submit(kafka, tenant, credential, evidence, sub_id=None, **extra):
    sub_id = sub_id or "s-" + uuid.uuid4().hex[:10]
    data = {"submission_id": sub_id, "tenant_id": tenant,
            "educator": {"id": "e-" + sub_id, "school_id": "sch1", "district_id": tenant},
            "credential_id": credential, "attempt": 1, "evidence": evidence,
            "submitted_at": "2026-11-23T10:00:00Z", **extra}
    kafka.produce("submissions", data, ce_headers(SUBMITTED, ce_subject=sub_id), key=sub_id)
    return sub_id


def start_transcoder(daemons, kafka, tmp, media, name="transcoder", **keys):
    tc = {"media_root": str(tmp / "store"), "scratch_dir": str(tmp / "scratch"),
          "upload_root": str(media), "jobs": "2", "threads": "1", "lease": "10s",
          "worker_stall": "20s", "worker_deadline": "90s", "max_duration": "4s"}
    tc.update(keys)
    cfg = daemons.config(kafka, name=name, transcoder=tc)
    d = daemons.start(cfg, binary=str(TRANSCODER), name=name)
    d.wait_ready(90)
    return d


def outcomes(kafka, subs, timeout=120):
    """{submission id: (ce_type, data)} from submissions.ready once every sub has one."""
    wanted = set(subs)

    def by_sub(msgs):
        return {json.loads(m.value())["submission_id"]: (header_dict(m)["ce_type"],
                                                          json.loads(m.value()))
                for m in msgs}
    got = by_sub(kafka.consume("submissions.ready", lambda ms: wanted <= set(by_sub(ms)),
                               timeout))
    missing = wanted - set(got)
    assert not missing, f"no outcome for {missing}"
    for typ, data in got.values():
        assert_valid(typ, data)
    return {k: v for k, v in got.items() if k in wanted}


def evidence_events(kafka, sub, n, timeout=60):
    def mine(msgs):
        return [m for m in msgs if json.loads(m.value())["submission_id"] == sub]
    out = [(header_dict(m)["ce_type"], json.loads(m.value()))
           for m in mine(kafka.consume("evidence", lambda ms: len(mine(ms)) >= n, timeout))]
    for typ, data in out:
        assert_valid(typ, data)
    return out


def worker_pids(daemon):
    """Worker processes the daemon spawned: {pid: job kind}."""
    out = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == daemon.proc.pid and cmd and cmd[0].endswith(b"badgeflow-transcode-worker"):
            try:
                out[int(p.name)] = json.loads(Path(cmd[1].decode()).read_text())["kind"]
            except (OSError, ValueError):
                pass
    return out
