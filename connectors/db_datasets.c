/* db_datasets.c — datasets: the SQL unpacks validated API documents, and
 * the view dataset_docs renders them back (schemas/sql/connector/0001). */
#include "db_connector.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>


/* keyword and theme: a JSON null (allowed: it clears the field) reads as
 * no values — jsonb_array_elements_text() would fail on it. */
const struct agora_stmt db_dataset_stmts[] = {
	{ "dataset_insert",
	  "INSERT INTO datasets (id, owner, title, description, keyword, theme, license, bbox,"
	  " temporal_start, temporal_end, accrual_periodicity, media_type, source)"
	  " SELECT $1, $2, d->>'title', coalesce(d->>'description', ''),"
	  " coalesce(ARRAY(SELECT jsonb_array_elements_text(nullif(d->'keyword', 'null'))), '{}'),"
	  " coalesce(ARRAY(SELECT jsonb_array_elements_text(nullif(d->'theme', 'null'))), '{}'),"
	  " d->>'license',"
	  " CASE WHEN d->'spatial' ? 'bbox' THEN ARRAY(SELECT x::float8 FROM jsonb_array_elements_text(d->'spatial'->'bbox') x) END,"
	  " (d->'temporal'->>'start')::timestamptz, (d->'temporal'->>'end')::timestamptz,"
	  " d->>'accrualPeriodicity', d->>'mediaType', d->'source'"
	  " FROM (SELECT $3::jsonb AS d) s" },
	/* Replace: every field from the document (absent ones cleared).
	 * Patch: $3 = 'patch' keeps columns the document does not name. */
	{ "dataset_update",
	  "UPDATE datasets t SET"
	  " title = CASE WHEN $3 = 'put' OR d ? 'title' THEN d->>'title' ELSE t.title END,"
	  " description = CASE WHEN $3 = 'put' OR d ? 'description' THEN coalesce(d->>'description', '') ELSE t.description END,"
	  " keyword = CASE WHEN $3 = 'put' OR d ? 'keyword' THEN coalesce(ARRAY(SELECT jsonb_array_elements_text(nullif(d->'keyword', 'null'))), '{}') ELSE t.keyword END,"
	  " theme = CASE WHEN $3 = 'put' OR d ? 'theme' THEN coalesce(ARRAY(SELECT jsonb_array_elements_text(nullif(d->'theme', 'null'))), '{}') ELSE t.theme END,"
	  " license = CASE WHEN $3 = 'put' OR d ? 'license' THEN d->>'license' ELSE t.license END,"
	  " bbox = CASE WHEN $3 = 'put' OR d ? 'spatial' THEN"
	  "   CASE WHEN d->'spatial' ? 'bbox' THEN ARRAY(SELECT x::float8 FROM jsonb_array_elements_text(d->'spatial'->'bbox') x) END"
	  "   ELSE t.bbox END,"
	  " temporal_start = CASE WHEN $3 = 'put' OR d ? 'temporal' THEN (d->'temporal'->>'start')::timestamptz ELSE t.temporal_start END,"
	  " temporal_end = CASE WHEN $3 = 'put' OR d ? 'temporal' THEN (d->'temporal'->>'end')::timestamptz ELSE t.temporal_end END,"
	  " accrual_periodicity = CASE WHEN $3 = 'put' OR d ? 'accrualPeriodicity' THEN d->>'accrualPeriodicity' ELSE t.accrual_periodicity END,"
	  " media_type = CASE WHEN $3 = 'put' OR d ? 'mediaType' THEN d->>'mediaType' ELSE t.media_type END,"
	  " source = CASE WHEN d ? 'source' THEN d->'source' ELSE t.source END,"
	  " modified = now(), version = t.version + 1"
	  " FROM (SELECT $2::jsonb AS d) s WHERE t.id = $1" },
	/* Deleting: wait for a running ingest (it holds the stats row), then
	 * remove the observations (no foreign key: see 0003), then the row. */
	{ "dataset_lock_ingest", "SELECT 1 FROM obs_stats WHERE dataset_id = $1 FOR UPDATE" },
	{ "dataset_delete_obs", "DELETE FROM observations WHERE dataset_id = $1" },
	{ "dataset_delete", "DELETE FROM datasets WHERE id = $1" },
	{ "dataset_get", "SELECT doc::text, owner FROM dataset_docs WHERE id = $1" },
	{ "dataset_list",
	  "SELECT doc::text FROM dataset_docs v JOIN datasets d USING (id)"
	  " WHERE ($1::text IS NULL OR d.id > $1)"
	  /* q is text, not a pattern: its % and _ are escaped (with !). */
	  " AND ($2::text IS NULL OR (SELECT d.title ILIKE p ESCAPE '!' OR d.description ILIKE p ESCAPE '!'"
	  "   FROM (SELECT '%' || replace(replace(replace($2, '!', '!!'), '%', '!%'), '_', '!_') || '%' AS p) q))"
	  " AND ($3::text IS NULL OR $3 = ANY (d.theme))"
	  " AND ($4::text IS NULL OR $4 = ANY (d.keyword))"
	  " ORDER BY d.id LIMIT $5" },
	{ "dataset_set_content",
	  "UPDATE datasets SET byte_size = $2, sha256 = $3, quality = $4::jsonb, modified = now(),"
	  " version = version + 1 WHERE id = $1" },
	{ "dataset_set_quality",
	  "UPDATE datasets SET quality = $2::jsonb, modified = now() WHERE id = $1" },
	{ NULL, NULL }
};

