-- 0002: running statistics of each observations dataset, so an ingest
-- updates its quality from the batch instead of rescanning every row.

CREATE TABLE obs_stats (
    dataset_id   text PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
    records      bigint NOT NULL DEFAULT 0,
    rejected     bigint NOT NULL DEFAULT 0,
    duplicates   bigint NOT NULL DEFAULT 0,
    min_ts       timestamptz,
    max_ts       timestamptz,
    nonnull      bigint[] NOT NULL DEFAULT '{}',    -- per declared field, in schema order
    checked      bigint NOT NULL DEFAULT 0,
    implausible  bigint NOT NULL DEFAULT 0
);

CREATE TABLE obs_things (
    dataset_id text NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    thing      text NOT NULL,
    PRIMARY KEY (dataset_id, thing)
);

-- Duplicate checks look rows up by thing and time.
DROP INDEX observations_by_time;
CREATE INDEX observations_by_thing_time ON observations (dataset_id, thing, ts);
