-- ts_json was declared IMMUTABLE, but to_char(timestamp, text) is only
-- STABLE, so PostgreSQL would not inline it: every call went through the
-- SQL-function executor (fmgr_sql), which sets itself up again in each
-- statement that calls it — about 5 % of the database's CPU in the
-- negotiation benchmark, where every read of a negotiation calls it twice.
-- Declared STABLE (what its body is), the call is replaced by its
-- expression.  Same text out; nothing indexes it.
CREATE OR REPLACE FUNCTION ts_json(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;