static enum agora_qs
run(PGconn *c, const char *name, int n, const char *const *p)
{
	PGresult *r = agora_db_exec(c, name, n, p);
	enum agora_qs qs = agora_db_status(r, name);
	PQclear(r);
	return qs;
}

enum agora_qs
db_dataset_insert(PGconn *c, const char *id, const char *owner, const json_t *doc)
{
	char *d = json_dumps(doc, JSON_COMPACT);
	const char *p[] = { id, owner, d };
	enum agora_qs qs = run(c, "dataset_insert", 3, p);
	free(d);
	return qs;
}

enum agora_qs
db_dataset_update(PGconn *c, const char *id, const json_t *doc, bool patch)
{
	char *d = json_dumps(doc, JSON_COMPACT);
	const char *p[] = { id, d, patch ? "patch" : "put" };
	enum agora_qs qs = run(c, "dataset_update", 3, p);
	free(d);
	return qs;
}

enum agora_qs
db_dataset_delete(PGconn *c, const char *id)
{
	const char *p[] = { id };
	if (run(c, "dataset_lock_ingest", 1, p) < 0 || run(c, "dataset_delete_obs", 1, p) < 0)
		return AGORA_QS_HARD_ERROR;
	return run(c, "dataset_delete", 1, p);
}

enum agora_qs
db_dataset_get(const char *id, json_t **doc, char **owner)
{
	return agora_db_get_json("dataset_get", id, doc, owner);
}

enum agora_qs
db_dataset_list(const char *after, const char *q, const char *theme, const char *keyword,
		int limit, json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	char lim[16];
	snprintf(lim, sizeof lim, "%d", limit);
	const char *p[] = { after, q, theme, keyword, lim };
	PGresult *r = agora_db_exec(c, "dataset_list", 5, p);
	enum agora_qs qs = agora_db_status(r, "dataset_list");
	if (qs >= 0) {
		*out = json_array();
		for (int i = 0; i < PQntuples(r); i++)
			json_array_append_new(*out, json_loads(PQgetvalue(r, i, 0), 0, NULL));
	}
	PQclear(r);
	return qs;
}

enum agora_qs
db_dataset_set_content(PGconn *c, const char *id, long long size, const char *sha256,
		       const json_t *quality)
{
	char sz[24];
	snprintf(sz, sizeof sz, "%lld", size);
	char *q = json_dumps(quality, JSON_COMPACT | JSON_REAL_PRECISION(15));
	const char *p[] = { id, sz, sha256, q };
	enum agora_qs qs = run(c, "dataset_set_content", 4, p);
	free(q);
	return qs;
}

enum agora_qs
db_dataset_set_quality(PGconn *c, const char *id, const json_t *quality)
{
	char *q = json_dumps(quality, JSON_COMPACT | JSON_REAL_PRECISION(15));
	const char *p[] = { id, q };
	enum agora_qs qs = run(c, "dataset_set_quality", 2, p);
	free(q);
	return qs;
}
