/* db_catalog.c — see db_catalog.h.
 *
 * Pushes pass their rows as one JSON parameter each and PostgreSQL expands
 * them with jsonb_to_recordset: a 10,000-dataset push is a handful of
 * statements, not 10,000 round trips.
 *
 * Search and dataset lookup build their WHERE clause from the filters
 * present (always with $n parameters) and run as unnamed statements
 * (PQexecParams) instead of prepared ones: each is planned with its actual
 * values, so the GIN and b-tree indexes of the filters given are used.  A
 * prepared generic plan with "($n IS NULL OR …)" for every filter could
 * not use them.
 */
#include "db_catalog.h"
#include "log.h"
#include "policy.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pushes and visibility refreshes exclude each other (pushes share it). */
#define VIS_LOCK "hashtext('agora-catalog-visibility')"

#define TSV(title, keyword, description) \
	"setweight(to_tsvector('english', " title "), 'A') ||" \
	" setweight(to_tsvector('english', array_to_string(" keyword ", ' ')), 'B') ||" \
	" setweight(to_tsvector('english', coalesce(" description ", '')), 'C')"

const struct agora_stmt db_catalog_stmts[] = {
	{ "cat_generation", "SELECT gen FROM catalog_generation" },
	{ "cat_lock_shared", "SELECT pg_advisory_xact_lock_shared(" VIS_LOCK ")" },
	{ "cat_lock_excl", "SELECT pg_advisory_xact_lock(" VIS_LOCK ")" },
	{ "cat_part_ensure",
	  "INSERT INTO catalog_participants (participant_id) VALUES ($1) ON CONFLICT DO NOTHING" },
	{ "cat_part_lock",
	  "SELECT version, available FROM catalog_participants WHERE participant_id = $1 FOR UPDATE" },
	{ "cat_conflict",
	  "SELECT d.id FROM datasets d JOIN jsonb_array_elements_text($2::jsonb) x(id) ON d.id = x.id"
	  " WHERE d.participant_id <> $1 LIMIT 1" },
	{ "cat_upsert",
	  "WITH x AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(id text, hash text, doc jsonb,"
	  "  title text, description text, keyword text[], theme text[], format text[], license text,"
	  "  min_lon float8, min_lat float8, max_lon float8, max_lat float8, t_start timestamptz,"
	  "  t_end timestamptz, issued timestamptz, modified timestamptz, any_public boolean)),"
	  " up AS (INSERT INTO datasets (id, participant_id, version, content_hash, doc, title,"
	  "  description, keyword, theme, format, license, min_lon, min_lat, max_lon, max_lat,"
	  "  temporal_start, temporal_end, issued, modified, tsv, available, any_public)"
	  "  SELECT x.id, $1, 1, x.hash, x.doc, x.title, x.description, x.keyword, x.theme, x.format,"
	  "   x.license, x.min_lon, x.min_lat, x.max_lon, x.max_lat, x.t_start, x.t_end, x.issued,"
	  "   x.modified, " TSV("x.title", "x.keyword", "x.description") ", $3::boolean, x.any_public FROM x"
	  "  ON CONFLICT (id) DO UPDATE SET version = datasets.version + 1,"
	  "   content_hash = EXCLUDED.content_hash, doc = EXCLUDED.doc, title = EXCLUDED.title,"
	  "   description = EXCLUDED.description, keyword = EXCLUDED.keyword, theme = EXCLUDED.theme,"
	  "   format = EXCLUDED.format, license = EXCLUDED.license, min_lon = EXCLUDED.min_lon,"
	  "   min_lat = EXCLUDED.min_lat, max_lon = EXCLUDED.max_lon, max_lat = EXCLUDED.max_lat,"
	  "   temporal_start = EXCLUDED.temporal_start, temporal_end = EXCLUDED.temporal_end,"
	  "   issued = EXCLUDED.issued, modified = EXCLUDED.modified, tsv = EXCLUDED.tsv,"
	  "   any_public = EXCLUDED.any_public, withdrawn = false, updated_at = now()"
	  "  WHERE datasets.participant_id = EXCLUDED.participant_id"
	  "   AND (datasets.content_hash <> EXCLUDED.content_hash OR datasets.withdrawn)"
	  "  RETURNING id, version, doc)"
	  " INSERT INTO dataset_versions (dataset_id, version, doc) SELECT id, version, doc FROM up" },
	{ "cat_withdraw",
	  "WITH keep AS (SELECT jsonb_array_elements_text($2::jsonb) AS id),"
	  " w AS (UPDATE datasets d SET withdrawn = true, version = d.version + 1, updated_at = now()"
	  "  WHERE d.participant_id = $1 AND NOT d.withdrawn"
	  "  AND NOT EXISTS (SELECT 1 FROM keep WHERE keep.id = d.id) RETURNING d.id, d.version)"
	  " INSERT INTO dataset_versions (dataset_id, version, doc, withdrawn)"
	  " SELECT id, version, NULL, true FROM w" },
	{ "cat_offers_clear", "DELETE FROM catalog_offers WHERE participant_id = $1" },
	{ "cat_offers_insert",
	  "INSERT INTO catalog_offers (dataset_id, offer_id, participant_id, position, policy,"
	  " description, public)"
	  " SELECT x.dataset_id, x.offer_id, $1, x.position, x.policy, x.description, x.public"
	  " FROM jsonb_to_recordset($2::jsonb) AS x(dataset_id text, offer_id text, position int,"
	  "  policy jsonb, description text, public boolean)" },
	{ "cat_access_clear", "DELETE FROM catalog_access_policies WHERE participant_id = $1" },
	{ "cat_access_insert",
	  "INSERT INTO catalog_access_policies (participant_id, offer_id, policy, public)"
	  " SELECT $1, x.offer_id, x.policy, x.public"
	  " FROM jsonb_to_recordset($2::jsonb) AS x(offer_id text, policy jsonb, public boolean)" },
	/* Only rows whose access changed without a content change. */
	{ "cat_any_public",
	  "UPDATE datasets d SET any_public = x.any_public"
	  " FROM jsonb_to_recordset($2::jsonb) AS x(id text, any_public boolean)"
	  " WHERE d.id = x.id AND d.participant_id = $1 AND d.any_public <> x.any_public" },
	{ "cat_viewers",
	  "SELECT id, attributes::text FROM participants WHERE status = 'active' ORDER BY id" },
	{ "cat_vis_clear_publisher", "DELETE FROM offer_visibility WHERE participant_id = $1" },
	{ "cat_vis_clear_viewer", "DELETE FROM offer_visibility WHERE viewer = $1" },
	{ "cat_vis_insert",
	  "INSERT INTO offer_visibility (participant_id, offer_id, viewer)"
	  " SELECT DISTINCT x.participant_id, x.offer_id, x.viewer FROM jsonb_to_recordset($1::jsonb)"
	  " AS x(participant_id text, offer_id text, viewer text)" },
	{ "cat_part_done",
	  "UPDATE catalog_participants SET catalog_id = $2, meta = $3::jsonb, version = version + 1,"
	  " datasets = $4::integer, pushed_at = now() WHERE participant_id = $1 RETURNING version" },
	{ "cat_viewer_stale",
	  "SELECT p.id FROM participants p LEFT JOIN catalog_viewer_state s ON s.viewer = p.id"
	  " WHERE p.id = $1 AND p.status = 'active' AND ($2::boolean OR s.stamp IS DISTINCT FROM p.updated_at)" },
	{ "cat_viewer_get",
	  "SELECT updated_at::text, attributes::text FROM participants WHERE id = $1 AND status = 'active'" },
	{ "cat_access_nonpublic",
	  "SELECT a.participant_id, a.offer_id, a.policy::text FROM catalog_access_policies a"
	  " JOIN participants p ON p.id = a.participant_id WHERE NOT a.public" },
	{ "cat_viewer_stamp",
	  "INSERT INTO catalog_viewer_state (viewer, stamp) VALUES ($1, $2::timestamptz)"
	  " ON CONFLICT (viewer) DO UPDATE SET stamp = EXCLUDED.stamp, computed_at = now()" },
	{ "cat_crawl_targets",
	  "SELECT id, endpoint FROM participants WHERE status = 'active' ORDER BY id" },
	{ "cat_crawl_mark",
	  "INSERT INTO catalog_participants (participant_id, available, crawled_at, crawl_status, crawl_error)"
	  " VALUES ($1, $2::boolean, now(), $3, $4)"
	  " ON CONFLICT (participant_id) DO UPDATE SET available = CASE WHEN $3 = 'rejected'"
	  "  THEN catalog_participants.available ELSE EXCLUDED.available END,"
	  "  crawled_at = now(), crawl_status = $3, crawl_error = $4" },
	{ "cat_crawl_datasets",
	  "UPDATE datasets SET available = $2::boolean WHERE participant_id = $1 AND available <> $2::boolean" },
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

static char *
dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
}

