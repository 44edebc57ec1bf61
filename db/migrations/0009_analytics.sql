-- SPDX-License-Identifier: Apache-2.0
-- The analytics service: its own fact tables (fed by its event handlers, so its figures
-- never wait on another service's writes), the statement log and LRS queue, and the pilot
-- metrics as views for SQL analysts (the metrics.pilot stream is built from the same views).
--
-- Why own facts and not analytics_registrations (0002): that table references educators,
-- which the transcoder upserts while analytics reads the same topic in parallel, so a
-- registration could not be written until another service had run. Here the registration
-- is a UUIDv5 of the educator's keyed pseudonym, the credential and the cycle number:
-- deterministic, so a replay into empty tables gives the same ids.

CREATE TABLE analytics_settings (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    k                  integer NOT NULL DEFAULT 5 CHECK (k BETWEEN 1 AND 1000),
    stalled_after_days integer NOT NULL DEFAULT 21 CHECK (stalled_after_days BETWEEN 1 AND 3650),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE analytics_settings IS
    'One row: the suppression threshold k and the stalled horizon the analytics daemon runs with (it writes them at start), read by the metrics views.';
INSERT INTO analytics_settings DEFAULT VALUES;

CREATE TABLE analytics_cycles (
    tenant_id           bf_ext_id NOT NULL,
    educator_id         bf_ext_id NOT NULL,
    credential_id       bf_cat_id NOT NULL,
    cycle               integer NOT NULL CHECK (cycle >= 1),
    registration        uuid NOT NULL UNIQUE,
    started_at          timestamptz NOT NULL,
    first_submission_id bf_ext_id NOT NULL,
    earned_at           timestamptz,
    PRIMARY KEY (tenant_id, educator_id, credential_id, cycle)
);
COMMENT ON TABLE analytics_cycles IS
    'An educator''s cycle at a credential, first attempt to earned: the xAPI registration of its statements. A submission after an earned decision opens cycle + 1.';
CREATE UNIQUE INDEX analytics_cycles_open ON analytics_cycles (tenant_id, educator_id, credential_id)
    WHERE earned_at IS NULL;

CREATE TABLE analytics_submissions (
    tenant_id          bf_ext_id NOT NULL,
    submission_id      bf_ext_id NOT NULL,
    educator_id        bf_ext_id NOT NULL,
    credential_id      bf_cat_id NOT NULL,
    credential_version integer NOT NULL,
    stack_id           bf_cat_id,
    attempt            integer NOT NULL CHECK (attempt >= 1),
    pilot_id           bf_ext_id,
    registration       uuid NOT NULL REFERENCES analytics_cycles (registration),
    submitted_at       timestamptz NOT NULL,
    state              text NOT NULL DEFAULT 'submitted'
                           CHECK (state IN ('submitted', 'ready', 'rejected', 'withdrawn', 'decided')),
    outcome            text CHECK (outcome IN ('earned', 'not_yet')),
    decided_at         timestamptz,
    last_activity_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, submission_id)
);
COMMENT ON TABLE analytics_submissions IS
    'Analytics facts of each submission: who (internal ids, never leave the database), what, when, and its outcome (the current decision; decided_at is the first decision).';
CREATE INDEX analytics_submissions_educator ON analytics_submissions (tenant_id, educator_id);

CREATE TABLE analytics_assignments (
    assignment_id uuid PRIMARY KEY,
    tenant_id     bf_ext_id NOT NULL,
    submission_id bf_ext_id NOT NULL,
    assessor_id   bf_ext_id NOT NULL,
    assigned_at   timestamptz NOT NULL,
    closed_at     timestamptz,
    scored_at     timestamptz
);
COMMENT ON TABLE analytics_assignments IS
    'Assignments as analytics saw them: assessor turnaround = scored_at - assigned_at.';
CREATE INDEX analytics_assignments_submission ON analytics_assignments (tenant_id, submission_id);

CREATE TABLE analytics_credentials (
    credential_uuid uuid PRIMARY KEY,
    tenant_id       bf_ext_id NOT NULL,
    educator_id     bf_ext_id NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('credential', 'stack')),
    submission_id   bf_ext_id,
    stack_id        bf_cat_id,
    statement_id    uuid NOT NULL,
    issued_at       timestamptz NOT NULL,
    revoked_at      timestamptz
);
COMMENT ON TABLE analytics_credentials IS
    'Issued credentials: the earned/completed statement a revocation voids.';

