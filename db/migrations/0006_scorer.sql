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