/* Active participants as [{"id","attributes"}] (new), or NULL. */
static json_t *
load_viewers(PGconn *c)
{
	PGresult *r = agora_db_exec(c, "cat_viewers", 0, NULL);
	if (agora_db_status(r, "cat_viewers") < 0) {
		PQclear(r);
		return NULL;
	}
	json_t *out = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(out, json_pack("{s:s, s:o}", "id", PQgetvalue(r, i, 0),
						     "attributes",
						     json_loads(PQgetvalue(r, i, 1), 0, NULL)));
	PQclear(r);
	return out;
}

static enum agora_qs
push_tx(PGconn *c, void *ctx)
{
	struct cat_push *p = ctx;
	const char *pid = p->participant;
	enum agora_qs qs;
	const char *p1[] = { pid };
	char *ids = NULL, *rows = NULL, *offers = NULL, *access = NULL, *vis = NULL, *meta = NULL, *flags = NULL;
	json_t *viewers = NULL, *pairs = NULL;
	PGresult *r = NULL;

	if ((qs = run(c, "cat_lock_shared", 0, NULL)) < 0 ||
	    (qs = run(c, "cat_part_ensure", 1, p1)) < 0)
		goto out;
	r = agora_db_exec(c, "cat_part_lock", 1, p1);
	if ((qs = agora_db_status(r, "cat_part_lock")) < 0)
		goto out;
	const char *available = !strcmp(PQgetvalue(r, 0, 1), "f") ? "false" : "true";

	ids = dump(p->ids);
	const char *pc[] = { pid, ids };
	PGresult *cr = agora_db_exec(c, "cat_conflict", 2, pc);
	qs = agora_db_status(cr, "cat_conflict");
	if (qs == AGORA_QS_ONE) {
		snprintf(p->conflict_id, sizeof p->conflict_id, "%s", PQgetvalue(cr, 0, 0));
		qs = AGORA_QS_CONFLICT;
	}
	PQclear(cr);
	if (qs != AGORA_QS_NONE)
		goto out;

	rows = dump(p->datasets);
	const char *pu[] = { pid, rows, available };
	if ((qs = run(c, "cat_upsert", 3, pu)) < 0 || (qs = run(c, "cat_withdraw", 2, pc)) < 0)
		goto out;
	offers = dump(p->offers);
	const char *po[] = { pid, offers };
	if ((qs = run(c, "cat_offers_clear", 1, p1)) < 0 ||
	    (qs = run(c, "cat_offers_insert", 2, po)) < 0)
		goto out;
	access = dump(p->access);
	flags = dump(p->flags);
	const char *pa[] = { pid, access }, *pf[] = { pid, flags };
	if ((qs = run(c, "cat_access_clear", 1, p1)) < 0 ||
	    (qs = run(c, "cat_access_insert", 2, pa)) < 0 ||
	    (qs = run(c, "cat_any_public", 2, pf)) < 0)
		goto out;

	/* Who may see the non-public offers, evaluated now for every active
	 * participant; attribute changes later are caught by viewer_sync. */
	if ((qs = run(c, "cat_vis_clear_publisher", 1, p1)) < 0)
		goto out;
	if (p->nacc) {
		viewers = load_viewers(c);
		if (!viewers) {
			qs = AGORA_QS_HARD_ERROR;
			goto out;
		}
		pairs = catalog_visibility_pairs(pid, p->acc, p->nacc, viewers);
		vis = dump(pairs);
		const char *pv[] = { vis };
		if ((qs = run(c, "cat_vis_insert", 1, pv)) < 0)
			goto out;
	}

	meta = dump(p->meta);
	char n[24];
	snprintf(n, sizeof n, "%zu", p->ndatasets);
	const char *pd[] = { pid, p->catalog_id, meta, n };
	PQclear(r);
	r = agora_db_exec(c, "cat_part_done", 4, pd);
	if ((qs = agora_db_status(r, "cat_part_done")) == AGORA_QS_ONE)
		p->version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
out:
	PQclear(r);
	free(ids);
	free(rows);
	free(offers);
	free(access);
	free(vis);
	free(meta);
	free(flags);
	json_decref(viewers);
	json_decref(pairs);
	return qs;
}

