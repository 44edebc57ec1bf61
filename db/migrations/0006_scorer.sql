-- SPDX-License-Identifier: Apache-2.0
-- The scorer: refused scores, kept for the assessor portal and operators.
--
-- A refused score (late, another assessor's assignment, not matching the rubric, ...) is
-- never counted. The scorer records it here, emits score.rejected and writes the
-- dead-letter copy in the same transaction (docs/scorer.md).

CREATE TABLE score_refusals (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     bf_ext_id NOT NULL,
    score_id      uuid NOT NULL,
    assignment_id uuid NOT NULL,
    submission_id bf_ext_id NOT NULL,
    assessor_id   bf_ext_id NOT NULL,
    reason_code   text NOT NULL,
    field         text,
    reason        text NOT NULL,
    event_id      text NOT NULL,
    refused_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE score_refusals IS
    'Scores the scorer refused (one row per score.submitted event refused), with the stable reason_code of score.rejected, the offending field and the reason in words. No foreign keys: an unknown assignment is refused too.';
COMMENT ON COLUMN score_refusals.event_id IS 'ce_id of the refused score.submitted event.';
CREATE INDEX score_refusals_submission ON score_refusals (tenant_id, submission_id);
CREATE INDEX score_refusals_assessor ON score_refusals (assessor_id, refused_at);

-- A refused reviewer override (decision.override_requested: the submission is unknown or not
-- decided, the decision named is no longer the current one, a level is not in the rubric).
-- Recorded, dead-lettered with the reason and logged in the record's own transaction, like
-- score_refusals; nothing of the override is applied.
CREATE TABLE override_refusals (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id             bf_ext_id NOT NULL,
    submission_id         bf_ext_id NOT NULL,
    reviewer_id           text NOT NULL,
    overrides_decision_id uuid,
    reason_code           text NOT NULL,
    field                 text,
    reason                text NOT NULL,
    event_id              text NOT NULL,
    refused_at            timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE override_refusals IS
    'Reviewer overrides the scorer refused, with a stable reason_code, the offending field and the reason in words (docs/scorer.md).';
COMMENT ON COLUMN override_refusals.event_id IS 'ce_id of the refused decision.override_requested event.';
CREATE INDEX override_refusals_submission ON override_refusals (tenant_id, submission_id);
