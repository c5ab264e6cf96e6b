-- 0005: the transactional outbox negotiation messages leave by (lib/outbox.h).
-- A verbatim copy of agora_outbox_schema_sql; tests/unit/test_outbox_schema.c
-- checks that the copy and the library agree.
CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  kind text NOT NULL,
  url text NOT NULL,
  audience text NOT NULL,
  body jsonb NOT NULL,
  ref text,
  attempts int NOT NULL DEFAULT 0,
  next_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX outbox_due ON outbox (next_at);
CREATE INDEX outbox_ref ON outbox (ref, id) WHERE ref IS NOT NULL;
CREATE TABLE outbox_dead (
  id bigint PRIMARY KEY,
  kind text NOT NULL,
  url text NOT NULL,
  audience text NOT NULL,
  body jsonb NOT NULL,
  ref text,
  attempts int NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('refused', 'gave_up')),
  status int,
  reply text,
  last_error text,
  created_at timestamptz NOT NULL,
  dead_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX outbox_dead_ref ON outbox_dead (ref) WHERE ref IS NOT NULL;