enum agora_qs
db_catalog_push(struct cat_push *p)
{
	return agora_db_tx(push_tx, p, false);
}

/* ---- visibility of one viewer ------------------------------------------ */

struct viewer_ctx {
	const char *viewer;
	bool force;
};

static enum agora_qs
viewer_tx(PGconn *c, void *ctx)
{
	struct viewer_ctx *v = ctx;
	const char *p1[] = { v->viewer };
	enum agora_qs qs;
	json_t *pairs = NULL, *attrs = NULL;
	char *vis = NULL, *stamp = NULL;
	PGresult *r = NULL;
	if ((qs = run(c, "cat_lock_excl", 0, NULL)) < 0)
		return qs;
	r = agora_db_exec(c, "cat_viewer_get", 1, p1);
	if ((qs = agora_db_status(r, "cat_viewer_get")) != AGORA_QS_ONE)
		goto out;
	stamp = xstrdup(PQgetvalue(r, 0, 0));
	attrs = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
	PQclear(r);
	r = agora_db_exec(c, "cat_access_nonpublic", 0, NULL);
	if ((qs = agora_db_status(r, "cat_access_nonpublic")) < 0)
		goto out;
	pairs = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *pj = json_loads(PQgetvalue(r, i, 2), 0, NULL);
		struct agora_policy *pol = agora_policy_parse(pj, catalog_policy_config(), NULL);
		json_decref(pj);
		if (pol && catalog_policy_permits(pol, v->viewer, attrs))
			json_array_append_new(pairs, json_pack("{s:s, s:s, s:s}", "participant_id",
							       PQgetvalue(r, i, 0), "offer_id",
							       PQgetvalue(r, i, 1), "viewer", v->viewer));
		agora_policy_free(pol);
	}
	vis = dump(pairs);
	const char *pv[] = { vis };
	const char *ps[] = { v->viewer, stamp };
	if ((qs = run(c, "cat_vis_clear_viewer", 1, p1)) < 0 ||
	    (qs = run(c, "cat_vis_insert", 1, pv)) < 0 ||
	    (qs = run(c, "cat_viewer_stamp", 2, ps)) < 0)
		goto out;
	qs = AGORA_QS_ONE;
