-- SPDX-License-Identifier: Apache-2.0
-- A state agency's webhook endpoint may also receive the events of its districts.

ALTER TABLE webhook_endpoints
    ADD COLUMN include_districts boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN webhook_endpoints.include_districts IS
    'On a state agency''s endpoint: also deliver the events of the districts under it (the notifier fans out to the parent). Set only for state tenants (the gateway refuses it for a district).';