CREATE TABLE analytics_parked (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     bf_ext_id NOT NULL,
    submission_id bf_ext_id NOT NULL,
    topic         text NOT NULL,
    type          text NOT NULL,
    event_id      text NOT NULL,
    event_time    text NOT NULL,
    data          text NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE analytics_parked IS
    'Events about a submission analytics has not seen yet (it travels on another topic): applied, in order, when its submission.submitted arrives, so one early record never holds up the consumer.';
CREATE INDEX analytics_parked_submission ON analytics_parked (tenant_id, submission_id, id);

CREATE TABLE analytics_statements (
    statement_id    uuid PRIMARY KEY,
    tenant_id       bf_ext_id NOT NULL,
    source_event_id uuid NOT NULL,
    verb            text NOT NULL,
    statement       jsonb NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    lrs_state       text CHECK (lrs_state IN ('pending', 'sent', 'refused')),
    lrs_attempts    integer NOT NULL DEFAULT 0,
    lrs_next_at     timestamptz,
    lrs_error       text
);
COMMENT ON TABLE analytics_statements IS
    'Every xAPI statement emitted (pseudonymised: exactly what went on the analytics topic), and the LRS forwarding queue: pending (to send at lrs_next_at), sent, refused (the LRS rejected it alone with a 4xx).';
CREATE INDEX analytics_statements_lrs ON analytics_statements (lrs_next_at, recorded_at)
    WHERE lrs_state = 'pending';

CREATE TABLE analytics_pilot_dirty (
    tenant_id bf_ext_id NOT NULL,
    pilot_id  bf_ext_id NOT NULL,
    since     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, pilot_id)
);
COMMENT ON TABLE analytics_pilot_dirty IS
    'Pilots whose facts changed since their last metrics record (debounce: emitted once since is older than analytics.debounce).';

CREATE TABLE analytics_pilot_emitted (
    tenant_id  bf_ext_id NOT NULL,
    pilot_id   bf_ext_id NOT NULL,
    figures    jsonb NOT NULL,
    emitted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, pilot_id)
);
COMMENT ON TABLE analytics_pilot_emitted IS
    'The last pilot.metrics record emitted per pilot (without computed_at): nothing is emitted when the figures did not change; `badgeflow analytics rebuild` compares against it.';

-- ---------------------------------------------------------------------------------------
-- Views for SQL analysts: the same figures as the metrics.pilot stream.
-- ---------------------------------------------------------------------------------------

-- A submission counts for a pilot when it names the pilot, or when its educator is targeted
-- by the pilot, it was submitted within the window and its credential is in the scope.
CREATE VIEW analytics_pilot_submissions AS
SELECT p.tenant_id,
       p.id AS pilot_id,
       s.submission_id, s.educator_id, s.credential_id, s.stack_id, s.attempt,
       s.submitted_at, s.state, s.outcome, s.decided_at, s.registration,
       c.started_at AS cycle_started_at,
       c.earned_at AS cycle_earned_at,
       max(s.last_activity_at) OVER (PARTITION BY p.tenant_id, p.id, s.registration)
           AS cycle_last_activity_at,
       EXISTS (SELECT 1 FROM pilot_educators pe
                WHERE pe.tenant_id = p.tenant_id AND pe.pilot_id = p.id
                  AND pe.educator_id = s.educator_id) AS targeted
  FROM pilots p
  JOIN analytics_submissions s ON s.tenant_id = p.tenant_id
  JOIN analytics_cycles c ON c.registration = s.registration
 WHERE s.pilot_id = p.id
    OR (EXISTS (SELECT 1 FROM pilot_educators pe
                 WHERE pe.tenant_id = p.tenant_id AND pe.pilot_id = p.id
                   AND pe.educator_id = s.educator_id)
        AND s.submitted_at::date BETWEEN p.starts_on AND p.ends_on
        AND (NOT EXISTS (SELECT 1 FROM pilot_scope ps
                          WHERE ps.tenant_id = p.tenant_id AND ps.pilot_id = p.id)
             OR EXISTS (SELECT 1 FROM pilot_scope ps
                         WHERE ps.tenant_id = p.tenant_id AND ps.pilot_id = p.id
                           AND (ps.credential_id = s.credential_id
                                OR ps.stack_id = s.stack_id))));