out:
	PQclear(r);
	json_decref(pairs);
	json_decref(attrs);
	free(vis);
	free(stamp);
	return qs;
}

enum agora_qs
db_catalog_viewer_sync(const char *viewer, bool force)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { viewer, force ? "true" : "false" };
	enum agora_qs qs = run(c, "cat_viewer_stale", 2, p);
	if (qs != AGORA_QS_ONE)
		return qs < 0 ? qs : AGORA_QS_ONE;	/* up to date, or not a viewer */
	struct viewer_ctx v = { viewer, force };
	qs = agora_db_tx(viewer_tx, &v, false);
	return qs == AGORA_QS_NONE ? AGORA_QS_ONE : qs;
}

/* ---- search ------------------------------------------------------------ */

#define MAX_PARAMS 24

struct sql {
	struct agora_buf b;
	const char *params[MAX_PARAMS];
	char *owned[MAX_PARAMS];
	int n;
	int caller;		/* $n of the caller, 0 when anonymous */
	int q;			/* $n of the text query, 0 when none */
};

/* Add a parameter; returns its number. */
static int
param(struct sql *s, const char *v)
{
	s->params[s->n] = v;
	return ++s->n;
}

static int
param_double(struct sql *s, double d)
{
	char *v = xasprintf("%.17g", d);
	s->owned[s->n] = v;
	return param(s, v);
}

static void
sql_cleanup(struct sql *s)
{
	agora_buf_cleanup(&s->b);
	for (int i = 0; i < s->n; i++)
		free(s->owned[i]);
}

/* The condition "offer o is visible to the caller". */
static void
offer_visible(struct sql *s)
{
	if (!s->caller)
		agora_buf_puts(&s->b, "o.public");
	else
		agora_buf_printf(&s->b,
				 "(o.public OR o.participant_id = $%d OR EXISTS (SELECT 1 FROM"
				 " offer_visibility v WHERE v.viewer = $%d AND v.participant_id ="
				 " o.participant_id AND v.offer_id = o.offer_id))",
				 s->caller, s->caller);
}

