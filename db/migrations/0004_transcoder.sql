-- SPDX-License-Identifier: Apache-2.0
-- The transcoder's work queue: one job per evidence item it must process, with a lease so
-- several instances share the work and a killed instance's jobs are taken over.
-- evidence_items (0002) stays the truth about an item's state; this table only says who
-- works on it, what it needs that 0002 has no column for, and what the probe found.

CREATE TABLE transcoder_jobs (
    tenant_id      bf_ext_id NOT NULL,
    submission_id  bf_ext_id NOT NULL,
    item_id        bf_ext_id NOT NULL,
    inline_text    text CHECK (length(inline_text) <= 80000),
    max_duration_s integer NOT NULL DEFAULT 0 CHECK (max_duration_s >= 0),
    lease_owner    text,
    lease_until    timestamptz,
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    metadata       jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, submission_id, item_id),
    FOREIGN KEY (tenant_id, submission_id, item_id)
        REFERENCES evidence_items (tenant_id, submission_id, item_id) ON DELETE CASCADE
);
COMMENT ON TABLE transcoder_jobs IS
    'The transcoder''s jobs: one per evidence item to process. A job is claimed by setting lease_owner/lease_until (FOR UPDATE SKIP LOCKED); an expired lease is taken over by any instance.';
COMMENT ON COLUMN transcoder_jobs.inline_text IS 'The inline text of a kind-text item (evidence_items has no column for it); NULL for fetched items.';
COMMENT ON COLUMN transcoder_jobs.max_duration_s IS 'The requirement''s longest allowed duration (0: only the service cap applies).';
COMMENT ON COLUMN transcoder_jobs.lease_owner IS 'Instance working on it ("host:pid:start"), NULL when free.';
COMMENT ON COLUMN transcoder_jobs.attempts IS 'Times a worker was started for it (a job taken over after a crash counts again).';
COMMENT ON COLUMN transcoder_jobs.metadata IS 'What the probe found (media_metadata of evidence.processed), once processed.';
CREATE INDEX transcoder_jobs_lease ON transcoder_jobs (lease_until NULLS FIRST, created_at);
