-- SPDX-License-Identifier: Apache-2.0
-- Core of exactly-once effects: the inbox of applied event ids, the outbox relayed to Kafka,
-- and the record of applied migrations (docs/architecture.md, "Database").

-- The migration runner (bf_pg_migrate) creates this table itself before 0001 runs, so that
-- it can record 0001; it is declared here too so the schema reads whole from the files.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,          -- file name, e.g. 0001_core.sql
    sha256     text NOT NULL,          -- of the file as applied; a changed file is refused
    applied_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE inbox (
    consumer   text NOT NULL,          -- consumer group, e.g. badgeflow-router
    event_id   text NOT NULL,          -- ce_id, or kafka:<topic>:<partition>:<offset>
    topic      text NOT NULL,
    kpartition integer NOT NULL,
    koffset    bigint NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('applied', 'dead_lettered')),
    reason     text,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id));

CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    service    text NOT NULL,          -- whose relay publishes it
    topic      text NOT NULL,          -- full name, prefix included
    msg_key    bytea,
    headers    jsonb NOT NULL,         -- [[name, value], ...]
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz);

CREATE INDEX outbox_unsent ON outbox (service, id) WHERE sent_at IS NULL;