COMMENT ON VIEW analytics_pilot_submissions IS
    'Each submission of each pilot with its cycle (internal ids: for analysts with access to the database only).';

-- Raw (unsuppressed) figures per pilot (dim = pilot), per credential and per stack.
CREATE VIEW analytics_pilot_raw AS
WITH subs AS (SELECT * FROM analytics_pilot_submissions),
agg AS (
    SELECT tenant_id, pilot_id,
           CASE WHEN GROUPING(credential_id) = 0 THEN 'credential'
                WHEN GROUPING(stack_id) = 0 THEN 'stack' ELSE 'pilot' END AS dim,
           coalesce(CASE WHEN GROUPING(credential_id) = 0 THEN credential_id END,
                    CASE WHEN GROUPING(stack_id) = 0 THEN stack_id END, '') AS dim_id,
           count(DISTINCT educator_id) FILTER (WHERE targeted) AS reached,
           count(*) AS submissions,
           count(*) FILTER (WHERE outcome = 'earned') AS earned,
           count(*) FILTER (WHERE outcome IS NOT NULL) AS decided,
           count(*) FILTER (WHERE outcome = 'not_yet') AS not_yet,
           count(*) FILTER (WHERE attempt = 1 AND outcome IS NOT NULL) AS first_decided,
           count(*) FILTER (WHERE attempt = 1 AND outcome = 'earned') AS first_earned,
           count(*) FILTER (WHERE attempt > 1) AS resubmissions,
           count(*) FILTER (WHERE outcome IS NULL AND state NOT IN ('rejected', 'withdrawn'))
               AS backlog,
           count(DISTINCT educator_id) FILTER (
               WHERE cycle_earned_at IS NULL AND cycle_last_activity_at < now() -
                     make_interval(days => (SELECT stalled_after_days FROM analytics_settings)))
               AS stalled,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - submitted_at))
               AS ttd_p50,
           percentile_disc(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - submitted_at))
               AS ttd_p90,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY CASE WHEN outcome = 'earned'
               THEN extract(epoch FROM decided_at - cycle_started_at) END) AS tte_p50,
           percentile_disc(0.9) WITHIN GROUP (ORDER BY CASE WHEN outcome = 'earned'
               THEN extract(epoch FROM decided_at - cycle_started_at) END) AS tte_p90
      FROM subs
     GROUP BY GROUPING SETS ((tenant_id, pilot_id), (tenant_id, pilot_id, credential_id),
                             (tenant_id, pilot_id, stack_id))
),
turn AS (
    SELECT s.tenant_id, s.pilot_id,
           CASE WHEN GROUPING(s.credential_id) = 0 THEN 'credential'
                WHEN GROUPING(s.stack_id) = 0 THEN 'stack' ELSE 'pilot' END AS dim,
           coalesce(CASE WHEN GROUPING(s.credential_id) = 0 THEN s.credential_id END,
                    CASE WHEN GROUPING(s.stack_id) = 0 THEN s.stack_id END, '') AS dim_id,
           count(*) AS scores,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.scored_at - a.assigned_at))
               AS tat_p50,
           percentile_disc(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.scored_at - a.assigned_at))
               AS tat_p90
      FROM subs s
      JOIN analytics_assignments a
        ON a.tenant_id = s.tenant_id AND a.submission_id = s.submission_id
     WHERE a.scored_at IS NOT NULL
     GROUP BY GROUPING SETS ((s.tenant_id, s.pilot_id), (s.tenant_id, s.pilot_id, s.credential_id),
                             (s.tenant_id, s.pilot_id, s.stack_id))
),
creds AS (SELECT DISTINCT tenant_id, pilot_id, credential_id, stack_id FROM subs),
agr AS (
    SELECT c.tenant_id, c.pilot_id,
           CASE WHEN GROUPING(c.credential_id) = 0 THEN 'credential'
                WHEN GROUPING(c.stack_id) = 0 THEN 'stack' ELSE 'pilot' END AS dim,
           coalesce(CASE WHEN GROUPING(c.credential_id) = 0 THEN c.credential_id END,
                    CASE WHEN GROUPING(c.stack_id) = 0 THEN c.stack_id END, '') AS dim_id,
           sum(g.n) AS agr_n,
           sum(g.exact)::float8 / nullif(sum(g.n), 0) AS agr_exact,
           sum(g.adjacent)::float8 / nullif(sum(g.n), 0) AS agr_adjacent,
           sum(g.kappa * g.n) / nullif(sum(g.n) FILTER (WHERE g.kappa IS NOT NULL), 0) AS agr_kappa,
           sum(g.alpha * g.n) / nullif(sum(g.n) FILTER (WHERE g.alpha IS NOT NULL), 0) AS agr_alpha
      FROM creds c
      JOIN agreement_stats g
        ON g.tenant_id = c.tenant_id AND g.credential_id = c.credential_id
       AND g.criterion_id IS NULL AND g.assessor_id IS NULL
     GROUP BY GROUPING SETS ((c.tenant_id, c.pilot_id), (c.tenant_id, c.pilot_id, c.credential_id),
                             (c.tenant_id, c.pilot_id, c.stack_id))
)
SELECT p.tenant_id, p.id AS pilot_id, coalesce(agg.dim, 'pilot') AS dim,
       coalesce(agg.dim_id, '') AS dim_id,
       (SELECT count(*) FROM pilot_educators pe
         WHERE pe.tenant_id = p.tenant_id AND pe.pilot_id = p.id) AS targeted,
       coalesce(agg.reached, 0) AS reached, coalesce(agg.submissions, 0) AS submissions,
       coalesce(agg.earned, 0) AS earned, coalesce(agg.decided, 0) AS decided,
       coalesce(agg.not_yet, 0) AS not_yet, coalesce(agg.first_decided, 0) AS first_decided,
       coalesce(agg.first_earned, 0) AS first_earned,
       coalesce(agg.resubmissions, 0) AS resubmissions, coalesce(agg.backlog, 0) AS backlog,
       coalesce(agg.stalled, 0) AS stalled,
       agg.ttd_p50, agg.ttd_p90, agg.tte_p50, agg.tte_p90,
       coalesce(turn.scores, 0) AS scores, turn.tat_p50, turn.tat_p90,
       coalesce(agr.agr_n, 0) AS agr_n, agr.agr_exact, agr.agr_adjacent, agr.agr_kappa,
       agr.agr_alpha,
       p.target_reach_ratio
  FROM pilots p
  LEFT JOIN agg ON agg.tenant_id = p.tenant_id AND agg.pilot_id = p.id
  LEFT JOIN turn ON turn.tenant_id = p.tenant_id AND turn.pilot_id = p.id
                AND turn.dim = agg.dim AND turn.dim_id = agg.dim_id
  LEFT JOIN agr ON agr.tenant_id = p.tenant_id AND agr.pilot_id = p.id
               AND agr.dim = agg.dim AND agr.dim_id = agg.dim_id;