/* The search-result JSON of dataset d (publisher p). */
static void
result_json(struct sql *s)
{
	agora_buf_puts(&s->b,
		       "jsonb_build_object('id', d.id, 'title', d.title, 'description', d.description,"
		       " 'publisher', jsonb_build_object('id', p.id, 'name', p.name),"
		       " 'keyword', to_jsonb(d.keyword), 'theme', to_jsonb(d.theme), 'license', d.license,"
		       " 'issued', d.doc->'issued', 'modified', d.doc->'modified',"
		       " 'spatial', d.doc->'spatial', 'temporal', d.doc->'temporal',"
		       " 'accrualPeriodicity', d.doc->'accrualPeriodicity', 'mediaType', d.doc->'mediaType',"
		       " 'format', to_jsonb(d.format), 'distribution', d.doc->'distribution',"
		       " 'quality', COALESCE(d.doc->'quality', '{}'::jsonb), 'sample', d.doc->'sample',"
		       " 'available', d.available, 'version', d.version,"
		       " 'offers', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', o.offer_id,"
		       "  'policy', o.policy, 'description', o.description) ORDER BY o.position)"
		       "  FROM catalog_offers o WHERE o.dataset_id = d.id AND ");
	offer_visible(s);
	agora_buf_puts(&s->b, "), '[]'::jsonb))::text");
}

/* FROM and the WHERE conditions every listing shares: current, from an
 * active publisher, with an offer visible to the caller. */
static void
base_where(struct sql *s, const char *join)
{
	agora_buf_printf(&s->b, " FROM datasets d JOIN participants p ON p.id = d.participant_id%s"
				" WHERE NOT d.withdrawn AND p.status = 'active' AND ",
			 join ? join : "");
	if (!s->caller)
		agora_buf_puts(&s->b, "d.any_public");
	else
		agora_buf_printf(&s->b,
				 "(d.any_public OR d.participant_id = $%d OR EXISTS (SELECT 1 FROM"
				 " catalog_offers o JOIN offer_visibility v ON v.participant_id ="
				 " o.participant_id AND v.offer_id = o.offer_id WHERE o.dataset_id ="
				 " d.id AND v.viewer = $%d))",
				 s->caller, s->caller);
}

static void
filters(struct sql *s, const struct cat_query *q)
{
	if (s->q)
		agora_buf_printf(&s->b, " AND d.tsv @@ websearch_to_tsquery('english', $%d)", s->q);
	if (q->theme)
		agora_buf_printf(&s->b, " AND d.theme @> ARRAY[$%d::text]", param(s, q->theme));
	if (q->keyword)
		agora_buf_printf(&s->b, " AND d.keyword @> ARRAY[$%d::text]", param(s, q->keyword));
	if (q->format)
		agora_buf_printf(&s->b, " AND d.format @> ARRAY[$%d::text]", param(s, q->format));
	if (q->publisher)
		agora_buf_printf(&s->b, " AND d.participant_id = $%d", param(s, q->publisher));
	if (q->license)
		agora_buf_printf(&s->b, " AND d.license = $%d", param(s, q->license));
	if (q->has_bbox) {
		int a = param_double(s, q->bbox[0]), b = param_double(s, q->bbox[1]);
		int c = param_double(s, q->bbox[2]), e = param_double(s, q->bbox[3]);
		/* Intersects: datasets without a bbox do not match. */
		agora_buf_printf(&s->b,
				 " AND d.min_lon IS NOT NULL AND d.max_lon >= $%d::float8 AND"
				 " d.min_lon <= $%d::float8 AND d.max_lat >= $%d::float8 AND"
				 " d.min_lat <= $%d::float8",
				 a, c, b, e);
	}
	/* Temporal overlap with [from, to]; an open end is "until now and on". */
	if (q->from)
		agora_buf_printf(&s->b,
				 " AND d.temporal_start IS NOT NULL AND"
				 " COALESCE(d.temporal_end, 'infinity') >= $%d::timestamptz",
				 param(s, q->from));
	if (q->to)
		agora_buf_printf(&s->b,
				 " AND d.temporal_start IS NOT NULL AND d.temporal_start <= $%d::timestamptz",
				 param(s, q->to));
}

static void
sql_start(struct sql *s, const struct cat_query *q)
{
	memset(s, 0, sizeof *s);
	agora_buf_init(&s->b);
	if (q->caller)
		s->caller = param(s, q->caller);
	if (q->q)
		s->q = param(s, q->q);
}

/* At debug level the statement and its parameters are logged: the
 * catalog benchmark replays them through pgbench. */
static void
log_sql(struct sql *s, const char *what)
{
	agora_buf_append(&s->b, "", 0);
	json_t *params = json_array();
	for (int i = 0; i < s->n; i++)
		json_array_append_new(params, json_string(s->params[i]));
	agora_log(AGORA_LOG_DEBUG, "catalog sql",
		  json_pack("{s:s, s:s, s:o}", "query", what, "sql", s->b.data, "params", params));
}

