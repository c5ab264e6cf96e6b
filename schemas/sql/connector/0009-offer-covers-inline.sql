-- offer_covers listed a selector's keywords and themes with sub-selects
-- (ARRAY(SELECT jsonb_array_elements_text(…))).  A SQL function whose body
-- has a sub-select is never inlined: every statement that called it parsed
-- and planned the body again (about 0.1 ms per call — once per incoming
-- contract request, once per offer of every dataset a catalog lists).
-- jsonb's ?| ("does the array hold any of these strings") says the same
-- for the arrays of strings the API accepts (connectors/http_policies.c,
-- check_selector), without a sub-select, so PostgreSQL now inlines it.
CREATE OR REPLACE FUNCTION offer_covers(sel jsonb, ds_id text, ds_keyword text[], ds_theme text[])
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((sel->>'all')::boolean, false)
        OR coalesce(sel->'ids' ? ds_id, false)
        OR ((sel ? 'keyword' OR sel ? 'theme')
            AND (NOT sel ? 'keyword' OR sel->'keyword' ?| ds_keyword)
            AND (NOT sel ? 'theme' OR sel->'theme' ?| ds_theme))
$$;
