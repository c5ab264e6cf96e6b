-- 0004: contract negotiations (DSP 2025-1, docs/NEGOTIATION.md), in both
-- roles: as consumer (this connector asked, through the broker) and as
-- provider (the broker asked on a consumer's behalf).  The outbox tables
-- come from lib/outbox.c's agora_outbox_schema_sql, applied by main.c as
-- its own migration so the two never drift apart.

CREATE TABLE negotiations (
    id              text PRIMARY KEY,       -- our pid: consumerPid (consumer role) or providerPid
    role            text NOT NULL CHECK (role IN ('consumer', 'provider')),
    counterpart     text NOT NULL,          -- the participant we speak DSP with (the broker)
    counterpart_pid text,                   -- its pid; NULL until a consumer learns the providerPid
    callback        text,                   -- provider role: the counterpart's callbackAddress
    consumer        text NOT NULL,          -- the final consumer's participant id
    provider        text NOT NULL,          -- the provider's participant id
    dataset_id      text NOT NULL,
    offer_id        text NOT NULL,
    offer           jsonb NOT NULL,         -- the requested ODRL Offer (with target)
    auto_accept     boolean NOT NULL DEFAULT false,
    state           text NOT NULL CHECK (state IN ('REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED',
                                                   'VERIFIED', 'FINALIZED', 'TERMINATED')),
    agreement_id    text,
    code            text,                   -- why it was terminated
    reason          text,
    owner           text,                   -- consumer: the API key that asked; provider: the offer's owner
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- A counterpart's pid names one negotiation per role (repeated requests
-- find the first).
CREATE UNIQUE INDEX negotiations_counterpart_pid
    ON negotiations (role, counterpart, counterpart_pid) WHERE counterpart_pid IS NOT NULL;
CREATE INDEX negotiations_state ON negotiations (state, id);

-- Every DSP message received or sent, with when.  An incoming message keeps
-- the hash of its canonical (RFC 8785) body and the answer it got, so a
-- repeated identical message gets the same answer without acting twice.
CREATE TABLE negotiation_messages (
    seq             bigserial PRIMARY KEY,
    negotiation_id  text NOT NULL REFERENCES negotiations (id),
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    type            text NOT NULL,          -- agora_dsp_kind_name(), or "ContractNegotiation" for acks
    body_hash       text,                   -- incoming: sha256 hex of JCS(body)
    status          integer,                -- incoming: the HTTP status we answered
    reply           jsonb,                  -- incoming: the body we answered
    body            jsonb,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX negotiation_messages_in
    ON negotiation_messages (negotiation_id, body_hash) WHERE direction = 'in';
CREATE INDEX negotiation_messages_by_negotiation ON negotiation_messages (negotiation_id, seq);

-- Agreements this connector is a party to (its @id is its id everywhere).
CREATE TABLE agreements (
    id              text PRIMARY KEY,
    negotiation_id  text NOT NULL UNIQUE REFERENCES negotiations (id),
    agreement       jsonb NOT NULL,
    signatures      jsonb NOT NULL,         -- [provider, broker?, consumer?]
    receipt         jsonb,                  -- the broker's ledger receipt (consumer role)
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