static PGresult *
exec_sql(PGconn *c, struct sql *s, const char *what)
{
	log_sql(s, what);
	PGresult *r = agora_db_flush_begin(c)
			      ? PQexecParams(c, s->b.data, s->n, NULL, s->params, NULL, NULL, 0)
			      : NULL;
	if (!r)
		r = PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
	return r;
}

static const char *
sort_key(const struct cat_query *q)
{
	switch (q->sort) {
	case CAT_SORT_RELEVANCE:
		return NULL;	/* built with the query's $n */
	case CAT_SORT_TITLE:
		return "d.title";
	default:
		return "COALESCE(d.modified, '-infinity'::timestamptz)";
	}
}

static enum agora_qs
search_page(PGconn *c, const struct cat_query *q, json_t *out)
{
	struct sql s;
	sql_start(&s, q);
	char *key = q->sort == CAT_SORT_RELEVANCE
			    ? xasprintf("ts_rank(d.tsv, websearch_to_tsquery('english', $%d))", s.q)
			    : xstrdup(sort_key(q));
	const char *cast = q->sort == CAT_SORT_RELEVANCE ? "real"
			   : q->sort == CAT_SORT_TITLE	  ? "text"
							  : "timestamptz";
	agora_buf_printf(&s.b, "SELECT (%s)::text, d.id, ", key);
	result_json(&s);
	base_where(&s, NULL);
	filters(&s, q);
	if (q->after_id) {
		int k = param(&s, q->after_key), i = param(&s, q->after_id);
		const char *cmp = q->sort == CAT_SORT_TITLE ? ">" : "<";
		agora_buf_printf(&s.b, " AND ((%s) %s $%d::%s OR ((%s) = $%d::%s AND d.id > $%d))", key,
				 cmp, k, cast, key, k, cast, i);
	}
	agora_buf_printf(&s.b, " ORDER BY (%s) %s, d.id LIMIT %d", key,
			 q->sort == CAT_SORT_TITLE ? "ASC" : "DESC", q->limit + 1);
	free(key);
	PGresult *r = exec_sql(c, &s, "catalog search");
	enum agora_qs qs = agora_db_status(r, "catalog_search");
	if (qs >= 0) {
		json_t *results = json_array();
		int n = PQntuples(r);
		for (int i = 0; i < n && i < q->limit; i++)
			json_array_append_new(results, json_loads(PQgetvalue(r, i, 2), 0, NULL));
		if (n > q->limit) {
			json_object_set_new(out, "nextKey", json_string(PQgetvalue(r, q->limit - 1, 0)));
			json_object_set_new(out, "nextId", json_string(PQgetvalue(r, q->limit - 1, 1)));
		}
		json_object_set_new(out, "results", results);
	}
	PQclear(r);
	sql_cleanup(&s);
	return qs;
}

#define FACET_LIMIT "20"

static enum agora_qs
search_facets(PGconn *c, const struct cat_query *q, json_t *out)
{
	struct sql s;
	sql_start(&s, q);
	agora_buf_puts(&s.b, "WITH f AS MATERIALIZED (SELECT d.theme, d.keyword, d.format, d.license,"
			     " d.participant_id");
	base_where(&s, NULL);
	filters(&s, q);
	agora_buf_puts(&s.b, ") SELECT 'count'::text, NULL::text, NULL::text, count(*) FROM f");
	static const char *const arrays[] = { "theme", "keyword", "format" };
	for (size_t i = 0; i < ARRAY_LEN(arrays); i++)
		agora_buf_printf(&s.b,
				 " UNION ALL (SELECT '%s', v, NULL, count(*) FROM f, unnest(f.%s) v"
				 " GROUP BY v ORDER BY 4 DESC, 2 LIMIT " FACET_LIMIT ")",
				 arrays[i], arrays[i]);
	agora_buf_puts(&s.b,
		       " UNION ALL (SELECT 'license', f.license, NULL, count(*) FROM f WHERE f.license"
		       " IS NOT NULL GROUP BY f.license ORDER BY 4 DESC, 2 LIMIT " FACET_LIMIT ")"
		       " UNION ALL (SELECT 'publisher', f.participant_id, (SELECT name FROM participants"
		       " WHERE id = f.participant_id), count(*) FROM f GROUP BY f.participant_id"
		       " ORDER BY 4 DESC, 2 LIMIT " FACET_LIMIT ")");
	PGresult *r = exec_sql(c, &s, "catalog facets");
	enum agora_qs qs = agora_db_status(r, "catalog_facets");
	if (qs >= 0) {
		json_t *facets = json_object();
		static const char *const names[] = { "theme", "keyword", "publisher", "format",
						     "license" };
		for (size_t i = 0; i < ARRAY_LEN(names); i++)
			json_object_set_new(facets, names[i], json_array());
		for (int i = 0; i < PQntuples(r); i++) {
			const char *f = PQgetvalue(r, i, 0);
			json_int_t n = strtoll(PQgetvalue(r, i, 3), NULL, 10);
			if (!strcmp(f, "count")) {
				json_object_set_new(out, "count", json_integer(n));
				continue;
			}
			json_t *e = json_pack("{s:s, s:I}", "name", PQgetvalue(r, i, 1), "count", n);
			if (!PQgetisnull(r, i, 2))
				json_object_set_new(e, "label", json_string(PQgetvalue(r, i, 2)));
			json_array_append_new(json_object_get(facets, f), e);
		}
		json_object_set_new(out, "facets", facets);
	}
	PQclear(r);
	sql_cleanup(&s);
	return qs;
}

