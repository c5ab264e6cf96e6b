/* db_observations.c — storing observation batches with COPY, and the
 * aggregates their quality is computed from. */
#include "db_connector.h"
#include "ingest.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct agora_stmt db_observation_stmts[] = {
	{ "obs_add_rejected", "UPDATE datasets SET obs_rejected = obs_rejected + $2::bigint WHERE id = $1"
			      " RETURNING obs_rejected" },
	{ "obs_totals",
	  "SELECT count(*), (extract(epoch FROM min(ts)) * 1000)::bigint,"
	  " (extract(epoch FROM max(ts)) * 1000)::bigint,"
	  " count(*) - count(DISTINCT (thing, ts)), count(DISTINCT thing)"
	  " FROM observations WHERE dataset_id = $1" },
	/* Per declared field ($2: [{name,min,max}]): non-null values, values
	 * with a range to check, and values outside it. */
	{ "obs_fields",
	  "SELECT f.name,"
	  " count(o.v) FILTER (WHERE jsonb_typeof(o.v) <> 'null'),"
	  " count(o.v) FILTER (WHERE jsonb_typeof(o.v) = 'number' AND (f.lo IS NOT NULL OR f.hi IS NOT NULL)),"
	  " count(o.v) FILTER (WHERE jsonb_typeof(o.v) = 'number' AND"
	  "   ((f.lo IS NOT NULL AND (o.v)::float8 < f.lo) OR (f.hi IS NOT NULL AND (o.v)::float8 > f.hi)))"
	  " FROM jsonb_to_recordset($2::jsonb) AS f(name text, lo float8, hi float8)"
	  " LEFT JOIN LATERAL (SELECT vals -> f.name AS v FROM observations"
	  "   WHERE dataset_id = $1 AND vals ? f.name) o ON true"
	  " GROUP BY f.name ORDER BY f.name" },
	{ NULL, NULL }
};

enum agora_qs
db_observations_copy(PGconn *c, const char *dataset_id, const struct agora_obs_batch *b)
{
	PGresult *r = PQexec(c, "COPY observations (dataset_id, ts, thing, vals) FROM STDIN");
	bool ok = PQresultStatus(r) == PGRES_COPY_IN;
	PQclear(r);
	if (!ok) {
		agora_logf(AGORA_LOG_ERROR, "db", "COPY observations: %s", PQerrorMessage(c));
		return AGORA_QS_HARD_ERROR;
	}
	struct agora_buf buf;
	agora_buf_init(&buf);
	size_t n = agora_obs_batch_count(b);
	for (size_t i = 0; i < n && ok; i++) {
		agora_obs_batch_copy_line(b, i, dataset_id, &buf);
		if (buf.len >= 256 * 1024 || i + 1 == n) {
			ok = PQputCopyData(c, buf.data, (int)buf.len) == 1;
			buf.len = 0;
		}
	}
	agora_buf_cleanup(&buf);
	if (PQputCopyEnd(c, ok ? NULL : "client gave up") != 1)
		ok = false;
	enum agora_qs qs = AGORA_QS_ONE;
	while ((r = PQgetResult(c))) {
		enum agora_qs s = agora_db_status(r, "COPY observations");
		if (s < 0)
			qs = s;
		PQclear(r);
	}
	return ok ? qs : AGORA_QS_HARD_ERROR;
}

enum agora_qs
db_observations_add_rejected(PGconn *c, const char *dataset_id, long long n, long long *total)
{
	char s[24];
	snprintf(s, sizeof s, "%lld", n);
	const char *p[] = { dataset_id, s };
	PGresult *r = agora_db_exec(c, "obs_add_rejected", 2, p);
	enum agora_qs qs = agora_db_status(r, "obs_add_rejected");
	if (qs == AGORA_QS_ONE)
		*total = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return qs;
}

enum agora_qs
db_observations_stats(PGconn *c, const char *dataset_id, const json_t *fields,
		      struct db_obs_stats *st)
{
	memset(st, 0, sizeof *st);
	const char *p[] = { dataset_id, NULL };
	PGresult *r = agora_db_exec(c, "obs_totals", 1, p);
	enum agora_qs qs = agora_db_status(r, "obs_totals");
	if (qs == AGORA_QS_ONE) {
		st->records = atoll(PQgetvalue(r, 0, 0));
		st->oldest_ms = atoll(PQgetvalue(r, 0, 1));
		st->newest_ms = atoll(PQgetvalue(r, 0, 2));
		st->duplicates = atoll(PQgetvalue(r, 0, 3));
		st->things = atoll(PQgetvalue(r, 0, 4));
	}
	PQclear(r);
	if (qs < 0)
		return qs;
	char *fj = json_dumps(fields, JSON_COMPACT);
	p[1] = fj;
	r = agora_db_exec(c, "obs_fields", 2, p);
	free(fj);
	qs = agora_db_status(r, "obs_fields");
	if (qs >= 0) {
		int n = PQntuples(r);
		for (int i = 0; i < n && i < (int)ARRAY_LEN(st->nonnull); i++) {
			st->nonnull[i] = atoll(PQgetvalue(r, i, 1));
			st->checked += atoll(PQgetvalue(r, i, 2));
			st->implausible += atoll(PQgetvalue(r, i, 3));
		}
		st->nfields = (size_t)n;
		qs = AGORA_QS_ONE;
	}
	PQclear(r);
	return qs;
}