COMMENT ON VIEW analytics_pilot_raw IS
    'Unsuppressed pilot figures, one row per pilot (dim pilot), credential and stack of the pilot. Percentiles are nearest-rank (percentile_disc), in seconds. For cleared analysts only: analytics_pilot_metrics is the published, suppressed form.';

-- The published figures: every count below analytics_settings.k, and every figure derived
-- from one, is NULL and named in suppressed.
CREATE VIEW analytics_pilot_metrics AS
WITH r AS (SELECT raw.*, s.k FROM analytics_pilot_raw raw CROSS JOIN analytics_settings s),
w AS (
    SELECT r.*,
           targeted < k AS w_targeted, reached < k AS w_reached,
           reached < k OR targeted < k AS w_reach_ratio,
           submissions < k AS w_submissions, earned < k AS w_earned,
           first_earned < k OR first_decided < k AS w_first_attempt_pass_rate,
           not_yet < k OR decided < k AS w_not_yet_rate,
           resubmissions < k AS w_resubmissions, decided < k AS w_time_to_decision,
           earned < k AS w_time_to_earn, scores < k AS w_assessor_turnaround,
           backlog < k AS w_backlog, stalled < k AS w_stalled, agr_n < k AS w_agreement
      FROM r
)
SELECT tenant_id, pilot_id, dim, dim_id, k,
       CASE WHEN NOT w_targeted THEN targeted END AS targeted,
       CASE WHEN NOT w_reached THEN reached END AS reached,
       CASE WHEN NOT w_reach_ratio THEN round(reached::numeric / targeted, 4) END AS reach_ratio,
       CASE WHEN NOT w_reach_ratio AND target_reach_ratio IS NOT NULL
            THEN reached::numeric / targeted >= target_reach_ratio END AS on_target,
       CASE WHEN NOT w_submissions THEN submissions END AS submissions,
       CASE WHEN NOT w_earned THEN earned END AS earned,
       CASE WHEN NOT w_first_attempt_pass_rate
            THEN round(first_earned::numeric / first_decided, 4) END AS first_attempt_pass_rate,
       CASE WHEN NOT w_not_yet_rate THEN round(not_yet::numeric / decided, 4) END AS not_yet_rate,
       CASE WHEN NOT w_resubmissions THEN resubmissions END AS resubmissions,
       CASE WHEN NOT w_time_to_decision THEN round(ttd_p50) END AS time_to_decision_p50_s,
       CASE WHEN NOT w_time_to_decision THEN round(ttd_p90) END AS time_to_decision_p90_s,
       CASE WHEN NOT w_time_to_earn THEN round(tte_p50) END AS time_to_earn_p50_s,
       CASE WHEN NOT w_time_to_earn THEN round(tte_p90) END AS time_to_earn_p90_s,
       CASE WHEN NOT w_assessor_turnaround THEN round(tat_p50) END AS assessor_turnaround_p50_s,
       CASE WHEN NOT w_assessor_turnaround THEN round(tat_p90) END AS assessor_turnaround_p90_s,
       CASE WHEN NOT w_backlog THEN backlog END AS backlog,
       CASE WHEN NOT w_stalled THEN stalled END AS stalled,
       CASE WHEN NOT w_agreement THEN round(agr_exact::numeric, 4) END AS agreement_exact,
       CASE WHEN NOT w_agreement THEN round(agr_adjacent::numeric, 4) END AS agreement_adjacent,
       CASE WHEN NOT w_agreement THEN round(agr_kappa::numeric, 4) END AS agreement_kappa,
       CASE WHEN NOT w_agreement THEN round(agr_alpha::numeric, 4) END AS agreement_alpha,
       array_remove(ARRAY[
           CASE WHEN w_targeted THEN 'targeted' END, CASE WHEN w_reached THEN 'reached' END,
           CASE WHEN w_reach_ratio THEN 'reach_ratio' END,
           CASE WHEN w_reach_ratio THEN 'on_target' END,
           CASE WHEN w_submissions THEN 'submissions' END, CASE WHEN w_earned THEN 'earned' END,
           CASE WHEN w_first_attempt_pass_rate THEN 'first_attempt_pass_rate' END,
           CASE WHEN w_not_yet_rate THEN 'not_yet_rate' END,
           CASE WHEN w_resubmissions THEN 'resubmissions' END,
           CASE WHEN w_time_to_decision THEN 'time_to_decision' END,
           CASE WHEN w_time_to_earn THEN 'time_to_earn' END,
           CASE WHEN w_assessor_turnaround THEN 'assessor_turnaround' END,
           CASE WHEN w_backlog THEN 'backlog' END, CASE WHEN w_stalled THEN 'stalled' END,
           CASE WHEN w_agreement THEN 'agreement' END], NULL) AS suppressed
  FROM w;
