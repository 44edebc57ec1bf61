-- SPDX-License-Identifier: Apache-2.0
-- Router: the work it still has to assign, per submission (the waiting queue's truth).
-- Assignments themselves live in 0002's assignments table; Redis mirrors load and leases
-- and is rebuilt from here and from assignments.

CREATE TABLE router_work (
    tenant_id          bf_ext_id NOT NULL,
    submission_id      bf_ext_id NOT NULL,
    credential_id      bf_cat_id NOT NULL,
    credential_version integer NOT NULL,
    need_primary       integer NOT NULL CHECK (need_primary >= 0),
    need_tie_break     integer NOT NULL DEFAULT 0 CHECK (need_tie_break >= 0),
    deadline           timestamptz NOT NULL,
    evidence           jsonb NOT NULL CHECK (jsonb_typeof(evidence) = 'array'),
    exclude_ids        text[] NOT NULL DEFAULT '{}',
    event_id           text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, submission_id),
    FOREIGN KEY (tenant_id, submission_id) REFERENCES submissions (tenant_id, id),
    FOREIGN KEY (credential_id, credential_version)
        REFERENCES credential_versions (credential_id, version)
);
COMMENT ON TABLE router_work IS
    'One row per routed submission: how many assessors it still needs (primary from the credential''s assessors_required, tie_break from routing.requested, plus one for each expired or released assignment), its turnaround deadline (queue order) and the evidence references the assignment events carry (blind: no educator).';
COMMENT ON COLUMN router_work.exclude_ids IS 'Assessors a routing.requested asked to leave out.';
COMMENT ON COLUMN router_work.deadline IS 'ready time + turnaround_days: waiting items are served earliest deadline first within a tenant, tenants in turn.';
CREATE INDEX router_work_waiting ON router_work (tenant_id, deadline)
    WHERE need_primary + need_tie_break > 0;
CREATE TRIGGER router_work_touch BEFORE UPDATE ON router_work
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();
