-- 0001: the participant registry, API keys and the token replay cache.

CREATE TABLE participants (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    endpoint    text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    jwks        jsonb NOT NULL,
    attributes  jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per public key, looked up by RFC 7638 thumbprint (the JWT kid).
CREATE TABLE participant_keys (
    participant_id text NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    kid            text NOT NULL,
    jwk            jsonb NOT NULL,
    PRIMARY KEY (participant_id, kid)
);

CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'publisher', 'consumer', 'viewer')),
    key_hash    text NOT NULL UNIQUE,
    prefix      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- jti values seen in participant tokens, kept until the token expires.
CREATE TABLE seen_tokens (
    participant_id text NOT NULL,
    jti            text NOT NULL,
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (participant_id, jti)
);
CREATE INDEX seen_tokens_expiry ON seen_tokens (expires_at);
