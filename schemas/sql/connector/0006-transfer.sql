-- 0006: transfer processes (DSP 2025-1, docs/TRANSFER.md), in both roles:
-- as consumer (this connector asked the broker and receives the data) and
-- as provider (the broker asked on a consumer's behalf; this connector
-- serves or pushes the data).

CREATE TABLE transfers (
    id                 text PRIMARY KEY,       -- our pid: consumerPid (consumer) or providerPid (provider)
    role               text NOT NULL CHECK (role IN ('consumer', 'provider')),
    counterpart        text NOT NULL,          -- the broker
    counterpart_pid    text,                   -- the broker's pid for the process
    callback           text,                   -- provider role: the broker's callbackAddress
    agreement_id       text NOT NULL,
    dataset_id         text NOT NULL,
    consumer           text NOT NULL,
    provider           text NOT NULL,
    format             text NOT NULL,
    purpose            text,
    query              jsonb,
    push_address       jsonb,                  -- provider role, push: where to send the data
    push_secret_sha256 text,                   -- consumer role, push: hash of the bearer secret we handed out
    state              text NOT NULL CHECK (state IN ('REQUESTED', 'STARTED', 'SUSPENDED',
                                                      'COMPLETED', 'TERMINATED')),
    endpoint           text,                   -- consumer role, pull: the provider's data address
    token              text,                   -- consumer role, pull: the current access token (≤ 300 s)
    token_expires_at   timestamptz,
    sender_constrained boolean NOT NULL DEFAULT false,
    auto_pull          boolean NOT NULL DEFAULT true,   -- consumer, pull: false = the client pulls itself (EDR)
    bytes              bigint NOT NULL DEFAULT 0,   -- received (consumer) / sent (provider)
    sha256             text,                   -- of the complete data received / sent
    expected_sha256    text,                   -- consumer: what the provider says it sends
    verified           boolean,                -- consumer: sha256 = expected_sha256
    received_at        timestamptz,            -- consumer: the data is complete
    reported_at        timestamptz,            -- the receipt / delivery was reported to the broker
    delete_due_at      timestamptz,            -- consumer: the delete duty falls due
    deleted_at         timestamptz,
    attempts           integer NOT NULL DEFAULT 0,
    code               text,
    reason             text,
    owner              text,                   -- consumer: the API key that asked
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX transfers_counterpart_pid
    ON transfers (role, counterpart, counterpart_pid) WHERE counterpart_pid IS NOT NULL;
CREATE INDEX transfers_agreement ON transfers (agreement_id);
CREATE INDEX transfers_due ON transfers (delete_due_at) WHERE deleted_at IS NULL AND delete_due_at IS NOT NULL;

CREATE TABLE transfer_messages (
    seq         bigserial PRIMARY KEY,
    transfer_id text NOT NULL REFERENCES transfers (id),
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    type        text NOT NULL,
    body_hash   text,
    status      integer,
    reply       jsonb,
    body        jsonb,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX transfer_messages_in ON transfer_messages (transfer_id, body_hash) WHERE direction = 'in';
CREATE INDEX transfer_messages_by_transfer ON transfer_messages (transfer_id, seq);
