-- SPDX-License-Identifier: Apache-2.0
-- The domain schema: tenants, people, pilots, the catalogue, submissions and their
-- evidence, assignments, scores, decisions, issued credentials, webhooks, analytics.
--
-- Applied by `badgeflow migrate` in one transaction (no BEGIN/COMMIT here).
-- Conventions:
--   * Every table that holds a tenant's data has tenant_id, and every service query is
--     scoped by it. Ids a district gives (educators, submissions, pilots, schools) are
--     unique per tenant only, so those tables key on (tenant_id, id) and their children
--     reference the pair: a row can never point at another tenant's object.
--   * Ids badgeflow mints are UUIDs; ids a district or the catalogue gives are text
--     (domains bf_ext_id and bf_cat_id below).
--   * Times are timestamptz; created_at/updated_at are kept by triggers.
--   * Names and e-mail addresses (PII) live only in educators and assessors.
--   * Every table and most columns carry a COMMENT: `\d+ table` in psql is the reference.

-- ---------------------------------------------------------------------------------------
-- Domains and helpers
-- ---------------------------------------------------------------------------------------

CREATE DOMAIN bf_ext_id AS text
    CHECK (VALUE ~ '^[A-Za-z0-9._:-]{1,128}$');
COMMENT ON DOMAIN bf_ext_id IS
    'An id a district gives (educator, submission, school, pilot, tenant): 1..128 of [A-Za-z0-9._:-].';

CREATE DOMAIN bf_cat_id AS text
    CHECK (VALUE ~ '^[a-z][a-z0-9._-]{0,63}$');
COMMENT ON DOMAIN bf_cat_id IS
    'An id of the catalogue (stack, credential, criterion, level, requirement): a lower-case letter then up to 63 of [a-z0-9._-].';

CREATE DOMAIN bf_sha256 AS text
    CHECK (VALUE ~ '^[0-9a-f]{64}$');
COMMENT ON DOMAIN bf_sha256 IS 'A SHA-256 digest, lower-case hex.';

-- Keep updated_at current on every UPDATE.
CREATE FUNCTION bf_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION bf_touch_updated_at() IS 'Trigger: sets updated_at to now() on UPDATE.';

-- ---------------------------------------------------------------------------------------
-- Tenants and access
-- ---------------------------------------------------------------------------------------

CREATE TABLE tenants (
    id         bf_ext_id PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('state', 'district')),
    parent_id  bf_ext_id REFERENCES tenants (id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    settings   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'district' OR parent_id IS NULL),
    CHECK (parent_id IS DISTINCT FROM id)
);
COMMENT ON TABLE tenants IS
    'State agencies and the districts under them. Every domain row belongs to one tenant.';
COMMENT ON COLUMN tenants.kind IS 'state (an agency; its assessors may serve its districts) or district.';
COMMENT ON COLUMN tenants.parent_id IS 'A district''s state agency (must be a state tenant); NULL for states and independent districts.';
COMMENT ON COLUMN tenants.settings IS
    'Per-tenant policy, e.g. {"allow_same_district_assessor": false, "allow_same_school_assessor": false}. Absent keys take the service defaults.';
CREATE INDEX tenants_parent ON tenants (parent_id) WHERE parent_id IS NOT NULL;
CREATE TRIGGER tenants_touch BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

-- A district's parent must be a state: checked on write (a CHECK cannot look at another row).
CREATE FUNCTION bf_tenants_check_parent() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM tenants WHERE id = NEW.parent_id AND kind = 'state') THEN
        RAISE EXCEPTION 'tenant %: parent % is not a state tenant', NEW.id, NEW.parent_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.kind = 'district'
       AND EXISTS (SELECT 1 FROM tenants WHERE parent_id = NEW.id) THEN
        RAISE EXCEPTION 'tenant %: has districts under it, so it must stay a state', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tenants_check_parent BEFORE INSERT OR UPDATE OF parent_id, kind ON tenants
    FOR EACH ROW EXECUTE FUNCTION bf_tenants_check_parent();

