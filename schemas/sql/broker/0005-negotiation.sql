-- 0005: contract negotiation through the broker (docs/NEGOTIATION.md) and
-- the transactional outbox its messages leave by (lib/outbox.h).
--
-- One row per negotiation holds both legs: towards the consumer the broker
-- is the provider (its providerPid is id); towards the provider it is the
-- consumer (its consumerPid is leg_pid).  Both legs move in step, so one
-- DSP state describes them.  The agreement the broker signed lives on the
-- same row; agreement_id is its @id everywhere.

CREATE TABLE negotiations (
    id                text PRIMARY KEY,            -- urn:uuid: the providerPid the consumer sees
    consumer_id       text NOT NULL REFERENCES participants (id),
    consumer_pid      text NOT NULL CHECK (length(consumer_pid) BETWEEN 1 AND 200),
    callback          text NOT NULL,               -- the consumer's callbackAddress
    dataset_id        text NOT NULL,               -- offer.target
    offer_id          text NOT NULL,               -- offer.@id
    offer             jsonb NOT NULL,              -- the requested offer, as sent
    provider_id       text REFERENCES participants (id),  -- NULL: refused before a provider was known
    provider_endpoint text,
    leg_pid           text NOT NULL UNIQUE,        -- urn:uuid: our consumerPid towards the provider
    provider_pid      text,                        -- the provider's providerPid, once known
    state             text NOT NULL CHECK (state IN ('REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED',
                                                     'VERIFIED', 'FINALIZED', 'TERMINATED')),
    agreement_id      text UNIQUE,
    agreement         jsonb,
    signatures        jsonb,                       -- [{"role","signer","jws"}], provider first
    ledger_index      bigint,                      -- the agreement's ledger entry
    revoked_at        timestamptz,
    revoke_index      bigint,                      -- the revocation's ledger entry
    code              text,                        -- termination code
    reason            text,                        -- termination reason(s), joined
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer_id, consumer_pid)
);
CREATE INDEX negotiations_state ON negotiations (state, created_at);
CREATE INDEX negotiations_provider ON negotiations (provider_id) WHERE agreement_id IS NOT NULL;
CREATE INDEX negotiations_consumer ON negotiations (consumer_id) WHERE agreement_id IS NOT NULL;

-- Every message in and out.  An incoming message keeps the answer we gave,
-- so a repeated identical one (same type, same canonical body) gets it again.
CREATE TABLE negotiation_messages (
    id             bigserial PRIMARY KEY,
    negotiation_id text NOT NULL REFERENCES negotiations (id) ON DELETE CASCADE,
    direction      text NOT NULL CHECK (direction IN ('in', 'out')),
    leg            text NOT NULL CHECK (leg IN ('consumer', 'provider')),
    type           text NOT NULL,
    body           jsonb NOT NULL,
    body_sha256    text NOT NULL,                  -- hex SHA-256 of JCS(body)
    status         integer,                        -- in: the HTTP status we answered
    reply          jsonb,                          -- in: the body we answered
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX negotiation_messages_neg ON negotiation_messages (negotiation_id, id);
CREATE INDEX negotiation_messages_seen ON negotiation_messages (negotiation_id, type, body_sha256)
    WHERE direction = 'in';

-- The transactional outbox (agora_outbox_schema_sql of lib/outbox.c).
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
