-- SPDX-License-Identifier: Apache-2.0
-- The gateway's and the notifier's additions to the domain schema (0002 holds the rest:
-- api_keys, webhook_endpoints, webhook_deliveries, webhook_attempts).
-- Applied by `badgeflow migrate` in one transaction (no BEGIN/COMMIT here).

-- ---------------------------------------------------------------------------------------
-- gateway
-- ---------------------------------------------------------------------------------------

CREATE TABLE gateway_requests (
    tenant_id      bf_ext_id NOT NULL REFERENCES tenants (id),
    scope          text NOT NULL CHECK (scope IN ('submission', 'score', 'release', 'withdraw')),
    idem_key       text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 255),
    request_sha256 bf_sha256 NOT NULL,
    status         integer NOT NULL CHECK (status BETWEEN 100 AND 599),
    response       jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, scope, idem_key)
);
COMMENT ON TABLE gateway_requests IS
    'Idempotent writes of the gateway API: the first reply to a (tenant, scope, key) is kept and replayed for the same body; another body with the same key gets 409. The key is the Idempotency-Key header, or the submission id (create), or the assignment id (score).';
COMMENT ON COLUMN gateway_requests.request_sha256 IS
    'SHA-256 of the canonical JSON (sorted keys, compact) of the request body.';
CREATE INDEX gateway_requests_created ON gateway_requests (created_at);

-- ---------------------------------------------------------------------------------------
-- notifier
-- ---------------------------------------------------------------------------------------

-- A delivery being sent is leased to one worker until claimed_until: the per-endpoint
-- in-flight count (the concurrency cap) is the number of live leases, and a worker killed
-- mid-request leaves a lease that simply runs out (the delivery is sent again, same id).
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until timestamptz;
COMMENT ON COLUMN webhook_deliveries.claimed_until IS
    'Lease of the notifier worker sending it now (in flight while in the future); NULL when idle.';
CREATE INDEX webhook_deliveries_in_flight ON webhook_deliveries (endpoint_id, claimed_until)
    WHERE claimed_until IS NOT NULL;