enum agora_qs
db_catalog_search(const struct cat_query *q, json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	json_t *o = json_object();
	enum agora_qs qs = search_facets(c, q, o);
	if (qs >= 0)
		qs = search_page(c, q, o);
	if (qs < 0) {
		json_decref(o);
		return qs;
	}
	*out = o;
	return AGORA_QS_ONE;
}

/* The statement of db_catalog_dataset_get, in s. */
static void
dataset_sql(struct sql *s, const char *id, const char *caller)
{
	struct cat_query q = { .caller = caller };
	sql_start(s, &q);
	agora_buf_puts(&s->b, "SELECT ");
	result_json(s);
	base_where(s, NULL);
	agora_buf_printf(&s->b, " AND d.id = $%d", param(s, id));
	log_sql(s, "catalog dataset");
}

/* Every negotiation reads a dataset twice (the consumer's connector, then
 * the request's check), and planning this statement costs more than
 * running it: prepared once per connection, for each of the two texts
 * (without and with a caller). */
static _Thread_local PGconn *dataset_prepared_on[2];

static const char *
dataset_stmt(const char *caller)
{
	return caller ? "catalog_dataset_get_caller" : "catalog_dataset_get";
}

/* A result of the prepared statement that says it does not exist on this
 * connection (a new connection at the same address): forget it was. */
static bool
dataset_unprepared(PGresult *r, int k)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (r && !(st && !strcmp(st, "26000")))
		return false;
	dataset_prepared_on[k] = NULL;
	return true;
}

static enum agora_qs
dataset_result(PGresult *r, json_t **out)
{
	enum agora_qs qs = agora_db_status(r, "catalog_dataset");
	if (qs == AGORA_QS_ONE && !(*out = json_loads(PQgetvalue(r, 0, 0), 0, NULL)))
		qs = AGORA_QS_HARD_ERROR;
	return qs;
}

enum agora_qs
db_catalog_dataset_get(const char *id, const char *caller, json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	struct sql s;
	dataset_sql(&s, id, caller);
	const char *name = dataset_stmt(caller);
	int k = caller ? 1 : 0;
	PGresult *r = NULL;
	agora_db_flush_begin(c);	/* a failure shows in the statements' results */
	if (dataset_prepared_on[k] == c) {
		r = PQexecPrepared(c, name, s.n, s.params, NULL, NULL, 0);
		if (dataset_unprepared(r, k)) {
			PQclear(r);
			r = NULL;
		}
	}
	if (!r) {
		PGresult *pr = PQprepare(c, name, s.b.data, s.n, NULL);
		if (PQresultStatus(pr) == PGRES_COMMAND_OK) {
			dataset_prepared_on[k] = c;
			r = PQexecPrepared(c, name, s.n, s.params, NULL, NULL, 0);
		}
		PQclear(pr);
	}
	if (!r)
		r = exec_sql(c, &s, "catalog dataset");
	enum agora_qs qs = dataset_result(r, out);
	PQclear(r);
	sql_cleanup(&s);
	return qs;
}