COMMENT ON VIEW analytics_pilot_metrics IS
    'Published pilot figures (small-cell suppression with analytics_settings.k): exactly what the metrics.pilot stream carries, one row per pilot, credential and stack.';

-- One figures object of the event (pilot level or a by_credential / by_stack row).
CREATE FUNCTION analytics_figures_json(m analytics_pilot_metrics) RETURNS jsonb
LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'targeted', m.targeted, 'reached', m.reached, 'reach_ratio', m.reach_ratio,
    'on_target', m.on_target, 'submissions', m.submissions, 'earned', m.earned,
    'first_attempt_pass_rate', m.first_attempt_pass_rate, 'not_yet_rate', m.not_yet_rate,
    'resubmissions', m.resubmissions,
    'time_to_decision', jsonb_build_object('p50_s', m.time_to_decision_p50_s,
                                           'p90_s', m.time_to_decision_p90_s),
    'time_to_earn', jsonb_build_object('p50_s', m.time_to_earn_p50_s,
                                       'p90_s', m.time_to_earn_p90_s),
    'assessor_turnaround', jsonb_build_object('p50_s', m.assessor_turnaround_p50_s,
                                              'p90_s', m.assessor_turnaround_p90_s),
    'backlog', m.backlog, 'stalled', m.stalled,
    'agreement', jsonb_build_object('exact', m.agreement_exact, 'adjacent', m.agreement_adjacent,
                                    'kappa', m.agreement_kappa, 'alpha', m.agreement_alpha),
    'suppressed', to_jsonb(m.suppressed))
