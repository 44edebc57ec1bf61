# SPDX-License-Identifier: Apache-2.0
"""Evidence upload streamed to disk (digest, sniffing, cap) and used in a submission; the
per-key rate limit (429 + Retry-After), shared by instances through Redis; CORS."""

import hashlib
import http.client
import os
import uuid
from pathlib import Path

from gw_helpers import gateway, gw_prefix, start_gateway, submission_body, tenants  # noqa: F401
from test_gateway_submissions import problem


def test_upload_streams_to_the_store_and_its_uri_is_usable_as_evidence(gateway, tenants):
    key = tenants.keys[(tenants.a, "district")]
    pdf = b"%PDF-1.4\n" + os.urandom(300_000)
    st, _, up = gateway.request("POST", "/v1/uploads", key=key, raw=pdf,
                                headers={"Content-Type": "application/octet-stream"})
    assert st == 201, up
    assert up["sha256"] == hashlib.sha256(pdf).hexdigest() and up["size"] == len(pdf)
    assert up["content_type"] == "application/pdf" and up["kind"] == "document"
    path = Path(up["uri"][len("file://"):])
    assert path.read_bytes() == pdf and path.parent.name == tenants.a
    assert path.is_relative_to(gateway.upload_root)
    body = submission_body("up-1")
    body["evidence"][1].update(uri=up["uri"], sha256=up["sha256"], size=up["size"])
    st, _, b = gateway.request("POST", "/v1/submissions", body, key=key)
    assert st == 202, b
    src = tenants.db.scalar("SELECT source_uri FROM evidence_items WHERE tenant_id = %s AND"
                            " submission_id = 'up-1' AND item_id = 'plan'", (tenants.a,))
    assert src == up["uri"]


def test_upload_over_the_cap_is_refused_and_leaves_nothing(gateway, tenants):
    key = tenants.keys[(tenants.a, "district")]
    before = sorted(p.name for p in Path(gateway.upload_root).rglob("*"))
    problem(gateway.request("POST", "/v1/uploads", key=key, raw=b"x" * (1024 * 1024 + 1)), 413)
    # chunked (no Content-Length): the cap holds while streaming
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    conn.putrequest("POST", "/v1/uploads")
    conn.putheader("Authorization", f"Bearer {key}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"y" * 65536
    for _ in range(20):  # 1.25 MiB > max_upload 1M
        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    assert resp.status == 413, resp.read()
    conn.close()
    after = sorted(p.name for p in Path(gateway.upload_root).rglob("*"))
    assert after == before, "no partial file left"
    problem(gateway.request("POST", "/v1/uploads", key=key, raw=b""), 422)
    problem(gateway.request("POST", "/v1/uploads", key=tenants.keys[(tenants.a, "assessor")],
                            raw=b"abc"), 403)


def test_two_gateways_share_a_keys_rate(stack, tenants, gw_prefix, tmp_path):
    """The buckets live in Redis: two instances give a key its burst once, not twice."""
    prefix = f"{gw_prefix}shared{uuid.uuid4().hex[:6]}."
    dirs = [tmp_path / n for n in ("a", "b")]
    for d in dirs:
        d.mkdir()
    gs = [start_gateway(stack, d, prefix, rate_per_s="1", rate_burst="4") for d in dirs]
    try:
        key = tenants.keys[(tenants.a, "district")]
        codes = [gs[i % 2].request("GET", "/v1/stacks", key=key)[0] for i in range(8)]
        assert codes.count(200) in (4, 5) and codes[:4] == [200] * 4, codes  # +1 refill at most
        assert codes[-2:] == [429, 429], codes
    finally:
        for g in gs:
            g.daemon.kill()


def test_rate_limit_answers_429_with_retry_after_per_key(stack, tenants, gw_prefix, tmp_path):
    g = start_gateway(stack, tmp_path, gw_prefix, rate_per_s="1", rate_burst="3",
                      cors_origins="https://portal.example.org")
    try:
        ka, kb = tenants.keys[(tenants.a, "district")], tenants.keys[(tenants.b, "district")]
        codes = [g.request("GET", "/v1/stacks", key=ka)[0] for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429], codes
        st, h, b = g.request("GET", "/v1/stacks", key=ka)
        problem((st, h, b), 429)
        assert int(h["retry-after"]) >= 1
        assert g.request("GET", "/v1/stacks", key=kb)[0] == 200, "another key has its own bucket"
        # CORS: a preflight from an allowed origin, and the header on answers
        st, h, _ = g.request("OPTIONS", "/v1/submissions",
                             headers={"Origin": "https://portal.example.org",
                                      "Access-Control-Request-Method": "POST"})
        assert st == 204 and h["access-control-allow-origin"] == "https://portal.example.org"
        assert "Authorization" in h["access-control-allow-headers"]
        st, h, _ = g.request("OPTIONS", "/v1/submissions", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in h
        st, h, _ = g.request("GET", "/v1/stacks", key=kb,
                             headers={"Origin": "https://portal.example.org"})
        assert h["access-control-allow-origin"] == "https://portal.example.org"
    finally:
        g.daemon.kill()
        g.daemon.log.close()