CREATE TABLE schools (
    tenant_id  bf_ext_id NOT NULL REFERENCES tenants (id),
    id         bf_ext_id NOT NULL,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
COMMENT ON TABLE schools IS
    'Schools of a district (tenant_id = the district). Reference data: educators and assessors name their school by (district_id, school_id) without a foreign key, so a submission never waits for a roster.';
CREATE TRIGGER schools_touch BEFORE UPDATE ON schools
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

-- ---------------------------------------------------------------------------------------
-- People
-- ---------------------------------------------------------------------------------------

CREATE TABLE educators (
    tenant_id   bf_ext_id NOT NULL REFERENCES tenants (id),
    id          bf_ext_id NOT NULL,
    name        text CHECK (length(name) BETWEEN 1 AND 200),
    email       text CHECK (length(email) BETWEEN 3 AND 254),
    school_id   bf_ext_id,
    district_id bf_ext_id,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
COMMENT ON TABLE educators IS
    'Educators who submit evidence, as their district names them. Upserted from submission.submitted. PII (name, email) lives only here and in assessors; analytics use a keyed pseudonym of (tenant_id, id).';
COMMENT ON COLUMN educators.name IS 'PII. Display name, optional.';
COMMENT ON COLUMN educators.email IS 'PII. Used only for the issued credential''s salted, hashed identifier.';
COMMENT ON COLUMN educators.school_id IS 'School id within district_id (conflict-of-interest rules).';
COMMENT ON COLUMN educators.district_id IS 'The district the educator works in (usually = tenant_id).';
CREATE INDEX educators_district_school ON educators (district_id, school_id);
CREATE TRIGGER educators_touch BEFORE UPDATE ON educators
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

CREATE TABLE assessors (
    id                 bf_ext_id PRIMARY KEY,
    tenant_id          bf_ext_id NOT NULL REFERENCES tenants (id),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email              text CHECK (length(email) BETWEEN 3 AND 254),
    school_id          bf_ext_id,
    district_id        bf_ext_id,
    educator_tenant_id bf_ext_id,
    educator_id        bf_ext_id,
    active             boolean NOT NULL DEFAULT true,
    max_open           integer NOT NULL DEFAULT 10 CHECK (max_open BETWEEN 0 AND 10000),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK ((educator_tenant_id IS NULL) = (educator_id IS NULL))
);
COMMENT ON TABLE assessors IS
    'Skilled practitioners who score submissions. tenant_id is the employer: a district''s assessors serve that district, a state''s assessors serve the state and every district under it. Ids are unique across tenants (events name an assessor by id alone).';
COMMENT ON COLUMN assessors.name IS 'PII.';
COMMENT ON COLUMN assessors.email IS 'PII.';
COMMENT ON COLUMN assessors.school_id IS 'School id within district_id, if the assessor works in a school (conflict of interest).';
COMMENT ON COLUMN assessors.district_id IS 'District the assessor works in, if any (conflict of interest).';
COMMENT ON COLUMN assessors.educator_tenant_id IS 'With educator_id: the same person as an educator, so they are never assigned their own submission.';
COMMENT ON COLUMN assessors.active IS 'Inactive assessors get no new assignments; open ones run to their end.';
COMMENT ON COLUMN assessors.max_open IS 'Capacity: the most open assignments at once (a hard cap the router keeps).';
CREATE INDEX assessors_tenant_active ON assessors (tenant_id) WHERE active;
CREATE INDEX assessors_educator ON assessors (educator_tenant_id, educator_id)
    WHERE educator_id IS NOT NULL;
CREATE TRIGGER assessors_touch BEFORE UPDATE ON assessors
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

-- ---------------------------------------------------------------------------------------
-- The catalogue (loaded from config/catalogue/*.json by `badgeflow catalogue load`)
-- ---------------------------------------------------------------------------------------

CREATE TABLE stacks (
    id          bf_cat_id PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL,
    content     jsonb NOT NULL CHECK (jsonb_typeof(content) = 'object'),
    sha256      bf_sha256 NOT NULL,
    source      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE stacks IS
    'Thematic stacks of micro-credentials (e.g. Collective Leadership). Earning every current credential of a stack earns the stack. Global: the catalogue is shared by all tenants.';
COMMENT ON COLUMN stacks.content IS 'The stack''s own fields (id, name, description, image, author) in canonical form, without its credentials.';
COMMENT ON COLUMN stacks.sha256 IS 'SHA-256 of the canonical JSON of content (stack metadata may change; it is not versioned).';
COMMENT ON COLUMN stacks.source IS 'The catalogue file it was last loaded from.';
CREATE TRIGGER stacks_touch BEFORE UPDATE ON stacks
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

CREATE TABLE catalogue_credentials (
    id             bf_cat_id PRIMARY KEY,
    stack_id       bf_cat_id NOT NULL REFERENCES stacks (id),
    position       integer NOT NULL DEFAULT 0 CHECK (position >= 0),
    name           text NOT NULL,
    latest_version integer CHECK (latest_version >= 1),
    retired_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE catalogue_credentials IS
    'Micro-credentials of the catalogue (the definitions; issued badges are in credentials). Each has immutable versions in credential_versions.';
COMMENT ON COLUMN catalogue_credentials.position IS 'Order within the stack, as in the catalogue file.';
COMMENT ON COLUMN catalogue_credentials.latest_version IS 'The version new submissions get when they do not name one.';
COMMENT ON COLUMN catalogue_credentials.retired_at IS 'Set when the credential left the catalogue files: no new submissions, and it no longer counts towards its stack.';
CREATE INDEX catalogue_credentials_stack ON catalogue_credentials (stack_id, position);
CREATE TRIGGER catalogue_credentials_touch BEFORE UPDATE ON catalogue_credentials
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

CREATE TABLE credential_versions (
    credential_id bf_cat_id NOT NULL REFERENCES catalogue_credentials (id),
    version       integer NOT NULL CHECK (version BETWEEN 1 AND 1000000),
    content       jsonb NOT NULL CHECK (jsonb_typeof(content) = 'object'),
    sha256        bf_sha256 NOT NULL,
    source        text,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (credential_id, version),
    CHECK (content ->> 'id' = credential_id),
    CHECK ((content ->> 'version')::integer = version)
);
COMMENT ON TABLE credential_versions IS
    'Immutable versions of each micro-credential: its evidence requirements, rubric and policy. A submission names the version it is assessed against. Changing a credential means a new version.';
COMMENT ON COLUMN credential_versions.content IS
    'The credential version as the catalogue loader normalised it (defaults filled in); see docs/catalogue.md. Never updated.';
COMMENT ON COLUMN credential_versions.sha256 IS
    'SHA-256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of content. Reloading the same (id, version) with another digest is refused: "versions are immutable: bump version".';
COMMENT ON COLUMN credential_versions.source IS 'The catalogue file the version was first loaded from.';

ALTER TABLE catalogue_credentials
    ADD FOREIGN KEY (id, latest_version) REFERENCES credential_versions (credential_id, version);

CREATE FUNCTION bf_credential_versions_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.content IS DISTINCT FROM OLD.content OR NEW.sha256 IS DISTINCT FROM OLD.sha256
       OR NEW.credential_id IS DISTINCT FROM OLD.credential_id
       OR NEW.version IS DISTINCT FROM OLD.version THEN
        RAISE EXCEPTION 'credential % version %: versions are immutable: bump version',
            OLD.credential_id, OLD.version
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION bf_credential_versions_immutable() IS
    'Trigger: refuses any UPDATE of a credential version''s id, version, content or digest.';
CREATE TRIGGER credential_versions_immutable BEFORE UPDATE ON credential_versions
    FOR EACH ROW EXECUTE FUNCTION bf_credential_versions_immutable();

-- Relational views of the versioned definitions, for SQL analysts. Derived from content,
-- so they can never drift from what the services use.
CREATE VIEW rubric_criteria AS
SELECT v.credential_id,
       v.version,
       c.ord::integer - 1                AS position,
       c.crit ->> 'id'                   AS criterion_id,
       c.crit ->> 'name'                 AS name,
       c.crit ->> 'description'          AS description,
       c.crit ->> 'passing_level'        AS passing_level,
       jsonb_array_length(c.crit -> 'levels') AS level_count
  FROM credential_versions v,
       jsonb_array_elements(v.content -> 'rubric' -> 'criteria') WITH ORDINALITY AS c (crit, ord);
COMMENT ON VIEW rubric_criteria IS 'One row per rubric criterion of every credential version (from credential_versions.content).';

CREATE VIEW rubric_levels AS
SELECT v.credential_id,
       v.version,
       c.crit ->> 'id'                   AS criterion_id,
       l.ord::integer - 1                AS position,
       l.lvl ->> 'id'                    AS level_id,
       l.lvl ->> 'name'                  AS name,
       l.lvl ->> 'description'           AS description,
       (l.lvl ->> 'rank')::integer       AS rank,
       (l.lvl ->> 'id') = (c.crit ->> 'passing_level') AS is_passing_level,
       (l.lvl ->> 'rank')::integer >= (
           SELECT (p ->> 'rank')::integer
             FROM jsonb_array_elements(c.crit -> 'levels') AS p
            WHERE p ->> 'id' = c.crit ->> 'passing_level') AS passes
  FROM credential_versions v,
       jsonb_array_elements(v.content -> 'rubric' -> 'criteria') AS c (crit),
       jsonb_array_elements(c.crit -> 'levels') WITH ORDINALITY AS l (lvl, ord);
COMMENT ON VIEW rubric_levels IS
    'One row per level of every criterion of every credential version, lowest first; passes = at or above the criterion''s passing level.';

CREATE VIEW evidence_requirements AS
SELECT v.credential_id,
       v.version,
       e.ord::integer - 1                    AS position,
       e.req ->> 'id'                        AS requirement_id,
       e.req ->> 'kind'                      AS kind,
       e.req ->> 'description'               AS description,
       (e.req ->> 'min_items')::integer      AS min_items,
       (e.req ->> 'max_items')::integer      AS max_items,
       (e.req ->> 'max_duration_s')::integer AS max_duration_s
  FROM credential_versions v,
       jsonb_array_elements(v.content -> 'evidence') WITH ORDINALITY AS e (req, ord);
COMMENT ON VIEW evidence_requirements IS 'One row per evidence requirement of every credential version.';

CREATE VIEW current_credentials AS
SELECT c.id                                        AS credential_id,
       c.stack_id,
       c.position,
       v.version,
       v.content ->> 'name'                        AS name,
       (v.content ->> 'assessors_required')::integer  AS assessors_required,
       (v.content ->> 'attempts_allowed')::integer    AS attempts_allowed,
       (v.content ->> 'turnaround_days')::integer     AS turnaround_days,
       (v.content ->> 'continuity_on_resubmission')::boolean AS continuity_on_resubmission,
       (v.content ->> 'disagreement_threshold')::integer AS disagreement_threshold,
       (v.content ->> 'expires_after_days')::integer  AS expires_after_days,
       v.content -> 'rubric' -> 'passing_rule'      AS passing_rule,
       v.content -> 'rubric' ->> 'feedback_required' AS feedback_required,
       v.sha256
  FROM catalogue_credentials c
  JOIN credential_versions v ON v.credential_id = c.id AND v.version = c.latest_version
 WHERE c.retired_at IS NULL;
COMMENT ON VIEW current_credentials IS 'The latest version of every credential still in the catalogue, with its policy as columns.';

-- ---------------------------------------------------------------------------------------
-- Qualifications and conflicts
-- ---------------------------------------------------------------------------------------

CREATE TABLE assessor_qualifications (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    assessor_id   bf_ext_id NOT NULL REFERENCES assessors (id) ON DELETE CASCADE,
    credential_id bf_cat_id REFERENCES catalogue_credentials (id),
    stack_id      bf_cat_id REFERENCES stacks (id),
    since         timestamptz NOT NULL DEFAULT now(),
    until         timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(credential_id, stack_id) = 1),
    CHECK (until IS NULL OR until > since)
);
COMMENT ON TABLE assessor_qualifications IS
    'What an assessor is certified to score: one credential, or every credential of a stack, between since and until (NULL = open-ended).';
CREATE UNIQUE INDEX assessor_qualifications_credential
    ON assessor_qualifications (credential_id, assessor_id) WHERE credential_id IS NOT NULL;
CREATE UNIQUE INDEX assessor_qualifications_stack
    ON assessor_qualifications (stack_id, assessor_id) WHERE stack_id IS NOT NULL;
CREATE INDEX assessor_qualifications_assessor ON assessor_qualifications (assessor_id);

CREATE TABLE conflict_blocks (
    assessor_id bf_ext_id NOT NULL REFERENCES assessors (id) ON DELETE CASCADE,
    tenant_id   bf_ext_id NOT NULL,
    educator_id bf_ext_id NOT NULL,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (assessor_id, tenant_id, educator_id),
    FOREIGN KEY (tenant_id, educator_id) REFERENCES educators (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE conflict_blocks IS
    'Pairs that must never meet: this assessor never scores this educator (tenant_id is the educator''s tenant).';
CREATE INDEX conflict_blocks_educator ON conflict_blocks (tenant_id, educator_id);

-- ---------------------------------------------------------------------------------------
-- API keys (need assessors for assessor-role keys)
-- ---------------------------------------------------------------------------------------

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    bf_ext_id NOT NULL REFERENCES tenants (id),
    role         text NOT NULL CHECK (role IN ('district', 'assessor', 'admin')),
    assessor_id  bf_ext_id,
    label        text CHECK (length(label) <= 200),
    prefix       text NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9_-]{8,32}$'),
    key_hash     bf_sha256 NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    FOREIGN KEY (tenant_id, assessor_id) REFERENCES assessors (tenant_id, id),
    CHECK ((role = 'assessor') = (assessor_id IS NOT NULL))
);
COMMENT ON TABLE api_keys IS
    'API keys of the gateway. Each is bound to one tenant and one role; an assessor key also to one assessor of that tenant. The key itself is shown once at creation and never stored.';
COMMENT ON COLUMN api_keys.prefix IS 'The key''s first characters, stored in clear to find the row; the rest is checked against key_hash.';
COMMENT ON COLUMN api_keys.key_hash IS 'SHA-256 (hex) of the whole key.';
COMMENT ON COLUMN api_keys.last_used_at IS 'Updated at most about once a minute by the gateway.';
CREATE INDEX api_keys_tenant ON api_keys (tenant_id) WHERE revoked_at IS NULL;

-- ---------------------------------------------------------------------------------------
-- Pilots
-- ---------------------------------------------------------------------------------------

CREATE TABLE pilots (
    tenant_id           bf_ext_id NOT NULL REFERENCES tenants (id),
    id                  bf_ext_id NOT NULL,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description         text,
    starts_on           date NOT NULL,
    ends_on             date NOT NULL,
    target_reach_ratio  numeric(5, 4) CHECK (target_reach_ratio > 0 AND target_reach_ratio <= 1),
    target_participants integer CHECK (target_participants > 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CHECK (ends_on >= starts_on)
);
COMMENT ON TABLE pilots IS
    'A district''s (or state''s) pilot: a cohort of targeted educators, a window and targets, e.g. reach 75% of targeted educators.';
COMMENT ON COLUMN pilots.target_reach_ratio IS 'Share of targeted educators who should submit at least once (0.75 = 75%).';
COMMENT ON COLUMN pilots.target_participants IS 'Number of educators expected to take part.';
CREATE TRIGGER pilots_touch BEFORE UPDATE ON pilots
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

CREATE TABLE pilot_scope (
    tenant_id     bf_ext_id NOT NULL,
    pilot_id      bf_ext_id NOT NULL,
    credential_id bf_cat_id REFERENCES catalogue_credentials (id),
    stack_id      bf_cat_id REFERENCES stacks (id),
    FOREIGN KEY (tenant_id, pilot_id) REFERENCES pilots (tenant_id, id) ON DELETE CASCADE,
    CHECK (num_nonnulls(credential_id, stack_id) = 1)
);
COMMENT ON TABLE pilot_scope IS
    'The credentials and stacks a pilot covers; a pilot with no rows covers the whole catalogue.';
CREATE UNIQUE INDEX pilot_scope_unique
    ON pilot_scope (tenant_id, pilot_id, coalesce(credential_id, ''), coalesce(stack_id, ''));

CREATE TABLE pilot_educators (
    tenant_id   bf_ext_id NOT NULL,
    pilot_id    bf_ext_id NOT NULL,
    educator_id bf_ext_id NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, pilot_id, educator_id),
    FOREIGN KEY (tenant_id, pilot_id) REFERENCES pilots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, educator_id) REFERENCES educators (tenant_id, id)
);
COMMENT ON TABLE pilot_educators IS 'The educators a pilot targets (the denominator of reach).';
CREATE INDEX pilot_educators_educator ON pilot_educators (tenant_id, educator_id);

-- ---------------------------------------------------------------------------------------
-- Submissions
-- ---------------------------------------------------------------------------------------

CREATE TABLE submissions (
    tenant_id              bf_ext_id NOT NULL REFERENCES tenants (id),
    id                     bf_ext_id NOT NULL,
    educator_id            bf_ext_id NOT NULL,
    credential_id          bf_cat_id NOT NULL,
    credential_version     integer NOT NULL,
    attempt                integer NOT NULL DEFAULT 1 CHECK (attempt BETWEEN 1 AND 100),
    previous_submission_id bf_ext_id,
    pilot_id               bf_ext_id,
    state                  text NOT NULL DEFAULT 'received' CHECK (state IN (
                               'received', 'processing', 'ready', 'in_review', 'decided',
                               'rejected', 'withdrawn')),
    outcome                text CHECK (outcome IN ('earned', 'not_yet')),
    rejected_reason        text,
    withdrawn_reason       text,
    source                 text,
    event_id               text,
    submitted_at           timestamptz NOT NULL DEFAULT now(),
    received_at            timestamptz NOT NULL DEFAULT now(),
    processing_at          timestamptz,
    ready_at               timestamptz,
    in_review_at           timestamptz,
    decided_at             timestamptz,
    rejected_at            timestamptz,
    withdrawn_at           timestamptz,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, educator_id) REFERENCES educators (tenant_id, id),
    FOREIGN KEY (credential_id, credential_version)
        REFERENCES credential_versions (credential_id, version),
    FOREIGN KEY (tenant_id, previous_submission_id) REFERENCES submissions (tenant_id, id),
    FOREIGN KEY (tenant_id, pilot_id) REFERENCES pilots (tenant_id, id),
    CHECK ((attempt = 1) = (previous_submission_id IS NULL)),
    CHECK (previous_submission_id IS DISTINCT FROM id),
    CHECK ((state = 'decided') = (outcome IS NOT NULL)),
    CHECK (state <> 'rejected' OR rejected_reason IS NOT NULL)
);
COMMENT ON TABLE submissions IS
    'An educator''s evidence for one credential version, as the district named it. Life-cycle: received -> processing -> ready -> in_review -> decided (earned | not_yet), or rejected (incomplete or invalid evidence) or withdrawn. A resubmission is a new row with attempt + 1 and previous_submission_id. State changes are logged in submission_events by trigger.';
COMMENT ON COLUMN submissions.credential_version IS 'The version the submission is assessed against (the latest at the time it was recorded, unless the event named one).';
COMMENT ON COLUMN submissions.attempt IS 'Attempt number at this credential, from 1; the credential version says how many are allowed.';
COMMENT ON COLUMN submissions.outcome IS 'Set when decided: earned or not_yet (an override may change it; see decisions).';
COMMENT ON COLUMN submissions.rejected_reason IS 'Why the evidence was refused, in words an educator can act on.';
COMMENT ON COLUMN submissions.source IS 'Who produced it: the CloudEvents ce_source (/badgeflow/gateway or the district''s own URI).';
COMMENT ON COLUMN submissions.event_id IS 'ce_id of the submission.submitted event that created it.';
COMMENT ON COLUMN submissions.submitted_at IS 'When the educator submitted (from the event).';
COMMENT ON COLUMN submissions.received_at IS 'When badgeflow recorded it. The other *_at columns are set by trigger when the state is first entered.';
CREATE INDEX submissions_state ON submissions (tenant_id, state, updated_at);
CREATE INDEX submissions_educator ON submissions (tenant_id, educator_id, credential_id, attempt);
CREATE INDEX submissions_credential ON submissions (credential_id, state);
CREATE INDEX submissions_pilot ON submissions (tenant_id, pilot_id) WHERE pilot_id IS NOT NULL;
CREATE INDEX submissions_previous ON submissions (tenant_id, previous_submission_id)
    WHERE previous_submission_id IS NOT NULL;

CREATE TABLE submission_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     bf_ext_id NOT NULL,
    submission_id bf_ext_id NOT NULL,
    from_state    text,
    to_state      text NOT NULL,
    outcome       text,
    reason        text,
    event_id      text,
    at            timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, submission_id) REFERENCES submissions (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE submission_events IS
    'History of every submission''s state (and outcome) changes, written by trigger: analysts compute journeys and times between states from it.';
COMMENT ON COLUMN submission_events.from_state IS 'NULL for the first row (the submission was recorded).';
COMMENT ON COLUMN submission_events.reason IS 'rejected_reason or withdrawn_reason when the change was a rejection or withdrawal.';
COMMENT ON COLUMN submission_events.event_id IS
    'ce_id of the event that caused the change, when the service said so with SET LOCAL badgeflow.event_id = ''...''.';
CREATE INDEX submission_events_submission ON submission_events (tenant_id, submission_id, id);
CREATE INDEX submission_events_at ON submission_events (at);

-- Stamp the state's time, refuse moves out of a final state, keep updated_at.
CREATE FUNCTION bf_submissions_state() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.state IS DISTINCT FROM OLD.state THEN
        IF OLD.state IN ('rejected', 'withdrawn', 'decided') OR NEW.state = 'received' THEN
            RAISE EXCEPTION 'submission %/%: cannot move from % to %', OLD.tenant_id, OLD.id,
                OLD.state, NEW.state USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    CASE NEW.state
        WHEN 'processing' THEN NEW.processing_at := coalesce(NEW.processing_at, now());
        WHEN 'ready'      THEN NEW.ready_at      := coalesce(NEW.ready_at, now());
        WHEN 'in_review'  THEN NEW.in_review_at  := coalesce(NEW.in_review_at, now());
        WHEN 'decided'    THEN NEW.decided_at    := coalesce(NEW.decided_at, now());
        WHEN 'rejected'   THEN NEW.rejected_at   := coalesce(NEW.rejected_at, now());
        WHEN 'withdrawn'  THEN NEW.withdrawn_at  := coalesce(NEW.withdrawn_at, now());
        ELSE NULL;
    END CASE;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION bf_submissions_state() IS
    'Trigger: sets the entered state''s *_at, refuses leaving decided/rejected/withdrawn or going back to received.';
CREATE TRIGGER submissions_state BEFORE INSERT OR UPDATE ON submissions
    FOR EACH ROW EXECUTE FUNCTION bf_submissions_state();

CREATE FUNCTION bf_submissions_log() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.state IS DISTINCT FROM OLD.state
       OR NEW.outcome IS DISTINCT FROM OLD.outcome THEN
        INSERT INTO submission_events (tenant_id, submission_id, from_state, to_state, outcome,
                                       reason, event_id)
        VALUES (NEW.tenant_id, NEW.id,
                CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END,
                NEW.state, NEW.outcome,
                CASE NEW.state WHEN 'rejected' THEN NEW.rejected_reason
                               WHEN 'withdrawn' THEN NEW.withdrawn_reason END,
                nullif(current_setting('badgeflow.event_id', true), ''));
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION bf_submissions_log() IS 'Trigger: appends a submission_events row for every state or outcome change.';
CREATE TRIGGER submissions_log AFTER INSERT OR UPDATE OF state, outcome ON submissions
    FOR EACH ROW EXECUTE FUNCTION bf_submissions_log();

-- ---------------------------------------------------------------------------------------
-- Evidence and renditions
-- ---------------------------------------------------------------------------------------

CREATE TABLE evidence_items (
    tenant_id       bf_ext_id NOT NULL,
    submission_id   bf_ext_id NOT NULL,
    item_id         bf_ext_id NOT NULL,
    position        integer NOT NULL DEFAULT 0 CHECK (position >= 0),
    kind            text NOT NULL CHECK (kind IN ('video', 'audio', 'image', 'document', 'text')),
    requirement     bf_cat_id NOT NULL,
    source_uri      text CHECK (length(source_uri) <= 2048),
    declared_sha256 bf_sha256,
    declared_bytes  bigint CHECK (declared_bytes >= 0),
    storage_key     text CHECK (length(storage_key) <= 512),
    sha256          bf_sha256,
    content_type    text CHECK (length(content_type) <= 255),
    bytes           bigint CHECK (bytes >= 0),
    duration_ms     bigint CHECK (duration_ms >= 0),
    width           integer CHECK (width > 0),
    height          integer CHECK (height > 0),
    state           text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'processed', 'failed')),
    failure_code    text,
    failure_reason  text,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, submission_id, item_id),
    FOREIGN KEY (tenant_id, submission_id) REFERENCES submissions (tenant_id, id) ON DELETE CASCADE,
    CHECK (state <> 'failed' OR failure_reason IS NOT NULL)
);
COMMENT ON TABLE evidence_items IS
    'Each evidence item of a submission: where it came from, what the transcoder found, and whether it is processed or failed (with a reason the educator can act on).';
COMMENT ON COLUMN evidence_items.requirement IS 'The evidence requirement of the credential version this item answers.';
COMMENT ON COLUMN evidence_items.source_uri IS 'https or file:/// URI it was fetched from; NULL for inline text.';
COMMENT ON COLUMN evidence_items.declared_sha256 IS 'Checksum the district declared (verified on fetch).';
COMMENT ON COLUMN evidence_items.storage_key IS 'Media-store key of the stored input (documents, text); media are reached through renditions.';
COMMENT ON COLUMN evidence_items.sha256 IS 'SHA-256 of the bytes actually fetched.';
COMMENT ON COLUMN evidence_items.content_type IS 'The sniffed media type.';
COMMENT ON COLUMN evidence_items.failure_code IS 'Stable code of the failure, e.g. too_long, unreadable, fetch_denied.';
CREATE INDEX evidence_items_pending ON evidence_items (tenant_id, submission_id) WHERE state = 'pending';
CREATE TRIGGER evidence_items_touch BEFORE UPDATE ON evidence_items
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

CREATE TABLE renditions (
    tenant_id     bf_ext_id NOT NULL,
    submission_id bf_ext_id NOT NULL,
    item_id       bf_ext_id NOT NULL,
    name          text NOT NULL CHECK (name IN ('720p', '360p', 'poster', 'audio', 'image', 'original')),
    storage_key   text NOT NULL CHECK (length(storage_key) BETWEEN 1 AND 512),
    content_type  text NOT NULL,
    width         integer CHECK (width > 0),
    height        integer CHECK (height > 0),
    duration_ms   bigint CHECK (duration_ms >= 0),
    bytes         bigint NOT NULL CHECK (bytes >= 0),
    sha256        bf_sha256 NOT NULL,
    codec         text,
    audio_codec   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, submission_id, item_id, name),
    FOREIGN KEY (tenant_id, submission_id, item_id)
        REFERENCES evidence_items (tenant_id, submission_id, item_id) ON DELETE CASCADE
);
COMMENT ON TABLE renditions IS
    'Stored web renditions of an evidence item (720p/360p H.264+AAC MP4, poster, audio .m4a, normalised image, original document): what the assessor''s player loads.';
COMMENT ON COLUMN renditions.storage_key IS 'Key in the media store (a relative path), resolved to a URL by the gateway.';
COMMENT ON COLUMN renditions.codec IS 'Main codec as FFmpeg names it (h264 for video renditions, aac for audio, mjpeg for posters).';
COMMENT ON COLUMN renditions.audio_codec IS 'Audio codec of a video rendition, if it has sound.';

-- ---------------------------------------------------------------------------------------
-- Assignments, scores, decisions, agreement
-- ---------------------------------------------------------------------------------------

CREATE TABLE assignments (
    id            uuid PRIMARY KEY,
    tenant_id     bf_ext_id NOT NULL,
    submission_id bf_ext_id NOT NULL,
    assessor_id   bf_ext_id NOT NULL REFERENCES assessors (id),
    role          text NOT NULL DEFAULT 'primary' CHECK (role IN ('primary', 'tie_break')),
    state         text NOT NULL DEFAULT 'open'
                      CHECK (state IN ('open', 'completed', 'released', 'expired', 'declined')),
    fencing_token bigint NOT NULL,
    due_at        timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    close_reason  text,
    FOREIGN KEY (tenant_id, submission_id) REFERENCES submissions (tenant_id, id),
    UNIQUE (id, tenant_id, submission_id, assessor_id),
    CHECK ((state = 'open') = (closed_at IS NULL))
);
COMMENT ON TABLE assignments IS
    'Who scores what: one row per (submission, assessor) lease. The router writes them; Redis mirrors the open ones (load, leases) and is rebuilt from here.';
COMMENT ON COLUMN assignments.role IS 'primary (one of the credential''s assessors_required) or tie_break (asked for by the scorer on disagreement).';
COMMENT ON COLUMN assignments.state IS 'open (leased), completed (score accepted), released or declined (by the assessor), expired (past due_at).';
COMMENT ON COLUMN assignments.fencing_token IS
    'Monotonic token from the router''s claim; a stale holder''s write carries a smaller token and is refused. After a Redis loss the counter restarts above max(fencing_token).';
COMMENT ON COLUMN assignments.due_at IS 'Lease end, from the credential''s turnaround_days.';
CREATE UNIQUE INDEX assignments_one_per_assessor ON assignments (tenant_id, submission_id, assessor_id)
    WHERE state IN ('open', 'completed');
CREATE INDEX assignments_open_by_assessor ON assignments (assessor_id) WHERE state = 'open';
CREATE INDEX assignments_open_due ON assignments (due_at) WHERE state = 'open';
CREATE INDEX assignments_submission ON assignments (tenant_id, submission_id);
CREATE INDEX assignments_assessor_history ON assignments (assessor_id, created_at);

CREATE TABLE scores (
    id               uuid PRIMARY KEY,
    tenant_id        bf_ext_id NOT NULL,
    assignment_id    uuid NOT NULL UNIQUE REFERENCES assignments (id),
    submission_id    bf_ext_id NOT NULL,
    assessor_id      bf_ext_id NOT NULL REFERENCES assessors (id),
    criteria         jsonb NOT NULL CHECK (jsonb_typeof(criteria) = 'array'),
    overall_feedback text,
    event_id         text,
    submitted_at     timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, submission_id) REFERENCES submissions (tenant_id, id),
    -- the score's submission and assessor are its assignment's
    FOREIGN KEY (assignment_id, tenant_id, submission_id, assessor_id)
        REFERENCES assignments (id, tenant_id, submission_id, assessor_id),
    UNIQUE (id, tenant_id, submission_id, assessor_id)
);
COMMENT ON TABLE scores IS
    'Accepted rubric scores, one per assignment: per criterion a level and feedback ([{"criterion_id", "level_id", "feedback"}], as in score.submitted).';
COMMENT ON COLUMN scores.overall_feedback IS 'Free text for the educator; never in analytics.';
CREATE INDEX scores_submission ON scores (tenant_id, submission_id);
CREATE INDEX scores_assessor ON scores (assessor_id, submitted_at);

CREATE TABLE score_levels (
    score_id      uuid NOT NULL,
    tenant_id     bf_ext_id NOT NULL,
    submission_id bf_ext_id NOT NULL,
    assessor_id   bf_ext_id NOT NULL,
    credential_id bf_cat_id NOT NULL,
    credential_version integer NOT NULL,
    criterion_id  bf_cat_id NOT NULL,
    level_id      bf_cat_id NOT NULL,
    level_rank    integer NOT NULL,
    passing       boolean NOT NULL,
    has_feedback  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (score_id, criterion_id),
    FOREIGN KEY (score_id, tenant_id, submission_id, assessor_id)
        REFERENCES scores (id, tenant_id, submission_id, assessor_id) ON DELETE CASCADE,
    FOREIGN KEY (credential_id, credential_version)
        REFERENCES credential_versions (credential_id, version)
);
COMMENT ON TABLE score_levels IS
    'One row per criterion of every accepted score (the scorer writes them with the score), for analysts: level, its rank, whether it passes. No feedback text here.';
CREATE INDEX score_levels_criterion ON score_levels (credential_id, criterion_id);
CREATE INDEX score_levels_submission ON score_levels (tenant_id, submission_id);

CREATE TABLE decisions (
    id                 uuid PRIMARY KEY,
    tenant_id          bf_ext_id NOT NULL,
    submission_id      bf_ext_id NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('earned', 'not_yet')),
    criteria           jsonb NOT NULL CHECK (jsonb_typeof(criteria) = 'array'),
    rule               jsonb NOT NULL CHECK (jsonb_typeof(rule) = 'object'),
    attempt            integer NOT NULL CHECK (attempt >= 1),
    attempts_left      integer NOT NULL CHECK (attempts_left >= 0),
    supersedes_id      uuid UNIQUE,
    superseded_at      timestamptz,
    decided_by         text NOT NULL,
    reason             text,
    event_id           text,
    decided_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, submission_id) REFERENCES submissions (tenant_id, id),
    UNIQUE (id, tenant_id, submission_id),
    -- an override supersedes a decision of the same submission
    FOREIGN KEY (supersedes_id, tenant_id, submission_id)
        REFERENCES decisions (id, tenant_id, submission_id),
    CHECK (supersedes_id IS NULL OR reason IS NOT NULL),
    CHECK (supersedes_id IS DISTINCT FROM id)
);
COMMENT ON TABLE decisions IS
    'Outcomes: earned or not_yet with per-criterion levels and merged feedback. An override by a reviewer adds a row that supersedes the previous one (which gets superseded_at); only one current decision per submission.';
COMMENT ON COLUMN decisions.criteria IS 'As in decision.made: [{"criterion_id", "level_id", "passing", "feedback": [...]}].';
COMMENT ON COLUMN decisions.rule IS 'The rule applied, e.g. {"aggregation": "median_lower", "passing": "conjunctive", "disagreement_levels": 1}.';
COMMENT ON COLUMN decisions.decided_by IS '"scorer" for an automatic decision, else the reviewer''s id.';
COMMENT ON COLUMN decisions.reason IS 'Why an override was made (required when supersedes_id is set).';
CREATE UNIQUE INDEX decisions_current ON decisions (tenant_id, submission_id) WHERE superseded_at IS NULL;
CREATE INDEX decisions_submission ON decisions (tenant_id, submission_id, decided_at);
CREATE INDEX decisions_at ON decisions (decided_at);

CREATE TABLE agreement_stats (
    tenant_id     bf_ext_id REFERENCES tenants (id),
    credential_id bf_cat_id NOT NULL REFERENCES catalogue_credentials (id),
    criterion_id  bf_cat_id,
    assessor_id   bf_ext_id REFERENCES assessors (id),
    n             integer NOT NULL DEFAULT 0 CHECK (n >= 0),
    exact         integer NOT NULL DEFAULT 0 CHECK (exact >= 0),
    adjacent      integer NOT NULL DEFAULT 0 CHECK (adjacent >= 0),
    kappa         double precision,
    alpha         double precision,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agreement_stats_key
        UNIQUE NULLS NOT DISTINCT (tenant_id, credential_id, criterion_id, assessor_id),
    CHECK (exact <= adjacent AND adjacent <= n)
);
COMMENT ON TABLE agreement_stats IS
    'Inter-rater agreement over double-scored submissions, kept by the scorer. NULL tenant_id = all tenants; NULL criterion_id = the outcome (earned / not yet); NULL assessor_id = all assessors, else that assessor against the others.';
COMMENT ON COLUMN agreement_stats.n IS 'Pairs of scores compared.';
COMMENT ON COLUMN agreement_stats.exact IS 'Pairs on the same level (or outcome).';
COMMENT ON COLUMN agreement_stats.adjacent IS 'Pairs at most one level apart (exact included).';
COMMENT ON COLUMN agreement_stats.kappa IS 'Cohen''s kappa (outcome rows).';
COMMENT ON COLUMN agreement_stats.alpha IS 'Krippendorff''s alpha, ordinal.';

-- ---------------------------------------------------------------------------------------
-- Issuing: keys, status lists, issued credentials
-- ---------------------------------------------------------------------------------------

CREATE TABLE issuer_keys (
    tenant_id       bf_ext_id NOT NULL REFERENCES tenants (id),
    kid             text NOT NULL CHECK (kid ~ '^[A-Za-z0-9._:-]{1,128}$'),
    alg             text NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    public_jwk      jsonb NOT NULL CHECK (jsonb_typeof(public_jwk) = 'object'),
    private_key_enc bytea NOT NULL,
    state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz,
    PRIMARY KEY (tenant_id, kid),
    UNIQUE (kid),
    CHECK ((state = 'retired') = (retired_at IS NOT NULL))
);
COMMENT ON TABLE issuer_keys IS
    'Signing keys of each issuing tenant. Retired keys stay published so old credentials keep verifying; one active key per tenant and algorithm.';
COMMENT ON COLUMN issuer_keys.private_key_enc IS 'The private key encrypted under the key-encryption key from config. Never logged, never served.';
CREATE UNIQUE INDEX issuer_keys_active ON issuer_keys (tenant_id, alg) WHERE state = 'active';

CREATE TABLE status_lists (
    id         uuid PRIMARY KEY,
    tenant_id  bf_ext_id NOT NULL REFERENCES tenants (id),
    purpose    text NOT NULL DEFAULT 'revocation' CHECK (purpose IN ('revocation', 'suspension')),
    size       integer NOT NULL DEFAULT 131072 CHECK (size >= 131072 AND size % 8 = 0),
    bits       bytea NOT NULL,
    next_index integer NOT NULL DEFAULT 0 CHECK (next_index >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK (octet_length(bits) * 8 = size),
    CHECK (next_index <= size)
);
COMMENT ON TABLE status_lists IS
    'Bitstring Status Lists (W3C) of each tenant: bit i set = the credential at status_index i is revoked. At least 131,072 bits (16 KiB) for herd privacy.';
COMMENT ON COLUMN status_lists.bits IS 'The raw bitstring, most significant bit of byte 0 = index 0 (served GZIP-compressed, base64url).';
COMMENT ON COLUMN status_lists.next_index IS 'Next free index; a list is full when next_index = size.';
CREATE INDEX status_lists_open ON status_lists (tenant_id, purpose) WHERE next_index < size;
CREATE TRIGGER status_lists_touch BEFORE UPDATE ON status_lists
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

CREATE TABLE credentials (
    id                 uuid PRIMARY KEY,
    tenant_id          bf_ext_id NOT NULL REFERENCES tenants (id),
    educator_id        bf_ext_id NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('credential', 'stack')),
    submission_id      bf_ext_id,
    decision_id        uuid UNIQUE,
    credential_id      bf_cat_id,
    credential_version integer,
    stack_id           bf_cat_id REFERENCES stacks (id),
    achievement_id     text NOT NULL,
    kid                text,
    jwt                text NOT NULL,
    document           jsonb NOT NULL CHECK (jsonb_typeof(document) = 'object'),
    status_list_id     uuid,
    status_index       integer CHECK (status_index >= 0),
    issued_at          timestamptz NOT NULL DEFAULT now(),
    valid_until        timestamptz,
    revoked_at         timestamptz,
    revoke_reason      text,
    revoked_by         text,
    FOREIGN KEY (tenant_id, educator_id) REFERENCES educators (tenant_id, id),
    FOREIGN KEY (tenant_id, submission_id) REFERENCES submissions (tenant_id, id),
    -- a credential's submission is its decision's
    FOREIGN KEY (decision_id, tenant_id, submission_id)
        REFERENCES decisions (id, tenant_id, submission_id),
    FOREIGN KEY (credential_id, credential_version)
        REFERENCES credential_versions (credential_id, version),
    FOREIGN KEY (tenant_id, status_list_id) REFERENCES status_lists (tenant_id, id),
    FOREIGN KEY (tenant_id, kid) REFERENCES issuer_keys (tenant_id, kid),
    UNIQUE (status_list_id, status_index),
    CHECK ((status_list_id IS NULL) = (status_index IS NULL)),
    CHECK (kind <> 'credential' OR (decision_id IS NOT NULL AND submission_id IS NOT NULL
                                    AND credential_id IS NOT NULL AND credential_version IS NOT NULL)),
    CHECK (kind <> 'stack' OR (stack_id IS NOT NULL AND decision_id IS NULL)),
    CHECK (revoked_at IS NULL OR revoke_reason IS NOT NULL)
);
COMMENT ON TABLE credentials IS
    'Issued Open Badges 3.0 credentials (VC-JWT): one per earned decision (kind credential), and one per completed stack (kind stack). Not the catalogue: see catalogue_credentials.';
COMMENT ON COLUMN credentials.achievement_id IS 'The OB 3.0 Achievement id (URL) the credential is about.';
COMMENT ON COLUMN credentials.kid IS 'Key that signed the JWT.';
COMMENT ON COLUMN credentials.jwt IS 'The signed VC-JWT (compact serialisation).';
COMMENT ON COLUMN credentials.document IS 'The credential JSON (the JWT payload''s credential).';
COMMENT ON COLUMN credentials.stack_id IS 'For kind stack: the stack earned. For kind credential: the credential''s stack, for convenience.';
COMMENT ON COLUMN credentials.valid_until IS 'Expiry, when the credential version has expires_after_days.';
CREATE UNIQUE INDEX credentials_one_stack ON credentials (tenant_id, educator_id, stack_id)
    WHERE kind = 'stack' AND revoked_at IS NULL;
CREATE INDEX credentials_educator ON credentials (tenant_id, educator_id);
CREATE INDEX credentials_submission ON credentials (tenant_id, submission_id)
    WHERE submission_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- Webhooks
-- ---------------------------------------------------------------------------------------

CREATE TABLE webhook_endpoints (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id             bf_ext_id NOT NULL REFERENCES tenants (id),
    url                   text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    description           text,
    event_types           text[] NOT NULL DEFAULT '{}',
    secret_enc            bytea NOT NULL,
    previous_secret_enc   bytea,
    previous_secret_until timestamptz,
    max_in_flight         integer NOT NULL DEFAULT 4 CHECK (max_in_flight BETWEEN 1 AND 64),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    disabled_at           timestamptz,
    disabled_reason       text,
    failing_since         timestamptz,
    UNIQUE (tenant_id, id),
    CHECK ((previous_secret_enc IS NULL) = (previous_secret_until IS NULL))
);
COMMENT ON TABLE webhook_endpoints IS
    'A tenant''s webhook receivers (Standard Webhooks signing). Disabled after failing for the whole retry horizon.';
COMMENT ON COLUMN webhook_endpoints.event_types IS 'CloudEvents types delivered (e.g. org.badgeflow.decision.made.v1); empty = every type.';
COMMENT ON COLUMN webhook_endpoints.secret_enc IS 'The signing secret, encrypted under the key-encryption key.';
COMMENT ON COLUMN webhook_endpoints.previous_secret_enc IS 'The secret before the last rotation, still valid (signed alongside) until previous_secret_until.';
COMMENT ON COLUMN webhook_endpoints.failing_since IS 'Start of the current run of failed deliveries; NULL once one succeeds.';
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id) WHERE disabled_at IS NULL;
CREATE TRIGGER webhook_endpoints_touch BEFORE UPDATE ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    tenant_id       bf_ext_id NOT NULL,
    endpoint_id     uuid NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    payload         text NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'delivered', 'failed', 'abandoned')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (endpoint_id, event_id),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);
COMMENT ON TABLE webhook_deliveries IS
    'One webhook per (endpoint, event): id is the webhook-id header, so a repeated delivery carries the same id. pending (not tried yet), failed (will retry at next_attempt_at), delivered, abandoned (gave up after the horizon).';
COMMENT ON COLUMN webhook_deliveries.payload IS 'The exact body sent (text, not jsonb: the signature covers these bytes).';
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state IN ('pending', 'failed');
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE state IN ('pending', 'failed');
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, created_at);
CREATE TRIGGER webhook_deliveries_touch BEFORE UPDATE ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION bf_touch_updated_at();

CREATE TABLE webhook_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    tenant_id    bf_ext_id NOT NULL,
    attempt      integer NOT NULL CHECK (attempt >= 1),
    started_at   timestamptz NOT NULL,
    duration_ms  integer CHECK (duration_ms >= 0),
    status       integer,
    error        text,
    response     text CHECK (length(response) <= 4096),
    UNIQUE (delivery_id, attempt)
);
COMMENT ON TABLE webhook_attempts IS 'Every delivery attempt: HTTP status or error, time taken, the start of the response body.';
COMMENT ON COLUMN webhook_attempts.status IS 'HTTP status; NULL when no response (timeout, refused, SSRF guard).';
CREATE INDEX webhook_attempts_tenant ON webhook_attempts (tenant_id, started_at);

-- ---------------------------------------------------------------------------------------
-- Analytics
-- ---------------------------------------------------------------------------------------

CREATE TABLE analytics_registrations (
    tenant_id     bf_ext_id NOT NULL,
    educator_id   bf_ext_id NOT NULL,
    credential_id bf_cat_id NOT NULL REFERENCES catalogue_credentials (id),
    cycle         integer NOT NULL DEFAULT 1 CHECK (cycle >= 1),
    registration  uuid NOT NULL UNIQUE,
    started_at    timestamptz NOT NULL DEFAULT now(),
    first_submission_id bf_ext_id,
    completed_at  timestamptz,
    PRIMARY KEY (tenant_id, educator_id, credential_id, cycle),
    FOREIGN KEY (tenant_id, educator_id) REFERENCES educators (tenant_id, id)
);
COMMENT ON TABLE analytics_registrations IS
    'The xAPI registration UUID of each educator''s cycle at a credential (first attempt to earned): attempts and time-to-earn are one GROUP BY registration.';
COMMENT ON COLUMN analytics_registrations.completed_at IS 'When the cycle ended with an earned decision; a later attempt opens cycle + 1.';
CREATE UNIQUE INDEX analytics_registrations_open ON analytics_registrations
    (tenant_id, educator_id, credential_id) WHERE completed_at IS NULL;
