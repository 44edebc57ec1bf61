-- SPDX-License-Identifier: Apache-2.0
-- Issuer: earned decisions held back because their tenant has no active signing key.
-- Everything else the issuer stores (issuer_keys, status_lists, credentials) is in 0002.

CREATE TABLE issuer_held (
    decision_id  uuid PRIMARY KEY,
    tenant_id    bf_ext_id NOT NULL REFERENCES tenants (id),
    submission_id bf_ext_id NOT NULL,
    data         jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    traceparent  text,
    reason       text NOT NULL,
    held_at      timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_try_at  timestamptz
);
COMMENT ON TABLE issuer_held IS
    'Earned decisions the issuer could not sign yet (no active key for the tenant): nothing is issued half-made. Retried by the daemon every issuer.held_retry until a key exists; the row is deleted in the transaction that issues the credential.';
COMMENT ON COLUMN issuer_held.data IS 'The decision.made event data, as received.';
COMMENT ON COLUMN issuer_held.reason IS 'Why it is held, for operators (e.g. "tenant wcpss has no active ES256 key").';
CREATE INDEX issuer_held_tenant ON issuer_held (tenant_id, held_at);