enum agora_qs
db_catalog_dataset_get_synced(const char *id, const char *viewer, json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	enum agora_qs qs;
	if (dataset_prepared_on[1] != c)
		goto separately;
	/* The usual case in one round trip: whether the viewer's visibility
	 * is stale, and the dataset as the current visibility shows it. */
	struct sql s;
	dataset_sql(&s, id, viewer);
	const char *pv[] = { viewer, "false" };
	PGresult *stale = NULL, *ds = NULL;
	struct agora_db_step steps[] = {
		{ .stmt = "cat_viewer_stale", .n = 2, .params = pv, .res = &stale },
		{ .stmt = dataset_stmt(viewer), .n = s.n, .params = s.params, .res = &ds },
	};
	agora_db_exec_steps(c, steps, 2);
	qs = agora_db_status(stale, "cat_viewer_stale");
	bool again = qs == AGORA_QS_ONE || (qs >= 0 && dataset_unprepared(ds, 1));
	if (qs >= 0 && !again)
		qs = dataset_result(ds, out);
	PQclear(stale);
	PQclear(ds);
	sql_cleanup(&s);
	if (!again)
		return qs;
separately:
	/* Stale (or not prepared here yet): rebuild it, then read. */
	if ((qs = db_catalog_viewer_sync(viewer, false)) < 0)
		return qs;
	return db_catalog_dataset_get(id, viewer, out);
}

enum agora_qs
db_catalog_dsp_page(const char *caller, const char *after_pid, const char *after_id, int limit,
		    json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	struct cat_query q = { .caller = caller };
	struct sql s;
	sql_start(&s, &q);
	agora_buf_puts(&s.b, "SELECT d.participant_id, p.name, cp.catalog_id, cp.meta::text,"
			     " (d.doc || jsonb_build_object('hasPolicy', (SELECT jsonb_agg(o.policy"
			     " ORDER BY o.position) FROM catalog_offers o WHERE o.dataset_id = d.id AND ");
	offer_visible(&s);
	agora_buf_puts(&s.b, ")))::text");
	base_where(&s, " LEFT JOIN catalog_participants cp ON cp.participant_id = d.participant_id");
	if (after_pid) {
		int a = param(&s, after_pid), b = param(&s, after_id);
		agora_buf_printf(&s.b, " AND (d.participant_id, d.id) > ($%d, $%d)", a, b);
	}
	agora_buf_printf(&s.b, " ORDER BY d.participant_id, d.id LIMIT %d", limit);
	PGresult *r = exec_sql(c, &s, "catalog dsp");
	enum agora_qs qs = agora_db_status(r, "catalog_dsp");
	if (qs >= 0) {
		*out = json_array();
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *row = json_pack("{s:s, s:s, s:o, s:o}", "participant",
						PQgetvalue(r, i, 0), "name", PQgetvalue(r, i, 1),
						"meta",
						PQgetisnull(r, i, 3) ? json_object()
								     : json_loads(PQgetvalue(r, i, 3), 0, NULL),
						"dataset", json_loads(PQgetvalue(r, i, 4), 0, NULL));
			if (!PQgetisnull(r, i, 2))
				json_object_set_new(row, "catalogId", json_string(PQgetvalue(r, i, 2)));
			json_array_append_new(*out, row);
		}
	}
	PQclear(r);
	sql_cleanup(&s);
	return qs;
}

/* ---- crawling ------------------------------------------------------------ */

enum agora_qs
db_catalog_crawl_targets(json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	PGresult *r = agora_db_exec(c, "cat_crawl_targets", 0, NULL);
	enum agora_qs qs = agora_db_status(r, "cat_crawl_targets");
	if (qs >= 0) {
		*out = json_array();
		for (int i = 0; i < PQntuples(r); i++)
			json_array_append_new(*out, json_pack("{s:s, s:s}", "id", PQgetvalue(r, i, 0),
							      "endpoint", PQgetvalue(r, i, 1)));
	}
	PQclear(r);
	return qs;
}

struct mark_ctx {
	const char *participant, *status, *error;
};

static enum agora_qs
mark_tx(PGconn *c, void *ctx)
{
	struct mark_ctx *m = ctx;
	const char *avail = !strcmp(m->status, "unavailable") ? "false" : "true";
	const char *p[] = { m->participant, avail, m->status, m->error };
	enum agora_qs qs = run(c, "cat_crawl_mark", 4, p);
	if (qs < 0 || !strcmp(m->status, "rejected"))
		return qs;
	qs = run(c, "cat_crawl_datasets", 2, p);
	return qs < 0 ? qs : AGORA_QS_ONE;
}

enum agora_qs
db_catalog_crawl_mark(const char *participant, const char *status, const char *error)
{
	struct mark_ctx m = { participant, status, error };
	return agora_db_tx(mark_tx, &m, false);
}

enum agora_qs
db_catalog_generation(long long *gen)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	PGresult *r = agora_db_exec(c, "cat_generation", 0, NULL);
	enum agora_qs qs = agora_db_status(r, "cat_generation");
	if (qs == AGORA_QS_ONE)
		*gen = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return qs;
}
