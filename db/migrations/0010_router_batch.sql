-- SPDX-License-Identifier: Apache-2.0
-- The router's capacity guard and assignment insert as one call: one round trip instead of
-- three per assignment, with the same locking as before.

-- Lock the assessor, count its open assignments, and insert the assignment if there is
-- room; true when inserted, false when the assessor is inactive, unknown or full (nothing
-- written). In READ COMMITTED every statement of a volatile function takes a new snapshot,
-- so the count, a statement after the lock, sees every assignment committed by whoever held
-- the lock before: the cap holds with any number of routers racing, whatever Redis says.
-- NO KEY UPDATE serialises routers on one assessor without blocking other services'
-- foreign-key checks (scores).
CREATE OR REPLACE FUNCTION router_guard_assign(p_id uuid, p_tenant text, p_submission text,
                                               p_assessor text, p_role text, p_token bigint,
                                               p_due_ms bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    cap integer;
    is_active boolean;
    n_open bigint;
BEGIN
    SELECT max_open, active INTO cap, is_active FROM assessors WHERE id = p_assessor
        FOR NO KEY UPDATE;
    IF NOT FOUND OR NOT is_active THEN
        RETURN false;
    END IF;
    SELECT count(*) INTO n_open FROM assignments WHERE assessor_id = p_assessor
        AND state = 'open';
    IF n_open >= cap THEN
        RETURN false;
    END IF;
    INSERT INTO assignments (id, tenant_id, submission_id, assessor_id, role, fencing_token,
                             due_at)
    VALUES (p_id, p_tenant, p_submission, p_assessor, p_role, p_token,
            to_timestamp(p_due_ms / 1000.0));
    RETURN true;
END
$$;
COMMENT ON FUNCTION router_guard_assign(uuid, text, text, text, text, bigint, bigint) IS
    'The router''s hard capacity cap in PostgreSQL: lock the assessor, count open assignments, insert the new one if there is room. True if inserted.';
