-- 0006: transfer processes through the broker (docs/TRANSFER.md).
--
-- Like negotiations, one row holds both legs: towards the consumer the
-- broker is the provider (its providerPid is id); towards the provider it
-- is the consumer (its consumerPid is leg_pid).  provider_pid is the
-- provider connector's own id for the process, the {transfer} of its data
-- endpoint and the "transfer" claim of the access tokens.

CREATE TABLE transfers (
    id                text PRIMARY KEY,
    consumer_id       text NOT NULL REFERENCES participants (id),
    consumer_pid      text NOT NULL CHECK (length(consumer_pid) BETWEEN 1 AND 200),
    callback          text NOT NULL,
    agreement_id      text NOT NULL,
    negotiation_id    text REFERENCES negotiations (id),
    dataset_id        text,
    provider_id       text REFERENCES participants (id),
    provider_endpoint text,
    leg_pid           text NOT NULL UNIQUE,
    provider_pid      text,
    format            text NOT NULL,
    purpose           text,
    query             jsonb,
    push_address      jsonb,                 -- the consumer's dataAddress of a push
    state             text NOT NULL CHECK (state IN ('REQUESTED', 'STARTED', 'SUSPENDED',
                                                     'COMPLETED', 'TERMINATED')),
    use_number        integer,               -- its place among the agreement's counted uses; NULL: refused
    started_index     bigint,                -- ledger entry transfer_started
    provider_report   jsonb,                 -- {"bytes","sha256","index"}: what the provider sent
    consumer_report   jsonb,                 -- {"bytes","sha256","index","matches"}: what the consumer got
    delete_due_at     timestamptz,           -- the consumer's delete duty falls due
    deleted_at        timestamptz,
    deleted_index     bigint,
    code              text,
    reason            text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer_id, consumer_pid)
);
CREATE INDEX transfers_agreement ON transfers (agreement_id);
CREATE UNIQUE INDEX transfers_provider_pid ON transfers (provider_id, provider_pid)
    WHERE provider_pid IS NOT NULL;

CREATE TABLE transfer_messages (
    id          bigserial PRIMARY KEY,
    transfer_id text NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    leg         text NOT NULL CHECK (leg IN ('consumer', 'provider')),
    type        text NOT NULL,
    body        jsonb NOT NULL,
    body_sha256 text NOT NULL,
    status      integer,
    reply       jsonb,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transfer_messages_tr ON transfer_messages (transfer_id, id);
