-- 0001: a connector's datasets, content, observations, quality, policies,
-- offers, API keys, the token replay cache and the catalog push state.

CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'publisher', 'consumer', 'viewer')),
    key_hash    text NOT NULL UNIQUE,
    prefix      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE datasets (
    id                  text PRIMARY KEY,
    owner               text NOT NULL,          -- API key id that created it
    title               text NOT NULL,
    description         text NOT NULL DEFAULT '',
    keyword             text[] NOT NULL DEFAULT '{}',
    theme               text[] NOT NULL DEFAULT '{}',
    license             text,
    bbox                float8[],               -- minlon, minlat, maxlon, maxlat
    temporal_start      timestamptz,
    temporal_end        timestamptz,
    accrual_periodicity text,
    media_type          text,
    source              jsonb NOT NULL,         -- {"type":"file"|"http"|"observations", …}
    byte_size           bigint,
    sha256              text,
    quality             jsonb,
    obs_rejected        bigint NOT NULL DEFAULT 0,  -- observation rows refused so far
    issued              timestamptz NOT NULL DEFAULT now(),
    modified            timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1
);
CREATE INDEX datasets_owner ON datasets (owner);

CREATE TABLE observations (
    dataset_id  text NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    ts          timestamptz NOT NULL,
    thing       text NOT NULL,
    vals        jsonb NOT NULL
);
CREATE INDEX observations_by_time ON observations (dataset_id, ts);

CREATE TABLE policies (
    id          text PRIMARY KEY,
    owner       text NOT NULL,
    policy      jsonb NOT NULL,
    description text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE offers (
    id                  text PRIMARY KEY,
    owner               text NOT NULL,
    selector            jsonb NOT NULL,         -- {"ids":[…]} | {"keyword":[…],"theme":[…]}
    access_policy_id    text REFERENCES policies (id),
    contract_policy_id  text NOT NULL REFERENCES policies (id),
    auto_accept         boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE seen_tokens (
    participant_id text NOT NULL,
    jti            text NOT NULL,
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (participant_id, jti)
);
CREATE INDEX seen_tokens_expiry ON seen_tokens (expires_at);

-- One row: the catalog's version, bumped by every change, and the version
-- the broker last acknowledged.
CREATE TABLE catalog_state (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    version        bigint NOT NULL DEFAULT 0,
    pushed_version bigint NOT NULL DEFAULT 0,
    pushed_at      timestamptz
);
INSERT INTO catalog_state DEFAULT VALUES;

-- Does an offer's selector cover a dataset?  {"ids":[…]} names datasets;
-- {"keyword":[…]} and/or {"theme":[…]} match datasets having any of the
-- listed values (both given: both must match); {"all":true} covers all.
CREATE FUNCTION offer_covers(sel jsonb, ds_id text, ds_keyword text[], ds_theme text[])
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((sel->>'all')::boolean, false)
        OR coalesce(sel->'ids' ? ds_id, false)
        OR ((sel ? 'keyword' OR sel ? 'theme')
            AND (NOT sel ? 'keyword'
                 OR ds_keyword && ARRAY(SELECT jsonb_array_elements_text(sel->'keyword')))
            AND (NOT sel ? 'theme'
                 OR ds_theme && ARRAY(SELECT jsonb_array_elements_text(sel->'theme'))))
$$;

-- The API shape of a dataset, in one place.
CREATE FUNCTION ts_json(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

CREATE VIEW dataset_docs AS
SELECT d.id, d.owner,
       jsonb_strip_nulls(jsonb_build_object(
           'id', d.id,
           'title', d.title,
           'description', d.description,
           'keyword', to_jsonb(d.keyword),
           'theme', to_jsonb(d.theme),
           'license', d.license,
           'spatial', CASE WHEN d.bbox IS NULL THEN NULL
                           ELSE jsonb_build_object('bbox', to_jsonb(d.bbox)) END,
           'accrualPeriodicity', d.accrual_periodicity,
           'mediaType', d.media_type,
           'source', d.source,
           'byteSize', d.byte_size,
           'sha256', d.sha256,
           'quality', d.quality,
           'issued', ts_json(d.issued),
           'modified', ts_json(d.modified),
           'version', d.version))
       || jsonb_build_object(
           'temporal', jsonb_build_object('start', ts_json(d.temporal_start),
                                          'end', ts_json(d.temporal_end)),
           'published', EXISTS (SELECT 1 FROM offers o
                                WHERE offer_covers(o.selector, d.id, d.keyword, d.theme)))
       AS doc
FROM datasets d;
