-- 0002: the federated catalog (docs/CATALOG.md).
--
-- A participant's pushed catalog replaces its datasets atomically: datasets
-- missing from a push are flagged withdrawn, never deleted, and every change
-- of a dataset's content adds a row to dataset_versions.  Access policies
-- (who may see an offer) are never published; offer_visibility materialises
-- "viewer may see offer" for the non-public ones.

-- One row per participant that ever pushed or was crawled.
CREATE TABLE catalog_participants (
    participant_id text PRIMARY KEY REFERENCES participants (id) ON DELETE CASCADE,
    catalog_id     text,                 -- the pushed Catalog's @id
    meta           jsonb NOT NULL DEFAULT '{}'::jsonb,  -- service, title, description
    version        bigint NOT NULL DEFAULT 0,           -- pushes accepted
    datasets       integer NOT NULL DEFAULT 0,          -- datasets in the last push
    pushed_at      timestamptz,
    available      boolean NOT NULL DEFAULT true,       -- connector answered the last crawl
    crawled_at     timestamptz,
    crawl_status   text,                 -- available | unavailable | rejected
    crawl_error    text
);

CREATE TABLE datasets (
    id             text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    participant_id text NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    version        integer NOT NULL DEFAULT 1,
    content_hash   text NOT NULL,        -- SHA-256 of the dataset's canonical JSON
    doc            jsonb NOT NULL,       -- the dataset as pushed (unprefixed terms)
    title          text NOT NULL,
    description    text,
    keyword        text[] NOT NULL DEFAULT '{}',
    theme          text[] NOT NULL DEFAULT '{}',
    format         text[] NOT NULL DEFAULT '{}',  -- media types of the distributions
    license        text,
    min_lon        float8, min_lat float8, max_lon float8, max_lat float8,
    temporal_start timestamptz,
    temporal_end   timestamptz,
    issued         timestamptz,
    modified       timestamptz,
    tsv            tsvector NOT NULL,    -- title 'A', keywords 'B', description 'C'
    any_public     boolean NOT NULL DEFAULT false, -- some offer is visible to anyone
    available      boolean NOT NULL DEFAULT true,  -- its connector answers crawls
    withdrawn      boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (min_lon IS NULL OR (min_lon BETWEEN -180 AND 180 AND max_lon BETWEEN -180 AND 180
           AND min_lat BETWEEN -90 AND 90 AND max_lat BETWEEN -90 AND 90
           AND min_lon <= max_lon AND min_lat <= max_lat))
);
CREATE INDEX datasets_participant ON datasets (participant_id);
CREATE INDEX datasets_tsv ON datasets USING gin (tsv);
CREATE INDEX datasets_theme ON datasets USING gin (theme);
CREATE INDEX datasets_keyword ON datasets USING gin (keyword);
CREATE INDEX datasets_format ON datasets USING gin (format);
CREATE INDEX datasets_license ON datasets (license);
CREATE INDEX datasets_modified ON datasets (modified DESC NULLS LAST, id) WHERE NOT withdrawn;
CREATE INDEX datasets_title ON datasets (title, id) WHERE NOT withdrawn;
CREATE INDEX datasets_bbox ON datasets (min_lon, max_lon, min_lat, max_lat) WHERE min_lon IS NOT NULL;

-- History: one row per content version (doc NULL and withdrawn for a withdrawal).
CREATE TABLE dataset_versions (
    dataset_id  text NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    doc         jsonb,
    withdrawn   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset_id, version)
);

-- The published offers (ODRL contract policies) of current datasets.
CREATE TABLE catalog_offers (
    dataset_id     text NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    offer_id       text NOT NULL,
    participant_id text NOT NULL,
    position       integer NOT NULL,
    policy         jsonb NOT NULL,
    description    text NOT NULL,        -- agora_policy_describe at push time
    public         boolean NOT NULL,     -- no access policy, or one that permits anyone
    PRIMARY KEY (dataset_id, offer_id)
);
CREATE INDEX catalog_offers_offer ON catalog_offers (participant_id, offer_id);

-- Access policies by offer id, as pushed (never published).
CREATE TABLE catalog_access_policies (
    participant_id text NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    offer_id       text NOT NULL,
    policy         jsonb NOT NULL,
    public         boolean NOT NULL,
    PRIMARY KEY (participant_id, offer_id)
);

-- viewer may see the (non-public) offer offer_id of participant_id.
CREATE TABLE offer_visibility (
    participant_id text NOT NULL,
    offer_id       text NOT NULL,
    viewer         text NOT NULL,
    PRIMARY KEY (viewer, participant_id, offer_id)
);
CREATE INDEX offer_visibility_offer ON offer_visibility (participant_id, offer_id);

-- The participants.updated_at a viewer's visibility rows were computed
-- from; a different value means its attributes changed: recompute.
CREATE TABLE catalog_viewer_state (
    viewer      text PRIMARY KEY REFERENCES participants (id) ON DELETE CASCADE,
    stamp       timestamptz NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now()
);
