-- SPDX-License-Identifier: Apache-2.0
-- The relay deletes published rows older than daemon.outbox_retention, per service:
-- without this index that delete scans the whole outbox.
CREATE INDEX outbox_sent ON outbox (service, sent_at) WHERE sent_at IS NOT NULL;