$$;

-- The data of a pilot.metrics.v1 event without computed_at (the daemon adds it), or NULL
-- when the pilot does not exist. PL/pgSQL so that the pilot's rows are computed once (as an
-- inlined SQL function the planner recomputed the view per output row: 55 s for 3 rows).
CREATE FUNCTION analytics_pilot_metrics_json(p_tenant text, p_pilot text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    head jsonb;
    rows jsonb;
    all_rows jsonb;
BEGIN
    SELECT jsonb_build_object(
               'pilot_id', p.id, 'tenant_id', p.tenant_id,
               'window', jsonb_build_object('start', to_char(p.starts_on, 'YYYY-MM-DD'),
                                            'end', to_char(p.ends_on, 'YYYY-MM-DD')),
               'target_ratio', coalesce(p.target_reach_ratio, 0),
               'suppression_k', s.k, 'stalled_after_days', s.stalled_after_days)
      INTO head
      FROM pilots p CROSS JOIN analytics_settings s
     WHERE p.tenant_id = p_tenant AND p.id = p_pilot;
    IF head IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT jsonb_agg(jsonb_build_object('dim', m.dim, 'id', m.dim_id,
                                        'f', analytics_figures_json(m)))
      INTO all_rows FROM analytics_pilot_metrics m
     WHERE m.tenant_id = p_tenant AND m.pilot_id = p_pilot;
    SELECT jsonb_build_object(
               'by_credential', coalesce(jsonb_agg(jsonb_build_object('credential_id', r ->> 'id')
                                                   || (r -> 'f') ORDER BY r ->> 'id')
                                         FILTER (WHERE r ->> 'dim' = 'credential'
                                                   AND r ->> 'id' <> ''), '[]'),
               'by_stack', coalesce(jsonb_agg(jsonb_build_object('stack_id', r ->> 'id')
                                              || (r -> 'f') ORDER BY r ->> 'id')
                                    FILTER (WHERE r ->> 'dim' = 'stack' AND r ->> 'id' <> ''),
                                    '[]'))
      INTO rows FROM jsonb_array_elements(all_rows) AS r;
    RETURN head || (SELECT r -> 'f' FROM jsonb_array_elements(all_rows) AS r
                     WHERE r ->> 'dim' = 'pilot') || rows;
END;
$$;
COMMENT ON FUNCTION analytics_pilot_metrics_json(text, text) IS
    'The pilot.metrics.v1 data of one pilot (without computed_at), from analytics_pilot_metrics.';
